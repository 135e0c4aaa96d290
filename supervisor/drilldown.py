"""The lists behind the dashboard's figures: /supervisor/tickets/?kpi=... and
/supervisor/shipments/?kpi=... with the dashboard's period and filters.

Each list (`Drilldown`) is a queryset of the rows that make a figure (the breached timers, the
escalated tickets, the negative answers, the shipments contacted later than 24 h, ...) with its
columns; every row links to its console ticket page or shipment page. A page is PAGE_SIZE rows
read with LIMIT/OFFSET plus one (whether there is a next page), without counting the whole
list: the figure on the dashboard is the count. `?format=csv` streams every row.

The definitions are the dashboard's (supervisor.kpis): the same periods, filters and rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import (
    BooleanField,
    DateTimeField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Least
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from compensation.models import CompensationOffer, OfferStatus
from compensation.money import format_money
from core.inputs import parse_page
from core.models import DelayCause
from shipments.models import Shipment
from supervisor import kpis
from supervisor.export import csv_response, wants_csv
from supervisor.scope import Scope, scope_from
from tickets.models import (
    CLOSED_STATUSES,
    SatisfactionSurvey,
    SLATimer,
    Ticket,
    TimerKind,
    TimerStatus,
)

PAGE_SIZE = 50
CSV_CHUNK = 2000


# --- cells and columns -------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column: its header and how a row's cell reads. `kind` says how the page shows it:
    text, datetime (the reader's zone), number, or badge (a yes/no kind of word)."""

    label: Any
    value: Callable[[Any], Any]
    kind: str = "text"
    numeric: bool = False


@dataclass(frozen=True)
class Row:
    link: str
    cells: list[tuple[Column, Any]]


def csv_value(column: Column, value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat(timespec="minutes")
    return value


# --- the lists ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drilldown:
    name: str
    area: str  # tickets | shipments
    title: Any
    description: Any
    rows: Callable[[Scope, dt.datetime], QuerySet]
    columns: list[Column]
    empty: Any = _("Nothing in this list for the period and filters.")
    link: Callable[[Any], str] = field(default=lambda row: "")

    def page(
        self, scope: Scope, *, now: dt.datetime, number: int, narrow: Q | None = None
    ) -> tuple[list[Row], bool]:
        """Rows of page `number` (from 1) and whether another page follows; `narrow`: only
        those rows (a cause or hub, from the root causes' links)."""
        offset = (number - 1) * PAGE_SIZE
        rows = self.rows(scope, now).filter(narrow or Q())
        found = list(rows[offset : offset + PAGE_SIZE + 1])
        return [self.row(item) for item in found[:PAGE_SIZE]], len(found) > PAGE_SIZE

    def row(self, item) -> Row:
        shown = [c for c in self.columns if c.kind != "hidden"]
        return Row(link=self.link(item), cells=[(c, c.value(item)) for c in shown])

    def csv_rows(
        self, scope: Scope, *, now: dt.datetime, narrow: Q | None = None
    ) -> Iterator[list]:
        for item in self.rows(scope, now).filter(narrow or Q()).iterator(chunk_size=CSV_CHUNK):
            yield [csv_value(c, c.value(item)) for c in self.columns] + [self.link(item)]


def ticket_url(ticket: Ticket) -> str:
    return reverse("tickets:ticket_detail", args=[ticket.public_id])


def shipment_url(shipment: Shipment) -> str:
    return reverse("shipments:shipment_detail", args=[shipment.public_id])


def ticket_text(ticket: Ticket) -> str:
    return f"#{ticket.pk} {ticket.subject}"


def person(user) -> str:
    if user is None:
        return ""
    return user.first_name or user.get_username()


# Columns shared by the lists of tickets (the row reaches its ticket through `get`).
def ticket_columns(get: Callable[[Any], Ticket]) -> list[Column]:
    return [
        Column(_("Ticket"), lambda r: ticket_text(get(r))),
        Column(_("Customer"), lambda r: get(r).customer.name),
        Column(_("Status"), lambda r: get(r).get_status_display()),
        Column(_("Assignee"), lambda r: person(get(r).assignee)),
    ]


TICKET_JOINS = ("ticket", "ticket__customer", "ticket__assignee")


# --- tickets: SLA ------------------------------------------------------------------------------


def breached_in_period(kind: str):
    def rows(scope: Scope, now: dt.datetime) -> QuerySet:
        return (
            SLATimer.objects.filter(
                scope.ticket_q("ticket__"),
                scope.in_period("breached_at"),
                kind=kind,
                status=TimerStatus.BREACHED,
            )
            .select_related(*TICKET_JOINS)
            .order_by("-breached_at", "-pk")
        )

    return rows


def breached_now(scope: Scope, now: dt.datetime) -> QuerySet:
    return (
        SLATimer.objects.filter(scope.ticket_q("ticket__"), kind__in=kpis.SLA_KINDS)
        .filter(Q(status=TimerStatus.BREACHED) | Q(status=TimerStatus.ACTIVE, due_at__lt=now))
        .exclude(ticket__status__in=CLOSED_STATUSES)
        .select_related(*TICKET_JOINS)
        .order_by("due_at", "pk")
    )


def due_soon(scope: Scope, now: dt.datetime) -> QuerySet:
    return (
        SLATimer.objects.filter(
            scope.ticket_q("ticket__"),
            kind__in=kpis.SLA_KINDS,
            status=TimerStatus.ACTIVE,
            due_at__gte=now,
            due_at__lt=now + kpis.SOON,
        )
        .exclude(ticket__status__in=CLOSED_STATUSES)
        .select_related(*TICKET_JOINS)
        .order_by("due_at", "pk")
    )


TIMER_COLUMNS = [
    *ticket_columns(lambda t: t.ticket),
    Column(_("Timer"), lambda t: t.get_kind_display()),
    Column(_("Due"), lambda t: t.due_at, "datetime"),
    Column(_("Breached at"), lambda t: t.breached_at, "datetime"),
]


# --- tickets: surveys --------------------------------------------------------------------------


def affected_surveys(scope: Scope) -> QuerySet:
    return (
        SatisfactionSurvey.objects.filter(scope.ticket_q("ticket__"))
        .filter(kpis.delayed_shipment_q("ticket__shipment__"))
        .select_related("ticket", "ticket__customer", "ticket__assignee", "agent")
    )


def answered(scope: Scope, now: dt.datetime) -> QuerySet:
    return (
        affected_surveys(scope)
        .filter(scope.in_period("answered_at"), rating__isnull=False)
        .order_by("-answered_at", "-pk")
    )


def negative(scope: Scope, now: dt.datetime) -> QuerySet:
    return answered(scope, now).filter(rating__lte=2)


def sent(scope: Scope, now: dt.datetime) -> QuerySet:
    return affected_surveys(scope).filter(scope.in_period("sent_at")).order_by("-sent_at", "-pk")


SURVEY_COLUMNS = [
    Column(_("Ticket"), lambda s: ticket_text(s.ticket)),
    Column(_("Customer"), lambda s: s.ticket.customer.name),
    Column(_("Rating"), lambda s: s.rating, "number", numeric=True),
    Column(_("Reason"), lambda s: s.get_reason_display()),
    Column(_("Comment"), lambda s: s.comment),
    Column(_("Agent"), lambda s: person(s.agent)),
    Column(_("Sent"), lambda s: s.sent_at, "datetime"),
    Column(_("Answered"), lambda s: s.answered_at, "datetime"),
]


# --- tickets: escalations and compensation -----------------------------------------------------


def escalated(scope: Scope, now: dt.datetime) -> QuerySet:
    return (
        Ticket.objects.filter(
            scope.ticket_q(),
            scope.in_period("solved_at"),
            status__in=CLOSED_STATUSES,
            is_escalated=True,
        )
        .select_related("customer", "assignee", "team")
        .order_by("-solved_at", "-pk")
    )


ESCALATED_COLUMNS = [
    *ticket_columns(lambda t: t),
    Column(_("Team"), lambda t: t.team.name if t.team_id else ""),
    Column(_("Escalated at"), lambda t: t.escalated_at, "datetime"),
    Column(_("Solved at"), lambda t: t.solved_at, "datetime"),
]


def issued_offers(scope: Scope, now: dt.datetime) -> QuerySet:
    return (
        CompensationOffer.objects.filter(
            scope.ticket_q("ticket__"), scope.in_period("issued_at"), status=OfferStatus.ISSUED
        )
        .select_related(
            "ticket",
            "ticket__customer",
            "ticket__assignee",
            "ticket__shipment",
            "ticket__shipment__carrier",
            "incident",
        )
        .order_by("-issued_at", "-pk")
    )


def offer_cause(offer: CompensationOffer) -> str:
    shipment = offer.ticket.shipment
    if shipment is None:
        return ""
    if shipment.delay_cause != "none":
        return shipment.get_delay_cause_display()
    return shipment.get_cause_display()


OFFER_COLUMNS = [
    Column(_("Ticket"), lambda o: ticket_text(o.ticket)),
    Column(_("Customer"), lambda o: o.ticket.customer.name),
    Column(_("Remedy"), lambda o: o.get_kind_display()),
    Column(
        _("Value"),
        lambda o: format_money(o.amount, o.currency) if o.amount is not None else "",
        numeric=True,
    ),
    Column(_("Amount"), lambda o: o.amount, "hidden"),
    Column(_("Currency"), lambda o: o.currency if o.amount is not None else "", "hidden"),
    Column(_("Cause"), offer_cause),
    Column(_("Carrier"), lambda o: o.ticket.shipment.carrier.name if o.ticket.shipment_id else ""),
    Column(_("Incident"), lambda o: o.incident.title if o.incident_id else ""),
    Column(_("Issued at"), lambda o: o.issued_at, "datetime"),
]


# --- shipments: first contact, proactive share, repurchase -----------------------------------


def _first(qs: QuerySet, field_name: str) -> Subquery:
    return Subquery(qs.order_by(field_name).values(field_name)[:1])


def _earliest(a, b):
    """The earlier of two nullable moments (NULL only when both are): Least of Coalesces, as
    SQLite's MIN(a, b) is NULL when either is."""
    return Least(Coalesce(a, b), Coalesce(b, a))


def with_contacts(qs: QuerySet, *, now: dt.datetime) -> QuerySet:
    """Shipments with `first_out` (first notice sent or public reply at or after detection)
    and `first_in` (the customer's first message or self-opened ticket), as supervisor.kpis
    defines them, read from the rollup (supervisor.rollup) like the dashboard's figures."""
    return qs.annotate(
        first_out=F("kpi_outcome__first_contact_at"),
        first_in=F("kpi_outcome__first_inbound_at"),
        day_passed=ExpressionWrapper(
            Q(kpi_outcome__delay_detected_at__lte=now - kpis.DAY), output_field=BooleanField()
        ),
    )


def affected_shipments(scope: Scope) -> QuerySet:
    """The shipments delayed in the period, as of the rollup's last refresh (the figures')."""
    return (
        scope.shipments(Shipment.objects.all())
        .filter(scope.in_period("kpi_outcome__delay_detected_at"))
        .select_related("customer", "carrier")
        .order_by("-kpi_outcome__delay_detected_at", "-pk")
    )


def first_contact(scope: Scope, now: dt.datetime) -> QuerySet:
    return with_contacts(affected_shipments(scope), now=now)


def first_contact_late(scope: Scope, now: dt.datetime) -> QuerySet:
    """Measured and not contacted within 24 h: 24 h have passed without a contact in them."""
    deadline = ExpressionWrapper(
        F("kpi_outcome__delay_detected_at") + Value(kpis.DAY), DateTimeField()
    )
    return first_contact(scope, now).filter(
        Q(kpi_outcome__first_contact_at__isnull=True)
        | Q(kpi_outcome__first_contact_at__gte=deadline),
        kpi_outcome__delay_detected_at__lte=now - kpis.DAY,
    )


def reactive(scope: Scope, now: dt.datetime) -> QuerySet:
    """Not proactive: the customer reached us first (or at the same moment), or 24 h passed and
    neither side has written."""
    return first_contact(scope, now).filter(
        Q(first_in__isnull=False) & (Q(first_out__isnull=True) | Q(first_out__gte=F("first_in")))
        | Q(
            first_in__isnull=True,
            first_out__isnull=True,
            kpi_outcome__delay_detected_at__lte=now - kpis.DAY,
        )
    )


def repurchase(scope: Scope, now: dt.datetime) -> QuerySet:
    return affected_shipments(scope).annotate(next_order_at=F("kpi_outcome__next_order_at"))


def contact_hours(shipment) -> float | None:
    if shipment.first_out is None:
        return None
    return round((shipment.first_out - shipment.delay_detected_at).total_seconds() / 3600, 1)


def contact_state(shipment) -> str:
    if shipment.first_out is not None:
        if shipment.first_out - shipment.delay_detected_at < kpis.DAY:
            return str(_("Within 24 h"))
        return str(_("Late"))
    if shipment.day_passed:
        return str(_("Not contacted"))
    return str(_("Waiting (under 24 h)"))


SHIPMENT_COLUMNS = [
    Column(_("Shipment"), lambda s: f"{s.carrier.code} {s.tracking_number}"),
    Column(_("Order"), lambda s: s.order_number),
    Column(_("Customer"), lambda s: s.customer.name),
    Column(_("Delay"), lambda s: s.get_delay_level_display()),
    Column(_("Detected"), lambda s: s.delay_detected_at, "datetime"),
]

CONTACT_COLUMNS = [
    *SHIPMENT_COLUMNS,
    Column(_("First contact"), lambda s: s.first_out, "datetime"),
    Column(_("Hours to contact"), contact_hours, "number", numeric=True),
    Column(_("Customer wrote"), lambda s: s.first_in, "datetime"),
    Column(_("Result"), contact_state, "badge"),
]

REPURCHASE_COLUMNS = [
    *SHIPMENT_COLUMNS,
    Column(
        _("Ordered again within 30 days"),
        lambda s: str(_("Yes")) if s.next_order_at else str(_("No")),
        "badge",
    ),
    Column(_("Next order"), lambda s: s.next_order_at, "datetime"),
]


# --- the registry ------------------------------------------------------------------------------


def _ticket_of(row) -> str:
    return ticket_url(row if isinstance(row, Ticket) else row.ticket)


DRILLDOWNS: dict[str, Drilldown] = {
    d.name: d
    for d in [
        Drilldown(
            "sla_first_response",
            "tickets",
            _("First response: SLA breached"),
            _("First-response timers that breached in the period."),
            breached_in_period(TimerKind.FIRST_RESPONSE),
            TIMER_COLUMNS,
            link=_ticket_of,
        ),
        Drilldown(
            "sla_resolution",
            "tickets",
            _("Resolution: SLA breached"),
            _("Resolution timers that breached in the period."),
            breached_in_period(TimerKind.RESOLUTION),
            TIMER_COLUMNS,
            link=_ticket_of,
        ),
        Drilldown(
            "sla_breached_now",
            "tickets",
            _("Breaching now"),
            _("Open tickets whose first-response or resolution clock has run out."),
            breached_now,
            TIMER_COLUMNS,
            empty=_("No open ticket is past its SLA."),
            link=_ticket_of,
        ),
        Drilldown(
            "sla_due_soon",
            "tickets",
            _("Due within the hour"),
            _("Open tickets whose first-response or resolution clock runs out within the hour."),
            due_soon,
            TIMER_COLUMNS,
            empty=_("No SLA clock runs out within the hour."),
            link=_ticket_of,
        ),
        Drilldown(
            "csat",
            "tickets",
            _("Ratings of affected customers"),
            _("Answers given in the period on tickets whose shipment was delayed."),
            answered,
            SURVEY_COLUMNS,
            link=_ticket_of,
        ),
        Drilldown(
            "csat_sent",
            "tickets",
            _("Surveys sent to affected customers"),
            _("Surveys sent in the period, answered or not."),
            sent,
            SURVEY_COLUMNS,
            link=_ticket_of,
        ),
        Drilldown(
            "negative",
            "tickets",
            _("Negative answers"),
            _("Answers of 1 or 2 given in the period by affected customers."),
            negative,
            SURVEY_COLUMNS,
            empty=_("No affected customer answered 1 or 2 in the period."),
            link=_ticket_of,
        ),
        Drilldown(
            "escalated",
            "tickets",
            _("Escalated tickets"),
            _("Tickets solved in the period that were escalated."),
            escalated,
            ESCALATED_COLUMNS,
            empty=_("No ticket solved in the period was escalated."),
            link=_ticket_of,
        ),
        Drilldown(
            "compensation",
            "tickets",
            _("Compensation issued"),
            _("Remedies issued in the period."),
            issued_offers,
            OFFER_COLUMNS,
            link=_ticket_of,
        ),
        Drilldown(
            "first_contact",
            "shipments",
            _("Delayed shipments and their first contact"),
            _("Shipments whose delay was detected in the period, newest first."),
            first_contact,
            CONTACT_COLUMNS,
            link=shipment_url,
        ),
        Drilldown(
            "first_contact_late",
            "shipments",
            _("Contacted later than 24 h, or not at all"),
            _("Delayed shipments whose customer heard nothing in the 24 h after detection."),
            first_contact_late,
            CONTACT_COLUMNS,
            empty=_("Every customer was contacted within 24 h."),
            link=shipment_url,
        ),
        Drilldown(
            "reactive",
            "shipments",
            _("Customers who asked first"),
            _(
                "Delayed shipments whose customer wrote (or opened a ticket) before hearing "
                "from us, or heard nothing at all."
            ),
            reactive,
            CONTACT_COLUMNS,
            empty=_("Every customer heard from us first."),
            link=shipment_url,
        ),
        Drilldown(
            "repurchase",
            "shipments",
            _("Affected customers: ordered again?"),
            _(
                "Shipments delayed in the period and whether the customer ordered again "
                "within 30 days."
            ),
            repurchase,
            REPURCHASE_COLUMNS,
            link=shipment_url,
        ),
    ]
}


def lists_of(area: str) -> list[Drilldown]:
    return [d for d in DRILLDOWNS.values() if d.area == area]


# --- views ---------------------------------------------------------------------------------------


def _drilldown_view(request: HttpRequest, area: str) -> HttpResponse:
    now = timezone.now()
    scope, form = scope_from(request.GET, now=now)
    name = request.GET.get("kpi", "")
    if not name:
        return render(
            request,
            f"supervisor/drilldown_{area}.html",
            {"drilldown": None, "lists": lists_of(area), "scope": scope, "form": form},
        )
    drilldown = DRILLDOWNS.get(name)
    if drilldown is None or drilldown.area != area:
        raise Http404("No such list.")
    narrow, narrow_params, narrow_labels = _narrowing(request, area)
    if wants_csv(request):
        header = [str(c.label) for c in drilldown.columns] + [str(_("Link"))]
        rows = _absolute(request, drilldown.csv_rows(scope, now=now, narrow=narrow))
        return csv_response(f"{area}-{drilldown.name}", header, rows)
    number = parse_page(request.GET.get("page"))
    rows, more = drilldown.page(scope, now=now, number=number, narrow=narrow)
    columns = [c for c in drilldown.columns if c.kind != "hidden"]
    return render(
        request,
        f"supervisor/drilldown_{area}.html",
        {
            "drilldown": drilldown,
            "columns": columns,
            "rows": rows,
            "scope": scope,
            "form": form,
            "page": number,
            "previous_query": scope.query(
                kpi=name, page=number - 1 if number > 2 else None, **narrow_params
            )
            if number > 1
            else "",
            "next_query": scope.query(kpi=name, page=number + 1, **narrow_params) if more else "",
            "csv_query": scope.query(kpi=name, format="csv", **narrow_params),
            "narrowed": narrow_labels,
            "dashboard_query": scope.query(),
            "now": now,
        },
    )


# A hub name as the root causes page writes it (Shipment.last_location, Incident.hub).
HUB_MAX_LENGTH = 200


def _narrowing(request: HttpRequest, area: str) -> tuple[Q | None, dict, list[str]]:
    """`cause` and `hub` of a shipments list (the root causes page's rows link with them):
    the condition, the parameters to keep in the list's links, and what they say. A value
    that is not a cause, or not a hub name, narrows nothing."""
    if area != "shipments":
        return None, {}, []
    q, params, labels = Q(), {}, []
    cause = request.GET.get("cause", "")
    causes = dict(DelayCause.choices)
    if cause in causes:
        q &= Q(delay_cause=cause)
        params["cause"] = cause
        labels.append(str(_("cause: %(cause)s") % {"cause": causes[cause]}))
    hub = request.GET.get("hub", "").strip()
    if hub and len(hub) <= HUB_MAX_LENGTH:
        # The root causes' hub: the incident's hub when it names one, else the last location.
        q &= Q(incident__hub=hub) | (
            (Q(incident__isnull=True) | Q(incident__hub="")) & Q(last_location=hub)
        )
        params["hub"] = hub
        labels.append(str(_("hub: %(hub)s") % {"hub": hub}))
    return (q if params else None), params, labels


def _absolute(request: HttpRequest, rows: Iterable[list]) -> Iterator[list]:
    for row in rows:
        row[-1] = request.build_absolute_uri(row[-1]) if row[-1] else ""
        yield row


@require_GET
@login_required
@permission_required("tickets.supervise", raise_exception=True)
def drilldown_tickets(request: HttpRequest) -> HttpResponse:
    return _drilldown_view(request, "tickets")


@require_GET
@login_required
@permission_required("tickets.supervise", raise_exception=True)
def drilldown_shipments(request: HttpRequest) -> HttpResponse:
    return _drilldown_view(request, "shipments")
