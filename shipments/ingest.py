"""Carrier webhook: signature verification and idempotent, set-based ingest of tracking events.

Carriers push batches to ``POST /api/v1/tracking-events/`` (shared/DESIGN.md, "Contract"). A
request is trusted only when ``X-Signature`` is ``sha256=<hex HMAC-SHA256 of the raw body with
the carrier's webhook secret>`` and ``X-Timestamp`` (unix seconds) is within five minutes of our
clock. The contract signs the body only, so the timestamp alone does not stop a replay; the
unique carrier event id does: a replayed batch stores nothing and is answered as duplicates.

The ingest runs a fixed number of queries per batch, however many events it carries, so a
batch of 1,000 costs about what a batch of 10 does (tests/shipments/test_ingest.py counts them,
bench/bench_ingest.py measures the throughput through gunicorn).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import OperationalError, connection, transaction
from django.utils.translation import gettext_lazy as _

from core.models import DelayCause
from shipments.models import (
    Carrier,
    CarrierStatusMapping,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
    UnmappedStatusCode,
)
from shipments.signals import shipment_delivered

logger = logging.getLogger(__name__)

# A batch that PostgreSQL aborted to break a deadlock is run again (it stored nothing, and a
# rerun is idempotent by event id). The other side is a writer that locks many shipments in
# its own order: the detection pass's UPDATE takes them in scan order, where this ingest takes
# its few in id order (found by bench/bench_load.py: a webhook batch answered 500).
DEADLOCK_ATTEMPTS = 3
_RETRY_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
SIGNATURE_PREFIX = "sha256="
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_BATCH_EVENTS = 1000

# What a rejected carrier reads (tests assert these).
UNKNOWN_CARRIER = _('Unknown carrier: "carrier" must be the code of an active carrier.')
SIGNATURE_MISSING = _("Missing X-Signature header (sha256=<hex HMAC-SHA256 of the body>).")
SIGNATURE_MALFORMED = _("Malformed X-Signature header: expected sha256=<64 hex digits>.")
SIGNATURE_MISMATCH = _(
    "Bad signature: X-Signature does not match the body and the carrier's secret."
)
TIMESTAMP_MISSING = _("Missing X-Timestamp header (unix seconds).")
TIMESTAMP_MALFORMED = _("Malformed X-Timestamp header: expected unix seconds.")
TIMESTAMP_STALE = _("Stale request: X-Timestamp is more than 5 minutes old.")
TIMESTAMP_FUTURE = _("X-Timestamp is more than 5 minutes in the future; check the sender's clock.")

_SIGNATURE_RE = re.compile(r"sha256=([0-9a-fA-F]{64})")


class WebhookAuthError(Exception):
    """The request is not provably from the carrier it names (answered with 401)."""

    def __init__(self, message: str):
        self.message = str(message)
        super().__init__(self.message)


def webhook_signature(*, secret: str, body: bytes) -> str:
    """The X-Signature value a carrier sends for ``body`` (also used by tests and the bench)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_PREFIX}{digest}"


def webhook_request_verify(
    *,
    carrier: Carrier | None,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: dt.datetime,
) -> Carrier:
    """Return the carrier when the request is signed with its secret and fresh, else raise.

    The timestamp is checked before the HMAC so a flood of old replays costs no hashing.
    """
    if carrier is None or not carrier.is_active:
        raise WebhookAuthError(UNKNOWN_CARRIER)
    if not timestamp:
        raise WebhookAuthError(TIMESTAMP_MISSING)
    try:
        sent_at = dt.datetime.fromtimestamp(int(timestamp.strip()), tz=dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise WebhookAuthError(TIMESTAMP_MALFORMED) from None
    if now - sent_at > MAX_CLOCK_SKEW:
        raise WebhookAuthError(TIMESTAMP_STALE)
    if sent_at - now > MAX_CLOCK_SKEW:
        raise WebhookAuthError(TIMESTAMP_FUTURE)
    if not signature:
        raise WebhookAuthError(SIGNATURE_MISSING)
    match = _SIGNATURE_RE.fullmatch(signature.strip())
    if match is None:
        raise WebhookAuthError(SIGNATURE_MALFORMED)
    expected = webhook_signature(secret=carrier.webhook_secret, body=body)
    # Constant-time: a byte-by-byte compare would leak how much of a forged digest is right.
    if not hmac.compare_digest(expected, SIGNATURE_PREFIX + match.group(1).lower()):
        raise WebhookAuthError(SIGNATURE_MISMATCH)
    return carrier


@dataclass(frozen=True, slots=True)
class EventIn:
    """One validated event of a batch, its carrier code mapped to our status/cause, or
    ``unmapped`` (status "", cause "none") when the carrier's mapping does not know it."""

    event_id: str
    tracking_number: str
    occurred_at: dt.datetime  # aware
    carrier_code: str
    status: str
    cause: str
    location: str = ""
    description: str = ""
    unmapped: bool = False


def unmapped_event(**fields) -> EventIn:
    return EventIn(**fields, status="", cause=DelayCause.NONE.value, unmapped=True)


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int
    duplicates: int
    unknown_tracking_numbers: list[str]
    # carrier code -> events stored by this batch with that unmapped code
    unmapped_status_codes: dict[str, int] = field(default_factory=dict)


def tracking_events_ingest(
    *, carrier: Carrier, events: Sequence[EventIn], received_at: dt.datetime
) -> IngestResult:
    """Store a validated batch idempotently and bring the affected shipments up to date.

    1. Drop repeats of an event id inside the batch (the first one wins); they are duplicates.
    2. Find the carrier's shipments for the batch's tracking numbers (one query). Events for
       tracking numbers the carrier does not have are reported back, not stored.
    3. Leave out event ids already stored for the carrier (one query). A redelivered batch
       stops here, having locked and written nothing.
    4. Insert the new events in one statement with ON CONFLICT DO NOTHING: an event id another
       transaction stored in the meantime counts as a duplicate instead of failing the batch.
    5. Lock the shipments that got events, in id order, then recompute their state in one
       set-based UPDATE (a statement started after the lock sees every committed event, so two
       batches for one parcel cannot leave it with the older state; the id order rules out
       deadlocks): status and cause from the latest event by occurred_at, not by arrival, so a
       late old scan never rolls a parcel back; where it is and since when; delivered_at.

    6. Queue delivered notices for the parcels among them that arrived after their customer
       heard about a delay (one INSERT ... SELECT).
    7. Only when the batch carries codes the carrier's mapping does not know: count them in
       the operators' list of unmapped codes, and apply those mapped in the meantime (see
       ``unmapped_events_apply``). Unmapped events are stored but take no part in 5 and 6.

    At most six queries, whatever the batch size, in one transaction (two more with unmapped
    codes): a failure stores nothing. A batch the database aborts to break a deadlock (or a
    serialization failure) is run again, up to DEADLOCK_ATTEMPTS times, unless the caller holds
    a transaction of its own.
    """
    unique_events: dict[str, EventIn] = {}
    for event in events:
        unique_events.setdefault(event.event_id, event)
    duplicates = len(events) - len(unique_events)
    if not unique_events:
        return IngestResult(accepted=0, duplicates=duplicates, unknown_tracking_numbers=[])

    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            return _ingest(
                carrier=carrier,
                unique_events=unique_events,
                duplicates=duplicates,
                received_at=received_at,
            )
        except OperationalError as error:
            sqlstate = getattr(error.__cause__, "sqlstate", None)
            # Inside a caller's transaction the whole transaction is lost: theirs to retry.
            if (
                sqlstate not in _RETRY_SQLSTATES
                or connection.in_atomic_block
                or attempt == DEADLOCK_ATTEMPTS
            ):
                raise
            logger.warning(
                "Tracking events of %s: batch aborted by the database (%s), run again (%s of %s)",
                carrier.code,
                sqlstate,
                attempt + 1,
                DEADLOCK_ATTEMPTS,
            )
            time.sleep(random.uniform(0.01, 0.05) * attempt)  # nosec B311  # jitter, not a secret
    raise AssertionError("unreachable")  # pragma: no cover


def _ingest(
    *,
    carrier: Carrier,
    unique_events: dict[str, EventIn],
    duplicates: int,
    received_at: dt.datetime,
) -> IngestResult:
    tracking_numbers = sorted({event.tracking_number for event in unique_events.values()})
    with transaction.atomic():
        shipment_ids = _shipment_ids(carrier_id=carrier.pk, tracking_numbers=tracking_numbers)
        unknown = [number for number in tracking_numbers if number not in shipment_ids]
        known_events = [
            event for event in unique_events.values() if event.tracking_number in shipment_ids
        ]
        stored = _stored_event_ids(
            carrier_id=carrier.pk, event_ids=[event.event_id for event in known_events]
        )
        # In event id order: two batches inserting some of the same ids then wait for each
        # other in one order on the unique index, never in a cycle.
        new_events = sorted(
            (event for event in known_events if event.event_id not in stored),
            key=lambda event: event.event_id,
        )
        inserted, unmapped = _events_insert(
            carrier_id=carrier.pk,
            rows=[(shipment_ids[event.tracking_number], event) for event in new_events],
            received_at=received_at,
        )
        if inserted > sum(unmapped.values()):
            affected = sorted(
                {shipment_ids[event.tracking_number] for event in new_events if not event.unmapped}
            )
            _shipments_lock(shipment_ids=affected)
            _shipments_state_refresh(shipment_ids=affected, updated_at=received_at)
            _delivered_enqueue(shipment_ids=affected, now=received_at)
        if unmapped:
            _unmapped_codes_count(carrier_id=carrier.pk, counts=unmapped, seen_at=received_at)
            # A mapping saved while this batch was on its way: its apply did not see these
            # events (they were not committed), so they are applied here. The count above
            # locked the code's row, which unmapped_events_apply takes first too.
            for code in CarrierStatusMapping.objects.filter(
                carrier_id=carrier.pk, carrier_code__in=sorted(unmapped)
            ).values_list("carrier_code", flat=True):
                _unmapped_events_apply(carrier_id=carrier.pk, carrier_code=code, now=received_at)
    duplicates += len(known_events) - inserted
    return IngestResult(
        accepted=inserted,
        duplicates=duplicates,
        unknown_tracking_numbers=unknown,
        unmapped_status_codes=dict(sorted(unmapped.items())),
    )


def _delivered_enqueue(*, shipment_ids: Sequence[int], now: dt.datetime) -> None:
    # Inside the transaction: a parcel whose delay the customer heard about gets the delivered
    # notice that closes the story, written with the scan that delivered it (shipments.signals).
    if shipment_ids:
        shipment_delivered.send(sender=Shipment, shipment_ids=list(shipment_ids), at=now)


# --- Unmapped carrier status codes --------------------------------------------------------------


def unmapped_events_apply(*, carrier_id: int, carrier_code: str, now: dt.datetime) -> int:
    """Map the stored unmapped events of one carrier code, now that the code has a mapping,
    and bring their shipments up to date; return how many events it mapped.

    Called when a status mapping is saved (shipments.apps connects it). Idempotent: a second
    call finds no unmapped event left and changes nothing.
    """
    with transaction.atomic():
        return _unmapped_events_apply(carrier_id=carrier_id, carrier_code=carrier_code, now=now)


def _unmapped_events_apply(*, carrier_id: int, carrier_code: str, now: dt.datetime) -> int:
    """1. Take the code's row in the unmapped list (created if missing, then locked): an
       ingest storing events of this code waits for it, or this waits for the ingest, so no
       event slips between the two (an ingest re-checks the mappings after counting).
    2. Read the mapping; none (deleted meanwhile): nothing to do.
    3. Give the code's unmapped events the mapping's status and cause, in one UPDATE.
    4. Recompute their shipments' state as the ingest does (the latest event by occurred_at
       wins, so the order in which events are mapped does not matter) and queue delivered
       notices; remove the code from the unmapped list.
    """
    UnmappedStatusCode.objects.bulk_create(
        [
            UnmappedStatusCode(
                carrier_id=carrier_id,
                carrier_code=carrier_code,
                event_count=0,
                first_seen_at=now,
                last_seen_at=now,
            )
        ],
        ignore_conflicts=True,
    )
    listed = UnmappedStatusCode.objects.select_for_update().filter(
        carrier_id=carrier_id, carrier_code=carrier_code
    )
    list(listed.values_list("id", flat=True))
    mapping = (
        CarrierStatusMapping.objects.filter(carrier_id=carrier_id, carrier_code=carrier_code)
        .values_list("status", "cause")
        .first()
    )
    if mapping is None:
        return 0
    events = TrackingEvent.objects.filter(
        carrier_id=carrier_id, carrier_code=carrier_code, unmapped=True
    )
    shipment_ids = sorted(set(events.values_list("shipment_id", flat=True)))
    mapped = 0
    if shipment_ids:
        _shipments_lock(shipment_ids=shipment_ids)
        mapped = events.update(unmapped=False, status=mapping[0], cause=mapping[1])
        _shipments_state_refresh(shipment_ids=shipment_ids, updated_at=now)
        _delivered_enqueue(shipment_ids=shipment_ids, now=now)
    listed.delete()
    return mapped


_UNMAPPED_COUNT_SQL = """
INSERT INTO {table} (carrier_id, carrier_code, event_count, first_seen_at, last_seen_at)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (carrier_id, carrier_code) DO UPDATE SET
    event_count = {table}.event_count + excluded.event_count,
    last_seen_at = excluded.last_seen_at
"""


def _unmapped_codes_count(*, carrier_id: int, counts: dict[str, int], seen_at: dt.datetime) -> None:
    """Add the batch's unmapped events to the operators' list, one row per carrier code."""
    seen = connection.ops.adapt_datetimefield_value(seen_at)
    with connection.cursor() as cursor:
        cursor.executemany(
            _UNMAPPED_COUNT_SQL.format(table=_table(UnmappedStatusCode)),
            [(carrier_id, code, count, seen, seen) for code, count in sorted(counts.items())],
        )


# --- SQL ----------------------------------------------------------------------------------------
# Raw SQL, measured with bench/bench_ingest.py (docs/PERFORMANCE.md). The ORM's IN lists and
# multi-row VALUES put one placeholder per value into the statement, and psycopg's client-side
# binding spent ~100 ms rewriting a 500-event INSERT. Lists of text and the batch itself travel
# as one JSON parameter (json_array_elements_text / json_to_recordset on PostgreSQL, json_each
# on SQLite), id lists as one array on PostgreSQL. SQLite needs 3.38+ (JSON built in, UPDATE
# ... FROM, MATERIALIZED); the tests run on both databases.


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


def _in(column: str, values: Sequence) -> tuple[str, list]:
    """``column IN (values)`` as SQL and parameters: one array parameter on PostgreSQL."""
    if _postgresql():
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def _each(values: Sequence[str]) -> tuple[str, list]:
    """A table ``v`` with one row per value (column ``v.value``), from one JSON parameter."""
    if _postgresql():
        return "json_array_elements_text(%s::json) AS v(value)", [json.dumps(list(values))]
    return "json_each(%s) AS v", [json.dumps(list(values))]


# The lookups by carrier + tracking number and carrier + event id walk the list and probe the
# unique index once per value (a subquery per row). "carrier_id = %s AND x IN (...)" let
# PostgreSQL, with statistics from when the table was small, read every row of the carrier
# through the carrier_id index: 200 ms at 300,000 events instead of 2 ms.


def _shipment_ids(*, carrier_id: int, tracking_numbers: Sequence[str]) -> dict[str, int]:
    """tracking number -> id of the carrier's shipments among ``tracking_numbers``."""
    values, params = _each(tracking_numbers)
    sql = (
        f"SELECT v.value, (SELECT s.id FROM {_table(Shipment)} s "
        f"WHERE s.carrier_id = %s AND s.tracking_number = v.value) FROM {values}"  # nosec B608  # constants only, values bound
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [carrier_id, *params])
        return {number: pk for number, pk in cursor.fetchall() if pk is not None}


def _shipments_lock(*, shipment_ids: Sequence[int]) -> None:
    """Row-lock the shipments in id order (PostgreSQL; SQLite has one writer at a time)."""
    if not connection.features.has_select_for_update:
        return
    condition, params = _in("id", shipment_ids)
    sql = f"SELECT id FROM {_table(Shipment)} WHERE {condition} ORDER BY id FOR UPDATE"  # nosec B608  # constants only, values bound
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _stored_event_ids(*, carrier_id: int, event_ids: Sequence[str]) -> set[str]:
    if not event_ids:
        return set()
    values, params = _each(event_ids)
    sql = (
        f"SELECT v.value FROM {values} WHERE (SELECT e.id FROM {_table(TrackingEvent)} e "
        f"WHERE e.carrier_id = %s AND e.carrier_event_id = v.value) IS NOT NULL"  # nosec B608  # constants only, values bound
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, carrier_id])
        return {row[0] for row in cursor.fetchall()}


_EVENT_COLUMNS = (
    "shipment_id",
    "carrier_id",
    "carrier_event_id",
    "occurred_at",
    "received_at",
    "carrier_code",
    "status",
    "cause",
    "location",
    "description",
    "unmapped",
)

# The batch travels as one JSON parameter: psycopg's client-side binding dumps a JSON string
# in ~1 ms where eight 500-element arrays took ~8 ms of Python.
_EVENTS_INSERT_POSTGRESQL = f"""
WITH inserted AS (
    INSERT INTO {{events}} ({", ".join(_EVENT_COLUMNS)})
    SELECT b.shipment_id, %s, b.carrier_event_id, b.occurred_at, %s, b.carrier_code,
           b.status, b.cause, b.location, b.description, b.unmapped
    FROM json_to_recordset(%s::json) AS b(
        shipment_id bigint, carrier_event_id text, occurred_at timestamptz, carrier_code text,
        status text, cause text, location text, description text, unmapped boolean
    )
    ON CONFLICT (carrier_id, carrier_event_id) DO NOTHING
    RETURNING carrier_code, unmapped
)
SELECT CASE WHEN unmapped THEN carrier_code ELSE '' END, COUNT(*) FROM inserted GROUP BY 1
"""  # nosec B608  # constants only, values bound

_EVENTS_INSERT = f"""
INSERT INTO {{events}} ({", ".join(_EVENT_COLUMNS)})
VALUES ({", ".join(["%s"] * len(_EVENT_COLUMNS))})
ON CONFLICT (carrier_id, carrier_event_id) DO NOTHING
"""  # nosec B608  # constants only, values bound


def _events_insert(
    *, carrier_id: int, rows: list[tuple[int, EventIn]], received_at: dt.datetime
) -> tuple[int, Counter[str]]:
    """Insert events, skipping event ids stored meanwhile; return how many were new, and how
    many of those per unmapped carrier code.

    One statement on PostgreSQL, which counts what it inserted; one executemany elsewhere
    (SQLite limits a statement to 999 parameters in Django's eyes), where the row count says
    how many rows were inserted, and since SQLite has one writer at a time, no other
    transaction can have stored one of them between the check and the insert.
    """
    if not rows:
        return 0, Counter()
    with connection.cursor() as cursor:
        if _postgresql():
            batch = json.dumps(
                [
                    {
                        "shipment_id": shipment_id,
                        "carrier_event_id": event.event_id,
                        "occurred_at": event.occurred_at.isoformat(),
                        "carrier_code": event.carrier_code,
                        "status": event.status,
                        "cause": event.cause,
                        "location": event.location,
                        "description": event.description,
                        "unmapped": event.unmapped,
                    }
                    for shipment_id, event in rows
                ]
            )
            cursor.execute(
                _EVENTS_INSERT_POSTGRESQL.format(events=_table(TrackingEvent)),
                [carrier_id, received_at, batch],
            )
            counts = dict(cursor.fetchall())
            inserted = sum(counts.values())
            counts.pop("", None)
            return inserted, Counter(counts)
        else:
            # The backend's adapter stores datetimes in the ORM's text form on SQLite, whose
            # ordering compares text.
            adapt = connection.ops.adapt_datetimefield_value
            received = adapt(received_at)
            cursor.executemany(
                _EVENTS_INSERT.format(events=_table(TrackingEvent)),
                [
                    (
                        shipment_id,
                        carrier_id,
                        event.event_id,
                        adapt(event.occurred_at),
                        received,
                        event.carrier_code,
                        event.status,
                        event.cause,
                        event.location,
                        event.description,
                        event.unmapped,
                    )
                    for shipment_id, event in rows
                ],
            )
            unmapped = Counter(event.carrier_code for _id, event in rows if event.unmapped)
            return cursor.rowcount, unmapped


# Every step starts from the affected shipments and reads their events through the timeline
# index (shipment, -occurred_at) or the primary key, so the cost follows the batch, not the
# table: a window over "events of these shipments" let PostgreSQL pick a sequential scan
# (425 ms per 500-event batch at 60,000 rows before the table was analyzed). MATERIALIZED
# keeps each subquery to one run per shipment.
_STATE_REFRESH_SQL = """
WITH picked AS MATERIALIZED (
    SELECT s.id AS shipment_id,
           (SELECT e.id FROM {events} e WHERE e.shipment_id = s.id AND NOT e.unmapped
            ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1) AS latest_id,
           (SELECT e.location FROM {events} e
            WHERE e.shipment_id = s.id AND e.location <> '' AND NOT e.unmapped
            ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1) AS location
    FROM {shipments} s
    WHERE {affected_s}
),
bounded AS MATERIALIZED (
    SELECT picked.shipment_id, picked.latest_id, picked.location,
           (SELECT e.occurred_at FROM {events} e
            WHERE e.shipment_id = picked.shipment_id AND e.location <> ''
              AND e.location <> picked.location AND NOT e.unmapped
            ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1) AS moved_at,
           (SELECT e.id FROM {events} e
            WHERE e.shipment_id = picked.shipment_id AND e.location <> ''
              AND e.location <> picked.location AND NOT e.unmapped
            ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1) AS moved_id
    FROM picked
),
state AS MATERIALIZED (
    SELECT bounded.shipment_id, bounded.location,
           (SELECT e.occurred_at FROM {events} e WHERE e.id = bounded.latest_id) AS occurred_at,
           (SELECT e.status FROM {events} e WHERE e.id = bounded.latest_id) AS status,
           (SELECT e.cause FROM {events} e WHERE e.id = bounded.latest_id) AS cause,
           (SELECT MIN(e.occurred_at) FROM {events} e
            WHERE e.shipment_id = bounded.shipment_id AND e.location <> '' AND NOT e.unmapped
              AND (bounded.moved_id IS NULL OR e.occurred_at > bounded.moved_at
                   OR (e.occurred_at = bounded.moved_at AND e.id > bounded.moved_id))) AS since
    FROM bounded
    WHERE bounded.latest_id IS NOT NULL
)
UPDATE {shipments} SET
    status = state.status,
    cause = state.cause,
    last_event_at = state.occurred_at,
    last_location = COALESCE(state.location, ''),
    location_since = state.since,
    delivered_at = CASE WHEN state.status = %s THEN state.occurred_at ELSE NULL END,
    updated_at = %s
FROM state
WHERE {shipments}.id = state.shipment_id AND {affected}
"""


def _shipments_state_refresh(*, shipment_ids: Sequence[int], updated_at: dt.datetime) -> None:
    """Set status, cause, last scan, location and delivery time from each shipment's events.

    1. The latest event by (occurred_at, id): status, cause, last scan, delivery time.
    2. The latest event that names a place: where the parcel is. Scans without a place do not
       count, so a "customs clearance pending" sent without one keeps the hub-hold clock.
    3. The latest located event somewhere else: the stay at the current place began after it;
       location_since is the stay's first scan (the first scan ever if it never moved).
    """
    shipments = _table(Shipment)
    affected_s, ids = _in("s.id", shipment_ids)
    affected, _ids = _in(f"{shipments}.id", shipment_ids)
    sql = _STATE_REFRESH_SQL.format(
        events=_table(TrackingEvent), shipments=shipments, affected_s=affected_s, affected=affected
    )
    params = [
        *ids,
        ShipmentStatus.DELIVERED.value,
        connection.ops.adapt_datetimefield_value(updated_at),
        *ids,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def carrier_status_mappings(*, carrier: Carrier) -> dict[str, tuple[str, str]]:
    """The carrier's code -> (status, cause) table, read once per batch."""
    return {
        code: (status, cause)
        for code, status, cause in carrier.status_mappings.values_list(
            "carrier_code", "status", "cause"
        )
    }
