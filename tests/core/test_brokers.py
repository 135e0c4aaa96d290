"""A worker runs on the production brokers: the local Redis and RabbitMQ servers, black-box.

A real `celery worker` process of the product on `redis://127.0.0.1:6379/6` and on
`amqp://guest:guest@127.0.0.1:5672//`, with its own SQLite file, on a queue of its own (other
tests may share these servers). The test publishes `core.heartbeat` through the broker, waits
longer than the Redis socket timeout (config/settings.py) with the worker idle, publishes again,
and sees both runs in the database. Skipped, saying so, when a server does not answer.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from celery import Celery

from tests.celery_processes import CELERY, ROOT, stop
from tests.integration.test_prod_stack import answers

pytestmark = pytest.mark.brokers

BROKERS = {
    "redis": ("redis://127.0.0.1:6379/6", 6379),
    "amqp": ("amqp://guest:guest@127.0.0.1:5672//", 5672),
}
QUEUE = f"delaydesk-test-brokers-{uuid.uuid4().hex[:12]}"  # runs at the same time stay apart
IDLE_SECONDS = 4  # longer than the Redis socket timeout (BROKER_TIMEOUT_SECONDS + 1 = 2 s)


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    folder = tmp_path_factory.mktemp("brokers")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DATABASE_URL=f"sqlite:///{folder / 'brokers.sqlite3'}",
        DELAYDESK_VAR_DIR=str(folder / "var"),
        PYTHONUNBUFFERED="1",
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    return env, folder


def heartbeats(db_path: Path) -> set[str]:
    with sqlite3.connect(db_path, timeout=10) as db:
        return {name for (name,) in db.execute("SELECT name FROM core_heartbeat")}


def wait_for(predicate, seconds: float, worker: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
        time.sleep(0.2)
    pytest.fail(log.read_text(errors="replace")[-3000:])


@pytest.mark.parametrize("kind", sorted(BROKERS))
def test_a_worker_runs_tasks_sent_through_the_broker(database, kind):
    url, port = BROKERS[kind]
    if not answers(port):
        pytest.skip(f"no {kind} server answers on 127.0.0.1:{port}")
    env, folder = database
    env = {**env, "CELERY_BROKER_URL": url}
    db_path = folder / "brokers.sqlite3"
    log = folder / f"worker-{kind}.log"
    producer = Celery("test-brokers", broker=url)
    with log.open("w") as output:
        worker = subprocess.Popen(
            [
                str(CELERY),
                "-A",
                "config",
                "worker",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=info",
                "-Q",
                QUEUE,
                "-n",
                f"brokers-{kind}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: " ready." in log.read_text(errors="replace"), 60, worker, log)
        first, second = f"{kind}-first", f"{kind}-after-idle"
        producer.send_task("core.heartbeat", kwargs={"name": first}, queue=QUEUE)
        wait_for(lambda: first in heartbeats(db_path), 30, worker, log)
        time.sleep(IDLE_SECONDS)
        producer.send_task("core.heartbeat", kwargs={"name": second}, queue=QUEUE)
        wait_for(lambda: second in heartbeats(db_path), 30, worker, log)
    finally:
        stop(worker)
        with producer.connection_for_write() as connection:
            connection.default_channel.queue_delete(QUEUE)
        producer.close()
        if kind == "redis":  # kombu leaves the queue's binding keys behind
            client = redis.Redis.from_url(url)
            if keys := client.keys(f"*{QUEUE}*"):
                client.delete(*keys)

    text = log.read_text(errors="replace")
    assert f"transport:   {kind}://" in text, text[:3000]
    assert "Traceback" not in text and "ERROR" not in text, text[-3000:]
