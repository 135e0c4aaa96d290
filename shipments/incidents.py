"""Incidents: one cause hitting many parcels, explained to every affected customer at once.

Two ways in:
- automatic grouping, run by every detection pass (`incidents_group_automatic`): delayed
  shipments that share a carrier-given cause and a place (carrier + hub, or lane) within one
  time window become one incident once there are at least `INCIDENT_MIN_SHIPMENTS` of them;
- a supervisor's filter (`incident_create_from_filter`), for what the carriers do not say.

A shipment belongs to at most one incident: the first one that takes it keeps it (automatic
grouping and filters only take shipments in no incident). `affected_count` is always counted
from the database, never incremented in Python.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import reduce
from operator import or_

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.db.models import Case, Count, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy

from core.models import DelayCause
from shipments.models import Carrier, DelayLevel, Incident, IncidentStatus, Lane, Shipment

# Automatic incidents group detections of one 72-hour window. Windows are aligned on the Unix
# epoch, so every worker (and a rerun) computes the same window, hence the same scope key.
INCIDENT_WINDOW = timedelta(hours=72)
# Fewest shipments sharing a cause and place that make an incident; settings may override it
# (INCIDENT_MIN_SHIPMENTS), read at each pass.
DEFAULT_INCIDENT_MIN_SHIPMENTS = 10
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SCOPE_KEY_MAX = Incident._meta.get_field("scope_key").max_length
_TITLE_MAX = Incident._meta.get_field("title").max_length

# Errors a supervisor sees: constants, so tests and templates can rely on them.
TITLE_REQUIRED = "Give the incident a title."
CAUSE_INVALID = "Choose the cause of the delays."
LANE_OF_ANOTHER_CARRIER = "This lane belongs to another carrier."
DELAY_LEVEL_INVALID = (
    "Choose delay levels among will be late, yellow, hub hold, orange, red and long delay."
)
# Not tied to one field: the filter as a whole matches nothing (an empty incident would tell
# no customer anything and count as an incident on the supervisor page).
NO_MATCHING_SHIPMENTS = gettext_lazy(
    "No delayed shipment outside an incident matches this filter, so no incident was opened. "
    "Check the cause and widen the filter (carrier, lane, hub, delay levels, detected since)."
)


@dataclass(frozen=True)
class _CauseWords:
    # English takes {at} (" at Paris CDG", " on the CN-GD → DE-BE route" or ""); Chinese takes
    # {place} ("Paris CDG", "CN-GD → DE-BE线路" or ""), so both read well without a place.
    title_en: str
    title_zh: str
    what_en: str
    what_zh: str


CAUSE_WORDS: dict[str, _CauseWords] = {
    DelayCause.CUSTOMS_HOLD: _CauseWords(
        "Customs hold{at}",
        "{place}海关查验",
        "Customs{at} are inspecting parcels, which keeps them longer than usual.",
        "{place}海关正在查验包裹，清关时间比平时更长。",
    ),
    DelayCause.CONGESTION: _CauseWords(
        "Congestion{at}",
        "{place}拥堵",
        "Congestion or a strike{at} is slowing parcels down.",
        "{place}拥堵或罢工，包裹运输放缓。",
    ),
    DelayCause.CAPACITY: _CauseWords(
        "Peak-season backlog{at}",
        "{place}旺季运力不足",
        "Peak-season volumes{at} exceed the carrier's capacity, so parcels wait longer.",
        "{place}旺季包裹量超出承运商运力，包裹等待时间比平时更长。",
    ),
    DelayCause.WEATHER: _CauseWords(
        "Bad weather{at}",
        "{place}恶劣天气",
        "Bad weather{at} is delaying parcels.",
        "{place}天气恶劣，包裹运输受到影响。",
    ),
    DelayCause.SORTING: _CauseWords(
        "Sorting problem{at}",
        "{place}分拣异常",
        "A sorting problem{at} sent parcels on a detour.",
        "{place}分拣出现问题，部分包裹被错分。",
    ),
    DelayCause.ADDRESS_ISSUE: _CauseWords(
        "Address problems{at}",
        "{place}地址问题",
        "The carrier could not confirm the delivery address of several parcels{at}.",
        "{place}部分包裹的收件地址无法确认。",
    ),
    DelayCause.CARRIER_OUTAGE: _CauseWords(
        "Carrier system outage{at}",
        "{place}承运商系统故障",
        "A system outage at the carrier is delaying parcels{at}.",
        "承运商系统故障，{place}包裹出现延误。",
    ),
    DelayCause.TRACKING_LOST: _CauseWords(
        "Tracking updates missing{at}",
        "{place}物流信息中断",
        "The carrier has stopped sending tracking updates for parcels{at}.",
        "承运商暂停了{place}包裹的物流信息更新。",
    ),
    DelayCause.DAMAGE: _CauseWords(
        "Parcels damaged{at}",
        "{place}包裹破损",
        "Some parcels were damaged in transit{at}.",
        "部分包裹在{place}运输途中破损。",
    ),
    DelayCause.LOSS: _CauseWords(
        "Parcels missing{at}",
        "{place}包裹丢失",
        "The carrier is searching for parcels missing{at}.",
        "承运商正在查找{place}丢失的包裹。",
    ),
    DelayCause.UNKNOWN: _CauseWords(
        "Delays{at}",
        "{place}包裹延误",
        "Parcels{at} are delayed.",
        "{place}包裹出现延误。",
    ),
}
_NEXT_STEP_EN = (
    "We are working with {carrier} and will tell you the new delivery date as soon as your "
    "parcel moves again."
)
_NEXT_STEP_ZH = "我们正在与{carrier}跟进，包裹恢复运输后会第一时间通知您新的送达日期。"


@dataclass(frozen=True)
class IncidentTexts:
    title: str
    public_explanation: str
    public_explanation_zh_hans: str


def incident_texts(
    *, cause: str, carrier: Carrier | None = None, lane: Lane | None = None, hub: str = ""
) -> IncidentTexts:
    """Title and public explanation (English, Chinese) from the cause and the place."""
    words = CAUSE_WORDS.get(cause, CAUSE_WORDS[DelayCause.UNKNOWN])
    if hub:
        at, place = f" at {hub}", hub
    elif lane is not None:
        route = f"{lane.origin_region} → {lane.destination_region}"
        at, place = f" on the {route} route", f"{route}线路"
    else:
        at, place = "", ""
    carrier = carrier or (lane.carrier if lane is not None else None)
    carrier_en = carrier.name if carrier is not None else "the carrier"
    carrier_zh = carrier.name if carrier is not None else "承运商"
    return IncidentTexts(
        title=words.title_en.format(at=at)[:_TITLE_MAX],
        public_explanation=(
            f"{words.what_en.format(at=at)} {_NEXT_STEP_EN.format(carrier=carrier_en)}"
        ),
        public_explanation_zh_hans=(
            f"{words.what_zh.format(place=place)}{_NEXT_STEP_ZH.format(carrier=carrier_zh)}"
        ),
    )


def incident_min_shipments() -> int:
    return int(getattr(settings, "INCIDENT_MIN_SHIPMENTS", DEFAULT_INCIDENT_MIN_SHIPMENTS))


def incident_window_start(now: datetime) -> datetime:
    """The start of the grouping window that contains `now` (UTC, aligned on the epoch)."""
    return _EPOCH + ((now - _EPOCH) // INCIDENT_WINDOW) * INCIDENT_WINDOW


def incident_scope_key(
    *,
    cause: str,
    carrier_code: str,
    hub: str = "",
    lane_id: int | None = None,
    window_start: datetime,
) -> str:
    """The grouping key: customs_hold:dhl:hub:Paris CDG:2026-11-20 (or ...:lane:17:...)."""
    scope = f"hub:{hub}" if hub else f"lane:{lane_id}"
    key = f"{cause}:{carrier_code}:{scope}:{window_start:%Y-%m-%d}"
    if len(key) > _SCOPE_KEY_MAX:
        # A very long hub name: keep a readable prefix and a digest of the whole, still unique.
        digest = hashlib.sha256(hub.encode()).hexdigest()[:12]
        room = _SCOPE_KEY_MAX - len(key) + len(hub) - len(digest) - 1
        key = f"{cause}:{carrier_code}:hub:{hub[:room]}#{digest}:{window_start:%Y-%m-%d}"
    return key


@dataclass(frozen=True)
class GroupingResult:
    created: int = 0
    updated: int = 0
    linked: int = 0


def incidents_group_automatic(*, now: datetime) -> GroupingResult:
    """Group delayed shipments sharing a cause and a place into automatic incidents.

    Candidates are active delayed shipments whose carrier gave a cause (not "none" or
    "unknown": "unknown" says nothing in common) and that are in no incident yet.

    1. Absorb: candidates with the cause and scope of an open automatic incident join it,
       whenever they were detected: same situation, same explanation to the customer.
    2. Hub scope: the remaining candidates detected in the current window (INCIDENT_WINDOW)
       are grouped by cause + carrier + last location; each group of at least
       `incident_min_shipments()` gets the incident of its scope key (created if missing), and
       every candidate of that scope is linked to it, whenever detected. A resolved incident
       with that key is not reopened: its group waits for the next window (and does not
       resurface as a lane incident either).
    3. Lane scope: the same for the candidates still unlinked, by cause + lane (parcels of one
       route stuck in different places, e.g. by weather).
    4. Recount `affected_count` from the database for every touched or unresolved incident,
       so counts also heal after manual edits.

    A constant number of queries, whatever the number of shipments or groups. It runs inside
    the detection pass, under its lock: two passes never race to create one incident (and
    the unique scope key would refuse the second).
    """
    written_at = timezone.now()
    window_start = incident_window_start(now)
    minimum = incident_min_shipments()
    candidates = (
        Shipment.objects.active()
        .delayed()
        .filter(incident__isnull=True)
        .exclude(delay_cause__in=[DelayCause.NONE, DelayCause.UNKNOWN])
    )

    # 1. Absorb into open automatic incidents.
    open_automatic = list(
        Incident.objects.filter(is_automatic=True)
        .exclude(status=IncidentStatus.RESOLVED)
        .values("id", "cause", "carrier_id", "lane_id", "hub", "affected_count")
    )
    counts_before = {row["id"]: row["affected_count"] for row in open_automatic}
    linked = _link(
        candidates,
        {row["id"]: _scope_q(row) for row in open_automatic},
        written_at=written_at,
    )

    # 2. and 3. New groups of this window, hub scope first: the more precise place.
    created_ids: list[int] = []
    # Scopes of resolved incidents: their parcels must not reappear as a lane incident.
    resolved_scopes: list[Q] = []
    for groups in (_hub_groups, _lane_groups):
        pool = candidates.exclude(reduce(or_, resolved_scopes)) if resolved_scopes else candidates
        recent = pool.filter(delay_detected_at__gte=window_start, delay_detected_at__lte=now)
        specs = groups(recent, minimum=minimum, window_start=window_start)
        if not specs:
            continue
        scopes = _incidents_for(
            specs,
            window_start=window_start,
            created_ids=created_ids,
            before=counts_before,
            resolved_scopes=resolved_scopes,
        )
        # The window decides whether a group is big enough; once its incident exists, every
        # candidate of its scope joins now (as step 1 would on the next pass: a rerun at the
        # same moment must find nothing left to do).
        linked += _link(pool, scopes, written_at=written_at)

    # 4. Recount.
    touched = set(counts_before) | set(created_ids)
    per_incident = (
        Shipment.objects.filter(incident_id=OuterRef("pk"))
        .order_by()
        .values("incident_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    Incident.objects.filter(Q(id__in=touched) | ~Q(status=IncidentStatus.RESOLVED)).update(
        affected_count=Coalesce(Subquery(per_incident), 0), updated_at=written_at
    )
    updated = 0
    if counts_before and linked:
        counts_after = dict(
            Incident.objects.filter(id__in=counts_before).values_list("id", "affected_count")
        )
        updated = sum(1 for pk, count in counts_before.items() if counts_after.get(pk) != count)
    return GroupingResult(created=len(created_ids), updated=updated, linked=linked)


@dataclass(frozen=True)
class _GroupSpec:
    key: str
    cause: str
    carrier: Carrier
    hub: str
    lane: Lane | None
    scope: Q


def _scope_q(row: dict) -> Q:
    if row["hub"]:
        return Q(delay_cause=row["cause"], carrier_id=row["carrier_id"], last_location=row["hub"])
    return Q(delay_cause=row["cause"], lane_id=row["lane_id"])


def _hub_groups(recent, *, minimum: int, window_start: datetime) -> list[_GroupSpec]:
    rows = list(
        recent.exclude(last_location="")
        .order_by()
        .values("delay_cause", "carrier_id", "last_location")
        .annotate(n=Count("id"))
        .filter(n__gte=minimum)
    )
    if not rows:
        return []
    carriers = Carrier.objects.in_bulk({row["carrier_id"] for row in rows})
    return [
        _GroupSpec(
            key=incident_scope_key(
                cause=row["delay_cause"],
                carrier_code=carriers[row["carrier_id"]].code,
                hub=row["last_location"],
                window_start=window_start,
            ),
            cause=row["delay_cause"],
            carrier=carriers[row["carrier_id"]],
            hub=row["last_location"],
            lane=None,
            scope=Q(
                delay_cause=row["delay_cause"],
                carrier_id=row["carrier_id"],
                last_location=row["last_location"],
            ),
        )
        for row in rows
    ]


def _lane_groups(recent, *, minimum: int, window_start: datetime) -> list[_GroupSpec]:
    rows = list(
        recent.filter(lane__isnull=False)
        .order_by()
        .values("delay_cause", "lane_id")
        .annotate(n=Count("id"))
        .filter(n__gte=minimum)
    )
    if not rows:
        return []
    lanes = Lane.objects.select_related("carrier").in_bulk({row["lane_id"] for row in rows})
    return [
        _GroupSpec(
            key=incident_scope_key(
                cause=row["delay_cause"],
                carrier_code=lanes[row["lane_id"]].carrier.code,
                lane_id=row["lane_id"],
                window_start=window_start,
            ),
            cause=row["delay_cause"],
            carrier=lanes[row["lane_id"]].carrier,
            hub="",
            lane=lanes[row["lane_id"]],
            scope=Q(delay_cause=row["delay_cause"], lane_id=row["lane_id"]),
        )
        for row in rows
    ]


def _incidents_for(
    specs: list[_GroupSpec],
    *,
    window_start: datetime,
    created_ids: list[int],
    before: dict[int, int],
    resolved_scopes: list[Q],
) -> dict[int, Q]:
    """The incident of each group (found by scope key or created in one INSERT) -> its scope."""
    existing = {
        row["scope_key"]: row
        for row in Incident.objects.filter(scope_key__in=[spec.key for spec in specs]).values(
            "id", "scope_key", "status", "affected_count"
        )
    }
    scopes: dict[int, Q] = {}
    new: list[tuple[Incident, _GroupSpec]] = []
    for spec in specs:
        row = existing.get(spec.key)
        if row is None:
            texts = incident_texts(
                cause=spec.cause, carrier=spec.carrier, lane=spec.lane, hub=spec.hub
            )
            incident = Incident(
                title=texts.title,
                public_explanation=texts.public_explanation,
                public_explanation_zh_hans=texts.public_explanation_zh_hans,
                status=IncidentStatus.OPEN,
                cause=spec.cause,
                carrier=spec.carrier,
                lane=spec.lane,
                hub=spec.hub,
                window_start=window_start,
                is_automatic=True,
                scope_key=spec.key,
            )
            new.append((incident, spec))
        elif row["status"] == IncidentStatus.RESOLVED:
            resolved_scopes.append(spec.scope)
        else:
            before.setdefault(row["id"], row["affected_count"])
            scopes[row["id"]] = spec.scope
    if new:
        Incident.objects.bulk_create([incident for incident, _spec in new])
        for incident, spec in new:
            created_ids.append(incident.pk)
            scopes[incident.pk] = spec.scope
    return scopes


def _link(queryset, scopes: dict[int, Q], *, written_at: datetime) -> int:
    """Link the queryset's shipments matching each incident's scope, in one UPDATE."""
    if not scopes:
        return 0
    return queryset.filter(reduce(or_, scopes.values())).update(
        incident_id=Case(*(When(scope, then=Value(pk)) for pk, scope in scopes.items())),
        updated_at=written_at,
    )


@transaction.atomic
def incident_create_from_filter(
    *,
    title: str,
    cause: str,
    carrier: Carrier | None = None,
    lane: Lane | None = None,
    hub: str = "",
    delay_levels: Iterable[str] | None = None,
    detected_since: datetime | None = None,
    public_explanation: str = "",
    public_explanation_zh_hans: str = "",
    opened_by,
) -> Incident:
    """Open an incident by hand and attach every matching active delayed shipment.

    Matching: delay cause = `cause`, and each filter given (carrier, lane, hub as the last
    location, case-insensitive, delay levels, detected at or after `detected_since`);
    shipments already in an incident stay where they are. An empty explanation is generated
    from the cause and the place, in both languages. One INSERT, one conditional UPDATE
    (a shipment linked meanwhile by a detection pass is skipped, not stolen) and one count.
    A filter that takes no shipment is refused (`NO_MATCHING_SHIPMENTS`, not about one field):
    the transaction is rolled back, so no empty incident is left behind.
    """
    now = timezone.now()
    title = title.strip()
    hub = hub.strip()
    levels = list(delay_levels) if delay_levels is not None else None
    errors: dict[str, str] = {}
    if not title:
        errors["title"] = TITLE_REQUIRED
    if cause not in DelayCause.values or cause == DelayCause.NONE:
        errors["cause"] = CAUSE_INVALID
    if lane is not None and carrier is not None and lane.carrier_id != carrier.pk:
        errors["lane"] = LANE_OF_ANOTHER_CARRIER
    if levels is not None and (
        not levels or not set(levels) <= set(DelayLevel.values) - {DelayLevel.NONE}
    ):
        errors["delay_levels"] = DELAY_LEVEL_INVALID
    if errors:
        raise ValidationError(errors)

    carrier = carrier or (lane.carrier if lane is not None else None)
    texts = incident_texts(cause=cause, carrier=carrier, lane=lane, hub=hub)
    incident = Incident.objects.create(
        title=title[:_TITLE_MAX],
        status=IncidentStatus.OPEN,
        cause=cause,
        carrier=carrier,
        lane=lane,
        hub=hub,
        window_start=detected_since or now,
        public_explanation=public_explanation.strip() or texts.public_explanation,
        public_explanation_zh_hans=(
            public_explanation_zh_hans.strip() or texts.public_explanation_zh_hans
        ),
        is_automatic=False,
        opened_by=opened_by,
    )
    matching = Shipment.objects.active().delayed().filter(incident__isnull=True, delay_cause=cause)
    if carrier is not None:
        matching = matching.filter(carrier=carrier)
    if lane is not None:
        matching = matching.filter(lane=lane)
    if hub:
        matching = matching.filter(last_location__iexact=hub)
    if levels is not None:
        matching = matching.filter(delay_level__in=levels)
    if detected_since is not None:
        matching = matching.filter(delay_detected_at__gte=detected_since)
    if not matching.update(incident=incident, updated_at=now):
        raise ValidationError({NON_FIELD_ERRORS: NO_MATCHING_SHIPMENTS})
    incident.affected_count = incident.shipments.count()
    incident.save(update_fields=["affected_count", "updated_at"])
    return incident


@transaction.atomic
def incident_resolve(*, incident: Incident, by, now: datetime) -> Incident:
    """Mark an incident resolved (idempotent: resolving a resolved incident changes nothing).

    Its shipments stay linked: the incident is their history. Delays of the same cause and
    place detected afterwards make a new incident (an automatic one in the next window).
    """
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    if locked.status == IncidentStatus.RESOLVED:
        return locked
    locked.status = IncidentStatus.RESOLVED
    locked.resolved_at = now
    locked.resolved_by = by
    if locked.window_end is None:
        locked.window_end = max(now, locked.window_start)
    locked.save(update_fields=["status", "resolved_at", "resolved_by", "window_end", "updated_at"])
    return locked


# The longest public explanation a supervisor may write (a notice carries it whole).
EXPLANATION_MAX_LENGTH = 2000


@transaction.atomic
def incident_explain(
    *, incident: Incident, public_explanation: str, public_explanation_zh_hans: str
) -> Incident:
    """Set the public explanation customers read (English, Chinese) on the progress page and in
    later incident notices (`Incident.explanation`). Texts are stripped; unchanged texts write
    nothing (a double submit is harmless). An empty Chinese text falls back to the English one
    for Chinese readers; both empty show no explanation."""
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    english = public_explanation.strip()[:EXPLANATION_MAX_LENGTH]
    chinese = public_explanation_zh_hans.strip()[:EXPLANATION_MAX_LENGTH]
    if (locked.public_explanation, locked.public_explanation_zh_hans) == (english, chinese):
        return locked
    locked.public_explanation = english
    locked.public_explanation_zh_hans = chinese
    locked.save(update_fields=["public_explanation", "public_explanation_zh_hans", "updated_at"])
    return locked
