"""The dashboard's charts: trends per day for the period, the top delay causes, carrier and lane
reliability (issue 15).

`dashboard_charts(scope, now=...)` returns the charts the dashboard draws
(templates/supervisor/_dashboard_charts.html), each with its numbers as a table. Every chart is
one query whatever the number of rows or days: the database groups by day in the reader's time
zone (`TruncDate(..., tzinfo=zone)`, on SQLite and PostgreSQL alike), Python only fills the
days without data with zero.

Days are the scope's days in the reader's time zone (`Scope.day_list`); days after today show
no value (a future day has no delays yet, it does not have zero).

What each series is:
- delays detected: shipments whose delay was detected that day (`Shipment.delay_detected_at`,
  the start of the current delay episode);
- detection -> first contact: for the shipments delayed that day, the median hours from the
  detection to the first contact with the customer about the shipment, as the dashboard's KPI
  defines it (supervisor.kpis): a notice sent about the shipment or one of its tickets, or an
  agent's public reply on one of its tickets; a shipment not contacted 24 hours after its
  detection counts with the time waited so far, one detected less than 24 hours ago and not
  contacted is left out; the median interpolates between the middle ranks;
- CSAT: mean rating of the surveys answered that day (`SatisfactionSurvey.answered_at`);
- backlog by priority: tickets open at the end of the day: created before the end of the day,
  and not solved (or closed) by then. A ticket counts as done at its `solved_at` (else
  `closed_at`) when its status is solved or closed; a reopened ticket is open.
- top causes: `Shipment.delay_cause` of the shipments delayed in the period;
- carrier / lane reliability: on-time rate (delivered_at <= promised_at) of the deliveries in
  the period (`delivered_at` in the period).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass

from django.db import connection
from django.db.models import (
    Avg,
    Case,
    Count,
    DateField,
    DateTimeField,
    F,
    Q,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from core.models import DelayCause
from notifications.models import Notification
from shipments.models import ServiceLevel, Shipment, ShipmentStatus
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
from supervisor.kpis import DAY, SENT_STATUSES
from supervisor.scope import Scope
from tickets.models import (
    CLOSED_STATUSES,
    Message,
    MessageDirection,
    Priority,
    SatisfactionSurvey,
    Ticket,
)

TOP_CAUSES = 8
TOP_CARRIERS = 12
TOP_LANES = 10
FIRST_CONTACT_TARGET_HOURS = 24
CSAT_TARGET = 4


# --- queries (one per chart) ----------------------------------------------------------------


def delays_per_day(scope: Scope, zone) -> dict[dt.date, int]:
    # COUNT(*), not COUNT(id): the partial index on delay_detected_at answers it alone.
    rows = (
        scope.shipments(Shipment.objects.filter(scope.in_period("delay_detected_at")))
        .annotate(day=TruncDate("delay_detected_at", tzinfo=zone))
        .values("day")
        .annotate(n=Count("*"))
        .order_by()
    )
    return {row["day"]: row["n"] for row in rows}


def _seconds(start: str, end: str) -> str:
    """SQL for the whole seconds from `start` to `end` (datetime expressions; SQLite's julianday
    is a float, exact to about a millisecond)."""
    if connection.vendor == "postgresql":
        return f"ROUND(EXTRACT(EPOCH FROM ({end} - {start})))"
    return f"ROUND((julianday({end}) - julianday({start})) * 86400.0)"


def first_contact_per_day(scope: Scope, zone, *, now: dt.datetime) -> dict[dt.date, Contact]:
    """{day of detection: Contact} over the shipments delayed that day, in one statement.

    A shipment counts with its wait to the first contact; one not contacted yet counts with the
    time waited so far once 24 hours have passed (it is late whatever happens next), and is
    left out before that (supervisor.kpis does the same for the period's median).

    1. `a`: the shipments delayed in the period with the scope's filters (compiled by Django)
       and their day of detection in the reader's zone;
    2. `outs`: the contacts about them (notices sent about the shipment or one of its tickets,
       public replies on its tickets), joined set-wise rather than a subquery per shipment;
       `first_out`: the first one at or after the detection;
    3. each day's waits numbered in order (ROW_NUMBER) next to their count: only the two rows
       around the median leave the database, and Python interpolates between them
       (PostgreSQL's percentile_cont, as the dashboard's median).
    """
    base = (
        scope.shipments(Shipment.objects.filter(scope.in_period("delay_detected_at")))
        .annotate(day=TruncDate("delay_detected_at", tzinfo=zone))
        .order_by()
        .values_list("pk", "delay_detected_at", "day")
    )
    base_sql, base_params = base.query.sql_with_params()
    q = connection.ops.quote_name
    notification, ticket = q(Notification._meta.db_table), q(Ticket._meta.db_table)
    message = q(Message._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    sent = ", ".join(f"'{status}'" for status in SENT_STATUSES)
    waited = _seconds("a.detected", "%s")
    sql = f"""
WITH a (id, detected, day) AS ({base_sql}),
outs (shipment_id, at) AS (
    SELECT n.shipment_id, n.sent_at FROM {notification} n
     WHERE n.shipment_id IN (SELECT id FROM a) AND n.status IN ({sent}) AND n.sent_at >= %s
    UNION ALL
    SELECT t.shipment_id, n.sent_at FROM {notification} n JOIN {ticket} t ON t.id = n.ticket_id
     WHERE t.shipment_id IN (SELECT id FROM a) AND n.status IN ({sent}) AND n.sent_at >= %s
    UNION ALL
    SELECT t.shipment_id, m.created_at FROM {message} m JOIN {ticket} t ON t.id = m.ticket_id
     WHERE t.shipment_id IN (SELECT id FROM a) AND m.direction = '{MessageDirection.OUTBOUND}'
       AND m.created_at >= %s
),
first_out (id, at) AS (
    SELECT a.id, MIN(o.at) FROM a JOIN outs o ON o.shipment_id = a.id AND o.at >= a.detected
     GROUP BY a.id
),
waits AS (
    SELECT a.day AS day,
           CASE WHEN fo.at IS NOT NULL THEN {_seconds("a.detected", "fo.at")}
                WHEN a.detected <= %s THEN {waited} END AS secs,
           CASE WHEN fo.at IS NOT NULL THEN 1 ELSE 0 END AS contacted
      FROM a LEFT JOIN first_out fo ON fo.id = a.id
),
ranked AS (
    SELECT day, secs, ROW_NUMBER() OVER (PARTITION BY day ORDER BY secs) - 1 AS pos,
           COUNT(*) OVER (PARTITION BY day) AS n,
           SUM(contacted) OVER (PARTITION BY day) AS contacted
      FROM waits WHERE secs IS NOT NULL
)
SELECT day, pos, n, contacted, secs FROM ranked WHERE pos IN ((n - 1) / 2, (n - 1) / 2 + 1)
"""
    start = adapt(scope.start)
    params = [*base_params, start, start, start, adapt(now - DAY), adapt(now)]
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


@dataclass(frozen=True)
class Contact:
    median_hours: float
    measured: int  # contacted, or waiting for more than 24 h
    contacted: int


def csat_per_day(scope: Scope, zone) -> dict[dt.date, tuple[float, int]]:
    rows = (
        scope.tickets(
            SatisfactionSurvey.objects.filter(scope.in_period("answered_at"), rating__isnull=False),
            "ticket__",
        )
        .annotate(day=TruncDate("answered_at", tzinfo=zone))
        .values("day")
        .annotate(mean=Avg("rating"), n=Count("pk"))
        .order_by()
    )
    return {row["day"]: (float(row["mean"]), row["n"]) for row in rows}


def backlog_per_day(scope: Scope, zone, days: list[dt.date]) -> dict[str, list[int]]:
    """{priority: [tickets open at the end of each day]}, in one query.

    The tickets that were open at some moment of the period (created before its end, not done
    before its start) are counted by (priority, day created) and (priority, day done) in one
    UNION ALL; those created before the period are its opening backlog. The backlog at the end
    of day D is the opening backlog + created up to D - done up to D.
    """
    done_at = Case(
        When(status__in=CLOSED_STATUSES, then=Coalesce("solved_at", "closed_at")),
        default=None,
        output_field=DateTimeField(),
    )
    alive = (
        scope.tickets(Ticket.objects.filter(created_at__lt=scope.end))
        .annotate(done_at=done_at)
        .filter(Q(done_at__isnull=True) | Q(done_at__gte=scope.start))
    )
    opened = (
        alive.annotate(
            day=Case(
                When(created_at__lt=scope.start, then=Value(None, output_field=DateField())),
                default=TruncDate("created_at", tzinfo=zone),
                output_field=DateField(),
            ),
            change=Value(1),
        )
        .values("priority", "day", "change")
        .annotate(n=Count("pk"))
        .order_by()
    )
    closed = (
        alive.filter(done_at__lt=scope.end)
        .annotate(day=TruncDate("done_at", tzinfo=zone), change=Value(-1))
        .values("priority", "day", "change")
        .annotate(n=Count("pk"))
        .order_by()
    )
    opening: dict[str, int] = defaultdict(int)
    moves: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    for row in opened.union(closed, all=True):
        if row["day"] is None:
            opening[row["priority"]] += row["n"]
        else:
            moves[row["priority"]][row["day"]] += row["change"] * row["n"]
    backlog: dict[str, list[int]] = {}
    for priority in Priority.values:
        level, series = opening[priority], []
        for day in days:
            level += moves[priority].get(day, 0)
            series.append(level)
        backlog[priority] = series
    return backlog


def top_causes(scope: Scope) -> list[tuple[str, int]]:
    rows = (
        scope.shipments(Shipment.objects.filter(scope.in_period("delay_detected_at")))
        .values("delay_cause")
        .annotate(n=Count("*"))
        .order_by("-n", "delay_cause")[:TOP_CAUSES]
    )
    return [(row["delay_cause"], row["n"]) for row in rows]


def deliveries(scope: Scope):
    """Shipments delivered in the period (the partial index on delivered shipments)."""
    return scope.shipments(
        Shipment.objects.filter(scope.in_period("delivered_at"), status=ShipmentStatus.DELIVERED)
    )


ON_TIME = Q(delivered_at__lte=F("promised_at"))


def carrier_reliability(scope: Scope) -> list[dict]:
    return list(
        deliveries(scope)
        .values("carrier_id", "carrier__name")
        .annotate(deliveries=Count("pk"), on_time=Count("pk", filter=ON_TIME))
        .order_by("-deliveries", "carrier__name")[:TOP_CARRIERS]
    )


def lane_reliability(scope: Scope) -> list[dict]:
    """The lanes with the most late deliveries in the period."""
    return list(
        deliveries(scope)
        .filter(lane__isnull=False)
        .values(
            "lane_id",
            "lane__origin_region",
            "lane__destination_region",
            "lane__service_level",
            "carrier__name",
        )
        .annotate(
            deliveries=Count("pk"),
            on_time=Count("pk", filter=ON_TIME),
            late=Count("pk", filter=~ON_TIME),
        )
        .order_by("-late", "-deliveries", "lane_id")[:TOP_LANES]
    )


def lane_label(origin: str, destination: str, carrier: str, service_level: str = "") -> str:
    label = f"{origin} → {destination} · {carrier}"
    if service_level:
        label += f" ({ServiceLevel(service_level).label})"
    return label


# --- charts ---------------------------------------------------------------------------------


def dashboard_charts(scope: Scope, *, now: dt.datetime) -> list[Chart]:
    """The dashboard's charts for `scope`, in seven queries whatever the data and the days."""
    zone = timezone.get_current_timezone()
    days = scope.day_list()
    today = timezone.localdate(now, zone)
    past = [day <= today for day in days]
    labels = tuple(day_label(day) for day in days)
    long_labels = [long_day_label(day) for day in days]

    delays = delays_per_day(scope, zone)
    contact = first_contact_per_day(scope, zone, now=now)
    csat = csat_per_day(scope, zone)
    backlog = backlog_per_day(scope, zone, days)

    def per_day(values: list) -> tuple:
        return tuple(
            value if is_past else None for value, is_past in zip(values, past, strict=True)
        )

    period = {"start": long_labels[0], "end": long_labels[-1]}
    charts = [
        _delays_chart(
            scope, days, labels, long_labels, per_day([delays.get(d, 0) for d in days]), period
        ),
        _contact_chart(days, labels, long_labels, delays, contact, past, period),
        _csat_chart(days, labels, long_labels, csat, past, period),
        _backlog_chart(labels, long_labels, backlog, per_day, period),
        _causes_chart(scope, top_causes(scope)),
        _carriers_chart(scope, carrier_reliability(scope)),
        _lanes_chart(scope, lane_reliability(scope)),
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
        counts = (contacted, measured - contacted, delays.get(day, 0) - measured)
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
    categories, values, table = _reliability_rows(
        scope, rows, lambda row: row["carrier__name"], lambda row: {"carrier": row["carrier_id"]}
    )
    description = (
        _("On-time delivery rate per carrier in the period, least reliable first: %(list)s.")
        % {
            "list": ", ".join(
                f"{label} {format_number(v, unit='%')}"
                for label, v in zip(categories, values, strict=True)
            )
        }
        if rows
        else ""
    )
    return Chart(
        key="carriers",
        title=_("Carrier reliability (on-time deliveries)"),
        description=description,
        kind="bars",
        categories=categories,
        series=(Series(key="on_time", label=_("On time"), values=values),),
        columns=(_("Carrier"), _("On time"), _("Deliveries"), _("Late")),
        rows=table,
        unit="%",
        scale_max=100,
        empty_text=_("No parcel was delivered in this period."),
    )


def _lanes_chart(scope, rows) -> Chart:
    def label_of(row) -> str:
        return lane_label(
            row["lane__origin_region"],
            row["lane__destination_region"],
            row["carrier__name"],
            row["lane__service_level"],
        )

    categories, values, table = _reliability_rows(
        scope, rows, label_of, lambda row: {"lane": row["lane_id"]}
    )
    description = (
        _(
            "On-time delivery rate of the lanes with the most late deliveries in the period, "
            "least reliable first: %(list)s."
        )
        % {
            "list": ", ".join(
                f"{label} {format_number(v, unit='%')}"
                for label, v in zip(categories, values, strict=True)
            )
        }
        if rows
        else ""
    )
    return Chart(
        key="lanes",
        title=_("Lane reliability (lanes with the most late deliveries)"),
        description=description,
        kind="bars",
        categories=categories,
        series=(Series(key="on_time", label=_("On time"), values=values),),
        columns=(_("Lane"), _("On time"), _("Deliveries"), _("Late")),
        rows=table,
        unit="%",
        scale_max=100,
        empty_text=_("No parcel was delivered on a known lane in this period."),
    )
