"""The customer's progress page (portal) in a real browser, as on a phone (390x844 CSS px):

- in English and in Chinese, the case opened from a notice's link lands on `/t/case/<id>/` (no
  token in the address), is saved as a full-page screenshot for people to look at, and axe-core
  finds no serious or critical WCAG 2.1 A/AA violation; so does a solved case with its survey
  and preferences (and the survey's error state);
- the first load (the link, its redirect, the page, its CSS and JS) transfers under 100 KB;
- nothing scrolls sideways at 390 px;
- the keyboard: Tab reaches the skip link, then the language switch, with a visible focus
  outline, and the survey's stars are chosen with the arrow keys;
- reply, remedy and survey through htmx, each ending on the page with its result, a low rating
  without a reason refused at its field with the comment kept; no policy violation, no console
  error;
- every form carries its CSRF token;
- without JavaScript the page reads, and a reply goes by the plain form (POST, redirect back),
  as does the language switch: the page's no-referrer policy makes the browser send
  `Origin: null` with a plain form, which portal.csrf accepts from our own pages only.

Screenshots and axe reports go to DELAYDESK_SCREENSHOTS, else test-results/portal/ (git-ignored).
axe-core is vendored in tests/e2e/vendor/axe-core/ (see its README.md): nothing is fetched."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.utils import timezone

from compensation.models import CompensationOffer, OfferStatus, RemedyKind
from portal.links import PortalLinks
from tests import factories
from tests.e2e.conftest import PHONE, browser_missing_reason
from tickets.models import Message, SatisfactionSurvey, TicketEvent

_missing = browser_missing_reason()
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(_missing is not None, reason=f"browser tests skipped: {_missing}"),
    pytest.mark.usefixtures("no_rate_limits", "default_configuration"),
]

if _missing is None:
    from playwright.sync_api import expect

Kind = TicketEvent.Kind

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = ("serious", "critical")
# The first load's budget (the issue: "under 100 KB transferred on the first load").
FIRST_LOAD_BYTES = 100_000
ARTIFACTS = Path(
    os.environ.get("DELAYDESK_SCREENSHOTS") or Path(settings.BASE_DIR) / "test-results" / "portal"
)

# Runs in every document before the page's own scripts (Playwright injects it through the
# DevTools protocol, so the page's policy does not apply to it); as in test_csp.py.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push({
    directive: event.violatedDirective,
    blocked: event.blockedURI,
    source: event.sourceFile + ":" + event.lineNumber,
  });
});
"""


# --- the data ------------------------------------------------------------------------------------


def worked_case(*, language: str = "en", solved: bool = False):
    """A case as tests/portal/test_page.py's story() builds it, in today's time: a late parcel
    with scans, the public story (received, assigned, carrier contacted, remedy offered), a
    conversation (and an internal note that must not show), a choice of two remedies, an
    incident's public explanation and a running answer clock. ``solved``: solved yesterday,
    with its survey waiting (the choice of remedies then already made)."""
    now = timezone.now()
    start = now - dt.timedelta(days=6)
    agent = factories.AgentFactory(username="alice", first_name="Alice", last_name="Aldergrove")
    factories.AgentProfileFactory(user=agent)
    customer = factories.CustomerFactory(
        name="Carla Mendes",
        email="carla@example.com",
        language=language,
        time_zone="Asia/Shanghai" if language == "zh-hans" else "Europe/Berlin",
    )
    incident = factories.IncidentFactory(
        title="INTERNAL TITLE",
        public_explanation="Customs at Leipzig are checking every parcel, which takes 3 days.",
        public_explanation_zh_hans="莱比锡海关正在逐件检查包裹，需要三天。",
    )
    ticket = factories.TicketFactory(customer=customer, assignee=agent, incident=incident)
    shipment = ticket.shipment
    shipment.promised_at = now - dt.timedelta(days=2)
    shipment.predicted_eta = now + dt.timedelta(days=3)
    shipment.last_event_at = now - dt.timedelta(hours=5)
    shipment.delay_level = "red"
    shipment.delay_detected_at = start
    shipment.save()
    at = start
    for kind, data in (
        (Kind.CREATED, {"source": "customer", "priority": "urgent"}),
        (Kind.ASSIGNED, {"assignee": agent.pk, "assignee_name": "Alice", "previous": ""}),
        (Kind.CARRIER_CONTACTED, {}),
        (Kind.COMPENSATION_OFFERED, {"kind": "coupon", "amount": "15.00", "currency": "EUR"}),
    ):
        at += dt.timedelta(hours=3)
        factories.TicketEventFactory(ticket=ticket, kind=kind, data=data, created_at=at)
    for hour, (location, description) in enumerate(
        (
            ("Shenzhen", "Parcel handed to the carrier"),
            ("Hong Kong", "Departed the hub"),
            ("Leipzig", "Arrived at hub: held by customs"),
        )
    ):
        factories.TrackingEventFactory(
            shipment=shipment,
            occurred_at=start + dt.timedelta(hours=10 * hour),
            location=location,
            description=description,
        )
    factories.MessageFactory(ticket=ticket, body="Where is my parcel? It is two days late.")
    factories.MessageFactory(
        ticket=ticket,
        body="Hello Carla, it is held by customs in Leipzig; I am on it.",
        direction="outbound",
        author=agent,
    )
    factories.MessageFactory(
        ticket=ticket,
        kind=Message.Kind.NOTE,
        direction=Message.Direction.INTERNAL,
        author=agent,
        body="SECRET NOTE: frequent complainer",
    )
    group = uuid.uuid4()
    for kind, amount in ((RemedyKind.COUPON, Decimal("15.00")), (RemedyKind.RESHIP, None)):
        factories.CompensationOfferFactory(
            ticket=ticket, kind=kind, amount=amount, status=OfferStatus.OFFERED, choice_group=group
        )
    factories.SLATimerFactory(
        ticket=ticket, kind="first_response", due_at=now + dt.timedelta(hours=2)
    )
    if solved:
        CompensationOffer.objects.filter(ticket=ticket, kind=RemedyKind.COUPON).update(
            status=OfferStatus.ISSUED, issued_reference="SORRY-15-ABCD", issued_at=now
        )
        CompensationOffer.objects.filter(ticket=ticket, kind=RemedyKind.RESHIP).update(
            status=OfferStatus.CANCELLED
        )
        solve(ticket, agent)
    return ticket


def solve(ticket, agent) -> SatisfactionSurvey:
    """The case solved an hour ago, its survey waiting for the customer."""
    now = timezone.now()
    ticket.status, ticket.solved_at = "solved", now - dt.timedelta(hours=1)
    ticket.save(update_fields=["status", "solved_at"])
    return SatisfactionSurvey.objects.create(
        ticket=ticket, resolved_at=ticket.solved_at, agent=agent, sent_at=now
    )


def progress_link(ticket) -> str:
    """The path of a link as a sent notice carries it (minted and confirmed). Its URL starts
    with settings.SITE_URL; the test opens the same path on the live server."""
    maker = PortalLinks()
    now = timezone.now()
    link = maker.mint([ticket.pk], now=now)[ticket.pk]
    maker.confirm([link.id], now=now)
    assert link.url.startswith(settings.SITE_URL)
    return urlsplit(link.url).path


# --- the browser ---------------------------------------------------------------------------------


class Problems:
    """Console errors and warnings, page errors, failed responses and policy violations of a
    page, for `assert_clean`."""

    def __init__(self, page):
        self.page = page
        self.seen: list[str] = []
        page.context.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.seen.append(f"page error: {error}"))
        page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type not in ("error", "warning"):
            return
        if message.text.startswith("Failed to load resource"):
            return  # the response listener names the address (a 422 is a form's errors)
        self.seen.append(f"console {message.type} on {self.page.url}: {message.text}")

    def _response(self, response) -> None:
        if response.status >= 400 and response.status != 422:
            self.seen.append(f"{response.status} for {response.url}")

    def assert_clean(self) -> None:
        self.page.wait_for_timeout(200)  # a late violation event (a swapped fragment)
        violations = self.page.evaluate("window.__cspViolations")
        assert violations == [], f"CSP violations on {self.page.url}: {violations}"
        assert self.seen == [], "\n".join(self.seen)


def open_case(page, live_server, ticket) -> str:
    """Open the case from its link; returns the case page's URL (the link's token is gone)."""
    response = page.goto(f"{live_server.url}{progress_link(ticket)}")
    assert response is not None and response.status == 200
    case_url = f"{live_server.url}/t/case/{ticket.public_id}/"
    assert page.url == case_url, page.url
    page.wait_for_load_state("load")
    return case_url


def settled(page) -> None:
    """htmx has finished swapping and settling (not page.wait_for_function: its predicate would
    be evaluated by the page, which the policy refuses)."""
    expect(
        page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")
    ).to_have_count(0)


def shows(page, words: str) -> None:
    """The page shows an action's message: in the section htmx swapped in, or in the page's
    notes after a reload or redirect."""
    expect(page.get_by_text(words).first).to_be_visible()


def screenshot(target, name: str) -> Path:
    """A screenshot for people to look at: the whole page, or one section (a locator)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    if hasattr(target, "goto"):
        target.screenshot(path=str(path), full_page=True)
    else:
        target.screenshot(path=str(path))
    return path


def run_axe(page, name: str) -> dict:
    """axe-core's WCAG 2.1 A/AA results of the page as it is now (violations, what it could
    not decide, the rules that passed), also kept as `<name>.axe.json` next to the
    screenshots."""
    # add_script_tag puts the vendored file's text into an inline <script>, which the page's
    # `script-src 'self'` refuses: pages checked with axe are opened in a context made with
    # bypass_csp=True (`axe_page`). Everything else runs under the policy.
    page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        """async (tags) => {
          const results = await axe.run(document, {runOnly: {type: "tag", values: tags}});
          return {
            version: results.testEngine.version,
            violations: results.violations,
            // What axe could not decide (to look at, not asserted).
            incomplete: results.incomplete,
            passes: results.passes.map((rule) => rule.id),
          };
        }""",
        AXE_TAGS,
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.axe.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return results


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(
            f"[{violation['impact']}] {violation['id']}: {violation['help']} "
            f"({len(violation['nodes'])} elements) {violation['helpUrl']}"
        )
        for node in violation["nodes"][:6]:
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"    {' '.join(map(str, node['target']))}: {summary}")
    return "\n".join(lines)


def assert_accessible(page, name: str) -> None:
    """No serious or critical violation (the others are printed, and kept in the report)."""
    results = run_axe(page, name)
    violations = results["violations"]
    undecided = sorted(rule["id"] for rule in results["incomplete"])
    print(
        f"axe {results['version']} {name}: {len(results['passes'])} rules passed, "
        f"{len(violations)} violated, undecided: {', '.join(undecided) or 'none'}"
    )
    if violations:
        print(describe(violations))
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert blocking == [], f"axe on {name}:\n{describe(blocking)}"


@pytest.fixture
def axe_page(phone_page):
    """A phone page whose context lets the injected axe script run (bypass_csp)."""
    return lambda **options: phone_page(bypass_csp=True, **options)


def scroll_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


# --- the page, on a phone, in both languages -----------------------------------------------------


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_case_page_on_a_phone_is_accessible(axe_page, live_server, language):
    ticket = worked_case(language=language)
    page = axe_page(locale="en-US" if language == "en" else "zh-CN")

    case_url = open_case(page, live_server, ticket)

    assert "/t/case/" in case_url and "token" not in case_url
    assert page.locator("html").get_attribute("lang") == language
    expect(page.locator("h1")).to_contain_text(ticket.shipment.order_number)
    expect(page.locator("[data-incident]")).to_be_visible()
    expect(page.locator("[data-remedy-form] input[name=offer]")).to_have_count(2)
    assert "SECRET NOTE" not in page.content()
    assert scroll_width(page) <= PHONE["width"]
    screenshot(page, f"portal-case-{language}.png")
    assert_accessible(page, f"portal-case-{language}")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_solved_case_with_its_survey_and_preferences_is_accessible(
    axe_page, live_server, language
):
    ticket = worked_case(language=language, solved=True)
    page = axe_page(locale="en-US" if language == "en" else "zh-CN")
    case_url = open_case(page, live_server, ticket)
    page.goto(f"{case_url}#survey")

    survey = page.locator("#survey")
    expect(survey.locator("[data-survey-form]")).to_be_visible()
    assert scroll_width(page) <= PHONE["width"]
    screenshot(page, f"portal-solved-{language}.png")
    screenshot(survey, f"portal-survey-{language}.png")
    screenshot(page.locator("#preferences"), f"portal-preferences-{language}.png")
    assert_accessible(page, f"portal-solved-{language}")

    # The survey's error state: a low rating without a reason, the error at its field.
    survey.locator("label[for=rating-1]").click()
    survey.locator("textarea[name=comment]").fill("The box arrived crushed.")
    survey.locator("[type=submit]").click()
    expect(page.locator("#reason-error")).to_be_visible()
    settled(page)
    screenshot(page.locator("#survey"), f"portal-survey-error-{language}.png")
    assert_accessible(page, f"portal-survey-error-{language}")


# --- weight, width, keyboard ---------------------------------------------------------------------


def test_the_first_load_transfers_under_100_kb(phone_page, live_server):
    """Every response of the first visit: the link (a redirect), the case page, its CSS and
    htmx. Measured as Chromium counts them, with Playwright's request.sizes(): each response's
    headers plus its body as it came over the wire (`responseBodySize`, the encoded size:
    compressed when the server compresses; the test server sends every file as it is, since
    whitenoise only serves the precompressed copies `collectstatic` makes in production)."""
    ticket = worked_case()
    page = phone_page()
    loaded = []
    page.on("requestfinished", lambda request: loaded.append(request))

    response = page.goto(f"{live_server.url}{progress_link(ticket)}")
    page.wait_for_load_state("networkidle")

    assert response is not None and response.status == 200
    assert page.url == f"{live_server.url}/t/case/{ticket.public_id}/"
    chain, request = [], response.request.redirected_from
    while request is not None:  # the link's redirect(s), before the page
        chain.insert(0, request)
        request = request.redirected_from
    rows, total = [], 0
    for request in [*chain, *[r for r in loaded if r not in chain]]:
        sizes = request.sizes()
        answer = request.response()
        size = sizes["responseHeadersSize"] + sizes["responseBodySize"]
        total += size
        rows.append(
            f"{answer.status} {urlsplit(request.url).path}: {sizes['responseBodySize']} body"
            f" + {sizes['responseHeadersSize']} headers = {size} bytes"
            f" ({answer.headers.get('content-encoding', 'not compressed')})"
        )
    report = "\n".join([*rows, f"total {total} bytes (budget {FIRST_LOAD_BYTES})"])
    print(report)
    paths = [urlsplit(request.url).path for request in loaded]
    assert len(chain) == 1 and "/t/case/" not in chain[0].url, report
    assert any(path.endswith(".css") for path in paths), report
    assert any(path.endswith(".js") for path in paths), report
    assert total < FIRST_LOAD_BYTES, report


def test_the_page_does_not_scroll_sideways_on_a_phone(phone_page, live_server):
    ticket = worked_case()
    long_word = "https://tracking.example.com/" + "x7" * 60
    factories.MessageFactory(ticket=ticket, body=f"See {long_word} please.")
    page = phone_page()
    open_case(page, live_server, ticket)
    assert scroll_width(page) <= PHONE["width"]


def focused(page) -> dict:
    return page.evaluate(
        """() => {
          const element = document.activeElement;
          const style = getComputedStyle(element);
          return {
            tag: element.tagName.toLowerCase(),
            text: element.textContent.trim(),
            className: element.className,
            name: element.getAttribute("name"),
            value: element.getAttribute("value"),
            outline: style.outlineStyle + " " + style.outlineWidth,
            left: element.getBoundingClientRect().left,
          };
        }"""
    )


def has_outline(style: str) -> bool:
    kind, width = style.split()
    return kind != "none" and float(width.removesuffix("px")) >= 2


def test_the_keyboard_reaches_everything_with_a_visible_focus(phone_page, live_server):
    ticket = worked_case(solved=True)
    page = phone_page()
    problems = Problems(page)
    open_case(page, live_server, ticket)

    page.keyboard.press("Tab")
    skip = focused(page)
    assert skip["className"] == "skip-link", skip
    assert has_outline(skip["outline"]) and skip["left"] >= 0, skip  # shown, with an outline
    page.keyboard.press("Tab")
    switch = focused(page)
    assert switch["tag"] == "button" and switch["name"] == "language", switch
    assert has_outline(switch["outline"]), switch

    # On to the survey's stars: one Tab stop for the radio group, arrows choose within it.
    for _ in range(80):
        page.keyboard.press("Tab")
        if focused(page)["name"] == "rating":
            break
    else:
        pytest.fail("Tab never reached the survey's stars")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    star = focused(page)
    assert (star["name"], star["value"]) == ("rating", "4"), star
    expect(page.locator("#rating-4")).to_be_checked()
    label_outline = page.evaluate(
        """() => {
          const style = getComputedStyle(document.querySelector("label[for=rating-4]"));
          return style.outlineStyle + " " + style.outlineWidth;
        }"""
    )
    assert has_outline(label_outline), label_outline  # the focused star shows its focus
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#rating-3")).to_be_checked()
    page.keyboard.press("Enter")  # sends the form
    shows(page, "Thank you for your rating")
    survey = SatisfactionSurvey.objects.get(ticket=ticket)
    assert survey.rating == 3
    problems.assert_clean()


# --- actions with htmx ---------------------------------------------------------------------------


def test_the_customer_replies_chooses_a_remedy_and_rates_with_htmx(phone_page, live_server):
    ticket = worked_case()
    page = phone_page()
    problems = Problems(page)
    posts = []
    page.on(
        "request",
        lambda request: (
            request.method == "POST" and posts.append(request.headers.get("hx-request"))
        ),
    )
    open_case(page, live_server, ticket)
    assert page.evaluate("typeof htmx") == "object"

    # A reply.
    conversation = page.locator("#conversation")
    conversation.locator("textarea[name=body]").fill("Thank you! Can it go to my office?")
    conversation.locator("[type=submit]").click()
    shows(page, "your message was sent to our team")
    expect(page.locator("#conversation")).to_contain_text("Can it go to my office?")
    settled(page)
    assert Message.objects.filter(ticket=ticket, body="Thank you! Can it go to my office?").exists()

    # A remedy: the free replacement.
    remedies = page.locator("#remedies")
    remedies.locator("label.choice").filter(has_text=re.compile("replacement", re.I)).click()
    remedies.locator("[type=submit]").click()
    shows(page, "Thank you: ")
    expect(page.locator("[data-remedy-form]")).to_have_count(0)
    expect(page.locator("#remedies [data-remedy-status]").first).to_be_visible()
    settled(page)
    chosen = CompensationOffer.objects.get(ticket=ticket, kind=RemedyKind.RESHIP)
    assert chosen.status in (OfferStatus.ACCEPTED, OfferStatus.ISSUED)

    # The case is solved; its survey: a low rating without a reason is refused at its field,
    # in place (the page is not reloaded: the marker stays), the comment as it was typed.
    solve(ticket, ticket.assignee)
    page.reload()
    page.evaluate("window.__notReloaded = true")
    survey = page.locator("#survey")
    survey.locator("label[for=rating-2]").click()
    survey.locator("textarea[name=comment]").fill("Two weeks late.")
    survey.locator("[type=submit]").click()
    error = page.locator("#reason-error")
    expect(error).to_be_visible()
    settled(page)
    expect(page.locator("#survey fieldset.reasons")).to_contain_text(error.inner_text())
    expect(page.locator("#survey textarea[name=comment]")).to_have_value("Two weeks late.")
    expect(page.locator("#rating-2")).to_be_checked()
    assert page.evaluate("window.__notReloaded") is True
    assert SatisfactionSurvey.objects.get(ticket=ticket).rating is None

    # With a reason it goes through.
    page.locator("#survey input[name=reason][value=late]").check()
    page.locator("#survey [type=submit]").click()
    shows(page, "Thank you for your rating")
    settled(page)
    answered = SatisfactionSurvey.objects.get(ticket=ticket)
    assert (answered.rating, answered.reason, answered.comment) == (2, "late", "Two weeks late.")
    assert posts == ["true"] * 4, posts  # every action went by htmx
    problems.assert_clean()


# --- without JavaScript, and the plain forms -----------------------------------------------------


def test_without_javascript_the_page_reads(phone_page, live_server):
    ticket = worked_case(solved=True)
    page = phone_page(java_script_enabled=False)
    open_case(page, live_server, ticket)

    expect(page.locator("h1")).to_contain_text(ticket.shipment.order_number)
    expect(page.locator("[data-incident]")).to_contain_text("Customs at Leipzig")
    expect(page.locator("[data-scans]")).to_contain_text("Leipzig")
    expect(page.locator("#conversation")).to_contain_text("held by customs in Leipzig")
    expect(page.locator("#remedies")).to_contain_text("SORRY-15-ABCD")
    expect(page.locator("#survey [data-survey-form] label.star")).to_have_count(5)
    expect(page.locator("#survey label.star").first).to_be_visible()
    assert scroll_width(page) <= PHONE["width"]


def test_every_form_of_the_page_carries_its_csrf_token(phone_page, live_server):
    ticket = worked_case()  # its remedies still to choose, and solved: every form shows
    solve(ticket, ticket.assignee)
    page = phone_page()
    open_case(page, live_server, ticket)
    forms = page.locator("form")
    names = forms.evaluate_all(
        """(forms) => forms.map((form) => [
          form.getAttribute("method"),
          form.getAttribute("action"),
          Boolean(form.querySelector("input[name=csrfmiddlewaretoken][value]")),
        ])"""
    )
    assert len(names) >= 5, names  # the language switch, reply, remedy, survey, preferences
    assert all(method == "post" and token for method, _action, token in names), names
    # htmx sends the token as a header (the body's hx-headers) too.
    assert "X-CSRFToken" in (page.locator("body").get_attribute("hx-headers") or "")


def test_without_javascript_a_reply_goes_by_the_plain_form(phone_page, live_server):
    ticket = worked_case()
    page = phone_page(java_script_enabled=False)
    problems = Problems(page)
    case_url = open_case(page, live_server, ticket)

    page.locator("#conversation textarea[name=body]").fill("Sent without JavaScript.")
    with page.expect_navigation():
        page.locator("#conversation [type=submit]").click()
    assert page.url == f"{case_url}#conversation"
    expect(page.locator(".notes")).to_contain_text("your message was sent to our team")
    expect(page.locator("#conversation")).to_contain_text("Sent without JavaScript.")
    assert Message.objects.filter(ticket=ticket, body="Sent without JavaScript.").exists()
    assert problems.seen == [], "\n".join(problems.seen)


def test_the_language_switch_changes_the_page_language(phone_page, live_server):
    page = phone_page()
    case_url = open_case(page, live_server, worked_case())
    assert page.locator("html").get_attribute("lang") == "en"

    with page.expect_navigation():
        page.locator(".language-switch button[value=zh-hans]").click()

    assert page.url == case_url
    assert page.locator("html").get_attribute("lang") == "zh-hans"
