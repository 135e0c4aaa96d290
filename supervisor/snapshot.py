"""The dashboard's figures and charts, computed once and served to every supervisor until the
rollup moves on.

At 1,000,000 shipments the dashboard's figures and charts take seconds to compute
(docs/PERFORMANCE.md), far over what a page may take. They change when the rollup is refreshed
(supervisor.rollup, every few minutes) or when the live tables move, and every supervisor of a
team opens the same default view each morning. So the computed figures are kept in the shared
cache (Redis in production, the database cache on the embedded default) under a key naming the
period, the filters, the reader's language and time zone and the moment the rollup is as of:

- the periodic refresh computes the default view (last 30 days, no filter) in each language in
  the display time zone right after it refreshes the rollup (`warm`), so that view is always
  ready; the root causes' default view too (supervisor.root_causes keeps its rows the same
  way, under its own key);
- any other view is computed on its first request and kept the same way (`dashboard`);
- an entry lives at most KEPT_REFRESHES rollup intervals, so if the refresh stops, figures
  older than that are computed afresh.

The page says when its figures were computed ("Figures as of 08:05"); the SLA alerts, the
approvals waiting and the incidents below the figures are always read live, on the primary.

With a reports replica (REPORTS_DATABASE_URL, core.db) a request computes its figures there,
and reads the rollup's generation there too, so the key names the rollup the figures were
computed from. The replica lags the primary by its replication delay (usually under a second):
until it has replayed a refresh the page shows the figures of the refresh before, with the time
they are as of; any figure may be up to that delay older than the primary's. `warm` runs right
after the refresh and reads the primary (`reports_on_primary`): on the replica it could still
see the rollup before the refresh, and keep the default view under the old generation instead
of the new one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone, translation

from core.cache import cache_get, cache_set
from core.db import reports_on_primary
from core.schedules import REFRESH_KPI_ROLLUP_INTERVAL_SECONDS
from supervisor import kpis, rollup, root_causes, trends
from supervisor.scope import Scope, scope_from

KEPT_REFRESHES = 2


@dataclass(frozen=True)
class Snapshot:
    figures: kpis.KpiDashboard
    charts: list
    computed_at: dt.datetime


def _key(scope: Scope, generation: tuple[dt.datetime | None, int]) -> str:
    as_of, refreshes = generation
    return ":".join(
        [
            "supervisor-dashboard",
            as_of.isoformat() if as_of else "-",
            str(refreshes),
            translation.get_language() or "",
            timezone.get_current_timezone_name(),
            scope.first_day.isoformat(),
            scope.last_day.isoformat(),
            scope.query(),
        ]
    )


def _seconds() -> int:
    return KEPT_REFRESHES * REFRESH_KPI_ROLLUP_INTERVAL_SECONDS


def compute(scope: Scope, *, now: dt.datetime) -> Snapshot:
    return Snapshot(
        figures=kpis.kpi_dashboard(scope, now=now),
        charts=trends.dashboard_charts(scope, now=now),
        computed_at=now,
    )


def dashboard(scope: Scope, *, now: dt.datetime) -> Snapshot:
    """The figures and charts of `scope` as last computed for the rollup's current state, or
    computed now (and kept)."""
    key = _key(scope, rollup.generation())
    kept = cache_get(key)  # a failing cache reads as empty: computed now
    if kept is None:
        kept = compute(scope, now=now)
        cache_set(key, kept, _seconds())
    return kept


def warm(*, now: dt.datetime) -> int:
    """Compute the dashboard's default view in every language and the root causes' default
    view (its rows serve both languages), in the display time zone (after a refresh of the
    rollup). Returns how many views were computed. Reads the primary, which holds the refresh
    just made (a replica may not have replayed it yet)."""
    with reports_on_primary():
        return _warm(now=now)


def _warm(*, now: dt.datetime) -> int:
    generation = rollup.generation()
    count = 0
    with timezone.override(settings.DEFAULT_DISPLAY_TIME_ZONE):
        for language, _name in settings.LANGUAGES:
            with translation.override(language):
                scope, _form = scope_from({}, now=now)
                cache_set(_key(scope, generation), compute(scope, now=now), _seconds())
                count += 1
        root_causes.keep_default_view(now=now, generation=generation, seconds=_seconds())
        count += 1
    return count
