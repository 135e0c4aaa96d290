"""Periodic jobs are declared here, in code, and synced into django-celery-beat's tables.

Each later app adds its sweepers to `periodic_tasks()`; `sync_beat_schedules` runs after every
migrate, so the database schedule always matches the code (operators may still disable a job
in the admin: `enabled` is left as they set it).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: str
    every_seconds: int
    description: str = ""


def periodic_tasks() -> tuple[PeriodicJob, ...]:
    return (
        PeriodicJob(
            "core.heartbeat",
            "core.heartbeat",
            settings.HEARTBEAT_INTERVAL_SECONDS,
            "Shows on /healthz that workers run.",
        ),
    )


def sync_beat_schedules(sender=None, **kwargs) -> None:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    using = kwargs.get("using", "default")
    for job in periodic_tasks():
        interval, _ = IntervalSchedule.objects.using(using).get_or_create(
            every=job.every_seconds, period=IntervalSchedule.SECONDS
        )
        PeriodicTask.objects.using(using).update_or_create(
            name=job.name,
            defaults={"task": job.task, "interval": interval, "description": job.description},
        )
