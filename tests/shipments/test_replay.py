"""The warnings replay (shipments/replay.py, `manage.py replay_warnings`) on a hand-made history
in the Olist layout, written to tmp_path.

The history (Sao Paulo local times, UTC-3 in September 2017; one seller in SP, customers in RJ):

    background  10 orders handed over 2017-08-21 10:00, delivered 48 h later: the lane's history
    A ontime    handed over 09-11 10:00, delivered 09-13 10:00            promised 09-20
    B late      handed over 09-11 10:00, delivered 09-22 10:00 (late)      promised 09-20
    C lost      handed over 09-11 10:00, never delivered (late)           promised 09-20
    D evening   handed over 09-17 10:00, delivered 09-20 20:00: on time,   promised 09-20
                since a date-only promise lasts until the end of its day
    E late buy  bought 09-18 10:00 (after the 72 h and 120 h moments), handed over 09-18
                12:00, delivered 09-25 (late)                              promised 09-20
    F cancelled never handed over (not a parcel)                           promised 09-20
    G later     like A but promised 09-25 (outside the window)
    H no item   no seller, so no lane: not imported

Window: promises on 2017-09-20. The promise is 09-21 02:59:59.999999 UTC; the horizons' moments
T are 09-20 03:00 UTC (24 h), 09-18 03:00 (72 h), 09-16 03:00 (120 h), minus that microsecond.
Clock: daily at 00:00 UTC from 09-15 (5 days before the window: the 120 h horizon) to 09-20.
No scans, so the orange rule (no update for 72 h since the hand-over) warns B and C at the
first step, 09-15 00:00 (handed over 09-11 13:00 UTC); D and E are not 72 h past their
hand-over by the last step. Hand counts, per horizon:

    horizon  counted        late     naive flags       product flags
    120 h    A B C D        B C      B C D  (2/3, 2/2)  B C  (2/2, 2/2)
     72 h    A B C D        B C      B C D  (2/3, 2/2)  B C  (2/2, 2/2)
     24 h    A B C D E      B C E    B C D E (3/4, 3/3) B C  (2/2, 2/3)
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import uuid
from pathlib import Path

import psycopg
import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from shipments import replay
from shipments.models import DelayLevelChange, Shipment, ShipmentStatus
from shipments.olist import load_orders
from tests import factories

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
WINDOW = dt.date(2017, 9, 20)
# The end of a Sao Paulo day (UTC-3): the replay steps at the moments promises end.
FIRST_STEP = dt.datetime(2017, 9, 16, 2, 59, 59, 999999, tzinfo=dt.UTC)
SELLER = "s1"

# order id -> (status, purchased, handed over, delivered, promised day), local Sao Paulo times.
HISTORY = {
    **{
        f"bg{n:02d}": (
            "delivered",
            "2017-08-20 10:00:00",
            "2017-08-21 10:00:00",
            "2017-08-23 10:00:00",
            "2017-09-01",
        )
        for n in range(10)
    },
    "A": ("delivered", "2017-09-10 10:00:00", "2017-09-11 10:00:00", "2017-09-13 10:00:00", None),
    "B": ("delivered", "2017-09-10 10:00:00", "2017-09-11 10:00:00", "2017-09-22 10:00:00", None),
    "C": ("shipped", "2017-09-10 10:00:00", "2017-09-11 10:00:00", "", None),
    "D": ("delivered", "2017-09-12 10:00:00", "2017-09-17 10:00:00", "2017-09-20 20:00:00", None),
    "E": ("delivered", "2017-09-18 10:00:00", "2017-09-18 12:00:00", "2017-09-25 10:00:00", None),
    "F": ("canceled", "2017-09-10 10:00:00", "", "", None),
    "G": (
        "delivered",
        "2017-09-10 10:00:00",
        "2017-09-11 10:00:00",
        "2017-09-13 10:00:00",
        "2017-09-25",
    ),
    "H": ("unavailable", "2017-09-10 10:00:00", "", "", None),
}
NO_ITEM = {"H"}


def write_history(folder: Path, history: dict = HISTORY) -> Path:
    """The four CSV files the loader reads, in Olist's columns."""
    folder.mkdir(parents=True, exist_ok=True)
    tables = {
        "orders": [
            "order_id",
            "customer_id",
            "order_status",
            "order_purchase_timestamp",
            "order_approved_at",
            "order_delivered_carrier_date",
            "order_delivered_customer_date",
            "order_estimated_delivery_date",
        ],
        "order_items": [
            "order_id",
            "order_item_id",
            "product_id",
            "seller_id",
            "shipping_limit_date",
            "price",
            "freight_value",
        ],
        "sellers": ["seller_id", "seller_zip_code_prefix", "seller_city", "seller_state"],
        "customers": [
            "customer_id",
            "customer_unique_id",
            "customer_zip_code_prefix",
            "customer_city",
            "customer_state",
        ],
    }
    rows: dict[str, list[list[str]]] = {table: [] for table in tables}
    rows["sellers"].append([SELLER, "01001", "sao paulo", "SP"])
    for order_id, (status, bought, shipped, delivered, promised) in history.items():
        customer = f"c-{order_id}"
        promise = f"{promised or WINDOW.isoformat()} 00:00:00"  # as Olist writes a date
        rows["orders"].append(
            [order_id, customer, status, bought, bought, shipped, delivered, promise]
        )
        rows["customers"].append([customer, f"u-{order_id}", "20000", "rio de janeiro", "RJ"])
        if order_id not in NO_ITEM:
            rows["order_items"].append([order_id, "1", "p1", SELLER, bought, "10.00", "5.00"])
    for table, header in tables.items():
        with (folder / f"olist_{table}_dataset.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows[table])
    return folder


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return write_history(tmp_path / "olist")


def run(data_dir: Path, **options) -> replay.ReplayReport:
    return replay.replay_warnings(load_orders(data_dir), start=WINDOW, end=WINDOW, **options)


def figures(scores) -> dict[int, tuple[int, int, int, int]]:
    return {
        horizon: (score.orders, score.late, score.flagged, score.flagged_late)
        for horizon, score in scores.items()
    }


@pytest.mark.django_db
def test_the_naive_rule_and_the_products_warnings_match_the_hand_counts(data_dir, frozen_now):
    report = run(data_dir)

    # (counted, late, flagged, flagged and late): the module docstring's table.
    assert figures(report.naive) == {24: (5, 3, 4, 3), 72: (4, 2, 3, 2), 120: (4, 2, 3, 2)}
    assert report.naive[72].precision == pytest.approx(2 / 3)
    assert report.naive[24].precision == pytest.approx(3 / 4)
    assert report.naive[24].recall == 1.0
    assert figures(report.product) == {24: (5, 3, 2, 2), 72: (4, 2, 2, 2), 120: (4, 2, 2, 2)}
    assert report.product[24].recall == pytest.approx(2 / 3)
    assert report.product[72].precision == 1.0
    assert report.first_levels == {"orange": 2}
    assert (report.parcels, report.late) == (5, 3)
    # 6 daily steps: the 120 h moment of the first promise is covered.
    assert report.steps == 5  # 120, 96, 72, 48 and 24 h before the promises of 09-20
    assert report.clock_start == FIRST_STEP
    assert report.clock_end == FIRST_STEP + dt.timedelta(days=4)


@pytest.mark.django_db
def test_orders_go_through_the_import_with_end_of_day_promises_and_without_sellerless_ones(
    data_dir, frozen_now
):
    report = run(data_dir)

    assert (report.orders, report.imported, report.not_imported) == (len(HISTORY), 17, 1)
    assert any("H: no item" in message for message in report.messages)
    evening = Shipment.objects.get(tracking_number="D")
    # 2017-09-20 as a date: the end of that day in Sao Paulo (UTC-3), as the import reads it.
    assert evening.promised_at == dt.datetime(2017, 9, 21, 2, 59, 59, 999999, tzinfo=dt.UTC)
    assert evening.lane.origin_region == "SP"
    assert evening.lane.destination_region == "RJ"
    assert evening.lane.carrier.code == "olist"
    assert evening.shipped_at == dt.datetime(2017, 9, 17, 13, 0, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_a_parcel_delivered_after_the_moment_is_judged_as_still_travelling(data_dir, frozen_now):
    run(data_dir)

    late = Shipment.objects.get(tracking_number="B")
    first = DelayLevelChange.objects.filter(shipment=late).earliest("changed_at")
    # The data says delivered on 09-22; on 09-15 the pass did not know it and warned.
    assert late.delivered_at == dt.datetime(2017, 9, 22, 13, 0, tzinfo=dt.UTC)
    assert late.status == ShipmentStatus.DELIVERED
    assert (first.changed_at, first.from_level, first.to_level) == (FIRST_STEP, "none", "orange")
    # A parcel delivered before the first step was never judged.
    assert not DelayLevelChange.objects.filter(shipment__tracking_number="A").exists()


def level_history() -> list[tuple]:
    """Every level change the replay recorded, but those of the "slow" orders."""
    return sorted(
        DelayLevelChange.objects.exclude(shipment__tracking_number__startswith="slow").values_list(
            "shipment__tracking_number", "changed_at", "from_level", "to_level", "rule_key"
        )
    )


@pytest.mark.django_db
def test_deliveries_after_the_clock_change_nothing_it_said(tmp_path, frozen_now):
    """Later data, a slower lane history and a later delivery, must not move any warning."""
    later = dict(HISTORY)
    # Ten very slow deliveries on the lane, all after the last step: with them, the lane's
    # mean and the predicted ETAs would be far later (red instead of orange for B and C).
    for n in range(10):
        later[f"slow{n}"] = (
            "delivered",
            "2017-08-01 10:00:00",
            "2017-08-02 10:00:00",
            "2017-09-24 10:00:00",
            "2017-08-20",
        )
    later["B"] = ("delivered", *HISTORY["B"][1:3], "2017-10-30 10:00:00", None)
    plain = run(write_history(tmp_path / "plain"))
    plain_levels = level_history()
    Shipment.objects.all().delete()

    changed = run(write_history(tmp_path / "later", later))

    assert level_history() == plain_levels
    assert figures(changed.product) == figures(plain.product)
    assert {change[0] for change in plain_levels} == {"B", "C"}
    assert {change[3] for change in plain_levels} == {"orange"}


@pytest.mark.django_db
def test_it_refuses_a_database_that_holds_shipments(data_dir, frozen_now):
    factories.ShipmentFactory()

    with pytest.raises(replay.ReplayRefused):
        run(data_dir)

    assert Shipment.objects.count() == 1


def test_the_clock_covers_the_longest_horizon_of_the_first_promise():
    moments = replay.clock(
        start=WINDOW, end=WINDOW, step=dt.timedelta(hours=12), horizons=[24, 72, 120]
    )

    assert moments[0] == FIRST_STEP  # 120 h before the first promise
    assert moments[1] - moments[0] == dt.timedelta(hours=12)
    # The last moment a 24 h horizon asks about: 09-20 02:59:59 UTC.
    assert moments[-1] == dt.datetime(2017, 9, 20, 2, 59, 59, 999999, tzinfo=dt.UTC)


@pytest.mark.django_db(transaction=True)
def test_the_command_replays_in_a_throwaway_database_and_prints_the_table(data_dir, tmp_path):
    out = io.StringIO()
    figures_file = tmp_path / "figures.json"

    call_command(
        "replay_warnings",
        "--data",
        str(data_dir),
        "--from",
        "2017-09-20",
        "--to",
        "2017-09-20",
        "--json",
        str(figures_file),
        stdout=out,
        stderr=io.StringIO(),
    )

    result = json.loads(figures_file.read_text())
    assert result["naive"]["72"] == {
        "orders": 4,
        "late": 2,
        "flagged": 3,
        "flagged_late": 2,
        "precision": 0.6667,
        "recall": 1.0,
    }
    assert result["product"]["24"]["flagged_late"] == 2
    assert "     72h  naive          4     2       3         2     0.667  1.000" in out.getvalue()
    # The test database (this process's) was never written.
    assert not Shipment.objects.exists()


def test_the_internal_option_runs_nothing_outside_a_throwaway_database(data_dir, tmp_path):
    with pytest.raises(CommandError, match="internal"):
        call_command(
            "replay_warnings",
            "--data",
            str(data_dir),
            "--from",
            "2017-09-20",
            "--to",
            "2017-09-20",
            "--result-file",
            str(tmp_path / "out.json"),
        )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--from", "20 Sept", "--from: expected a date"),
        ("--step", "1w", "--step"),
        ("--horizons", "24,-1", "--horizons"),
    ],
)
def test_it_names_a_malformed_option(data_dir, option, value, message):
    options = {"--from": "2017-09-20", "--step": "1d", "--horizons": "24"} | {option: value}
    args = [item for pair in options.items() for item in pair]

    with pytest.raises(CommandError, match=message):
        call_command("replay_warnings", "--data", str(data_dir), "--to", "2017-09-20", *args)


def _server_url(name: str) -> str:
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    return f"{base}/{name}"


def _exists(name: str) -> bool:
    with psycopg.connect(_server_url("postgres"), autocommit=True) as server:
        return bool(
            server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        )


@pytest.mark.postgres
def test_it_refuses_a_postgresql_database_that_exists(data_dir):
    with pytest.raises(CommandError, match="exists"):
        call_command(
            "replay_warnings",
            "--data",
            str(data_dir),
            "--from",
            "2017-09-20",
            "--to",
            "2017-09-20",
            "--database-url",
            _server_url("postgres"),
        )


@pytest.mark.postgres
def test_it_replays_in_a_new_postgresql_database_and_drops_it(data_dir):
    name = f"replay_test_{uuid.uuid4().hex[:12]}"
    out = io.StringIO()

    call_command(
        "replay_warnings",
        "--data",
        str(data_dir),
        "--from",
        "2017-09-20",
        "--to",
        "2017-09-20",
        "--database-url",
        _server_url(name),
        stdout=out,
        stderr=io.StringIO(),
    )

    assert "     24h  product        5     3       2         2     1.000  0.667" in out.getvalue()
    assert not _exists(name)


@pytest.mark.django_db
def test_an_order_bought_before_the_moment_is_judged_before_its_hand_over(tmp_path, frozen_now):
    # Bought 09-01, promised 09-05, handed over only on 09-19: on 09-15 a live pass sees an
    # order at the merchant, predicted to leave now and take the lane's 48 h (ETA 09-17),
    # more than 7 days after its promise: red. Whether it is handed over later is not known
    # on 09-15 (an existence test on the hand-over time would hide it until 09-20).
    history = {
        **HISTORY,
        "I": ("delivered", "2017-09-01 10:00:00", "2017-09-19 10:00:00", "2017-09-21 10:00:00")
        + ("2017-09-05",),
    }

    run(write_history(tmp_path / "olist", history))

    first = DelayLevelChange.objects.filter(shipment__tracking_number="I").earliest("changed_at")
    assert (first.changed_at, first.to_level) == (FIRST_STEP, "red")


@pytest.mark.django_db
def test_without_enough_history_the_model_column_says_why(data_dir, frozen_now):
    report = run(data_dir, with_model=True)
    assert report.model == {}
    assert report.model_note.startswith("no model:")
    assert "LATE_MODEL_MIN_TRAINING_SHIPMENTS" in report.model_note


class _FakeModel:
    version = 7
    threshold = 0.5
    thresholds = {"24": 0.5, "72": 0.5, "120": 0.5}


@pytest.mark.django_db
@pytest.mark.parametrize("probability", [0.9, 0.1])
def test_the_models_warnings_are_asked_at_every_step_and_counted_like_the_products(
    data_dir, frozen_now, monkeypatch, probability
):
    """Trained on the history before the clock's first moment, asked through the pass's seam
    at every step: a model sure of every parcel warns exactly as the naive rule does (every
    parcel not delivered by T was asked at a step before T), one sure of none warns nobody."""
    from shipments import risk
    from shipments.risk.training import TrainingResult

    trained_as_of, asked = [], []
    monkeypatch.setattr(
        risk,
        "train",
        lambda *, as_of: trained_as_of.append(as_of) or TrainingResult(_FakeModel(), ""),
    )

    def score(ids, *, now, model, from_events, history):
        assert model.version == 7
        assert from_events
        assert history is not None
        asked.append(now)
        return {shipment_id: probability for shipment_id in ids}

    monkeypatch.setattr(risk, "score", score)
    report = run(data_dir, with_model=True)

    assert trained_as_of == [report.clock_start]
    assert sorted(set(asked)) == [
        report.clock_start + dt.timedelta(days=day) for day in range(report.steps)
    ]
    assert report.model_note.startswith("model v7, trained on history before ")
    if probability > 0.5:
        assert figures(report.model) == figures(report.naive)
    else:
        assert all(score.flagged == 0 for score in report.model.values())
    assert report.as_dict()["model"]["72"]["orders"] == report.naive[72].orders
