"""The agent console: queue tabs, search, pagination, HTMX partials, ticket detail."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.middleware import SESSION_TIME_ZONE_KEY
from shipments.models import Incident
from tests import factories
from tickets import selectors
from tickets.models import Message, SLATimer, Ticket, TicketEvent

pytestmark = pytest.mark.django_db

CONSOLE = reverse("tickets:console")
COUNTS = reverse("tickets:console_counts")
HTMX = {"HTTP_HX_REQUEST": "true"}
# Issue 4: the queue page and the ticket page each run at most this many SQL queries.
MAX_QUERIES = 12
NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)


def subjects(response) -> list[str]:
    return [ticket.subject for ticket in response.context["tickets"]]


def detail_url(ticket: Ticket) -> str:
    return reverse("tickets:ticket_detail", args=[ticket.public_id])


def shown_counts(response) -> dict[str, int]:
    """The counts written into the tabs fragment."""
    found = re.findall(r'data-count="(\w+)">(\d+)</span>', response.content.decode())
    return {key: int(count) for key, count in found}


def tab_counts(client) -> dict[str, int]:
    """The counts the queue's tabs load after the page (console_counts)."""
    response = client.get(COUNTS, **HTMX)
    assert response.status_code == 200
    return shown_counts(response)


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
    response = agent_client.get(COUNTS, **HTMX)

    assert shown_counts(response) == {
        "mine": 1,
        "unassigned": 1,
        "breaching": 0,
        "all": 3,
        "incident": 0,
    }
    body = response.content.decode()
    # Out-of-band swaps into the tabs' count badges, one per queue, and nothing else.
    assert body.count('hx-swap-oob="true"') == len(selectors.QUEUES)
    assert '<span id="queue-count-all" class="count" hx-swap-oob="true" data-count="all">3<' in body
    assert "<a " not in body


def test_the_queue_page_shows_the_tabs_at_once_and_loads_their_counts_after(agent_client, queues):
    body = agent_client.get(CONSOLE, {"queue": "unassigned", "q": "Nobody"}).content.decode()

    assert f'hx-get="{COUNTS}" hx-trigger="load" hx-target="this" hx-swap="none"' in body
    assert 'hx-push-url="false" hx-indicator="this" data-counts-loader' in body
    assert '<span id="queue-count-all" class="count count-pending" data-count="all"></span>' in body
    assert 'data-queue="unassigned" aria-current="page"' in body
    for label in ("Mine", "Unassigned", "Breaching soon", "By priority", "By incident"):
        assert label in body


def test_the_queue_partial_loads_the_counts_too(agent_client, queues):
    body = agent_client.get(CONSOLE, {"queue": "all"}, **HTMX).content.decode()

    assert f'hx-get="{COUNTS}" hx-trigger="load"' in body


def test_the_counts_do_not_depend_on_the_search(agent_client, queues):
    response = agent_client.get(COUNTS, {"queue": "all", "q": "Nobody"}, **HTMX)

    assert shown_counts(response)["all"] == 3


def test_the_counts_send_anonymous_visitors_to_the_login_page(client, queues):
    response = client.get(COUNTS)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_the_counts_need_the_console_permission(client, queues):
    client.force_login(factories.UserFactory(is_staff=True))

    assert client.get(COUNTS).status_code == 403


def test_the_counts_only_answer_get(agent_client):
    assert agent_client.post(COUNTS).status_code == 405


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


# ---- Breaching soon ------------------------------------------------------------------------


def ticket_due_in(minutes: int, subject: str, **timer_fields) -> Ticket:
    ticket = factories.TicketFactory(subject=subject)
    factories.SLATimerFactory(
        ticket=ticket, due_at=NOW + dt.timedelta(minutes=minutes), **timer_fields
    )
    return ticket


def test_breaching_soon_lists_overdue_and_due_within_the_hour_soonest_first(agent_client):
    with time_machine.travel(NOW, tick=False):
        ticket_due_in(59, "due in 59 min")
        ticket_due_in(-10, "overdue by 10 min")
        ticket_due_in(61, "due in 61 min")
        ticket_due_in(5, "paused", status="paused", paused_at=NOW, remaining_seconds=300)
        ticket_due_in(5, "met", status="met", met_at=NOW)
        solved = ticket_due_in(5, "solved ticket")
        Ticket.objects.filter(pk=solved.pk).update(status="solved", solved_at=NOW)
        urgent_later = ticket_due_in(30, "urgent, due in 30 min")
        Ticket.objects.filter(pk=urgent_later.pk).update(priority="urgent")

        response = agent_client.get(CONSOLE, {"queue": "breaching"})
        counts = tab_counts(agent_client)

    assert subjects(response) == ["overdue by 10 min", "urgent, due in 30 min", "due in 59 min"]
    assert counts["breaching"] == 3


def test_a_ticket_leaves_breaching_soon_when_its_timer_is_met(agent_client):
    with time_machine.travel(NOW, tick=False):
        ticket = ticket_due_in(20, "answered")
        SLATimer.objects.filter(ticket=ticket).update(status="met", met_at=NOW)

        response = agent_client.get(CONSOLE, {"queue": "breaching"})

    assert subjects(response) == []


def test_the_countdown_badges_carry_the_due_time_and_the_words_for_the_script(agent_client):
    with time_machine.travel(NOW, tick=False):
        ticket_due_in(12, "soon")
        ticket_due_in(-4, "late")
        ticket_due_in(185, "later")

        body = agent_client.get(CONSOLE, {"queue": "all"}).content.decode()

    assert body.count("data-countdown ") + body.count("data-countdown\n") >= 3
    assert 'datetime="2026-03-10T09:12:00+00:00"' in body
    assert "12\xa0minutes left" in body
    assert "Overdue 4\xa0minutes" in body
    assert "3\xa0hours, 5\xa0minutes left" in body
    assert 'data-left="%(time)s left"' in body
    assert 'data-overdue="Overdue %(time)s"' in body
    assert 'data-hours="%(hours)s h %(minutes)s min"' in body


def test_a_ticket_waiting_on_the_customer_shows_paused(agent_client, agent):
    ticket = factories.TicketFactory(assignee=agent, status="pending")
    factories.SLATimerFactory(
        ticket=ticket, status="paused", paused_at=timezone.now(), remaining_seconds=600
    )

    body = agent_client.get(CONSOLE).content.decode()

    assert 'class="sla sla-paused">Paused<' in body


# ---- By incident ----------------------------------------------------------------------------


@pytest.fixture
def incidents():
    now = timezone.now()
    older = factories.IncidentFactory(
        title="French customs hold", window_start=now - dt.timedelta(days=3)
    )
    newer = factories.IncidentFactory(
        title="Port strike Hamburg", cause="congestion", window_start=now - dt.timedelta(days=1)
    )
    factories.TicketFactory(subject="customs, normal", incident=older)
    factories.TicketFactory(subject="strike, low", incident=newer, priority="low")
    factories.TicketFactory(subject="strike, urgent", incident=newer, priority="urgent")
    factories.TicketFactory(subject="no incident")
    factories.TicketFactory(
        subject="customs, solved", incident=older, status="solved", solved_at=now
    )
    return older, newer


def test_the_incident_queue_groups_open_tickets_by_incident_newest_first(agent_client, incidents):
    response = agent_client.get(CONSOLE, {"queue": "incident"})

    assert subjects(response) == ["strike, urgent", "strike, low", "customs, normal"]
    assert tab_counts(agent_client)["incident"] == 3
    body = response.content.decode()
    assert body.count('class="group-row"') == 2
    assert body.index("Port strike Hamburg") < body.index("French customs hold")


def test_an_incident_link_narrows_the_queue_to_that_incident(agent_client, incidents):
    older, newer = incidents

    by_public_id = agent_client.get(CONSOLE, {"incident": str(newer.public_id)})
    by_number = agent_client.get(CONSOLE, {"incident": str(older.pk)})

    assert subjects(by_public_id) == ["strike, urgent", "strike, low"]
    assert by_public_id.context["queue"] == "incident"
    assert "Port strike Hamburg" in by_public_id.content.decode()
    assert subjects(by_number) == ["customs, normal"]
    assert agent_client.get(CONSOLE, {"incident": str(uuid.uuid4())}).status_code == 404
    assert agent_client.get(CONSOLE, {"incident": "not-an-id"}).status_code == 404


def test_the_pages_of_one_incident_keep_the_incident(agent_client, incidents):
    _older, newer = incidents
    factories.TicketFactory.create_batch(26, incident=newer)

    body = agent_client.get(CONSOLE, {"incident": str(newer.public_id)}).content.decode()

    assert f'href="?incident={newer.public_id}&amp;after=' in body


# ---- Scope ----------------------------------------------------------------------------------


@pytest.fixture
def two_teams(agent, other_agent):
    """Alice's team, Bob's team, and tickets routed to each, to none, and one lent to Alice."""
    alices_team = agent.agent_profile.team
    bobs_team = other_agent.agent_profile.team
    return {
        "ours": factories.TicketFactory(subject="Team A's ticket", team=alices_team),
        "theirs": factories.TicketFactory(subject="Team B's ticket", team=bobs_team),
        "no_team": factories.TicketFactory(subject="Not routed yet"),
        "lent": factories.TicketFactory(
            subject="Team B's, assigned to Alice", team=bobs_team, assignee=agent
        ),
    }


def test_an_agent_sees_only_their_teams_tickets_unrouted_ones_and_their_own(
    agent_client, two_teams
):
    response = agent_client.get(CONSOLE, {"queue": "all"})

    assert sorted(subjects(response)) == [
        "Not routed yet",
        "Team A's ticket",
        "Team B's, assigned to Alice",
    ]
    counts = tab_counts(agent_client)
    assert counts["all"] == 3
    assert counts["unassigned"] == 2


def test_an_agent_cannot_find_another_teams_ticket_by_search(agent_client, two_teams):
    theirs = two_teams["theirs"]

    response = agent_client.get(CONSOLE, {"queue": "all", "q": theirs.shipment.tracking_number})

    assert subjects(response) == []


def test_another_teams_ticket_page_is_404_for_an_agent(agent_client, two_teams):
    assert agent_client.get(detail_url(two_teams["theirs"])).status_code == 404
    assert agent_client.get(detail_url(two_teams["lent"])).status_code == 200


def test_a_supervisor_sees_every_team(supervisor_client, two_teams):
    response = supervisor_client.get(CONSOLE, {"queue": "all"})

    assert len(subjects(response)) == 4
    assert tab_counts(supervisor_client)["all"] == 4
    assert supervisor_client.get(detail_url(two_teams["theirs"])).status_code == 200


def test_anonymous_visitors_are_sent_to_the_login_page(client, two_teams):
    for path in (CONSOLE, detail_url(two_teams["ours"])):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login") + "?next=")


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
    assert 'rel="next" href="?queue=all&amp;q=Paula&amp;after=' in first.content.decode()
    assert 'rel="prev" href="?queue=all&amp;q=Paula"' in second.content.decode()


def test_a_page_number_out_of_range_shows_the_last_page(agent_client):
    factories.TicketFactory.create_batch(3)

    response = agent_client.get(CONSOLE, {"queue": "all", "page": 99})

    assert response.status_code == 200
    assert len(response.context["tickets"]) == 3


@pytest.fixture
def small_cap(monkeypatch):
    """Queue pages count at most 30 tickets (1000 in production)."""
    monkeypatch.setattr(selectors, "COUNT_CAP", 30)


def test_a_big_queue_counts_up_to_the_cap_and_says_more_than(agent_client, small_cap):
    factories.TicketFactory.create_batch(60)

    with CaptureQueriesContext(connection) as captured:
        first = agent_client.get(CONSOLE, {"queue": "all"})

    body = first.content.decode()
    assert "1–25 of more than 30 · page 1<" in body
    assert 'href="?queue=all&amp;after=' in body
    assert first.context["page"].paginator.count == 31
    (count_sql,) = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert "LIMIT 31" in count_sql


def test_the_capped_count_reads_in_chinese(agent_client, small_cap):
    factories.TicketFactory.create_batch(31)

    body = agent_client.get(
        CONSOLE, {"queue": "all"}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()

    assert "第 1–25 条，共 30 条以上 · 第 1 页" in body


def test_the_pages_past_the_cap_stay_reachable_until_the_last(agent_client, small_cap):
    factories.TicketFactory.create_batch(60)
    seen = []
    for number in (1, 2, 3):
        response = agent_client.get(CONSOLE, {"queue": "all", "page": number})
        seen += subjects(response)
        page = response.context["page"]
        assert page.number == number
        assert page.has_next() == (number < 3)

    body = response.content.decode()
    assert "51–60 of 60 · page 3 of 3" in body
    assert len(seen) == len(set(seen)) == 60


def test_a_page_past_the_cap_is_not_counted_and_knows_whether_a_next_one_exists(
    agent_client, small_cap, django_assert_num_queries
):
    factories.TicketFactory.create_batch(80)

    # The page's ids are read with one row more instead of a count: one query less.
    with django_assert_num_queries(CONSOLE_QUERIES - 1):
        third = agent_client.get(CONSOLE, {"queue": "all", "page": 3})
    with django_assert_num_queries(CONSOLE_QUERIES - 1):
        last = agent_client.get(CONSOLE, {"queue": "all", "page": 4})

    assert len(third.context["tickets"]) == 25
    assert "51–75 of more than 75 · page 3<" in third.content.decode()
    assert 'href="?queue=all&amp;after=' in third.content.decode()
    assert len(last.context["tickets"]) == 5
    assert "76–80 of 80 · page 4 of 4" in last.content.decode()
    assert not last.context["page"].has_next()


def test_a_page_past_the_end_shows_the_last_page_even_past_the_cap(agent_client, small_cap):
    factories.TicketFactory.create_batch(40)

    response = agent_client.get(CONSOLE, {"queue": "all", "page": 7})

    assert response.context["page"].number == 2
    assert len(response.context["tickets"]) == 15
    assert "26–40 of 40 · page 2 of 2" in response.content.decode()


def test_breaching_soon_counts_up_to_the_cap(agent_client, small_cap):
    with time_machine.travel(NOW, tick=False):
        for minutes in range(40):
            ticket_due_in(minutes - 5, f"due in {minutes - 5} min")

        first = agent_client.get(CONSOLE, {"queue": "breaching"})
        second = agent_client.get(CONSOLE, {"queue": "breaching", "page": 2})

    assert "1–25 of more than 30 · page 1<" in first.content.decode()
    assert subjects(first)[0] == "due in -5 min"
    assert "26–40 of 40 · page 2 of 2" in second.content.decode()
    assert subjects(second)[-1] == "due in 34 min"


def test_a_small_queue_shows_its_exact_count_and_pages(agent_client):
    factories.TicketFactory.create_batch(30)

    body = agent_client.get(CONSOLE, {"queue": "all"}).content.decode()

    assert "1–25 of 30 · page 1 of 2" in body


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

    for queue in ("mine", "unassigned", "breaching", "all", "incident"):
        assert f'href="?queue={queue}" hx-get="?queue={queue}"' in body
    assert re.search(r'href="(\?queue=all&amp;after=[^"]+)" hx-get="\1"', body)


# ---- Empty states ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("queue", "text"),
    [
        ("mine", "No tickets assigned to you."),
        ("unassigned", "Every open ticket has an owner."),
        ("breaching", "No SLA is about to breach."),
        ("all", "No open tickets."),
        ("incident", "No open tickets belong to an incident."),
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
    """n open tickets of every kind the queues tell apart, each with a history."""
    incident = factories.IncidentFactory()
    now = timezone.now()
    for i in range(n):
        ticket = factories.TicketFactory(
            assignee=agent if i % 2 else None,
            priority="high",
            incident=incident if i % 3 == 0 else None,
        )
        factories.SLATimerFactory(ticket=ticket, due_at=now + dt.timedelta(minutes=10 + i))
        factories.SLATimerFactory(ticket=ticket, kind="resolution")
        factories.MessageFactory(ticket=ticket)
        factories.TicketEventFactory(ticket=ticket)
        factories.CompensationOfferFactory(ticket=ticket)


# The console costs a fixed number of queries, whatever the queue and the number of rows:
#  1. session  2. user  3. user permissions  4. group permissions
#  5. the agent's team (Ticket.objects.visible_to)
#  6. paginator count (up to selectors.COUNT_CAP)  7. the page's ticket ids, in the queue's
#     order  8. the page's rows (customer, shipment, assignee, incident joined; the soonest SLA
#     due time as a subquery)
# The tab counts are a request of their own, made by the page once it is shown.
CONSOLE_QUERIES = 8
# 1-5 as above, 6. the tab counts (one aggregate)
COUNTS_QUERIES = 6


@pytest.mark.parametrize("queue", selectors.QUEUES)
@pytest.mark.parametrize("n", [3, 30])
def test_the_console_runs_a_constant_number_of_queries(
    agent_client, agent, django_assert_num_queries, n, queue
):
    make_queue_tickets(agent, n)

    with django_assert_num_queries(CONSOLE_QUERIES):
        response = agent_client.get(CONSOLE, {"queue": queue})

    assert response.status_code == 200
    assert response.context["tickets"]
    assert CONSOLE_QUERIES <= MAX_QUERIES


@pytest.mark.parametrize("n", [3, 30])
def test_the_tab_counts_run_a_constant_number_of_queries(
    agent_client, agent, django_assert_num_queries, n
):
    make_queue_tickets(agent, n)

    with django_assert_num_queries(COUNTS_QUERIES):
        response = agent_client.get(COUNTS, {"queue": "all"}, **HTMX)

    assert shown_counts(response)["all"] == n
    assert shown_counts(response)["mine"] == n // 2
    assert COUNTS_QUERIES <= MAX_QUERIES


def test_the_htmx_partial_runs_the_same_queries(agent_client, agent, django_assert_num_queries):
    make_queue_tickets(agent, 30)

    with django_assert_num_queries(CONSOLE_QUERIES):
        agent_client.get(CONSOLE, {"queue": "all", "q": "parcel"}, **HTMX)


@pytest.mark.parametrize("n", [3, 30])
def test_one_incident_costs_one_query_more(agent_client, agent, django_assert_num_queries, n):
    make_queue_tickets(agent, n)
    incident = Incident.objects.get()

    # + the incident itself (its title heads the list)
    with django_assert_num_queries(CONSOLE_QUERIES + 1):
        response = agent_client.get(CONSOLE, {"incident": str(incident.public_id)})

    assert response.context["tickets"]


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
    factories.TicketEventFactory(
        ticket=ticket,
        kind="assigned",
        actor=agent,
        is_public=True,
        data={"assignee": agent.pk, "assignee_name": "Alice", "reason": "claimed"},
    )
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
        "An older question",
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
        "Ticket opened",
        "Alice claimed the ticket",
    ]:
        assert text in body, text


def test_the_ticket_page_loads_the_remedy_panel_with_the_customers_offers(
    agent_client, full_ticket
):
    """The customer's remedies are compensation's panel, loaded after the page (core.panels)."""
    panel_url = reverse("compensation:ticket_panel", args=[full_ticket.public_id])
    body = agent_client.get(detail_url(full_ticket)).content.decode()
    panel = agent_client.get(panel_url, **HTMX).content.decode()

    assert f'hx-get="{panel_url}" hx-trigger="load"' in body
    assert "data-remedy-panel" in body
    assert "1 compensation offer" in panel
    assert "Partial refund" in panel


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
        factories.CompensationOfferFactory(ticket=ticket)
        factories.TicketEventFactory(
            ticket=ticket,
            kind=TicketEvent.Kind.PRIORITY_CHANGED,
            actor=agent,
            data={"old": "normal", "new": "high", "reason": f"reason {i}"},
        )
        factories.TicketEventFactory(
            ticket=ticket,
            kind=TicketEvent.Kind.SLA_BREACHED,
            data={"timer_kind": "first_response", "name": ""},
        )


# The ticket page costs a fixed number of queries, however long its history:
#  1. session  2. user  3. user permissions  4. group permissions
#  5. the agent's team (Ticket.objects.visible_to)
#  6. the ticket with customer, shipment, carrier, lane, incidents, team, assignee, policy joined
#     and the customer's ticket count as a subquery
#  7. SLA timers  8. messages (with authors)  9. timeline events (with actors)
#  10. shipment tracking events
#  11. the customer's five most recent other tickets
#  12. the macros for the reply box
# The customer's remedies are compensation's panel, loaded afterwards with its own budget
# (tests/compensation/test_ticket_panel.py).
# The list of agents to reassign to is loaded when the agent opens "Reassign…".
DETAIL_QUERIES = 12


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
    assert len(response.context["detail"].other_tickets) == min(n, 5)
    assert DETAIL_QUERIES <= MAX_QUERIES


@pytest.mark.parametrize("n", [2, 20])
def test_a_supervisor_s_ticket_page_needs_no_team_lookup(
    supervisor_client, agent, django_assert_num_queries, n
):
    ticket = factories.TicketFactory(assignee=agent, team=factories.TeamFactory())
    add_history(ticket, agent, n)

    with django_assert_num_queries(DETAIL_QUERIES - 1):
        supervisor_client.get(detail_url(ticket))


def test_every_form_of_the_ticket_page_posts_with_htmx_and_carries_the_version(
    agent_client, ticket_with_milestone
):
    ticket = ticket_with_milestone
    Ticket.objects.filter(pk=ticket.pk).update(version=7)

    body = agent_client.get(detail_url(ticket)).content.decode()

    actions = [
        "claim",
        "status",
        "category",
        "priority",
        "carrier-contacted",
        "reply",
        "note",
        "milestone",
    ]
    for action in actions:
        target = f"{detail_url(ticket)}{action}/"
        assert f'action="{target}" hx-post="{target}"' in body, action
    assert body.count('name="version" value="7"') == len(actions)
    assert 'id="ticket" class="ticket-region" data-ticket data-version="7"' in body
    assert 'hx-target="this" hx-swap="outerHTML"' in body
    assert 'hx-headers=\'{"X-CSRFToken": "' in body


@pytest.fixture
def ticket_with_milestone(agent):
    ticket = factories.TicketFactory()
    factories.SLATimerFactory(ticket=ticket, kind="milestone", name="Call the carrier")
    return ticket


def test_a_running_milestone_can_be_marked_done_and_a_met_one_cannot(agent_client, agent):
    ticket = factories.TicketFactory(assignee=agent)
    factories.SLATimerFactory(ticket=ticket, kind="milestone", name="Call the carrier")
    factories.SLATimerFactory(
        ticket=ticket, kind="milestone", name="Plan", status="met", met_at=timezone.now()
    )

    body = agent_client.get(detail_url(ticket)).content.decode()

    assert body.count("Mark done") == 1
    assert "Milestone · Call the carrier" in body


def test_an_htmx_request_for_the_ticket_page_gets_the_ticket_region(agent_client, agent):
    ticket = factories.TicketFactory(assignee=agent)

    response = agent_client.get(detail_url(ticket), **HTMX)

    assert response.content.decode().lstrip().startswith('<div id="ticket"')
    assert "HX-Request" in response["Vary"]


def test_messages_and_events_are_interleaved_newest_first(agent_client, agent):
    ticket = factories.TicketFactory(assignee=agent)
    start = timezone.now() - dt.timedelta(hours=3)
    with time_machine.travel(start, tick=False):
        factories.TicketEventFactory(ticket=ticket, kind="created", data={"source": "email"})
        factories.MessageFactory(ticket=ticket, body="First customer words")
    with time_machine.travel(start + dt.timedelta(hours=1), tick=False):
        factories.TicketEventFactory(
            ticket=ticket,
            kind="status_changed",
            actor=agent,
            data={"old": "new", "new": "on_hold"},
        )
    with time_machine.travel(start + dt.timedelta(hours=2), tick=False):
        factories.MessageFactory(
            ticket=ticket, direction="outbound", author=agent, body="Agent answer"
        )

    body = agent_client.get(detail_url(ticket)).content.decode()

    order = [
        body.index("Agent answer"),
        body.index("Alice changed the status from New to On hold (waiting on carrier)"),
        body.index("First customer words"),
        body.index("Ticket opened (Email)"),
    ]
    assert order == sorted(order)


def test_a_remedy_event_names_the_remedy_in_the_timeline(agent_client, agent):
    ticket = factories.TicketFactory(assignee=agent)
    factories.TicketEventFactory(
        ticket=ticket, kind=TicketEvent.Kind.COMPENSATION_PROPOSED, data={"kind": "partial_refund"}
    )

    body = agent_client.get(detail_url(ticket)).content.decode()

    assert "Remedy proposed: Partial refund" in body


def test_without_a_remedy_labeller_a_remedy_event_still_reads_well(
    agent_client, agent, monkeypatch
):
    """Tickets on its own: remedies are compensation's, which names their kinds (registry)."""
    monkeypatch.setattr(selectors, "_remedy_label", None)
    ticket = factories.TicketFactory(assignee=agent)
    factories.TicketEventFactory(
        ticket=ticket, kind=TicketEvent.Kind.COMPENSATION_PROPOSED, data={"kind": "partial_refund"}
    )

    body = agent_client.get(detail_url(ticket)).content.decode()

    assert "A remedy was proposed" in body
    assert "Partial refund" not in body
