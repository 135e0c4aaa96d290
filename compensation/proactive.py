"""Remedies offered before the customer asks: a policy marked "offer before being asked"
(`CompensationPolicy.offer_proactively`; in the default matrix, the full refund for a parcel more
than 30 days late).

`offer_proactive_remedies` (beat, hourly: `compensation.offer_proactive_remedies`) offers, as the
system, the first proactive suggestion of every open ticket it matches, once per ticket and
policy: through `services.offer_suggestion`, so the usual rules hold. Within the system's
authority (the agent group's) and the incident's budget the remedy goes out and the customer is
told (offer_made / offer_issued, which notifications listens to); above it, it waits in the
supervisor's approval queue.

The candidates are narrowed in SQL: open tickets whose parcel's promise is older than the
smallest `min_days_late` of the proactive policies (and, once delivered, that came at least that
late), without an offer from any of them yet; the policies then decide ticket by ticket
(`policies.suggest`). Each ticket is offered inside its own transaction with its row locked, so
two passes at once offer it once.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from compensation import policies, services
from compensation.errors import CompensationError
from compensation.models import CompensationOffer, CompensationPolicy, OfferStatus, PolicyKind
from tickets.models import CLOSED_STATUSES, Ticket

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProactiveRun:
    """What a pass did: tickets whose remedy went out, tickets whose remedy waits for a
    supervisor, and candidates it left (no proactive suggestion applies, or it was refused)."""

    offered: int = 0
    waiting: int = 0
    left: int = 0


def proactive_policies(active: list[CompensationPolicy]) -> list[CompensationPolicy]:
    return [p for p in active if p.offer_proactively and p.kind == PolicyKind.RULE]


def candidates(proactive: list[CompensationPolicy], *, now: dt.datetime) -> QuerySet[Ticket]:
    """Open tickets that a proactive policy may match and none has served yet, oldest promise
    first."""
    late = dt.timedelta(days=min((p.min_days_late or 0) for p in proactive))
    served = CompensationOffer.objects.filter(policy__in=proactive).values("ticket_id")
    return (
        Ticket.objects.open()
        .filter(shipment__promised_at__lt=now - late)
        .filter(
            Q(shipment__delivered_at__isnull=True)
            | Q(shipment__delivered_at__gt=F("shipment__promised_at") + late)
        )
        .exclude(pk__in=served)
        .order_by("shipment__promised_at", "pk")
    )


def offer_proactive_remedies(*, now: dt.datetime | None = None) -> ProactiveRun:
    now = now or timezone.now()
    active = policies.active_policies()
    proactive = proactive_policies(active)
    if not proactive:
        return ProactiveRun()
    offered = waiting = left = 0
    for ticket_id in list(candidates(proactive, now=now).values_list("pk", flat=True)):
        try:
            offers = _offer(ticket_id, active=active, proactive=proactive, now=now)
        except CompensationError as error:
            # Nothing left to refund, say: the ticket stays a candidate, and the agent decides.
            log.info("No proactive remedy on ticket %s: %s", ticket_id, error)
            offers = None
        if not offers:
            left += 1
        elif any(o.status == OfferStatus.PENDING_APPROVAL for o in offers):
            waiting += 1
        else:
            offered += 1
    return ProactiveRun(offered=offered, waiting=waiting, left=left)


def _offer(ticket_id: int, *, active, proactive, now: dt.datetime) -> list[CompensationOffer]:
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(of=("self",))
            .select_related("shipment", "customer")
            .filter(pk=ticket_id)
            .first()
        )
        if ticket is None or ticket.status in CLOSED_STATUSES:
            return []
        if CompensationOffer.objects.filter(ticket=ticket, policy__in=proactive).exists():
            return []  # another pass offered it meanwhile
        suggestion = next(
            (s for s in policies.suggest(ticket, now=now, policies=active) if s.proactive), None
        )
        if suggestion is None:
            return []
        return services.offer_suggestion(ticket=ticket, by=None, suggestion=suggestion, now=now)
