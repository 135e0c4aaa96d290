"""The case page served again from the cache (portal.page_cache): never older than its case."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse

from compensation.models import CompensationOffer, OfferStatus, RemedyKind
from portal import access, page_cache
from shipments.models import Incident, Shipment, TrackingEvent
from tests import factories
from tests.portal.conftest import NOW, mint, path_of
from tickets import services as tickets
from tickets.models import Message, SatisfactionSurvey, SLATimer, Ticket

pytestmark = pytest.mark.usefixtures("no_rate_limits", "frozen")

# A page kept in the cache: the session, and the link with the case and its stamps.
KEPT_QUERIES = 2


def open_case(client, ticket) -> str:
    url, _ = mint(ticket)
    return client.get(path_of(url))["Location"]


@pytest.fixture
def page(client, case):
    """The case's page URL, viewed once (so it is kept)."""
    location = open_case(client, case)
    assert client.get(location).status_code == 200
    return location


def view(client, location: str) -> str:
    response = client.get(location)
    assert response.status_code == 200
    return response.content.decode()


def test_the_second_view_is_served_from_the_cache(client, page, django_assert_num_queries):
    first = view(client, page)
    with django_assert_num_queries(KEPT_QUERIES):
        second = view(client, page)
    assert _without_tokens(second) == _without_tokens(first)


def test_every_answer_has_a_working_csrf_token_and_no_slot(case):
    client = Client(enforce_csrf_checks=True)
    location = open_case(client, case)
    view(client, location)
    body = view(client, location)  # from the cache
    assert str(page_cache.CSRF_SLOT) not in body
    tokens = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', body))
    assert len(tokens) == 1 and len(next(iter(tokens))) == 64
    response = client.post(
        reverse("portal:reply", args=[case.public_id]),
        {"body": "Hello", "csrfmiddlewaretoken": tokens.pop()},
        HTTP_SEC_FETCH_SITE="same-origin",
        HTTP_ORIGIN="null",
    )
    assert response.status_code == 302


def test_text_that_looks_like_the_slot_stays_text(client, case):
    tickets.ticket_add_customer_message(ticket=case, body="<!--csrf-token--> hi")
    location = open_case(client, case)
    view(client, location)
    body = view(client, location)
    assert "&lt;!--csrf-token--&gt; hi" in body


def _without_tokens(body: str) -> str:
    return re.sub(r'(csrfmiddlewaretoken" value="|X-CSRFToken": ")[^"]+', r"\1", body)


# --- every change is on the very next view ------------------------------------------------------


def test_a_new_message_shows_at_once(client, case, page, agent):
    tickets.ticket_reply(ticket=case, actor=agent, body="Your parcel is at the hub.")
    assert "Your parcel is at the hub." in view(client, page)


def test_a_new_scan_shows_at_once(client, case, page):
    factories.TrackingEventFactory(shipment=case.shipment, location="Brand new hub")
    assert "Brand new hub" in view(client, page)


def test_a_corrected_scan_mapping_shows_at_once(client, case):
    scan = factories.TrackingEventFactory(shipment=case.shipment, location="Mystery hub")
    TrackingEvent.objects.filter(pk=scan.pk).update(unmapped=True, status="", cause="none")
    location = open_case(client, case)
    assert "Mystery hub" not in view(client, location)
    # A mapping for the carrier's code was added: the scan is mapped in place.
    TrackingEvent.objects.filter(pk=scan.pk).update(unmapped=False, status="in_transit")
    assert "Mystery hub" in view(client, location)


def test_a_new_step_shows_at_once(client, case, page, agent):
    tickets.ticket_change_status(ticket=case, actor=agent, status="on_hold")
    assert 'data-story-kind="investigating"' in view(client, page)


def test_a_remedy_offered_and_chosen_shows_at_once(client, case, page):
    offer = factories.CompensationOfferFactory(
        ticket=case, kind=RemedyKind.COUPON, status=OfferStatus.OFFERED
    )
    assert "20.00" in view(client, page)
    # As compensation.issuance does (in the same instant, time being frozen).
    CompensationOffer.objects.filter(pk=offer.pk).update(
        status=OfferStatus.ISSUED,
        issued_at=NOW,
        issued_reference="CODE-42",
        version=F("version") + 1,
        updated_at=NOW,
    )
    assert "CODE-42" in view(client, page)


def test_a_survey_answer_shows_at_once(client, case, agent):
    tickets.ticket_change_status(ticket=case, actor=agent, status="solved")
    survey = SatisfactionSurvey.objects.get(ticket=case)
    location = open_case(client, case)
    assert 'name="rating"' in view(client, location)
    tickets.survey_answer(survey=survey, rating=5, comment="Lovely", now=NOW)
    assert "Lovely" in view(client, location)


def test_a_change_of_agent_estimate_preference_or_incident_text_shows_at_once(
    client, case, page, agent
):
    other = factories.AgentFactory(first_name="Zhang")
    tickets.ticket_assign(ticket=case, actor=agent, assignee=other)
    assert "Zhang" in view(client, page)

    new_eta = NOW + dt.timedelta(days=9)
    Shipment.objects.filter(pk=case.shipment_id).update(predicted_eta=new_eta)
    assert new_eta.date().strftime("%-d") in view(client, page)

    case.customer.language = "zh-hans"
    case.customer.save()
    assert "您的" in view(client, page) or "包裹" in view(client, page)

    incident = factories.IncidentFactory(public_explanation="Old words.")
    Ticket.objects.filter(pk=case.pk).update(incident=incident)
    case.customer.language = "en"
    case.customer.save()
    assert "Old words." in view(client, page)
    Incident.objects.filter(pk=incident.pk).update(public_explanation="New words.")
    assert "New words." in view(client, page)


def test_the_passing_of_time_alone_renews_the_page(client, case, frozen):
    timer = factories.SLATimerFactory(
        ticket=case, kind="first_response", status="active", due_at=NOW + dt.timedelta(minutes=2)
    )
    location = open_case(client, case)
    assert "We will answer you by" in view(client, location)
    frozen.shift(dt.timedelta(minutes=3))  # the clock ran out: before the cache's 60 s bound
    SLATimer.objects.filter(pk=timer.pk).update(due_at=NOW + dt.timedelta(minutes=2))
    assert "We will answer you by" not in view(client, location)


def test_a_page_lives_at_most_the_set_seconds(client, case, page, frozen, settings):
    settings.PORTAL_PAGE_CACHE_SECONDS = 60
    Message.objects.filter(ticket=case).update(body="x")  # a change the key does not see
    frozen.shift(dt.timedelta(seconds=61))
    assert page_cache.get("nothing", now=NOW) is None
    assert view(client, page)  # rendered again, not from the cache


def test_an_action_message_or_another_query_string_is_never_kept(client, case, page):
    response = client.post(reverse("portal:reply", args=[case.public_id]), {"body": "Hi"})
    assert response.status_code == 302
    assert "your message was sent" in view(client, page)
    assert "your message was sent" not in view(client, page)  # shown once, as before
    assert view(client, page + "?utm_source=mail")


def test_the_stamps_are_the_keys_inputs():
    assert set(access.STAMP_NAMES) == set(access._stamps())
