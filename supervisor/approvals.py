"""The supervisor's approval queue: compensation offers above an agent's authority, oldest first,
approved or rejected in place (supervisor/approvals_actions.py; HTMX swaps the row for its
outcome; without JavaScript the forms post and the page comes back).

Who: the `compensation.approve_compensationoffer` permission (supervisors); agents get a 403,
anonymous visitors the login page.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.backends.utils import csrf_input
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_htmx.middleware import HtmxDetails

from supervisor import approvals_selectors as selectors

PERMISSION = "compensation.approve_compensationoffer"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def approver_view(methods: list[str]):
    def decorate(view):
        return require_http_methods(methods)(
            login_required(permission_required(PERMISSION, raise_exception=True)(view))
        )

    return decorate


def column_labels() -> dict[str, str]:
    """The queue's column names, translated once per request: the table's head, and each row's
    cells on a phone (`data-label`), where a row stands alone as a card."""
    return {
        "ticket": _("Ticket"),
        "customer": _("Customer"),
        "shipment": _("Shipment"),
        "order_value": _("Order value"),
        "asked": _("Asked for"),
        "suggestion": _("Policy suggests"),
        "requested": _("Requested"),
        "budget": _("Incident budget"),
        "decision": _("Decision"),
        # The decision cell of every pending row.
        "approve": _("Approve"),
        "reject": _("Reject"),
        "note_label": _("Why reject (the agent reads this)"),
        "note_placeholder": _("Why reject? (the agent reads this)"),
    }


_MARKER = uuid.UUID(int=0)


def link_rows(rows: list[selectors.QueueRow]) -> None:
    """Give each row its links (its ticket, approve, reject): each route is reversed once for the
    page and filled in per row, instead of three `{% url %}` per row (bench/bench_approvals.py)."""
    marker = str(_MARKER)
    ticket = reverse("tickets:ticket_detail", args=[_MARKER])
    approve = reverse("supervisor:approval_approve", args=[_MARKER])
    reject = reverse("supervisor:approval_reject", args=[_MARKER])
    for row in rows:
        offer_id = str(row.offer.public_id)
        row.ticket_url = ticket.replace(marker, str(row.offer.ticket.public_id))
        row.approve_url = approve.replace(marker, offer_id)
        row.reject_url = reject.replace(marker, offer_id)


def row_context(request: HttpRequest) -> dict[str, Any]:
    """What every rendering of rows needs: the column names and the CSRF field, made once."""
    return {"labels": column_labels(), "csrf_input": csrf_input(request)}


def wants_partial(request: HtmxHttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def queue_url(page: int | None = None) -> str:
    url = reverse("supervisor:approvals")
    return f"{url}?page={page}" if page and page > 1 else url


def render_queue(
    request: HtmxHttpRequest,
    *,
    status: int = 200,
    row_errors: dict[int, dict[str, str]] | None = None,
    alert: str = "",
    page_number: Any = None,
) -> HttpResponse:
    now = timezone.now()
    queue = selectors.approval_queue(
        page_number=page_number if page_number is not None else request.GET.get("page"), now=now
    )
    for row in queue.rows:
        for key, value in (row_errors or {}).get(row.offer.pk, {}).items():
            setattr(row, key, value)
    link_rows(queue.rows)
    context = {"queue": queue, "alert": alert, "now": now, **row_context(request)}
    template = "supervisor/approvals.html"
    if wants_partial(request) and request.htmx.target == "approval-queue":
        template += "#queue"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


@approver_view(["GET"])
def approvals(request: HtmxHttpRequest) -> HttpResponse:
    """One page of the offers waiting for approval, oldest first, with the incidents they belong
    to and what those incidents' budgets have left."""
    return render_queue(request)
