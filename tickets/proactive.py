"""Proactive tickets: delay detection opens one ticket per newly delayed shipment.

Delay detection sends `shipment_delay_changed` once per pass (on commit); the receiver queues
`open_proactive_tickets` for the shipments that reached `PROACTIVE_TICKET_MIN_LEVEL`, in chunks.
A periodic catch-up (`open_missing_proactive_tickets`) finds delayed shipments still without a
ticket, so a lost task or a crashed worker only delays the ticket, never loses it. The unique
constraint `tickets_ticket_one_proactive_per_shipment` makes a second worker's attempt a no-op.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone, translation
from django.utils.translation import gettext

from core.models import DelayCause
from shipments.models import DELAY_LEVEL_RANK, FINAL_STATUSES, Shipment
from tickets.models import Category, Source, Ticket
from tickets.services import ticket_open

logger = logging.getLogger(__name__)

CHUNK_SIZE = 500

# The ticket category that fits the detected cause; every other cause is a delay.
CAUSE_CATEGORY = {
    DelayCause.LOSS: Category.LOST,
    DelayCause.DAMAGE: Category.DAMAGED,
}


def proactive_levels() -> list[str]:
    threshold = DELAY_LEVEL_RANK[settings.PROACTIVE_TICKET_MIN_LEVEL]
    return [level for level, rank in DELAY_LEVEL_RANK.items() if rank >= threshold]


def is_proactive_level(level: str) -> bool:
    return DELAY_LEVEL_RANK.get(level, 0) >= DELAY_LEVEL_RANK[settings.PROACTIVE_TICKET_MIN_LEVEL]


def _needing_ticket():
    """Active shipments at a proactive level with no proactive ticket yet.

    A shipment whose customer already has an open ticket about it is left alone: the agent on
    that ticket is on the case, and a second ticket would split the conversation. Should the
    parcel still be late once that ticket is solved, the catch-up opens the proactive one.
    """
    proactive = Ticket.objects.filter(shipment=OuterRef("pk"), source=Source.PROACTIVE)
    open_ticket = Ticket.objects.open().filter(shipment=OuterRef("pk"))
    return (
        Shipment.objects.filter(delay_level__in=proactive_levels())
        .exclude(status__in=FINAL_STATUSES)
        .exclude(Exists(proactive))
        .exclude(Exists(open_ticket))
    )


def subject_for(shipment: Shipment, language: str) -> str:
    with translation.override(language):
        return gettext("Delayed parcel: order %(order)s") % {"order": shipment.order_number}


def open_proactive_tickets(*, shipment_ids: Iterable[int], now: dt.datetime | None = None) -> int:
    """Open the missing proactive tickets of these shipments; returns how many were opened.

    The current level is read again (not the one in the signal): a shipment back on time
    since, or one delivered, gets no ticket.
    """
    now = now or timezone.now()
    shipments = (
        _needing_ticket()
        .filter(pk__in=list(shipment_ids))
        .select_related("customer", "incident")
        .order_by("pk")
    )
    opened = 0
    for shipment in shipments:
        try:
            with transaction.atomic():
                ticket_open(
                    customer=shipment.customer,
                    subject=subject_for(shipment, shipment.customer.language),
                    category=CAUSE_CATEGORY.get(shipment.delay_cause, Category.DELAY),
                    source=Source.PROACTIVE,
                    shipment=shipment,
                    incident=shipment.incident,
                    detected_at=shipment.delay_detected_at or now,
                    now=now,
                )
        except IntegrityError:
            # Another worker opened it a moment ago (one proactive ticket per shipment).
            logger.info("Proactive ticket for shipment %s already exists", shipment.pk)
            continue
        opened += 1
    return opened


def missing_shipment_ids(*, limit: int = 5_000) -> list[int]:
    return list(_needing_ticket().order_by("pk").values_list("pk", flat=True)[:limit])


def newly_proactive(changes: Iterable[tuple]) -> list[int]:
    """Shipments whose change in a detection pass crossed the proactive threshold upwards."""
    return [
        shipment_id
        for shipment_id, from_level, to_level, _cause in changes
        if is_proactive_level(to_level) and not is_proactive_level(from_level)
    ]


def chunks(ids: list[int], size: int = CHUNK_SIZE) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
