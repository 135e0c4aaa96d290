"""The SLA sweeper: a warning before the breach, the breach, the escalation; each exactly once.

Tickets here are delays of regular customers under the default "Delay" policy: the courier
milestone is due 30 minutes after opening, the first response after 1 hour, the resolution
after 2 hours (24/7: no team calendar), each warned 15 minutes ahead.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from tests import factories
from tickets import tasks
from tickets.models import SLAPolicy, SLATimer, Ticket, TicketEvent, TimerKind, TimerStatus
from tickets.services import ticket_change_status, ticket_open, ticket_reply
from tickets.sla import timers as sla_timers
from tickets.sla.sweeper import SweepResult, sweep

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

WARNED = TicketEvent.Kind.SLA_WARNING
BREACHED = TicketEvent.Kind.SLA_BREACHED
ESCALATED = TicketEvent.Kind.ESCALATED


def open_ticket(at=T0, **kwargs) -> Ticket:
    return ticket_open(
        customer=factories.CustomerFactory(),
        subject="Where is my parcel?",
        body="It has not moved for a week.",
        category="delay",
        now=at,
        **kwargs,
    )


def first_response(ticket: Ticket) -> SLATimer:
    return SLATimer.objects.get(ticket=ticket, kind=TimerKind.FIRST_RESPONSE)


def kinds(ticket: Ticket, kind: str) -> list[str]:
    """The timer kinds (or milestone names) of the ticket's events of one kind."""
    rows = TicketEvent.objects.filter(ticket=ticket, kind=kind).order_by("pk")
    return [row.data.get("name") or row.data.get("timer_kind", "") for row in rows]


def event_counts() -> dict[str, int]:
    return {
        kind: TicketEvent.objects.filter(kind=kind).count()
        for kind in (WARNED, BREACHED, ESCALATED)
    }


# ---- Warning --------------------------------------------------------------------------------


def test_nothing_happens_before_the_warning_time():
    ticket = open_ticket()

    result = sweep(now=T0 + 15 * MINUTE - SECOND)  # the courier milestone warns at 09:15

    assert result == SweepResult()
    assert kinds(ticket, WARNED) == []


def test_the_warning_fires_at_the_warning_time_once():
    ticket = open_ticket()

    first = sweep(now=T0 + 15 * MINUTE)
    again = sweep(now=T0 + 16 * MINUTE)

    assert (first.warned, again.warned) == (1, 0)
    [warning] = TicketEvent.objects.filter(ticket=ticket, kind=WARNED)
    assert warning.data["name"] == "Contact the courier"
    assert warning.data["due_at"] == (T0 + 30 * MINUTE).isoformat()
    assert warning.created_at == T0 + 15 * MINUTE
    assert warning.is_public is False
    courier = SLATimer.objects.get(ticket=ticket, name="Contact the courier")
    assert courier.warned_at == T0 + 15 * MINUTE
    assert courier.status == TimerStatus.ACTIVE


def test_each_timer_is_warned_at_its_own_warning_time():
    ticket = open_ticket()

    sweep(now=T0 + 15 * MINUTE)  # courier milestone
    sweep(now=T0 + 45 * MINUTE)  # first response
    sweep(now=T0 + 105 * MINUTE)  # resolution

    assert kinds(ticket, WARNED) == ["Contact the courier", "first_response", "resolution"]


def test_a_timer_first_seen_past_its_due_time_is_breached_without_a_warning():
    ticket = open_ticket()

    sweep(now=T0 + 31 * MINUTE)

    assert kinds(ticket, WARNED) == []
    assert kinds(ticket, BREACHED) == ["Contact the courier"]


def test_a_policy_without_a_warning_time_never_warns():
    SLAPolicy.objects.filter(name="Delay").update(warning_minutes=0)
    ticket = open_ticket()
    assert first_response(ticket).warn_at is None

    result = sweep(now=T0 + 59 * MINUTE)

    assert result.warned == 0
    assert kinds(ticket, WARNED) == []


def test_a_met_timer_is_never_warned(agent):
    ticket = open_ticket()
    ticket_reply(ticket=ticket, actor=agent, body="On it.", now=T0 + 10 * MINUTE)

    sweep(now=T0 + 50 * MINUTE)

    assert "first_response" not in kinds(ticket, WARNED)


# ---- Breach and escalation ------------------------------------------------------------------


def test_a_breach_is_marked_at_the_due_time_even_when_the_sweeper_runs_later():
    ticket = open_ticket()

    result = sweep(now=T0 + 70 * MINUTE)

    assert result.breached == 2  # courier milestone and first response
    timer = first_response(ticket)
    assert timer.status == TimerStatus.BREACHED
    assert timer.breached_at == T0 + HOUR
    assert timer.met_at is None
    assert sorted(kinds(ticket, BREACHED)) == ["Contact the courier", "first_response"]


def test_a_breach_escalates_the_ticket_to_the_supervisors():
    ticket = open_ticket()

    result = sweep(now=T0 + 31 * MINUTE)

    assert result.escalated == 1
    ticket.refresh_from_db()
    assert ticket.is_escalated is True
    assert ticket.escalated_at == T0 + 31 * MINUTE
    [escalation] = TicketEvent.objects.filter(ticket=ticket, kind=ESCALATED)
    assert escalation.data == {"reason": "sla_breach"}
    assert escalation.created_at == T0 + 31 * MINUTE
    assert escalation.is_public is False


def test_a_due_timer_is_breached_at_exactly_its_due_time():
    ticket = open_ticket()

    assert sweep(now=T0 + 30 * MINUTE - SECOND).breached == 0
    assert sweep(now=T0 + 30 * MINUTE).breached == 1
    assert kinds(ticket, BREACHED) == ["Contact the courier"]


def test_a_ticket_is_escalated_once_however_many_of_its_timers_breach():
    ticket = open_ticket()

    sweep(now=T0 + 31 * MINUTE)
    sweep(now=T0 + 61 * MINUTE)
    sweep(now=T0 + 3 * HOUR)

    assert sorted(kinds(ticket, BREACHED)) == [
        "Contact the courier",
        "first_response",
        "resolution",
    ]
    assert TicketEvent.objects.filter(ticket=ticket, kind=ESCALATED).count() == 1
    ticket.refresh_from_db()
    assert ticket.escalated_at == T0 + 31 * MINUTE


def test_sweeping_again_at_the_same_or_a_later_time_changes_nothing():
    open_ticket()
    open_ticket(at=T0 + 2 * HOUR + 40 * MINUTE)  # its courier milestone warns at 03:55 after
    first = sweep(now=T0 + 3 * HOUR)
    counts = event_counts()

    repeats = [sweep(now=T0 + 3 * HOUR), sweep(now=T0 + 3 * HOUR)]

    assert first == SweepResult(warned=1, breached=3, escalated=1)
    assert repeats == [SweepResult(), SweepResult()]
    assert event_counts() == counts
    # Later passes only see what is new: the second ticket's own deadlines.
    later = sweep(now=T0 + 5 * HOUR)
    assert later == SweepResult(warned=0, breached=3, escalated=1)
    assert sweep(now=T0 + 11 * DAY) == SweepResult()
    assert event_counts() == {WARNED: 1, BREACHED: 6, ESCALATED: 2}


def test_a_late_reply_breach_is_escalated_by_the_next_sweep(agent):
    ticket = open_ticket()
    SLATimer.objects.filter(ticket=ticket, kind=TimerKind.MILESTONE).delete()
    ticket_reply(ticket=ticket, actor=agent, body="Sorry for the wait.", now=T0 + 70 * MINUTE)
    assert kinds(ticket, BREACHED) == ["first_response"]

    result = sweep(now=T0 + 71 * MINUTE)

    assert result == SweepResult(escalated=1)
    assert kinds(ticket, BREACHED) == ["first_response"]  # not twice
    ticket.refresh_from_db()
    assert ticket.is_escalated is True


@pytest.mark.parametrize("status", ["solved", "closed"])
def test_a_solved_or_closed_ticket_is_not_escalated(agent, status):
    ticket = open_ticket()
    # Solved late: the resolution timer is breached by the agent's action, not by the sweeper.
    ticket_change_status(ticket=ticket, actor=agent, status=status, now=T0 + 3 * HOUR)
    assert kinds(ticket, BREACHED) == ["resolution"]

    result = sweep(now=T0 + 3 * HOUR + MINUTE)

    assert result == SweepResult()
    ticket.refresh_from_db()
    assert ticket.is_escalated is False
    assert kinds(ticket, ESCALATED) == []


def test_solving_stops_every_clock_so_nothing_breaches_later(agent):
    ticket = open_ticket()
    ticket_change_status(ticket=ticket, actor=agent, status="solved", now=T0 + 10 * MINUTE)

    assert sweep(now=T0 + 5 * DAY) == SweepResult()
    assert kinds(ticket, BREACHED) == []


def test_the_periodic_task_sweeps_at_the_current_time():
    ticket = open_ticket()

    with time_machine.travel(T0 + 31 * MINUTE, tick=False):
        result = tasks.sweep_sla_task()

    assert result == {"warned": 0, "breached": 1, "escalated": 1}
    ticket.refresh_from_db()
    assert ticket.escalated_at == T0 + 31 * MINUTE


def test_a_small_batch_size_still_sweeps_everything():
    tickets = [open_ticket() for _ in range(5)]

    result = sweep(now=T0 + 3 * HOUR, batch_size=2)

    assert result == SweepResult(breached=15, escalated=5)
    escalated = TicketEvent.objects.filter(kind=ESCALATED).values_list("ticket", flat=True)
    assert sorted(escalated) == sorted(ticket.pk for ticket in tickets)


# ---- Query count ----------------------------------------------------------------------------


@pytest.mark.parametrize("tickets", [2, 20])
def test_a_sweep_runs_a_constant_number_of_queries(tickets, django_assert_max_num_queries):
    for _ in range(tickets):
        open_ticket()  # breaches 3 timers and escalates at 03:00 after
        open_ticket(at=T0 + 2 * HOUR + 40 * MINUTE)  # warns its courier milestone at 03:00

    # Warn: savepoint, claim (SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL), UPDATE, INSERT
    # of the timeline rows, release (5). Breach: the same plus the escalation of the batch's
    # tickets (lock, UPDATE, INSERT): 8. Catch-up escalation: savepoint, candidates, release
    # (3). 16 in all, whatever the number of timers.
    with django_assert_max_num_queries(16):
        result = sweep(now=T0 + 3 * HOUR)

    assert result == SweepResult(warned=tickets, breached=3 * tickets, escalated=tickets)


# ---- Concurrency (PostgreSQL: real row locks) -----------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("default_configuration")
def test_two_sweepers_at_once_record_each_warning_breach_and_escalation_once():
    for _ in range(30):
        open_ticket()
        open_ticket(at=T0 + 2 * HOUR + 40 * MINUTE)
    start = threading.Barrier(2)
    results, errors = [], []

    def one_sweep():
        try:
            start.wait(timeout=10)
            results.append(sweep(now=T0 + 3 * HOUR, batch_size=7))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one_sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(r.warned for r in results) == 30
    assert sum(r.breached for r in results) == 90
    assert sum(r.escalated for r in results) == 30
    assert event_counts() == {WARNED: 30, BREACHED: 90, ESCALATED: 30}
    assert TicketEvent.objects.filter(kind=BREACHED).values("data__timer").distinct().count() == 90
    assert Ticket.objects.filter(is_escalated=True).count() == 30


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("default_configuration")
def test_a_sweep_and_an_agent_replying_to_the_same_ticket_do_not_deadlock(monkeypatch, agent):
    ticket = open_ticket()
    replying = threading.Event()
    original_meet_kinds = sla_timers.meet_kinds

    def meet_kinds_after_the_sweeper_claimed_the_timers(*args, **kwargs):
        # The reply holds the ticket's lock and has written its message; the sweeper runs now.
        replying.set()
        time.sleep(0.5)
        return original_meet_kinds(*args, **kwargs)

    monkeypatch.setattr(sla_timers, "meet_kinds", meet_kinds_after_the_sweeper_claimed_the_timers)
    sweeps, errors = [], []

    def agent_replies():
        try:
            ticket_reply(ticket=ticket, actor=agent, body="Sorry, found it.", now=T0 + 2 * HOUR)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
            replying.set()
        finally:
            connection.close()

    def sweeper():
        try:
            replying.wait(timeout=10)
            sweeps.append(sweep(now=T0 + 2 * HOUR))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=agent_replies), threading.Thread(target=sweeper)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert [result.breached for result in sweeps] == [3]
    timer = first_response(ticket)
    assert timer.status == TimerStatus.BREACHED
    assert timer.met_at == T0 + 2 * HOUR
    assert timer.minutes_early == -60
    assert kinds(ticket, BREACHED).count("first_response") == 1


def test_a_breach_older_than_the_lookback_still_escalates_its_ticket():
    # A proactive ticket opened ten days after detection: its first response was due (detection
    # + 24 h) long before the escalation catch-up's lookback, yet the breach escalates it.
    shipment = factories.ShipmentFactory()
    detected = T0 - 10 * DAY
    ticket = ticket_open(
        customer=shipment.customer,
        subject="Delayed parcel",
        category="delay",
        source="proactive",
        shipment=shipment,
        detected_at=detected,
        now=T0,
    )
    assert first_response(ticket).due_at == detected + 24 * HOUR

    result = sweep(now=T0 + MINUTE)

    ticket.refresh_from_db()
    assert ticket.is_escalated
    assert ticket.escalated_at == T0 + MINUTE
    assert result.escalated == 1
    assert TicketEvent.objects.filter(ticket=ticket, kind=ESCALATED).count() == 1
    assert sweep(now=T0 + 2 * MINUTE).escalated == 0


def test_the_escalation_catch_up_ends_and_escalates_each_ticket_once_in_small_batches():
    from tickets.sla.sweeper import escalate

    tickets = [open_ticket() for _ in range(5)]
    # Breached timers that escalated nothing yet (as after an agent's late reply).
    SLATimer.objects.filter(ticket__in=tickets, kind=TimerKind.FIRST_RESPONSE).update(
        status=TimerStatus.BREACHED, breached_at=T0 + HOUR
    )

    assert escalate(now=T0 + 2 * HOUR, batch_size=2) == 5
    assert escalate(now=T0 + 2 * HOUR, batch_size=2) == 0
    assert Ticket.objects.filter(is_escalated=True).count() == 5
    assert TicketEvent.objects.filter(kind=ESCALATED).count() == 5
