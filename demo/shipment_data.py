"""Demo shipments with their scans, delay levels and incidents.

Every shipment follows one scenario: delivered on time, delivered late, in transit on time, late
in transit, returned or expired. The generated state is the state the project's own jobs would
compute, so running them on the demo changes nothing:

- late parcels are built backwards from the rule that fired (a hub hold is 24 h at one place
  before detection, an orange level 72 h without a scan), then checked against a mirror of
  shipments.detection's rules (judging.judge) and redrawn with tighter timings if another level
  would fire;
- parcels on time and parcels the model warns about ("will be late") are checked with the
  probability the product computes (judging.LateForecast: shipments.risk's lane-quantile rule
  over the delivered history, shipments.eta's estimate given a missed promise);
- lane statistics follow shipments.lanes (nearest-rank percentiles), and are computed from the
  delivered history *before* the active parcels are generated, because the yellow rule compares
  time in transit with the lane's mean;
- shipments that reached a final status keep the level they had, as detection leaves them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from demo import texts
from demo.common import DemoRandom
from demo.customer_data import CustomerPicker
from demo.judging import LateForecast, RuleSpec, judge, widest_horizon
from demo.network import CARRIER_SPECS, PLACES, ROLE_STATUS, LaneSpec, Stop
from demo.shipment_plans import FINAL_SCENARIOS, Plan
from shipments.models import (
    Carrier,
    DelayLevelChange,
    Incident,
    Lane,
    Shipment,
    TrackingEvent,
)

H = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

# Where on a route each cause strikes: stop kinds in order of preference.
CAUSE_STOP_KINDS = {
    "customs_hold": ("import", "port"),
    "congestion": ("port", "export", "hub"),
    "capacity": ("hub", "export"),
    "weather": ("hub", "export", "depot"),
    "sorting": ("hub", "depot"),
    "address_issue": ("depot", "hub"),
    "carrier_outage": ("hub", "depot"),
    "tracking_lost": ("hub", "export", "import"),
    "damage": ("hub", "depot"),
    "loss": ("hub", "depot"),
}
# Causes whose parcels sit still (a hold), and causes whose parcels fall silent.
HOLD_CAUSES = {"customs_hold", "address_issue", "damage", "congestion"}
SILENT_CAUSES = {"tracking_lost", "loss", "carrier_outage"}
# The incidents' places: other parcels there would be swept into them by automatic grouping.
INCIDENT_PLACES = {"customs": "CDG", "strike": "RTM"}

TRACKING_FORMATS: dict[str, Callable[[DemoRandom], str]] = {
    "SF": lambda rng: "SF" + rng.digits(13),
    "DHL": lambda rng: rng.digits(10),
    "CAINIAO": lambda rng: "LP00" + rng.digits(12),
    "POSTNL": lambda rng: "3SDEVC" + rng.digits(7),
    "DEMO": lambda rng: "DX" + rng.digits(10),
}
CURRENCY_RATE = {"EUR": 1, "USD": 1.1, "CNY": 7.8}


@dataclass
class Scan:
    role: str
    place: str
    at: dt.datetime


@dataclass(eq=False)
class Built:
    """One generated shipment with its rows, kept together for the ticket builder."""

    shipment: Shipment
    events: list[TrackingEvent]
    changes: list[DelayLevelChange]
    plan: Plan
    lane_spec: LaneSpec
    levels: list[tuple[str, dt.datetime]] = field(default_factory=list)


@dataclass
class Draft:
    """A scenario's timeline before it becomes a Shipment."""

    shipped_at: dt.datetime
    scans: list[Scan]
    levels: list[tuple[str, dt.datetime]]
    fields: Callable[[dt.datetime], dict]  # promised_at -> extra Shipment fields


class ShipmentBuilder:
    MAX_ATTEMPTS = 12
    # A forecast needs a lane whose history says "late" at the parcel's elapsed time: more
    # draws (each on another lane, closer to the promise).
    FORECAST_ATTEMPTS = 40

    def __init__(
        self,
        rng: DemoRandom,
        now: dt.datetime,
        lanes: list[tuple[LaneSpec, Lane]],
        carriers: dict[str, Carrier],
        picker: CustomerPicker,
        rules: list[RuleSpec],
        incidents: dict[str, Incident],
    ):
        self.rng = rng
        self.now = now
        self.lanes = lanes
        self.carriers = carriers
        self.picker = picker
        self.rules = rules
        self.rule_keys = {}
        for rule in sorted(rules, key=lambda r: r.key, reverse=True):
            self.rule_keys[rule.level] = rule.key  # per level, the first key in order wins
        self.incidents = incidents
        self.lane_means: dict[int, float] = {}  # filled from the delivered history
        self.forecast: LateForecast | None = None  # likewise
        self.horizon = widest_horizon(rules)
        self.tracking_numbers: dict[str, set[str]] = {code: set() for code in carriers}
        self.order_numbers: set[str] = set()
        self.shrink = 1.0
        self.lane_by_key = {
            (s.carrier, s.origin, s.destination, s.service_level): (s, lane) for s, lane in lanes
        }

    # --- choosing lanes and stops ---------------------------------------------------------

    def choose_lane(self, plan: Plan) -> tuple[LaneSpec, Lane]:
        if plan.incident == "customs":
            return self.lane_by_key[("CAINIAO", "CN-ZJ", "FR-IDF", "standard")]
        candidates = self.lanes
        if plan.incident == "strike":
            candidates = [(s, lane) for s, lane in self.lanes if s.sea]
        elif plan.cause == "customs_hold":
            candidates = [
                (s, lane)
                for s, lane in self.lanes
                if s.international
                and any(st.kind in ("import", "port") for st in s.stops)
                # Customs holds at CDG belong to the (automatic) incident there.
                and not (plan.scenario == "late" and self._place_index(s, "CDG") is not None)
            ]
        elif plan.scenario in ("transit", "will_be_late", "expired", "returned"):
            # Sea legs go weeks without a scan: an on-time parcel would look silent there.
            candidates = [(s, lane) for s, lane in self.lanes if not s.sea]
        weights = [
            s.weight * (3 if plan.cause == "congestion" and s.sea else 1) for s, _ in candidates
        ]
        return self.rng.choices(candidates, weights=weights)[0]

    def stuck_index(self, spec: LaneSpec, plan: Plan) -> int:
        if plan.incident:
            return self._place_index(spec, INCIDENT_PLACES[plan.incident])
        middle = list(range(1, len(spec.stops) - 1))
        if plan.scenario == "late":
            # Parcels stuck at an incident's place would be grouped into that incident.
            middle = [i for i in middle if spec.stops[i].place not in INCIDENT_PLACES.values()]
        for kind in CAUSE_STOP_KINDS.get(plan.cause, ("hub",)):
            matches = [i for i in middle if spec.stops[i].kind == kind]
            if matches:
                return self.rng.choice(matches)
        return self.rng.choice(middle)

    @staticmethod
    def _place_index(spec: LaneSpec, place: str) -> int | None:
        for i, stop in enumerate(spec.stops):
            if stop.place == place:
                return i
        return None

    def lane_mean(self, spec: LaneSpec, lane: Lane) -> float:
        return self.lane_means.get(lane.pk, spec.mean_hours)

    # --- building -----------------------------------------------------------------------------

    def build(self, plan: Plan) -> Built:
        """Draw the plan's timeline; active parcels are redrawn until detection agrees."""
        attempts = self.FORECAST_ATTEMPTS if plan.scenario == "will_be_late" else self.MAX_ATTEMPTS
        rule = ""
        for attempt in range(attempts):
            self.shrink = 0.6 ** min(attempt, self.MAX_ATTEMPTS - 1)
            spec, lane = self.choose_lane(plan)
            method = getattr(self, f"_scenario_{plan.scenario}")
            draft: Draft = method(plan, spec, lane)
            draft.scans = self._tidy(draft.scans)
            promised_at = draft.shipped_at + dt.timedelta(hours=spec.promise_hours)
            extra = draft.fields(promised_at)
            if plan.scenario in FINAL_SCENARIOS:
                break
            agrees, rule = self._agrees(plan, draft, extra, promised_at, spec, lane)
            if agrees:
                break
            rule = ""
        customer = self.picker.pick(spec.destination)
        carrier = self.carriers[spec.carrier]
        shipment = self._shipment(
            spec, lane, customer, carrier, draft.shipped_at, promised_at, draft.scans
        )
        for key, value in extra.items():
            setattr(shipment, key, value)
        built = Built(shipment, self._events(spec, carrier, shipment, draft.scans), [], plan, spec)
        self._apply_levels(built, draft.levels, rule)
        return built

    def _agrees(self, plan, draft, extra, promised_at, spec, lane) -> tuple[bool, str]:
        """Does detection give the plan's level? With the rule key it records."""
        last = draft.scans[-1]
        status = extra.get("status", ROLE_STATUS[last.role][0])
        facts = {
            "status": status,
            "shipped_at": draft.shipped_at,
            "promised_at": promised_at,
            "predicted_eta": extra.get("predicted_eta"),
            "last_event_at": last.at,
            "location_since": self._location_since(draft.scans),
            "lane_mean": self.lane_means.get(lane.pk),
        }
        probabilities: list[float | None] = [None]
        if (
            self.horizon is not None
            and self.forecast is not None
            and promised_at <= self.now + dt.timedelta(hours=self.horizon)
        ):
            # Detection scores the shipments within the widest horizon (the carrier's estimate
            # only counts without history; the builder sets it to the promise or none).
            probabilities = self.forecast.probabilities(
                lane_id=lane.pk,
                carrier_id=self.carriers[spec.carrier].pk,
                service_level=spec.service_level,
                status=status,
                shipped_at=draft.shipped_at,
                promised_at=promised_at,
                last_event_at=last.at,
                carrier_eta=extra.get("carrier_eta"),
            )
        verdicts = {
            judge(self.rules, self.now, late_probability=p, **facts) for p in set(probabilities)
        }
        if len(verdicts) != 1:
            return False, ""  # too close to a threshold to be sure of the database's answer
        level, key = verdicts.pop()
        return level == plan.level, key

    @staticmethod
    def _location_since(scans: list[Scan]) -> dt.datetime:
        last = scans[-1]
        since = last.at
        for scan in reversed(scans):
            if scan.place != last.place:
                break
            since = scan.at
        return since

    def _shipment(self, spec, lane, customer, carrier, shipped_at, promised_at, scans) -> Shipment:
        rng = self.rng
        ordered_at = min(shipped_at, scans[0].at) - rng.hours(2, 40)
        last = scans[-1]
        status, cause = ROLE_STATUS[last.role]
        currency = customer.currency
        rate = CURRENCY_RATE[currency]
        value = math.exp(rng.gauss(math.log(45), 0.8))
        if rng.chance(0.03):
            value = rng.choice([299, 349, 420, 590])  # the high-value orders of the matrix
        value = Decimal(max(5, round(value * rate))) - Decimal("0.01")
        created_at = ordered_at + rng.minutes(5, 60)
        return Shipment(
            public_id=rng.uuid4(),
            carrier=carrier,
            tracking_number=self._tracking_number(spec.carrier),
            order_number=self._order_number(),
            customer=customer,
            lane=lane,
            service_level=spec.service_level,
            origin_region=spec.origin,
            destination_region=spec.destination,
            status=status,
            cause=cause,
            order_value=value,
            currency=currency,
            ordered_at=ordered_at,
            shipped_at=shipped_at,
            promised_at=promised_at,
            carrier_eta=promised_at if rng.chance(0.8) else None,
            last_event_at=last.at,
            last_location=PLACES[last.place][0],
            location_since=self._location_since(scans),
            created_at=min(created_at, scans[0].at),
            updated_at=last.at,
        )

    def _tracking_number(self, code: str) -> str:
        while True:
            number = TRACKING_FORMATS[code](self.rng)
            if number not in self.tracking_numbers[code]:
                self.tracking_numbers[code].add(number)
                return number

    def _order_number(self) -> str:
        while True:
            number = f"DD-{self.rng.digits(7)}"
            if number not in self.order_numbers:
                self.order_numbers.add(number)
                return number

    def _events(self, spec, carrier, shipment, scans: list[Scan]) -> list[TrackingEvent]:
        carrier_spec = CARRIER_SPECS[spec.carrier]
        language = carrier_spec.language
        events = []
        for scan in scans:
            status, cause = ROLE_STATUS[scan.role]
            place_en, place_zh = PLACES[scan.place]
            place = place_zh if language == texts.ZH else place_en
            events.append(
                TrackingEvent(
                    shipment=shipment,
                    carrier=carrier,
                    carrier_event_id=str(self.rng.uuid4()),
                    occurred_at=scan.at,
                    received_at=min(self.now, scan.at + self.rng.minutes(1, 30)),
                    carrier_code=carrier_spec.code_for(scan.role),
                    status=status,
                    cause=cause,
                    location=place_en,
                    description=texts.EVENT_TEXT[language][scan.role].format(place=place),
                )
            )
        return events

    def _apply_levels(
        self, built: Built, levels: list[tuple[str, dt.datetime]], rule_now: str = ""
    ) -> None:
        """The level history, one DelayLevelChange per change, as detection writes it;
        ``rule_now`` is the rule that fires now (judged), for the current level."""
        shipment = built.shipment
        current = "none"
        cause = built.plan.cause
        for index, (level, at) in enumerate(levels):
            at = min(at, self.now - dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
            if level == current:
                continue
            rule = self.rule_keys.get(level, "")
            if rule_now and index == len(levels) - 1:
                rule = rule_now
            built.changes.append(
                DelayLevelChange(
                    shipment=shipment,
                    from_level=current,
                    to_level=level,
                    cause=cause,
                    rule_key=rule,
                    changed_at=at,
                )
            )
            if current == "none":
                shipment.delay_detected_at = at
            shipment.delay_rule = rule
            current = level
            built.levels.append((level, at))
        shipment.delay_level = current
        if levels:
            shipment.delay_cause = cause
            shipment.updated_at = max(shipment.updated_at, built.levels[-1][1])

    # --- scan helpers -------------------------------------------------------------------------

    def _route(
        self, spec: LaneSpec, start: dt.datetime, until: int, arrival: dt.datetime
    ) -> list[Scan]:
        """Scans from pickup to the arrival at stop ``until``, spread in proportion to the route."""
        stops = spec.stops
        span = (arrival - start).total_seconds()
        scans = [Scan("pickup", stops[0].place, start)]
        target = stops[until].progress or 1
        for i in range(1, until):
            share = stops[i].progress / target
            share = min(0.97, max(0.02, share * self.rng.uniform(0.92, 1.08)))
            scans.append(Scan("arrive", stops[i].place, start + dt.timedelta(seconds=span * share)))
        scans.append(Scan(self._arrival_role(stops[until]), stops[until].place, arrival))
        return scans

    @staticmethod
    def _arrival_role(stop: Stop) -> str:
        return "customs_in" if stop.kind == "import" else "arrive"

    def _trim(self, scans: list[Scan], droppable: list[Scan], limit: int = 6) -> list[Scan]:
        """At most ``limit`` scans (3-6 per parcel), dropping only intermediate route scans."""
        limit = self.rng.choice([limit, limit, limit - 1])
        candidates = [scan for scan in droppable if scan is not scans[0]]
        while len(scans) > limit and candidates:
            drop = self.rng.choice(candidates)
            candidates.remove(drop)
            scans = [scan for scan in scans if scan is not drop]
        return scans

    def _with_label(self, scans: list[Scan], spec: LaneSpec) -> list[Scan]:
        # The label is created at the merchant, before the parcel is at the carrier's place.
        if len(scans) < 3 or (len(scans) < 6 and self.rng.chance(0.5)):
            label = Scan("label", spec.stops[0].place, scans[0].at - self.rng.hours(2, 20))
            scans = [label] + scans
        return scans

    def _tidy(self, scans: list[Scan]) -> list[Scan]:
        """Whole minutes, strictly increasing, nothing in the future."""
        for scan in scans:
            scan.at = scan.at.replace(second=0, microsecond=0)
        for i in range(1, len(scans)):
            if scans[i].at <= scans[i - 1].at:
                scans[i].at = scans[i - 1].at + dt.timedelta(minutes=self.rng.randint(5, 40))
        latest = self.now - dt.timedelta(minutes=2)
        for i in range(len(scans) - 1, -1, -1):
            cap = latest if i == len(scans) - 1 else scans[i + 1].at - dt.timedelta(minutes=1)
            if scans[i].at > cap:
                scans[i].at = cap
        return scans

    def _detect_age(self, plan: Plan, cap: float | None = None) -> float:
        """Hours since the delay was detected (shrinking when a draw had to be redone)."""
        if plan.recent:
            return self.rng.uniform(0.25, 0.75)
        band = self.rng.weighted({(1, 24): 25, (24, 120): 45, (120, 400): 30})
        age = self.rng.uniform(*band) * self.shrink
        return max(0.5, min(age, cap) if cap else age)

    def _jitter(self) -> dt.timedelta:
        # Detection runs every few minutes, so it fires a little after the threshold.
        return dt.timedelta(minutes=self.rng.randint(1, 14))

    # --- scenarios: each returns a Draft --------------------------------------------------------

    def _scenario_delivered(self, plan: Plan, spec: LaneSpec, lane: Lane) -> Draft:
        rng = self.rng
        mean = spec.mean_hours
        transit = mean * math.exp(rng.gauss(0, 0.15))
        transit = min(max(transit, 0.6 * mean), spec.promise_hours - 2)
        delivered = self.now - rng.hours(2, 100 * 24)
        shipped = delivered - dt.timedelta(hours=transit)
        route = self._route(spec, shipped, len(spec.stops) - 1, delivered)
        route[-1].role = "delivered"
        scans = self._finish_delivery(route, spec)
        scans = self._with_label(self._trim(scans, droppable=route[1:-1]), spec)
        return Draft(shipped, scans, [], lambda promised: {"delivered_at": scans[-1].at})

    def _finish_delivery(
        self, scans: list[Scan], spec: LaneSpec, variants: bool = True
    ) -> list[Scan]:
        """Out for delivery (or a service point, or a failed attempt first) before delivery."""
        rng = self.rng
        delivered = scans[-1]
        depot = spec.stops[-2].place
        roll = rng.random() if variants else 1.0
        if roll < 0.05:
            extra = [Scan("pickup_point", depot, delivered.at - rng.hours(4, 40))]
        elif roll < 0.09:
            extra = [
                Scan("attempt", spec.stops[-1].place, delivered.at - rng.hours(20, 26)),
                Scan("out", depot, delivered.at - rng.hours(2, 5)),
            ]
        else:
            extra = [Scan("out", depot, delivered.at - rng.hours(1.5, 6))]
        before = [scan for scan in scans[:-1] if scan.at < extra[0].at]
        return before + extra + [delivered]

    def _scenario_delivered_late(self, plan: Plan, spec: LaneSpec, lane: Lane) -> Draft:
        rng = self.rng
        mean = spec.mean_hours
        late_days = rng.weighted({(0.5, 3): 60, (3, 10): 35, (10, 25): 5})
        transit = spec.promise_hours + rng.uniform(*late_days) * 24
        delivered = self.now - rng.hours(6, 90 * 24)
        shipped = delivered - dt.timedelta(hours=transit)
        k = self.stuck_index(spec, plan)
        arrival = shipped + dt.timedelta(hours=spec.stops[k].progress * mean)
        route = self._route(spec, shipped, k, arrival)
        cause_scan = Scan(plan.cause, spec.stops[k].place, arrival + rng.hours(1, 6))
        moving_again = delivered - dt.timedelta(hours=(1 - spec.stops[k].progress) * mean)
        depart = Scan("depart", spec.stops[k].place, max(moving_again, cause_scan.at + H))
        tail = [depart, Scan("delivered", spec.stops[-1].place, delivered)]
        scans = self._finish_delivery(route + [cause_scan] + tail, spec, variants=False)
        scans = self._with_label(self._trim(scans, droppable=route[1:-1] + [depart]), spec)
        scans = self._tidy(scans)
        cause_at = next(s.at for s in scans if s.role == plan.cause)
        end = scans[-1].at
        detected = min(cause_at + rng.hours(1, 30), cause_at + (end - cause_at) / 2)

        def fields(promised: dt.datetime) -> dict:
            predicted = max(promised + H, end - rng.hours(0, 12))
            return {
                "delivered_at": end,
                "predicted_eta": predicted.replace(second=0, microsecond=0),
            }

        return Draft(shipped, scans, [(plan.level, detected)], fields)

    def _scenario_transit(self, plan: Plan, spec: LaneSpec, lane: Lane) -> Draft:
        rng = self.rng
        mean = spec.mean_hours
        j = rng.randrange(0, len(spec.stops) - 1)
        gap = (spec.stops[j + 1].progress - spec.stops[j].progress) * mean
        last_scan_age = rng.uniform(0.3, max(0.5, min(22, 0.9 * gap)))
        reached = self.now - dt.timedelta(hours=last_scan_age)
        shipped = reached - dt.timedelta(hours=spec.stops[j].progress * mean)
        if j == 0:
            scans = [
                Scan("label", spec.stops[0].place, reached - rng.hours(3, 20)),
                Scan("pickup", spec.stops[0].place, reached),
                Scan("depart", spec.stops[0].place, reached + rng.hours(0.1, 0.3 * last_scan_age)),
            ]
        else:
            route = self._route(spec, shipped, j, reached)
            scans = self._with_label(self._trim(route, droppable=route[1:-1]), spec)
            if len(scans) < 3:
                scans.append(Scan("depart", spec.stops[j].place, reached + H / 3))
        lane_mean = self.lane_mean(spec, lane)

        def fields(promised: dt.datetime) -> dict:
            eta = shipped + dt.timedelta(hours=min(mean, lane_mean) * rng.uniform(0.95, 1.08))
            eta = min(max(eta, self.now + H), promised - H)
            return {"predicted_eta": eta.replace(second=0, microsecond=0)}

        return Draft(shipped, scans, [], fields)

    def _scenario_will_be_late(self, plan: Plan, spec: LaneSpec, lane: Lane) -> Draft:
        """In transit and on time so far, but slow for the lane with the promise within the
        widest horizon: the late-delivery model expects it to miss the promise."""
        rng = self.rng
        mean = spec.mean_hours
        now = self.now
        widest = self.horizon or 72
        # Closer to the promise on each redraw: the later, the likelier "late".
        left = max(1.5, rng.uniform(4, widest - 2) * self.shrink)
        promised = now + dt.timedelta(hours=left)
        shipped = promised - dt.timedelta(hours=spec.promise_hours)
        elapsed = spec.promise_hours - left
        # Behind schedule: the last stop reached is one a usual parcel passes well before.
        middle = range(1, len(spec.stops) - 1)
        behind = [i for i in middle if spec.stops[i].progress * mean <= 0.8 * elapsed] or [1]
        j = rng.choice(behind[-2:])
        # Arrived there less than a day ago: not a hub hold.
        reached = now - rng.hours(0.5, 18)
        route = self._route(spec, shipped, j, reached)
        scans = self._with_label(self._trim(route, droppable=route[1:-1]), spec)
        if len(scans) < 3:
            scans.append(Scan("depart", spec.stops[j].place, reached + H / 3))
        # Warned since the promise came within the horizon of the rule that fires (the
        # narrowest one that covers it) and the probability crossed its threshold.
        horizons = [
            r.horizon for r in self.rules if r.kind == "late_probability" and r.horizon
        ] or [widest]
        horizon = min((h for h in horizons if h >= left), default=widest)
        age = min(40.0, horizon - left) * rng.uniform(0.1, 0.9)
        levels = [("will_be_late", now - dt.timedelta(hours=age))]
        forecast = self.forecast
        carrier = self.carriers[spec.carrier]

        def fields(promised_at: dt.datetime) -> dict:
            # The carrier still quotes the promise; the forecast gives a later date to tell.
            eta = forecast.late_eta(
                lane_id=lane.pk,
                carrier_id=carrier.pk,
                service_level=spec.service_level,
                shipped_at=shipped,
                promised_at=promised_at,
                last_event_at=scans[-1].at,
                carrier_eta=promised_at,
            )
            return {"late_eta": eta, "carrier_eta": promised_at}

        return Draft(shipped, scans, levels, fields)

    def _scenario_late(self, plan: Plan, spec: LaneSpec, lane: Lane) -> Draft:
        """Late in transit, built backwards from the rule that fired."""
        rng = self.rng
        mean = spec.mean_hours
        now = self.now
        k = self.stuck_index(spec, plan)
        stop = spec.stops[k]
        level = plan.level
        levels: list[tuple[str, dt.datetime]] = []
        updates: list[dt.datetime] = []

        if level == "yellow":
            age = self._detect_age(plan, cap=40)
            shipped = now - dt.timedelta(hours=1.5 * self.lane_mean(spec, lane) + age)
            arrival = now - rng.hours(2, 20)
            cause_at = arrival + rng.hours(0.3, 1.5)
            levels = [("yellow", now - dt.timedelta(hours=age) + self._jitter())]
        elif level == "hub_hold" or (level == "red" and plan.cause in HOLD_CAUSES):
            hold = self._detect_age(plan)
            if plan.incident:
                window = self.incidents[plan.incident].window_start
                latest = now - 25 * H
                arrival = window + (latest - window) * rng.random()
            else:
                arrival = now - dt.timedelta(hours=24 + hold)
            shipped = arrival - dt.timedelta(hours=stop.progress * mean * rng.uniform(0.9, 1.2))
            cause_at = arrival + rng.hours(0.5, 6)
            held_at = arrival + 24 * H + self._jitter()
            levels = [("hub_hold", held_at)]
            if level == "red":
                levels.append(("red", held_at + (now - held_at) * rng.uniform(0.2, 0.9)))
            if (now - cause_at) > 48 * H:
                updates.append(now - rng.hours(3, 46))  # "still held": the hold is not silent
        elif level == "orange" or (level == "red" and plan.cause in SILENT_CAUSES):
            silent = self._detect_age(plan) + (
                rng.uniform(12, 96) * self.shrink if level == "red" else 0
            )
            cause_at = now - dt.timedelta(hours=72 + silent)
            arrival = cause_at - rng.hours(0.5, 8)
            shipped = arrival - dt.timedelta(hours=stop.progress * mean * rng.uniform(0.9, 1.2))
            orange_at = cause_at + 72 * H + self._jitter()
            levels = [("orange", orange_at)]
            if level == "red":
                levels.append(("red", orange_at + (now - orange_at) * rng.uniform(0.3, 0.9)))
        elif level == "red":
            age = self._detect_age(plan)
            detected = now - dt.timedelta(hours=age)
            cause_at = detected - rng.hours(0.5, 3)
            arrival = cause_at - rng.hours(1, 10)
            shipped = arrival - dt.timedelta(hours=stop.progress * mean * rng.uniform(1.0, 1.4))
            levels = [("red", detected)]
        else:  # long_delay: more than 30 days past the promise
            age = rng.uniform(0.5, 240)
            promised = now - dt.timedelta(hours=30 * 24 + age) - rng.hours(0, 24)
            shipped = promised - dt.timedelta(hours=spec.promise_hours)
            arrival = shipped + dt.timedelta(hours=stop.progress * mean * rng.uniform(0.9, 1.2))
            cause_at = arrival + rng.hours(0.5, 6)
            long_at = promised + 30 * DAY + self._jitter()
            if plan.cause in SILENT_CAUSES:
                first = ("orange", cause_at + 72 * H + self._jitter())
            else:
                first = ("hub_hold", arrival + 24 * H + self._jitter())
                updates.append(now - rng.hours(5, 60))
            red_at = first[1] + rng.hours(24, 120)
            levels = [first, ("red", min(red_at, long_at - H)), ("long_delay", long_at)]

        route = self._route(spec, shipped, k, arrival)
        scans = route + [Scan(plan.cause, stop.place, cause_at)]
        scans += [Scan(plan.cause, stop.place, at) for at in updates]
        scans = self._with_label(self._trim(scans, droppable=route[1:-1]), spec)
        # How far the estimate slips past the promise: under a week unless red, over a month
        # for a long delay; never in the past.
        slip = {
            "yellow": (0.3, 6.5),
            "hub_hold": (0.5, 6.5),
            "orange": (1, 6.5),
            "red": (8, 25),
            "long_delay": (35, 60),
        }[level]
        incident = self.incidents.get(plan.incident) if plan.incident else None

        def fields(promised: dt.datetime) -> dict:
            predicted = promised + dt.timedelta(days=rng.uniform(*slip))
            predicted = max(predicted, now + rng.hours(6, 48))
            return {
                "predicted_eta": predicted.replace(second=0, microsecond=0),
                "incident": incident,
                "carrier_eta": promised if level in ("yellow", "orange") else None,
            }

        return Draft(shipped, scans, levels, fields)

    def _scenario_returned(self, plan: Plan, spec: LaneSpec, lane: Lane) -> Draft:
        rng = self.rng
        k = len(spec.stops) - 2
        to_depot = dt.timedelta(hours=spec.stops[k].progress * spec.mean_hours)
        shipped = self.now - to_depot - rng.hours(11 * 24, 40 * 24)
        arrival = shipped + to_depot
        route = self._route(spec, shipped, k, arrival)
        scans = route + [
            Scan("attempt", spec.stops[-1].place, arrival + rng.hours(8, 20)),
            Scan("address_issue", spec.stops[k].place, arrival + rng.hours(22, 30)),
            Scan("returned", spec.stops[0].place, arrival + rng.hours(6 * 24, 9 * 24)),
        ]
        scans = self._trim(scans, droppable=route[1:-1])
        held = scans[-2].at + 24 * H + self._jitter()
        return Draft(
            shipped,
            scans,
            [("hub_hold", held)],
            lambda promised: {"predicted_eta": None, "carrier_eta": None},
        )

    def _scenario_expired(self, plan: Plan, spec: LaneSpec, lane: Lane) -> Draft:
        rng = self.rng
        promise = spec.promise_hours
        shipped = self.now - dt.timedelta(hours=promise) - rng.hours(40 * 24, 60 * 24)
        k = self.stuck_index(spec, plan)
        arrival = shipped + dt.timedelta(hours=spec.stops[k].progress * spec.mean_hours)
        route = self._route(spec, shipped, k, arrival)
        scans = route + [Scan("tracking_lost", spec.stops[k].place, arrival + rng.hours(2, 30))]
        scans = self._with_label(self._trim(scans, droppable=route[1:-1]), spec)
        promised = shipped + dt.timedelta(hours=promise)
        orange_at = scans[-1].at + 72 * H + self._jitter()
        levels = [("orange", orange_at), ("long_delay", promised + 30 * DAY + self._jitter())]
        return Draft(
            shipped,
            scans,
            levels,
            lambda promised: {"status": "expired", "predicted_eta": None, "carrier_eta": None},
        )


def build_incidents(
    rng: DemoRandom, now: dt.datetime, lanes, carriers, supervisor
) -> dict[str, Incident]:
    customs = texts.INCIDENTS["customs"]
    strike = texts.INCIDENTS["strike"]
    customs_start = now - 5 * DAY - 7 * H
    strike_start = now - 8 * DAY - 3 * H
    return {
        # Grouped automatically by detection: customs holds of one carrier at one hub.
        "customs": Incident(
            public_id=rng.uuid4(),
            title=customs["title"],
            status="monitoring",
            cause="customs_hold",
            carrier=carriers["CAINIAO"],
            lane=None,
            hub=customs["hub"],
            window_start=customs_start,
            public_explanation=customs[texts.EN],
            public_explanation_zh_hans=customs[texts.ZH],
            is_automatic=True,
            created_at=customs_start + 30 * H,
            updated_at=now - 5 * H,
        ),
        # Opened by the supervisor from a filter: sea freight of two lanes waiting in the port.
        "strike": Incident(
            public_id=rng.uuid4(),
            title=strike["title"],
            status="open",
            cause="congestion",
            carrier=carriers["CAINIAO"],
            lane=None,
            hub=strike["hub"],
            window_start=strike_start,
            public_explanation=strike[texts.EN],
            public_explanation_zh_hans=strike[texts.ZH],
            is_automatic=False,
            opened_by=supervisor,
            created_at=strike_start + 20 * H,
            updated_at=now - 2 * H,
        ),
    }
