"""Celery adapters of the notifications app: thin, idempotent through the outbox rows."""

import time

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from core.queue import enqueue

_RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 3,
}

# A task keeps dispatching while there is work, up to this long, then leaves the rest to the
# next one (beat sends one every minute; enqueues nudge one more).
PASS_BUDGET_SECONDS = 50


@shared_task(name="notifications.dispatch", ignore_result=True, **_RETRY)
def dispatch_notifications_task() -> dict:
    """Send due notices: passes of the outbox dispatcher until it is empty or time is up."""
    from notifications.dispatch import DispatchResult, dispatch_pass

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


@shared_task(name="notifications.follow_ups", ignore_result=True, **_RETRY)
def follow_ups_task() -> int:
    """Follow-up notices for shipments still delayed since the last notice (every 3 days)."""
    from notifications.proactive import follow_ups_enqueue

    return follow_ups_enqueue(now=timezone.now())
