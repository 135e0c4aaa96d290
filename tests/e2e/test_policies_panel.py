"""An agent opens a ticket whose parcel is held by customs: the remedy panel arrives by htmx with
the policies' suggestion and why; the agent changes it, is asked for a reason, gives one, and
the panel says the remedy went to the customer, all without a page load."""

from __future__ import annotations

import pytest

from compensation.models import CompensationOffer
from tests import factories
from tests.e2e.conftest import browser_missing_reason
from tests.e2e.test_console_flow import log_in, mark_document, settled

_missing = browser_missing_reason()
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(_missing is not None, reason=f"browser tests skipped: {_missing}"),
]

if _missing is None:
    from playwright.sync_api import expect


@pytest.fixture
def alice(transactional_db, default_configuration):
    user = factories.AgentFactory(username="alice", first_name="Alice")
    factories.AgentProfileFactory(user=user)
    return user


@pytest.fixture
def customs_hold(alice):
    customer = factories.CustomerFactory(name="Mei Lin", tier="vip")
    shipment = factories.ShipmentFactory(customer=customer, cause="customs_hold")
    return factories.TicketFactory(
        subject="Held by customs", customer=customer, shipment=shipment, assignee=alice
    )


def test_the_agent_edits_the_suggestion_with_a_reason_in_the_panel(
    live_server, browser_page, alice, customs_hold
):
    page = browser_page
    log_in(page, live_server, f"/console/tickets/{customs_hold.public_id}/")

    panel = page.locator("[data-remedy-panel]")
    suggestion = panel.locator('[data-suggestion="1"]')
    expect(suggestion.locator("[data-explanation]")).to_contain_text(
        "Customs hold, VIP: Percentage discount code 22.5%"
    )
    expect(suggestion.locator("[data-explanation]")).to_contain_text("uplifted by rule 'VIP +50%'")
    settled(page)
    mark_document(page)

    suggestion.get_by_text("Edit or replace").click()
    form = suggestion.locator("[data-remedy-edit]")
    form.get_by_label("Remedy").select_option("coupon")
    form.get_by_label("Amount").fill("20.00")
    form.get_by_role("button", name="Send this remedy").click()

    edited = panel.locator('[data-suggestion="1"] [data-remedy-edit]')
    expect(edited.locator('[data-field-error="reason"]')).to_contain_text(
        "Say why you changed the suggestion"
    )
    settled(page)
    edited.get_by_label("Reason").fill("The customer asked for a coupon.")
    edited.get_by_role("button", name="Send this remedy").click()

    expect(panel.locator("[data-remedy-result]")).to_have_text("Sent to the customer.")
    assert page.evaluate("window.__marker") == 1
    offer = CompensationOffer.objects.get(ticket=customs_hold)
    assert (offer.kind, str(offer.amount), offer.reason) == (
        "coupon",
        "20.00",
        "The customer asked for a coupon.",
    )
