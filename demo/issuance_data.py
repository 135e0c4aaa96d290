"""Issued demo remedies, written as compensation.issuance writes them (codes hashed, refunds in
the order's ledger, points in the customer's ledger, a reship as a linked new parcel, a senior
call as a met milestone), so that the demo holds what the product would have written: the admin
lists masked codes, an order's refunds never pass its value, and each kind's record is there.

Rows are built unsaved, deterministic (the run's DemoRandom), and saved by builder.py after the
offers; `DemoIssuance.issue` gives the offer its `issued_reference` in the service's format.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from compensation.issuance import (
    CODE_ALPHABET,
    CODE_KINDS,
    CODE_LENGTH,
    DEFAULT_RESHIP_TRANSIT,
    REFUND_KINDS,
    RESHIP_KINDS,
    SENIOR_CALL_MILESTONE,
    SENIOR_CALL_WITHIN,
    grouped_code,
    hash_code,
    masked_reference,
    recorded_reference,
)
from compensation.models import (
    CompensationOffer,
    IssuedCode,
    LoyaltyEntry,
    RefundEntry,
    RemedyKind,
    Reshipment,
    SeniorCall,
)
from demo.common import DemoRandom
from shipments.models import ServiceLevel, Shipment, ShipmentStatus
from tickets.models import MilestoneTrigger, SLATimer, TimerKind, TimerStatus


@dataclass
class Issued:
    """Everything the demo's issued remedies wrote, in the order builder.py saves it."""

    codes: list[IssuedCode] = field(default_factory=list)
    refunds: list[RefundEntry] = field(default_factory=list)
    points: list[LoyaltyEntry] = field(default_factory=list)
    parcels: list[Shipment] = field(default_factory=list)  # the reshipped parcels
    reshipments: list[Reshipment] = field(default_factory=list)
    timers: list[SLATimer] = field(default_factory=list)  # the senior calls' milestones
    senior_calls: list[SeniorCall] = field(default_factory=list)
    # Refunded so far per order (the original shipment's object), as the ledger adds it up.
    refunded: dict[int, tuple[Decimal, int]] = field(default_factory=dict)


class DemoIssuance:
    def __init__(self, issued: Issued, rng: DemoRandom, *, now: dt.datetime, senior=None):
        self.out = issued
        self.rng = rng
        self.now = now
        self.senior = senior

    def issue(self, offer: CompensationOffer, *, at: dt.datetime) -> str | None:
        """The offer's record and its reference; None when it cannot be issued (a refund of an
        order already refunded in full, or of a ticket without an order)."""
        kind = offer.kind
        if kind in CODE_KINDS:
            return self._code(offer, at)
        if kind in REFUND_KINDS:
            return self._refund(offer, at)
        if kind == RemedyKind.LOYALTY_POINTS:
            return self._points(offer, at)
        if kind in RESHIP_KINDS:
            return self._reship(offer, at)
        if kind == RemedyKind.SENIOR_CALL:
            return self._senior_call(offer, at)
        return recorded_reference(offer)

    def _code(self, offer: CompensationOffer, at: dt.datetime) -> str:
        raw = self.rng.code(CODE_LENGTH, CODE_ALPHABET)
        code = grouped_code(raw)
        self.out.codes.append(
            IssuedCode(
                offer=offer,
                customer=offer.customer,
                code_hash=hash_code(code),
                last4=raw[-4:],
                created_at=at,
            )
        )
        return masked_reference(offer.kind, raw[-4:])

    def _refund(self, offer: CompensationOffer, at: dt.datetime) -> str | None:
        order = offer.ticket.shipment
        if order is None or offer.currency != order.currency:
            return None
        before, entries = self.out.refunded.get(id(order), (Decimal(0), 0))
        left = order.order_value - before
        amount = left if offer.kind == RemedyKind.FULL_REFUND else min(offer.amount, left)
        if amount <= 0:
            return None
        offer.amount = amount
        sequence = entries + 1
        self.out.refunded[id(order)] = (before + amount, sequence)
        self.out.refunds.append(
            RefundEntry(
                offer=offer,
                shipment=order,
                order_number=order.order_number,
                sequence=sequence,
                amount=amount,
                currency=order.currency,
                order_value=order.order_value,
                refunded_total=before + amount,
                created_at=at,
            )
        )
        return f"RFD-{sequence}-{order.order_number}"

    def _points(self, offer: CompensationOffer, at: dt.datetime) -> str | None:
        if not offer.points:
            return None
        self.out.points.append(
            LoyaltyEntry(customer=offer.customer, offer=offer, points=offer.points, created_at=at)
        )
        # The service names the ledger row's id, which the demo's unsaved rows do not have yet.
        return f"PTS-{offer.public_id.hex[:10].upper()}"

    def _reship(self, offer: CompensationOffer, at: dt.datetime) -> str | None:
        original = offer.ticket.shipment
        if original is None:
            return None
        expedited = offer.kind == RemedyKind.EXPEDITED_RESHIP
        number = 1 + sum(1 for r in self.out.reshipments if r.original is original)
        shipped = at + self.rng.hours(2, 20)
        promised = at + DEFAULT_RESHIP_TRANSIT / (2 if expedited else 1)
        delivered = promised - self.rng.hours(2, 30)
        arrived = delivered < self.now
        parcel = Shipment(
            public_id=self.rng.uuid4(),
            carrier=original.carrier,
            tracking_number=f"{original.tracking_number[:56]}-R{number}",
            order_number=original.order_number,
            customer=original.customer,
            lane=original.lane if not expedited else None,
            service_level=ServiceLevel.EXPRESS if expedited else original.service_level,
            origin_region=original.origin_region,
            destination_region=original.destination_region,
            status=(
                ShipmentStatus.DELIVERED
                if arrived
                else ShipmentStatus.IN_TRANSIT
                if shipped < self.now
                else ShipmentStatus.INFO_RECEIVED
            ),
            order_value=original.order_value,
            currency=original.currency,
            ordered_at=original.ordered_at,
            shipped_at=shipped if shipped < self.now else None,
            promised_at=promised,
            delivered_at=delivered if arrived else None,
            created_at=at,
            updated_at=min(self.now, delivered if arrived else at),
        )
        self.out.parcels.append(parcel)
        self.out.reshipments.append(
            Reshipment(
                offer=offer, original=original, shipment=parcel, expedited=expedited, created_at=at
            )
        )
        return parcel.tracking_number

    def _senior_call(self, offer: CompensationOffer, at: dt.datetime) -> str:
        due = at + SENIOR_CALL_WITHIN
        called = min(self.now, at + self.rng.hours(0.5, 3.5))
        timer = SLATimer(
            ticket=offer.ticket,
            target=None,
            kind=TimerKind.MILESTONE,
            name=SENIOR_CALL_MILESTONE,
            met_by=MilestoneTrigger.MANUAL,
            business_hours=False,
            status=TimerStatus.MET,
            started_at=at,
            due_at=due,
            met_at=called,
            minutes_early=int((due - called).total_seconds() // 60),
        )
        self.out.timers.append(timer)
        call = SeniorCall(
            offer=offer,
            ticket=offer.ticket,
            timer=timer,
            senior=self.senior,
            due_at=due,
            created_at=at,
        )
        self.out.senior_calls.append(call)
        return f"CALL-{offer.public_id.hex[:10].upper()}"
