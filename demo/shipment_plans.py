"""The demo's shipment mix: which scenarios, causes and levels, in what proportions.

Scaled from the default 3000 parcels (incidents of 50 and 120); every cause and every delay
level shows up even at the smallest size.
"""

from __future__ import annotations

from dataclasses import dataclass

from demo.common import DemoRandom

FINAL_SCENARIOS = ("delivered", "delivered_late", "returned", "expired")


LATE_CAUSES = {
    # cause: (weight among late parcels, level weights, level of the first one of the cause)
    "customs_hold": (3, {"hub_hold": 5, "red": 3, "long_delay": 1}, "hub_hold"),
    "congestion": (2, {"yellow": 4, "hub_hold": 2, "red": 2}, "yellow"),
    "capacity": (3, {"yellow": 6, "orange": 1}, "yellow"),
    "weather": (2, {"yellow": 4, "red": 2}, "red"),
    "sorting": (2, {"yellow": 4, "orange": 2}, "orange"),
    "address_issue": (2, {"hub_hold": 5, "red": 1}, "hub_hold"),
    "carrier_outage": (1.5, {"orange": 6, "yellow": 1}, "orange"),
    "tracking_lost": (1.5, {"orange": 4, "red": 3, "long_delay": 2}, "orange"),
    "damage": (1, {"hub_hold": 3, "red": 2}, "hub_hold"),
    "loss": (1.5, {"red": 3, "long_delay": 4}, "long_delay"),
}


# Delivered late: what held them up (a lost parcel that turns up is rare enough to leave out).
DELIVERED_LATE_CAUSES = {
    "congestion": 3,
    "capacity": 4,
    "weather": 3,
    "customs_hold": 2,
    "sorting": 2,
    "address_issue": 2,
    "carrier_outage": 1,
    "tracking_lost": 1,
    "damage": 2,
}


DELIVERED_LATE_LEVELS = {
    "customs_hold": {"hub_hold": 3, "red": 1},
    "congestion": {"yellow": 2, "hub_hold": 1},
    "capacity": {"yellow": 1},
    "weather": {"yellow": 2, "red": 1},
    "sorting": {"yellow": 1},
    "address_issue": {"hub_hold": 1},
    "carrier_outage": {"orange": 1},
    "tracking_lost": {"orange": 1},
    "damage": {"hub_hold": 1, "yellow": 1},
}


@dataclass
class Plan:
    # delivered, delivered_late, transit, will_be_late, late, returned, expired
    scenario: str
    cause: str = "none"
    level: str = "none"
    incident: str | None = None
    recent: bool = False  # detected less than an hour ago


def plan_shipments(rng: DemoRandom, total: int) -> list[Plan]:
    """The scenario mix; every cause and level shows up even at the smallest size."""
    n_customs = max(3, round(total * 50 / 3000))
    n_strike = max(5, round(total * 120 / 3000))
    n_late = max(30, round(total * 0.07))
    n_delivered_late = max(20, round(total * 0.10))
    n_returned = max(2, round(total * 0.006))
    n_expired = max(1, round(total * 0.003))
    n_transit = max(15, round(total * 0.14))
    # In transit, slow for the lane, the promise within 72 h: the model's forecast warns.
    n_forecast = max(3, round(total * 0.005))
    n_delivered = total - (
        n_customs
        + n_strike
        + n_late
        + n_delivered_late
        + n_returned
        + n_expired
        + n_transit
        + n_forecast
    )
    if n_delivered < 0:
        raise ValueError("too few shipments for the demo mix")
    plans: list[Plan] = []
    seen: set[str] = set()
    causes = rng.spread({cause: spec[0] for cause, spec in LATE_CAUSES.items()}, n_late)
    for index, cause in enumerate(causes):
        _weight, levels, first = LATE_CAUSES[cause]
        level = first if cause not in seen else rng.weighted(levels)
        seen.add(cause)
        plans.append(Plan("late", cause, level, recent=index < 3))
    for level in rng.spread({"hub_hold": 3, "red": 2}, n_customs):
        plans.append(Plan("late", "customs_hold", level, incident="customs"))
    for level in rng.spread({"hub_hold": 3, "red": 2}, n_strike):
        plans.append(Plan("late", "congestion", level, incident="strike"))
    for cause in rng.spread(DELIVERED_LATE_CAUSES, n_delivered_late):
        plans.append(Plan("delivered_late", cause, rng.weighted(DELIVERED_LATE_LEVELS[cause])))
    plans += [Plan("returned", "address_issue") for _ in range(n_returned)]
    plans += [Plan("expired", "tracking_lost") for _ in range(n_expired)]
    plans += [Plan("transit") for _ in range(n_transit)]
    # No cause from the carrier: detection records "unknown" for a forecast.
    plans += [Plan("will_be_late", "unknown", "will_be_late") for _ in range(n_forecast)]
    plans += [Plan("delivered") for _ in range(n_delivered)]
    rng.shuffle(plans)
    return plans
