"""Run a command; start it again when it exits by itself. Stop it (and this) with SIGTERM or
SIGINT.

    python scripts/respawn.py celery -A config worker ...

Procfile.prod runs the Celery workers and beat through this, so that under `make prod-local`
(honcho, which stops every process when one exits) a worker that dies is started again, as
systemd's `Restart=always` does in production. Celery 5.7 / kombu 5.7 workers exit when the
Redis broker restarts while a message is unacknowledged (docs/RELIABILITY.md). SIGTERM or
SIGINT is passed on to the command (as SIGTERM) and ends the loop; a command that exits by
itself is started again after 1 s, then 2, 4, ... up to 30 s while it keeps failing within a
minute of its start.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
STABLE_S = 60.0  # a run this long resets the delay


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: respawn.py COMMAND [ARGS...]", file=sys.stderr)
        return 2
    stopping = False
    child: subprocess.Popen | None = None

    def stop(_signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        # Always SIGTERM (a warm shutdown for Celery, however often it comes): honcho and
        # systemd signal the whole process group, so the command may have the signal already,
        # and a second SIGINT would make Celery's shutdown a cold one.
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    delay = FIRST_DELAY_S
    while True:
        started = time.monotonic()
        child = subprocess.Popen(argv)
        code = child.wait()
        if stopping:
            return code
        if time.monotonic() - started >= STABLE_S:
            delay = FIRST_DELAY_S
        print(
            f"respawn: {argv[0]} exited with status {code}; starting it again in {delay:g} s",
            file=sys.stderr,
            flush=True,
        )
        deadline = time.monotonic() + delay
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        if stopping:
            return code
        delay = min(delay * 2, MAX_DELAY_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
