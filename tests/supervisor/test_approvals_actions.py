"""Deciding in the approval queue: approve or reject one offer in place (HTMX swaps its row),
the refusals the row shows (a missing note, four-eyes, already decided), the role and method
checks, and approving an incident's offers within its budget behind a confirmation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from compensation import services
from compensation.models import ApprovalRequest, Budget, CompensationOffer
from tests import factories

pytestmark = pytest.mark.django_db

QUEUE = reverse("supervisor:approvals")
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_ACCEPT_LANGUAGE": "en"}


def approve_url(offer) -> str:
    return reverse("supervisor:approval_approve", args=[offer.public_id])


def reject_url(offer) -> str:
    return reverse("supervisor:approval_reject", args=[offer.public_id])


@pytest.fixture
def requested(agent) -> CompensationOffer:
    """A refund above Alice's authority, waiting for a supervisor."""
    request = factories.ApprovalRequestFactory(
        requested_by=agent,
        offer__requested_by=agent,
        offer__kind="partial_refund",
        offer__amount=Decimal("40.00"),
        offer__ticket=factories.TicketFactory(subject="Tea set stuck"),
    )
    return request.offer


def row_of(response, offer) -> str:
    body = response.content.decode()
    start = body.index(f'id="offer-{offer.public_id}"')
    return body[start : body.index("</tr>", start)]


# ---- Who and how ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [approve_url, reject_url])
def test_agents_may_not_decide(url, agent_client, requested):
    response = agent_client.post(url(requested), {"note": "fine"})

    assert response.status_code == 403
    requested.refresh_from_db()
    assert requested.status == "pending_approval"


@pytest.mark.parametrize("url", [approve_url, reject_url])
def test_anonymous_visitors_are_sent_to_log_in(url, client, requested):
    response = client.post(url(requested), {"note": "fine"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("url", [approve_url, reject_url])
def test_decisions_are_post_only(url, supervisor_client, requested):
    assert supervisor_client.get(url(requested)).status_code == 405
    requested.refresh_from_db()
    assert requested.status == "pending_approval"


def test_a_decision_needs_the_csrf_token(supervisor, requested):
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor)

    response = client.post(approve_url(requested), **HTMX)

    assert response.status_code == 403
    requested.refresh_from_db()
    assert requested.status == "pending_approval"


def test_an_unknown_offer_is_not_found(supervisor_client, requested):
    url = approve_url(requested).replace(
        str(requested.public_id), "0" * 8 + "-0000-0000-0000-" + "0" * 12
    )

    assert supervisor_client.post(url).status_code == 404


# ---- Approve --------------------------------------------------------------------------------


def test_approving_swaps_the_row_for_its_outcome(supervisor_client, supervisor, requested):
    response = supervisor_client.post(approve_url(requested), **HTMX)

    assert response.status_code == 200
    requested.refresh_from_db()
    assert requested.status != "pending_approval"
    assert requested.approved_by == supervisor
    row = row_of(response, requested)
    assert "data-outcome" in row
    assert "data-approve" not in row  # decided: no buttons any more
    assert 'data-approvals-count hx-swap-oob="true">0<' in response.content.decode()


def test_approving_without_javascript_comes_back_to_the_queue(supervisor_client, requested):
    response = supervisor_client.post(approve_url(requested), {"page": "1"}, follow=True)

    assert response.redirect_chain[-1][0] == QUEUE
    assert "Approved: Partial refund" in response.content.decode()
    requested.refresh_from_db()
    assert requested.status != "pending_approval"


def test_the_requester_cannot_approve_their_own_request_and_the_row_says_so(requested):
    # A supervisor asked for this remedy, above their own authority: another must approve.
    requester = factories.SupervisorFactory(username="petra", first_name="Petra")
    CompensationOffer.objects.filter(pk=requested.pk).update(requested_by=requester)
    ApprovalRequest.objects.filter(offer=requested).update(requested_by=requester)
    client = Client()
    client.force_login(requester)

    response = client.post(approve_url(requested), **HTMX)

    assert response.status_code == 403
    assert response["Delaydesk-Fragment"] == "approval-row"
    row = row_of(response, requested)
    assert "You requested this remedy; another supervisor must approve it." in row
    assert "data-row-error" in row and "data-approve" in row  # still pending, still decidable
    requested.refresh_from_db()
    assert requested.status == "pending_approval"


def test_four_eyes_without_javascript_shows_the_message_on_the_page(requested):
    requester = factories.SupervisorFactory(username="petra")
    CompensationOffer.objects.filter(pk=requested.pk).update(requested_by=requester)
    ApprovalRequest.objects.filter(offer=requested).update(requested_by=requester)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(requester)

    response = client.post(approve_url(requested), {"page": "1"})

    assert response.status_code == 403
    assert "another supervisor must approve it" in row_of(response, requested)


def test_a_decided_offer_says_it_was_already_decided(supervisor_client, requested):
    assert supervisor_client.post(approve_url(requested), **HTMX).status_code == 200

    again = supervisor_client.post(approve_url(requested), **HTMX)
    rejected = supervisor_client.post(reject_url(requested), {"note": "No"}, **HTMX)

    for response in (again, rejected):
        assert response.status_code == 409
        assert response["Delaydesk-Fragment"] == "approval-row"
        assert "data-row-error" in row_of(response, requested)


# ---- Reject ---------------------------------------------------------------------------------


@pytest.mark.parametrize("note", ["", "   "])
def test_rejecting_without_a_note_is_refused_with_a_field_message(
    note, supervisor_client, requested
):
    response = supervisor_client.post(reject_url(requested), {"note": note}, **HTMX)

    assert response.status_code == 422
    assert response["Delaydesk-Fragment"] == "approval-row"
    row = row_of(response, requested)
    assert str(services.NOTE_REQUIRED) in row
    assert 'aria-invalid="true"' in row and "data-note-error" in row
    requested.refresh_from_db()
    assert requested.status == "pending_approval"


def test_rejecting_without_a_note_reads_in_chinese(supervisor_client, requested):
    response = supervisor_client.post(
        reject_url(requested), {"note": ""}, HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )

    assert response.status_code == 422
    with translation.override("zh-hans"):
        message = translation.gettext(services.NOTE_REQUIRED)
        reject = translation.gettext("Reject")
    assert reject != "Reject"
    row = row_of(response, requested)
    assert message in row and reject in row


def test_rejecting_without_a_note_and_without_javascript_keeps_the_page(
    supervisor_client, requested
):
    response = supervisor_client.post(reject_url(requested), {"note": "", "page": "1"})

    assert response.status_code == 422
    assert "Say why" in row_of(response, requested)


def test_a_note_too_long_is_a_field_message_not_an_error(supervisor_client, requested):
    response = supervisor_client.post(reject_url(requested), {"note": "x" * 5000}, **HTMX)

    assert response.status_code == 422
    assert "data-note-error" in row_of(response, requested)


def test_rejecting_with_a_note_swaps_the_row_for_its_outcome(supervisor_client, requested):
    response = supervisor_client.post(
        reject_url(requested), {"note": "Over the policy: offer the coupon instead."}, **HTMX
    )

    assert response.status_code == 200
    requested.refresh_from_db()
    assert requested.status == "rejected"
    row = row_of(response, requested)
    assert "data-outcome" in row
    assert "Over the policy: offer the coupon instead." in row


# ---- An incident's offers at once ------------------------------------------------------------


@pytest.fixture
def incident_with_offers(agent):
    incident = factories.IncidentFactory(title="Customs strike")
    today = timezone.now().date()
    Budget.objects.create(
        name="Customs strike",
        period_start=today - dt.timedelta(days=1),
        period_end=today + dt.timedelta(days=30),
        amount=Decimal("100.00"),
        incident=incident,
    )
    offers = []
    for _ in range(2):
        request = factories.ApprovalRequestFactory(
            requested_by=agent,
            offer__requested_by=agent,
            offer__amount=Decimal("30.00"),
            offer__ticket=factories.TicketFactory(incident=incident),
        )
        offers.append(request.offer)
    return incident, offers


def test_the_bulk_approval_asks_for_confirmation_first(supervisor_client, incident_with_offers):
    incident, offers = incident_with_offers
    url = reverse("supervisor:approval_incident", args=[incident.public_id])

    response = supervisor_client.get(url, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    body = response.content.decode()
    assert "2 offers of this incident wait for approval." in body
    assert "€60.00 of €100.00 used" in body
    assert f'action="{url}"' in body and 'method="post"' in body
    for offer in offers:
        offer.refresh_from_db()
        assert offer.status == "pending_approval"


def test_the_bulk_approval_approves_the_incident_s_offers(supervisor_client, incident_with_offers):
    incident, offers = incident_with_offers
    url = reverse("supervisor:approval_incident", args=[incident.public_id])

    response = supervisor_client.post(url, HTTP_ACCEPT_LANGUAGE="en", follow=True)

    assert response.redirect_chain[-1][0] == QUEUE
    assert "Customs strike: 2 offers approved; 0 left waiting." in response.content.decode()
    for offer in offers:
        offer.refresh_from_db()
        assert offer.status != "pending_approval"


def test_agents_may_not_approve_an_incident_s_offers(agent_client, incident_with_offers):
    incident, offers = incident_with_offers
    url = reverse("supervisor:approval_incident", args=[incident.public_id])

    assert agent_client.get(url).status_code == 403
    assert agent_client.post(url).status_code == 403
    offers[0].refresh_from_db()
    assert offers[0].status == "pending_approval"


def test_a_decision_brings_the_incident_strip_up_to_date(supervisor_client, incident_with_offers):
    incident, offers = incident_with_offers

    response = supervisor_client.post(approve_url(offers[0]), **HTMX)

    assert response.status_code == 200
    body = response.content.decode()
    strip = body[body.index('id="approval-incidents"') :]
    assert 'hx-swap-oob="true"' in strip[:200]
    assert "1 offer waiting" in strip


def test_the_incident_strip_hides_when_no_incident_has_offers_waiting(supervisor_client, requested):
    response = supervisor_client.post(approve_url(requested), **HTMX)

    body = response.content.decode()
    strip = body[body.index('id="approval-incidents"') :]
    assert " hidden>" in strip[:300]
