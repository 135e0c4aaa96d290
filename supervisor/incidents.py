"""The supervisor's incident pages.

- /supervisor/incidents/: every incident, open ones first, filtered by status, carrier, cause,
  title and (when the reader picks one) the period its window started in; each with its place,
  window, affected shipments, open tickets, notices sent and money against budget. `?format=csv`
  exports the filtered list.
- /supervisor/incidents/<id>/: one incident: its figures, its bulk actions with their progress
  (the card polls itself with htmx while a run is under way), the public explanation (edited
  here, read by customers on their progress page), and its tables (affected shipments with
  their customer's notice, notices with why some were not sent, tickets, offers), each page by
  page and as CSV (`?format=csv&table=shipments|notices|tickets|offers`).
- POST actions: the explanation; notify every affected customer; resolve (the offer to all is
  supervisor.incident_offer's page). Each bulk action carries an idempotency key and runs once
  (supervisor.incident_actions).

Who: supervisors (`tickets.supervise`); agents get a 403, anonymous visitors the login page.
The offer needs the approve permission as well (its own page).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods
from django_htmx.middleware import HtmxDetails

from compensation.models import OfferStatus
from core.inputs import parse_page
from core.models import DelayCause, choice_label
from notifications.models import NoticeKind, NotificationStatus
from shipments.incidents import incident_explain
from shipments.models import DelayLevel, Incident, IncidentStatus, ShipmentStatus
from supervisor import export
from supervisor import incident_selectors as selectors
from supervisor.forms import IncidentActionForm, IncidentExplanationForm, IncidentListForm
from supervisor.incident_actions import INCIDENT_RESOLVED
from supervisor.models import IncidentAction, IncidentActionKind
from supervisor.scope import scope_from
from supervisor.tasks import start_incident_action
from tickets.models import Priority, TicketStatus

PERMISSION = "tickets.supervise"
ACTIONS_TARGET = "incident-actions"
# The detail page's tables: their page parameter, and what `?table=` exports.
TABLES = {"shipments": "spage", "notices": "npage", "tickets": "tpage"}
EXPORTS = ("shipments", "notices", "tickets", "offers")
# The list reads only the period of supervisor.scope (its other filters are the list's own).
PERIOD_FIELDS = ("days", "start", "end")

EXPLANATION_SAVED = gettext_lazy(
    "The public explanation is saved: customers read it on their progress page."
)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def supervisor_view(methods: list[str]):
    def decorate(view):
        return require_http_methods(methods)(
            login_required(permission_required(PERMISSION, raise_exception=True)(view))
        )

    return decorate


def get_incident(public_id: UUID) -> Incident:
    incident = (
        Incident.objects.select_related("carrier", "lane", "opened_by", "resolved_by")
        .filter(public_id=public_id)
        .first()
    )
    if incident is None:
        raise Http404("No such incident")
    return incident


def detail_url(incident: Incident, anchor: str = "") -> str:
    url = reverse("supervisor:incident_detail", args=[incident.public_id])
    return f"{url}#{anchor}" if anchor else url


# --- the list --------------------------------------------------------------------------------


@supervisor_view(["GET"])
def incidents(request: HtmxHttpRequest) -> HttpResponse:
    now = timezone.now()
    form = IncidentListForm(request.GET or None)
    if form.is_bound:
        form.is_valid()  # refused filters are left out, with their messages
    carrier = form.value("carrier")
    filters = selectors.ListFilters(
        status=form.value("status") or "",
        carrier_id=carrier.pk if carrier else None,
        cause=form.value("cause") or "",
        search=form.value("q") or "",
    )
    # The period only when the reader chose one: an incident opened long ago and still open
    # belongs on the default list.
    scope, scope_form = scope_from(request.GET, now=now)
    if set(PERIOD_FIELDS) & set(request.GET) and not set(PERIOD_FIELDS) & set(scope_form.errors):
        filters = replace(filters, start=scope.start, end=scope.end)
    else:
        scope = None
    today = timezone.localdate(now)
    if export.wants_csv(request):
        return _list_csv(filters, today=today)
    listing = selectors.incident_list(filters, page_number=request.GET.get("page"), today=today)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "scope": scope,
        "scope_errors": [
            error for name in PERIOD_FIELDS for error in scope_form.errors.get(name, [])
        ],
        "listing": listing,
        "pager": pager(listing.page, request.GET, "page", "incidents-table"),
        "filtered": filters != selectors.ListFilters(),
        "csv_query": _with(request.GET, format="csv", page=None),
        "now": now,
    }
    return render(request, "supervisor/incidents.html", context)


def _list_csv(filters: selectors.ListFilters, *, today) -> HttpResponse:
    header = [
        _("Incident id"),
        _("Title"),
        _("Status"),
        _("Cause"),
        _("Carrier"),
        _("Lane"),
        _("Hub"),
        _("Window start"),
        _("Window end"),
        _("Affected shipments"),
        _("Open tickets"),
        _("Notices sent"),
        _("Spent"),
        _("Committed"),
        _("Budget"),
        _("Budget left"),
    ]

    def rows() -> Iterator[list]:
        for incident, money in selectors.export_rows(filters, today=today):
            yield [
                incident.public_id,
                incident.title,
                choice_label(IncidentStatus, incident.status),
                choice_label(DelayCause, incident.cause),
                incident.carrier.name if incident.carrier else "",
                str(incident.lane) if incident.lane else "",
                incident.hub,
                _moment(incident.window_start),
                _moment(incident.window_end),
                incident.shipment_count,
                incident.open_ticket_count,
                incident.notices_sent,
                _per_currency(money, "spent"),
                _per_currency(money, "committed"),
                _per_currency(money, "budget"),
                _per_currency(money, "left"),
            ]

    return export.csv_response("incidents", header, rows())


def _per_currency(money: list[selectors.MoneyLine], attribute: str) -> str:
    """Amounts of several currencies in one cell, never added: "120.00 EUR; 30.00 USD"."""
    return "; ".join(
        f"{getattr(line, attribute)} {line.currency}"
        for line in money
        if getattr(line, attribute) is not None
    )


def _moment(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


# --- pages of a table ------------------------------------------------------------------------


@dataclass(frozen=True)
class Pager:
    page: Page
    previous_url: str
    next_url: str


def _with(query: QueryDict, **values: Any) -> str:
    """The query string with `values` set (None drops one)."""
    copy = query.copy()
    for name, value in values.items():
        copy.pop(name, None)
        if value is not None:
            copy[name] = str(value)
    return copy.urlencode()


def pager(page: Page, query: QueryDict, name: str, anchor: str) -> Pager:
    """Links to the previous and next page of one table, keeping the other tables' pages."""

    def link(number: int) -> str:
        return f"?{_with(query, **{name: number if number > 1 else None})}#{anchor}"

    return Pager(
        page=page,
        previous_url=link(page.previous_page_number()) if page.has_previous() else "",
        next_url=link(page.next_page_number()) if page.has_next() else "",
    )


# --- an incident -----------------------------------------------------------------------------


def _page(qs, query: QueryDict, name: str) -> Page:
    return Paginator(qs, selectors.TABLE_PAGE_SIZE).get_page(parse_page(query.get(name)))


def run_lines(runs: list[IncidentAction]) -> list[dict[str, Any]]:
    return [{"run": run, "text": run_text(run)} for run in runs]


def _forms(incident: Incident, given: dict[str, Any]) -> dict[str, Any]:
    return {
        "notify_form": given.get("notify") or IncidentActionForm(prefix="notify"),
        "resolve_form": given.get("resolve") or IncidentActionForm(prefix="resolve"),
        "explanation_form": given.get("explanation")
        or IncidentExplanationForm(
            initial={
                "public_explanation": incident.public_explanation,
                "public_explanation_zh_hans": incident.public_explanation_zh_hans,
            }
        ),
    }


def actions_context(incident: Incident, runs: list[IncidentAction]) -> dict[str, Any]:
    active = [run for run in runs if run.is_active]
    return {"runs": run_lines(runs), "polling": bool(active)}


def render_detail(
    request: HtmxHttpRequest,
    incident: Incident,
    *,
    status: int = 200,
    forms: dict[str, Any] | None = None,
) -> HttpResponse:
    query = request.GET
    if request.htmx and request.htmx.target == ACTIONS_TARGET and request.method == "GET":
        # The actions card polling itself: its runs alone.
        runs = selectors.recent_runs(incident)
        context = {"incident": incident, **actions_context(incident, runs)}
        response = render(request, "supervisor/incident_detail.html#actions", context)
        patch_vary_headers(response, ("HX-Request",))
        return response
    today = timezone.localdate()
    summary = selectors.incident_summary(incident, today=today)
    suppressed_only = query.get("notices") == "suppressed"
    shipments = _page(selectors.incident_shipments(incident), query, "spage")
    notices = _page(
        selectors.incident_notices(incident, suppressed_only=suppressed_only), query, "npage"
    )
    tickets = _page(selectors.incident_ticket_list(incident), query, "tpage")
    context = {
        "incident": incident,
        "summary": summary,
        **actions_context(incident, summary.runs),
        **_forms(incident, forms or {}),
        "shipments": pager(shipments, query, "spage", "shipments"),
        "shipment_rows": _shipment_rows(shipments.object_list),
        "notices": pager(notices, query, "npage", "notices"),
        "notice_rows": _notice_rows(notices.object_list),
        "suppressed_only": suppressed_only,
        "notices_all_url": "?" + _with(query, notices=None, npage=None) + "#notices",
        "notices_suppressed_url": "?" + _with(query, notices="suppressed", npage=None) + "#notices",
        "tickets": pager(tickets, query, "tpage", "tickets"),
        "ticket_rows": _ticket_rows(tickets.object_list),
        "is_resolved": incident.status == IncidentStatus.RESOLVED,
        "explanation_preview": {
            "en": incident.explanation("en"),
            "zh": incident.explanation("zh-hans"),
        },
    }
    response = render(request, "supervisor/incident_detail.html", context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _shipment_rows(shipments) -> list[dict[str, Any]]:
    return [
        {
            "shipment": s,
            "level_label": choice_label(DelayLevel, s.delay_level),
            "status_label": choice_label(ShipmentStatus, s.status),
            "notice_label": selectors.notice_state_label(s.notice_status),
        }
        for s in shipments
    ]


def _notice_rows(notices) -> list[dict[str, Any]]:
    return [
        {
            "notice": n,
            "kind_label": choice_label(NoticeKind, n.kind),
            "status_label": choice_label(NotificationStatus, n.status),
            "reason": n.suppressed_reason_text if n.status == NotificationStatus.SUPPRESSED else "",
        }
        for n in notices
    ]


def _ticket_rows(tickets) -> list[dict[str, Any]]:
    return [
        {
            "ticket": t,
            "status_label": choice_label(TicketStatus, t.status),
            "priority_label": choice_label(Priority, t.priority),
            "assignee": (t.assignee.first_name or t.assignee.get_username()) if t.assignee else "",
        }
        for t in tickets
    ]


@supervisor_view(["GET"])
def incident_detail(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    incident = get_incident(public_id)
    if export.wants_csv(request):
        table = request.GET.get("table", "shipments")
        if table not in EXPORTS:
            table = "shipments"
        return EXPORTERS[table](incident)
    return render_detail(request, incident)


# --- CSV of each table -----------------------------------------------------------------------


def _shipments_csv(incident: Incident) -> HttpResponse:
    header = [
        _("Order"),
        _("Tracking number"),
        _("Carrier"),
        _("Customer"),
        _("Delay level"),
        _("Status"),
        _("Promised"),
        _("Predicted"),
        _("Delay detected"),
        _("Incident notice"),
    ]
    rows = (
        [
            s.order_number,
            s.tracking_number,
            s.carrier.name,
            s.customer.name,
            choice_label(DelayLevel, s.delay_level),
            choice_label(ShipmentStatus, s.status),
            _moment(s.promised_at),
            _moment(s.predicted_eta),
            _moment(s.delay_detected_at),
            selectors.notice_state_label(s.notice_status) or _("not told"),
        ]
        for s in selectors.incident_shipments(incident).iterator(chunk_size=2000)
    )
    return export.csv_response(f"incident-{incident.public_id}-shipments", header, rows)


def _notices_csv(incident: Incident) -> HttpResponse:
    header = [
        _("Customer"),
        _("Kind"),
        _("Channel"),
        _("Status"),
        _("Queued"),
        _("Sent"),
        _("Why not sent"),
    ]
    rows = (
        [
            n.customer.name,
            choice_label(NoticeKind, n.kind),
            n.get_channel_display(),
            choice_label(NotificationStatus, n.status),
            _moment(n.created_at),
            _moment(n.sent_at),
            n.suppressed_reason_text if n.status == NotificationStatus.SUPPRESSED else "",
        ]
        for n in selectors.incident_notices(incident).iterator(chunk_size=2000)
    )
    return export.csv_response(f"incident-{incident.public_id}-notices", header, rows)


def _tickets_csv(incident: Incident) -> HttpResponse:
    header = [
        _("Ticket"),
        _("Subject"),
        _("Customer"),
        _("Status"),
        _("Priority"),
        _("Assignee"),
        _("Opened"),
    ]
    rows = (
        [
            t.public_id,
            t.subject,
            t.customer.name,
            choice_label(TicketStatus, t.status),
            choice_label(Priority, t.priority),
            (t.assignee.get_full_name() or t.assignee.get_username()) if t.assignee else "",
            _moment(t.created_at),
        ]
        for t in selectors.incident_ticket_list(incident).iterator(chunk_size=2000)
    )
    return export.csv_response(f"incident-{incident.public_id}-tickets", header, rows)


def _offers_csv(incident: Incident) -> HttpResponse:
    header = [
        _("Ticket"),
        _("Customer"),
        _("Remedy"),
        _("Amount"),
        _("Currency"),
        _("Percent"),
        _("Points"),
        _("Status"),
        _("Offered"),
        _("Issued"),
    ]
    rows = (
        [
            o.ticket.public_id,
            o.customer.name,
            o.get_kind_display(),
            o.amount if o.amount is not None else "",
            o.currency if o.amount is not None else "",
            o.percent if o.percent is not None else "",
            o.points if o.points is not None else "",
            choice_label(OfferStatus, o.status),
            _moment(o.created_at),
            _moment(o.issued_at),
        ]
        for o in selectors.incident_offers(incident).iterator(chunk_size=2000)
    )
    return export.csv_response(f"incident-{incident.public_id}-offers", header, rows)


EXPORTERS = {
    "shipments": _shipments_csv,
    "notices": _notices_csv,
    "tickets": _tickets_csv,
    "offers": _offers_csv,
}


# --- writes ----------------------------------------------------------------------------------


@supervisor_view(["POST"])
def incident_explanation(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    incident = get_incident(public_id)
    form = IncidentExplanationForm(request.POST)
    if not form.is_valid():
        return render_detail(request, incident, status=422, forms={"explanation": form})
    incident_explain(
        incident=incident,
        public_explanation=form.cleaned_data["public_explanation"],
        public_explanation_zh_hans=form.cleaned_data["public_explanation_zh_hans"],
    )
    messages.success(request, EXPLANATION_SAVED)
    return redirect(detail_url(incident, "explanation"))


def _bulk_action(request: HtmxHttpRequest, public_id: UUID, kind: str) -> HttpResponse:
    incident = get_incident(public_id)
    form = IncidentActionForm(request.POST, prefix=kind)
    resolved = incident.status == IncidentStatus.RESOLVED
    if form.is_valid() and resolved and kind == IncidentActionKind.NOTIFY:
        form.add_error(None, INCIDENT_RESOLVED)
    if not form.is_valid():
        return render_detail(request, incident, status=422, forms={kind: form})
    started = start_incident_action(
        incident=incident,
        kind=kind,
        key=form.idempotency_key(),
        by=request.user,
        now=timezone.now(),
    )
    tell(request, started.run, created=started.created)
    return redirect(detail_url(incident, "actions"))


@supervisor_view(["POST"])
def incident_notify_all(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    """The incident notice to every affected customer, once each."""
    return _bulk_action(request, public_id, IncidentActionKind.NOTIFY)


@supervisor_view(["POST"])
def incident_resolve(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    """Resolve the incident (its tickets stay as they are: each is solved on its own)."""
    return _bulk_action(request, public_id, IncidentActionKind.RESOLVE)


# --- a run in words --------------------------------------------------------------------------


def tell(request: HttpRequest, run: IncidentAction, *, created: bool) -> None:
    """The flash message after starting an action: its outcome, or that it runs."""
    text = run_text(run)
    if not created:
        text = _("This action was already started: %(outcome)s") % {"outcome": text}
    if run.status == IncidentAction.Status.FAILED:
        messages.error(request, text)
    elif run.is_active:
        messages.info(request, text)
    else:
        messages.success(request, text)


def progress_text(run: IncidentAction) -> str:
    return _("%(done)s of %(total)s done") % {"done": run.done, "total": run.total}


def run_text(run: IncidentAction) -> str:
    """What a run did (or is doing), in the reader's language."""
    status = IncidentAction.Status
    if run.status == status.FAILED:
        return run.error or _("The action failed.")
    if run.is_active:
        return _("Running in the background: %(progress)s.") % {"progress": progress_text(run)}
    result = run.result or {}
    if run.kind == IncidentActionKind.NOTIFY:
        already = max(0, run.total - run.changed)
        if not run.total:
            return _("Nobody to notify: no affected parcel is on its way.")
        return ngettext(
            "%(progress)s: %(new)s new incident notice queued, %(already)s customers had "
            "already been told.",
            "%(progress)s: %(new)s new incident notices queued, %(already)s customers had "
            "already been told.",
            run.changed,
        ) % {"progress": progress_text(run), "new": run.changed, "already": already}
    if run.kind == IncidentActionKind.OFFER:
        return offer_outcome(
            tickets=result.get("tickets", 0),
            offers=result.get("offers", 0),
            offer_status=result.get("offer_status", ""),
            open_tickets=run.total,
        )
    if result.get("resolved"):
        return _("Incident resolved.")
    return _("The incident was already resolved.")


def offer_outcome(*, tickets: int, offers: int, offer_status: str, open_tickets: int) -> str:
    if tickets == 0:
        if not open_tickets:
            return _("Nothing to offer: this incident has no open ticket.")
        return _("Nothing new: every ticket already has this offer.")
    if offer_status == OfferStatus.PENDING_APPROVAL:
        return ngettext(
            "%(count)s offer waits for approval.",
            "%(count)s offers wait for approval.",
            offers,
        ) % {"count": offers}
    return ngettext(
        "Offered to %(count)s customer.", "Offered to %(count)s customers.", tickets
    ) % {"count": tickets}
