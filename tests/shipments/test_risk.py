"""The late-delivery model (shipments/risk.py): features from what was known at T, training
with its window and figures, versions, scoring and its fallback, reasons in words.

The history used by most tests (``history``): one carrier, two lanes, parcels handed over
every day for 90 days before NOW, promised 5 days after hand-over.

- lane "fast" (CN-GD -> DE-BE) takes 2..6 days (cycling): late when it takes 6 days (1 in 5);
- lane "slow" (CN-GD -> FR-IDF) takes 4..8 days: late when it takes 6, 7 or 8 days (3 in 5).

So a parcel of the slow lane handed over 5 days ago with hours left to its promise looks late,
and one of the fast lane handed over yesterday looks on time.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from decimal import Decimal

import numpy as np
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from core.schedules import periodic_tasks
from shipments import risk
from shipments.eta import late_probability, load_transit_history
from shipments.lanes import TransitDistribution
from shipments.models import Lane, LateModel, Shipment, ShipmentStatus, TrackingEvent
from shipments.tasks import train_late_model_task
from tests import factories
from tests.shipments.conftest import TRAINING

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
PROMISE_DAYS = 5


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def training_settings(settings):
    for name, value in TRAINING.items():
        setattr(settings, name, value)
    return settings


_sequence = iter(range(10**6))


def shipment(world, lane: Lane, *, shipped_at, promised_at=None, delivered_at=None, **fields):
    """An unsaved shipment of ``lane`` (bulk_create them)."""
    number = next(_sequence)
    status = ShipmentStatus.DELIVERED if delivered_at else ShipmentStatus.IN_TRANSIT
    return Shipment(
        carrier=world["carrier"],
        tracking_number=f"R{number:08d}",
        order_number=f"O{number:08d}",
        customer=world["customer"],
        lane=lane,
        origin_region=lane.origin_region,
        destination_region=lane.destination_region,
        status=fields.pop("status", status),
        ordered_at=shipped_at - 12 * HOUR,
        shipped_at=shipped_at,
        promised_at=promised_at or shipped_at + PROMISE_DAYS * DAY,
        delivered_at=delivered_at,
        order_value=Decimal("40.00"),
        **fields,
    )


@pytest.fixture
def history(world):
    rows = []
    for day in range(1, 91):
        shipped = NOW - (day + 10) * DAY
        for offset in range(5):
            for lane, base in ((world["fast"], 2), (world["slow"], 4)):
                transit = (base + (day + offset) % 5) * DAY
                rows.append(
                    shipment(
                        world,
                        lane,
                        shipped_at=shipped + offset * HOUR,
                        delivered_at=shipped + offset * HOUR + transit,
                    )
                )
    Shipment.objects.bulk_create(rows)
    return world


def active(world, lane: Lane, *, shipped_ago, promised_in, **fields) -> Shipment:
    return factories.ShipmentFactory(
        carrier=world["carrier"],
        customer=world["customer"],
        lane=lane,
        shipped_at=NOW - shipped_ago,
        promised_at=NOW + promised_in,
        ordered_at=NOW - shipped_ago - 12 * HOUR,
        **fields,
    )


# --- The quantile rule, vectorised --------------------------------------------------------


def test_the_vectorised_quantile_rule_matches_eta_late_probability():
    distribution = TransitDistribution.from_sorted([10.0 * step for step in range(1, 21)])
    table = np.array([distribution.quantiles])
    states = [
        (None, 50.0),
        (30.0, 100.0),
        (95.0, 10.0),
        (150.0, 40.0),
        (250.0, 5.0),
        (60.0, -3.0),
        (None, 250.0),
    ]
    for elapsed, left in states:
        expected = late_probability(
            now=NOW,
            shipped_at=None if elapsed is None else NOW - elapsed * HOUR,
            promised_at=NOW + left * HOUR,
            distribution=distribution,
        )
        got = risk.quantile_late_probability(
            table,
            elapsed=np.array([np.nan if elapsed is None else elapsed]),
            time_left=np.array([left]),
        )[0]
        assert math.isclose(got, expected), (elapsed, left)


# --- Known at T only ----------------------------------------------------------------------


def test_the_rolling_history_of_training_equals_the_databases_history_at_a_day_start(
    history, frozen_now
):
    moment = (NOW - 20 * DAY).replace(hour=0)
    window = risk.TrainingWindow(
        history_from=NOW - 60 * DAY,
        validation_from=NOW - 30 * DAY,
        cutoff=NOW - 15 * DAY,
        as_of=NOW,
    )
    rolling = risk.RollingHistory(risk.load_training_history(window)).at(moment.timestamp())
    database = risk.load_history(now=moment)

    for lane in (history["fast"], history["slow"]):
        assert rolling.lane_on_time[lane.id] == database.lane_on_time[lane.id]
        np.testing.assert_allclose(
            rolling.quantiles[rolling.lane_rows[lane.id]],
            database.quantiles[database.lane_rows[lane.id]],
        )
    assert rolling.origin_on_time == database.origin_on_time
    assert rolling.overall_on_time == database.overall_on_time


def test_features_at_t_ignore_what_happened_after_t(history):
    moment = NOW - 3 * DAY
    parcel = active(history, history["slow"], shipped_ago=7 * DAY, promised_in=-2 * DAY + HOUR)
    parcel.shipped_at = moment - 4 * DAY
    parcel.promised_at = moment + 1 * DAY
    parcel.save()
    factories.TrackingEventFactory(shipment=parcel, occurred_at=moment - 2 * DAY)

    with time_machine.travel(NOW, tick=False):
        before = risk.features([parcel.pk], now=moment)[parcel.pk]
        score_before = risk.score([parcel.pk], now=moment)[parcel.pk]

        # After T: the parcel is scanned and delivered, the lane delivers slow parcels, the
        # lane's stored statistics change.
        factories.TrackingEventFactory(
            shipment=parcel, occurred_at=moment + HOUR, status=ShipmentStatus.EXCEPTION
        )
        Shipment.objects.filter(pk=parcel.pk).update(
            status=ShipmentStatus.DELIVERED,
            delivered_at=moment + 2 * HOUR,
            last_event_at=moment + 2 * HOUR,
        )
        Shipment.objects.bulk_create(
            [
                shipment(
                    history,
                    history["slow"],
                    shipped_at=moment - 20 * DAY,
                    delivered_at=moment + HOUR,
                )
                for _ in range(30)
            ]
        )
        Lane.objects.filter(pk=history["slow"].pk).update(
            p50_transit_hours=999, mean_transit_hours=999, on_time_rate=0.01
        )
        after = risk.features([parcel.pk], now=moment)[parcel.pk]
        score_after = risk.score([parcel.pk], now=moment)[parcel.pk]

    np.testing.assert_array_equal(before, after)
    assert score_before == score_after
    # And what T did know counts: the scan 2 days before T.
    assert before[risk.FEATURE_NAMES.index("days_since_news")] == pytest.approx(2.0)


def test_a_live_score_leaves_out_delivered_shipments(history, frozen_now):
    delivered = active(
        history,
        history["slow"],
        shipped_ago=5 * DAY,
        promised_in=DAY,
        status=ShipmentStatus.DELIVERED,
        delivered_at=NOW - HOUR,
    )
    moving = active(history, history["slow"], shipped_ago=5 * DAY, promised_in=DAY)

    assert set(risk.score([delivered.pk, moving.pk], now=NOW)) == {moving.pk}


# --- Without enough history ---------------------------------------------------------------


def test_without_enough_history_no_model_is_trained_and_scores_fall_back(
    world, training_settings, frozen_now
):
    training_settings.LATE_MODEL_MIN_TRAINING_SHIPMENTS = 10_000
    Shipment.objects.bulk_create(
        [
            shipment(
                world,
                world["fast"],
                shipped_at=NOW - (20 + day) * DAY,
                delivered_at=NOW - (16 + day) * DAY,
            )
            for day in range(30)
        ]
    )
    parcel = active(world, world["fast"], shipped_ago=3 * DAY, promised_in=2 * DAY)

    result = risk.train(as_of=NOW)
    scores = risk.score(Shipment.objects.filter(pk=parcel.pk), now=NOW)

    assert result.model is None
    assert "LATE_MODEL_MIN_TRAINING_SHIPMENTS" in result.reason
    assert not LateModel.objects.exists()
    assert scores.fallback is True
    assert scores.reason == risk.FALLBACK_NO_MODEL
    assert scores.version is None
    distribution = load_transit_history(now=NOW).for_shipment(
        lane_id=world["fast"].id, carrier_id=world["carrier"].id, service_level="standard"
    )
    assert scores[parcel.pk] == pytest.approx(
        late_probability(
            now=NOW,
            shipped_at=parcel.shipped_at,
            promised_at=parcel.promised_at,
            distribution=distribution,
        )
    )
    facts = risk.reasons(parcel, now=NOW)
    assert facts.fallback is True
    assert any("No trained model yet" in fact for fact in facts.facts)


def test_a_lane_without_any_history_falls_back_to_the_promise(world, frozen_now):
    parcel = active(world, world["fast"], shipped_ago=DAY, promised_in=2 * DAY)
    overdue = active(world, world["fast"], shipped_ago=9 * DAY, promised_in=-DAY)

    scores = risk.score([parcel.pk, overdue.pk], now=NOW)

    assert scores == {parcel.pk: 0.0, overdue.pk: 1.0}


# --- Training, versions, scoring ----------------------------------------------------------


def test_training_stores_a_versioned_model_with_its_window_and_figures(
    history, training_settings, frozen_now
):
    first = risk.train(as_of=NOW - 2 * DAY).model
    second = risk.train(as_of=NOW).model

    assert (first.version, second.version) == (1, 2)
    first.refresh_from_db()
    assert not first.is_active and second.is_active
    assert risk.active_model() == second
    assert second.history_to == NOW
    assert second.cutoff == NOW - 14 * DAY
    assert second.validation_from == NOW - 28 * DAY
    assert second.history_from <= NOW - 60 * DAY
    assert second.training_shipments > 100
    assert second.training_examples > second.validation_examples > 0
    assert second.reported_examples > 0
    assert second.feature_names == list(risk.FEATURE_NAMES)
    assert len(second.coefficients["coef"]) == len(risk.FEATURE_NAMES)
    assert 0 <= second.threshold <= 1
    assert second.threshold == second.thresholds["72"]
    for part in ("validation", "reported"):
        assert set(second.figures[part]) == {"24", "72", "120"}
        for figures in second.figures[part].values():
            assert 0 <= figures["precision"] <= 1 and 0 <= figures["recall"] <= 1
            assert figures["late"] <= figures["undelivered"]


def test_a_cutoff_given_is_kept_and_nothing_after_as_of_is_read(
    history, training_settings, frozen_now
):
    as_of = NOW - 5 * DAY
    model = risk.train(as_of=as_of, cutoff=as_of - 20 * DAY).model
    # Parcels promised after as_of are not examples: delivering them differently changes
    # nothing about a retrain as of the same moment.
    Shipment.objects.filter(promised_at__gt=as_of).update(delivered_at=None, status="in_transit")
    again = risk.train(as_of=as_of, cutoff=as_of - 20 * DAY).model

    assert model.cutoff == as_of - 20 * DAY
    assert model.figures == again.figures
    assert model.coefficients == again.coefficients


def test_scores_are_probabilities_and_late_looking_parcels_score_higher(
    history, training_settings, frozen_now
):
    model = risk.train(as_of=NOW).model
    late_looking = active(history, history["slow"], shipped_ago=5 * DAY, promised_in=6 * HOUR)
    on_time_looking = active(history, history["fast"], shipped_ago=DAY, promised_in=4 * DAY)

    scores = risk.score(Shipment.objects.active(), now=NOW)

    assert scores.fallback is False
    assert scores.version == model.version
    assert scores.threshold == model.threshold
    assert all(0 <= p <= 1 for p in scores.values())
    assert scores[late_looking.pk] > 0.5 > scores[on_time_looking.pk]


def test_the_number_of_queries_of_scoring_does_not_grow_with_shipments(
    history, training_settings, frozen_now
):
    risk.train(as_of=NOW)
    counts = []
    for extra in (1, 15):
        for _ in range(extra):
            active(history, history["slow"], shipped_ago=2 * DAY, promised_in=2 * DAY)
        with CaptureQueriesContext(connection) as queries:
            scores = risk.score(Shipment.objects.active(), now=NOW)
        counts.append(len(queries))
        assert len(scores) == Shipment.objects.active().count()
    # The active model, three transit tables, the on-time records, one chunk of shipments.
    assert counts[0] == counts[1] <= 6


def test_reasons_say_in_words_what_the_score_weighed(history, training_settings, frozen_now):
    risk.train(as_of=NOW)
    parcel = active(history, history["slow"], shipped_ago=5 * DAY, promised_in=2 * DAY)

    result = risk.reasons(parcel, now=NOW)

    assert result.fallback is False
    assert result.probability == pytest.approx(risk.score([parcel.pk], now=NOW)[parcel.pk])
    assert result.facts[:3] == [
        "Parcels on this lane usually take 6 days (9 in 10 within 8).",
        "Handed over to the carrier 5 days ago.",
        "2 days left to the promised date.",
    ]
    assert any("recent parcels arrived on time" in fact for fact in result.facts)


# --- Threshold ----------------------------------------------------------------------------


def test_the_threshold_is_the_lowest_reaching_the_precision_target():
    probabilities = np.linspace(1, 0.01, 100)
    # The 40 most confident are 90% late, the next 60 are 20% late.
    labels = np.array(
        [1 if i % 10 else 0 for i in range(40)] + [1 if i % 5 == 0 else 0 for i in range(60)]
    )

    threshold, met = risk.choose_threshold(probabilities, labels)

    flagged = probabilities >= threshold
    assert met
    assert labels[flagged].mean() >= risk.PRECISION_TARGET
    lower = probabilities[flagged.sum()]  # one more example flagged
    assert labels[probabilities >= lower].mean() < risk.PRECISION_TARGET or flagged.sum() >= 40


# --- Command, task, beat ------------------------------------------------------------------


def test_the_command_trains_and_prints_the_figures(history, training_settings, frozen_now):
    out, progress = io.StringIO(), io.StringIO()
    call_command("train_late_model", stdout=out, stderr=progress)

    assert "examples" in progress.getvalue()  # the progress bar, on stderr
    assert LateModel.objects.get().is_active
    assert "Model v1 trained" in out.getvalue()
    assert "72 h before the promise, after the cutoff: precision" in out.getvalue()


def test_the_command_says_why_it_trained_nothing(world, training_settings, frozen_now):
    out = io.StringIO()
    call_command(
        "train_late_model", "--no-progress", "--as-of", "2026-05-01T00:00:00+00:00", stdout=out
    )

    assert out.getvalue().startswith("No model trained: 0 shipments")
    assert not LateModel.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "yesterday"], "--as-of expects an ISO 8601 timestamp"),
        (["--as-of", "2026-07-01T00:00:00+00:00"], "is in the future"),
        (
            ["--cutoff", "2026-07-01T00:00:00+00:00", "--as-of", "2026-05-01T00:00:00+00:00"],
            "is after --as-of",
        ),
    ],
)
def test_the_command_refuses_bad_moments(frozen_now, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("train_late_model", "--no-progress", *args)


def test_the_task_trains_as_of_now(monkeypatch, frozen_now):
    calls = []
    monkeypatch.setattr(
        risk, "train", lambda **kwargs: calls.append(kwargs) or risk.TrainingResult(None, "few")
    )

    assert train_late_model_task() is None
    assert calls == [{"as_of": NOW}]


def test_beat_retrains_the_model_weekly():
    jobs = {job.name: job for job in periodic_tasks()}

    assert jobs["shipments.train_late_model"].task == "shipments.train_late_model"
    assert jobs["shipments.train_late_model"].every_seconds == 7 * 24 * 3600


def test_scans_in_training_come_from_events_up_to_t(history, training_settings, frozen_now):
    # A late parcel scanned "out for delivery" 30 h before its promise, and "exception" an
    # hour after it: its examples at 24 h see the first scan, none sees the second, and the
    # earlier examples (48 h and more before the promise) see neither.
    parcel = (
        Shipment.objects.filter(lane=history["slow"], delivered_at__gt=F("promised_at"))
        .order_by("-promised_at")
        .first()
    )
    for code, status, at in (
        ("OD", ShipmentStatus.OUT_FOR_DELIVERY, parcel.promised_at - 30 * HOUR),
        ("CH", ShipmentStatus.EXCEPTION, parcel.promised_at + HOUR),
    ):
        TrackingEvent.objects.create(
            shipment=parcel,
            carrier=parcel.carrier,
            carrier_event_id=f"scan-{code}",
            occurred_at=at,
            carrier_code=code,
            status=status,
        )
    data = risk.load_training_history(risk.TrainingWindow.ending(NOW))
    examples = risk.build_examples(data, as_of=NOW.timestamp(), promised_from=0)

    mine = data.ids[examples.shipment_positions] == parcel.pk
    out_for_delivery = examples.features[:, risk.FEATURE_NAMES.index("out_for_delivery")]
    problem = examples.features[:, risk.FEATURE_NAMES.index("carrier_problem")]
    assert sorted(examples.horizons[mine & (out_for_delivery == 1)]) == [24]
    assert out_for_delivery[~mine].sum() == 0
    assert problem.sum() == 0
    news = examples.features[:, risk.FEATURE_NAMES.index("days_since_news")]
    assert news[mine & (examples.horizons == 24)] == pytest.approx([6 / 24])


# --- Operators see the figures ------------------------------------------------------------


def test_the_admin_lists_each_version_with_its_figures_read_only(
    history, training_settings, frozen_now, admin_client
):
    model = risk.train(as_of=NOW).model
    figures = model.figures["reported"]["72"]

    listing = admin_client.get("/admin/shipments/latemodel/")
    page = admin_client.get(f"/admin/shipments/latemodel/{model.pk}/change/")

    assert listing.status_code == 200
    assert "Precision at 72 h" in listing.content.decode()
    assert f"{figures['precision']:.2f}" in listing.content.decode()
    assert page.status_code == 200
    assert b'name="threshold"' not in page.content  # shown, never a form field
    assert admin_client.get("/admin/shipments/latemodel/add/").status_code == 403
