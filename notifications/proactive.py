"""The proactive story of a late parcel, told to its customer (shared/DOMAIN.md):

- *delay notice* when detection marks the shipment delayed, or its level rises
  (`delay:<shipment>:<level>`: each level once);
- *follow-up* every NOTICE_FOLLOW_UP_DAYS (3) days while it stays delayed;
- *recovery* when the level drops (it moved again) or the predicted ETA moves by a day or more;
- *delivered* when it arrives, closing the story.

Recovery and delivered notices only go to customers who were told about the delay. Every
function here writes set-based (`notices_enqueue_for_shipments`) inside the caller's
transaction; noise control happens at send time in the dispatcher.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

from django.conf import settings
from django.db.models import Exists, OuterRef

from notifications.models import DELAY_KINDS, NoticeKind, Notification
from notifications.services import notices_enqueue_for_shipments
from shipments.models import DELAY_LEVEL_RANK, FINAL_STATUSES, DelayLevel, Shipment, ShipmentStatus


def delay_changes_enqueue(*, changes: Sequence[tuple], now: dt.datetime) -> int:
    """Notices for one detection pass's level changes [(shipment_id, from, to, cause), ...].

    Called inside the detection transaction: the notices commit with the level changes.
    """
    rises: dict[str, list[int]] = defaultdict(list)
    drops: list[int] = []
    for shipment_id, old, new, _cause in changes:
        if DELAY_LEVEL_RANK[new] > DELAY_LEVEL_RANK[old] and new != DelayLevel.NONE:
            rises[new].append(shipment_id)
        elif DELAY_LEVEL_RANK[new] < DELAY_LEVEL_RANK[old]:
            drops.append(shipment_id)
    written = 0
    for level, ids in sorted(rises.items()):
        written += notices_enqueue_for_shipments(
            kind=NoticeKind.DELAY_NOTICE,
            shipment_ids=ids,
            key=f"delay:{{shipment}}:{level}",
            level=level,
            now=now,
            exclude_statuses=FINAL_STATUSES,
        )
    if drops:
        written += notices_enqueue_for_shipments(
            kind=NoticeKind.RECOVERY,
            shipment_ids=drops,
            key=f"recovery:{{shipment}}:{_stamp(now)}",
            level=None,
            now=now,
            only_if_told=True,
            exclude_statuses=FINAL_STATUSES,
        )
    return written


def new_eta_enqueue(*, shipment_ids: Sequence[int], now: dt.datetime) -> int:
    """Recovery notices for delayed shipments whose predicted ETA just moved by a day or more
    (the caller, the ETA refresh, picks them); one per new date."""
    if not shipment_ids:
        return 0
    return notices_enqueue_for_shipments(
        kind=NoticeKind.RECOVERY,
        shipment_ids=shipment_ids,
        key=f"eta:{{shipment}}:{_stamp(now)}",
        level=None,
        now=now,
        only_if_told=True,
        exclude_statuses=FINAL_STATUSES,
    )


def delivered_enqueue(*, shipment_ids: Sequence[int], now: dt.datetime) -> int:
    """Delivered notices for those of `shipment_ids` that are delivered and whose customer was
    told about a delay (called by tracking ingest in its transaction)."""
    if not shipment_ids:
        return 0
    return notices_enqueue_for_shipments(
        kind=NoticeKind.DELIVERED,
        shipment_ids=shipment_ids,
        key="delivered:{shipment}",
        level="",
        now=now,
        only_if_told=True,
        statuses=[ShipmentStatus.DELIVERED],
    )


def follow_up_due_ids(*, now: dt.datetime) -> list[int]:
    """Shipments still delayed whose customer was told, with no delay-type notice for them in
    the last NOTICE_FOLLOW_UP_DAYS days (sent, pending or suppressed: the cadence restarts at
    every decision, so a follow-up held back by the customer's tolerance is reconsidered three
    days later, not every hour)."""
    since = now - dt.timedelta(days=settings.NOTICE_FOLLOW_UP_DAYS)
    notices = Notification.objects.filter(shipment_id=OuterRef("pk"), kind__in=DELAY_KINDS)
    return list(
        Shipment.objects.exclude(delay_level=DelayLevel.NONE)
        .exclude(status__in=FINAL_STATUSES)
        .filter(Exists(notices))
        .exclude(
            Exists(
                notices.filter(created_at__gt=since).exclude(
                    status__in=[Notification.Status.FAILED, Notification.Status.CANCELLED]
                )
            )
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def follow_ups_enqueue(*, now: dt.datetime) -> int:
    """Queue the follow-ups that are due (the periodic task, hourly); idempotent."""
    ids = follow_up_due_ids(now=now)
    written = 0
    for start in range(0, len(ids), 10_000):
        written += notices_enqueue_for_shipments(
            kind=NoticeKind.FOLLOW_UP,
            shipment_ids=ids[start : start + 10_000],
            key=f"followup:{{shipment}}:{now:%Y%m%d}",
            level=None,
            now=now,
        )
    return written


def _stamp(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S")
