"""An incident's bulk offer: one goodwill remedy to every customer with an open ticket in it.

GET shows the incident, its open tickets and its budgets (compensation.budgets) with the form;
POST records the run of the bulk action under the form's idempotency key and runs it
(supervisor.tasks.start_incident_action: within the request for an incident of up to
SUPERVISOR_INCIDENT_ACTION_SYNC_LIMIT open tickets, else in the background) through
compensation.services.offer_incident_remedy (set-based, idempotent, routed through the
supervisor's authority and the incident's budget), then goes to the incident's page with what
it did (or its progress). A refusal lands on its field. For the
`compensation.approve_compensationoffer` permission, with the CSRF token.
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from compensation import budgets
from compensation.models import Budget
from shipments.models import Incident
from supervisor import incident_actions
from supervisor.approvals import HtmxHttpRequest, approver_view
from supervisor.approvals_selectors import BudgetLine
from supervisor.forms import IncidentOfferForm
from supervisor.incidents import detail_url, tell
from supervisor.models import IncidentAction, IncidentActionKind
from supervisor.tasks import start_incident_action
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


@approver_view(["GET", "POST"])
def incident_offer(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    incident = Incident.objects.select_related("carrier").filter(public_id=public_id).first()
    if incident is None:
        raise Http404("No such incident")
    status = 200
    if request.method == "POST":
        form = IncidentOfferForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            started = start_incident_action(
                incident=incident,
                kind=IncidentActionKind.OFFER,
                key=form.idempotency_key(),
                by=request.user,
                params=incident_actions.offer_params(form.remedy(), data["reason"]),
                now=timezone.now(),
            )
            run = started.run
            if started.created and run.status == IncidentAction.Status.FAILED and run.error:
                # Refused by the service at once (its authority or budget rules): the form
                # says why, as before the run.
                form.add_error(None, run.error)
            else:
                tell(request, run, created=started.created)
                return redirect(detail_url(incident, "actions"))
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
