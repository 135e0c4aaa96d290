"""A read replica for reports (core.db, REPORTS_DATABASE_URL): the supervisor's figures, charts,
root causes, scorecards and lists read the "reports" alias when it exists; writes, the approvals
queue and the live panels stay on the primary, and so does a read inside a transaction on it or
right after a refresh. Without the setting there is no second alias and nothing changes.

The replica here is a test mirror of the test database (a second connection to it, read-only on
PostgreSQL), added for the tests of one class. Its tests are transactional: a second connection
sees only committed rows, and a test in a transaction reads on the primary by design."""

from __future__ import annotations

import copy
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.db import REPORTS_DB_ALIAS, reports_db, reports_on_primary
from supervisor import kpis, rollup, root_causes, scorecards, selectors, snapshot
from supervisor.drilldown import DRILLDOWNS
from supervisor.scope import scope_from
from tests import factories
from tests.supervisor.test_export import fill

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
# Tables only reports read: a query naming one on the primary is a report read gone astray.
REPORT_TABLES = ("supervisor_shipmentoutcome", "supervisor_kpirollupstate")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def tables_read(queries) -> set[str]:
    return {t for q in queries.captured_queries for t in REPORT_TABLES if t in q["sql"]}


# --- without REPORTS_DATABASE_URL -------------------------------------------------------------


def settings_with(**env: str) -> subprocess.CompletedProcess:
    """config.settings' DATABASES as a fresh start-up with `env` reads them."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REPORTS_DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    script = (
        "from django.conf import settings as s; d = s.DATABASES; "
        "print(sorted(d)); r = d.get('reports', {}); "
        "print(r.get('NAME'), r.get('HOST'), r.get('TEST', {}).get('MIRROR'), "
        "r.get('OPTIONS', {}).get('options'))"
    )
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_replica_is_a_read_only_second_alias_only_when_its_url_is_set():
    unset = settings_with()
    assert unset.stdout.splitlines()[-2] == "['default']", unset.stderr
    replica = settings_with(
        DATABASE_URL="postgres://app@primary.internal:5432/delaydesk",
        REPORTS_DATABASE_URL="postgres://app@replica.internal:5432/delaydesk",
    )
    names, details = replica.stdout.splitlines()[-2:]
    assert names == "['default', 'reports']", replica.stderr
    name, host, mirror, options = details.split(" ", 3)
    assert (name, host, mirror) == ("delaydesk", "replica.internal", "default")
    assert "default_transaction_read_only=on" in options
    bad = settings_with(REPORTS_DATABASE_URL="mysql://replica/delaydesk")
    assert bad.returncode != 0
    assert "REPORTS_DATABASE_URL" in bad.stderr


@pytest.mark.skipif(
    bool(os.environ.get("REPORTS_DATABASE_URL")), reason="the run has a replica configured"
)
def test_without_a_replica_every_report_reads_the_primary(supervisor_client, agent):
    fill(2, agent)
    assert REPORTS_DB_ALIAS not in connections
    assert reports_db() == DEFAULT_DB_ALIAS
    with CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary:
        response = supervisor_client.get(reverse("supervisor:home"))
    assert response.status_code == 200
    assert tables_read(primary) == set(REPORT_TABLES)
    assert response.context["kpis"].figure("csat_mean").value is not None


# --- with a replica ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPORTS_DB_ALIAS])
class TestWithAReplica:
    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def replica(cls, django_db_setup, django_db_blocker):
        """The alias "reports" as config.settings makes it from REPORTS_DATABASE_URL, pointing at
        the test database (a test mirror of default), for this class's tests only. Class-scoped,
        so it exists before pytest-django checks the test's `databases`."""
        settings_dict = copy.deepcopy(connections[DEFAULT_DB_ALIAS].settings_dict)
        settings_dict["TEST"] = {**settings_dict["TEST"], "MIRROR": DEFAULT_DB_ALIAS}
        if settings_dict["ENGINE"].endswith("postgresql"):
            options = settings_dict.setdefault("OPTIONS", {})
            options["options"] = (
                f"{options.get('options', '')} -c default_transaction_read_only=on".strip()
            )
        connections.settings[REPORTS_DB_ALIAS] = settings_dict
        try:
            yield
        finally:
            with django_db_blocker.unblock():
                connections[REPORTS_DB_ALIAS].close()
            del connections[REPORTS_DB_ALIAS]
            del connections.settings[REPORTS_DB_ALIAS]

    @pytest.fixture
    def data(self, agent):
        fill(3, agent)  # every list non-empty; the rollup refreshed (on the primary)

    @pytest.fixture
    def scope(self):
        return scope_from({}, now=NOW)[0]

    @pytest.fixture
    def on_replica(self):
        with CaptureQueriesContext(connections[REPORTS_DB_ALIAS]) as queries:
            yield queries

    @pytest.fixture
    def on_primary(self):
        with CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as queries:
            yield queries

    def test_report_reads_name_the_replica_outside_a_transaction(self):
        assert reports_db() == REPORTS_DB_ALIAS
        with transaction.atomic():
            assert reports_db() == DEFAULT_DB_ALIAS
        with reports_on_primary():
            assert reports_db() == DEFAULT_DB_ALIAS
        assert reports_db() == REPORTS_DB_ALIAS

    def test_the_dashboards_figures_and_charts_read_the_replica(
        self, data, scope, on_replica, on_primary
    ):
        computed = snapshot.compute(scope, now=NOW)
        satisfaction = selectors.satisfaction_by_agent(now=NOW)
        generation = rollup.generation()
        assert len(on_primary) == 0
        # kpis: seven statements; trends: delays, contact, CSAT, backlog, reliability.
        assert len(on_replica) >= 12
        assert tables_read(on_replica) == set(REPORT_TABLES)
        with reports_on_primary():  # ...and they are the primary's figures
            expected = snapshot.compute(scope, now=NOW)
            assert satisfaction == selectors.satisfaction_by_agent(now=NOW)
            assert generation == rollup.generation() == (NOW, 1)
        assert [(f.key, f.value) for _s, f in computed.figures.figures] == [
            (f.key, f.value) for _s, f in expected.figures.figures
        ]
        assert computed.figures.figure("csat_mean").value is not None
        assert [c.key for c in computed.charts] == [c.key for c in expected.charts]
        assert satisfaction

    def test_root_causes_and_scorecards_read_the_replica(self, data, scope, on_replica, on_primary):
        zone = timezone.get_current_timezone()
        causes = root_causes.compute(scope, zone, now=NOW)
        board = scorecards.scoreboard(scope=scope)
        assert len(on_primary) == 0
        assert len(on_replica) >= 4 + 10
        with reports_on_primary():
            assert causes.tables == root_causes.compute(scope, zone, now=NOW).tables
            assert board == scorecards.scoreboard(scope=scope)
        assert causes.tables["lanes"] and board.agents

    @pytest.mark.parametrize("name", sorted(DRILLDOWNS))
    def test_every_list_and_its_export_read_the_replica(self, data, scope, name, on_primary):
        listed = DRILLDOWNS[name]
        with CaptureQueriesContext(connections[REPORTS_DB_ALIAS]) as on_replica:
            rows, _more = listed.page(scope, now=NOW, number=1)
            exported = list(listed.csv_rows(scope, now=NOW))
        assert rows and len(exported) == len(rows)
        assert len(on_replica) >= 2
        assert len(on_primary) == 0

    def test_the_pages_read_reports_on_the_replica_and_the_queue_on_the_primary(
        self, data, supervisor_client, on_replica, on_primary
    ):
        for url, query in (
            (reverse("supervisor:home"), {}),
            (reverse("supervisor:home"), {"format": "csv"}),
            (reverse("supervisor:causes"), {}),
            (reverse("supervisor:scorecards"), {}),
            (reverse("supervisor:drilldown_tickets"), {"kpi": "escalated"}),
            (reverse("supervisor:drilldown_shipments"), {"kpi": "first_contact", "format": "csv"}),
        ):
            response = supervisor_client.get(url, query)
            assert response.status_code == 200, url
            if query.get("format") == "csv":
                b"".join(response.streaming_content if response.streaming else [response.content])
        assert tables_read(on_replica) == set(REPORT_TABLES)
        assert tables_read(on_primary) == set()  # no report read gone to the primary
        read_on_replica = len(on_replica)

        queue = supervisor_client.get(reverse("supervisor:approvals"))
        assert queue.status_code == 200
        assert len(on_replica) == read_on_replica  # the approvals queue: the primary only

    def test_the_refresh_warms_the_default_view_from_the_primary(self, data, on_replica):
        rollup.rollup_refresh(now=NOW + dt.timedelta(minutes=5))
        assert snapshot.warm(now=NOW + dt.timedelta(minutes=5)) == 3
        assert len(on_replica) == 0  # the replica may not have replayed the refresh yet

    def test_a_report_read_in_a_transaction_sees_its_own_writes(self, data, scope):
        before = kpis.escalation_stats(scope)["solved_cur"]
        with (
            CaptureQueriesContext(connections[REPORTS_DB_ALIAS]) as on_replica,
            transaction.atomic(),
        ):
            factories.TicketFactory(status="solved", solved_at=NOW - dt.timedelta(hours=1))
            assert kpis.escalation_stats(scope)["solved_cur"] == before + 1
        assert len(on_replica) == 0
