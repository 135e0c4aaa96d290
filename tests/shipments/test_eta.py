"""Predicted ETA of active shipments (shipments/eta.py).

The lane history used throughout: 20 deliveries taking 10, 20, ..., 200 hours. Its median
(nearest rank, 10th of 20) is 100 h; a parcel still travelling after e hours is compared with
the deliveries slower than e: after 50 h those are 60..200 h (median 130 h), after 150 h they
are 160..200 h (median 180 h).
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from shipments import eta
from shipments.eta import late_probability, predict_eta, refresh_predicted_etas
from shipments.lanes import TransitDistribution
from shipments.models import Lane, Shipment, ShipmentStatus
from tests import factories

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
LANE_HOURS = [10.0 * step for step in range(1, 21)]
HISTORY = TransitDistribution.from_sorted(LANE_HOURS)


def hours_ago(hours: float) -> dt.datetime:
    return NOW - hours * HOUR


# --- The model ----------------------------------------------------------------------------


def predict(**state) -> dt.datetime:
    state = {"now": NOW, "promised_at": NOW + 72 * HOUR, "distribution": HISTORY} | state
    return predict_eta(**state)


def test_the_quantile_table_uses_nearest_ranks():
    assert HISTORY.count == 20
    assert HISTORY.median == 100
    assert HISTORY.percentile(90) == 180
    assert HISTORY.percentile(1) == 10
    assert HISTORY.percentile(100) == 200


def test_a_parcel_faster_than_every_delivery_so_far_is_due_at_handover_plus_the_median():
    assert predict(shipped_at=hours_ago(5)) == hours_ago(5) + 100 * HOUR


def test_before_the_median_the_eta_is_the_median_of_the_slower_deliveries():
    assert predict(shipped_at=hours_ago(50)) == hours_ago(50) + 130 * HOUR


def test_past_the_median_the_eta_moves_out_with_the_conditional_remaining_time():
    assert predict(shipped_at=hours_ago(150)) == hours_ago(150) + 180 * HOUR


def test_a_parcel_slower_than_every_delivery_needs_another_median_transit():
    assert predict(shipped_at=hours_ago(250)) == NOW + 100 * HOUR


def test_a_parcel_not_handed_over_yet_leaves_now_at_the_earliest():
    assert predict(shipped_at=None) == NOW + 100 * HOUR
    assert predict(shipped_at=NOW + 5 * HOUR) == NOW + 100 * HOUR


def test_without_history_it_falls_back_to_the_carrier_estimate_then_the_promise():
    carrier_eta = NOW + 30 * HOUR
    assert predict(shipped_at=hours_ago(5), distribution=None, carrier_eta=carrier_eta) == (
        carrier_eta
    )
    assert predict(shipped_at=hours_ago(5), distribution=None) == NOW + 72 * HOUR


def test_it_never_predicts_a_delivery_in_the_past():
    overdue_promise = NOW - 48 * HOUR
    assert predict(shipped_at=hours_ago(99), distribution=None, promised_at=overdue_promise) == NOW


def test_it_rounds_up_to_the_hour():
    assert predict(shipped_at=hours_ago(5) - dt.timedelta(minutes=10)) == hours_ago(5) + 100 * HOUR


def test_a_stale_last_scan_pushes_the_eta_later():
    shipped_at = hours_ago(150)
    fresh = predict(shipped_at=shipped_at, last_event_at=hours_ago(2))
    at_grace = predict(shipped_at=shipped_at, last_event_at=hours_ago(72))
    stale = predict(shipped_at=shipped_at, last_event_at=hours_ago(100))
    staler = predict(shipped_at=shipped_at, last_event_at=hours_ago(140))

    assert fresh == at_grace == shipped_at + 180 * HOUR
    assert stale == fresh + 28 * HOUR  # 100 h of silence, 72 h of them normal
    assert staler == fresh + 68 * HOUR


def test_late_probability_agrees_with_the_eta():
    # After 150 h, 160..200 remain; promise at 170 h after hand-over: 180, 190, 200 are late.
    shipped_at = hours_ago(150)
    state = {"now": NOW, "shipped_at": shipped_at, "distribution": HISTORY}
    assert late_probability(promised_at=shipped_at + 170 * HOUR, **state) == pytest.approx(0.6)
    assert late_probability(promised_at=shipped_at + 200 * HOUR, **state) == 0
    assert late_probability(promised_at=NOW - HOUR, **state) == 1
    assert predict_eta(promised_at=shipped_at + 170 * HOUR, **state) > shipped_at + 170 * HOUR
    # Not handed over: the whole transit is ahead; 100 h left, 10 of 20 deliveries took longer.
    assert late_probability(
        now=NOW, shipped_at=None, promised_at=NOW + 100 * HOUR, distribution=HISTORY
    ) == pytest.approx(0.5)


def test_late_probability_without_history_is_the_fallback_verdict():
    state = {"now": NOW, "shipped_at": hours_ago(5), "distribution": None}
    assert late_probability(promised_at=NOW + HOUR, carrier_eta=NOW + 9 * HOUR, **state) == 1
    assert late_probability(promised_at=NOW + HOUR, **state) == 0


# --- The periodic refresh -----------------------------------------------------------------


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def customer(db):
    return factories.CustomerFactory()


@pytest.fixture
def lane(db, customer):
    """The lane of the module docstring, with its 20 deliveries of the last weeks."""
    lane = factories.LaneFactory(carrier=factories.CarrierFactory(code="fastway"))
    for hours in LANE_HOURS:
        _delivered(lane, customer, transit_hours=hours)
    return lane


def _delivered(lane: Lane, customer, *, transit_hours: float) -> Shipment:
    delivered_at = NOW - 10 * 24 * HOUR
    return factories.ShipmentFactory(
        carrier=lane.carrier,
        lane=lane,
        customer=customer,
        status=ShipmentStatus.DELIVERED,
        shipped_at=delivered_at - transit_hours * HOUR,
        delivered_at=delivered_at,
        promised_at=delivered_at,
    )


def _active(lane: Lane | None, customer, **kwargs) -> Shipment:
    kwargs.setdefault("shipped_at", hours_ago(150))
    carrier = kwargs.pop("carrier", None) or lane.carrier
    return factories.ShipmentFactory(carrier=carrier, lane=lane, customer=customer, **kwargs)


def _eta(shipment: Shipment) -> dt.datetime | None:
    return Shipment.objects.values_list("predicted_eta", flat=True).get(id=shipment.id)


def test_it_predicts_every_active_shipment_from_its_lane(lane, customer):
    past_median = _active(lane, customer, shipped_at=hours_ago(150))
    fresh = _active(lane, customer, shipped_at=hours_ago(5), status=ShipmentStatus.INFO_RECEIVED)
    waiting = _active(lane, customer, shipped_at=None)

    assert refresh_predicted_etas(now=NOW) == 3

    assert _eta(past_median) == hours_ago(150) + 180 * HOUR
    assert _eta(fresh) == hours_ago(5) + 100 * HOUR
    assert _eta(waiting) == NOW + 100 * HOUR


def test_a_thin_lane_borrows_the_carriers_history_then_everyones(lane, customer):
    # Five 500 h deliveries are too few to trust: the carrier's 25 deliveries decide, median
    # (13th of 25) 130 h. Another carrier without any history borrows all 25 too.
    thin = factories.LaneFactory(carrier=lane.carrier, destination_region="BR-AM")
    for _ in range(5):
        _delivered(thin, customer, transit_hours=500)
    on_thin_lane = _active(thin, customer, shipped_at=hours_ago(1))
    without_lane = _active(None, customer, carrier=lane.carrier, shipped_at=hours_ago(1))
    newcomer = _active(
        None, customer, carrier=factories.CarrierFactory(code="newco"), shipped_at=hours_ago(1)
    )
    express = _active(lane, customer, service_level="express", shipped_at=hours_ago(1))

    refresh_predicted_etas(now=NOW)

    assert _eta(on_thin_lane) == hours_ago(1) + 130 * HOUR
    assert _eta(without_lane) == hours_ago(1) + 130 * HOUR
    assert _eta(newcomer) == hours_ago(1) + 130 * HOUR
    # Its lane has history: the lane wins over the carrier's (empty) express history.
    assert _eta(express) == hours_ago(1) + 100 * HOUR


def test_with_no_history_at_all_it_uses_the_carrier_eta_or_the_promise(customer):
    carrier = factories.CarrierFactory(code="newco")
    with_estimate = _active(
        None, customer, carrier=carrier, carrier_eta=NOW + 30 * HOUR, promised_at=NOW + 50 * HOUR
    )
    without = _active(None, customer, carrier=carrier, promised_at=NOW + 50 * HOUR)

    refresh_predicted_etas(now=NOW)

    assert _eta(with_estimate) == NOW + 30 * HOUR
    assert _eta(without) == NOW + 50 * HOUR


def test_a_stale_last_scan_gives_a_later_eta_than_a_fresh_one(lane, customer):
    fresh = _active(lane, customer, last_event_at=hours_ago(3))
    stale = _active(lane, customer, last_event_at=hours_ago(100))

    refresh_predicted_etas(now=NOW)

    assert _eta(stale) == _eta(fresh) + 28 * HOUR


def test_delivered_returned_and_expired_shipments_are_untouched(lane, customer):
    before = NOW - 99 * HOUR
    finished = [
        _active(lane, customer, status=status, predicted_eta=before, delivered_at=hours_ago(1))
        for status in (ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED, ShipmentStatus.EXPIRED)
    ]

    assert refresh_predicted_etas(now=NOW) == 0

    assert [_eta(shipment) for shipment in finished] == [before] * 3


def test_running_it_twice_changes_nothing(lane, customer):
    for hours in (1, 50, 150, 400):
        _active(lane, customer, shipped_at=hours_ago(hours), last_event_at=hours_ago(hours))
    assert refresh_predicted_etas(now=NOW) == 4
    first = list(Shipment.objects.order_by("id").values("id", "predicted_eta", "updated_at"))

    assert refresh_predicted_etas(now=NOW) == 0

    assert list(Shipment.objects.order_by("id").values("id", "predicted_eta", "updated_at")) == (
        first
    )


def test_it_walks_the_shipments_page_by_page(lane, customer, monkeypatch):
    monkeypatch.setattr(eta, "CHUNK_SIZE", 2)
    shipments = [_active(lane, customer, shipped_at=hours_ago(hours)) for hours in range(1, 6)]

    assert refresh_predicted_etas(now=NOW) == 5

    assert all(_eta(shipment) is not None for shipment in shipments)


@pytest.mark.parametrize("active", [2, 40])
def test_the_refresh_runs_the_same_queries_whatever_the_number_of_shipments(
    lane, customer, active, django_assert_num_queries
):
    for index in range(active):
        _active(lane, customer, shipped_at=hours_ago(index))

    # 1-3 lane, carrier and global quantile ranks, 4 one page of active shipments,
    # 5 one write of the changed ones.
    with django_assert_num_queries(5):
        assert refresh_predicted_etas(now=NOW) == active
    # Nothing changed: the same reads, no write.
    with django_assert_num_queries(4):
        assert refresh_predicted_etas(now=NOW) == 0


@pytest.mark.postgres
def test_a_parcel_delivered_while_the_refresh_runs_keeps_its_eta(lane, customer, monkeypatch):
    shipment = _active(lane, customer)
    predict = eta.predict_eta

    def delivered_meanwhile(**state):
        # A webhook marks the parcel delivered between the page's read and its write.
        Shipment.objects.filter(id=shipment.id).update(
            status=ShipmentStatus.DELIVERED, delivered_at=NOW
        )
        return predict(**state)

    monkeypatch.setattr(eta, "predict_eta", delivered_meanwhile)

    refresh_predicted_etas(now=NOW)

    assert _eta(shipment) is None
