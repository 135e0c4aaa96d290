"""Real Celery processes for black-box tests (tests/core/test_worker.py and the tickets one)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CELERY = Path(sys.executable).with_name("celery")


def start_celery(env: dict, log, *args: str) -> subprocess.Popen:
    """`celery -A config <args>` in the project folder, writing to `log`."""
    return subprocess.Popen(
        [str(CELERY), "-A", "config", *args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def start_worker(env: dict, log) -> subprocess.Popen:
    """One worker process, no gossip or mingle: starts in a second or two."""
    return start_celery(
        env,
        log,
        "worker",
        "--concurrency=1",
        "--without-gossip",
        "--without-mingle",
        "--loglevel=info",
    )


def stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
