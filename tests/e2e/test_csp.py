"""Every page works under the Content-Security-Policy (no inline script or style, nothing from
elsewhere, no framing), in a real browser: the console, a ticket (claim and reply through htmx),
the shipment page, the supervisor page, the customer's progress page, the login page, the admin
and the API docs. The browser reports a blocked script or style as a `securitypolicyviolation`
event and a console error; both are collected and must stay empty. The console pages also fit a
phone's width (390 px) without scrolling sideways, in English and in Chinese."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import re
import uuid
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.utils import timezone

from core.roles import SUPERVISOR
from portal.links import PortalLinks
from shipments.models import DelayLevelChange
from tests import factories
from tests.e2e.conftest import browser_missing_reason, settle, track_requests
from tickets.models import SatisfactionSurvey

_missing = browser_missing_reason()
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(_missing is not None, reason=f"browser tests skipped: {_missing}"),
]

if _missing is None:
    from playwright.sync_api import expect

DEFAULT_MACROS = importlib.import_module("tickets.migrations.0003_default_macros")

# Runs in every document before the page's own scripts (Playwright injects it through the
# DevTools protocol, so the policy does not apply to it).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push({
    directive: event.violatedDirective,
    blocked: event.blockedURI,
    source: event.sourceFile + ":" + event.lineNumber,
    sample: event.sample,
  });
});
"""

PHONE = {"width": 390, "height": 844}
# A folder to keep the phone screenshots in, to look at them.
SCREENSHOTS = os.environ.get("DELAYDESK_SCREENSHOTS")


class Watched:
    """A browser page whose console errors, page errors and policy violations are kept."""

    def __init__(self, context, live_server):
        context.add_init_script(RECORD_VIOLATIONS)
        self.live_server = live_server
        self.page = context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("response", self._response)
        self.expected_errors: set[str] = set()

    def _console(self, message) -> None:
        if message.type not in ("error", "warning"):
            return
        if message.text.startswith("Failed to load resource"):
            return  # the response listener names the address
        self.problems.append(f"console {message.type} on {self.page.url}: {message.text}")

    def _response(self, response) -> None:
        # The browser asks for /favicon.ico on pages that name no icon (the admin's).
        if response.status < 400 or response.url in self.expected_errors:
            return
        if response.url.endswith("/favicon.ico"):
            return
        self.problems.append(f"{response.status} for {response.url}")

    def goto(self, path: str, *, status: int = 200):
        url = f"{self.live_server.url}{path}"
        if status >= 400:
            self.expected_errors.add(url)
        response = self.page.goto(url)
        assert response is not None
        assert response.status == status, f"{path} answered {response.status}"
        policy = response.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in policy, f"{path} has no CSP: {policy!r}"
        self.page.wait_for_load_state("load")
        return response

    def assert_clean(self) -> None:
        self.page.wait_for_timeout(200)  # a late violation event (a swapped fragment) arrives
        violations = self.page.evaluate("window.__cspViolations")
        assert violations == [], f"CSP violations on {self.page.url}: {violations}"
        assert self.problems == [], "\n".join(self.problems)


@pytest.fixture
def watched(chromium_browser, live_server):
    contexts = []

    def open_page(*, language: str = "en", viewport: dict | None = None) -> Watched:
        context = chromium_browser.new_context(
            locale="en-US" if language == "en" else "zh-CN",
            timezone_id="UTC",
            viewport=viewport or {"width": 1400, "height": 900},
        )
        context.set_default_timeout(10_000)
        context.add_cookies(
            [{"name": "django_language", "value": language, "url": live_server.url}]
        )
        watched = Watched(context, live_server)
        contexts.append((context, watched.page, track_requests(context)))
        return watched

    yield open_page
    for context, page, inflight in contexts:
        settle(page, inflight)  # nothing in flight when the database is flushed
        context.close()


@pytest.fixture
def world(transactional_db, default_configuration):
    """An agent with a late parcel's ticket, a supervisor, an operator and a solved ticket's
    survey waiting for the customer."""
    DEFAULT_MACROS.install(apps, None)
    alice = factories.AgentFactory(username="alice", first_name="Alice")
    team = factories.AgentProfileFactory(user=alice).team
    factories.SupervisorFactory(username="sam", first_name="Sam")
    factories.UserFactory(username="root", is_superuser=True, is_staff=True)
    customer = factories.CustomerFactory(name="Mei Lin", language="en")
    shipment = factories.ShipmentFactory(
        customer=customer, order_number="ORD-2024-0815", delay_cause="customs_hold"
    )
    factories.TrackingEventFactory(shipment=shipment)
    DelayLevelChange.objects.create(
        shipment=shipment,
        from_level="none",
        to_level="hub_hold",
        cause="customs_hold",
        rule_key="hub_hold_customs",
        changed_at=timezone.now(),
    )
    ticket = factories.TicketFactory(
        subject="Where is my tea set? A rather long subject that must wrap on a phone screen",
        customer=customer,
        shipment=shipment,
        category="delay",
        language="en",
        status="new",
        team=team,
    )
    # An unbroken line as customers paste them: it wraps on a phone instead of widening the page.
    factories.MessageFactory(
        ticket=ticket, body="See https://tracking.example.com/" + "x7" * 60 + " please."
    )
    # Rows for every table of the supervisor page (and the queue's incident badge).
    incident = factories.IncidentFactory(
        title="Customs strike at Leipzig: every parcel through the hub waits", hub="Leipzig"
    )
    ticket.incident = incident
    ticket.save(update_fields=["incident"])
    factories.SLATimerFactory(ticket=ticket, due_at=timezone.now() + dt.timedelta(minutes=30))
    factories.ApprovalRequestFactory(
        offer__ticket=ticket, offer__amount=Decimal("1250.00"), requested_by=alice
    )
    solved = factories.TicketFactory(
        customer=customer, shipment=shipment, status="solved", solved_at=timezone.now()
    )
    SatisfactionSurvey.objects.create(ticket=solved, resolved_at=solved.solved_at)
    link = PortalLinks().mint([solved.pk], now=timezone.now())[solved.pk]
    return {
        "alice": alice,
        "incident": incident,
        "ticket": ticket,
        "shipment": shipment,
        # The solved ticket's progress link, as its survey notice carries it (path only).
        "progress": "/" + link.url.split("://", 1)[1].split("/", 1)[1],
    }


def log_in(watched_page: Watched, username: str, next_path: str) -> None:
    page = watched_page.page
    watched_page.goto(f"/accounts/login/?next={next_path}")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(factories.PASSWORD)
    page.locator("form [type=submit]").last.click()
    expect(page).to_have_url(f"{watched_page.live_server.url}{next_path}")
    page.wait_for_load_state("load")


def settled(page) -> None:
    """htmx has finished swapping and settling. (Not page.wait_for_function: its predicate is a
    string the page would have to evaluate, which the policy refuses.)"""
    busy = page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")
    expect(busy).to_have_count(0)


def test_an_agent_works_a_ticket_without_a_policy_violation(watched, world):
    ticket, shipment = world["ticket"], world["shipment"]
    agent = watched()
    log_in(agent, "alice", "/console/")
    page = agent.page
    page.locator('.tabs [data-queue="unassigned"]').click()
    expect(page.locator("[data-queue-table]")).to_contain_text("Where is my tea set?")
    settled(page)
    agent.assert_clean()

    agent.goto(f"/console/tickets/{ticket.public_id}/")
    page.locator('[data-shortcut="claim"]').click()
    expect(page.locator("[data-toast]")).to_have_text("You claimed the ticket.")
    settled(page)
    page.locator("#reply-body").fill("Hello Mei Lin, your parcel is at customs.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator("[data-toast]")).to_have_text("Reply sent.")
    settled(page)
    page.keyboard.press("?")
    expect(page.locator("#shortcuts-help")).to_be_visible()
    page.keyboard.press("Escape")
    agent.assert_clean()

    agent.goto(f"/console/shipments/{shipment.public_id}/")
    expect(page.locator("h1")).to_contain_text(shipment.tracking_number)
    agent.goto(f"/console/customers/{ticket.customer.public_id}/")
    expect(page.locator("h1")).to_contain_text("Mei Lin")
    agent.assert_clean()

    agent.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Delaydesk API")
    expect(page.locator(".opblock").first).to_be_visible()
    agent.assert_clean()


def test_the_supervisor_page_has_no_policy_violation(watched, world):
    supervisor = watched()
    log_in(supervisor, "sam", "/supervisor/")
    expect(supervisor.page.locator("#incidents")).to_contain_text("Customs strike at Leipzig")
    supervisor.goto("/supervisor/incidents/new/")
    supervisor.goto(f"/supervisor/incidents/{world['incident'].public_id}/notify/")
    supervisor.assert_clean()


def test_the_customer_progress_page_and_survey_have_no_policy_violation(watched, world):
    customer = watched()
    customer.goto(world["progress"])
    page = customer.page
    expect(page).to_have_url(re.compile(r"/t/case/[0-9a-f-]+/$"))
    page.locator("label[for=rating-5]").click()
    page.locator("[data-survey-form] [type=submit]").click()
    expect(page.locator("#survey")).to_have_attribute("data-survey-state", "editable")
    customer.assert_clean()


def test_the_admin_and_error_pages_have_no_policy_violation(watched, world):
    operator = watched()
    operator.goto("/admin/login/?next=/admin/")
    operator.page.locator("input[name=username]").fill("root")
    operator.page.locator("input[name=password]").fill(factories.PASSWORD)
    operator.page.locator("form [type=submit]").click()
    expect(operator.page.locator("#site-name")).to_be_visible()
    operator.assert_clean()
    operator.goto("/admin/tickets/ticket/")
    operator.goto(f"/admin/tickets/ticket/{world['ticket'].pk}/change/")
    operator.goto("/admin/tickets/macro/")  # translated fields (django-modeltranslation)
    operator.page.locator("#result_list tbody a").first.click()
    expect(operator.page.locator("#content h2, #content h1").first).to_be_visible()
    operator.goto("/admin/shipments/delayrule/")
    operator.assert_clean()

    visitor = watched()
    visitor.goto("/accounts/login/")
    visitor.goto(f"/survey/{uuid.uuid4().hex}/", status=404)
    visitor.goto("/no-such-page/", status=404)
    visitor.assert_clean()

    agent = watched()  # the staff error pages: a page the role may not open, a refused input
    log_in(agent, "alice", "/console/")
    agent.goto("/supervisor/", status=403)
    agent.goto("/console/?q=%00", status=400)
    agent.assert_clean()


# The innermost elements that reach past the right edge of the window, outside any container
# that scrolls or clips them (for the failure message).
OVERFLOWING = """
() => {
  const width = document.documentElement.clientWidth;
  const clipped = (element) => {
    for (let up = element.parentElement; up && up !== document.body; up = up.parentElement) {
      if (getComputedStyle(up).overflowX !== "visible") return true;
    }
    return false;
  };
  const past = (element) =>
    element.getBoundingClientRect().right > width + 0.5 && !clipped(element);
  const name = (element) =>
    element.tagName.toLowerCase() + (element.id ? "#" + element.id : "") +
    (element.className && typeof element.className === "string"
      ? "." + element.className.trim().split(/\\s+/).join(".") : "");
  return Array.from(document.body.querySelectorAll("*"))
    .filter((element) => past(element) && !Array.from(element.children).some(past))
    .slice(0, 10)
    .map((element) => name(element) + " " + Math.round(element.getBoundingClientRect().right));
}
"""


def save_screenshots(page, stem: str, height: int = 1000) -> None:
    """The whole page in pieces of `height` pixels (a long page shrunk to one image is
    unreadable)."""
    total = page.evaluate("document.documentElement.scrollHeight")
    for number, top in enumerate(range(0, total, height), start=1):
        clip = {"x": 0, "y": top, "width": PHONE["width"], "height": min(height, total - top)}
        page.screenshot(path=f"{stem}-{number}.png", full_page=True, clip=clip)


CONSOLE_PAGES = ["console", "ticket", "shipment", "supervisor", "progress", "customer", "incident"]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_console_fits_a_phone_without_scrolling_sideways(watched, world, language):
    paths = {
        "console": "/console/?queue=all",
        "ticket": f"/console/tickets/{world['ticket'].public_id}/",
        "shipment": f"/console/shipments/{world['shipment'].public_id}/",
        "supervisor": "/supervisor/",
        "progress": world["progress"],
        "customer": f"/console/customers/{world['ticket'].customer.public_id}/",
        "incident": "/supervisor/incidents/new/",
    }
    # One person who may see every page: an agent who also supervises.
    Group.objects.get(name=SUPERVISOR).user_set.add(world["alice"])
    wide, overflowing = {}, {}
    phone = watched(language=language, viewport=PHONE)
    phone.goto("/accounts/login/")
    wide["login"] = phone.page.evaluate("document.documentElement.scrollWidth")
    log_in(phone, "alice", "/console/")
    for name in CONSOLE_PAGES:
        phone.goto(paths[name])
        wide[name] = phone.page.evaluate("document.documentElement.scrollWidth")
        if wide[name] > PHONE["width"]:
            overflowing[name] = phone.page.evaluate(OVERFLOWING)
        if SCREENSHOTS:
            save_screenshots(phone.page, f"{SCREENSHOTS}/phone-{name}-{language}")
    assert wide == dict.fromkeys(["login", *CONSOLE_PAGES], PHONE["width"]), overflowing
    phone.assert_clean()
