"""An incident's bulk offer (compensation.services.offer_incident_remedy): one offer per open
ticket, routed as a whole (authority, budget), idempotent, set-based."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from compensation import signals
from compensation.defaults import ensure_default_authority_limits
from compensation.errors import CompensationError
from compensation.models import ApprovalRequest, Budget, CompensationOffer, OfferStatus
from compensation.services import (
    RemedySpec,
    approve_incident_offers,
    offer_choose,
    offer_incident_remedy,
)
from core.roles import ensure_roles
from tests import factories
from tickets.models import Ticket, TicketEvent

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
TEN_PERCENT = RemedySpec(kind="discount_code", percent=Decimal("10"))


def coupon(amount: str) -> RemedySpec:
    return RemedySpec(kind="coupon", amount=Decimal(amount))


@pytest.fixture
def incident(db):
    return factories.IncidentFactory()


def affected(incident, count: int, **fields) -> list[Ticket]:
    return [factories.TicketFactory(shipment__incident=incident, **fields) for _ in range(count)]


@pytest.fixture
def bulk_sent():
    seen = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    signals.offers_made_in_bulk.connect(receiver, dispatch_uid="test.bulk")
    yield seen
    signals.offers_made_in_bulk.disconnect(dispatch_uid="test.bulk")


def test_every_open_ticket_of_the_incident_gets_one_offer(incident, bulk_sent):
    tickets = affected(incident, 3)
    own = factories.TicketFactory(incident=incident, shipment=None)  # the ticket's own incident
    for done in (Ticket.Status.CLOSED, Ticket.Status.SOLVED):
        factories.TicketFactory(shipment__incident=incident, status=done, solved_at=NOW)
    factories.TicketFactory(shipment__incident=factories.IncidentFactory())  # another one
    # Its own incident is another one: it counts there, not here.
    factories.TicketFactory(incident=factories.IncidentFactory(), shipment__incident=incident)

    result = offer_incident_remedy(incident=incident, remedies=[TEN_PERCENT], now=NOW)

    assert (result.tickets, result.offers, result.status) == (4, 4, OfferStatus.OFFERED)
    offers = CompensationOffer.objects.order_by("ticket_id")
    assert [o.ticket_id for o in offers] == sorted(t.pk for t in [*tickets, own])
    assert {
        (o.status, o.kind, o.percent, o.requested_by, o.created_at, o.incident_id) for o in offers
    } == {(OfferStatus.OFFERED, "discount_code", Decimal("10.00"), None, NOW, incident.pk)}
    assert {o.customer_id for o in offers} == {t.customer_id for t in [*tickets, own]}
    proposed = TicketEvent.objects.filter(kind="compensation_proposed")
    offered = TicketEvent.objects.filter(kind="compensation_offered")
    assert proposed.count() == offered.count() == 4
    assert all(e.is_public for e in offered) and not any(e.is_public for e in proposed)
    assert offered.first().data["kind"] == "discount_code"
    [sent] = bulk_sent
    assert sorted(sent["offer_ids"]) == sorted(o.pk for o in offers)
    assert (sent["incident"], sent["bulk_key"], sent["at"]) == (incident, result.bulk_key, NOW)


def test_a_second_run_adds_nothing_and_a_later_ticket_gets_its_offer(incident, bulk_sent):
    affected(incident, 3)
    first = offer_incident_remedy(incident=incident, remedies=[TEN_PERCENT], now=NOW)

    again = offer_incident_remedy(incident=incident, remedies=[TEN_PERCENT], now=NOW)
    assert (again.tickets, again.offers, again.bulk_key) == (0, 0, first.bulk_key)
    assert CompensationOffer.objects.count() == 3

    [late] = affected(incident, 1)
    third = offer_incident_remedy(incident=incident, remedies=[TEN_PERCENT], now=NOW)
    assert (third.tickets, third.offers) == (1, 1)
    assert CompensationOffer.objects.filter(ticket=late).count() == 1
    assert len(bulk_sent) == 2  # a run that makes nothing tells no one

    # Another remedy for the same incident is another run.
    other = offer_incident_remedy(
        incident=incident, remedies=[RemedySpec(kind="free_shipping")], now=NOW
    )
    assert other.tickets == 4 and other.bulk_key != first.bulk_key


def test_the_database_keeps_one_offer_per_ticket_and_run(incident):
    [ticket] = affected(incident, 1)
    offer_incident_remedy(incident=incident, remedies=[TEN_PERCENT], now=NOW)
    offer = CompensationOffer.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        CompensationOffer.objects.create(
            ticket=ticket, customer=ticket.customer, kind="gift", bulk_key=offer.bulk_key
        )


def test_alternatives_give_each_ticket_its_own_choice(incident):
    tickets = affected(incident, 2)
    result = offer_incident_remedy(
        incident=incident, remedies=[TEN_PERCENT, RemedySpec(kind="free_shipping")], now=NOW
    )
    assert (result.tickets, result.offers) == (2, 4)
    groups = {
        t.pk: set(CompensationOffer.objects.filter(ticket=t).values_list("choice_group", flat=True))
        for t in tickets
    }
    assert all(len(group) == 1 and None not in group for group in groups.values())
    assert groups[tickets[0].pk] != groups[tickets[1].pk]

    shipping = CompensationOffer.objects.get(ticket=tickets[0], kind="free_shipping")
    assert offer_choose(offer=shipping, now=NOW).status == OfferStatus.ISSUED
    assert CompensationOffer.objects.get(ticket=tickets[0], kind="discount_code").status == (
        OfferStatus.CANCELLED
    )
    assert (
        offer_incident_remedy(
            incident=incident, remedies=[TEN_PERCENT, RemedySpec(kind="free_shipping")], now=NOW
        ).offers
        == 0
    )


def test_a_single_bulk_remedy_is_issued_when_the_customer_claims_it(incident):
    [ticket] = affected(incident, 1)
    offer_incident_remedy(incident=incident, remedies=[coupon("10")], now=NOW)
    offer = CompensationOffer.objects.get(ticket=ticket)
    claimed = offer_choose(offer=offer, now=NOW)
    assert claimed.status == OfferStatus.ISSUED and claimed.issued_reference


def test_a_run_beyond_the_budget_waits_for_a_supervisor(incident, supervisor, bulk_sent):
    Budget.objects.create(
        name="Strike",
        period_start=dt.date(2026, 12, 1),
        period_end=dt.date(2026, 12, 31),
        amount=Decimal("25.00"),
        incident=incident,
    )
    affected(incident, 3)

    result = offer_incident_remedy(incident=incident, remedies=[coupon("10")], now=NOW)

    assert result.status == OfferStatus.PENDING_APPROVAL  # 3 x 10 > 25
    assert ApprovalRequest.objects.filter(status="pending", requested_by=None).count() == 3
    assert bulk_sent[0]["offer_ids"] == []
    approved = approve_incident_offers(incident=incident, by=supervisor, now=NOW)
    assert (len(approved.approved), approved.left_pending) == (2, 1)


def test_a_run_above_the_authority_waits_for_a_supervisor(incident, agent):
    affected(incident, 2)
    system = offer_incident_remedy(incident=incident, remedies=[coupon("50.01")], now=NOW)
    assert system.status == OfferStatus.PENDING_APPROVAL
    by_agent = offer_incident_remedy(
        incident=incident, remedies=[RemedySpec(kind="discount_code", percent="20")], by=agent
    )
    assert by_agent.status == OfferStatus.PENDING_APPROVAL
    assert ApprovalRequest.objects.filter(requested_by=agent).count() == 2


@pytest.mark.parametrize("kind", ["full_refund", "partial_refund", "cash", "reship"])
def test_refunds_and_reships_are_offered_ticket_by_ticket(incident, kind):
    affected(incident, 1)
    with pytest.raises(CompensationError) as caught:
        offer_incident_remedy(
            incident=incident, remedies=[RemedySpec(kind=kind, amount=Decimal("5"))], now=NOW
        )
    assert (caught.value.code, caught.value.field) == ("not_for_bulk", "kind")
    assert not CompensationOffer.objects.exists()


def test_an_operator_cannot_run_it(incident, operator):
    with pytest.raises(CompensationError) as caught:
        offer_incident_remedy(incident=incident, remedies=[TEN_PERCENT], by=operator)
    assert caught.value.code == "forbidden"


@pytest.mark.parametrize("count", [3, 30])
def test_the_query_count_does_not_grow_with_the_tickets(
    incident, count, django_assert_max_num_queries
):
    affected(incident, count)
    # Permission-free system run: savepoint, incident lock, tickets, limits, budget lookup,
    # the offers, the events (one batch each) and the created_at fix-up; then notifications'
    # receiver: the run's first offer (its remedy, told in each language) and one INSERT of
    # every customer's notice.
    with django_assert_max_num_queries(14):
        result = offer_incident_remedy(incident=incident, remedies=[coupon("5")], now=NOW)
    assert result.tickets == count


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_make_one_offer_per_ticket(default_configuration):
    ensure_roles()
    ensure_default_authority_limits()
    incident = factories.IncidentFactory()
    affected(incident, 20)
    start = threading.Barrier(3)
    results, errors = [], []

    def run():
        try:
            start.wait(timeout=10)
            results.append(offer_incident_remedy(incident=incident, remedies=[TEN_PERCENT]))
        except Exception as exc:  # returned to the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(r.tickets for r in results) == [0, 0, 20]
    assert CompensationOffer.objects.count() == 20
