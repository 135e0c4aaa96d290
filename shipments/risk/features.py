"""The late-delivery model's features: what is known about a shipment at T, as numbers
(see the package docstring, ``shipments.risk``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from django.db import connection

from shipments.eta import MIN_DELIVERIES, STALE_SCAN_GRACE, TransitHistory, load_transit_history
from shipments.lanes import QUANTILE_STEPS
from shipments.models import (
    Shipment,
    ShipmentStatus,
)

# Horizons of the figures (shared/DOMAIN.md: warn 24, 72, 120 h before the promise).
HORIZONS_HOURS = (24, 72, 120)
# Moments each training shipment is asked about: the reported horizons and a few between.
TRAINING_HORIZONS_HOURS = (24, 48, 72, 96, 120, 168)
# The domain's bar (DOMAIN.md, "Delay detection"): the default threshold is the lowest whose
# precision on the validation months reaches it (most recall at that precision).
PRECISION_TARGET = 0.80
# A threshold is only trusted on at least this many flagged validation examples.
MIN_FLAGGED = 20
# The horizon whose threshold is the model's default one (the domain's "warn 72 h ahead").
DEFAULT_HORIZON_HOURS = 72
# The "recent on-time record" of a lane or an origin: deliveries of the last 30 days, pulled
# towards the overall rate by PRIOR_DELIVERIES pseudo-deliveries so a lane with 3 parcels
# does not read as 0% or 100% on time.
RECENT_DAYS = 30
PRIOR_DELIVERIES = 10
# Regularisation strengths tried; validation log loss picks one.
C_GRID = (0.01, 0.1, 1.0)
# Training examples beyond this are sampled down (fixed seed): the coefficients of 20
# features settle long before, and training stays within minutes at 500,000 shipments.
MAX_TRAINING_EXAMPLES = 600_000
# Shipments read per query when scoring.
CHUNK_SIZE = 20_000
HOUR = 3600.0
DAY = 86400.0

FEATURE_NAMES = (
    "quantile_late_probability",
    "lane_median_days",
    "lane_spread_days",
    "days_since_handover",
    "not_handed_over",
    "days_since_news",
    "promise_slack_days",
    "days_left",
    "expected_margin_days",
    "lane_on_time_rate",
    "origin_on_time_rate",
    "out_for_delivery",
    "carrier_problem",
    "in_incident",
    "log_order_value",
    "promise_weekday_sin",
    "promise_weekday_cos",
    "month_sin",
    "month_cos",
    "log_lane_deliveries",
)
_OUT_FOR_DELIVERY = (
    ShipmentStatus.OUT_FOR_DELIVERY.value,
    ShipmentStatus.AVAILABLE_FOR_PICKUP.value,
)
_PROBLEM = (ShipmentStatus.EXCEPTION.value, ShipmentStatus.FAILED_ATTEMPT.value)

FALLBACK_NO_MODEL = "no_model"


# --- What is known at T ---------------------------------------------------------------------


@dataclass
class Frame:
    """Shipments as of moments T, one row each, as numpy columns (times in epoch seconds, NaN
    for "not known at T"). Built from the database (``scoring``) or from any history in
    the same shape (``build_examples``, the Olist check)."""

    ids: np.ndarray  # int64
    now: np.ndarray  # T of each row
    lane: list[Hashable]  # lane key (lane id; (origin, destination) for Olist)
    carrier_service: list[Hashable]  # (carrier id, service level)
    origin: list[str]
    shipped: np.ndarray  # hand-over, NaN if not handed over by T
    promised: np.ndarray
    last_scan: np.ndarray  # last scan at or before T, NaN if none
    ordered: np.ndarray  # order time (or creation), NaN if unknown
    status: np.ndarray  # status at T (str)
    in_incident: np.ndarray  # bool: in an incident opened by T
    order_value: np.ndarray
    carrier_eta: np.ndarray  # NaN unless live (the stored estimate is today's)

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: np.ndarray) -> Frame:
        return Frame(
            ids=self.ids[index],
            now=self.now[index],
            lane=[self.lane[i] for i in index],
            carrier_service=[self.carrier_service[i] for i in index],
            origin=[self.origin[i] for i in index],
            shipped=self.shipped[index],
            promised=self.promised[index],
            last_scan=self.last_scan[index],
            ordered=self.ordered[index],
            status=self.status[index],
            in_incident=self.in_incident[index],
            order_value=self.order_value[index],
            carrier_eta=self.carrier_eta[index],
        )


@dataclass
class RiskHistory:
    """What the deliveries up to one moment say: transit quantile tables (one row per lane,
    per carrier + service level and overall) and the recent on-time records."""

    quantiles: np.ndarray  # groups x 100, hours
    counts: np.ndarray  # deliveries per group
    lane_rows: dict[Hashable, int]
    carrier_service_rows: dict[Hashable, int]
    overall_row: int | None
    lane_on_time: dict[Hashable, tuple[int, int]]  # key -> (deliveries, on time)
    origin_on_time: dict[Hashable, tuple[int, int]]
    overall_on_time: tuple[int, int]
    # The transit history it was built from: the same deliveries for an ETA computed beside
    # the scores (a detection pass's late estimates), without loading them again.
    transit: TransitHistory | None = None

    @classmethod
    def build(
        cls,
        transit: TransitHistory,
        *,
        lane_on_time: dict[Hashable, tuple[int, int]],
        origin_on_time: dict[Hashable, tuple[int, int]],
    ) -> RiskHistory:
        tables: list[tuple[float, ...]] = []
        counts: list[int] = []

        def rows(groups: Mapping[Hashable, object]) -> dict[Hashable, int]:
            out = {}
            for key in groups:
                distribution = groups[key]
                out[key] = len(tables)
                tables.append(distribution.quantiles)
                counts.append(distribution.count)
            return out

        lane_rows = rows(transit.by_lane)
        carrier_service_rows = rows(transit.by_carrier_service)
        overall_row = rows({0: transit.overall})[0] if transit.overall is not None else None
        # Every delivery has an origin (not every one a lane): the overall record.
        total = sum(count for count, _ in origin_on_time.values())
        on_time = sum(on for _, on in origin_on_time.values())
        return cls(
            quantiles=np.array(tables, dtype=float).reshape(len(tables), QUANTILE_STEPS),
            counts=np.array(counts, dtype=float),
            lane_rows=lane_rows,
            carrier_service_rows=carrier_service_rows,
            overall_row=overall_row,
            lane_on_time=lane_on_time,
            origin_on_time=origin_on_time,
            overall_on_time=(total, on_time),
            transit=transit,
        )

    def rows_for(self, frame: Frame) -> np.ndarray:
        """The quantile row of each shipment, as ``TransitHistory.for_shipment`` picks it:
        the lane with MIN_DELIVERIES, else the carrier's service level, else all; -1 if none."""
        enough = self.counts >= MIN_DELIVERIES
        overall = self.overall_row if self.overall_row is not None else -1
        if overall >= 0 and not enough[overall]:
            overall = -1
        out = np.full(len(frame), -1, dtype=np.int64)
        for position, (lane, carrier_service) in enumerate(
            zip(frame.lane, frame.carrier_service, strict=True)
        ):
            row = self.lane_rows.get(lane, -1)
            if row < 0 or not enough[row]:
                row = self.carrier_service_rows.get(carrier_service, -1)
                if row < 0 or not enough[row]:
                    row = overall
            out[position] = row
        return out

    def on_time_rates(self, keys: Sequence[Hashable], records: dict) -> np.ndarray:
        total, on_time = self.overall_on_time
        prior = on_time / total if total else 1.0
        # One rate per key, then a lookup per row.
        rates = {
            key: (on + PRIOR_DELIVERIES * prior) / (count + PRIOR_DELIVERIES)
            for key, (count, on) in records.items()
        }
        return np.fromiter((rates.get(key, prior) for key in keys), dtype=float, count=len(keys))


def load_history(*, now: dt.datetime) -> RiskHistory:
    """The history as of ``now`` from the database: the three transit tables of
    ``shipments.eta`` (deliveries up to ``now``) and one aggregate for the on-time records."""
    transit = load_transit_history(now=now)
    adapt = connection.ops.adapt_datetimefield_value
    sql = f"""
        SELECT s.lane_id, s.origin_region, COUNT(*),
               SUM(CASE WHEN s.delivered_at <= s.promised_at THEN 1 ELSE 0 END)
        FROM {Shipment._meta.db_table} s
        WHERE s.status = %s AND s.delivered_at >= %s AND s.delivered_at <= %s
        GROUP BY s.lane_id, s.origin_region
    """  # nosec B608  # constants only, values bound
    lanes: dict[Hashable, list[int]] = {}
    origins: dict[Hashable, list[int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                ShipmentStatus.DELIVERED.value,
                adapt(now - dt.timedelta(days=RECENT_DAYS)),
                adapt(now),
            ],
        )
        for lane_id, origin, count, on_time in cursor.fetchall():
            for records, key in ((lanes, lane_id), (origins, origin)):
                record = records.setdefault(key, [0, 0])
                record[0] += int(count)
                record[1] += int(on_time)
    lanes.pop(None, None)
    return RiskHistory.build(
        transit,
        lane_on_time={key: tuple(value) for key, value in lanes.items()},
        origin_on_time={key: tuple(value) for key, value in origins.items()},
    )


# --- Features -------------------------------------------------------------------------------


@dataclass
class Evaluated:
    """Features of a frame and the lane-quantile rule's probability (the fallback)."""

    features: np.ndarray  # rows x FEATURE_NAMES, NaN where the history says nothing
    quantile_probability: np.ndarray
    raw: dict[str, np.ndarray] = field(default_factory=dict)  # for the reasons in words


def quantile_late_probability(
    quantiles: np.ndarray, *, elapsed: np.ndarray, time_left: np.ndarray
) -> np.ndarray:
    """``shipments.eta.late_probability`` for many shipments at once (same steps):
    P(T > e + left | T > e) over the quantile table, ``survival(left)`` when not handed over
    (``elapsed`` NaN) or when every delivery was faster than this parcel, 1 once the time left
    (after the stale-scan penalty) is negative."""

    def at_or_below(hours: np.ndarray) -> np.ndarray:
        # NaN compares false: "no point at or below".
        return (quantiles <= hours[:, None]).sum(axis=1)

    survival = 1 - at_or_below(time_left) / QUANTILE_STEPS
    done = at_or_below(elapsed)
    slower = QUANTILE_STEPS - done
    beyond = QUANTILE_STEPS - at_or_below(elapsed + time_left)
    with np.errstate(invalid="ignore", divide="ignore"):
        conditional = np.where(slower > 0, beyond / np.maximum(slower, 1), survival)
    probability = np.where(np.isnan(elapsed), survival, conditional)
    return np.where(time_left < 0, 1.0, probability)


def evaluate(frame: Frame, history: RiskHistory, *, explain: bool = False) -> Evaluated:
    """The features of every row of ``frame`` against ``history`` (vectorised); with
    ``explain``, also the plain quantities ``reasons`` puts in words."""
    n = len(frame)
    rows = history.rows_for(frame)
    has_history = rows >= 0
    quantiles = np.full((n, QUANTILE_STEPS), np.nan)
    if has_history.any():
        quantiles[has_history] = history.quantiles[rows[has_history]]
    lane_count = np.zeros(n)
    lane_count[has_history] = history.counts[rows[has_history]]

    now = frame.now
    handed_over = ~np.isnan(frame.shipped) & (frame.shipped <= now)
    elapsed = np.where(handed_over, (now - frame.shipped) / HOUR, np.nan)
    news = np.where(
        np.isnan(frame.last_scan), np.where(handed_over, frame.shipped, np.nan), frame.last_scan
    )
    news = np.where(np.isnan(news), frame.ordered, news)
    since_news = np.where(np.isnan(news), 0.0, np.maximum(now - news, 0) / HOUR)
    grace = STALE_SCAN_GRACE.total_seconds() / HOUR
    lost = np.where(
        np.isnan(frame.last_scan), 0.0, np.maximum((now - frame.last_scan) / HOUR - grace, 0)
    )
    left = (frame.promised - now) / HOUR
    time_left = left - lost

    probability = quantile_late_probability(quantiles, elapsed=elapsed, time_left=time_left)
    # Without usable history the predicted ETA is the carrier's estimate or the promise
    # (eta.predict_eta step 1): late when that, after the silence, is past the promise.
    fallback_eta = np.where(np.isnan(frame.carrier_eta), frame.promised, frame.carrier_eta)
    no_history = np.where((time_left < 0) | (fallback_eta + lost * HOUR > frame.promised), 1.0, 0.0)
    probability = np.where(has_history, probability, no_history)

    median = quantiles[:, 49]
    spread = quantiles[:, 89] - median
    start = np.where(handed_over, frame.shipped, now)
    slack = (frame.promised - start) / HOUR - median
    remaining = np.maximum(median - np.nan_to_num(elapsed), 0)
    margin = left - remaining - lost
    weekday = (frame.promised // DAY + 3) % 7  # 1970-01-01 was a Thursday: Monday = 0
    months = now.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64) % 12
    status = frame.status

    columns = {
        "quantile_late_probability": probability,
        "lane_median_days": median / 24,
        "lane_spread_days": spread / 24,
        "days_since_handover": np.nan_to_num(elapsed) / 24,
        "not_handed_over": (~handed_over).astype(float),
        "days_since_news": since_news / 24,
        "promise_slack_days": slack / 24,
        "days_left": left / 24,
        "expected_margin_days": margin / 24,
        "lane_on_time_rate": history.on_time_rates(frame.lane, history.lane_on_time),
        "origin_on_time_rate": history.on_time_rates(frame.origin, history.origin_on_time),
        "out_for_delivery": np.isin(status, _OUT_FOR_DELIVERY).astype(float),
        "carrier_problem": np.isin(status, _PROBLEM).astype(float),
        "in_incident": frame.in_incident.astype(float),
        "log_order_value": np.log1p(np.maximum(frame.order_value, 0)),
        "promise_weekday_sin": np.sin(2 * np.pi * weekday / 7),
        "promise_weekday_cos": np.cos(2 * np.pi * weekday / 7),
        "month_sin": np.sin(2 * np.pi * months / 12),
        "month_cos": np.cos(2 * np.pi * months / 12),
        "log_lane_deliveries": np.log1p(lane_count),
    }
    features = np.column_stack([columns[name] for name in FEATURE_NAMES]).astype(float)
    if not explain:
        return Evaluated(features=features, quantile_probability=probability)
    raw = {
        "median_hours": median,
        "p90_hours": quantiles[:, 89],
        "elapsed_hours": elapsed,
        "since_scan_hours": np.where(
            np.isnan(frame.last_scan), np.nan, (now - frame.last_scan) / HOUR
        ),
        "left_hours": left,
        "lane_on_time_rate": columns["lane_on_time_rate"],
        "lane_recent": np.array(
            [history.lane_on_time.get(lane, (0, 0))[0] for lane in frame.lane], dtype=float
        ),
        "in_incident": frame.in_incident,
        "has_history": has_history,
    }
    return Evaluated(features=features, quantile_probability=probability, raw=raw)


# --- The model as numbers -------------------------------------------------------------------


@dataclass(frozen=True)
class Coefficients:
    """Standardisation + logistic regression, as stored in ``LateModel.coefficients``."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    c: float

    @classmethod
    def from_json(cls, data: Mapping) -> Coefficients:
        return cls(
            mean=np.array(data["mean"], dtype=float),
            scale=np.array(data["scale"], dtype=float),
            coef=np.array(data["coef"], dtype=float),
            intercept=float(data["intercept"]),
            c=float(data.get("c", 1.0)),
        )

    def to_json(self) -> dict:
        return {
            "mean": [float(x) for x in self.mean],
            "scale": [float(x) for x in self.scale],
            "coef": [float(x) for x in self.coef],
            "intercept": float(self.intercept),
            "c": self.c,
        }

    def predict(self, features: np.ndarray) -> np.ndarray:
        """P(late) per row; a feature the history could not give (NaN) counts as its training
        mean (standardised 0: no evidence either way)."""
        z = (features - self.mean) / self.scale
        z = np.where(np.isnan(z), 0.0, z)
        logit = z @ self.coef + self.intercept
        return 1 / (1 + np.exp(-np.clip(logit, -40, 40)))


def fit(features: np.ndarray, labels: np.ndarray, *, c: float) -> Coefficients:
    """Standardise and fit a logistic regression (scikit-learn); NaNs count as the mean."""
    # Imported here: scikit-learn takes a second to import and only training needs it, not
    # the web processes or the detection passes that score with the stored coefficients.
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mean = np.nanmean(features, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)
    filled = np.where(np.isnan(features), mean, features)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
    pipeline.fit(filled, labels)
    scaler, regression = pipeline[0], pipeline[1]
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return Coefficients(
        mean=scaler.mean_,
        scale=scale,
        coef=regression.coef_[0],
        intercept=float(regression.intercept_[0]),
        c=c,
    )


def epoch_sql(column: str) -> str:
    if connection.vendor == "postgresql":
        # date_part gives a double directly; EXTRACT computes a numeric first (slower by a
        # second per million rows), to be cast back.
        return f"date_part('epoch', {column})"
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def float_sql(column: str) -> str:
    kind = "DOUBLE PRECISION" if connection.vendor == "postgresql" else "REAL"
    return f"CAST({column} AS {kind})"


def as_floats(values: Iterable) -> np.ndarray:
    # numpy reads None as NaN in a float array.
    return np.array(values, dtype=float)
