"""The shipments app's Celery tasks call their services; beat schedules them from the code."""

import datetime as dt

import pytest
import time_machine

from core.schedules import periodic_tasks, sync_beat_schedules
from shipments.models import DelayLevelChange, ShipmentStatus
from shipments.tasks import (
    detect_delays_task,
    refresh_lane_statistics_task,
    refresh_predicted_etas_task,
)
from tests import factories

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen_time():
    with time_machine.travel(NOW, tick=False):
        yield


def test_the_detection_task_runs_a_live_pass_now():
    parcel = factories.ShipmentFactory(
        status=ShipmentStatus.IN_TRANSIT,
        shipped_at=NOW - dt.timedelta(hours=48),
        promised_at=NOW + dt.timedelta(days=3),
        last_event_at=NOW - dt.timedelta(hours=80),
    )

    summary = detect_delays_task()

    parcel.refresh_from_db()
    assert parcel.delay_level == "orange"
    assert DelayLevelChange.objects.get(shipment=parcel).changed_at == NOW
    assert summary["changes"] == 1
    assert summary["skipped"] is False


def test_the_detection_task_is_idempotent():
    factories.ShipmentFactory(
        shipped_at=NOW - dt.timedelta(hours=48), last_event_at=NOW - dt.timedelta(hours=80)
    )
    detect_delays_task()

    assert detect_delays_task()["changes"] == 0
    assert DelayLevelChange.objects.count() == 1


def test_the_lane_statistics_task_calls_the_service_with_now(monkeypatch):
    lanes = pytest.importorskip("shipments.lanes")
    calls = []
    monkeypatch.setattr(
        lanes, "refresh_lane_statistics", lambda **kwargs: calls.append(kwargs) or 7
    )

    assert refresh_lane_statistics_task() == 7
    assert calls == [{"now": NOW}]


def test_the_predicted_eta_task_calls_the_service_with_now(monkeypatch):
    eta = pytest.importorskip("shipments.eta")
    calls = []
    monkeypatch.setattr(eta, "refresh_predicted_etas", lambda **kwargs: calls.append(kwargs) or 3)

    assert refresh_predicted_etas_task() == 3
    assert calls == [{"now": NOW}]


def test_beat_runs_detection_every_5_minutes_etas_every_15_and_lanes_hourly():
    jobs = {job.name: job for job in periodic_tasks()}

    assert jobs["core.heartbeat"].task == "core.heartbeat"
    assert jobs["shipments.detect_delays"].every_seconds == 5 * 60
    assert jobs["shipments.refresh_predicted_etas"].every_seconds == 15 * 60
    assert jobs["shipments.refresh_lane_statistics"].every_seconds == 60 * 60


def test_every_scheduled_task_is_registered_with_celery():
    from django_celery_beat.models import PeriodicTask

    from config.celery import app

    sync_beat_schedules()
    app.loader.import_default_modules()  # autodiscovery, as a worker does at start

    scheduled = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {
        "shipments.detect_delays",
        "shipments.refresh_predicted_etas",
        "shipments.refresh_lane_statistics",
    } <= scheduled
    assert scheduled <= set(app.tasks)
