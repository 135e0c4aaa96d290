"""An as-of detection pass judges what a live pass at that moment would have, from nothing later.

The lane of these tests (as of THEN): 20 deliveries before THEN taking 10, 20, ..., 200 hours.
Its mean is 105 h (the yellow rule, ratio 1.5, fires after 157.5 h in transit); its median
(nearest rank) is 100 h, so a parcel slower than every delivery is predicted to need another
100 h (shipments.eta): predicted ETA = THEN + 100 h.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, transaction

from shipments import detection
from shipments.detection import AsOfState, detect_delays
from shipments.eta import refresh_predicted_etas
from shipments.lanes import refresh_lane_statistics
from shipments.models import Lane, Shipment, ShipmentStatus
from tests import factories

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
THEN = NOW - dt.timedelta(days=2)
SECOND = dt.timedelta(seconds=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
LANE_HOURS = [10.0 * step for step in range(1, 21)]
# 7 days (the red rule) before the ETA of a parcel slower than every delivery of the lane.
RED_BOUNDARY = THEN + 100 * HOUR - 7 * DAY


@pytest.fixture(autouse=True)
def frozen_time():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def lane(db) -> Lane:
    """The lane of the module docstring; its stored row says nothing yet (no refresh ran)."""
    lane = factories.LaneFactory(
        mean_transit_hours=None, p50_transit_hours=None, p90_transit_hours=None
    )
    customer = factories.CustomerFactory()
    for hours in LANE_HOURS:
        delivered_at = THEN - DAY
        factories.ShipmentFactory(
            carrier=lane.carrier,
            lane=lane,
            customer=customer,
            status=ShipmentStatus.DELIVERED,
            shipped_at=delivered_at - hours * HOUR,
            delivered_at=delivered_at,
            promised_at=delivered_at + DAY,
        )
    return lane


def in_transit(lane: Lane, *, shipped_at: dt.datetime, promised_at: dt.datetime, **fields):
    """A parcel in transit at THEN, scanned an hour before THEN where it arrived then."""
    fields.setdefault("status", ShipmentStatus.IN_TRANSIT)
    parcel = factories.ShipmentFactory(
        carrier=lane.carrier, lane=lane, shipped_at=shipped_at, promised_at=promised_at, **fields
    )
    if "last_event_at" not in fields:
        scan(parcel, THEN - HOUR)
    return parcel


def scan(parcel: Shipment, at: dt.datetime, *, status="in_transit", location="Leipzig hub"):
    return factories.TrackingEventFactory(
        shipment=parcel, occurred_at=at, status=status, location=location
    )


def judge_at(moment: dt.datetime):
    """The pass's result and every shipment's level, rule and cause after it, rolled back."""
    with transaction.atomic():
        result = detect_delays(now=moment)
        judged = {
            pk: (level, rule, cause)
            for pk, level, rule, cause in Shipment.objects.values_list(
                "pk", "delay_level", "delay_rule", "delay_cause"
            )
        }
        transaction.set_rollback(True)
    return result, judged


def levels(judged, *parcels) -> list[str]:
    return [judged[parcel.pk][0] for parcel in parcels]


def run_command(*args) -> str:
    out = io.StringIO()
    call_command("detect_delays", *args, stdout=out)
    return out.getvalue()


# -- nothing from after the moment ---------------------------------------------------------


def test_deliveries_and_statistics_after_the_moment_do_not_change_the_result_at_it(lane):
    # As things stood at THEN (the lane's row and the predicted ETAs as refreshes at THEN
    # would have left them):
    slow = in_transit(lane, shipped_at=THEN - 160 * HOUR, promised_at=THEN + 3 * DAY)
    at_red = in_transit(lane, shipped_at=THEN - 250 * HOUR, promised_at=RED_BOUNDARY)
    over_red = in_transit(lane, shipped_at=THEN - 250 * HOUR, promised_at=RED_BOUNDARY - SECOND)
    # Silent for 80 h at THEN, delivered 10 h after it.
    silent = in_transit(
        lane,
        shipped_at=THEN - 100 * HOUR,
        promised_at=THEN - 2 * DAY,
        last_event_at=THEN - 80 * HOUR,
    )
    scan(silent, THEN - 80 * HOUR)
    # Twenty very slow parcels, still travelling at THEN and delivered 40 h after it.
    laggards = [
        in_transit(lane, shipped_at=THEN - 900 * HOUR, promised_at=THEN + 50 * HOUR)
        for _ in range(20)
    ]
    refresh_lane_statistics(now=THEN)
    refresh_predicted_etas(now=THEN)
    before, judged_before = judge_at(THEN)

    # Later: they are all delivered, which moves the lane's figures a long way, and the
    # periodic refreshes run now.
    Shipment.objects.filter(pk=silent.pk).update(
        status=ShipmentStatus.DELIVERED, delivered_at=THEN + 10 * HOUR, last_event_at=NOW
    )
    scan(silent, THEN + 10 * HOUR, status="delivered", location="Berlin")
    Shipment.objects.filter(pk__in=[parcel.pk for parcel in laggards]).update(
        status=ShipmentStatus.DELIVERED, delivered_at=THEN + 40 * HOUR
    )
    for parcel in (slow, at_red, over_red):
        scan(parcel, THEN + HOUR, location="Berlin depot")
    refresh_lane_statistics(now=NOW)
    refresh_predicted_etas(now=NOW)
    lane.refresh_from_db()
    assert lane.mean_transit_hours > 500  # the stored figure today: yellow would not fire
    after, judged_after = judge_at(THEN)

    assert levels(judged_after, slow, at_red, over_red, silent, *laggards) == [
        "yellow",  # 160 h > 1.5 x 105 h, the lane's mean as of THEN
        "yellow",  # ETA THEN + 100 h: exactly 7 days after the promise
        "red",
        "orange",
        *["yellow"] * 20,  # ETA THEN + 100 h, 50 h after the promise
    ]
    assert judged_after == judged_before
    assert after == before


def test_a_parcel_delivered_after_the_moment_is_still_travelling_at_it(lane):
    parcel = in_transit(
        lane,
        shipped_at=THEN - 100 * HOUR,
        promised_at=THEN - 2 * DAY,
        status=ShipmentStatus.DELIVERED,
        delivered_at=THEN + 10 * HOUR,
        last_event_at=THEN + 10 * HOUR,
    )
    scan(parcel, THEN - 80 * HOUR)
    scan(parcel, THEN + 10 * HOUR, status="delivered", location="Berlin")

    result, judged = judge_at(THEN)

    assert levels(judged, parcel) == ["orange"]
    assert result.levels["orange"] == 1
    assert result.etas_predicted == 1


def test_a_hand_over_after_the_moment_had_not_happened_at_it(lane):
    # Announced (a scan) before THEN, handed over long after: no transit time at THEN.
    announced = in_transit(
        lane, shipped_at=NOW, promised_at=THEN + 10 * DAY, last_event_at=THEN - HOUR
    )
    scan(announced, THEN - HOUR, status="info_received", location="")
    seen = []

    detect_delays(now=THEN, late_scorer=lambda states, now: seen.extend(states) or [None])

    assert seen == [
        AsOfState(
            id=announced.pk,
            lane_id=lane.pk,
            carrier_id=lane.carrier_id,
            service_level="standard",
            status="info_received",
            shipped_at=None,
            promised_at=THEN + 10 * DAY,
            last_event_at=THEN - HOUR,
            predicted_eta=THEN + 100 * HOUR,  # leaves at THEN at the earliest, then the median
        )
    ]


# -- the predicted ETA as of the moment -----------------------------------------------------


def test_an_as_of_pass_predicts_the_eta_from_the_history_of_the_moment(lane):
    at_red = in_transit(lane, shipped_at=THEN - 250 * HOUR, promised_at=RED_BOUNDARY)
    over_red = in_transit(lane, shipped_at=THEN - 250 * HOUR, promised_at=RED_BOUNDARY - SECOND)
    # The stored ETA is today's (and far too late): an as-of pass does not read it.
    on_time = in_transit(
        lane,
        shipped_at=THEN - 5 * HOUR,
        promised_at=THEN + 10 * DAY,
        predicted_eta=THEN + 30 * DAY,
    )

    result, judged = judge_at(THEN)

    assert levels(judged, at_red, over_red, on_time) == ["yellow", "red", "none"]
    assert (result.etas_predicted, result.etas_without_history) == (3, 0)


def test_the_eta_as_of_a_moment_is_the_one_the_refresh_stored_at_it(lane):
    thin = factories.LaneFactory(carrier=lane.carrier)  # no history: borrows the carrier's
    rival = factories.LaneFactory()  # no history for its carrier either: everyone's
    parcels = [
        in_transit(lane, shipped_at=THEN - hours * HOUR, promised_at=THEN + 3 * DAY)
        for hours in (1, 55, 99.5, 150, 400)
    ]
    parcels.append(in_transit(lane, shipped_at=None, promised_at=THEN + 3 * DAY))
    stale = in_transit(
        lane, shipped_at=THEN - 150 * HOUR, promised_at=THEN + DAY, last_event_at=THEN - 100 * HOUR
    )
    scan(stale, THEN - 100 * HOUR)
    parcels.append(stale)
    parcels.append(in_transit(thin, shipped_at=THEN - 30 * HOUR, promised_at=THEN + 3 * DAY))
    parcels.append(in_transit(rival, shipped_at=THEN - 30 * HOUR, promised_at=THEN + 3 * DAY))
    # The live columns as ingest keeps them (each parcel's last scan).
    for parcel in parcels:
        last_scan = parcel.events.order_by("-occurred_at").values_list("occurred_at", flat=True)
        Shipment.objects.filter(pk=parcel.pk).update(last_event_at=last_scan[0])
    with time_machine.travel(THEN, tick=False):
        refresh_predicted_etas(now=THEN)
    stored = dict(Shipment.objects.active().values_list("pk", "predicted_eta"))
    seen = {}

    def record(states, now):
        seen.update((state.id, state.predicted_eta) for state in states)
        return [None] * len(states)

    detect_delays(now=THEN, late_scorer=record)

    assert seen == stored
    assert len(set(seen.values())) > 5  # the cases above do not all predict one moment


def test_without_delivered_history_by_the_moment_the_eta_is_the_promise(lane):
    # Every delivery of the lane came after this moment.
    long_ago = THEN - 30 * DAY
    late = in_transit(lane, shipped_at=long_ago - 250 * HOUR, promised_at=long_ago - 6 * DAY)

    result, judged = judge_at(long_ago)

    # The ETA falls back to the promise, and is never before the moment: 6 days after the
    # promise, not red. No lane mean either (yellow needs one). Its only scan came later:
    # silent since the hand-over, orange.
    assert levels(judged, late) == ["orange"]
    assert (result.etas_predicted, result.etas_without_history) == (1, 1)


def test_the_command_fills_the_predicted_eta_as_of_the_moment(lane):
    over_red = in_transit(lane, shipped_at=THEN - 250 * HOUR, promised_at=RED_BOUNDARY - SECOND)

    output = run_command("--as-of", THEN.isoformat())

    assert "(from tracking events)" in output
    assert "Predicted ETAs as of the moment: 1 (0 without delivered history: the promise)" in (
        output
    )
    assert "  red         1\n" in output
    over_red.refresh_from_db()
    assert (over_red.delay_level, over_red.delay_rule, over_red.delay_detected_at) == (
        "red",
        "red",
        THEN,
    )
    # The stored (live) ETA is not overwritten by a past one.
    assert over_red.predicted_eta is None


def test_the_eta_walks_the_shipments_chunk_by_chunk(lane, monkeypatch):
    monkeypatch.setattr(detection, "CHUNK_SIZE", 3)
    reds = [
        in_transit(lane, shipped_at=THEN - 250 * HOUR, promised_at=RED_BOUNDARY - SECOND)
        for _ in range(7)
    ]
    chunks = []

    with transaction.atomic():
        result = detect_delays(
            now=THEN,
            late_scorer=lambda states, now: chunks.append(len(states)) or [0.9] * len(states),
        )
        judged = dict(Shipment.objects.values_list("pk", "delay_level"))
        transaction.set_rollback(True)

    assert chunks == [3, 3, 1]
    assert [judged[parcel.pk] for parcel in reds] == ["red"] * 7
    assert result.etas_predicted == 7


# -- the seam for a learned late-delivery model --------------------------------------------


def test_the_late_scorer_sees_the_state_at_the_moment_only(lane):
    delivered_later = in_transit(
        lane,
        shipped_at=THEN - 100 * HOUR,
        promised_at=THEN + DAY,
        status=ShipmentStatus.DELIVERED,
        delivered_at=THEN + 10 * HOUR,
        last_event_at=THEN + 10 * HOUR,
    )
    scan(delivered_later, THEN - HOUR)
    scan(delivered_later, THEN + 10 * HOUR, status="delivered", location="Berlin")
    calls = []

    def scorer(states, now):
        calls.append((now, list(states)))
        return [0.25 for _ in states]

    detect_delays(now=THEN, late_scorer=scorer)

    [(moment, [state])] = calls
    assert moment == THEN
    assert (state.id, state.status, state.last_event_at) == (
        delivered_later.pk,
        "in_transit",
        THEN - HOUR,
    )


def test_a_scorer_that_does_not_answer_once_per_state_is_refused(lane):
    in_transit(lane, shipped_at=THEN - 5 * HOUR, promised_at=THEN + 10 * DAY)

    with pytest.raises(ValueError, match="once per shipment state"):
        detect_delays(now=THEN, late_scorer=lambda states, now: [])


def test_the_live_pass_still_reads_the_stored_lane_figures_and_eta(lane):
    # 160 h in transit: over 1.5 x the stored 100 h, under 1.5 x the 105 h of the deliveries.
    Lane.objects.filter(pk=lane.pk).update(mean_transit_hours=100.0)
    slow = in_transit(
        lane,
        shipped_at=NOW - 160 * HOUR,
        promised_at=NOW + 3 * DAY,
        last_event_at=NOW - HOUR,
        location_since=NOW - HOUR,
    )
    late = in_transit(
        lane,
        shipped_at=NOW - 5 * HOUR,
        promised_at=NOW + 3 * DAY,
        predicted_eta=NOW + 11 * DAY,
        last_event_at=NOW - HOUR,
        location_since=NOW - HOUR,
    )

    result, judged = judge_at(NOW)

    assert levels(judged, slow, late) == ["yellow", "red"]
    assert (result.from_events, result.etas_predicted) == (False, 0)


# -- queries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [10, 200])
def test_an_as_of_pass_runs_a_constant_number_of_queries(count, lane, django_assert_num_queries):
    for n in range(count):
        in_transit(
            lane,
            shipped_at=THEN - (250 if n % 2 else 5) * HOUR,
            promised_at=RED_BOUNDARY - SECOND if n % 2 else THEN + 10 * DAY,
        )
    # savepoint, rules; state table, predictions table, transit history (3), stream of the
    # states, one insert of predictions (one chunk); pass table, UPDATE shipments, INSERT
    # changes, SELECT changes, count per level, DROP pass, state and predictions tables;
    # incidents: open automatic incidents, hub groups, lane groups, recount; the delay
    # notices are not queued (a rebuilt past tells nobody); release savepoint. PostgreSQL:
    # the advisory lock, ANALYZE of the as-of tables and of the pass table. The probability
    # rules' default scorer (once per pass): the model trained by then, the history as of
    # then (4), and per chunk of states within the horizon the scoring's two reads.
    expected = 29 if connection.vendor == "sqlite" else 32
    with django_assert_num_queries(expected):
        result = detect_delays(now=THEN)
    assert result.levels["red"] == count // 2
    assert result.etas_predicted == count
