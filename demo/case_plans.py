"""Which tickets the demo has: chosen from the shipment history, each with its target status.

Proactive tickets for most detected delays (opened by the detection sweep), customer tickets
for late, damaged, lost or simply curious cases, a few address changes taken on the phone;
every status, category and source shows up even at the smallest demo size.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from customers.models import Customer
from demo.common import DemoRandom
from demo.shipment_data import Built
from shipments.models import Incident, Shipment

H = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


@dataclass
class Case:
    """The plan for one ticket before its story is told."""

    customer: Customer
    category: str
    source: str
    status: str
    created_at: dt.datetime
    built: Built | None = None
    incident: Incident | None = None
    solve_after: dt.datetime | None = None  # earliest solve time (e.g. after delivery)
    due_soon: bool = False  # a customer message whose reply is due within the hour
    remedy: bool = False

    @property
    def shipment(self) -> Shipment | None:
        return self.built.shipment if self.built else None


class CasePlanner:
    def __init__(self, rng: DemoRandom, now: dt.datetime):
        self.rng = rng
        self.now = now

    def plan(self, built: list[Built]) -> list[Case]:
        rng = self.rng
        now = self.now
        by_scenario: dict[str, list[Built]] = {}
        for item in built:
            key = item.plan.scenario + (":incident" if item.plan.incident else "")
            by_scenario.setdefault(key, []).append(item)
        cases: list[Case] = []

        # Late in transit: a proactive ticket for most, opened by the detection sweep.
        late = sorted(
            by_scenario.get("late", []), key=lambda b: b.shipment.delay_detected_at, reverse=True
        )
        proactive = [b for b in late if rng.chance(0.85)] or late[:1]
        proactive_ids = {id(b) for b in proactive}
        n_new = max(1, round(len(proactive) * 0.12))
        statuses = ["new"] * n_new + rng.spread(
            {"open": 4, "on_hold": 3, "pending": 1.5, "new": 0.5}, len(proactive) - n_new
        )
        due_soon = 0
        for item, status in zip(proactive, statuses, strict=True):
            if item.plan.cause == "address_issue" and status != "new" and rng.chance(0.7):
                status = "pending"
            created = self._after(item.shipment.delay_detected_at, 1, 10)
            case = Case(
                item.shipment.customer,
                self._category_for(item),
                "proactive",
                status,
                created,
                built=item,
                remedy=status != "new" and rng.chance(0.55),
            )
            if status == "open" and due_soon < 3 and now - created > 8 * H:
                case.due_soon = True
                due_soon += 1
            cases.append(case)
        for item in late:
            if id(item) in proactive_ids or not rng.chance(0.5):
                continue
            cases.append(
                Case(
                    item.shipment.customer,
                    self._category_for(item),
                    rng.choice(["customer", "email"]),
                    rng.weighted({"new": 1, "open": 3, "on_hold": 1}),
                    self._customer_noticed(item.shipment),
                    built=item,
                    remedy=rng.chance(0.4),
                )
            )

        # Incidents: everybody is notified; the ones who write back get a ticket.
        for item in by_scenario.get("late:incident", []):
            if not rng.chance(0.25):
                continue
            incident = item.shipment.incident
            start = max(item.shipment.delay_detected_at, incident.created_at + 2 * H)
            cases.append(
                Case(
                    item.shipment.customer,
                    "delay",
                    rng.choice(["customer", "email"]),
                    rng.weighted({"new": 1, "open": 3, "on_hold": 3, "pending": 0.5}),
                    self._between(start, now - 10 * MINUTE),
                    built=item,
                    incident=incident,
                    remedy=rng.chance(0.6),
                )
            )

        # Delivered late: the history of solved cases (and a few damaged ones still open).
        for item in by_scenario.get("delivered_late", []):
            if not rng.chance(0.4):
                continue
            shipment = item.shipment
            delivered = shipment.delivered_at
            if item.plan.cause == "damage" and rng.chance(0.6):
                created = self._after(delivered, 60, 48 * 60)
                status = "open" if now - created < 5 * 24 * H and rng.chance(0.6) else "solved"
                cases.append(
                    Case(
                        shipment.customer,
                        "damaged",
                        rng.choice(["customer", "email"]),
                        status,
                        created,
                        built=item,
                        remedy=True,
                        solve_after=created,
                    )
                )
                continue
            source = "proactive" if rng.chance(0.6) else rng.choice(["customer", "email", "api"])
            if source == "proactive":
                created = self._after(shipment.delay_detected_at, 1, 10)
            else:
                created = self._between(shipment.promised_at, delivered)
            cases.append(
                Case(
                    shipment.customer,
                    self._category_for(item),
                    source,
                    "solved",
                    created,
                    built=item,
                    solve_after=delivered,
                    remedy=rng.chance(0.5),
                )
            )

        # Returned (address problem) and expired (never found) parcels.
        for item in by_scenario.get("returned", []):
            shipment = item.shipment
            cases.append(
                Case(
                    shipment.customer,
                    "address_change",
                    "customer",
                    "solved",
                    self._after(shipment.delay_detected_at, 30, 20 * 60),
                    built=item,
                    solve_after=shipment.last_event_at,
                    remedy=rng.chance(0.5),
                )
            )
        for item in by_scenario.get("expired", []):
            shipment = item.shipment
            cases.append(
                Case(
                    shipment.customer,
                    "lost",
                    "proactive",
                    "solved",
                    self._after(shipment.delay_detected_at, 1, 10),
                    built=item,
                    solve_after=item.levels[-1][1],
                    remedy=True,
                )
            )

        # In transit and on time: questions, and address changes taken on the phone.
        transit = by_scenario.get("transit", [])
        asked = [b for b in transit if rng.chance(0.07)] or transit[:1]
        asked_ids = {id(b) for b in asked}
        for item in asked:
            created = self._between(item.shipment.shipped_at, now - 10 * MINUTE)
            status = "new" if now - created < 3 * H else rng.weighted({"open": 2, "solved": 3})
            source = rng.weighted({"customer": 3, "email": 2, "api": 1})
            cases.append(
                Case(
                    item.shipment.customer,
                    "information",
                    source,
                    status,
                    created,
                    built=item,
                    solve_after=created,
                )
            )
        moved = [b for b in transit if id(b) not in asked_ids and rng.chance(0.03)] or transit[-1:]
        for item in moved:
            created = self._between(item.shipment.shipped_at, now - 10 * MINUTE)
            status = "open"
            if now - created > 3 * H:
                status = rng.weighted({"open": 1, "pending": 1, "solved": 2})
            cases.append(
                Case(
                    item.shipment.customer,
                    "address_change",
                    "agent",
                    status,
                    created,
                    built=item,
                    solve_after=created,
                )
            )

        # Delivered on time: invoices, duties, "it says delivered but...".
        delivered = by_scenario.get("delivered", [])
        curious = [b for b in delivered if rng.chance(0.02)] or delivered[:2]
        for index, item in enumerate(curious):
            created = self._after(item.shipment.delivered_at, 30, 72 * 60)
            category = "other" if index == 0 else rng.weighted({"other": 3, "information": 2})
            source = "api" if index == 0 else rng.weighted({"customer": 3, "email": 3, "api": 1})
            age = now - created
            status = (
                "new"
                if age < 2 * H
                else "open"
                if age < 24 * H
                else rng.weighted({"solved": 2, "open": 0.3})
            )
            cases.append(
                Case(
                    item.shipment.customer,
                    category,
                    source,
                    status,
                    created,
                    built=item,
                    solve_after=created,
                )
            )

        # Solved long ago turns into closed (the auto-close sweeper's four days have passed).
        for case in cases:
            if case.status == "solved" and case.solve_after and now - case.solve_after > 6 * 24 * H:
                case.status = "closed" if rng.chance(0.7) else "solved"
        cases.sort(key=lambda c: c.created_at)
        return cases

    def _category_for(self, item: Built) -> str:
        cause = item.plan.cause
        if cause == "loss" or (
            cause == "tracking_lost" and item.plan.level in ("red", "long_delay")
        ):
            return "lost"
        if cause == "damage":
            return "damaged"
        if cause == "address_issue":
            return "address_change"
        return "delay"

    def _customer_noticed(self, shipment: Shipment) -> dt.datetime:
        start = max(shipment.delay_detected_at, shipment.promised_at)
        if start >= self.now - H:
            start = shipment.delay_detected_at
        return self._between(start, self.now - 10 * MINUTE)

    def _after(self, moment: dt.datetime, low_minutes: int, high_minutes: int) -> dt.datetime:
        later = moment + self.rng.minutes(low_minutes, high_minutes)
        return min(later, self.now - MINUTE).replace(second=0, microsecond=0)

    def _between(self, start: dt.datetime, end: dt.datetime) -> dt.datetime:
        if end <= start:
            return min(start, self.now - MINUTE).replace(second=0, microsecond=0)
        return (start + (end - start) * self.rng.random()).replace(second=0, microsecond=0)
