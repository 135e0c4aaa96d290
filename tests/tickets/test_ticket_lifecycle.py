"""Ticket lifecycle: statuses, reopening, auto-close, assignment, notes and the public timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from tests import factories
from tickets import tasks
from tickets.models import Message, SLATimer, Ticket, TicketEvent, TimerKind, TimerStatus
from tickets.services import (
    ALREADY_ASSIGNED,
    EMPTY_MESSAGE,
    INVALID_STATUS,
    MAX_MESSAGE_LENGTH,
    NOT_AN_AGENT,
    NOT_ASSIGNEE,
    TICKET_CLOSED,
    TicketActionError,
    close_solved_tickets,
    ticket_add_customer_message,
    ticket_add_note,
    ticket_assign,
    ticket_change_status,
    ticket_claim,
    ticket_mark_carrier_contacted,
    ticket_open,
    ticket_override_priority,
    ticket_release,
    ticket_reply,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

Kind = TicketEvent.Kind


def open_ticket(customer=None, at=T0, **kwargs) -> Ticket:
    customer = customer or factories.CustomerFactory()
    kwargs.setdefault("shipment", factories.ShipmentFactory(customer=customer))
    return ticket_open(
        customer=customer,
        subject="Where is my parcel?",
        body="It has not moved for a week.",
        channel="email",
        category="delay",
        now=at,
        **kwargs,
    )


def set_status(ticket: Ticket, actor, status: str, at: datetime = T0 + HOUR) -> Ticket:
    return ticket_change_status(ticket=ticket, actor=actor, status=status, now=at)


def solved(agent, at: datetime = T0 + HOUR) -> Ticket:
    ticket = open_ticket()
    ticket_reply(ticket=ticket, actor=agent, body="Delivered today.", status="solved", now=at)
    ticket.refresh_from_db()
    return ticket


def kinds(ticket: Ticket, **filters) -> list[str]:
    return list(ticket.events.filter(**filters).order_by("pk").values_list("kind", flat=True))


def fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


# ---- Statuses -------------------------------------------------------------------------------


def test_a_new_ticket_is_new_with_a_public_created_row():
    ticket = open_ticket()

    assert ticket.status == Ticket.Status.NEW
    assert ticket.version == 1
    [created] = ticket.events.filter(kind=Kind.CREATED)
    assert created.is_public is True
    assert created.created_at == T0
    assert created.data["source"] == "customer"
    assert created.data["priority"] == "normal"
    [message] = ticket.messages.all()
    assert (message.kind, message.direction, message.channel) == ("public", "inbound", "email")
    assert message.created_at == T0


@pytest.mark.parametrize(
    ("status", "public"),
    [("open", False), ("pending", False), ("on_hold", True), ("solved", True), ("closed", True)],
)
def test_an_agent_moves_the_ticket_to_a_status(agent, status, public):
    ticket = open_ticket()

    set_status(ticket, agent, status, at=T0 + HOUR)

    ticket = fresh(ticket)
    assert ticket.status == status
    assert ticket.version == 2
    [changed] = ticket.events.filter(kind=Kind.STATUS_CHANGED)
    assert changed.data == {"old": "new", "new": status}
    assert changed.actor == agent
    # The customer follows "investigating with the carrier" and "resolved", not the rest.
    assert changed.is_public is public


def test_solving_records_when_and_closing_records_both(agent):
    ticket = open_ticket()

    set_status(ticket, agent, "solved", at=T0 + HOUR)
    set_status(ticket, agent, "closed", at=T0 + 2 * HOUR)

    ticket = fresh(ticket)
    assert ticket.solved_at == T0 + HOUR
    assert ticket.closed_at == T0 + 2 * HOUR


def test_new_is_not_a_status_an_agent_may_choose(agent):
    ticket = open_ticket()
    set_status(ticket, agent, "open")

    with pytest.raises(TicketActionError) as error:
        set_status(ticket, agent, "new")

    assert error.value.messages == [str(INVALID_STATUS)]
    assert fresh(ticket).status == "open"


def test_choosing_the_current_status_again_changes_nothing(agent):
    ticket = open_ticket()
    set_status(ticket, agent, "pending")

    set_status(ticket, agent, "pending", at=T0 + 2 * HOUR)

    assert fresh(ticket).version == 2
    assert kinds(ticket, kind=Kind.STATUS_CHANGED) == [Kind.STATUS_CHANGED]


@pytest.mark.parametrize(
    "action",
    [
        lambda t, a: set_status(t, a, "open"),
        lambda t, a: ticket_reply(ticket=t, actor=a, body="Hello?"),
        lambda t, a: ticket_claim(ticket=t, actor=a),
        lambda t, a: ticket_mark_carrier_contacted(ticket=t, actor=a),
    ],
    ids=["reopen", "reply", "claim", "carrier"],
)
def test_a_closed_ticket_is_final(agent, other_agent, action):
    ticket = open_ticket()
    set_status(ticket, other_agent, "closed")

    with pytest.raises(TicketActionError) as error:
        action(ticket, agent)

    assert error.value.messages == [str(TICKET_CLOSED)]
    ticket = fresh(ticket)
    assert ticket.status == "closed"
    assert ticket.version == 2


def test_a_closed_ticket_cannot_be_handed_over(agent, other_agent):
    ticket = open_ticket()
    set_status(ticket, agent, "closed")

    with pytest.raises(TicketActionError) as error:
        ticket_assign(ticket=ticket, actor=agent, assignee=other_agent)

    assert error.value.messages == [str(TICKET_CLOSED)]


def test_closing_a_closed_ticket_again_is_harmless(agent):
    ticket = open_ticket()
    set_status(ticket, agent, "closed")

    set_status(ticket, agent, "closed", at=T0 + DAY)

    assert fresh(ticket).closed_at == T0 + HOUR


# ---- Reopening and follow-ups ---------------------------------------------------------------


def test_a_customer_reply_within_seven_days_reopens_a_solved_ticket(agent):
    ticket = solved(agent, at=T0 + HOUR)

    result = ticket_add_customer_message(
        ticket=ticket, body="Still nothing here!", channel="sms", now=T0 + HOUR + 6 * DAY
    )

    assert result.reopened is True
    assert result.follow_up is False
    assert result.message.ticket_id == ticket.pk
    ticket = fresh(ticket)
    assert ticket.status == "open"
    assert ticket.solved_at is None
    [reopened] = ticket.events.filter(kind=Kind.REOPENED)
    assert reopened.is_public is True
    resolution = SLATimer.objects.filter(ticket=ticket, kind=TimerKind.RESOLUTION).latest("pk")
    assert resolution.status == TimerStatus.ACTIVE
    assert resolution.started_at == T0 + HOUR + 6 * DAY


def test_a_reply_exactly_seven_days_after_solving_still_reopens(agent):
    ticket = solved(agent, at=T0)

    result = ticket_add_customer_message(ticket=ticket, body="Hello?", now=T0 + 7 * DAY)

    assert result.reopened is True


def test_a_message_more_than_seven_days_after_solving_opens_a_follow_up_ticket(agent):
    ticket = solved(agent, at=T0)

    result = ticket_add_customer_message(
        ticket=ticket, body="It never came.", channel="email", now=T0 + 7 * DAY + SECOND
    )

    assert result.follow_up is True
    assert result.reopened is False
    follow_up = result.message.ticket
    assert follow_up.pk != ticket.pk
    assert (follow_up.customer, follow_up.shipment) == (ticket.customer, ticket.shipment)
    assert follow_up.subject == ticket.subject
    assert follow_up.status == "new"
    assert result.message.body == "It never came."
    ticket = fresh(ticket)
    assert ticket.status == "solved"
    assert ticket.messages.count() == 2  # the opening message and the agent's reply


def test_a_message_on_a_closed_ticket_opens_a_follow_up_ticket(agent):
    ticket = open_ticket()
    set_status(ticket, agent, "closed")

    result = ticket_add_customer_message(ticket=ticket, body="Hello?", now=T0 + 2 * HOUR)

    assert result.follow_up is True
    assert Ticket.objects.count() == 2
    assert fresh(ticket).status == "closed"


def test_solved_tickets_close_seven_days_after_solving(agent):
    old = solved(agent, at=T0)
    recent = solved(agent, at=T0 + 2 * DAY)
    still_open = open_ticket()

    closed = close_solved_tickets(now=T0 + 7 * DAY + MINUTE)

    assert closed == 1
    old = fresh(old)
    assert (old.status, old.closed_at) == ("closed", T0 + 7 * DAY + MINUTE)
    assert old.version == 3  # reply, then the close
    [auto] = old.events.filter(kind=Kind.STATUS_CHANGED, data__new="closed")
    assert auto.data == {"old": "solved", "new": "closed", "reason": "auto"}
    assert fresh(recent).status == "solved"
    assert fresh(still_open).status == "new"


def test_closing_solved_tickets_twice_closes_nothing_more(agent):
    ticket = solved(agent, at=T0)
    close_solved_tickets(now=T0 + 8 * DAY)

    again = close_solved_tickets(now=T0 + 9 * DAY)

    assert again == 0
    assert fresh(ticket).closed_at == T0 + 8 * DAY
    assert ticket.events.filter(kind=Kind.STATUS_CHANGED, data__new="closed").count() == 1


def test_the_auto_close_task_uses_the_current_time(agent):
    ticket = solved(agent, at=T0)

    with time_machine.travel(T0 + 8 * DAY, tick=False):
        assert tasks.close_solved_tickets_task() == 1

    assert fresh(ticket).closed_at == T0 + 8 * DAY


# ---- Assignment -----------------------------------------------------------------------------


def test_an_agent_claims_an_unassigned_ticket(agent):
    ticket = open_ticket()

    ticket_claim(ticket=ticket, actor=agent, now=T0 + MINUTE)

    ticket = fresh(ticket)
    assert ticket.assignee == agent
    assert ticket.status == "open"
    [assigned] = ticket.events.filter(kind=Kind.ASSIGNED)
    assert assigned.is_public is True  # "assigned to Alice"
    assert assigned.data["assignee_name"] == "Alice"
    assert assigned.data["reason"] == "claimed"


def test_a_ticket_someone_else_holds_cannot_be_claimed(agent, other_agent):
    ticket = open_ticket()
    ticket_claim(ticket=ticket, actor=agent)

    with pytest.raises(TicketActionError) as error:
        ticket_claim(ticket=ticket, actor=other_agent)

    assert error.value.messages == [
        "This ticket is already assigned to Alice. Ask them or a supervisor."
    ]
    assert error.value.messages == [str(ALREADY_ASSIGNED) % {"name": "Alice"}]
    assert fresh(ticket).assignee == agent


def test_claiming_my_own_ticket_again_is_harmless(agent):
    ticket = open_ticket()
    ticket_claim(ticket=ticket, actor=agent)

    ticket_claim(ticket=ticket, actor=agent)

    assert fresh(ticket).version == 2
    assert kinds(ticket, kind=Kind.ASSIGNED) == [Kind.ASSIGNED]


def test_only_agents_claim_tickets():
    ticket = open_ticket()

    with pytest.raises(PermissionDenied) as error:
        ticket_claim(ticket=ticket, actor=factories.UserFactory())

    assert str(error.value) == str(NOT_AN_AGENT)
    assert fresh(ticket).assignee is None


def test_the_assignee_releases_the_ticket(agent):
    ticket = open_ticket()
    ticket_claim(ticket=ticket, actor=agent)

    ticket_release(ticket=ticket, actor=agent, now=T0 + HOUR)

    ticket = fresh(ticket)
    assert ticket.assignee is None
    [released] = ticket.events.filter(kind=Kind.UNASSIGNED)
    assert released.is_public is False
    assert released.data == {"previous": "Alice"}


def test_another_agent_cannot_release_my_ticket(agent, other_agent):
    ticket = open_ticket()
    ticket_claim(ticket=ticket, actor=agent)

    with pytest.raises(PermissionDenied) as error:
        ticket_release(ticket=ticket, actor=other_agent)

    assert str(error.value) == str(NOT_ASSIGNEE)
    assert fresh(ticket).assignee == agent


def test_a_supervisor_releases_any_ticket(agent, supervisor):
    ticket = open_ticket()
    ticket_claim(ticket=ticket, actor=agent)

    ticket_release(ticket=ticket, actor=supervisor)

    assert fresh(ticket).assignee is None


def test_releasing_an_unassigned_ticket_is_harmless(agent):
    ticket = open_ticket()

    ticket_release(ticket=ticket, actor=agent)

    assert fresh(ticket).version == 1
    assert not ticket.events.filter(kind=Kind.UNASSIGNED).exists()


def test_an_agent_hands_a_ticket_over_to_another_agent(agent, other_agent):
    ticket = open_ticket()
    ticket_claim(ticket=ticket, actor=agent)

    ticket_assign(ticket=ticket, actor=agent, assignee=other_agent)

    ticket = fresh(ticket)
    assert ticket.assignee == other_agent
    handover = ticket.events.filter(kind=Kind.ASSIGNED).latest("pk")
    assert handover.data["previous"] == "Alice"
    assert handover.data["assignee_name"] == "Bob"
    assert handover.data["reason"] == "reassigned"


def test_a_ticket_is_never_handed_to_someone_who_cannot_work_tickets(agent):
    ticket = open_ticket()

    with pytest.raises(TicketActionError) as error:
        ticket_assign(ticket=ticket, actor=agent, assignee=factories.UserFactory())

    assert error.value.messages == [str(NOT_AN_AGENT)]


def test_assigning_nobody_releases(agent):
    ticket = open_ticket()
    ticket_claim(ticket=ticket, actor=agent)

    ticket_assign(ticket=ticket, actor=agent, assignee=None)

    assert fresh(ticket).assignee is None


def test_a_reply_assigns_an_unassigned_ticket_to_the_replier(agent):
    ticket = open_ticket()

    ticket_reply(ticket=ticket, actor=agent, body="Looking into it.", now=T0 + MINUTE)

    ticket = fresh(ticket)
    assert ticket.assignee == agent
    assert ticket.status == "open"
    assert ticket.events.get(kind=Kind.ASSIGNED).data["reason"] == "replied"


def test_a_reply_leaves_the_assignee_of_an_assigned_ticket(agent, other_agent):
    ticket = open_ticket()
    ticket_claim(ticket=ticket, actor=agent)

    ticket_reply(ticket=ticket, actor=other_agent, body="Covering for Alice.")

    assert fresh(ticket).assignee == agent


def test_routing_assigns_a_new_ticket_to_an_agent_of_the_right_team():
    team = factories.TeamFactory(name="Logistics", slug="logistics", categories=["delay"])
    dana = factories.AgentFactory(username="dana", first_name="Dana")
    factories.AgentProfileFactory(user=dana, team=team)

    ticket = open_ticket()

    assert (ticket.team, ticket.assignee) == (team, dana)
    assigned = ticket.events.get(kind=Kind.ASSIGNED)
    assert assigned.is_public is True
    assert assigned.data["assignee_name"] == "Dana"


# ---- Messages and notes ---------------------------------------------------------------------


def test_a_note_is_internal_and_never_public(agent):
    ticket = open_ticket()

    note = ticket_add_note(ticket=ticket, actor=agent, body="Customer sounds upset.", now=T0)

    assert (note.kind, note.direction) == ("note", "internal")
    event = ticket.events.get(kind=Kind.NOTE)
    assert event.is_public is False
    assert event.data["excerpt"] == "Customer sounds upset."
    assert fresh(ticket).version == 1  # a note makes nobody's form stale


def test_the_database_refuses_a_public_note_row():
    ticket = open_ticket()

    with pytest.raises(IntegrityError), transaction.atomic():
        TicketEvent.objects.create(ticket=ticket, kind=Kind.NOTE, is_public=True, created_at=T0)


@pytest.mark.parametrize("body", ["", "   \n "])
def test_an_empty_message_is_refused(agent, body):
    ticket = open_ticket()

    with pytest.raises(TicketActionError) as error:
        ticket_reply(ticket=ticket, actor=agent, body=body)

    assert error.value.messages == [str(EMPTY_MESSAGE)]
    assert not ticket.messages.filter(direction="outbound").exists()


def test_a_message_over_the_limit_is_refused(agent):
    ticket = open_ticket()

    with pytest.raises(TicketActionError) as error:
        ticket_add_note(ticket=ticket, actor=agent, body="x" * (MAX_MESSAGE_LENGTH + 1))

    assert error.value.code == "too_long"


def test_an_agent_reply_is_an_outbound_public_message(agent):
    ticket = open_ticket()

    message = ticket_reply(ticket=ticket, actor=agent, body="It left the hub.", now=T0 + HOUR)

    assert (message.kind, message.direction, message.author) == ("public", "outbound", agent)
    reply = ticket.events.get(kind=Kind.AGENT_REPLY)
    assert reply.is_public is True
    assert reply.data["agent_name"] == "Alice"
    ticket = fresh(ticket)
    assert ticket.last_agent_update_at == T0 + HOUR
    assert ticket.first_response_at == T0 + HOUR


# ---- What the customer sees -----------------------------------------------------------------


def test_the_customer_follows_the_progress_but_never_sees_internal_steps(agent):
    ticket = open_ticket()
    ticket_claim(ticket=ticket, actor=agent, now=T0 + MINUTE)
    ticket_add_note(ticket=ticket, actor=agent, body="Depot says scanner broke.", now=T0 + MINUTE)
    ticket_override_priority(
        ticket=ticket, actor=agent, priority="high", reason="Gift", now=T0 + MINUTE
    )
    ticket_mark_carrier_contacted(ticket=ticket, actor=agent, now=T0 + 10 * MINUTE)
    set_status(ticket, agent, "on_hold", at=T0 + 11 * MINUTE)
    ticket_reply(ticket=ticket, actor=agent, body="The carrier found it.", now=T0 + 2 * HOUR)
    set_status(ticket, agent, "pending", at=T0 + 2 * HOUR)
    ticket_add_customer_message(ticket=ticket, body="Thanks, got it!", now=T0 + 3 * HOUR)
    set_status(ticket, agent, "solved", at=T0 + 3 * HOUR)

    public = [
        (event.kind, event.data.get("new") or event.data.get("assignee_name", ""))
        for event in ticket.events.filter(is_public=True).order_by("created_at", "pk")
    ]

    assert public == [
        (Kind.CREATED, ""),  # received
        (Kind.CUSTOMER_MESSAGE, ""),
        (Kind.ASSIGNED, "Alice"),  # assigned to <first name>
        (Kind.CARRIER_CONTACTED, ""),  # investigating with the carrier
        (Kind.STATUS_CHANGED, "on_hold"),
        (Kind.AGENT_REPLY, ""),
        (Kind.CUSTOMER_MESSAGE, ""),
        (Kind.STATUS_CHANGED, "solved"),  # resolved
    ]
    private = set(kinds(ticket, is_public=False))
    assert {Kind.NOTE, Kind.PRIORITY_CHANGED} <= private
    assert not set(kinds(ticket, is_public=True)) & {
        Kind.NOTE,
        Kind.PRIORITY_CHANGED,
        Kind.SLA_WARNING,
        Kind.SLA_BREACHED,
        Kind.ESCALATED,
        Kind.MILESTONE_MET,
    }
    assert not Message.objects.filter(ticket=ticket, kind="note", direction="outbound").exists()


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("category", "parcel_eaten_by_dog", "invalid_category"),
        ("language", "klingon", "invalid_language"),
        ("channel", "pigeon", "invalid_channel"),
        ("priority", "whenever", "invalid_priority"),
    ],
)
def test_opening_a_ticket_refuses_unknown_values_and_writes_nothing(field, value, code):
    from tickets.services import TicketActionError

    fields = {"category": "delay", "channel": "email", field: value}
    with pytest.raises(TicketActionError) as error:
        ticket_open(
            customer=factories.CustomerFactory(), subject="Hello", body="Late.", now=T0, **fields
        )

    assert error.value.code == code
    assert not Ticket.objects.exists()
