"""Budgets (compensation.budgets): spent, committed and remaining per budget, in its currency."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from compensation.budgets import (
    Usage,
    budget_usage,
    incident_budget,
    incident_budget_left,
    usages,
)
from compensation.models import Budget, OfferStatus
from tests import factories

pytestmark = pytest.mark.django_db

DECEMBER = (dt.date(2026, 12, 1), dt.date(2026, 12, 31))


def budget(amount: str, currency: str = "EUR", incident=None, period=DECEMBER) -> Budget:
    return Budget.objects.create(
        name=f"Budget {amount} {currency}",
        period_start=period[0],
        period_end=period[1],
        amount=Decimal(amount),
        currency=currency,
        incident=incident,
    )


def offer(incident, status, amount, currency="EUR", kind="coupon", via="shipment", **fields):
    if via == "shipment":
        ticket = factories.TicketFactory(shipment__incident=incident)
    else:
        ticket = factories.TicketFactory(incident=incident)
    if status == OfferStatus.ISSUED:
        fields.setdefault("issued_at", dt.datetime(2026, 12, 7, tzinfo=dt.UTC))
    return factories.CompensationOfferFactory(
        ticket=ticket,
        kind=kind,
        status=status,
        amount=None if amount is None else Decimal(amount),
        currency=currency,
        **fields,
    )


@pytest.fixture
def incident(db):
    return factories.IncidentFactory()


def test_an_empty_budget_has_it_all_left(incident):
    assert budget_usage(budget("500", incident=incident)) == Usage(
        spent=Decimal("0.00"), committed=Decimal("0.00"), remaining=Decimal("500.00")
    )


def test_spent_is_issued_and_committed_is_pending_or_offered(incident):
    offer(incident, OfferStatus.ISSUED, "40.00")
    offer(incident, OfferStatus.ISSUED, "10.50", via="ticket")  # the ticket's own incident
    offer(incident, OfferStatus.PENDING_APPROVAL, "25.00")
    offer(incident, OfferStatus.OFFERED, "5.25")
    for dead in (OfferStatus.REJECTED, OfferStatus.CANCELLED, OfferStatus.DECLINED):
        offer(incident, dead, "99.00")
    offer(factories.IncidentFactory(), OfferStatus.ISSUED, "77.00")  # another incident

    usage = budget_usage(budget("100", incident=incident))

    assert usage == Usage(
        spent=Decimal("50.50"), committed=Decimal("30.25"), remaining=Decimal("19.25")
    )


def test_only_money_in_the_budgets_currency_counts(incident):
    offer(incident, OfferStatus.ISSUED, "8000", currency="JPY")
    offer(incident, OfferStatus.ISSUED, None, kind="discount_code", percent=Decimal("15"))
    offer(incident, OfferStatus.ISSUED, "20.00")

    assert budget_usage(budget("100", incident=incident)).spent == Decimal("20.00")
    jpy = budget_usage(budget("10000", "JPY", incident=incident))
    assert jpy == Usage(spent=Decimal("8000"), committed=Decimal("0"), remaining=Decimal("2000"))


def test_remaining_never_goes_below_zero(incident):
    offer(incident, OfferStatus.ISSUED, "150.00")
    assert budget_usage(budget("100", incident=incident)).remaining == Decimal("0")


def test_a_period_budget_counts_the_offers_made_in_its_period(incident):
    inside = offer(None, OfferStatus.ISSUED, "30.00")
    outside = offer(None, OfferStatus.ISSUED, "70.00")
    type(inside).objects.filter(pk=inside.pk).update(
        created_at=dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    )
    type(outside).objects.filter(pk=outside.pk).update(
        created_at=dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    )
    assert budget_usage(budget("1000")).spent == Decimal("30.00")


def test_the_incident_budget_is_the_current_one_in_that_currency(incident):
    old = budget("100", incident=incident, period=(dt.date(2026, 11, 1), dt.date(2026, 11, 30)))
    current = budget("200", incident=incident)
    budget("300", "JPY", incident=incident)
    assert incident_budget(incident, "EUR", today=dt.date(2026, 12, 7)) == current
    assert incident_budget(incident, "EUR", today=dt.date(2026, 11, 7)) == old
    # None holds the day: the latest.
    assert incident_budget(incident, "EUR", today=dt.date(2027, 2, 1)) == current
    assert incident_budget(incident, "CNY", today=dt.date(2026, 12, 7)) is None


def test_incident_budget_left(incident):
    assert incident_budget_left(incident, "EUR") is None  # no budget: no cap
    budget("100", incident=incident, period=(dt.date(2020, 1, 1), dt.date(2099, 12, 31)))
    offer(incident, OfferStatus.OFFERED, "60.00")
    left = incident_budget_left(incident, "EUR")
    assert left == Decimal("40.00") and isinstance(left, Decimal)


def test_usages_are_each_budgets_usage_in_two_queries(incident, django_assert_num_queries):
    other = factories.IncidentFactory()
    offer(incident, OfferStatus.ISSUED, "40.00")
    offer(incident, OfferStatus.PENDING_APPROVAL, "25.00", via="ticket")
    offer(other, OfferStatus.OFFERED, "10.00")
    offer(None, OfferStatus.ISSUED, "7.50")
    offer(None, OfferStatus.OFFERED, "900", currency="JPY")
    november = offer(None, OfferStatus.ISSUED, "99.00")
    type(november).objects.filter(pk=november.pk).update(
        created_at=dt.datetime(2026, 11, 15, tzinfo=dt.UTC)
    )
    budgets = [
        budget("100", incident=incident),
        budget("50", incident=other),
        budget("5000", "JPY", incident=incident),
        budget("500"),
        budget("10000", "JPY"),
        budget("300", period=(dt.date(2026, 11, 1), dt.date(2026, 11, 30))),
    ]

    with django_assert_num_queries(2):
        found = usages(budgets)

    assert found == {b.pk: budget_usage(b) for b in budgets}
    assert [found[b.pk].spent for b in budgets] == [
        Decimal("40.00"),
        Decimal("0.00"),
        Decimal("0"),
        Decimal("47.50"),  # a period budget counts every offer of its currency and period
        Decimal("0"),
        Decimal("99.00"),
    ]
    assert found[budgets[0].pk].committed == Decimal("25.00")
    assert found[budgets[3].pk].committed == Decimal("35.00")
    assert found[budgets[4].pk].committed == Decimal("900")
