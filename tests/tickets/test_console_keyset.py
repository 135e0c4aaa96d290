"""Keyset paging of the console queues: Next / Previous carry the sort key of the page's last /
first row (`?after=` / `?before=`), so a deep page reads what the first page reads.

Pages of 5 and a count cap of 8 here (25 and 100 in production), so that a few tickets make
several pages, some past the cap. Time is frozen: the tickets share their creation time, and
the queues must still order (and page) them by id.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import time_machine
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests import factories
from tickets import selectors, views
from tickets.models import SLATimer, Ticket

pytestmark = pytest.mark.django_db

CONSOLE = reverse("tickets:console")
HTMX = {"HTTP_HX_REQUEST": "true"}
NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
PAGE = 5
# As tests/tickets/test_console.py: session, user, two permission reads, the agent's team,
# the capped count, the page's ids, the page's rows.
CONSOLE_QUERIES = 8


@pytest.fixture(autouse=True)
def small_pages(monkeypatch):
    monkeypatch.setattr(views, "QUEUE_PAGE_SIZE", PAGE)
    monkeypatch.setattr(selectors, "COUNT_CAP", 8)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def world(frozen, agent):
    """23 open tickets of every kind, created at the same instant (ties in created_at), with
    ties in priority, in incident start times and in SLA due times; and some that no queue
    shows."""
    early, late = factories.IncidentFactory.create_batch(2, window_start=NOW)
    older = factories.IncidentFactory(window_start=NOW - dt.timedelta(days=1))
    incidents = [early, late, older, None]
    priorities = ["normal", "urgent", "low", "normal", "high"]
    for i in range(23):
        ticket = factories.TicketFactory(
            subject=f"ticket {i}",
            priority=priorities[i % 5],
            assignee=agent if i % 2 else None,
            incident=incidents[i % 4],
        )
        # Breaching soon: due in 0, 10, 20 min (ties across tickets), some overdue; every
        # fourth ticket runs a second timer due earlier, which is the one that counts.
        factories.SLATimerFactory(ticket=ticket, due_at=NOW + dt.timedelta(minutes=10 * (i % 3)))
        if i % 4 == 1:
            factories.SLATimerFactory(
                ticket=ticket, kind="resolution", due_at=NOW - dt.timedelta(minutes=i)
            )
        if i % 7 == 0:  # due beyond the hour: not breaching
            SLATimer.objects.filter(ticket=ticket).update(due_at=NOW + dt.timedelta(hours=2))
    factories.TicketFactory(subject="solved", status="solved", solved_at=NOW, incident=early)


def expected_ids(queue: str, agent) -> list[int]:
    """The queue's tickets in its documented order, computed without the console's code."""
    tickets = Ticket.objects.exclude(status__in=["solved", "closed"])
    by_priority = ["priority_rank", "created_at", "pk"]
    if queue == "mine":
        return list(
            tickets.filter(assignee=agent).order_by(*by_priority).values_list("pk", flat=True)
        )
    if queue == "unassigned":
        return list(
            tickets.filter(assignee=None).order_by(*by_priority).values_list("pk", flat=True)
        )
    if queue == "all":
        return list(tickets.order_by(*by_priority).values_list("pk", flat=True))
    if queue == "incident":
        ordered = tickets.exclude(incident=None).order_by(
            "-incident__window_start", "incident_id", *by_priority
        )
        return list(ordered.values_list("pk", flat=True))
    assert queue == "breaching"
    first_timer = {}
    for timer in SLATimer.objects.filter(status="active", ticket__in=tickets):
        current = first_timer.get(timer.ticket_id)
        if current is None or (timer.due_at, timer.pk) < (current.due_at, current.pk):
            first_timer[timer.ticket_id] = timer
    due = [t for t in first_timer.values() if t.due_at < NOW + selectors.BREACHING_WINDOW]
    return [t.ticket_id for t in sorted(due, key=lambda t: (t.due_at, t.pk))]


def ids(response) -> list[int]:
    return [ticket.pk for ticket in response.context["tickets"]]


def link(response, rel: str) -> str | None:
    """The href of the page's Next (rel="next") or Previous (rel="prev") link."""
    found = re.search(rf'rel="{rel}" href="([^"]*)"', response.content.decode())
    return html.unescape(found.group(1)) if found else None


def follow(client, response, rel: str, **headers):
    href = link(response, rel)
    assert href is not None, f"no {rel} link"
    assert href.startswith("?")
    return client.get(CONSOLE + href, **headers)


def range_text(response) -> str:
    return re.search(r'<span class="muted">([^<]*· page[^<]*)</span>', response.content.decode())[1]


# ---- Walking a queue --------------------------------------------------------------------


@pytest.mark.parametrize("queue", selectors.QUEUES)
def test_next_walks_every_queue_in_its_order_and_previous_walks_back(
    agent_client, agent, world, queue
):
    expected = expected_ids(queue, agent)
    assert len(expected) > 2 * PAGE  # three pages at least

    pages = [agent_client.get(CONSOLE, {"queue": queue})]
    while link(pages[-1], "next"):
        pages.append(follow(agent_client, pages[-1], "next"))

    assert [pk for page in pages for pk in ids(page)] == expected
    assert [page.context["page"].number for page in pages] == list(range(1, len(pages) + 1))
    assert all(len(ids(page)) == PAGE for page in pages[:-1])
    # Every page after the first is opened by a cursor, never by an offset.
    assert all("after=" in page.wsgi_request.get_full_path() for page in pages[1:])

    back = [pages[-1]]
    while link(back[-1], "prev"):
        back.append(follow(agent_client, back[-1], "prev"))
    assert [ids(page) for page in reversed(back)] == [ids(page) for page in pages]
    assert [page.context["page"].number for page in reversed(back)] == list(
        range(1, len(pages) + 1)
    )


def test_the_pages_say_where_they_are_and_the_last_one_has_no_next(agent_client, agent, world):
    total = len(expected_ids("all", agent))  # 23: five pages of five, the last one of three
    first = agent_client.get(CONSOLE, {"queue": "all"})
    second = follow(agent_client, first, "next")
    third = follow(agent_client, second, "next")
    fourth = follow(agent_client, third, "next")
    last = follow(agent_client, fourth, "next")

    assert range_text(first) == "1–5 of more than 8 · page 1"
    # From a cursor, the count is of the rows from the page on (up to the cap): exact near
    # the end, "more than" before.
    assert range_text(second) == "6–10 of more than 13 · page 2"
    assert range_text(third) == "11–15 of more than 18 · page 3"
    assert range_text(fourth) == "16–20 of 23 · page 4 of 5"
    assert range_text(last) == f"21–{total} of {total} · page 5 of 5"
    assert link(last, "next") is None
    assert not last.context["page"].has_next()
    body = last.content.decode()
    # First: the queue's own link; Previous: a cursor.
    assert 'href="?queue=all" hx-get="?queue=all">« First</a>' in body
    assert "before=" in link(last, "prev")
    # Page 2's previous page is the first page: its plain link, no cursor.
    assert link(second, "prev") == "?queue=all"
    assert "« First" not in second.content.decode()


def test_a_small_queue_keeps_its_exact_count_on_every_page(agent_client, frozen):
    factories.TicketFactory.create_batch(7)

    first = agent_client.get(CONSOLE, {"queue": "all"})
    second = follow(agent_client, first, "next")

    assert range_text(first) == "1–5 of 7 · page 1 of 2"
    assert range_text(second) == "6–7 of 7 · page 2 of 2"
    assert link(second, "next") is None


def test_the_links_keep_the_search_and_the_incident(agent_client, frozen):
    incident = factories.IncidentFactory()
    customer = factories.CustomerFactory(name="Paula Pages")
    mine = factories.TicketFactory.create_batch(12, customer=customer, incident=incident)
    factories.TicketFactory.create_batch(3, incident=incident)  # not Paula's
    factories.TicketFactory.create_batch(3, customer=customer)  # no incident

    first = agent_client.get(CONSOLE, {"incident": str(incident.public_id), "q": "Paula"})
    second = follow(agent_client, first, "next")
    third = follow(agent_client, second, "next")

    assert link(first, "next").startswith(f"?incident={incident.public_id}&q=Paula&after=")
    assert link(third, "prev").startswith(f"?incident={incident.public_id}&q=Paula&before=")
    assert sorted(ids(first) + ids(second) + ids(third)) == sorted(t.pk for t in mine)
    assert third.context["incident"] == incident


def test_a_cursor_page_over_htmx_is_the_queue_partial(agent_client, agent, world):
    first = agent_client.get(CONSOLE, {"queue": "all"}, **HTMX)
    second = follow(agent_client, first, "next", **HTMX)

    body = second.content.decode()
    assert body.lstrip().startswith('<section id="queue"')
    assert "<html" not in body
    href = link(second, "next")
    assert f'href="{html.escape(href)}" hx-get="{html.escape(href)}"' in body
    assert ids(second) == expected_ids("all", agent)[PAGE : 2 * PAGE]


def test_next_and_previous_carry_the_keyboard_shortcuts(agent_client, agent, world):
    second = follow(agent_client, agent_client.get(CONSOLE, {"queue": "all"}), "next")

    body = second.content.decode()
    assert re.search(r'rel="next" [^>]*data-shortcut="next-page"', body)
    assert re.search(r'rel="prev" [^>]*data-shortcut="previous-page"', body)
    assert "<kbd>n</kbd> <kbd>p</kbd>" in body


# ---- Cost -------------------------------------------------------------------------------


@pytest.mark.parametrize("queue", selectors.QUEUES)
def test_a_deep_page_runs_the_queries_of_the_first_and_skips_no_rows(
    agent_client, agent, world, queue, django_assert_num_queries
):
    with django_assert_num_queries(CONSOLE_QUERIES):
        page = agent_client.get(CONSOLE, {"queue": queue})
    while link(page, "next"):
        href = link(page, "next")
        with CaptureQueriesContext(connection) as captured:
            page = agent_client.get(CONSOLE + href)
        assert len(captured) == CONSOLE_QUERIES
        # The page's ids and its count start at the cursor: nothing reads the rows before.
        assert not [q for q in captured.captured_queries if "OFFSET" in q["sql"].upper()]
    with django_assert_num_queries(CONSOLE_QUERIES):
        agent_client.get(CONSOLE + link(page, "prev"))


def test_an_old_page_number_link_still_opens_that_page(agent_client, agent, world):
    response = agent_client.get(CONSOLE, {"queue": "all", "page": 3})

    assert ids(response) == expected_ids("all", agent)[2 * PAGE : 3 * PAGE]
    assert response.context["page"].number == 3
    # Its own links are cursors.
    assert "after=" in link(response, "next")
    assert "before=" in link(response, "prev")
    assert ids(follow(agent_client, response, "next")) == expected_ids("all", agent)[15:20]


# ---- Cursors that no longer fit ---------------------------------------------------------


def _bad_cursors(good: str, other_queue: str) -> dict[str, str]:
    flipped = good[:-1] + ("A" if good[-1] != "A" else "B")
    payload, _sep, signature = good.partition(".")
    return {
        "edited signature": flipped,
        "edited payload": payload[:-2] + ("xy" if payload[-2:] != "xy" else "zz") + "." + signature,
        "truncated": good[: len(good) // 2],
        "another queue's": other_queue,
        "garbage": "not a cursor",
        "huge": "A" * 5000,
        "unicode digits": "١٢٣",
    }


def test_a_cursor_that_does_not_verify_opens_the_first_page_and_says_so(agent_client, agent, world):
    first = agent_client.get(CONSOLE, {"queue": "all"})
    good = re.search(r"after=([^&]+)", link(first, "next"))[1]
    breaching = agent_client.get(CONSOLE, {"queue": "breaching"})
    breaching_cursor = re.search(r"after=([^&]+)", link(breaching, "next"))[1]
    assert agent_client.get(CONSOLE, {"queue": "all", "after": good}).context["page"].number == 2

    for name, cursor in _bad_cursors(good, breaching_cursor).items():
        for direction in ("after", "before"):
            response = agent_client.get(CONSOLE, {"queue": "all", direction: cursor})
            assert response.status_code == 200, name
            assert ids(response) == ids(first), name
            assert response.context["page"].number == 1, name
            assert "That page link no longer works: here is the first page." in (
                response.content.decode()
            ), name


def test_a_good_cursor_says_nothing_about_links(agent_client, agent, world):
    second = follow(agent_client, agent_client.get(CONSOLE, {"queue": "all"}), "next")

    assert "no longer works" not in second.content.decode()


def test_a_cursor_reads_in_chinese(agent_client, agent, world):
    response = agent_client.get(
        CONSOLE, {"queue": "all", "after": "garbage"}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )

    assert response.status_code == 200
    assert response.context["page"].number == 1


# ---- The queue changes between pages ------------------------------------------------------


def test_a_ticket_solved_before_the_cursor_shifts_nothing_after_it(agent_client, agent, world):
    expected = expected_ids("all", agent)
    first = agent_client.get(CONSOLE, {"queue": "all"})
    # An offset would now skip a ticket: the first page lost one row.
    Ticket.objects.filter(pk=expected[0]).update(status="solved", solved_at=timezone.now())

    second = follow(agent_client, first, "next")

    assert ids(second) == expected[PAGE : 2 * PAGE]


def test_a_cursor_past_every_row_opens_the_first_page(agent_client, agent, world):
    expected = expected_ids("all", agent)
    page = agent_client.get(CONSOLE, {"queue": "all"})
    for _ in range(3):
        page = follow(agent_client, page, "next")
    Ticket.objects.filter(pk__in=expected[4 * PAGE :]).update(status="closed", solved_at=NOW)

    response = follow(agent_client, page, "next")

    assert response.status_code == 200
    assert ids(response) == expected[:PAGE]
    assert response.context["page"].number == 1


def test_previous_opens_the_first_page_when_fewer_rows_than_a_page_are_left_before(
    agent_client, agent, world
):
    expected = expected_ids("all", agent)
    third = follow(
        agent_client,
        follow(agent_client, agent_client.get(CONSOLE, {"queue": "all"}), "next"),
        "next",
    )
    # 10 rows before page 3; 7 of them are solved: 3 are left, less than a page.
    Ticket.objects.filter(pk__in=expected[:7]).update(status="solved", solved_at=NOW)

    response = follow(agent_client, third, "prev")

    assert response.context["page"].number == 1
    assert ids(response) == expected[7:12]
    assert not response.context["page"].has_previous()


def test_previous_finding_exactly_a_page_before_is_the_first_page(agent_client, agent, world):
    expected = expected_ids("all", agent)
    third = follow(
        agent_client,
        follow(agent_client, agent_client.get(CONSOLE, {"queue": "all"}), "next"),
        "next",
    )
    Ticket.objects.filter(pk__in=expected[:5]).update(status="solved", solved_at=NOW)

    response = follow(agent_client, third, "prev")

    assert response.context["page"].number == 1
    assert ids(response) == expected[5:10]
    assert link(response, "prev") is None


# ---- Cursors ------------------------------------------------------------------------------


def test_a_cursor_round_trips_its_key_and_refuses_another_queue():
    key = (2, dt.datetime(2026, 3, 10, 9, 0, 0, 123456, tzinfo=dt.UTC), 42)
    token = selectors.encode_cursor("all", 7, key)

    assert selectors.decode_cursor(token, queue="all") == (7, key)
    assert selectors.decode_cursor(token, queue="mine") is None
    assert selectors.decode_cursor(token, queue="breaching") is None
    assert re.fullmatch(r"[A-Za-z0-9_\-.:]+", token)  # no escaping needed in a URL
    assert selectors.decode_cursor(None, queue="all") is None
    assert selectors.decode_cursor(["list"], queue="all") is None


def test_a_signed_cursor_of_the_wrong_shape_is_refused():
    signer = signing.Signer(salt=selectors.CURSOR_SALT, sep=".")
    for payload in (
        ["all", 1, 2, 0, 42],  # page 1 never has a cursor
        ["all", 3, 2, 0],  # a value short
        ["all", 3, 2, "0", 42],  # a string
        ["all", 3, True, 0, 42],  # a boolean
        ["all", 3, 2, 10**30, 42],  # a time out of range
        ["all", 10**7, 2, 0, 42],  # a page beyond PAGE_MAX
        {"all": 3},
    ):
        assert selectors.decode_cursor(signer.sign_object(payload), queue="all") is None, payload
