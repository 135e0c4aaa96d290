"""Incidents: automatic grouping by cause and place, a supervisor's filter, resolution."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError

from shipments.detection import detect_delays
from shipments.incidents import (
    CAUSE_INVALID,
    INCIDENT_WINDOW,
    LANE_OF_ANOTHER_CARRIER,
    NO_MATCHING_SHIPMENTS,
    TITLE_REQUIRED,
    incident_create_from_filter,
    incident_resolve,
    incident_scope_key,
    incident_texts,
    incident_window_start,
)
from shipments.models import Incident, Shipment, ShipmentStatus
from tests import factories

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def frozen_time():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def dhl(db):
    return factories.CarrierFactory(code="dhl", name="DHL")


@pytest.fixture
def lane(dhl):
    return factories.LaneFactory(
        carrier=dhl, origin_region="CN-GD", destination_region="FR-IDF", mean_transit_hours=120.0
    )


def held(lane, count, *, hub="Paris CDG", cause="customs_hold", **overrides):
    """`count` parcels held at `hub` for 30 h (hub hold) with the carrier's `cause`."""
    fields = {
        "carrier": lane.carrier,
        "lane": lane,
        "status": ShipmentStatus.IN_TRANSIT,
        "shipped_at": NOW - 48 * HOUR,
        "promised_at": NOW + 3 * DAY,
        "last_event_at": NOW - HOUR,
        "last_location": hub,
        "location_since": NOW - 30 * HOUR,
        "cause": cause,
    }
    fields.update(overrides)
    return factories.ShipmentFactory.create_batch(count, **fields)


def test_nine_parcels_held_at_one_hub_are_no_incident_yet(lane):
    held(lane, 9)

    result = detect_delays(now=NOW)

    assert result.incidents_created == 0
    assert not Incident.objects.exists()


def test_ten_parcels_with_one_cause_at_one_hub_make_an_automatic_incident(lane):
    parcels = held(lane, 10)

    result = detect_delays(now=NOW)

    incident = Incident.objects.get()
    window = incident_window_start(NOW)
    assert result.incidents_created == 1
    assert incident.is_automatic
    assert incident.status == Incident.Status.OPEN
    assert (incident.cause, incident.carrier, incident.hub) == (
        "customs_hold",
        lane.carrier,
        "Paris CDG",
    )
    assert incident.scope_key == f"customs_hold:dhl:hub:Paris CDG:{window:%Y-%m-%d}"
    assert incident.window_start == window
    assert incident.affected_count == 10
    assert set(incident.shipments.values_list("id", flat=True)) == {p.pk for p in parcels}
    assert incident.title == "Customs hold at Paris CDG"
    assert "Customs at Paris CDG are inspecting parcels" in incident.public_explanation
    assert "DHL" in incident.public_explanation
    assert incident.public_explanation_zh_hans.startswith("Paris CDG海关正在查验包裹")


def test_the_window_is_72_hours_aligned_on_the_epoch():
    start = incident_window_start(NOW)

    assert start <= NOW < start + INCIDENT_WINDOW
    assert (start - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) % INCIDENT_WINDOW == dt.timedelta(0)
    assert incident_window_start(start) == start
    assert incident_window_start(start - dt.timedelta(microseconds=1)) == start - INCIDENT_WINDOW


def test_a_second_pass_reuses_the_incident_and_recounts(lane):
    held(lane, 10)
    detect_delays(now=NOW)
    later = NOW + 5 * dt.timedelta(minutes=1)
    # Held 23 h 58 min at NOW, 24 h 3 min at `later`: newly delayed by the second pass.
    held(lane, 2, location_since=NOW - 24 * HOUR + 2 * dt.timedelta(minutes=1))

    with time_machine.travel(later, tick=False):
        result = detect_delays(now=later)

    incident = Incident.objects.get()
    assert (result.incidents_created, result.incidents_updated) == (0, 1)
    assert incident.affected_count == 12
    assert Shipment.objects.filter(incident=incident).count() == 12


def test_a_rerun_at_the_same_moment_changes_no_incident(lane):
    held(lane, 10)
    detect_delays(now=NOW)

    result = detect_delays(now=NOW)

    assert (result.incidents_created, result.incidents_updated) == (0, 0)
    assert Incident.objects.get().affected_count == 10


def test_different_hubs_and_causes_make_different_incidents(lane):
    held(lane, 10, hub="Paris CDG", cause="customs_hold")
    held(lane, 10, hub="Paris CDG", cause="capacity")
    held(lane, 10, hub="Liège hub", cause="customs_hold")

    result = detect_delays(now=NOW)

    assert result.incidents_created == 3
    assert sorted(Incident.objects.values_list("title", "affected_count")) == [
        ("Customs hold at Liège hub", 10),
        ("Customs hold at Paris CDG", 10),
        ("Peak-season backlog at Paris CDG", 10),
    ]


def test_an_unknown_cause_never_groups(lane):
    held(lane, 12, cause="none")  # delayed with delay cause "unknown"

    detect_delays(now=NOW)

    assert not Incident.objects.exists()


def test_parcels_of_one_lane_spread_over_places_group_by_lane(lane):
    for n in range(10):
        held(lane, 1, hub=f"Depot {n}", cause="weather")

    detect_delays(now=NOW)

    incident = Incident.objects.get()
    assert incident.lane == lane
    assert incident.hub == ""
    assert incident.scope_key.startswith(f"weather:dhl:lane:{lane.pk}:")
    assert incident.title == "Bad weather on the CN-GD → FR-IDF route"
    assert incident.public_explanation_zh_hans.startswith("CN-GD → FR-IDF线路天气恶劣")
    assert incident.affected_count == 10


def test_parcels_detected_in_an_earlier_window_do_not_count_for_a_new_incident(lane):
    held(lane, 6)
    detect_delays(now=NOW)
    next_window = incident_window_start(NOW) + INCIDENT_WINDOW + HOUR
    held(lane, 6, last_event_at=next_window - HOUR, location_since=next_window - 30 * HOUR)

    with time_machine.travel(next_window, tick=False):
        detect_delays(now=next_window)

    assert not Incident.objects.exists()


def test_a_resolved_incident_is_not_reopened_and_the_next_window_gets_a_new_one(lane, supervisor):
    held(lane, 10)
    detect_delays(now=NOW)
    first = Incident.objects.get()
    incident_resolve(incident=first, by=supervisor, now=NOW + HOUR)
    later = NOW + 2 * HOUR
    held(lane, 10, last_event_at=later - HOUR, location_since=later - 30 * HOUR)

    with time_machine.travel(later, tick=False):
        detect_delays(now=later)
    assert Incident.objects.count() == 1
    assert Shipment.objects.filter(incident__isnull=True).count() == 10

    next_window = incident_window_start(NOW) + INCIDENT_WINDOW + HOUR
    held(lane, 10, last_event_at=next_window - HOUR, location_since=next_window - 30 * HOUR)
    with time_machine.travel(next_window, tick=False):
        result = detect_delays(now=next_window)

    second = Incident.objects.exclude(pk=first.pk).get()
    assert result.incidents_created == 1
    assert second.scope_key != first.scope_key
    # The 10 held since `later` (detected in the first window) join the open incident too.
    assert second.affected_count == 20
    first.refresh_from_db()
    assert first.affected_count == 10


def test_a_long_hub_name_still_makes_a_unique_key_that_fits():
    window = incident_window_start(NOW)
    long_a = "Hub " + "x" * 190 + "A"
    long_b = "Hub " + "x" * 190 + "B"

    key_a = incident_scope_key(
        cause="customs_hold", carrier_code="dhl", hub=long_a, window_start=window
    )
    key_b = incident_scope_key(
        cause="customs_hold", carrier_code="dhl", hub=long_b, window_start=window
    )

    assert len(key_a) <= 200
    assert key_a != key_b
    assert key_a.endswith(f":{window:%Y-%m-%d}")


def test_texts_read_well_without_a_place():
    texts = incident_texts(cause="weather")

    assert texts.title == "Bad weather"
    assert texts.public_explanation.startswith("Bad weather is delaying parcels. We are working")
    assert "the carrier" in texts.public_explanation
    assert texts.public_explanation_zh_hans.startswith("天气恶劣")


# -- a supervisor's incident ---------------------------------------------------------------


def test_a_supervisor_opens_an_incident_by_filter(lane, supervisor):
    ups = factories.CarrierFactory(code="ups", name="UPS")
    matching = held(lane, 3, hub="Paris CDG")
    held(lane, 1, hub="Lyon")  # another hub
    held(lane, 1, cause="weather")  # another cause
    other_carrier = factories.LaneFactory(carrier=ups)
    held(other_carrier, 1)  # another carrier
    delivered = held(
        lane,
        1,
        status=ShipmentStatus.DELIVERED,
        delivered_at=NOW - HOUR,
        delay_level="hub_hold",
        delay_cause="customs_hold",
        delay_detected_at=NOW - DAY,
    )
    on_time = held(lane, 1, location_since=NOW - HOUR)
    detect_delays(now=NOW)
    earlier = factories.IncidentFactory()
    taken = held(lane, 1)
    detect_delays(now=NOW)
    Shipment.objects.filter(pk=taken[0].pk).update(incident=earlier)

    incident = incident_create_from_filter(
        title="French customs strike",
        cause="customs_hold",
        carrier=lane.carrier,
        hub="paris cdg",
        opened_by=supervisor,
    )

    assert set(incident.shipments.values_list("id", flat=True)) == {p.pk for p in matching}
    assert incident.affected_count == 3
    assert not incident.is_automatic
    assert incident.scope_key == ""
    assert incident.opened_by == supervisor
    assert incident.window_start == NOW
    assert incident.public_explanation.startswith("Customs at paris cdg are inspecting")
    assert incident.public_explanation_zh_hans
    assert Shipment.objects.get(pk=delivered[0].pk).incident is None
    assert Shipment.objects.get(pk=on_time[0].pk).incident is None
    assert Shipment.objects.get(pk=taken[0].pk).incident == earlier


def test_a_filter_by_levels_lane_and_detection_time(lane, supervisor):
    old = held(lane, 2)
    detect_delays(now=NOW)
    later = NOW + 2 * HOUR
    recent = held(lane, 2, last_event_at=later - HOUR, location_since=later - 30 * HOUR)
    red = held(lane, 1, predicted_eta=NOW + 12 * DAY)
    with time_machine.travel(later, tick=False):
        detect_delays(now=later)

        incident = incident_create_from_filter(
            title="Customs backlog",
            cause="customs_hold",
            lane=lane,
            delay_levels=["hub_hold"],
            detected_since=NOW + HOUR,
            public_explanation="Our own words.",
            public_explanation_zh_hans="我们自己的说明。",
            opened_by=supervisor,
        )

    assert set(incident.shipments.values_list("id", flat=True)) == {p.pk for p in recent}
    assert incident.affected_count == 2
    assert incident.carrier == lane.carrier
    assert incident.window_start == NOW + HOUR
    assert incident.public_explanation == "Our own words."
    assert incident.public_explanation_zh_hans == "我们自己的说明。"
    assert all(Shipment.objects.get(pk=p.pk).incident is None for p in [*old, *red])


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"title": "  "}, "title", TITLE_REQUIRED),
        ({"cause": "none"}, "cause", CAUSE_INVALID),
        ({"cause": "volcano"}, "cause", CAUSE_INVALID),
    ],
)
def test_a_filter_incident_needs_a_title_and_a_cause(kwargs, field, message, supervisor):
    arguments = {"title": "Strike", "cause": "congestion", "opened_by": supervisor, **kwargs}

    with pytest.raises(ValidationError) as error:
        incident_create_from_filter(**arguments)

    assert error.value.message_dict[field] == [message]
    assert not Incident.objects.exists()


def test_a_filter_refuses_a_lane_of_another_carrier(lane, supervisor):
    ups = factories.CarrierFactory(code="ups", name="UPS")

    with pytest.raises(ValidationError) as error:
        incident_create_from_filter(
            title="Strike", cause="congestion", carrier=ups, lane=lane, opened_by=supervisor
        )

    assert error.value.message_dict["lane"] == [LANE_OF_ANOTHER_CARRIER]


def test_a_filter_that_takes_no_shipment_opens_no_incident(lane, supervisor):
    held(lane, 2, hub="Lyon")
    detect_delays(now=NOW)
    earlier = factories.IncidentFactory()
    Shipment.objects.update(incident=earlier)  # matching, but already in an incident

    for hub in ("Paris CDG", "Lyon"):
        with pytest.raises(ValidationError) as error:
            incident_create_from_filter(
                title="Strike", cause="customs_hold", hub=hub, opened_by=supervisor
            )
        assert error.value.message_dict == {"__all__": [str(NO_MATCHING_SHIPMENTS)]}
    assert list(Incident.objects.all()) == [earlier]


def test_resolving_an_incident_records_who_and_when_once(lane, supervisor):
    held(lane, 10)
    detect_delays(now=NOW)
    incident = Incident.objects.get()

    resolved = incident_resolve(incident=incident, by=supervisor, now=NOW + HOUR)
    again = incident_resolve(incident=incident, by=supervisor, now=NOW + 2 * HOUR)

    assert resolved.status == Incident.Status.RESOLVED
    assert (again.resolved_at, again.resolved_by, again.window_end) == (
        NOW + HOUR,
        supervisor,
        NOW + HOUR,
    )
    assert again.shipments.count() == 10
