"""Fixtures of the shipments tests: a carrier with its status codes, a signed webhook poster."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
import time_machine
from django.contrib.auth.models import Permission

from shipments.ingest import webhook_signature
from shipments.models import CarrierStatusMapping
from tests import factories

NOW = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
SECRET = "acme-webhook-secret"
WEBHOOK_URL = "/api/v1/tracking-events/"

# The carrier's own codes -> (status, cause), as a carrier's integration would configure them.
ACME_CODES = {
    "IR": ("info_received", "none"),
    "AR": ("in_transit", "none"),
    "DP": ("in_transit", "none"),
    "OD": ("out_for_delivery", "none"),
    "DL": ("delivered", "none"),
    "CH": ("exception", "customs_hold"),
}


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def carrier(db):
    carrier = factories.CarrierFactory(code="acme", name="Acme Parcel", webhook_secret=SECRET)
    CarrierStatusMapping.objects.bulk_create(
        CarrierStatusMapping(carrier=carrier, carrier_code=code, status=status, cause=cause)
        for code, (status, cause) in ACME_CODES.items()
    )
    return carrier


@pytest.fixture
def shipment(carrier):
    return factories.ShipmentFactory(carrier=carrier, tracking_number="ACME0001")


def event(
    event_id: str,
    tracking_number: str = "ACME0001",
    *,
    at: dt.datetime | str = NOW - dt.timedelta(hours=1),
    status: str = "AR",
    location: str = "Leipzig hub",
    description: str = "",
) -> dict:
    return {
        "event_id": event_id,
        "tracking_number": tracking_number,
        "occurred_at": at if isinstance(at, str) else at.isoformat(),
        "status": status,
        "location": location,
        "description": description,
    }


@pytest.fixture
def post_events(client, frozen_now) -> Callable:
    """POST a batch signed like the carrier would; keyword arguments spoil one part of it."""

    def post(
        events: list[dict] | None = None,
        *,
        carrier_code: str = "acme",
        body: bytes | None = None,
        secret: str = SECRET,
        signature: str | None = None,
        timestamp: int | str | None = None,
        omit: tuple[str, ...] = (),
    ):
        if body is None:
            body = json.dumps({"carrier": carrier_code, "events": events}).encode()
        headers = {
            "X-Signature": signature or webhook_signature(secret=secret, body=body),
            "X-Timestamp": str(int(frozen_now.timestamp()) if timestamp is None else timestamp),
        }
        for name in omit:
            headers.pop(name)
        return client.post(WEBHOOK_URL, data=body, content_type="application/json", headers=headers)

    return post


@pytest.fixture
def integration_user(db):
    """A merchant's integration account: not staff, allowed to read and create shipments."""
    user = factories.UserFactory(username="shop-integration")
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="shipments", codename__in=["view_shipment", "add_shipment"]
        )
    )
    return user


# The late-delivery model (test_risk, the shipment page's forecast panel): small training
# settings, and one carrier with two lanes from the same origin.
TRAINING = {
    "LATE_MODEL_MIN_TRAINING_SHIPMENTS": 100,
    "LATE_MODEL_HISTORY_DAYS": 60,
    "LATE_MODEL_VALIDATION_DAYS": 14,
    "LATE_MODEL_REPORT_DAYS": 14,
}


@pytest.fixture
def world(db):
    carrier = factories.CarrierFactory(code="acme")
    customer = factories.CustomerFactory()
    fast = factories.LaneFactory(carrier=carrier, origin_region="CN-GD", destination_region="DE-BE")
    slow = factories.LaneFactory(
        carrier=carrier, origin_region="CN-GD", destination_region="FR-IDF"
    )
    return {"carrier": carrier, "customer": customer, "fast": fast, "slow": slow}
