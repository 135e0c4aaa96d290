"""Agent console pages: the ticket queues, the ticket page and its actions.

Every read and write goes through `Ticket.objects.visible_to(user)` (a ticket outside the
agent's scope is a 404). Each action is a POST view that validates one form and calls one
service; the page and its HTMX fragment come from the same template (`#ticket` partial):

- HTMX: the ticket region is re-rendered in place (new version, a short confirmation), or with
  the error and the agent's typed text: 409 when someone else changed the ticket first, 422
  for invalid input, 403 when the service refuses the agent (console.js swaps these in);
- without JavaScript: a redirect back to the ticket page on success, the page itself with the
  error otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from core.inputs import clean_search, parse_id
from tickets import forms, fragments, selectors, services
from tickets.macros import macros_for_ticket, render_for_ticket
from tickets.models import Ticket

QUEUE_PAGE_SIZE = 25
SLA_SOON = dt.timedelta(hours=1)

# Set on ticket fragments so console.js swaps them in even with an error status (409, 422, 403).
FRAGMENT_HEADER = "Delaydesk-Fragment"

# Service error codes that belong to one field of the form (the others are shown as a banner).
FIELD_OF_ERROR = {
    "empty": "body",
    "too_long": "body",
    "reason_required": "reason",
    "invalid_status": "status",
    "invalid_priority": "priority",
    "invalid_category": "category",
    "not_agent": "assignee",
}


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _wants_partial(request: HtmxHttpRequest) -> bool:
    # A history restore (back button after a cache miss) needs the whole page, not a fragment.
    return bool(request.htmx) and not request.htmx.history_restore_request


def _get_ticket_for_user(user, public_id: UUID) -> Ticket:
    """The ticket with everything its page shows; 404 when unknown or outside the user's scope."""
    try:
        return selectors.ticket_detail_queryset(user=user).get(public_id=public_id)
    except Ticket.DoesNotExist:
        raise Http404("No such ticket") from None


def _get_ticket_for_action(user, public_id: UUID) -> Ticket:
    """The bare ticket an action works on (the service locks and re-reads it); 404 as above."""
    try:
        return Ticket.objects.visible_to(user).select_related("customer").get(public_id=public_id)
    except Ticket.DoesNotExist:
        raise Http404("No such ticket") from None


def console_view(view):
    """GET pages of the console: logged in (else the login page), with the console permission
    (else 403)."""
    return require_GET(
        login_required(permission_required("tickets.work_console", raise_exception=True)(view))
    )


def action_view(view):
    """POST actions: as `console_view`, for POST only (405 otherwise)."""
    return require_http_methods(["POST"])(
        login_required(permission_required("tickets.work_console", raise_exception=True)(view))
    )


# --- queue -----------------------------------------------------------------------------------


@console_view
def console(request: HtmxHttpRequest) -> HttpResponse:
    """One page of a queue. The tab counts are not part of it: the tabs load them afterwards
    from `console_counts` (hx-trigger="load"), so the page never waits for the aggregate."""
    queue = request.GET.get("queue", "")
    incident_ref = request.GET.get("incident", "").strip()[:64]
    if incident_ref:
        queue = selectors.QUEUE_INCIDENT
    if queue not in selectors.QUEUES:
        queue = selectors.DEFAULT_QUEUE
    search = clean_search(request.GET.get("q", ""))
    now = timezone.now()

    incident = selectors.find_incident(incident_ref) if incident_ref else None
    if incident_ref and incident is None:
        raise Http404("No such incident")
    tickets = selectors.console_queue(
        user=request.user, queue=queue, search=search, incident=incident, now=now
    )
    # Next / previous follow cursors (?after= / ?before=): every page costs what the first
    # does. ?page=N (old links) still opens page N; a cursor that does not verify opens page 1.
    page = selectors.QueuePaginator(tickets, QUEUE_PAGE_SIZE, queue=queue).get_page(
        request.GET.get("page"),
        after=request.GET.get("after", ""),
        before=request.GET.get("before", ""),
    )
    rows = selectors.console_rows(page.ticket_ids)
    params = {"queue": queue}
    if incident is not None:
        params = {"incident": str(incident.public_id)}
    if search:
        params["q"] = search
    queue_query = urlencode(params)
    context = {
        "queue": queue,
        "queues": [(key, selectors.QUEUE_LABELS[key]) for key in selectors.QUEUES],
        "incident": incident,
        "q": search,
        "page": page,
        "tickets": rows,
        "queue_query": queue_query,
        "next_query": urlencode({**params, "after": page.next_cursor}),
        # The page before page 2 is the first page: its plain link, no cursor.
        "previous_query": (
            urlencode({**params, "before": page.previous_cursor})
            if page.previous_cursor
            else queue_query
        ),
        "search_query": urlencode({"q": search}) if search else "",
        "now": now,
        "sla_soon": now + SLA_SOON,
    }
    template = "tickets/console.html#queue" if _wants_partial(request) else "tickets/console.html"
    response = render(request, template, context)
    # The same URL answers with a fragment or a page: caches must keep them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


@console_view
def console_counts(request: HtmxHttpRequest) -> HttpResponse:
    """How many open tickets in the agent's scope each queue holds: the tabs' counts, as
    out-of-band swaps (`#queue-counts`), which the queue page asks for once it is shown."""
    counts = selectors.console_queue_counts(user=request.user, now=timezone.now())
    context = {"counts": [(key, counts[key]) for key in selectors.QUEUES]}
    return render(request, "tickets/console.html#queue-counts", context)


# --- ticket page -----------------------------------------------------------------------------


def _blank_forms() -> dict[str, Any]:
    return {
        "reply_form": forms.ReplyForm(),
        "note_form": forms.NoteForm(),
        "status_form": forms.StatusForm(),
        "priority_form": forms.PriorityForm(),
        "category_form": forms.CategoryForm(),
    }


def _render_ticket(
    request: HtmxHttpRequest,
    public_id: UUID,
    *,
    status: int = 200,
    bound: dict[str, Any] | None = None,
    error: str = "",
    flash: str = "",
) -> HttpResponse:
    """The ticket page (or its `#ticket` fragment for HTMX), freshly read: the timeline and the
    scans come rendered from the cache while their rows have not changed (tickets.fragments).

    `bound` holds the form that was just posted (its errors and the agent's text are shown
    again), `error` a banner (e.g. the optimistic-lock message), `flash` a confirmation.
    """
    ticket = _get_ticket_for_user(request.user, public_id)
    detail = selectors.ticket_detail(ticket=ticket)
    now = timezone.now()
    context: dict[str, Any] = {
        "ticket": ticket,
        "detail": detail,
        **_kept_parts(ticket, detail),
        "now": now,
        "sla_soon": now + SLA_SOON,
        "error": error,
        "stale": status == 409,
        "flash": flash,
        "can_override_priority": request.user.has_perm("tickets.override_priority"),
        "can_release": ticket.assignee_id is not None
        and (ticket.assignee_id == request.user.pk or request.user.has_perm("tickets.supervise")),
        **_blank_forms(),
        **(bound or {}),
    }
    context["reply_text"] = context["reply_form"]["body"].value() or ""
    context["note_text"] = context["note_form"]["body"].value() or ""
    partial = _wants_partial(request)
    template = "tickets/ticket_detail.html#ticket" if partial else "tickets/ticket_detail.html"
    response = render(request, template, context, status=status)
    if partial:
        response[FRAGMENT_HEADER] = "ticket"
    patch_vary_headers(response, ("HX-Request",))
    return response


def _kept_parts(ticket: Ticket, detail: selectors.TicketDetail) -> dict[str, Any]:
    """The timeline and the shipment's scans, rendered, from the cache when nothing they show
    changed since (tickets.fragments); else read (three queries) and rendered now."""

    def timeline() -> str:
        detail.load_timeline()
        fragments.render_rows(ticket, detail)
        context = {"ticket": ticket, "detail": detail}
        return render_to_string("tickets/ticket_detail.html#timeline", context)

    def scans() -> str:
        context = {"events": detail.load_scans()}
        return render_to_string("shipments/_shipment_facts.html#scans", context)

    parts = {"timeline_html": fragments.kept(fragments.timeline_key(ticket, detail), timeline)}
    if ticket.shipment is not None:
        parts["scans_html"] = fragments.kept(fragments.scans_key(ticket), scans)
    return parts


@console_view
def ticket_detail(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    return _render_ticket(request, public_id)


@console_view
def macro_render(request: HtmxHttpRequest, public_id: UUID, macro_id: int) -> HttpResponse:
    """A macro filled in for this ticket, as the reply box's content (escaped text, never HTML).

    The text is plain (tickets.macros renders placeholders in one pass, no template engine);
    the template escapes it inside the <textarea>.
    """
    ticket = _get_ticket_for_action(request.user, public_id)
    ticket = Ticket.objects.select_related("customer", "shipment").get(pk=ticket.pk)
    macro = macros_for_ticket(ticket).filter(pk=macro_id).first()
    if macro is None:
        raise Http404("No such macro for this ticket")
    return render(
        request,
        "tickets/ticket_detail.html#reply-body",
        {"reply_text": render_for_ticket(macro, ticket), "reply_form": forms.ReplyForm()},
    )


@console_view
def assign_form(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    """The "assign to" form: loaded into the ticket page when the agent opens it (the list of
    agents is not part of every page view), or as a page of its own without JavaScript."""
    ticket = _get_ticket_for_action(request.user, public_id)
    version = parse_id(request.GET.get("version")) or ticket.version
    inline = _wants_partial(request)
    context = {
        "ticket": ticket,
        "version": version,
        "agents": list(selectors.console_agents()),
        "inline": inline,
    }
    template = "tickets/assign.html#assign-form" if inline else "tickets/assign.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- actions ---------------------------------------------------------------------------------


def _act(
    request: HtmxHttpRequest,
    public_id: UUID,
    *,
    form_class: type[forms.TicketActionForm],
    form_key: str,
    perform: Callable[[Ticket, dict[str, Any]], str],
) -> HttpResponse:
    """Validate `form_class`, run `perform` (one service call; returns the confirmation), answer.

    1. Scoped lookup (404), form validation (422 with field errors).
    2. The service: StaleTicketError -> 409 with its message, the form (and text) kept;
       TicketActionError -> 422 on its field or as a banner; PermissionDenied -> 403 banner.
    3. Success: HTMX gets the re-rendered ticket and a confirmation, a plain POST a redirect.
    """
    ticket = _get_ticket_for_action(request.user, public_id)
    form = form_class(request.POST)
    bound = {form_key: form}
    if not form.is_valid():
        return _render_ticket(request, public_id, status=422, bound=bound, error=_form_banner(form))
    try:
        done = perform(ticket, form.cleaned_data)
    except services.StaleTicketError as exc:
        return _render_ticket(request, public_id, status=409, bound=bound, error=exc.messages[0])
    except services.TicketActionError as exc:
        field = FIELD_OF_ERROR.get(exc.code or "")
        form.add_error(field if field in form.fields else None, exc)
        return _render_ticket(request, public_id, status=422, bound=bound, error=_form_banner(form))
    except PermissionDenied as exc:
        return _render_ticket(request, public_id, status=403, bound=bound, error=str(exc))

    detail_url = reverse("tickets:ticket_detail", args=[public_id])
    if not Ticket.objects.visible_to(request.user).filter(public_id=public_id).exists():
        # Handed out of the agent's scope (released or reassigned away from their team).
        messages.success(request, done)
        if request.htmx:
            return HttpResponseClientRedirect(reverse("tickets:console"))
        return redirect("tickets:console")
    if _wants_partial(request):
        return _render_ticket(request, public_id, flash=done)
    messages.success(request, done)
    return redirect(detail_url)


def _form_banner(form: forms.TicketActionForm) -> str:
    """Errors not tied to a field of the page: a missing version, a closed ticket, a bad
    timer, an agent chosen in the (separately loaded) assign form."""
    errors = list(form.non_field_errors())
    for name in ("version", "timer", "assignee"):
        errors.extend(form.errors.get(name, []))
    return " ".join(str(error) for error in errors)


@action_view
def ticket_claim(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    def perform(ticket: Ticket, data: dict[str, Any]) -> str:
        services.ticket_claim(ticket=ticket, actor=request.user, expected_version=data["version"])
        return _("You claimed the ticket.")

    return _act(
        request, public_id, form_class=forms.ClaimForm, form_key="claim_form", perform=perform
    )


@action_view
def ticket_release(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    def perform(ticket: Ticket, data: dict[str, Any]) -> str:
        services.ticket_release(ticket=ticket, actor=request.user, expected_version=data["version"])
        return _("The ticket is back in the unassigned queue.")

    return _act(
        request, public_id, form_class=forms.ReleaseForm, form_key="release_form", perform=perform
    )


@action_view
def ticket_assign(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    def perform(ticket: Ticket, data: dict[str, Any]) -> str:
        assignee = data["assignee"]
        services.ticket_assign(
            ticket=ticket, actor=request.user, assignee=assignee, expected_version=data["version"]
        )
        name = assignee.first_name or assignee.get_username()
        return _("Assigned to %(name)s.") % {"name": name}

    return _act(
        request, public_id, form_class=forms.AssignForm, form_key="assign_form", perform=perform
    )


@action_view
def ticket_reply(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    def perform(ticket: Ticket, data: dict[str, Any]) -> str:
        services.ticket_reply(
            ticket=ticket,
            actor=request.user,
            body=data["body"],
            status=data["status"] or None,
            expected_version=data["version"],
        )
        if data["status"]:
            label = dict(forms.ReplyForm.base_fields["status"].choices)[data["status"]]
            return _("Reply sent; status set to %(status)s.") % {"status": label}
        return _("Reply sent.")

    return _act(
        request, public_id, form_class=forms.ReplyForm, form_key="reply_form", perform=perform
    )


@action_view
def ticket_note(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    def perform(ticket: Ticket, data: dict[str, Any]) -> str:
        services.ticket_add_note(ticket=ticket, actor=request.user, body=data["body"])
        return _("Internal note added.")

    return _act(
        request, public_id, form_class=forms.NoteForm, form_key="note_form", perform=perform
    )


@action_view
def ticket_status(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    def perform(ticket: Ticket, data: dict[str, Any]) -> str:
        services.ticket_change_status(
            ticket=ticket,
            actor=request.user,
            status=data["status"],
            expected_version=data["version"],
        )
        label = dict(forms.StatusForm.base_fields["status"].choices)[data["status"]]
        return _("Status set to %(status)s.") % {"status": label}

    return _act(
        request, public_id, form_class=forms.StatusForm, form_key="status_form", perform=perform
    )


@action_view
def ticket_priority(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    def perform(ticket: Ticket, data: dict[str, Any]) -> str:
        services.ticket_override_priority(
            ticket=ticket,
            actor=request.user,
            priority=data["priority"],
            reason=data["reason"],
            expected_version=data["version"],
        )
        label = dict(forms.PriorityForm.base_fields["priority"].choices)[data["priority"]]
        return _("Priority set to %(priority)s.") % {"priority": label}

    return _act(
        request, public_id, form_class=forms.PriorityForm, form_key="priority_form", perform=perform
    )


@action_view
def ticket_category(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    def perform(ticket: Ticket, data: dict[str, Any]) -> str:
        services.ticket_change_category(
            ticket=ticket,
            actor=request.user,
            category=data["category"],
            expected_version=data["version"],
        )
        label = dict(forms.CategoryForm.base_fields["category"].choices)[data["category"]]
        return _("Category set to %(category)s.") % {"category": label}

    return _act(
        request, public_id, form_class=forms.CategoryForm, form_key="category_form", perform=perform
    )


@action_view
def ticket_carrier_contacted(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    def perform(ticket: Ticket, data: dict[str, Any]) -> str:
        services.ticket_mark_carrier_contacted(
            ticket=ticket, actor=request.user, expected_version=data["version"]
        )
        return _("Recorded that you contacted the carrier.")

    return _act(
        request,
        public_id,
        form_class=forms.CarrierContactedForm,
        form_key="carrier_form",
        perform=perform,
    )


@action_view
def ticket_milestone_done(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    def perform(ticket: Ticket, data: dict[str, Any]) -> str:
        timer = services.ticket_meet_milestone(
            ticket=ticket,
            actor=request.user,
            timer_id=data["timer"],
            expected_version=data["version"],
        )
        return _("Milestone “%(name)s” marked done.") % {"name": timer.display_name}

    return _act(
        request,
        public_id,
        form_class=forms.MilestoneForm,
        form_key="milestone_form",
        perform=perform,
    )
