"""The audit trail (core.audit, issue 17): each sensitive action leaves an entry saying who,
when, on what, the values before and after, and from where; nobody edits or deletes an entry,
not through the admin and not in the database; operators read it with filters and download it
as CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from types import SimpleNamespace

import pytest
import time_machine
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from rest_framework.authtoken.models import Token, TokenProxy

from compensation.admin import CompensationPolicyAdmin
from compensation.models import (
    AuthorityLimit,
    Budget,
    CompensationOffer,
    CompensationPolicy,
    PolicyRemedy,
    RefundEntry,
)
from compensation.services import (
    RemedySpec,
    offer_incident_remedy,
    offer_reject,
    offer_request,
)
from core import audit
from core.models import AuditAction, AuditEntry
from portal import links
from portal.models import ProgressLink
from shipments.models import DelayRule, Incident
from tests import factories
from tests.test_admin_audit import user_form

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
ADDRESS = "203.0.113.7"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def entries(action: str, obj=None) -> list[AuditEntry]:
    rows = AuditEntry.objects.filter(action=action)
    if obj is not None:
        rows = rows.filter(
            content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk)
        )
    return list(rows.order_by("id"))


def coupon(amount: str) -> RemedySpec:
    return RemedySpec(kind="coupon", amount=Decimal(amount), currency="EUR")


@pytest.fixture
def pending(agent):
    """A coupon above the agent's authority (50 EUR), waiting for a supervisor."""
    [offer] = offer_request(
        ticket=factories.TicketFactory(assignee=agent), by=agent, remedies=[coupon("60")], now=NOW
    )
    assert offer.status == "pending_approval"
    return offer


# --- The compensation services ---------------------------------------------------------------


def test_a_requested_remedy_is_audited_with_its_requester(agent, pending):
    [entry] = entries(AuditAction.OFFER_REQUESTED, pending)

    assert (entry.actor, entry.actor_name, entry.at) == (agent, "alice", NOW)
    assert entry.before is None
    assert entry.after == {
        "status": "proposed",
        "offer": str(pending.public_id),
        "kind": "coupon",
        "amount": "60.00",
        "currency": "EUR",
        "reason": "",
        "needs_approval": True,
    }
    # Called outside a request and a task: the system is where it came from.
    assert (entry.source, entry.ip_address, entry.user_agent) == ("system", None, "")


def test_an_approval_on_the_supervisor_page_is_audited_with_where_it_came_from(
    supervisor_client, supervisor, pending
):
    url = reverse("supervisor:approval_approve", args=[pending.public_id])

    response = supervisor_client.post(
        url, {"note": "Regular customer"}, REMOTE_ADDR=ADDRESS, HTTP_USER_AGENT=BROWSER
    )

    assert response.status_code == 302  # back to the queue
    [entry] = entries(AuditAction.OFFER_APPROVED, pending)
    assert entry.actor == supervisor
    assert entry.before == {"status": "pending_approval"}
    assert entry.after["status"] == "approved"
    assert entry.after["note"] == "Regular customer"
    assert (entry.source, entry.ip_address, entry.user_agent) == (f"POST {url}", ADDRESS, BROWSER)
    # Approved, it went out at once: issued, by the approver, from the same request.
    [issued] = entries(AuditAction.OFFER_ISSUED, pending)
    assert (issued.actor, issued.source, issued.ip_address) == (supervisor, f"POST {url}", ADDRESS)
    assert issued.before == {"status": "approved"}
    assert issued.after["status"] == "issued"
    assert issued.after["reference"].startswith("CPN-")


def test_a_rejection_is_audited_with_its_note(supervisor, pending):
    offer_reject(offer=pending, by=supervisor, note="Goodwill already given", now=NOW)

    [entry] = entries(AuditAction.OFFER_REJECTED, pending)
    assert entry.actor == supervisor
    assert entry.before == {"status": "pending_approval"}
    assert (entry.after["status"], entry.after["note"]) == ("rejected", "Goodwill already given")


def test_a_refund_is_audited_with_the_orders_refunded_total_before_and_after(agent):
    ticket = factories.TicketFactory(shipment__order_value=Decimal("49.90"))
    spec = RemedySpec(kind="partial_refund", amount=Decimal("20"), currency="EUR")

    [offer] = offer_request(ticket=ticket, by=agent, remedies=[spec], now=NOW)

    assert offer.status == "issued"
    [issued] = entries(AuditAction.OFFER_ISSUED, offer)
    assert (issued.before, issued.after["status"]) == ({"status": "proposed"}, "issued")
    refund = RefundEntry.objects.get(offer=offer)
    [entry] = entries(AuditAction.REFUND_ISSUED, refund)
    assert entry.actor == agent
    assert entry.before == {"refunded_total": "0.00"}
    assert entry.after == {
        "refunded_total": "20.00",
        "amount": "20.00",
        "currency": "EUR",
        "order": ticket.shipment.order_number,
        "order_value": "49.90",
        "offer": str(offer.public_id),
    }


def test_an_incidents_bulk_offer_is_one_entry_for_the_incident(supervisor):
    incident = factories.IncidentFactory()
    for _ in range(3):
        factories.TicketFactory(incident=incident)

    offer_incident_remedy(incident=incident, remedies=[coupon("5")], by=supervisor, now=NOW)

    [entry] = entries(AuditAction.OFFER_REQUESTED, incident)
    assert entry.actor == supervisor
    assert (entry.after["tickets"], entry.after["offers"]) == (3, 3)
    assert entry.after["remedies"][0]["kind"] == "coupon"
    assert not AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(CompensationOffer)
    ).exists()


# --- Tokens and roles ----------------------------------------------------------------------


def test_revoking_a_tickets_progress_links_is_audited(agent):
    ticket = factories.TicketFactory()
    links.PortalLinks().mint([ticket.pk], now=NOW)
    working = ProgressLink.objects.filter(ticket=ticket, revoked_at__isnull=True).count()

    links.revoke_links(ticket, by=agent, now=NOW)

    [entry] = entries(AuditAction.LINKS_REVOKED, ticket)
    assert entry.actor == agent
    assert working > 0
    assert (entry.before, entry.after) == ({"working_links": working}, {"working_links": 0})


def test_an_api_token_made_and_revoked_in_the_admin_is_audited_without_its_key(
    admin_client, admin_user
):
    merchant = factories.UserFactory(username="merchant")

    response = admin_client.post(admin_url(TokenProxy, "add"), {"user": merchant.pk})
    assert response.status_code == 302
    key = Token.objects.get(user=merchant).key
    response = admin_client.post(
        admin_url(TokenProxy, "delete", merchant.pk), {"post": "yes"}, REMOTE_ADDR=ADDRESS
    )

    assert response.status_code == 302
    assert not Token.objects.filter(user=merchant).exists()
    [made] = entries(AuditAction.TOKEN_CREATED, merchant)
    [revoked] = entries(AuditAction.TOKEN_REVOKED, merchant)
    assert (made.actor, revoked.actor) == (admin_user, admin_user)
    assert made.after["user_id"] == revoked.before["user_id"] == merchant.pk
    assert revoked.ip_address == ADDRESS
    for entry in (made, revoked):
        assert key not in f"{entry.object_id} {entry.object_repr} {entry.before} {entry.after}"


def test_giving_an_agent_another_role_in_the_admin_is_audited(admin_client, admin_user):
    agent = factories.AgentFactory(username="carol")
    supervisor_group = Group.objects.get(name="supervisor")

    response = admin_client.post(
        admin_url(agent, "change", agent.pk), user_form(agent, groups=[supervisor_group.pk])
    )

    assert response.status_code == 302
    [entry] = entries(AuditAction.ROLES_CHANGED, agent)
    assert entry.actor == admin_user
    assert (entry.before, entry.after) == ({"groups": ["agent"]}, {"groups": ["supervisor"]})
    assert entry.source == f"POST {admin_url(agent, 'change', agent.pk)}"


def test_an_account_edit_that_changes_no_role_leaves_no_entry(admin_client):
    agent = factories.AgentFactory(username="dave")
    agent_group = Group.objects.get(name="agent")

    admin_client.post(
        admin_url(agent, "change", agent.pk),
        user_form(agent, first_name="David", groups=[agent_group.pk]),
    )

    assert entries(AuditAction.ROLES_CHANGED, agent) == []


# --- Configuration through the admin ----------------------------------------------------------


def test_an_operators_change_to_an_authority_limit_is_audited(operator_client, operator):
    limit = AuthorityLimit.objects.create(
        user=factories.AgentFactory(), currency="EUR", max_amount=Decimal("50")
    )

    response = operator_client.post(
        admin_url(AuthorityLimit, "change", limit.pk),
        {
            "user": limit.user_id,
            "currency": "EUR",
            "max_amount": "80.00",
            "max_percent": "0",
            "max_points": "0",
        },
    )

    assert response.status_code == 302
    [entry] = entries(AuditAction.CONFIG_CHANGED, limit)
    assert entry.actor == operator
    assert (entry.before, entry.after) == ({"max_amount": "50.00"}, {"max_amount": "80.00"})


def test_a_delay_rule_edited_in_the_changelist_is_audited(operator_client, operator):
    from tests.test_admin import changelist_edit

    rule = DelayRule.objects.create(
        key="audit-stalled", kind="no_update_hours", level="orange", threshold=Decimal("72")
    )

    operator_client.post(
        admin_url(DelayRule, "changelist"), changelist_edit(rule, threshold="48", is_active="on")
    )

    [entry] = entries(AuditAction.CONFIG_CHANGED, rule)
    assert (entry.before, entry.after) == ({"threshold": "72.00"}, {"threshold": "48.00"})


def test_a_policys_remedies_are_part_of_its_audited_values():
    policy = factories.CompensationPolicyFactory(name="Customs")
    remedy = PolicyRemedy.objects.create(policy=policy, kind="coupon", amount=Decimal("10"))
    model_admin = admin.site._registry[CompensationPolicy]
    assert isinstance(model_admin, CompensationPolicyAdmin)
    before = model_admin.audit_snapshot(policy)

    PolicyRemedy.objects.filter(pk=remedy.pk).update(amount=Decimal("15"))

    old, new = audit.changes(before, model_admin.audit_snapshot(policy))
    assert old["remedies"][0]["amount"] == "10.00"
    assert new["remedies"][0]["amount"] == "15.00"
    assert "policy_id" not in new["remedies"][0]


def test_a_deleted_budget_is_audited_with_what_it_was(operator_client, operator):
    budget = Budget.objects.create(
        name="Strike",
        period_start=dt.date(2026, 12, 1),
        period_end=dt.date(2026, 12, 31),
        amount=Decimal("5000"),
        incident=factories.IncidentFactory(),
    )
    pk = budget.pk

    response = operator_client.post(admin_url(Budget, "delete", pk), {"post": "yes"})

    assert response.status_code == 302
    [entry] = AuditEntry.objects.filter(action=AuditAction.CONFIG_DELETED, object_id=str(pk))
    assert entry.actor == operator
    assert entry.object_repr == str(budget)
    assert entry.before["amount"] == "5000.00"
    assert entry.after is None


def test_a_task_is_where_an_entry_comes_from_when_it_runs_in_one(agent):
    audit.task_started(task=SimpleNamespace(name="compensation.offer_proactively"))
    try:
        entry = audit.record(AuditAction.OFFER_REQUESTED, actor=None, obj=agent)
    finally:
        audit.task_finished()

    assert (entry.source, entry.actor, entry.actor_name) == (
        "compensation.offer_proactively",
        None,
        "system",
    )


# --- Nobody edits or deletes it -------------------------------------------------------------


@pytest.fixture
def entry(agent):
    return audit.record(
        AuditAction.CONFIG_CHANGED, actor=agent, obj=agent, before={"a": 1}, after={"a": 2}
    )


def test_the_database_refuses_to_change_or_delete_an_entry(entry):
    attempts = [
        lambda: AuditEntry.objects.filter(pk=entry.pk).update(object_repr="nothing happened"),
        lambda: AuditEntry.objects.filter(pk=entry.pk).delete(),
        lambda: entry.delete(),
        lambda: AuditEntry.objects.get(pk=entry.pk).save(update_fields=["after"]),
    ]
    for attempt in attempts:
        with pytest.raises(IntegrityError, match="never changed or deleted"), transaction.atomic():
            attempt()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {AuditEntry._meta.db_table}")

    entry.refresh_from_db()
    assert (entry.object_repr, entry.after) == (str(entry.actor), {"a": 2})


@pytest.mark.parametrize("who", ["admin_client", "operator_client"])
def test_the_admin_shows_an_entry_but_offers_no_way_to_change_or_delete_it(request, who, entry):
    client = request.getfixturevalue(who)

    page = client.get(admin_url(AuditEntry, "change", entry.pk))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert not page.context["has_delete_permission"]
    assert client.get(admin_url(AuditEntry, "add")).status_code == 403
    assert client.post(admin_url(AuditEntry, "change", entry.pk), {}).status_code == 403
    deleting = client.post(admin_url(AuditEntry, "delete", entry.pk), {"post": "yes"})
    assert deleting.status_code == 403
    assert client.get(admin_url(AuditEntry, "changelist")).context["action_form"] is None
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_flush_empties_the_trail_and_the_guard_stays():
    user = factories.UserFactory()
    audit.record(AuditAction.ROLES_CHANGED, actor=user, obj=user, after={"groups": []})

    call_command("flush", interactive=False, verbosity=0)

    assert not AuditEntry.objects.exists()
    user = factories.UserFactory()
    entry = audit.record(AuditAction.ROLES_CHANGED, actor=user, obj=user, after={"groups": []})
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(object_repr="x")


# --- Reading it: filters and CSV -----------------------------------------------------------


@pytest.fixture
def trail(agent, supervisor):
    incident = factories.IncidentFactory()
    with time_machine.travel(NOW - dt.timedelta(days=3), tick=False):
        old = audit.record(AuditAction.OFFER_REQUESTED, actor=agent, obj=incident)
    approved = audit.record(
        AuditAction.OFFER_APPROVED, actor=supervisor, obj=incident, after={"note": "Fine"}
    )
    # A name a spreadsheet would run as a formula.
    rogue = factories.UserFactory(username="=SUM(A1)")
    rule = audit.record(AuditAction.CONFIG_CHANGED, actor=supervisor, obj=rogue)
    return SimpleNamespace(old=old, approved=approved, rule=rule, incident=incident)


def listed(client, **query) -> set[int]:
    response = client.get(admin_url(AuditEntry, "changelist"), query)
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


def test_an_operator_filters_the_trail_by_action_actor_object_type_and_date(
    operator_client, trail, supervisor
):
    incident_type = ContentType.objects.get_for_model(Incident)

    assert listed(operator_client) == {trail.old.pk, trail.approved.pk, trail.rule.pk}
    assert listed(operator_client, action="offer_approved") == {trail.approved.pk}
    assert listed(operator_client, actor__id__exact=supervisor.pk) == {
        trail.approved.pk,
        trail.rule.pk,
    }
    assert listed(operator_client, content_type__id__exact=incident_type.pk) == {
        trail.old.pk,
        trail.approved.pk,
    }
    today = {"at__gte": "2026-12-07 00:00:00+00:00", "at__lt": "2026-12-08 00:00:00+00:00"}
    assert listed(operator_client, **today) == {trail.approved.pk, trail.rule.pk}


def test_the_csv_download_has_the_filtered_entries_with_formulas_defused(operator_client, trail):
    page = operator_client.get(admin_url(AuditEntry, "changelist"), {"action": "offer_approved"})
    assert "?action=offer_approved&amp;format=csv" in page.content.decode()

    response = operator_client.get(
        admin_url(AuditEntry, "changelist"), {"action": "offer_approved", "format": "csv"}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="audit-trail-' in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header[:3] == ["When", "Action", "Who"]
    [row] = rows
    assert row[0] == "2026-12-07T09:00:00+00:00"  # the reader's time zone (the site's default)
    assert row[1:8] == [
        "Compensation approved",
        "sam",
        "shipments.incident",
        str(trail.incident.pk),
        str(trail.incident),
        "",
        '{"note": "Fine"}',
    ]
    everything = operator_client.get(admin_url(AuditEntry, "changelist"), {"format": "csv"})
    text = b"".join(everything.streaming_content).decode("utf-8").lstrip("\ufeff")
    objects = {row[5] for row in list(csv.reader(io.StringIO(text)))[1:]}
    assert "'=SUM(A1)" in objects


def test_agents_and_supervisors_do_not_reach_the_trail(client, agent, supervisor):
    for user in (agent, supervisor):
        client.force_login(user)
        response = client.get(admin_url(AuditEntry, "changelist") + "?format=csv")
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
