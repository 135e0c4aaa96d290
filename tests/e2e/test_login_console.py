"""An agent's first minutes in a real browser: log in, find a ticket, open it; in Chinese too."""

from __future__ import annotations

import re

import pytest

from tests import factories
from tests.e2e.conftest import browser_missing_reason

_missing = browser_missing_reason()
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(_missing is not None, reason=f"browser tests skipped: {_missing}"),
]

if _missing is None:
    from playwright.sync_api import expect


@pytest.fixture
def alice(transactional_db):
    user = factories.AgentFactory(username="alice", first_name="Alice")
    factories.AgentProfileFactory(user=user)
    return user


@pytest.fixture
def alices_tickets(alice):
    wanted = factories.TicketFactory(
        subject="Parcel held by French customs", assignee=alice, priority="high"
    )
    other = factories.TicketFactory(subject="Sofa delivered to the wrong street", assignee=alice)
    unassigned = factories.TicketFactory(subject="Nobody has this one yet")
    return wanted, other, unassigned


def log_in(page, live_server, next_path: str = "/console/") -> None:
    page.goto(f"{live_server.url}{next_path}")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=" + re.escape(next_path)))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}{next_path}")
    # Keyboard shortcuts listen once the deferred console.js has run (before DOMContentLoaded).
    page.wait_for_load_state("domcontentloaded")


def test_an_agent_logs_in_narrows_the_queue_by_order_number_and_opens_the_ticket(
    live_server, browser_page, alices_tickets
):
    page = browser_page
    wanted, other, _unassigned = alices_tickets

    log_in(page, live_server)
    expect(page.get_by_role("heading", name="Ticket queue")).to_be_visible()
    expect(page.get_by_role("link", name=wanted.subject)).to_be_visible()
    expect(page.get_by_role("link", name=other.subject)).to_be_visible()

    # Marks this document: a full page load would lose it, an htmx swap keeps it.
    page.evaluate("window.__sameDocument = true")
    page.keyboard.press("/")
    expect(page.locator("[data-search-input]")).to_be_focused()
    with page.expect_response(lambda r: "q=" in r.url and r.request.headers.get("hx-request")):
        page.keyboard.type(wanted.shipment.order_number)

    expect(page.get_by_role("link", name=other.subject)).to_have_count(0)
    expect(page.get_by_role("link", name=wanted.subject)).to_be_visible()
    expect(page).to_have_url(re.compile(r"q=" + re.escape(wanted.shipment.order_number)))
    assert page.evaluate("window.__sameDocument") is True

    page.keyboard.press("Escape")  # leave the search box
    page.keyboard.press("j")
    expect(page.locator("tr.is-highlighted")).to_contain_text(wanted.subject)
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(rf"/console/tickets/{wanted.public_id}/$"))
    expect(page.get_by_role("heading", name=wanted.subject, level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Shipment")).to_be_visible()
    expect(page.get_by_text(wanted.shipment.tracking_number)).to_be_visible()


def test_keyboard_shortcuts_switch_queues_and_show_their_help(
    live_server, browser_page, alices_tickets
):
    page = browser_page
    _wanted, _other, unassigned = alices_tickets
    log_in(page, live_server)

    page.keyboard.press("g")
    page.keyboard.press("u")
    expect(page).to_have_url(re.compile(r"queue=unassigned"))
    expect(page.get_by_role("link", name=unassigned.subject)).to_be_visible()
    expect(page.locator('.tab[aria-current="page"]')).to_contain_text("Unassigned")

    page.keyboard.press("?")
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.get_by_role("dialog")).to_contain_text("Open the highlighted ticket")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()


def test_switching_to_simplified_chinese_shows_chinese_headings(
    live_server, browser_page, alices_tickets
):
    page = browser_page
    log_in(page, live_server)

    page.get_by_role("button", name="简体中文").click()

    expect(page.get_by_role("heading", name="工单队列")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()


def test_the_tab_counts_arrive_after_the_queue_and_the_previous_ones_wait_for_the_next(
    live_server, browser_page, alices_tickets
):
    page = browser_page
    log_in(page, live_server)

    # The queue is shown first; the tabs then load their counts.
    expect(page.locator('.tabs [data-count="mine"]')).to_have_text("2")
    expect(page.locator('.tabs [data-count="unassigned"]')).to_have_text("1")
    expect(page.locator('.tabs [data-count="all"]')).to_have_text("3")
    expect(page.locator(".tabs .count-pending")).to_have_count(0)
    page.evaluate("window.__sameDocument = true")

    # Hold the next counts back: meanwhile the new queue shows the previous counts, dimmed.
    held = []
    page.route(re.compile(r"/console/counts/"), lambda route: held.append(route))
    page.keyboard.press("g")
    page.keyboard.press("u")
    expect(page.locator('.tab[aria-current="page"]')).to_contain_text("Unassigned")
    all_count = page.locator('.tabs [data-count="all"]')
    expect(all_count).to_have_text("3")
    expect(all_count).to_have_class(re.compile(r"\bcount-pending\b"))
    for _ in range(200):  # the counts request is made once the queue is swapped in (<= 10 s)
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the queue swap did not ask for the tab counts"

    held[0].continue_()
    expect(all_count).not_to_have_class(re.compile(r"\bcount-pending\b"))
    expect(all_count).to_have_text("3")
    expect(page.locator('.tab[aria-current="page"]')).to_contain_text("Unassigned")
    assert page.evaluate("window.__sameDocument") is True
