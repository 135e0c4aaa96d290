"""The root-causes page (/supervisor/causes/): where delays come from, and how reliable the
carriers and lanes are, for the period and filters of the workspace (supervisor.scope).

Tables (each exported as CSV with `?format=csv&table=<name>`):

- top delay causes by carrier, by lane (origin -> destination, carrier, service level), by hub
  and by week: shipments whose delay was detected in the period (`delay_detected_at`), grouped
  by `delay_cause`, next to the same count in the previous period of the same length and the
  change. The weekly table compares each week (Monday to Sunday in the reader's time zone; the
  period's first and last weeks may be partial, and say so) with the week before it.
  A shipment's hub is its incident's hub when its incident names one, else the last location the
  carrier scanned it at (`last_location`: where a held parcel is held).
- reliability per carrier and per lane: of the deliveries in the period (`delivered_at`), the
  on-time rate (delivered_at <= promised_at) next to the previous period's, the mean lateness of
  the late ones (days), and the exception rate: of the shipments delivered, delayed or failed in
  the period (delivered, delay detected, or an exception status scanned in the period), the
  share delayed or failed (exception, failed delivery attempt, returned to sender).

Each row links to the list of shipments behind it (supervisor.charts.shipments_href). Long
tables show PAGE_SIZE rows a page.

At 1,000,000 shipments the tables take seconds to read (each groups the delayed or delivered
shipments of two periods: docs/PERFORMANCE.md). So:

- four queries read them, whatever the data: the carrier tables are added up from the lane
  tables' rows (each lane row names its carrier), which is what grouping the same shipments by
  carrier counts;
- every row of every table (`CauseRows`: numbers and names, no word of the reader's language,
  so one computation serves both languages) is kept in the shared cache for the default view
  (last 30 days, no filter, the display time zone), the one read every morning: the periodic
  refresh computes it again after each refresh of the rollup (supervisor.snapshot.warm), under
  a key naming the rollup's generation, the period, the filters and the time zone. A request
  of that view reads it there (two queries). Any other view is read by its request and not
  kept: an entry per period, filter and refresh would fill the database cache of the embedded
  default, which keeps past entries until it culls. The page says when its figures were
  computed, and its CSV is made from the same rows.

The tables are read on `core.db.reports_db()`: the reports replica when one is configured
(REPORTS_DATABASE_URL), so these scans never compete with the console's writes. A replica lags
the primary by its replication delay (usually under a second): a row may count a delay or a
delivery of the last seconds one short, which the next view counts.
"""

from __future__ import annotations

import datetime as dt
import pickle
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import (
    Count,
    DurationField,
    F,
    FloatField,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, NullIf, TruncWeek
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from core.cache import cache_get, cache_set
from core.db import reports_db
from core.inputs import parse_page
from core.models import DelayCause
from core.schedules import REFRESH_KPI_ROLLUP_INTERVAL_SECONDS
from shipments.models import Shipment, ShipmentStatus
from supervisor import rollup
from supervisor.charts import format_number, long_day_label, percent, shipments_href
from supervisor.export import csv_response, wants_csv
from supervisor.scope import Scope, day_start, scope_from
from supervisor.trends import lane_label

PAGE_SIZE = 20
EXCEPTION_STATUSES = (
    ShipmentStatus.EXCEPTION,
    ShipmentStatus.FAILED_ATTEMPT,
    ShipmentStatus.RETURNED,
)
NO_HUB = gettext_lazy("No location scanned")
WEEK = dt.timedelta(days=7)


# --- selectors: delay causes ----------------------------------------------------------------


def delays_in_both_periods(scope: Scope) -> QuerySet[Shipment]:
    """Shipments whose delay was detected in the period or the one before (one range on
    `delay_detected_at`), with the scope's filters."""
    previous = scope.previous()
    return scope.shipments(
        Shipment.objects.using(reports_db()).filter(
            delay_detected_at__gte=previous.start, delay_detected_at__lt=scope.end
        )
    )


def _counted(qs: QuerySet, scope: Scope, *tie_breakers: str) -> QuerySet:
    """Grouped rows with their count in the period and the previous one, most delays first.

    Counted on `delay_detected_at` (never NULL in these rows), not the id: the covering index
    on it (shipments_detected_idx) answers where the grouping needs nothing else."""
    return qs.annotate(
        current=Count("delay_detected_at", filter=scope.in_period("delay_detected_at")),
        previous=Count("delay_detected_at", filter=scope.in_previous("delay_detected_at")),
    ).order_by("-current", "-previous", *tie_breakers, "delay_cause")


def causes_by_carrier(lanes: Iterable[dict]) -> list[dict]:
    """The causes per carrier, added up from the rows of `causes_by_lane` (every delayed
    shipment is in exactly one of them, with its carrier), most delays first."""
    totals: dict[tuple, dict] = {}
    for lane in lanes:
        key = (lane["carrier_id"], lane["carrier__name"], lane["delay_cause"])
        row = totals.get(key)
        if row is None:
            row = totals[key] = {
                "carrier_id": key[0],
                "carrier__name": key[1],
                "delay_cause": key[2],
                "current": 0,
                "previous": 0,
            }
        row["current"] += lane["current"]
        row["previous"] += lane["previous"]
    return sorted(
        totals.values(),
        key=lambda r: (
            -r["current"],
            -r["previous"],
            r["carrier__name"],
            r["carrier_id"],
            r["delay_cause"],
        ),
    )


def causes_by_lane(scope: Scope) -> QuerySet:
    """By the shipment's own route (a shipment on no known lane still has one) and its lane."""
    return _counted(
        delays_in_both_periods(scope).values(
            "origin_region",
            "destination_region",
            "carrier__name",
            "service_level",
            "carrier_id",
            "lane_id",
            "delay_cause",
        ),
        scope,
        "origin_region",
        "destination_region",
        "carrier__name",
        "service_level",
        "lane_id",
    )


def causes_by_hub(scope: Scope) -> QuerySet:
    hub = Coalesce(NullIf("incident__hub", Value("")), "last_location")
    return _counted(
        delays_in_both_periods(scope).annotate(hub=hub).values("hub", "delay_cause"), scope, "hub"
    )


@dataclass(frozen=True)
class WeekCount:
    week: dt.date  # its Monday
    cause: str
    current: int  # in the part of the week inside the period
    previous: int  # the whole week before
    partial: bool


def causes_by_week(scope: Scope, zone) -> list[WeekCount]:
    """Each (week, cause) of the period with the count of the week before, in one query.

    The weeks counted start with the week before the period's first week (the comparison of
    the first week); a week's count is limited to the period, the week before is counted
    whole.
    """
    first_monday = scope.first_day - dt.timedelta(days=scope.first_day.weekday())
    since = day_start(first_monday - dt.timedelta(days=7))
    rows = (
        scope.shipments(
            Shipment.objects.using(reports_db()).filter(
                delay_detected_at__gte=since, delay_detected_at__lt=scope.end
            )
        )
        .annotate(week=TruncWeek("delay_detected_at", tzinfo=zone))
        .values("week", "delay_cause")
        .annotate(
            # delay_detected_at, not the id: the covering index answers alone.
            current=Count("delay_detected_at", filter=scope.in_period("delay_detected_at")),
            whole=Count("*"),
        )
        .order_by()
    )
    counts: dict[tuple[dt.date, str], tuple[int, int]] = {}
    for row in rows:
        monday = timezone.localtime(row["week"], zone).date()
        counts[(monday, row["delay_cause"])] = (row["current"], row["whole"])

    def partial(monday: dt.date) -> bool:
        return monday < scope.first_day or monday + dt.timedelta(days=6) > scope.last_day

    weeks = []
    for (monday, cause), (current, _whole) in counts.items():
        previous = counts.get((monday - WEEK, cause), (0, 0))[1]
        if monday >= first_monday and (current or previous):
            weeks.append(WeekCount(monday, cause, current, previous, partial(monday)))
    # A cause seen one week and not the next went away, which is news too.
    for (monday, cause), (_current, whole) in counts.items():
        following = monday + WEEK
        if following <= scope.last_day and (following, cause) not in counts:
            weeks.append(WeekCount(following, cause, 0, whole, partial(following)))
    weeks.sort(key=lambda w: (w.week, -w.current, -w.previous, w.cause))
    return weeks


# --- selectors: reliability -----------------------------------------------------------------


RELIABILITY_COUNTS = (
    "deliveries",
    "on_time",
    "late",
    "previous_deliveries",
    "previous_on_time",
    "shipments",
    "exceptions",
)


def _reliability(scope: Scope, *group: str) -> QuerySet:
    previous = scope.previous()
    delivered = Q(status=ShipmentStatus.DELIVERED) & scope.in_period("delivered_at")
    delivered_before = Q(status=ShipmentStatus.DELIVERED) & scope.in_previous("delivered_at")
    on_time = Q(delivered_at__lte=F("promised_at"))
    failed = Q(status__in=EXCEPTION_STATUSES) & scope.in_period("last_event_at")
    delayed = scope.in_period("delay_detected_at")
    in_population = delivered | delayed | failed
    lateness = F("delivered_at") - F("promised_at")
    qs = scope.shipments(
        Shipment.objects.using(reports_db()).filter(
            Q(
                status=ShipmentStatus.DELIVERED,
                delivered_at__gte=previous.start,
                delivered_at__lt=scope.end,
            )
            | delayed
            | failed
        )
    )
    return (
        qs.values(*group)
        .annotate(
            deliveries=Count("pk", filter=delivered),
            on_time=Count("pk", filter=delivered & on_time),
            # The mean lateness is late_total / late, worked out per row (_with_lateness): a
            # sum and a count add up to the carrier's, a mean would not.
            late=Count("pk", filter=delivered & ~on_time),
            late_total=Sum(lateness, filter=delivered & ~on_time, output_field=DurationField()),
            previous_deliveries=Count("pk", filter=delivered_before),
            previous_on_time=Count("pk", filter=delivered_before & on_time),
            shipments=Count("pk", filter=in_population),
            exceptions=Count("pk", filter=delayed | failed),
        )
        .annotate(
            rate=Cast(F("on_time"), FloatField()) / NullIf(F("deliveries"), Value(0)),
        )
        .order_by(F("rate").asc(nulls_last=True), "-deliveries", *group)
    )


def _with_lateness(row: dict) -> dict:
    total, late = row["late_total"], row["late"]
    row["lateness"] = total / late if late and total is not None else None
    return row


def lane_reliability(scope: Scope) -> list[dict]:
    return [
        _with_lateness(row)
        for row in _reliability(
            scope,
            "origin_region",
            "destination_region",
            "carrier__name",
            "service_level",
            "carrier_id",
            "lane_id",
        )
    ]


def carrier_reliability(lanes: Iterable[dict]) -> list[dict]:
    """The reliability per carrier, added up from the rows of `lane_reliability` (each
    shipment counted is in exactly one lane row, with its carrier), least reliable first."""
    totals: dict[tuple, dict] = {}
    for lane in lanes:
        key = (lane["carrier_id"], lane["carrier__name"])
        row = totals.get(key)
        if row is None:
            row = totals[key] = {
                "carrier_id": key[0],
                "carrier__name": key[1],
                "late_total": None,
                **dict.fromkeys(RELIABILITY_COUNTS, 0),
            }
        for name in RELIABILITY_COUNTS:
            row[name] += lane[name]
        if lane["late_total"] is not None:
            row["late_total"] = lane["late_total"] + (row["late_total"] or dt.timedelta())

    def order(row: dict) -> tuple:
        # As _reliability orders: the on-time rate (none last), most deliveries, the group.
        rate = row["on_time"] / row["deliveries"] if row["deliveries"] else None
        return (rate is None, rate or 0.0, -row["deliveries"], row["carrier_id"])

    return [_with_lateness(row) for row in sorted(totals.values(), key=order)]


# --- rows as the page and the CSV read them -------------------------------------------------

CAUSE_LABELS = dict(DelayCause.choices)


def cause_label(cause: str) -> str:
    return str(CAUSE_LABELS.get(cause, cause))


def change_text(current: int, previous: int) -> str:
    change = current - previous
    arrow = "▲" if change > 0 else "▼" if change < 0 else "="
    share = percent(change, previous)
    if previous == 0 and current > 0:
        relative = _("new")
    elif share is None:
        relative = ""
    else:
        relative = format_number(share, unit="%")
        if share > 0:
            relative = "+" + relative
    signed = f"+{change}" if change > 0 else str(change)
    return f"{arrow} {signed}" + (f" ({relative})" if relative else "")


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool = False
    css: str = ""


@dataclass(frozen=True)
class TableRow:
    cells: tuple[Cell, ...]
    href: str = ""


@dataclass(frozen=True)
class Table:
    """One table of the page: its rows are `CauseRows.tables[name]`; how a row shows (`row`),
    and how it exports (`csv`)."""

    name: str
    title: str
    description: str
    columns: tuple[str, ...]
    numeric: tuple[bool, ...]
    row: Callable[[Scope, object], TableRow]
    csv_header: tuple[str, ...]
    csv: Callable[[object], list]
    empty: str


def _lane_text(row) -> str:
    return lane_label(
        row["origin_region"], row["destination_region"], row["carrier__name"], row["service_level"]
    )


def _lane_link(row) -> dict:
    return {"lane": row["lane_id"]} if row["lane_id"] else {"carrier": row["carrier_id"]}


def _delay_trend(current: int, previous: int) -> str:
    """More delays is worse (the cell's class; the arrow and sign say it without colour)."""
    return "change-worse" if current > previous else "change-better" if current < previous else ""


def _change_cells(current: int, previous: int) -> tuple[Cell, ...]:
    direction = _delay_trend(current, previous)
    return (
        Cell(format_number(current, decimals=0), True),
        Cell(format_number(previous, decimals=0), True),
        Cell(change_text(current, previous), True, direction),
    )


def _change_csv(current: int, previous: int) -> list:
    share = percent(current - previous, previous)
    return [current, previous, current - previous, "" if share is None else round(share, 1)]


def _days(duration: dt.timedelta | None) -> float | None:
    return None if duration is None else duration.total_seconds() / 86400


def _reliability_cells(row) -> tuple[Cell, ...]:
    rate = percent(row["on_time"], row["deliveries"])
    before = percent(row["previous_on_time"], row["previous_deliveries"])
    change = None if rate is None or before is None else rate - before
    change_label = "—"
    if change is not None:
        points = format_number(abs(change), unit=" pp")
        change_label = f"▲ +{points}" if change > 0 else f"▼ −{points}" if change < 0 else "= 0"
    return (
        Cell(format_number(row["deliveries"], decimals=0), True),
        Cell(format_number(rate, unit="%"), True),
        Cell(format_number(before, unit="%"), True),
        Cell(
            change_label,
            True,
            "change-better" if change and change > 0 else "change-worse" if change else "",
        ),
        Cell(format_number(_days(row["lateness"]), unit=" " + _("d")), True),
        Cell(format_number(percent(row["exceptions"], row["shipments"]), unit="%"), True),
    )


def _reliability_csv(row) -> list:
    def rounded(value):
        return "" if value is None else round(value, 2)

    return [
        row["deliveries"],
        row["on_time"],
        rounded(percent(row["on_time"], row["deliveries"])),
        row["previous_deliveries"],
        rounded(percent(row["previous_on_time"], row["previous_deliveries"])),
        rounded(_days(row["lateness"])),
        row["shipments"],
        row["exceptions"],
        rounded(percent(row["exceptions"], row["shipments"])),
    ]


def tables() -> list[Table]:
    """The page's tables, in the reader's language (gettext at call time)."""
    change_columns = (_("In the period"), _("Previous period"), _("Change"))
    change_csv = ("count", "previous_count", "change", "change_percent")
    reliability_columns = (
        _("Deliveries"),
        _("On time"),
        _("On time, previous period"),
        _("Change"),
        _("Mean lateness of late deliveries"),
        _("Exception rate"),
    )
    reliability_csv = (
        "deliveries",
        "on_time",
        "on_time_percent",
        "previous_deliveries",
        "previous_on_time_percent",
        "mean_lateness_days",
        "shipments",
        "exceptions",
        "exception_percent",
    )

    def cause_row(label_cells, link):
        def row(scope, r):
            return TableRow(
                cells=(*label_cells(r), Cell(cause_label(r["delay_cause"])))
                + _change_cells(r["current"], r["previous"]),
                href=shipments_href(scope, cause=r["delay_cause"], **link(r)),
            )

        return row

    def week_row(scope, w: WeekCount) -> TableRow:
        end = min(w.week + dt.timedelta(days=6), scope.last_day)
        start = max(w.week, scope.first_day)
        week = _("Week of %(day)s") % {"day": long_day_label(w.week)}
        return TableRow(
            cells=(
                Cell(week + (" · " + _("partial") if w.partial else "")),
                Cell(cause_label(w.cause)),
                Cell(format_number(w.current, decimals=0), True),
                Cell(format_number(w.previous, decimals=0), True),
                Cell(change_text(w.current, w.previous), True, _delay_trend(w.current, w.previous)),
            ),
            href=shipments_href(
                scope, days=None, start=start.isoformat(), end=end.isoformat(), cause=w.cause
            ),
        )

    return [
        Table(
            name="carriers",
            title=_("Delay causes by carrier"),
            description=_("Delays detected in the period, by carrier and cause."),
            columns=(_("Carrier"), _("Cause"), *change_columns),
            numeric=(False, False, True, True, True),
            row=cause_row(
                lambda r: (Cell(r["carrier__name"]),), lambda r: {"carrier": r["carrier_id"]}
            ),
            csv_header=("carrier", "cause", *change_csv),
            csv=lambda r: [
                r["carrier__name"],
                r["delay_cause"],
                *_change_csv(r["current"], r["previous"]),
            ],
            empty=_("No delay was detected in this period or the one before."),
        ),
        Table(
            name="lanes",
            title=_("Delay causes by lane"),
            description=_(
                "Delays detected in the period, by route (origin → destination, carrier, "
                "service level) and cause."
            ),
            columns=(_("Lane"), _("Cause"), *change_columns),
            numeric=(False, False, True, True, True),
            row=cause_row(lambda r: (Cell(_lane_text(r)),), _lane_link),
            csv_header=(
                "origin",
                "destination",
                "carrier",
                "service_level",
                "cause",
                *change_csv,
            ),
            csv=lambda r: [
                r["origin_region"],
                r["destination_region"],
                r["carrier__name"],
                r["service_level"],
                r["delay_cause"],
                *_change_csv(r["current"], r["previous"]),
            ],
            empty=_("No delay was detected in this period or the one before."),
        ),
        Table(
            name="hubs",
            title=_("Delay causes by hub"),
            description=_(
                "Delays detected in the period, by the hub of the shipment's incident, else the "
                "last place the carrier scanned it (where a held parcel is held)."
            ),
            columns=(_("Hub"), _("Cause"), *change_columns),
            numeric=(False, False, True, True, True),
            row=cause_row(
                lambda r: (Cell(r["hub"] or str(NO_HUB)),), lambda r: {"hub": r["hub"] or None}
            ),
            csv_header=("hub", "cause", *change_csv),
            csv=lambda r: [r["hub"], r["delay_cause"], *_change_csv(r["current"], r["previous"])],
            empty=_("No delay was detected in this period or the one before."),
        ),
        Table(
            name="weeks",
            title=_("Delay causes by week"),
            description=_(
                "Delays detected each week of the period (Monday to Sunday), by cause, compared "
                "with the week before."
            ),
            columns=(_("Week"), _("Cause"), _("This week"), _("Week before"), _("Change")),
            numeric=(False, False, True, True, True),
            row=week_row,
            csv_header=(
                "week_start",
                "partial",
                "cause",
                "count",
                "previous_week",
                "change",
                "change_percent",
            ),
            csv=lambda w: [
                w.week.isoformat(),
                "yes" if w.partial else "no",
                w.cause,
                *_change_csv(w.current, w.previous),
            ],
            empty=_("No delay was detected in this period."),
        ),
        Table(
            name="carrier_reliability",
            title=_("Carrier reliability"),
            description=_(
                "On-time rate of the deliveries in the period, least reliable first; mean "
                "lateness of the late ones; exception rate: of the shipments delivered, delayed "
                "or failed in the period, the share delayed or failed (exception, failed "
                "attempt, returned)."
            ),
            columns=(_("Carrier"), *reliability_columns),
            numeric=(False, True, True, True, True, True, True),
            row=lambda scope, r: TableRow(
                cells=(Cell(r["carrier__name"]), *_reliability_cells(r)),
                href=shipments_href(scope, carrier=r["carrier_id"]),
            ),
            csv_header=("carrier", *reliability_csv),
            csv=lambda r: [r["carrier__name"], *_reliability_csv(r)],
            empty=_("No parcel was delivered, delayed or failed in this period."),
        ),
        Table(
            name="lane_reliability",
            title=_("Lane reliability"),
            description=_(
                "The same figures per lane (origin → destination, carrier, service level)."
            ),
            columns=(_("Lane"), *reliability_columns),
            numeric=(False, True, True, True, True, True, True),
            row=lambda scope, r: TableRow(
                cells=(Cell(_lane_text(r)), *_reliability_cells(r)),
                href=shipments_href(scope, **_lane_link(r)),
            ),
            csv_header=("origin", "destination", "carrier", "service_level", *reliability_csv),
            csv=lambda r: [
                r["origin_region"],
                r["destination_region"],
                r["carrier__name"],
                r["service_level"],
                *_reliability_csv(r),
            ],
            empty=_("No parcel was delivered, delayed or failed in this period."),
        ),
    ]


# --- pages of a table -----------------------------------------------------------------------


@dataclass
class TablePage:
    table: Table
    rows: list[TableRow]
    number: int
    has_next: bool
    previous_query: str = ""
    next_query: str = ""
    csv_query: str = ""
    headers: list[tuple[str, bool]] = field(default_factory=list)


def table_page(table: Table, rows: list, scope: Scope, *, number: int) -> TablePage:
    """Rows of page `number` (from 1) of `rows` (the whole table) and whether another
    follows."""
    offset = (number - 1) * PAGE_SIZE
    found = rows[offset : offset + PAGE_SIZE + 1]
    param = f"{table.name}_page"
    return TablePage(
        table=table,
        rows=[table.row(scope, item) for item in found[:PAGE_SIZE]],
        number=number,
        has_next=len(found) > PAGE_SIZE,
        previous_query=scope.query(**{param: number - 1 if number > 2 else None})
        if number > 1
        else "",
        next_query=scope.query(**{param: number + 1}),
        csv_query=scope.query(format="csv", table=table.name),
        headers=list(zip(table.columns, table.numeric, strict=True)),
    )


def csv_rows(table: Table, rows: list) -> Iterator[list]:
    for item in rows:
        yield table.csv(item)


# --- every row, kept between refreshes ----------------------------------------------------------


@dataclass(frozen=True)
class CauseRows:
    """Every row of every table of one scope and time zone (names and numbers, no text in a
    reader's language), and when they were read; `kept`: computed by the periodic refresh."""

    tables: dict[str, list]
    computed_at: dt.datetime
    kept: bool = False


def compute(
    scope: Scope, zone, *, now: dt.datetime, kept: bool = False, only: str = ""
) -> CauseRows:
    """The four queries of the page (delays by lane, by hub, by week; reliability by lane),
    the carrier tables added up from the lane tables; with `only`, what that table needs (a
    CSV export)."""

    def wanted(*names: str) -> bool:
        return not only or only in names

    found: dict[str, list] = {}
    if wanted("carriers", "lanes"):
        found["lanes"] = list(causes_by_lane(scope))
        found["carriers"] = causes_by_carrier(found["lanes"])
    if wanted("hubs"):
        found["hubs"] = list(causes_by_hub(scope))
    if wanted("weeks"):
        found["weeks"] = causes_by_week(scope, zone)
    if wanted("carrier_reliability", "lane_reliability"):
        found["lane_reliability"] = lane_reliability(scope)
        found["carrier_reliability"] = carrier_reliability(found["lane_reliability"])
    return CauseRows(tables=found, computed_at=now, kept=kept)


def _key(scope: Scope, generation: tuple[dt.datetime | None, int]) -> str:
    """The rows depend on the period, the filters and the time zone (days and weeks are the
    reader's), not on the language: labels are translated when a row is shown."""
    as_of, refreshes = generation
    return ":".join(
        [
            "supervisor-causes",
            as_of.isoformat() if as_of else "-",
            str(refreshes),
            timezone.get_current_timezone_name(),
            scope.first_day.isoformat(),
            scope.last_day.isoformat(),
            scope.query(),
        ]
    )


def causes(scope: Scope, *, now: dt.datetime, only: str = "") -> CauseRows:
    """The rows of `scope` as the last refresh kept them, else read now (see `compute`); two
    queries when kept: the rollup's generation and the cache."""
    packed = cache_get(_key(scope, rollup.generation()))
    if packed is not None:
        return pickle.loads(zlib.decompress(packed))  # nosec B301  # our own cache entry, as Django pickles
    return compute(scope, timezone.get_current_timezone(), now=now, only=only)


def keep_default_view(
    *, now: dt.datetime, generation: tuple[dt.datetime | None, int], seconds: int
) -> None:
    """Compute and keep the default view (last 30 days, no filter) in the active time zone
    for the rollup's `generation` (supervisor.snapshot.warm, after each refresh)."""
    scope, _form = scope_from({}, now=now)
    rows = compute(scope, timezone.get_current_timezone(), now=now, kept=True)
    # Compressed: at 1,000,000 shipments the rows pickle to about 550 KB (4,480 lane rows),
    # 60 KB compressed. The database cache of the embedded default keeps the entries of past
    # generations until it culls (past MAX_ENTRIES), so their size adds up.
    packed = zlib.compress(pickle.dumps(rows, pickle.HIGHEST_PROTOCOL))
    cache_set(_key(scope, generation), packed, seconds)


def refresh_minutes() -> int:
    return REFRESH_KPI_ROLLUP_INTERVAL_SECONDS // 60


# --- the view -------------------------------------------------------------------------------


@require_GET
@login_required
@permission_required("tickets.supervise", raise_exception=True)
def root_causes(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    scope, form = scope_from(request.GET, now=now)
    all_tables = tables()
    if wants_csv(request):
        table = next((t for t in all_tables if t.name == request.GET.get("table")), None)
        if table is None:
            raise Http404("No such table.")
        rows = causes(scope, now=now, only=table.name).tables[table.name]
        return csv_response(f"root-causes-{table.name}", table.csv_header, csv_rows(table, rows))
    found = causes(scope, now=now)
    pages = [
        table_page(
            t, found.tables[t.name], scope, number=parse_page(request.GET.get(f"{t.name}_page"))
        )
        for t in all_tables
    ]
    return render(
        request,
        "supervisor/root_causes.html",
        {
            "form": form,
            "scope": scope,
            "pages": pages,
            "nothing": not any(page.rows for page in pages),
            "computed_at": found.computed_at,
            "kept": found.kept,
            "refresh_minutes": refresh_minutes(),
            "now": now,
        },
    )
