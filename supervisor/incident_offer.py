"""An incident's bulk offer: one goodwill remedy to every customer with an open ticket in it.

GET shows the incident, its open tickets and its budgets (compensation.budgets) with the form;
POST hands the remedy to compensation.services.offer_incident_remedy (set-based, idempotent,
routed through the supervisor's authority and the incident's budget) and goes back to the
supervisor's home with what it did. A refusal (CompensationError) lands on its field. For the
`compensation.approve_compensationoffer` permission, with the CSRF token.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from compensation import budgets, services
from compensation.errors import CompensationError
from compensation.models import Budget, OfferStatus
from shipments.models import Incident
from supervisor.approvals import HtmxHttpRequest, approver_view
from supervisor.approvals_selectors import BudgetLine
from supervisor.forms import IncidentOfferForm
from tickets.models import Ticket


def open_ticket_count(incident: Incident) -> int:
    """The incident's open tickets, counted as the bulk offer finds them (the ticket's own
    incident, else its shipment's)."""
    return (
        Ticket.objects.open()
        .filter(Q(incident=incident) | Q(incident__isnull=True, shipment__incident=incident))
        .count()
    )


def budget_lines(incident: Incident) -> list[BudgetLine]:
    """The incident's budget in each of its currencies, with what it has spent and promised."""
    today = timezone.localdate()
    currencies = sorted(
        set(Budget.objects.filter(incident=incident).values_list("currency", flat=True))
    )
    lines = []
    for currency in currencies:
        budget = budgets.incident_budget(incident, currency, today=today)
        if budget is None:
            continue
        usage = budgets.budget_usage(budget)
        lines.append(BudgetLine(budget, usage.spent, usage.committed, usage.remaining))
    return lines


def outcome(result: services.BulkOffer, *, open_tickets: int) -> str:
    if result.tickets == 0:
        if not open_tickets:
            return _("Nothing to offer: this incident has no open ticket.")
        return _("Nothing new: every ticket already has this offer.")
    if result.status == OfferStatus.PENDING_APPROVAL:
        return ngettext(
            "%(count)s offer waits for approval.",
            "%(count)s offers wait for approval.",
            result.offers,
        ) % {"count": result.offers}
    return ngettext(
        "Offered to %(count)s customer.", "Offered to %(count)s customers.", result.tickets
    ) % {"count": result.tickets}


@approver_view(["GET", "POST"])
def incident_offer(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    incident = Incident.objects.select_related("carrier").filter(public_id=public_id).first()
    if incident is None:
        raise Http404("No such incident")
    status = 200
    if request.method == "POST":
        form = IncidentOfferForm(request.POST)
        if form.is_valid():
            try:
                result = services.offer_incident_remedy(
                    incident=incident,
                    remedies=[form.remedy()],
                    by=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except CompensationError as error:
                field = error.field if error.field in form.fields else None
                form.add_error(field, str(error.message))
            else:
                text = outcome(result, open_tickets=open_ticket_count(incident))
                messages.success(request, text)
                return redirect("supervisor:home")
        status = 422
    else:
        form = IncidentOfferForm()
    context = {
        "incident": incident,
        "form": form,
        "open_tickets": open_ticket_count(incident),
        "budgets": budget_lines(incident),
    }
    return render(request, "supervisor/incident_offer.html", context, status=status)
