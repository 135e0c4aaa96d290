"""Reads for the shipment pages: each owns its select_related/prefetch, so a page's query count
does not grow with its scans, level changes or tickets."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch, QuerySet, Value

from shipments.models import DelayLevelChange, DelayRule, Shipment, TrackingEvent


def shipment_detail_queryset(*, user) -> QuerySet[Shipment]:
    """The shipment page's rows for `user`: its tickets only within the user's ticket scope
    (`Ticket.objects.visible_to`, the console's team rule), as `visible_tickets`; the unscoped
    `shipment.tickets` is never what the page reads."""
    from tickets.models import Ticket  # tickets depends on shipments, not the reverse at import

    tickets = Ticket.objects.visible_to(user).select_related("assignee").order_by("-created_at")
    return Shipment.objects.select_related(
        "carrier", "lane", "customer", "incident"
    ).prefetch_related(
        Prefetch("events", queryset=TrackingEvent.objects.order_by("-occurred_at", "-pk")),
        Prefetch("level_changes", queryset=DelayLevelChange.objects.order_by("-changed_at", "-pk")),
        Prefetch("tickets", queryset=tickets, to_attr="visible_tickets"),
    )


def sees_every_customer(user) -> bool:
    """Supervisors, superusers and the merchant's own systems (who create shipments, and send
    their customers in with them) see every shipment's customer; an agent only those with a
    ticket in their scope (the customer page's rule)."""
    return (
        user.is_superuser
        or user.has_perm("tickets.supervise")
        or user.has_perm("shipments.add_shipment")
    )


def shipments_for_api(*, user) -> QuerySet[Shipment]:
    """Shipments with what the API shows, joined: one query for a whole page. Each row carries
    `customer_visible`: whether `user` may see who its customer is (see sees_every_customer)."""
    from tickets.models import Ticket  # tickets depends on shipments, not the reverse at import

    shipments = Shipment.objects.select_related("carrier", "customer", "lane", "incident")
    if sees_every_customer(user):
        return shipments.annotate(customer_visible=Value(True))
    in_scope = Ticket.objects.visible_to(user).filter(customer_id=OuterRef("customer_id"))
    return shipments.annotate(customer_visible=Exists(in_scope))


@dataclass(frozen=True)
class ShipmentDetail:
    shipment: Shipment
    rule: DelayRule | None
    # The tickets about this shipment the reader may open, and whether they may see who the
    # customer is (the customer page's rule: supervisors everyone, an agent the customers with
    # a ticket in their scope).
    tickets: list
    customer_visible: bool

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


def shipment_detail(*, shipment: Shipment, user) -> ShipmentDetail:
    """`shipment` comes from shipment_detail_queryset(user=user)."""
    from tickets.models import Ticket

    rule = (
        DelayRule.objects.filter(key=shipment.delay_rule).first() if shipment.delay_rule else None
    )
    tickets = shipment.visible_tickets
    customer_visible = (
        sees_every_customer(user)
        or any(ticket.customer_id == shipment.customer_id for ticket in tickets)
        or Ticket.objects.visible_to(user).filter(customer_id=shipment.customer_id).exists()
    )
    return ShipmentDetail(
        shipment=shipment, rule=rule, tickets=tickets, customer_visible=customer_visible
    )
