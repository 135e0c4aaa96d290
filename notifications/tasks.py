"""Celery adapters of the notifications app: thin, idempotent through the outbox rows."""

from celery import shared_task
from django.utils import timezone

from notifications import proactive
from notifications.sender import (  # noqa: F401 - the dispatcher's task, found by autodiscovery
    RETRY,
    dispatch_notifications_soon,
    dispatch_notifications_task,
)


@shared_task(name="notifications.follow_ups", ignore_result=True, **RETRY)
def follow_ups_task() -> int:
    """Follow-up notices for shipments still delayed since the last notice (every 3 days)."""
    return proactive.follow_ups_enqueue(now=timezone.now())
