"""The supervisor's budgets page (/supervisor/budgets/): every compensation budget running today
or ended in the last 90 days, with what it has spent (issued), committed (offered or waiting for
approval) and left, in its own currency; the running ones' totals per currency, never adding
two currencies. Operators set budgets in the admin; supervisors read them here.

Who: supervisors (`tickets.supervise`), as the workspace's home page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Page, Paginator
from django.db.models import Case, Q, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from compensation import money
from compensation.models import Budget
from core.inputs import parse_page
from supervisor.approvals_selectors import BudgetLine, budget_lines

PAGE_SIZE = 50
ENDED_WITHIN = dt.timedelta(days=90)


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    amount: str
    spent: str
    committed: str
    remaining: str


@dataclass
class BudgetOverview:
    page: Page
    lines: list[BudgetLine]
    running_totals: list[CurrencyTotal]
    today: dt.date


def budget_overview(*, page_number, today: dt.date) -> BudgetOverview:
    """One page of the budgets (the running ones first, then those ended in the last 90 days;
    latest end first) with their usage (compensation.budgets.usages), and the running budgets'
    totals per currency: a constant number of queries whatever the number of budgets."""
    recent = Budget.objects.filter(period_end__gte=today - ENDED_WITHIN)
    running = Q(period_start__lte=today, period_end__gte=today)
    ordered = (
        recent.select_related("incident")
        .annotate(ended=Case(When(running, then=Value(0)), default=Value(1)))
        .order_by("ended", "-period_end", "name", "pk")
    )
    page = Paginator(ordered, PAGE_SIZE).get_page(parse_page(page_number))
    budgets = list(page.object_list)
    lines = budget_lines(budgets)
    every_running = list(recent.filter(running))
    return BudgetOverview(
        page=page,
        lines=[lines[budget.pk] for budget in budgets],
        running_totals=_totals(budget_lines(every_running).values()),
        today=today,
    )


def _totals(lines) -> list[CurrencyTotal]:
    """Amount, spent, committed and left of ``lines`` added up per currency (sorted)."""
    sums: dict[str, list[Decimal]] = {}
    for line in lines:
        row = sums.setdefault(line.budget.currency, [Decimal(0)] * 4)
        for index, value in enumerate(
            (line.budget.amount, line.spent, line.committed, line.remaining)
        ):
            row[index] += value
    return [
        CurrencyTotal(currency, *(money.format_money(value, currency) for value in row))
        for currency, row in sorted(sums.items())
    ]


@require_GET
@login_required
@permission_required("tickets.supervise", raise_exception=True)
def budgets(request: HttpRequest) -> HttpResponse:
    overview = budget_overview(page_number=request.GET.get("page"), today=timezone.localdate())
    return render(request, "supervisor/budgets.html", {"overview": overview})
