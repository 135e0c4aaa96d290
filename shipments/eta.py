"""Predicted delivery time of active shipments (issue 3), from lane history and the last scan.

The model, in words a support agent can repeat to a customer:

    "Parcels on this lane usually take X. Yours has been travelling for Y; among the lane's
    parcels that were still travelling after Y, half had arrived Z later."

Formally, with T the lane's transit time (its empirical distribution over the recent delivered
history, ``shipments.lanes.TransitDistribution``) and ``e`` the time since hand-over to the
carrier, the predicted ETA is ``now + median(T - e | T > e)``. At hand-over that is the lane
median (``shipped_at + p50``); as long as the parcel is faster than every delivery of the lane
it stays there; once it is slower than some of them the estimate moves out to the median of
the slower ones, which for the long-tailed transit times of real carriers keeps moving further
out the longer the parcel takes. Evaluated on real orders in docs/PERFORMANCE.md
(``shipments/olist.py``, ``bench/eta_accuracy.py``) with exactly this function.

The predicted lateness is ``predicted_eta - promised_at`` (the red rule reads it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from django.db import connection, transaction

from shipments.lanes import DEFAULT_WINDOW_DAYS, TransitDistribution, transit_distributions
from shipments.models import FINAL_STATUSES, DelayLevel, Shipment
from shipments.signals import shipment_eta_moved

# The predicted ETA of a delayed parcel must move at least this much to be a new date the
# customer hears about (shipment_eta_moved).
NEW_ETA_MIN_SHIFT = dt.timedelta(hours=24)
# A lane with fewer deliveries in the window than this borrows a wider group's distribution:
# percentiles of a handful of parcels are noise.
MIN_DELIVERIES = 20
# Silence up to the orange rule's 72 h is normal between hubs (long line-hauls scan rarely);
# beyond it, every further hour without a scan is assumed lost: the parcel has not moved.
STALE_SCAN_GRACE = dt.timedelta(hours=72)
# Keyset page of active shipments read and written per round trip.
CHUNK_SIZE = 2000


@dataclass(frozen=True, slots=True)
class TransitHistory:
    """The distributions the model can draw on, most specific first."""

    by_lane: Mapping[Hashable, TransitDistribution]
    by_carrier_service: Mapping[Hashable, TransitDistribution]
    overall: TransitDistribution | None

    def for_shipment(
        self, *, lane_id: Hashable | None, carrier_id: Hashable, service_level: str
    ) -> TransitDistribution | None:
        """The lane's distribution if it has enough deliveries, else the carrier's for the
        same service level, else all deliveries of all carriers; None when nothing qualifies.
        """
        for distribution in (
            self.by_lane.get(lane_id) if lane_id is not None else None,
            self.by_carrier_service.get((carrier_id, service_level)),
            self.overall,
        ):
            if distribution is not None and distribution.count >= MIN_DELIVERIES:
                return distribution
        return None


def load_transit_history(
    *, now: dt.datetime, window_days: int = DEFAULT_WINDOW_DAYS
) -> TransitHistory:
    """The three levels of transit distributions from the database (three queries)."""
    overall = transit_distributions(now=now, window_days=window_days, grouping="global")
    return TransitHistory(
        by_lane=transit_distributions(now=now, window_days=window_days, grouping="lane"),
        by_carrier_service=transit_distributions(
            now=now, window_days=window_days, grouping="carrier_service"
        ),
        overall=overall.get(0),
    )


def predict_eta(
    *,
    now: dt.datetime,
    shipped_at: dt.datetime | None,
    promised_at: dt.datetime,
    distribution: TransitDistribution | None,
    last_event_at: dt.datetime | None = None,
    carrier_eta: dt.datetime | None = None,
    late: bool = False,
) -> dt.datetime:
    """Predicted delivery time of a parcel not delivered by ``now``.

    ``late``: the parcel is judged "will be late" (the late-delivery model expects it to miss
    its promise, shipments.risk): the estimate is the one given that it is not delivered by
    its promise either, i.e. steps 2-3 from ``max(now, promised_at)``; the estimate told to a
    customer warned early is then a date after the promise, not the usual transit's.

    1. No usable history: the carrier's estimate, else the promise.
    2. Not handed to the carrier yet: at the earliest it leaves now, then takes the typical
       (median) transit.
    3. In transit for ``e`` hours: ``now + median(T - e | T > e)`` over the distribution.
    4. Stale scan: silence since ``last_event_at`` beyond ``STALE_SCAN_GRACE`` is added in
       full (the parcel is assumed not to have moved), so an older last scan never gives an
       earlier ETA. Without any scan (feeds that only report hand-over and delivery) this
       step does nothing: the elapsed time of step 3 already covers the wait.
    5. Never before ``now`` (it has not arrived yet), rounded up to the hour so that periodic
       refreshes only write when the estimate really moves.
    """
    elapsed, lost = _clock(now=now, shipped_at=shipped_at, last_event_at=last_event_at)
    start = now
    if late and distribution is not None and promised_at > now:
        start = promised_at
        elapsed, _lost = _clock(now=start, shipped_at=shipped_at, last_event_at=None)
    if distribution is None:
        eta = carrier_eta or promised_at
    elif elapsed is None:
        eta = start + _hours(distribution.median)
    else:
        eta = start + _hours(distribution.remaining_median(elapsed))
    return _ceil_to_hour(max(eta + lost, now))


def late_probability(
    *,
    now: dt.datetime,
    shipped_at: dt.datetime | None,
    promised_at: dt.datetime,
    distribution: TransitDistribution | None,
    last_event_at: dt.datetime | None = None,
    carrier_eta: dt.datetime | None = None,
) -> float:
    """P(delivered after ``promised_at`` | state at ``now``), under the same model as
    ``predict_eta`` (same distribution, same elapsed time, same stale-scan penalty).

    ``predict_eta(...) > promised_at`` is, up to the median's tie rule, this probability
    being above one half; a warning that wants more recall or more precision compares it
    with another threshold (docs/PERFORMANCE.md tunes one on the training period).
    Without history the answer is certain either way: the fallback ETA is after the promise
    or it is not.
    """
    if distribution is None:
        eta = predict_eta(
            now=now,
            shipped_at=shipped_at,
            promised_at=promised_at,
            distribution=None,
            last_event_at=last_event_at,
            carrier_eta=carrier_eta,
        )
        return 1.0 if eta > promised_at else 0.0
    elapsed, lost = _clock(now=now, shipped_at=shipped_at, last_event_at=last_event_at)
    time_left = (promised_at - now - lost).total_seconds() / 3600
    if time_left < 0:
        return 1.0
    if elapsed is None:
        return distribution.survival(time_left)
    return distribution.remaining_survival(elapsed, time_left)


def _clock(
    *, now: dt.datetime, shipped_at: dt.datetime | None, last_event_at: dt.datetime | None
) -> tuple[float | None, dt.timedelta]:
    """(hours since hand-over or None if not handed over by ``now``, time lost to silence)."""
    elapsed = None
    if shipped_at is not None and shipped_at <= now:
        elapsed = (now - shipped_at).total_seconds() / 3600
    lost = dt.timedelta(0)
    if last_event_at is not None and now - last_event_at > STALE_SCAN_GRACE:
        lost = now - last_event_at - STALE_SCAN_GRACE
    return elapsed, lost


def refresh_predicted_etas(*, now: dt.datetime) -> int:
    """Set ``predicted_eta`` on every active shipment; returns how many changed.

    1. Load the transit distributions of the window ending ``now`` (three window queries,
       at most 100 rows per group; see ``shipments.lanes.transit_distributions``).
    2. Walk the active shipments in primary-key order, ``CHUNK_SIZE`` at a time (keyset
       pagination: each page is one indexed query and no transaction stays open across the
       walk), reading only the columns the model needs.
    3. Predict each ETA in memory and write only the rows whose value changed, one statement
       per page (``write_predicted_etas``).

    Idempotent: a second run with the same ``now`` finds nothing to change and writes nothing.
    Statements: 3 + one read per page + at most one write per page, whatever the lanes
    (on SQLite its parameter limit splits a page's write into statements of ~300 rows).
    """
    history = load_transit_history(now=now)
    changed = 0
    last_id = 0
    while True:
        page = list(
            Shipment.objects.active()
            .filter(id__gt=last_id)
            .order_by("id")
            .values_list(
                "id",
                "lane_id",
                "carrier_id",
                "service_level",
                "shipped_at",
                "last_event_at",
                "promised_at",
                "carrier_eta",
                "predicted_eta",
                "delay_level",
                "late_eta",
            )[:CHUNK_SIZE]
        )
        updates = []
        late_updates = []
        moved = []
        for (
            shipment_id,
            lane_id,
            carrier_id,
            service_level,
            shipped_at,
            last_event_at,
            promised_at,
            carrier_eta,
            current_eta,
            delay_level,
            current_late_eta,
        ) in page:
            distribution = history.for_shipment(
                lane_id=lane_id, carrier_id=carrier_id, service_level=service_level
            )
            eta = predict_eta(
                now=now,
                shipped_at=shipped_at,
                promised_at=promised_at,
                distribution=distribution,
                last_event_at=last_event_at,
                carrier_eta=carrier_eta,
            )
            if delay_level == DelayLevel.WILL_BE_LATE:
                late_eta = predict_eta(
                    now=now,
                    shipped_at=shipped_at,
                    promised_at=promised_at,
                    distribution=distribution,
                    last_event_at=last_event_at,
                    carrier_eta=carrier_eta,
                    late=True,
                )
                if late_eta != current_late_eta:
                    late_updates.append((shipment_id, late_eta))
                    # Its customer was told the late estimate: that is the date that moves.
                    if _new_date(delay_level, current_late_eta, late_eta):
                        moved.append(shipment_id)
            if eta != current_eta:
                updates.append((shipment_id, eta))
                if delay_level != DelayLevel.WILL_BE_LATE and _new_date(
                    delay_level, current_eta, eta
                ):
                    moved.append(shipment_id)
        with transaction.atomic() if moved else contextlib.nullcontext():
            if updates:
                write_predicted_etas(updates)
            if late_updates:
                write_predicted_etas(late_updates, column="late_eta")
            if moved:
                # Inside the transaction: customers told about a delay hear the new date, and
                # the notices commit with it (shipments.signals).
                shipment_eta_moved.send(sender=Shipment, shipment_ids=moved, at=now)
        changed += len(updates)
        if len(page) < CHUNK_SIZE:
            return changed
        last_id = page[-1][0]


def _new_date(delay_level: str, current: dt.datetime | None, new: dt.datetime | None) -> bool:
    """Is this a new delivery date worth telling a customer of a delayed parcel about?"""
    if delay_level == DelayLevel.NONE or current is None or new is None:
        return False
    return abs(new - current) >= NEW_ETA_MIN_SHIFT


def write_predicted_etas(
    updates: list[tuple[int, dt.datetime]], *, column: str = "predicted_eta"
) -> None:
    """One statement for a page of (shipment id, predicted ETA) (or of late estimates:
    ``column="late_eta"``).

    On PostgreSQL an ``UPDATE ... FROM unnest(ids, etas)`` join: two array parameters and a
    hash join, where Django's ``bulk_update`` builds a ``CASE WHEN id = ...`` per row (its
    Python expression building alone took ~0.3 s per 2,000 rows). Elsewhere (SQLite, the
    small embedded installs) ``bulk_update``.
    """
    if connection.vendor != "postgresql":
        # bulk_update makes its batches atomic itself (without a savepoint).
        Shipment.objects.bulk_update(
            [Shipment(id=shipment_id, **{column: eta}) for shipment_id, eta in updates],
            [column],
            batch_size=CHUNK_SIZE,
        )
        return
    if column not in ("predicted_eta", "late_eta"):
        raise ValueError(f"not an estimate column: {column}")
    ids, etas = zip(*updates, strict=True)
    with connection.cursor() as cursor:
        # A parcel delivered between the page's read and this write keeps its ETA untouched.
        cursor.execute(
            f"UPDATE {Shipment._meta.db_table} AS s SET {column} = v.eta"
            " FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, eta)"
            " WHERE s.id = v.id AND NOT (s.status = ANY(%s))",  # nosec B608  # constants only, values bound
            [list(ids), list(etas), [str(status) for status in FINAL_STATUSES]],
        )


def _hours(hours: float) -> dt.timedelta:
    return dt.timedelta(hours=hours)


def _ceil_to_hour(moment: dt.datetime) -> dt.datetime:
    floor = moment.replace(minute=0, second=0, microsecond=0)
    return floor if floor == moment else floor + dt.timedelta(hours=1)
