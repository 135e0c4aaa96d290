"""Which SLA policy applies to a ticket: the first active one, by position, whose conditions match.

A policy's condition lists (priorities, categories, customer tiers, sources) each match when
empty or when they contain the ticket's value; all four must match. The default data ends with
a catch-all ("Default", no conditions); if an operator removed it, no policy applies and the
ticket runs without timers rather than under a made-up target.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Prefetch

from tickets.models import SLAPolicy, SLATarget, Ticket


def active_policies() -> list[SLAPolicy]:
    """Active policies in order with their targets (two queries)."""
    return list(
        SLAPolicy.objects.filter(is_active=True)
        .order_by("position", "id")
        .prefetch_related(Prefetch("targets", queryset=SLATarget.objects.order_by("kind", "name")))
    )


def policy_matches(
    policy: SLAPolicy, *, priority: str, category: str, tier: str, source: str
) -> bool:
    conditions = (
        (policy.priorities, priority),
        (policy.categories, category),
        (policy.customer_tiers, tier),
        (policy.sources, source),
    )
    return all(not values or value in values for values, value in conditions)


def match_policy(ticket: Ticket, policies: Iterable[SLAPolicy] | None = None) -> SLAPolicy | None:
    """The policy for the ticket's current priority, category, customer tier and source."""
    for policy in active_policies() if policies is None else policies:
        if policy_matches(
            policy,
            priority=ticket.priority,
            category=ticket.category,
            tier=ticket.customer.tier,
            source=ticket.source,
        ):
            return policy
    return None
