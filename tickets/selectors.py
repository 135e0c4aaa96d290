"""Reads for the agent console: the queues, the ticket page and its timeline.

Each selector owns its joins and annotations so a page runs a fixed number of queries, however
many rows it shows (tests/tickets/test_console.py counts them). Every read starts from
`Ticket.objects.visible_to(user)`: an agent never reads outside their scope.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.db.models import (
    Count,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from core.inputs import parse_id, parse_page
from core.models import Channel, choice_label
from customers.models import Customer
from shipments.models import Incident, TrackingEvent
from tickets.macros import macros_for_ticket
from tickets.models import (
    Category,
    Macro,
    Message,
    Priority,
    SLATimer,
    Source,
    Ticket,
    TicketEvent,
    TicketStatus,
    TimerKind,
    TimerStatus,
)

QUEUE_MINE = "mine"
QUEUE_UNASSIGNED = "unassigned"
QUEUE_BREACHING = "breaching"
QUEUE_ALL = "all"
QUEUE_INCIDENT = "incident"
QUEUES = (QUEUE_MINE, QUEUE_UNASSIGNED, QUEUE_BREACHING, QUEUE_ALL, QUEUE_INCIDENT)
DEFAULT_QUEUE = QUEUE_MINE
QUEUE_LABELS = {
    QUEUE_MINE: _("Mine"),
    QUEUE_UNASSIGNED: _("Unassigned"),
    QUEUE_BREACHING: _("Breaching soon"),
    QUEUE_ALL: _("By priority"),
    QUEUE_INCIDENT: _("By incident"),
}

# A queue page counts at most this many tickets ("1–25 of more than 100"): QueuePaginator.
COUNT_CAP = 100

# "Breaching soon": a running SLA timer falls due within this window (or is already overdue).
BREACHING_WINDOW = dt.timedelta(hours=1)


def next_sla_due_at() -> Subquery:
    """The soonest due time of the ticket's running SLA timers (NULL when none runs)."""
    running = (
        SLATimer.objects.filter(ticket=OuterRef("pk"), status=SLATimer.Status.ACTIVE)
        .order_by("due_at")
        .values("due_at")[:1]
    )
    return Subquery(running)


def find_incident(reference: str) -> Incident | None:
    """An incident by its public id (what links use) or its number; None when unknown (a
    number in other digits than 0-9 or beyond the id range is no incident's)."""
    reference = (reference or "").strip()
    number = parse_id(reference)
    if number is not None:
        return Incident.objects.filter(pk=number).first()
    try:
        public_id = uuid.UUID(reference)
    except ValueError:
        return None
    return Incident.objects.filter(public_id=public_id).first()


def console_queue(
    *,
    user: Any,
    queue: str,
    search: str = "",
    incident: Incident | None = None,
    now: dt.datetime,
) -> QuerySet[Ticket]:
    """Ids of the open tickets of one console tab, in the tab's order: page it, then load the
    page's rows with `console_rows`.

    - mine, unassigned, all: most urgent priority first, then the oldest (served by the
      `priority_rank` indexes, so the database reads a page, not the backlog);
    - breaching: a running timer due before `now` + 1 h (overdue included), soonest due first;
    - incident: tickets attached to an incident, grouped by incident (newest incident first),
      then by priority and age; `incident` narrows it to one incident.

    Ids first, rows second: the joins to customer, shipment and assignee then touch 25 rows
    instead of every ticket the tab holds (docs/PERFORMANCE.md).
    """
    tickets = Ticket.objects.visible_to(user).open()
    order = ["priority_rank", "created_at", "pk"]
    if queue == QUEUE_MINE:
        tickets = tickets.assigned_to(user)
    elif queue == QUEUE_UNASSIGNED:
        tickets = tickets.unassigned()
    elif queue == QUEUE_BREACHING:
        return _breaching_ids(tickets.search(search), cutoff=now + BREACHING_WINDOW)
    elif queue == QUEUE_INCIDENT:
        tickets = tickets.filter(incident__isnull=False)
        if incident is not None:
            tickets = tickets.filter(incident=incident)
        order = ["-incident__window_start", "incident_id", *order]
    return tickets.search(search).order_by(*order).values_list("pk", flat=True)


def _breaching_ids(tickets: QuerySet[Ticket], *, cutoff: dt.datetime):
    """Ids of the tickets whose soonest running timer falls due before `cutoff`, soonest first.

    Driven by the due-time index: each ticket's first running timer (no other running timer of
    the ticket is due earlier), in due order, so a page reads 25 timers instead of computing
    the soonest due time of every breaching ticket and sorting them.
    """
    earlier = SLATimer.objects.filter(
        ticket_id=OuterRef("ticket_id"), status=TimerStatus.ACTIVE
    ).filter(Q(due_at__lt=OuterRef("due_at")) | Q(due_at=OuterRef("due_at"), pk__lt=OuterRef("pk")))
    return (
        SLATimer.objects.running_due_before(cutoff)
        .filter(ticket_id__in=tickets.values("pk"))
        .exclude(Exists(earlier))
        .order_by("due_at", "pk")
        .values_list("ticket_id", flat=True)
    )


class QueuePaginator(Paginator):
    """Pages of a queue that count at most `cap` tickets (then the page says "more than").

    Counting a whole tab costs as much as the tab is big (65 ms for "breaching soon" at 200k
    tickets, where the planner misjudges the due-time filter: docs/PERFORMANCE.md); counting
    up to the cap reads the tab's first rows in its own order, as its pages do. The tab
    counts carry the exact numbers.

    A page that starts past the cap is not counted at all: its ids are read with one row
    more, which tells whether a next page exists (a count would walk the same rows again).
    A page past the end falls back to a count, to show the last page, as Django's does.
    """

    def __init__(self, object_list, per_page: int, *, cap: int | None = None) -> None:
        super().__init__(object_list, per_page)
        self.cap = COUNT_CAP if cap is None else cap

    def get_page(self, number) -> Page:
        wanted = parse_page(number)
        bottom = (wanted - 1) * self.per_page
        if bottom >= self.cap:
            ids = list(self.object_list[bottom : bottom + self.per_page + 1])
            if ids:
                self.cap = bottom + self.per_page
                # Exact when this is the last page; cap + 1 ("more than") when a row follows.
                self.__dict__["count"] = bottom + len(ids)
                return self._get_page(ids[: self.per_page], wanted, self)
        # Room for the wanted page and one row of the next, to know whether there is one.
        self.cap = max(self.cap, wanted * self.per_page)
        return super().get_page(wanted)

    @cached_property
    def count(self) -> int:
        # One row past the cap says "more than the cap" (a sliced count is a subquery).
        return self.object_list[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap


def console_rows(ids: list[int]) -> list[Ticket]:
    """The queue rows of a page of ticket ids, in the ids' order, in one query.

    Each row carries the translated labels of its status, priority, category and customer
    tier (`status_label`, ...), looked up once per page: `get_FOO_display` in the template
    translates every choice of the field on each call (about 700 gettext calls a page).
    """
    rows = (
        Ticket.objects.filter(pk__in=ids)
        .select_related("customer", "shipment", "assignee", "incident")
        .annotate(sla_due_at=next_sla_due_at())
    )
    by_pk = {ticket.pk: ticket for ticket in rows}
    tickets = [by_pk[pk] for pk in ids if pk in by_pk]
    labels = {
        name: _choice_labels(Ticket._meta.get_field(name))
        for name in ("status", "priority", "category")
    }
    tiers = _choice_labels(Customer._meta.get_field("tier"))
    for ticket in tickets:
        ticket.status_label = labels["status"].get(ticket.status, ticket.status)
        ticket.priority_label = labels["priority"].get(ticket.priority, ticket.priority)
        ticket.category_label = labels["category"].get(ticket.category, ticket.category)
        ticket.customer.tier_label = tiers.get(ticket.customer.tier, ticket.customer.tier)
    return tickets


def _choice_labels(model_field) -> dict[str, str]:
    """A field's choices as {stored value: label}, translated into the active language."""
    return {value: str(label) for value, label in model_field.flatchoices}


def console_queue_counts(*, user: Any, now: dt.datetime) -> dict[str, int]:
    """How many open tickets each tab holds, in one aggregate query (the console loads them
    after the queue page, from their own URL: views.console_counts)."""
    breaching = SLATimer.objects.running_due_before(now + BREACHING_WINDOW).values("ticket_id")
    return (
        Ticket.objects.visible_to(user)
        .open()
        .aggregate(
            **{
                QUEUE_MINE: Count("pk", filter=Q(assignee=user)),
                QUEUE_UNASSIGNED: Count("pk", filter=Q(assignee__isnull=True)),
                # IN over the due-time partial index: the overdue-or-soon timers are few.
                QUEUE_BREACHING: Count("pk", filter=Q(pk__in=breaching)),
                QUEUE_ALL: Count("pk"),
                QUEUE_INCIDENT: Count("pk", filter=Q(incident__isnull=False)),
            }
        )
    )


# --- ticket page ----------------------------------------------------------------------------

PROFILE_LIST_LIMIT = 5

# Timeline events that stand for a message: the message itself is shown instead.
MESSAGE_EVENT_KINDS = frozenset(
    {TicketEvent.Kind.CUSTOMER_MESSAGE, TicketEvent.Kind.AGENT_REPLY, TicketEvent.Kind.NOTE}
)


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    message: Message | None = None
    event: TicketEvent | None = None


@dataclass
class TicketDetail:
    ticket: Ticket
    other_tickets: list[Ticket]
    timeline: list[TimelineEntry]
    macros: list[Macro]
    timers: list[SLATimer] = field(default_factory=list)

    @property
    def shipment_events(self) -> list[TrackingEvent]:
        shipment = self.ticket.shipment
        return list(shipment.events.all()) if shipment is not None else []


def ticket_detail_queryset(*, user: Any) -> QuerySet[Ticket]:
    """The tickets `user` may read, with everything a ticket page shows, in a fixed number of
    queries: the ticket with its joins and counts, then timers, messages, timeline events and
    tracking events (one prefetch query each)."""
    other_tickets = (
        Ticket.objects.filter(customer=OuterRef("customer"))
        .exclude(pk=OuterRef("pk"))
        .values("customer")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Ticket.objects.visible_to(user)
        .select_related(
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
        )
        .prefetch_related(
            # With its target, whose label names a milestone in the reader's language.
            Prefetch(
                "timers",
                queryset=SLATimer.objects.select_related("target").order_by("due_at", "pk"),
            ),
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
    """What the ticket page shows next to the prefetched ticket.

    Two queries: the customer's recent other tickets (up to five), and the macros for the reply
    box. (Their remedies are compensation's panel: compensation.panels.)
    """
    other_tickets = list(
        Ticket.objects.filter(customer_id=ticket.customer_id)
        .exclude(pk=ticket.pk)
        .order_by("-created_at", "-pk")[:PROFILE_LIST_LIMIT]
    )
    return TicketDetail(
        ticket=ticket,
        other_tickets=other_tickets,
        timeline=ticket_timeline(ticket),
        macros=list(macros_for_ticket(ticket)),
        timers=list(ticket.timers.all()),
    )


def ticket_timeline(ticket: Ticket) -> list[TimelineEntry]:
    """Messages and timeline events interleaved, newest first, from the prefetched rows.

    An event that records a message ("customer wrote", "agent replied", "internal note") gives
    way to the message itself, so each message appears once, with its text.
    """
    messages = list(ticket.messages.all())
    message_ids = {message.pk for message in messages}
    entries = [TimelineEntry(at=message.created_at, message=message) for message in messages]
    # Events keep the milestone's name (its key); agents read its label in their language.
    milestone_labels = {
        timer.name: timer.display_name for timer in ticket.timers.all() if timer.name
    }
    for event in ticket.events.all():
        if event.kind in MESSAGE_EVENT_KINDS and (event.data or {}).get("message") in message_ids:
            continue
        describe_event(event, milestone_labels=milestone_labels)
        entries.append(TimelineEntry(at=event.created_at, event=event))

    def key(entry: TimelineEntry):
        # Same instant: the event that caused a message (e.g. "created") before the message.
        row = entry.event or entry.message
        return (entry.at, 1 if entry.message else 0, row.pk)

    entries.sort(key=key, reverse=True)
    return entries


def _display_name(user) -> str:
    return (user.first_name or user.get_username()) if user is not None else ""


# The name of a remedy kind in timeline events about remedies ("Remedy proposed: Partial
# refund"). Remedies are compensation's, above tickets: it registers the labeller in its
# AppConfig.ready(). Without one the sentence names no remedy ("A remedy was proposed").
_remedy_label: Callable[[str], str] | None = None


def register_remedy_label(label: Callable[[str], str]) -> None:
    """Name remedy kinds in the timeline with ``label(kind)`` (plain text, active language)."""
    global _remedy_label
    _remedy_label = label


# Which choices an event's "old"/"new" values come from.
_CHANGE_CHOICES = {
    TicketEvent.Kind.STATUS_CHANGED: TicketStatus,
    TicketEvent.Kind.PRIORITY_CHANGED: Priority,
    TicketEvent.Kind.CATEGORY_CHANGED: Category,
}


def describe_event(
    event: TicketEvent, *, milestone_labels: dict[str, str] | None = None
) -> TicketEvent:
    """Give a timeline event the readable values its sentence needs (translated labels).

    The sentences themselves are in the template, so translators see them whole.
    """
    data = event.data or {}
    event.actor_name = _display_name(event.actor)
    choices = _CHANGE_CHOICES.get(event.kind)
    if choices is not None:
        event.old_label = choice_label(choices, data.get("old"))
        event.new_label = choice_label(choices, data.get("new"))
    name = data.get("name")
    event.timer_label = (
        (milestone_labels or {}).get(name)
        or name
        or choice_label(TimerKind, data.get("timer_kind"))
    )
    kind = data.get("kind")
    event.remedy_label = str(_remedy_label(kind)) if _remedy_label and kind else ""
    event.source_label = choice_label(Source, data.get("source"))
    event.channel_label = choice_label(Channel, data.get("channel"))
    event.minutes_late = max(
        int(data.get("minutes_late") or 0), -int(data.get("minutes_early") or 0), 0
    )
    return event


def console_agents() -> QuerySet:
    """Active users who may work the console: whom a ticket can be handed to."""
    return (
        get_user_model()
        .objects.with_perm(
            "tickets.work_console",
            is_active=True,
            include_superusers=False,
            backend="django.contrib.auth.backends.ModelBackend",
        )
        .order_by("first_name", "username")
    )
