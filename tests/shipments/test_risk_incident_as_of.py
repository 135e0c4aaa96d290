"""Incident membership as the late-delivery model sees it at T (shipments.risk): only what was
known at T. A shipment's incident counts from the latest of the incident's creation, its
window start and the shipment's first delay (nothing stores when it was attached), never from
the window start alone: an incident opened after T, whose window starts before T, must not
leak into a replay at T (scoring) nor into a training example at T.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
import time_machine

from shipments import risk
from shipments.models import DelayLevel, DelayLevelChange, Incident
from tests import factories

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
T = NOW - dt.timedelta(days=3)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
IN_INCIDENT = risk.FEATURE_NAMES.index("in_incident")


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def lane(db):
    return factories.LaneFactory(carrier=factories.CarrierFactory(code="acme"))


def incident(*, created_at: dt.datetime, window_start: dt.datetime) -> Incident:
    made = factories.IncidentFactory(window_start=window_start)
    # created_at is auto_now_add: set it afterwards.
    Incident.objects.filter(pk=made.pk).update(created_at=created_at)
    return made


def parcel(lane, *, incident: Incident | None = None, **fields):
    """A parcel in transit at T (handed over 2 days before T, promised 2 days after T)."""
    return factories.ShipmentFactory(
        carrier=lane.carrier,
        lane=lane,
        ordered_at=T - 3 * DAY,
        shipped_at=T - 2 * DAY,
        promised_at=T + 2 * DAY,
        incident=incident,
        **fields,
    )


def delayed(shipment, *, at: dt.datetime) -> None:
    DelayLevelChange.objects.create(
        shipment=shipment,
        from_level=DelayLevel.NONE,
        to_level=DelayLevel.YELLOW,
        cause="customs_hold",
        changed_at=at,
    )


def in_incident_at(shipments, moment: dt.datetime) -> dict[int, bool]:
    found = risk.features([s.pk for s in shipments], now=moment)
    return {pk: bool(vector[IN_INCIDENT]) for pk, vector in found.items()}


def test_an_incident_created_after_t_does_not_count_at_t(lane, frozen_now):
    # Its window starts before T, but nobody knew of it before T + 1 day.
    later = parcel(lane, incident=incident(created_at=T + DAY, window_start=T - DAY))
    earlier = parcel(lane, incident=incident(created_at=T - DAY, window_start=T - 2 * DAY))
    outside = parcel(lane)

    at_t = in_incident_at([later, earlier, outside], T)

    assert at_t == {later.pk: False, earlier.pk: True, outside.pk: False}
    # Live, both incidents exist: both count.
    live = in_incident_at([later, earlier, outside], NOW)
    assert live == {later.pk: True, earlier.pk: True, outside.pk: False}


def test_a_shipment_first_delayed_after_t_was_not_in_its_older_incident_at_t(lane, frozen_now):
    # Grouping only takes delayed shipments: one first delayed after T joined after T, even
    # though its incident existed before T.
    opened = incident(created_at=T - 2 * DAY, window_start=T - 2 * DAY)
    absorbed = parcel(lane, incident=opened)
    delayed(absorbed, at=T + 6 * HOUR)
    member = parcel(lane, incident=opened)
    delayed(member, at=T - DAY)

    at_t = in_incident_at([absorbed, member], T)
    assert at_t == {absorbed.pk: False, member.pk: True}
    assert in_incident_at([absorbed], T + 7 * HOUR) == {absorbed.pk: True}


def test_the_score_at_t_does_not_change_when_an_incident_is_opened_after_t(lane, frozen_now):
    shipment = parcel(lane)
    before = risk.score([shipment.pk], now=T)[shipment.pk]
    after_t = incident(created_at=T + DAY, window_start=T - DAY)
    shipment.incident = after_t
    shipment.save(update_fields=["incident"])

    assert risk.score([shipment.pk], now=T)[shipment.pk] == before


def test_training_reads_membership_from_when_it_was_known(lane, settings, frozen_now):
    settings.LATE_MODEL_HISTORY_DAYS = 60
    settings.LATE_MODEL_VALIDATION_DAYS = 14
    settings.LATE_MODEL_REPORT_DAYS = 14
    late_incident = incident(created_at=T + DAY, window_start=T - DAY)
    early_incident = incident(created_at=T - DAY, window_start=T - 2 * DAY)
    opened_after_as_of = incident(created_at=NOW + DAY, window_start=T)
    later = parcel(lane, incident=late_incident)
    earlier = parcel(lane, incident=early_incident)
    absorbed = parcel(lane, incident=early_incident)
    delayed(absorbed, at=T + 2 * HOUR)
    unknown = parcel(lane, incident=opened_after_as_of)
    outside = parcel(lane)

    # SQLite's julianday loses a few microseconds: seconds are compared to the hundredth.
    data = risk.load_training_history(risk.TrainingWindow.ending(NOW))
    incident_from = dict(zip(data.ids.tolist(), data.incident_from.tolist(), strict=True))

    assert incident_from[later.pk] == pytest.approx((T + DAY).timestamp(), abs=0.01)
    assert incident_from[earlier.pk] == pytest.approx((T - DAY).timestamp(), abs=0.01)
    assert incident_from[absorbed.pk] == pytest.approx((T + 2 * HOUR).timestamp(), abs=0.01)
    # Known only after the training's moment: as if in no incident.
    assert math.isnan(incident_from[unknown.pk])
    assert math.isnan(incident_from[outside.pk])
