"""Reads for the shipment pages: each owns its select_related/prefetch, so a page's query count
does not grow with its scans or level changes.

What the shipment page shows of tickets is the tickets app's panel (its own URL, in the page's
"shipment.main" slot, core.panels); whether the reader may see who the customer is follows
shipments.scope (granted by the apps above, safe when none does)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from shipments import scope
from shipments.models import DelayLevelChange, DelayRule, Shipment, TrackingEvent


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
