"""What the project's jobs would say about the demo data, computed in Python.

``judge`` mirrors shipments.detection's rules for one active shipment; ``lane_statistics``
follows shipments.lanes (nearest-rank percentiles); ``LateForecast`` gives the probability the
"will be late" rules read and the estimate such a shipment gets, with the product's own code
(shipments.risk's lane-quantile rule, shipments.eta) over the demo's delivered history. The
generator uses them to make its data agree with those jobs, so running them on the demo
changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.db import connection

from shipments.eta import TransitHistory, predict_eta
from shipments.lanes import DEFAULT_WINDOW_DAYS, TransitDistribution
from shipments.models import DELAY_LEVEL_RANK, Shipment
from shipments.risk import Frame, RiskHistory, evaluate

# Statuses in which a parcel can be held at a hub (shipments.detection.HUB_HOLD_STATUSES).
HUB_HOLD_STATUSES = ("in_transit", "exception")


@dataclass(frozen=True)
class RuleSpec:
    key: str
    kind: str
    level: str
    threshold: float
    horizon: float | None = None  # hours; probability rules only


# shared/DOMAIN.md's defaults and the "will be late" rules of migration shipments 0014, for a
# database without DelayRule rows.
DEFAULT_RULES = (
    RuleSpec("will_be_late_24h", "late_probability", "will_be_late", 0.48, 24),
    RuleSpec("will_be_late_72h", "late_probability", "will_be_late", 0.57, 72),
    RuleSpec("yellow", "transit_ratio", "yellow", 1.5),
    RuleSpec("hub_hold", "hub_hold_hours", "hub_hold", 24),
    RuleSpec("orange", "no_update_hours", "orange", 72),
    RuleSpec("red", "predicted_late_days", "red", 7),
    RuleSpec("long_delay", "late_days", "long_delay", 30),
)


def widest_horizon(rules: Iterable[RuleSpec]) -> float | None:
    """The horizon within which detection scores shipments (None: no probability rule)."""
    horizons = [r.horizon for r in rules if r.kind == "late_probability" and r.horizon]
    return max(horizons) if horizons else None


def judge(
    rules,
    now,
    *,
    status,
    shipped_at,
    promised_at,
    predicted_eta,
    last_event_at,
    location_since,
    lane_mean,
    late_probability: float | None = None,
) -> tuple[str, str]:
    """(level, rule key) that shipments.detection would give an active shipment.

    ``late_probability``: P(late) as detection scores it (``LateForecast``), None when it is
    not scored (promise beyond every probability rule's horizon)."""

    def hours(later, earlier) -> float:
        return (later - earlier).total_seconds() / 3600

    def predicted_late(days: float) -> bool:
        return predicted_eta is not None and hours(predicted_eta, promised_at) > days * 24

    for rule in sorted(rules, key=lambda r: (-DELAY_LEVEL_RANK[r.level], r.key)):
        t = rule.threshold
        fired = {
            "transit_ratio": lane_mean is not None
            and shipped_at is not None
            and hours(now, shipped_at) > t * lane_mean,
            "no_update_hours": hours(now, last_event_at or shipped_at) > t,
            "predicted_late_days": predicted_late(t),
            "hub_hold_hours": status in HUB_HOLD_STATUSES
            and location_since is not None
            and hours(now, location_since) > t,
            "late_days": hours(now, promised_at) > t * 24 or predicted_late(t),
            "late_probability": bool(rule.horizon)
            and late_probability is not None
            and late_probability > t
            and hours(promised_at, now) <= rule.horizon,
        }.get(rule.kind, False)
        if fired:
            return rule.level, rule.key
    return "none", ""


def lane_statistics(now: dt.datetime, shipments: Iterable[Shipment]) -> dict[int, dict]:
    """Per lane, as shipments.lanes computes them: count, mean, nearest-rank p50/p90, on time."""
    transit: dict[int, list[float]] = {}
    on_time: dict[int, int] = {}
    for shipment in shipments:
        if shipment.status != "delivered":
            continue
        hours = (shipment.delivered_at - shipment.shipped_at).total_seconds() / 3600
        transit.setdefault(shipment.lane.pk, []).append(hours)
        on_time[shipment.lane.pk] = on_time.get(shipment.lane.pk, 0) + (
            shipment.delivered_at <= shipment.promised_at
        )
    stats = {}
    for lane_pk, hours in transit.items():
        hours.sort()
        count = len(hours)
        stats[lane_pk] = {
            "delivered_count": count,
            "mean_transit_hours": sum(hours) / count,
            "p50_transit_hours": _nearest_rank(hours, 50),
            "p90_transit_hours": _nearest_rank(hours, 90),
            "on_time_rate": on_time[lane_pk] / count,
            "stats_updated_at": now,
        }
    return stats


def _nearest_rank(sorted_values: list[float], percent: int) -> float:
    """The value at rank ceil(p * n / 100), 1-based: always an observed transit time."""
    rank = max(1, -(-percent * len(sorted_values) // 100))
    return sorted_values[rank - 1]


class LateForecast:
    """P(late) and the "will be late" estimate of an active shipment, as detection and the
    ETA refresh compute them, from the demo's delivered history held in memory.

    The history is shipments.eta's (``load_transit_history``: deliveries of the window ending
    ``now``, per lane, carrier and service level, and overall) built from the generated rows
    with ``TransitDistribution.from_sorted`` (shipments.lanes' Python twin of its SQL). The
    probability is ``shipments.risk.evaluate(...).quantile_probability``: what
    ``shipments.risk.score`` answers without a trained model (the demo trains none); the
    estimate is ``shipments.eta.predict_eta(..., late=True)``.

    The database computes times in SQL (SQLite through julianday, to the millisecond at best),
    so ``probabilities`` also answers for the shipment moved by ``NUDGE`` seconds: a judgement
    that holds for all of them does not hang on the last digit.
    """

    NUDGE = 60.0

    def __init__(
        self,
        now: dt.datetime,
        shipments: Iterable[Shipment],
        window_days: int = DEFAULT_WINDOW_DAYS,
    ) -> None:
        self.now = now
        start = now - dt.timedelta(days=window_days)
        # shipments.lanes rounds SQLite's julianday differences to whole seconds.
        whole_seconds = connection.vendor != "postgresql"
        by_lane: dict[int, list[float]] = {}
        by_carrier_service: dict[tuple, list[float]] = {}
        overall: list[float] = []
        for s in shipments:
            if s.status != "delivered" or s.shipped_at is None or s.delivered_at is None:
                continue
            if not start <= s.delivered_at <= now or s.delivered_at < s.shipped_at:
                continue
            seconds = (s.delivered_at - s.shipped_at).total_seconds()
            hours = (round(seconds) if whole_seconds else seconds) / 3600
            if s.lane_id is not None:
                by_lane.setdefault(s.lane_id, []).append(hours)
            by_carrier_service.setdefault((s.carrier_id, s.service_level), []).append(hours)
            overall.append(hours)

        def tables(groups: dict) -> dict:
            return {key: TransitDistribution.from_sorted(sorted(v)) for key, v in groups.items()}

        self.transit = TransitHistory(
            by_lane=tables(by_lane),
            by_carrier_service=tables(by_carrier_service),
            overall=TransitDistribution.from_sorted(sorted(overall)) if overall else None,
        )
        # The on-time records only feed a trained model's features, not the fallback rule.
        self.history = RiskHistory.build(self.transit, lane_on_time={}, origin_on_time={})

    def probabilities(
        self,
        *,
        lane_id,
        carrier_id,
        service_level: str,
        status: str,
        shipped_at: dt.datetime | None,
        promised_at: dt.datetime,
        last_event_at: dt.datetime | None,
        carrier_eta: dt.datetime | None,
    ) -> list[float]:
        """P(late) of the shipment, and of it handed over and promised NUDGE seconds earlier
        or later (nine answers, the first the shipment's own)."""
        nudges = [(a, b) for a in (0, -1, 1) for b in (0, -1, 1)]
        n = len(nudges)

        def seconds(moment: dt.datetime | None) -> float:
            return moment.timestamp() if moment is not None else np.nan

        now = self.now.timestamp()
        shipped = np.array([seconds(shipped_at) + a * self.NUDGE for a, _b in nudges])
        frame = Frame(
            ids=np.arange(n, dtype=np.int64),
            now=np.full(n, now),
            lane=[lane_id] * n,
            carrier_service=[(carrier_id, service_level)] * n,
            origin=[""] * n,
            shipped=np.where(shipped <= now, shipped, np.nan),
            promised=np.array([seconds(promised_at) + b * self.NUDGE for _a, b in nudges]),
            last_scan=np.full(n, seconds(last_event_at)),
            ordered=np.full(n, np.nan),
            status=np.array([status] * n, dtype=object),
            in_incident=np.zeros(n, dtype=bool),
            order_value=np.zeros(n),
            carrier_eta=np.full(n, seconds(carrier_eta)),
        )
        return evaluate(frame, self.history).quantile_probability.tolist()

    def late_eta(
        self,
        *,
        lane_id,
        carrier_id,
        service_level: str,
        shipped_at: dt.datetime | None,
        promised_at: dt.datetime,
        last_event_at: dt.datetime | None,
        carrier_eta: dt.datetime | None,
    ) -> dt.datetime:
        """The estimate of a shipment judged "will be late" (detection and the ETA refresh)."""
        return predict_eta(
            now=self.now,
            shipped_at=shipped_at,
            promised_at=promised_at,
            distribution=self.transit.for_shipment(
                lane_id=lane_id, carrier_id=carrier_id, service_level=service_level
            ),
            last_event_at=last_event_at,
            carrier_eta=carrier_eta,
            late=True,
        )
