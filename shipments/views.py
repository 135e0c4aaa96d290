"""Pages about shipments: the console's shipment page (agents) and incidents (supervisors)."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import panels
from shipments import selectors
from shipments.forms import IncidentFilterForm
from shipments.incidents import incident_create_from_filter, incident_resolve
from shipments.models import Incident, Shipment


def _get_shipment_for_user(user, public_id: UUID, queryset=None) -> Shipment:
    """Every console user may read every shipment (a per-merchant rule would go here); whether
    it shows who the customer is follows shipments.scope, and its tickets are the tickets app's
    panel (scoped there). ``queryset``: the rows a panel reads (default: the page's)."""
    if queryset is None:
        queryset = selectors.shipment_detail_queryset(user=user)
    try:
        return queryset.get(public_id=public_id)
    except Shipment.DoesNotExist:
        raise Http404("No such shipment") from None


@require_GET
@login_required
@permission_required("tickets.work_console", raise_exception=True)
def shipment_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    shipment = _get_shipment_for_user(request.user, public_id)
    detail = selectors.shipment_detail(shipment=shipment, user=request.user)
    return render(
        request, "shipments/shipment_detail.html", {"detail": detail, "shipment": shipment}
    )


@require_GET
@login_required
@permission_required("tickets.work_console", raise_exception=True)
def shipment_risk(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The shipment page's late-delivery panel: P(late), which model answered, the facts in
    words. htmx loads it after the page (scoring reads the hour's cached history, see
    selectors.shipment_risk); without JavaScript its link opens it as a small page."""
    shipment = _get_shipment_for_user(
        request.user, public_id, queryset=selectors.shipment_risk_queryset()
    )
    risk = selectors.shipment_risk(shipment=shipment, now=timezone.now())
    return panels.render_panel(
        request,
        fragment="shipments/_risk_panel.html",
        page="shipments/risk_panel.html",
        context={"shipment": shipment, "risk": risk},
    )


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("shipments.add_incident", raise_exception=True)
def incident_new(request: HttpRequest) -> HttpResponse:
    form = IncidentFilterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident = incident_create_from_filter(
                title=data["title"],
                cause=data["cause"],
                carrier=data["carrier"],
                lane=data["lane"],
                hub=data["hub"],
                delay_levels=data["delay_levels"] or None,
                detected_since=data["detected_since"],
                public_explanation=data["public_explanation"],
                public_explanation_zh_hans=data["public_explanation_zh_hans"],
                opened_by=request.user,
            )
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(
                request,
                _("Incident “%(title)s” opened with %(count)d shipments.")
                % {"title": incident.title, "count": incident.affected_count},
            )
            return redirect("supervisor:home")
    return render(request, "shipments/incident_form.html", {"form": form})


@require_POST
@login_required
@permission_required("shipments.change_incident", raise_exception=True)
def incident_resolve_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    incident = get_object_or_404(Incident, public_id=public_id)
    incident = incident_resolve(incident=incident, by=request.user, now=timezone.now())
    messages.success(request, _("Incident “%(title)s” resolved.") % {"title": incident.title})
    return redirect("supervisor:home")
