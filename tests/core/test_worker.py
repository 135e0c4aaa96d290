"""The embedded stack really runs: a Celery worker and beat on the serverless broker.

Black-box: its own SQLite file and broker folder, real `celery worker` and `celery beat`
processes, and the heartbeat job that beat schedules from the code's declarations.
"""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.celery_processes import start_celery, start_worker, stop

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stack_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'stack.sqlite3'}",
        DELAYDESK_VAR_DIR=str(tmp_path / "var"),
        CELERY_BROKER_URL="filesystem://",
        PYTHONUNBUFFERED="1",
        HEARTBEAT_INTERVAL_SECONDS="1",
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=180,
    )
    return env, tmp_path / "stack.sqlite3"


def last_heartbeat(db_path: Path):
    with sqlite3.connect(db_path, timeout=10) as db:
        row = db.execute("SELECT last_seen_at FROM core_heartbeat WHERE name = 'worker'").fetchone()
    return row[0] if row else None


def test_beat_schedules_the_heartbeat_and_a_worker_runs_it(stack_env, tmp_path):
    env, db_path = stack_env
    assert last_heartbeat(db_path) is None
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("worker", "beat")}  # noqa: SIM115
    worker = start_worker(env, logs["worker"])
    beat = start_celery(
        env, logs["beat"], "beat", "--loglevel=info", "--schedule", str(tmp_path / "beat-schedule")
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and last_heartbeat(db_path) is None:
            time.sleep(0.5)
        seen = last_heartbeat(db_path)
    finally:
        stop(beat, worker)
        for log in logs.values():
            log.close()
    assert seen is not None, (tmp_path / "worker.log").read_text()[-2000:] + (
        tmp_path / "beat.log"
    ).read_text()[-2000:]
