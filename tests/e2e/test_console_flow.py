"""An agent works a ticket in a real browser: claim, reply with a macro, solve, all without a
page load; and a save over a colleague's change is refused with a clear message."""

from __future__ import annotations

import datetime as dt
import importlib
import re

import pytest
from django.apps import apps
from django.utils import timezone

from tests import factories
from tests.e2e.conftest import browser_missing_reason
from tickets import services
from tickets.models import Message, Ticket

_missing = browser_missing_reason()
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(_missing is not None, reason=f"browser tests skipped: {_missing}"),
]

if _missing is None:
    from playwright.sync_api import expect

DEFAULT_MACROS = importlib.import_module("tickets.migrations.0003_default_macros")


@pytest.fixture
def alice(transactional_db, default_configuration):
    # An earlier transactional test's flush also emptied the macros the migration installed.
    DEFAULT_MACROS.install(apps, None)
    user = factories.AgentFactory(username="alice", first_name="Alice")
    factories.AgentProfileFactory(user=user)
    return user


@pytest.fixture
def late_parcel(alice):
    customer = factories.CustomerFactory(name="Mei Lin", language="en")
    shipment = factories.ShipmentFactory(
        customer=customer, order_number="ORD-2024-0815", delay_cause="customs_hold"
    )
    return factories.TicketFactory(
        subject="Where is my tea set?",
        customer=customer,
        shipment=shipment,
        category="delay",
        language="en",
        status="new",
    )


def log_in(page, live_server, next_path: str) -> None:
    page.goto(f"{live_server.url}{next_path}")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}{next_path}")
    page.wait_for_load_state("domcontentloaded")


def mark_document(page) -> None:
    """A full page load would lose this; an htmx swap keeps it."""
    page.evaluate("window.__marker = 1")


def same_document(page) -> bool:
    return page.evaluate("window.__marker") == 1


def settled(page) -> None:
    """Wait until htmx has finished swapping and settling: a key pressed earlier could reach a
    form htmx has not taken over yet (seen once on a loaded CI machine)."""
    # Not page.wait_for_function: its predicate is a string the page evaluates, which the
    # Content-Security-Policy (no 'unsafe-eval') refuses.
    busy = page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")
    expect(busy).to_have_count(0)


def test_an_agent_claims_replies_with_a_macro_and_solves_without_a_page_load(
    live_server, browser_page, alice, late_parcel
):
    page = browser_page
    log_in(page, live_server, "/console/?queue=unassigned")
    expect(page.locator('.tab[aria-current="page"]')).to_contain_text("Unassigned")

    # Open the ticket from the keyboard.
    page.keyboard.press("j")
    expect(page.locator("tr.is-highlighted")).to_contain_text("Where is my tea set?")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/console/tickets/{late_parcel.public_id}/$"))
    expect(page.get_by_role("heading", name="Where is my tea set?", level=1)).to_be_visible()
    page.wait_for_load_state("domcontentloaded")
    mark_document(page)

    # c: claim.
    page.keyboard.press("c")
    expect(page.locator("[data-toast]")).to_have_text("You claimed the ticket.")
    expect(page.locator("[data-assignee]")).to_have_text("Alice")
    expect(page.locator("[data-timeline]")).to_contain_text("Alice claimed the ticket")

    # A macro fills the reply box with the customer's name and order number, as text.
    page.locator("#macro-picker").select_option(label="Delay: apology and new ETA")
    reply = page.locator("#reply-body")
    expect(reply).to_have_value(re.compile(r"^Hello Mei Lin,\n\n.*ORD-2024-0815", re.S))
    expect(reply).to_be_focused()
    reply.press("End")
    page.keyboard.type("\nPS: the customs papers are ready.")

    # Ctrl+Enter sends the reply.
    page.keyboard.press("Control+Enter")
    expect(page.locator("[data-toast]")).to_have_text("Reply sent.")
    expect(page.locator("#reply-body")).to_have_value("")
    expect(page.locator("[data-timeline] .msg-outbound").first).to_contain_text("Hello Mei Lin")
    settled(page)

    # s: "Solved" in the status box, Enter saves.
    page.keyboard.press("Escape")  # leave any field first: shortcuts do not fire in fields
    page.keyboard.press("s")
    expect(page.locator("#status-select")).to_have_value("solved")
    page.keyboard.press("Enter")
    expect(page.locator("[data-toast]")).to_have_text("Status set to Solved.")
    expect(page.locator("[data-ticket-status]")).to_have_text("Solved")
    expect(page.locator("[data-timeline]")).to_contain_text(
        "Alice changed the status from Open to Solved"
    )

    assert same_document(page), "an action reloaded the page"
    late_parcel.refresh_from_db()
    assert late_parcel.status == Ticket.Status.SOLVED
    assert late_parcel.assignee == alice
    reply_message = late_parcel.messages.get(direction=Message.Direction.OUTBOUND)
    assert reply_message.body.startswith("Hello Mei Lin,\n\n")
    assert "ORD-2024-0815" in reply_message.body
    assert reply_message.body.endswith("PS: the customs papers are ready.")
    assert reply_message.author == alice


def test_a_reply_over_a_colleagues_change_is_refused_and_the_text_kept(
    live_server, browser_page, alice, late_parcel
):
    page = browser_page
    ticket_path = f"/console/tickets/{late_parcel.public_id}/"
    log_in(page, live_server, ticket_path)
    mark_document(page)

    # Meanwhile a colleague, in another tab, changes the ticket.
    other_tab = page.context.new_page()
    other_tab.goto(f"{live_server.url}{ticket_path}")
    other_tab.locator("#status-select").select_option("on_hold")
    other_tab.get_by_role("button", name="Set status").click()
    expect(other_tab.locator("[data-toast]")).to_contain_text("Status set to")
    other_tab.close()

    page.keyboard.press("r")
    expect(page.locator("#reply-body")).to_be_focused()
    page.keyboard.type("We are checking with customs today.")
    page.get_by_role("button", name="Send reply").click()

    expect(page.locator("[data-error-banner]")).to_have_text(str(services.STALE_TICKET))
    expect(page.locator("#reply-body")).to_have_value("We are checking with customs today.")
    # The region now shows the colleague's change, and the next try carries its version.
    expect(page.locator("[data-ticket-status]")).to_have_text("On hold (waiting on carrier)")
    assert same_document(page)
    assert not Message.objects.filter(ticket=late_parcel).exists()

    page.get_by_role("button", name="Send reply").click()
    expect(page.locator("[data-toast]")).to_have_text("Reply sent.")
    assert Message.objects.get(ticket=late_parcel).body == "We are checking with customs today."


def test_a_draft_note_survives_another_action_and_the_countdown_ticks_in_words(
    live_server, browser_page, alice, late_parcel
):
    factories.SLATimerFactory(
        ticket=late_parcel, kind="first_response", due_at=timezone.now() + dt.timedelta(minutes=42)
    )
    page = browser_page
    log_in(page, live_server, f"/console/tickets/{late_parcel.public_id}/")

    countdown = page.locator(".timers time[data-countdown]")
    expect(countdown).to_have_text(re.compile(r"^4[12] min left$"))
    expect(countdown).to_have_class(re.compile(r"\bsla-soon\b"))

    page.keyboard.press("n")
    page.keyboard.type("Half-written note")
    page.keyboard.press("Escape")
    page.keyboard.press("c")
    expect(page.locator("[data-toast]")).to_have_text("You claimed the ticket.")
    expect(page.locator("#note-body")).to_have_value("Half-written note")

    page.keyboard.press("?")
    expect(page.get_by_role("dialog")).to_contain_text("Write a reply")
    page.keyboard.press("Escape")
    page.keyboard.press("u")
    expect(page).to_have_url(f"{live_server.url}/console/")


def test_queue_shortcuts_reach_the_breaching_and_incident_queues(live_server, browser_page, alice):
    incident = factories.IncidentFactory(title="Port strike Hamburg")
    factories.TicketFactory(subject="Held by the strike", incident=incident)
    late = factories.TicketFactory(subject="First answer overdue")
    factories.SLATimerFactory(ticket=late, due_at=timezone.now() - dt.timedelta(minutes=3))
    page = browser_page
    log_in(page, live_server, "/console/")
    mark_document(page)

    page.keyboard.press("g")
    page.keyboard.press("b")
    expect(page.locator('.tab[aria-current="page"]')).to_contain_text("Breaching soon")
    expect(page.get_by_role("link", name="First answer overdue")).to_be_visible()
    expect(page.locator("time[data-countdown]")).to_have_text(re.compile(r"^Overdue [34] min$"))

    page.keyboard.press("g")
    page.keyboard.press("i")
    expect(page.locator('.tab[aria-current="page"]')).to_contain_text("By incident")
    expect(page.locator("tr.group-row")).to_contain_text("Port strike Hamburg")
    expect(page.get_by_role("link", name="Held by the strike")).to_be_visible()
    assert same_document(page)
