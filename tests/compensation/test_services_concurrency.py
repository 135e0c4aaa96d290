"""The compensation services under real concurrency (PostgreSQL, threads on their own
connections): two supervisors approving one offer, a customer's double click, two offers racing
for the last of an incident's budget. Each must end exactly once."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection

from compensation.defaults import ensure_default_authority_limits
from compensation.errors import CompensationError
from compensation.models import Budget, CompensationOffer, IssuedCode, OfferStatus
from compensation.services import RemedySpec, offer_approve, offer_choose, offer_request
from core.roles import ensure_roles
from tests import factories
from tickets.models import TicketEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


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


@pytest.fixture
def configured(transactional_db, default_configuration):
    # A flush of an earlier transactional test may have emptied the groups and limits.
    ensure_roles()
    ensure_default_authority_limits()


@pytest.fixture
def people(configured):
    return {
        "agent": factories.AgentFactory(username="alice"),
        "sam": factories.SupervisorFactory(username="sam"),
        "sue": factories.SupervisorFactory(username="sue"),
    }


def coupon(amount: str) -> RemedySpec:
    return RemedySpec(kind="coupon", amount=Decimal(amount), currency="EUR")


def test_two_supervisors_approving_one_offer_at_once_issue_it_exactly_once(people):
    ticket = factories.TicketFactory()
    [offer] = offer_request(ticket=ticket, by=people["agent"], remedies=[coupon("80")], now=NOW)
    assert offer.status == OfferStatus.PENDING_APPROVAL

    for _round in range(3):  # the race is short: give it a few chances to bite
        results, errors = run_at_once(
            lambda: offer_approve(offer=offer, by=people["sam"], now=NOW),
            lambda: offer_approve(offer=offer, by=people["sue"], now=NOW),
        )
        if _round == 0:
            [winner] = results
            [error] = errors
            assert isinstance(error, CompensationError) and error.code == "already_decided"
            assert winner.status == OfferStatus.ISSUED
        else:
            assert results == [] and {e.code for e in errors} == {"already_decided"}

    offer.refresh_from_db()
    assert offer.status == OfferStatus.ISSUED
    assert IssuedCode.objects.filter(offer=offer).count() == 1
    assert TicketEvent.objects.filter(ticket=ticket, kind="compensation_approved").count() == 1
    assert TicketEvent.objects.filter(ticket=ticket, kind="compensation_issued").count() == 1


def test_a_customers_double_click_issues_the_choice_once(people):
    ticket = factories.TicketFactory()
    offers = offer_request(
        ticket=ticket, by=people["agent"], remedies=[coupon("10"), coupon("20")], now=NOW
    )
    chosen = offers[1]

    results, errors = run_at_once(*(lambda: offer_choose(offer=chosen, now=NOW) for _ in range(4)))

    assert errors == []
    assert {r.status for r in results} == {OfferStatus.ISSUED}
    assert IssuedCode.objects.filter(offer__ticket=ticket).count() == 1
    assert dict(CompensationOffer.objects.values_list("pk", "status")) == {
        offers[0].pk: OfferStatus.CANCELLED,
        chosen.pk: OfferStatus.ISSUED,
    }
    assert TicketEvent.objects.filter(ticket=ticket, kind="compensation_accepted").count() == 1


def test_two_different_choices_at_once_one_wins(people):
    ticket = factories.TicketFactory()
    first, second = offer_request(
        ticket=ticket, by=people["agent"], remedies=[coupon("10"), coupon("20")], now=NOW
    )

    results, errors = run_at_once(
        lambda: offer_choose(offer=first, now=NOW),
        lambda: offer_choose(offer=second, now=NOW),
    )

    [winner] = results
    [error] = errors
    assert error.code == "already_chosen"
    assert list(
        CompensationOffer.objects.filter(status=OfferStatus.ISSUED).values_list("pk", flat=True)
    ) == [winner.pk]
    assert IssuedCode.objects.count() == 1


def test_two_offers_racing_for_the_last_of_a_budget_one_waits(people):
    incident = factories.IncidentFactory()
    Budget.objects.create(
        name="Strike",
        period_start=dt.date(2026, 12, 1),
        period_end=dt.date(2026, 12, 31),
        amount=Decimal("100.00"),
        incident=incident,
    )
    tickets = [factories.TicketFactory(shipment__incident=incident) for _ in range(4)]

    results, errors = run_at_once(
        *(
            (
                lambda t=t: offer_request(
                    ticket=t, by=people["agent"], remedies=[coupon("40")], now=NOW
                )
            )
            for t in tickets
        )
    )

    assert errors == []
    statuses = sorted(offers[0].status for offers in results)
    # 100 EUR holds two offers of 40; the others wait for a supervisor, never a third issued.
    assert statuses == [
        OfferStatus.ISSUED,
        OfferStatus.ISSUED,
        OfferStatus.PENDING_APPROVAL,
        OfferStatus.PENDING_APPROVAL,
    ]
