"""The SLA sweeper: warn before a breach, mark breaches, escalate; set-based and idempotent.

Runs every minute from beat (`tickets.sweep_sla`) and may run on several workers at once.

1. Warn: running timers whose warning time has come and that were never warned get
   `warned_at` and an "SLA warning" timeline row.
2. Breach: running timers past their due time become breached (`breached_at` = the due time)
   with an "SLA breached" timeline row, and their open tickets are escalated in the same
   transaction: flagged for supervisors (`is_escalated`, `escalated_at`; the supervisor page
   lists them) with an "Escalated" timeline row.
3. Catch up: open tickets with a timer breached in the last `ESCALATION_LOOKBACK` that are not
   escalated yet (a breach that an agent's late reply recorded, or a ticket that was being saved
   during step 2) are escalated the same way.

Each step claims its rows in batches with `SELECT ... FOR UPDATE SKIP LOCKED` (PostgreSQL) and a
conditional UPDATE, so two sweepers never warn, breach or escalate the same row twice, and a
ticket an agent is saving is simply left to the next pass instead of waited for. Every query is
served by a partial index (`tickets_slatimer_warn_idx`, `tickets_slatimer_due_idx`,
`tickets_slatimer_breached_idx`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from tickets.models import SLATimer, Ticket, TicketEvent, TimerStatus

BATCH_SIZE = 5_000
ESCALATION_LOOKBACK = dt.timedelta(days=7)


@dataclass(frozen=True)
class SweepResult:
    warned: int = 0
    breached: int = 0
    escalated: int = 0


def _timer_event(kind: str, row: tuple, at: dt.datetime) -> TicketEvent:
    timer_id, ticket_id, timer_kind, name, due_at = row
    return TicketEvent(
        ticket_id=ticket_id,
        kind=kind,
        is_public=False,
        created_at=at,
        data={
            "timer": timer_id,
            "timer_kind": timer_kind,
            "name": name,
            "due_at": due_at.isoformat(),
        },
    )


def _claim(queryset, batch_size: int) -> list[tuple]:
    return list(
        queryset.select_for_update(skip_locked=True)
        .order_by()
        .values_list("pk", "ticket_id", "kind", "name", "due_at")[:batch_size]
    )


def warn(*, now: dt.datetime, batch_size: int = BATCH_SIZE) -> int:
    total = 0
    while True:
        with transaction.atomic():
            rows = _claim(
                SLATimer.objects.filter(
                    status=TimerStatus.ACTIVE, warned_at=None, warn_at__lte=now, due_at__gt=now
                ),
                batch_size,
            )
            if not rows:
                return total
            SLATimer.objects.filter(pk__in=[r[0] for r in rows]).update(warned_at=now)
            TicketEvent.objects.bulk_create(
                _timer_event(TicketEvent.Kind.SLA_WARNING, row, now) for row in rows
            )
        total += len(rows)
        if len(rows) < batch_size:
            return total


def breach(
    *, now: dt.datetime, batch_size: int = BATCH_SIZE, escalations: list[int] | None = None
) -> int:
    """Mark running timers past due as breached; escalate their tickets (counts appended to
    `escalations`). Returns the number of timers breached."""
    total = 0
    while True:
        with transaction.atomic():
            rows = _claim(
                SLATimer.objects.filter(status=TimerStatus.ACTIVE, due_at__lte=now), batch_size
            )
            if not rows:
                return total
            # breached_at is each timer's own due time: one UPDATE ... SET breached_at = due_at.
            # The status condition keeps a second sweeper on SQLite (no row locks there; writers
            # are serialized instead) from breaching a timer twice.
            SLATimer.objects.filter(pk__in=[r[0] for r in rows], status=TimerStatus.ACTIVE).update(
                status=TimerStatus.BREACHED, breached_at=F("due_at")
            )
            TicketEvent.objects.bulk_create(
                _timer_event(TicketEvent.Kind.SLA_BREACHED, row, now) for row in rows
            )
            # Escalate in the same transaction: a timer whose due time lies before the lookback
            # (a proactive ticket opened days after detection) is escalated all the same.
            escalated = _escalate_tickets({r[1] for r in rows}, now=now)
            if escalations is not None:
                escalations.append(escalated)
        total += len(rows)
        if len(rows) < batch_size:
            return total


def _escalate_tickets(ticket_ids, *, now: dt.datetime) -> int:
    """Flag the open, not yet escalated tickets among `ticket_ids`; skip rows being saved."""
    tickets = list(
        Ticket.objects.open()
        .filter(is_escalated=False, pk__in=ticket_ids)
        .select_for_update(skip_locked=True)
        .order_by()
        .values_list("pk", flat=True)
    )
    if not tickets:
        return 0
    Ticket.objects.filter(pk__in=tickets, is_escalated=False).update(
        is_escalated=True, escalated_at=now
    )
    TicketEvent.objects.bulk_create(
        TicketEvent(
            ticket_id=pk,
            kind=TicketEvent.Kind.ESCALATED,
            is_public=False,
            created_at=now,
            data={"reason": "sla_breach"},
        )
        for pk in tickets
    )
    return len(tickets)


def escalate(*, now: dt.datetime, batch_size: int = BATCH_SIZE) -> int:
    """Catch-up: open tickets with a timer breached within the lookback and no escalation yet."""
    total = 0
    recent = SLATimer.objects.filter(
        status=TimerStatus.BREACHED, breached_at__gte=now - ESCALATION_LOOKBACK
    ).values("ticket_id")
    while True:
        with transaction.atomic():
            candidates = list(
                Ticket.objects.open()
                .filter(is_escalated=False, pk__in=recent)
                .order_by()
                .values_list("pk", flat=True)[:batch_size]
            )
            if not candidates:
                return total
            escalated = _escalate_tickets(candidates, now=now)
        total += escalated
        if len(candidates) < batch_size or not escalated:
            return total


def sweep(*, now: dt.datetime | None = None, batch_size: int = BATCH_SIZE) -> SweepResult:
    """One pass: warnings, then breaches, then escalations (see the module docstring)."""
    now = now or timezone.now()
    escalations: list[int] = []
    warned = warn(now=now, batch_size=batch_size)
    breached = breach(now=now, batch_size=batch_size, escalations=escalations)
    caught_up = escalate(now=now, batch_size=batch_size)
    return SweepResult(warned=warned, breached=breached, escalated=sum(escalations) + caught_up)
