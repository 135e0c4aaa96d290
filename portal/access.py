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

from django.db import connection
from django.db.models.expressions import RawSQL
from django.http import HttpRequest

from portal.links import ticket_reachable
from portal.models import ProgressLink
from shipments.models import Shipment
from tickets.models import Ticket

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
    "ticket__shipment__delivered_at",
    "ticket__shipment__last_event_at",
    "ticket__shipment__delay_level",
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
    links = ProgressLink.objects.filter(
        ticket_reachable(now, prefix="ticket__"),
        pk=link_id,
        ticket__public_id=public_id,
        revoked_at__isnull=True,
    )
    if not page:
        return links.select_related(*CASE_RELATED).first()
    link = (
        links.annotate(
            **{
                f"page_{name}_{column}": _column_of(owner, name, column)
                for owner, name, columns in PAGE_LOOKUPS
                for column in columns
            }
        )
        .select_related(*PAGE_RELATED)
        .only(*PAGE_COLUMNS)
        .first()
    )
    if link is not None:
        for owner, name, columns in PAGE_LOOKUPS:
            row = link.ticket if owner is Ticket else link.ticket.shipment
            if row is not None:
                related = owner._meta.get_field(name).related_model
                key = getattr(row, f"{name}_id")
                setattr(row, name, _loaded(link, name, related, columns, key))
    return link


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
        f"WHERE {quote(related.pk.column)} = {quote(owner._meta.db_table)}.{quote(key.column)}",
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
