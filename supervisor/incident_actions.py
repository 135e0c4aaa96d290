"""An incident's bulk actions, run once each, with their progress.

Three actions, each over every affected customer or ticket of one incident:

- notify: the incident notice to every customer with an undelivered parcel in it
  (notifications.services.incident_notify: one statement, the outbox's noise control, and a
  dedupe key per customer, so nobody hears it twice however often it runs);
- offer: one goodwill remedy to every open ticket (compensation.services.offer_incident_remedy:
  set-based, one offer per ticket and remedy, routed through the supervisor's authority and the
  incident's budget);
- resolve: the incident is resolved (shipments.incidents.incident_resolve). Its tickets are not
  touched, as on the incident's own resolve path: each case is solved on its own, and its
  shipments stay linked as their history.

`action_start` records the run (an `IncidentAction`) under the form's idempotency key;
supervisor.tasks.start_incident_action then runs it at once when it covers at most
`sync_limit()` customers or tickets, or hands it to a Celery task on commit, and the incident
page polls its progress. `action_run` claims the run with a conditional UPDATE, so a retried or
duplicated task does the work once (and the services are idempotent besides).

A run whose task was lost (a worker killed mid-run, the broker gone after the row was written)
would stay queued or running for ever: `stale_runs_requeue`, the beat job
`supervisor.requeue_incident_actions`, puts the runs that have not moved for `stale_after()`
back in the queue, and the task runs them again. Running one again is safe: each service keeps
its own promise of once (the notices' dedupe keys per incident and customer, the offers' bulk
key per ticket under a lock on the incident, the incident's status), so a run taken over from
a worker that was only slow does nothing twice either.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from compensation import services as compensation_services
from compensation.errors import CompensationError
from notifications import services as notification_services
from shipments.incidents import incident_resolve
from shipments.models import FINAL_STATUSES, Incident, IncidentStatus, Shipment
from supervisor.models import ACTIVE_STATUSES, IncidentAction, IncidentActionKind
from tickets.models import Ticket

logger = logging.getLogger(__name__)

Kind = IncidentActionKind
Status = IncidentAction.Status

# Runs covering up to this many customers or tickets are done within the request; larger ones
# in the background (SUPERVISOR_INCIDENT_ACTION_SYNC_LIMIT).
DEFAULT_SYNC_LIMIT = 2_000
# A run queued or running this long without finishing lost its task or its worker: the sweeper
# (or starting the action again, or a redelivered task) takes it over. The services are
# idempotent, so running it again does nothing twice. The default of
# SUPERVISOR_INCIDENT_ACTION_STALE_MINUTES: a run is one statement per service, seconds even for
# 100,000 customers, so ten minutes without an outcome means nobody is working on it.
STALE_AFTER = dt.timedelta(minutes=10)
# Runs the sweeper puts back in the queue per pass; the rest wait for the next pass.
REQUEUE_LIMIT = 100

# Messages a supervisor reads: constants, so tests can assert them.
INCIDENT_RESOLVED = _(
    "This incident is resolved: its customers hear about their parcels through their own notices."
)
FAILED = _("The action stopped on an unexpected error. Start it again: nothing is done twice.")


def sync_limit() -> int:
    return int(getattr(settings, "SUPERVISOR_INCIDENT_ACTION_SYNC_LIMIT", DEFAULT_SYNC_LIMIT))


def stale_after() -> dt.timedelta:
    minutes = getattr(settings, "SUPERVISOR_INCIDENT_ACTION_STALE_MINUTES", None)
    return STALE_AFTER if minutes is None else dt.timedelta(minutes=int(minutes))


# --- what an action covers -------------------------------------------------------------------


def notify_customers(incident: Incident):
    """The customers an incident notice goes to: those with an undelivered parcel in it."""
    return (
        Shipment.objects.filter(incident=incident)
        .exclude(status__in=FINAL_STATUSES)
        .values("customer_id")
        .distinct()
    )


def open_tickets(incident: Incident):
    """The open tickets of the incident, as the bulk offer finds them (the ticket's own
    incident, else its shipment's)."""
    return Ticket.objects.open().filter(
        Q(incident=incident) | Q(incident__isnull=True, shipment__incident=incident)
    )


def action_total(incident: Incident, kind: str) -> int:
    if kind == Kind.NOTIFY:
        return notify_customers(incident).count()
    if kind == Kind.OFFER:
        return open_tickets(incident).count()
    return 1


# --- remedies as a run's parameters ----------------------------------------------------------


def offer_params(remedy: compensation_services.RemedySpec, reason: str) -> dict[str, Any]:
    """A remedy as JSON (Decimals as strings): the task rebuilds it with `offer_remedy`."""
    return {
        "kind": str(remedy.kind),
        "amount": None if remedy.amount is None else str(remedy.amount),
        "currency": remedy.currency,
        "percent": None if remedy.percent is None else str(remedy.percent),
        "points": remedy.points,
        "reason": reason,
    }


def offer_remedy(params: dict[str, Any]) -> compensation_services.RemedySpec:
    return compensation_services.RemedySpec(
        kind=params["kind"],
        amount=None if params.get("amount") is None else Decimal(params["amount"]),
        currency=params.get("currency") or "EUR",
        percent=None if params.get("percent") is None else Decimal(params["percent"]),
        points=params.get("points"),
    )


# --- starting and running --------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    run: IncidentAction
    created: bool  # False: the key (or a run of this action already under way) was found
    to_run: bool  # the caller runs it: `action_run` now (`runs_inline`) or the task on commit


def action_start(
    *,
    incident: Incident,
    kind: str,
    key: UUID,
    by: Any,
    params: dict[str, Any] | None = None,
    now: dt.datetime,
) -> Started:
    """Record a run of `kind` on `incident` under `key`; the caller then runs it when `to_run`
    (supervisor.tasks.start_incident_action does both).

    1. A run with this key exists: it is returned (a double submit); to be run again only when
       stale (its task or worker was lost).
    2. A run of this action on this incident is queued or running: the same, instead of a
       second run.
    3. Otherwise the run is created with its total (what it covers, counted now).
    """
    existing = IncidentAction.objects.filter(key=key).first() or _active(incident, kind)
    if existing is not None:
        return Started(run=existing, created=False, to_run=is_stale(existing, now=now))
    total = action_total(incident, kind)
    try:
        with transaction.atomic():
            run = IncidentAction.objects.create(
                key=key,
                incident=incident,
                kind=kind,
                total=total,
                params=params or {},
                requested_by=by,
            )
    except IntegrityError:
        # The same key or a run of this action started meanwhile (a double click that raced).
        found = IncidentAction.objects.filter(key=key).first() or _active(incident, kind)
        if found is None:
            raise
        return Started(run=found, created=False, to_run=False)
    return Started(run=run, created=True, to_run=True)


def _active(incident: Incident, kind: str) -> IncidentAction | None:
    return (
        IncidentAction.objects.filter(incident=incident, kind=kind, status__in=ACTIVE_STATUSES)
        .order_by("-created_at")
        .first()
    )


def runs_inline(run: IncidentAction) -> bool:
    """Small runs (and a resolve, one row) are done within the request."""
    return run.kind == Kind.RESOLVE or run.total <= sync_limit()


def is_stale(run: IncidentAction, *, now: dt.datetime) -> bool:
    """Queued or running, and not moved for `stale_after()`: queued (or queued again by the
    sweeper, which sets `updated_at`) that long ago, or running since then."""
    if run.status == Status.QUEUED:
        return run.updated_at < now - stale_after()
    if run.status == Status.RUNNING:
        return run.started_at is not None and run.started_at < now - stale_after()
    return False


def _claim(run_id: int, *, now: dt.datetime) -> bool:
    """Take the run: queued, or running but stale (its worker died). One taker wins."""
    return bool(
        IncidentAction.objects.filter(pk=run_id)
        .filter(
            Q(status=Status.QUEUED) | Q(status=Status.RUNNING, started_at__lt=now - stale_after())
        )
        .update(status=Status.RUNNING, started_at=now, updated_at=now)
    )


def stale_runs_requeue(*, now: dt.datetime, limit: int = REQUEUE_LIMIT) -> list[int]:
    """Put the runs that lost their task back in the queue; returns their ids, whose tasks the
    caller queues (supervisor.tasks.requeue_incident_actions_task).

    1. Take up to `limit` runs queued or running whose `updated_at` (set when queued, claimed,
       or queued again) is older than `stale_after()`, skipping rows another pass holds
       (PostgreSQL).
    2. Mark them queued as of `now`: the task queued for each claims it as it claims a new run,
       and the next passes leave it alone for another `stale_after()`, so a task waiting behind
       a busy queue is not queued twice; if that task is lost too, the run is taken again then.
    """
    before = now - stale_after()
    with transaction.atomic():
        ids = list(
            IncidentAction.objects.select_for_update(skip_locked=True)
            .filter(status__in=ACTIVE_STATUSES, updated_at__lt=before)
            .order_by("updated_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            IncidentAction.objects.filter(pk__in=ids).update(status=Status.QUEUED, updated_at=now)
    if ids:
        logger.warning("Incident actions queued again after their task was lost: %s", ids)
    return ids


def action_run(*, run_id: int, now: dt.datetime) -> IncidentAction | None:
    """Do the run's work once; returns the run, or None when someone else has it (or it is
    finished).

    1. Claim the run (conditional UPDATE: queued, or running and stale).
    2. Call the action's service (idempotent on its own).
    3. Record the outcome: done = total, how many changed, and the service's result; a refusal
       of the service (CompensationError) or an unexpected error marks the run failed with
       words for the supervisor. A database hiccup (OperationalError) puts it back in the
       queue for the task's retry.
    """
    if not _claim(run_id, now=now):
        return None
    run = IncidentAction.objects.select_related("incident", "requested_by").get(pk=run_id)
    try:
        changed, result = _work(run, now=now)
    except CompensationError as error:
        return _finish(run, status=Status.FAILED, error=str(error.message), now=now)
    except OperationalError:
        IncidentAction.objects.filter(pk=run.pk).update(status=Status.QUEUED, updated_at=now)
        raise
    except Exception:
        logger.exception("Incident action %s failed", run.pk)
        return _finish(run, status=Status.FAILED, error=str(FAILED), now=now)
    if result.get("refused"):
        return _finish(run, status=Status.FAILED, error=result["refused"], now=now)
    return _finish(run, status=Status.DONE, changed=changed, result=result, now=now)


def _work(run: IncidentAction, *, now: dt.datetime) -> tuple[int, dict[str, Any]]:
    incident, by = run.incident, run.requested_by
    if run.kind == Kind.NOTIFY:
        if incident.status == IncidentStatus.RESOLVED:
            return 0, {"refused": str(INCIDENT_RESOLVED)}
        written = notification_services.incident_notify(incident=incident, by=by, now=now)
        return written, {"queued": written}
    if run.kind == Kind.OFFER:
        params = run.params
        outcome = compensation_services.offer_incident_remedy(
            incident=incident,
            remedies=[offer_remedy(params)],
            by=by,
            reason=params.get("reason", ""),
            now=now,
        )
        return outcome.tickets, {
            "tickets": outcome.tickets,
            "offers": outcome.offers,
            "offer_status": outcome.status,
            "bulk_key": outcome.bulk_key,
        }
    was_open = incident.status != IncidentStatus.RESOLVED
    incident_resolve(incident=incident, by=by, now=now)
    return int(was_open), {"resolved": was_open}


def _finish(
    run: IncidentAction,
    *,
    status: str,
    now: dt.datetime,
    changed: int = 0,
    result: dict[str, Any] | None = None,
    error: str = "",
) -> IncidentAction:
    run.status = status
    run.done = run.total if status == Status.DONE else 0
    run.changed = changed
    run.result = result or {}
    run.error = error[:500]
    run.finished_at = now
    run.save(
        update_fields=["status", "done", "changed", "result", "error", "finished_at", "updated_at"]
    )
    return run
