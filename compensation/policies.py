"""The remedy matrix at work: which remedies the policies suggest for a ticket, and why.

`suggest(ticket)` reads the facts of the ticket (category, incident), its shipment (cause and
delay cause, delay level, days late = whole days from the promised delivery to the delivery or
now, order value and currency) and its customer (tier, region), then every active policy
(compensation.models.CompensationPolicy, edited in the admin) in position order:

- each *rule* whose conditions all match becomes a suggestion, the first one ranked first (it is
  the one that applies; the others are there for the agent to pick instead);
- each *uplift* that matches (e.g. "VIP +50%") raises the money, percentages and points of every
  suggestion, and is named in its explanation.

Remedies come out as `SuggestedRemedy` (the fields of compensation.services.RemedySpec); a
suggestion groups them in *parts*: a part of one remedy is given as such, a part of two or more
is a choice the customer makes (one offer_request each). Refunds are computed from the order
value (a full refund is the order value; a 30% refund is 30% of it), never above it.

Cost: two queries (policies, their remedies) when the ticket comes with its shipment and customer
loaded (`Ticket.objects.select_related("shipment", "customer")`), two more otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from compensation import money
from compensation.models import (
    CompensationPolicy,
    IncidentScope,
    PolicyKind,
    PolicyRemedy,
    RemedyKind,
)
from compensation.texts import ALTERNATIVES
from core.models import DelayCause, choice_label
from customers.models import CustomerRegion, CustomerTier
from shipments.models import DelayLevel
from tickets.models import Category, Ticket

HUNDRED = Decimal("100")

# Kinds whose money the order value gives (a refund is of the order, in its currency).
REFUND_KINDS = (RemedyKind.FULL_REFUND, RemedyKind.PARTIAL_REFUND)


@dataclass(frozen=True)
class Facts:
    """What the policies match on, read once per ticket."""

    causes: frozenset[str]
    delay_level: str
    days_late: int | None
    category: str
    tier: str
    region: str
    order_value: Decimal | None
    currency: str
    incident_id: int | None


@dataclass(frozen=True)
class SuggestedRemedy:
    """One remedy as offer_request takes it (compensation.services.RemedySpec's fields)."""

    kind: str
    amount: Decimal | None = None
    currency: str = "EUR"
    percent: Decimal | None = None
    points: int | None = None
    uplifted: bool = False

    @property
    def kind_label(self) -> str:
        return choice_label(RemedyKind, self.kind)

    @property
    def value(self) -> str:
        """ "15%", "45.00 EUR", "500 points" or ""."""
        if self.amount is not None:
            return f"{self.amount} {self.currency}"
        if self.percent is not None:
            return f"{_plain(self.percent)}%"
        if self.points is not None:
            return ngettext("%(points)s point", "%(points)s points", self.points) % {
                "points": self.points
            }
        return ""

    def __str__(self) -> str:
        value = self.value
        return f"{self.kind_label} {value}" if value else self.kind_label


@dataclass(frozen=True)
class Suggestion:
    """A policy's remedies for one ticket, ranked, with why (in the active language)."""

    rank: int
    policy: CompensationPolicy
    parts: tuple[tuple[SuggestedRemedy, ...], ...]
    facts: Facts
    uplifts: tuple[CompensationPolicy, ...] = field(default=())

    @property
    def remedies(self) -> list[SuggestedRemedy]:
        return [remedy for part in self.parts for remedy in part]

    @property
    def proactive(self) -> bool:
        return self.policy.offer_proactively

    @property
    def remedies_text(self) -> str:
        """ "Percentage discount code 15% + Priority shipping ...", alternatives with "or"."""
        texts = []
        for part in self.parts:
            text = str(part[0])
            for remedy in part[1:]:
                text = str(ALTERNATIVES) % {"first": text, "second": str(remedy)}
            texts.append(text)
        return " + ".join(texts)

    @property
    def situation(self) -> str:
        """The matched conditions in words: "Customs hold, VIP"."""
        return situation(self.policy, self.facts, self.uplifts)

    @property
    def explanation(self) -> str:
        """E.g. "Customs hold, VIP: Percentage discount code 22.5% + Priority shipping on the
        next order, uplifted by rule 'VIP +50%'"."""
        text = gettext("%(situation)s: %(remedies)s") % {
            "situation": self.situation,
            "remedies": self.remedies_text,
        }
        for uplift in self.uplifts:
            text = gettext("%(text)s, uplifted by rule '%(rule)s'") % {
                "text": text,
                "rule": uplift.name,
            }
        return text

    @property
    def reason(self) -> str:
        """The policy's own explanation from the admin (translated), e.g. for the offer."""
        return self.policy.description or self.policy.name


# --- the facts ---------------------------------------------------------------------------------


def days_late(promised_at: datetime | None, until: datetime) -> int | None:
    """Whole days from the promise to ``until`` (0 when on time); None without a promise."""
    if promised_at is None:
        return None
    seconds = (until - promised_at).total_seconds()
    return max(0, math.floor(seconds / 86400))


def facts_for(ticket: Ticket, *, now: datetime | None = None) -> Facts:
    now = now or timezone.now()
    shipment = ticket.shipment
    customer = ticket.customer
    if shipment is None:
        return Facts(
            causes=frozenset(),
            delay_level="",
            days_late=None,
            category=ticket.category,
            tier=customer.tier,
            region=customer.region,
            order_value=None,
            currency=customer.currency or "EUR",
            incident_id=ticket.incident_id,
        )
    causes = {shipment.cause, shipment.delay_cause} - {DelayCause.NONE, ""}
    return Facts(
        causes=frozenset(causes),
        delay_level=shipment.delay_level,
        days_late=days_late(shipment.promised_at, shipment.delivered_at or now),
        category=ticket.category,
        tier=customer.tier,
        region=customer.region,
        order_value=shipment.order_value if shipment.order_value else None,
        currency=shipment.currency,
        incident_id=ticket.incident_id or shipment.incident_id,
    )


# --- matching ----------------------------------------------------------------------------------


def matches(policy: CompensationPolicy, facts: Facts) -> bool:
    """All of the policy's conditions hold (an empty condition holds for anything)."""
    if policy.cause and policy.cause not in facts.causes:
        return False
    if policy.delay_levels and facts.delay_level not in policy.delay_levels:
        return False
    if policy.min_days_late is not None and (
        facts.days_late is None or facts.days_late <= policy.min_days_late
    ):
        return False
    if policy.max_days_late is not None and (
        facts.days_late is None or facts.days_late > policy.max_days_late
    ):
        return False
    if policy.categories and facts.category not in policy.categories:
        return False
    if policy.customer_tiers and facts.tier not in policy.customer_tiers:
        return False
    if policy.regions and facts.region not in policy.regions:
        return False
    if policy.min_order_value is not None or policy.max_order_value is not None:
        if facts.order_value is None or facts.currency != policy.order_currency:
            return False
        if policy.min_order_value is not None and facts.order_value < policy.min_order_value:
            return False
        if policy.max_order_value is not None and facts.order_value >= policy.max_order_value:
            return False
    if policy.incident_scope == IncidentScope.IN_INCIDENT and facts.incident_id is None:
        return False
    if policy.incident_scope == IncidentScope.NO_INCIDENT and facts.incident_id is not None:
        return False
    return policy.incident_id is None or policy.incident_id == facts.incident_id


def active_policies() -> list[CompensationPolicy]:
    """Every active policy in position order, with its remedies (two queries)."""
    return list(
        CompensationPolicy.objects.filter(is_active=True)
        .order_by("position", "id")
        .prefetch_related(
            Prefetch("remedies", queryset=PolicyRemedy.objects.order_by("choice_group", "id"))
        )
    )


def suggest(
    ticket: Ticket,
    *,
    now: datetime | None = None,
    policies: list[CompensationPolicy] | None = None,
) -> list[Suggestion]:
    """The matching rules' remedies for ``ticket``, the one that applies first, each raised by
    the matching uplifts."""
    facts = facts_for(ticket, now=now)
    policies = active_policies() if policies is None else policies
    matching = [policy for policy in policies if matches(policy, facts)]
    uplifts = tuple(
        p for p in matching if p.kind == PolicyKind.UPLIFT and (p.uplift_percent or 0) > 0
    )
    factor = Decimal(1)
    for uplift in uplifts:
        factor *= 1 + uplift.uplift_percent / HUNDRED
    suggestions = []
    for policy in matching:
        if policy.kind != PolicyKind.RULE:
            continue
        parts = _parts(policy, facts, factor)
        if not parts:
            continue
        raised = any(remedy.uplifted for part in parts for remedy in part)
        suggestions.append(
            Suggestion(
                rank=len(suggestions) + 1,
                policy=policy,
                parts=parts,
                facts=facts,
                uplifts=uplifts if raised else (),
            )
        )
    return suggestions


# --- remedies ----------------------------------------------------------------------------------


def _parts(
    policy: CompensationPolicy, facts: Facts, factor: Decimal
) -> tuple[tuple[SuggestedRemedy, ...], ...]:
    """The policy's remedies: each group-0 remedy alone, each non-zero group together as a
    choice, in the order of their groups."""
    together: list[tuple[SuggestedRemedy, ...]] = []
    groups: dict[int, list[SuggestedRemedy]] = {}
    for row in policy.remedies.all():
        remedy = _remedy(row, facts, factor)
        if row.choice_group:
            groups.setdefault(row.choice_group, []).append(remedy)
        else:
            together.append((remedy,))
    return tuple(together) + tuple(tuple(group) for _key, group in sorted(groups.items()))


def _remedy(row: PolicyRemedy, facts: Facts, factor: Decimal) -> SuggestedRemedy:
    remedy = SuggestedRemedy(
        kind=row.kind,
        amount=row.amount,
        currency=row.currency,
        percent=row.percent,
        points=row.points,
    )
    if row.kind == RemedyKind.FULL_REFUND:
        # The whole order: nothing to raise.
        return replace(remedy, amount=facts.order_value, currency=facts.currency, percent=None)
    if factor != 1:
        remedy = _raised(remedy, factor)
    if row.kind == RemedyKind.PARTIAL_REFUND and remedy.percent is not None:
        if facts.order_value is None:
            return replace(remedy, amount=None)
        amount = money.quantize(facts.order_value * remedy.percent / HUNDRED, facts.currency)
        return replace(remedy, amount=amount, currency=facts.currency)
    if row.kind in REFUND_KINDS and remedy.amount is not None and facts.order_value is not None:
        return replace(remedy, amount=min(remedy.amount, facts.order_value))
    return remedy


def _raised(remedy: SuggestedRemedy, factor: Decimal) -> SuggestedRemedy:
    amount = remedy.amount
    percent = remedy.percent
    points = remedy.points
    if amount is not None:
        amount = money.quantize(amount * factor, remedy.currency)
    if percent is not None:
        percent = min(HUNDRED, (percent * factor).quantize(Decimal("0.01")))
    if points is not None:
        points = int((points * factor).to_integral_value())
    uplifted = (amount, percent, points) != (remedy.amount, remedy.percent, remedy.points)
    return replace(remedy, amount=amount, percent=percent, points=points, uplifted=uplifted)


# --- words -------------------------------------------------------------------------------------


def situation(
    policy: CompensationPolicy, facts: Facts, uplifts: tuple[CompensationPolicy, ...] = ()
) -> str:
    """The conditions the policy (and its uplifts) matched, in the agent's language."""
    words = []
    if policy.cause:
        words.append(choice_label(DelayCause, policy.cause))
    if policy.categories:
        words.append(choice_label(Category, facts.category))
    if policy.delay_levels:
        words.append(choice_label(DelayLevel, facts.delay_level))
    if (policy.min_days_late is not None or policy.max_days_late is not None) and (
        facts.days_late is not None
    ):
        words.append(
            ngettext("%(days)s day late", "%(days)s days late", facts.days_late)
            % {"days": facts.days_late}
        )
    if (policy.min_order_value is not None or policy.max_order_value is not None) and (
        facts.order_value is not None
    ):
        words.append(
            gettext("order value %(amount)s") % {"amount": f"{facts.order_value} {facts.currency}"}
        )
    if policy.regions:
        words.append(choice_label(CustomerRegion, facts.region))
    if policy.incident_id or policy.incident_scope == IncidentScope.IN_INCIDENT:
        words.append(gettext("in an incident"))
    if policy.customer_tiers or any(uplift.customer_tiers for uplift in uplifts):
        words.append(choice_label(CustomerTier, facts.tier))
    return ", ".join(words) or gettext("Any ticket")


def _plain(value: Decimal) -> str:
    """15.00 -> "15", 22.50 -> "22.5"."""
    return format(value.normalize(), "f")
