"""Queue Celery tasks without ever failing the work that asked for them.

The database is the source of truth; a task is only a prompt to act sooner. So a broker that is
down, slow or misconfigured must not turn a committed request or command into an error:

1. `enqueue_on_commit` publishes once the current transaction commits (at once outside one);
   `enqueue` publishes now. Both return normally whatever the broker does.
2. A broker fault is logged once, as one line without a traceback, when the broker goes down;
   further faults while it stays down are logged at debug level, and the first publish that
   works again logs that the broker is back. For `RETRY_AFTER_SECONDS` after a fault nothing is
   even tried, so a dead broker costs one connection timeout, not one per request.
3. The work is not lost. A task named with `swept_by` has a periodic job that redoes its work from
   the database (the outbox dispatcher, the catch-up for proactive tickets). Any other task is kept
   as a `PendingTask` row and `core.publish_pending_tasks` sends it once the broker answers.

Every place that queues a task goes through here (tests/core/test_broker_down.py checks it).
"""

from __future__ import annotations

import logging
import socket
import time
from functools import partial

from celery import Task, current_app
from django.db import transaction
from kombu.exceptions import KombuError

from core.models import PendingTask

logger = logging.getLogger(__name__)

# After a broker fault, publishing is not tried again for this long (per process).
RETRY_AFTER_SECONDS = 5.0
# Faults of the broker or of the way to it; anything else is a bug and is logged as one.
BROKER_ERRORS: tuple[type[BaseException], ...] = (KombuError, OSError, socket.timeout)

BROKER_DOWN_MESSAGE = (
    "Broker unreachable (%s: %s): tasks are not queued until it answers again; the database "
    "keeps the work and the periodic jobs do it"
)


class _BrokerState:
    """Whether the broker failed last time, and when (one per process)."""

    def __init__(self) -> None:
        self.down_since: float | None = None
        self.last_attempt: float = 0.0

    def reset(self) -> None:
        self.down_since = None
        self.last_attempt = 0.0


broker = _BrokerState()


def enqueue(task: Task, *args, swept_by: str = "", **kwargs) -> bool:
    """Publish `task(*args, **kwargs)` now; True when the broker took it.

    `swept_by` names the periodic job that does the same work from the database when this task
    is lost; without one, a task the broker refuses is kept in `PendingTask` to be sent later.
    """
    now = time.monotonic()
    if broker.down_since is not None and now - broker.last_attempt < RETRY_AFTER_SECONDS:
        logger.debug("Broker down: %s not queued", task.name)
        _keep(task, args, kwargs, swept_by=swept_by)
        return False
    broker.last_attempt = now
    try:
        task.delay(*args, **kwargs)
    except BROKER_ERRORS as exc:
        if broker.down_since is None:
            broker.down_since = now
            logger.warning(BROKER_DOWN_MESSAGE, type(exc).__name__, exc)
        else:
            logger.debug("Broker still down: %s not queued (%s)", task.name, exc)
        _keep(task, args, kwargs, swept_by=swept_by)
        return False
    except Exception:
        # A bug (an argument that does not serialize, say): the caller's work is committed and
        # must stay a success; the traceback goes to the log for the developers.
        logger.exception("Could not queue %s", task.name)
        _keep(task, args, kwargs, swept_by=swept_by)
        return False
    if broker.down_since is not None:
        logger.warning("Broker reachable again after %.0f s of faults", now - broker.down_since)
        broker.down_since = None
    return True


def enqueue_on_commit(task: Task, *args, swept_by: str = "", **kwargs) -> None:
    """`enqueue` once the current transaction commits (nothing if it rolls back)."""
    transaction.on_commit(partial(enqueue, task, *args, swept_by=swept_by, **kwargs), robust=True)


def _keep(task: Task, args: tuple, kwargs: dict, *, swept_by: str) -> None:
    if swept_by:
        return  # the sweeper finds the work in the database
    try:
        PendingTask.objects.keep(name=task.name, args=list(args), kwargs=kwargs)
    except Exception:
        logger.exception("Could not keep %s for later", task.name)


def publish_pending_tasks(*, limit: int = 500) -> int:
    """Send the tasks kept while the broker was down, oldest first; returns how many were sent.

    1. Claim up to `limit` rows (skipping rows another pass holds, on PostgreSQL).
    2. Publish each; delete it once the broker took it.
    3. Stop at the first broker fault: the rest stay for the next pass.
    """
    sent = 0
    with transaction.atomic():
        rows = list(PendingTask.objects.select_for_update(skip_locked=True).order_by("pk")[:limit])
        for row in rows:
            try:
                current_app.send_task(row.name, args=row.args, kwargs=row.kwargs)
            except BROKER_ERRORS as exc:
                logger.warning("Broker unreachable (%s): %s kept tasks wait", exc, len(rows) - sent)
                break
            row.delete()
            sent += 1
    return sent
