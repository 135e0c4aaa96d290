"""The supervisor dashboard (/supervisor/): the KPIs of shared/DOMAIN.md for a period and
filters, each compared with the previous period and one click from the cases behind it, the
charts, and the morning panels (approvals waiting, SLA alerts, open incidents, satisfaction by
agent). `?format=csv` downloads the KPI table and the compensation cost tables."""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from supervisor import kpis, selectors
from supervisor import snapshot as kept_figures
from supervisor.export import csv_response, wants_csv
from supervisor.scope import Scope, ScopeForm, scope_from


@require_GET
@login_required
@permission_required("tickets.supervise", raise_exception=True)
def supervisor_home(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    scope, form = scope_from(request.GET, now=now)
    snapshot = kept_figures.dashboard(scope, now=now)
    figures = snapshot.figures
    if wants_csv(request):
        return csv_response("dashboard", CSV_HEADER, csv_rows(scope, figures))
    context = {
        "scope": scope,
        "previous": scope.previous(),
        "form": form,
        "chips": chips(scope, form),
        "kpis": figures,
        "dashboard_charts": snapshot.charts,
        "computed_at": snapshot.computed_at,
        "dashboard": selectors.supervisor_dashboard(now=now),
        "scorecards_url": _url_or_empty("supervisor:scorecards"),
        "csv_query": scope.query(format="csv"),
        "now": now,
        "section": "dashboard",
    }
    return render(request, "supervisor/home.html", context)


def _url_or_empty(name: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


def chips(scope: Scope, form: ScopeForm) -> list[tuple[str, str, str]]:
    """The filters in use as (label, value, query string without it): removable chips."""
    found = []
    for name in ("team", "carrier", "lane", "region", "incident", "tier"):
        value = getattr(scope, name)
        if not value:
            continue
        text = dict(form.fields["tier"].choices).get(value, value) if name == "tier" else value
        found.append((str(form.fields[name].label), str(text), scope.query(**{name: None})))
    return found


CSV_HEADER = [
    "section",
    "figure",
    "key",
    "value",
    "previous",
    "change",
    "target",
    "status",
    "currency",
    "offers",
]


def csv_rows(scope: Scope, figures: kpis.KpiDashboard) -> Iterator[list]:
    """The KPI table, then the compensation cost per currency and by kind, cause, carrier and
    incident (one row per currency: amounts in different currencies are never added)."""
    for section, figure in figures.figures:
        yield [
            section.title,
            figure.label,
            figure.key,
            _plain(figure, figure.value),
            "" if figure.live else _plain(figure, figure.previous),
            _plain(figure, figure.change) if figure.change is not None else "",
            _plain(figure, figure.target),
            figure.status,
            "",
            "",
        ]
    costs = figures.costs
    title = _("Compensation cost")
    for cost in costs.currencies:
        yield [title, _("Total issued"), "cost_total", cost.total, cost.previous, cost.change,
               "", "", cost.currency, ""]  # fmt: skip
        yield [title, _("Cost per affected order"), "cost_per_order", cost.per_order or "",
               cost.previous_per_order or "", "", "", "", cost.currency, ""]  # fmt: skip
    for key, label, rows in costs.tables:
        for row in rows:
            if not row.totals:
                yield [title, f"{label}: {row.label}", f"cost_by_{key}", "", "", "", "", "", "",
                       row.offers]  # fmt: skip
            for currency, total in row.totals_sorted:
                yield [title, f"{label}: {row.label}", f"cost_by_{key}", total, "", "", "", "",
                       currency, row.offers]  # fmt: skip


def _plain(figure: kpis.Figure, value) -> str:
    """A figure's number for a spreadsheet: shares as fractions, hours, ratings, counts."""
    if value is None:
        return ""
    return f"{value:.4f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
