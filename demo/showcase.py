"""Ways into the customer's progress page for a person trying the demo.

A progress link's token exists in clear only when it is made (the portal stores its hash), so
the seeded notices keep only the redacted link, like real ones. At the end of ``seed_demo`` a
few showcase tickets get a real link each, minted and confirmed as the outbox does for a sent
notice (``portal.links.PortalLinks``), and the command prints them once, with an order number
and email that open a case through the lookup form. The picks are deterministic for a seed;
the tokens are not.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse

from compensation.models import CompensationOffer, OfferStatus
from demo import texts
from demo.customer_data import DEMO_REF_PREFIX
from portal.links import PortalLinks, ticket_reachable
from shipments.models import FINAL_STATUSES, DelayLevel, TrackingEvent
from tickets.models import SatisfactionSurvey, Ticket, TicketStatus


@dataclass(frozen=True)
class ShowcaseLink:
    what: str  # what the page shows, in a few words
    order_number: str
    language: str  # the customer's: the page opens in it
    url: str  # with the token in clear: printed once, stored nowhere


@dataclass(frozen=True)
class LookupExample:
    url: str  # the lookup form
    order_number: str
    email: str


@dataclass
class Showcase:
    links: list[ShowcaseLink] = field(default_factory=list)
    lookup: LookupExample | None = None


def demo_tickets(now: dt.datetime) -> QuerySet[Ticket]:
    """Demo tickets whose page opens now, with an order (the page and the form name it)."""
    return Ticket.objects.filter(
        ticket_reachable(now),
        customer__external_ref__startswith=DEMO_REF_PREFIX,
        shipment__isnull=False,
    ).order_by("-created_at", "pk")


def _delayed_in_transit() -> Q:
    return ~Q(shipment__delay_level=DelayLevel.NONE) & ~Q(shipment__status__in=FINAL_STATUSES)


def _scanned() -> Exists:
    return Exists(TrackingEvent.objects.filter(shipment=OuterRef("shipment")))


def _choice_offered() -> Exists:
    return Exists(
        CompensationOffer.objects.filter(
            ticket=OuterRef("pk"), status=OfferStatus.OFFERED, choice_group__isnull=False
        )
    )


def _survey_waiting(now: dt.datetime) -> Exists:
    """A survey sent and still open (unanswered, not yet closed)."""
    closes_from = now - dt.timedelta(days=settings.SURVEY_CLOSE_DAYS)
    return Exists(
        SatisfactionSurvey.objects.filter(
            ticket=OuterRef("pk"),
            sent_at__isnull=False,
            answered_at__isnull=True,
            resolved_at__gt=closes_from,
        )
    )


def _picks(now: dt.datetime) -> list[list[tuple[str, QuerySet[Ticket]]]]:
    """For each showcase slot, what to look for, best first (a small demo may lack the best)."""
    tickets = demo_tickets(now)
    english = tickets.open().filter(language="en")
    chinese = tickets.filter(language=texts.ZH)
    solved = tickets.filter(status=TicketStatus.SOLVED, closed_at__isnull=True)
    return [
        [
            (
                "delayed parcel, scans, remedies to choose from",
                english.filter(_delayed_in_transit(), _scanned(), _choice_offered()),
            ),
            ("delayed parcel with scans", english.filter(_delayed_in_transit(), _scanned())),
            ("open case", english),
        ],
        [
            ("delayed parcel", chinese.open().filter(_delayed_in_transit())),
            ("open case", chinese.open()),
            ("case", chinese),
        ],
        [("solved, survey to answer", solved.filter(_survey_waiting(now))), ("solved", solved)],
    ]


def showcase_tickets(now: dt.datetime) -> list[tuple[str, Ticket]]:
    """The showcase tickets, one per slot that has one, each once, with what they show."""
    chosen: list[tuple[str, Ticket]] = []
    for slot in _picks(now):
        taken = [ticket.pk for _what, ticket in chosen]
        for what, queryset in slot:
            ticket = (
                queryset.exclude(pk__in=taken)
                .select_related("customer", "shipment")
                .only("pk", "customer__language", "shipment__order_number")
                .first()
            )
            if ticket is not None:
                chosen.append((what, ticket))
                break
    return chosen


def lookup_example(now: dt.datetime, *, besides: list[int]) -> LookupExample | None:
    """An order number and the customer's email that the lookup form (/t/) takes: an open
    English case, another than the linked ones when the demo has one."""
    candidates = (
        demo_tickets(now)
        .open()
        .filter(language="en")
        .exclude(customer__email="")
        .select_related("customer", "shipment")
        .only("pk", "customer__email", "shipment__order_number")
    )
    ticket = candidates.exclude(pk__in=besides).first() or candidates.first()
    if ticket is None:
        return None
    return LookupExample(
        url=f"{settings.SITE_URL}{reverse('portal:lookup')}",
        order_number=ticket.shipment.order_number,
        email=ticket.customer.email,
    )


def mint_showcase(*, now: dt.datetime) -> Showcase:
    """Mint and confirm a progress link for each showcase ticket (as a sent notice would
    carry it); the links and a lookup example for the command to print."""
    chosen = showcase_tickets(now)
    maker = PortalLinks()
    minted = maker.mint([ticket.pk for _what, ticket in chosen], now=now)
    maker.confirm([link.id for link in minted.values()], now=now)
    return Showcase(
        links=[
            ShowcaseLink(
                what=what,
                order_number=ticket.shipment.order_number,
                language=ticket.customer.language,
                url=minted[ticket.pk].url,
            )
            for what, ticket in chosen
        ],
        lookup=lookup_example(now, besides=[ticket.pk for _what, ticket in chosen]),
    )
