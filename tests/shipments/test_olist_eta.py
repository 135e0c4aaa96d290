"""Warning quality of the predicted ETA on real Olist orders, read in place from
../shared/data/olist (shipments/olist.py, docs/PERFORMANCE.md). Needs no database.
"""

from __future__ import annotations

import datetime as dt

import pytest

from shipments import olist
from shipments.olist import OlistOrder, RollingHistory

DATA_DIR = olist.default_data_dir()
HOUR = dt.timedelta(hours=1)

# Measured on the 13,103-order sample (docs/PERFORMANCE.md); the guard allows 0.02 of noise.
MEASURED_72H_PRECISION = 0.684
MEASURED_72H_RECALL = 0.741
MARGIN = 0.02

needs_data = pytest.mark.skipif(
    bool(olist.missing_files(DATA_DIR)),
    reason=f"Olist sample not found in {DATA_DIR} (shared/data/olist next to the repository)",
)


@pytest.fixture(scope="module")
def orders() -> list[OlistOrder]:
    return olist.load_orders(DATA_DIR)


@pytest.fixture(scope="module")
def report(orders) -> olist.AccuracyReport:
    return olist.accuracy_report(orders)


@needs_data
def test_the_loader_reads_every_order_with_its_lane_and_utc_dates(orders):
    delivered = [order for order in orders if order.is_delivered]
    lanes = {order.lane for order in delivered}

    assert len(orders) == 13_103
    assert len(delivered) == 12_753
    assert sum(order.is_late for order in delivered) / len(delivered) == pytest.approx(
        0.065, abs=0.003
    )
    assert len(lanes) == 245
    assert max(lanes, key=lambda lane: sum(o.lane == lane for o in delivered)) == ("SP", "SP")
    first = next(order for order in orders if order.order_id.startswith("bfbd0f9b"))
    # 2016-11-07 17:11:53 in Sao Paulo, on summer time (UTC-2) that day.
    assert first.shipped_at == dt.datetime(2016, 11, 7, 19, 11, 53, tzinfo=dt.UTC)
    assert first.lane == ("PR", "SP")


@needs_data
@pytest.mark.parametrize(("horizon", "precision"), [(24, 0.87), (72, 0.65), (120, 0.49)])
def test_the_naive_rule_matches_the_domain_brief(report, horizon, precision):
    score = report.naive_all[horizon]

    assert score.precision == pytest.approx(precision, abs=0.02)
    assert score.recall == pytest.approx(1.0, abs=0.02)


@needs_data
def test_the_model_keeps_its_measured_quality_72_hours_ahead(report):
    model, naive = report.eta_rule[72], report.naive[72]

    assert model.precision >= MEASURED_72H_PRECISION - MARGIN
    assert model.recall >= MEASURED_72H_RECALL - MARGIN
    assert model.precision > naive.precision
    assert report.eta_rule[24].recall >= 0.97


@needs_data
def test_thresholds_are_tuned_on_orders_resolved_before_the_evaluation_period(orders):
    training = olist.training_orders(orders)
    evaluation = olist.evaluation_orders(orders)

    assert max(order.promised_at for order in training) < olist.EVALUATION_CUTOFF
    assert min(order.purchased_at for order in evaluation) >= olist.EVALUATION_CUTOFF


def _order(order_id: str, *, delivered: dt.datetime, transit_hours: float) -> OlistOrder:
    return OlistOrder(
        order_id=order_id,
        status="delivered",
        purchased_at=delivered - (transit_hours + 24) * HOUR,
        shipped_at=delivered - transit_hours * HOUR,
        delivered_at=delivered,
        promised_at=delivered,
        origin_region="SP",
        destination_region="RJ",
    )


def test_the_replayed_history_only_knows_deliveries_before_the_day_asked():
    day = dt.datetime(2017, 10, 2, tzinfo=dt.UTC)
    history = RollingHistory(
        [
            _order("too-old", delivered=day - dt.timedelta(days=11), transit_hours=1),
            _order("in-window", delivered=day - dt.timedelta(days=3), transit_hours=2),
            _order("same-day", delivered=day + HOUR, transit_hours=3),
        ],
        window_days=10,
    )

    known = history.at(day + 5 * HOUR)

    assert known.by_lane[("SP", "RJ")].quantiles == (2.0,) * 100
    assert history.at(day + 25 * HOUR).by_lane[("SP", "RJ")].count == 2
    with pytest.raises(ValueError, match="forward"):
        history.at(day)
