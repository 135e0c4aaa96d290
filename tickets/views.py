"""Agent console pages: the ticket queue and the ticket detail (read-only for now)."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.views.decorators.http import require_GET
from django_htmx.middleware import HtmxDetails

from tickets import selectors
from tickets.models import Ticket

QUEUE_PAGE_SIZE = 25
SLA_SOON = dt.timedelta(hours=1)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _wants_partial(request: HtmxHttpRequest) -> bool:
    # A history restore (back button after a cache miss) needs the whole page, not a fragment.
    return bool(request.htmx) and not request.htmx.history_restore_request


def _get_ticket_for_user(user, public_id: UUID) -> Ticket:
    """The ticket with everything its page shows; 404 when unknown.

    Every console user may read every ticket for now; a per-team rule would go here.
    """
    try:
        return selectors.ticket_detail_queryset().get(public_id=public_id)
    except Ticket.DoesNotExist:
        raise Http404("No such ticket") from None


@require_GET
@login_required
@permission_required("tickets.work_console", raise_exception=True)
def console(request: HtmxHttpRequest) -> HttpResponse:
    queue = request.GET.get("queue", "")
    if queue not in selectors.QUEUES:
        queue = selectors.DEFAULT_QUEUE
    search = request.GET.get("q", "").strip()[:200]

    tickets = selectors.console_queue(user=request.user, queue=queue, search=search)
    page = Paginator(tickets, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    context = {
        "queue": queue,
        "q": search,
        "page": page,
        "tickets": page.object_list,
        "counts": selectors.console_queue_counts(user=request.user),
        "queue_query": urlencode({"queue": queue, "q": search} if search else {"queue": queue}),
        "search_query": urlencode({"q": search}) if search else "",
        "now": now,
        "sla_soon": now + SLA_SOON,
    }
    template = "tickets/console.html#queue" if _wants_partial(request) else "tickets/console.html"
    response = render(request, template, context)
    # The same URL answers with a fragment or a page: caches must keep them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_GET
@login_required
@permission_required("tickets.work_console", raise_exception=True)
def ticket_detail(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    ticket = _get_ticket_for_user(request.user, public_id)
    detail = selectors.ticket_detail(ticket=ticket)
    now = timezone.now()
    return render(
        request,
        "tickets/ticket_detail.html",
        {"ticket": ticket, "detail": detail, "now": now, "sla_soon": now + SLA_SOON},
    )
