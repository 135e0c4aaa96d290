"""Celery adapters of the portal app: thin, idempotent through the database."""

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from portal import links


@shared_task(
    name="portal.purge_expired_links",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=3,
)
def purge_expired_links_task() -> int:
    """Delete the progress links of tickets closed longer ago than they may be opened."""
    return links.purge_expired_links(now=timezone.now())
