from celery import shared_task
from django.utils import timezone

from core.models import Heartbeat


@shared_task(name="core.heartbeat", ignore_result=True)
def heartbeat(name: str = "worker") -> None:
    """Record that a worker ran a task now; beat schedules it every minute."""
    Heartbeat.objects.update_or_create(name=name, defaults={"last_seen_at": timezone.now()})
