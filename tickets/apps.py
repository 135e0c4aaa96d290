from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Tickets")

    def ready(self) -> None:
        # In ready(): these modules import models, and the app registry is not ready at import.
        from tickets import panels, receivers

        receivers.connect()
        panels.connect()
