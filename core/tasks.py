from celery import shared_task
from django.utils import timezone

from core.models import Heartbeat
from core.queue import publish_pending_tasks


@shared_task(name="core.heartbeat", ignore_result=True)
def heartbeat(name: str = "worker") -> None:
    """Record that a worker ran a task now; beat schedules it every minute."""
    Heartbeat.objects.update_or_create(name=name, defaults={"last_seen_at": timezone.now()})


@shared_task(name="core.publish_pending_tasks", ignore_result=True)
def publish_pending_tasks_task() -> int:
    """Send the tasks kept while the broker was down (core/queue.py)."""
    return publish_pending_tasks()
