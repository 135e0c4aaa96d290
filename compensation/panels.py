"""The ticket page's remedy panel: what this customer was offered, served by compensation.

The ticket page (tickets) sits below compensation and does not import it: it renders the
"ticket.sidebar" slot (core.panels), and compensation puts this panel there in
`CompensationConfig.ready()`. htmx loads the panel once the ticket page is shown; without
JavaScript the panel's link opens it as a small page of its own.

Who reads it: as the ticket page (tickets.views): logged in (else the login page), the console
permission (else 403), and the ticket within the user's scope (`Ticket.objects.visible_to`,
else 404). Two queries after the user's own (session, user, permissions, an agent's team): the
ticket with the customer's offer count, then the customer's recent tickets with the latest
remedy of each.

(Kept apart from views.py and selectors.py, which hold the supervisor page.)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from compensation.models import CompensationOffer, OfferStatus, RemedyKind
from core import panels
from core.models import choice_label
from tickets.models import Ticket
from tickets.selectors import PROFILE_LIST_LIMIT

# --- reads -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferSummary:
    """The latest remedy of one ticket, and how many it has."""

    count: int
    kind: str
    kind_label: str
    status: str
    status_label: str
    amount: Any
    currency: str
    percent: Any
    points: int | None


@dataclass(frozen=True)
class TicketRemedies:
    """What the panel shows: the customer's offers in all, this ticket's latest remedy, and
    the latest remedy of each of the customer's recent other tickets that has one."""

    ticket: Ticket
    customer_offer_count: int
    this_offer: OfferSummary | None
    past_offers: list[tuple[Ticket, OfferSummary]]


def ticket_for_panel(*, user: Any, public_id: UUID) -> Ticket:
    """The ticket ``user`` may read, with its customer's offer count (one query); 404 when it
    is unknown or outside the user's scope."""
    offers = (
        CompensationOffer.objects.filter(customer=OuterRef("customer"))
        .order_by()
        .values("customer")
        .annotate(n=Count("pk"))
        .values("n")
    )
    try:
        return (
            Ticket.objects.visible_to(user)
            .only("pk", "public_id", "subject", "customer_id")
            .annotate(customer_offer_count=Coalesce(Subquery(offers), 0))
            .get(public_id=public_id)
        )
    except Ticket.DoesNotExist:
        raise Http404("No such ticket") from None


def ticket_remedies(*, ticket: Ticket) -> TicketRemedies:
    """One query: the ticket and the customer's recent other tickets (as many as the ticket
    page lists), each with its latest remedy and remedy count as correlated subqueries."""
    recent_others = (
        Ticket.objects.filter(customer_id=ticket.customer_id)
        .exclude(pk=ticket.pk)
        .order_by("-created_at", "-pk")
        .values("pk")[:PROFILE_LIST_LIMIT]
    )
    history = _with_offer_summary(
        Ticket.objects.filter(customer_id=ticket.customer_id)
        .filter(Q(pk=ticket.pk) | Q(pk__in=recent_others))
        .only("pk", "public_id", "created_at")
    ).order_by("-created_at", "-pk")
    this_offer = None
    past_offers = []
    for row in history:
        summary = _offer_summary(row)
        if row.pk == ticket.pk:
            this_offer = summary
        elif summary is not None:
            past_offers.append((row, summary))
    return TicketRemedies(
        ticket=ticket,
        customer_offer_count=ticket.customer_offer_count,
        this_offer=this_offer,
        past_offers=past_offers,
    )


def _with_offer_summary(tickets: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Each ticket's latest remedy (correlated subqueries: one query for the whole list)."""
    latest = CompensationOffer.objects.filter(ticket=OuterRef("pk")).order_by("-created_at", "-pk")
    count = (
        CompensationOffer.objects.filter(ticket=OuterRef("pk"))
        .order_by()
        .values("ticket")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return tickets.annotate(
        offer_count=Coalesce(Subquery(count), 0),
        **{
            f"offer_{name}": Subquery(latest.values(name)[:1])
            for name in ("kind", "status", "amount", "currency", "percent", "points")
        },
    )


def _offer_summary(ticket: Ticket) -> OfferSummary | None:
    if not ticket.offer_count:
        return None
    return OfferSummary(
        count=ticket.offer_count,
        kind=ticket.offer_kind,
        kind_label=choice_label(RemedyKind, ticket.offer_kind),
        status=ticket.offer_status,
        status_label=choice_label(OfferStatus, ticket.offer_status),
        # Through a subquery SQLite hands the decimal back unquantized (49.9000000000000).
        amount=None if ticket.offer_amount is None else _cents(ticket.offer_amount),
        currency=ticket.offer_currency,
        percent=ticket.offer_percent,
        points=ticket.offer_points,
    )


def _cents(value: Any) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


# --- the view ----------------------------------------------------------------------------------


@require_GET
@login_required
@permission_required("tickets.work_console", raise_exception=True)
def ticket_panel(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The remedies of a ticket's customer: the ticket page's panel for htmx, a small page of
    its own otherwise (the panel's link without JavaScript)."""
    ticket = ticket_for_panel(user=request.user, public_id=public_id)
    return panels.render_panel(
        request,
        fragment="compensation/_ticket_panel.html",
        page="compensation/ticket_panel.html",
        context={"ticket": ticket, "remedies": ticket_remedies(ticket=ticket)},
    )
