"""The admin keeps the record: history rows are read-only for everyone, superusers included, and
authorship (who requested, who opened) comes from the request, never from a form field."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from compensation.models import ApprovalRequest, CompensationOffer
from shipments.models import DelayLevelChange, Incident, TrackingEvent
from tests import factories
from tickets.models import Message, SLATimer, TicketEvent

pytestmark = pytest.mark.django_db


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


HISTORY = {
    TicketEvent: factories.TicketEventFactory,
    Message: lambda: factories.MessageFactory(author=factories.AgentFactory()),
    SLATimer: factories.SLATimerFactory,
    TrackingEvent: factories.TrackingEventFactory,
    DelayLevelChange: lambda: DelayLevelChange.objects.create(
        shipment=factories.ShipmentFactory(),
        from_level="none",
        to_level="yellow",
        cause="congestion",
        rule_key="yellow",
        changed_at=timezone.now(),
    ),
    ApprovalRequest: factories.ApprovalRequestFactory,
}


@pytest.mark.parametrize("model", list(HISTORY), ids=lambda m: m._meta.label)
def test_a_superuser_reads_history_rows_but_never_adds_edits_or_deletes_them(admin_client, model):
    row = HISTORY[model]()
    count = model.objects.count()

    page = admin_client.get(admin_url(model, "change", row.pk))
    assert page.status_code == 200
    assert list(page.context["adminform"].form.fields) == []
    assert not page.context["has_change_permission"]
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.post(admin_url(model, "add"), {}).status_code == 403
    assert admin_client.post(admin_url(model, "change", row.pk), {}).status_code == 403
    assert admin_client.post(admin_url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    changelist = admin_client.get(admin_url(model, "changelist"))
    assert changelist.context["action_form"] is None  # no "delete selected" either
    assert model.objects.count() == count


def test_no_admin_form_writes_a_message_from_the_customer(admin_client, agent):
    ticket = factories.TicketFactory()

    response = admin_client.post(
        admin_url(Message, "add"),
        {
            "ticket": ticket.pk,
            "kind": "public",
            "direction": "inbound",
            "channel": "email",
            "author": agent.pk,
            "body": "I withdraw my complaint, no refund needed.",
        },
    )

    assert response.status_code == 403
    assert not Message.objects.filter(ticket=ticket).exists()


def offer_form(ticket, **extra) -> dict:
    return {
        "ticket": ticket.pk,
        "customer": ticket.customer.pk,
        "kind": "partial_refund",
        "amount": "25.00",
        "currency": "EUR",
        "reason": "Parcel a week late",
        "approvals-TOTAL_FORMS": "0",
        "approvals-INITIAL_FORMS": "0",
        **extra,
    }


def test_no_one_adds_an_offer_in_the_admin_not_even_a_superuser(admin_client, admin_user):
    """Offers go through the compensation services (authority limit, approval); a forged
    requester has no form to go into."""
    other = factories.AgentFactory()
    ticket = factories.TicketFactory()

    assert admin_client.get(admin_url(CompensationOffer, "add")).status_code == 403
    response = admin_client.post(
        admin_url(CompensationOffer, "add"), offer_form(ticket, requested_by=other.pk)
    )

    assert response.status_code == 403
    assert not CompensationOffer.objects.filter(ticket=ticket).exists()


def test_editing_an_offer_never_changes_who_requested_or_approved_it(admin_client, supervisor):
    requester = factories.AgentFactory()
    offer = factories.CompensationOfferFactory(requested_by=requester, reason="Late")

    response = admin_client.post(
        admin_url(CompensationOffer, "change", offer.pk),
        {
            "reason": "Late, customer called twice",
            "requested_by": supervisor.pk,
            "approved_by": supervisor.pk,
            "approved_at": "2026-01-01 10:00",
            "status": "approved",
            "version": "9",
            "approvals-TOTAL_FORMS": "0",
            "approvals-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    offer.refresh_from_db()
    assert offer.reason == "Late, customer called twice"
    assert offer.requested_by == requester
    assert (offer.approved_by, offer.approved_at, offer.status, offer.version) == (
        None,
        None,
        "proposed",
        1,
    )


def test_an_incident_added_in_the_admin_is_opened_by_whoever_adds_it(admin_client, admin_user):
    other = factories.AgentFactory()

    response = admin_client.post(
        admin_url(Incident, "add"),
        {
            "title": "Strike at Le Havre",
            "cause": "congestion",
            "window_start_0": "2026-03-01",
            "window_start_1": "08:00",
            "opened_by": other.pk,
            "status": "resolved",
            "resolved_by": other.pk,
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    incident = Incident.objects.get(title="Strike at Le Havre")
    assert incident.opened_by == admin_user
    assert (incident.status, incident.resolved_by) == ("open", None)


def test_no_ticket_or_notification_is_typed_into_the_admin(admin_client):
    from notifications.models import Notification
    from tickets.models import SatisfactionSurvey, Ticket

    for model in (Ticket, Notification, SatisfactionSurvey):
        assert admin_client.get(admin_url(model, "add")).status_code == 403, model


# --- Operators -------------------------------------------------------------------------------


def test_an_operator_unlocks_a_locked_out_user(operator_client):
    attempt = AccessAttempt.objects.create(
        username="alice",
        ip_address="203.0.113.7",
        user_agent="Firefox",
        get_data="",
        post_data="",
        failures_since_start=5,
    )

    assert operator_client.get(admin_url(AccessAttempt, "changelist")).status_code == 200
    response = operator_client.post(admin_url(AccessAttempt, "delete", attempt.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()


def user_form(user, **values) -> dict:
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": "",
        "email": user.email,
        "is_active": "on",
        "is_staff": "on",
    }
    data.update(values)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def account_manager_client(client, operator):
    """An operator a superuser also lets manage staff accounts (not part of the operator role)."""
    from django.contrib.auth.models import Permission

    operator.user_permissions.set(
        Permission.objects.filter(content_type__app_label="auth", codename__in=["change_user"])
    )
    client.force_login(operator)
    return client


def test_an_operator_reads_staff_accounts_but_gives_nobody_a_role(operator_client):
    agent = factories.AgentFactory()
    supervisor_group = Group.objects.get(name="supervisor")

    assert operator_client.get(admin_url(agent, "change", agent.pk)).status_code == 200
    assert operator_client.get(admin_url(agent, "add")).status_code == 403
    response = operator_client.post(
        admin_url(agent, "change", agent.pk), user_form(agent, groups=[supervisor_group.pk])
    )

    assert response.status_code == 403
    assert set(agent.groups.values_list("name", flat=True)) == {"agent"}


def test_an_account_manager_grants_a_role_but_never_superuser_status(account_manager_client):
    agent = factories.AgentFactory()
    supervisor_group = Group.objects.get(name="supervisor")

    response = account_manager_client.post(
        admin_url(agent, "change", agent.pk),
        user_form(agent, is_superuser="on", groups=[supervisor_group.pk]),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    agent.refresh_from_db()
    assert set(agent.groups.values_list("name", flat=True)) == {"supervisor"}
    assert not agent.is_superuser


def test_an_account_manager_never_widens_their_own_roles(account_manager_client, operator):
    supervisor_group = Group.objects.get(name="supervisor")

    account_manager_client.post(
        admin_url(operator, "change", operator.pk),
        user_form(operator, is_superuser="on", groups=[supervisor_group.pk]),
    )

    operator.refresh_from_db()
    assert set(operator.groups.values_list("name", flat=True)) == {"operator"}
    assert not operator.is_superuser


def test_an_account_manager_cannot_change_a_superuser(account_manager_client, admin_user):
    assert (
        account_manager_client.post(
            admin_url(admin_user, "change", admin_user.pk), user_form(admin_user, is_active=None)
        ).status_code
        == 403
    )
    password_url = reverse("admin:auth_user_password_change", args=[admin_user.pk])
    assert account_manager_client.get(password_url).status_code == 403
    admin_user.refresh_from_db()
    assert admin_user.is_active


# --- Who gets in -------------------------------------------------------------------------------


def test_the_admin_login_form_refuses_agents_and_says_where_they_work(client, agent):
    response = client.post(
        reverse("admin:login"),
        {"username": agent.username, "password": factories.PASSWORD, "next": "/admin/"},
    )

    assert response.status_code == 200
    assert "Agents and supervisors work in the console" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_admin_login_form_lets_operators_in(client, operator):
    response = client.post(
        reverse("admin:login"),
        {"username": operator.username, "password": factories.PASSWORD, "next": "/admin/"},
    )

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("persona", ["agent", "supervisor"])
def test_agents_and_supervisors_are_sent_to_the_admin_login_from_any_admin_page(
    client, request, persona
):
    client.force_login(request.getfixturevalue(persona))
    ticket = factories.TicketFactory()

    for url in (
        "/admin/",
        admin_url(Message, "changelist"),
        admin_url(type(ticket), "change", ticket.pk),
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
