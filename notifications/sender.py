"""The dispatcher's Celery task, and the nudge that queues it after notices are written.

Between `notifications.dispatch` (which sends) and `notifications.services` (which writes notices
and nudges): services imports this module, this module imports dispatch, and dispatch imports
neither. The outbox rows are the truth and beat runs a dispatcher pass every 30 seconds anyway: a
nudge only makes a notice go out sooner.
"""

from __future__ import annotations

import time

from celery import shared_task
from django.db import OperationalError, connection, transaction

from core.queue import enqueue
from notifications.dispatch import DispatchResult, dispatch_pass

RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 3,
}

# A task keeps dispatching while there is work, up to this long, then leaves the rest to the
# next one (beat sends one every minute; enqueues nudge one more).
PASS_BUDGET_SECONDS = 50


@shared_task(name="notifications.dispatch", ignore_result=True, **RETRY)
def dispatch_notifications_task() -> dict:
    """Send due notices: passes of the outbox dispatcher until it is empty or time is up."""
    total = DispatchResult()
    started = time.monotonic()
    while time.monotonic() - started < PASS_BUDGET_SECONDS:
        result = dispatch_pass(limit=1000)
        total.add(result)
        if result.claimed < 1000:
            break
    return {"sent": total.sent, "suppressed": total.suppressed, "failed": total.failed}


def dispatch_notifications_soon() -> None:
    """Queue a dispatcher task (called on commit after notices were written); with the broker
    down, beat's next dispatcher pass sends the rows anyway."""
    enqueue(dispatch_notifications_task, swept_by="notifications.dispatch")


def dispatch_soon() -> None:
    """Ask a worker for a dispatcher pass once the current transaction commits."""
    nudge = dispatch_notifications_soon
    if any(entry[1] is nudge for entry in connection.run_on_commit):
        return  # one nudge per transaction, however many notices it writes
    transaction.on_commit(nudge)
