"""Training the late-delivery model on history before a moment, and measuring it on the
months after its cutoff (see the package docstring, ``shipments.risk``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from shipments.lanes import DEFAULT_WINDOW_DAYS, QUANTILE_STEPS
from shipments.models import (
    DelayLevel,
    DelayLevelChange,
    Incident,
    LateModel,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
)
from shipments.olist import PrecisionRecall
from shipments.risk.features import (
    C_GRID,
    DAY,
    DEFAULT_HORIZON_HOURS,
    FEATURE_NAMES,
    HORIZONS_HOURS,
    HOUR,
    MAX_TRAINING_EXAMPLES,
    MIN_FLAGGED,
    PRECISION_TARGET,
    RECENT_DAYS,
    TRAINING_HORIZONS_HOURS,
    Coefficients,
    Frame,
    RiskHistory,
    as_floats,
    epoch_sql,
    evaluate,
    fit,
    float_sql,
)

logger = logging.getLogger(__name__)


# --- Training examples ----------------------------------------------------------------------


@dataclass
class History:
    """Every shipment the training may read, one row each (epoch seconds, NaN = never), and
    their scans. Times after ``as_of`` are already NaN: training knows nothing after it."""

    ids: np.ndarray
    lane: list[Hashable]
    carrier_service: list[Hashable]
    origin: list[str]
    ordered: np.ndarray
    shipped: np.ndarray
    delivered: np.ndarray
    promised: np.ndarray
    incident_from: np.ndarray  # since when it is known to be in its incident, NaN if none
    order_value: np.ndarray
    # Scans, sorted by (shipment position, time): position in ``ids``, time, status.
    scan_position: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    scan_time: np.ndarray = field(default_factory=lambda: np.empty(0))
    scan_status: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))

    def deliveries(self) -> np.ndarray:
        return np.flatnonzero(~np.isnan(self.delivered))


class RollingHistory:
    """``RiskHistory`` as of any moment, from the deliveries in ``History`` (the numpy twin of
    ``load_history``: same window, same nearest-rank percentiles, same on-time records)."""

    def __init__(self, history: History, *, window_days: int = DEFAULT_WINDOW_DAYS) -> None:
        self.window = window_days * DAY
        self.recent = RECENT_DAYS * DAY
        delivered = history.deliveries()
        shipped = history.shipped[delivered]
        arrived = history.delivered[delivered]
        self.arrived = arrived
        self.on_time = arrived <= history.promised[delivered]
        self.with_transit = ~np.isnan(shipped) & (arrived >= shipped)
        self.transit = np.where(self.with_transit, (arrived - shipped) / HOUR, np.inf)
        self.groups: dict[str, tuple[list[Hashable], np.ndarray]] = {}
        for name, keys in (
            ("lane", [history.lane[i] for i in delivered]),
            ("carrier_service", [history.carrier_service[i] for i in delivered]),
            ("origin", [history.origin[i] for i in delivered]),
        ):
            index: dict[Hashable, int] = {}
            codes = np.array([index.setdefault(key, len(index)) for key in keys], dtype=np.int64)
            self.groups[name] = (list(index), codes)
        # One order by (lane, transit) and one by (carrier service, transit): a moment's
        # window keeps each group's transit times sorted and contiguous.
        self.orders = {
            name: np.lexsort((self.transit, self.groups[name][1]))
            for name in ("lane", "carrier_service")
        }
        self.by_transit = np.argsort(self.transit, kind="stable")

    def at(self, moment: float) -> RiskHistory:
        in_window = (self.arrived >= moment - self.window) & (self.arrived <= moment)
        with_transit = in_window & self.with_transit
        tables: list[np.ndarray] = []
        counts: list[int] = []

        def grouped(name: str) -> dict[Hashable, int]:
            keys, codes = self.groups[name]
            order = self.orders[name]
            order = order[with_transit[order]]
            if len(order) == 0:
                return {}
            group_codes = codes[order]
            values = self.transit[order]
            starts = np.flatnonzero(np.r_[True, group_codes[1:] != group_codes[:-1]])
            sizes = np.diff(np.r_[starts, len(order)])
            out = {}
            for start, size in zip(starts, sizes, strict=True):
                out[keys[group_codes[start]]] = len(tables)
                tables.append(values[start + _ranks(size)])
                counts.append(int(size))
            return out

        lane_rows = grouped("lane")
        lane_rows.pop(None, None)  # shipments without a lane have no lane statistics
        carrier_service_rows = grouped("carrier_service")
        overall = self.by_transit[with_transit[self.by_transit]]
        overall_row = None
        if len(overall):
            overall_row = len(tables)
            tables.append(self.transit[overall][_ranks(len(overall))])
            counts.append(len(overall))
        recent = (self.arrived >= moment - self.recent) & (self.arrived <= moment)
        quantiles = np.array(tables).reshape(len(tables), QUANTILE_STEPS)
        lane_on_time = self._records("lane", recent)
        lane_on_time.pop(None, None)
        return RiskHistory(
            quantiles=quantiles,
            counts=np.array(counts, dtype=float),
            lane_rows=lane_rows,
            carrier_service_rows=carrier_service_rows,
            overall_row=overall_row,
            lane_on_time=lane_on_time,
            origin_on_time=self._records("origin", recent),
            overall_on_time=(int(recent.sum()), int((recent & self.on_time).sum())),
        )

    def _records(self, name: str, mask: np.ndarray) -> dict[Hashable, tuple[int, int]]:
        keys, codes = self.groups[name]
        total = np.bincount(codes[mask], minlength=len(keys))
        on_time = np.bincount(codes[mask & self.on_time], minlength=len(keys))
        return {keys[i]: (int(total[i]), int(on_time[i])) for i in np.flatnonzero(total)}


def _ranks(n: int) -> np.ndarray:
    """0-based nearest ranks of the 100 percentiles among n sorted values (shipments.lanes)."""
    k = np.arange(1, QUANTILE_STEPS + 1)
    return np.maximum(1, -(-k * n // QUANTILE_STEPS)) - 1


@dataclass
class Examples:
    """Training or evaluation examples: shipments at T = promise - horizon, undelivered at T."""

    features: np.ndarray
    quantile_probability: np.ndarray
    labels: np.ndarray  # 1 = not delivered by the promise
    horizons: np.ndarray  # hours before the promise
    promised: np.ndarray
    shipment_positions: np.ndarray

    def where(self, mask: np.ndarray) -> Examples:
        return Examples(
            features=self.features[mask],
            quantile_probability=self.quantile_probability[mask],
            labels=self.labels[mask],
            horizons=self.horizons[mask],
            promised=self.promised[mask],
            shipment_positions=self.shipment_positions[mask],
        )

    def __len__(self) -> int:
        return len(self.labels)


def build_examples(
    history: History,
    *,
    as_of: float,
    promised_from: float,
    horizons: Sequence[int] = TRAINING_HORIZONS_HOURS,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> Examples:
    """Ask about every parcel whose promise is in [promised_from, as_of) at each horizon.

    1. T = promise - horizon. Kept when the shipment existed at T (ordered, or handed over
       if the order time is unknown), had not been delivered by T, and is a parcel (handed
       over or delivered by ``as_of``; an order never handed over was never a parcel).
    2. Its state at T: hand-over if by T, the last scan at or before T and its status, its
       incident if known by T; deliveries for the history up to the start of T's day.
    3. Label: not delivered by the promise (late, or never delivered).
    """
    parcel = ~np.isnan(history.shipped) | ~np.isnan(history.delivered)
    known = (history.promised >= promised_from) & (history.promised < as_of) & parcel
    positions, moments, hours = [], [], []
    start = np.where(np.isnan(history.ordered), history.shipped, history.ordered)
    for horizon in horizons:
        moment = history.promised - horizon * HOUR
        keep = known & (start <= moment) & ~(history.delivered <= moment)
        chosen = np.flatnonzero(keep)
        positions.append(chosen)
        moments.append(moment[chosen])
        hours.append(np.full(len(chosen), horizon))
    position = np.concatenate(positions) if positions else np.empty(0, dtype=np.int64)
    moment = np.concatenate(moments) if moments else np.empty(0)
    horizon = np.concatenate(hours) if hours else np.empty(0)
    if total:
        total(len(position))
    frame = _frame_at(history, position, moment)
    labels = (~(history.delivered[position] <= history.promised[position])).astype(int)

    rolling = RollingHistory(history)
    features = np.empty((len(position), len(FEATURE_NAMES)))
    probability = np.empty(len(position))
    days = np.floor(moment / DAY)
    order = np.argsort(days, kind="stable")
    bounds = np.flatnonzero(np.r_[True, days[order][1:] != days[order][:-1], True])
    for first, last in zip(bounds[:-1], bounds[1:], strict=True):
        rows = order[first:last]
        evaluated = evaluate(frame.take(rows), rolling.at(days[rows[0]] * DAY))
        features[rows] = evaluated.features
        probability[rows] = evaluated.quantile_probability
        if progress:
            progress(len(rows))
    return Examples(
        features=features,
        quantile_probability=probability,
        labels=labels,
        horizons=horizon,
        promised=history.promised[position],
        shipment_positions=position,
    )


def _frame_at(history: History, position: np.ndarray, moment: np.ndarray) -> Frame:
    """The shipments at ``position`` as known at ``moment`` (one moment per row)."""
    shipped = history.shipped[position]
    last_scan = np.full(len(position), np.nan)
    status = np.where(
        ~np.isnan(shipped) & (shipped <= moment),
        ShipmentStatus.IN_TRANSIT.value,
        ShipmentStatus.INFO_RECEIVED.value,
    ).astype(object)
    if len(history.scan_time) and len(position):
        # Scans sorted by (position, time): the last one at or before T is found by a binary
        # search on a combined key, the position scaled past the span of all times plus the
        # time since the earliest (a year of seconds times a million positions stays well
        # inside float64's exact integers).
        origin = min(history.scan_time.min(), moment.min())
        span = max(history.scan_time.max(), moment.max()) - origin + 1
        keys = history.scan_position * span + (history.scan_time - origin)
        found = np.searchsorted(keys, position * span + (moment - origin), side="right") - 1
        valid = found >= 0
        valid[valid] = history.scan_position[found[valid]] == position[valid]
        last_scan[valid] = history.scan_time[found[valid]]
        status[valid] = history.scan_status[found[valid]]
    incident = history.incident_from[position]
    return Frame(
        ids=history.ids[position],
        now=moment,
        lane=[history.lane[i] for i in position],
        carrier_service=[history.carrier_service[i] for i in position],
        origin=[history.origin[i] for i in position],
        shipped=np.where(shipped <= moment, shipped, np.nan),
        promised=history.promised[position],
        last_scan=last_scan,
        ordered=history.ordered[position],
        status=status,
        in_incident=~np.isnan(incident) & (incident <= moment),
        order_value=history.order_value[position],
        carrier_eta=np.full(len(position), np.nan),
    )


# --- Choosing and measuring -----------------------------------------------------------------


@dataclass(frozen=True)
class HorizonFigures(PrecisionRecall):
    undelivered: int
    late: int
    flagged: int
    flagged_late: int

    def to_json(self) -> dict:
        return {
            "undelivered": self.undelivered,
            "late": self.late,
            "flagged": self.flagged,
            "flagged_late": self.flagged_late,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            # The naive rule flags every undelivered parcel: recall 1, this precision.
            "naive_precision": round(self.late / self.undelivered, 4) if self.undelivered else 0,
        }


def figures(probabilities: np.ndarray, labels: np.ndarray, threshold: float) -> HorizonFigures:
    flagged = probabilities >= threshold
    return HorizonFigures(
        undelivered=len(labels),
        late=int(labels.sum()),
        flagged=int(flagged.sum()),
        flagged_late=int((flagged & (labels == 1)).sum()),
    )


def choose_threshold(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, bool]:
    """(threshold, whether the precision target was met) on validation examples.

    The lowest threshold whose precision reaches PRECISION_TARGET on at least MIN_FLAGGED
    flagged examples (the most recall at the domain's precision); when no threshold reaches
    it, the one with the best min(precision, recall), as shipments.olist tunes its rule.
    """
    if len(labels) == 0 or labels.sum() == 0:
        return 0.5, False
    order = np.argsort(-probabilities, kind="stable")
    ranked = probabilities[order]
    flagged_late = np.cumsum(labels[order])
    flagged = np.arange(1, len(order) + 1)
    # A threshold takes all examples of one probability or none: the last of each run.
    ends = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])
    precision = flagged_late[ends] / flagged[ends]
    recall = flagged_late[ends] / labels.sum()
    meets = (precision >= PRECISION_TARGET) & (flagged[ends] >= MIN_FLAGGED)
    if meets.any():
        best = np.flatnonzero(meets)[np.argmax(recall[meets])]
        return float(ranked[ends[best]]), True
    best = int(np.argmax(np.minimum(precision, recall)))
    return float(ranked[ends[best]]), False


def _log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    p = np.clip(probabilities, 1e-9, 1 - 1e-9)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


# --- Training -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingWindow:
    history_from: dt.datetime
    validation_from: dt.datetime
    cutoff: dt.datetime
    as_of: dt.datetime

    @classmethod
    def ending(cls, as_of: dt.datetime, *, cutoff: dt.datetime | None = None) -> TrainingWindow:
        cutoff = cutoff or as_of - dt.timedelta(days=settings.LATE_MODEL_REPORT_DAYS)
        if cutoff > as_of:
            raise ValueError("the cutoff must not be after the training moment")
        validation_from = cutoff - dt.timedelta(days=settings.LATE_MODEL_VALIDATION_DAYS)
        history_from = min(
            as_of - dt.timedelta(days=settings.LATE_MODEL_HISTORY_DAYS),
            validation_from - dt.timedelta(days=settings.LATE_MODEL_VALIDATION_DAYS),
        )
        return cls(history_from, validation_from, cutoff, as_of)


@dataclass
class TrainingResult:
    model: LateModel | None
    reason: str  # why no model, "" when one was stored
    shipments: int = 0
    examples: int = 0
    figures: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    coefficients: Coefficients | None = None


def fit_and_validate(
    history: History,
    window: TrainingWindow,
    *,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
    min_shipments: int | None = None,
) -> TrainingResult:
    """Everything of training but the database write (the Olist check calls it directly).

    1. Too few parcels with a known outcome in the fit months: no model, with the reason.
    2. Examples of every parcel whose promise is in the window (``build_examples``); no late
       (or no on-time) one among the fit, validation or reported examples: no model either.
    3. Fit on promises before ``validation_from`` for each C of C_GRID; keep the C with the
       lowest log loss on the validation months.
    4. Thresholds per horizon on the validation months (``choose_threshold``), with that fit.
    5. The figures of that model: precision and recall on the promises after the cutoff
       (never trained or tuned on) at each horizon, with the thresholds of step 4.
    """
    epoch = _epoch_seconds
    min_shipments = min_shipments or settings.LATE_MODEL_MIN_TRAINING_SHIPMENTS
    # Parcels promised in the fit months: what the model learns from.
    parcel = ~np.isnan(history.shipped) | ~np.isnan(history.delivered)
    shipments = int(
        (
            parcel
            & (history.promised >= epoch(window.history_from))
            & (history.promised < epoch(window.validation_from))
        ).sum()
    )
    result = TrainingResult(model=None, reason="", shipments=shipments)
    if shipments < min_shipments:
        result.reason = (
            f"{shipments} shipments with a known outcome in the training months; "
            f"at least {min_shipments} are needed (LATE_MODEL_MIN_TRAINING_SHIPMENTS)"
        )
        return result
    examples = build_examples(
        history,
        as_of=epoch(window.as_of),
        promised_from=epoch(window.history_from),
        progress=progress,
        total=total,
    )
    result.examples = len(examples)
    before_cutoff = examples.promised < epoch(window.cutoff)
    in_fit = examples.promised < epoch(window.validation_from)
    validating = before_cutoff & ~in_fit
    reported = ~before_cutoff
    for name, mask in (("fit", in_fit), ("validation", validating), ("reported", reported)):
        labels = examples.labels[mask]
        if len(np.unique(labels)) < 2:
            result.reason = f"the {name} months need both late and on-time parcels"
            return result

    fit_set = _sample(examples.where(in_fit))
    validation = examples.where(validating)
    best = None
    for c in C_GRID:
        candidate = fit(fit_set.features, fit_set.labels, c=c)
        loss = _log_loss(candidate.predict(validation.features), validation.labels)
        if best is None or loss < best[0]:
            best = (loss, candidate)
    chosen = best[1]
    validation_p = chosen.predict(validation.features)
    thresholds, met = {}, {}
    for horizon in HORIZONS_HOURS:
        at = validation.horizons == horizon
        thresholds[horizon], met[horizon] = choose_threshold(
            validation_p[at], validation.labels[at]
        )
    # The stored model is the one the thresholds were chosen for. A refit on fit and
    # validation months together moves its probabilities, so the thresholds would no longer
    # mean what validation measured (on the Olist sample it turned precision 0.71 / recall
    # 0.68 at 72 h into 0.77 / 0.39): consistency beats the extra weeks of data.
    final = chosen
    held_out = examples.where(reported)
    held_out_p = final.predict(held_out.features)
    result.figures = {
        "validation": {
            str(h): figures(
                validation_p[validation.horizons == h],
                validation.labels[validation.horizons == h],
                thresholds[h],
            ).to_json()
            | {"target_met": met[h]}
            for h in HORIZONS_HOURS
        },
        "reported": {
            str(h): figures(
                held_out_p[held_out.horizons == h],
                held_out.labels[held_out.horizons == h],
                thresholds[h],
            ).to_json()
            for h in HORIZONS_HOURS
        },
        # The lane-quantile rule at the same thresholds' horizon, for comparison.
        "validation_examples": int(validating.sum()),
        "reported_examples": int(reported.sum()),
        "fit_examples": int(in_fit.sum()),
    }
    result.thresholds = {str(h): thresholds[h] for h in HORIZONS_HOURS}
    result.coefficients = final
    return result


def _sample(examples: Examples) -> Examples:
    if len(examples) <= MAX_TRAINING_EXAMPLES:
        return examples
    keep = np.random.default_rng(16).choice(len(examples), MAX_TRAINING_EXAMPLES, replace=False)
    return examples.where(np.sort(keep))


def train(
    *,
    as_of: dt.datetime,
    cutoff: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> TrainingResult:
    """Train on the history before ``as_of`` and store the model as the new active version.

    Reads the window's shipments and scans (``load_training_history``: a fixed number of
    queries), fits and validates (``fit_and_validate``), then in one transaction stores a
    ``LateModel`` with the next version and makes it the active one. With too little history
    nothing is stored and the result says why; scoring keeps the previous active model, or
    the lane-quantile rule when there is none.
    """
    window = TrainingWindow.ending(as_of, cutoff=cutoff)
    history = load_training_history(window)
    result = fit_and_validate(history, window, progress=progress, total=total)
    if result.coefficients is None:
        logger.info("Late-delivery model not trained: %s", result.reason)
        return result
    figures_ = result.figures
    with transaction.atomic():
        # The row lock on the active model serialises two trainings' version numbers.
        list(LateModel.objects.select_for_update().filter(is_active=True))
        version = (LateModel.objects.aggregate(v=Max("version"))["v"] or 0) + 1
        LateModel.objects.filter(is_active=True).update(is_active=False)
        result.model = LateModel.objects.create(
            version=version,
            trained_at=timezone.now(),
            history_from=window.history_from,
            history_to=window.as_of,
            validation_from=window.validation_from,
            cutoff=window.cutoff,
            training_shipments=result.shipments,
            training_examples=figures_["fit_examples"],
            validation_examples=figures_["validation_examples"],
            reported_examples=figures_["reported_examples"],
            figures={"validation": figures_["validation"], "reported": figures_["reported"]},
            threshold=result.thresholds[str(DEFAULT_HORIZON_HOURS)],
            thresholds=result.thresholds,
            feature_names=list(FEATURE_NAMES),
            coefficients=result.coefficients.to_json(),
            is_active=True,
        )
    logger.info("Late-delivery model v%s trained: %s", version, figures_["reported"])
    return result


def _epoch_seconds(moment: dt.datetime) -> float:
    return moment.timestamp()


# --- Reading the database -------------------------------------------------------------------


def load_training_history(window: TrainingWindow) -> History:
    """The shipments training reads, as known at ``window.as_of`` (two queries).

    Rows: shipments promised in the window (the examples) and shipments delivered in the
    transit window before it (the lane history of its first examples). Times after
    ``as_of`` read as never (a delivery after it has not happened for this training).
    """
    adapt = connection.ops.adapt_datetimefield_value
    table = Shipment._meta.db_table
    history_start = window.history_from - dt.timedelta(days=DEFAULT_WINDOW_DAYS)
    sql = f"""
        SELECT s.id, s.lane_id, s.carrier_id, s.service_level, s.origin_region,
               {epoch_sql("COALESCE(s.ordered_at, s.shipped_at, s.created_at)")},
               {epoch_sql("s.shipped_at")}, {epoch_sql("s.delivered_at")},
               {epoch_sql("s.promised_at")}, {incident_known_sql("s", "i")},
               {float_sql("s.order_value")}
        FROM {table} s
        LEFT JOIN {Incident._meta.db_table} i ON i.id = s.incident_id
        WHERE (s.promised_at >= %s AND s.promised_at < %s)
           OR (s.delivered_at >= %s AND s.delivered_at <= %s)
        ORDER BY s.id
    """  # nosec B608  # constants only, values bound
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                adapt(window.history_from),
                adapt(window.as_of),
                adapt(history_start),
                adapt(window.as_of),
            ],
        )
        rows = cursor.fetchall()
    as_of = window.as_of.timestamp()
    columns = list(zip(*rows, strict=True)) if rows else [()] * 11
    ids = np.array(columns[0], dtype=np.int64)

    def until_as_of(values) -> np.ndarray:
        times = as_floats(values)
        return np.where(times <= as_of, times, np.nan)

    history = History(
        ids=ids,
        lane=list(columns[1]),
        carrier_service=list(zip(columns[2], columns[3], strict=True)),
        origin=list(columns[4]),
        ordered=until_as_of(columns[5]),
        shipped=until_as_of(columns[6]),
        delivered=until_as_of(columns[7]),
        promised=as_floats(columns[8]),
        incident_from=until_as_of(columns[9]),
        order_value=as_floats(columns[10]),
    )
    _attach_scans(history, window)
    return history


def incident_known_sql(shipment: str, incident: str) -> str:
    """SQL: since when (epoch seconds) the shipment aliased ``shipment`` is known to be in its
    incident, aliased ``incident`` (NULL when in none); ``incident`` may be a LEFT JOIN.

    Only the current membership is stored (``Shipment.incident``), not when the shipment was
    attached, so this is the latest moment that is sure to come no later than the attachment:
    - the incident's creation (``created_at``; an automatic incident is created by the pass
      that groups its first shipments, a manual one with its shipments). Its ``window_start``
      alone is not enough: an incident opened after T may have its window start before T;
    - the shipment's first level change to a delay: both automatic grouping and a
      supervisor's filter only take delayed shipments, so a shipment absorbed days after its
      incident opened does not count before it was even delayed. Without such a change (data
      loaded by other means) the creation time stands alone;
    - the window start, never later than the creation in practice.
    A shipment absorbed long after both (automatic grouping absorbs into open incidents at
    every pass) still counts from the latest of them: nothing stored says more, and it never
    counts before its incident existed or before it was delayed.
    A correlated lookup, only for the few shipments in an incident (index on the changes'
    shipment and time).
    """
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    first_delay = (
        f"(SELECT MIN(c.changed_at) FROM {DelayLevelChange._meta.db_table} c "
        f"WHERE c.shipment_id = {shipment}.id AND c.to_level <> '{DelayLevel.NONE.value}')"  # nosec B608  # constants only, values bound
    )
    # SQLite's MAX() is NULL when any argument is: the missing change falls back to creation.
    return (
        f"CASE WHEN {shipment}.incident_id IS NULL THEN NULL ELSE {greatest}("
        f"{epoch_sql(f'{incident}.window_start')}, {epoch_sql(f'{incident}.created_at')}, "
        f"{epoch_sql(f'COALESCE({first_delay}, {incident}.created_at)')}) END"
    )


def _attach_scans(history: History, window: TrainingWindow) -> None:
    """The mapped scans up to ``as_of`` of the window's promised shipments, in one query."""
    adapt = connection.ops.adapt_datetimefield_value
    sql = f"""
        SELECT e.shipment_id, {epoch_sql("e.occurred_at")}, e.status
        FROM {TrackingEvent._meta.db_table} e
        JOIN {Shipment._meta.db_table} s ON s.id = e.shipment_id
        WHERE s.promised_at >= %s AND s.promised_at < %s
          AND e.occurred_at <= %s AND NOT e.unmapped
        ORDER BY e.shipment_id, e.occurred_at, e.id
    """  # nosec B608  # constants only, values bound
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [adapt(window.history_from), adapt(window.as_of), adapt(window.as_of)],
        )
        rows = cursor.fetchall()
    if not rows:
        return
    shipment_ids, times, statuses = zip(*rows, strict=True)
    history.scan_position = np.searchsorted(history.ids, np.array(shipment_ids, dtype=np.int64))
    history.scan_time = np.array(times, dtype=float)
    history.scan_status = np.array(statuses, dtype=object)
