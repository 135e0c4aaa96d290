from django.urls import path

from supervisor import (
    approvals,
    approvals_actions,
    budgets,
    drilldown,
    incident_offer,
    incidents,
    root_causes,
    views,
)
from supervisor import scorecards as agent_scorecards

app_name = "supervisor"

urlpatterns = [
    path("", views.supervisor_home, name="home"),
    # The lists behind the dashboard's figures (supervisor.drilldown), ?kpi=<name>&<filters>.
    path("tickets/", drilldown.drilldown_tickets, name="drilldown_tickets"),
    path("shipments/", drilldown.drilldown_shipments, name="drilldown_shipments"),
    # Top delay causes by carrier, lane, hub and week; carrier and lane reliability.
    path("causes/", root_causes.root_causes, name="causes"),
    path("approvals/", approvals.approvals, name="approvals"),
    path("budgets/", budgets.budgets, name="budgets"),
    path("agents/", agent_scorecards.scorecards, name="scorecards"),
    path(
        "approvals/<uuid:public_id>/approve/",
        approvals_actions.approve,
        name="approval_approve",
    ),
    path(
        "approvals/<uuid:public_id>/reject/",
        approvals_actions.reject,
        name="approval_reject",
    ),
    path(
        "approvals/incidents/<uuid:public_id>/",
        approvals_actions.approve_incident,
        name="approval_incident",
    ),
    # Incidents (supervisor.incidents). "incidents/new/" and "incidents/<id>/resolve/" are the
    # shipments app's own pages, routed before this file by config.urls.
    path("incidents/", incidents.incidents, name="incidents"),
    path("incidents/<uuid:public_id>/", incidents.incident_detail, name="incident_detail"),
    path(
        "incidents/<uuid:public_id>/explanation/",
        incidents.incident_explanation,
        name="incident_explanation",
    ),
    path(
        "incidents/<uuid:public_id>/actions/notify/",
        incidents.incident_notify_all,
        name="incident_notify_all",
    ),
    path(
        "incidents/<uuid:public_id>/actions/resolve/",
        incidents.incident_resolve,
        name="incident_resolve",
    ),
    path(
        "incidents/<uuid:public_id>/offer/",
        incident_offer.incident_offer,
        name="incident_offer",
    ),
]
