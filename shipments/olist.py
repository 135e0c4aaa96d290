"""Real-order evaluation of the predicted ETA on the Olist public dataset (tests and bench only).

Reads ``shared/data/olist`` in place (CC BY-NC-SA: never copied into this repository), turns
each order into a shipment-like record and replays history to measure how good the delay
warnings of ``shipments.eta.predict_eta`` are, against the naive rule of shared/DOMAIN.md.

Mapping (shared/data/README.md): lane = seller state -> customer state of the order's first
item, one carrier (the marketplace's logistics), ``shipped_at`` = hand-over to the carrier,
``promised_at`` = estimated delivery date, ``delivered_at`` = delivery to the customer. The
timestamps are local Brazil time without offset: read as America/Sao_Paulo, kept in UTC. The
estimated delivery date is a date (Olist writes it as midnight): "delivered by 18 October"
holds until the end of that day, read with the import's own helper
(``shipments.imports.end_of_day``), so a parcel delivered on its promised day is on time here
as it is in the product.

Warning quality at horizon N hours (DOMAIN.md, "Delay detection"), counted as follows:

- **Which orders count:** parcels, i.e. orders handed over to the carrier (or delivered).
  Orders never handed over (cancelled, unavailable, still being invoiced) never became a
  parcel the product could warn about, and are left out.
- **Late:** delivered after the end of the promised day, or handed over and never delivered
  (lost or stuck: the latest of all; the sample's snapshot is months after every promise).
- **At T = promise - N h:** an order not purchased yet at T is not counted at that horizon
  (nobody can be warned about it then); an order delivered by T is counted and never flagged.
- **Flagged:** not delivered by T and the rule says it will be late. Precision = flagged
  orders that were late / flagged; recall = flagged late orders / late orders (at that
  horizon).

No tuning on the reported months: everything fitted or chosen (the P(late) thresholds) is
fitted on orders resolved before a cutoff; the figures reported are on orders purchased from
the cutoff on (``accuracy_report``).
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from shipments.eta import TransitHistory, late_probability, predict_eta
from shipments.imports import end_of_day
from shipments.lanes import DEFAULT_WINDOW_DAYS, TransitDistribution

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
HOUR = dt.timedelta(hours=1)
HORIZONS_HOURS = (24, 72, 120)
# Orders purchased from this day on are the evaluation set; everything the model and its
# tuning see is known before it (see ``accuracy_report``).
EVALUATION_CUTOFF = dt.datetime(2017, 9, 1, tzinfo=SAO_PAULO)
# Tuning starts once the rolling history has a few months of deliveries (the sample's orders
# before 2017 are a hundred: the model would mostly fall back to the promise).
TRAINING_START = dt.datetime(2017, 3, 1, tzinfo=SAO_PAULO)
# The marketplace is one carrier with one service level in this data.
CARRIER = "olist"
SERVICE_LEVEL = "standard"
REQUIRED_FILES = (
    "olist_orders_dataset.csv",
    "olist_order_items_dataset.csv",
    "olist_sellers_dataset.csv",
    "olist_customers_dataset.csv",
)


@dataclass(frozen=True, slots=True)
class OlistOrder:
    order_id: str
    status: str
    purchased_at: dt.datetime
    shipped_at: dt.datetime | None
    delivered_at: dt.datetime | None
    promised_at: dt.datetime  # the end of the promised day (module docstring)
    origin_region: str | None  # seller state of the first item; None for orders without items
    destination_region: str

    @property
    def lane(self) -> tuple[str | None, str]:
        return (self.origin_region, self.destination_region)

    @property
    def is_delivered(self) -> bool:
        return self.delivered_at is not None

    @property
    def is_parcel(self) -> bool:
        """Handed over to the carrier (or delivered): an order the evaluation counts."""
        return self.shipped_at is not None or self.delivered_at is not None

    @property
    def is_late(self) -> bool:
        """Delivered after the promised day, or handed over and never delivered."""
        if self.delivered_at is None:
            return self.shipped_at is not None
        return self.delivered_at > self.promised_at

    def delivered_by(self, moment: dt.datetime) -> bool:
        return self.delivered_at is not None and self.delivered_at <= moment

    @property
    def transit_hours(self) -> float | None:
        """Hand-over to delivery, as the lane statistics count it (None if not countable)."""
        if self.shipped_at is None or self.delivered_at is None:
            return None
        if self.delivered_at < self.shipped_at:  # 4 orders stamped delivered before hand-over
            return None
        return (self.delivered_at - self.shipped_at) / HOUR


def default_data_dir() -> Path:
    """``../shared/data/olist`` relative to the repository root."""
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "olist"


def missing_files(data_dir: Path) -> list[str]:
    return [name for name in REQUIRED_FILES if not (data_dir / name).is_file()]


def load_orders(data_dir: Path) -> list[OlistOrder]:
    """All orders of the folder as shipment-like records, sorted by purchase time."""
    sellers = {row["seller_id"]: row["seller_state"] for row in _rows(data_dir, "sellers")}
    customers = {row["customer_id"]: row["customer_state"] for row in _rows(data_dir, "customers")}
    # An order with several sellers belongs to its first item's seller.
    first_items: dict[str, tuple[int, str]] = {}
    for row in _rows(data_dir, "order_items"):
        position = int(row["order_item_id"])
        current = first_items.get(row["order_id"])
        if current is None or position < current[0]:
            first_items[row["order_id"]] = (position, row["seller_id"])
    orders = []
    for row in _rows(data_dir, "orders"):
        first_item = first_items.get(row["order_id"])
        orders.append(
            OlistOrder(
                order_id=row["order_id"],
                status=row["order_status"],
                purchased_at=_moment(row["order_purchase_timestamp"]),
                shipped_at=_optional_moment(row["order_delivered_carrier_date"]),
                delivered_at=_optional_moment(row["order_delivered_customer_date"]),
                promised_at=promise_moment(row["order_estimated_delivery_date"]),
                origin_region=sellers.get(first_item[1]) if first_item else None,
                destination_region=customers[row["customer_id"]],
            )
        )
    orders.sort(key=lambda order: order.purchased_at)
    return orders


def _rows(data_dir: Path, table: str) -> Iterable[dict[str, str]]:
    # A real CSV parser: review comments (not read here) contain newlines.
    with (data_dir / f"olist_{table}_dataset.csv").open(newline="", encoding="utf-8") as file:
        yield from csv.DictReader(file)


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SAO_PAULO).astimezone(dt.UTC)


def _optional_moment(text: str) -> dt.datetime | None:
    return _moment(text) if text else None


def promise_moment(text: str) -> dt.datetime:
    """The estimated delivery date as a promise, in UTC: a date (or a date at midnight, as
    Olist writes it) holds until the end of that day in Sao Paulo, as the import reads a
    date-only promised_at; a time of day other than midnight is taken as given."""
    moment = dt.datetime.fromisoformat(text)
    if moment.time() == dt.time.min:
        return end_of_day(moment.date(), time_zone=SAO_PAULO).astimezone(dt.UTC)
    return moment.replace(tzinfo=SAO_PAULO).astimezone(dt.UTC)


# --- Replaying history --------------------------------------------------------------------


class RollingHistory:
    """Transit distributions as ``refresh_predicted_etas`` would have seen them at any moment.

    The production job reads the deliveries of the last ``window_days`` before ``now``; here
    the history is rebuilt once per (UTC) day from the deliveries before that day's midnight,
    as a daily refresh would: nothing delivered after the moment of the question leaks in.
    Moments must be asked in non-decreasing order.
    """

    def __init__(
        self, orders: Iterable[OlistOrder], *, window_days: int = DEFAULT_WINDOW_DAYS
    ) -> None:
        self._window = dt.timedelta(days=window_days)
        self._deliveries = sorted(
            (order.delivered_at, order.lane, order.transit_hours)
            for order in orders
            if order.transit_hours is not None and order.origin_region is not None
        )
        self._added = 0
        self._removed = 0
        self._by_lane: dict[Hashable, list[float]] = defaultdict(list)
        self._overall: list[float] = []
        self._day: dt.datetime | None = None
        self._history: TransitHistory | None = None

    def at(self, moment: dt.datetime) -> TransitHistory:
        day = moment.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        if day != self._day or self._history is None:
            self._advance_to(day)
            overall = TransitDistribution.from_sorted(self._overall) if self._overall else None
            self._history = TransitHistory(
                by_lane=_LazyDistributions(self._by_lane),
                # One carrier, one service level: the carrier's history is all deliveries.
                by_carrier_service={(CARRIER, SERVICE_LEVEL): overall} if overall else {},
                overall=overall,
            )
        return self._history

    def _advance_to(self, day: dt.datetime) -> None:
        if self._day is not None and day < self._day:
            raise ValueError("RollingHistory only moves forward in time")
        self._day = day
        while self._added < len(self._deliveries) and self._deliveries[self._added][0] < day:
            _, lane, hours = self._deliveries[self._added]
            bisect.insort(self._by_lane[lane], hours)
            bisect.insort(self._overall, hours)
            self._added += 1
        while (
            self._removed < self._added and self._deliveries[self._removed][0] < day - self._window
        ):
            _, lane, hours = self._deliveries[self._removed]
            del self._by_lane[lane][bisect.bisect_left(self._by_lane[lane], hours)]
            del self._overall[bisect.bisect_left(self._overall, hours)]
            self._removed += 1


class _LazyDistributions(Mapping[Hashable, TransitDistribution]):
    """Lane -> distribution of one day, built on first use (most lanes are never asked)."""

    def __init__(self, sorted_hours: dict[Hashable, list[float]]) -> None:
        self._sorted_hours = sorted_hours
        self._built: dict[Hashable, TransitDistribution] = {}

    def __getitem__(self, lane: Hashable) -> TransitDistribution:
        if lane not in self._built:
            hours = self._sorted_hours.get(lane)
            if not hours:
                raise KeyError(lane)
            self._built[lane] = TransitDistribution.from_sorted(hours)
        return self._built[lane]

    def __iter__(self) -> Iterator[Hashable]:
        return (lane for lane, hours in self._sorted_hours.items() if hours)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass(frozen=True, slots=True)
class Replay:
    """What the model said about one order at T = promise - N h (purchased by T)."""

    order: OlistOrder
    undelivered: bool  # not delivered by T: the only orders a warning can be about
    eta_after_promise: bool  # predict_eta(state at T) > promise
    late_probability: float  # late_probability(state at T); 0 when delivered by T


def replay(
    orders: Sequence[OlistOrder],
    *,
    history_orders: Iterable[OlistOrder],
    horizons: Sequence[int] = HORIZONS_HOURS,
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> dict[int, list[Replay]]:
    """Ask the production model about every parcel at every horizon, knowing only the past.

    1. Questions are sorted by their moment T = promise - N h, so the rolling history only
       moves forward. An order purchased after T gets no question at that horizon.
    2. State at T: hand-over time if it happened by T (else "not handed over yet"); no scans
       (Olist has none, so the stale-scan step of the model does nothing); no carrier ETA.
       Whether (and when) the parcel is delivered later is not part of the state.
    3. Distributions: the rolling history at T (deliveries before T's day, last
       ``window_days``), the lane's if it has ``MIN_DELIVERIES``, else all deliveries
       (``TransitHistory.for_shipment``, as in production).
    4. ``predict_eta`` and ``late_probability`` exactly as production calls them.
    """
    replays: dict[int, list[Replay]] = {horizon: [] for horizon in horizons}
    history = RollingHistory(history_orders, window_days=window_days)
    questions = sorted(
        (order.promised_at - horizon * HOUR, horizon, index)
        for index, order in enumerate(orders)
        for horizon in horizons
    )
    for moment, horizon, index in questions:
        order = orders[index]
        if not order.is_parcel:
            raise ValueError(f"replay needs parcels, {order.order_id} was never handed over")
        if order.purchased_at > moment:
            continue  # not an order yet at T: nobody can be warned about it then
        if order.delivered_by(moment):
            replays[horizon].append(Replay(order, False, False, 0.0))
            continue
        state = {
            "now": moment,
            "shipped_at": order.shipped_at
            if order.shipped_at is not None and order.shipped_at <= moment
            else None,
            "promised_at": order.promised_at,
            "distribution": history.at(moment).for_shipment(
                lane_id=order.lane, carrier_id=CARRIER, service_level=SERVICE_LEVEL
            ),
        }
        replays[horizon].append(
            Replay(
                order,
                True,
                predict_eta(**state) > order.promised_at,
                late_probability(**state),
            )
        )
    return replays


# --- Scoring ------------------------------------------------------------------------------


class PrecisionRecall:
    """Precision and recall from the counts `flagged`, `flagged_late` and `late` (0.0 when
    nothing was flagged or nothing was late); shared by this evaluator and the late-delivery
    model's figures (shipments.risk), so both say the same thing the same way."""

    flagged: int
    flagged_late: int
    late: int

    @property
    def precision(self) -> float:
        return self.flagged_late / self.flagged if self.flagged else 0.0

    @property
    def recall(self) -> float:
        return self.flagged_late / self.late if self.late else 0.0


@dataclass
class WarningScore(PrecisionRecall):
    """Confusion counts of one warning rule at one horizon."""

    orders: int = 0
    late: int = 0
    flagged: int = 0
    flagged_late: int = 0

    def add(self, order: OlistOrder, *, flagged: bool, late: bool | None = None) -> None:
        late = order.is_late if late is None else late
        self.orders += 1
        self.late += late
        if flagged:
            self.flagged += 1
            self.flagged_late += late


def naive_scores(
    orders: Sequence[OlistOrder], *, horizons: Sequence[int] = HORIZONS_HOURS
) -> dict[int, WarningScore]:
    """DOMAIN.md's baseline: flag every parcel not delivered N hours before its promise
    (parcels not purchased yet at that moment are not counted there)."""
    scores = {}
    for horizon in horizons:
        score = WarningScore()
        for order in orders:
            if not order.is_parcel:
                raise ValueError(f"the naive rule counts parcels, {order.order_id} is not one")
            moment = order.promised_at - horizon * HOUR
            if order.purchased_at > moment:
                continue
            score.add(order, flagged=not order.delivered_by(moment))
        scores[horizon] = score
    return scores


def brief_naive_scores(
    orders: Sequence[OlistOrder], *, horizons: Sequence[int] = HORIZONS_HOURS
) -> dict[int, WarningScore]:
    """The naive rule counted as DOMAIN.md's figures were: delivered orders only, the
    promise read as midnight at the start of its day. Only to check the loader against the
    brief; ``naive_scores`` is the honest count."""
    scores = {}
    for horizon in horizons:
        score = WarningScore()
        for order in orders:
            if order.delivered_at is None:
                continue
            day = order.promised_at.astimezone(SAO_PAULO).date()
            promise = dt.datetime.combine(day, dt.time.min, tzinfo=SAO_PAULO).astimezone(dt.UTC)
            score.add(
                order,
                flagged=order.delivered_at > promise - horizon * HOUR,
                late=order.delivered_at > promise,
            )
        scores[horizon] = score
    return scores


def eta_rule_scores(replays: dict[int, list[Replay]]) -> dict[int, WarningScore]:
    """Warn when the predicted ETA at T is after the promise (the stored ETA's own verdict)."""
    return {
        horizon: _score((item.order, item.eta_after_promise) for item in items)
        for horizon, items in replays.items()
    }


def probability_rule_scores(
    replays: dict[int, list[Replay]], thresholds: dict[int, float]
) -> dict[int, WarningScore]:
    """Warn when P(late | state at T) reaches the horizon's threshold."""
    return {
        horizon: _score(
            (item.order, item.undelivered and item.late_probability >= thresholds[horizon])
            for item in items
        )
        for horizon, items in replays.items()
    }


def tune_thresholds(replays: dict[int, list[Replay]]) -> dict[int, float]:
    """Per horizon, the P(late) threshold with the best min(precision, recall) on these
    replays (the bar asks for both); ties go to the lower threshold. Call it on the training
    period only.
    """
    thresholds = {}
    for horizon, items in replays.items():
        late_total = sum(item.order.is_late for item in items)
        # Walk the candidates from the most to the least confident, counting as we go.
        candidates = sorted(
            ((item.late_probability, item.order.is_late) for item in items if item.undelivered),
            reverse=True,
        )
        best, best_threshold, flagged, flagged_late = -1.0, 1.0, 0, 0
        for position, (probability, is_late) in enumerate(candidates):
            flagged += 1
            flagged_late += is_late
            next_probability = (
                candidates[position + 1][0] if position + 1 < len(candidates) else None
            )
            if next_probability == probability:
                continue  # a threshold takes all orders with the same probability or none
            quality = min(flagged_late / flagged, flagged_late / late_total if late_total else 0)
            if quality >= best:
                best, best_threshold = quality, probability
        thresholds[horizon] = best_threshold
    return thresholds


def _score(outcomes: Iterable[tuple[OlistOrder, bool]]) -> WarningScore:
    score = WarningScore()
    for order, flagged in outcomes:
        score.add(order, flagged=flagged)
    return score


# --- The evaluation -----------------------------------------------------------------------


def evaluation_orders(
    orders: Sequence[OlistOrder], *, cutoff: dt.datetime = EVALUATION_CUTOFF
) -> list[OlistOrder]:
    """The held-out set: parcels purchased on or after the cutoff (the reported months)."""
    return [order for order in orders if order.is_parcel and order.purchased_at >= cutoff]


def training_orders(
    orders: Sequence[OlistOrder],
    *,
    cutoff: dt.datetime = EVALUATION_CUTOFF,
    start: dt.datetime = TRAINING_START,
) -> list[OlistOrder]:
    """The tuning set: parcels purchased from ``start`` whose promise is before the cutoff,
    so that whether they were late (delivered after the promise, or not delivered by it), and
    whether they were delivered N h before the promise, is known on the cutoff day: no label
    from the evaluation period leaks in.
    """
    return [
        order
        for order in orders
        if order.is_parcel and order.purchased_at >= start and order.promised_at < cutoff
    ]


@dataclass
class RuleScores:
    """The three warnings of one period, per horizon."""

    orders: int
    naive: dict[int, WarningScore]
    eta_rule: dict[int, WarningScore]
    probability_rule: dict[int, WarningScore]


@dataclass
class AccuracyReport:
    orders: int
    parcels: int
    delivered: int
    never_delivered: int  # handed over, never delivered: late
    late: int  # of the parcels
    cutoff: dt.datetime
    training_start: dt.datetime
    brief_naive: dict[int, WarningScore]  # DOMAIN.md's counting, to check the loader
    naive_all: dict[int, WarningScore]  # the honest counting, all parcels
    thresholds: dict[int, float]  # tuned on the training period
    training: RuleScores  # fit figures: what the thresholds were chosen on
    evaluation: RuleScores  # reported figures: months after the cutoff


def accuracy_report(
    orders: Sequence[OlistOrder],
    *,
    horizons: Sequence[int] = HORIZONS_HOURS,
    window_days: int = DEFAULT_WINDOW_DAYS,
    cutoff: dt.datetime = EVALUATION_CUTOFF,
    training_start: dt.datetime = TRAINING_START,
) -> AccuracyReport:
    """The whole evaluation of docs/PERFORMANCE.md.

    1. The naive rule on every delivered order as DOMAIN.md counted it (validates the
       loader), and on every parcel as counted here.
    2. Replay the training period (parcels resolved before ``cutoff``); tune one P(late)
       threshold per horizon on it, and score the three rules there (fit figures).
    3. Replay the evaluation period (parcels purchased from ``cutoff``; history = every
       delivery before the moment asked, including earlier evaluation orders: production sees
       those too); score the naive rule, the "ETA after the promise" rule and the probability
       rule with the thresholds of step 2. Nothing is chosen on these figures.
    """
    parcels = [order for order in orders if order.is_parcel]
    training = training_orders(orders, cutoff=cutoff, start=training_start)
    evaluation = evaluation_orders(orders, cutoff=cutoff)
    training_replays = replay(
        training, history_orders=orders, horizons=horizons, window_days=window_days
    )
    thresholds = tune_thresholds(training_replays)
    replays = replay(evaluation, history_orders=orders, horizons=horizons, window_days=window_days)
    return AccuracyReport(
        orders=len(orders),
        parcels=len(parcels),
        delivered=sum(order.is_delivered for order in parcels),
        never_delivered=sum(not order.is_delivered for order in parcels),
        late=sum(order.is_late for order in parcels),
        cutoff=cutoff,
        training_start=training_start,
        brief_naive=brief_naive_scores(orders, horizons=horizons),
        naive_all=naive_scores(parcels, horizons=horizons),
        thresholds=thresholds,
        training=_rule_scores(training, training_replays, thresholds, horizons=horizons),
        evaluation=_rule_scores(evaluation, replays, thresholds, horizons=horizons),
    )


def _rule_scores(
    orders: Sequence[OlistOrder],
    replays: dict[int, list[Replay]],
    thresholds: dict[int, float],
    *,
    horizons: Sequence[int],
) -> RuleScores:
    return RuleScores(
        orders=len(orders),
        naive=naive_scores(orders, horizons=horizons),
        eta_rule=eta_rule_scores(replays),
        probability_rule=probability_rule_scores(replays, thresholds),
    )
