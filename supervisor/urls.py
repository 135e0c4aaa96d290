from django.urls import path

from supervisor import approvals, approvals_actions, budgets, incident_offer, views

app_name = "supervisor"

urlpatterns = [
    path("", views.supervisor_home, name="home"),
    path("approvals/", approvals.approvals, name="approvals"),
    path("budgets/", budgets.budgets, name="budgets"),
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
    path(
        "incidents/<uuid:public_id>/offer/",
        incident_offer.incident_offer,
        name="incident_offer",
    ),
]
