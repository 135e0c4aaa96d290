"""The supervisor's approval queue page (/supervisor/approvals/): who may open it, what a row
shows, the incidents' budgets, paging, the empty state, both languages, and a query count that
does not grow with the queue."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from compensation import budgets
from compensation.models import Budget, CompensationOffer
from supervisor import approvals_selectors
from tests import factories

pytestmark = pytest.mark.django_db

QUEUE = reverse("supervisor:approvals")


def pending(**kwargs) -> CompensationOffer:
    kwargs.setdefault("status", "pending_approval")
    return factories.CompensationOfferFactory(**kwargs)


def budget_for(incident, amount="500.00", currency="EUR") -> Budget:
    today = timezone.now().date()
    return Budget.objects.create(
        name=f"Budget {incident.title}",
        period_start=today - dt.timedelta(days=10),
        period_end=today + dt.timedelta(days=10),
        amount=Decimal(amount),
        currency=currency,
        incident=incident,
    )


# ---- Access ---------------------------------------------------------------------------------


def test_agents_are_refused_the_queue(agent_client):
    assert agent_client.get(QUEUE).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(QUEUE)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={QUEUE}"


def test_the_queue_page_only_answers_get(supervisor_client):
    assert supervisor_client.post(QUEUE).status_code == 405


def test_operators_are_refused_the_queue(operator_client):
    assert operator_client.get(QUEUE).status_code == 403


def test_the_supervisor_home_links_to_the_queue(supervisor_client):
    body = supervisor_client.get(reverse("supervisor:home")).content.decode()

    assert f'href="{QUEUE}"' in body


# ---- What a row shows -----------------------------------------------------------------------


def test_a_row_shows_ticket_customer_shipment_request_policy_and_incident_budget(
    supervisor_client, agent
):
    now = timezone.now()
    incident = factories.IncidentFactory(title="Customs strike in Leipzig")
    budget_for(incident, amount="200.00")
    customer = factories.CustomerFactory(name="Mei Lin", tier="vip", region="asia")
    shipment = factories.ShipmentFactory(
        customer=customer,
        order_number="ORD-7788",
        order_value=Decimal("129.00"),
        delay_level="red",
        delay_cause="customs_hold",
        delay_detected_at=now,
        promised_at=now - dt.timedelta(days=9, hours=2),
        predicted_eta=None,
        carrier_eta=None,
        incident=incident,
    )
    ticket = factories.TicketFactory(subject="Tea set stuck", customer=customer, shipment=shipment)
    policy = factories.CompensationPolicyFactory(name="Red delay, VIP")
    policy.remedies.create(kind="coupon", amount=Decimal("15.00"), currency="EUR")
    offer = pending(
        ticket=ticket,
        requested_by=agent,
        kind="partial_refund",
        amount=Decimal("40.00"),
        policy=policy,
        reason="Birthday present, arrived too late",
    )
    # Already spent from the incident's budget: an issued coupon of another ticket.
    other = factories.TicketFactory(shipment=factories.ShipmentFactory(incident=incident))
    factories.CompensationOfferFactory(
        ticket=other, kind="coupon", amount=Decimal("60.00"), status="issued", issued_at=now
    )

    response = supervisor_client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    body = response.content.decode()
    row = body[body.index(f'id="offer-{offer.public_id}"') :]
    row = row[: row.index("</tr>")]
    assert reverse("tickets:ticket_detail", args=[ticket.public_id]) in row
    assert "Tea set stuck" in row
    assert "Mei Lin" in row and "VIP" in row and "Asia" in row
    assert "ORD-7788" in row
    assert "Red: predicted over a week late" in row
    assert "9 days late" in row
    assert "€129.00" in row  # order value, formatted for the reader's locale
    assert "Partial refund · €40.00" in row  # what the agent asked for
    assert "Coupon · €15.00" in row and "Red delay, VIP" in row  # what the policy suggests
    assert "Birthday present" in row
    assert "Alice" in row  # the requester
    assert "Customs strike in Leipzig" in row
    # Spent 60 (issued) + committed 40 (this request) of 200.
    assert "€100.00 of €200.00 used" in row
    assert 'name="note"' in row and "Approve" in row and "Reject" in row
    # The incident strip offers the bulk approval, behind a confirmation page.
    assert reverse("supervisor:approval_incident", args=[incident.public_id]) in body
    assert "€100.00 left" in body


def test_offers_wait_oldest_first_and_decided_offers_are_not_listed(supervisor_client):
    now = timezone.now()
    newer = pending(ticket=factories.TicketFactory(subject="Newer request"))
    older = pending(ticket=factories.TicketFactory(subject="Older request"))
    CompensationOffer.objects.filter(pk=older.pk).update(created_at=now - dt.timedelta(hours=5))
    factories.CompensationOfferFactory(
        status="proposed", ticket=factories.TicketFactory(subject="Only proposed")
    )

    response = supervisor_client.get(QUEUE)

    assert [row.offer.pk for row in response.context["queue"].rows] == [older.pk, newer.pk]
    body = response.content.decode()
    assert body.index("Older request") < body.index("Newer request")
    assert "Only proposed" not in body


def test_percent_and_points_requests_read_as_such(supervisor_client):
    pending(kind="discount_code", amount=None, percent=Decimal("15"))
    pending(kind="loyalty_points", amount=None, points=500)
    pending(kind="reship", amount=None)

    body = supervisor_client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Percentage discount code · 15%" in body
    assert "Loyalty points · 500 points" in body
    assert "Reship<" in body
    assert "No policy matched" in body


def test_money_is_written_in_the_offer_s_currency(supervisor_client):
    pending(kind="coupon", amount=Decimal("1235.00"), currency="JPY")

    body = supervisor_client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Coupon · ¥1,235" in body


def test_the_empty_queue_says_nothing_waits(supervisor_client):
    response = supervisor_client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert "Nothing waits for approval" in response.content.decode()
    assert "data-approvals-table" not in response.content.decode()


def test_the_queue_reads_in_chinese(supervisor_client):
    pending(kind="coupon", amount=Decimal("12.50"), currency="CNY")

    response = supervisor_client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="zh-hans")

    body = response.content.decode()
    with translation.override("zh-hans"):
        assert translation.gettext("Compensation waiting for approval") != (
            "Compensation waiting for approval"
        ), "the zh-Hans catalogue lacks the queue's title (compilemessages?)"
        assert translation.gettext("Compensation waiting for approval") in body
        assert translation.gettext("Approve") in body
    assert "¥12.50" in body


def test_the_empty_queue_reads_in_chinese(supervisor_client):
    body = supervisor_client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    with translation.override("zh-hans"):
        empty = translation.gettext("Nothing waits for approval")
    assert empty != "Nothing waits for approval", "compile the zh-Hans catalogue"
    assert empty in body


# ---- Pages ----------------------------------------------------------------------------------


def test_the_queue_is_paged_and_a_page_number_from_outside_never_breaks_it(supervisor_client):
    offers = [pending() for _ in range(approvals_selectors.PAGE_SIZE + 2)]

    first = supervisor_client.get(QUEUE)
    second = supervisor_client.get(QUEUE, {"page": "2"})

    assert len(first.context["queue"].rows) == approvals_selectors.PAGE_SIZE
    assert [row.offer.pk for row in second.context["queue"].rows] == [o.pk for o in offers[-2:]]
    assert 'rel="next"' in first.content.decode()
    for value in ("0", "-1", "abc", "١", "9" * 40, "2.5", ""):
        response = supervisor_client.get(QUEUE, {"page": value})
        assert response.status_code == 200
        assert response.context["queue"].page.number in (1, 2)


def test_htmx_asking_for_the_queue_gets_the_queue_fragment(supervisor_client):
    pending()

    response = supervisor_client.get(QUEUE, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="approval-queue")

    body = response.content.decode()
    assert body.lstrip().startswith('<section id="approval-queue"')
    assert "<html" not in body


# ---- Queries --------------------------------------------------------------------------------


def _fill_queue(n: int, *, agent) -> None:
    """n offers, each on its own ticket, customer, shipment and incident (with a budget and a
    policy), so any per-row lookup would show in the count. Every third shipment is "will be
    late", whose gap is measured from its late estimate (Shipment.told_eta)."""
    for i in range(n):
        incident = factories.IncidentFactory()
        budget_for(incident)
        policy = factories.CompensationPolicyFactory()
        policy.remedies.create(kind="coupon", amount=Decimal("10.00"))
        warned = {}
        if i % 3 == 0:
            warned = {
                "delay_level": "will_be_late",
                "delay_detected_at": timezone.now(),
                "late_eta": timezone.now() + dt.timedelta(days=9),
            }
        ticket = factories.TicketFactory(
            incident=incident if i % 2 else None,
            shipment=factories.ShipmentFactory(incident=incident, **warned),
        )
        pending(ticket=ticket, requested_by=agent, policy=policy)


# session, user, permissions (2), count, offers, policy remedies, incidents waiting, incidents,
# budgets, budget usage; a few to spare for the middleware.
QUEUE_PAGE_QUERIES = 14


@pytest.mark.parametrize("size", [3, 30])
def test_a_queue_page_costs_a_bounded_number_of_queries_at_any_size(
    size, supervisor_client, agent, django_assert_max_num_queries
):
    _fill_queue(size, agent=agent)
    supervisor_client.get(QUEUE)

    with django_assert_max_num_queries(QUEUE_PAGE_QUERIES):
        response = supervisor_client.get(QUEUE)

    assert response.status_code == 200
    assert len(response.context["queue"].rows) == min(size, approvals_selectors.PAGE_SIZE)
    assert len(response.context["queue"].incidents) == size


def test_a_queue_page_costs_exactly_the_same_queries_with_3_or_30_offers(supervisor_client, agent):
    _fill_queue(3, agent=agent)
    supervisor_client.get(QUEUE)
    with CaptureQueriesContext(connection) as small:
        supervisor_client.get(QUEUE)
    _fill_queue(27, agent=agent)
    with CaptureQueriesContext(connection) as large:
        response = supervisor_client.get(QUEUE)

    assert len(response.context["queue"].rows) == approvals_selectors.PAGE_SIZE
    assert len(large) == len(small), [q["sql"] for q in large.captured_queries]


def test_the_budget_usage_of_many_incidents_is_one_query(django_assert_num_queries, db):
    incidents = [factories.IncidentFactory() for _ in range(5)]
    budgets = [budget_for(incident) for incident in incidents]
    for incident in incidents:
        pending(ticket=factories.TicketFactory(incident=incident), amount=Decimal("30.00"))

    with django_assert_num_queries(1):
        lines = approvals_selectors.budget_usages(budgets)

    assert {line.committed for line in lines.values()} == {Decimal("30.00")}
    assert {line.remaining for line in lines.values()} == {Decimal("470.00")}


def test_the_queue_counts_a_budget_as_compensation_budgets_does(db):
    incident = factories.IncidentFactory()
    budget = budget_for(incident, amount="100.00")
    by_shipment = factories.TicketFactory(shipment=factories.ShipmentFactory(incident=incident))
    by_ticket = factories.TicketFactory(incident=incident)
    pending(ticket=by_shipment, amount=Decimal("30.00"))
    factories.CompensationOfferFactory(ticket=by_ticket, status="offered", amount=Decimal("20"))
    factories.CompensationOfferFactory(
        ticket=by_ticket, status="issued", issued_at=timezone.now(), amount=Decimal("10.00")
    )
    factories.CompensationOfferFactory(ticket=by_ticket, status="rejected", amount=Decimal("99"))
    pending(ticket=by_ticket, kind="coupon", amount=Decimal("500"), currency="JPY")
    pending(ticket=by_ticket, kind="loyalty_points", amount=None, points=900)

    line = approvals_selectors.budget_usages([budget])[incident.pk]
    usage = budgets.budget_usage(budget)

    assert (line.spent, line.committed, line.remaining) == (
        usage.spent,
        usage.committed,
        usage.remaining,
    )
    assert (line.spent, line.committed, line.remaining) == (
        Decimal("10.00"),
        Decimal("50.00"),
        Decimal("40.00"),
    )
