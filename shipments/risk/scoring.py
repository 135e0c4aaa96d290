"""Scoring undelivered shipments with the active late-delivery model (or the lane-quantile
rule without one), and the reasons in words (see the package docstring, ``shipments.risk``)."""

from __future__ import annotations

import datetime as dt
import gc
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import FloatField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.cache import cache_get, cache_set
from shipments.models import (
    FINAL_STATUSES,
    Incident,
    LateModel,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
)
from shipments.risk.features import (
    CHUNK_SIZE,
    FALLBACK_NO_MODEL,
    Coefficients,
    Frame,
    RiskHistory,
    as_floats,
    epoch_sql,
    evaluate,
    float_sql,
    load_history,
)

# --- Scoring --------------------------------------------------------------------------------


class RiskScores(dict):
    """{shipment id: P(late)} with how it was computed: ``fallback`` is True when no trained
    model was active and the probabilities are the lane-quantile rule's
    (``shipments.eta.late_probability``); ``reason`` says so in words for the screen."""

    def __init__(
        self,
        *,
        fallback: bool,
        reason: str = "",
        version: int | None = None,
        threshold: float | None = None,
    ) -> None:
        super().__init__()
        self.fallback = fallback
        self.reason = reason
        self.version = version
        self.threshold = threshold
        # Shipments scored (with a ``sink``, the dict itself stays empty).
        self.count = 0


def active_model() -> LateModel | None:
    return LateModel.objects.filter(is_active=True).first()


def model_as_of(now: dt.datetime) -> LateModel | None:
    """The model a live pass at ``now`` would have used: the newest one trained by then on
    history up to then (a replay of the past never asks a model that saw its future)."""
    return (
        LateModel.objects.filter(trained_at__lte=now, history_to__lte=now)
        .order_by("-version")
        .first()
    )


def score(
    shipments: QuerySet | Iterable[int],
    *,
    now: dt.datetime,
    from_events: bool | None = None,
    model: LateModel | None = None,
    fallback: bool = False,
    history: RiskHistory | None = None,
    sink: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> RiskScores:
    """P(late) of each undelivered shipment of ``shipments`` (ids or a Shipment queryset),
    as of ``now``. Shipments delivered (or returned, expired) by ``now`` are left out.

    Live (``now`` within a minute of the clock, as ``detect_delays`` decides): status and
    last scan are the stored ones. Otherwise (``from_events``, a replay of the past) they are
    rebuilt from the scans at or before ``now``, and hand-over, delivery and the carrier's
    estimate after ``now`` are ignored: nothing from after ``now`` is read.

    ``model``: the model to ask (default: the active one); ``fallback``: ask none, use the
    lane-quantile rule (a replay before any model was trained). ``history``: the history as
    of ``now`` if the caller already loaded it (``load_history``), e.g. once per pass.
    ``sink``: called with each chunk's ids and probabilities (numpy arrays) instead of
    collecting them in the returned dict, which then only says how they were computed and
    how many (``count``): a detection pass copies them straight into its table.

    Queries: the active model (unless given), 4 for the history (unless given), then one per
    CHUNK_SIZE shipments (two when ``from_events``).
    """
    if timezone.is_naive(now):
        raise ValueError("score needs an aware datetime")
    if from_events is None:
        from_events = now < timezone.now() - dt.timedelta(minutes=1)
    model = None if fallback else (model or active_model())
    if model is None:
        scores = RiskScores(fallback=True, reason=FALLBACK_NO_MODEL)
        coefficients = None
    else:
        scores = RiskScores(fallback=False, version=model.version, threshold=model.threshold)
        coefficients = Coefficients.from_json(model.coefficients)
    if history is None:
        history = load_history(now=now)
    # A million rows arrive as millions of short-lived tuples, none in a reference cycle:
    # the cyclic collector would walk them again and again for nothing (2 s of 11 at a
    # million shipments). It runs again as soon as the walk is over.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for frame in _frames(shipments, now=now, from_events=from_events):
            evaluated = evaluate(frame, history)
            if coefficients is None:
                probabilities = evaluated.quantile_probability
            else:
                probabilities = coefficients.predict(evaluated.features)
            scores.count += len(frame.ids)
            if sink is not None:
                sink(frame.ids, probabilities)
            else:
                scores.update(zip(frame.ids.tolist(), probabilities.tolist(), strict=True))
    finally:
        if collecting:
            gc.enable()
    return scores


def features(
    shipments: QuerySet | Iterable[int], *, now: dt.datetime, from_events: bool | None = None
) -> dict[int, np.ndarray]:
    """{shipment id: feature vector (FEATURE_NAMES)} as ``score`` computes them at ``now``:
    what a replay or a page needs to show what the model saw."""
    if from_events is None:
        from_events = now < timezone.now() - dt.timedelta(minutes=1)
    history = load_history(now=now)
    out = {}
    for frame in _frames(shipments, now=now, from_events=from_events):
        evaluated = evaluate(frame, history)
        out.update(zip(frame.ids.tolist(), evaluated.features, strict=True))
    return out


def _frames(shipments, *, now: dt.datetime, from_events: bool) -> Iterable[Frame]:
    """The selected shipments not final at ``now``, as of ``now``, CHUNK_SIZE at a time.

    A queryset is read by one query through a server-side cursor on PostgreSQL (Django's
    ``chunked_cursor``): a single scan of the table, where keyset pages in id order cost
    five times as much at a million shipments (index order visits the delivered rows too).
    An id list is read in sorted slices, one query each. Times are read as epoch seconds in
    SQL so that no datetime object is built per row.
    """
    if isinstance(shipments, QuerySet):
        base = shipments
        slices = None
    else:
        ids = sorted({int(pk) for pk in shipments})
        size = CHUNK_SIZE if connection.vendor == "postgresql" else _SQLITE_ID_CHUNK
        slices = [ids[i : i + size] for i in range(0, len(ids), size)]
        base = Shipment.objects.all()
    if from_events:
        # Returned or expired parcels were not final before their last scan; delivered ones
        # count by their delivery time.
        base = base.filter(Q(delivered_at__isnull=True) | Q(delivered_at__gt=now))
    else:
        base = base.exclude(status__in=FINAL_STATUSES)
    # Scans are looked up per id range of a chunk: replays read the chunks in id order.
    base = base.annotate(**_epoch_columns()).order_by(*(["pk"] if from_events else []))
    base = base.values_list(*_FRAME_COLUMNS)
    now_seconds = now.timestamp()
    chunks = _stream(base) if slices is None else (_fetch(base.filter(pk__in=s)) for s in slices)
    for rows in chunks:
        if rows:
            yield _frame(rows, now=now, now_seconds=now_seconds, from_events=from_events)


def _stream(queryset: QuerySet) -> Iterable[list[tuple]]:
    """The rows of one query in chunks. On PostgreSQL a server-side cursor with binary
    results: floats and ids arrive as machine numbers instead of text to parse (4.4 s -> 2.8 s
    for a million rows); it is psycopg's own cursor, as Django's ``chunked_cursor`` would
    be, which only Django's query log does not see."""
    sql, params = queryset.query.sql_with_params()
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(CHUNK_SIZE):
                yield rows
        return
    connection.ensure_connection()
    # WITH HOLD outside a transaction, as Django's chunked_cursor does.
    with connection.connection.cursor(
        name="shipments_risk_score", binary=True, withhold=connection.get_autocommit()
    ) as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK_SIZE):
            yield rows


def _fetch(queryset: QuerySet) -> list[tuple]:
    """The rows of a values_list queryset straight from the cursor: the ORM compiles the SQL,
    but its per-row converters (a third of the time at a million rows) have nothing to do
    for these plain columns."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# SQLite's default limit of parameters per statement is 999 (Django's max_query_params).
_SQLITE_ID_CHUNK = 900
_FRAME_COLUMNS = (
    "id",
    "lane_id",
    "carrier_id",
    "service_level",
    "origin_region",
    "risk_started",
    "risk_shipped",
    "risk_promised",
    "risk_last_scan",
    "status",
    "risk_incident",
    "risk_value",
    "risk_carrier_eta",
)


def _epoch_columns() -> dict[str, RawSQL]:
    # Training reads incident membership with the same expression.
    from shipments.risk.training import incident_known_sql

    table = connection.ops.quote_name(Shipment._meta.db_table)
    incidents = connection.ops.quote_name(Incident._meta.db_table)

    def column(sql: str) -> RawSQL:
        return RawSQL(sql, [], output_field=FloatField())  # nosec B611  # constants only, values bound

    return {
        "risk_started": column(
            epoch_sql(f"COALESCE({table}.ordered_at, {table}.shipped_at, {table}.created_at)")
        ),
        "risk_shipped": column(epoch_sql(f"{table}.shipped_at")),
        "risk_promised": column(epoch_sql(f"{table}.promised_at")),
        "risk_last_scan": column(epoch_sql(f"{table}.last_event_at")),
        # Since when it is known to be in its incident (not merely the incident's window
        # start: an incident opened after T must not count at T). A correlated lookup only
        # for the few shipments in an incident.
        "risk_incident": column(
            f"CASE WHEN {table}.incident_id IS NULL THEN NULL ELSE "
            f"(SELECT {incident_known_sql(table, 'i')} FROM {incidents} i "
            f"WHERE i.id = {table}.incident_id) END"  # nosec B608  # constants only, values bound
        ),
        "risk_value": column(float_sql(f"{table}.order_value")),
        "risk_carrier_eta": column(epoch_sql(f"{table}.carrier_eta")),
    }


def _frame(rows: list[tuple], *, now: dt.datetime, now_seconds: float, from_events: bool) -> Frame:
    columns = list(zip(*rows, strict=True))
    ids = np.array(columns[0], dtype=np.int64)
    shipped = as_floats(columns[6])
    ordered = as_floats(columns[5])
    last_scan = as_floats(columns[8])
    status = np.array(columns[9], dtype=object)
    carrier_eta = as_floats(columns[12])
    incident = as_floats(columns[10])
    if from_events:
        last_scan, status = _scans_at(ids, now=now)
        carrier_eta = np.full(len(ids), np.nan)
    frame = Frame(
        ids=ids,
        now=np.full(len(ids), now_seconds),
        lane=list(columns[1]),
        carrier_service=list(zip(columns[2], columns[3], strict=True)),
        origin=list(columns[4]),
        shipped=np.where(shipped <= now_seconds, shipped, np.nan),
        promised=as_floats(columns[7]),
        last_scan=last_scan,
        ordered=ordered,
        status=status,
        in_incident=~np.isnan(incident) & (incident <= now_seconds),
        order_value=as_floats(columns[11]),
        carrier_eta=carrier_eta,
    )
    if from_events:
        # Not an order yet at T: nothing to judge.
        exists = ~(ordered > now_seconds) | ~np.isnan(frame.shipped)
        frame = frame.take(np.flatnonzero(exists))
    return frame


def _scans_at(ids: np.ndarray, *, now: dt.datetime) -> tuple[np.ndarray, np.ndarray]:
    """Last mapped scan at or before ``now`` and its status, for a chunk of ids (one query)."""
    moment = connection.ops.adapt_datetimefield_value(now)
    sql = f"""
        SELECT e.shipment_id, {epoch_sql("e.occurred_at")}, e.status
        FROM {TrackingEvent._meta.db_table} e
        WHERE e.shipment_id >= %s AND e.shipment_id <= %s
          AND e.occurred_at <= %s AND NOT e.unmapped
        ORDER BY e.shipment_id, e.occurred_at, e.id
    """  # nosec B608  # constants only, values bound
    last_scan = np.full(len(ids), np.nan)
    status = np.full(len(ids), ShipmentStatus.INFO_RECEIVED.value, dtype=object)
    with connection.cursor() as cursor:
        cursor.execute(sql, [int(ids[0]), int(ids[-1]), moment])
        rows = cursor.fetchall()
    position = {pk: i for i, pk in enumerate(ids.tolist())}
    for shipment_id, occurred, scan_status in rows:  # ordered: the last one wins
        i = position.get(shipment_id)
        if i is not None:
            last_scan[i] = occurred
            status[i] = scan_status
    return last_scan, status


# --- Reasons in words -----------------------------------------------------------------------


@dataclass(frozen=True)
class Reasons:
    probability: float | None  # None: the shipment is delivered (or gone) at ``now``
    fallback: bool
    facts: list[str]


def reasons(
    shipment: Shipment,
    *,
    now: dt.datetime,
    from_events: bool | None = None,
    model: LateModel | None = None,
    fallback: bool = False,
    history: RiskHistory | None = None,
) -> Reasons:
    """P(late) of one shipment and the facts behind it in plain words, for the shipment page:
    "Parcels on this lane usually take 9 days", "Handed over to the carrier 7 days ago",
    "2 days left to the promised date". Same history and features as ``score``.

    ``model``, ``fallback`` and ``history`` as for ``score``: a page that shows which model
    answered passes the one it read (or ``fallback=True`` when there was none), and a live
    page passes ``cached_history(now)`` instead of loading the whole history each time.

    Queries: the active model (unless given), 4 for the history (unless given), 1 for the
    shipment (2 when ``from_events``)."""
    if from_events is None:
        from_events = now < timezone.now() - dt.timedelta(minutes=1)
    model = None if fallback else (model or active_model())
    if history is None:
        history = load_history(now=now)
    frames = list(_frames([shipment.pk], now=now, from_events=from_events))
    if not frames or len(frames[0]) == 0:
        return Reasons(probability=None, fallback=model is None, facts=[])
    frame = frames[0]
    evaluated = evaluate(frame, history, explain=True)
    if model is None:
        probability = float(evaluated.quantile_probability[0])
    else:
        coefficients = Coefficients.from_json(model.coefficients)
        probability = float(coefficients.predict(evaluated.features)[0])
    raw = {name: values[0] for name, values in evaluated.raw.items()}
    facts = []
    if raw["has_history"]:
        days = _days(raw["median_hours"])
        facts.append(
            ngettext(
                "Parcels on this lane usually take %(days)s day (9 in 10 within %(p90)s).",
                "Parcels on this lane usually take %(days)s days (9 in 10 within %(p90)s).",
                days,
            )
            % {"days": days, "p90": _days(raw["p90_hours"])}
        )
    else:
        facts.append(_("Too few delivered parcels on this lane to know its usual transit time."))
    if math.isnan(raw["elapsed_hours"]):
        facts.append(_("Not handed over to the carrier yet."))
    else:
        days = _days(raw["elapsed_hours"])
        facts.append(
            ngettext(
                "Handed over to the carrier %(days)s day ago.",
                "Handed over to the carrier %(days)s days ago.",
                days,
            )
            % {"days": days}
        )
    if not math.isnan(raw["since_scan_hours"]):
        hours = raw["since_scan_hours"]
        if hours >= 48:
            days = _days(hours)
            facts.append(
                ngettext("Last scan %(days)s day ago.", "Last scan %(days)s days ago.", days)
                % {"days": days}
            )
        else:
            facts.append(_("Last scan %(hours)s h ago.") % {"hours": round(hours)})
    left = raw["left_hours"]
    if left >= 0:
        days = _days(left)
        facts.append(
            ngettext(
                "%(days)s day left to the promised date.",
                "%(days)s days left to the promised date.",
                days,
            )
            % {"days": days}
            if left >= 24
            else _("%(hours)s h left to the promised date.") % {"hours": round(left)}
        )
    else:
        days = _days(-left)
        facts.append(
            ngettext(
                "The promised date passed %(days)s day ago.",
                "The promised date passed %(days)s days ago.",
                days,
            )
            % {"days": days}
        )
    if raw["lane_recent"] > 0:
        facts.append(
            _("%(percent)s%% of this lane's recent parcels arrived on time.")
            % {"percent": round(100 * raw["lane_on_time_rate"])}
        )
    if raw["in_incident"]:
        facts.append(_("Part of an incident affecting many parcels."))
    if model is None:
        facts.append(
            _("No trained model yet: the estimate comes from the lane's transit times alone.")
        )
    return Reasons(probability=probability, fallback=model is None, facts=facts)


# How long a cached history is kept: its hour and the next (a later hour has its own key).
HISTORY_CACHE_SECONDS = 2 * 3600
# Part of the key: a deploy that changes RiskHistory's shape never reads an older pickle.
_HISTORY_CACHE_KEY = "shipments:risk:history:v2:{hour}"


def history_moment(now: dt.datetime) -> dt.datetime:
    """The moment whose history a live score at ``now`` reads: the start of its hour (UTC).
    A detection pass as of a past moment reads the history as of the same moment, so that it
    judges exactly as the live pass did."""
    return now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def cached_history(now: dt.datetime) -> RiskHistory:
    """The history as of the start of ``now``'s hour (UTC), from Django's default cache: a
    live page asks ``reasons(history=cached_history(now))`` and pays the four aggregate
    queries over every delivery (``load_history``, seconds at a million shipments) once an
    hour, not once a view. Deliveries of the current hour count from the next hour on.

    Queries: one cache read when warm (on the database cache; none on Redis); else the 4 of
    ``load_history`` and the cache write."""
    if timezone.is_naive(now):
        raise ValueError("cached_history needs an aware datetime")
    hour = history_moment(now)
    key = _HISTORY_CACHE_KEY.format(hour=hour.strftime("%Y%m%dT%H"))
    history = cache_get(key)
    if history is None:
        history = load_history(now=hour)
        cache_set(key, history, HISTORY_CACHE_SECONDS)
    return history


def _days(hours: float) -> int:
    return max(0, round(hours / 24))
