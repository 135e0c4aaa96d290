"""The supervisor's budgets page (/supervisor/budgets/): who may open it, what each budget has
spent, committed and left, totals per currency (never mixed), the empty state, both languages,
and a query count that does not grow with the budgets."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from compensation.models import Budget, OfferStatus
from tests import factories

pytestmark = pytest.mark.django_db

PAGE = reverse("supervisor:budgets")


def budget(name, amount, currency="EUR", incident=None, days=(-10, 10)) -> Budget:
    today = timezone.localdate()
    return Budget.objects.create(
        name=name,
        period_start=today + dt.timedelta(days=days[0]),
        period_end=today + dt.timedelta(days=days[1]),
        amount=Decimal(amount),
        currency=currency,
        incident=incident,
    )


def offer(incident, status, amount, currency="EUR"):
    ticket = factories.TicketFactory(shipment__incident=incident)
    issued_at = timezone.now() if status == OfferStatus.ISSUED else None
    return factories.CompensationOfferFactory(
        ticket=ticket,
        kind="coupon",
        status=status,
        amount=Decimal(amount),
        currency=currency,
        issued_at=issued_at,
    )


def row(html: str, budget: Budget) -> str:
    start = html.index(f'data-budget="{budget.pk}"')
    return html[start : html.index("</tr>", start)]


def test_agents_are_refused(agent_client):
    assert agent_client.get(PAGE).status_code == 403


def test_each_budget_shows_what_it_spent_committed_and_has_left(supervisor_client):
    incident = factories.IncidentFactory(title="Port congestion Hamburg")
    held = budget("Hamburg budget", "500.00", incident=incident)
    offer(incident, OfferStatus.ISSUED, "120.00")
    offer(incident, OfferStatus.PENDING_APPROVAL, "30.00")
    offer(incident, OfferStatus.REJECTED, "999.00")  # decided against: counts nothing
    yen = budget("Tokyo goodwill", "100000", "JPY")
    old = budget("October", "50.00", days=(-60, -31))
    budget("Long ago", "50.00", days=(-400, -300))  # ended more than 90 days ago: not shown

    html = supervisor_client.get(PAGE).content.decode()

    hamburg = row(html, held)
    assert "Port congestion Hamburg" in hamburg
    assert "€120.00" in hamburg and "€30.00" in hamburg and "€350.00" in hamburg
    assert "¥100,000" in row(html, yen)
    assert "Ended" in row(html, old)
    assert "Long ago" not in html
    # Running budgets add up per currency, never across currencies.
    assert 'data-currency="EUR"' in html and 'data-currency="JPY"' in html
    assert html.index(f'data-budget="{held.pk}"') < html.index(f'data-budget="{old.pk}"')


def test_an_empty_page_says_how_budgets_are_made(supervisor_client):
    html = supervisor_client.get(PAGE).content.decode()
    assert "data-empty-budgets" in html


def test_the_page_speaks_chinese(supervisor_client):
    budget("Budget", "10.00")
    html = supervisor_client.get(PAGE, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "补偿预算" in html


def test_the_query_count_does_not_grow_with_the_budgets(
    supervisor_client, django_assert_max_num_queries
):
    def add(count):
        for n in range(count):
            incident = factories.IncidentFactory()
            budget(f"Incident budget {n}", "100.00", incident=incident)
            offer(incident, OfferStatus.ISSUED, "10.00")
            budget(f"Period budget {n}", "100.00", "CNY")

    add(1)
    with django_assert_max_num_queries(50) as few:
        supervisor_client.get(PAGE)
    add(6)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert supervisor_client.get(PAGE).status_code == 200
