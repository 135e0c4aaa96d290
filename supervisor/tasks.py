"""Celery adapters of the supervisor workspace: thin, primitive ids in, idempotent through the
database (supervisor.incident_actions claims a run before doing its work)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from core import queue
from shipments.models import Incident
from supervisor import incident_actions, rollup, snapshot


@shared_task(
    name="supervisor.run_incident_action",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=5,
)
def run_incident_action_task(run_id: int) -> str:
    """Run an incident's bulk action (a large one, started from the incident page)."""
    run = incident_actions.action_run(run_id=run_id, now=timezone.now())
    return run.status if run is not None else "taken"


@shared_task(
    name="supervisor.requeue_incident_actions",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=3,
)
def requeue_incident_actions_task() -> int:
    """Sweeper: queue again the runs whose task was lost (incident_actions.stale_runs_requeue);
    returns how many. A run this pass cannot queue (broker down) stays queued in the database,
    and a later pass takes it again."""
    ids = incident_actions.stale_runs_requeue(now=timezone.now())
    for run_id in ids:
        queue.enqueue(
            run_incident_action_task, run_id, swept_by="supervisor.requeue_incident_actions"
        )
    return len(ids)


def start_incident_action(
    *,
    incident: Incident,
    kind: str,
    key: UUID,
    by: Any,
    params: dict[str, Any] | None = None,
    now: dt.datetime,
) -> incident_actions.Started:
    """Record the run (incident_actions.action_start) and run it: within the request when it is
    small, else by the task once the run is committed (kept by core.queue if the broker is
    down; a run whose task was lost is queued again by `requeue_incident_actions_task`, or
    taken over by starting the action again)."""
    started = incident_actions.action_start(
        incident=incident, kind=kind, key=key, by=by, params=params, now=now
    )
    if started.to_run:
        if incident_actions.runs_inline(started.run):
            incident_actions.action_run(run_id=started.run.pk, now=now)
        else:
            queue.enqueue_on_commit(run_incident_action_task, started.run.pk)
        started.run.refresh_from_db()
    return started


@shared_task(
    name="supervisor.refresh_kpi_rollup",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=3,
)
def refresh_kpi_rollup_task() -> int:
    """Incremental refresh of the dashboard's rollup (supervisor.rollup), then the default
    view's figures computed for the next supervisor (supervisor.snapshot); returns rows
    written."""
    rows = rollup.rollup_refresh(now=timezone.now()).rows
    snapshot.warm(now=timezone.now())
    return rows
