"""The dashboard's charts: trends per day for the period, the top delay causes, carrier and lane
reliability (issue 15).

`dashboard_charts(scope, now=...)` returns the charts the dashboard draws
(templates/supervisor/_dashboard_charts.html), each with its numbers as a table. The seven
charts cost five queries whatever the number of rows or days (delays and causes share one,
carrier and lane reliability another): the database groups by day in the reader's time zone
(`TruncDate(..., tzinfo=zone)`, on SQLite and PostgreSQL alike), Python only fills the days
without data with zero.

Days are the scope's days in the reader's time zone (`Scope.day_list`); days after today show
no value (a future day has no delays yet, it does not have zero).

What each series is:
- delays detected: shipments whose delay was detected that day (`Shipment.delay_detected_at`,
  the start of the current delay episode);
- detection -> first contact: for the shipments delayed that day, the median hours from the
  detection to the first contact with the customer about the shipment, as the dashboard's KPI
  defines it (supervisor.kpis) and from the same KPI rollup (supervisor.rollup, refreshed every
  few minutes): a notice sent about the shipment or one of its tickets, or an
  agent's public reply on one of its tickets; a shipment not contacted 24 hours after its
  detection counts with the time waited so far, one detected less than 24 hours ago and not
  contacted is left out; the median interpolates between the middle ranks;
- CSAT: mean rating of the surveys answered that day (`SatisfactionSurvey.answered_at`);
- backlog by priority: tickets open at the end of the day: created before the end of the day,
  and not solved (or closed) by then. A ticket counts as done at its `solved_at` when its
  status is solved or closed (a closed ticket has one too); a reopened ticket is open.
- top causes: `Shipment.delay_cause` of the shipments delayed in the period;
- carrier / lane reliability: on-time rate (delivered_at <= promised_at) of the deliveries in
  the period (`delivered_at` in the period).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass

from django.db import connections
from django.db.models import (
    Avg,
    Case,
    Count,
    DateField,
    F,
    Q,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from core.db import reports_db
from core.models import DelayCause
from shipments.models import Carrier, Lane, ServiceLevel, Shipment, ShipmentStatus
from supervisor.charts import (
    Chart,
    Row,
    Series,
    Target,
    day_label,
    format_number,
    long_day_label,
    percent,
    shipments_href,
)
from supervisor.kpis import DAY
from supervisor.models import ShipmentOutcome
from supervisor.scope import Scope
from tickets.models import (
    CLOSED_STATUSES,
    PRIORITY_RANK,
    Priority,
    SatisfactionSurvey,
    Ticket,
)

TOP_CAUSES = 8
TOP_CARRIERS = 12
TOP_LANES = 10
FIRST_CONTACT_TARGET_HOURS = 24
CSAT_TARGET = 4


# --- queries ---------------------------------------------------------------------------------
#
# Five statements for the seven charts, each a range scan of an index that covers it (no heap
# row per shipment on PostgreSQL; measured at 1,000,000 shipments in docs/PERFORMANCE.md):
# delays per day and by cause (shipments_detected_idx), first contact per day (the KPI rollup's
# supervisor_outcome_detect_idx), CSAT (tickets_survey_answered_idx), backlog (the open queue's
# tickets_ticket_open_queue_idx and tickets_ticket_resolved_idx), carrier and lane reliability
# (shipments_delivered_at_idx).


@dataclass(frozen=True)
class Delays:
    per_day: dict[dt.date, int]
    causes: list[tuple[str, int]]  # the TOP_CAUSES most frequent, most first


def delays_per_day_and_cause(scope: Scope, zone) -> Delays:
    """The delays detected in the period per day (reader's zone) and the top causes, from one
    grouped scan (at most days x causes rows leave the database)."""
    # COUNT(*), not COUNT(id): the covering partial index on delay_detected_at answers it alone.
    rows = (
        scope.shipments(
            Shipment.objects.using(reports_db()).filter(scope.in_period("delay_detected_at"))
        )
        .annotate(day=TruncDate("delay_detected_at", tzinfo=zone))
        .values("day", "delay_cause")
        .annotate(n=Count("*"))
        .order_by()
    )
    per_day: dict[dt.date, int] = defaultdict(int)
    per_cause: dict[str, int] = defaultdict(int)
    for row in rows:
        per_day[row["day"]] += row["n"]
        per_cause[row["delay_cause"]] += row["n"]
    causes = sorted(per_cause.items(), key=lambda item: (-item[1], item[0]))[:TOP_CAUSES]
    return Delays(per_day=dict(per_day), causes=causes)


def _seconds(start: str, end: str, vendor: str) -> str:
    """SQL for the whole seconds from `start` to `end` (datetime expressions; SQLite's julianday
    is a float, exact to about a millisecond)."""
    if vendor == "postgresql":
        return f"ROUND(EXTRACT(EPOCH FROM ({end} - {start})))"
    return f"ROUND((julianday({end}) - julianday({start})) * 86400.0)"


def first_contact_per_day(scope: Scope, zone, *, now: dt.datetime) -> dict[dt.date, Contact]:
    """{day of detection: Contact} over the shipments delayed that day, in one statement over
    the KPI rollup (supervisor.rollup: per delayed shipment its detection and its first contact
    at or after it, the same rows the dashboard's first-contact KPI reads, so the chart and the
    KPI agree).

    A shipment counts with its wait to the first contact; one not contacted yet counts with the
    time waited so far once 24 hours have passed (it is late whatever happens next; computed
    now, not when the rollup was refreshed), and is left out before that (supervisor.kpis does
    the same for the period's median).

    1. `a`: the rollup rows of the shipments delayed in the period with the scope's filters
       (compiled by Django) and their day of detection in the reader's zone;
    2. each day's waits numbered in order (ROW_NUMBER) next to their count: only the two rows
       around the median leave the database, and Python interpolates between them
       (PostgreSQL's percentile_cont, as the dashboard's median).
    """
    rows = ShipmentOutcome.objects.using(reports_db()).filter(scope.in_period("delay_detected_at"))
    if scope.filtered:
        rows = rows.filter(scope.shipment_q("shipment__"))
    base = (
        rows.annotate(day=TruncDate("delay_detected_at", tzinfo=zone))
        .order_by()
        .values_list("delay_detected_at", "first_contact_at", "day")
    )
    connection = connections[base.db]
    base_sql, base_params = base.query.get_compiler(base.db).as_sql()
    adapt = connection.ops.adapt_datetimefield_value
    params = [*base_params, adapt(now - DAY), adapt(now)]
    if connection.vendor == "postgresql":
        return _first_contact_postgresql(base_sql, params, base.db)
    to_out = _seconds("a.detected", "a.out_at", connection.vendor)
    waited = _seconds("a.detected", "%s", connection.vendor)
    sql = f"""
WITH a (detected, out_at, day) AS ({base_sql}),
waits AS (
    SELECT a.day AS day,
           CASE WHEN a.out_at IS NOT NULL THEN {to_out}
                WHEN a.detected <= %s THEN {waited} END AS secs,
           CASE WHEN a.out_at IS NOT NULL THEN 1 ELSE 0 END AS contacted
      FROM a
),
ranked AS (
    SELECT day, secs, ROW_NUMBER() OVER (PARTITION BY day ORDER BY secs) - 1 AS pos,
           COUNT(*) OVER (PARTITION BY day) AS n,
           SUM(contacted) OVER (PARTITION BY day) AS contacted
      FROM waits WHERE secs IS NOT NULL
)
SELECT day, pos, n, contacted, secs FROM ranked WHERE pos IN ((n - 1) / 2, (n - 1) / 2 + 1)
"""  # nosec B608  # constants only, values bound
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    middles: dict[dt.date, dict[int, float]] = defaultdict(dict)
    counts: dict[dt.date, tuple[int, int]] = {}
    for day, pos, n, contacted, secs in rows:
        if isinstance(day, str):  # SQLite answers a date as text
            day = dt.date.fromisoformat(day)
        middles[day][int(pos)] = float(secs) / 3600
        counts[day] = (int(n), int(contacted))
    result = {}
    for day, (measured, contacted) in counts.items():
        position = (measured - 1) / 2
        low = math.floor(position)
        value = middles[day][low]
        if position > low:
            value += (middles[day][low + 1] - value) * (position - low)
        result[day] = Contact(median_hours=value, measured=measured, contacted=contacted)
    return result


def _first_contact_postgresql(base_sql: str, params: list, using: str) -> dict[dt.date, Contact]:
    """PostgreSQL: the same figures with its ordered-set aggregate percentile_cont (each day's
    waits sorted on their own) instead of numbering every wait of the period in one sort, and
    the seconds in double precision rather than numeric (ROUND, half away from zero, as
    FLOOR(x + 0.5): a wait is never negative), cheaper per row."""

    def seconds(start: str, end: str) -> str:
        return f"FLOOR(date_part('epoch', {end} - {start}) + 0.5)"

    sql = f"""
WITH a (detected, out_at, day) AS ({base_sql}),
waits AS (
    SELECT a.day AS day,
           CASE WHEN a.out_at IS NOT NULL THEN {seconds("a.detected", "a.out_at")}
                WHEN a.detected <= %s THEN {seconds("a.detected", "%s::timestamptz")} END AS secs,
           CASE WHEN a.out_at IS NOT NULL THEN 1 ELSE 0 END AS contacted
      FROM a
)
SELECT day, COUNT(*), SUM(contacted), percentile_cont(0.5) WITHIN GROUP (ORDER BY secs)
  FROM waits WHERE secs IS NOT NULL GROUP BY day
"""  # nosec B608  # constants only, values bound
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return {
            day: Contact(
                median_hours=float(median) / 3600, measured=int(n), contacted=int(contacted)
            )
            for day, n, contacted, median in cursor.fetchall()
        }


@dataclass(frozen=True)
class Contact:
    median_hours: float
    measured: int  # contacted, or waiting for more than 24 h
    contacted: int


def csat_per_day(scope: Scope, zone) -> dict[dt.date, tuple[float, int]]:
    rows = (
        scope.tickets(
            SatisfactionSurvey.objects.using(reports_db()).filter(
                scope.in_period("answered_at"), rating__isnull=False
            ),
            "ticket__",
        )
        .annotate(day=TruncDate("answered_at", tzinfo=zone))
        .values("day")
        .annotate(mean=Avg("rating"), n=Count("pk"))
        .order_by()
    )
    return {row["day"]: (float(row["mean"]), row["n"]) for row in rows}


PRIORITY_OF_RANK = {rank: priority for priority, rank in PRIORITY_RANK.items()}


def backlog_per_day(scope: Scope, zone, days: list[dt.date]) -> dict[str, list[int]]:
    """{priority: [tickets open at the end of each day]}, in one query.

    A ticket is done at its `solved_at` while its status is solved or closed (the database
    makes such a ticket have one: tickets_ticket_solved_has_time); a reopened ticket is open.
    The tickets open at some moment of the period (created before its end, and still open or
    done since its start) are counted by (priority, day created) and the done ones also by
    (priority, day done), in one UNION ALL of three grouped scans of small indexes:

    - open tickets by day created (the console's open-queue index, partial on open tickets);
    - tickets done since the start by day created, and those done in the period by day done
      (tickets_ticket_resolved_idx, which covers status, priority rank and creation).

    Those created before the period are its opening backlog. The backlog at the end of day D
    is the opening backlog + created up to D - done up to D. Priorities are grouped by their
    rank (`Ticket.priority_rank`, generated from the priority), which the indexes hold.
    """
    tickets = scope.tickets(Ticket.objects.using(reports_db()).filter(created_at__lt=scope.end))
    created_day = Case(
        When(created_at__lt=scope.start, then=Value(None, output_field=DateField())),
        default=TruncDate("created_at", tzinfo=zone),
        output_field=DateField(),
    )
    done = tickets.filter(status__in=CLOSED_STATUSES, solved_at__gte=scope.start)

    def counted(qs, day, change: int):
        return (
            qs.annotate(day=day, change=Value(change))
            .values("priority_rank", "day", "change")
            .annotate(n=Count("*"))
            .order_by()
        )

    still_open = counted(tickets.exclude(status__in=CLOSED_STATUSES), created_day, 1)
    opened_done = counted(done, created_day, 1)
    closed = counted(done.filter(solved_at__lt=scope.end), TruncDate("solved_at", tzinfo=zone), -1)
    opening: dict[str, int] = defaultdict(int)
    moves: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    for row in still_open.union(opened_done, closed, all=True):
        priority = PRIORITY_OF_RANK.get(row["priority_rank"])
        if row["day"] is None:
            opening[priority] += row["n"]
        else:
            moves[priority][row["day"]] += row["change"] * row["n"]
    backlog: dict[str, list[int]] = {}
    for priority in Priority.values:
        level, series = opening[priority], []
        for day in days:
            level += moves[priority].get(day, 0)
            series.append(level)
        backlog[priority] = series
    return backlog


def deliveries(scope: Scope):
    """Shipments delivered in the period (shipments_delivered_at_idx covers what is read)."""
    return scope.shipments(
        Shipment.objects.using(reports_db()).filter(
            scope.in_period("delivered_at"), status=ShipmentStatus.DELIVERED
        )
    )


ON_TIME = Q(delivered_at__lte=F("promised_at"))


@dataclass(frozen=True)
class Reliability:
    carriers: list[dict]  # the TOP_CARRIERS with the most deliveries
    lanes: list[dict]  # the TOP_LANES with the most late deliveries


def reliability(scope: Scope) -> Reliability:
    """On-time deliveries of the period per carrier and per lane, from one grouped scan: the
    deliveries counted per (carrier, lane) (at most one row per lane and carrier: reference
    data, not shipments), summed per carrier and per lane here."""
    grouped = (
        deliveries(scope)
        .values("carrier_id", "lane_id")
        # delivered_at, not the id: the index holds it (never NULL for a delivered shipment).
        .annotate(deliveries=Count("*"), on_time=Count("delivered_at", filter=ON_TIME))
        .order_by()
    )
    # The names joined to the few grouped rows, not to every delivery.
    connection = connections[grouped.db]
    grouped_sql, params = grouped.query.get_compiler(grouped.db).as_sql()
    q = connection.ops.quote_name
    carrier, lane = q(Carrier._meta.db_table), q(Lane._meta.db_table)
    sql = f"""
SELECT g.carrier_id, c.name, g.lane_id, l.origin_region, l.destination_region, l.service_level,
       g.deliveries, g.on_time
  FROM ({grouped_sql}) g JOIN {carrier} c ON c.id = g.carrier_id
  LEFT JOIN {lane} l ON l.id = g.lane_id
"""  # nosec B608  # constants only, values bound
    names = (
        "carrier_id",
        "carrier__name",
        "lane_id",
        "lane__origin_region",
        "lane__destination_region",
        "lane__service_level",
        "deliveries",
        "on_time",
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    carriers: dict[tuple, dict] = {}
    lanes: dict[tuple, dict] = {}
    for row in rows:
        carrier = carriers.setdefault(
            (row["carrier_id"], row["carrier__name"]),
            {
                "carrier_id": row["carrier_id"],
                "carrier__name": row["carrier__name"],
                "deliveries": 0,
                "on_time": 0,
            },
        )
        carrier["deliveries"] += row["deliveries"]
        carrier["on_time"] += row["on_time"]
        if row["lane_id"] is None:
            continue
        key = (
            row["lane_id"],
            row["lane__origin_region"],
            row["lane__destination_region"],
            row["lane__service_level"],
            row["carrier__name"],
        )
        lane = lanes.setdefault(
            key,
            {
                **dict(
                    zip(
                        (
                            "lane_id",
                            "lane__origin_region",
                            "lane__destination_region",
                            "lane__service_level",
                            "carrier__name",
                        ),
                        key,
                        strict=True,
                    )
                ),
                "deliveries": 0,
                "on_time": 0,
                "late": 0,
            },
        )
        lane["deliveries"] += row["deliveries"]
        lane["on_time"] += row["on_time"]
        lane["late"] += row["deliveries"] - row["on_time"]
    top_carriers = sorted(
        carriers.values(), key=lambda r: (-r["deliveries"], r["carrier__name"], r["carrier_id"])
    )[:TOP_CARRIERS]
    top_lanes = sorted(
        lanes.values(),
        key=lambda r: (-r["late"], -r["deliveries"], r["lane_id"], r["carrier__name"]),
    )[:TOP_LANES]
    return Reliability(carriers=top_carriers, lanes=top_lanes)


def carrier_reliability(scope: Scope) -> list[dict]:
    return reliability(scope).carriers


def lane_reliability(scope: Scope) -> list[dict]:
    """The lanes with the most late deliveries in the period."""
    return reliability(scope).lanes


def lane_label(origin: str, destination: str, carrier: str, service_level: str = "") -> str:
    label = f"{origin} → {destination} · {carrier}"
    if service_level:
        label += f" ({ServiceLevel(service_level).label})"
    return label


# --- charts ---------------------------------------------------------------------------------


def dashboard_charts(scope: Scope, *, now: dt.datetime) -> list[Chart]:
    """The dashboard's charts for `scope`, in five queries whatever the data and the days."""
    zone = timezone.get_current_timezone()
    days = scope.day_list()
    today = timezone.localdate(now, zone)
    past = [day <= today for day in days]
    labels = tuple(day_label(day) for day in days)
    long_labels = [long_day_label(day) for day in days]

    delays = delays_per_day_and_cause(scope, zone)
    contact = first_contact_per_day(scope, zone, now=now)
    csat = csat_per_day(scope, zone)
    backlog = backlog_per_day(scope, zone, days)
    reliable = reliability(scope)

    def per_day(values: list) -> tuple:
        return tuple(
            value if is_past else None for value, is_past in zip(values, past, strict=True)
        )

    period = {"start": long_labels[0], "end": long_labels[-1]}
    per_day_delays = per_day([delays.per_day.get(d, 0) for d in days])
    charts = [
        _delays_chart(scope, days, labels, long_labels, per_day_delays, period),
        _contact_chart(days, labels, long_labels, delays.per_day, contact, past, period),
        _csat_chart(days, labels, long_labels, csat, past, period),
        _backlog_chart(labels, long_labels, backlog, per_day, period),
        _causes_chart(scope, delays.causes),
        _carriers_chart(scope, reliable.carriers),
        _lanes_chart(scope, reliable.lanes),
    ]
    return charts


def _delays_chart(scope, days, labels, long_labels, values, period) -> Chart:
    counted = [v for v in values if v is not None]
    total = sum(counted)
    if total:
        peak = max(range(len(values)), key=lambda i: values[i] or 0)
        description = _(
            "Delays detected per day from %(start)s to %(end)s: %(total)s in total, "
            "most on %(peak_day)s (%(peak)s)."
        ) % {**period, "total": total, "peak_day": long_labels[peak], "peak": values[peak]}
    else:
        description = _("No delay was detected from %(start)s to %(end)s.") % period
    rows = tuple(
        Row(
            label=long_labels[i],
            cells=(format_number(values[i], decimals=0),),
            href=shipments_href(
                scope,
                days=None,
                start=day.isoformat(),
                end=day.isoformat(),
            )
            if values[i]
            else "",
        )
        for i, day in enumerate(days)
    )
    return Chart(
        key="delays",
        title=_("Delays detected per day"),
        description=description,
        kind="line",
        categories=labels,
        series=(Series(key="delays", label=_("Delays detected"), values=values),),
        columns=(_("Day"), _("Delays detected")),
        rows=rows,
        integer=True,
    )


def _contact_chart(days, labels, long_labels, delays, contact, past, period) -> Chart:
    values = tuple(
        (contact[day].median_hours if day in contact else None) if is_past else None
        for day, is_past in zip(days, past, strict=True)
    )
    measured = [v for v in values if v is not None]
    if measured:
        over = sum(1 for v in measured if v >= FIRST_CONTACT_TARGET_HOURS)
        description = _(
            "Median hours from delay detection to the first contact with the customer, per "
            "day of detection, from %(start)s to %(end)s: between %(low)s and %(high)s hours; "
            "%(over)s of %(days)s days at or above the 24-hour target."
        ) % {
            **period,
            "low": format_number(min(measured)),
            "high": format_number(max(measured)),
            "over": over,
            "days": len(measured),
        }
    else:
        description = (
            _("No customer of a parcel delayed from %(start)s to %(end)s has been contacted yet.")
            % period
        )
    rows = []
    for i, day in enumerate(days):
        found = contact.get(day)
        measured = found.measured if found else 0
        contacted = found.contacted if found else 0
        # The rollup is refreshed every few minutes, the delays are counted live: never below 0.
        counts = (contacted, measured - contacted, max(delays.get(day, 0) - measured, 0))
        rows.append(
            Row(
                label=long_labels[i],
                cells=(
                    format_number(found.median_hours if found else None, unit=" h"),
                    *(format_number(n, decimals=0) if past[i] else "—" for n in counts),
                ),
            )
        )
    return Chart(
        key="first-contact",
        title=_("Detection to first contact (median hours)"),
        description=description,
        kind="line",
        categories=labels,
        series=(Series(key="median", label=_("Median hours"), values=values),),
        columns=(
            _("Day of detection"),
            _("Median"),
            _("Contacted"),
            _("Not contacted after 24 h"),
            _("Not contacted yet, under 24 h"),
        ),
        rows=tuple(rows),
        unit=" h",
        target=Target(FIRST_CONTACT_TARGET_HOURS, _("target: under 24 h")),
        note=_(
            "First contact: the first notice sent or agent reply to the customer about the "
            "parcel after its delay was detected. A customer still not contacted after 24 hours "
            "counts with the time waited so far."
        ),
    )


def _csat_chart(days, labels, long_labels, csat, past, period) -> Chart:
    values = tuple(
        (csat[day][0] if day in csat else None) if is_past else None
        for day, is_past in zip(days, past, strict=True)
    )
    answers = sum(n for _mean, n in csat.values())
    if answers:
        mean = sum(mean * n for mean, n in csat.values()) / answers
        description = _(
            "Mean satisfaction rating per day from %(start)s to %(end)s: %(answers)s answers, "
            "%(mean)s out of 5 over the period (target: at least 4)."
        ) % {**period, "answers": answers, "mean": format_number(mean)}
    else:
        description = _("No customer rated a case from %(start)s to %(end)s.") % period
    rows = tuple(
        Row(
            label=long_labels[i],
            cells=(
                format_number(csat[day][0] if day in csat else None, decimals=2),
                format_number(csat[day][1] if day in csat else 0, decimals=0) if past[i] else "—",
            ),
        )
        for i, day in enumerate(days)
    )
    return Chart(
        key="csat",
        title=_("Customer satisfaction per day"),
        description=description,
        kind="line",
        categories=labels,
        series=(Series(key="csat", label=_("Mean rating"), values=values),),
        columns=(_("Day"), _("Mean rating"), _("Answers")),
        rows=rows,
        scale_max=5,
        target=Target(CSAT_TARGET, _("target: at least 4")),
    )


def _backlog_chart(labels, long_labels, backlog, per_day, period) -> Chart:
    priorities = Priority.choices
    series = tuple(
        Series(key=value, label=str(label), values=per_day(backlog[value]))
        for value, label in priorities
    )
    totals = [
        sum(s.values[i] for s in series)
        for i in range(len(labels))
        if series[0].values[i] is not None
    ]
    if totals:
        description = _(
            "Open tickets at the end of each day from %(start)s to %(end)s, by priority: "
            "%(first)s at the end of the first day, %(last)s at the end of the last."
        ) % {**period, "first": totals[0], "last": totals[-1]}
    else:
        description = _("No day of this period has ended yet.")
    rows = tuple(
        Row(
            label=long_labels[i],
            cells=(
                *(format_number(s.values[i], decimals=0) for s in series),
                format_number(
                    sum(s.values[i] for s in series) if series[0].values[i] is not None else None,
                    decimals=0,
                ),
            ),
        )
        for i in range(len(labels))
    )
    return Chart(
        key="backlog",
        title=_("Open tickets at the end of each day, by priority"),
        description=description,
        kind="line",
        categories=labels,
        series=series,
        columns=(_("Day"), *(str(label) for _value, label in priorities), _("Total")),
        rows=rows,
        integer=True,
    )


def _causes_chart(scope, causes) -> Chart:
    names = dict(DelayCause.choices)
    categories = tuple(str(names.get(cause, cause)) for cause, _n in causes)
    total = sum(n for _cause, n in causes)
    description = (
        _("The most frequent causes of the delays detected in the period: %(list)s.")
        % {
            "list": ", ".join(
                f"{label} ({n})" for label, (_c, n) in zip(categories, causes, strict=True)
            )
        }
        if causes
        else ""
    )
    return Chart(
        key="causes",
        title=_("Top delay causes"),
        description=description,
        kind="bars",
        categories=categories,
        series=(Series(key="delays", label=_("Delays"), values=tuple(n for _c, n in causes)),),
        columns=(_("Cause"), _("Delays"), _("Share")),
        rows=tuple(
            Row(
                label=label,
                cells=(format_number(n, decimals=0), format_number(percent(n, total), unit="%")),
                href=shipments_href(scope, cause=cause),
            )
            for label, (cause, n) in zip(categories, causes, strict=True)
        ),
        integer=True,
        empty_text=_("No delay was detected in this period."),
    )


def _reliability_rows(scope, rows, label_of, link_params) -> tuple[tuple, tuple, tuple]:
    rows = sorted(rows, key=lambda r: (r["on_time"] / r["deliveries"], -r["deliveries"]))
    categories = tuple(label_of(row) for row in rows)
    values = tuple(percent(row["on_time"], row["deliveries"]) for row in rows)
    table = tuple(
        Row(
            label=label,
            cells=(
                format_number(value, unit="%"),
                format_number(row["deliveries"], decimals=0),
                format_number(row["deliveries"] - row["on_time"], decimals=0),
            ),
            href=shipments_href(scope, **link_params(row)),
        )
        for label, value, row in zip(categories, values, rows, strict=True)
    )
    return categories, values, table


def _carriers_chart(scope, rows) -> Chart:
    return _reliability_chart(
        rows,
        _reliability_rows(
            scope,
            rows,
            lambda row: row["carrier__name"],
            lambda row: {"carrier": row["carrier_id"]},
        ),
        key="carriers",
        title=_("Carrier reliability (on-time deliveries)"),
        sentence=_(
            "On-time delivery rate per carrier in the period, least reliable first: %(list)s."
        ),
        column=_("Carrier"),
        empty=_("No parcel was delivered in this period."),
    )


def _lanes_chart(scope, rows) -> Chart:
    def label_of(row) -> str:
        return lane_label(
            row["lane__origin_region"],
            row["lane__destination_region"],
            row["carrier__name"],
            row["lane__service_level"],
        )

    return _reliability_chart(
        rows,
        _reliability_rows(scope, rows, label_of, lambda row: {"lane": row["lane_id"]}),
        key="lanes",
        title=_("Lane reliability (lanes with the most late deliveries)"),
        sentence=_(
            "On-time delivery rate of the lanes with the most late deliveries in the period, "
            "least reliable first: %(list)s."
        ),
        column=_("Lane"),
        empty=_("No parcel was delivered on a known lane in this period."),
    )


def _reliability_chart(rows, made, *, key, title, sentence, column, empty) -> Chart:
    """On-time rate bars (carriers or lanes), described in words for screen readers."""
    categories, values, table = made
    listed = ", ".join(
        f"{label} {format_number(v, unit='%')}" for label, v in zip(categories, values, strict=True)
    )
    return Chart(
        key=key,
        title=title,
        description=sentence % {"list": listed} if rows else "",
        kind="bars",
        categories=categories,
        series=(Series(key="on_time", label=_("On time"), values=values),),
        columns=(column, _("On time"), _("Deliveries"), _("Late")),
        rows=table,
        unit="%",
        scale_max=100,
        empty_text=empty,
    )
