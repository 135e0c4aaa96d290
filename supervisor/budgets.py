"""The supervisor's budgets page (/supervisor/budgets/): every compensation budget running today
or ended in the last 90 days, with what it has spent (issued), committed (offered or waiting for
approval) and left, in its own currency; the running ones' totals per currency, never adding
two currencies. Operators set budgets in the admin; supervisors read them here.

Who: supervisors (`tickets.supervise`), as the workspace's home page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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
    shown = list(page.object_list)
    running_ones = list(recent.filter(running))
    # One usage computation for the running budgets and the page's (they overlap); a budget on
    # the page keeps the row read with its incident.
    lines = budget_lines(list({b.pk: b for b in [*running_ones, *shown]}.values()))
    return BudgetOverview(
        page=page,
        lines=[lines[budget.pk] for budget in shown],
        running_totals=_totals([lines[budget.pk] for budget in running_ones]),
        today=today,
    )


def _totals(lines: list[BudgetLine]) -> list[CurrencyTotal]:
    """Amount, spent, committed and left of ``lines`` added up per currency (money.totals:
    never across currencies), sorted by currency."""
    columns = [
        money.totals((value(line), line.budget.currency) for line in lines)
        for value in (
            lambda line: line.budget.amount,
            lambda line: line.spent,
            lambda line: line.committed,
            lambda line: line.remaining,
        )
    ]
    return [
        CurrencyTotal(
            currency, *(money.format_money(column[currency], currency) for column in columns)
        )
        for currency in sorted(columns[0])
    ]


@require_GET
@login_required
@permission_required("tickets.supervise", raise_exception=True)
def budgets(request: HttpRequest) -> HttpResponse:
    overview = budget_overview(page_number=request.GET.get("page"), today=timezone.localdate())
    return render(request, "supervisor/budgets.html", {"overview": overview})
