"""The approval queue's decisions: approve or reject one offer, approve an incident's offers
within its budget. POST only (the incident's also answers GET with the confirmation), with the
CSRF token, for the `compensation.approve_compensationoffer` permission.

The decisions are compensation.services' (`offer_approve`, `offer_reject`,
`approve_incident_offers`): they refuse with a `CompensationError` (four-eyes, already decided,
note missing, ...), which the row shows: for HTMX the row comes back with the message and an
error status (approvals.js swaps it in), without JavaScript the page comes back with it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from compensation import budgets, services
from compensation.errors import CompensationError
from compensation.models import CompensationOffer, OfferStatus
from core.inputs import parse_page
from shipments.models import Incident
from supervisor import approvals_selectors as selectors
from supervisor.approvals import (
    HtmxHttpRequest,
    approver_view,
    link_rows,
    queue_url,
    render_queue,
    row_context,
    wants_partial,
)

# Set on row fragments so approvals.js swaps them in even with an error status.
FRAGMENT_HEADER = "Delaydesk-Fragment"

# How each refusal answers: a rule of the process (403), a decision someone already took (409),
# anything else about the input (422).
ERROR_STATUS = {"four_eyes": 403, "forbidden": 403, "already_decided": 409}

# What the page keeps of a note it shows back (the service refuses more than it keeps).
NOTE_KEEP_LENGTH = 4 * services.MAX_TEXT_LENGTH


# --- deciding one offer --------------------------------------------------------------------


def _offer_or_404(public_id: UUID) -> CompensationOffer:
    offer = selectors.offer_for_row(public_id)
    if offer is None:
        raise Http404("No such offer")
    return offer


def _row_response(
    request: HtmxHttpRequest,
    offer: CompensationOffer,
    *,
    status: int = 200,
    error: str = "",
    note_error: str = "",
    note: str = "",
    decided: bool = False,
) -> HttpResponse:
    """The offer's row (its outcome once decided, else the row with the refusal); its choice
    group's other rows out of band (they were decided with it)."""
    now = timezone.now()
    fresh = selectors.offer_for_row(offer.public_id) or offer
    offers = selectors.group_offers(fresh) if decided else [fresh]
    rows = selectors.rows_for(offers, now=now)
    target = next(row for row in rows if row.offer.pk == fresh.pk)
    target.error, target.note_error, target.note = error, note_error, note
    link_rows(rows)
    context = {
        "row": target,
        "others": [row for row in rows if row is not target],
        "pending_total": selectors.pending_count() if decided else None,
        # What the decision changed in the incidents' budgets (the strip above the queue).
        "incidents": {"incidents": selectors.incident_lines(now=now)} if decided else None,
        "page_number": parse_page(request.POST.get("page")),
        "now": now,
        **row_context(request),
    }
    response = render(request, "supervisor/approvals_row_response.html", context, status=status)
    response[FRAGMENT_HEADER] = "approval-row"
    return response


def _refused(
    request: HtmxHttpRequest,
    offer: CompensationOffer,
    *,
    error: str = "",
    note_error: str = "",
    note: str = "",
    status: int = 422,
) -> HttpResponse:
    if wants_partial(request):
        return _row_response(
            request, offer, status=status, error=error, note_error=note_error, note=note
        )
    errors = {offer.pk: {"error": error, "note_error": note_error, "note": note}}
    # The row may be on no page any more (decided meanwhile): the message then heads the page.
    return render_queue(
        request,
        status=status,
        row_errors=errors,
        alert=error or note_error,
        page_number=request.POST.get("page"),
    )


def _refusal(error: CompensationError) -> dict[str, Any]:
    message = str(error.message)
    status = ERROR_STATUS.get(error.code, 422)
    if error.field == "note":
        return {"note_error": message, "status": status}
    return {"error": message, "status": status}


def _decided(
    request: HtmxHttpRequest, offer: CompensationOffer, text: str, *, note: str = ""
) -> HttpResponse:
    if wants_partial(request):
        return _row_response(request, offer, decided=True, note=note)
    messages.success(request, text)
    return redirect(queue_url(parse_page(request.POST.get("page"))))


def _note(request: HtmxHttpRequest) -> str:
    """The note as typed (the service strips it, requires it for a rejection and caps it)."""
    return (request.POST.get("note") or "")[:NOTE_KEEP_LENGTH]


@approver_view(["POST"])
def approve(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    offer = _offer_or_404(public_id)
    note = _note(request)
    try:
        services.offer_approve(offer=offer, by=request.user, note=note)
    except CompensationError as error:
        return _refused(request, offer, note=note, **_refusal(error))
    return _decided(
        request, offer, _("Approved: %(remedy)s.") % {"remedy": selectors.offer_text(offer)}
    )


@approver_view(["POST"])
def reject(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    offer = _offer_or_404(public_id)
    note = _note(request)
    try:
        services.offer_reject(offer=offer, by=request.user, note=note)
    except CompensationError as error:
        return _refused(request, offer, note=note, **_refusal(error))
    return _decided(
        request,
        offer,
        _("Rejected: %(remedy)s.") % {"remedy": selectors.offer_text(offer)},
        note=note.strip(),
    )


# --- an incident's offers at once ------------------------------------------------------------


@approver_view(["GET", "POST"])
def approve_incident(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    """GET: what approving the incident's waiting offers within its budget would do (the
    confirmation); POST: do it, oldest first, while the budget has room."""
    incident = Incident.objects.filter(public_id=public_id).first()
    if incident is None:
        raise Http404("No such incident")
    if request.method == "POST":
        try:
            result = services.approve_incident_offers(incident=incident, by=request.user)
        except CompensationError as error:
            messages.error(request, str(error.message))
        else:
            approved, left = len(result.approved), result.left_pending
            messages.success(
                request,
                ngettext(
                    "%(incident)s: %(approved)s offer approved; %(left)s left waiting.",
                    "%(incident)s: %(approved)s offers approved; %(left)s left waiting.",
                    approved,
                )
                % {"incident": incident.title, "approved": approved, "left": left},
            )
        return redirect("supervisor:approvals")
    now = timezone.now()
    waiting = budgets.incident_offers(incident).filter(status=OfferStatus.PENDING_APPROVAL).count()
    budget = selectors.incident_budgets({incident.pk}, today=now.date()).get(incident.pk)
    context = {"incident": incident, "waiting": waiting, "budget": budget}
    return render(request, "supervisor/approvals_incident.html", context)
