from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SupervisorConfig(AppConfig):
    """The supervisor workspace: the KPI dashboard and its drill-down lists, charts, root
    causes, agent scorecards, incidents and their bulk actions, approvals and budgets.

    Above notifications, beside the customer page: it reads every app below it (offers,
    incidents, timers, ratings) and writes through their services; its own tables record the
    incidents' bulk-action runs.
    """

    name = "supervisor"
    verbose_name = _("Supervisor workspace")

    def ready(self) -> None:
        # In ready(): the module imports models, which need the app registry.
        from supervisor import scorecards  # noqa: F401 - registers the weights' system check
