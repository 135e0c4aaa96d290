"""The agent console: queue tabs, search, pagination, HTMX partials, ticket detail."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from core.middleware import SESSION_TIME_ZONE_KEY
from tests import factories
from tickets.models import Message, SLATimer, Ticket, TicketEvent

pytestmark = pytest.mark.django_db

CONSOLE = reverse("tickets:console")
HTMX = {"HTTP_HX_REQUEST": "true"}


def subjects(response) -> list[str]:
    return [ticket.subject for ticket in response.context["tickets"]]


def detail_url(ticket: Ticket) -> str:
    return reverse("tickets:ticket_detail", args=[ticket.public_id])


@pytest.fixture
def queues(agent, other_agent):
    """One ticket per situation the tabs must tell apart."""
    return {
        "mine": factories.TicketFactory(subject="Mine, open", assignee=agent),
        "mine_solved": factories.TicketFactory(
            subject="Mine, solved", assignee=agent, status="solved", solved_at=timezone.now()
        ),
        "theirs": factories.TicketFactory(subject="Bob's ticket", assignee=other_agent),
        "unassigned": factories.TicketFactory(subject="Nobody's ticket"),
        "closed": factories.TicketFactory(
            subject="Closed long ago", status="closed", solved_at=timezone.now()
        ),
    }


# ---- Queues ---------------------------------------------------------------------------------


def test_the_mine_queue_shows_only_my_open_tickets(agent_client, queues):
    response = agent_client.get(CONSOLE, {"queue": "mine"})

    assert response.status_code == 200
    assert subjects(response) == ["Mine, open"]


def test_the_unassigned_queue_shows_only_open_tickets_without_an_owner(agent_client, queues):
    response = agent_client.get(CONSOLE, {"queue": "unassigned"})

    assert subjects(response) == ["Nobody's ticket"]


def test_the_all_queue_shows_every_open_ticket_and_no_solved_or_closed_one(agent_client, queues):
    response = agent_client.get(CONSOLE, {"queue": "all"})

    assert sorted(subjects(response)) == ["Bob's ticket", "Mine, open", "Nobody's ticket"]


def test_the_console_opens_on_my_queue_and_ignores_an_unknown_queue(agent_client, queues):
    assert subjects(agent_client.get(CONSOLE)) == ["Mine, open"]
    response = agent_client.get(CONSOLE, {"queue": "everything'); drop table"})
    assert response.context["queue"] == "mine"
    assert subjects(response) == ["Mine, open"]


def test_the_tabs_show_how_many_open_tickets_each_queue_holds(agent_client, queues):
    response = agent_client.get(CONSOLE)

    assert response.context["counts"] == {"mine": 1, "unassigned": 1, "all": 3}


def test_the_queue_puts_urgent_tickets_first_then_the_oldest(agent_client):
    now = timezone.now()
    made = {}
    for subject, priority, age_hours in [
        ("normal old", "normal", 10),
        ("low oldest", "low", 20),
        ("urgent new", "urgent", 1),
        ("high", "high", 2),
        ("normal new", "normal", 3),
    ]:
        made[subject] = factories.TicketFactory(subject=subject, priority=priority)
        Ticket.objects.filter(pk=made[subject].pk).update(
            created_at=now - dt.timedelta(hours=age_hours)
        )

    response = agent_client.get(CONSOLE, {"queue": "all"})

    assert subjects(response) == ["urgent new", "high", "normal old", "normal new", "low oldest"]


def test_the_queue_shows_the_customer_tier_the_shipment_and_the_assignee(agent_client, agent):
    vip = factories.CustomerFactory(name="Vera Important", tier="vip")
    ticket = factories.TicketFactory(customer=vip, assignee=agent, priority="high")

    body = agent_client.get(CONSOLE).content.decode()

    assert "Vera Important" in body
    assert ">VIP<" in body
    assert ticket.shipment.order_number in body
    assert ticket.shipment.tracking_number in body
    assert "Alice" in body
    assert f'href="{detail_url(ticket)}"' in body


def test_the_sla_column_shows_the_soonest_running_timer_only(agent_client, agent):
    now = timezone.now()
    ticket = factories.TicketFactory(assignee=agent)
    soonest = now + dt.timedelta(minutes=40)
    factories.SLATimerFactory(ticket=ticket, kind="first_response", due_at=soonest)
    factories.SLATimerFactory(ticket=ticket, kind="resolution", due_at=now + dt.timedelta(hours=5))
    factories.SLATimerFactory(
        ticket=ticket,
        kind="next_response",
        status="met",
        met_at=now,
        due_at=now - dt.timedelta(hours=3),
    )

    response = agent_client.get(CONSOLE)

    (row,) = response.context["tickets"]
    assert row.sla_due_at == soonest
    assert "sla-soon" in response.content.decode()


def test_an_overdue_sla_timer_is_flagged(agent_client, agent):
    ticket = factories.TicketFactory(assignee=agent)
    factories.SLATimerFactory(ticket=ticket, due_at=timezone.now() - dt.timedelta(minutes=5))

    body = agent_client.get(CONSOLE).content.decode()

    assert "sla-overdue" in body
    assert "Overdue" in body


# ---- Search ---------------------------------------------------------------------------------


@pytest.fixture
def two_tickets():
    wanted = factories.TicketFactory(
        subject="The wanted one",
        customer=factories.CustomerFactory(email="wanted@example.com", name="Wanda Wanted"),
    )
    factories.TicketFactory(subject="Some other parcel")
    return wanted


@pytest.mark.parametrize(
    "term",
    [
        lambda t: t.shipment.order_number,
        lambda t: t.shipment.tracking_number,
        lambda t: t.customer.email,
        lambda t: "WANTED@example.com",
        lambda t: f"#{t.pk}",
    ],
    ids=["order number", "tracking number", "customer email", "email any case", "reference"],
)
def test_search_finds_a_ticket_by(agent_client, two_tickets, term):
    response = agent_client.get(CONSOLE, {"queue": "all", "q": term(two_tickets)})

    assert subjects(response) == ["The wanted one"]


def test_search_stays_inside_the_current_queue(agent_client, two_tickets):
    response = agent_client.get(CONSOLE, {"queue": "mine", "q": two_tickets.shipment.order_number})

    assert subjects(response) == []
    body = response.content.decode()
    assert "No open tickets match" in body
    assert "Search all open tickets" in body


def test_the_search_box_keeps_the_term_and_asks_htmx_for_the_queue_only(agent_client):
    body = agent_client.get(CONSOLE, {"q": "ORD-42"}).content.decode()

    assert 'value="ORD-42"' in body
    assert 'hx-trigger="keyup changed delay:300ms, search"' in body
    assert 'hx-target="#queue"' in body
    assert 'hx-push-url="true"' in body


# ---- Pagination -----------------------------------------------------------------------------


def test_the_queue_is_paginated_by_25_and_the_links_keep_queue_and_search(agent_client):
    customer = factories.CustomerFactory(name="Paula Pages")
    factories.TicketFactory.create_batch(30, customer=customer)

    first = agent_client.get(CONSOLE, {"queue": "all", "q": "Paula"})
    second = agent_client.get(CONSOLE, {"queue": "all", "q": "Paula", "page": 2})

    assert len(first.context["tickets"]) == 25
    assert len(second.context["tickets"]) == 5
    assert not set(subjects(first)) & set(subjects(second))
    assert 'href="?queue=all&amp;q=Paula&amp;page=2"' in first.content.decode()
    assert 'href="?queue=all&amp;q=Paula&amp;page=1"' in second.content.decode()


def test_a_page_number_out_of_range_shows_the_last_page(agent_client):
    factories.TicketFactory.create_batch(3)

    response = agent_client.get(CONSOLE, {"queue": "all", "page": 99})

    assert response.status_code == 200
    assert len(response.context["tickets"]) == 3


# ---- HTMX -----------------------------------------------------------------------------------


def test_an_htmx_request_gets_only_the_queue_partial(agent_client, queues):
    response = agent_client.get(CONSOLE, {"queue": "unassigned"}, **HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert "<header" not in body
    assert body.lstrip().startswith('<section id="queue"')
    assert "Nobody&#x27;s ticket" in body
    assert "HX-Request" in response["Vary"]


def test_a_full_page_request_gets_the_layout_around_the_queue(agent_client, queues):
    body = agent_client.get(CONSOLE).content.decode()

    assert "<html" in body
    assert '<section id="queue"' in body
    assert 'hx-headers=\'{"X-CSRFToken": "' in body
    assert "django_htmx/htmx-2.min.js" in body
    assert "js/console.js" in body


def test_an_htmx_history_restore_gets_the_whole_page(agent_client):
    response = agent_client.get(CONSOLE, **HTMX, HTTP_HX_HISTORY_RESTORE_REQUEST="true")

    assert "<html" in response.content.decode()


def test_every_tab_and_page_link_keeps_a_real_href(agent_client):
    factories.TicketFactory.create_batch(26)

    body = agent_client.get(CONSOLE, {"queue": "all"}, **HTMX).content.decode()

    for queue in ("mine", "unassigned", "all"):
        assert f'href="?queue={queue}" hx-get="?queue={queue}"' in body
    assert 'href="?queue=all&amp;page=2" hx-get="?queue=all&amp;page=2"' in body


# ---- Empty states ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("queue", "text"),
    [
        ("mine", "No tickets assigned to you."),
        ("unassigned", "Every open ticket has an owner."),
        ("all", "No open tickets."),
    ],
)
def test_each_empty_queue_says_what_to_do(agent_client, queue, text):
    body = agent_client.get(CONSOLE, {"queue": queue}).content.decode()

    assert text in body
    assert "<table" not in body


# ---- Access ---------------------------------------------------------------------------------


def test_the_console_only_answers_get(agent_client):
    assert agent_client.post(CONSOLE).status_code == 405


def test_a_user_without_the_console_permission_gets_403(client):
    client.force_login(factories.UserFactory(is_staff=True))

    assert client.get(CONSOLE).status_code == 403


# ---- Query counts ---------------------------------------------------------------------------


def make_queue_tickets(agent, n: int) -> None:
    for i in range(n):
        ticket = factories.TicketFactory(assignee=agent if i % 2 else None, priority="high")
        factories.SLATimerFactory(ticket=ticket)


# The console costs a fixed number of queries, whatever the number of rows:
#  1. session  2. user  3. user permissions  4. group permissions
#  5. paginator count  6. the page of tickets (customer, shipment, assignee joined; SLA subquery)
#  7. tab counts (one aggregate)
CONSOLE_QUERIES = 7


@pytest.mark.parametrize("n", [3, 30])
def test_the_console_runs_a_constant_number_of_queries(
    agent_client, agent, django_assert_num_queries, n
):
    make_queue_tickets(agent, n)

    with django_assert_num_queries(CONSOLE_QUERIES):
        response = agent_client.get(CONSOLE, {"queue": "all"})

    assert len(response.context["tickets"]) == min(n, 25)


def test_the_htmx_partial_runs_the_same_queries(agent_client, agent, django_assert_num_queries):
    make_queue_tickets(agent, 30)

    with django_assert_num_queries(CONSOLE_QUERIES):
        agent_client.get(CONSOLE, {"queue": "all", "q": "parcel"}, **HTMX)


# ---- Ticket detail --------------------------------------------------------------------------


@pytest.fixture
def full_ticket(agent, other_agent):
    """A ticket with something in every panel of its page."""
    customer = factories.CustomerFactory(
        name="Lin Wei",
        tier="vip",
        language="zh-hans",
        region="asia",
        preferred_channel="sms",
        opt_out_email=True,
    )
    carrier = factories.CarrierFactory(code="sf", name="SF Express")
    now = timezone.now()
    shipment = factories.ShipmentFactory(
        customer=customer,
        carrier=carrier,
        order_number="ORD-777",
        tracking_number="SF123456789",
        status="exception",
        cause="customs_hold",
        delay_level="red",
        delay_detected_at=now,
        promised_at=now - dt.timedelta(days=2),
        predicted_eta=now + dt.timedelta(days=5),
        last_location="Frankfurt customs",
    )
    ticket = factories.TicketFactory(
        customer=customer,
        shipment=shipment,
        subject="Parcel stuck in customs",
        assignee=agent,
        priority="urgent",
        category="delay",
        source="customer",
        team=factories.TeamFactory(name="Cross-border"),
    )
    factories.MessageFactory(ticket=ticket, body="Where is my parcel?")
    factories.MessageFactory(
        ticket=ticket,
        kind="note",
        direction="internal",
        author=agent,
        body="Customs wants an invoice.",
        channel="",
    )
    factories.MessageFactory(
        ticket=ticket, direction="outbound", author=agent, body="We are on it."
    )
    factories.TicketEventFactory(ticket=ticket, kind="created")
    factories.TicketEventFactory(ticket=ticket, kind="assigned", actor=agent, is_public=True)
    factories.SLATimerFactory(ticket=ticket, kind="first_response")
    factories.TrackingEventFactory(
        shipment=shipment,
        status="in_transit",
        location="Shenzhen hub",
        occurred_at=now - dt.timedelta(days=4),
    )
    factories.TrackingEventFactory(
        shipment=shipment,
        status="exception",
        cause="customs_hold",
        location="Frankfurt customs",
        occurred_at=now - dt.timedelta(days=1),
        description="Held for inspection",
    )
    factories.TicketFactory(customer=customer, subject="An older question")
    factories.CompensationOfferFactory(ticket=ticket, kind="partial_refund")
    return ticket


def test_the_ticket_page_shows_the_ticket_and_every_panel(agent_client, full_ticket):
    response = agent_client.get(detail_url(full_ticket))

    body = response.content.decode()
    assert response.status_code == 200
    for text in [
        "Parcel stuck in customs",
        "Urgent",
        "Delay",
        "Customer",
        "Cross-border",
        "Alice",
        # customer profile
        "Lin Wei",
        "VIP",
        "Simplified Chinese",
        "Asia",
        "SMS",
        "1 other ticket",
        "1 compensation offer",
        "An older question",
        "Partial refund",
        # shipment panel
        "SF Express",
        "SF123456789",
        "ORD-777",
        "Customs hold",
        "Red: predicted over a week late",
        "7.0 days late",
        "Frankfurt customs",
        "Shenzhen hub",
        "Held for inspection",
        # SLA, messages, timeline
        "First response",
        "Where is my parcel?",
        "Customs wants an invoice.",
        "We are on it.",
        "Created",
        "Assigned",
    ]:
        assert text in body, text


def test_internal_notes_look_different_from_public_replies(agent_client, full_ticket):
    body = agent_client.get(detail_url(full_ticket)).content.decode()

    assert body.count("msg msg-note") == 1
    assert body.count("msg msg-public") == 2
    assert "Internal note" in body


def test_the_opted_out_channels_are_listed(agent_client, full_ticket):
    body = agent_client.get(detail_url(full_ticket)).content.decode()

    assert "Opted out of" in body
    assert 'badge badge-warning">Email<' in body


def test_an_unknown_ticket_is_404(agent_client):
    response = agent_client.get(reverse("tickets:ticket_detail", args=[uuid.uuid4()]))

    assert response.status_code == 404


def test_the_ticket_page_needs_the_console_permission(client, full_ticket):
    client.force_login(factories.UserFactory())

    assert client.get(detail_url(full_ticket)).status_code == 403


def test_the_ticket_page_shows_times_in_the_readers_time_zone(agent_client, agent):
    ticket = factories.TicketFactory(assignee=agent)
    with time_machine.travel(dt.datetime(2025, 3, 1, 23, 30, tzinfo=dt.UTC), tick=False):
        factories.TicketEventFactory(ticket=ticket, kind="created")
    session = agent_client.session
    session[SESSION_TIME_ZONE_KEY] = "Asia/Shanghai"
    session.save()

    body = agent_client.get(detail_url(ticket)).content.decode()

    assert "2025-03-02 07:30" in body
    assert "Times are shown in Asia/Shanghai." in body


def add_history(ticket: Ticket, agent, n: int) -> None:
    for i in range(n):
        factories.MessageFactory(ticket=ticket, body=f"Message {i}")
        factories.MessageFactory(
            ticket=ticket, kind=Message.Kind.NOTE, direction="internal", author=agent, body="n"
        )
        factories.TicketEventFactory(
            ticket=ticket, kind=TicketEvent.Kind.NOTE, actor=agent, is_public=False
        )
        factories.TrackingEventFactory(shipment=ticket.shipment)
        factories.SLATimerFactory(
            ticket=ticket, kind="milestone", name=f"step {i}", status=SLATimer.Status.ACTIVE
        )
        other = factories.TicketFactory(customer=ticket.customer, shipment=ticket.shipment)
        factories.CompensationOfferFactory(ticket=other)


# The ticket page costs a fixed number of queries, however long its history:
#  1. session  2. user  3. user permissions  4. group permissions
#  5. the ticket with customer, shipment, carrier, lane, incidents, team, assignee, policy joined
#     and the customer's ticket and offer counts as subqueries
#  6. SLA timers  7. messages (with authors)  8. timeline events (with actors)
#  9. shipment tracking events  10. the customer's recent other tickets  11. their recent offers
DETAIL_QUERIES = 11


@pytest.mark.parametrize("n", [2, 20])
def test_the_ticket_page_runs_a_constant_number_of_queries(
    agent_client, agent, django_assert_num_queries, n
):
    ticket = factories.TicketFactory(assignee=agent)
    add_history(ticket, agent, n)

    with django_assert_num_queries(DETAIL_QUERIES):
        response = agent_client.get(detail_url(ticket))

    assert response.status_code == 200
    assert response.context["ticket"].customer_other_tickets == n
