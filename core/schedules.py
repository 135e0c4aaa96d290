"""Periodic jobs are declared here, in code, and synced into django-celery-beat's tables.

Each later app adds its sweepers to `periodic_tasks()`; `sync_beat_schedules` runs after every
migrate, so the database schedule always matches the code (operators may still disable a job
in the admin: `enabled` is left as they set it).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from core.models import tables_exist

# Detection every 5 minutes: the first customer notice is due within 24 h of detection, and a
# pass over 1M shipments takes seconds (docs/PERFORMANCE.md). Predicted ETAs feed the red rule
# and move with each scan; lane statistics move slowly with delivered history.
DETECT_DELAYS_INTERVAL_SECONDS = 5 * 60
REFRESH_PREDICTED_ETAS_INTERVAL_SECONDS = 15 * 60
REFRESH_LANE_STATISTICS_INTERVAL_SECONDS = 60 * 60
# SLA warnings fire 15 minutes before a breach by default: a minute's resolution is enough, and
# one pass over 200k running timers takes well under a second (docs/PERFORMANCE.md).
SWEEP_SLA_INTERVAL_SECONDS = 60
OPEN_MISSING_PROACTIVE_TICKETS_INTERVAL_SECONDS = 10 * 60
CLOSE_SOLVED_TICKETS_INTERVAL_SECONDS = 60 * 60
# The outbox: every enqueue nudges a dispatcher task on commit; beat's pass every 30 s sends
# what a lost nudge, a retry's backoff or quiet hours left due. Follow-ups are due on a 3-day
# cadence, so an hourly check is exact enough.
DISPATCH_NOTIFICATIONS_INTERVAL_SECONDS = 30
FOLLOW_UPS_INTERVAL_SECONDS = 60 * 60
# Remedies offered before the customer asks (a parcel more than 30 days late): days matter,
# hours do not.
OFFER_PROACTIVE_REMEDIES_INTERVAL_SECONDS = 60 * 60
# Progress links of tickets closed longer than PROGRESS_LINK_TTL_DAYS open nothing: a daily purge.
PURGE_EXPIRED_LINKS_INTERVAL_SECONDS = 24 * 60 * 60
# Tasks kept in the database while the broker was down (core/queue.py) go out within a minute of
# its return.
PUBLISH_PENDING_TASKS_INTERVAL_SECONDS = 60
# The supervisor dashboard's rollup (first contact, proactive share, repurchase): an incremental
# pass over the customers whose data changed; the page shows "figures as of" its last run.
REFRESH_KPI_ROLLUP_INTERVAL_SECONDS = 5 * 60
# Incident bulk actions whose task was lost (supervisor.incident_actions.stale_runs_requeue): a
# run is stale after SUPERVISOR_INCIDENT_ACTION_STALE_MINUTES, so a pass a minute finds it
# within a minute of that; the pass reads the few active runs through a partial index.
REQUEUE_INCIDENT_ACTIONS_INTERVAL_SECONDS = 60
# The late-delivery model (shipments.risk) learns from parcels whose promise passed: a week
# adds a week of outcomes to a year of history, so a weekly retrain keeps up with seasons and
# carriers' drift, and training (a few minutes at 500,000 shipments) never competes with
# detection more than once a week.
TRAIN_LATE_MODEL_INTERVAL_SECONDS = 7 * 24 * 60 * 60


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
        PeriodicJob(
            "core.publish_pending_tasks",
            "core.publish_pending_tasks",
            PUBLISH_PENDING_TASKS_INTERVAL_SECONDS,
            "Sends the tasks kept in the database while the broker was unreachable.",
        ),
        PeriodicJob(
            "shipments.detect_delays",
            "shipments.detect_delays",
            DETECT_DELAYS_INTERVAL_SECONDS,
            "Evaluates the delay rules over all active shipments; groups incidents.",
        ),
        PeriodicJob(
            "shipments.refresh_predicted_etas",
            "shipments.refresh_predicted_etas",
            REFRESH_PREDICTED_ETAS_INTERVAL_SECONDS,
            "Predicted delivery times of in-transit shipments (input of the red rule).",
        ),
        PeriodicJob(
            "shipments.refresh_lane_statistics",
            "shipments.refresh_lane_statistics",
            REFRESH_LANE_STATISTICS_INTERVAL_SECONDS,
            "Lane transit statistics and carrier reliability from delivered history.",
        ),
        PeriodicJob(
            "tickets.sweep_sla",
            "tickets.sweep_sla",
            SWEEP_SLA_INTERVAL_SECONDS,
            "Warns before SLA breaches, marks breaches and escalates to supervisors.",
        ),
        PeriodicJob(
            "tickets.open_missing_proactive_tickets",
            "tickets.open_missing_proactive_tickets",
            OPEN_MISSING_PROACTIVE_TICKETS_INTERVAL_SECONDS,
            "Opens proactive tickets that a lost task left unopened.",
        ),
        PeriodicJob(
            "tickets.close_solved_tickets",
            "tickets.close_solved_tickets",
            CLOSE_SOLVED_TICKETS_INTERVAL_SECONDS,
            "Closes tickets solved more than 7 days ago.",
        ),
        PeriodicJob(
            "notifications.dispatch",
            "notifications.dispatch",
            DISPATCH_NOTIFICATIONS_INTERVAL_SECONDS,
            "Sends due notices from the outbox: noise control, retries, fallback channels.",
        ),
        PeriodicJob(
            "notifications.follow_ups",
            "notifications.follow_ups",
            FOLLOW_UPS_INTERVAL_SECONDS,
            "Queues follow-up notices for parcels still delayed 3 days after the last notice.",
        ),
        PeriodicJob(
            "compensation.offer_proactive_remedies",
            "compensation.offer_proactive_remedies",
            OFFER_PROACTIVE_REMEDIES_INTERVAL_SECONDS,
            "Offers the remedies policies give before the customer asks (e.g. a full refund "
            "for a parcel more than 30 days late).",
        ),
        PeriodicJob(
            "portal.purge_expired_links",
            "portal.purge_expired_links",
            PURGE_EXPIRED_LINKS_INTERVAL_SECONDS,
            "Deletes the progress links of tickets closed longer ago than they may be opened.",
        ),
        PeriodicJob(
            "supervisor.refresh_kpi_rollup",
            "supervisor.refresh_kpi_rollup",
            REFRESH_KPI_ROLLUP_INTERVAL_SECONDS,
            "Refreshes the supervisor dashboard's rollup (first contact, proactive share, "
            "30-day repurchase) for the customers whose data changed.",
        ),
        PeriodicJob(
            "supervisor.requeue_incident_actions",
            "supervisor.requeue_incident_actions",
            REQUEUE_INCIDENT_ACTIONS_INTERVAL_SECONDS,
            "Queues again the incident bulk actions whose task was lost (queued or running "
            "without progress for SUPERVISOR_INCIDENT_ACTION_STALE_MINUTES).",
        ),
        PeriodicJob(
            "shipments.train_late_model",
            "shipments.train_late_model",
            TRAIN_LATE_MODEL_INTERVAL_SECONDS,
            "Retrains the late-delivery model on the history before now and makes the new "
            "version active (the previous one stays when there is too little history).",
        ),
    )


def sync_beat_schedules(sender=None, **kwargs) -> None:
    using = kwargs.get("using", "default")
    if not tables_exist(IntervalSchedule, PeriodicTask, using=using):
        return
    for job in periodic_tasks():
        interval, _ = IntervalSchedule.objects.using(using).get_or_create(
            every=job.every_seconds, period=IntervalSchedule.SECONDS
        )
        PeriodicTask.objects.using(using).update_or_create(
            name=job.name,
            defaults={"task": job.task, "interval": interval, "description": job.description},
        )
