"""The dashboard's figures: the KPIs of shared/DOMAIN.md for a Scope, and the period before it.

Each family of figures is one SQL statement over both periods at once (conditional aggregation:
`COUNT(...) FILTER (WHERE <this period>)`, emulated with CASE on SQLite), so the dashboard costs
the same number of queries whatever the data (tests/supervisor/test_dashboard.py):

1. first contact and proactive share: one statement over the rollup (supervisor.rollup: per
   delayed shipment its first contact and the customer's first message, refreshed every few
   minutes; what depends on the moment, time waited so far, is computed when read), the
   median and p90 by window functions;
2. SLA compliance, breaches now, due within the hour;
3. CSAT, response rate, share >= 4 and the negative-review rate (affected customers);
4. resolved without escalation;
5. 30-day repurchase, affected and unaffected customers, over the rollup (per shipment its
   cohort and the customer's next order within 30 days);
6. compensation cost by kind, cause, carrier and incident, per currency.

Definitions (the page's notes say the same to supervisors):

- affected shipment: its delay was detected in the period (`Shipment.delay_detected_at`, the
  start of its current delay; a shipment back on time in transit loses it, one delivered late
  keeps it);
- first contact: the first notice sent (outbox row sent or delivered, about the shipment or one
  of its tickets) or public reply to the customer on one of its tickets, at or after detection.
  A shipment not contacted yet counts with the time waited so far once 24 hours have passed
  (so it is never "under 24 h"); before that it is still open and left out;
- proactive: we reached the customer before they reached us (their first message on a ticket of
  the shipment, or a ticket they opened), or they never wrote. Shipments still open as above
  are left out;
- an affected customer's ticket: a ticket whose shipment was delayed (has a delay now, or had a
  delay level change);
- repurchase: a customer with an affected shipment has a later order (`Shipment.ordered_at`)
  within 30 days after a detection in the period; an unaffected customer (a never-delayed
  shipment ordered in the period, no delay detected in the period) has a later order within
  30 days after that order. Every customer counts as soon as the window starts, so a window
  still open counts as "not (yet)", and the latest days read low;
- compensation cost: offers issued in the period, money remedies only, one sum per currency.

Every statement runs on `core.db.reports_db()`: the reports replica when one is configured
(REPORTS_DATABASE_URL), else the primary. A replica lags the primary by its replication delay
(usually under a second), so a figure may leave out the last seconds' writes; the page says when
its figures were computed (supervisor.snapshot).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import connections
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.lookups import IsNull
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from compensation import money
from compensation.models import CompensationOffer, OfferStatus, RemedyKind
from core.db import reports_db
from core.models import DelayCause
from core.schedules import REFRESH_KPI_ROLLUP_INTERVAL_SECONDS
from shipments.models import DelayLevelChange
from supervisor import rollup
from supervisor.models import Cohort, ShipmentOutcome
from supervisor.scope import Scope
from tickets.models import (
    CLOSED_STATUSES,
    SatisfactionSurvey,
    SLATimer,
    Ticket,
    TimerKind,
    TimerStatus,
)

DAY = dt.timedelta(hours=24)
REPURCHASE_WINDOW = dt.timedelta(days=30)
SOON = dt.timedelta(hours=1)
SENT_STATUSES = rollup.SENT_STATUSES
# Tickets a customer opened themselves: their opening is the customer reaching us.
CUSTOMER_SOURCES = rollup.CUSTOMER_SOURCES
SLA_KINDS = (TimerKind.FIRST_RESPONSE, TimerKind.RESOLUTION)

CURRENT, PREVIOUS = 1, 0
# The sections whose figures read the rollup (supervisor.rollup), not the live tables.
ROLLUP_SECTIONS = ("first_contact", "proactive", "repurchase")


def target(name: str) -> float | None:
    return settings.KPI_TARGETS.get(name)


# --- Figures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One number of the dashboard, with its target and the previous period's value.

    `value` and `previous` are None when there is nothing to count (shown "—", grey). Shares
    are fractions (0.875 is 87.5%), durations hours. `op` says how the value must compare with
    the target ("<", "<=" or ">="); `live` figures are about now, not the period.
    """

    key: str
    label: str
    value: float | None
    previous: float | None = None
    unit: str = "count"  # count | share | hours | rating
    target: float | None = None
    op: str = ">="
    link: str = ""
    detail: str = ""
    live: bool = False

    @property
    def status(self) -> str:
        """no_data (grey), met (green), missed (red) or none (no target)."""
        if self.value is None:
            return "no_data"
        if self.target is None:
            return "none"
        value, goal = self.value, self.target
        met = {"<": value < goal, "<=": value <= goal, ">=": value >= goal}[self.op]
        return "met" if met else "missed"

    @property
    def change(self) -> float | None:
        if self.live or self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def direction(self) -> str:
        """up, down or flat: how the value moved since the previous period."""
        change = self.change
        if change is None or abs(change) < 1e-9:
            return "flat"
        return "up" if change > 0 else "down"

    @property
    def improved(self) -> bool | None:
        """Did it move the good way? None without a change, or when no way is better."""
        if self.direction == "flat" or self.unit == "count" and self.target is None:
            return None
        lower_is_better = self.op in ("<", "<=")
        return (self.direction == "down") == lower_is_better

    # -- text -----------------------------------------------------------------------------

    def format(self, value: float | None) -> str:
        if value is None:
            return "—"
        if self.unit == "share":
            return f"{value * 100:.1f}%"
        if self.unit == "hours":
            return f"{value:.1f} h"
        if self.unit == "rating":
            return f"{value:.2f} / 5"
        return f"{value:g}"

    @property
    def value_text(self) -> str:
        return self.format(self.value)

    @property
    def previous_text(self) -> str:
        return "" if self.live else self.format(self.previous)

    @property
    def change_text(self) -> str:
        change = self.change
        if change is None:
            return ""
        sign = "+" if change > 0 else "−" if change < 0 else "±"
        size = abs(change)
        if self.unit == "share":
            return f"{sign}{size * 100:.1f} pp"
        if self.unit == "hours":
            return f"{sign}{size:.1f} h"
        if self.unit == "rating":
            return f"{sign}{size:.2f}"
        return f"{sign}{size:g}"

    @property
    def target_text(self) -> str:
        if self.target is None:
            return ""
        return f"{self.op} {self.format(self.target)}".replace(" / 5", "")


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    figures: list[Figure]
    note: str = ""


# --- helpers -----------------------------------------------------------------------------------


def ratio(part, whole) -> float | None:
    """part / whole, None when whole is 0 (no data, never a ZeroDivisionError)."""
    if not whole:
        return None
    return float(part or 0) / float(whole)


def both_periods(scope: Scope, field_name: str) -> Q:
    """Rows whose `field_name` falls in the period or the one before (one range)."""
    return Q(**{f"{field_name}__gte": scope.previous().start, f"{field_name}__lt": scope.end})


def delayed_shipment_q(prefix: str = "") -> Q:
    """The shipment (reached through `prefix`, e.g. "ticket__shipment__") was delayed: it has a
    delay now, or its level changed once (delay detection writes a row per change).

    The change is looked up as "its first change", a scalar subquery, not as EXISTS: inside an
    OR, PostgreSQL may plan an EXISTS as a hash of every level change in the table (164,666 rows
    at 1M shipments: 40-120 ms) built before the first row, even for a list page that tests 80
    rows; a scalar subquery is never hashed, so each row costs one probe of
    shipments_levelchange_idx, and only when the shipment has no delay now."""
    first_change = (
        DelayLevelChange.objects.filter(shipment_id=OuterRef(f"{prefix}pk"))
        .order_by("changed_at")
        .values("changed_at")[:1]
    )
    return Q(**{f"{prefix}delay_detected_at__isnull": False}) | Q(
        IsNull(Subquery(first_change), False)
    )


def open_tickets() -> QuerySet:
    """The ids of the open tickets, as a subquery (`ticket__in=open_tickets()`): PostgreSQL reads
    them from the open tickets' partial index (tickets_ticket_open_queue_idx) and hashes them,
    instead of reading each timer's ticket row to look at its status."""
    return Ticket.objects.open().values("pk")


def past_due_q(moment: dt.datetime) -> Q:
    """Timers breached, or running and due before `moment` (now: breaching; now + SOON: also due
    soon), of any ticket (add `ticket__in=open_tickets()`).

    One range, `status in (running, breached) and due before moment`, rather than "breached, or
    running and due before": a timer only breaches once its due time has come (the sweeper
    breaches running timers that are due, a late reply records the breach of a timer past due,
    and tickets.sla never moves a breached timer's due time), so both say the same. The range is
    read from tickets_slatimer_live_idx alone (index-only); the OR read every breached timer,
    nearly all of tickets closed long ago, from the table."""
    return Q(status__in=(TimerStatus.ACTIVE, TimerStatus.BREACHED), due_at__lt=moment)


def outcomes(scope: Scope):
    """The rollup's rows (supervisor.rollup) of the shipments the scope's filters keep."""
    rows = ShipmentOutcome.objects.using(reports_db())
    return rows.filter(scope.shipment_q("shipment__")) if scope.filtered else rows.all()


def drilldown_url(kind: str, kpi: str, scope: Scope) -> str:
    return f"{reverse(f'supervisor:drilldown_{kind}')}?{scope.query(kpi=kpi)}"


# --- 1. first contact and proactive share --------------------------------------------------


@dataclass(frozen=True)
class ContactStats:
    affected: int = 0
    affected_by_currency: dict[str, int] = field(default_factory=dict)
    measured: int = 0  # contacted, or 24 h passed
    under: int = 0  # contacted within 24 h
    waiting: int = 0  # not contacted, detected less than 24 h ago
    decided: int = 0  # for the proactive share
    proactive: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None


def _seconds(start: str, end: str, vendor: str) -> str:
    """SQL for the whole seconds from `start` to `end` (datetime expressions)."""
    if vendor == "postgresql":
        return f"ROUND(EXTRACT(EPOCH FROM ({end} - {start})))"
    return f"ROUND((julianday({end}) - julianday({start})) * 86400.0)"


def _percentile(rows: dict[int, float], n: int, p: float) -> float | None:
    """Linear interpolation between the ranks around p x (n - 1) (PostgreSQL's
    percentile_cont), from the rows at those positions."""
    if not n:
        return None
    position = p * (n - 1)
    low = math.floor(position + 1e-9)
    value = rows[low]
    if low + 1 < n and position > low:
        value += (rows[low + 1] - value) * (position - low)
    return value


def contact_stats(scope: Scope, *, now: dt.datetime) -> dict[int, ContactStats]:
    """First contact and proactive share for the period (CURRENT) and the one before (PREVIOUS)
    in one statement over the rollup (supervisor.rollup: per delayed shipment its detection,
    first contact after it and the customer's first message):

    1. `a`: the affected shipments of both periods (the scope's filters, compiled by Django);
    2. `m`: per shipment, the seconds to first contact (or waited so far, past 24 h: computed
       now, not when the rollup was refreshed), proactive or not, decided or still open;
    3. counts per period and currency, and the rows at the median's and p90's ranks.
    """
    base = (
        outcomes(scope)
        .filter(both_periods(scope, "delay_detected_at"))
        .order_by()
        .values_list("delay_detected_at", "currency", "first_contact_at", "first_inbound_at")
    )
    connection = connections[base.db]
    base_sql, base_params = base.query.get_compiler(base.db).as_sql()
    adapt = connection.ops.adapt_datetimefield_value
    waited = _seconds("a.detected", "%s", connection.vendor)
    to_out = _seconds("a.detected", "a.out_at", connection.vendor)
    sql = f"""
WITH a (detected, currency, out_at, in_at) AS ({base_sql}),
m AS (
    SELECT CASE WHEN a.detected >= %s THEN {CURRENT} ELSE {PREVIOUS} END AS cur,
           a.currency AS currency,
           CASE WHEN a.out_at IS NOT NULL THEN {to_out}
                WHEN {waited} >= 86400 THEN {waited} END AS secs,
           CASE WHEN a.out_at IS NOT NULL AND (a.in_at IS NULL OR a.out_at < a.in_at)
                THEN 1 ELSE 0 END AS proactive,
           CASE WHEN a.out_at IS NOT NULL OR a.in_at IS NOT NULL OR {waited} >= 86400
                THEN 1 ELSE 0 END AS decided,
           CASE WHEN a.out_at IS NOT NULL THEN 1 ELSE 0 END AS contacted
      FROM a
),
ranked AS (
    SELECT cur, secs, ROW_NUMBER() OVER (PARTITION BY cur ORDER BY secs) - 1 AS pos,
           COUNT(*) OVER (PARTITION BY cur) AS n
      FROM m WHERE secs IS NOT NULL
)
SELECT 'count', cur, currency, COUNT(*), COUNT(secs),
       SUM(CASE WHEN contacted = 1 AND secs < 86400 THEN 1 ELSE 0 END),
       SUM(decided), SUM(proactive)
  FROM m GROUP BY cur, currency
UNION ALL
SELECT 'rank', cur, NULL, pos, n, secs, 0, 0
  FROM ranked
 WHERE pos IN ((n - 1) * 5 / 10, (n - 1) * 5 / 10 + 1, (n - 1) * 9 / 10, (n - 1) * 9 / 10 + 1)
"""  # nosec B608  # constants only, values bound
    moment = adapt(now)
    params = [
        *base_params,
        adapt(scope.start),
        moment,  # secs: waited, in the WHEN
        moment,  # secs: waited, the value
        moment,  # decided
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()

    counts: dict[int, dict] = {CURRENT: defaultdict(int), PREVIOUS: defaultdict(int)}
    currencies: dict[int, dict[str, int]] = {CURRENT: {}, PREVIOUS: {}}
    ranks: dict[int, dict[int, float]] = {CURRENT: {}, PREVIOUS: {}}
    sizes: dict[int, int] = {CURRENT: 0, PREVIOUS: 0}
    for kind, cur, currency, c1, c2, c3, c4, c5 in rows:
        cur = int(cur)
        if kind == "count":
            total = counts[cur]
            total["affected"] += int(c1)
            total["measured"] += int(c2)
            total["under"] += int(c3 or 0)
            total["decided"] += int(c4 or 0)
            total["proactive"] += int(c5 or 0)
            currencies[cur][currency] = currencies[cur].get(currency, 0) + int(c1)
        else:
            ranks[cur][int(c1)] = float(c3)
            sizes[cur] = int(c2)
    stats = {}
    for cur in (CURRENT, PREVIOUS):
        total = counts[cur]
        stats[cur] = ContactStats(
            affected=total["affected"],
            affected_by_currency=currencies[cur],
            measured=total["measured"],
            under=total["under"],
            waiting=total["affected"] - total["measured"],
            decided=total["decided"],
            proactive=total["proactive"],
            median_seconds=_percentile(ranks[cur], sizes[cur], 0.5),
            p90_seconds=_percentile(ranks[cur], sizes[cur], 0.9),
        )
    return stats


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600


def contact_section(scope: Scope, stats: dict[int, ContactStats]) -> list[Section]:
    cur, prev = stats[CURRENT], stats[PREVIOUS]
    hours = target("first_contact_hours")
    link = drilldown_url("shipments", "first_contact", scope)
    late = drilldown_url("shipments", "first_contact_late", scope)
    contact = Section(
        key="first_contact",
        title=str(_("Detection → first customer contact")),
        figures=[
            Figure(
                key="first_contact_median",
                label=str(_("Median")),
                value=_hours(cur.median_seconds),
                previous=_hours(prev.median_seconds),
                unit="hours",
                target=hours,
                op="<",
                link=link,
                detail=str(_("%(n)s of %(total)s delayed shipments measured"))
                % {"n": cur.measured, "total": cur.affected},
            ),
            Figure(
                key="first_contact_p90",
                label=str(_("90th percentile")),
                value=_hours(cur.p90_seconds),
                previous=_hours(prev.p90_seconds),
                unit="hours",
                target=hours,
                op="<",
                link=link,
            ),
            Figure(
                key="first_contact_under_24h",
                label=str(_("Contacted within 24 h")),
                value=ratio(cur.under, cur.measured),
                previous=ratio(prev.under, prev.measured),
                unit="share",
                link=late,
                detail=str(_("%(late)s late or not contacted · %(waiting)s still within 24 h"))
                % {"late": cur.measured - cur.under, "waiting": cur.waiting},
            ),
        ],
        note=str(
            _(
                "Shipments whose delay was detected in the period. Contact: the first notice "
                "sent, or public reply, to the customer about the shipment after detection. A "
                "customer not contacted yet counts with the time waited so far once 24 hours "
                "have passed; before that the shipment is left out."
            )
        ),
    )
    proactive = Section(
        key="proactive",
        title=str(_("Told before they asked")),
        figures=[
            Figure(
                key="proactive_share",
                label=str(_("Proactive share")),
                value=ratio(cur.proactive, cur.decided),
                previous=ratio(prev.proactive, prev.decided),
                unit="share",
                target=target("proactive_share"),
                link=drilldown_url("shipments", "reactive", scope),
                detail=str(_("%(n)s of %(total)s delayed shipments"))
                % {"n": cur.proactive, "total": cur.decided},
            ),
        ],
        note=str(
            _(
                "Of the shipments delayed in the period, those whose customer heard from us "
                "before writing to us or opening a ticket (or never wrote). The list shows the "
                "others: the customer asked first, or never heard from us."
            )
        ),
    )
    return [contact, proactive]


# --- 2. SLA --------------------------------------------------------------------------------------


def sla_stats(scope: Scope, *, now: dt.datetime) -> dict[str, int]:
    """Met and breached first-response and resolution timers of both periods, and, now,
    breached or overdue timers and timers due within the hour on open tickets (one query)."""
    previous = scope.previous()
    open_ticket = ~Q(ticket__status__in=CLOSED_STATUSES)
    met = Q(status=TimerStatus.MET)
    breached = Q(status=TimerStatus.BREACHED)
    aggregates = {}
    for kind in SLA_KINDS:
        for name, period in (("cur", scope), ("prev", previous)):
            kind_q = Q(kind=kind)
            aggregates[f"{kind}_met_{name}"] = Count(
                "pk", filter=kind_q & met & period.in_period("met_at")
            )
            aggregates[f"{kind}_breached_{name}"] = Count(
                "pk", filter=kind_q & breached & period.in_period("breached_at")
            )
    # The same timers as the list (supervisor.drilldown.breached_now): see past_due_q.
    breached_now = open_ticket & past_due_q(now)
    due_soon = open_ticket & Q(status=TimerStatus.ACTIVE, due_at__gte=now, due_at__lt=now + SOON)
    aggregates["breached_now"] = Count("ticket", distinct=True, filter=breached_now)
    aggregates["due_soon"] = Count("ticket", distinct=True, filter=due_soon)
    rows = (
        SLATimer.objects.using(reports_db())
        .filter(scope.ticket_q("ticket__"), kind__in=SLA_KINDS)
        .filter(
            (met & both_periods(scope, "met_at"))
            | breached
            | Q(status=TimerStatus.ACTIVE, due_at__lt=now + SOON)
        )
        .aggregate(**aggregates)
    )
    return rows


def sla_section(scope: Scope, stats: dict[str, int]) -> Section:
    figures = []
    labels = {
        TimerKind.FIRST_RESPONSE: _("First response within SLA"),
        TimerKind.RESOLUTION: _("Resolution within SLA"),
    }
    for kind in SLA_KINDS:
        met, breached = stats[f"{kind}_met_cur"], stats[f"{kind}_breached_cur"]
        figures.append(
            Figure(
                key=f"sla_{kind}",
                label=str(labels[kind]),
                value=ratio(met, met + breached),
                previous=ratio(
                    stats[f"{kind}_met_prev"],
                    stats[f"{kind}_met_prev"] + stats[f"{kind}_breached_prev"],
                ),
                unit="share",
                target=target("sla_compliance"),
                link=drilldown_url("tickets", f"sla_{kind}", scope),
                detail=str(_("%(met)s met · %(breached)s breached"))
                % {"met": met, "breached": breached},
            )
        )
    figures.append(
        Figure(
            key="sla_breached_now",
            label=str(_("Tickets breaching now")),
            value=stats["breached_now"],
            target=0,
            op="<=",
            live=True,
            link=drilldown_url("tickets", "sla_breached_now", scope),
        )
    )
    figures.append(
        Figure(
            key="sla_due_soon",
            label=str(_("Tickets due within the hour")),
            value=stats["due_soon"],
            live=True,
            link=drilldown_url("tickets", "sla_due_soon", scope),
        )
    )
    return Section(
        key="sla",
        title=str(_("First response and resolution against SLA")),
        figures=figures,
        note=str(
            _(
                "Compliance: timers met in the period / (met + breached in the period). "
                "Breaching now and due within the hour are about open tickets at this moment "
                "(the filters apply, the period does not)."
            )
        ),
    )


# --- 3. CSAT and negative reviews of affected customers ---------------------------------------


def csat_stats(scope: Scope) -> dict[str, int | None]:
    """Answers (count, sum, >= 4, <= 2) given in each period and surveys sent in each period
    with how many of them were answered, on tickets of delayed shipments (one query)."""
    aggregates = {}
    for name, period in (("cur", scope), ("prev", scope.previous())):
        answered = period.in_period("answered_at") & Q(rating__isnull=False)
        sent = period.in_period("sent_at")
        aggregates |= {
            f"answers_{name}": Count("pk", filter=answered),
            f"sum_{name}": Sum("rating", filter=answered),
            f"good_{name}": Count("pk", filter=answered & Q(rating__gte=4)),
            f"low_{name}": Count("pk", filter=answered & Q(rating__lte=2)),
            f"sent_{name}": Count("pk", filter=sent),
            f"sent_answered_{name}": Count("pk", filter=sent & Q(answered_at__isnull=False)),
        }
    return (
        SatisfactionSurvey.objects.using(reports_db())
        .filter(scope.ticket_q("ticket__"))
        .filter(both_periods(scope, "answered_at") | both_periods(scope, "sent_at"))
        .filter(delayed_shipment_q("ticket__shipment__"))
        .aggregate(**aggregates)
    )


def csat_sections(scope: Scope, stats) -> list[Section]:
    def mean(name):
        n = stats[f"answers_{name}"]
        return float(stats[f"sum_{name}"]) / n if n else None

    csat = Section(
        key="csat",
        title=str(_("Satisfaction of affected customers")),
        figures=[
            Figure(
                key="csat_mean",
                label=str(_("CSAT")),
                value=mean("cur"),
                previous=mean("prev"),
                unit="rating",
                target=target("csat_mean"),
                link=drilldown_url("tickets", "csat", scope),
                detail=ngettext("%(n)s answer", "%(n)s answers", stats["answers_cur"])
                % {"n": stats["answers_cur"]},
            ),
            Figure(
                key="csat_response_rate",
                label=str(_("Response rate")),
                value=ratio(stats["sent_answered_cur"], stats["sent_cur"]),
                previous=ratio(stats["sent_answered_prev"], stats["sent_prev"]),
                unit="share",
                target=target("csat_response_rate"),
                link=drilldown_url("tickets", "csat_sent", scope),
                detail=str(_("%(answered)s of %(sent)s surveys sent"))
                % {"answered": stats["sent_answered_cur"], "sent": stats["sent_cur"]},
            ),
            Figure(
                key="csat_good_share",
                label=str(_("Rated 4 or 5")),
                value=ratio(stats["good_cur"], stats["answers_cur"]),
                previous=ratio(stats["good_prev"], stats["answers_prev"]),
                unit="share",
                target=target("csat_good_share"),
                link=drilldown_url("tickets", "csat", scope),
            ),
        ],
        note=str(
            _(
                "Surveys of tickets whose shipment was delayed. CSAT and the share of 4 or 5: "
                "answers given in the period. Response rate: of the surveys sent in the "
                "period, those answered so far."
            )
        ),
    )
    negative = Section(
        key="negative",
        title=str(_("Negative reviews")),
        figures=[
            Figure(
                key="negative_review_rate",
                label=str(_("Answers of 1 or 2")),
                value=ratio(stats["low_cur"], stats["answers_cur"]),
                previous=ratio(stats["low_prev"], stats["answers_prev"]),
                unit="share",
                target=target("negative_review_rate"),
                op="<=",
                link=drilldown_url("tickets", "negative", scope),
                detail=str(_("%(n)s of %(total)s answers"))
                % {"n": stats["low_cur"], "total": stats["answers_cur"]},
            )
        ],
        note=str(_("Of the affected customers' answers given in the period, those of 1 or 2.")),
    )
    return [csat, negative]


# --- 4. resolved without escalation -----------------------------------------------------------


def escalation_stats(scope: Scope) -> dict[str, int]:
    aggregates = {}
    for name, period in (("cur", scope), ("prev", scope.previous())):
        solved = period.in_period("solved_at")
        aggregates[f"solved_{name}"] = Count("pk", filter=solved)
        aggregates[f"escalated_{name}"] = Count("pk", filter=solved & Q(is_escalated=True))
    return (
        Ticket.objects.using(reports_db())
        .filter(scope.ticket_q(), status__in=CLOSED_STATUSES)
        .filter(both_periods(scope, "solved_at"))
        .aggregate(**aggregates)
    )


def escalation_section(scope: Scope, stats) -> Section:
    def share(name):
        solved = stats[f"solved_{name}"]
        return ratio(solved - stats[f"escalated_{name}"], solved)

    return Section(
        key="escalation",
        title=str(_("Resolved without escalation")),
        figures=[
            Figure(
                key="resolved_without_escalation",
                label=str(_("Without escalation")),
                value=share("cur"),
                previous=share("prev"),
                unit="share",
                target=target("resolved_without_escalation"),
                link=drilldown_url("tickets", "escalated", scope),
                detail=str(_("%(escalated)s escalated of %(solved)s solved"))
                % {"escalated": stats["escalated_cur"], "solved": stats["solved_cur"]},
            )
        ],
        note=str(
            _(
                "Tickets solved in the period (and not reopened since) that were never "
                "escalated. The list shows the escalated ones."
            )
        ),
    )


# --- 5. 30-day repurchase ---------------------------------------------------------------------


def repurchase_stats(scope: Scope, *, now: dt.datetime) -> dict[str, int]:
    """Affected and unaffected customers of both periods and how many ordered again within 30
    days (distinct customers), in one statement over the rollup (supervisor.rollup: per
    shipment its cohort, the moment it counts from, the customer's next order within 30 days):

    1. `r`: the scope's cohort rows of either period;
    2. `c`: per period and customer, affected or not, and whether they ordered again (as an
       affected customer, or as an unaffected one);
    3. the counts per period; customers affected in a period are not among its unaffected.
    """
    base = (
        outcomes(scope)
        .filter(both_periods(scope, "anchor_at"), cohort__isnull=False, anchor_at__lte=now)
        .order_by()
        .values_list("anchor_at", "cohort", "customer_id", "next_order_at")
    )
    connection = connections[base.db]
    base_sql, base_params = base.query.get_compiler(base.db).as_sql()
    adapt = connection.ops.adapt_datetimefield_value
    affected = Cohort.AFFECTED
    sql = f"""
WITH r (anchor, cohort, customer_id, next_at) AS ({base_sql}),
c AS (
    SELECT CASE WHEN anchor >= %s THEN {CURRENT} ELSE {PREVIOUS} END AS cur, customer_id,
           MAX(CASE WHEN cohort = {affected} THEN 1 ELSE 0 END) AS affected,
           MAX(CASE WHEN cohort = {affected} AND next_at IS NOT NULL THEN 1 ELSE 0 END) AS a_again,
           MAX(CASE WHEN cohort <> {affected} AND next_at IS NOT NULL THEN 1 ELSE 0 END) AS u_again
      FROM r GROUP BY CASE WHEN anchor >= %s THEN {CURRENT} ELSE {PREVIOUS} END, customer_id
)
SELECT 'affected', cur, SUM(affected), SUM(a_again) FROM c GROUP BY cur
UNION ALL
SELECT 'unaffected', cur, SUM(1 - affected), SUM(CASE WHEN affected = 0 THEN u_again ELSE 0 END)
  FROM c GROUP BY cur
"""  # nosec B608  # constants only, values bound
    start = adapt(scope.start)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*base_params, start, start])
        found = cursor.fetchall()
    stats = {
        f"{kind}{suffix}_{name}": 0
        for kind in ("affected", "unaffected")
        for suffix in ("", "_again")
        for name in ("cur", "prev")
    }
    for kind, cur, customers, again in found:
        name = "cur" if int(cur) == CURRENT else "prev"
        stats[f"{kind}_{name}"] += int(customers or 0)
        stats[f"{kind}_again_{name}"] += int(again or 0)
    return stats


def repurchase_section(scope: Scope, stats) -> Section:
    def rate(group, name):
        return ratio(stats[f"{group}_again_{name}"], stats[f"{group}_{name}"])

    return Section(
        key="repurchase",
        title=str(_("30-day repurchase")),
        figures=[
            Figure(
                key="repurchase_affected",
                label=str(_("Affected customers")),
                value=rate("affected", "cur"),
                previous=rate("affected", "prev"),
                unit="share",
                target=target("repurchase_30d"),
                link=drilldown_url("shipments", "repurchase", scope),
                detail=str(_("%(n)s of %(total)s customers ordered again"))
                % {"n": stats["affected_again_cur"], "total": stats["affected_cur"]},
            ),
            Figure(
                key="repurchase_unaffected",
                label=str(_("Unaffected customers")),
                value=rate("unaffected", "cur"),
                previous=rate("unaffected", "prev"),
                unit="share",
                detail=str(_("%(n)s of %(total)s customers ordered again"))
                % {"n": stats["unaffected_again_cur"], "total": stats["unaffected_cur"]},
            ),
        ],
        note=str(
            _(
                "Affected: customers with a delay detected in the period; they count when they "
                "placed another order within 30 days after that detection. Unaffected: "
                "customers with an order placed in the period that was never delayed (and no "
                "delay in the period); they count when they ordered again within 30 days after "
                "it. Customers count as soon as their 30 days start, so those whose 30 days are "
                "not over yet may still order: the latest days read low."
            )
        ),
    )


# --- 6. compensation cost ---------------------------------------------------------------------


@dataclass
class CostRow:
    key: str
    label: str
    offers: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)

    @property
    def totals_sorted(self) -> list[tuple[str, Decimal]]:
        return sorted(self.totals.items())


@dataclass(frozen=True)
class CurrencyCost:
    currency: str
    total: Decimal
    previous: Decimal
    affected_orders: int
    previous_orders: int

    @property
    def per_order(self) -> Decimal | None:
        if not self.affected_orders:
            return None
        return (self.total / self.affected_orders).quantize(Decimal("0.01"))

    @property
    def previous_per_order(self) -> Decimal | None:
        if not self.previous_orders:
            return None
        return (self.previous / self.previous_orders).quantize(Decimal("0.01"))

    @property
    def change(self) -> Decimal:
        return self.total - self.previous


@dataclass(frozen=True)
class CostTables:
    currencies: list[CurrencyCost]
    by_kind: list[CostRow]
    by_cause: list[CostRow]
    by_carrier: list[CostRow]
    by_incident: list[CostRow]
    offers: int
    link: str = ""

    @property
    def tables(self) -> list[tuple[str, str, list[CostRow]]]:
        return [
            ("kind", str(_("By remedy")), self.by_kind),
            ("cause", str(_("By cause")), self.by_cause),
            ("carrier", str(_("By carrier")), self.by_carrier),
            ("incident", str(_("By incident")), self.by_incident),
        ]


def cause_of_offer() -> Case:
    """The delay cause of the offer's shipment, else the carrier's cause (empty: no shipment)."""
    return Case(
        When(
            Q(ticket__shipment__delay_cause=DelayCause.NONE),
            then=F("ticket__shipment__cause"),
        ),
        default=F("ticket__shipment__delay_cause"),
    )


def compensation_rows(scope: Scope):
    """Issued offers of both periods grouped by period, kind, currency, cause, carrier and
    incident: one query, as many rows as combinations (not offers)."""
    return (
        CompensationOffer.objects.using(reports_db())
        .filter(status=OfferStatus.ISSUED)
        .filter(both_periods(scope, "issued_at"))
        .filter(scope.ticket_q("ticket__"))
        .annotate(
            cur=Case(
                When(issued_at__gte=scope.start, then=Value(CURRENT)),
                default=Value(PREVIOUS),
                output_field=IntegerField(),
            ),
            cause_key=cause_of_offer(),
        )
        .values(
            "cur",
            "kind",
            "currency",
            "cause_key",
            "ticket__shipment__carrier_id",
            "ticket__shipment__carrier__name",
            "incident_id",
            "incident__title",
        )
        .annotate(total=Sum("amount"), offers=Count("pk"))
        .order_by()
    )


def compensation_tables(scope: Scope, contact: dict[int, ContactStats]) -> CostTables:
    dimensions: dict[str, dict[str, CostRow]] = {
        "kind": {},
        "cause": {},
        "carrier": {},
        "incident": {},
    }
    totals = {CURRENT: defaultdict(Decimal), PREVIOUS: defaultdict(Decimal)}
    offers = 0
    kinds = dict(RemedyKind.choices)
    causes = dict(DelayCause.choices)
    for row in compensation_rows(scope):
        amount = row["total"]
        if amount is not None:  # SQLite sums drop trailing zeros: 30 -> 30.00 EUR
            amount = money.quantize(amount, row["currency"])
        if amount is not None:
            totals[row["cur"]][row["currency"]] += amount
        if row["cur"] != CURRENT:
            continue
        offers += row["offers"]
        cause = row["cause_key"]
        keys = {
            "kind": (row["kind"], str(kinds.get(row["kind"], row["kind"]))),
            "cause": (
                cause or "",
                str(causes.get(cause, cause)) if cause else str(_("No shipment")),
            ),
            "carrier": (
                str(row["ticket__shipment__carrier_id"] or ""),
                row["ticket__shipment__carrier__name"] or str(_("No shipment")),
            ),
            "incident": (
                str(row["incident_id"] or ""),
                row["incident__title"] or str(_("No incident")),
            ),
        }
        for dimension, (key, label) in keys.items():
            cost = dimensions[dimension].setdefault(key, CostRow(key=key, label=label))
            cost.offers += row["offers"]
            if amount is not None:
                cost.totals[row["currency"]] = cost.totals.get(row["currency"], Decimal(0)) + amount

    def ordered(rows: dict[str, CostRow]) -> list[CostRow]:
        return sorted(rows.values(), key=lambda r: (-r.offers, r.label))

    names = sorted(set(totals[CURRENT]) | set(totals[PREVIOUS]))
    currencies = [
        CurrencyCost(
            currency=name,
            total=totals[CURRENT].get(name, Decimal(0)),
            previous=totals[PREVIOUS].get(name, Decimal(0)),
            affected_orders=contact[CURRENT].affected_by_currency.get(name, 0),
            previous_orders=contact[PREVIOUS].affected_by_currency.get(name, 0),
        )
        for name in names
    ]
    return CostTables(
        currencies=currencies,
        by_kind=ordered(dimensions["kind"]),
        by_cause=ordered(dimensions["cause"]),
        by_carrier=ordered(dimensions["carrier"]),
        by_incident=ordered(dimensions["incident"]),
        offers=offers,
        link=drilldown_url("tickets", "compensation", scope),
    )


# --- the dashboard -----------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiDashboard:
    sections: list[Section]
    costs: CostTables
    # When the rollup the first-contact, proactive and repurchase figures read was last
    # refreshed (None: never), and how often it is.
    as_of: dt.datetime | None = None
    refresh_minutes: int = REFRESH_KPI_ROLLUP_INTERVAL_SECONDS // 60

    @property
    def rollup_sections(self) -> tuple[str, ...]:
        return ROLLUP_SECTIONS

    @property
    def figures(self) -> list[tuple[Section, Figure]]:
        return [(section, figure) for section in self.sections for figure in section.figures]

    def figure(self, key: str) -> Figure:
        return next(figure for _, figure in self.figures if figure.key == key)


def kpi_dashboard(scope: Scope, *, now: dt.datetime) -> KpiDashboard:
    """Every figure of the dashboard in seven queries (see the module docstring; the seventh
    reads how fresh the rollup is)."""
    as_of = rollup.as_of()
    contact = contact_stats(scope, now=now)
    sections = [
        *contact_section(scope, contact),
        sla_section(scope, sla_stats(scope, now=now)),
        *csat_sections(scope, csat_stats(scope)),
        escalation_section(scope, escalation_stats(scope)),
        repurchase_section(scope, repurchase_stats(scope, now=now)),
    ]
    return KpiDashboard(sections=sections, costs=compensation_tables(scope, contact), as_of=as_of)
