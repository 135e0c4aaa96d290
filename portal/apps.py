from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from core import panels


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Customer progress page")

    def ready(self) -> None:
        # In ready(): portal.links imports models, which need the app registry.
        from notifications import links as notice_links
        from portal.links import PortalLinks

        # Notices (notifications, below) carry a new progress link each; portal makes them.
        notice_links.register_provider(PortalLinks())
        # The ticket page (tickets, below) shows the link's state and the revoke button.
        panels.register_panel(
            slot="ticket.sidebar",
            url_name="portal:link_panel",
            title=_("Progress page"),
            link_text=_("Show the customer's progress link"),
            order=40,
            marker="link-panel",
        )
