"""The lists behind the dashboard's figures: /supervisor/tickets/?kpi=... and
/supervisor/shipments/?kpi=... with the dashboard's period and filters.

Each list (`Drilldown`) is a queryset of the rows that make a figure (the breached timers, the
escalated tickets, the negative answers, the shipments contacted later than 24 h, ...) with its
columns; every row links to its console ticket page or shipment page. A page is PAGE_SIZE rows
read with LIMIT/OFFSET plus one (whether there is a next page), without counting the whole
list: the figure on the dashboard is the count. `?format=csv` streams every row.

The definitions are the dashboard's (supervisor.kpis): the same periods, filters and rules.
Pages and exports are read on `core.db.reports_db()`: the reports replica when one is
configured (REPORTS_DATABASE_URL), which lags the primary by its replication delay (usually under
a second; a case changed in those last seconds shows as it was).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import operator
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import FieldDoesNotExist
from django.db import connections
from django.db.models import (
    BooleanField,
    DateTimeField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Least
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET
from psycopg.pq import Format

from compensation.models import CompensationOffer, OfferStatus
from compensation.money import format_money
from core.db import reports_db
from core.inputs import parse_page
from core.models import DelayCause
from shipments.models import Shipment
from supervisor import kpis
from supervisor.export import csv_response, wants_csv
from supervisor.scope import Scope, scope_from
from supervisor.selectors import window
from tickets.models import (
    CLOSED_STATUSES,
    SatisfactionSurvey,
    SLATimer,
    Ticket,
    TimerKind,
    TimerStatus,
)

PAGE_SIZE = 50
CSV_CHUNK = 2000


# --- cells and columns -------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column: its header and how a row's cell reads. `kind` says how the page shows it:
    text, datetime (the reader's zone), number, or badge (a yes/no kind of word)."""

    label: Any
    value: Callable[[Any], Any]
    kind: str = "text"
    numeric: bool = False
    # The CSV reads the cell from the database (values_list) rather than from model objects,
    # about fifteen times faster a row: `csv` names the lookups it needs (from the list's model,
    # or its annotations) and `csv_cell` makes the cell from their values, in that order
    # (without one: the single value, a field's choice as its label). `csv_texts` turns what
    # csv_cell returns into words, translated once per export rather than once per row. A
    # list with a column that has no `csv` is exported from model objects, through `value`.
    csv: str | tuple[str, ...] = ()
    csv_cell: Callable[..., Any] | None = None
    csv_texts: dict[Any, Any] | None = field(default=None, hash=False)


@dataclass(frozen=True)
class Row:
    link: str
    cells: list[tuple[Column, Any]]


def csv_value(column: Column, value: Any, zone: dt.tzinfo | None = None) -> Any:
    """The CSV cell of a page's value: a moment in the reader's zone (`zone`: read while the
    request's zone is active; a streamed export is written after the view returned)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return timezone.localtime(value, zone).isoformat(timespec="minutes")
    return value


def ticket_cell(pk: int, subject: str) -> str:
    """ticket_text() of a ticket read as values (the CSV)."""
    return f"#{pk} {subject}"


def person_cell(first_name: str | None, username: str | None) -> str:
    """person() of a user read as values (the CSV); no user: both None (an outer join)."""
    if username is None:
        return ""
    return first_name or username


def offer_cause_cell(shipment_id: int | None, delay_cause: str | None, cause: str | None) -> str:
    """offer_cause() of an offer's shipment read as values (the CSV): the cause's value, which
    the column's csv_texts (the causes) write as its label."""
    if shipment_id is None:
        return ""
    return delay_cause if delay_cause != "none" else cause


CONTACT_STATE_TEXTS = {
    "within": _("Within 24 h"),
    "late": _("Late"),
    "none": _("Not contacted"),
    "waiting": _("Waiting (under 24 h)"),
}


def contact_hours_cell(first_out, detected_at) -> float | None:
    """contact_hours() of a shipment read as values (the CSV)."""
    if first_out is None:
        return None
    return round((first_out - detected_at).total_seconds() / 3600, 1)


def contact_state_cell(first_out, detected_at, day_passed) -> str:
    """contact_state() of a shipment read as values (the CSV), as a key of CONTACT_STATE_TEXTS."""
    if first_out is not None:
        return "within" if first_out - detected_at < kpis.DAY else "late"
    return "none" if day_passed else "waiting"


def _field_at(model, lookup: str):
    """The model field a values_list lookup ends on, or None (an annotation)."""
    found = None
    for name in lookup.split("__"):
        if model is None:
            return None
        try:
            found = model._meta.pk if name == "pk" else model._meta.get_field(name)
        except FieldDoesNotExist:
            return None
        model = found.related_model
    return found


def _csv_reader(column: Column, model, position: dict[str, int], zone) -> Callable[[tuple], Any]:
    """How one column's cell is made from a row of values_list (see Column.csv), written as
    csv_value writes the page's value: moments in `zone`, words in the request's language
    (translated here, once: gettext per row cost about a fifth of the export's time)."""
    lookups = (column.csv,) if isinstance(column.csv, str) else column.csv
    at = [position[lookup] for lookup in lookups]
    fmt = column.csv_cell
    texts = column.csv_texts
    model_field = _field_at(model, lookups[0]) if len(lookups) == 1 else None
    if fmt is None and texts is None and model_field is not None and model_field.choices:
        texts = dict(model_field.flatchoices)
    read: Callable[[tuple], Any]
    if fmt is None:
        (i,) = at  # several lookups need a csv_cell to make one cell of them
        read = operator.itemgetter(i)
    elif len(at) == 1:
        (i,) = at

        def read(values):
            return fmt(values[i])
    else:
        pick = operator.itemgetter(*at)

        def read(values):
            return fmt(*pick(values))

    if texts is not None:
        labels = {key: str(text) for key, text in texts.items()}
        value_of = read

        def read(values):
            value = value_of(values)
            return labels.get(value, value)

    if column.kind != "datetime" and not isinstance(model_field, DateTimeField):
        return read
    moment_of = read

    def read(values):
        value = moment_of(values)
        if value is None:
            return None
        return value.astimezone(zone).isoformat(timespec="minutes")

    return read


def _csv_link(link: Callable[[Any], str], model) -> tuple[str, str] | None:
    """A list's link (Drilldown.link) as a URL name and the lookup of the public id it takes,
    or None for a link the CSV does not know (the list is then exported from objects)."""
    if link is shipment_url:
        return "shipments:shipment_detail", "public_id"
    if link is _ticket_of:
        return "tickets:ticket_detail", "public_id" if model is Ticket else "ticket__public_id"
    return None


def _csv_values(
    queryset: QuerySet,
    columns: list[Column],
    link: Callable[[Any], str],
    *,
    zone: dt.tzinfo,
    absolute: Callable[[str], str],
) -> Iterator[list] | None:
    """The list's CSV rows read with values_list, or None when a column has no `csv` source.

    Model objects cost about 250 µs of CPU a row with their joins, links and cells (1,700-1,900
    rows a second through gunicorn: a 165,000-row export ran past its 30 s worker timeout);
    tuples of only the exported columns, cells made by readers prepared once and the link from
    one reverse() with the row's id put in, 12-16 µs.
    """
    target = _csv_link(link, queryset.model)
    if target is None or not all(c.csv for c in columns):
        return None
    url_name, id_lookup = target
    lookups: list[str] = []
    for column in columns:
        for lookup in (column.csv,) if isinstance(column.csv, str) else column.csv:
            if lookup not in lookups:
                lookups.append(lookup)
    if id_lookup not in lookups:
        lookups.append(id_lookup)
    position = {lookup: i for i, lookup in enumerate(lookups)}
    readers = [_csv_reader(c, queryset.model, position, zone) for c in columns]
    placeholder = str(uuid.UUID(int=0))
    before, after = absolute(reverse(url_name, args=[placeholder])).split(placeholder)
    link_at = position[id_lookup]

    def rows() -> Iterator[list]:
        found = queryset.values_list(*lookups).iterator(chunk_size=CSV_CHUNK)
        with _planned_for_every_row(queryset.db), _moments_from_iso(queryset.db):
            first = next(found, None)  # the cursor is made, and its query planned and run
        if first is None:
            return
        for values in itertools.chain((first,), found):
            row = [read(values) for read in readers]
            row.append(f"{before}{values[link_at]}{after}")
            yield row

    return rows()


@contextlib.contextmanager
def _planned_for_every_row(using: str) -> Iterator[None]:
    """PostgreSQL plans a cursor's query to return its first tenth of rows soon
    (cursor_tuple_fraction): an index walk with a lookup per row. Outside a transaction (a
    request) Django's cursor is WITH HOLD, which PostgreSQL computes whole before the first row,
    so that plan only costs: the plan for all rows (hash joins) takes half the time, 2.4 ->
    1.1 s for the 165,000 delayed shipments of 90 days. Set for the DECLARE only, then reset.
    In a transaction the cursor streams, and its first rows come soonest as planned."""
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET cursor_tuple_fraction = 1")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET cursor_tuple_fraction")


@functools.cache
def _iso_loader(django_loader: type) -> type:
    """Django's timestamptz loader (the moment put in the connection's zone), parsing with
    datetime.fromisoformat (C) rather than psycopg's Python parser with a regular expression:
    about 5 µs a moment, a third of an export's Python time."""

    class IsoTimestamptzLoader(django_loader):  # type: ignore[misc, valid-type]
        def load(self, data):
            try:
                moment = dt.datetime.fromisoformat(str(data, "ascii"))
            except ValueError:  # not ISO (another DateStyle, infinity, BC): psycopg's rules
                return super().load(data)
            if moment.tzinfo is self.timezone:  # UTC, the usual case: nothing to replace
                return moment
            return moment.replace(tzinfo=self.timezone)

    return IsoTimestamptzLoader


@contextlib.contextmanager
def _moments_from_iso(using: str) -> Iterator[None]:
    """The export's cursor reads moments with _iso_loader. A psycopg cursor copies its
    connection's loaders when it is made, so they are swapped on the connection only while
    the export's cursor is made, and put back at once."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        connection.ensure_connection()
    adapters = getattr(connection.connection, "adapters", None)  # psycopg 3's, not psycopg2's
    if adapters is None:
        yield
        return
    oid = adapters.types["timestamptz"].oid
    django_loader = adapters.get_loader(oid, Format.TEXT)
    adapters.register_loader(oid, _iso_loader(django_loader))
    try:
        yield
    finally:
        adapters.register_loader(oid, django_loader)


# --- the lists ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drilldown:
    name: str
    area: str  # tickets | shipments
    title: Any
    description: Any
    rows: Callable[[Scope, dt.datetime], QuerySet]
    columns: list[Column]
    empty: Any = _("Nothing in this list for the period and filters.")
    link: Callable[[Any], str] = field(default=lambda row: "")

    def page(
        self, scope: Scope, *, now: dt.datetime, number: int, narrow: Q | None = None
    ) -> tuple[list[Row], bool]:
        """Rows of page `number` (from 1) and whether another page follows; `narrow`: only
        those rows (a cause or hub, from the root causes' links)."""
        offset = (number - 1) * PAGE_SIZE
        rows = self.rows(scope, now).using(reports_db()).filter(narrow or Q())
        # The page's ids first, then their joined rows (selectors.window).
        found = window(rows, offset, offset + PAGE_SIZE + 1)
        shown = self.shown()
        return [self.row(item, shown) for item in found[:PAGE_SIZE]], len(found) > PAGE_SIZE

    def shown(self) -> list[Column]:
        """The page's columns with their labels translated once: the page repeats a column's
        label in every cell (for narrow screens), and a lazy label is translated again each
        time it is read (about 400 lookups a page)."""
        return [replace(c, label=str(c.label)) for c in self.columns if c.kind != "hidden"]

    def row(self, item, shown: list[Column] | None = None) -> Row:
        shown = self.shown() if shown is None else shown
        return Row(link=self.link(item), cells=[(c, c.value(item)) for c in shown])

    def csv_rows(
        self,
        scope: Scope,
        *,
        now: dt.datetime,
        narrow: Q | None = None,
        absolute: Callable[[str], str] = str,
    ) -> Iterator[list]:
        """Every row's cells (hidden columns too) and its link made absolute by `absolute`.
        Not a generator: the reader's time zone and language are read here, in the request;
        the rows are written while the response streams, after the middleware let go of them."""
        queryset = self.rows(scope, now).using(reports_db()).filter(narrow or Q())
        zone = timezone.get_current_timezone()
        values = _csv_values(queryset, self.columns, self.link, zone=zone, absolute=absolute)
        if values is not None:
            return values

        def objects() -> Iterator[list]:
            for item in queryset.iterator(chunk_size=CSV_CHUNK):
                link = self.link(item)
                yield [csv_value(c, c.value(item), zone) for c in self.columns] + [
                    absolute(link) if link else ""
                ]

        return objects()


def ticket_url(ticket: Ticket) -> str:
    return reverse("tickets:ticket_detail", args=[ticket.public_id])


def shipment_url(shipment: Shipment) -> str:
    return reverse("shipments:shipment_detail", args=[shipment.public_id])


def ticket_text(ticket: Ticket) -> str:
    return f"#{ticket.pk} {ticket.subject}"


def person(user) -> str:
    if user is None:
        return ""
    return user.first_name or user.get_username()


def display(model, name: str) -> Callable[[Any], str]:
    """A row's get_<name>_display(), as a page's cell: the label looked up in the choices read
    once. Django's own method rebuilds the choices on every call and translates each of their
    labels to do it (7 translations for a ticket's status, in every row of every page)."""
    labels = dict(model._meta.get_field(name).flatchoices)

    def label(item) -> str:
        value = getattr(item, name)
        return str(labels.get(value, value))

    return label


ticket_status = display(Ticket, "status")
timer_kind = display(SLATimer, "kind")
survey_reason = display(SatisfactionSurvey, "reason")
remedy_kind = display(CompensationOffer, "kind")
delay_level = display(Shipment, "delay_level")
delay_cause = display(Shipment, "delay_cause")
carrier_cause = display(Shipment, "cause")


# Columns shared by the lists of tickets (the row reaches its ticket through `get`; the CSV
# through the lookups under `path`).
def ticket_columns(get: Callable[[Any], Ticket], path: str = "ticket__") -> list[Column]:
    return [
        Column(
            _("Ticket"),
            lambda r: ticket_text(get(r)),
            csv=(f"{path}pk", f"{path}subject"),
            csv_cell=ticket_cell,
        ),
        Column(_("Customer"), lambda r: get(r).customer.name, csv=f"{path}customer__name"),
        Column(_("Status"), lambda r: ticket_status(get(r)), csv=f"{path}status"),
        Column(
            _("Assignee"),
            lambda r: person(get(r).assignee),
            csv=(f"{path}assignee__first_name", f"{path}assignee__username"),
            csv_cell=person_cell,
        ),
    ]


TICKET_JOINS = ("ticket", "ticket__customer", "ticket__assignee")


def ticket_fields(path: str = "ticket__") -> tuple[str, ...]:
    """What ticket_columns() and the row's link read of the ticket under `path`: the lists load
    only these (`only()`), not the 30 fields of a ticket and 25 of a customer for every row."""
    names = ("public_id", "subject", "status", "customer__name")
    return (
        *(f"{path}{name}" for name in names),
        f"{path}assignee__first_name",
        f"{path}assignee__username",
    )


TIMER_FIELDS = ("kind", "due_at", "breached_at", *ticket_fields())


# --- tickets: SLA ------------------------------------------------------------------------------


def breached_in_period(kind: str):
    def rows(scope: Scope, now: dt.datetime) -> QuerySet:
        return (
            SLATimer.objects.filter(
                scope.ticket_q("ticket__"),
                scope.in_period("breached_at"),
                kind=kind,
                status=TimerStatus.BREACHED,
            )
            .select_related(*TICKET_JOINS)
            .only(*TIMER_FIELDS)
            .order_by("-breached_at", "-pk")
        )

    return rows


def breached_now(scope: Scope, now: dt.datetime) -> QuerySet:
    """Breached and overdue timers of open tickets (the dashboard's figure, kpis.sla_stats):
    the open tickets checked by their ids (kpis.open_tickets), not ticket by ticket, since
    nearly every breached timer belongs to a ticket solved long ago."""
    return (
        SLATimer.objects.filter(
            scope.ticket_q("ticket__"),
            kpis.past_due_q(now),
            kind__in=kpis.SLA_KINDS,
            ticket__in=kpis.open_tickets(),
        )
        .select_related(*TICKET_JOINS)
        .only(*TIMER_FIELDS)
        .order_by("due_at", "pk")
    )


def due_soon(scope: Scope, now: dt.datetime) -> QuerySet:
    return (
        SLATimer.objects.filter(
            scope.ticket_q("ticket__"),
            kind__in=kpis.SLA_KINDS,
            status=TimerStatus.ACTIVE,
            due_at__gte=now,
            due_at__lt=now + kpis.SOON,
        )
        .exclude(ticket__status__in=CLOSED_STATUSES)
        .select_related(*TICKET_JOINS)
        .only(*TIMER_FIELDS)
        .order_by("due_at", "pk")
    )


TIMER_COLUMNS = [
    *ticket_columns(lambda t: t.ticket),
    Column(_("Timer"), timer_kind, csv="kind"),
    Column(_("Due"), lambda t: t.due_at, "datetime", csv="due_at"),
    Column(_("Breached at"), lambda t: t.breached_at, "datetime", csv="breached_at"),
]


# --- tickets: surveys --------------------------------------------------------------------------


def affected_surveys(scope: Scope) -> QuerySet:
    return (
        SatisfactionSurvey.objects.filter(scope.ticket_q("ticket__"))
        .filter(kpis.delayed_shipment_q("ticket__shipment__"))
        .select_related("ticket", "ticket__customer", "agent")
        .only(
            "rating",
            "reason",
            "comment",
            "sent_at",
            "answered_at",
            "ticket__public_id",
            "ticket__subject",
            "ticket__customer__name",
            "agent__first_name",
            "agent__username",
        )
    )


def answered(scope: Scope, now: dt.datetime) -> QuerySet:
    return (
        affected_surveys(scope)
        .filter(scope.in_period("answered_at"), rating__isnull=False)
        .order_by("-answered_at", "-pk")
    )


def negative(scope: Scope, now: dt.datetime) -> QuerySet:
    return answered(scope, now).filter(rating__lte=2)


def sent(scope: Scope, now: dt.datetime) -> QuerySet:
    return affected_surveys(scope).filter(scope.in_period("sent_at")).order_by("-sent_at", "-pk")


SURVEY_COLUMNS = [
    Column(
        _("Ticket"),
        lambda s: ticket_text(s.ticket),
        csv=("ticket__pk", "ticket__subject"),
        csv_cell=ticket_cell,
    ),
    Column(_("Customer"), lambda s: s.ticket.customer.name, csv="ticket__customer__name"),
    Column(_("Rating"), lambda s: s.rating, "number", numeric=True, csv="rating"),
    Column(_("Reason"), survey_reason, csv="reason"),
    Column(_("Comment"), lambda s: s.comment, csv="comment"),
    Column(
        _("Agent"),
        lambda s: person(s.agent),
        csv=("agent__first_name", "agent__username"),
        csv_cell=person_cell,
    ),
    Column(_("Sent"), lambda s: s.sent_at, "datetime", csv="sent_at"),
    Column(_("Answered"), lambda s: s.answered_at, "datetime", csv="answered_at"),
]


# --- tickets: escalations and compensation -----------------------------------------------------


def escalated(scope: Scope, now: dt.datetime) -> QuerySet:
    return (
        Ticket.objects.filter(
            scope.ticket_q(),
            scope.in_period("solved_at"),
            status__in=CLOSED_STATUSES,
            is_escalated=True,
        )
        .select_related("customer", "assignee", "team")
        .only(*ticket_fields(""), "escalated_at", "solved_at", "team__name")
        .order_by("-solved_at", "-pk")
    )


ESCALATED_COLUMNS = [
    *ticket_columns(lambda t: t, path=""),
    Column(_("Team"), lambda t: t.team.name if t.team_id else "", csv="team__name"),
    Column(_("Escalated at"), lambda t: t.escalated_at, "datetime", csv="escalated_at"),
    Column(_("Solved at"), lambda t: t.solved_at, "datetime", csv="solved_at"),
]


def issued_offers(scope: Scope, now: dt.datetime) -> QuerySet:
    return (
        CompensationOffer.objects.filter(
            scope.ticket_q("ticket__"), scope.in_period("issued_at"), status=OfferStatus.ISSUED
        )
        .select_related(
            "ticket",
            "ticket__customer",
            "ticket__shipment",
            "ticket__shipment__carrier",
            "incident",
        )
        .only(
            "kind",
            "amount",
            "currency",
            "issued_at",
            "incident__title",
            "ticket__public_id",
            "ticket__subject",
            "ticket__customer__name",
            "ticket__shipment__delay_cause",
            "ticket__shipment__cause",
            "ticket__shipment__carrier__name",
        )
        .order_by("-issued_at", "-pk")
    )


def offer_cause(offer: CompensationOffer) -> str:
    shipment = offer.ticket.shipment
    if shipment is None:
        return ""
    if shipment.delay_cause != "none":
        return delay_cause(shipment)
    return carrier_cause(shipment)


OFFER_COLUMNS = [
    Column(
        _("Ticket"),
        lambda o: ticket_text(o.ticket),
        csv=("ticket__pk", "ticket__subject"),
        csv_cell=ticket_cell,
    ),
    Column(_("Customer"), lambda o: o.ticket.customer.name, csv="ticket__customer__name"),
    Column(_("Remedy"), remedy_kind, csv="kind"),
    Column(
        _("Value"),
        lambda o: format_money(o.amount, o.currency) if o.amount is not None else "",
        numeric=True,
        csv=("amount", "currency"),
        csv_cell=lambda amount, currency: (
            format_money(amount, currency) if amount is not None else ""
        ),
    ),
    Column(_("Amount"), lambda o: o.amount, "hidden", csv="amount"),
    Column(
        _("Currency"),
        lambda o: o.currency if o.amount is not None else "",
        "hidden",
        csv=("amount", "currency"),
        csv_cell=lambda amount, currency: currency if amount is not None else "",
    ),
    Column(
        _("Cause"),
        offer_cause,
        csv=("ticket__shipment", "ticket__shipment__delay_cause", "ticket__shipment__cause"),
        csv_cell=offer_cause_cell,
        csv_texts=dict(DelayCause.choices),
    ),
    Column(
        _("Carrier"),
        lambda o: o.ticket.shipment.carrier.name if o.ticket.shipment_id else "",
        csv="ticket__shipment__carrier__name",
    ),
    Column(
        _("Incident"),
        lambda o: o.incident.title if o.incident_id else "",
        csv="incident__title",
    ),
    Column(_("Issued at"), lambda o: o.issued_at, "datetime", csv="issued_at"),
]


# --- shipments: first contact, proactive share, repurchase -----------------------------------


def _first(qs: QuerySet, field_name: str) -> Subquery:
    return Subquery(qs.order_by(field_name).values(field_name)[:1])


def _earliest(a, b):
    """The earlier of two nullable moments (NULL only when both are): Least of Coalesces, as
    SQLite's MIN(a, b) is NULL when either is."""
    return Least(Coalesce(a, b), Coalesce(b, a))


def with_contacts(qs: QuerySet, *, now: dt.datetime) -> QuerySet:
    """Shipments with `first_out` (first notice sent or public reply at or after detection)
    and `first_in` (the customer's first message or self-opened ticket), as supervisor.kpis
    defines them, read from the rollup (supervisor.rollup) like the dashboard's figures."""
    return qs.annotate(
        first_out=F("kpi_outcome__first_contact_at"),
        first_in=F("kpi_outcome__first_inbound_at"),
        day_passed=ExpressionWrapper(
            Q(kpi_outcome__delay_detected_at__lte=now - kpis.DAY), output_field=BooleanField()
        ),
    )


def affected_shipments(scope: Scope) -> QuerySet:
    """The shipments delayed in the period, as of the rollup's last refresh (the figures')."""
    return (
        scope.shipments(Shipment.objects.all())
        .filter(scope.in_period("kpi_outcome__delay_detected_at"))
        .select_related("customer", "carrier")
        .only(
            "public_id",
            "tracking_number",
            "order_number",
            "delay_level",
            "delay_detected_at",
            "carrier__code",
            "customer__name",
        )
        .order_by("-kpi_outcome__delay_detected_at", "-pk")
    )


def first_contact(scope: Scope, now: dt.datetime) -> QuerySet:
    return with_contacts(affected_shipments(scope), now=now)


def first_contact_late(scope: Scope, now: dt.datetime) -> QuerySet:
    """Measured and not contacted within 24 h: 24 h have passed without a contact in them."""
    deadline = ExpressionWrapper(
        F("kpi_outcome__delay_detected_at") + Value(kpis.DAY), DateTimeField()
    )
    return first_contact(scope, now).filter(
        Q(kpi_outcome__first_contact_at__isnull=True)
        | Q(kpi_outcome__first_contact_at__gte=deadline),
        kpi_outcome__delay_detected_at__lte=now - kpis.DAY,
    )


def reactive(scope: Scope, now: dt.datetime) -> QuerySet:
    """Not proactive: the customer reached us first (or at the same moment), or 24 h passed and
    neither side has written."""
    return first_contact(scope, now).filter(
        Q(first_in__isnull=False) & (Q(first_out__isnull=True) | Q(first_out__gte=F("first_in")))
        | Q(
            first_in__isnull=True,
            first_out__isnull=True,
            kpi_outcome__delay_detected_at__lte=now - kpis.DAY,
        )
    )


def repurchase(scope: Scope, now: dt.datetime) -> QuerySet:
    return affected_shipments(scope).annotate(next_order_at=F("kpi_outcome__next_order_at"))


def contact_hours(shipment) -> float | None:
    if shipment.first_out is None:
        return None
    return round((shipment.first_out - shipment.delay_detected_at).total_seconds() / 3600, 1)


def contact_state(shipment) -> str:
    if shipment.first_out is not None:
        if shipment.first_out - shipment.delay_detected_at < kpis.DAY:
            return str(_("Within 24 h"))
        return str(_("Late"))
    if shipment.day_passed:
        return str(_("Not contacted"))
    return str(_("Waiting (under 24 h)"))


SHIPMENT_COLUMNS = [
    Column(
        _("Shipment"),
        lambda s: f"{s.carrier.code} {s.tracking_number}",
        csv=("carrier__code", "tracking_number"),
        csv_cell=lambda code, tracking_number: f"{code} {tracking_number}",
    ),
    Column(_("Order"), lambda s: s.order_number, csv="order_number"),
    Column(_("Customer"), lambda s: s.customer.name, csv="customer__name"),
    Column(_("Delay"), delay_level, csv="delay_level"),
    Column(_("Detected"), lambda s: s.delay_detected_at, "datetime", csv="delay_detected_at"),
]

CONTACT_COLUMNS = [
    *SHIPMENT_COLUMNS,
    Column(_("First contact"), lambda s: s.first_out, "datetime", csv="first_out"),
    Column(
        _("Hours to contact"),
        contact_hours,
        "number",
        numeric=True,
        csv=("first_out", "delay_detected_at"),
        csv_cell=contact_hours_cell,
    ),
    Column(_("Customer wrote"), lambda s: s.first_in, "datetime", csv="first_in"),
    Column(
        _("Result"),
        contact_state,
        "badge",
        csv=("first_out", "delay_detected_at", "day_passed"),
        csv_cell=contact_state_cell,
        csv_texts=CONTACT_STATE_TEXTS,
    ),
]

REPURCHASE_COLUMNS = [
    *SHIPMENT_COLUMNS,
    Column(
        _("Ordered again within 30 days"),
        lambda s: str(_("Yes")) if s.next_order_at else str(_("No")),
        "badge",
        csv="next_order_at",
        csv_cell=bool,
        csv_texts={True: _("Yes"), False: _("No")},
    ),
    Column(_("Next order"), lambda s: s.next_order_at, "datetime", csv="next_order_at"),
]


# --- the registry ------------------------------------------------------------------------------


def _ticket_of(row) -> str:
    return ticket_url(row if isinstance(row, Ticket) else row.ticket)


DRILLDOWNS: dict[str, Drilldown] = {
    d.name: d
    for d in [
        Drilldown(
            "sla_first_response",
            "tickets",
            _("First response: SLA breached"),
            _("First-response timers that breached in the period."),
            breached_in_period(TimerKind.FIRST_RESPONSE),
            TIMER_COLUMNS,
            link=_ticket_of,
        ),
        Drilldown(
            "sla_resolution",
            "tickets",
            _("Resolution: SLA breached"),
            _("Resolution timers that breached in the period."),
            breached_in_period(TimerKind.RESOLUTION),
            TIMER_COLUMNS,
            link=_ticket_of,
        ),
        Drilldown(
            "sla_breached_now",
            "tickets",
            _("Breaching now"),
            _("Open tickets whose first-response or resolution clock has run out."),
            breached_now,
            TIMER_COLUMNS,
            empty=_("No open ticket is past its SLA."),
            link=_ticket_of,
        ),
        Drilldown(
            "sla_due_soon",
            "tickets",
            _("Due within the hour"),
            _("Open tickets whose first-response or resolution clock runs out within the hour."),
            due_soon,
            TIMER_COLUMNS,
            empty=_("No SLA clock runs out within the hour."),
            link=_ticket_of,
        ),
        Drilldown(
            "csat",
            "tickets",
            _("Ratings of affected customers"),
            _("Answers given in the period on tickets whose shipment was delayed."),
            answered,
            SURVEY_COLUMNS,
            link=_ticket_of,
        ),
        Drilldown(
            "csat_sent",
            "tickets",
            _("Surveys sent to affected customers"),
            _("Surveys sent in the period, answered or not."),
            sent,
            SURVEY_COLUMNS,
            link=_ticket_of,
        ),
        Drilldown(
            "negative",
            "tickets",
            _("Negative answers"),
            _("Answers of 1 or 2 given in the period by affected customers."),
            negative,
            SURVEY_COLUMNS,
            empty=_("No affected customer answered 1 or 2 in the period."),
            link=_ticket_of,
        ),
        Drilldown(
            "escalated",
            "tickets",
            _("Escalated tickets"),
            _("Tickets solved in the period that were escalated."),
            escalated,
            ESCALATED_COLUMNS,
            empty=_("No ticket solved in the period was escalated."),
            link=_ticket_of,
        ),
        Drilldown(
            "compensation",
            "tickets",
            _("Compensation issued"),
            _("Remedies issued in the period."),
            issued_offers,
            OFFER_COLUMNS,
            link=_ticket_of,
        ),
        Drilldown(
            "first_contact",
            "shipments",
            _("Delayed shipments and their first contact"),
            _("Shipments whose delay was detected in the period, newest first."),
            first_contact,
            CONTACT_COLUMNS,
            link=shipment_url,
        ),
        Drilldown(
            "first_contact_late",
            "shipments",
            _("Contacted later than 24 h, or not at all"),
            _("Delayed shipments whose customer heard nothing in the 24 h after detection."),
            first_contact_late,
            CONTACT_COLUMNS,
            empty=_("Every customer was contacted within 24 h."),
            link=shipment_url,
        ),
        Drilldown(
            "reactive",
            "shipments",
            _("Customers who asked first"),
            _(
                "Delayed shipments whose customer wrote (or opened a ticket) before hearing "
                "from us, or heard nothing at all."
            ),
            reactive,
            CONTACT_COLUMNS,
            empty=_("Every customer heard from us first."),
            link=shipment_url,
        ),
        Drilldown(
            "repurchase",
            "shipments",
            _("Affected customers: ordered again?"),
            _(
                "Shipments delayed in the period and whether the customer ordered again "
                "within 30 days."
            ),
            repurchase,
            REPURCHASE_COLUMNS,
            link=shipment_url,
        ),
    ]
}


def lists_of(area: str) -> list[Drilldown]:
    return [d for d in DRILLDOWNS.values() if d.area == area]


# --- views ---------------------------------------------------------------------------------------


def _drilldown_view(request: HttpRequest, area: str) -> HttpResponse:
    now = timezone.now()
    scope, form = scope_from(request.GET, now=now)
    name = request.GET.get("kpi", "")
    if not name:
        return render(
            request,
            f"supervisor/drilldown_{area}.html",
            {"drilldown": None, "lists": lists_of(area), "scope": scope, "form": form},
        )
    drilldown = DRILLDOWNS.get(name)
    if drilldown is None or drilldown.area != area:
        raise Http404("No such list.")
    narrow, narrow_params, narrow_labels = _narrowing(request, area)
    if wants_csv(request):
        header = [str(c.label) for c in drilldown.columns] + [str(_("Link"))]
        rows = drilldown.csv_rows(
            scope, now=now, narrow=narrow, absolute=request.build_absolute_uri
        )
        return csv_response(f"{area}-{drilldown.name}", header, rows)
    number = parse_page(request.GET.get("page"))
    rows, more = drilldown.page(scope, now=now, number=number, narrow=narrow)
    columns = [c for c in drilldown.columns if c.kind != "hidden"]
    return render(
        request,
        f"supervisor/drilldown_{area}.html",
        {
            "drilldown": drilldown,
            "columns": columns,
            "rows": rows,
            "scope": scope,
            "form": form,
            "page": number,
            "previous_query": scope.query(
                kpi=name, page=number - 1 if number > 2 else None, **narrow_params
            )
            if number > 1
            else "",
            "next_query": scope.query(kpi=name, page=number + 1, **narrow_params) if more else "",
            "csv_query": scope.query(kpi=name, format="csv", **narrow_params),
            "narrowed": narrow_labels,
            "dashboard_query": scope.query(),
            "now": now,
        },
    )


# A hub name as the root causes page writes it (Shipment.last_location, Incident.hub).
HUB_MAX_LENGTH = 200


def _narrowing(request: HttpRequest, area: str) -> tuple[Q | None, dict, list[str]]:
    """`cause` and `hub` of a shipments list (the root causes page's rows link with them):
    the condition, the parameters to keep in the list's links, and what they say. A value
    that is not a cause, or not a hub name, narrows nothing."""
    if area != "shipments":
        return None, {}, []
    q, params, labels = Q(), {}, []
    cause = request.GET.get("cause", "")
    causes = dict(DelayCause.choices)
    if cause in causes:
        q &= Q(delay_cause=cause)
        params["cause"] = cause
        labels.append(str(_("cause: %(cause)s") % {"cause": causes[cause]}))
    hub = request.GET.get("hub", "").strip()
    if hub and len(hub) <= HUB_MAX_LENGTH:
        # The root causes' hub: the incident's hub when it names one, else the last location.
        q &= Q(incident__hub=hub) | (
            (Q(incident__isnull=True) | Q(incident__hub="")) & Q(last_location=hub)
        )
        params["hub"] = hub
        labels.append(str(_("hub: %(hub)s") % {"hub": hub}))
    return (q if params else None), params, labels


@require_GET
@login_required
@permission_required("tickets.supervise", raise_exception=True)
def drilldown_tickets(request: HttpRequest) -> HttpResponse:
    return _drilldown_view(request, "tickets")


@require_GET
@login_required
@permission_required("tickets.supervise", raise_exception=True)
def drilldown_shipments(request: HttpRequest) -> HttpResponse:
    return _drilldown_view(request, "shipments")
