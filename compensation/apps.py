from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CompensationConfig(AppConfig):
    name = "compensation"
    verbose_name = _("Compensation")

    def ready(self) -> None:
        from compensation.defaults import ensure_default_authority_limits

        # Connected after core's ensure_roles (core is earlier in INSTALLED_APPS), so the
        # role groups exist when this runs.
        post_migrate.connect(
            ensure_default_authority_limits, dispatch_uid="compensation.default_authority_limits"
        )
