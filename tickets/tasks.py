"""Celery adapters of the tickets app: thin, primitive arguments, idempotent through the DB."""

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from tickets import proactive, services
from tickets.sla import sweeper

_RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 3,
}


@shared_task(name="tickets.sweep_sla", ignore_result=True, **_RETRY)
def sweep_sla_task() -> dict:
    """Warn before breaches, mark breaches, escalate (tickets.sla.sweeper)."""
    result = sweeper.sweep(now=timezone.now())
    return {"warned": result.warned, "breached": result.breached, "escalated": result.escalated}


@shared_task(name="tickets.close_solved_tickets", ignore_result=True, **_RETRY)
def close_solved_tickets_task() -> int:
    """Close tickets solved more than the reopen window ago."""
    return services.close_solved_tickets(now=timezone.now())


@shared_task(name="tickets.open_proactive_tickets", ignore_result=True, **_RETRY)
def open_proactive_tickets_task(shipment_ids: list[int]) -> int:
    """Proactive tickets for shipments that delay detection found newly delayed."""
    return proactive.open_proactive_tickets(shipment_ids=shipment_ids, now=timezone.now())


@shared_task(name="tickets.open_missing_proactive_tickets", ignore_result=True, **_RETRY)
def open_missing_proactive_tickets_task() -> int:
    """Catch-up: delayed shipments still without a proactive ticket (a lost task, a crash)."""
    return proactive.open_proactive_tickets(
        shipment_ids=proactive.missing_shipment_ids(), now=timezone.now()
    )


@shared_task(name="tickets.recompute_calendar_timers", ignore_result=True, **_RETRY)
def recompute_calendar_timers_task(calendar_id: int) -> int:
    """A business calendar changed: move the due times of its running timers."""
    return services.recompute_calendar_timers(calendar_id=calendar_id, now=timezone.now())


@shared_task(name="tickets.recompute_team_timers", ignore_result=True, **_RETRY)
def recompute_team_timers_task(team_id: int) -> int:
    """A team's calendar was switched: move the due times of its running timers."""
    return services.recompute_team_timers(team_id=team_id, now=timezone.now())
