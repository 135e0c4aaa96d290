"""Delay detection: the delay rules of shared/DOMAIN.md evaluated set-based, in SQL.

One pass (`detect_delays`) judges every active shipment (status not final) at once:

    kind                 fires when (strictly greater: exactly at the threshold does not fire)
    transit_ratio        now - shipped_at > threshold x the lane's mean transit hours
                         (only shipments on a lane that has a mean)
    no_update_hours      now - COALESCE(last scan, handover to the carrier) > threshold hours
    predicted_late_days  predicted ETA - promised date > threshold days
    hub_hold_hours       now - location_since > threshold hours, while the parcel is in the
                         carrier's network (HUB_HOLD_STATUSES)
    late_days            now - promised date > threshold days, or
                         predicted ETA - promised date > threshold days
    late_probability     P(late) > threshold (the late-delivery model, shipments.risk), once
                         promised date - now <= the rule's horizon_hours (and after it)

A pass with an active probability rule scores the shipments within the widest horizon first
(live: `shipments.risk.score` with the active model into a temporary table; as of T: the
`late_scorer` seam, by default the model trained by T, else the lane-quantile rule). A
shipment that rises to "will be late" gets, in the same transaction, the estimate given that
it misses its promise (`shipments.eta.predict_eta(late=True)`): the date its notice tells.

Rules are data (DelayRule rows, defaults installed by migration 0002): each pass reads the
active ones first, so an edit in the admin takes effect on the next pass. A shipment gets the
most severe level that fires (DELAY_LEVEL_RANK), its `delay_rule` is that rule's key, and its
`delay_cause` is the cause the carrier gave (Shipment.cause, from event codes) or "unknown"
when the carrier gave none. A shipment that no longer fires any rule goes back to "none".

`delay_detected_at` is the moment the current episode began: set when a shipment leaves
"none", kept while it moves between delayed levels, cleared when it is back on time. The
history lives in DelayLevelChange rows, one per level change (cause and rule after the change,
`changed_at` = the pass's `now`).

Shipments that reached a final status keep the level they had when they left transit: the
sweep stays on active shipments, and "how late was it" remains visible afterwards.

An as-of pass (`detect_delays --as-of T`, replays and backfills) judges what a live pass at T
would have judged, from nothing later: each shipment's state rebuilt from its scans up to T,
the lane means and the predicted ETA computed from the deliveries made by T (never today's
Lane rows or stored ETA). Tracking events count by when they occurred: imported history has
no meaningful arrival time.

Precision: PostgreSQL compares to the microsecond. SQLite stores datetimes as text and its
date functions work in milliseconds, so there a rule's boundary is exact to the millisecond.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import numpy as np
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.models import DelayCause
from shipments import risk
from shipments.eta import (
    CHUNK_SIZE,
    TransitHistory,
    load_transit_history,
    predict_eta,
    write_predicted_etas,
)
from shipments.incidents import incidents_group_automatic
from shipments.lanes import DEFAULT_WINDOW_DAYS, lane_statistics_sql
from shipments.models import (
    DELAY_LEVEL_RANK,
    FINAL_STATUSES,
    DelayLevel,
    DelayLevelChange,
    DelayRule,
    DelayRuleKind,
    Lane,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
)
from shipments.signals import shipment_delay_changed, shipment_delay_recorded

logger = logging.getLogger(__name__)

# Hub hold applies while the parcel is inside the carrier's network: moving (in transit) or
# stopped there by a problem the carrier reported (exception: customs holds, damage checks map
# there). Out for delivery, at a pickup point or after a failed attempt, the parcel waits on
# the last mile or the customer, not at a hub; before handover (info received) it is at the
# merchant. Those states are covered by the no-update and lateness rules instead.
HUB_HOLD_STATUSES = (ShipmentStatus.IN_TRANSIT, ShipmentStatus.EXCEPTION)

# pg_try_advisory_xact_lock key: one detection pass at a time across all workers. Any fixed
# bigint; it only has to differ from the other advisory locks of the project.
DETECTION_LOCK_KEY = 4_232_001_003

# A `now` further back than this is an as-of pass (state rebuilt from tracking events) unless
# the caller says otherwise: a live pass's `now` is a fresh timezone.now().
AS_OF_TOLERANCE = timedelta(minutes=1)

_SHIPMENTS = Shipment._meta.db_table
_LANES = Lane._meta.db_table
_EVENTS = TrackingEvent._meta.db_table
_CHANGES = DelayLevelChange._meta.db_table
# The judgement of a pass between its statements (SQLite, and as-of passes): per connection.
_PASS_TABLE = "shipments_delay_pass"
# As-of passes only: each shipment's state at the moment, rebuilt from its events, and the
# predictions made from that state (temporary, per connection, dropped by the pass).
_STATE_TABLE = "shipments_delay_as_of_state"
_PREDICTED_TABLE = "shipments_delay_as_of_predicted"
# Live passes with a probability rule: P(late) of the shipments within its horizon.
_SCORES_TABLE = "shipments_delay_late_scores"


@dataclass(frozen=True, slots=True)
class AsOfState:
    """What was known of one active shipment at an as-of pass's moment: the inputs of the
    predicted ETA and of a late-delivery model, none of them from after the moment."""

    id: int
    lane_id: int | None
    carrier_id: int
    service_level: str
    status: str
    # None when not handed over by the moment (even if it was later).
    shipped_at: datetime | None
    promised_at: datetime
    # The last scan that occurred by the moment.
    last_event_at: datetime | None
    # As the periodic ETA refresh would have predicted it at the moment.
    predicted_eta: datetime


# The seam for a "will be late" rule in replays: given the states of a chunk of active
# shipments at the moment (the second argument), the probability that each arrives after its
# promise, in the same order (None: no opinion). It must read nothing from after the moment
# (a model trained and scored as of it, e.g. shipments.risk). It is called once per chunk, so
# one with a costly set-up (loading a model's history) does it once, before the pass. Its
# answers are the pass inputs' `late_probability`, read by the late_probability rules; without
# one, an as-of pass with such a rule asks `as_of_scorer`.
LateScorer = Callable[[Sequence[AsOfState], datetime], Sequence[float | None]]


@dataclass(frozen=True)
class DetectionResult:
    now: datetime
    from_events: bool
    # Another pass held the lock (PostgreSQL): this one did nothing.
    skipped: bool = False
    # Active shipments per delay level after the pass (for an as-of pass: as judged at `now`).
    levels: dict[str, int] = field(default_factory=dict)
    # Level changes recorded (DelayLevelChange rows written).
    changes: int = 0
    # Shipments rewritten: level changes plus cause or rule changes at the same level.
    updated: int = 0
    incidents_created: int = 0
    incidents_updated: int = 0
    # As-of passes: active shipments given a predicted ETA as of `now`, and how many of them
    # had no delivered history to draw on (their ETA is the promise).
    etas_predicted: int = 0
    etas_without_history: int = 0


def detect_delays(
    *,
    now: datetime,
    from_events: bool | None = None,
    late_scorer: LateScorer | None = None,
) -> DetectionResult:
    """Run one detection pass as of `now`; idempotent (a second pass at the same `now` is a no-op).

    1. Take the detection lock: on PostgreSQL `pg_try_advisory_xact_lock`, returning a
       skipped result if another pass holds it; on SQLite the IMMEDIATE transaction already
       serialises writers.
    2. Read the active rules (one query) and build one SQL statement that judges every active
       shipment: a CASE over the rules, most severe first, with the lane joined.
       Live pass: the inputs are the shipment's denormalised columns (kept by ingest).
       As-of pass (`from_events`; by default when `now` is more than AS_OF_TOLERANCE in the
       past): what a live pass at `now` would have seen, from nothing later
       (`JudgementSql.prepare_as_of_inputs`). Status, cause, last scan and location are
       rebuilt from the tracking events with occurred_at <= now, exactly as ingest derives
       them; a hand-over or delivery after `now` had not happened; the lane means are
       computed from the deliveries made by `now` (shipments.lanes.lane_statistics_sql, the
       same figures a lane refresh at `now` would have stored); the predicted ETA is
       predicted again as the periodic ETA refresh would have at `now` (shipments.eta, from
       the transit history as of `now`), since the stored one is overwritten in place and
       has no history. `late_scorer`, if given, scores each active shipment's state at `now`
       (see LateScorer). Shipments with a level change recorded after `now` are left alone
       (history is never rewritten backwards).
    3. Update only the shipments whose level, cause or rule changed, and insert one
       DelayLevelChange row per level change: on PostgreSQL in the same statement (UPDATE ...
       FROM ... RETURNING inside a WITH, feeding an INSERT ... SELECT); on SQLite, and for
       as-of passes, in steps around a temporary table of the judgement.
    4. Count shipments per level, group newly delayed shipments into incidents
       (shipments.incidents), queue the customers' delay and recovery notices in the outbox
       (notifications.proactive, set-based, live passes only), and on commit send
       `shipment_delay_changed` once with all the pass's level changes.

    The number of queries does not depend on the number of shipments.
    """
    if timezone.is_naive(now):
        raise ValueError("detect_delays needs an aware datetime")
    written_at = timezone.now()
    if from_events is None:
        from_events = now < written_at - AS_OF_TOLERANCE

    with transaction.atomic():
        if not _lock_acquired():
            logger.info("Delay detection skipped: another pass holds the lock")
            return DetectionResult(now=now, from_events=from_events, skipped=True)

        rules = list(DelayRule.objects.filter(is_active=True))
        sql = JudgementSql(rules=rules, now=now, from_events=from_events)
        if from_events:
            if late_scorer is None and sql.horizon is not None:
                late_scorer = as_of_scorer(horizon=sql.horizon)
            sql.prepare_as_of_inputs(late_scorer=late_scorer)
        elif sql.horizon is not None:
            sql.prepare_live_scores()
        rows, levels = sql.write(written_at=written_at)
        changes = [(pk, old, new, cause) for pk, old, new, cause in rows if old != new]
        if not from_events:
            late_etas_write(
                [pk for pk, _old, new, _cause in changes if new == DelayLevel.WILL_BE_LATE],
                now=now,
                transit=sql.transit,
            )
        grouping = incidents_group_automatic(now=now)
        if changes and not from_events:
            # Inside the transaction: the customers' notices commit with the level changes
            # (a rebuilt past tells nobody: it is an audit). shipments.signals.
            shipment_delay_recorded.send(sender=Shipment, changes=changes, detected_at=now)
        if changes:
            transaction.on_commit(
                partial(_announce, changes=changes, now=now, from_events=from_events)
            )

    result = DetectionResult(
        now=now,
        from_events=from_events,
        levels=levels,
        changes=len(changes),
        updated=len(rows),
        incidents_created=grouping.created,
        incidents_updated=grouping.updated,
        etas_predicted=sql.etas_predicted,
        etas_without_history=sql.etas_without_history,
    )
    logger.info(
        "Delay detection as of %s: %s changes, %s rewritten, levels %s",
        now.isoformat(),
        result.changes,
        result.updated,
        levels,
    )
    return result


def _lock_acquired() -> bool:
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [DETECTION_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def _announce(*, changes: list[tuple], now: datetime, from_events: bool) -> None:
    responses = shipment_delay_changed.send_robust(
        sender=Shipment,
        shipment_ids=[change[0] for change in changes],
        changes=changes,
        detected_at=now,
        from_events=from_events,
    )
    for receiver, response in responses:
        if isinstance(response, Exception):
            logger.error(
                "shipment_delay_changed receiver %r failed",
                receiver,
                exc_info=(type(response), response, response.__traceback__),
            )


class JudgementSql:
    """The SQL of one pass, with its named parameters (pyformat works on both backends)."""

    def __init__(self, *, rules: list[DelayRule], now: datetime, from_events: bool) -> None:
        self.vendor = connection.vendor
        self.now = now
        self.from_events = from_events
        self.params: dict[str, object] = {}
        self.now_sql = self.moment(now)
        horizons = [
            rule.horizon_hours
            for rule in rules
            if rule.kind == DelayRuleKind.LATE_PROBABILITY and rule.horizon_hours
        ]
        # The widest horizon of the active probability rules: the shipments to score.
        self.horizon = max(horizons) if horizons else None
        self.live_scores = False
        self.scored = 0
        # Live passes with probability rules: the transit history the scores were drawn from.
        self.transit: TransitHistory | None = None
        self.ctes = self._ctes(rules)
        self.etas_predicted = 0
        self.etas_without_history = 0
        self.as_of_prepared = False

    # -- parameters and dialect ------------------------------------------------------------

    def param(self, value: object) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"

    def moment(self, value: datetime) -> str:
        # Through the backend's adapter, so SQLite gets the same text form the ORM stores.
        return self.param(connection.ops.adapt_datetimefield_value(value))

    def longer_than(self, later: str, earlier: str, seconds: str) -> str:
        """SQL: the time from `earlier` to `later` is strictly longer than `seconds`."""
        if self.vendor == "postgresql":
            return f"({later} - {earlier}) > ({seconds}) * INTERVAL '1 second'"
        # julianday() is exact to the millisecond; rounding the difference to whole
        # milliseconds removes the float error, so "exactly at the threshold" stays false.
        return f"ROUND((julianday({later}) - julianday({earlier})) * 86400000) > ({seconds}) * 1000"

    def older_than(self, column: str, seconds: float) -> str:
        """SQL: `now - column` is strictly longer than `seconds`."""
        if self.vendor == "postgresql":
            # A constant cutoff: one comparison per row, no interval arithmetic.
            return f"{column} < {self.moment(self.now - timedelta(seconds=seconds))}"
        return self.longer_than(self.now_sql, column, self.param(seconds))

    # -- the rules -------------------------------------------------------------------------

    def condition(self, rule: DelayRule) -> str | None:
        threshold = float(rule.threshold)
        if rule.kind == DelayRuleKind.TRANSIT_RATIO:
            hours = f"{self.param(threshold)} * i.mean_transit_hours * 3600"
            return (
                "(i.mean_transit_hours IS NOT NULL AND i.shipped_at IS NOT NULL AND "
                f"{self.longer_than(self.now_sql, 'i.shipped_at', hours)})"
            )
        if rule.kind == DelayRuleKind.NO_UPDATE_HOURS:
            return self.older_than("COALESCE(i.last_event_at, i.shipped_at)", threshold * 3600)
        if rule.kind == DelayRuleKind.PREDICTED_LATE_DAYS:
            return self._predicted_late(threshold)
        if rule.kind == DelayRuleKind.HUB_HOLD_HOURS:
            statuses = ", ".join(self.param(status.value) for status in HUB_HOLD_STATUSES)
            return (
                f"(i.status IN ({statuses}) AND "
                f"{self.older_than('i.location_since', threshold * 3600)})"
            )
        if rule.kind == DelayRuleKind.LATE_DAYS:
            late = self.older_than("i.promised_at", threshold * 86400)
            return f"({late} OR {self._predicted_late(threshold)})"
        if rule.kind == DelayRuleKind.LATE_PROBABILITY:
            if not rule.horizon_hours:
                logger.warning("Probability rule %s has no horizon: ignored", rule.key)
                return None
            beyond = self.longer_than(
                "i.promised_at", self.now_sql, self.param(rule.horizon_hours * 3600)
            )
            return (
                f"(i.late_probability IS NOT NULL AND i.late_probability > {self.param(threshold)}"
                f" AND NOT ({beyond}))"
            )
        logger.warning("Delay rule %s has an unknown kind %r: ignored", rule.key, rule.kind)
        return None

    def _predicted_late(self, days: float) -> str:
        seconds = self.param(days * 86400)
        return (
            "(i.predicted_eta IS NOT NULL AND "
            f"{self.longer_than('i.predicted_eta', 'i.promised_at', seconds)})"
        )

    def _ctes(self, rules: list[DelayRule]) -> str:
        # Most severe first, so the CASE picks the most severe rule that fires; the key breaks
        # ties between two rules of one level, so the chosen rule is stable from pass to pass.
        ordered = sorted(rules, key=lambda rule: (-DELAY_LEVEL_RANK[rule.level], rule.key))
        values = [f"(0, '', '{DelayLevel.NONE.value}')"]
        whens = []
        for rule in ordered:
            condition = self.condition(rule)
            if condition is None:
                continue
            index = len(values)
            values.append(f"({index}, {self.param(rule.key)}, {self.param(rule.level)})")
            whens.append(f"WHEN {condition} THEN {index}")
        fired = f"CASE {' '.join(whens)} ELSE 0 END" if whens else "0"
        final = ", ".join(self.param(status.value) for status in FINAL_STATUSES)
        inputs = self._as_of_inputs() if self.from_events else self._live_inputs()
        none = DelayLevel.NONE.value
        # The rule index is computed once per shipment and joined to the rule's key and level
        # (a VALUES row per active rule), instead of repeating the CASE for level, rule, cause.
        return f"""
rule_list(idx, rule_key, level) AS (VALUES {", ".join(values)}),
{inputs},
judged AS (
    SELECT j.*,
           CASE WHEN j.new_level <> j.old_level OR j.new_cause <> j.old_cause
                     OR j.new_rule <> j.old_rule THEN 1 ELSE 0 END AS is_change
    FROM (
        SELECT t.id, t.old_level, t.old_cause, t.old_rule,
               rule_list.level AS new_level, rule_list.rule_key AS new_rule,
               CASE WHEN rule_list.idx = 0 THEN '{none}'
                    WHEN t.cause <> '{none}' THEN t.cause
                    ELSE '{DelayCause.UNKNOWN.value}' END AS new_cause
        FROM (
            SELECT i.id, i.old_level, i.old_cause, i.old_rule, i.cause, {fired} AS fired
            FROM inputs i
            WHERE i.status NOT IN ({final})
        ) t
        JOIN rule_list ON rule_list.idx = t.fired
    ) j
),
changed AS (
    SELECT id, old_level, new_level, new_cause, new_rule, is_change
    FROM judged
    WHERE is_change = 1
)"""  # nosec B608  # constants only, values bound

    def _live_inputs(self) -> str:
        if self.horizon is None:
            scores, probability = "", "NULL AS late_probability"
        else:
            # Filled by prepare_live_scores before the statement runs.
            scores = f"LEFT JOIN {_SCORES_TABLE} sc ON sc.id = s.id"
            probability = "sc.late_probability"
        return f"""inputs AS (
    SELECT s.id, s.delay_level AS old_level, s.delay_cause AS old_cause,
           s.delay_rule AS old_rule, s.status, s.cause, s.shipped_at, s.promised_at,
           s.predicted_eta, s.last_event_at, s.location_since, lane.mean_transit_hours,
           {probability}
    FROM {_SHIPMENTS} s
    LEFT JOIN {_LANES} lane ON lane.id = s.lane_id
    {scores}
)"""  # nosec B608  # constants only, values bound

    def prepare_live_scores(self) -> None:
        """P(late) of the active shipments whose promise is within the widest horizon of the
        probability rules (or past), from the active model (`shipments.risk.score`; the
        lane-quantile rule without one), into a temporary table the judgement joins (dropped
        by `write`). On PostgreSQL each scored chunk is copied in binary straight from its
        arrays (`_copy_scores`). Statements: 2 (3 on PostgreSQL: ANALYZE) plus the
        scoring's (a fixed handful and one per chunk) and one COPY or INSERT per chunk."""
        self.live_scores = True
        postgresql = self.vendor == "postgresql"
        within = (
            Shipment.objects.active()
            .filter(promised_at__lte=self.now + timedelta(hours=self.horizon))
            .order_by()
        )
        with connection.cursor() as cursor:
            # No key: the judgement hash-joins it, and an index only slows the copy down.
            cursor.execute(
                f"CREATE TEMP TABLE {_SCORES_TABLE} "
                + (
                    "(id bigint, late_probability double precision)"
                    if postgresql
                    else "(id integer PRIMARY KEY, late_probability real)"
                )
            )

            def sink(ids: np.ndarray, probabilities: np.ndarray) -> None:
                if postgresql:
                    _copy_scores(cursor, ids, probabilities)
                else:
                    cursor.executemany(
                        f"INSERT INTO {_SCORES_TABLE} (id, late_probability) VALUES (%s, %s)",  # nosec B608  # constants only, values bound
                        list(zip(ids.tolist(), probabilities.tolist(), strict=True)),
                    )

            # The history as of the start of the hour, loaded once an hour for every pass and
            # page (risk.cached_history); as-of passes read the same moment's (as_of_scorer).
            history = risk.cached_history(self.now)
            self.transit = history.transit
            scores = risk.score(within, now=self.now, from_events=False, history=history, sink=sink)
            self.scored = scores.count
            if postgresql:
                cursor.execute(f"ANALYZE {_SCORES_TABLE}")

    def drop_live_scores(self) -> None:
        if self.live_scores:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE {_SCORES_TABLE}")
            self.live_scores = False

    def _as_of_inputs(self) -> str:
        # The state at the moment and its predictions, prepared by prepare_as_of_inputs.
        return f"""inputs AS (
    SELECT st.id, st.old_level, st.old_cause, st.old_rule, st.status, st.cause, st.shipped_at,
           st.promised_at, p.predicted_eta, st.last_event_at, st.location_since,
           st.mean_transit_hours, p.late_probability
    FROM {_STATE_TABLE} st
    LEFT JOIN {_PREDICTED_TABLE} p ON p.id = st.id
)"""  # nosec B608  # constants only, values bound

    def _as_of_state_sql(self) -> str:
        """The state of each shipment as of `now`, from its events (as shipments.ingest does).

        Status and cause come from the latest event by occurred_at (ties: the later stored);
        the location from the latest scan that names a place, `location_since` from the first
        scan of the trailing run at that place; a delivery time at or before `now` means
        delivered. A shipment with no scan yet is "info received". Shipments not yet handed
        over, ordered or created at `now` (and without a scan) did not exist then: left out
        (an order placed by `now` exists then, even if its hand-over came later).
        A hand-over stamped after `now` had not happened (null). The lane's mean transit is
        the one a lane refresh at `now` would have stored: the deliveries of the window
        ending at `now`, whatever the Lane row says today.
        """
        now = self.now_sql
        none = DelayLevel.NONE.value
        window_start = self.moment(self.now - timedelta(days=DEFAULT_WINDOW_DAYS))
        lanes = lane_statistics_sql(window_start=window_start, window_end=now)
        return f"""WITH scans AS (
    SELECT shipment_id, occurred_at, status, cause,
           ROW_NUMBER() OVER (
               PARTITION BY shipment_id ORDER BY occurred_at DESC, id DESC
           ) AS rn
    FROM {_EVENTS}
    WHERE occurred_at <= {now} AND NOT unmapped
),
located AS (
    SELECT shipment_id, occurred_at, location,
           ROW_NUMBER() OVER (
               PARTITION BY shipment_id ORDER BY occurred_at DESC, id DESC
           ) AS rn
    FROM {_EVENTS}
    WHERE occurred_at <= {now} AND location <> '' AND NOT unmapped
),
here AS (
    SELECT shipment_id, location FROM located WHERE rn = 1
),
moved AS (
    SELECT located.shipment_id, MIN(located.rn) AS rn
    FROM located JOIN here ON here.shipment_id = located.shipment_id
    WHERE located.location <> here.location
    GROUP BY located.shipment_id
),
arrived AS (
    SELECT located.shipment_id, MIN(located.occurred_at) AS since
    FROM located LEFT JOIN moved ON moved.shipment_id = located.shipment_id
    WHERE moved.rn IS NULL OR located.rn < moved.rn
    GROUP BY located.shipment_id
),
latest AS (
    SELECT shipment_id, occurred_at, status, cause FROM scans WHERE rn = 1
)
SELECT s.id, s.lane_id, s.carrier_id, s.service_level,
       s.delay_level AS old_level, s.delay_cause AS old_cause, s.delay_rule AS old_rule,
       CASE WHEN s.delivered_at <= {now} THEN {self.param(ShipmentStatus.DELIVERED.value)}
            ELSE COALESCE(latest.status, {self.param(ShipmentStatus.INFO_RECEIVED.value)})
       END AS status,
       COALESCE(latest.cause, '{none}') AS cause,
       CASE WHEN s.shipped_at <= {now} THEN s.shipped_at END AS shipped_at,
       s.promised_at, latest.occurred_at AS last_event_at, arrived.since AS location_since,
       lane.mean_transit_hours
FROM {_SHIPMENTS} s
LEFT JOIN latest ON latest.shipment_id = s.id
LEFT JOIN arrived ON arrived.shipment_id = s.id
LEFT JOIN ({lanes}) lane ON lane.lane_id = s.lane_id
WHERE (latest.shipment_id IS NOT NULL
       OR COALESCE(s.ordered_at, s.shipped_at, s.created_at) <= {now}
       OR s.shipped_at <= {now})
  AND NOT EXISTS (
      SELECT 1 FROM {_CHANGES} later
      WHERE later.shipment_id = s.id AND later.changed_at > {now}
  )"""  # nosec B608  # constants only, values bound

    def prepare_as_of_inputs(self, *, late_scorer: LateScorer | None = None) -> None:
        """Build the temporary tables an as-of pass judges (dropped by `write`).

        1. The state of every shipment at `now` into a temporary table, in one statement
           (`_as_of_state_sql`: window functions over the events up to `now`).
        2. The transit history of the window ending at `now` (shipments.eta, three
           queries), as the periodic ETA refresh would have loaded it at `now`.
        3. Stream the active shipments' states through one cursor (server-side on
           PostgreSQL), predict each ETA exactly as the refresh does (`predict_eta`; the
           carrier's own estimate is left out: it is stored without the time it was given,
           so it may come from after `now`), score the states (with their ETA) with
           `late_scorer` if given, and insert the predictions of each chunk of CHUNK_SIZE
           in one statement.

        Statements: 6 (7 on PostgreSQL: ANALYZE) plus one insert per chunk.
        """
        self.as_of_prepared = True
        final = [str(status) for status in FINAL_STATUSES]
        postgresql = self.vendor == "postgresql"
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE {_STATE_TABLE} AS {self._as_of_state_sql()}", self.params
            )
            cursor.execute(
                f"CREATE TEMP TABLE {_PREDICTED_TABLE} "
                + (
                    "(id bigint, predicted_eta timestamptz, late_probability double precision)"
                    if postgresql
                    else "(id integer, predicted_eta text, late_probability real)"
                )
            )
        history = load_transit_history(now=self.now)
        with connection.chunked_cursor() as reader, connection.cursor() as writer:
            reader.execute(
                "SELECT id, lane_id, carrier_id, service_level, status, shipped_at, "
                f"promised_at, last_event_at FROM {_STATE_TABLE} "
                f"WHERE status NOT IN ({', '.join(['%s'] * len(final))})",  # nosec B608  # constants only, values bound
                final,
            )
            while chunk := reader.fetchmany(CHUNK_SIZE):
                self._insert_predictions(writer, self._predict(chunk, history), late_scorer)
            if postgresql:
                # Temporary tables get no autovacuum statistics; the judgement's join needs some.
                writer.execute(f"ANALYZE {_STATE_TABLE}, {_PREDICTED_TABLE}")

    def _predict(self, chunk: list[tuple], history: TransitHistory) -> list[AsOfState]:
        """The states of a chunk of rows of the state table, with their ETA as the periodic
        refresh computes it (`refresh_predicted_etas`: same history lookup, same model)."""
        states = []
        for row in chunk:
            pk, lane_id, carrier_id, service_level, status, shipped, promised, scanned = row
            shipped_at = _aware(shipped)
            promised_at = _aware(promised)
            last_event_at = _aware(scanned)
            distribution = history.for_shipment(
                lane_id=lane_id, carrier_id=carrier_id, service_level=service_level
            )
            if distribution is None:
                self.etas_without_history += 1
            eta = predict_eta(
                now=self.now,
                shipped_at=shipped_at,
                promised_at=promised_at,
                distribution=distribution,
                last_event_at=last_event_at,
            )
            states.append(
                AsOfState(
                    id=pk,
                    lane_id=lane_id,
                    carrier_id=carrier_id,
                    service_level=service_level,
                    status=status,
                    shipped_at=shipped_at,
                    promised_at=promised_at,
                    last_event_at=last_event_at,
                    predicted_eta=eta,
                )
            )
        return states

    def _insert_predictions(
        self, cursor, states: list[AsOfState], late_scorer: LateScorer | None
    ) -> None:
        """One statement for a chunk's predicted ETAs and late scores."""
        scores = list(late_scorer(states, self.now)) if late_scorer else [None] * len(states)
        if len(scores) != len(states):
            raise ValueError("a late scorer must answer once per shipment state")
        self.etas_predicted += len(states)
        ids = [state.id for state in states]
        etas = [state.predicted_eta for state in states]
        if self.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {_PREDICTED_TABLE} (id, predicted_eta, late_probability) "
                "SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::float8[])",  # nosec B608  # constants only, values bound
                [ids, etas, scores],
            )
            return
        adapt = connection.ops.adapt_datetimefield_value
        cursor.executemany(
            f"INSERT INTO {_PREDICTED_TABLE} (id, predicted_eta, late_probability) "
            "VALUES (%s, %s, %s)",  # nosec B608  # constants only, values bound
            [(pk, adapt(eta), score) for pk, eta, score in zip(ids, etas, scores, strict=True)],
        )

    # -- statements ------------------------------------------------------------------------

    def _set_clause(self, *, written_at: datetime) -> str:
        none = DelayLevel.NONE.value
        return f"""
    delay_level = changed.new_level,
    delay_cause = changed.new_cause,
    delay_rule = changed.new_rule,
    delay_detected_at = CASE
        WHEN changed.new_level = '{none}' THEN NULL
        WHEN changed.old_level = '{none}' THEN {self.now_sql}
        ELSE COALESCE({_SHIPMENTS}.delay_detected_at, {self.now_sql})
    END,
    updated_at = {self.moment(written_at)}"""

    # The old level in the WHERE makes PostgreSQL re-check a row that another transaction
    # changed meanwhile (READ COMMITTED): such a row is skipped and judged next pass.
    _GUARD = f"{_SHIPMENTS}.id = changed.id AND {_SHIPMENTS}.delay_level = changed.old_level"

    def _insert_changes(self) -> str:
        return (
            f"INSERT INTO {_CHANGES} "
            "(shipment_id, from_level, to_level, cause, rule_key, changed_at) "
            f"SELECT id, old_level, new_level, new_cause, new_rule, {self.now_sql}"
        )

    def postgresql_statement(self, *, written_at: datetime) -> str:
        """The whole pass as one PostgreSQL statement (also what the benchmark EXPLAINs)."""
        return f"""WITH {self.ctes},
updated AS (
    UPDATE {_SHIPMENTS} SET {self._set_clause(written_at=written_at)}
    FROM changed
    WHERE {self._GUARD}
    RETURNING {_SHIPMENTS}.id, changed.old_level, changed.new_level, changed.new_cause,
              changed.new_rule
),
logged AS (
    {self._insert_changes()} FROM updated WHERE old_level <> new_level
)
SELECT id, old_level, new_level, new_cause FROM updated"""  # nosec B608  # constants only, values bound

    def write(
        self, *, written_at: datetime
    ) -> tuple[list[tuple[int, str, str, str]], dict[str, int]]:
        """Write the pass.

        Returns the rewritten shipments as (id, old level, new level, new cause), by id, and
        the number of active shipments per level after the pass.
        """
        if not self.from_events and self.horizon is not None and not self.live_scores:
            self.prepare_live_scores()
        if self.vendor == "postgresql" and not self.from_events:
            with connection.cursor() as cursor:
                cursor.execute(self.postgresql_statement(written_at=written_at), self.params)
                # Sorted here: an ORDER BY would sort (and spill) inside the writing statement.
                rows = sorted(tuple(row) for row in cursor.fetchall())
            self.drop_live_scores()
            return rows, self._stored_levels()
        if self.from_events and not self.as_of_prepared:
            self.prepare_as_of_inputs()
        written = self._write_through_pass_table(written_at=written_at)
        self.drop_live_scores()
        return written

    def _write_through_pass_table(
        self, *, written_at: datetime
    ) -> tuple[list[tuple[int, str, str, str]], dict[str, int]]:
        """The pass in steps around a temporary table of the judgement.

        SQLite needs it (its RETURNING cannot name the FROM table). An as-of pass uses it on
        both databases: its inputs are the temporary tables of `prepare_as_of_inputs`
        (dropped here), and the table keeps every judged shipment so that the counts per
        level are the judged ones at `now`, not the stored ones.
        """
        keep_all = self.from_events
        set_clause = self._set_clause(written_at=written_at)
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE {_PASS_TABLE} AS WITH {self.ctes} "
                "SELECT id, old_level, new_level, new_cause, new_rule, is_change "
                f"FROM {'judged' if keep_all else 'changed'}",  # nosec B608  # constants only, values bound
                self.params,
            )
            if self.vendor == "postgresql":
                # Temporary tables get no autovacuum statistics; the UPDATE's join needs some.
                cursor.execute(f"ANALYZE {_PASS_TABLE}")
            cursor.execute(
                f"UPDATE {_SHIPMENTS} SET {set_clause} "
                f"FROM (SELECT * FROM {_PASS_TABLE} WHERE is_change = 1) AS changed "
                f"WHERE {self._GUARD}",  # nosec B608  # constants only, values bound
                self.params,
            )
            cursor.execute(
                f"{self._insert_changes()} FROM {_PASS_TABLE} "
                "WHERE is_change = 1 AND old_level <> new_level",
                self.params,
            )
            cursor.execute(
                f"SELECT id, old_level, new_level, new_cause FROM {_PASS_TABLE} "
                "WHERE is_change = 1 ORDER BY id"  # nosec B608  # constants only, values bound
            )
            rows = [tuple(row) for row in cursor.fetchall()]
            if keep_all:
                cursor.execute(f"SELECT new_level, COUNT(*) FROM {_PASS_TABLE} GROUP BY new_level")  # nosec B608  # constants only, values bound
                levels = self._levels(cursor.fetchall())
            cursor.execute(f"DROP TABLE {_PASS_TABLE}")
            if self.from_events:
                for table in (_STATE_TABLE, _PREDICTED_TABLE):
                    cursor.execute(f"DROP TABLE {table}")
        if not keep_all:
            levels = self._stored_levels()
        return rows, levels

    def _stored_levels(self) -> dict[str, int]:
        # After a live pass the stored levels are the judged ones: counting them is cheaper
        # than judging again.
        return self._levels(
            Shipment.objects.active().order_by().values_list("delay_level").annotate(n=Count("id"))
        )

    @staticmethod
    def _levels(counted) -> dict[str, int]:
        levels = dict.fromkeys(DELAY_LEVEL_RANK, 0)
        for level, count in counted:
            levels[level] = count
        return levels


# PostgreSQL's binary COPY: a header, then per row its field count and each field's length and
# big-endian bytes, then -1. Built from the arrays in one piece: no Python object per row.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_COPY_ROW = np.dtype([("n", ">i2"), ("l1", ">i4"), ("id", ">i8"), ("l2", ">i4"), ("p", ">f8")])


def _copy_scores(cursor, ids: np.ndarray, probabilities: np.ndarray) -> None:
    rows = np.empty(len(ids), dtype=_COPY_ROW)
    rows["n"] = 2
    rows["l1"] = 8
    rows["id"] = ids
    rows["l2"] = 8
    rows["p"] = probabilities
    statement = f"COPY {_SCORES_TABLE} (id, late_probability) FROM STDIN WITH (FORMAT BINARY)"
    with cursor.cursor.copy(statement) as copy:
        copy.write(_COPY_HEADER + rows.tobytes() + _COPY_TRAILER)


def as_of_scorer(*, horizon: int) -> LateScorer:
    """The late scorer of an as-of pass that was given none: P(late) as of the pass's moment
    from the model a live pass would have had then (`shipments.risk.model_as_of`: trained by
    then, on history up to then), else the lane-quantile rule, on the history a live pass
    reads (as of the start of the moment's hour, `risk.history_moment`), for the states whose
    promise is within `horizon` hours (or past); None for the others, which no rule reads."""
    loaded: dict[datetime, tuple] = {}

    def scorer(states: Sequence[AsOfState], moment: datetime) -> list[float | None]:
        if moment not in loaded:
            loaded.clear()
            model = risk.model_as_of(moment)
            loaded[moment] = (model, risk.load_history(now=risk.history_moment(moment)))
        model, history = loaded[moment]
        edge = moment + timedelta(hours=horizon)
        asked = [state.id for state in states if state.promised_at <= edge]
        scores = (
            risk.score(
                asked,
                now=moment,
                from_events=True,
                model=model,
                fallback=model is None,
                history=history,
            )
            if asked
            else {}
        )
        return [scores.get(state.id) for state in states]

    return scorer


def late_etas_write(
    shipment_ids: Sequence[int], *, now: datetime, transit: TransitHistory | None = None
) -> int:
    """Give shipments just judged "will be late" their `late_eta`, the estimate given that
    they miss their promise (`predict_eta(late=True)`), so that the notice queued in the same
    transaction tells a date after the promise and noise control (the customer's tolerance)
    weighs that date (`Shipment.told_eta`). The periodic ETA refresh keeps it while the level
    stays. `predicted_eta`, which the rules read, is left alone: the pass stays idempotent.
    Statements: none without shipments; else 3 for the history, one read and one write per
    CHUNK_SIZE."""
    if not shipment_ids:
        return 0
    # The pass's own transit history when it scored (the estimate and the probability agree).
    history = transit or load_transit_history(now=now)
    written = 0
    for start in range(0, len(shipment_ids), CHUNK_SIZE):
        rows = Shipment.objects.filter(pk__in=shipment_ids[start : start + CHUNK_SIZE]).values_list(
            "id",
            "lane_id",
            "carrier_id",
            "service_level",
            "shipped_at",
            "last_event_at",
            "promised_at",
            "carrier_eta",
            "late_eta",
        )
        updates = []
        for pk, lane, carrier, service, shipped, scanned, promised, carrier_eta, current in rows:
            eta = predict_eta(
                now=now,
                shipped_at=shipped,
                promised_at=promised,
                distribution=history.for_shipment(
                    lane_id=lane, carrier_id=carrier, service_level=service
                ),
                last_event_at=scanned,
                carrier_eta=carrier_eta,
                late=True,
            )
            if eta != current:
                updates.append((pk, eta))
        if updates:
            write_predicted_etas(updates, column="late_eta")
            written += len(updates)
    return written


def _aware(value: datetime | str | None) -> datetime | None:
    """A timestamp read by raw SQL as an aware datetime: SQLite returns the stored UTC text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)
