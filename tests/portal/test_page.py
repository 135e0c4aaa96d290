"""What the case page shows, what it never shows, and its fixed query count."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from compensation.models import OfferStatus, RemedyKind
from portal.selectors import CASE_EVENTS, CASE_SCANS, SHOWN_EVENTS, SHOWN_SCANS
from tests import factories
from tests.portal.conftest import NOW, mint, path_of
from tickets.models import Message, TicketEvent

pytestmark = pytest.mark.usefixtures("no_rate_limits", "frozen")

Kind = TicketEvent.Kind
# Session, the link with the case, events, agents' first names, messages, remedies, survey,
# scans (whether or not anything is there to read); the link query also reads the next clock.
QUERIES = 7


def open_case(client, ticket) -> str:
    url, _ = mint(ticket)
    response = client.get(path_of(url))
    assert response.status_code == 302
    return response["Location"]


def story(ticket, agent, *, size: int = 1, marker: str = "A"):
    """A worked case: events of each public kind, the conversation, a note, scans, a choice
    of remedies, an incident, a running clock. ``size`` repeats the events and scans."""
    start = NOW - dt.timedelta(days=6)
    incident = factories.IncidentFactory(
        title=f"INTERNAL TITLE {marker}",
        public_explanation=f"Customs at Leipzig are checking every parcel ({marker}).",
        public_explanation_zh_hans=f"莱比锡海关正在逐件检查包裹（{marker}）。",
    )
    ticket.incident = incident
    ticket.save()
    shipment = ticket.shipment
    shipment.promised_at = NOW - dt.timedelta(days=2)
    shipment.predicted_eta = NOW + dt.timedelta(days=3)
    shipment.last_event_at = NOW - dt.timedelta(hours=5)
    shipment.delay_level = "red"
    shipment.delay_detected_at = start
    shipment.save()
    at = start
    for i in range(size):
        for kind, data in (
            (Kind.CREATED, {"source": "customer", "priority": "urgent", "team": f"Team {marker}"}),
            (Kind.ASSIGNED, {"assignee": agent.pk, "assignee_name": "Alice", "previous": ""}),
            (Kind.CARRIER_CONTACTED, {}),
            (Kind.COMPENSATION_OFFERED, {"kind": "coupon", "amount": "15.00", "currency": "EUR"}),
        ):
            at += dt.timedelta(minutes=7)
            factories.TicketEventFactory(ticket=ticket, kind=kind, data=data, created_at=at)
        at += dt.timedelta(minutes=7)
        factories.TicketEventFactory(
            ticket=ticket,
            kind=Kind.SLA_BREACHED,
            is_public=False,
            data={"timer": f"first response {marker}"},
            created_at=at,
        )
        factories.TrackingEventFactory(
            shipment=shipment,
            occurred_at=start + dt.timedelta(hours=i),
            location=f"Hub {marker}{i}",
            description=f"Arrived at hub {marker}{i}",
        )
    factories.MessageFactory(
        ticket=ticket, body=f"Where is my parcel {marker}?", direction="inbound"
    )
    factories.MessageFactory(
        ticket=ticket,
        body=f"Looking into it for you {marker}.",
        direction="outbound",
        author=agent,
        channel="email",
    )
    factories.MessageFactory(
        ticket=ticket,
        kind=Message.Kind.NOTE,
        direction=Message.Direction.INTERNAL,
        author=agent,
        body=f"SECRET NOTE {marker}: customer is a frequent complainer",
    )
    group = uuid.uuid4()
    for kind, amount in ((RemedyKind.COUPON, Decimal("15.00")), (RemedyKind.RESHIP, None)):
        factories.CompensationOfferFactory(
            ticket=ticket,
            kind=kind,
            amount=amount,
            status=OfferStatus.OFFERED,
            choice_group=group,
        )
    factories.CompensationOfferFactory(
        ticket=ticket,
        kind=RemedyKind.FULL_REFUND,
        amount=Decimal("777.13"),
        status=OfferStatus.PENDING_APPROVAL,
        reason=f"PENDING REASON {marker}",
    )
    factories.SLATimerFactory(
        ticket=ticket,
        kind="first_response",
        name=f"SLA NAME {marker}",
        due_at=NOW + dt.timedelta(hours=2),
    )
    return ticket


def test_the_page_tells_the_case_in_plain_words(client, case, agent):
    story(case, agent)
    body = client.get(open_case(client, case)).content.decode()

    for words in (
        "We received your request",
        "Assigned to Alice",
        "Investigating with the carrier",
        "Remedy offered: a coupon worth 15.00 EUR",
        "Alice is looking after your case",
        "Where is my parcel A?",
        "Looking into it for you A.",
        "Customs at Leipzig are checking every parcel (A).",
        "Hub A0",
        "5 days later than promised",  # promised 2 days ago, expected in 3
        "We will answer you by",
        "free replacement shipment",
    ):
        assert words in body, words
    assert 'data-confidence="sure"' in body


def test_the_page_is_in_the_customers_language_and_time_zone(client, case, agent):
    case.customer.language = "zh-hans"
    case.customer.time_zone = "Asia/Shanghai"
    case.customer.save()
    story(case, agent)

    body = client.get(open_case(client, case)).content.decode()

    assert '<html lang="zh-hans">' in body
    assert "莱比锡海关正在逐件检查包裹（A）。" in body
    assert "您的包裹" in body
    assert "Your parcel" not in body


def test_the_language_switch_wins_over_the_profile(client, case):
    location = open_case(client, case)
    client.post(reverse("portal:language"), {"language": "zh-hans", "next": location})
    assert '<html lang="zh-hans">' in client.get(location).content.decode()


def test_nothing_of_another_ticket_or_of_staff_appears(client, case, agent, db):
    other_agent = factories.AgentFactory(
        username="bob.smithers", first_name="Bob", last_name="Smithers"
    )
    richer = factories.TicketFactory(assignee=other_agent)
    story(richer, other_agent, size=3, marker="B")
    richer.customer.name = "Bertha Birdwhistle"
    richer.customer.email = "bertha@example.org"
    richer.customer.save()
    agent.last_name = "Aldergrove"
    agent.save()
    story(case, agent, marker="A")

    body = client.get(open_case(client, case)).content.decode()

    for value in (
        # ticket B's
        "Bertha Birdwhistle",
        "bertha@example.org",
        richer.shipment.order_number,
        richer.shipment.tracking_number,
        "Where is my parcel B?",
        "Looking into it for you B.",
        "(B)",
        "Hub B",
        "Bob",
        "Smithers",
        str(richer.public_id),
        # staff-only, of either ticket
        "SECRET NOTE",
        "INTERNAL TITLE",
        "PENDING REASON",
        "777.13",
        "SLA NAME",
        "first response A",
        "Team A",
        "urgent",
        "Aldergrove",
        "frequent complainer",
        case.customer.tier,
    ):
        assert value not in body, value


@pytest.mark.parametrize("size", [1, 25])
@pytest.mark.parametrize("full", [False, True])
def test_the_query_count_does_not_grow_with_events_or_scans(
    client, case, agent, size, full, django_assert_num_queries
):
    story(case, agent, size=size)
    location = open_case(client, case) + ("?all=1" if full else "")
    with django_assert_num_queries(QUERIES):
        response = client.get(location)
    assert response.status_code == 200
    body = response.content.decode()
    shown_events = CASE_EVENTS if full else SHOWN_EVENTS
    shown_scans = CASE_SCANS if full else SHOWN_SCANS
    assert body.count("data-story-kind") == min(4 * size, shown_events)
    assert body.count("Arrived at hub") == min(size, shown_scans)


def test_the_latest_steps_and_scans_show_first_and_the_rest_is_one_tap_away(client, case, agent):
    story(case, agent, size=5)  # 20 steps, 5 scans... and more scans:
    for i in range(12):
        factories.TrackingEventFactory(
            shipment=case.shipment,
            occurred_at=NOW - dt.timedelta(hours=200 + i),
            location=f"Early hub {i}",
        )
    location = open_case(client, case)

    body = client.get(location).content.decode()

    assert body.count("data-story-kind") == SHOWN_EVENTS
    assert "Show 8 earlier steps" in body
    assert "Show 7 earlier scans" in body
    assert "Hub A4" in body  # the newest scan
    assert "Early hub 11" not in body  # the oldest
    every = client.get(location + "?all=1").content.decode()
    assert every.count("data-story-kind") == 20
    assert "Early hub 11" in every and "earlier scans" not in every


def test_an_empty_case_reads_well(client, db):
    ticket = factories.TicketFactory(shipment=None)
    body = client.get(open_case(client, ticket)).content.decode()
    assert "Our team has your case" in body
    assert "No messages yet." in body
    assert "Nothing yet" in body


def test_a_delivered_parcel_shows_its_delivery(client, case):
    shipment = case.shipment
    shipment.status = "delivered"
    shipment.delivered_at = shipment.promised_at + dt.timedelta(days=1, hours=2)
    shipment.save()
    body = client.get(open_case(client, case)).content.decode()
    assert "data-delivered" in body
    assert "1 day later than promised" in body


def test_a_parcel_warned_as_will_be_late_shows_the_date_its_notice_gave(client, case):
    """The page repeats the late estimate the "will be late" notice told (Shipment.told_eta),
    not the plain prediction the customer never heard."""
    shipment = case.shipment
    shipment.promised_at = NOW + dt.timedelta(days=1)
    shipment.predicted_eta = NOW + dt.timedelta(days=1)
    shipment.late_eta = NOW + dt.timedelta(days=4)
    shipment.delay_level = "will_be_late"
    shipment.delay_detected_at = NOW
    shipment.save()
    body = client.get(open_case(client, case)).content.decode()
    assert "3 days later than promised" in body


def test_every_word_of_the_page_is_translated(client, case, agent):
    """The Chinese page holds no English sentence of ours (the customer's data aside)."""
    case.customer.language = "zh-hans"
    case.customer.save()
    story(case, agent)
    case.status = "solved"
    case.solved_at = NOW
    case.save()
    from tickets.models import SatisfactionSurvey

    SatisfactionSurvey.objects.create(ticket=case, resolved_at=NOW)
    body = client.get(open_case(client, case)).content.decode()
    for sentence in (
        "What happens next",
        "Your parcel",
        "Messages",
        "What we did",
        "How did we do?",
        "How we keep in touch",
        "Making it right",
        "Send",
        "Journey",
    ):
        assert f">{sentence}<" not in body, sentence
