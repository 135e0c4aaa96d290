"""Reads for the supervisor's incident pages (/supervisor/incidents/ and an incident's page).

Every figure is a SQL aggregate and every table one page of rows, so a page costs the same
number of queries with ten affected parcels or a hundred thousand
(tests/supervisor/test_incidents.py counts them at two sizes):

- the list: one COUNT, one page of incidents with their counts as correlated subqueries
  (shipments, open tickets, notices sent), their budgets, and their money per currency;
- an incident: one aggregate per section (shipments by delay level and status, customers to
  tell and told, notices by kind and status, tickets by status, offers by status and currency,
  budgets), a COUNT and a page per table, and the latest bulk-action runs.

Money is never added across currencies: each currency has its own line (offered, spent, the
budget in that currency and what is left of it, as compensation.budgets counts them).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.paginator import Page, Paginator
from django.db.models import (
    Case,
    Count,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)

from compensation.budgets import COMMITTED_STATUSES, SPENT_STATUSES
from compensation.models import MONEY_KINDS, Budget, CompensationOffer, OfferStatus
from compensation.money import format_money, quantize
from core.inputs import parse_page
from core.models import choice_label
from notifications.models import NoticeKind, Notification, NotificationStatus
from shipments.models import (
    FINAL_STATUSES,
    DelayLevel,
    Incident,
    IncidentStatus,
    Shipment,
    ShipmentStatus,
)
from supervisor.models import IncidentAction
from tickets.models import Ticket, TicketStatus

LIST_PAGE_SIZE = 25
TABLE_PAGE_SIZE = 25
RECENT_RUNS = 5
EXPORT_CHUNK = 500
ZERO = Decimal(0)

# A notice that reached (or is on its way to) the customer.
TOLD_STATUSES = (
    NotificationStatus.PENDING,
    NotificationStatus.SENDING,
    NotificationStatus.SENT,
    NotificationStatus.DELIVERED,
)
SENT_STATUSES = (NotificationStatus.SENT, NotificationStatus.DELIVERED)


class SubqueryCount(Subquery):
    """COUNT(*) of a correlated queryset, as a column (0 when it has no rows)."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) _count)"
    output_field = IntegerField()


def _count(qs: QuerySet) -> SubqueryCount:
    return SubqueryCount(qs.order_by().values("pk"))


def incident_tickets_q(incident_id) -> Q:
    """A ticket belongs to an incident through its own incident, else its shipment's (as the
    bulk offer and the budgets count)."""
    return Q(incident_id=incident_id) | Q(incident__isnull=True, shipment__incident_id=incident_id)


# --- money per currency ----------------------------------------------------------------------


@dataclass(frozen=True)
class MoneyLine:
    """One currency of an incident's compensation: offered (committed), spent (issued), and its
    budget in that currency (None without one) with what is left."""

    currency: str
    spent: Decimal
    committed: Decimal
    budget: Decimal | None = None
    budget_name: str = ""

    @property
    def left(self) -> Decimal | None:
        if self.budget is None:
            return None
        return max(ZERO, quantize(self.budget - self.spent - self.committed, self.currency))

    @property
    def used_percent(self) -> int | None:
        if self.budget is None:
            return None
        if not self.budget:
            return 100
        return min(100, int((self.spent + self.committed) * 100 / self.budget))

    @property
    def over(self) -> bool:
        return self.budget is not None and self.spent + self.committed > self.budget

    def _text(self, amount) -> str:
        return "" if amount is None else format_money(amount, self.currency)

    @property
    def spent_text(self) -> str:
        return self._text(self.spent)

    @property
    def committed_text(self) -> str:
        return self._text(self.committed)

    @property
    def budget_text(self) -> str:
        return self._text(self.budget)

    @property
    def left_text(self) -> str:
        return self._text(self.left)


def money_lines(incident_ids: Iterable[int], *, today: dt.date) -> dict[int, list[MoneyLine]]:
    """Each incident's money per currency, sorted by currency: two queries whatever the number
    of incidents (the money offers grouped by incident and currency; the budgets)."""
    ids = set(incident_ids)
    if not ids:
        return {}
    sums: dict[tuple[int, str], tuple[Decimal, Decimal]] = {}
    for row in (
        CompensationOffer.objects.filter(
            incident_id__in=ids, kind__in=MONEY_KINDS, amount__isnull=False
        )
        .order_by()
        .values("incident_id", "currency")
        .annotate(
            spent=Sum("amount", filter=Q(status__in=SPENT_STATUSES)),
            committed=Sum("amount", filter=Q(status__in=COMMITTED_STATUSES)),
        )
    ):
        currency = row["currency"]
        sums[(row["incident_id"], currency)] = (
            quantize(row["spent"] or ZERO, currency),
            quantize(row["committed"] or ZERO, currency),
        )
    # The budget of each incident and currency: the one whose period holds today, else the
    # latest (compensation.budgets.incident_budget).
    chosen: dict[tuple[int, str], Budget] = {}
    for budget in Budget.objects.filter(incident_id__in=ids).order_by("-period_end", "-pk"):
        slot = (budget.incident_id, budget.currency)
        held = chosen.get(slot)
        current = budget.period_start <= today <= budget.period_end
        if held is None or (current and not held.period_start <= today <= held.period_end):
            chosen[slot] = budget
    lines: dict[int, list[MoneyLine]] = defaultdict(list)
    for slot in sorted(set(sums) | set(chosen), key=lambda s: (s[0], s[1])):
        spent, committed = sums.get(slot, (ZERO, ZERO))
        budget = chosen.get(slot)
        lines[slot[0]].append(
            MoneyLine(
                currency=slot[1],
                spent=spent,
                committed=committed,
                budget=budget.amount if budget else None,
                budget_name=budget.name if budget else "",
            )
        )
    return dict(lines)


# --- the list --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListFilters:
    status: str = ""
    carrier_id: int | None = None
    cause: str = ""
    search: str = ""
    # The period (window start in [start, end)), when the reader chose one.
    start: dt.datetime | None = None
    end: dt.datetime | None = None


def incidents(filters: ListFilters) -> QuerySet[Incident]:
    """The incidents matching `filters`, open (and monitoring) first, then resolved; newest
    first within each, with their counts as columns."""
    qs = Incident.objects.all()
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.carrier_id:
        qs = qs.filter(carrier_id=filters.carrier_id)
    if filters.cause:
        qs = qs.filter(cause=filters.cause)
    if filters.search:
        qs = qs.filter(title__icontains=filters.search)
    if filters.start is not None and filters.end is not None:
        qs = qs.filter(window_start__gte=filters.start, window_start__lt=filters.end)
    return qs


def with_counts(qs: QuerySet[Incident]) -> QuerySet[Incident]:
    incident = OuterRef("pk")
    return (
        qs.select_related("carrier", "lane")
        .annotate(
            is_resolved=Case(
                When(status=IncidentStatus.RESOLVED, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            ),
            shipment_count=_count(Shipment.objects.filter(incident_id=incident)),
            # The two ways a ticket belongs to an incident (incident_tickets_q) counted apart:
            # their OR made PostgreSQL scan every shipment once per incident of the page (20 s
            # at 1,000,000 shipments; 0.25 s apart, bench/bench_supervisor.py).
            open_ticket_count=_count(Ticket.objects.open().filter(incident_id=incident))
            + _count(
                Ticket.objects.open().filter(incident__isnull=True, shipment__incident_id=incident)
            ),
            notices_sent=_count(
                Notification.objects.filter(incident_id=incident, status__in=SENT_STATUSES)
            ),
        )
        .order_by("is_resolved", "-window_start", "-pk")
    )


@dataclass
class IncidentRow:
    incident: Incident
    money: list[MoneyLine]


@dataclass
class IncidentList:
    page: Page
    rows: list[IncidentRow]

    @property
    def total(self) -> int:
        return self.page.paginator.count


def incident_list(
    filters: ListFilters, *, page_number, today: dt.date, page_size: int = LIST_PAGE_SIZE
) -> IncidentList:
    """One page of incidents (COUNT, the page with its counts) and their money (two queries)."""
    page = Paginator(with_counts(incidents(filters)), page_size).get_page(parse_page(page_number))
    shown = list(page.object_list)
    money = money_lines([i.pk for i in shown], today=today)
    return IncidentList(
        page=page, rows=[IncidentRow(incident=i, money=money.get(i.pk, [])) for i in shown]
    )


def export_rows(filters: ListFilters, *, today: dt.date) -> Iterator[tuple[Incident, list]]:
    """Every matching incident with its money, read in chunks (never the whole list in
    memory): for the CSV export."""
    chunk: list[Incident] = []
    for incident in with_counts(incidents(filters)).iterator(chunk_size=EXPORT_CHUNK):
        chunk.append(incident)
        if len(chunk) == EXPORT_CHUNK:
            yield from _with_money(chunk, today=today)
            chunk = []
    yield from _with_money(chunk, today=today)


def _with_money(chunk: list[Incident], *, today: dt.date) -> Iterator[tuple[Incident, list]]:
    if not chunk:
        return
    money = money_lines([i.pk for i in chunk], today=today)
    for incident in chunk:
        yield incident, money.get(incident.pk, [])


# --- an incident -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    value: str
    label: str
    count: int


@dataclass
class NoticeTally:
    kind: str
    label: str
    cells: list[int]  # one per status of IncidentSummary.notice_statuses, in order
    total: int


@dataclass
class IncidentSummary:
    shipments: int
    undelivered: int
    by_level: list[Tally]
    customers: int  # with an undelivered parcel: whom the incident notice goes to
    customers_told: int  # who have the incident notice (queued, sent or delivered)
    notices: list[NoticeTally]
    notice_statuses: list[Tally]  # every notice of the incident, by status
    suppressed: int
    tickets: int
    open_tickets: int
    tickets_by_status: list[Tally]
    offers_by_status: list[Tally]
    money: list[MoneyLine]
    runs: list[IncidentAction] = field(default_factory=list)

    @property
    def told_percent(self) -> int:
        if not self.customers:
            return 100 if self.customers_told else 0
        return min(100, self.customers_told * 100 // self.customers)


def incident_shipments(incident: Incident) -> QuerySet[Shipment]:
    """The incident's shipments, most severe first, with the state of their customer's
    incident notice (`notice_status`, None when the customer was never sent one)."""
    notice = (
        Notification.objects.filter(
            incident=incident, kind=NoticeKind.INCIDENT_NOTICE, customer_id=OuterRef("customer_id")
        )
        .order_by("-created_at", "-pk")
        .values("status")[:1]
    )
    severity = Case(
        *(
            When(delay_level=level, then=Value(rank))
            for rank, level in enumerate(reversed(DelayLevel.values))
        ),
        default=Value(len(DelayLevel.values)),
        output_field=IntegerField(),
    )
    return (
        Shipment.objects.filter(incident=incident)
        .select_related("customer", "carrier")
        .annotate(notice_status=Subquery(notice), severity=severity)
        .order_by("severity", "-delay_detected_at", "pk")
    )


def incident_notices(incident: Incident, *, suppressed_only: bool = False):
    qs = Notification.objects.filter(incident=incident)
    if suppressed_only:
        qs = qs.filter(status=NotificationStatus.SUPPRESSED)
    return qs.select_related("customer").order_by("-created_at", "-pk")


def incident_ticket_list(incident: Incident) -> QuerySet[Ticket]:
    return (
        Ticket.objects.filter(incident_tickets_q(incident.pk))
        .select_related("customer", "assignee")
        .order_by("status", "-created_at", "-pk")
    )


def incident_offers(incident: Incident) -> QuerySet[CompensationOffer]:
    return (
        CompensationOffer.objects.filter(incident=incident)
        .select_related("ticket", "customer")
        .order_by("-created_at", "-pk")
    )


def recent_runs(incident: Incident) -> list[IncidentAction]:
    return list(
        IncidentAction.objects.filter(incident=incident)
        .select_related("requested_by")
        .order_by("-created_at", "-pk")[:RECENT_RUNS]
    )


def incident_summary(incident: Incident, *, today: dt.date) -> IncidentSummary:
    """The incident's figures: eight aggregates and the latest runs."""
    by_level: dict[str, int] = defaultdict(int)
    shipments = undelivered = 0
    for row in (
        Shipment.objects.filter(incident=incident)
        .order_by()
        .values("delay_level", "status")
        .annotate(n=Count("pk"))
    ):
        by_level[row["delay_level"]] += row["n"]
        shipments += row["n"]
        if row["status"] not in FINAL_STATUSES:
            undelivered += row["n"]
    customers = (
        Shipment.objects.filter(incident=incident)
        .exclude(status__in=FINAL_STATUSES)
        .values("customer_id")
        .distinct()
        .count()
    )
    customers_told = (
        Notification.objects.filter(
            incident=incident, kind=NoticeKind.INCIDENT_NOTICE, status__in=TOLD_STATUSES
        )
        .values("customer_id")
        .distinct()
        .count()
    )
    notices: dict[str, dict[str, int]] = defaultdict(dict)
    statuses: dict[str, int] = defaultdict(int)
    for row in (
        Notification.objects.filter(incident=incident)
        .order_by()
        .values("kind", "status")
        .annotate(n=Count("pk"))
    ):
        notices[row["kind"]][row["status"]] = row["n"]
        statuses[row["status"]] += row["n"]
    tickets: dict[str, int] = {
        row["status"]: row["n"]
        for row in Ticket.objects.filter(incident_tickets_q(incident.pk))
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
    }
    offers: dict[str, int] = {
        row["status"]: row["n"]
        for row in CompensationOffer.objects.filter(incident=incident)
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
    }
    closed = {TicketStatus.SOLVED, TicketStatus.CLOSED}
    notice_statuses = _tallies(NotificationStatus, statuses)
    return IncidentSummary(
        shipments=shipments,
        undelivered=undelivered,
        by_level=[
            Tally(level, choice_label(DelayLevel, level), by_level[level])
            for level in DelayLevel.values
            if by_level.get(level)
        ],
        customers=customers,
        customers_told=customers_told,
        notices=[
            NoticeTally(
                kind=kind,
                label=choice_label(NoticeKind, kind),
                cells=[notices[kind].get(status.value, 0) for status in notice_statuses],
                total=sum(notices[kind].values()),
            )
            for kind in NoticeKind.values
            if kind in notices
        ],
        notice_statuses=notice_statuses,
        suppressed=statuses.get(NotificationStatus.SUPPRESSED, 0),
        tickets=sum(tickets.values()),
        open_tickets=sum(n for status, n in tickets.items() if status not in closed),
        tickets_by_status=_tallies(TicketStatus, tickets),
        offers_by_status=_tallies(OfferStatus, offers),
        money=money_lines([incident.pk], today=today).get(incident.pk, []),
        runs=recent_runs(incident),
    )


def _tallies(choices, counts: dict[str, int]) -> list[Tally]:
    """Every status of `choices` that has rows, in the choices' order."""
    return [
        Tally(value, choice_label(choices, value), counts[value])
        for value in choices.values
        if counts.get(value)
    ]


def notice_state_label(status: str | None) -> str:
    """A customer's incident notice, in words: its status, or "not told"."""
    if not status:
        return ""
    return choice_label(NotificationStatus, status)


def shipment_status_label(status: str) -> str:
    return choice_label(ShipmentStatus, status)
