"""Celery adapters of the shipments app: thin, primitive arguments, idempotent through the DB.

Beat runs them (core/schedules.py). Each reads the time once and calls one service; a rerun or
an overlap is harmless: detection takes a lock and changes nothing the second time, the
refreshes recompute the same values from the same rows.
"""

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from shipments import detection, eta, lanes, risk

# Retry only what a moment later may cure (a locked SQLite database, a dropped connection);
# beat's next tick is the retry for everything else.
_RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 3,
}


@shared_task(name="shipments.detect_delays", ignore_result=True, **_RETRY)
def detect_delays_task() -> dict:
    """One delay detection pass as of now (skipped if another pass is running)."""
    result = detection.detect_delays(now=timezone.now(), from_events=False)
    return {
        "skipped": result.skipped,
        "levels": result.levels,
        "changes": result.changes,
        "incidents_created": result.incidents_created,
        "incidents_updated": result.incidents_updated,
    }


@shared_task(name="shipments.refresh_lane_statistics", ignore_result=True, **_RETRY)
def refresh_lane_statistics_task() -> int:
    """Lane transit statistics and carrier reliability from delivered history."""
    return lanes.refresh_lane_statistics(now=timezone.now())


@shared_task(name="shipments.refresh_predicted_etas", ignore_result=True, **_RETRY)
def refresh_predicted_etas_task() -> int:
    """Predicted delivery times of in-transit shipments (the red rule's input)."""
    return eta.refresh_predicted_etas(now=timezone.now())


@shared_task(name="shipments.train_late_model", ignore_result=True, **_RETRY)
def train_late_model_task() -> int | None:
    """Retrain the late-delivery model on the history before now; returns the new version,
    or None when there was too little history (the previous model stays active)."""
    result = risk.train(as_of=timezone.now())
    return result.model.version if result.model else None
