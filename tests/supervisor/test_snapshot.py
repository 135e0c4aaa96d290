"""The dashboard's figures kept for the next view until the rollup moves on (snapshot)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from supervisor import rollup, snapshot
from supervisor.scope import scope_from
from tests import factories

NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
DASHBOARD = reverse("supervisor:home")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def escalated_today():
    ticket = factories.TicketFactory(status="solved", solved_at=NOW - dt.timedelta(hours=3))
    ticket.is_escalated = True
    ticket.save()
    return ticket


def share(client) -> str:
    figure = next(
        figure
        for _section, figure in client.get(DASHBOARD).context["kpis"].figures
        if figure.key == "resolved_without_escalation"
    )
    return figure.value_text


def test_the_next_view_reads_the_kept_figures(supervisor_client, db):
    rollup.rollup_refresh(now=NOW, full=True)
    with CaptureQueriesContext(connection) as first:
        supervisor_client.get(DASHBOARD)
    with CaptureQueriesContext(connection) as second:
        response = supervisor_client.get(DASHBOARD)
    assert response.status_code == 200
    assert len(second) < len(first) - 10  # no KPI family, no chart computed again


def test_figures_move_on_with_the_rollup(supervisor_client, db):
    factories.TicketFactory(status="solved", solved_at=NOW - dt.timedelta(hours=3))
    rollup.rollup_refresh(now=NOW, full=True)
    assert share(supervisor_client) == "100.0%"
    escalated_today()
    assert share(supervisor_client) == "100.0%"  # kept: as of the last refresh
    rollup.rollup_refresh(now=NOW)
    assert share(supervisor_client) == "50.0%"


def test_each_language_time_zone_and_filter_has_its_own_figures(db):
    rollup.rollup_refresh(now=NOW, full=True)
    scope, _form = scope_from({}, now=NOW)
    week, _form = scope_from({"days": "7"}, now=NOW)
    with translation.override("zh-hans"):
        chinese = snapshot.dashboard(scope, now=NOW)
    english = snapshot.dashboard(scope, now=NOW)
    assert chinese is not english
    assert str(chinese.figures.sections[0].title) != str(english.figures.sections[0].title)
    with timezone.override("Asia/Shanghai"):
        shanghai = snapshot._key(scope, rollup.generation())
    assert shanghai != snapshot._key(scope, rollup.generation())
    assert snapshot._key(week, rollup.generation()) != snapshot._key(scope, rollup.generation())


def test_the_refresh_task_computes_the_default_view_in_every_language(db, settings):
    from supervisor.tasks import refresh_kpi_rollup_task

    cache.clear()
    refresh_kpi_rollup_task()
    generation = rollup.generation()
    with timezone.override(settings.DEFAULT_DISPLAY_TIME_ZONE):
        for language, _name in settings.LANGUAGES:
            with translation.override(language):
                scope, _form = scope_from({}, now=NOW)
                assert cache.get(snapshot._key(scope, generation)) is not None
