"""The KPI rollup (supervisor.models.ShipmentOutcome): refresh it, say how fresh it is.

The dashboard's first-contact, proactive-share and repurchase figures (supervisor.kpis) and
their lists (supervisor.drilldown) read one precomputed row per shipment instead of joining
shipments, notices, tickets and messages on every page view. One rule: the dashboard reads the
rollup; the rollup is refreshed

- every few minutes by the beat task `supervisor.refresh_kpi_rollup` (core/schedules.py),
  incrementally: the customers whose shipments changed (`Shipment.updated_at`: detection,
  tracking, imports), or who were sent a notice, wrote or got a reply, opened a ticket, or
  whose shipment's delay level changed, since the last refresh started (minus OVERLAP, for
  transactions that committed late); all rows of those customers are recomputed, since a new
  order changes the repurchase of the customer's earlier shipments;
- in full by `manage.py refresh_kpi_rollup --full` (after an import, or to repair).

Every refresh is one set-based INSERT ... SELECT ... ON CONFLICT DO UPDATE per batch of
customers (PostgreSQL and SQLite), so running it twice writes the same rows (idempotent). Rows
of deleted shipments go with them (ON DELETE CASCADE). `KpiRollupState` holds the moment the
figures are as of, shown on the dashboard.

Writes run on the primary ("default"); the dashboard reads the rollup, and its state, on
`core.db.reports_db()`: the reports replica when one is configured (REPORTS_DATABASE_URL). A
replica lags the primary by its replication delay, usually under a second: for that long after
a refresh the dashboard still shows the figures of the refresh before, with the "as of" time
they hold (never newer figures stamped with an older time, nor the reverse: the state row and
the rows it describes are read from the same database).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from core.db import reports_db
from customers.models import Customer
from notifications.models import Notification, NotificationStatus
from shipments.models import DelayLevel, DelayLevelChange, Shipment
from supervisor.models import Cohort, KpiRollupState, ShipmentOutcome
from tickets.models import Message, MessageDirection, Source, Ticket

# Kept in step with supervisor.kpis (which imports this module).
SENT_STATUSES = (NotificationStatus.SENT, NotificationStatus.DELIVERED)
CUSTOMER_SOURCES = (Source.CUSTOMER, Source.EMAIL)
REPURCHASE_DAYS = 30
# Look back this far before the last refresh's start: a row committed by a transaction that
# began before it (its updated_at or sent_at earlier than the refresh) is still picked up.
OVERLAP = dt.timedelta(minutes=10)
# Customers per statement: a few thousand rows each, short transactions.
BATCH_CUSTOMERS = 500
FULL_BATCH_CUSTOMERS = 5000


@dataclass(frozen=True)
class Refreshed:
    customers: int
    rows: int
    full: bool
    as_of: dt.datetime


def state() -> KpiRollupState | None:
    return KpiRollupState.objects.filter(pk=1).first()


def generation() -> tuple[dt.datetime | None, int]:
    """(as of, how many refreshes so far): names what the rollup holds (supervisor.snapshot),
    read where the dashboard reads the rollup."""
    row = (
        KpiRollupState.objects.using(reports_db())
        .filter(pk=1)
        .values_list("as_of", "refreshes")
        .first()
    )
    return row or (None, 0)


def as_of() -> dt.datetime | None:
    """The moment the dashboard's rollup figures hold the data of (None: never refreshed),
    read where the dashboard reads the rollup."""
    return (
        KpiRollupState.objects.using(reports_db())
        .filter(pk=1)
        .values_list("as_of", flat=True)
        .first()
    )


# --- the statement -----------------------------------------------------------------------------


def _within_days(later: str, anchor: str, days: int) -> str:
    if connection.vendor == "postgresql":
        return f"{later} <= {anchor} + INTERVAL '{days} days'"
    return f"julianday({later}) <= julianday({anchor}) + {days}"


def _upsert_sql(customers_where: str) -> str:
    """INSERT ... SELECT the rows of the shipments whose customer matches `customers_where`
    (SQL over `s.customer_id`), updating the rows already there."""
    q = connection.ops.quote_name
    shipment = q(Shipment._meta.db_table)
    notification = q(Notification._meta.db_table)
    ticket = q(Ticket._meta.db_table)
    message = q(Message._meta.db_table)
    changes = q(DelayLevelChange._meta.db_table)
    outcome = q(ShipmentOutcome._meta.db_table)
    sent = ", ".join(f"'{status}'" for status in SENT_STATUSES)
    opened = ", ".join(f"'{source}'" for source in CUSTOMER_SOURCES)
    outbound, inbound = MessageDirection.OUTBOUND, MessageDirection.INBOUND
    columns = [
        "customer_id",
        "currency",
        "delay_detected_at",
        "first_contact_at",
        "first_inbound_at",
        "cohort",
        "anchor_at",
        "next_order_at",
        "refreshed_at",
    ]
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns)
    return f"""
WITH s AS (
    SELECT s.id, s.customer_id, s.currency, s.order_number, s.ordered_at,
           s.delay_detected_at AS detected,
           CASE WHEN s.delay_detected_at IS NOT NULL THEN {Cohort.AFFECTED}
                WHEN s.ordered_at IS NOT NULL AND s.delay_level = '{DelayLevel.NONE}'
                 AND NOT EXISTS (SELECT 1 FROM {changes} c WHERE c.shipment_id = s.id)
                THEN {Cohort.UNAFFECTED} END AS cohort
      FROM {shipment} s WHERE {customers_where}
),
t AS (
    SELECT t.id, t.shipment_id, t.source, t.created_at
      FROM {ticket} t JOIN s ON s.id = t.shipment_id WHERE s.detected IS NOT NULL
),
events (shipment_id, at, outbound) AS (
    SELECT n.shipment_id, n.sent_at, 1 FROM {notification} n JOIN s ON s.id = n.shipment_id
     WHERE s.detected IS NOT NULL AND n.status IN ({sent}) AND n.sent_at >= s.detected
    UNION ALL
    SELECT t.shipment_id, n.sent_at, 1 FROM {notification} n JOIN t ON t.id = n.ticket_id
     WHERE n.status IN ({sent}) AND n.sent_at IS NOT NULL
    UNION ALL
    SELECT t.shipment_id, msg.created_at, CASE WHEN msg.direction = '{outbound}' THEN 1 ELSE 0 END
      FROM {message} msg JOIN t ON t.id = msg.ticket_id
     WHERE msg.direction IN ('{outbound}', '{inbound}')
    UNION ALL
    SELECT shipment_id, created_at, 0 FROM t WHERE source IN ({opened})
),
firsts (id, out_at, in_at) AS (
    SELECT s.id, MIN(CASE WHEN e.outbound = 1 AND e.at >= s.detected THEN e.at END),
           MIN(CASE WHEN e.outbound = 0 THEN e.at END)
      FROM s JOIN events e ON e.shipment_id = s.id GROUP BY s.id
),
c AS (
    SELECT s.*, CASE WHEN s.cohort = {Cohort.AFFECTED} THEN s.detected
                     WHEN s.cohort = {Cohort.UNAFFECTED} THEN s.ordered_at END AS anchor
      FROM s
)
INSERT INTO {outcome} (shipment_id, {", ".join(columns)})
SELECT c.id, c.customer_id, c.currency, c.detected, f.out_at, f.in_at, c.cohort, c.anchor,
       CASE WHEN c.anchor IS NOT NULL THEN (
           SELECT MIN(x.ordered_at) FROM {shipment} x
            WHERE x.customer_id = c.customer_id AND x.ordered_at > c.anchor
              AND {_within_days("x.ordered_at", "c.anchor", REPURCHASE_DAYS)}
              AND x.order_number <> c.order_number) END,
       %s
  FROM c LEFT JOIN firsts f ON f.id = c.id
 WHERE 1 = 1
ON CONFLICT (shipment_id) DO UPDATE SET {updates}
"""  # nosec B608  # constants only, values bound


def _write(customers_where: str, params: Sequence, *, now: dt.datetime) -> int:
    """Upsert the rows of the matching customers' shipments; how many (one per shipment)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _upsert_sql(customers_where),
            [*params, connection.ops.adapt_datetimefield_value(now)],
        )
        if connection.vendor == "postgresql":
            return max(cursor.rowcount, 0)
        # SQLite does not report the rows of an INSERT that starts WITH: count them.
        table = connection.ops.quote_name(Shipment._meta.db_table)
        cursor.execute(f"SELECT COUNT(*) FROM {table} s WHERE {customers_where}", list(params))  # nosec B608  # constants only, values bound
        return cursor.fetchone()[0]


# --- which customers ---------------------------------------------------------------------------


def changed_customers(since: dt.datetime) -> list[int]:
    """Customers with anything the rollup reads written at or after `since` (one query)."""
    shipments = Shipment.objects.filter(updated_at__gte=since).values("customer_id")
    notices = Notification.objects.filter(sent_at__gte=since)
    by_shipment = notices.filter(shipment__isnull=False).values("shipment__customer_id")
    by_ticket = notices.filter(ticket__shipment__isnull=False).values(
        "ticket__shipment__customer_id"
    )
    messages = Message.objects.filter(created_at__gte=since, ticket__shipment__isnull=False).values(
        "ticket__shipment__customer_id"
    )
    tickets = Ticket.objects.filter(created_at__gte=since, shipment__isnull=False).values(
        "shipment__customer_id"
    )
    levels = DelayLevelChange.objects.filter(changed_at__gte=since).values("shipment__customer_id")
    union = shipments.union(by_shipment, by_ticket, messages, tickets, levels)
    return sorted({row["customer_id"] for row in union})


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# --- refresh -----------------------------------------------------------------------------------


def rollup_refresh(
    *,
    now: dt.datetime | None = None,
    full: bool = False,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> Refreshed:
    """Refresh the rollup: every customer (`full`, or when it was never built) or those whose
    data changed since the last refresh. Idempotent; concurrent runs wait for each other (the
    state row is locked). `total(n)` is told the number of customer batches, `progress(1)`
    each one done (the management command's progress bar)."""
    now = now or timezone.now()
    with transaction.atomic():
        KpiRollupState.objects.get_or_create(pk=1)
        current = KpiRollupState.objects.select_for_update().get(pk=1)
        full = full or current.as_of is None
        rows = customers = 0
        if full:
            bounds = Customer.objects.aggregate(low=Min("pk"), high=Max("pk"))
            low, high = bounds["low"], bounds["high"]
            if low is not None:
                starts = list(range(low, high + 1, FULL_BATCH_CUSTOMERS))
                if total:
                    total(len(starts))
                for start in starts:
                    rows += _write(
                        "s.customer_id >= %s AND s.customer_id < %s",
                        [start, start + FULL_BATCH_CUSTOMERS],
                        now=now,
                    )
                    if progress:
                        progress(1)
                customers = Customer.objects.count()
            current.full_at = now
        else:
            ids = changed_customers(current.as_of - OVERLAP)
            customers = len(ids)
            batches = list(_chunks(ids, BATCH_CUSTOMERS))
            if total:
                total(len(batches))
            for batch in batches:
                marks = ", ".join(["%s"] * len(batch))
                rows += _write(f"s.customer_id IN ({marks})", batch, now=now)
                if progress:
                    progress(1)
        current.as_of = now
        current.finished_at = timezone.now()
        current.rows = rows
        current.refreshes += 1
        current.save()
    return Refreshed(customers=customers, rows=rows, full=full, as_of=now)
