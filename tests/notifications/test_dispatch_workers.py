"""Real dispatcher processes on PostgreSQL: parallel workers never share a row, and a worker
killed mid-run loses nothing and sends nothing twice to the customer.

Each worker is a separate Python process running the product's dispatcher loop against the
test database, sending SMS through the Twilio adapter to a local fake provider (which keeps
every request, and drops a repeated idempotency token as Twilio-style providers do).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from notifications import services
from notifications.models import NoticeKind, Notification
from tests import factories
from tests.notifications.fake_sms_provider import FakeSMSProvider

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import time
import django
django.setup()
from notifications.dispatch import dispatch_pass
while True:
    if not dispatch_pass(batch_size=10).claimed:
        time.sleep(0.1)
"""


def database_url() -> str:
    settings = connection.settings_dict
    user = settings.get("USER") or "postgres"
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


def start_worker(provider: FakeSMSProvider, log, **settings: str) -> subprocess.Popen:
    env = {
        **os.environ,
        **provider.django_settings(),
        "DATABASE_URL": database_url(),
        "NOTICE_CLAIM_TIMEOUT_SECONDS": "10",
        "CELERY_BROKER_URL": "memory://",
        "LOG_LEVEL": "WARNING",
        **settings,
    }
    return subprocess.Popen(
        [sys.executable, "-c", WORKER],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(*workers: subprocess.Popen) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


def queue_notices(count: int) -> list[Notification]:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    notices = []
    for n in range(count):
        customer = factories.CustomerFactory(preferred_channel="sms", phone=f"+49301{n:07d}")
        notices.append(
            services.notice_enqueue(
                kind=NoticeKind.TICKET_REPLY,  # no tolerance, cap or quiet hours in the way
                customer=customer,
                dedupe_key=f"reply:crash-test:{n}",
                context={"reply": f"Answer number {n}."},
                now=now,
            )
        )
    return notices


def wait_until(predicate, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def outbox_empty() -> bool:
    return not Notification.objects.filter(status__in=["pending", "sending"]).exists()


def test_two_workers_never_claim_the_same_notice(default_configuration, tmp_path):
    notices = queue_notices(200)
    with FakeSMSProvider(latency=0.002) as provider, open(tmp_path / "workers.log", "w") as log:
        workers = [start_worker(provider, log), start_worker(provider, log)]
        try:
            wait_until(outbox_empty, seconds=60, what="the outbox to empty")
        finally:
            stop(*workers)

    rows = Notification.objects.filter(pk__in=[n.pk for n in notices])
    assert set(rows.values_list("status", flat=True)) == {"sent"}
    assert len(provider.requests) == 200, (tmp_path / "workers.log").read_text()
    assert provider.duplicates == 0
    tokens = Counter(message.idempotency_token for message in provider.messages)
    assert len(tokens) == 200 and max(tokens.values()) == 1
    # Both workers did part of the work.
    assert len({row.provider_message_id for row in rows}) == 200


def test_a_worker_killed_mid_run_loses_nothing_and_sends_nothing_twice(
    default_configuration, tmp_path
):
    notices = queue_notices(300)
    log_path = tmp_path / "workers.log"
    with FakeSMSProvider(latency=0.01) as provider, open(log_path, "w") as log:
        victim, survivor = start_worker(provider, log), start_worker(provider, log)
        replacement = None
        try:
            wait_until(lambda: len(provider.requests) >= 60, seconds=60, what="sending to start")
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
            in_flight = Notification.objects.filter(status="sending").count()
            replacement = start_worker(provider, log)
            # The dead worker's claims come back after NOTICE_CLAIM_TIMEOUT_SECONDS (10 s).
            wait_until(outbox_empty, seconds=90, what="the outbox to empty")
        finally:
            stop(survivor, *([replacement] if replacement else []))

    rows = Notification.objects.filter(pk__in=[n.pk for n in notices])
    statuses = Counter(rows.values_list("status", flat=True))
    assert statuses == {"sent": 300}, statuses
    # No loss: the provider holds a message for every notice, under the notice's reference.
    delivered = Counter(message.idempotency_token for message in provider.messages)
    assert set(delivered) == {str(n.public_id) for n in notices}
    # Nothing twice to the customer: one message per reference. Repeated provider calls (a
    # notice sent just before the kill and not yet marked) are dropped by the idempotency
    # token; report how many there were.
    assert max(delivered.values()) == 1
    raw = len(provider.requests)
    assert raw == 300 + provider.duplicates, (raw, provider.duplicates)
    print(
        f"killed with {in_flight} notices claimed; provider calls {raw}, "
        f"repeats dropped by the idempotency token {provider.duplicates}"
    )


def test_a_worker_killed_with_a_group_of_fast_sends_unrecorded_repeats_at_most_that_group(
    default_configuration, tmp_path
):
    """A provider that answers at once: outcomes are recorded in groups (here of 10), so a kill
    can leave up to one group sent but unmarked. Those go out again under the same references
    (the provider drops them); nothing is lost and no customer gets a second message."""
    group = 10
    notices = queue_notices(300)
    log_path = tmp_path / "workers.log"
    with FakeSMSProvider(latency=0) as provider, open(log_path, "w") as log:
        settings = {"NOTICE_OUTCOME_GROUP_SIZE": str(group)}
        victim, survivor = (
            start_worker(provider, log, **settings),
            start_worker(provider, log, **settings),
        )
        replacement = None
        try:
            wait_until(lambda: len(provider.requests) >= 60, seconds=60, what="sending to start")
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
            replacement = start_worker(provider, log, **settings)
            wait_until(outbox_empty, seconds=90, what="the outbox to empty")
        finally:
            stop(survivor, *([replacement] if replacement else []))

    rows = Notification.objects.filter(pk__in=[n.pk for n in notices])
    assert Counter(rows.values_list("status", flat=True)) == {"sent": 300}
    delivered = Counter(message.idempotency_token for message in provider.messages)
    assert set(delivered) == {str(n.public_id) for n in notices}
    assert max(delivered.values()) == 1
    assert len(provider.requests) == 300 + provider.duplicates
    assert provider.duplicates <= group, log_path.read_text()
    print(f"repeats dropped by the idempotency token: {provider.duplicates} (group of {group})")
