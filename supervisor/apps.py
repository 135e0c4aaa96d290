from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SupervisorConfig(AppConfig):
    """The supervisor workspace: approvals, incidents, SLA alerts and KPIs.

    Above notifications, beside the customer page: it reads every app below it (offers,
    incidents, timers, ratings) and owns no table of its own yet.
    """

    name = "supervisor"
    verbose_name = _("Supervisor workspace")
