"""Lane statistics and carrier reliability from delivered history (shipments/lanes.py)."""

from __future__ import annotations

import datetime as dt
import random

import pytest
import time_machine
from django.db import connection

from shipments.lanes import (
    DEFAULT_WINDOW_DAYS,
    CarrierReliability,
    TransitDistribution,
    carrier_reliability,
    lane_statistics_sql,
    refresh_carrier_reliability,
    refresh_lane_statistics,
    transit_distributions,
)
from shipments.models import Carrier, Lane, Shipment, ShipmentStatus
from tests import factories

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
WINDOW = dt.timedelta(days=DEFAULT_WINDOW_DAYS)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def lane(db):
    return _empty_lane(factories.CarrierFactory(code="fastway"), "DE-BE")


def _empty_lane(carrier: Carrier, destination: str, **kwargs) -> Lane:
    return factories.LaneFactory(
        carrier=carrier,
        destination_region=destination,
        delivered_count=0,
        mean_transit_hours=None,
        p50_transit_hours=None,
        p90_transit_hours=None,
        **kwargs,
    )


def deliver(
    lane: Lane,
    *,
    transit_hours: float | None,
    delivered_at: dt.datetime = NOW - 24 * HOUR,
    late_hours: float = -12,
    customer=None,
) -> Shipment:
    """A delivered shipment of the lane; ``late_hours`` > 0 means after the promise."""
    return factories.ShipmentFactory(
        carrier=lane.carrier,
        lane=lane,
        service_level=lane.service_level,
        customer=customer or factories.CustomerFactory(),
        status=ShipmentStatus.DELIVERED,
        shipped_at=None if transit_hours is None else delivered_at - transit_hours * HOUR,
        delivered_at=delivered_at,
        promised_at=delivered_at - late_hours * HOUR,
    )


def test_it_computes_count_mean_nearest_rank_percentiles_and_on_time_rate(lane):
    # Five transits: mean 96 h; nearest rank p50 = 3rd of 5 (72), p90 = 5th of 5 (240).
    for transit, late in ((24, -1), (48, -5), (72, 3), (96, -2), (240, 30)):
        deliver(lane, transit_hours=transit, late_hours=late)

    assert refresh_lane_statistics(now=NOW) == 1

    lane.refresh_from_db()
    assert lane.delivered_count == 5
    assert lane.mean_transit_hours == pytest.approx(96.0)
    assert lane.p50_transit_hours == pytest.approx(72.0)
    assert lane.p90_transit_hours == pytest.approx(240.0)
    assert lane.on_time_rate == pytest.approx(3 / 5)
    assert lane.stats_updated_at == NOW


def test_a_delivery_exactly_at_the_window_start_counts_and_one_second_earlier_does_not(lane):
    deliver(lane, transit_hours=10, delivered_at=NOW - WINDOW)
    deliver(lane, transit_hours=1000, delivered_at=NOW - WINDOW - dt.timedelta(seconds=1))

    refresh_lane_statistics(now=NOW)

    lane.refresh_from_db()
    assert lane.delivered_count == 1
    assert lane.mean_transit_hours == pytest.approx(10.0)


def test_the_window_length_is_a_parameter(lane):
    deliver(lane, transit_hours=10, delivered_at=NOW - dt.timedelta(days=20))
    deliver(lane, transit_hours=30, delivered_at=NOW - dt.timedelta(days=5))

    refresh_lane_statistics(now=NOW, window_days=10)

    lane.refresh_from_db()
    assert (lane.delivered_count, lane.mean_transit_hours) == (1, pytest.approx(30.0))


def test_it_ignores_deliveries_without_handover_or_stamped_before_it_and_parcels_in_transit(
    lane,
):
    deliver(lane, transit_hours=50)
    deliver(lane, transit_hours=None)  # never handed over: no transit time
    deliver(lane, transit_hours=-3)  # delivered before hand-over: a data error
    factories.ShipmentFactory(carrier=lane.carrier, lane=lane, shipped_at=NOW - 500 * HOUR)

    refresh_lane_statistics(now=NOW)

    lane.refresh_from_db()
    assert (lane.delivered_count, lane.p90_transit_hours) == (1, pytest.approx(50.0))


def test_lanes_without_history_keep_nulls_and_stale_statistics_are_emptied(lane):
    quiet = _empty_lane(lane.carrier, "DE-HH")
    stale = factories.LaneFactory(carrier=lane.carrier, destination_region="DE-MU")
    deliver(stale, transit_hours=70, delivered_at=NOW - WINDOW - 24 * HOUR)
    deliver(lane, transit_hours=50)

    assert refresh_lane_statistics(now=NOW) == 2  # `lane` written, `stale` emptied

    quiet.refresh_from_db()
    assert quiet.delivered_count == 0
    assert quiet.mean_transit_hours is None
    assert quiet.p50_transit_hours is None
    assert quiet.on_time_rate is None
    assert quiet.stats_updated_at is None
    stale.refresh_from_db()
    assert stale.delivered_count == 0
    assert stale.p90_transit_hours is None
    assert stale.stats_updated_at == NOW


def test_lanes_of_other_carriers_and_service_levels_are_kept_apart(lane):
    express = _empty_lane(lane.carrier, lane.destination_region, service_level="express")
    rival = _empty_lane(factories.CarrierFactory(code="rival"), lane.destination_region)
    deliver(lane, transit_hours=100)
    deliver(express, transit_hours=20)
    deliver(rival, transit_hours=60)

    refresh_lane_statistics(now=NOW)

    means = dict(Lane.objects.values_list("id", "mean_transit_hours"))
    assert means == {lane.id: 100.0, express.id: 20.0, rival.id: 60.0}


def test_running_it_twice_changes_nothing(lane):
    for transit in (12, 30, 45):
        deliver(lane, transit_hours=transit)
    refresh_lane_statistics(now=NOW)
    first = list(Lane.objects.values())

    refresh_lane_statistics(now=NOW)

    assert list(Lane.objects.values()) == first


def test_the_sql_quantile_table_equals_the_nearest_rank_definition(lane):
    rng = random.Random(7)
    customer = factories.CustomerFactory()
    hours = sorted(rng.randrange(1, 60 * 400) / 60 for _ in range(137))
    for transit in hours:
        deliver(lane, transit_hours=transit, customer=customer)

    table = transit_distributions(now=NOW, grouping="lane")[lane.id]

    assert table.count == 137
    assert table.quantiles == pytest.approx(TransitDistribution.from_sorted(hours).quantiles)
    assert table.percentile(50) == pytest.approx(hours[68])  # rank ceil(0.5 * 137) = 69
    assert table.percentile(90) == pytest.approx(hours[123])  # rank ceil(0.9 * 137) = 124


def test_carrier_reliability_counts_on_time_rate_and_mean_lateness_of_late_parcels(lane):
    other_lane = _empty_lane(lane.carrier, "DE-HH")
    deliver(lane, transit_hours=40, late_hours=-5)
    deliver(lane, transit_hours=40, late_hours=0)  # exactly at the promise: on time
    deliver(lane, transit_hours=None, late_hours=10)  # no hand-over date: still a promise kept
    deliver(other_lane, transit_hours=90, late_hours=30)
    deliver(lane, transit_hours=40, late_hours=99, delivered_at=NOW - WINDOW - HOUR)  # outside
    idle = factories.CarrierFactory(code="idle", on_time_rate=0.5, reliability_sample=9)

    refresh_lane_statistics(now=NOW)

    carrier = Carrier.objects.get(id=lane.carrier_id)
    assert carrier.reliability_sample == 4
    assert carrier.on_time_rate == pytest.approx(2 / 4)
    assert carrier.mean_lateness_hours == pytest.approx((10 + 30) / 2)
    assert carrier.reliability_updated_at == NOW
    idle.refresh_from_db()
    assert (idle.reliability_sample, idle.on_time_rate, idle.mean_lateness_hours) == (0, None, None)


def test_a_carrier_that_was_never_late_has_no_mean_lateness(lane):
    deliver(lane, transit_hours=40, late_hours=-5)

    assert refresh_carrier_reliability(now=NOW) == 1

    carrier = Carrier.objects.get(id=lane.carrier_id)
    assert (carrier.on_time_rate, carrier.mean_lateness_hours) == (1.0, None)


def test_the_figures_as_of_a_past_moment_leave_out_later_deliveries_and_store_nothing(lane):
    then = NOW - 72 * HOUR
    deliver(lane, transit_hours=24, delivered_at=then - HOUR, late_hours=-1)
    deliver(lane, transit_hours=48, delivered_at=then, late_hours=6)  # exactly at the moment
    deliver(lane, transit_hours=500, delivered_at=then + HOUR, late_hours=90)  # later
    adapt = connection.ops.adapt_datetimefield_value

    with connection.cursor() as cursor:
        cursor.execute(lane_statistics_sql(), [adapt(then - WINDOW), adapt(then)])
        rows = cursor.fetchall()
    reliability = carrier_reliability(now=then)
    quantiles = transit_distributions(now=then, grouping="lane")[lane.id]

    # lane, deliveries, mean transit, on time: what a refresh at `then` would have stored.
    assert [tuple(row) for row in rows] == [(lane.id, 2, pytest.approx(36.0), 1)]
    assert reliability == {
        lane.carrier_id: CarrierReliability(
            sample=2, on_time_rate=0.5, mean_lateness_hours=pytest.approx(6.0)
        )
    }
    assert (quantiles.count, quantiles.percentile(100)) == (2, 48.0)
    refresh_lane_statistics(now=then)
    lane.refresh_from_db()
    assert (lane.delivered_count, lane.mean_transit_hours) == (2, pytest.approx(36.0))
    carrier = Carrier.objects.get(id=lane.carrier_id)
    assert (carrier.reliability_sample, carrier.on_time_rate) == (2, 0.5)


@pytest.mark.parametrize("deliveries_per_lane", [3, 30])
def test_the_refresh_runs_the_same_queries_whatever_the_number_of_shipments(
    lane, deliveries_per_lane, django_assert_num_queries
):
    other_lane = _empty_lane(lane.carrier, "DE-HH")
    customer = factories.CustomerFactory()
    for index in range(deliveries_per_lane):
        deliver(lane, transit_hours=10 + index, customer=customer)
        deliver(other_lane, transit_hours=20 + index, customer=customer)

    # 1 lane aggregates, 2 lane quantile ranks, 3 bulk update of the lanes with history,
    # 4 empty the lanes without, 5 carrier aggregates, 6 carrier ids, 7 bulk update carriers;
    # plus the savepoint pair of the atomic block (the test runs inside a transaction).
    with django_assert_num_queries(9):
        assert refresh_lane_statistics(now=NOW) == 2
