"""The late-delivery model (issue 16): P(an undelivered shipment arrives after its promise).

In words an agent can repeat: "parcels on this lane usually take 9 days; yours was handed over
7 days ago and 2 days are left to the promised date; 80% of the lane's recent parcels were on
time": the model weighs such facts, learned from the merchant's own delivered history.

What it knows about a shipment at moment T is what was known at T only:

- the lane's transit distribution from deliveries up to T (``delivered_at <= T``, the window of
  ``shipments.lanes``), never today's ``Lane`` columns; with too few deliveries the carrier's
  service level, then every delivery (``shipments.eta.TransitHistory``, as the predicted ETA);
- the hours since hand-over and since the last scan, the status, the promise's slack
  (promised - hand-over vs the lane median) and the hours left to it;
- the lane's and the origin region's recent on-time record (deliveries of the last
  ``RECENT_DAYS`` before T; the shipment has no seller field: the origin region stands for it);
- the promise's weekday, T's month, the order value, membership of an incident known by T
  (the latest of the incident's opening, its window start and the shipment's first delay:
  nothing stores when a shipment joined, ``training.incident_known_sql``);
- and the lane-quantile rule's own answer (``shipments.eta.late_probability``): the fallback
  when there is no model, and the model's strongest feature when there is one.

Training (``train``): shipments whose promise passed are asked about at several moments before
their promise (``TRAINING_HORIZONS_HOURS``); the label is "not delivered by the promise"
(delivered late, or never delivered: the latest of all). The lane statistics of an example at
T are rebuilt from the deliveries up to the start of T's day (UTC), as a daily refresh would
have had them, so no example sees a delivery from after its T. Three periods by promise:
fit (before the validation months), validation (the regularisation and the threshold are
chosen there), reported (after the cutoff: never trained on, never tuned on; the figures
operators see). The stored model is the one fitted on the fit months, whose thresholds
validation chose.

Model: standardisation + logistic regression (scikit-learn), kept as JSON coefficients
(``LateModel.coefficients``). A logistic model fitted by log loss gives calibrated
probabilities without a separate calibration step, scores a million rows with one dot product,
and its weights can be read. Scoring (``score``) is set-based: one query streamed in
chunks of ``CHUNK_SIZE`` shipments plus a fixed handful for the history, features in numpy.

Modules: ``features`` (the state at T and its numbers, shared by training and scoring),
``training`` (examples, fitting, choosing the threshold, storing a ``LateModel``), ``scoring``
(``score``, ``features``, ``reasons``). Everything public is importable from here.
"""

from shipments.risk.features import (
    FALLBACK_NO_MODEL,
    FEATURE_NAMES,
    HORIZONS_HOURS,
    PRECISION_TARGET,
    TRAINING_HORIZONS_HOURS,
    Coefficients,
    Evaluated,
    Frame,
    RiskHistory,
    evaluate,
    fit,
    load_history,
    quantile_late_probability,
)
from shipments.risk.scoring import (
    Reasons,
    RiskScores,
    active_model,
    cached_history,
    features,
    history_moment,
    model_as_of,
    reasons,
    score,
)
from shipments.risk.training import (
    Examples,
    History,
    HorizonFigures,
    RollingHistory,
    TrainingResult,
    TrainingWindow,
    build_examples,
    choose_threshold,
    figures,
    fit_and_validate,
    load_training_history,
    train,
)

__all__ = [
    "FALLBACK_NO_MODEL",
    "FEATURE_NAMES",
    "HORIZONS_HOURS",
    "PRECISION_TARGET",
    "TRAINING_HORIZONS_HOURS",
    "Coefficients",
    "Evaluated",
    "Examples",
    "Frame",
    "History",
    "HorizonFigures",
    "Reasons",
    "RiskHistory",
    "RiskScores",
    "RollingHistory",
    "TrainingResult",
    "TrainingWindow",
    "active_model",
    "build_examples",
    "cached_history",
    "choose_threshold",
    "evaluate",
    "features",
    "figures",
    "fit",
    "fit_and_validate",
    "history_moment",
    "load_history",
    "load_training_history",
    "model_as_of",
    "quantile_late_probability",
    "reasons",
    "score",
    "train",
]
