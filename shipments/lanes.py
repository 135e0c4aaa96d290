"""Lane statistics and carrier reliability from delivered history (issue 3).

Both are computed over a window of recent deliveries (``delivered_at`` within ``window_days``
before ``now``) with a handful of set-based SQL statements whatever the number of shipments,
and the same SQL runs on SQLite and PostgreSQL.

Percentile definition (used everywhere in Delaydesk: lane p50/p90 and the predicted ETA's
quantile tables): the *nearest-rank* percentile. With the ``n`` transit times of a lane sorted
ascending, the p-th percentile is the value at rank ``ceil(p * n / 100)`` (1-based), i.e. the
smallest observed transit time with at least p% of the deliveries at or below it. It is always
an observed value (no interpolation), so it needs no ``percentile_cont`` (PostgreSQL only):
``ROW_NUMBER()`` and ``COUNT()`` over a ``PARTITION BY`` pick the ranks on both databases.

Transit time = ``delivered_at - shipped_at`` in hours, over delivered shipments that were
handed to the carrier (``shipped_at`` set) and whose dates are ordered (a delivery stamped
before its handover is a data error and would drag the percentiles below zero).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

from django.db import connection, transaction

from shipments.models import Carrier, Lane, Shipment, ShipmentStatus

DEFAULT_WINDOW_DAYS = 180
# Resolution of the quantile tables: one value per percentile (1%..100%).
QUANTILE_STEPS = 100
# bulk_update statement size: large enough to be few statements, small enough for SQLite's
# parameter limit and PostgreSQL's CASE evaluation cost.
UPDATE_BATCH_SIZE = 1000

Grouping = Literal["lane", "carrier_service", "global"]


@dataclass(frozen=True, slots=True)
class TransitDistribution:
    """The transit-time distribution of one group of deliveries as a nearest-rank quantile table.

    ``quantiles[k - 1]`` is the k-th percentile (k = 1..100) in hours; ``count`` is the number
    of deliveries it was computed from.
    """

    count: int
    quantiles: tuple[float, ...]

    @classmethod
    def from_sorted(cls, transit_hours: Sequence[float]) -> TransitDistribution:
        """Build the table from transit times sorted ascending (the Python twin of the SQL)."""
        n = len(transit_hours)
        if n == 0:
            raise ValueError("a transit distribution needs at least one delivery")
        return cls(
            count=n,
            quantiles=tuple(transit_hours[_nearest_rank(k, n) - 1] for k in _steps()),
        )

    @classmethod
    def from_ranks(cls, count: int, values_by_rank: dict[int, float]) -> TransitDistribution:
        """Build the table from the rows the SQL kept: {rank: transit hours}."""
        return cls(
            count=count,
            quantiles=tuple(values_by_rank[_nearest_rank(k, count)] for k in _steps()),
        )

    def percentile(self, p: int) -> float:
        """The p-th nearest-rank percentile, p in 1..100."""
        return self.quantiles[p - 1]

    @property
    def median(self) -> float:
        return self.percentile(50)

    def survival(self, hours: float) -> float:
        """Share of deliveries that took longer than ``hours`` (P(T > hours), 1% steps)."""
        return 1 - bisect.bisect_right(self.quantiles, hours) / QUANTILE_STEPS

    def remaining_median(self, elapsed_hours: float) -> float:
        """Median of (T - elapsed | T > elapsed): how much longer a parcel still travelling
        after ``elapsed_hours`` needs, judged by the deliveries that took longer than that.

        1. ``done`` = how many percentile points are at or below ``elapsed`` (F(elapsed) in %).
        2. Faster than every delivery so far (``done == 0``): the lane's median, the same
           nearest-rank p50 as ``Lane.p50_transit_hours`` (ETA = hand-over + p50).
        3. Otherwise the slower deliveries occupy the percentiles ``done+1..100``; their
           median is the middle point, or the mean of the two middle points when their number
           is even (the ordinary median of a sample).
        4. If every delivery of the group was faster than this parcel (``done == 100``), the
           history says nothing more about it: assume it needs another full transit (the
           median), so the estimate keeps moving out while the parcel keeps not arriving.
        """
        done = bisect.bisect_right(self.quantiles, elapsed_hours)
        slower = QUANTILE_STEPS - done
        if done == 0:
            return self.median - elapsed_hours
        if slower == 0:
            return self.median
        lower_middle = self.percentile(done + (slower + 1) // 2)
        upper_middle = self.percentile(done + slower // 2 + 1)
        return (lower_middle + upper_middle) / 2 - elapsed_hours

    def remaining_survival(self, elapsed_hours: float, extra_hours: float) -> float:
        """P(T > elapsed + extra | T > elapsed): the chance that a parcel still travelling
        after ``elapsed_hours`` needs more than ``extra_hours`` more. Beyond the slowest
        delivery of the group, as in ``remaining_median``, a full transit starts over.
        """
        done = bisect.bisect_right(self.quantiles, elapsed_hours)
        slower = QUANTILE_STEPS - done
        if slower == 0:
            return self.survival(extra_hours)
        beyond = QUANTILE_STEPS - bisect.bisect_right(self.quantiles, elapsed_hours + extra_hours)
        return beyond / slower


def _steps() -> range:
    return range(1, QUANTILE_STEPS + 1)


def _nearest_rank(k: int, n: int) -> int:
    """1-based rank of the k-th percentile among n sorted values: ceil(k * n / 100)."""
    return max(1, -(-k * n // QUANTILE_STEPS))


# --- SQL ----------------------------------------------------------------------------------


def _hours_between_sql(later: str, earlier: str) -> str:
    """SQL for ``later - earlier`` in hours on the current database."""
    if connection.vendor == "postgresql":
        return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 3600.0)"
    # SQLite stores datetimes as ISO text; julianday() parses it. Rounded to whole seconds so
    # that float noise of the day fraction does not turn 96 h into 95.9999999 h.
    return f"(ROUND((julianday({later}) - julianday({earlier})) * 86400.0) / 3600.0)"


def _window_params(*, now: dt.datetime, window_days: int) -> list[object]:
    # Raw SQL bypasses the ORM's value adaptation: SQLite compares naive UTC text.
    adapt = connection.ops.adapt_datetimefield_value
    return [adapt(now - dt.timedelta(days=window_days)), adapt(now)]


def _delivered_in_window_sql(
    *, with_transit: bool, window_start: str = "%s", window_end: str = "%s"
) -> str:
    """WHERE clause: delivered shipments of the window (served by shipments_delivered_idx).

    ``window_start`` and ``window_end`` are the SQL placeholders of the window's bounds.
    Only ``delivered_at`` decides whether a delivery counts, so a window ending at a past
    moment sees exactly the deliveries made by then (shipments.detection's as-of pass).
    """
    clause = (
        f"s.status = '{ShipmentStatus.DELIVERED.value}'"
        f" AND s.delivered_at >= {window_start} AND s.delivered_at <= {window_end}"
    )
    if with_transit:
        clause += " AND s.shipped_at IS NOT NULL AND s.delivered_at >= s.shipped_at"
    return clause


def lane_statistics_sql(*, window_start: str = "%s", window_end: str = "%s") -> str:
    """SELECT of the lanes' delivered statistics over a window, one row per lane with a
    delivery in it: ``lane_id, delivered_count, mean_transit_hours, on_time_count``.

    The one definition of these figures: ``refresh_lane_statistics`` stores them on the
    lanes, and an as-of detection pass joins this SELECT in place of the Lane table with a
    window ending at its moment (the lane's figures as a refresh at that moment would have
    written them, from nothing delivered later). The bounds are the caller's placeholders.
    """
    transit = _hours_between_sql("s.delivered_at", "s.shipped_at")
    where = _delivered_in_window_sql(
        with_transit=True, window_start=window_start, window_end=window_end
    )
    return f"""
        SELECT s.lane_id AS lane_id, COUNT(*) AS delivered_count,
               AVG({transit}) AS mean_transit_hours,
               SUM(CASE WHEN s.delivered_at <= s.promised_at THEN 1 ELSE 0 END) AS on_time_count
        FROM {Shipment._meta.db_table} s
        WHERE {where} AND s.lane_id IS NOT NULL
        GROUP BY s.lane_id
    """  # nosec B608  # constants only, values bound


_GROUP_KEYS: dict[Grouping, tuple[str, str]] = {
    # grouping: (key columns selected, PARTITION BY clause)
    "lane": ("s.lane_id", "PARTITION BY s.lane_id"),
    "carrier_service": (
        "s.carrier_id, s.service_level",
        "PARTITION BY s.carrier_id, s.service_level",
    ),
    "global": ("0", ""),
}


def transit_distributions(
    *, now: dt.datetime, window_days: int = DEFAULT_WINDOW_DAYS, grouping: Grouping
) -> dict[Hashable, TransitDistribution]:
    """Transit quantile tables of the window's deliveries, one per group, in one query.

    Keys: lane id for ``"lane"``, ``(carrier_id, service_level)`` for ``"carrier_service"``,
    ``0`` for ``"global"``.

    1. Number each group's transit times in ascending order (``ROW_NUMBER``) next to the
       group's size (``COUNT``), both window functions over the same partition.
    2. Keep only the rows that are some percentile's nearest rank: rank ``rn`` is
       ``ceil(k * n / 100)`` for some integer k exactly when ``floor(100 rn / n)`` exceeds
       ``floor(100 (rn - 1) / n)``. At most 100 rows per group leave the database, however
       many deliveries the group has.
    3. Rebuild the 100-point table per group in Python.
    """
    key_sql, partition_sql = _GROUP_KEYS[grouping]
    transit = _hours_between_sql("s.delivered_at", "s.shipped_at")
    lane_filter = " AND s.lane_id IS NOT NULL" if grouping == "lane" else ""
    key_width = key_sql.count(",") + 1
    sql = f"""
        SELECT t.*
        FROM (
            SELECT {key_sql}, {transit} AS transit_hours,
                   ROW_NUMBER() OVER ({partition_sql} ORDER BY {transit}) AS rn,
                   COUNT(*) OVER ({partition_sql}) AS n
            FROM {Shipment._meta.db_table} s
            WHERE {_delivered_in_window_sql(with_transit=True)}{lane_filter}
        ) t
        WHERE (100 * t.rn) / t.n > (100 * (t.rn - 1)) / t.n
    """  # nosec B608  # constants only, values bound
    groups: dict[Hashable, tuple[int, dict[int, float]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, _window_params(now=now, window_days=window_days))
        for row in cursor.fetchall():
            key = row[0] if key_width == 1 else tuple(row[:key_width])
            transit_hours, rank, count = row[key_width:]
            groups.setdefault(key, (int(count), {}))[1][int(rank)] = float(transit_hours)
    return {
        key: TransitDistribution.from_ranks(count, by_rank)
        for key, (count, by_rank) in groups.items()
    }


# --- Services -----------------------------------------------------------------------------


def refresh_lane_statistics(*, now: dt.datetime, window_days: int = DEFAULT_WINDOW_DAYS) -> int:
    """Recompute every lane's delivered statistics over the window; returns lanes updated.

    Also refreshes carrier reliability (``refresh_carrier_reliability``), so one periodic task
    keeps both current.

    1. One aggregate query per lane: count, mean transit hours, on-time deliveries
       (``delivered_at <= promised_at``).
    2. One window query for the nearest-rank p50 and p90 (``transit_distributions``).
    3. Write the lanes that have deliveries in the window with ``bulk_update``.
    4. Lanes that had statistics but no delivery in the window any more go back to
       count 0 and nulls: the statistics describe the window, and stale numbers from an old
       season would mislead the yellow rule and the ETA. Lanes that never had history are not
       touched and keep their nulls.

    Idempotent: re-running with the same ``now`` writes the same values. The number of
    statements depends on the number of lanes (batches of ``UPDATE_BATCH_SIZE``), never on
    the number of shipments.
    """
    with connection.cursor() as cursor:
        cursor.execute(lane_statistics_sql(), _window_params(now=now, window_days=window_days))
        aggregates = {row[0]: row[1:] for row in cursor.fetchall()}
    distributions = transit_distributions(now=now, window_days=window_days, grouping="lane")

    lanes = []
    for lane_id, (count, mean_hours, on_time) in aggregates.items():
        # The two reads are not one snapshot: a delivery changing status in between may leave
        # a lane without ranks until the next refresh, never with a crash.
        distribution = distributions.get(lane_id)
        lanes.append(
            Lane(
                id=lane_id,
                delivered_count=int(count),
                mean_transit_hours=float(mean_hours),
                p50_transit_hours=distribution.percentile(50) if distribution else None,
                p90_transit_hours=distribution.percentile(90) if distribution else None,
                on_time_rate=int(on_time) / int(count),
                stats_updated_at=now,
            )
        )
    with transaction.atomic():
        Lane.objects.bulk_update(
            lanes,
            [
                "delivered_count",
                "mean_transit_hours",
                "p50_transit_hours",
                "p90_transit_hours",
                "on_time_rate",
                "stats_updated_at",
            ],
            batch_size=UPDATE_BATCH_SIZE,
        )
        # Everything written above carries stats_updated_at == now; what still has numbers
        # and an older (or no) timestamp had no delivery in this window.
        emptied = (
            Lane.objects.exclude(stats_updated_at=now)
            .exclude(
                delivered_count=0,
                mean_transit_hours__isnull=True,
                p50_transit_hours__isnull=True,
                p90_transit_hours__isnull=True,
                on_time_rate__isnull=True,
            )
            .update(
                delivered_count=0,
                mean_transit_hours=None,
                p50_transit_hours=None,
                p90_transit_hours=None,
                on_time_rate=None,
                stats_updated_at=now,
            )
        )
    refresh_carrier_reliability(now=now, window_days=window_days)
    return len(lanes) + emptied


@dataclass(frozen=True, slots=True)
class CarrierReliability:
    """A carrier's promise keeping over a window of deliveries (see ``carrier_reliability``)."""

    sample: int
    on_time_rate: float
    # None when none of the sample was late: there is no lateness to average.
    mean_lateness_hours: float | None


def carrier_reliability(
    *, now: dt.datetime, window_days: int = DEFAULT_WINDOW_DAYS
) -> dict[int, CarrierReliability]:
    """Each carrier's reliability over the deliveries of the window ending ``now``, in one
    aggregate query; carriers without a delivery in the window are absent.

    A read, not a write: with a past ``now`` it is the score as of that moment (nothing
    delivered later counts), for a replay or a model trained on history before a moment;
    ``refresh_carrier_reliability`` stores the current one on the carriers.
    """
    lateness = _hours_between_sql("s.delivered_at", "s.promised_at")
    sql = f"""
        SELECT s.carrier_id, COUNT(*),
               SUM(CASE WHEN s.delivered_at <= s.promised_at THEN 1 ELSE 0 END),
               AVG(CASE WHEN s.delivered_at > s.promised_at THEN {lateness} END)
        FROM {Shipment._meta.db_table} s
        WHERE {_delivered_in_window_sql(with_transit=False)}
        GROUP BY s.carrier_id
    """  # nosec B608  # constants only, values bound
    with connection.cursor() as cursor:
        cursor.execute(sql, _window_params(now=now, window_days=window_days))
        return {
            carrier_id: CarrierReliability(
                sample=int(count),
                on_time_rate=int(on_time) / int(count),
                mean_lateness_hours=float(mean_lateness) if mean_lateness is not None else None,
            )
            for carrier_id, count, on_time, mean_lateness in cursor.fetchall()
        }


def refresh_carrier_reliability(*, now: dt.datetime, window_days: int = DEFAULT_WINDOW_DAYS) -> int:
    """Recompute every carrier's reliability score over the window; returns carriers updated.

    Per carrier, over all its deliveries in the window (handover date not needed here: the
    score is about keeping promises):

    - ``on_time_rate``: share delivered at or before ``promised_at``;
    - ``mean_lateness_hours``: mean of ``delivered_at - promised_at`` over the late ones only
      (null when none was late: there is no lateness to average);
    - ``reliability_sample``: number of deliveries in the window.

    1. One aggregate query grouped by carrier (``carrier_reliability``).
    2. One ``bulk_update`` over all carriers; a carrier without deliveries in the window gets a
       sample of 0 and nulls, so an old score never outlives its evidence.
    """
    scores = carrier_reliability(now=now, window_days=window_days)
    carriers = []
    for carrier_id in Carrier.objects.values_list("id", flat=True):
        score = scores.get(carrier_id)
        carriers.append(
            Carrier(
                id=carrier_id,
                on_time_rate=score.on_time_rate if score else None,
                mean_lateness_hours=score.mean_lateness_hours if score else None,
                reliability_sample=score.sample if score else 0,
                reliability_updated_at=now,
            )
        )
    Carrier.objects.bulk_update(
        carriers,
        ["on_time_rate", "mean_lateness_hours", "reliability_sample", "reliability_updated_at"],
        batch_size=UPDATE_BATCH_SIZE,
    )
    return len(carriers)
