from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from core import panels


class CompensationConfig(AppConfig):
    name = "compensation"
    verbose_name = _("Compensation")

    def ready(self) -> None:
        # In ready(): these modules import models, which need the app registry.
        from compensation import texts
        from compensation.defaults import ensure_default_authority_limits
        from tickets import macros, selectors

        # Connected after core's ensure_roles (core is earlier in INSTALLED_APPS), so the
        # role groups exist when this runs.
        post_migrate.connect(
            ensure_default_authority_limits, dispatch_uid="compensation.default_authority_limits"
        )
        # What tickets (below) shows of remedies without importing compensation: the
        # {compensation} macro placeholder, the remedy named in timeline events, and the
        # ticket page's remedy panel (compensation.panels).
        macros.register_placeholder("compensation", texts.ticket_compensation)
        selectors.register_remedy_label(texts.remedy_kind_label)
        panels.register_panel(
            slot="ticket.sidebar",
            url_name="compensation:ticket_panel",
            title=_("Compensation"),
            link_text=_("Show the remedies offered to this customer"),
            order=20,
            marker="remedy-panel",
        )
