"""The role matrix: every route, every role, the answer the design gives (issue 11).

Routes are enumerated, never listed by hand: every admin URL of every registered ModelAdmin
(changelist, add, change, delete and history of a real row, and any extra URL it adds), the
admin site's own URLs, and every other URL pattern of the project. A route this file has not
placed in the matrix makes it fail, so whoever adds a page, an endpoint or an admin decides who
may reach it. Each role asks with the method the route answers (a POST-only action gets an
empty POST after its 405 to a GET), and the answer is sorted into a kind:

- `login`: redirected to the login page; `admin_login`: to the admin's login page;
- `denied` (403), `unauthorized` (401), `not_found` (404);
- `bad_request`: another 4xx, the request was let in and then refused for what it carried;
- `ok`: any 2xx or a redirect elsewhere. A 5xx is never expected.

Roles: anonymous, agent (in team A), supervisor, operator, superuser, and integration (a
merchant system's user with an API token; in a browser it has a session like anyone else).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from rest_framework.authtoken.models import Token, TokenProxy

from core import audit
from core.models import AuditAction, Heartbeat
from core.roles import INTEGRATION
from portal.links import PortalLinks, hash_token
from tests import factories
from tests.test_admin import BUILDERS
from tickets.models import Macro, SatisfactionSurvey, Ticket

pytestmark = pytest.mark.django_db

# The admin's final catch-all pattern (a 404 for those it lets in, else its login).
CATCH_ALL = "admin/(?P<url>.*)$"

ROLES = ("anonymous", "agent", "supervisor", "operator", "superuser", "integration")
ADMITTED = {"operator", "superuser"}  # to the admin

OK = frozenset({"ok", "bad_request"})  # let in (what it then says about the content is its own)
LOGIN = frozenset({"login"})
ADMIN_LOGIN = frozenset({"admin_login"})
DENIED = frozenset({"denied"})
NOT_FOUND = frozenset({"not_found"})
NO_CREDENTIALS = frozenset({"unauthorized", "denied"})
# Carrier webhook and delivery receipts: the signature is the credential, a session is nothing.
UNSIGNED = frozenset({"unauthorized", "denied", "bad_request"})


def kind(response) -> str:
    status = response.status_code
    if status >= 500:
        return f"server_error {status}"
    if 300 <= status < 400:
        location = response["Location"]
        if location.startswith(resolve_url(settings.LOGIN_URL)):
            return "login"
        if location.startswith(reverse("admin:login")):
            return "admin_login"
        return "ok"
    return {401: "unauthorized", 403: "denied", 404: "not_found", 405: "method_not_allowed"}.get(
        status, "bad_request" if status >= 400 else "ok"
    )


# --- The world every role looks at ----------------------------------------------------------


@dataclass
class World:
    users: dict[str, Any]
    token: str
    own_ticket: Ticket  # in the agent's team
    other_ticket: Ticket  # in another team, with its own customer and shipment
    macro: Macro
    progress_token: str  # a progress link's token for own_ticket, as a notice carries it
    survey_token: str  # an old survey link's token (before the survey moved to the page)

    def incident(self):
        return factories.IncidentFactory()  # a fresh one: resolving it is a one-way trip


def build_world() -> World:
    team_a, team_b = factories.TeamFactory(), factories.TeamFactory()
    agent = factories.AgentFactory(username="matrix-agent")
    factories.AgentProfileFactory(user=agent, team=team_a)
    integration = factories.UserFactory(username="matrix-merchant")
    integration.groups.add(Group.objects.get(name=INTEGRATION))
    users = {
        "agent": agent,
        "supervisor": factories.SupervisorFactory(username="matrix-supervisor"),
        "operator": factories.OperatorFactory(username="matrix-operator"),
        "superuser": factories.UserFactory(
            username="matrix-root", is_staff=True, is_superuser=True
        ),
        "integration": integration,
    }
    own_ticket = factories.TicketFactory(team=team_a)
    minted = PortalLinks().mint([own_ticket.pk], now=timezone.now())[own_ticket.pk]
    progress_token = minted.url.rstrip("/").rsplit("/", 1)[1]
    SatisfactionSurvey.objects.create(
        ticket=own_ticket,
        resolved_at=timezone.now(),
        legacy_token_hash=hash_token("matrix-old-survey-token"),
    )
    return World(
        users=users,
        token=Token.objects.create(user=integration).key,
        own_ticket=own_ticket,
        other_ticket=factories.TicketFactory(team=team_b),
        macro=Macro.objects.create(
            slug="matrix-macro", language="en", title="Delay", body="Hello {customer_name}"
        ),
        progress_token=progress_token,
        survey_token="matrix-old-survey-token",
    )


def client_for(role: str, world: World) -> Client:
    """A fresh client per request: an answer (a logout, a language switch) never carries over."""
    client = Client()
    if role != "anonymous":
        client.force_login(world.users[role])
    if role == "integration":
        client.defaults["HTTP_AUTHORIZATION"] = f"Token {world.token}"
    return client


def ask(client: Client, url: str):
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {})
    return response


# --- Every route outside the admin ----------------------------------------------------------


def walk(patterns, prefix: str = "", namespace: str | None = None):
    """(key, route, pattern) of every URL pattern; key is the namespaced name, else the route."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from walk(pattern.url_patterns, route, inner)
        else:
            assert isinstance(pattern, URLPattern)
            name = pattern.name and (f"{namespace}:{pattern.name}" if namespace else pattern.name)
            yield name or route, route, pattern


def all_routes() -> dict[str, tuple[str, URLPattern]]:
    return {key: (route, pattern) for key, route, pattern in walk(get_resolver().url_patterns)}


def is_admin(key: str) -> bool:
    return key.startswith(("admin:", "admin/")) and key not in ROUTES


@dataclass(frozen=True)
class Route:
    """Where a route sits in the matrix.

    area: `public`, `home`, `console`, `supervisor`, `api`, `api_supervisor` (an API action
    for supervisors only), `signed` or `customer` (a case page: only the browser that opened
    its link, whatever the role).
    params: the path parameters it may take, from the world and the ticket asked about.
    scoped: answers about one ticket (or its customer) and follows the agent's team scope.
    """

    area: str
    params: Callable[[World, Ticket], dict] | None = None
    scoped: bool = False
    lands_on_login: bool = False  # a logout answers with the login page, by design


def _ticket(world: World, ticket: Ticket) -> dict:
    # Console pages name a ticket by public_id, the API by `id` (its lookup keyword).
    return {"public_id": ticket.public_id, "id": ticket.public_id, "pk": ticket.public_id}


def _incident(world: World, ticket: Ticket) -> dict:
    return {"public_id": world.incident().public_id}


def _offer(world: World, ticket: Ticket) -> dict:
    # An offer already decided: approving or rejecting it again is refused (409) for whoever
    # may decide at all, so the matrix changes nothing.
    offer = factories.CompensationOfferFactory(
        ticket=ticket, status="issued", issued_at=timezone.now()
    )
    return {"id": offer.public_id}


def _pending_offer(world: World, ticket: Ticket) -> dict:
    # A fresh offer waiting for approval: whoever may decide gets an answer about it.
    offer = factories.CompensationOfferFactory(ticket=ticket, status="pending_approval")
    return {"public_id": offer.public_id}


def _chosen_alternative(world: World, ticket: Ticket) -> dict:
    # An alternative the customer already chose (issued): recording the choice again is
    # refused (409) for whoever may reach the ticket, so the matrix changes nothing.
    offer = factories.CompensationOfferFactory(
        ticket=ticket, status="issued", issued_at=timezone.now(), choice_group=uuid.uuid4()
    )
    return {**_ticket(world, ticket), "offer_id": offer.public_id}


TICKET_PAGE = Route("console", _ticket, scoped=True)

ROUTES: dict[str, Route] = {
    "home": Route("home"),
    "healthz": Route("public"),
    "login": Route("public"),
    "logout": Route("public", lands_on_login=True),
    "set_language": Route("public"),
    "admin/login/": Route("public"),  # the admin's login form, rate limited (core.login)
    "api-schema": Route("public"),
    "api-docs": Route("public"),
    # The customer's ways in: a link's token, the lookup form, an old survey link. Each
    # answers alike whoever is logged in (a redirect into the case, or the form).
    "portal:lookup": Route("public"),
    "portal:language": Route("public"),
    "portal:exchange": Route("public", lambda w, t: {"token": w.progress_token}),
    "portal:legacy_survey": Route("public", lambda w, t: {"token": w.survey_token}),
    # The case pages: only a browser that opened the case's link; no role opens them.
    "portal:case": Route("customer", _ticket),
    "portal:reply": Route("customer", _ticket),
    "portal:remedy": Route("customer", _ticket),
    "portal:preferences": Route("customer", _ticket),
    "portal:survey": Route("customer", _ticket),
    # The ticket page's progress-link panel and revoking the links: agents in scope.
    "portal:link_panel": TICKET_PAGE,
    "portal:link_revoke": TICKET_PAGE,
    "tickets:console": Route("console"),
    "tickets:console_counts": Route("console"),
    "tickets:ticket_detail": TICKET_PAGE,
    "tickets:macro_render": Route(
        "console", lambda w, t: {**_ticket(w, t), "macro_id": w.macro.pk}, scoped=True
    ),
    "tickets:assign_form": TICKET_PAGE,
    "tickets:ticket_claim": TICKET_PAGE,
    "tickets:ticket_release": TICKET_PAGE,
    "tickets:ticket_assign": TICKET_PAGE,
    "tickets:ticket_reply": TICKET_PAGE,
    "tickets:ticket_note": TICKET_PAGE,
    "tickets:ticket_status": TICKET_PAGE,
    "tickets:ticket_priority": TICKET_PAGE,
    "tickets:ticket_category": TICKET_PAGE,
    "tickets:ticket_carrier_contacted": TICKET_PAGE,
    "tickets:ticket_milestone_done": TICKET_PAGE,
    "notifications:ticket_history": TICKET_PAGE,
    "compensation:ticket_panel": TICKET_PAGE,
    "compensation:ticket_offer": TICKET_PAGE,
    "compensation:offer_choose": Route("console", _chosen_alternative, scoped=True),
    "notifications:customer_detail": Route(
        "console", lambda w, t: {"public_id": t.customer.public_id}, scoped=True
    ),
    # Every console user reads every shipment; what it shows of tickets follows the scope
    # (test_shipment_page.py).
    "shipments:shipment_detail": Route("console", lambda w, t: {"public_id": t.shipment.public_id}),
    # Its late-delivery forecast panel (htmx, after the page): the same role and shipments.
    "shipments:shipment_risk": Route("console", lambda w, t: {"public_id": t.shipment.public_id}),
    # Its tickets panel (the tickets app's): the same role; the tickets in it follow the scope
    # (tests/tickets/test_shipment_panel.py), so another team's shipment is an empty list.
    "tickets:shipment_tickets": Route("console", lambda w, t: {"public_id": t.shipment.public_id}),
    "supervisor:home": Route("supervisor"),
    # The lists behind the dashboard's figures: supervisors (tickets.supervise), read-only.
    "supervisor:drilldown_tickets": Route("supervisor"),
    "supervisor:drilldown_shipments": Route("supervisor"),
    # Root causes and carrier reliability (and their CSV): supervisors, read-only.
    "supervisor:causes": Route("supervisor"),
    "incidents:new": Route("supervisor"),
    "incidents:resolve": Route("supervisor", _incident),
    "notifications:incident_notify": Route("supervisor", _incident),
    # The approval queue: the approve permission (supervisors), POST for the decisions.
    "supervisor:approvals": Route("supervisor"),
    # Budgets with what they spent and committed: supervisors (tickets.supervise), read-only.
    "supervisor:budgets": Route("supervisor"),
    # Agent scorecards (and their CSV): supervisors (tickets.supervise), read-only.
    "supervisor:scorecards": Route("supervisor"),
    "supervisor:approval_approve": Route("supervisor", _pending_offer),
    "supervisor:approval_reject": Route("supervisor", _pending_offer),
    "supervisor:approval_incident": Route("supervisor", _incident),
    # An incident's bulk offer: the approve permission (supervisors), GET the form, POST it.
    "supervisor:incident_offer": Route("supervisor", _incident),
    # Incident pages (supervisor.incidents): supervisors (tickets.supervise); the list and an
    # incident read-only, the explanation and the bulk actions POST (an empty POST is a field
    # message: 422).
    "supervisor:incidents": Route("supervisor"),
    "supervisor:incident_detail": Route("supervisor", _incident),
    "supervisor:incident_explanation": Route("supervisor", _incident),
    "supervisor:incident_notify_all": Route("supervisor", _incident),
    "supervisor:incident_resolve": Route("supervisor", _incident),
    "shipments_api:tracking-events": Route("signed"),
    "notifications_api:sms-receipts": Route("signed"),
    "shipments_api:shipment-list": Route("api"),
    "shipments_api:shipment-detail": Route(
        "api", lambda w, t: {"tracking_number": t.shipment.tracking_number}
    ),
    "tickets_api:ticket-list": Route("api"),
    "tickets_api:ticket-detail": Route("api", _ticket, scoped=True),
    "tickets_api:ticket-messages": Route("api", _ticket, scoped=True),
    "compensation_api:compensation-list": Route("api"),
    "compensation_api:compensation-detail": Route("api", _offer, scoped=True),
    # Deciding on compensation through the API: supervisors only (the approve permission).
    "compensation_api:compensation-approve": Route("api_supervisor", _offer),
    "compensation_api:compensation-reject": Route("api_supervisor", _offer),
}


def expected(route: Route, role: str, *, cross_team: bool = False) -> frozenset[str]:
    """The design (DESIGN.md, core/roles.py, issue 11) as a table."""
    area = route.area
    if area == "public":
        return OK | LOGIN if route.lands_on_login else OK
    if area == "signed":
        return UNSIGNED
    if area == "customer":
        return NOT_FOUND
    if role == "anonymous":
        return NO_CREDENTIALS if area in {"api", "api_supervisor"} else LOGIN
    if area == "home":
        # Each role lands where it works; an API-only user has no page.
        return DENIED if role == "integration" else OK
    if area in {"supervisor", "api_supervisor"}:
        return OK if role in {"supervisor", "superuser"} else DENIED
    # Console pages and the API: the console's team scope for agents; operators configure and
    # read no ticket; a merchant system reaches the API only.
    if role == "operator" or (role == "integration" and area == "console"):
        return DENIED
    if role == "agent" and cross_team:
        return NOT_FOUND
    return OK


def url_of(key: str, route: str, pattern: URLPattern, params: dict) -> str:
    wanted = set(pattern.pattern.regex.groupindex)
    missing = wanted - set(params)
    assert not missing, f"{key}: no value for path parameters {missing}"
    kwargs = {name: params[name] for name in wanted}
    if key == route:  # unnamed
        assert not kwargs, f"{key}: an unnamed route with parameters"
        return "/" + route
    return reverse(key, kwargs=kwargs)


def test_every_route_is_in_the_matrix():
    routes = {key for key in all_routes() if not is_admin(key)}

    assert routes - set(ROUTES) == set(), "new routes: place them in ROUTES"
    assert set(ROUTES) - routes == set(), "routes that no longer exist"


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_each_role_as_designed(role):
    world = build_world()
    wrong = []
    for key, (route_string, pattern) in sorted(all_routes().items()):
        if is_admin(key):
            continue
        route = ROUTES[key]
        cases = [(world.own_ticket, False)]
        if route.scoped:
            cases.append((world.other_ticket, True))
        for ticket, cross_team in cases:
            params = route.params(world, ticket) if route.params else {}
            url = url_of(key, route_string, pattern, params)
            got = kind(ask(client_for(role, world), url))
            want = expected(route, role, cross_team=cross_team)
            if got not in want:
                wrong.append(
                    f"{role} {url} ({key}{', other team' if cross_team else ''}): "
                    f"{got}, expected {sorted(want)}"
                )
    assert not wrong, "\n".join(wrong)


# --- The admin --------------------------------------------------------------------------------

# What operators do with each registered model (by label). Every registered model must be here.
CONFIGURES = {
    "shipments.Carrier",
    "shipments.CarrierStatusMapping",
    "shipments.Lane",
    "shipments.DelayRule",
    "tickets.BusinessCalendar",
    "tickets.WorkingHours",
    "tickets.CalendarException",
    "tickets.Team",
    "tickets.AgentProfile",
    "tickets.PriorityRule",
    "tickets.SLAPolicy",
    "tickets.SLATarget",
    "tickets.Macro",
    "compensation.CompensationPolicy",
    "compensation.PolicyRemedy",
    "compensation.AuthorityLimit",
    "compensation.Budget",
    "notifications.NotificationTemplate",
}
# Shown to operators, changed by code or by other roles.
READS = {
    "auth.User",  # accounts and roles are the superusers' (core.roles)
    "core.Heartbeat",
    "core.AuditEntry",  # written by the services and the audited admins (core.audit)
    "shipments.UnmappedStatusCode",  # the operators' to-do list: map the code on the carrier
    "auth.Group",  # synced from core.roles on every migrate
    "shipments.Incident",  # budgets name one; supervisors run them
    "shipments.LateModel",  # trained by the weekly task; its validation figures are shown
    "axes.AccessLog",
    "axes.AccessFailureLog",
    "django_celery_beat.PeriodicTask",  # declared in code (core.schedules)
    "django_celery_beat.IntervalSchedule",
    "django_celery_beat.CrontabSchedule",
    "django_celery_beat.SolarSchedule",
    "django_celery_beat.ClockedSchedule",
}
# Deleting an access attempt unlocks the user or address it locked.
UNLOCKS = {"axes.AccessAttempt"}
# Customers, parcels, tickets, their history and money: the console's business, never the
# operator's (they have no team scope).
NEVER = {
    "customers.Customer",
    "shipments.Shipment",
    "shipments.TrackingEvent",
    "shipments.DelayLevelChange",
    "tickets.Ticket",
    "tickets.Message",
    "tickets.TicketEvent",
    "tickets.SLATimer",
    "compensation.CompensationOffer",
    "compensation.ApprovalRequest",
    "compensation.IssuedCode",
    "compensation.RefundEntry",
    "compensation.LoyaltyEntry",
    "compensation.Reshipment",
    "compensation.SeniorCall",
    "notifications.Notification",
    "tickets.SatisfactionSurvey",
    "portal.ProgressLink",
    "authtoken.TokenProxy",  # API credentials: superusers only
}
OPERATOR_CANNOT_ADD = {"tickets.PriorityRule"}  # a fixed tier x severity grid
OPERATOR_CANNOT_DELETE = {"tickets.PriorityRule"}

# Read-only for everyone, superusers included: the record of what happened.
HISTORY = {
    "shipments.TrackingEvent",
    "shipments.DelayLevelChange",
    "tickets.Message",
    "tickets.TicketEvent",
    "tickets.SLATimer",
    "compensation.ApprovalRequest",
    # What issuing a remedy left behind (compensation.issuance): codes (hashed), refund and
    # points ledgers, reships, senior calls.
    "compensation.IssuedCode",
    "compensation.RefundEntry",
    "compensation.LoyaltyEntry",
    "compensation.Reshipment",
    "compensation.SeniorCall",
    # Progress links: made for notices, revoked from the ticket page (portal).
    "portal.ProgressLink",
    # The audit trail: append-only, in the database too (core.audit).
    "core.AuditEntry",
}
# Never typed in, by anyone: services create them (or, for axes, the login).
NEVER_ADDED = HISTORY | {
    "tickets.Ticket",
    "compensation.CompensationOffer",  # money: only through the services' authority checks
    "notifications.Notification",
    "tickets.SatisfactionSurvey",
    "core.Heartbeat",
    "axes.AccessAttempt",
    "axes.AccessLog",
    "axes.AccessFailureLog",
}
NEVER_DELETED = HISTORY | {"notifications.Notification", "tickets.SatisfactionSurvey"}
# Kept by the webhook's ingest, gone once the code is mapped on the carrier's page.
NEVER_ADDED |= {"shipments.UnmappedStatusCode"}
NEVER_DELETED |= {"shipments.UnmappedStatusCode"}
# Late-delivery models are trained (shipments.risk), never typed in, and kept with their
# figures: a version once active is the record of what drove the warnings.
NEVER_ADDED |= {"shipments.LateModel"}
NEVER_DELETED |= {"shipments.LateModel"}

MODEL_VIEWS = ("changelist", "add", "change", "delete", "history")


def registered() -> dict[str, type[Model]]:
    return {model._meta.label: model for model in admin.site._registry}


def admin_row(model: type[Model], world: World) -> Model:
    """A real row of each registered model."""
    label = model._meta.label
    if model in BUILDERS:
        return BUILDERS[model]()
    now = timezone.now()
    access = {"username": "locked-out", "ip_address": "203.0.113.9", "user_agent": "Firefox"}
    interval = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.SECONDS)
    rows: dict[str, Callable[[], Model]] = {
        "auth.User": lambda: world.users["agent"],
        "auth.Group": lambda: Group.objects.get(name="agent"),
        "authtoken.TokenProxy": lambda: TokenProxy.objects.get(user=world.users["integration"]),
        "core.Heartbeat": lambda: Heartbeat.objects.create(name="matrix", last_seen_at=now),
        "core.AuditEntry": lambda: audit.record(
            AuditAction.ROLES_CHANGED,
            actor=world.users["superuser"],
            obj=world.users["agent"],
            before={"groups": []},
            after={"groups": ["agent"]},
        ),
        "axes.AccessAttempt": lambda: AccessAttempt.objects.create(
            **access, get_data="", post_data="", failures_since_start=5
        ),
        "axes.AccessLog": lambda: AccessLog.objects.create(**access),
        "axes.AccessFailureLog": lambda: AccessFailureLog.objects.create(**access),
        "django_celery_beat.IntervalSchedule": lambda: interval,
        "django_celery_beat.PeriodicTask": lambda: PeriodicTask.objects.create(
            name="matrix", task="core.heartbeat", interval=interval
        ),
        "django_celery_beat.CrontabSchedule": lambda: CrontabSchedule.objects.create(),
        "django_celery_beat.SolarSchedule": lambda: SolarSchedule.objects.create(
            event="sunrise", latitude=52.5, longitude=13.4
        ),
        "django_celery_beat.ClockedSchedule": lambda: ClockedSchedule.objects.create(
            clocked_time=now
        ),
    }
    assert label in rows, f"{label}: add a row builder (tests/test_admin.py BUILDERS or here)"
    return rows[label]()


def expected_admin(label: str, view: str, role: str) -> frozenset[str]:
    if role not in ADMITTED:
        return ADMIN_LOGIN
    if role == "superuser":
        if (view == "add" and label in NEVER_ADDED) or (
            view == "delete" and label in NEVER_DELETED
        ):
            return DENIED
        return frozenset({"ok"})
    # operator
    if label in NEVER:
        return DENIED
    if view == "edit":  # a page that changes the row (a password), not its view-only form
        return frozenset({"ok"}) if label in CONFIGURES else DENIED
    if view in {"changelist", "change", "history"}:
        return frozenset({"ok"})
    if label in CONFIGURES:
        refused = OPERATOR_CANNOT_ADD if view == "add" else OPERATOR_CANNOT_DELETE
        return (
            DENIED
            if label in refused or (view == "add" and label in NEVER_ADDED)
            else frozenset({"ok"})
        )
    if label in UNLOCKS and view == "delete":
        return frozenset({"ok"})
    return DENIED


# The admin site's own URLs (not a model's): the same gate, then their own answer.
SITE_URLS: dict[str, Callable[[World], str]] = {
    "admin:index": lambda w: reverse("admin:index"),
    "admin:login": lambda w: reverse("admin:login"),
    "admin:logout": lambda w: reverse("admin:logout"),
    "admin:password_change": lambda w: reverse("admin:password_change"),
    "admin:password_change_done": lambda w: reverse("admin:password_change_done"),
    "admin:jsi18n": lambda w: reverse("admin:jsi18n"),
    "admin:autocomplete": lambda w: (
        reverse("admin:autocomplete")
        + "?app_label=tickets&model_name=ticket&field_name=customer&term=a"
    ),
    "admin:app_list": lambda w: reverse("admin:app_list", kwargs={"app_label": "tickets"}),
    "admin:view_on_site": lambda w: reverse(
        "admin:view_on_site",
        kwargs={
            "content_type_id": ContentType.objects.get_for_model(Ticket).pk,
            "object_id": w.own_ticket.pk,
        },
    ),
}


def expected_site(key: str, role: str) -> frozenset[str]:
    if key == "admin:login":
        return frozenset({"ok"})  # the form (or, for those it lets in, their index)
    if key == "admin:logout":
        return frozenset({"ok", "login"})  # to the login page, or the index if not logged in
    if key == CATCH_ALL:
        return NOT_FOUND if role in ADMITTED else frozenset({"admin_login", "not_found"})
    if role not in ADMITTED:
        return ADMIN_LOGIN
    if key == "admin:autocomplete":
        # Ticket autocompletes read customers: not an operator's business.
        return frozenset({"ok"}) if role == "superuser" else DENIED
    if key == "admin:view_on_site":
        return NOT_FOUND | {"ok"}  # a ticket has no public page to jump to
    return frozenset({"ok"})


def model_url_names(model: type[Model]) -> set[str]:
    app, name = model._meta.app_label, model._meta.model_name
    # ... and the unnamed /admin/<app>/<model>/<id>/ that redirects to the change page.
    return {f"admin:{app}_{name}_{view}" for view in MODEL_VIEWS} | {
        f"admin/{app}/{name}/<path:object_id>/"
    }


# Extra URLs a ModelAdmin adds beyond the five, with the row they are asked about; each is a
# page that changes its row ("edit" in expected_admin).
EXTRA_ADMIN_URLS: dict[str, Callable[[World, Model], str]] = {
    "admin:auth_user_password_change": lambda w, row: reverse(
        "admin:auth_user_password_change", args=[row.pk]
    ),
}


def test_every_admin_url_is_in_the_matrix():
    models = registered()
    assert set(models) - (CONFIGURES | READS | UNLOCKS | NEVER) == set(), "place new models"
    assert not (CONFIGURES & READS or CONFIGURES & NEVER or READS & NEVER)
    admin_keys = {key for key in all_routes() if key.startswith(("admin:", "admin/"))}
    admin_keys -= set(ROUTES)  # the admin login's rate-limited front (core.login) is public
    known = set(SITE_URLS) | {CATCH_ALL} | set(EXTRA_ADMIN_URLS)
    for model in models.values():
        known |= model_url_names(model)
    assert admin_keys - known == set(), "new admin URLs: place them in the matrix"


@pytest.mark.parametrize("role", ROLES)
def test_every_admin_url_answers_each_role_as_designed(role):
    world = build_world()
    wrong = []

    def check(url: str, want: frozenset[str], what: str, follow: bool = False) -> None:
        client = client_for(role, world)
        # Those the admin lets in follow a redirect within it (short URLs); the rest must be
        # sent to its login page at once.
        response = ask(client, url) if not follow else client.get(url, follow=role in ADMITTED)
        got = kind(response)
        if got not in want:
            wrong.append(f"{role} {url} ({what}): {got}, expected {sorted(want)}")

    for key, url_of_site in SITE_URLS.items():
        check(url_of_site(world), expected_site(key, role), key)
    check("/admin/no-such-page/", expected_site(CATCH_ALL, role), CATCH_ALL)

    for label, model in sorted(registered().items()):
        row = admin_row(model, world)
        app, name = model._meta.app_label, model._meta.model_name
        for view in MODEL_VIEWS:
            args = [row.pk] if view in {"change", "delete", "history"} else []
            url = reverse(f"admin:{app}_{name}_{view}", args=args)
            check(url, expected_admin(label, view, role), f"{label} {view}")
        short_url = reverse("admin:index") + f"{app}/{name}/{row.pk}/"
        check(short_url, expected_admin(label, "change", role), f"{label} short URL", follow=True)
        for extra, url_for_row in EXTRA_ADMIN_URLS.items():
            if extra.startswith(f"admin:{app}_{name}_"):
                check(url_for_row(world, row), expected_admin(label, "edit", role), extra)

    assert not wrong, "\n".join(wrong)


def test_the_admin_link_shows_only_to_those_the_admin_lets_in(rf):
    from core.context_processors import roles

    world = build_world()
    for role, page in (("agent", "/console/"), ("supervisor", "/supervisor/")):
        response = client_for(role, world).get(page)
        assert response.status_code == 200
        assert b'href="/admin/"' not in response.content, role
    assert b'href="/admin/"' in client_for("superuser", world).get("/console/").content
    for role in ROLES[1:]:
        request = rf.get("/")
        request.user = world.users[role]
        assert roles(request)["can_use_admin"] == (role in ADMITTED), role
