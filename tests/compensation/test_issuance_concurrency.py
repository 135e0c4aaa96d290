"""Refunds issued at the same moment (PostgreSQL: real threads, each with its own connection and
transaction): the order's refunded total never exceeds its value, and nothing is paid twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from compensation import issuance
from compensation.errors import CompensationError
from compensation.models import CompensationOffer, RefundEntry
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20


def run_at_once(*calls: Callable[[], object]) -> tuple[list, list]:
    """Run the calls in parallel threads, each on its own connection; (results, errors)."""
    start = threading.Barrier(len(calls))
    results, errors = [], []

    def run(call):
        try:
            start.wait(timeout=10)
            results.append(call())
        except Exception as exc:  # returned to the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


def issue_in_own_transaction(offer_pk: int) -> int:
    """As the compensation services do: one transaction, the offer row locked, then issue."""
    with transaction.atomic():
        offer = CompensationOffer.objects.select_for_update().get(pk=offer_pk)
        issuance.issue(offer, now=timezone.now())
    return offer_pk


@pytest.fixture
def order_ticket():
    shipment = factories.ShipmentFactory(order_value=Decimal("100.00"), currency="EUR")
    return factories.TicketFactory(shipment=shipment, customer=shipment.customer)


def refunds(ticket, amount: str, count: int, kind: str = "partial_refund") -> list[int]:
    return [
        factories.CompensationOfferFactory(
            ticket=ticket, kind=kind, amount=Decimal(amount), status="accepted"
        ).pk
        for _ in range(count)
    ]


def test_twenty_concurrent_partial_refunds_never_exceed_the_order_value(order_ticket):
    # 20 x 15.00 EUR asked at once against a 100.00 EUR order: 6 fit (90.00), 14 are refused.
    offers = refunds(order_ticket, "15.00", THREADS)

    results, errors = run_at_once(*(lambda pk=pk: issue_in_own_transaction(pk) for pk in offers))

    assert len(results) == 6
    assert len(errors) == THREADS - 6
    assert all(
        isinstance(error, CompensationError) and error.code == "refund_exceeds_order"
        for error in errors
    ), errors
    entries = list(RefundEntry.objects.filter(shipment=order_ticket.shipment).order_by("sequence"))
    assert [entry.sequence for entry in entries] == list(range(1, 7))
    assert sum(entry.amount for entry in entries) == Decimal("90.00")
    assert entries[-1].refunded_total == Decimal("90.00")
    assert issuance.refunded_total(order_ticket.shipment) <= order_ticket.shipment.order_value
    assert set(
        CompensationOffer.objects.filter(pk__in=offers, status="issued").values_list(
            "pk", flat=True
        )
    ) == set(results)
    # The refused offers are untouched: not issued, nothing recorded for them.
    assert CompensationOffer.objects.filter(pk__in=offers, status="accepted").count() == 14


def test_concurrent_refunds_that_fit_exactly_are_all_paid(order_ticket):
    # 20 x 5.00 EUR = exactly the order's value: every one is paid, each once.
    offers = refunds(order_ticket, "5.00", THREADS)

    results, errors = run_at_once(*(lambda pk=pk: issue_in_own_transaction(pk) for pk in offers))

    assert errors == []
    assert sorted(results) == sorted(offers)
    assert issuance.refunded_total(order_ticket.shipment) == Decimal("100.00")
    assert RefundEntry.objects.filter(shipment=order_ticket.shipment).count() == THREADS


def test_concurrent_full_refunds_refund_the_order_once(order_ticket):
    offers = refunds(order_ticket, "100.00", 5, kind="full_refund")

    results, errors = run_at_once(*(lambda pk=pk: issue_in_own_transaction(pk) for pk in offers))

    assert len(results) == 1 and len(errors) == 4
    assert {error.code for error in errors} == {"refund_exceeds_order"}
    assert issuance.refunded_total(order_ticket.shipment) == Decimal("100.00")
