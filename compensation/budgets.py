"""Compensation budgets: what a budget has paid out, what it has promised, what is left.

A budget (compensation.models.Budget) is an amount in one currency, for one incident or, without
an incident, for every offer in its currency over its period (from `period_start` to
`period_end`, by the day the offer was made).

An offer counts against the incident it was made under: its ticket's incident, else the incident
of the ticket's shipment, as they stood when the offer was made (`incident_of`, kept on the offer
as `CompensationOffer.incident`; the supervisor's approval queue counts the same way). A ticket
that joins an incident later does not bring its earlier offers into the incident's budget: those
were decided on their own, under their requester's authority.

Only remedies with an amount of money count (MONEY_KINDS: coupon, refunds, cash), in the
budget's currency; amounts in other currencies are never added to it.

- spent:     ISSUED offers (the money is gone);
- committed: offers waiting for a supervisor (PENDING_APPROVAL) or offered to the customer
  (OFFERED): promised, and may still be paid. Every alternative of a choice counts until the
  customer chooses (the others are then cancelled): a budget is never overrun by a choice.
- remaining: amount - spent - committed, never below 0.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from compensation import money
from compensation.models import MONEY_KINDS, Budget, CompensationOffer, OfferStatus
from shipments.models import Incident
from tickets.models import Ticket

SPENT_STATUSES = (OfferStatus.ISSUED,)
COMMITTED_STATUSES = (OfferStatus.PENDING_APPROVAL, OfferStatus.OFFERED)

ZERO = Decimal(0)


@dataclass(frozen=True)
class Usage:
    """A budget's money in its currency (Decimal, rounded to the currency's minor unit)."""

    spent: Decimal
    committed: Decimal
    remaining: Decimal


def incident_of(ticket: Ticket) -> int | None:
    """The id of the incident an offer made now on ``ticket`` counts against: the ticket's
    incident, else its shipment's (reads ``ticket.shipment`` when the ticket has none)."""
    if ticket.incident_id:
        return ticket.incident_id
    return ticket.shipment.incident_id if ticket.shipment_id else None


def incident_offers(incident: Incident | int) -> QuerySet[CompensationOffer]:
    """The offers that count against ``incident`` (index compensation_offer_inc_idx)."""
    pk = incident.pk if isinstance(incident, Incident) else incident
    return CompensationOffer.objects.filter(incident_id=pk)


def budget_offers(budget: Budget) -> QuerySet[CompensationOffer]:
    """The money offers in the budget's currency that count against it."""
    if budget.incident_id is not None:
        offers = incident_offers(budget.incident_id)
    else:
        offers = CompensationOffer.objects.filter(
            created_at__date__gte=budget.period_start, created_at__date__lte=budget.period_end
        )
    return offers.filter(kind__in=MONEY_KINDS, currency=budget.currency, amount__isnull=False)


def usage_of(offers: QuerySet[CompensationOffer], amount: Decimal, currency: str) -> Usage:
    """Spent, committed and remaining of ``amount`` over ``offers`` (one aggregate query)."""
    sums = offers.aggregate(
        spent=Sum("amount", filter=Q(status__in=SPENT_STATUSES)),
        committed=Sum("amount", filter=Q(status__in=COMMITTED_STATUSES)),
    )
    spent = money.quantize(sums["spent"] or ZERO, currency)
    committed = money.quantize(sums["committed"] or ZERO, currency)
    remaining = max(ZERO, money.quantize(amount - spent - committed, currency))
    return Usage(spent=spent, committed=committed, remaining=remaining)


def budget_usage(budget: Budget) -> Usage:
    """What ``budget`` has spent, committed and left, in its currency."""
    return usage_of(budget_offers(budget), budget.amount, budget.currency)


def incident_budget(
    incident: Incident | int, currency: str, *, today: dt.date | None = None
) -> Budget | None:
    """The incident's budget in ``currency``: the one whose period holds today, else its latest;
    None when the incident has none in that currency."""
    today = today or timezone.localdate()
    pk = incident.pk if isinstance(incident, Incident) else incident
    budgets = Budget.objects.filter(incident_id=pk, currency=currency)
    current = (
        budgets.filter(period_start__lte=today, period_end__gte=today)
        .order_by("-period_end", "-pk")
        .first()
    )
    return current or budgets.order_by("-period_end", "-pk").first()


def incident_budget_left(
    incident: Incident | int, currency: str, *, today: dt.date | None = None
) -> Decimal | None:
    """What is left of the incident's budget in ``currency`` (Decimal, >= 0); None when the
    incident has no budget in that currency (nothing caps its offers)."""
    budget = incident_budget(incident, currency, today=today)
    if budget is None:
        return None
    return budget_usage(budget).remaining


def usages(budgets: list[Budget]) -> dict[int, Usage]:
    """`budget_usage` of many budgets, keyed by budget pk, in two queries whatever their number:
    one aggregate over the incidents' offers (index compensation_offer_inc_idx) grouped by
    incident and currency, and one over the period budgets' offers with a pair of filtered sums
    per budget. The same sums as `budget_usage`, budget by budget."""
    if not budgets:
        return {}
    sums: dict[int, dict[str, Decimal | None]] = {}
    by_incident = [b for b in budgets if b.incident_id is not None]
    if by_incident:
        rows = (
            CompensationOffer.objects.filter(
                incident_id__in={b.incident_id for b in by_incident},
                kind__in=MONEY_KINDS,
                amount__isnull=False,
            )
            .values("incident_id", "currency")
            .annotate(
                spent=Sum("amount", filter=Q(status__in=SPENT_STATUSES)),
                committed=Sum("amount", filter=Q(status__in=COMMITTED_STATUSES)),
            )
        )
        found = {(row["incident_id"], row["currency"]): row for row in rows}
        for budget in by_incident:
            sums[budget.pk] = found.get((budget.incident_id, budget.currency), {})
    by_period = [b for b in budgets if b.incident_id is None]
    if by_period:
        aggregates = {}
        for budget in by_period:
            own = Q(
                currency=budget.currency,
                created_at__date__gte=budget.period_start,
                created_at__date__lte=budget.period_end,
            )
            aggregates[f"spent_{budget.pk}"] = Sum(
                "amount", filter=own & Q(status__in=SPENT_STATUSES)
            )
            aggregates[f"committed_{budget.pk}"] = Sum(
                "amount", filter=own & Q(status__in=COMMITTED_STATUSES)
            )
        first = min(b.period_start for b in by_period)
        last = max(b.period_end for b in by_period)
        row = CompensationOffer.objects.filter(
            kind__in=MONEY_KINDS,
            amount__isnull=False,
            currency__in={b.currency for b in by_period},
            created_at__date__gte=first,
            created_at__date__lte=last,
        ).aggregate(**aggregates)
        for budget in by_period:
            sums[budget.pk] = {
                "spent": row[f"spent_{budget.pk}"],
                "committed": row[f"committed_{budget.pk}"],
            }
    result = {}
    for budget in budgets:
        row = sums.get(budget.pk, {})
        spent = money.quantize(row.get("spent") or ZERO, budget.currency)
        committed = money.quantize(row.get("committed") or ZERO, budget.currency)
        remaining = max(ZERO, money.quantize(budget.amount - spent - committed, budget.currency))
        result[budget.pk] = Usage(spent=spent, committed=committed, remaining=remaining)
    return result
