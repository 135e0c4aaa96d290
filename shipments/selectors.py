"""Reads for the shipment pages: each owns its select_related/prefetch, so a page's query count
does not grow with its scans or level changes.

What the shipment page shows of tickets is the tickets app's panel (its own URL, in the page's
"shipment.main" slot, core.panels); whether the reader may see who the customer is follows
shipments.scope (granted by the apps above, safe when none does)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from shipments import risk, scope
from shipments.models import (
    FINAL_STATUSES,
    DelayLevel,
    DelayLevelChange,
    DelayRule,
    DelayRuleKind,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
)


def shipment_detail_queryset(*, user) -> QuerySet[Shipment]:
    """The shipment page's rows for `user`, each with `customer_visible`: whether `user` may see
    who its customer is (shipments.scope: supervisors everyone, an agent the customers with a
    ticket in their scope), computed in the same query."""
    return (
        Shipment.objects.select_related("carrier", "lane", "customer", "incident")
        .prefetch_related(
            Prefetch("events", queryset=TrackingEvent.objects.order_by("-occurred_at", "-pk")),
            Prefetch(
                "level_changes", queryset=DelayLevelChange.objects.order_by("-changed_at", "-pk")
            ),
        )
        .annotate(customer_visible=scope.customer_visible(user))
    )


def shipments_for_api(*, user) -> QuerySet[Shipment]:
    """Shipments with what the API shows, joined: one query for a whole page. Each row carries
    `customer_visible`: whether `user` may see who its customer is (shipments.scope)."""
    return Shipment.objects.select_related("carrier", "customer", "lane", "incident").annotate(
        customer_visible=scope.customer_visible(user)
    )


@dataclass(frozen=True)
class ShipmentDetail:
    shipment: Shipment
    rule: DelayRule | None
    # Whether the reader may see who the customer is (shipments.scope: supervisors everyone,
    # an agent the customers with a ticket in their scope).
    customer_visible: bool

    @property
    def events(self) -> list[TrackingEvent]:
        return list(self.shipment.events.all())

    @property
    def transit_hours(self) -> float | None:
        """Hours in transit so far (or in all, once delivered), for comparison with the lane."""
        if self.shipment.shipped_at is None:
            return None
        end = self.shipment.delivered_at or timezone.now()
        return round((end - self.shipment.shipped_at).total_seconds() / 3600, 1)


def shipment_detail(*, shipment: Shipment, user) -> ShipmentDetail:
    """`shipment` comes from shipment_detail_queryset(user=user)."""
    rule = (
        DelayRule.objects.filter(key=shipment.delay_rule).first() if shipment.delay_rule else None
    )
    return ShipmentDetail(
        shipment=shipment, rule=rule, customer_visible=bool(shipment.customer_visible)
    )


# --- The late-delivery panel (loaded by htmx after the shipment page) ----------------------


def shipment_risk_queryset() -> QuerySet[Shipment]:
    """The risk panel's rows: the shipment with its carrier (its small page's breadcrumb),
    nothing of the shipment page's scans and level history."""
    return Shipment.objects.select_related("carrier")


@dataclass(frozen=True)
class ShipmentRisk:
    """What the shipment page's risk panel shows: the late-delivery model's P(late) of an
    undelivered shipment, which model answered (or that it was the lane-quantile fallback),
    the facts in words, and, at level will_be_late, the rule it fired."""

    shipment: Shipment
    # Delivered, returned or expired: nothing left to forecast.
    final: bool = False
    # None: no forecast possible (final, or the scoring left the shipment out).
    probability: float | None = None
    fallback: bool = False
    version: int | None = None
    facts: list[str] = field(default_factory=list)
    # The late-probability rule that put the shipment at will_be_late (else None).
    warning_rule: DelayRule | None = None

    @property
    def delivered(self) -> bool:
        return self.shipment.status == ShipmentStatus.DELIVERED

    @property
    def percent(self) -> int | None:
        return None if self.probability is None else round(100 * self.probability)

    @property
    def warned(self) -> bool:
        return self.shipment.delay_level == DelayLevel.WILL_BE_LATE

    @property
    def warning_threshold_percent(self) -> int | None:
        rule = self.warning_rule
        if rule is None or rule.threshold is None:
            return None
        return round(100 * rule.threshold)


def shipment_risk(*, shipment: Shipment, now: dt.datetime) -> ShipmentRisk:
    """The risk panel of ``shipment`` (from shipment_risk_queryset) at ``now``, a live page.

    The history is the hour's cached one (``risk.cached_history``): with a warm cache
    the panel reads the active model, one cache row, the shipment's scoring row and, at
    will_be_late, its rule; a constant count whatever the size of the history."""
    if shipment.status in FINAL_STATUSES:
        return ShipmentRisk(shipment=shipment, final=True)
    model = risk.active_model()
    result = risk.reasons(
        shipment,
        now=now,
        from_events=False,
        model=model,
        fallback=model is None,
        history=risk.cached_history(now),
    )
    warning_rule = None
    if shipment.delay_level == DelayLevel.WILL_BE_LATE and shipment.delay_rule:
        warning_rule = DelayRule.objects.filter(
            key=shipment.delay_rule, kind=DelayRuleKind.LATE_PROBABILITY
        ).first()
    return ShipmentRisk(
        shipment=shipment,
        probability=result.probability,
        fallback=result.fallback,
        version=None if result.fallback or model is None else model.version,
        facts=result.facts if result.probability is not None else [],
        warning_rule=warning_rule,
    )
