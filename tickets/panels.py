"""What the tickets app puts on the pages of the apps below it (which may not import it).

- The shipment page's tickets panel: the tickets about a shipment that the reader may open,
  served here (`tickets:shipment_tickets`) and put into the page's "shipment.main" slot
  (core.panels). htmx loads it after the page, so the shipment page's query count does not
  depend on tickets; without JavaScript its link opens the same list as a small page.
- The customer grant for shipments.scope: an agent may see who a shipment's customer is when a
  ticket of that customer is in the agent's scope (the console's team rule,
  `Ticket.objects.visible_to`). It rides along in the shipment query as an EXISTS.

`connect()` registers both; TicketsConfig.ready() calls it.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Exists
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from core import panels
from shipments import scope
from shipments.models import Shipment
from tickets.models import Ticket

SHIPMENT_SLOT = "shipment.main"


def customers_with_tickets_in_scope(user, customer_id):
    """shipments.scope grant: `user` may see the customer `customer_id` (an expression) when a
    ticket of that customer is in their console scope."""
    return Exists(Ticket.objects.visible_to(user).filter(customer_id=customer_id))


@require_GET
@login_required
@permission_required("tickets.work_console", raise_exception=True)
def shipment_tickets(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The tickets about a shipment within the reader's scope: the shipment page's panel for
    htmx, a small page of its own otherwise. The same role as the shipment page (every console
    user reads every shipment; the tickets follow the scope)."""
    shipment = get_object_or_404(
        Shipment.objects.select_related("carrier").only(
            "pk", "public_id", "tracking_number", "carrier__code", "carrier__name"
        ),
        public_id=public_id,
    )
    tickets = list(
        Ticket.objects.visible_to(request.user)
        .filter(shipment=shipment)
        .select_related("assignee")
        .order_by("-created_at")
    )
    return panels.render_panel(
        request,
        fragment="tickets/_shipment_tickets.html",
        page="tickets/_shipment_tickets_page.html",
        context={"shipment": shipment, "tickets": tickets},
    )


def connect() -> None:
    panels.register_panel(
        slot=SHIPMENT_SLOT,
        url_name="tickets:shipment_tickets",
        title=_("Tickets"),
        link_text=_("Show the tickets about this shipment"),
        order=10,
        marker="shipment-tickets",
    )
    scope.register_customer_scope(customers_with_tickets_in_scope)
