"""The outbox survives a worker killed mid-run: real Celery workers on PostgreSQL, black-box.

Two `celery worker --concurrency=1` processes of the product dispatch a few hundred notices
from this test's database (the test database, committed: transactional tests) through the
serverless filesystem broker in a private folder. This test plays beat: it keeps two
`notifications.dispatch` tasks queued until the outbox is empty.

- Kill and restart: SMS go to the local fake of Twilio (tests/notifications/fake_sms_provider.py),
  which records every request and drops a repeated idempotency token (the notice's reference).
  One worker's process group is killed with SIGKILL while it holds claimed rows; a replacement
  starts; the claims come back after NOTICE_CLAIM_TIMEOUT_SECONDS (10 s, the minimum). Every
  notice ends sent exactly once in the database, every reference reached the provider, no
  customer got a message twice, and at most the one message in flight was requested twice.
- Two workers at the same time never claim the same row: a backend that appends one line per
  send with the sending process's id shows every row sent once, by the process that recorded it,
  and both workers sending.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from celery import Celery
from django.apps import apps
from django.db import connection

from notifications import sender
from notifications.backends import FileBackend, OutgoingMessage
from notifications.models import Notification
from notifications.services import incident_notify
from tests import factories
from tests.celery_processes import CELERY, ROOT
from tests.notifications.fake_sms_provider import FakeSMSProvider

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOTICES = 300
CLAIM_TIMEOUT_SECONDS = 10  # the settings' minimum
BATCH_SIZE = 20  # rows claimed at a time: many batches per worker, so the kill lands mid-run
SEND_SECONDS = 0.01  # time per send (the provider's latency, or the backend's sleep)


# --- Workers --------------------------------------------------------------------------------


class Fleet:
    """Real Celery workers on a private filesystem broker, and this test as their beat."""

    def __init__(self, env: dict, folder: Path):
        self.env = env
        self.folder = folder
        self.workers: list[subprocess.Popen] = []
        self.logs: dict[int, Path] = {}
        broker = Path(env["DELAYDESK_VAR_DIR"]) / "broker"
        self.queue = broker / "queue"
        for name in ("queue", "processed", "control"):
            (broker / name).mkdir(parents=True, exist_ok=True)
        self.producer = Celery("outbox-crash-test", broker="filesystem://")
        # The same folders as config/settings.py gives the workers under DELAYDESK_VAR_DIR.
        self.producer.conf.broker_transport_options = {
            "data_folder_in": str(self.queue),
            "data_folder_out": str(self.queue),
            "processed_folder": str(broker / "processed"),
            "control_folder": str(broker / "control"),
            "store_processed": False,
        }

    def start(self, name: str) -> subprocess.Popen:
        log = self.folder / f"{name}.log"
        with log.open("w") as output:
            # A session of its own: SIGKILL to its group takes the pool child too, not pytest.
            worker = subprocess.Popen(
                [
                    str(CELERY),
                    "-A",
                    "config",
                    "worker",
                    "--concurrency=1",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--loglevel=info",
                    "-n",
                    f"{name}@%h",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers.append(worker)
        self.logs[worker.pid] = log
        return worker

    def wait_ready(self, *workers: subprocess.Popen, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if all(" ready." in self.logs[w.pid].read_text(errors="replace") for w in workers):
                return
            for worker in workers:
                assert worker.poll() is None, self.log_tail(worker)
            time.sleep(0.1)
        pytest.fail("workers not ready: " + " / ".join(self.log_tail(w) for w in workers))

    def kick(self, wanted: int = 2) -> None:
        """Keep `wanted` dispatcher tasks queued (what beat and the enqueue nudges do)."""
        queued = sum(1 for _ in self.queue.glob("*.msg"))
        for _ in range(wanted - queued):
            self.producer.send_task("notifications.dispatch")

    def claim_names(self, worker: subprocess.Popen) -> list[str]:
        """`claimed_by` values of a worker: host:pid of each process of its group."""
        host = socket.gethostname()
        return [f"{host}:{pid}"[:100] for pid in process_group(worker.pid)]

    def kill(self, worker: subprocess.Popen) -> None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

    def log_tail(self, worker: subprocess.Popen) -> str:
        return self.logs[worker.pid].read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()


def process_group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:  # after the command: state, ppid, pgrp
                pids.append(int(entry.name))
    return pids


def unfinished() -> int:
    return Notification.objects.filter(status__in=["pending", "sending"]).count()


def wait_until(predicate, *, fleet: Fleet, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fleet.kick()
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    logs = "\n".join(f"--- {log.name}\n{log.read_text()[-1500:]}" for log in fleet.logs.values())
    pytest.fail(f"timed out waiting for {what}; outbox: {statuses()}\n{logs}")


def statuses() -> dict[str, int]:
    return dict(Counter(Notification.objects.values_list("status", flat=True)))


# --- Fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def outbox(monkeypatch):
    """The default templates (a transactional test's flush removed them) and an incident with
    NOTICES customers who prefer SMS, each with one parcel in it, notified: NOTICES pending
    notices. Enqueueing does not nudge the project's own broker."""
    importlib.import_module("notifications.migrations.0003_default_templates").install(apps, None)
    monkeypatch.setattr(sender, "dispatch_notifications_soon", lambda: None)
    carrier = factories.CarrierFactory(code="CRASH", name="Crash Express")
    lane = factories.LaneFactory(carrier=carrier)
    incident = factories.IncidentFactory(
        title="Customs strike", public_explanation="Customs are checking every parcel."
    )
    factories.ShipmentFactory.create_batch(
        NOTICES,
        carrier=carrier,
        lane=lane,
        incident=incident,
        customer__preferred_channel="sms",
        customer__language="en",
    )
    assert incident_notify(incident=incident) == NOTICES
    return incident


@pytest.fixture
def worker_env(tmp_path):
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    env = {k: v for k, v in os.environ.items() if k != "DELAYDESK_ENV"}
    env.update(
        DATABASE_URL=(
            f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
            f"{db['NAME']}"
        ),
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        LOG_LEVEL="WARNING",
        CELERY_BROKER_URL="filesystem://",
        DELAYDESK_VAR_DIR=str(tmp_path / "var"),
        PYTHONUNBUFFERED="1",
        NOTICE_CLAIM_TIMEOUT_SECONDS=str(CLAIM_TIMEOUT_SECONDS),
        NOTICE_BATCH_SIZE=str(BATCH_SIZE),
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        PUSH_BACKEND="notifications.backends.NullPushBackend",
    )
    return env


@pytest.fixture
def fleet(worker_env, tmp_path):
    fleet = Fleet(worker_env, tmp_path)
    yield fleet
    fleet.stop()


# --- Kill and restart ---------------------------------------------------------------------------


def test_a_worker_killed_mid_run_loses_no_notice_and_no_customer_hears_twice(outbox, fleet):
    with FakeSMSProvider(latency=SEND_SECONDS) as provider:
        fleet.env.update(provider.django_settings())
        first, second = fleet.start("first"), fleet.start("second")
        fleet.wait_ready(first, second)

        # Kill `first` while it holds claimed rows it has not sent yet, after the run is under way.
        victim = first.pid
        names = fleet.claim_names(first)

        def victim_mid_batch() -> bool:
            held = Notification.objects.filter(status="sending", claimed_by__in=names).count()
            return held >= 5 and len(provider.messages) >= NOTICES // 5

        wait_until(victim_mid_batch, fleet=fleet, seconds=60, what="the first worker's claims")
        fleet.kill(first)
        sent_before_kill = len(provider.messages)
        stranded = Notification.objects.filter(status="sending", claimed_by__in=names).count()
        assert stranded > 0, "the kill should leave claimed rows behind"
        assert sent_before_kill < NOTICES

        fleet.start("replacement")
        wait_until(
            lambda: unfinished() == 0 and len(provider.messages) >= NOTICES,
            fleet=fleet,
            seconds=CLAIM_TIMEOUT_SECONDS + 40,
            what="the outbox to empty",
        )

        requests = Counter(
            r.headers.get("i-twilio-idempotency-token", "")
            for r in provider.requests
            if r.method == "POST"
        )
        messages = {m.idempotency_token: m for m in provider.messages}
        phones = Counter(m.to for m in provider.messages)
        repeated = sum(requests.values()) - len(requests)

    report = (
        f"worker {victim} killed with {stranded} claimed rows after {sent_before_kill} messages; "
        f"provider: {sum(requests.values())} requests for {len(requests)} references, "
        f"{repeated} repeated (dropped by the idempotency key: {provider.duplicates}), "
        f"{len(messages)} messages; outbox {statuses()}"
    )
    rows = list(
        Notification.objects.filter(incident=outbox).values_list(
            "public_id", "customer_id", "status", "provider_message_id"
        )
    )
    # Every notice sent exactly once in the database.
    assert Counter(status for _ref, _customer, status, _sid in rows) == {"sent": NOTICES}, report
    assert len({customer for _ref, customer, _status, _sid in rows}) == NOTICES, report
    # No loss: every reference reached the provider, and the row records that message's id.
    references = {str(ref) for ref, _customer, _status, _sid in rows}
    assert set(messages) == references, report
    assert all(messages[str(ref)].sid == sid for ref, _c, _s, sid in rows), report
    # No customer got a message twice; at most the one in flight when the worker died was
    # requested again (at least once at the provider boundary, deduplicated by the reference).
    assert max(phones.values()) == 1, report
    assert len(messages) == NOTICES, report
    assert repeated <= 1, report
    assert provider.duplicates == repeated, report


# --- Two workers at once ------------------------------------------------------------------------


class PidFileSMSBackend(FileBackend):
    """One JSON line per send with the sending process's id (the fleet's workers load it by its
    dotted path); the provider id names the process too."""

    channel = "sms"

    def send(self, message: OutgoingMessage) -> str:
        time.sleep(SEND_SECONDS)
        line = json.dumps({"reference": message.reference, "pid": os.getpid()})
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as sink:  # O_APPEND: whole lines
            sink.write(line + "\n")
        return f"pid-{os.getpid()}-{message.reference}"


def test_two_workers_at_once_never_claim_the_same_notice(outbox, fleet, tmp_path):
    sink = tmp_path / "sink"
    fleet.env.update(
        SMS_BACKEND=f"{__name__}.{PidFileSMSBackend.__name__}",
        NOTIFICATIONS_FILE_DIR=str(sink),
    )
    workers = [fleet.start("left"), fleet.start("right")]
    fleet.wait_ready(*workers)
    wait_until(lambda: unfinished() == 0, fleet=fleet, seconds=40, what="the outbox to empty")

    lines = [json.loads(line) for line in (sink / "sms.jsonl").read_text().splitlines()]
    sends = Counter(line["reference"] for line in lines)
    senders = Counter(line["pid"] for line in lines)
    report = f"{len(lines)} sends by {dict(senders)}; outbox {statuses()}"
    rows = list(
        Notification.objects.filter(incident=outbox).values_list(
            "public_id", "status", "provider_message_id"
        )
    )
    assert len(rows) == NOTICES
    assert {status for _ref, status, _sid in rows} == {"sent"}, report
    # Each row sent once, by the process that recorded it: no row was claimed by both.
    assert len(lines) == NOTICES, report
    assert set(sends) == {str(ref) for ref, _status, _sid in rows}, report
    assert max(sends.values()) == 1, report
    pid_of = {line["reference"]: line["pid"] for line in lines}
    assert all(sid == f"pid-{pid_of[str(ref)]}-{ref}" for ref, _status, sid in rows), report
    # Both workers sent (else this would prove nothing about two at once).
    assert len(senders) == 2 and min(senders.values()) >= NOTICES // 10, report
