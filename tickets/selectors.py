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
from django.core import signing
from django.core.paginator import Page, Paginator
from django.db.models import (
    BooleanField,
    CharField,
    Count,
    Exists,
    F,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    prefetch_related_objects,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from core.inputs import PAGE_MAX, parse_id, parse_page
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
) -> QuerySet:
    """The open tickets of one console tab, in the tab's order, as rows of their sort key
    (`QUEUE_ORDERS[queue]`: the ticket id and the values a page cursor carries): page them
    with `QueuePaginator`, then load the page's rows with `console_rows`.

    - mine, unassigned, all: most urgent priority first, then the oldest (served by the
      `priority_rank` indexes, so the database reads a page, not the backlog);
    - breaching: a running timer due before `now` + 1 h (overdue included), soonest due first;
    - incident: tickets attached to an incident, grouped by incident (newest incident first),
      then by priority and age; `incident` narrows it to one incident.

    Ids first, rows second: the joins to customer, shipment and assignee then touch 25 rows
    instead of every ticket the tab holds (docs/PERFORMANCE.md).
    """
    tickets = Ticket.objects.visible_to(user).open()
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
    order = QUEUE_ORDERS.get(queue, TICKET_ORDER)
    return tickets.search(search).order_by(*order.order_by).values_list(*order.values)


def _breaching_ids(tickets: QuerySet[Ticket], *, cutoff: dt.datetime):
    """The tickets whose soonest running timer falls due before `cutoff`, soonest first, as
    (timer due time, timer id, ticket id) rows (BREACHING_ORDER).

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
        .order_by(*BREACHING_ORDER.order_by)
        .values_list(*BREACHING_ORDER.values)
    )


# --- keyset paging ------------------------------------------------------------------------------


class _RowCompare(Func):
    """`(a, b, c) > (x, y, z)`, a row comparison. PostgreSQL reads it as one range of an index
    on (a, b, c) (the same condition spelled with OR would make it read the index from the
    start of a's value, which can be most of a queue); SQLite compares row values too."""

    output_field = BooleanField()

    def __init__(self, fields: list[str], operator: str, values: list[Any]) -> None:
        self.operator = operator
        self.width = len(fields)
        super().__init__(*(F(name) for name in fields), *(Value(value) for value in values))

    def as_sql(self, compiler, connection, **extra_context):
        parts, params = [], []
        for expression in self.get_source_expressions():
            sql, sql_params = compiler.compile(expression)
            parts.append(sql)
            params.extend(sql_params)
        left, right = ", ".join(parts[: self.width]), ", ".join(parts[self.width :])
        return f"({left}) {self.operator} ({right})", params


@dataclass(frozen=True)
class SortKey:
    """One column of a queue's order, as `values_list` names it; `is_time` for a datetime (a
    cursor carries it as microseconds since 1970, UTC)."""

    field: str
    descending: bool = False
    is_time: bool = False


@dataclass(frozen=True)
class QueueOrder:
    """A queue's order as a keyset: the columns it sorts by, the last one unique, and which
    selected value is the ticket id. A page's rows are `values`: the key, then the ticket id
    when the key does not hold it."""

    keys: tuple[SortKey, ...]
    ticket_id: str = "pk"

    @cached_property
    def values(self) -> tuple[str, ...]:
        names = tuple(key.field for key in self.keys)
        return names if self.ticket_id in names else (*names, self.ticket_id)

    @cached_property
    def order_by(self) -> tuple[str, ...]:
        return tuple(("-" if key.descending else "") + key.field for key in self.keys)

    def ticket_id_of(self, row: tuple) -> int:
        return row[self.values.index(self.ticket_id)]

    def key_of(self, row: tuple) -> tuple:
        return tuple(row[: len(self.keys)])

    def beyond(self, key: tuple, *, forward: bool = True, inclusive: bool = False) -> Q:
        """The rows after `key` in this order (before it when not `forward`); `inclusive`
        takes the key's own row too. Neighbouring columns sorted the same way are compared as
        one row; where the direction changes, the earlier columns decide first."""
        runs: list[tuple[bool, list[str], list[Any]]] = []
        for sort_key, value in zip(self.keys, key, strict=True):
            if runs and runs[-1][0] == sort_key.descending:
                runs[-1][1].append(sort_key.field)
                runs[-1][2].append(value)
            else:
                runs.append((sort_key.descending, [sort_key.field], [value]))
        condition: Q | None = None
        for descending, fields, values in reversed(runs):
            operator = ">" if forward != descending else "<"
            if condition is None:
                condition = Q(_RowCompare(fields, operator + ("=" if inclusive else ""), values))
            else:
                condition = Q(_RowCompare(fields, operator, values)) | (
                    Q(**dict(zip(fields, values, strict=True))) & condition
                )
        assert condition is not None
        return condition


TICKET_ORDER = QueueOrder(
    (SortKey("priority_rank"), SortKey("created_at", is_time=True), SortKey("pk"))
)
QUEUE_ORDERS = {
    QUEUE_MINE: TICKET_ORDER,
    QUEUE_UNASSIGNED: TICKET_ORDER,
    QUEUE_ALL: TICKET_ORDER,
    # Newest incident first, then as the other queues.
    QUEUE_INCIDENT: QueueOrder(
        (
            SortKey("incident__window_start", descending=True, is_time=True),
            SortKey("incident_id"),
            *TICKET_ORDER.keys,
        )
    ),
    # The ticket's first running timer, by due time.
    QUEUE_BREACHING: QueueOrder(
        (SortKey("due_at", is_time=True), SortKey("pk")), ticket_id="ticket_id"
    ),
}
BREACHING_ORDER = QUEUE_ORDERS[QUEUE_BREACHING]

# A page cursor: signed, so a cursor that was edited or made for another queue is refused.
CURSOR_SALT = "tickets.console.queue-cursor"
CURSOR_MAX_LENGTH = 300
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_CURSOR_INT_MAX = 2**62


def encode_cursor(queue: str, number: int, key: tuple) -> str:
    """An opaque page cursor: the queue, the page number it opens and a row's sort key."""
    order = QUEUE_ORDERS[queue]
    values = [
        (value - _EPOCH) // dt.timedelta(microseconds=1) if sort_key.is_time else value
        for sort_key, value in zip(order.keys, key, strict=True)
    ]
    return signing.Signer(salt=CURSOR_SALT, sep=".").sign_object([queue, number, *values])


def decode_cursor(token: Any, *, queue: str) -> tuple[int, tuple] | None:
    """(page number, sort key) of a cursor `encode_cursor` made for `queue`; None for anything
    else (edited, truncated, from another queue or an older shape)."""
    if not isinstance(token, str) or not token or len(token) > CURSOR_MAX_LENGTH:
        return None
    try:
        payload = signing.Signer(salt=CURSOR_SALT, sep=".").unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    order = QUEUE_ORDERS[queue]
    if not isinstance(payload, list) or len(payload) != 2 + len(order.keys):
        return None
    name, number, *values = payload
    if name != queue or not all(type(value) is int for value in (number, *values)):
        return None
    if not 2 <= number <= PAGE_MAX or not all(abs(value) < _CURSOR_INT_MAX for value in values):
        return None
    try:
        key = tuple(
            _EPOCH + dt.timedelta(microseconds=value) if sort_key.is_time else value
            for sort_key, value in zip(order.keys, values, strict=True)
        )
    except OverflowError:
        return None
    return number, key


class QueuePaginator(Paginator):
    """Pages of a queue (rows of `console_queue`) that count at most `cap` tickets (then the
    page says "more than"), reached by page cursors.

    Counting a whole tab costs as much as the tab is big (65 ms for "breaching soon" at 200k
    tickets, where the planner misjudges the due-time filter: docs/PERFORMANCE.md); counting
    up to the cap reads the tab's first rows in its own order, as its pages do. The tab
    counts carry the exact numbers.

    Keyset paging: the next page is the rows after the last row's sort key (`?after=`), the
    previous one the rows before the first row's (`?before=`), so page 100 reads what page 1
    reads: the same two queries, from an index position instead of the start. The cursor
    carries the page's number for the "26–50 of ..." text; its count is of the rows from the
    page on, up to the cap, so near the end it is exact ("2,476–2,490 of 2,490").
    A cursor that does not verify opens the first page (`cursor_rejected`); a cursor past
    every row (they were solved meanwhile) opens it too.

    `?page=N` (old links, typed URLs) still opens page N by offset: a page that starts past
    the cap is not counted, its ids are read with one row more (which tells whether a next
    page exists); a page past the end falls back to a count, to show the last page.
    """

    def __init__(
        self, object_list, per_page: int, *, queue: str = DEFAULT_QUEUE, cap: int | None = None
    ) -> None:
        super().__init__(object_list, per_page)
        self.cap = COUNT_CAP if cap is None else cap
        self.queue = queue
        self.order = QUEUE_ORDERS.get(queue, TICKET_ORDER)
        self.cursor_rejected = False

    def get_page(self, number=None, *, after: str = "", before: str = "") -> Page:
        page = None
        token = after or before
        if token:
            cursor = decode_cursor(token, queue=self.queue)
            if cursor is None:
                self.cursor_rejected = True
            else:
                page = self._keyset_page(*cursor, forward=bool(after))
            number = 1
        if page is None:
            page = self._numbered_page(number)
        return self._with_cursors(page)

    def _numbered_page(self, number) -> Page:
        wanted = parse_page(number)
        bottom = (wanted - 1) * self.per_page
        if bottom >= self.cap:
            rows = list(self.object_list[bottom : bottom + self.per_page + 1])
            if rows:
                self.cap = bottom + self.per_page
                # Exact when this is the last page; cap + 1 ("more than") when a row follows.
                self.__dict__["count"] = bottom + len(rows)
                return self._get_page(rows[: self.per_page], wanted, self)
        # Room for the wanted page and one row of the next, to know whether there is one.
        self.cap = max(self.cap, wanted * self.per_page)
        return super().get_page(wanted)

    def _keyset_page(self, number: int, key: tuple, *, forward: bool) -> Page | None:
        """Page `number`: the rows after `key` (forward) or the page of rows before it; None
        when there is no such page any more (the caller opens the first page)."""
        if forward:
            rows = list(self.object_list.filter(self.order.beyond(key))[: self.per_page])
            if not rows:
                return None
        else:
            before = self.object_list.filter(self.order.beyond(key, forward=False)).reverse()
            rows = list(before[: self.per_page + 1])[::-1]
            if len(rows) < self.per_page:
                return None  # the start moved: the first page shows it whole
            if len(rows) == self.per_page:
                number = 1  # nothing before these: this is the first page
            else:
                rows, number = rows[1:], max(number, 2)
        # The rows from this page on, up to the cap (what page 1 counts, from here).
        from_here = self.order.beyond(self.order.key_of(rows[0]), inclusive=True)
        rest = self.object_list.filter(from_here)[: self.cap + 1].count()
        bottom = (number - 1) * self.per_page
        self.cap += bottom
        self.__dict__["count"] = bottom + rest
        return self._get_page(rows, number, self)

    def _with_cursors(self, page: Page) -> Page:
        """The page with its ticket ids and the cursors of its neighbours ("" for none; the
        page before page 2 is the first page, which needs none)."""
        page.object_list = rows = list(page.object_list)
        page.ticket_ids = [self.order.ticket_id_of(row) for row in rows]
        page.cursor_rejected = self.cursor_rejected
        page.next_cursor = page.previous_cursor = ""
        if rows and page.has_next():
            key = self.order.key_of(rows[-1])
            page.next_cursor = encode_cursor(self.queue, page.number + 1, key)
        if rows and page.number > 2:
            key = self.order.key_of(rows[0])
            page.previous_cursor = encode_cursor(self.queue, page.number - 1, key)
        return page

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
    # The entry already rendered (tickets.fragments keeps each row): shown as it is.
    html: str = ""


@dataclass
class TicketDetail:
    ticket: Ticket
    other_tickets: list[Ticket]
    # Filled by `load_timeline` when the timeline is rendered (not when its rendering is kept).
    timeline: list[TimelineEntry]
    macros: list[Macro]
    timers: list[SLATimer] = field(default_factory=list)
    # The shipment's scans, newest first: filled by `load_scans`, like `timeline`.
    scans: list[TrackingEvent] = field(default_factory=list)

    @property
    def shipment_events(self) -> list[TrackingEvent]:
        """The shipment's scans, newest first (one query unless `load_scans` read them)."""
        shipment = self.ticket.shipment
        return list(shipment.events.all()) if shipment is not None else []

    @cached_property
    def milestone_labels(self) -> dict[str, str]:
        """Milestone keys and their labels in the reader's language (timeline sentences)."""
        return {timer.name: timer.display_name for timer in self.timers if timer.name}

    def load_timeline(self) -> list[TimelineEntry]:
        """Read the messages and timeline events (two queries) and interleave them."""
        prefetch_related_objects([self.ticket], *TIMELINE_PREFETCHES)
        self.timeline = ticket_timeline(self.ticket, milestone_labels=self.milestone_labels)
        return self.timeline

    def load_scans(self) -> list[TrackingEvent]:
        """Read the shipment's tracking events (one query; none without a shipment)."""
        if self.ticket.shipment is not None:
            prefetch_related_objects([self.ticket.shipment], SCANS_PREFETCH)
        self.scans = self.shipment_events
        return self.scans


# What the cached parts of the ticket page show, read only when they are rendered again
# (views: the timeline and the shipment's scans, kept by tickets.fragments).
TIMELINE_PREFETCHES = (
    Prefetch(
        "messages",
        queryset=Message.objects.select_related("author").order_by("created_at", "pk"),
    ),
    Prefetch(
        "events",
        queryset=TicketEvent.objects.select_related("actor").order_by("created_at", "pk"),
    ),
)
SCANS_PREFETCH = Prefetch("events", queryset=TrackingEvent.objects.order_by("-occurred_at", "-pk"))


def _stamp(table: str, column: str, outer: str, *values: str) -> RawSQL:
    """One text that sums up the rows of `table` whose `column` is the outer ticket's `outer`:
    their count and newest id, and whatever else in `values` an update changes. A row added,
    removed or changed gives another text: the key of the kept rendering (tickets.fragments).

    Plain SQL (COUNT, MAX, COALESCE, CAST, || read the same on PostgreSQL and SQLite): as
    ORM subqueries the three stamps cost the page 1.5 ms of Python to build and compile."""
    parts = ["COUNT(*)", "COALESCE(MAX(id), 0)"]
    parts += [f"COALESCE(CAST({value} AS TEXT), '')" for value in values]
    stamp = " || ':' || ".join(parts)
    outer_column = f"{Ticket._meta.db_table}.{outer}"
    # Table and column names only, no input: nothing to bind.
    sql = f"SELECT {stamp} FROM {table} WHERE {column} = {outer_column}"  # nosec B608
    return RawSQL(sql, (), output_field=CharField())  # nosec B611


def ticket_detail_queryset(*, user: Any) -> QuerySet[Ticket]:
    """The tickets `user` may read, with what every view of a ticket page reads, in two
    queries: the ticket with its joins and counts, then its SLA timers.

    The timeline (messages, events) and the shipment's scans are rendered once and kept while
    their rows do not change (tickets.fragments): the ticket row carries a stamp of each
    (`messages_stamp`, `events_stamp`, `scans_stamp`), and `TicketDetail.load_timeline` /
    `load_scans` read the rows only when the stamp has no rendering yet.
    """
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
            "shipment__incident",
            "incident",
            "team",
            "assignee",
        )
        .annotate(
            customer_other_tickets=Coalesce(Subquery(other_tickets), 0),
            # A message can be edited (updated_at); events are only added; a scan changes
            # when an operator maps its code (shipments.ingest).
            messages_stamp=_stamp(Message._meta.db_table, "ticket_id", "id", "MAX(updated_at)"),
            events_stamp=_stamp(TicketEvent._meta.db_table, "ticket_id", "id"),
            scans_stamp=_stamp(
                TrackingEvent._meta.db_table,
                "shipment_id",
                "shipment_id",
                "SUM(CASE WHEN unmapped THEN 1 ELSE 0 END)",
            ),
        )
        .prefetch_related(
            # With its target, whose label names a milestone in the reader's language.
            Prefetch(
                "timers",
                queryset=SLATimer.objects.select_related("target").order_by("due_at", "pk"),
            ),
        )
    )


def ticket_detail(*, ticket: Ticket) -> TicketDetail:
    """What every view of the ticket page shows next to the ticket.

    Two queries: the customer's recent other tickets (up to five), and the macros for the reply
    box. (Their remedies are compensation's panel: compensation.panels.) The timeline and the
    scans are read by `load_timeline` and `load_scans` when their rendering is not kept.
    """
    # The columns the page shows (a macro's body is read when the agent picks it).
    other_tickets = list(
        Ticket.objects.filter(customer_id=ticket.customer_id)
        .exclude(pk=ticket.pk)
        .only("public_id", "subject", "status", "created_at")
        .order_by("-created_at", "-pk")[:PROFILE_LIST_LIMIT]
    )
    return TicketDetail(
        ticket=ticket,
        other_tickets=other_tickets,
        timeline=[],
        macros=list(macros_for_ticket(ticket).only("title")),
        timers=list(ticket.timers.all()),
    )


def ticket_timeline(
    ticket: Ticket, *, milestone_labels: dict[str, str] | None = None
) -> list[TimelineEntry]:
    """Messages and timeline events interleaved, newest first, from the prefetched rows.

    An event that records a message ("customer wrote", "agent replied", "internal note") gives
    way to the message itself, so each message appears once, with its text.
    """
    messages = list(ticket.messages.all())
    message_ids = {message.pk for message in messages}
    entries = [TimelineEntry(at=message.created_at, message=message) for message in messages]
    # Events keep the milestone's name (its key); agents read its label in their language.
    if milestone_labels is None:
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


def remedy_labels_known() -> bool:
    """Whether remedy events name their remedy (part of the kept timeline's key)."""
    return _remedy_label is not None


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
