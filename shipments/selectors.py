"""Reads for the shipment pages: each owns its select_related/prefetch, so a page's query count
does not grow with its scans, level changes or tickets."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from shipments.models import DelayLevelChange, DelayRule, Shipment, TrackingEvent


def shipment_detail_queryset() -> QuerySet[Shipment]:
    from tickets.models import Ticket  # tickets depends on shipments, not the reverse at import

    return Shipment.objects.select_related(
        "carrier", "lane", "customer", "incident"
    ).prefetch_related(
        Prefetch("events", queryset=TrackingEvent.objects.order_by("-occurred_at", "-pk")),
        Prefetch("level_changes", queryset=DelayLevelChange.objects.order_by("-changed_at", "-pk")),
        Prefetch(
            "tickets",
            queryset=Ticket.objects.select_related("assignee").order_by("-created_at"),
        ),
    )


@dataclass(frozen=True)
class ShipmentDetail:
    shipment: Shipment
    rule: DelayRule | None

    @property
    def events(self) -> list[TrackingEvent]:
        return list(self.shipment.events.all())

    @property
    def transit_hours(self) -> float | None:
        """Hours in transit so far (or in all, once delivered), for comparison with the lane."""
        from django.utils import timezone

        if self.shipment.shipped_at is None:
            return None
        end = self.shipment.delivered_at or timezone.now()
        return round((end - self.shipment.shipped_at).total_seconds() / 3600, 1)


def shipment_detail(*, shipment: Shipment) -> ShipmentDetail:
    rule = (
        DelayRule.objects.filter(key=shipment.delay_rule).first() if shipment.delay_rule else None
    )
    return ShipmentDetail(shipment=shipment, rule=rule)
