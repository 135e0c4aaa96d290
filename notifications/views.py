"""Pages of the notifications app.

- Console (login + the console permission, like tickets.views): the notification panel of the
  ticket page (loaded by htmx after the page, so the page keeps its query budget) and the
  customer page with the customer's profile, tickets, shipments and notification history.
  An agent reads only customers with a ticket in their scope; anything else is a 404.
- Supervisor: "Notify affected customers" of an incident (a confirmation page, then a POST).
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from core import panels
from core.inputs import parse_page
from customers.models import Customer
from notifications import dispatch, selectors, services
from notifications.forms import NotificationFilterForm
from shipments.models import Incident
from tickets.models import Ticket

INCIDENT_RESOLVED = gettext_lazy(
    "This incident is resolved: its customers hear about their parcels through their own notices."
)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _wants_partial(request: HtmxHttpRequest) -> bool:
    # A history restore (back button after a cache miss) needs the whole page, not a fragment.
    return bool(request.htmx) and not request.htmx.history_restore_request


def console_view(view):
    """GET pages of the console: logged in (else the login page), with the console permission
    (else 403)."""
    return require_GET(
        login_required(permission_required("tickets.work_console", raise_exception=True)(view))
    )


# --- ticket page panel -----------------------------------------------------------------------


@console_view
def ticket_history(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    """The notices about a ticket (and its shipment): the ticket page's panel for htmx, a page
    of its own otherwise (the panel's link without JavaScript)."""
    try:
        ticket = (
            Ticket.objects.visible_to(request.user)
            .select_related("customer")
            .only("pk", "public_id", "subject", "shipment_id", "customer__public_id")
            .get(public_id=public_id)
        )
    except Ticket.DoesNotExist:
        raise Http404("No such ticket") from None
    history = selectors.ticket_notifications(ticket=ticket)
    return panels.render_panel(
        request,
        fragment="notifications/_history.html",
        page="notifications/ticket_history.html",
        context={"ticket": ticket, "history": history, "customer": ticket.customer},
    )


# --- customer page ---------------------------------------------------------------------------


@console_view
def customer_detail(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    """Who the customer is, what they asked us and what we told them.

    The history filter ("only suppressed notices") answers "why did this customer not hear from
    us?"; with htmx the filter and the pages swap the history section only.
    """
    scope = Ticket.objects.visible_to(request.user)
    try:
        customer = selectors.customer_for_user(user=request.user, public_id=public_id, scope=scope)
    except Customer.DoesNotExist:
        raise Http404("No such customer") from None

    filter_form = NotificationFilterForm(request.GET or None)
    filters = filter_form.filters()
    notices = selectors.customer_notifications(customer=customer, **filters)
    page = Paginator(notices, selectors.HISTORY_PAGE_SIZE).get_page(
        parse_page(request.GET.get("page"))
    )
    page.object_list = selectors.decorate_notices(list(page.object_list))
    active = {key: value for key, value in filters.items() if value}
    context = {
        "customer": customer,
        "filter_form": filter_form,
        "filters": active,
        "filter_query": urlencode(active),
        "page": page,
        "notices": page.object_list,
    }
    if _wants_partial(request):
        response = render(request, "notifications/customer_detail.html#history", context)
    else:
        context["detail"] = selectors.customer_detail(customer=customer, scope=scope)
        context["tolerance_hours"] = dispatch.tolerance_hours(customer)
        response = render(request, "notifications/customer_detail.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- incidents (supervisors) -----------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("shipments.change_incident", raise_exception=True)
def incident_notify(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    """GET: what is about to happen, and a button; POST: queue the incident notice for every
    affected customer (notifications.services.incident_notify; a second POST queues nothing
    new, the dedupe keys are taken)."""
    incident = get_object_or_404(Incident.objects.select_related("carrier"), public_id=public_id)
    target = reverse("supervisor:home") + "#incidents"
    if request.method == "GET":
        return render(
            request,
            "notifications/incident_notify.html",
            {"incident": incident, "resolved_message": INCIDENT_RESOLVED},
        )
    if incident.status == Incident.Status.RESOLVED:
        messages.error(request, INCIDENT_RESOLVED)
        return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    count = services.incident_notify(incident=incident, by=request.user)
    if count:
        messages.success(
            request,
            ngettext(
                "%(count)d customer will be notified about “%(title)s”.",
                "%(count)d customers will be notified about “%(title)s”.",
                count,
            )
            % {"count": count, "title": incident.title},
        )
    else:
        messages.info(
            request,
            _("No new notice for “%(title)s”: every affected customer has already been told.")
            % {"title": incident.title},
        )
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
