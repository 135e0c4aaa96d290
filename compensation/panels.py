"""The ticket page's remedy panel: what this customer was offered, served by compensation.

The ticket page (tickets) sits below compensation and does not import it: it renders the
"ticket.sidebar" slot (core.panels), and compensation puts this panel there in
`CompensationConfig.ready()`. htmx loads the panel once the ticket page is shown; without
JavaScript the panel's link opens it as a small page of its own.

Who reads it: as the ticket page (tickets.views): logged in (else the login page), the console
permission (else 403), and the ticket within the user's scope (`Ticket.objects.visible_to`,
else 404). Four queries after the user's own (session, user, permissions, an agent's team): the
ticket with its shipment, customer and the customer's offer count, the customer's recent
tickets with the latest remedy of each, then the active policies and their remedies for the
suggestions (compensation.policies).

The suggestions: ranked, each with its explanation; the agent accepts one as it is, or edits /
replaces it (a reason is then required), with one POST to `ticket_offer` (same role and scope);
the remedies go through `compensation.services.offer_request` (authority limit, approval), and
the panel comes back saying whether they were sent to the customer or wait for a supervisor.

A standing choice (alternatives offered, status OFFERED, one ``choice_group``) lists its
alternatives, each with a "the customer chose this (by phone)" button: one POST to
`offer_choose` (same role and scope) records it through `compensation.services.offer_choose`
(that one issued, the others cancelled) and the panel comes back with what was issued. A second
click, or one on another alternative afterwards, changes nothing and says the choice was already
made (409). The standing choice costs one query more, only when the ticket has one (the
ticket's query says so).

(Kept apart from views.py and selectors.py, which hold the supervisor page.)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required, permission_required
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from compensation import policies, services, texts
from compensation.errors import CompensationError
from compensation.forms import ACCEPT, RemedyForm
from compensation.models import CompensationOffer, OfferStatus, RemedyKind
from compensation.policies import SuggestedRemedy, Suggestion
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
    """The ticket ``user`` may read, with its shipment, its customer, the customer's offer
    count and whether a choice among alternatives stands (one query); 404 when it is unknown
    or outside the user's scope."""
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
            .select_related("shipment", "customer")
            .annotate(
                customer_offer_count=Coalesce(Subquery(offers), 0),
                has_standing_choice=Exists(_standing(ticket=OuterRef("pk"))),
            )
            .get(public_id=public_id)
        )
    except Ticket.DoesNotExist:
        raise Http404("No such ticket") from None


def _standing(**filters: Any) -> QuerySet[CompensationOffer]:
    """Alternatives offered to the customer and not chosen yet."""
    return CompensationOffer.objects.filter(
        status=OfferStatus.OFFERED, choice_group__isnull=False, **filters
    )


def standing_choices(*, ticket: Ticket) -> list[list[tuple[CompensationOffer, str]]]:
    """The ticket's standing choices, each a list of its alternatives with their phrase
    (one query; none when the ticket's query found no standing choice)."""
    if not getattr(ticket, "has_standing_choice", True):
        return []
    groups: dict[UUID, list[tuple[CompensationOffer, str]]] = {}
    for offer in _standing(ticket=ticket).order_by("created_at", "pk"):
        groups.setdefault(offer.choice_group, []).append((offer, texts.describe_offer(offer)))
    return list(groups.values())


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


# --- the views --------------------------------------------------------------------------------

# Header that lets console.js swap a 422 answer into the panel (the form with its errors).
FRAGMENT_HEADER = "Delaydesk-Fragment"


@require_GET
@login_required
@permission_required("tickets.work_console", raise_exception=True)
def ticket_panel(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The remedies of a ticket's customer and the policies' suggestions: the ticket page's
    panel for htmx, a small page of its own otherwise (the panel's link without JavaScript)."""
    ticket = ticket_for_panel(user=request.user, public_id=public_id)
    return _render(request, ticket, policies.suggest(ticket))


@require_POST
@login_required
@permission_required("tickets.work_console", raise_exception=True)
def ticket_offer(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Accept a suggestion, or send an edited / replacing remedy with its reason; the panel
    comes back with what happened (sent, or waiting for a supervisor) or the form's errors."""
    ticket = ticket_for_panel(user=request.user, public_id=public_id)
    suggestions = policies.suggest(ticket)
    form = RemedyForm(request.POST, suggestions=suggestions, currency=_currency(ticket))
    if form.is_valid():
        try:
            offers = _send(form, ticket=ticket, by=request.user)
        except CompensationError as exc:
            field = exc.field if exc.field in form.fields else None
            form.add_error(field, str(exc.message))
        else:
            ticket = ticket_for_panel(user=request.user, public_id=public_id)
            return _render(request, ticket, policies.suggest(ticket), result=_result(offers))
    response = _render(request, ticket, suggestions, form=form, status=422)
    response[FRAGMENT_HEADER] = "remedy"
    return response


# What the panel says after "the customer chose this (by phone)".
CHOICE_ISSUED = gettext_lazy("Issued: %(remedy)s.")
CHOICE_RECORDED = gettext_lazy("The customer's choice is recorded: %(remedy)s (%(status)s).")
ALREADY_CHOSEN = gettext_lazy("The customer already chose %(remedy)s; nothing was changed.")
# A refusal of offer_choose answers with this status (409: the choice is no longer open).
CHOICE_ERROR_STATUS = {"already_chosen": 409, "not_offered": 409, "forbidden": 403}


@require_POST
@login_required
@permission_required("tickets.work_console", raise_exception=True)
def offer_choose(request: HttpRequest, public_id: UUID, offer_id: UUID) -> HttpResponse:
    """Record the customer's choice among alternatives, made by phone: that one is issued and
    the others cancelled (compensation.services.offer_choose); the panel comes back saying what
    was issued, or why nothing changed (409 when the choice was already made)."""
    ticket = ticket_for_panel(user=request.user, public_id=public_id)
    try:
        offer = CompensationOffer.objects.get(ticket=ticket, public_id=offer_id)
    except CompensationOffer.DoesNotExist:
        raise Http404("No such offer on this ticket") from None
    chosen = _already_chosen(offer)
    if chosen is not None:
        message = ALREADY_CHOSEN % {"remedy": texts.describe_offer(chosen)}
        return _choice_refused(request, ticket, message, status=409)
    try:
        offer = services.offer_choose(offer=offer, by=request.user)
    except CompensationError as exc:
        status = CHOICE_ERROR_STATUS.get(exc.code, 422)
        return _choice_refused(request, ticket, str(exc.message), status=status)
    ticket = ticket_for_panel(user=request.user, public_id=public_id)
    remedy = texts.describe_offer(offer)
    if offer.status == OfferStatus.ISSUED:
        result = CHOICE_ISSUED % {"remedy": remedy}
    else:
        status_label = choice_label(OfferStatus, offer.status)
        result = CHOICE_RECORDED % {"remedy": remedy, "status": status_label}
    return _render(request, ticket, policies.suggest(ticket), choice_result=str(result))


def _already_chosen(offer: CompensationOffer) -> CompensationOffer | None:
    """The alternative already chosen in ``offer``'s choice (``offer`` itself on a second
    click), or None while the choice stands. (offer_choose decides again under its lock; this
    is what a click on a stale panel is told.)"""
    done = (OfferStatus.ACCEPTED, OfferStatus.ISSUED)
    if offer.status in done:
        return offer
    if offer.choice_group is None:
        return None
    return (
        CompensationOffer.objects.filter(choice_group=offer.choice_group, status__in=done)
        .order_by("pk")
        .first()
    )


def _choice_refused(
    request: HttpRequest, ticket: Ticket, message: str, *, status: int
) -> HttpResponse:
    response = _render(
        request, ticket, policies.suggest(ticket), choice_error=message, status=status
    )
    response[FRAGMENT_HEADER] = "remedy"
    return response


def _send(form: RemedyForm, *, ticket: Ticket, by: Any) -> list[CompensationOffer]:
    """One offer_request per part of an accepted suggestion (all or none), or one for the
    edited remedy."""
    chosen = form.chosen
    reason = form.cleaned_data.get("reason", "").strip()
    with transaction.atomic():
        if form.cleaned_data["action"] == ACCEPT:
            return services.offer_suggestion(ticket=ticket, by=by, suggestion=chosen, reason=reason)
        return services.offer_request(
            ticket=ticket,
            by=by,
            remedies=[_spec(form.edited_remedy())],
            reason=reason or (chosen.reason if chosen else ""),
            policy=chosen.policy if chosen else None,
            suggestion=chosen,
        )


def _spec(remedy: SuggestedRemedy) -> services.RemedySpec:
    return services.RemedySpec(
        kind=remedy.kind,
        amount=remedy.amount,
        currency=remedy.currency,
        percent=remedy.percent,
        points=remedy.points,
    )


def _result(offers: list[CompensationOffer]) -> str:
    waiting = [o for o in offers if o.status == OfferStatus.PENDING_APPROVAL]
    if not waiting:
        return _("Sent to the customer.")
    if len(waiting) == len(offers):
        return _("Waiting for a supervisor's approval.")
    return _("Partly sent to the customer; the rest is waiting for a supervisor's approval.")


def _currency(ticket: Ticket) -> str:
    if ticket.shipment is not None:
        return ticket.shipment.currency
    return ticket.customer.currency or "EUR"


def _render(
    request: HttpRequest,
    ticket: Ticket,
    suggestions: list[Suggestion],
    *,
    form: RemedyForm | None = None,
    result: str = "",
    choice_result: str = "",
    choice_error: str = "",
    status: int = 200,
) -> HttpResponse:
    posted = form.data.get("suggestion", "") if form is not None else None
    currency = _currency(ticket)
    forms = []
    for suggestion in suggestions:
        if form is not None and posted == str(suggestion.rank):
            forms.append((suggestion, form))
        else:
            forms.append((suggestion, _edit_form(suggestion, currency)))
    ranks = {str(suggestion.rank) for suggestion in suggestions}
    # A form for no suggestion, or for one that no longer applies, comes back with its errors
    # as the agent's own remedy.
    other = form if form is not None and posted not in ranks else _edit_form(None, currency)
    response = panels.render_panel(
        request,
        fragment="compensation/_ticket_panel.html",
        page="compensation/ticket_panel.html",
        context={
            "ticket": ticket,
            "remedies": ticket_remedies(ticket=ticket),
            "suggestions": forms,
            "other_form": other,
            "result": result,
            "choices": standing_choices(ticket=ticket),
            "choice_result": choice_result,
            "choice_error": choice_error,
        },
    )
    response.status_code = status
    return response


def _edit_form(suggestion: Suggestion | None, currency: str) -> RemedyForm:
    """An unbound edit form filled with the suggestion's first remedy."""
    initial: dict[str, Any] = {"suggestion": suggestion.rank if suggestion else 0}
    if suggestion is not None:
        first = suggestion.remedies[0]
        initial.update(
            kind=first.kind, amount=first.amount, percent=first.percent, points=first.points
        )
    rank = suggestion.rank if suggestion else 0
    return RemedyForm(
        initial=initial,
        suggestions=[],
        currency=currency,
        auto_id=f"remedy-{rank}-%s",
    )
