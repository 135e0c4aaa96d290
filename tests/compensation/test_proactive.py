"""compensation.proactive: the remedies a policy gives before the customer asks (the default
matrix's full refund for a parcel more than 30 days late), offered once per ticket by the
system, through the usual authority and approval."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from compensation import proactive, signals
from compensation.models import (
    ApprovalRequest,
    CompensationOffer,
    CompensationPolicy,
    OfferStatus,
    RefundEntry,
)
from compensation.proactive import ProactiveRun, offer_proactive_remedies
from core.schedules import periodic_tasks
from tests import factories
from tickets.models import Ticket, TicketEvent

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


def late_ticket(days: float, *, order_value="49.90", ticket_status=Ticket.Status.OPEN, **shipment):
    return factories.TicketFactory(
        status=ticket_status,
        solved_at=NOW if ticket_status in (Ticket.Status.SOLVED, Ticket.Status.CLOSED) else None,
        shipment__order_value=Decimal(order_value),
        shipment__promised_at=NOW - dt.timedelta(days=days),
        shipment__shipped_at=NOW - dt.timedelta(days=days + 5),
        **{f"shipment__{name}": value for name, value in shipment.items()},
    )


@pytest.fixture
def issued():
    seen = []

    def receiver(sender, *, offer, **kwargs):
        seen.append(offer.pk)

    signals.offer_issued.connect(receiver, dispatch_uid="test.proactive.issued")
    yield seen
    signals.offer_issued.disconnect(dispatch_uid="test.proactive.issued")


def test_a_parcel_more_than_30_days_late_gets_a_full_refund_before_anyone_asks(issued):
    ticket = late_ticket(31)

    assert offer_proactive_remedies(now=NOW) == ProactiveRun(offered=1)

    offer = CompensationOffer.objects.get(ticket=ticket)
    assert (offer.kind, offer.status, offer.requested_by) == ("full_refund", "issued", None)
    assert offer.policy.name == "Delayed over 30 days"
    assert offer.amount == Decimal("49.90")
    assert RefundEntry.objects.get(offer=offer).refunded_total == Decimal("49.90")
    assert issued == [offer.pk]  # the customer hears of it through the outbox
    proposed = TicketEvent.objects.get(ticket=ticket, kind="compensation_proposed")
    assert proposed.actor is None


def test_a_second_pass_offers_nothing_more():
    late_ticket(31)
    offer_proactive_remedies(now=NOW)

    assert offer_proactive_remedies(now=NOW + dt.timedelta(hours=1)) == ProactiveRun()
    assert CompensationOffer.objects.count() == 1


def test_above_the_systems_authority_it_waits_for_a_supervisor():
    ticket = late_ticket(45, order_value="120.00")

    assert offer_proactive_remedies(now=NOW) == ProactiveRun(waiting=1)

    offer = CompensationOffer.objects.get(ticket=ticket)
    assert offer.status == OfferStatus.PENDING_APPROVAL
    assert ApprovalRequest.objects.get(offer=offer).requested_by is None
    # Waiting counts as served: the next pass does not ask again.
    assert offer_proactive_remedies(now=NOW + dt.timedelta(hours=1)) == ProactiveRun()


def test_not_yet_30_days_late_closed_or_delivered_in_time_gets_nothing():
    late_ticket(29)
    late_ticket(40, ticket_status=Ticket.Status.SOLVED)
    # Delivered 10 days late, 50 days ago: its lateness is over and was short.
    late_ticket(60, status="delivered", delivered_at=NOW - dt.timedelta(days=50))

    assert offer_proactive_remedies(now=NOW) == ProactiveRun()
    assert not CompensationOffer.objects.exists()


def test_a_ticket_whose_proactive_rule_does_not_apply_is_left(monkeypatch):
    ticket = late_ticket(31)
    monkeypatch.setattr(proactive.policies, "suggest", lambda *args, **kwargs: [])

    assert offer_proactive_remedies(now=NOW) == ProactiveRun(left=1)
    assert not CompensationOffer.objects.filter(ticket=ticket).exists()


def test_without_a_proactive_policy_a_pass_does_nothing():
    late_ticket(31)
    CompensationPolicy.objects.update(offer_proactively=False)
    assert offer_proactive_remedies(now=NOW) == ProactiveRun()


def test_beat_runs_it_hourly():
    [job] = [j for j in periodic_tasks() if j.task == "compensation.offer_proactive_remedies"]
    assert job.every_seconds == 3600
