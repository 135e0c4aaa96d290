"""A supervisor works the approval queue in a real browser, in English and in Chinese: approves
one offer from the keyboard, is refused a note-less rejection in the row, rejects another offer
with a note, sees four-eyes refuse their own request, all without a page load and with no
Content-Security-Policy violation; on a phone the queue is a list of cards."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from compensation import services
from compensation.models import ApprovalRequest, CompensationOffer
from tests import factories
from tests.e2e.conftest import browser_missing_reason
from tests.e2e.test_csp import (
    PHONE,
    log_in,
    settled,
    watched,  # noqa: F401 (the fixture, used by name)
)

_missing = browser_missing_reason()
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(_missing is not None, reason=f"browser tests skipped: {_missing}"),
]

if _missing is None:
    from playwright.sync_api import expect

QUEUE = "/supervisor/approvals/"


@pytest.fixture
def queue(transactional_db, default_configuration):
    """Three requests, oldest first: Alice's refund and coupon, and one Sam asked for himself."""
    alice = factories.AgentFactory(username="alice", first_name="Alice")
    factories.AgentProfileFactory(user=alice)
    sam = factories.SupervisorFactory(username="sam", first_name="Sam")
    now = timezone.now()
    offers = {}
    for age, (name, requester, kind, amount) in enumerate(
        [
            ("refund", alice, "partial_refund", "20.00"),
            ("coupon", alice, "coupon", "15.00"),
            ("own", sam, "coupon", "25.00"),
        ]
    ):
        request = factories.ApprovalRequestFactory(
            requested_by=requester,
            offer__requested_by=requester,
            offer__kind=kind,
            offer__amount=Decimal(amount),
            offer__ticket=factories.TicketFactory(subject=f"Late parcel: {name}"),
        )
        CompensationOffer.objects.filter(pk=request.offer.pk).update(
            created_at=now - dt.timedelta(hours=10 - age)
        )
        offers[name] = request.offer
    return offers


def row(page, offer):
    return page.locator(f"#offer-{offer.public_id}")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_supervisor_approves_and_rejects_in_place(watched, queue, language):  # noqa: F811
    browser = watched(language=language)
    page = browser.page
    for name in ("refund", "coupon", "own"):
        for action in ("approve", "reject"):
            # The refusals come back as rows with an error status, by design.
            browser.expected_errors.add(
                f"{browser.live_server.url}/supervisor/approvals/{queue[name].public_id}/{action}/"
            )
    log_in(browser, "sam", QUEUE)
    with translation.override(language):
        approved_label = translation.gettext("Approve")
        reject_label = translation.gettext("Reject")
        four_eyes = translation.gettext(str(services.FOUR_EYES))
        note_required = translation.gettext(str(services.NOTE_REQUIRED))
    if language != "en":
        assert approved_label != "Approve", "compile the zh-Hans catalogue"
    expect(page.locator("[data-approval-row]")).to_have_count(3)
    page.evaluate("window.__marker = 1")

    # j highlights the oldest request, a approves it: the row turns into its outcome.
    page.keyboard.press("j")
    expect(row(page, queue["refund"])).to_have_class(re.compile(r"\bis-highlighted\b"))
    page.keyboard.press("a")
    expect(row(page, queue["refund"]).locator("[data-outcome]")).to_be_visible()
    expect(row(page, queue["refund"]).get_by_role("button", name=approved_label)).to_have_count(0)
    expect(page.locator("[data-approvals-count]")).to_have_text("2")
    settled(page)

    # j moves to the coupon, r focuses its note; Enter without a note is refused in the row.
    page.keyboard.press("j")
    page.keyboard.press("r")
    note = row(page, queue["coupon"]).locator("[data-reject-note]")
    expect(note).to_be_focused()
    page.keyboard.press("Enter")
    expect(row(page, queue["coupon"]).locator("[data-note-error]")).to_have_text(note_required)
    settled(page)
    note = row(page, queue["coupon"]).locator("[data-reject-note]")
    expect(note).to_be_focused()
    note.fill("Over the policy: offer 10 EUR instead.")
    note.press("Enter")
    coupon = row(page, queue["coupon"])
    expect(coupon.locator("[data-outcome-note]")).to_have_text(
        "Over the policy: offer 10 EUR instead."
    )
    expect(page.locator("[data-approvals-count]")).to_have_text("1")
    settled(page)

    # Sam's own request: four-eyes refuses, the row says why and stays decidable.
    own = row(page, queue["own"])
    own.get_by_role("button", name=approved_label).click()
    expect(own.locator("[data-row-error]")).to_have_text(four_eyes)
    expect(own.get_by_role("button", name=reject_label)).to_be_visible()
    settled(page)

    # The help dialog.
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    expect(page.locator("#shortcuts-help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts-help")).to_be_hidden()

    assert page.evaluate("window.__marker") == 1, "a decision reloaded the page"
    statuses = dict(
        CompensationOffer.objects.filter(pk__in=[o.pk for o in queue.values()]).values_list(
            "pk", "status"
        )
    )
    assert statuses[queue["refund"].pk] not in ("pending_approval", "rejected")
    assert statuses[queue["coupon"].pk] == "rejected"
    assert statuses[queue["own"].pk] == "pending_approval"
    assert (
        ApprovalRequest.objects.get(offer=queue["coupon"]).note
        == "Over the policy: offer 10 EUR instead."
    )
    browser.assert_clean()


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_queue_fits_a_phone_as_cards(watched, queue, language):  # noqa: F811
    phone = watched(language=language, viewport=PHONE)
    log_in(phone, "sam", QUEUE)
    page = phone.page

    assert page.evaluate("document.documentElement.scrollWidth") == PHONE["width"]
    expect(page.locator(".approvals-table thead")).to_have_css("position", "absolute")
    expect(row(page, queue["refund"])).to_have_css("display", "grid")
    expect(row(page, queue["refund"]).locator("[data-approve]")).to_be_visible()
    phone.assert_clean()
