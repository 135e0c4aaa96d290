"""What the project's jobs would say about the demo data, computed in Python.

``judge`` mirrors shipments.detection's rules for one active shipment; ``lane_statistics``
follows shipments.lanes (nearest-rank percentiles). The generator uses them to make its data
agree with those jobs, so running them on the demo changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from shipments.models import DELAY_LEVEL_RANK, Shipment

# Statuses in which a parcel can be held at a hub (shipments.detection.HUB_HOLD_STATUSES).
HUB_HOLD_STATUSES = ("in_transit", "exception")


@dataclass(frozen=True)
class RuleSpec:
    key: str
    kind: str
    level: str
    threshold: float


# shared/DOMAIN.md's defaults, for a database without DelayRule rows.
DEFAULT_RULES = (
    RuleSpec("yellow", "transit_ratio", "yellow", 1.5),
    RuleSpec("hub_hold", "hub_hold_hours", "hub_hold", 24),
    RuleSpec("orange", "no_update_hours", "orange", 72),
    RuleSpec("red", "predicted_late_days", "red", 7),
    RuleSpec("long_delay", "late_days", "long_delay", 30),
)


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
) -> tuple[str, str]:
    """(level, rule key) that shipments.detection would give an active shipment."""

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
