"""demo.issuance_data: the demo's issued remedies carry the records compensation.issuance
writes, and those records satisfy the database's constraints once saved."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from compensation.issuance import find_code
from compensation.models import IssuedCode, LoyaltyEntry, RefundEntry, Reshipment
from demo.common import DemoRandom
from demo.issuance_data import DemoIssuance, Issued
from shipments.models import Shipment
from tests import factories

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
AT = NOW - dt.timedelta(days=20)


def offer(kind, ticket, **fields):
    return factories.CompensationOfferFactory(
        ticket=ticket, kind=kind, status="accepted", **{"amount": None, **fields}
    )


def test_each_kind_gets_its_record_and_reference():
    ticket = factories.TicketFactory(shipment__order_value=Decimal("80.00"))
    issued = Issued()
    issuance = DemoIssuance(issued, DemoRandom(7), now=NOW)

    code_offer = offer("coupon", ticket, amount=Decimal("10.00"))
    code_ref = issuance.issue(code_offer, at=AT)
    partial = offer("partial_refund", ticket, amount=Decimal("50.00"))
    full = offer("full_refund", ticket, amount=Decimal("80.00"))
    nothing_left = offer("full_refund", ticket, amount=Decimal("80.00"))
    refs = [issuance.issue(o, at=AT) for o in (partial, full, nothing_left)]
    points = offer("loyalty_points", ticket, points=500)
    reship = offer("reship", ticket)
    reship_ref = issuance.issue(reship, at=AT)
    issuance.issue(points, at=AT)

    assert code_ref.startswith("CPN-****-****-****-") and code_ref[-4:] == issued.codes[0].last4
    # 50 then the 30 left; a third refund of the order has nothing left and is not issued.
    assert refs[:2] == [
        f"RFD-1-{ticket.shipment.order_number}",
        f"RFD-2-{ticket.shipment.order_number}",
    ]
    assert refs[2] is None
    assert full.amount == Decimal("30.00")
    assert [e.refunded_total for e in issued.refunds] == [Decimal("50.00"), Decimal("80.00")]
    assert reship_ref == f"{ticket.shipment.tracking_number}-R1"

    IssuedCode.objects.bulk_create(issued.codes)
    RefundEntry.objects.bulk_create(issued.refunds)
    LoyaltyEntry.objects.bulk_create(issued.points)
    Shipment.objects.bulk_create(issued.parcels)
    Reshipment.objects.bulk_create(issued.reshipments)
    assert RefundEntry.objects.count() == 2 and LoyaltyEntry.objects.get().points == 500
    assert Reshipment.objects.get().shipment.order_number == ticket.shipment.order_number
    assert find_code("not-a-code") is None
