"""The root-causes page (/supervisor/causes/): where delays come from, and how reliable the
carriers and lanes are, for the period and filters of the workspace (supervisor.scope).

Tables (each one query whatever the data, each exported as CSV with `?format=csv&table=<name>`):

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

Long tables show PAGE_SIZE rows a page, read with LIMIT/OFFSET plus one row (whether a next page
exists) instead of counting the whole table. Each row links to the list of shipments behind it
(supervisor.charts.shipments_href).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import (
    Avg,
    Count,
    DurationField,
    F,
    FloatField,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Cast, Coalesce, NullIf, TruncWeek
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from core.inputs import parse_page
from core.models import DelayCause
from shipments.models import Shipment, ShipmentStatus
from supervisor.charts import format_number, long_day_label, percent, shipments_href
from supervisor.export import csv_response, wants_csv
from supervisor.scope import Scope, day_start, scope_from
from supervisor.trends import lane_label

PAGE_SIZE = 20
CSV_CHUNK = 2000
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
        Shipment.objects.filter(
            delay_detected_at__gte=previous.start, delay_detected_at__lt=scope.end
        )
    )


def _counted(qs: QuerySet, scope: Scope, *tie_breakers: str) -> QuerySet:
    """Grouped rows with their count in the period and the previous one, most delays first.

    Counted on `delay_detected_at` (never NULL in these rows), not the id: the covering index
    on it (shipments_detected_idx) then answers the carrier table without reading the table."""
    return qs.annotate(
        current=Count("delay_detected_at", filter=scope.in_period("delay_detected_at")),
        previous=Count("delay_detected_at", filter=scope.in_previous("delay_detected_at")),
    ).order_by("-current", "-previous", *tie_breakers, "delay_cause")


def causes_by_carrier(scope: Scope) -> QuerySet:
    return _counted(
        delays_in_both_periods(scope).values("carrier_id", "carrier__name", "delay_cause"),
        scope,
        "carrier__name",
        "carrier_id",
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
            Shipment.objects.filter(delay_detected_at__gte=since, delay_detected_at__lt=scope.end)
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
        Shipment.objects.filter(
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
            lateness=Avg(lateness, filter=delivered & ~on_time, output_field=DurationField()),
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


def carrier_reliability(scope: Scope) -> QuerySet:
    return _reliability(scope, "carrier_id", "carrier__name")


def lane_reliability(scope: Scope) -> QuerySet:
    return _reliability(
        scope,
        "origin_region",
        "destination_region",
        "carrier__name",
        "service_level",
        "carrier_id",
        "lane_id",
    )


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
    """One table of the page: how to read its rows (`rows(scope)`: a queryset or a list),
    how a row shows (`row`), and how it exports (`csv`)."""

    name: str
    title: str
    description: str
    columns: tuple[str, ...]
    numeric: tuple[bool, ...]
    rows: Callable[[Scope], Iterable]
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


def tables(zone) -> list[Table]:
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
            rows=causes_by_carrier,
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
            rows=causes_by_lane,
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
            rows=causes_by_hub,
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
            rows=lambda scope: causes_by_week(scope, zone),
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
            rows=carrier_reliability,
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
            rows=lane_reliability,
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


def table_page(table: Table, scope: Scope, *, number: int) -> TablePage:
    """Rows of page `number` (from 1) and whether another follows: one query, no count."""
    offset = (number - 1) * PAGE_SIZE
    source = table.rows(scope)
    found = list(source[offset : offset + PAGE_SIZE + 1])
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


def csv_rows(table: Table, scope: Scope) -> Iterator[list]:
    source = table.rows(scope)
    items = source.iterator(chunk_size=CSV_CHUNK) if isinstance(source, QuerySet) else source
    for item in items:
        yield table.csv(item)


# --- the view -------------------------------------------------------------------------------


@require_GET
@login_required
@permission_required("tickets.supervise", raise_exception=True)
def root_causes(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    zone = timezone.get_current_timezone()
    scope, form = scope_from(request.GET, now=now)
    all_tables = tables(zone)
    if wants_csv(request):
        table = next((t for t in all_tables if t.name == request.GET.get("table")), None)
        if table is None:
            raise Http404("No such table.")
        return csv_response(f"root-causes-{table.name}", table.csv_header, csv_rows(table, scope))
    pages = [
        table_page(t, scope, number=parse_page(request.GET.get(f"{t.name}_page")))
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
            "now": now,
        },
    )
