"""Replay of the product's own delay warnings over an order history (``replay_warnings``).

What it measures (issue 16, shared/DOMAIN.md "Delay detection"): how early and how well the
REAL detection pass warns about late parcels, against the naive rule "not delivered yet N
hours before the promise", on a history in the Olist layout (shipments.olist's loader).

It writes: the orders become shipments and every detection step writes levels and level
changes. So it runs only on a database that holds no shipment yet (``replay_refusal``); the
command gives it a throwaway one of its own, never the live database.

How nothing from after the clock's moment T is used:

- Orders are loaded through the product's import (shipments.imports: the promise as a date
  alone means the end of that day in Sao Paulo, the hand-over and delivery columns) with
  their whole history, including the delivery time. That is safe because the as-of pass
  (``detect_delays(from_events=True)``, shipments.detection) rebuilds each shipment's state at
  T: delivered only if delivered by T, handed over only if handed over by T, lane statistics
  and the predicted ETA from the deliveries made by T. A parcel delivered after T is active
  at T and judged like any parcel still travelling.
- The steps go forward in time and never rewrite a level recorded later.

Counting (shipments.olist's definitions, one set for both): a parcel counts at horizon N if
its promise falls on a day of the window (in Sao Paulo, where it was promised) and it was
bought by T = promise - N h; it is late when delivered after the end of the promised day or
handed over and never delivered; the product flagged it when its first warning (any level
but "none") came at a step at or before T and it was not delivered by T; the naive rule
flags every parcel not delivered by T (``olist.naive_scores``). The product is judged at
its steps (daily by default): a warning is known at the first step that raises it.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from django.db.models import Min
from django.dispatch import Signal
from django.utils import timezone

from shipments import risk, signals
from shipments.detection import LateScorer, detect_delays
from shipments.imports import (
    CHUNK_SIZE,
    ImportReport,
    RowInvalid,
    ShipmentIn,
    end_of_day,
    shipment_row_parse,
    shipments_import,
)
from shipments.models import Carrier, DelayLevel, DelayLevelChange, Shipment
from shipments.olist import (
    CARRIER,
    HORIZONS_HOURS,
    HOUR,
    SAO_PAULO,
    SERVICE_LEVEL,
    OlistOrder,
    WarningScore,
    naive_scores,
)

DEFAULT_STEP = dt.timedelta(days=1)
CARRIER_NAME = "Olist marketplace logistics"
CUSTOMER_NAME = "Olist customer"
NOT_EMPTY = (
    "The replay writes shipments and delay levels: it runs only on a database without "
    "shipments (this one has {count}). Use the replay_warnings command, which makes a "
    "throwaway database."
)

# Signals a replay must not send: it is an audit of the past in a throwaway database, so
# nobody is told and no task is queued (a task on a shared broker would be run by a live
# worker against the live database with this database's ids).
_MUTED_SIGNALS: tuple[Signal, ...] = (
    signals.shipment_delay_recorded,
    signals.shipment_delay_changed,
    signals.shipment_eta_moved,
    signals.shipment_delivered,
)


class ReplayRefused(Exception):
    """The database is not one a replay may write into."""


@dataclass
class ReplayReport:
    """Figures of one replay (JSON-ready through ``as_dict``)."""

    window_start: dt.date  # promises on these days (Sao Paulo) are counted
    window_end: dt.date
    clock_start: dt.datetime
    clock_end: dt.datetime
    step_hours: float
    steps: int
    horizons: list[int]
    orders: int  # in the data
    imported: int  # became shipments
    not_imported: int  # rows the import refused (messages below) or without a seller
    parcels: int  # handed over and promised in the window: the counted population
    late: int
    product: dict[int, WarningScore]
    naive: dict[int, WarningScore]
    # The late-delivery model's warnings (``with_model``): empty without a model; the note
    # says which version was asked, or why none was trained.
    model: dict[int, WarningScore] = field(default_factory=dict)
    model_note: str = ""
    # First warnings of the counted parcels, by the level they first reached.
    first_levels: dict[str, int] = field(default_factory=dict)
    import_seconds: float = 0.0
    replay_seconds: float = 0.0
    messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        data = asdict(self)
        for key in ("window_start", "window_end", "clock_start", "clock_end"):
            data[key] = data[key].isoformat()
        for rule in ("product", "naive", "model"):
            data[rule] = {
                str(horizon): {
                    **asdict(score),
                    "precision": round(score.precision, 4),
                    "recall": round(score.recall, 4),
                }
                for horizon, score in getattr(self, rule).items()
            }
        return data


@dataclass(frozen=True, slots=True)
class FirstWarning:
    at: dt.datetime
    level: str


def replay_refusal() -> str | None:
    """Why this database may not take a replay, or None."""
    count = Shipment.objects.count()
    return NOT_EMPTY.format(count=count) if count else None


@contextmanager
def muted_signals() -> Iterator[None]:
    """No receiver of the shipments' signals runs inside (see _MUTED_SIGNALS)."""
    saved = []
    for signal in _MUTED_SIGNALS:
        with signal.lock:
            saved.append((signal, signal.receivers))
            signal.receivers = []
            signal.sender_receivers_cache.clear()
    try:
        yield
    finally:
        for signal, receivers in saved:
            with signal.lock:
                signal.receivers = receivers
                signal.sender_receivers_cache.clear()


def clock(
    *, start: dt.date, end: dt.date, step: dt.timedelta, horizons: Sequence[int]
) -> list[dt.datetime]:
    """The replay's moments (UTC): from far enough before the window's first promise that
    its longest horizon is covered, to the last moment a counted horizon asks about.

    The moments are the ends of Sao Paulo days (and every `step` between them): a promise
    given as a date ends with its day there, so a horizon of whole days asks exactly at a
    step, as a live pass every few minutes would have been asked. (Steps at UTC midnight were
    3 hours earlier than every such moment: a rule with a 24 h horizon could never have
    fired by it.) With a step of whole days each moment is its own day's end, across
    daylight-saving changes.
    """
    if step <= dt.timedelta(0):
        raise ValueError("the step must be positive")
    lead = step * math.ceil(max(horizons) * HOUR / step)
    last = end_of_day(end, time_zone=SAO_PAULO) - min(horizons) * HOUR
    moments = []
    if step % dt.timedelta(days=1) == dt.timedelta(0) and lead % dt.timedelta(
        days=1
    ) == dt.timedelta(0):
        day = start - lead
        while (moment := end_of_day(day, time_zone=SAO_PAULO).astimezone(dt.UTC)) <= last:
            moments.append(moment)
            day += step
        return moments
    moment = end_of_day(start, time_zone=SAO_PAULO).astimezone(dt.UTC) - lead
    while moment <= last:
        moments.append(moment)
        moment += step
    return moments


def import_orders(
    orders: Sequence[OlistOrder], *, now: dt.datetime
) -> tuple[set[str], ImportReport]:
    """Load the orders as shipments through the product's import; the ids loaded, and the
    import's report (refused rows with their reasons).

    One carrier (the marketplace's logistics), lane = seller state -> customer state, the
    tracking and order numbers are the order id. The promise goes in as the date it is (the
    import reads a date alone as the end of that day in the import's zone, Sao Paulo here);
    the other times as UTC instants. Orders without an item have no seller, so no lane.
    """
    carrier, _ = Carrier.objects.get_or_create(code=CARRIER, defaults={"name": CARRIER_NAME})
    carrier_ids = {CARRIER: carrier.pk}
    report = ImportReport()
    loaded: set[str] = set()
    chunk: list[ShipmentIn] = []

    def flush() -> None:
        result = shipments_import(rows=chunk, now=now)
        report.add(result)
        loaded.update(row.tracking_number for row in chunk)
        chunk.clear()

    for line, order in enumerate(orders, start=1):
        if order.origin_region is None:
            report.failed += 1
            report.messages.append(f"order {order.order_id}: no item, so no seller and no lane")
            continue
        try:
            chunk.append(
                shipment_row_parse(
                    row=_row(order),
                    line=line,
                    carrier_ids=carrier_ids,
                    default_carrier=CARRIER,
                    time_zone=SAO_PAULO,
                    now=now,
                )
            )
        except RowInvalid as exc:
            report.failed += 1
            report.messages.append(f"order {order.order_id}: {exc}")
        if len(chunk) >= CHUNK_SIZE:
            flush()
    if chunk:
        flush()
    # A row the import refused while writing (it reports it as failed) is not loaded.
    stored = set(
        Shipment.objects.filter(carrier=carrier, tracking_number__in=loaded).values_list(
            "tracking_number", flat=True
        )
    )
    return stored, report


def _row(order: OlistOrder) -> dict[str, str]:
    local_promise = order.promised_at.astimezone(SAO_PAULO)
    day = local_promise.date()
    promise = (
        day.isoformat()
        if local_promise == end_of_day(day, time_zone=SAO_PAULO)
        else order.promised_at.isoformat()
    )

    def instant(moment: dt.datetime | None) -> str:
        return moment.isoformat() if moment is not None else ""

    return {
        "tracking_number": order.order_id,
        "order_number": order.order_id,
        "customer_ref": order.order_id,
        "customer_name": CUSTOMER_NAME,
        "origin_region": order.origin_region or "",
        "destination_region": order.destination_region,
        "service_level": SERVICE_LEVEL,
        "ordered_at": instant(order.purchased_at),
        "shipped_at": instant(order.shipped_at),
        "delivered_at": instant(order.delivered_at),
        "promised_at": promise,
    }


def first_warnings() -> dict[str, FirstWarning]:
    """Tracking number -> the first level change away from "none" and its level (2 queries)."""
    firsts = dict(
        DelayLevelChange.objects.exclude(to_level=DelayLevel.NONE)
        .values("shipment_id")
        .annotate(first=Min("changed_at"))
        .values_list("shipment_id", "first")
    )
    numbers = dict(
        Shipment.objects.filter(pk__in=list(firsts)).values_list("pk", "tracking_number")
    )
    warnings = {}
    rows = (
        DelayLevelChange.objects.exclude(to_level=DelayLevel.NONE)
        .filter(shipment_id__in=list(firsts))
        .values_list("shipment_id", "changed_at", "to_level")
    )
    for shipment_id, changed_at, level in rows:
        if changed_at == firsts[shipment_id]:
            warnings[numbers[shipment_id]] = FirstWarning(at=changed_at, level=level)
    return warnings


def product_scores(
    parcels: Sequence[OlistOrder],
    warnings: dict[str, FirstWarning],
    *,
    horizons: Sequence[int] = HORIZONS_HOURS,
) -> dict[int, WarningScore]:
    """The product's warnings counted as ``olist.naive_scores`` counts the naive rule: the
    same parcels at each horizon (bought by T), flagged when warned by T and not delivered
    by T."""

    def warned_at(order: OlistOrder, horizon: int) -> dt.datetime | None:
        warning = warnings.get(order.order_id)
        return warning.at if warning is not None else None

    return _scores(parcels, warned_at, horizons=horizons)


def _scores(
    parcels: Sequence[OlistOrder],
    warned_at: Callable[[OlistOrder, int], dt.datetime | None],
    *,
    horizons: Sequence[int],
) -> dict[int, WarningScore]:
    scores = {}
    for horizon in horizons:
        score = WarningScore()
        for order in parcels:
            moment = order.promised_at - horizon * HOUR
            if order.purchased_at > moment:
                continue
            first = warned_at(order, horizon)
            warned = first is not None and first <= moment
            score.add(order, flagged=warned and not order.delivered_by(moment))
        scores[horizon] = score
    return scores


@dataclass
class ModelWarnings:
    """The late-delivery model asked at every step of the replay, through the detection pass's
    own seam (``late_scorer``: the states as of the step, nothing from after it). At each
    horizon the model warns once P(late) reaches that horizon's threshold (chosen by training
    on its validation months); a warning once given stays given, as a notice would."""

    model: object  # shipments.models.LateModel
    thresholds: dict[int, float]
    # horizon -> shipment id -> the first step whose P(late) reached the threshold
    first: dict[int, dict[int, dt.datetime]] = field(default_factory=dict)
    history: object = None
    history_at: dt.datetime | None = None

    @classmethod
    def of(cls, model, horizons: Sequence[int]) -> ModelWarnings:
        stored = {int(hours): float(value) for hours, value in (model.thresholds or {}).items()}
        thresholds = {h: stored.get(h, float(model.threshold)) for h in horizons}
        return cls(model=model, thresholds=thresholds, first={h: {} for h in horizons})

    def scorer(self, states: Sequence, moment: dt.datetime) -> list[float | None]:
        # The history a live pass at the moment reads (as of its hour's start), once a step.
        if self.history_at != moment:
            self.history = risk.load_history(now=risk.history_moment(moment))
            self.history_at = moment
        scores = risk.score(
            [state.id for state in states],
            now=moment,
            from_events=True,
            model=self.model,
            history=self.history,
        )
        answers = []
        for state in states:
            probability = scores.get(state.id)
            answers.append(probability)
            if probability is None:
                continue
            for horizon, threshold in self.thresholds.items():
                if probability >= threshold:
                    self.first[horizon].setdefault(state.id, moment)
        return answers

    def scores(self, parcels: Sequence[OlistOrder], *, horizons: Sequence[int]):
        ids = dict(Shipment.objects.values_list("tracking_number", "pk"))

        def warned_at(order: OlistOrder, horizon: int) -> dt.datetime | None:
            return self.first[horizon].get(ids.get(order.order_id))

        return _scores(parcels, warned_at, horizons=horizons)


def counted_parcels(
    orders: Sequence[OlistOrder], *, loaded: set[str], start: dt.date, end: dt.date
) -> list[OlistOrder]:
    """Loaded parcels promised on a day of the window (the promise's own day, Sao Paulo)."""
    return [
        order
        for order in orders
        if order.is_parcel
        and order.order_id in loaded
        and start <= order.promised_at.astimezone(SAO_PAULO).date() <= end
    ]


def replay_warnings(
    orders: Sequence[OlistOrder],
    *,
    start: dt.date,
    end: dt.date,
    step: dt.timedelta = DEFAULT_STEP,
    horizons: Sequence[int] = HORIZONS_HOURS,
    late_scorer: LateScorer | None = None,
    with_model: bool = False,
    progress: Callable[[Sequence[dt.datetime]], Iterator[dt.datetime]] | None = None,
) -> ReplayReport:
    """Import ``orders`` into this (empty) database, replay detection, count the warnings.

    1. Refuse a database that holds shipments (``replay_refusal``).
    2. Import every order through shipments.imports (``import_orders``).
    3. At each moment of ``clock``, one as-of detection pass (the product's own, with
       ``late_scorer`` if given), signals muted (``muted_signals``).
    4. Each shipment's first warning from the level changes the passes recorded.
    5. Score the product and the naive rule on the parcels promised in the window.

    ``with_model``: after the import, train the late-delivery model on the history before the
    clock's first moment (shipments.risk.train: none of the replayed promises is trained or
    tuned on), ask it at every step through the pass's ``late_scorer`` seam, and score its
    warnings too (``ModelWarnings``). With too little history the note says why.

    ``progress`` wraps the moments (the command passes a tqdm bar).
    """
    refusal = replay_refusal()
    if refusal:
        raise ReplayRefused(refusal)
    horizons = sorted(set(horizons))
    if not horizons or min(horizons) <= 0:
        raise ValueError("horizons must be positive hours")
    if end < start:
        raise ValueError("the window ends before it starts")
    moments = clock(start=start, end=end, step=step, horizons=horizons)

    started = time.monotonic()
    with muted_signals():
        loaded, imported = import_orders(orders, now=timezone.now())
        import_seconds = time.monotonic() - started
        started = time.monotonic()
        asked, model_note = None, ""
        if with_model:
            trained = risk.train(as_of=moments[0])
            if trained.model is None:
                model_note = f"no model: {trained.reason}"
            else:
                asked = ModelWarnings.of(trained.model, horizons)
                late_scorer = asked.scorer
                model_note = (
                    f"model v{trained.model.version}, trained on history before "
                    f"{moments[0].isoformat()}; thresholds "
                    + ", ".join(f"{h} h {t:.3f}" for h, t in asked.thresholds.items())
                )
        for moment in progress(moments) if progress else moments:
            detect_delays(now=moment, from_events=True, late_scorer=late_scorer)
    replay_seconds = time.monotonic() - started

    warnings = first_warnings()
    parcels = counted_parcels(orders, loaded=loaded, start=start, end=end)
    first_levels: dict[str, int] = {}
    for order in parcels:
        warning = warnings.get(order.order_id)
        if warning is not None:
            first_levels[warning.level] = first_levels.get(warning.level, 0) + 1
    return ReplayReport(
        window_start=start,
        window_end=end,
        clock_start=moments[0],
        clock_end=moments[-1],
        step_hours=step / HOUR,
        steps=len(moments),
        horizons=list(horizons),
        orders=len(orders),
        imported=len(loaded),
        not_imported=len(orders) - len(loaded),
        parcels=len(parcels),
        late=sum(order.is_late for order in parcels),
        product=product_scores(parcels, warnings, horizons=horizons),
        naive=naive_scores(parcels, horizons=horizons),
        model=asked.scores(parcels, horizons=horizons) if asked is not None else {},
        model_note=model_note,
        first_levels=dict(sorted(first_levels.items())),
        import_seconds=round(import_seconds, 2),
        replay_seconds=round(replay_seconds, 2),
        messages=imported.messages,
    )
