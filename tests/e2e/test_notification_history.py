"""An agent opens a ticket and, once the page is there, its notification panel arrives by htmx:
the agent sees which notices went out and why one was held back."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests import factories
from tests.e2e.conftest import browser_missing_reason
from tests.e2e.test_console_flow import log_in, settled

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
def held_back(alice):
    """A ticket whose delay notice was sent by email and whose SMS follow-up was suppressed."""
    customer = factories.CustomerFactory(name="Mei Lin", email="mei@example.com")
    ticket = factories.TicketFactory(
        subject="Where is my tea set?", customer=customer, team=alice.agent_profile.team
    )
    sent_at = timezone.now() - dt.timedelta(days=2)
    factories.NotificationFactory(
        customer=customer,
        ticket=ticket,
        shipment=ticket.shipment,
        kind="delay_notice",
        status="sent",
        sent_at=sent_at,
        recipient="mei@example.com",
        subject="Your order is delayed",
        body="Hello Mei Lin, your parcel is held by customs.",
        attempts=1,
    )
    factories.NotificationFactory(
        customer=customer,
        shipment=ticket.shipment,
        kind="follow_up",
        channel="sms",
        status="suppressed",
        suppressed_reason="the customer opted out of SMS",
    )
    return ticket


def test_the_ticket_page_loads_the_notification_panel_and_shows_why_a_notice_was_held_back(
    live_server, browser_page, alice, held_back
):
    page = browser_page
    log_in(page, live_server, f"/console/tickets/{held_back.public_id}/")

    panel = page.locator("[data-notice-panel]")
    notices = panel.locator("[data-notice]")
    expect(notices).to_have_count(2)
    settled(page)

    held = panel.locator('[data-notice-status="suppressed"]')
    expect(held.locator(".notice-status")).to_have_text("Not sent (suppressed)")
    expect(held).to_contain_text("Follow-up")
    expect(held.locator("[data-suppressed-reason]")).to_have_text(
        "Why not sent: the customer opted out of SMS"
    )

    # The sent notice's text unfolds on demand.
    sent = panel.locator('[data-notice-status="sent"]')
    body = sent.locator(".notice-body")
    expect(body).to_be_hidden()
    sent.get_by_text("Your order is delayed").click()
    expect(body).to_contain_text("your parcel is held by customs")

    # From the panel to the customer's whole history, filtered to what was held back.
    panel.get_by_role("link", name="Every notice to this customer").click()
    expect(page.get_by_role("heading", name="Mei Lin", level=1)).to_be_visible()
    page.get_by_role("link", name="Why didn't they hear from us?").click()
    expect(page.locator("[data-notice]")).to_have_count(1)
    expect(page.locator("[data-suppressed-reason]")).to_contain_text("opted out of SMS")


def test_the_higher_apps_panels_load_into_the_ticket_and_shipment_pages(
    live_server, browser_page, alice, held_back
):
    """core.panels in a real browser: the ticket page (tickets) shows compensation's remedies
    and notifications' notices, the shipment page (shipments) the tickets app's list, each
    loaded from its own app's URL under the Content-Security-Policy."""
    factories.CompensationOfferFactory(ticket=held_back, kind="coupon", amount="10.00")
    page = browser_page
    violations = []
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text and violations.append(message.text)
        ),
    )
    log_in(page, live_server, f"/console/tickets/{held_back.public_id}/")

    remedies = page.locator("[data-remedy-panel]")
    expect(remedies).to_contain_text("1 compensation offer")
    expect(remedies).to_contain_text("Coupon")
    expect(page.locator("[data-notice-panel] [data-notice]")).to_have_count(2)
    # Remedies come before notices in the sidebar (their panels' order).
    sidebar = page.locator("[data-remedy-panel], [data-notice-panel]")
    expect(sidebar.first).to_have_attribute("data-remedy-panel", "")

    page.get_by_role("link", name="Open the shipment page").click()
    tickets = page.locator("[data-shipment-tickets]")
    expect(tickets).to_contain_text("Where is my tea set?")
    settled(page)
    assert violations == []
