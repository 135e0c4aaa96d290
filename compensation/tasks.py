"""Celery adapters of the compensation app: thin, idempotent through the database."""

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from compensation import proactive


@shared_task(
    name="compensation.offer_proactive_remedies",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=3,
)
def offer_proactive_remedies_task() -> dict:
    """Offer the remedies policies give before the customer asks (compensation.proactive)."""
    run = proactive.offer_proactive_remedies(now=timezone.now())
    return {"offered": run.offered, "waiting": run.waiting, "left": run.left}
