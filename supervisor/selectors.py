"""Reads for the dashboard's morning panels: approvals, open incidents, SLA alerts and
customer satisfaction by agent (the KPIs themselves: supervisor.kpis).

Every list is one query, so the panels cost the same number of queries with ten rows or ten
thousand (tests/supervisor/test_dashboard.py).

Approvals, incidents and SLA alerts are read on the primary: a supervisor acts on them, and
after approving an offer or resolving an incident must not see it still waiting. Satisfaction
by agent is a report over 30 days, read on `core.db.reports_db()` (the reports replica when one
is configured).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Avg, Count, Q, QuerySet

from compensation.models import CompensationOffer
from core.db import reports_db
from shipments.models import Incident
from supervisor import kpis
from tickets.models import SatisfactionSurvey, SLATimer

LIST_LIMIT = 50
SLA_ALERT_WINDOW = dt.timedelta(hours=1)


def approval_queue() -> QuerySet[CompensationOffer]:
    """Offers waiting for a supervisor, oldest first (partial index compensation_offer_pend_idx)."""
    return (
        CompensationOffer.objects.awaiting_approval()
        .select_related("ticket", "customer", "requested_by")
        .order_by("created_at", "pk")
    )


def open_incidents() -> QuerySet[Incident]:
    """Incidents not yet resolved, newest first (partial index shipments_incident_open_idx)."""
    return (
        Incident.objects.exclude(status=Incident.Status.RESOLVED)
        .select_related("carrier")
        .order_by("-window_start", "-pk")
    )


def sla_alerts(*, now: dt.datetime) -> QuerySet[SLATimer]:
    """Running timers due within the hour (or overdue), and breached timers of open tickets.

    Nearly every breached timer belongs to a ticket solved long ago; the open tickets are
    checked by their ids (kpis.open_tickets: one hash of the open tickets' index) rather than
    by reading each timer's ticket (supervisor.kpis.past_due_q, tickets_slatimer_live_idx)."""
    return (
        SLATimer.objects.filter(
            kpis.past_due_q(now + SLA_ALERT_WINDOW), ticket__in=kpis.open_tickets()
        )
        # The target names a milestone in the reader's language (SLATimer.display_name).
        .select_related("ticket", "ticket__customer", "ticket__assignee", "target")
        .order_by("due_at", "pk")
    )


def window(queryset: QuerySet, start: int, stop: int) -> list:
    """Rows `start` to `stop` of an ordered queryset (its order must end with the primary key),
    in one query that finds the rows first and joins their related rows after:
    `WHERE pk IN (SELECT pk ... ORDER BY ... LIMIT ... OFFSET ...)`.

    PostgreSQL joins before it limits: a page read straight joins the ticket, customer and
    assignee of every row the order has to look at (all 2,000 remedies issued in the same
    second, every breached timer sorted to find the first 50), and with a bad row estimate
    hashes the whole customers table for it. The subquery reads only what the filters and the
    order need; the joins run for the rows shown."""
    ids = queryset.values("pk")[start:stop]
    return list(queryset.filter(pk__in=ids))


@dataclass(frozen=True)
class AgentSatisfaction:
    """One agent's ratings over the scorecard window (the survey's agent: who had the ticket
    when it was solved)."""

    name: str
    responses: int
    average: float
    low: int  # ratings of 1 or 2


# The scorecard's window: the customers' answers of the last 30 days.
SCORECARD_DAYS = 30


def satisfaction_by_agent(*, now: dt.datetime) -> list[AgentSatisfaction]:
    """Each agent's customer ratings of the last SCORECARD_DAYS, lowest average first (one
    query; answers changed on the progress page count as changed)."""
    rows = (
        SatisfactionSurvey.objects.using(reports_db())
        .filter(
            answered_at__gte=now - dt.timedelta(days=SCORECARD_DAYS),
            agent__isnull=False,
            rating__isnull=False,
        )
        .values("agent_id", "agent__first_name", "agent__username")
        .annotate(
            average=Avg("rating"), responses=Count("pk"), low=Count("pk", filter=Q(rating__lte=2))
        )
        .order_by("average", "-responses", "agent_id")[:LIST_LIMIT]
    )
    return [
        AgentSatisfaction(
            name=row["agent__first_name"] or row["agent__username"],
            responses=row["responses"],
            average=round(float(row["average"]), 2),
            low=row["low"],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class SupervisorDashboard:
    approvals: list[CompensationOffer]
    approvals_total: int
    incidents: list[Incident]
    sla_alerts: list[SLATimer]
    satisfaction: list[AgentSatisfaction] = field(default_factory=list)


def supervisor_dashboard(*, now: dt.datetime) -> SupervisorDashboard:
    approvals = approval_queue()
    return SupervisorDashboard(
        approvals=list(approvals[:LIST_LIMIT]),
        approvals_total=approvals.count(),
        incidents=list(open_incidents()[:LIST_LIMIT]),
        sla_alerts=window(sla_alerts(now=now), 0, LIST_LIMIT),
        satisfaction=satisfaction_by_agent(now=now),
    )
