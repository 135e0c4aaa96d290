"""Shipments in from merchants: one at a time through the API, or by the thousand from a CSV export.

CSV columns (header row required; order free; extra columns ignored)
--------------------------------------------------------------------
=======================  ========  ==========================================================
column                   required  meaning
=======================  ========  ==========================================================
carrier                  yes [1]   carrier code in Delaydesk (e.g. DHL)
tracking_number          yes       the carrier's tracking number; with carrier, the row's key
order_number             yes       the merchant's order number
customer_ref             yes       the merchant's customer id (Customer.external_ref)
customer_name            yes       the customer's name
customer_email           no        email address
customer_phone           no        phone number, E.164 (+4930...)
customer_language        no        en or zh-hans (default en)
origin_region            yes       region the parcel leaves from (e.g. CN-GD)
destination_region       yes       region it goes to (e.g. DE-BE)
destination_postal_code  no        the delivery address's postal code (letters, digits,
                                   spaces, hyphens; at most 16); the customer proves an
                                   order is theirs with it on the progress page
service_level            no        economy, standard or express (default standard)
ordered_at               no        when the order was placed
shipped_at               no        when the parcel was handed to the carrier (the hand-over)
delivered_at             no        when the parcel reached the customer: the shipment is
                                   then delivered, as a carrier's delivery scan makes it
promised_at              yes       the delivery date promised to the customer
order_value              no        amount, dot decimal separator (default 0)
currency                 no        ISO 4217 code (default EUR)
=======================  ========  ==========================================================

[1] optional when ``--carrier CODE`` names the carrier of every row.

Timestamps are ISO 8601 (``2026-11-02T09:30:00+08:00``, ``2026-11-02 09:30:00``,
``2026-11-02``). A timestamp without an offset is read in the import's time zone (default UTC).
A date alone means the start of that day, except for ``promised_at``, where "delivered by
5 November" means by the end of that day (``end_of_day``; the Olist evaluation reads its
date-only promises with it too, so both count lateness alike). A delivered_at before the
row's shipped_at or ordered_at is a row error.

Rules: the key is carrier + tracking_number, so re-importing a file updates its shipments
instead of duplicating them. The original promise is never moved (Shipment.promised_at): a
re-import with another promised_at keeps the stored one and reports a warning. The customer is
found by customer_ref and created when new; the file's non-empty contact details (name, email,
phone, language) replace the stored ones, because the merchant's shop is where customers update
them. Likewise an empty destination_postal_code (or a file without the column) keeps the stored
one: exports made before the column existed must not erase the postal codes customers look
their orders up with. The lane is found or created from carrier + regions + service level.

Delivery (loading history without the carrier webhook): a delivered_at sets the shipment's
status to delivered and its delivered_at, the two fields a delivery scan sets
(shipments.ingest), so delay detection drops it from its sweep and lane statistics and KPIs
count it, and a customer told about a delay gets the delivered notice, as after a scan. An
empty cell never un-delivers a shipment (an export made before the delivery is not a
rollback). A shipment that has carrier scans keeps the delivery its scans say: the ingest
recomputes status and delivered_at from the scans at every batch, so a file's value would be
undone by the next scan; a differing delivered_at is reported as a warning. A re-import whose
shipped_at falls after the stored delivery fails that row.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _

from core.models import Language, choice_values
from core.outside_input import FACT, PROMISE, outside_time_window
from customers.models import Customer
from shipments.models import Carrier, Lane, ServiceLevel, Shipment, ShipmentStatus
from shipments.signals import shipment_delivered

CSV_COLUMNS = (
    "carrier",
    "tracking_number",
    "order_number",
    "customer_ref",
    "customer_name",
    "customer_email",
    "customer_phone",
    "customer_language",
    "origin_region",
    "destination_region",
    "destination_postal_code",
    "service_level",
    "ordered_at",
    "shipped_at",
    "delivered_at",
    "promised_at",
    "order_value",
    "currency",
)
REQUIRED_COLUMNS = (
    "carrier",
    "tracking_number",
    "order_number",
    "customer_ref",
    "customer_name",
    "origin_region",
    "destination_region",
    "promised_at",
)
CHUNK_SIZE = 1000

TRACKING_NUMBER_TAKEN = _("This carrier already has a shipment with this tracking number.")
PROMISE_KEPT = "promised_at: keeps the original promise {kept} (the file says {given})"
DELIVERY_KEPT = "delivered_at: keeps what the carrier's scans say ({kept}); the file says {given}"
DELIVERED_BEFORE = "delivered_at: before {name}: {delivered!r} is earlier than {other!r}"
SHIPPED_AFTER_DELIVERY = (
    "shipped_at: after the stored delivery {delivered} (the file says {shipped})"
)

# A postal code as the customer will type it on the progress page's lookup form: ASCII letters,
# digits, spaces and hyphens (SW1A 1AA, 10115, 100-0001), nothing a lookup could not match.
POSTAL_CODE_PATTERN = re.compile(r"[A-Za-z0-9 -]*")
POSTAL_CODE_INVALID = _("Use only letters A-Z, digits, spaces and hyphens.")

# Column -> the model field's max_length, so a long value is a row error, not a DataError
# that would fail the whole chunk on PostgreSQL.
_MAX_LENGTHS = {
    "tracking_number": 64,
    "order_number": 64,
    "customer_ref": 64,
    "customer_name": 200,
    "customer_email": 254,
    "customer_phone": 32,
    "origin_region": 64,
    "destination_region": 64,
    "destination_postal_code": 16,
}
_LANGUAGES = {value.lower(): value for value in choice_values(Language)}
_SERVICE_LEVELS = set(choice_values(ServiceLevel))
_MAX_ORDER_VALUE = Decimal("9999999999.99")


@dataclass(frozen=True, slots=True)
class ShipmentIn:
    """One shipment as a merchant sends it, validated (from the API or a CSV row)."""

    carrier_id: int
    tracking_number: str
    order_number: str
    customer_ref: str
    customer_name: str
    origin_region: str
    destination_region: str
    promised_at: dt.datetime
    destination_postal_code: str = ""
    customer_email: str = ""
    customer_phone: str = ""
    customer_language: str = Language.EN
    service_level: str = ServiceLevel.STANDARD
    ordered_at: dt.datetime | None = None
    shipped_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    order_value: Decimal = Decimal("0")
    currency: str = "EUR"
    line: int = 0  # the CSV line, for messages; 0 from the API

    @property
    def key(self) -> tuple[int, str]:
        return (self.carrier_id, self.tracking_number)

    @property
    def lane_key(self) -> tuple[int, str, str, str]:
        return (self.carrier_id, self.origin_region, self.destination_region, self.service_level)


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    messages: list[str] = field(default_factory=list)  # "line 7: ..." errors and warnings

    def add(self, other: ImportReport) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.messages.extend(other.messages)


class RowInvalid(Exception):
    """A CSV row that cannot be loaded; ``problems`` are "column: reason" strings."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


# --- Parsing one CSV row ----------------------------------------------------------------------


def shipment_row_parse(
    *,
    row: Mapping[str, str | None],
    line: int,
    carrier_ids: Mapping[str, int],
    default_carrier: str | None,
    time_zone: dt.tzinfo,
    now: dt.datetime,
) -> ShipmentIn:
    """Validate one CSV row into a ShipmentIn, or raise RowInvalid listing every problem.

    ``carrier_ids`` maps the active carriers' codes to their ids; ``default_carrier`` is the
    ``--carrier`` option, which fills an empty carrier cell and must agree with a filled one.
    Every time must fall in the sane window of outside times as of ``now`` (the import's
    start): ordered_at, shipped_at and delivered_at are facts, promised_at a promise
    (core.outside_input). A delivery before the hand-over or the order is refused: it would
    give the lane a negative transit time.
    """
    problems: list[str] = []
    values = {name: (row.get(name) or "").strip() for name in CSV_COLUMNS}

    for name in REQUIRED_COLUMNS:
        if name == "carrier" and default_carrier:
            continue
        if not values[name]:
            problems.append(f"{name}: required")
    for name, limit in _MAX_LENGTHS.items():
        if len(values[name]) > limit:
            problems.append(f"{name}: longer than {limit} characters")

    carrier_code = values["carrier"] or default_carrier or ""
    if default_carrier and values["carrier"] and values["carrier"] != default_carrier:
        problems.append(f"carrier: {values['carrier']!r} but --carrier is {default_carrier!r}")
    elif carrier_code and carrier_code not in carrier_ids:
        problems.append(f"carrier: unknown carrier {carrier_code!r}")

    email = values["customer_email"]
    if email:
        try:
            validate_email(email)
        except ValidationError:
            problems.append(f"customer_email: not an email address: {email!r}")
    language = _LANGUAGES.get(values["customer_language"].lower() or Language.EN)
    if language is None:
        problems.append(
            f"customer_language: not one of {', '.join(_LANGUAGES.values())}: "
            f"{values['customer_language']!r}"
        )
    service_level = values["service_level"].lower() or ServiceLevel.STANDARD
    if service_level not in _SERVICE_LEVELS:
        problems.append(
            f"service_level: not one of {', '.join(choice_values(ServiceLevel))}: "
            f"{values['service_level']!r}"
        )

    moments: dict[str, dt.datetime | None] = {}
    for name in ("ordered_at", "shipped_at", "delivered_at", "promised_at"):
        try:
            moment = _parse_moment(values[name], time_zone=time_zone, promise=name == "promised_at")
        except ValueError:
            problems.append(f"{name}: not a date: {values[name]!r}")
            continue
        if moment is not None:
            window = outside_time_window(
                received_at=now, kind=PROMISE if name == "promised_at" else FACT
            )
            error = window.error(moment)
            if error is not None:
                problems.append(f"{name}: {error} ({values[name]!r})")
                continue
            # Inside the window: the conversion cannot overflow.
            moment = moment.astimezone(dt.UTC)
        moments[name] = moment
    delivered = moments.get("delivered_at")
    if delivered is not None:
        for name in ("shipped_at", "ordered_at"):
            other = moments.get(name)
            if other is not None and delivered < other:
                problems.append(
                    DELIVERED_BEFORE.format(
                        name=name, delivered=values["delivered_at"], other=values[name]
                    )
                )
                break

    order_value = Decimal("0")
    if values["order_value"]:
        try:
            order_value = Decimal(values["order_value"])
        except InvalidOperation:
            problems.append(f"order_value: not an amount: {values['order_value']!r}")
        else:
            if not order_value.is_finite() or not 0 <= order_value <= _MAX_ORDER_VALUE:
                problems.append(f"order_value: not an amount from 0: {values['order_value']!r}")
            else:
                order_value = order_value.quantize(Decimal("0.01"))
    postal_code = values["destination_postal_code"]
    if not POSTAL_CODE_PATTERN.fullmatch(postal_code):
        problems.append(
            "destination_postal_code: use only letters A-Z, digits, spaces and hyphens: "
            f"{postal_code!r}"
        )
    currency = values["currency"].upper() or "EUR"
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        problems.append(f"currency: not a 3-letter ISO 4217 code: {values['currency']!r}")

    if problems:
        raise RowInvalid(problems)
    return ShipmentIn(
        carrier_id=carrier_ids[carrier_code],
        tracking_number=values["tracking_number"],
        order_number=values["order_number"],
        customer_ref=values["customer_ref"],
        customer_name=values["customer_name"],
        customer_email=email,
        customer_phone=values["customer_phone"],
        customer_language=language,
        origin_region=values["origin_region"],
        destination_region=values["destination_region"],
        destination_postal_code=postal_code,
        service_level=service_level,
        ordered_at=moments["ordered_at"],
        shipped_at=moments["shipped_at"],
        delivered_at=moments["delivered_at"],
        promised_at=moments["promised_at"],  # required: checked above
        order_value=order_value,
        currency=currency,
        line=line,
    )


def _parse_moment(value: str, *, time_zone: dt.tzinfo, promise: bool) -> dt.datetime | None:
    """The aware moment ``value`` names, in its own offset (converting year 1 or 9999 to UTC
    could overflow: the caller checks the window first)."""
    if not value:
        return None
    # A date alone first: parse_datetime would read "2026-11-05" as midnight.
    day = parse_date(value)  # parse_date and parse_datetime raise ValueError on 2026-02-30
    if day is not None:
        if promise:
            return end_of_day(day, time_zone=time_zone)
        return dt.datetime.combine(day, dt.time.min, tzinfo=time_zone)
    moment = parse_datetime(value)
    if moment is None:
        raise ValueError(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=time_zone)
    return moment


def end_of_day(day: dt.date, *, time_zone: dt.tzinfo) -> dt.datetime:
    """The last moment of ``day`` where it was promised: "delivered by 5 November" is kept by
    a delivery at any time that day, so a promise given as a date alone means this moment.
    One helper for the import and the Olist evaluation (shipments.olist), so that a parcel
    delivered on its promised day is on time for both."""
    return dt.datetime.combine(day, dt.time.max, tzinfo=time_zone)


def time_zone_parse(name: str) -> dt.tzinfo:
    """The zone for naive CSV timestamps; raises ValueError naming an unknown zone."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


# --- Writing ----------------------------------------------------------------------------------


def shipments_import(
    *, rows: Sequence[ShipmentIn], now: dt.datetime, dry_run: bool = False
) -> ImportReport:
    """Create or update a chunk of shipments with bulk queries, in one transaction.

    1. Rows repeating a key earlier in the chunk: the later row wins (warning).
    2. Customers by customer_ref: bulk_create the new ones, bulk_update changed contact
       details, then one query for every row's customer id.
    3. Lanes by carrier + regions + service level: bulk_create the missing ones, then read ids.
    4. Shipments by carrier + tracking_number, read first: a row whose shipped_at falls after
       the delivery its shipment will have fails here, before any write.
    5. bulk_create new ones, bulk_update the changed ones; an existing promise is kept
       (warning when the row's differs). Deliveries are written by a second bulk_update of
       status and delivered_at alone, so a row that delivers nothing never writes a status
       that a concurrent scan may just have changed.
    6. Shipments this chunk moved to delivered: the delivered notice, as after a delivery
       scan (shipments.signals.shipment_delivered, in this transaction).

    A constant number of queries per chunk. ``dry_run`` does all of it and rolls back, so a
    dry run reports exactly what a real run would. Another import creating the same rows at
    the same moment fails this chunk with IntegrityError; the caller reports the chunk's lines.
    """
    report = ImportReport()
    latest: dict[tuple[int, str], ShipmentIn] = {}
    for row in rows:
        if row.key in latest:
            report.messages.append(
                f"line {row.line}: repeats line {latest[row.key].line}'s shipment "
                f"{row.tracking_number}; the later row wins"
            )
        latest[row.key] = row
    rows = list(latest.values())
    if not rows:
        return report

    with transaction.atomic():
        existing = {
            (shipment.carrier_id, shipment.tracking_number): shipment
            for shipment in Shipment.objects.filter(
                carrier_id__in={row.carrier_id for row in rows},
                tracking_number__in={row.tracking_number for row in rows},
            ).only(
                "carrier_id",
                "tracking_number",
                "promised_at",
                "status",
                "delivered_at",
                "last_event_at",
                *_UPDATED_FIELDS,
            )
        }
        storable = []
        for row in rows:
            delivered_at = _delivered_at_after(row, existing.get(row.key))
            if (
                row.shipped_at is not None
                and delivered_at is not None
                and row.shipped_at > delivered_at
            ):
                report.failed += 1
                report.messages.append(
                    f"line {row.line}: "
                    + SHIPPED_AFTER_DELIVERY.format(
                        delivered=delivered_at.isoformat(), shipped=row.shipped_at.isoformat()
                    )
                )
                continue
            storable.append(row)
        rows = storable
        customer_ids = _customers_resolve(rows=rows, now=now) if rows else {}
        lane_ids = _lanes_resolve(keys={row.lane_key for row in rows}) if rows else {}
        new, changed, delivering, newly_delivered = [], [], [], []
        for row in rows:
            wanted = _shipment_values(
                row, customer_id=customer_ids[row.customer_ref], lane_id=lane_ids[row.lane_key]
            )
            shipment = existing.get(row.key)
            if shipment is None:
                if row.delivered_at is not None:
                    wanted |= {"status": ShipmentStatus.DELIVERED, "delivered_at": row.delivered_at}
                new.append(
                    Shipment(
                        carrier_id=row.carrier_id,
                        tracking_number=row.tracking_number,
                        promised_at=row.promised_at,
                        **wanted,
                    )
                )
                continue
            if not row.destination_postal_code:
                # An empty cell keeps the stored postal code (module docstring).
                del wanted["destination_postal_code"]
            if shipment.promised_at != row.promised_at:
                report.messages.append(
                    f"line {row.line}: "
                    + PROMISE_KEPT.format(
                        kept=shipment.promised_at.isoformat(), given=row.promised_at.isoformat()
                    )
                )
            delivered_at = _delivered_at_after(row, shipment)
            if row.delivered_at is not None and delivered_at != row.delivered_at:
                report.messages.append(
                    f"line {row.line}: "
                    + DELIVERY_KEPT.format(
                        kept=delivered_at.isoformat() if delivered_at else "not delivered",
                        given=row.delivered_at.isoformat(),
                    )
                )
            delivers = delivered_at is not None and (
                shipment.status != ShipmentStatus.DELIVERED or shipment.delivered_at != delivered_at
            )
            same = all(getattr(shipment, name) == value for name, value in wanted.items())
            if same and not delivers:
                report.unchanged += 1
                continue
            shipment.updated_at = now  # bulk_update skips auto_now
            if not same:
                for name, value in wanted.items():
                    setattr(shipment, name, value)
                changed.append(shipment)
            if delivers:
                if shipment.status != ShipmentStatus.DELIVERED:
                    newly_delivered.append(shipment.pk)
                shipment.status = ShipmentStatus.DELIVERED
                shipment.delivered_at = delivered_at
                delivering.append(shipment)
        Shipment.objects.bulk_create(new)
        Shipment.objects.bulk_update(changed, [*_UPDATED_FIELDS, "updated_at"])
        Shipment.objects.bulk_update(delivering, [*_DELIVERY_FIELDS, "updated_at"])
        if newly_delivered:
            shipment_delivered.send(sender=Shipment, shipment_ids=sorted(newly_delivered), at=now)
        report.created = len(new)
        report.updated = len({shipment.pk for shipment in [*changed, *delivering]})
        if dry_run:
            transaction.set_rollback(True)
    return report


_UPDATED_FIELDS = (
    "order_number",
    "customer_id",
    "lane_id",
    "service_level",
    "origin_region",
    "destination_region",
    "destination_postal_code",
    "ordered_at",
    "shipped_at",
    "order_value",
    "currency",
)


# What a delivery scan sets (shipments.ingest), and so does a delivered_at in the file.
_DELIVERY_FIELDS = ("status", "delivered_at")


def _delivered_at_after(row: ShipmentIn, shipment: Shipment | None) -> dt.datetime | None:
    """The delivery time the shipment has once ``row`` is stored (module docstring): the
    row's for a new shipment; the stored one for a shipment with carrier scans, or when the
    row gives none; else the row's."""
    if shipment is None:
        return row.delivered_at
    if shipment.last_event_at is not None or row.delivered_at is None:
        return shipment.delivered_at
    return row.delivered_at


def _shipment_values(row: ShipmentIn, *, customer_id: int, lane_id: int) -> dict:
    return {
        "order_number": row.order_number,
        "customer_id": customer_id,
        "lane_id": lane_id,
        "service_level": row.service_level,
        "origin_region": row.origin_region,
        "destination_region": row.destination_region,
        "destination_postal_code": row.destination_postal_code,
        "ordered_at": row.ordered_at,
        "shipped_at": row.shipped_at,
        "order_value": row.order_value,
        "currency": row.currency,
    }


_CONTACT_FIELDS = ("name", "email", "phone", "language")


def _customers_resolve(*, rows: Sequence[ShipmentIn], now: dt.datetime) -> dict[str, int]:
    latest = {row.customer_ref: row for row in rows}
    found = {
        customer.external_ref: customer
        for customer in Customer.objects.filter(external_ref__in=list(latest)).only(
            "external_ref", *_CONTACT_FIELDS
        )
    }
    new, changed = [], []
    for ref, row in latest.items():
        given = {
            "name": row.customer_name,
            "email": row.customer_email,
            "phone": row.customer_phone,
            "language": row.customer_language,
        }
        customer = found.get(ref)
        if customer is None:
            new.append(Customer(external_ref=ref, **given))
            continue
        # An empty cell keeps what we know: a missing phone in one export is not a deletion.
        updates = {name: value for name, value in given.items() if value}
        if any(getattr(customer, name) != value for name, value in updates.items()):
            for name, value in updates.items():
                setattr(customer, name, value)
            customer.updated_at = now
            changed.append(customer)
    # ignore_conflicts: a customer created meanwhile by another import is simply found below.
    Customer.objects.bulk_create(new, ignore_conflicts=True)
    Customer.objects.bulk_update(changed, [*_CONTACT_FIELDS, "updated_at"])
    return dict(
        Customer.objects.filter(external_ref__in=list(latest)).values_list("external_ref", "pk")
    )


def _lanes_resolve(*, keys: set[tuple[int, str, str, str]]) -> dict[tuple[int, str, str, str], int]:
    def read() -> dict[tuple[int, str, str, str], int]:
        # A superset filter per column, then the exact keys: one query however many lanes.
        candidates = Lane.objects.filter(
            carrier_id__in={key[0] for key in keys},
            origin_region__in={key[1] for key in keys},
            destination_region__in={key[2] for key in keys},
            service_level__in={key[3] for key in keys},
        ).values_list("carrier_id", "origin_region", "destination_region", "service_level", "pk")
        return {tuple(values[:4]): values[4] for values in candidates if tuple(values[:4]) in keys}

    found = read()
    missing = keys - found.keys()
    if not missing:
        return found
    Lane.objects.bulk_create(
        [
            Lane(
                carrier_id=carrier_id,
                origin_region=origin,
                destination_region=destination,
                service_level=level,
            )
            for carrier_id, origin, destination, level in sorted(missing)
        ],
        ignore_conflicts=True,
    )
    return read()


class ShipmentExists(Exception):
    """The carrier already has a shipment with this tracking number."""


def shipment_create(*, data: ShipmentIn, now: dt.datetime) -> Shipment:
    """Create one shipment from the API, with its customer and lane found or created.

    Raises ShipmentExists when the carrier already has the tracking number (the API checks
    first; this covers two requests racing).
    """
    try:
        with transaction.atomic():
            customer_id = _customers_resolve(rows=[data], now=now)[data.customer_ref]
            lane_id = _lanes_resolve(keys={data.lane_key})[data.lane_key]
            return Shipment.objects.create(
                carrier_id=data.carrier_id,
                tracking_number=data.tracking_number,
                promised_at=data.promised_at,
                **_shipment_values(data, customer_id=customer_id, lane_id=lane_id),
            )
    except IntegrityError:
        if Shipment.objects.filter(
            carrier_id=data.carrier_id, tracking_number=data.tracking_number
        ).exists():
            raise ShipmentExists(TRACKING_NUMBER_TAKEN) from None
        raise


def carrier_ids_by_code() -> dict[str, int]:
    return dict(Carrier.objects.filter(is_active=True).values_list("code", "pk"))
