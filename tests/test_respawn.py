"""scripts/respawn.py: Procfile.prod's workers and beat are started again when they exit by
themselves (a Celery worker exits when Redis restarts: docs/RELIABILITY.md), and stop cleanly
with the stack. Real processes, no mocks."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESPAWN = ROOT / "scripts" / "respawn.py"


def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_command_that_exits_by_itself_is_started_again(tmp_path):
    starts = tmp_path / "starts"
    crash = f"open({str(starts)!r}, 'a').write('x'); raise SystemExit(3)"
    wrapper = subprocess.Popen([sys.executable, str(RESPAWN), sys.executable, "-c", crash])
    try:
        # 1 s, then 2 s between the starts: a third start within about 4 s.
        wait_for(lambda: starts.exists() and len(starts.read_text()) >= 3)
    finally:
        wrapper.send_signal(signal.SIGTERM)
        wrapper.wait(timeout=10)
    count = len(starts.read_text())
    time.sleep(1.5)
    assert len(starts.read_text()) == count  # stopped: not started again


def test_sigterm_reaches_the_command_once_and_ends_the_loop(tmp_path):
    seen = tmp_path / "signals"
    child = (
        "import signal, sys, time\n"
        "def on(n, f):\n"
        f"    open({str(seen)!r}, 'a').write(signal.Signals(n).name + ' ')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, on); signal.signal(signal.SIGINT, on)\n"
        f"open({str(seen)!r}, 'a').write('started\\n')\n"
        "time.sleep(60)\n"
    )
    wrapper = subprocess.Popen([sys.executable, str(RESPAWN), sys.executable, "-c", child])
    try:
        wait_for(lambda: seen.exists() and "started" in seen.read_text())
        wrapper.send_signal(signal.SIGINT)  # Ctrl-C: passed on as SIGTERM (a warm shutdown)
        assert wrapper.wait(timeout=10) == 0
    finally:
        wrapper.kill()
        wrapper.wait(timeout=10)
    assert seen.read_text().split() == ["started", "SIGTERM"]


def test_procfile_prod_runs_the_workers_and_beat_under_respawn():
    lines = (ROOT / "Procfile.prod").read_text(encoding="utf-8").splitlines()
    parts = (line.partition(":") for line in lines)
    commands = {name: shlex.split(rest) for name, _, rest in parts}
    for name in ("worker1", "worker2", "beat"):
        assert commands[name][:3] == ["python", "scripts/respawn.py", "celery"], name
    assert commands["web"][0] == "gunicorn"  # gunicorn's master restarts its own workers
