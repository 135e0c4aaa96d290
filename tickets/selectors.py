"""Reads for the agent console: the queue and the ticket detail.

Each selector owns its joins and annotations so a page runs a fixed number of queries, however
many rows it shows (tests/tickets/test_console.py counts them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import (
    Case,
    Count,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from compensation.models import CompensationOffer
from shipments.models import TrackingEvent
from tickets.models import (
    PRIORITY_RANK,
    Message,
    SLATimer,
    Ticket,
    TicketEvent,
)

QUEUE_MINE = "mine"
QUEUE_UNASSIGNED = "unassigned"
QUEUE_ALL = "all"
QUEUES = (QUEUE_MINE, QUEUE_UNASSIGNED, QUEUE_ALL)
DEFAULT_QUEUE = QUEUE_MINE


def priority_rank() -> Case:
    """urgent=0 ... low=3, so that ordering by it puts the most pressing tickets first."""
    return Case(
        *(When(priority=priority, then=Value(rank)) for priority, rank in PRIORITY_RANK.items()),
        default=Value(len(PRIORITY_RANK)),
        output_field=IntegerField(),
    )


def next_sla_due_at() -> Subquery:
    """The soonest due time of the ticket's running SLA timers (NULL when none runs)."""
    running = (
        SLATimer.objects.filter(ticket=OuterRef("pk"), status=SLATimer.Status.ACTIVE)
        .order_by("due_at")
        .values("due_at")[:1]
    )
    return Subquery(running)


def console_queue(*, user: Any, queue: str, search: str = "") -> QuerySet[Ticket]:
    """Open tickets of one console tab, most pressing first.

    One query per page of rows: customer, shipment and assignee are joined, the soonest SLA due
    time is a correlated subquery (not a query per row).
    """
    tickets = Ticket.objects.open()
    if queue == QUEUE_MINE:
        tickets = tickets.assigned_to(user)
    elif queue == QUEUE_UNASSIGNED:
        tickets = tickets.unassigned()
    return (
        tickets.search(search)
        .select_related("customer", "shipment", "assignee")
        .annotate(priority_rank=priority_rank(), sla_due_at=next_sla_due_at())
        .order_by("priority_rank", "created_at", "pk")
    )


def console_queue_counts(*, user: Any) -> dict[str, int]:
    """How many open tickets each tab holds, in one aggregate query."""
    return Ticket.objects.open().aggregate(
        **{
            QUEUE_MINE: Count("pk", filter=Q(assignee=user)),
            QUEUE_UNASSIGNED: Count("pk", filter=Q(assignee__isnull=True)),
            QUEUE_ALL: Count("pk"),
        }
    )


@dataclass(frozen=True)
class TicketDetail:
    ticket: Ticket
    other_tickets: list[Ticket]
    past_offers: list[CompensationOffer]

    @property
    def shipment_events(self) -> list[TrackingEvent]:
        shipment = self.ticket.shipment
        return list(shipment.events.all()) if shipment is not None else []


PROFILE_LIST_LIMIT = 5


def ticket_detail_queryset() -> QuerySet[Ticket]:
    """A ticket with everything its console page shows, in a fixed number of queries."""
    other_tickets = (
        Ticket.objects.filter(customer=OuterRef("customer"))
        .exclude(pk=OuterRef("pk"))
        .values("customer")
        .annotate(n=Count("pk"))
        .values("n")
    )
    offers = (
        CompensationOffer.objects.filter(customer=OuterRef("customer"))
        .values("customer")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Ticket.objects.select_related(
            "customer",
            "shipment",
            "shipment__carrier",
            "shipment__lane",
            "shipment__incident",
            "incident",
            "team",
            "assignee",
            "sla_policy",
        )
        .annotate(
            customer_other_tickets=Coalesce(Subquery(other_tickets), 0),
            customer_offer_count=Coalesce(Subquery(offers), 0),
        )
        .prefetch_related(
            Prefetch("timers", queryset=SLATimer.objects.order_by("due_at", "pk")),
            Prefetch(
                "messages",
                queryset=Message.objects.select_related("author").order_by("created_at", "pk"),
            ),
            Prefetch(
                "events",
                queryset=TicketEvent.objects.select_related("actor").order_by("created_at", "pk"),
            ),
            Prefetch(
                "shipment__events",
                queryset=TrackingEvent.objects.order_by("-occurred_at", "-pk"),
            ),
        )
    )


def ticket_detail(*, ticket: Ticket) -> TicketDetail:
    """The customer's recent other tickets and past offers, next to the ticket itself."""
    other_tickets = list(
        Ticket.objects.filter(customer_id=ticket.customer_id)
        .exclude(pk=ticket.pk)
        .order_by("-created_at")[:PROFILE_LIST_LIMIT]
    )
    offers = CompensationOffer.objects.filter(customer_id=ticket.customer_id)
    past_offers = list(offers.order_by("-created_at")[:PROFILE_LIST_LIMIT])
    return TicketDetail(ticket=ticket, other_tickets=other_tickets, past_offers=past_offers)
