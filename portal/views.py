"""The customer's progress page: `/t/<token>/`, the lookup form `/t/`, the case `/t/case/<id>/`.

Customers have no account. A link from a notice (`exchange`) or the lookup form (`lookup`)
opens the case in this browser's session (portal.access) and redirects to the case's URL,
which carries no token. Every answer of these pages is personal: `Cache-Control: private,
no-store`, `Referrer-Policy: no-referrer` (the token never leaves in a Referer header),
`X-Robots-Tag: noindex`.

A wrong, retired, revoked or expired token and a case this browser has not opened get the same
plain page (the same bytes: no form, no CSRF token), from the same single query: nothing tells
a guesser which part was wrong. A lookup that matches nothing gets one message whatever did not
match. The link, lookup and old survey endpoints are rate limited per client address in the
shared cache (core.ratelimit, RATELIMIT_PUBLIC_LINK), with a "try again in N minutes" page past
the limit.

Actions (reply, remedy choice, preferences, survey) are plain forms that work without
JavaScript (POST, then a redirect back to the page's section) and are sent by htmx when it is
there (the section comes back in place, with its message). A form with an error comes back
filled in as it was sent, with a message at each field (422, or 409 when it is too late). The
reply and the remedy choice carry a one-time submission key, so a double click or a resent form
does its work once; a survey answer or preferences sent twice simply say the same thing twice.
CSRF: portal.csrf (the pages' no-referrer policy makes browsers send `Origin: null`).
"""

from __future__ import annotations

import functools
import zoneinfo
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from compensation import services as compensation
from compensation.errors import CompensationError
from compensation.models import CompensationOffer, OfferStatus
from core import panels
from core.cache import cache_add
from core.middleware import valid_time_zone
from core.ratelimit import rate_limited
from customers.models import Customer
from portal import access, links, page_cache, selectors
from portal.csrf import csrf_protect_portal
from portal.forms import (
    LookupForm,
    PreferencesForm,
    RemedyChoiceForm,
    ReplyForm,
    SurveyForm,
)
from portal.models import LinkKind, ProgressLink
from tickets.models import SatisfactionSurvey, Ticket
from tickets.services import SurveyOutcome, TicketActionError, survey_answer
from tickets.services import ticket_add_customer_message as add_customer_message

# How long a form's submission key is remembered (a resend after this does the work again).
SUBMISSION_SECONDS = 24 * 3600


def private(view):
    """The headers of every portal answer (see the module docstring)."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = "private, no-store"
        response["Referrer-Policy"] = "no-referrer"
        response["X-Robots-Tag"] = "noindex"
        patch_vary_headers(response, ("Cookie", "HX-Request"))
        return response

    return wrapped


def not_found(request: HttpRequest) -> HttpResponse:
    """The one answer for every link or case that does not open (same page, same status)."""
    return render(request, "portal/not_found.html", {"plain": True}, status=404)


def _first_use(key) -> bool:
    """True the first time a form's submission key is seen (shared cache: every process)."""
    if key is None:
        return True
    # Without the cache a repeated click may go through: better than refusing the message.
    return cache_add(f"portal:submission:{key}", 1, SUBMISSION_SECONDS, when_failing=True)


def _page_language(request: HttpRequest, customer: Customer) -> str:
    """The visitor's pick from the language switch (its cookie), else the customer's own."""
    if request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME):
        return translation.get_language()
    return customer.language or translation.get_language()


def case_view(view=None, *, page: bool = False):
    """A page or action of one case: the browser must have opened it (else the plain 404);
    runs in the customer's language and time zone. ``page``: the page itself, which reads
    only the columns it shows (access.PAGE_COLUMNS); actions get whole rows."""
    if view is None:
        return functools.partial(case_view, page=page)

    @functools.wraps(view)
    def wrapped(request, public_id: UUID, *args, **kwargs):
        now = timezone.now()
        link = access.case_link(request, public_id, now=now, page=page)
        if link is None:
            return not_found(request)
        customer = link.ticket.customer
        language = _page_language(request, customer)
        zone = zoneinfo.ZoneInfo(
            valid_time_zone(customer.time_zone) or settings.DEFAULT_DISPLAY_TIME_ZONE
        )
        with translation.override(language), timezone.override(zone):
            request.LANGUAGE_CODE = language
            return view(request, link, now, *args, **kwargs)

    return private(wrapped)


def _case_url(ticket: Ticket, section: str = "") -> str:
    url = reverse("portal:case", args=[ticket.public_id])
    return f"{url}#{section}" if section else url


def _page(
    request,
    link,
    now,
    *,
    forms=None,
    status=200,
    section: str = "",
    note: str = "",
    page: selectors.CasePage | None = None,
    extra: dict | None = None,
) -> HttpResponse:
    """The whole page, or with htmx the one section a form was sent from."""
    page = page or selectors.case_page(link, now=now, full=request.GET.get("all") == "1")
    customer = page.customer
    context = {
        "page": page,
        "ticket": page.ticket,
        "reply_form": ReplyForm(),
        "remedy_form": RemedyChoiceForm(),
        "preferences_form": PreferencesForm(instance=customer),
        "survey_form": SurveyForm(initial=_survey_initial(page.survey)),
        "time_zone": customer.time_zone,
        "section_note": note,
        **(forms or {}),
        **(extra or {}),
    }
    template = "portal/case.html"
    if section and request.htmx and not request.htmx.history_restore_request:
        template = f"portal/case.html#{section}"
    return render(request, template, context, status=status)


FORM_OF_SECTION = {
    "conversation": "reply_form",
    "remedies": "remedy_form",
    "preferences": "preferences_form",
    "survey": "survey_form",
}


def _again(request, link, now, section: str, form, status: int) -> HttpResponse:
    """A form that could not be done, back as it was sent, with its messages."""
    return _page(
        request, link, now, forms={FORM_OF_SECTION[section]: form}, status=status, section=section
    )


def _survey_initial(survey: SatisfactionSurvey | None) -> dict:
    if survey is None or survey.rating is None:
        return {}
    return {"rating": survey.rating, "reason": survey.reason, "comment": survey.comment}


def _done(
    request, link, now, section: str, message: str, *, ticket=None, reload: bool = False
) -> HttpResponse:
    """After an action. Without htmx: a redirect back to the page's section, with the message.
    With htmx: the section comes back in place with the message in it; the whole page reloads
    when the action changed more than its section (``reload``: the page's language) or the
    browser moves on to another case (``ticket``: a follow-up)."""
    target = ticket or link.ticket
    if request.htmx and target.pk == link.ticket.pk and not reload:
        return _page(request, link, now, section=section, note=message)
    messages.success(request, message)
    if not request.htmx:
        return redirect(_case_url(target, section))
    if target.pk != link.ticket.pk:
        return HttpResponseClientRedirect(_case_url(target, section))
    return HttpResponseClientRefresh()


# --- ways in -------------------------------------------------------------------------------------


@private
@rate_limited("public-link", "RATELIMIT_PUBLIC_LINK")
@require_GET
def exchange(request: HttpRequest, token: str) -> HttpResponse:
    """A link from a notice: open its case in this browser and go to the case's URL."""
    link = links.usable_link(token, now=timezone.now())
    if link is None:
        return not_found(request)
    access.grant(request, link, link.ticket.public_id)
    return redirect(_case_url(link.ticket))


@csrf_protect_portal
@private
@rate_limited("public-link", "RATELIMIT_PUBLIC_LINK")
@require_http_methods(["GET", "POST"])
def lookup(request: HttpRequest) -> HttpResponse:
    """The order or tracking number and the email, phone or postal code of the order."""
    form = LookupForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            now = timezone.now()
            data = form.cleaned_data
            ticket = selectors.find_case(data["reference"], data["proof"], now=now)
            if ticket is not None:
                link = links.anchor_link(ticket, kind=LinkKind.LOOKUP, now=now)
                access.grant(request, link, ticket.public_id)
                return redirect(_case_url(ticket))
            status = 404
            form.add_error(
                None,
                _(
                    "We could not find a case with these details. Please check the number "
                    "and use the email, phone number or postal code of the order."
                ),
            )
    return render(request, "portal/lookup.html", {"form": form}, status=status)


@private
@rate_limited("public-link", "RATELIMIT_PUBLIC_LINK")
@require_http_methods(["GET", "POST"])
def legacy_survey(request: HttpRequest, token: str) -> HttpResponse:
    """A survey link sent before the survey moved to the progress page: open the case and go
    to its survey section."""
    now = timezone.now()
    survey = (
        SatisfactionSurvey.objects.filter(
            links.ticket_reachable(now, prefix="ticket__"),
            legacy_token_hash=links.hash_token(token),
        )
        .select_related("ticket")
        .only("pk", "ticket__id", "ticket__public_id")
        .first()
    )
    if survey is None:
        return not_found(request)
    link = links.anchor_link(survey.ticket, kind=LinkKind.SURVEY, now=now)
    access.grant(request, link, survey.ticket.public_id)
    return redirect(_case_url(survey.ticket, "survey"))


@csrf_protect_portal
@private
@require_POST
def language(request: HttpRequest) -> HttpResponse:
    """The page's language switch (Django's own set_language would refuse the page's plain
    form: see portal.csrf): remembers the choice in the language cookie, back to the page."""
    code = request.POST.get("language", "")
    target = request.POST.get("next", "")
    if not target.startswith("/t/") or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("portal:lookup")
    response = redirect(target)
    if code in dict(settings.LANGUAGES):
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            code,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )
    return response


# --- the case ------------------------------------------------------------------------------------


@require_GET
@case_view(page=True)
def case(request: HttpRequest, link: ProgressLink, now) -> HttpResponse:
    """The page; kept and served again while its case is unchanged (portal.page_cache)."""
    if not page_cache.servable(request):
        return _page(request, link, now)
    full = request.GET.get("all") == "1"
    key = page_cache.key(
        link,
        language=translation.get_language(),
        zone=timezone.get_current_timezone_name(),
        full=full,
    )
    text = page_cache.get(key, now=now)
    if text is None:
        page = selectors.case_page(link, now=now, full=full)
        response = _page(request, link, now, page=page, extra={"csrf_token": page_cache.CSRF_SLOT})
        text = response.content.decode(response.charset)
        page_cache.put(key, text, now=now, changes_at=page.changes_at)
    return HttpResponse(page_cache.fill(text, request))


@csrf_protect_portal
@require_POST
@case_view
def reply(request: HttpRequest, link: ProgressLink, now) -> HttpResponse:
    """The customer writes: a customer message (restarts the next-response clock, reopens a
    solved ticket inside the reopen window, else opens a follow-up case)."""
    ticket = link.ticket
    form = ReplyForm(request.POST)
    if not form.is_valid():
        return _again(request, link, now, "conversation", form, 422)
    if not _first_use(form.cleaned_data["submission"]):
        return _done(request, link, now, "conversation", _("Your message was already sent."))
    try:
        result = add_customer_message(ticket=ticket, body=form.cleaned_data["body"], now=now)
    except TicketActionError as error:
        form.add_error("body", error)
        return _again(request, link, now, "conversation", form, 422)
    if result.follow_up:
        follow_up = result.message.ticket
        anchor = links.anchor_link(follow_up, kind=LinkKind.LOOKUP, now=now)
        access.grant(request, anchor, follow_up.public_id)
        return _done(
            request,
            link,
            now,
            "conversation",
            _("This case was closed, so we opened a new one with your message."),
            ticket=follow_up,
        )
    return _done(
        request, link, now, "conversation", _("Thank you: your message was sent to our team.")
    )


@csrf_protect_portal
@require_POST
@case_view
def choose_remedy(request: HttpRequest, link: ProgressLink, now) -> HttpResponse:
    """One choice among the offered alternatives, once (compensation.services.offer_choose)."""
    ticket = link.ticket
    form = RemedyChoiceForm(request.POST)
    offer = None
    if form.is_valid():
        offer = (
            CompensationOffer.objects.filter(
                ticket=ticket, public_id=form.cleaned_data["offer"], choice_group__isnull=False
            )
            .select_related("ticket")
            .first()
        )
        if offer is None:
            form.add_error("offer", _("Please choose one of the remedies."))
    if offer is None:
        return _again(request, link, now, "remedies", form, 422)
    try:
        chosen = compensation.offer_choose(offer=offer, now=now)
    except CompensationError as error:
        if getattr(error, "code", "") == "already_chosen":
            form.add_error(None, _("You have already chosen a remedy for this case."))
        else:
            form.add_error(None, _("This remedy can no longer be chosen."))
        return _again(request, link, now, "remedies", form, 409)
    if chosen.status == OfferStatus.ISSUED:
        message = _("Thank you: your remedy is on its way. You will find the details below.")
    else:
        message = _("Thank you: we have your choice and will send the details shortly.")
    return _done(request, link, now, "remedies", message)


@csrf_protect_portal
@require_POST
@case_view
def preferences(request: HttpRequest, link: ProgressLink, now) -> HttpResponse:
    """How and when the customer hears from us."""
    customer = link.ticket.customer
    form = PreferencesForm(request.POST, instance=customer)
    if not form.is_valid():
        return _again(request, link, now, "preferences", form, 422)
    form.save()
    with translation.override(form.cleaned_data["language"]):
        message = _("Saved: we will keep in touch the way you chose.")
    response = _done(request, link, now, "preferences", message, reload=True)
    # The page follows the language chosen for our messages.
    response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)
    return response


@csrf_protect_portal
@require_POST
@case_view
def survey(request: HttpRequest, link: ProgressLink, now) -> HttpResponse:
    """The satisfaction survey of the latest resolution: answer, or change it for a while."""
    ticket = link.ticket
    latest = selectors.latest_survey(ticket)
    form = SurveyForm(request.POST)
    if latest is None or ticket.status not in ("solved", "closed"):
        form.add_error(None, _("There is no survey to answer for this case yet."))
        return _again(request, link, now, "survey", form, 409)
    if not form.is_valid():
        return _again(request, link, now, "survey", form, 422)
    outcome = survey_answer(
        survey=latest,
        rating=form.cleaned_data["rating"],
        comment=form.cleaned_data["comment"],
        reason=form.cleaned_data["reason"],
        now=now,
    )
    if outcome == SurveyOutcome.CLOSED:
        form.add_error(None, _("This survey is closed: your answer can no longer be changed."))
        return _again(request, link, now, "survey", form, 409)
    if outcome == SurveyOutcome.CHANGED:
        return _done(request, link, now, "survey", _("Your answer was updated. Thank you!"))
    return _done(
        request, link, now, "survey", _("Thank you for your rating: it helps us do better.")
    )


# --- agents: the ticket page's panel -------------------------------------------------------------


def console_view(view):
    return login_required(permission_required("tickets.work_console", raise_exception=True)(view))


def _agent_ticket(request, public_id: UUID) -> Ticket | None:
    return (
        Ticket.objects.visible_to(request.user)
        .only("pk", "public_id", "subject", "closed_at", "status")
        .filter(public_id=public_id)
        .first()
    )


@require_GET
@console_view
def link_panel(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The ticket page's "Progress page" panel: whether the customer has a working link, and
    a button to revoke every link and open page."""
    ticket = _agent_ticket(request, public_id)
    if ticket is None:
        raise Http404("No such ticket")
    return panels.render_panel(
        request,
        fragment="portal/_link_panel.html",
        page="portal/link_panel.html",
        context={"ticket": ticket, "state": selectors.link_state(ticket, now=timezone.now())},
    )


@require_POST
@console_view
def link_revoke(request: HttpRequest, public_id: UUID) -> HttpResponse:
    ticket = _agent_ticket(request, public_id)
    if ticket is None:
        raise Http404("No such ticket")
    count = links.revoke_links(ticket, by=request.user, now=timezone.now())
    if count:
        messages.success(
            request,
            _("The customer's progress links no longer work. Their next notice brings a new one."),
        )
    else:
        messages.info(request, _("There was no working link to revoke."))
    target = reverse("tickets:ticket_detail", args=[ticket.public_id])
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
