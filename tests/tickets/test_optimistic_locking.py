"""Optimistic locking: two agents saving the same ticket never silently overwrite each other."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from tests import factories
from tickets.models import MilestoneTrigger, SLATimer, Ticket, TicketEvent
from tickets.services import (
    ALREADY_ASSIGNED,
    STALE_TICKET,
    StaleTicketError,
    TicketActionError,
    ticket_add_customer_message,
    ticket_add_note,
    ticket_assign,
    ticket_change_category,
    ticket_change_status,
    ticket_claim,
    ticket_mark_carrier_contacted,
    ticket_meet_milestone,
    ticket_open,
    ticket_override_priority,
    ticket_release,
    ticket_reply,
    ticket_sla_trigger,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

STALE_MESSAGE = (
    "Someone else changed this ticket while you were working on it. Nothing was saved: "
    "reload the ticket to see their change, then try again."
)


def open_ticket(category: str = "lost") -> Ticket:
    return ticket_open(
        customer=factories.CustomerFactory(),
        subject="Where is my parcel?",
        body="It has not moved for a week.",
        category=category,
        now=T0,
    )


def milestone(ticket: Ticket) -> int:
    return SLATimer.objects.get(ticket=ticket, name="Verify with the carrier").pk


# Every service that takes `expected_version`, as (ticket, agent, other agent, version) -> call.
# The ticket is a lost parcel (it runs milestones), new, unassigned, at version 1.
VERSIONED: dict[str, Callable] = {
    "status": lambda t, a, b, v: ticket_change_status(
        ticket=t, actor=a, status="pending", expected_version=v, now=T0 + MINUTE
    ),
    "claim": lambda t, a, b, v: ticket_claim(
        ticket=t, actor=a, expected_version=v, now=T0 + MINUTE
    ),
    "assign": lambda t, a, b, v: ticket_assign(
        ticket=t, actor=a, assignee=b, expected_version=v, now=T0 + MINUTE
    ),
    "priority": lambda t, a, b, v: ticket_override_priority(
        ticket=t, actor=a, priority="low", reason="Asked", expected_version=v, now=T0 + MINUTE
    ),
    "category": lambda t, a, b, v: ticket_change_category(
        ticket=t, actor=a, category="damaged", expected_version=v, now=T0 + MINUTE
    ),
    "reply": lambda t, a, b, v: ticket_reply(
        ticket=t, actor=a, body="We are on it.", expected_version=v, now=T0 + MINUTE
    ),
    "carrier": lambda t, a, b, v: ticket_mark_carrier_contacted(
        ticket=t, actor=a, expected_version=v, now=T0 + MINUTE
    ),
    "milestone": lambda t, a, b, v: ticket_meet_milestone(
        ticket=t, actor=a, timer_id=milestone(t), expected_version=v, now=T0 + MINUTE
    ),
}


def snapshot(ticket: Ticket) -> tuple:
    """Everything a stale save must leave alone."""
    ticket = Ticket.objects.get(pk=ticket.pk)
    return (
        ticket.version,
        ticket.status,
        ticket.assignee_id,
        ticket.priority,
        ticket.category,
        ticket.sla_policy_id,
        ticket.events.count(),
        ticket.messages.count(),
        list(SLATimer.objects.filter(ticket=ticket).order_by("pk").values_list("status", "due_at")),
    )


@pytest.mark.parametrize("action", VERSIONED.values(), ids=VERSIONED.keys())
def test_a_save_based_on_an_old_version_is_refused_and_changes_nothing(agent, other_agent, action):
    ticket = open_ticket()
    Ticket.objects.filter(pk=ticket.pk).update(version=2)  # someone saved in between
    before = snapshot(ticket)

    with pytest.raises(StaleTicketError) as error:
        action(ticket, agent, other_agent, 1)

    assert error.value.messages == [STALE_MESSAGE]
    assert error.value.messages == [str(STALE_TICKET)]
    assert error.value.code == "stale"
    assert error.value.current_version == 2
    assert snapshot(ticket) == before


@pytest.mark.parametrize("action", VERSIONED.values(), ids=VERSIONED.keys())
def test_a_save_based_on_the_current_version_goes_through_and_bumps_it_once(
    agent, other_agent, action
):
    ticket = open_ticket()

    action(ticket, agent, other_agent, 1)

    assert Ticket.objects.get(pk=ticket.pk).version == 2


@pytest.mark.parametrize("action", VERSIONED.values(), ids=VERSIONED.keys())
def test_every_change_bumps_the_version_without_an_expected_version(agent, other_agent, action):
    ticket = open_ticket()

    action(ticket, agent, other_agent, None)

    assert Ticket.objects.get(pk=ticket.pk).version == 2


def test_a_release_based_on_an_old_version_is_refused(agent):
    ticket = open_ticket()
    ticket_claim(ticket=ticket, actor=agent)  # version 2

    with pytest.raises(StaleTicketError):
        ticket_release(ticket=ticket, actor=agent, expected_version=1)

    assert Ticket.objects.get(pk=ticket.pk).assignee == agent
    ticket_release(ticket=ticket, actor=agent, expected_version=2)
    assert Ticket.objects.get(pk=ticket.pk).version == 3


def test_a_reply_that_also_sets_the_status_bumps_the_version_once(agent):
    ticket = open_ticket()

    ticket_reply(ticket=ticket, actor=agent, body="Solved.", status="solved", expected_version=1)

    ticket = Ticket.objects.get(pk=ticket.pk)
    assert (ticket.status, ticket.version) == ("solved", 2)


def test_a_customer_message_makes_an_agents_open_form_stale(agent):
    ticket = open_ticket()
    ticket_add_customer_message(ticket=ticket, body="Also, it was a gift!", now=T0 + MINUTE)

    with pytest.raises(StaleTicketError):
        ticket_reply(ticket=ticket, actor=agent, body="On it.", expected_version=1)

    assert not ticket.messages.filter(direction="outbound").exists()


def test_a_note_does_not_make_anyones_form_stale(agent, other_agent):
    ticket = open_ticket()

    ticket_add_note(ticket=ticket, actor=other_agent, body="Checked the depot.", now=T0)

    ticket_change_status(ticket=ticket, actor=agent, status="on_hold", expected_version=1)
    assert Ticket.objects.get(pk=ticket.pk).version == 2


def test_a_milestone_reported_by_another_app_does_not_bump_the_version(agent):
    ticket = open_ticket()

    ticket_sla_trigger(ticket=ticket, trigger=MilestoneTrigger.COMPENSATION_PROPOSED, now=T0)

    assert Ticket.objects.get(pk=ticket.pk).version == 1


def test_the_second_of_two_agents_editing_at_once_is_told_and_nothing_is_lost(agent, other_agent):
    ticket = open_ticket()
    seen_by_alice = seen_by_bob = ticket.version

    ticket_override_priority(
        ticket=ticket, actor=agent, priority="urgent", reason="VIP", expected_version=seen_by_alice
    )
    with pytest.raises(StaleTicketError):
        ticket_override_priority(
            ticket=ticket,
            actor=other_agent,
            priority="low",
            reason="Not urgent",
            expected_version=seen_by_bob,
        )

    ticket = Ticket.objects.get(pk=ticket.pk)
    assert ticket.priority == "urgent"
    changes = TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.PRIORITY_CHANGED)
    assert [(e.actor, e.data["new"]) for e in changes] == [(agent, "urgent")]


def test_a_double_click_with_the_same_version_is_harmless(agent):
    ticket = open_ticket()

    for _ in range(2):
        ticket_claim(ticket=ticket, actor=agent, expected_version=1)
        ticket_change_status(ticket=ticket, actor=agent, status="on_hold", expected_version=2)

    ticket = Ticket.objects.get(pk=ticket.pk)
    assert (ticket.assignee, ticket.status, ticket.version) == (agent, "on_hold", 3)


# ---- Two agents at the same moment (PostgreSQL: real row locks) -----------------------------


def run_at_once(*calls: Callable[[], object]) -> tuple[list, list]:
    """Run the calls in parallel threads, each on its own connection; (results, errors)."""
    start = threading.Barrier(len(calls))
    results, errors = [], []

    def run(call):
        try:
            start.wait(timeout=10)
            results.append(call())
        except Exception as exc:  # returned to the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


@pytest.fixture
def shared_ticket(transactional_db, default_configuration):
    return open_ticket()


@pytest.fixture
def two_agents(transactional_db):
    alice = factories.AgentFactory(username="alice", first_name="Alice")
    bob = factories.AgentFactory(username="bob", first_name="Bob")
    return alice, bob


@pytest.mark.postgres
def test_two_agents_claiming_the_same_version_at_once_one_wins(shared_ticket, two_agents):
    alice, bob = two_agents

    results, errors = run_at_once(
        lambda: ticket_claim(ticket=shared_ticket, actor=alice, expected_version=1),
        lambda: ticket_claim(ticket=shared_ticket, actor=bob, expected_version=1),
    )

    assert len(results) == 1
    [error] = errors
    assert isinstance(error, StaleTicketError)
    ticket = Ticket.objects.get(pk=shared_ticket.pk)
    assert ticket.version == 2
    assert ticket.assignee == results[0].assignee
    assert TicketEvent.objects.filter(ticket=ticket, kind="assigned").count() == 1


@pytest.mark.postgres
def test_two_agents_claiming_at_once_without_a_version_the_second_is_told_who_has_it(
    shared_ticket, two_agents
):
    alice, bob = two_agents

    results, errors = run_at_once(
        lambda: ticket_claim(ticket=shared_ticket, actor=alice),
        lambda: ticket_claim(ticket=shared_ticket, actor=bob),
    )

    [winner] = results
    [error] = errors
    assert isinstance(error, TicketActionError)
    assert error.code == "assigned"
    assert error.messages == [str(ALREADY_ASSIGNED) % {"name": winner.assignee.first_name}]
    assert TicketEvent.objects.filter(ticket=shared_ticket, kind="assigned").count() == 1


@pytest.mark.postgres
def test_two_agents_changing_the_same_version_at_once_one_is_refused(shared_ticket, two_agents):
    alice, bob = two_agents

    results, errors = run_at_once(
        lambda: ticket_change_status(
            ticket=shared_ticket, actor=alice, status="on_hold", expected_version=1
        ),
        lambda: ticket_override_priority(
            ticket=shared_ticket, actor=bob, priority="low", reason="Can wait", expected_version=1
        ),
    )

    assert len(results) == 1
    [error] = errors
    assert isinstance(error, StaleTicketError)
    ticket = Ticket.objects.get(pk=shared_ticket.pk)
    assert ticket.version == 2
    # Exactly one of the two changes happened, never both, never half of one.
    assert (ticket.status == "on_hold") != (ticket.priority == "low")
