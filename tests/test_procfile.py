"""The Procfile's web process: gunicorn's threaded workers, so a long streamed response (a
large CSV export of the supervisor workspace) is not killed by the worker timeout."""

from __future__ import annotations

import shlex
from pathlib import Path

PROCFILE = Path(__file__).resolve().parents[1] / "Procfile"


def processes() -> dict[str, list[str]]:
    lines = PROCFILE.read_text(encoding="utf-8").splitlines()
    return {
        name.strip(): shlex.split(command)
        for name, _, command in (line.partition(":") for line in lines if line.strip())
    }


def test_the_web_process_runs_threaded_gunicorn_workers():
    """A sync worker sends gunicorn no heartbeat while it streams, so it is killed after the
    30 s timeout in the middle of an export; a gthread worker's main loop keeps reporting."""
    web = processes()["web"]
    assert web[:2] == ["gunicorn", "config.wsgi"]
    assert web[web.index("--worker-class") + 1] == "gthread"
    assert web[web.index("--threads") + 1] == "${WEB_THREADS:-4}"


def test_web_worker_and_beat_are_the_three_processes():
    assert set(processes()) == {"web", "worker", "beat"}
