from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from core import panels


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        # In ready(): these modules import models, which need the app registry.
        from notifications import (
            checks,  # noqa: F401 - registers the system check
            receivers,
        )

        receivers.connect()
        panels.register_panel(
            slot="ticket.sidebar",
            url_name="notifications:ticket_history",
            title=_("Notifications"),
            link_text=_("Show the notices sent about this ticket"),
            order=30,
            marker="notice-panel",
        )
