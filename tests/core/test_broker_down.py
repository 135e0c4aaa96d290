"""With the broker unreachable, every place that queues a task still succeeds (core/queue.py).

The Celery app is pointed at a port where nothing listens. Each place that queues a task is
driven the way users drive it (an HTTP request, a command), and each time: the answer is a
success, the database holds the change, exactly one warning is logged (no traceback, no error),
and the work is left where a periodic job finds it. `CALL_SITES` enumerates those places; a test
reads the code so that a new one (or a bare `.delay()`) fails here until it is added.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import time_machine
from celery import current_app
from django.core.management import call_command

from core import queue
from core.models import PendingTask
from core.queue import enqueue, enqueue_on_commit, publish_pending_tasks
from core.tasks import heartbeat
from notifications.models import Notification
from notifications.tasks import dispatch_notifications_task
from shipments.models import Shipment, ShipmentStatus
from tests import factories
from tickets.models import BusinessCalendar, CalendarException, Message, Team, Ticket

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
DEAD_BROKERS = {
    "redis": "redis://127.0.0.1:1/9",
    "amqp": "amqp://guest:guest@127.0.0.1:1//",
}
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)

# Every call of core.queue in the product: (file, task) -> the test below that drives it.
CALL_SITES = {
    ("notifications/sender.py", "dispatch_notifications_task"): "test_an_agents_reply",
    ("tickets/receivers.py", "open_proactive_tickets_task"): "test_a_delay_detection_pass",
    ("tickets/receivers.py", "recompute_calendar_timers_task"): "test_a_calendar_closure",
    ("tickets/receivers.py", "recompute_team_timers_task"): "test_a_teams_calendar_switch",
    # Two call sites: starting a large action (driven below) and the sweeper queueing again a
    # run whose task was lost (swept_by, so nothing is kept: the run waits in the database for
    # the next pass; test_with_the_broker_down_the_run_waits_for_a_later_pass in
    # tests/supervisor/test_incident_actions.py drives it).
    ("supervisor/tasks.py", "run_incident_action_task"): "test_a_large_incident_action",
}
NOT_PRODUCT = {"tests", "var", "node_modules", "migrations"}
ENQUEUE_CALL = re.compile(r"\benqueue(?:_on_commit)?\(\s*(\w+)")
RAW_SEND = re.compile(r"\.delay\(|\.apply_async\(|\bsend_task\(|\.delay_on_commit\(|\.s\(|\.si\(")


def product_sources():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if not NOT_PRODUCT & set(parts) and not any(part.startswith(".") for part in parts):
            yield "/".join(parts), path.read_text()


@pytest.fixture(params=sorted(DEAD_BROKERS))
def dead_broker(request, monkeypatch, caplog):
    """Celery publishes to a port where nothing listens; core.queue starts with a live broker."""
    conf = current_app.conf
    saved = {name: conf[name] for name in ("broker_url", "broker_transport_options")}
    conf.update(broker_url=DEAD_BROKERS[request.param], broker_transport_options={})
    reset_pools()
    queue.broker.reset()
    caplog.set_level(logging.DEBUG, logger="core.queue")
    yield request.param
    conf.update(saved)
    queue.broker.reset()
    reset_pools()


def reset_pools() -> None:
    current_app._pool = None
    current_app.amqp._producer_pool = None


def assert_one_warning(caplog) -> None:
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelname) for r in warnings] == [("core.queue", "WARNING")], [
        r.getMessage() for r in warnings
    ]
    assert warnings[0].getMessage().startswith("Broker unreachable (OperationalError")
    assert warnings[0].exc_info is None  # one line, no traceback


# --- The enumeration matches the code ---------------------------------------------------------


def test_every_task_is_queued_through_core_queue_and_every_call_site_is_tested():
    found = set()
    raw = []
    for path, text in product_sources():
        if path == "core/queue.py":
            continue
        found |= {(path, task) for task in ENQUEUE_CALL.findall(text)}
        raw += [f"{path}: {line.strip()}" for line in text.splitlines() if RAW_SEND.search(line)]

    assert raw == [], "queue tasks with core.queue.enqueue / enqueue_on_commit"
    assert found == set(CALL_SITES), "add the new call site to CALL_SITES with its test"
    assert {name for name in CALL_SITES.values()} <= set(globals())


# --- Each call site, with the broker down -----------------------------------------------------


def test_an_agents_reply(dead_broker, agent, client, caplog, django_capture_on_commit_callbacks):
    """notifications.tasks.dispatch_notifications_soon: the reply's notice waits in the outbox
    for beat's dispatcher pass."""
    ticket = factories.TicketFactory(team=agent.agent_profile.team, category="delay")
    client.force_login(agent)

    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/tickets/{ticket.public_id}/messages/",
            {"body": "We are on it.", "version": 1},
            content_type="application/json",
        )
    elapsed = time.monotonic() - started

    assert response.status_code == 201, response.content
    assert Message.objects.filter(ticket=ticket, body="We are on it.").exists()
    assert Notification.objects.filter(ticket=ticket, status="pending").count() == 1
    assert_one_warning(caplog)
    assert not PendingTask.objects.exists()  # the dispatcher's beat pass is the sweeper
    assert elapsed < 5  # a refused connection: a fraction of a second of it

    # Beat's dispatcher pass, once the broker is back, sends what the lost nudge would have.
    assert dispatch_notifications_task()["sent"] == 1
    assert Notification.objects.get(ticket=ticket).status == "sent"


def test_a_delay_detection_pass(dead_broker, caplog, django_capture_on_commit_callbacks):
    """tickets.receivers.open_tickets_for_delays: the shipment's level is saved, and the
    catch-up job (tickets.open_missing_proactive_tickets) opens the ticket later."""
    lane = factories.LaneFactory(mean_transit_hours=120.0)
    shipment = factories.ShipmentFactory(
        carrier=lane.carrier,
        lane=lane,
        status=ShipmentStatus.IN_TRANSIT,
        shipped_at=NOW - 48 * HOUR,
        promised_at=NOW + 72 * HOUR,
        predicted_eta=None,
        last_event_at=NOW - 80 * HOUR,  # 72 h without a scan: orange
        last_location="",
        location_since=None,
    )

    with (
        time_machine.travel(NOW, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        call_command("detect_delays")

    assert Shipment.objects.get(pk=shipment.pk).delay_level == "orange"
    assert not Ticket.objects.filter(shipment=shipment).exists()
    assert_one_warning(caplog)
    assert not PendingTask.objects.exists()

    from tickets.proactive import missing_shipment_ids

    assert shipment.pk in missing_shipment_ids()


def test_a_calendar_closure(
    dead_broker, operator_client, caplog, django_capture_on_commit_callbacks
):
    """tickets.receivers.calendar_changed: the closure is saved and its recompute is kept for
    core.publish_pending_tasks (no sweeper recomputes timers)."""
    calendar = BusinessCalendar.objects.create(name="Berlin office", time_zone="Europe/Berlin")

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            "/admin/tickets/calendarexception/add/",
            {"calendar": calendar.pk, "date": "2026-12-31", "name": "New Year's Eve"},
        )

    assert response.status_code == 302, response.content.decode()[-3000:]
    assert CalendarException.objects.filter(calendar=calendar, date="2026-12-31").exists()
    assert_one_warning(caplog)
    [kept] = PendingTask.objects.all()
    assert (kept.name, kept.args, kept.kwargs) == (
        "tickets.recompute_calendar_timers",
        [calendar.pk],
        {},
    )


def test_a_teams_calendar_switch(
    dead_broker, operator_client, caplog, django_capture_on_commit_callbacks
):
    """tickets.receivers.team_changed: the team is saved and its recompute is kept."""
    team = factories.TeamFactory(name="Parcels", slug="parcels")
    calendar = BusinessCalendar.objects.create(name="Shanghai office", time_zone="Asia/Shanghai")
    caplog.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            f"/admin/tickets/team/{team.pk}/change/",
            {"name": "Parcels", "slug": "parcels", "calendar": calendar.pk},
        )

    assert response.status_code == 302, response.content.decode()[-3000:]
    assert Team.objects.get(pk=team.pk).calendar == calendar
    assert_one_warning(caplog)
    assert list(PendingTask.objects.values_list("name", "args")) == [
        ("tickets.recompute_team_timers", [team.pk])
    ]


def test_seed_demo_on_an_empty_database(dead_broker, caplog, django_capture_on_commit_callbacks):
    """Every call site at once, many times over: the command completes, and runs again."""
    for _ in range(2):  # the second run rebuilds what the first one wrote
        with django_capture_on_commit_callbacks(execute=True):
            call_command("seed_demo", "--shipments=100", "--reset", verbosity=0)
        assert Shipment.objects.count() == 100
        assert Ticket.objects.exists()
        assert Notification.objects.exists()
    assert_one_warning(caplog)


# --- The helper itself ------------------------------------------------------------------------


def test_a_dead_broker_costs_one_short_timeout_then_nothing(dead_broker, caplog):
    started = time.monotonic()
    assert enqueue(heartbeat, swept_by="core.heartbeat") is False
    first = time.monotonic() - started

    started = time.monotonic()
    for _ in range(20):
        assert enqueue(heartbeat, swept_by="core.heartbeat") is False
    later = time.monotonic() - started

    assert first < 2
    assert later < 0.1  # not tried again for RETRY_AFTER_SECONDS
    assert_one_warning(caplog)


def test_the_broker_is_tried_again_after_a_pause_and_its_return_is_logged(
    dead_broker, caplog, monkeypatch
):
    enqueue(heartbeat, swept_by="core.heartbeat")
    monkeypatch.setattr(queue, "RETRY_AFTER_SECONDS", 0)
    enqueue(heartbeat, swept_by="core.heartbeat")  # tried again: still down, at debug level
    assert_one_warning(caplog)
    published = []
    monkeypatch.setattr(heartbeat, "delay", lambda *a, **k: published.append(a))

    assert enqueue(heartbeat, swept_by="core.heartbeat") is True

    assert published == [()]
    assert caplog.records[-1].getMessage().startswith("Broker reachable again after")
    assert queue.broker.down_since is None


def test_nothing_is_queued_when_the_transaction_rolls_back(
    dead_broker, caplog, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            from django.db import transaction

            with transaction.atomic():
                enqueue_on_commit(heartbeat)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass

    assert callbacks == []
    assert caplog.records == []
    assert not PendingTask.objects.exists()


def test_a_task_is_kept_once_however_often_the_broker_refuses_it(dead_broker):
    for _ in range(3):
        enqueue(heartbeat, "web")

    assert list(PendingTask.objects.values_list("name", "args")) == [("core.heartbeat", ["web"])]


def test_kept_tasks_are_sent_when_the_broker_is_back(dead_broker, monkeypatch):
    enqueue(heartbeat, "web")
    enqueue(heartbeat, "beat")
    sent = []
    monkeypatch.setattr(
        current_app, "send_task", lambda name, args, kwargs: sent.append((name, args, kwargs))
    )

    assert publish_pending_tasks() == 2

    assert sent == [("core.heartbeat", ["web"], {}), ("core.heartbeat", ["beat"], {})]
    assert not PendingTask.objects.exists()


def test_kept_tasks_stay_while_the_broker_is_still_down(dead_broker, caplog):
    enqueue(heartbeat, "web")

    assert publish_pending_tasks() == 0

    assert PendingTask.objects.count() == 1


PUBLISH_TWICE = """
import time, django
django.setup()
from core.queue import enqueue
from core.tasks import heartbeat
for _ in range(2):
    started = time.monotonic()
    queued = enqueue(heartbeat, swept_by="core.heartbeat")
    print(queued, round(time.monotonic() - started, 2))
"""


@pytest.fixture
def silent_server():
    """A port that accepts connections and never answers (a hung broker, a black hole)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(50)
    yield server.getsockname()[1]
    server.close()


@pytest.mark.parametrize(
    "scheme", ["redis://127.0.0.1:{port}/9", "amqp://guest:guest@127.0.0.1:{port}//"]
)
def test_a_broker_that_never_answers_costs_a_request_about_a_second(
    silent_server, scheme, tmp_path
):
    """The settings' timeouts, end to end (redis-py alone would wait forever, amqp 4 s a try)."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        CELERY_BROKER_URL=scheme.format(port=silent_server),
        DELAYDESK_VAR_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
    )
    env.pop("CACHE_URL", None)

    run = subprocess.run(
        [sys.executable, "-c", PUBLISH_TWICE],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 0, run.stderr[-3000:]
    (first_queued, first), (second_queued, second) = (
        (queued, float(seconds)) for queued, seconds in map(str.split, run.stdout.splitlines())
    )
    assert (first_queued, second_queued) == ("False", "False")
    assert first < 3.5  # the connect/answer timeout, at most twice (one publish retry)
    assert second < 0.5  # then no try at all for RETRY_AFTER_SECONDS
    assert run.stderr.count("Broker unreachable") == 1, run.stderr[-3000:]


def test_a_large_incident_action(dead_broker, caplog, settings, django_capture_on_commit_callbacks):
    """supervisor.tasks.start_incident_action: the run is recorded as queued and its task kept
    for core.publish_pending_tasks (starting the action again also takes over a lost run)."""
    import uuid

    from supervisor.models import IncidentAction
    from supervisor.tasks import start_incident_action

    settings.SUPERVISOR_INCIDENT_ACTION_SYNC_LIMIT = 0
    incident = factories.IncidentFactory(title="Port strike", cause="congestion")
    factories.TicketFactory(shipment__incident=incident)
    supervisor = factories.SupervisorFactory()
    caplog.clear()

    with django_capture_on_commit_callbacks(execute=True):
        started = start_incident_action(
            incident=incident, kind="notify", key=uuid.uuid4(), by=supervisor, now=NOW
        )

    assert started.run.status == "queued"
    assert IncidentAction.objects.get().total == 1
    assert_one_warning(caplog)
    [kept] = PendingTask.objects.all()
    assert (kept.name, kept.args) == ("supervisor.run_incident_action", [started.run.pk])
