"""Who may see which case page: the page session a link opened.

Opening a link (or finding the case with the lookup form) puts the ticket into the browser's
session, next to the link row it was opened with (`grant`), and the browser goes on to the
case's own URL, without the token. Each page then reads that link with its ticket in one query
(`case_link`): revoked (by an agent) or the ticket closed longer than PROGRESS_LINK_TTL_DAYS,
and the page is gone. A link retired by a newer one does not end a session it already opened:
the session is the credential from then on.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import DateTimeField, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.query import get_related_populators
from django.http import HttpRequest

from compensation.models import CompensationOffer
from portal.links import ticket_reachable
from portal.models import ProgressLink
from shipments.models import Shipment, TrackingEvent
from tickets.models import (
    Message,
    SatisfactionSurvey,
    SLATimer,
    Ticket,
    TicketEvent,
    TimerKind,
    TimerStatus,
)

SESSION_KEY = "portal_cases"
# A browser keeps at most this many cases open (a customer with several parcels late).
MAX_CASES = 10

# Loaded with the case's link for every page: what the page shows of the ticket, its
# customer, shipment, carrier, lane, incident and agent. Nothing else is read.
CASE_RELATED = (
    "ticket__customer",
    "ticket__shipment__carrier",
    "ticket__shipment__lane",
    "ticket__incident",
    "ticket__assignee",
)
# The page's own query (`case_link(..., page=True)`) joins only the ticket, its customer and
# its shipment, with only the columns the page reads (portal.selectors,
# templates/portal/case.html, the preferences form), and reads the one or two values it shows
# of the agent, the incident, the carrier and the lane by a scalar subquery each
# (PAGE_LOOKUPS): PostgreSQL took about 3.5 ms to plan the join of eight relations (of four:
# 0.4 ms), several times what the query then takes to run, and the whole rows cost the ORM
# about 2 ms more to build; the query went from about 9.5 to 3.5 ms (bench/bench_portal.py).
# A column the page reads that is not listed costs one query more, which the page's query
# count test catches. Actions load whole rows: the services they call save and read them.
PAGE_RELATED = ("ticket__customer", "ticket__shipment")
# (the model that holds the foreign key, the key, the columns of its row the page reads).
PAGE_LOOKUPS = (
    (Ticket, "assignee", ("first_name",)),
    (Ticket, "incident", ("public_explanation", "public_explanation_zh_hans")),
    (Shipment, "carrier", ("name",)),
    (Shipment, "lane", ("delivered_count",)),
)
PAGE_COLUMNS = (
    "ticket_id",
    "ticket__public_id",
    "ticket__subject",
    "ticket__status",
    "ticket__solved_at",
    "ticket__closed_at",
    "ticket__customer_id",
    "ticket__shipment_id",
    "ticket__incident_id",
    "ticket__assignee_id",
    "ticket__customer__language",
    "ticket__customer__time_zone",
    "ticket__customer__preferred_channel",
    "ticket__customer__opt_out_email",
    "ticket__customer__opt_out_sms",
    "ticket__customer__opt_out_push",
    "ticket__customer__quiet_hours_start",
    "ticket__customer__quiet_hours_end",
    "ticket__shipment__carrier_id",
    "ticket__shipment__lane_id",
    "ticket__shipment__tracking_number",
    "ticket__shipment__order_number",
    "ticket__shipment__status",
    "ticket__shipment__promised_at",
    "ticket__shipment__carrier_eta",
    "ticket__shipment__predicted_eta",
    "ticket__shipment__late_eta",
    "ticket__shipment__delivered_at",
    "ticket__shipment__last_event_at",
    "ticket__shipment__delay_level",
)


# What else the page reads, summed up in the same query by a scalar subquery each: the newest
# row of each of the case's lists (the page's cache key, portal.page_cache: a new event,
# message, remedy, survey answer or scan changes the key, so a cached page is never older than
# its case) and the next clock we keep to the customer (read here instead of by a query of its
# own). Each reads the case's few rows through an index on the ticket or the shipment.
REPLY_KINDS = (TimerKind.FIRST_RESPONSE, TimerKind.NEXT_RESPONSE)


def _stamps() -> dict[str, RawSQL]:
    quote = connection.ops.quote_name
    ticket = f"{quote(Ticket._meta.db_table)}.{quote('id')}"
    shipment = f"{quote(Shipment._meta.db_table)}.{quote('id')}"

    def table(model) -> str:
        return quote(model._meta.db_table)

    def changed(model, key: str, owner: str, *, versions: bool = False) -> str:
        # How many rows and when the last one changed, as one text: both move on any insert,
        # delete or save of the list; ``versions``: and the sum of the rows' versions.
        summed = (
            f" || ' ' || CAST(COALESCE(SUM({quote('version')}), 0) AS TEXT)" if versions else ""
        )
        return (
            f"SELECT CAST(COUNT(*) AS TEXT) || ' ' || COALESCE(CAST(MAX({quote('updated_at')}) "
            f"AS TEXT), ''){summed} FROM {table(model)} WHERE {quote(key)} = {owner}"  # nosec B608  # constants only, values bound
        )

    def clock(kinds) -> RawSQL:
        marks = ", ".join(["%s"] * len(kinds))
        return RawSQL(
            f"SELECT MIN({quote('due_at')}) FROM {table(SLATimer)} WHERE {quote('ticket_id')} = "
            f"{ticket} AND {quote('status')} = %s AND {quote('kind')} IN ({marks})",  # nosec B608, B611  # constants only, values bound
            (TimerStatus.ACTIVE, *kinds),
            output_field=DateTimeField(),
        )

    return {
        # Timeline events and scans are only ever added (a scan's mapping may be corrected:
        # hence the count of mapped scans).
        "page_stamp_events": RawSQL(
            f"SELECT MAX({quote('id')}) FROM {table(TicketEvent)} WHERE {quote('ticket_id')} = "
            f"{ticket}",  # nosec B608, B611  # constants only, values bound
            (),
        ),
        "page_stamp_scans": RawSQL(
            f"SELECT CAST(COUNT(*) AS TEXT) || ' ' || CAST(SUM(CASE WHEN {quote('unmapped')} "
            f"THEN 0 ELSE 1 END) AS TEXT) || ' ' || CAST(MAX({quote('id')}) AS TEXT) FROM "
            f"{table(TrackingEvent)} WHERE {quote('shipment_id')} = {shipment}",  # nosec B608, B611  # constants only, values bound
            (),
        ),
        "page_stamp_messages": RawSQL(changed(Message, "ticket_id", ticket), ()),  # nosec B611  # constants only, values bound
        # An offer's every change of state also counts up its version.
        "page_stamp_offers": RawSQL(
            changed(CompensationOffer, "ticket_id", ticket, versions=True), ()
        ),  # nosec B611  # constants only, values bound
        "page_stamp_surveys": RawSQL(changed(SatisfactionSurvey, "ticket_id", ticket), ()),  # nosec B611  # constants only, values bound
        "page_reply_due": clock(REPLY_KINDS),
        "page_update_due": clock((TimerKind.PERIODIC_UPDATE,)),
    }


# The names of those subqueries' values (portal.page_cache's key reads them).
STAMP_NAMES = (
    "page_stamp_events",
    "page_stamp_scans",
    "page_stamp_messages",
    "page_stamp_offers",
    "page_stamp_surveys",
    "page_reply_due",
    "page_update_due",
)


def grant(request: HttpRequest, link: ProgressLink, public_id: UUID) -> None:
    """Let this browser open the case of ``link`` (a new session key: no fixation)."""
    cases = dict(request.session.get(SESSION_KEY, {}))
    cases.pop(str(public_id), None)
    cases[str(public_id)] = link.pk
    while len(cases) > MAX_CASES:
        cases.pop(next(iter(cases)))
    request.session.cycle_key()
    request.session[SESSION_KEY] = cases


def granted_link_id(request: HttpRequest, public_id: UUID) -> int | None:
    value = request.session.get(SESSION_KEY, {}).get(str(public_id))
    return value if isinstance(value, int) else None


def case_link(
    request: HttpRequest, public_id: UUID, *, now: dt.datetime, page: bool = False
) -> ProgressLink | None:
    """The link this browser opened ``public_id``'s case with, with the case, if it still
    opens it; None otherwise (one query). ``page``: only what the page shows (see
    PAGE_COLUMNS), the same objects with the other columns deferred."""
    link_id = granted_link_id(request, public_id)
    if link_id is None:
        return None
    if page:
        return _page_query().link(link_id, public_id, now=now)
    return _links(link_id, public_id, now=now).select_related(*CASE_RELATED).first()


def _links(link_id: int, public_id: UUID, *, now: dt.datetime) -> QuerySet[ProgressLink]:
    return ProgressLink.objects.filter(
        ticket_reachable(now, prefix="ticket__"),
        pk=link_id,
        ticket__public_id=public_id,
        revoked_at__isnull=True,
    )


def _page_links(link_id: int, public_id: UUID, *, now: dt.datetime) -> QuerySet[ProgressLink]:
    """The page's query: the link, the case's columns the page reads, its lookups and stamps."""
    return (
        _links(link_id, public_id, now=now)
        .annotate(
            **{
                f"page_{name}_{column}": _column_of(owner, name, column)
                for owner, name, columns in PAGE_LOOKUPS
                for column in columns
            },
            **_stamps(),
        )
        .select_related(*PAGE_RELATED)
        .only(*PAGE_COLUMNS)
        .order_by()[:1]
    )


class PageQuery:
    """The page's query compiled to SQL once per process, run with each view's values.

    Every view of a page runs the same query but for three values (the link, the case's
    public id and the oldest closing time that still opens a page). Building that queryset
    and compiling it (a join of three tables, 13 subqueries, 30 columns) cost the ORM about
    5 ms of a kept view's 13 (docs/PERFORMANCE.md), more than the database took to run it. So
    it is compiled once, with stand-in values whose places among the SQL's parameters are
    then known, and each view puts its own values there and turns the row into the same
    objects the queryset would (Django's own compiler, converters and populators do both)."""

    # Stand-ins that no real value equals (the compiled query is never run with them).
    LINK_ID = -982_451_653
    PUBLIC_ID = UUID("6b1c9d1e-0000-4000-8000-00000000dead")
    CLOSED_SINCE = dt.datetime(1901, 2, 3, 4, 5, 6, 789_012, tzinfo=dt.UTC)

    def __init__(self, using: str) -> None:
        self.using = using
        queryset = _page_links(self.LINK_ID, self.PUBLIC_ID, now=self.now_for(self.CLOSED_SINCE))
        compiler = queryset.query.get_compiler(using=using)
        self.sql, params = compiler.as_sql()
        self.params = list(params)
        self.compiler = compiler
        database = connections[using]
        self.fields = {
            "link": (ProgressLink._meta.pk, self.LINK_ID),
            "public_id": (Ticket._meta.get_field("public_id"), self.PUBLIC_ID),
            "closed_since": (Ticket._meta.get_field("closed_at"), self.CLOSED_SINCE),
        }
        self.slots = {}
        for name, (model_field, stand_in) in self.fields.items():
            prepared = model_field.get_db_prep_value(stand_in, database)
            places = [i for i, value in enumerate(self.params) if value == prepared]
            if len(places) != 1:
                raise RuntimeError(f"the page's query holds {name} {len(places)} times, not once")
            self.slots[name] = places[0]
        klass_info, select = compiler.klass_info, compiler.select
        self.model = klass_info["model"]
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        self.model_columns = slice(start, end)
        self.init_list = [column[0].target.attname for column in select[start:end]]
        self.populators = get_related_populators(klass_info, select, using)
        self.annotations = compiler.annotation_col_map

    @staticmethod
    def now_for(closed_since: dt.datetime) -> dt.datetime:
        """The moment whose oldest page-opening closing time is ``closed_since``."""
        return closed_since + dt.timedelta(days=settings.PROGRESS_LINK_TTL_DAYS)

    def link(self, link_id: int, public_id: UUID, *, now: dt.datetime) -> ProgressLink | None:
        database = connections[self.using]
        values = {
            "link": link_id,
            "public_id": public_id,
            "closed_since": now - dt.timedelta(days=settings.PROGRESS_LINK_TTL_DAYS),
        }
        params = list(self.params)
        for name, value in values.items():
            params[self.slots[name]] = self.fields[name][0].get_db_prep_value(value, database)
        with database.cursor() as cursor:
            cursor.execute(self.sql, params)
            found = cursor.fetchone()
        if found is None:
            return None
        (row,) = self.compiler.results_iter(results=[[found]])
        link = self.model.from_db(self.using, self.init_list, row[self.model_columns])
        for populator in self.populators:
            populator.populate(row, link)
        for name, place in self.annotations.items():
            setattr(link, name, row[place])
        return with_lookups(link)


def with_lookups(link: ProgressLink) -> ProgressLink:
    """The rows of PAGE_LOOKUPS, from the values the page's query read of them."""
    for owner, name, columns in PAGE_LOOKUPS:
        holder = link.ticket if owner is Ticket else link.ticket.shipment
        if holder is not None:
            related = owner._meta.get_field(name).related_model
            key = getattr(holder, f"{name}_id")
            setattr(holder, name, _loaded(link, name, related, columns, key))
    return link


_page_queries: dict[tuple[str, str], PageQuery] = {}


def _page_query(using: str = DEFAULT_DB_ALIAS) -> PageQuery:
    """The compiled page query of this database (per process; settings that change the SQL
    itself, such as the database, give another)."""
    database = connections[using]
    key = (using, database.vendor, database.settings_dict["NAME"])
    query = _page_queries.get(key)
    if query is None:
        query = _page_queries[key] = PageQuery(using)
    return query


def _column_of(owner, name: str, column: str) -> RawSQL:
    """`column` of the row the foreign key `name` of `owner` points to, as a scalar subquery
    in SQL (a Subquery() of each cost the ORM about 0.4 ms to resolve and compile, more than
    the query takes to run). The owner's table is named as its join's alias: Django names the
    first join of a table after the table, and the page's query joins each table once."""
    quote = connection.ops.quote_name
    key = owner._meta.get_field(name)
    related = key.related_model._meta
    return RawSQL(
        f"SELECT {quote(related.get_field(column).column)} FROM {quote(related.db_table)} "
        f"WHERE {quote(related.pk.column)} = {quote(owner._meta.db_table)}.{quote(key.column)}",  # nosec B608, B611  # constants only, values bound
        (),
    )


def _loaded(link: ProgressLink, name: str, model, columns, key):
    """The related row a subquery read, as select_related with only() makes it: these columns
    loaded, the others deferred (read on access)."""
    if key is None:
        return None
    values = {"id": key} | {column: getattr(link, f"page_{name}_{column}") for column in columns}
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(link._state.db, names, [values[n] for n in names])
