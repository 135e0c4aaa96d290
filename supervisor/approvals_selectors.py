"""Reads for the supervisor's approval queue (/supervisor/approvals/).

A page of the queue costs the same number of queries with 3 pending offers or 3,000
(tests/supervisor/test_approvals_queries.py): the offers of the page come with their ticket,
customer, shipment, incident, requester and policy in one query (select_related), the policy's
remedies in one more (prefetch), the incidents that have offers waiting with their pending counts
in one, their budgets in one and what those budgets have spent and committed in one aggregate
(`budget_usages`, the same sums as compensation.budgets.budget_usage, for every budget at once).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from django.core.paginator import Page, Paginator
from django.db.models import Count, Min, Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from compensation.budgets import usages
from compensation.models import (
    Budget,
    CompensationOffer,
    OfferStatus,
    PolicyRemedy,
    RemedyKind,
)
from compensation.money import format_money
from core.inputs import parse_page
from core.models import choice_label
from customers.models import CustomerRegion, CustomerTier
from shipments.models import FINAL_STATUSES, DelayLevel, Incident, Shipment

PAGE_SIZE = 25

# A pending offer has no approver yet: the queue's page leaves approved_by out (one join less
# to plan on every page: about a third of the rows query's time, bench/bench_approvals.py); a
# decided row (an action's answer) reads it.
_ROW_RELATIONS = (
    "ticket",
    "ticket__shipment",
    "incident",
    "customer",
    "requested_by",
    "policy",
)


def _policy_remedies() -> Prefetch:
    return Prefetch(
        "policy__remedies", queryset=PolicyRemedy.objects.order_by("choice_group", "pk")
    )


def _row_offers(*, decided: bool = False) -> QuerySet[CompensationOffer]:
    """Offers with everything a row of the queue shows (``decided``: with their approver)."""
    relations = (*_ROW_RELATIONS, "approved_by") if decided else _ROW_RELATIONS
    return CompensationOffer.objects.select_related(*relations).prefetch_related(_policy_remedies())


# The columns a pending row shows (templates/supervisor/approvals_row.html and QueueRow): the
# page reads these alone instead of every column of six tables (half of the rows query's time
# went to loading and converting columns nothing shows: SLA times, passwords, addresses). A
# column read that is not listed here costs a query per row, which the query-count tests catch.
_PENDING_ROW_FIELDS = (
    "public_id",
    "created_at",
    "status",
    "kind",
    "amount",
    "currency",
    "percent",
    "points",
    "choice_group",
    "reason",
    "ticket__public_id",
    "ticket__subject",
    "ticket__shipment__order_number",
    "ticket__shipment__status",
    "ticket__shipment__delay_level",
    "ticket__shipment__promised_at",
    "ticket__shipment__delivered_at",
    "ticket__shipment__predicted_eta",
    "ticket__shipment__carrier_eta",
    # The gap shown is from the estimate the customer was told (Shipment.told_eta).
    "ticket__shipment__late_eta",
    "ticket__shipment__order_value",
    "ticket__shipment__currency",
    "incident__public_id",
    "incident__title",
    "customer__name",
    "customer__tier",
    "customer__region",
    "requested_by__username",
    "requested_by__first_name",
    "requested_by__last_name",
    "policy__name",
)


def pending_offers() -> QuerySet[CompensationOffer]:
    """Offers waiting for a supervisor, oldest first (partial index compensation_offer_pend_idx),
    with everything a row of the queue shows."""
    return (
        _row_offers()
        .filter(status=OfferStatus.PENDING_APPROVAL)
        .only(*_PENDING_ROW_FIELDS)
        .order_by("created_at", "pk")
    )


def pending_ids() -> QuerySet[CompensationOffer]:
    """The ids of the offers waiting, in queue order (what the queue pages over)."""
    return (
        CompensationOffer.objects.awaiting_approval()
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )


def offer_for_row(public_id) -> CompensationOffer | None:
    """One offer with what its row shows (pending or already decided), or None."""
    return _row_offers(decided=True).filter(public_id=public_id).first()


def group_offers(offer: CompensationOffer) -> list[CompensationOffer]:
    """The offer and the alternatives of its choice group (decided together), each ready to be
    shown as a row."""
    if offer.choice_group is None:
        return [offer]
    return list(
        _row_offers(decided=True)
        .filter(choice_group=offer.choice_group)
        .order_by("created_at", "pk")
    )


# ---- money and remedies in words ----------------------------------------------------------------


def remedy_value(*, kind: str, amount, currency: str, percent, points) -> str:
    """A remedy's value as the reader's locale writes it: "€20.00", "15%", "500 points", "" for
    a remedy without a value (a reship)."""
    if amount is not None:
        return format_money(amount, currency)
    if percent is not None:
        return f"{percent.normalize():f}%"
    if points is not None:
        return _("%(points)s points") % {"points": points}
    return ""


def remedy_text(*, kind: str, amount, currency: str, percent, points) -> str:
    label = str(choice_label(RemedyKind, kind))
    value = remedy_value(
        kind=kind, amount=amount, currency=currency, percent=percent, points=points
    )
    return f"{label} · {value}" if value else label


def offer_text(offer: CompensationOffer) -> str:
    return remedy_text(
        kind=offer.kind,
        amount=offer.amount,
        currency=offer.currency,
        percent=offer.percent,
        points=offer.points,
    )


def policy_suggestion(offer: CompensationOffer) -> list[str]:
    """What the policy the offer came from suggests (its remedies), [] when it names none."""
    if offer.policy is None:
        return []
    return [
        remedy_text(
            kind=r.kind, amount=r.amount, currency=r.currency, percent=r.percent, points=r.points
        )
        for r in offer.policy.remedies.all()
    ]


def days_late(shipment: Shipment | None, *, now: dt.datetime) -> int | None:
    """Whole days past the promise: by the current estimate (or delivery), else by today while
    the parcel is still on its way; None without a shipment, 0 when on time."""
    if shipment is None or shipment.promised_at is None:
        return None
    slip = shipment.slip_days
    if slip is None:
        if shipment.status in FINAL_STATUSES or now <= shipment.promised_at:
            return 0
        slip = (now - shipment.promised_at).total_seconds() / 86400
    return max(0, int(slip))


# ---- budgets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetLine:
    budget: Budget
    spent: Decimal
    committed: Decimal
    remaining: Decimal

    # A budget line is shown on every row of its incident: its figures are worked out once.
    @cached_property
    def used(self) -> Decimal:
        return self.spent + self.committed

    @cached_property
    def used_percent(self) -> int:
        if not self.budget.amount:
            return 100
        return min(100, int(self.used * 100 / self.budget.amount))

    @cached_property
    def used_text(self) -> str:
        return _("%(used)s of %(total)s used") % {
            "used": format_money(self.used, self.budget.currency),
            "total": format_money(self.budget.amount, self.budget.currency),
        }

    @cached_property
    def remaining_text(self) -> str:
        return format_money(self.remaining, self.budget.currency)

    @cached_property
    def amount_text(self) -> str:
        return format_money(self.budget.amount, self.budget.currency)

    @cached_property
    def spent_text(self) -> str:
        return format_money(self.spent, self.budget.currency)

    @cached_property
    def committed_text(self) -> str:
        return format_money(self.committed, self.budget.currency)


def budget_lines(budgets: list[Budget]) -> dict[int, BudgetLine]:
    """Each budget with what it has spent, committed and left, keyed by budget pk
    (compensation.budgets.usages: two queries whatever their number)."""
    found = usages(budgets)
    return {
        budget.pk: BudgetLine(
            budget=budget,
            spent=found[budget.pk].spent,
            committed=found[budget.pk].committed,
            remaining=found[budget.pk].remaining,
        )
        for budget in budgets
    }


def budget_usages(budgets: list[Budget]) -> dict[int, BudgetLine]:
    """compensation.budgets.budget_usage of many incident budgets, keyed by incident."""
    return {line.budget.incident_id: line for line in budget_lines(budgets).values()}


def incident_budgets(incident_ids, *, today: dt.date) -> dict[int, BudgetLine]:
    """The budget of each incident (the one whose period holds today, else its latest), with
    its usage: two queries whatever the number of incidents."""
    chosen: dict[int, Budget] = {}
    for budget in Budget.objects.filter(incident_id__in=set(incident_ids)).order_by(
        "incident_id", "-period_end", "-pk"
    ):
        current = budget.period_start <= today <= budget.period_end
        held = chosen.get(budget.incident_id)
        if held is None or (current and not (held.period_start <= today <= held.period_end)):
            chosen[budget.incident_id] = budget
    return budget_usages(list(chosen.values()))


# ---- the queue ------------------------------------------------------------------------------


@dataclass
class QueueRow:
    offer: CompensationOffer
    asked: str
    suggestion: list[str]
    days_late: int | None
    incident: Incident | None
    budget: BudgetLine | None
    # Labels worked out here once (get_FOO_display hashes every choice of the field).
    tier_label: str = ""
    region_label: str = ""
    delay_label: str = ""  # "" when the parcel is not late
    requester: str = ""  # "" when the system asked
    asked_at: dt.datetime | None = None  # when it was asked, in the reader's time zone
    # Links, filled in by the view (supervisor.approvals.link_rows).
    ticket_url: str = ""
    approve_url: str = ""
    reject_url: str = ""
    error: str = ""
    note_error: str = ""
    note: str = ""

    @property
    def asked_at_iso(self) -> str:
        return self.asked_at.isoformat() if self.asked_at else ""

    @property
    def asked_at_text(self) -> str:
        return self.asked_at.strftime("%Y-%m-%d %H:%M") if self.asked_at else ""

    @property
    def dom_id(self) -> str:
        return f"offer-{self.offer.public_id}"

    @property
    def is_pending(self) -> bool:
        return self.offer.status == OfferStatus.PENDING_APPROVAL

    @property
    def order_value(self) -> str:
        shipment = self.offer.ticket.shipment
        if shipment is None:
            return ""
        return format_money(shipment.order_value, shipment.currency)


@dataclass(frozen=True)
class IncidentLine:
    incident: Incident
    pending: int
    budget: BudgetLine | None


@dataclass
class ApprovalQueue:
    page: Page
    rows: list[QueueRow]
    incidents: list[IncidentLine] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.page.paginator.count


def build_row(
    offer: CompensationOffer, *, budgets: dict[int, BudgetLine], now: dt.datetime
) -> QueueRow:
    incident = offer.incident
    shipment = offer.ticket.shipment
    requester = offer.requested_by
    return QueueRow(
        offer=offer,
        asked=offer_text(offer),
        suggestion=policy_suggestion(offer),
        days_late=days_late(shipment, now=now),
        incident=incident,
        budget=budgets.get(incident.pk) if incident else None,
        tier_label=choice_label(CustomerTier, offer.customer.tier),
        region_label=choice_label(CustomerRegion, offer.customer.region),
        delay_label=(
            choice_label(DelayLevel, shipment.delay_level)
            if shipment is not None and shipment.delay_level != DelayLevel.NONE
            else ""
        ),
        requester=(requester.get_full_name() or requester.get_username()) if requester else "",
        asked_at=timezone.localtime(offer.created_at),
    )


def rows_for(offers: list[CompensationOffer], *, now: dt.datetime) -> list[QueueRow]:
    """Rows for a few offers (an action's answer): their incidents' budgets in two queries."""
    incident_ids = {o.incident_id for o in offers if o.incident_id}
    budgets = incident_budgets(incident_ids, today=now.date()) if incident_ids else {}
    return [build_row(o, budgets=budgets, now=now) for o in offers]


def incidents_waiting() -> list[tuple[int, int]]:
    """(incident id, offers waiting) for every incident with offers waiting for approval."""
    return list(
        CompensationOffer.objects.awaiting_approval()
        .filter(incident__isnull=False)
        .values_list("incident_id")
        .annotate(n=Count("pk"), oldest=Min("created_at"))
        .order_by("oldest", "incident_id")
        .values_list("incident_id", "n")
    )


def incident_lines(*, now: dt.datetime) -> list[IncidentLine]:
    """The incidents with offers waiting and their budgets (after a decision: the strip above
    the queue comes again, out of band)."""
    waiting = incidents_waiting()
    if not waiting:
        return []
    ids = [pk for pk, _n in waiting]
    budgets = incident_budgets(set(ids), today=now.date())
    incidents = Incident.objects.in_bulk(ids)
    return [
        IncidentLine(incident=incidents[pk], pending=n, budget=budgets.get(pk))
        for pk, n in waiting
        if pk in incidents
    ]


def approval_queue(*, page_number, now: dt.datetime) -> ApprovalQueue:
    """One page of the queue, oldest first, with the incidents that have offers waiting."""
    # The page is chosen on the offers alone (COUNT, then ORDER BY/OFFSET on the partial index
    # compensation_offer_pend_idx, no join), then its 25 rows are read with everything they
    # show by primary key: a deep page costs what the first one does. (As one query, `pk IN
    # (page subquery)` next to the row's nine joins, PostgreSQL joins every pending offer
    # before it picks the page.)
    paginator = Paginator(pending_ids(), PAGE_SIZE)
    page = paginator.get_page(parse_page(page_number))
    ids = list(page.object_list)
    offers = list(pending_offers().filter(pk__in=ids)) if ids else []
    waiting = incidents_waiting()
    incident_ids = {pk for pk, _n in waiting} | {o.incident_id for o in offers if o.incident_id}
    budgets = incident_budgets(incident_ids, today=now.date()) if incident_ids else {}
    incidents = Incident.objects.in_bulk([pk for pk, _n in waiting])
    return ApprovalQueue(
        page=page,
        rows=[build_row(o, budgets=budgets, now=now) for o in offers],
        incidents=[
            IncidentLine(incident=incidents[pk], pending=n, budget=budgets.get(pk))
            for pk, n in waiting
            if pk in incidents
        ],
    )


def pending_count() -> int:
    return CompensationOffer.objects.awaiting_approval().count()
