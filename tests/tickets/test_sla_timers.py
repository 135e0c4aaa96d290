"""SLA timers: which policy applies, each timer kind, business calendars, pause and resume.

The default policies (tickets/migrations/0002 and 0004) drive most tests. The ones used here:

* "Delay" (category delay): first response 1 h, milestone "Contact the courier" 30 min (carrier
  contacted), next response 4 h, periodic update 3 days, resolution 2 h in business hours
  (24/7 when the team has no calendar), warning 15 min before.
* "Lost parcel" (category lost): first response 1 h, milestones "Contact the customer" 1 h
  (public reply), "Verify with the carrier" 24 h (carrier contacted), "Compensation plan" 48 h
  (remedy proposed), resolution 48 h.
* "Urgent" (priority urgent): first response 30 min, resolution 8 h.
* "Default" (anything else): first response 4 h, next response 8 h and resolution 48 h in
  business hours, periodic update 3 days 24/7.

Every expected instant in the business-hours tests was worked out by hand on a 2026 calendar
and is written as a literal UTC time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine

from core.models import Channel
from tests import factories
from tickets import tasks
from tickets.models import (
    BusinessCalendar,
    CalendarException,
    MilestoneTrigger,
    SLAPolicy,
    SLATarget,
    SLATimer,
    Ticket,
    TicketEvent,
    TimerKind,
    TimerStatus,
    WorkingHours,
)
from tickets.services import (
    NO_SUCH_MILESTONE,
    TicketActionError,
    recompute_calendar_timers,
    recompute_team_timers,
    ticket_add_customer_message,
    ticket_add_note,
    ticket_change_category,
    ticket_change_status,
    ticket_mark_carrier_contacted,
    ticket_meet_milestone,
    ticket_open,
    ticket_override_priority,
    ticket_reply,
    ticket_sla_trigger,
)
from tickets.sla.policy import match_policy
from tickets.sla.sweeper import sweep

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # a Tuesday
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

FIRST = TimerKind.FIRST_RESPONSE
NEXT = TimerKind.NEXT_RESPONSE
PERIODIC = TimerKind.PERIODIC_UPDATE
RESOLUTION = TimerKind.RESOLUTION
MILESTONE = TimerKind.MILESTONE


# ---- Helpers --------------------------------------------------------------------------------


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def open_ticket(customer=None, *, category="delay", at=T0, **kwargs) -> Ticket:
    return ticket_open(
        customer=customer or factories.CustomerFactory(),
        subject="Where is my parcel?",
        category=category,
        body="It has not moved for a week.",
        channel="email",
        now=at,
        **kwargs,
    )


def timer(ticket: Ticket, kind: str, name: str = "") -> SLATimer:
    """The newest timer of this kind (and name) on the ticket."""
    return SLATimer.objects.filter(ticket=ticket, kind=kind, name=name).latest("pk")


def timers(ticket: Ticket, kind: str, name: str = "") -> list[SLATimer]:
    return list(SLATimer.objects.filter(ticket=ticket, kind=kind, name=name).order_by("pk"))


def running_kinds(ticket: Ticket) -> set[tuple[str, str]]:
    return set(
        SLATimer.objects.filter(ticket=ticket, status__in=["active", "paused"]).values_list(
            "kind", "name"
        )
    )


def events(ticket: Ticket, kind: str) -> list[TicketEvent]:
    return list(TicketEvent.objects.filter(ticket=ticket, kind=kind).order_by("pk"))


def reply(ticket: Ticket, actor, at: datetime, **kwargs):
    return ticket_reply(ticket=ticket, actor=actor, body="We are on it.", now=at, **kwargs)


def customer_writes(ticket: Ticket, at: datetime, channel: str = "email"):
    return ticket_add_customer_message(ticket=ticket, body="Any news?", channel=channel, now=at)


def set_status(ticket: Ticket, actor, status: str, at: datetime) -> Ticket:
    return ticket_change_status(ticket=ticket, actor=actor, status=status, now=at)


# ---- Which policy applies -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "category", "source", "policy"),
    [
        ("regular", "lost", "customer", "Lost parcel"),
        ("vip", "lost", "customer", "Lost parcel"),  # lost comes before urgent
        ("vip", "damaged", "customer", "Urgent"),  # vip x damaged = urgent
        ("regular", "damaged", "customer", "Default"),  # regular x damaged = high
        ("regular", "delay", "proactive", "Proactive delay"),  # proactive before delay
        ("vip", "delay", "customer", "Delay"),  # vip x delayed = high
        ("regular", "information", "customer", "Default"),
        ("new", "address_change", "api", "Default"),
    ],
)
def test_the_default_policies_apply_in_order(tier, category, source, policy):
    customer = factories.CustomerFactory(tier=tier)
    shipment = factories.ShipmentFactory(customer=customer)

    ticket = open_ticket(customer, category=category, source=source, shipment=shipment)

    assert ticket.sla_policy.name == policy


@pytest.fixture
def own_policies():
    """The default policies switched off; tests build their own ordered list."""
    SLAPolicy.objects.update(is_active=False)

    def make(name: str, position: int, **conditions) -> SLAPolicy:
        policy = SLAPolicy.objects.create(name=name, position=position, **conditions)
        SLATarget.objects.create(policy=policy, kind=FIRST, minutes=position)
        return policy

    return make


@pytest.mark.parametrize(
    ("condition", "matching", "other"),
    [
        ("priorities", {"priority": "urgent"}, {"priority": "low"}),
        ("categories", {"category": "damaged"}, {"category": "delay"}),
        ("customer_tiers", {"tier": "vip"}, {"tier": "regular"}),
        ("sources", {"source": "api"}, {"source": "customer"}),
    ],
)
def test_the_first_policy_whose_condition_matches_applies(own_policies, condition, matching, other):
    value = next(iter(matching.values()))
    own_policies("Specific", 1, **{condition: [value]})
    own_policies("Also matching but later", 2, **{condition: [value]})
    own_policies("Catch-all", 3)

    def ticket(**fields) -> Ticket:
        customer = factories.CustomerFactory(tier=fields.pop("tier", "regular"))
        values = {"priority": "normal", "category": "delay", "source": "customer", **fields}
        return Ticket(customer=customer, **values)

    assert match_policy(ticket(**matching)).name == "Specific"
    assert match_policy(ticket(**other)).name == "Catch-all"


def test_every_condition_of_a_policy_must_match(own_policies):
    own_policies("VIP lost", 1, customer_tiers=["vip"], categories=["lost"])
    own_policies("Catch-all", 2)
    vip = factories.CustomerFactory(tier="vip")

    assert open_ticket(vip, category="lost").sla_policy.name == "VIP lost"
    assert open_ticket(vip, category="delay").sla_policy.name == "Catch-all"


def test_an_inactive_policy_is_skipped(own_policies):
    first = own_policies("Switched off", 1)
    first.is_active = False
    first.save()
    own_policies("Catch-all", 2)

    ticket = open_ticket()

    assert ticket.sla_policy.name == "Catch-all"
    assert timer(ticket, FIRST).due_at == T0 + 2 * MINUTE


def test_without_any_matching_policy_a_ticket_runs_without_timers():
    SLAPolicy.objects.update(is_active=False)

    ticket = open_ticket()

    assert ticket.sla_policy is None
    assert not ticket.timers.exists()


def test_a_priority_override_re_matches_the_policy_and_recomputes_the_timers(agent):
    ticket = open_ticket()  # regular x delay: Delay, first response 1 h
    assert timer(ticket, FIRST).due_at == T0 + HOUR

    ticket_override_priority(
        ticket=ticket, actor=agent, priority="urgent", reason="Press", now=T0 + 10 * MINUTE
    )

    ticket.refresh_from_db()
    assert ticket.sla_policy.name == "Urgent"
    first = timer(ticket, FIRST)
    assert first.due_at == T0 + 30 * MINUTE  # from the original start, not from the override
    assert first.warn_at == T0 + 15 * MINUTE
    assert timer(ticket, RESOLUTION).due_at == T0 + 8 * HOUR
    # The Delay policy's courier milestone does not exist under Urgent.
    assert timer(ticket, MILESTONE, "Contact the courier").status == TimerStatus.CANCELLED
    [recomputed] = events(ticket, TicketEvent.Kind.SLA_RECOMPUTED)
    assert recomputed.data["old_policy"] == "Delay"
    assert recomputed.data["new_policy"] == "Urgent"


def test_a_delay_that_turns_out_lost_adds_the_lost_parcel_milestones_from_the_original_start(
    agent,
):
    ticket = open_ticket()

    ticket_change_category(ticket=ticket, actor=agent, category="lost", now=T0 + 2 * HOUR)

    ticket.refresh_from_db()
    assert ticket.sla_policy.name == "Lost parcel"
    assert ticket.priority == "high"  # regular x lost
    assert timer(ticket, MILESTONE, "Contact the customer").due_at == T0 + HOUR
    assert timer(ticket, MILESTONE, "Verify with the carrier").due_at == T0 + 24 * HOUR
    assert timer(ticket, MILESTONE, "Compensation plan").due_at == T0 + 48 * HOUR
    assert timer(ticket, RESOLUTION).due_at == T0 + 48 * HOUR
    assert timer(ticket, MILESTONE, "Contact the courier").status == TimerStatus.CANCELLED
    assert len(timers(ticket, FIRST)) == 1  # recomputed, not started twice


def test_a_late_category_change_does_not_start_a_contact_milestone_the_reply_already_met(agent):
    ticket = open_ticket()
    reply(ticket, agent, T0 + 20 * MINUTE)

    ticket_change_category(ticket=ticket, actor=agent, category="lost", now=T0 + 3 * HOUR)

    # The customer was contacted at 09:20: a "contact within 1 h" clock must not start now, due
    # in the past, and breach.
    assert not timers(ticket, MILESTONE, "Contact the customer")
    assert not timers(ticket, FIRST)[1:]
    sweep(now=T0 + 3 * HOUR + MINUTE)
    assert not events(ticket, TicketEvent.Kind.SLA_BREACHED)


def test_an_unchanged_policy_records_no_recompute(agent):
    ticket = open_ticket(factories.CustomerFactory(tier="vip"))  # vip x delay: high -> Delay

    ticket_override_priority(
        ticket=ticket, actor=agent, priority="normal", reason="Calm", now=T0 + MINUTE
    )

    assert not events(ticket, TicketEvent.Kind.SLA_RECOMPUTED)
    assert timer(ticket, FIRST).due_at == T0 + HOUR


# ---- First response -------------------------------------------------------------------------


def test_the_first_response_is_due_the_target_after_the_ticket_was_opened():
    ticket = open_ticket()

    first = timer(ticket, FIRST)
    assert first.status == TimerStatus.ACTIVE
    assert first.started_at == T0
    assert first.due_at == T0 + HOUR
    assert first.warn_at == T0 + 45 * MINUTE
    assert first.business_hours is False
    assert running_kinds(ticket) == {
        (FIRST, ""),
        (RESOLUTION, ""),
        (MILESTONE, "Contact the courier"),
    }


def test_the_first_public_reply_meets_the_first_response_with_its_minutes_early(agent):
    ticket = open_ticket()

    reply(ticket, agent, T0 + 20 * MINUTE)

    first = timer(ticket, FIRST)
    assert first.status == TimerStatus.MET
    assert first.met_at == T0 + 20 * MINUTE
    assert first.minutes_early == 40
    ticket.refresh_from_db()
    assert ticket.first_response_at == T0 + 20 * MINUTE


def test_an_internal_note_does_not_meet_the_first_response(agent):
    ticket = open_ticket()

    ticket_add_note(ticket=ticket, actor=agent, body="Called the depot.", now=T0 + 5 * MINUTE)

    assert timer(ticket, FIRST).status == TimerStatus.ACTIVE
    ticket.refresh_from_db()
    assert ticket.first_response_at is None


def test_a_second_reply_does_not_touch_the_met_first_response(agent):
    ticket = open_ticket()
    reply(ticket, agent, T0 + 20 * MINUTE)

    reply(ticket, agent, T0 + 2 * HOUR)

    [first] = timers(ticket, FIRST)
    assert first.met_at == T0 + 20 * MINUTE
    assert first.minutes_early == 40


def test_the_first_contact_clock_of_a_proactive_ticket_starts_at_detection():
    detected = T0 - 5 * HOUR
    shipment = factories.ShipmentFactory(delay_level="yellow", delay_detected_at=detected)

    ticket = open_ticket(
        shipment.customer, source="proactive", shipment=shipment, detected_at=detected
    )

    assert ticket.sla_policy.name == "Proactive delay"
    first = timer(ticket, FIRST)
    assert first.started_at == detected
    assert first.due_at == detected + 24 * HOUR
    assert first.warn_at == detected + 23 * HOUR  # this policy warns an hour ahead
    # Resolution counts from when the ticket was opened.
    assert timer(ticket, RESOLUTION).started_at == T0
    assert timer(ticket, RESOLUTION).due_at == T0 + 7 * DAY


def test_a_reply_after_the_due_time_records_the_minutes_late_and_a_breach(agent):
    ticket = open_ticket()

    reply(ticket, agent, T0 + 90 * MINUTE)

    first = timer(ticket, FIRST)
    assert first.status == TimerStatus.BREACHED
    assert first.breached_at == T0 + HOUR
    assert first.met_at == T0 + 90 * MINUTE
    assert first.minutes_early == -30
    breaches = [e.data["timer_kind"] for e in events(ticket, TicketEvent.Kind.SLA_BREACHED)]
    # The reply also came too late for the 30-minute courier milestone? No: that one is met by
    # contacting the carrier, so it is still running (and breached by the sweeper, not here).
    assert breaches == [FIRST]


def test_a_reply_one_second_late_counts_as_a_minute_late(agent):
    ticket = open_ticket()

    reply(ticket, agent, T0 + HOUR + timedelta(seconds=1))

    first = timer(ticket, FIRST)
    assert first.status == TimerStatus.BREACHED
    assert first.minutes_early == -1


def test_a_reply_exactly_on_the_due_time_is_in_time(agent):
    ticket = open_ticket()

    reply(ticket, agent, T0 + HOUR)

    first = timer(ticket, FIRST)
    assert first.status == TimerStatus.MET
    assert first.minutes_early == 0


def test_a_late_reply_after_the_sweeper_breached_records_the_lateness_without_a_second_breach(
    agent,
):
    ticket = open_ticket()
    sweep(now=T0 + HOUR)
    assert timer(ticket, FIRST).status == TimerStatus.BREACHED

    reply(ticket, agent, T0 + 100 * MINUTE)

    first = timer(ticket, FIRST)
    assert first.status == TimerStatus.BREACHED
    assert first.met_at == T0 + 100 * MINUTE
    assert first.minutes_early == -40
    first_breaches = [
        e for e in events(ticket, TicketEvent.Kind.SLA_BREACHED) if e.data["timer_kind"] == FIRST
    ]
    assert len(first_breaches) == 1


# ---- Next response --------------------------------------------------------------------------


def test_a_customer_message_before_the_first_response_starts_no_next_response():
    ticket = open_ticket()

    customer_writes(ticket, T0 + 10 * MINUTE)

    assert not timers(ticket, NEXT)
    assert timer(ticket, FIRST).due_at == T0 + HOUR


@pytest.mark.parametrize("channel", Channel.values + [""])
def test_a_customer_message_after_the_first_response_starts_the_next_response(agent, channel):
    ticket = open_ticket()
    reply(ticket, agent, T0 + 10 * MINUTE)

    customer_writes(ticket, T0 + HOUR, channel=channel)

    following = timer(ticket, NEXT)
    assert following.status == TimerStatus.ACTIVE
    assert following.started_at == T0 + HOUR
    assert following.due_at == T0 + 5 * HOUR  # 4 h


def test_a_second_customer_message_does_not_move_the_next_response_deadline(agent):
    ticket = open_ticket()
    reply(ticket, agent, T0 + 10 * MINUTE)
    customer_writes(ticket, T0 + HOUR)

    customer_writes(ticket, T0 + 2 * HOUR, channel="sms")

    [following] = timers(ticket, NEXT)
    assert following.started_at == T0 + HOUR
    assert following.due_at == T0 + 5 * HOUR


def test_the_agent_reply_meets_the_next_response_and_the_next_message_starts_another(agent):
    ticket = open_ticket()
    reply(ticket, agent, T0 + 10 * MINUTE)
    customer_writes(ticket, T0 + HOUR)

    reply(ticket, agent, T0 + 3 * HOUR)
    customer_writes(ticket, T0 + 6 * HOUR, channel="phone")

    answered, waiting = timers(ticket, NEXT)
    assert answered.status == TimerStatus.MET
    assert answered.minutes_early == 120
    assert waiting.status == TimerStatus.ACTIVE
    assert waiting.started_at == T0 + 6 * HOUR
    assert waiting.due_at == T0 + 10 * HOUR


def test_a_note_does_not_answer_the_customer(agent):
    ticket = open_ticket()
    reply(ticket, agent, T0 + 10 * MINUTE)
    customer_writes(ticket, T0 + HOUR)

    ticket_add_note(ticket=ticket, actor=agent, body="Waiting for the depot.", now=T0 + 2 * HOUR)

    assert timer(ticket, NEXT).status == TimerStatus.ACTIVE


# ---- Periodic update ------------------------------------------------------------------------


def test_the_first_reply_starts_the_periodic_update(agent):
    ticket = open_ticket()
    assert not timers(ticket, PERIODIC)

    reply(ticket, agent, T0 + 10 * MINUTE)

    periodic = timer(ticket, PERIODIC)
    assert periodic.status == TimerStatus.ACTIVE
    assert periodic.due_at == T0 + 10 * MINUTE + 3 * DAY


def test_every_reply_meets_the_periodic_update_and_starts_the_next(agent):
    ticket = open_ticket()
    reply(ticket, agent, T0 + 10 * MINUTE)

    reply(ticket, agent, T0 + 2 * DAY)

    previous, current = timers(ticket, PERIODIC)
    assert previous.status == TimerStatus.MET
    assert previous.minutes_early == 24 * 60 + 10
    assert current.status == TimerStatus.ACTIVE
    assert current.due_at == T0 + 5 * DAY


def test_solving_cancels_the_periodic_update(agent):
    ticket = open_ticket()
    reply(ticket, agent, T0 + 10 * MINUTE)

    set_status(ticket, agent, "solved", T0 + HOUR)

    assert timer(ticket, PERIODIC).status == TimerStatus.CANCELLED
    assert running_kinds(ticket) == set()


def test_a_reply_that_solves_leaves_no_periodic_update_running(agent):
    ticket = open_ticket()

    reply(ticket, agent, T0 + 10 * MINUTE, status="solved")

    assert running_kinds(ticket) == set()
    assert timer(ticket, FIRST).status == TimerStatus.MET
    assert timer(ticket, RESOLUTION).status == TimerStatus.MET


# ---- Resolution -----------------------------------------------------------------------------


def test_solving_meets_the_resolution_with_its_minutes_early(agent):
    ticket = open_ticket()

    set_status(ticket, agent, "solved", T0 + 90 * MINUTE)

    resolution = timer(ticket, RESOLUTION)
    assert resolution.due_at == T0 + 2 * HOUR  # business hours, but the ticket has no calendar
    assert resolution.status == TimerStatus.MET
    assert resolution.minutes_early == 30
    # Solved without a reply: the first response no longer applies.
    assert timer(ticket, FIRST).status == TimerStatus.CANCELLED


def test_solving_late_breaches_the_resolution(agent):
    ticket = open_ticket()

    set_status(ticket, agent, "solved", T0 + 3 * HOUR)

    resolution = timer(ticket, RESOLUTION)
    assert resolution.status == TimerStatus.BREACHED
    assert resolution.breached_at == T0 + 2 * HOUR
    assert resolution.minutes_early == -60
    assert [e.data["timer_kind"] for e in events(ticket, TicketEvent.Kind.SLA_BREACHED)] == [
        RESOLUTION
    ]


def test_a_customer_reopening_a_solved_ticket_restarts_the_resolution(agent):
    ticket = open_ticket()
    reply(ticket, agent, T0 + 10 * MINUTE)
    set_status(ticket, agent, "solved", T0 + HOUR)

    customer_writes(ticket, T0 + 2 * DAY)

    solved, reopened = timers(ticket, RESOLUTION)
    assert solved.status == TimerStatus.MET
    assert reopened.status == TimerStatus.ACTIVE
    assert reopened.started_at == T0 + 2 * DAY
    assert reopened.due_at == T0 + 2 * DAY + 2 * HOUR
    # The customer is waiting for an answer and for updates again.
    assert timer(ticket, NEXT).started_at == T0 + 2 * DAY
    assert timer(ticket, PERIODIC).status == TimerStatus.ACTIVE


def test_an_agent_reopening_a_solved_ticket_restarts_the_resolution_and_the_updates(agent):
    ticket = open_ticket()
    reply(ticket, agent, T0 + 10 * MINUTE)
    set_status(ticket, agent, "solved", T0 + HOUR)

    set_status(ticket, agent, "open", T0 + 3 * HOUR)

    reopened = timer(ticket, RESOLUTION)
    assert reopened.status == TimerStatus.ACTIVE
    assert reopened.started_at == T0 + 3 * HOUR
    periodic = timer(ticket, PERIODIC)
    assert periodic.status == TimerStatus.ACTIVE
    assert periodic.started_at == T0 + 3 * HOUR


def test_a_customer_reopening_a_ticket_solved_without_a_reply_is_owed_an_answer(agent):
    ticket = open_ticket()
    set_status(ticket, agent, "solved", T0 + HOUR)  # the first response is cancelled

    customer_writes(ticket, T0 + DAY)

    following = timer(ticket, NEXT)
    assert following.status == TimerStatus.ACTIVE
    assert following.due_at == T0 + DAY + 4 * HOUR


def test_reopening_a_solved_ticket_as_pending_restarts_a_paused_resolution(agent):
    ticket = open_ticket()
    set_status(ticket, agent, "solved", T0 + HOUR)

    set_status(ticket, agent, "pending", T0 + 3 * HOUR)

    ticket.refresh_from_db()
    assert ticket.solved_at is None
    assert events(ticket, TicketEvent.Kind.REOPENED)
    reopened = timer(ticket, RESOLUTION)
    assert reopened.started_at == T0 + 3 * HOUR
    assert reopened.status == TimerStatus.PAUSED
    assert reopened.remaining_seconds == 2 * 3600


# ---- Milestones -----------------------------------------------------------------------------


@pytest.fixture
def lost_ticket():
    return open_ticket(category="lost")


def test_a_lost_parcel_starts_its_three_milestones(lost_ticket):
    due = {
        name: timer(lost_ticket, MILESTONE, name).due_at
        for name in ("Contact the customer", "Verify with the carrier", "Compensation plan")
    }

    assert due == {
        "Contact the customer": T0 + HOUR,
        "Verify with the carrier": T0 + 24 * HOUR,
        "Compensation plan": T0 + 48 * HOUR,
    }


def test_a_public_reply_meets_the_contact_milestone_only(lost_ticket, agent):
    reply(lost_ticket, agent, T0 + 15 * MINUTE)

    contact = timer(lost_ticket, MILESTONE, "Contact the customer")
    assert contact.status == TimerStatus.MET
    assert contact.minutes_early == 45
    assert timer(lost_ticket, MILESTONE, "Verify with the carrier").status == TimerStatus.ACTIVE
    assert timer(lost_ticket, MILESTONE, "Compensation plan").status == TimerStatus.ACTIVE
    [met] = events(lost_ticket, TicketEvent.Kind.MILESTONE_MET)
    assert met.data == {"name": "Contact the customer", "minutes_early": 45}
    assert met.actor == agent


def test_contacting_the_carrier_meets_the_verify_milestone(lost_ticket, agent):
    ticket_mark_carrier_contacted(ticket=lost_ticket, actor=agent, now=T0 + 5 * HOUR)

    verify = timer(lost_ticket, MILESTONE, "Verify with the carrier")
    assert verify.status == TimerStatus.MET
    assert verify.minutes_early == 19 * 60
    assert timer(lost_ticket, MILESTONE, "Contact the customer").status == TimerStatus.ACTIVE


def test_putting_the_ticket_on_hold_for_the_carrier_meets_the_verify_milestone(lost_ticket, agent):
    set_status(lost_ticket, agent, "on_hold", T0 + 2 * HOUR)

    assert timer(lost_ticket, MILESTONE, "Verify with the carrier").status == TimerStatus.MET
    assert [e.data["name"] for e in events(lost_ticket, TicketEvent.Kind.MILESTONE_MET)] == [
        "Verify with the carrier"
    ]


def test_a_proposed_remedy_meets_the_compensation_plan_milestone(lost_ticket, supervisor):
    met = ticket_sla_trigger(
        ticket=lost_ticket.pk,
        trigger=MilestoneTrigger.COMPENSATION_PROPOSED,
        actor=supervisor,
        now=T0 + 30 * HOUR,
    )

    assert [m.name for m in met] == ["Compensation plan"]
    plan = timer(lost_ticket, MILESTONE, "Compensation plan")
    assert plan.status == TimerStatus.MET
    assert plan.minutes_early == 18 * 60


def test_an_agent_marks_a_milestone_done_by_hand_once(lost_ticket, agent):
    verify = timer(lost_ticket, MILESTONE, "Verify with the carrier")

    ticket_meet_milestone(ticket=lost_ticket, actor=agent, timer_id=verify.pk, now=T0 + HOUR)

    verify.refresh_from_db()
    assert verify.status == TimerStatus.MET
    with pytest.raises(TicketActionError) as error:
        ticket_meet_milestone(
            ticket=lost_ticket, actor=agent, timer_id=verify.pk, now=T0 + 2 * HOUR
        )
    assert error.value.messages == [str(NO_SUCH_MILESTONE)]
    assert len(events(lost_ticket, TicketEvent.Kind.MILESTONE_MET)) == 1


def test_a_milestone_of_another_ticket_cannot_be_marked_done(lost_ticket, agent):
    other = open_ticket(category="lost")
    foreign = timer(other, MILESTONE, "Verify with the carrier")

    with pytest.raises(TicketActionError):
        ticket_meet_milestone(ticket=lost_ticket, actor=agent, timer_id=foreign.pk, now=T0)

    foreign.refresh_from_db()
    assert foreign.status == TimerStatus.ACTIVE


def test_a_milestone_met_late_records_negative_minutes_and_a_breach(lost_ticket, agent):
    ticket_mark_carrier_contacted(ticket=lost_ticket, actor=agent, now=T0 + 26 * HOUR)

    verify = timer(lost_ticket, MILESTONE, "Verify with the carrier")
    assert verify.status == TimerStatus.BREACHED
    assert verify.breached_at == T0 + 24 * HOUR
    assert verify.minutes_early == -120
    names = [e.data["name"] for e in events(lost_ticket, TicketEvent.Kind.SLA_BREACHED)]
    assert names == ["Verify with the carrier"]


# ---- Business hours -------------------------------------------------------------------------


def make_calendar(
    name: str,
    *,
    time_zone: str,
    country: str,
    opens: time,
    closes: time,
    closed: tuple[date, ...] = (),
    team: bool = True,
) -> BusinessCalendar:
    """Monday to Friday opening hours, a country's holidays, own closures; the default team's."""
    calendar = BusinessCalendar.objects.create(
        name=name, time_zone=time_zone, holiday_country=country
    )
    for weekday in range(5):
        WorkingHours.objects.create(
            calendar=calendar, weekday=weekday, opens_at=opens, closes_at=closes
        )
    for day in closed:
        CalendarException.objects.create(calendar=calendar, date=day, name="Team offsite")
    if team:
        factories.TeamFactory(
            name=f"{name} team", slug=f"{name.lower()}-team", is_default=True, calendar=calendar
        )
    return calendar


@pytest.fixture
def berlin():
    """Monday to Friday 09:00-17:00 in Berlin (UTC+1 in winter, UTC+2 in summer), German
    public holidays; the default team works it."""
    return make_calendar(
        "Berlin", time_zone="Europe/Berlin", country="DE", opens=time(9), closes=time(17)
    )


def open_default_policy_ticket(at: datetime) -> Ticket:
    # regular x information = low: the Default policy, first response 4 business hours.
    ticket = open_ticket(category="information", at=at)
    assert ticket.sla_policy.name == "Default"
    return ticket


@pytest.mark.parametrize(
    ("opened", "due"),
    [
        # Tue 15:00 CET: 2 h today, 2 h from Wed 09:00 -> Wed 11:00 CET.
        pytest.param(utc(2026, 11, 24, 14), utc(2026, 11, 25, 10), id="overnight"),
        # Fri 16:00 CET: 1 h today, 3 h from Mon 09:00 -> Mon 12:00 CET.
        pytest.param(utc(2026, 11, 27, 15), utc(2026, 11, 30, 11), id="weekend"),
        # Thu 24 Dec 16:00 CET: 1 h; Fri 25 Dec is Christmas Day; Mon 28 Dec 12:00 CET.
        pytest.param(utc(2026, 12, 24, 15), utc(2026, 12, 28, 11), id="christmas"),
        # Fri 23 Oct 16:00 CEST (UTC+2): 1 h; clocks go back on Sunday the 25th, so Monday
        # 09:00 is CET (UTC+1) = 08:00 UTC, plus 3 h.
        pytest.param(utc(2026, 10, 23, 14), utc(2026, 10, 26, 11), id="dst-autumn"),
        # Fri 27 Mar 16:00 CET: 1 h; clocks go forward on Sunday the 29th, so Monday 09:00 is
        # CEST (UTC+2) = 07:00 UTC, plus 3 h.
        pytest.param(utc(2026, 3, 27, 15), utc(2026, 3, 30, 10), id="dst-spring"),
        # Opened at night: the clock starts at 09:00 CET the next morning.
        pytest.param(utc(2026, 11, 24, 22), utc(2026, 11, 25, 12), id="opened-at-night"),
    ],
)
def test_a_business_hours_target_counts_only_the_teams_opening_hours(berlin, opened, due):
    ticket = open_default_policy_ticket(opened)

    first = timer(ticket, FIRST)
    assert first.business_hours is True
    assert first.due_at == due
    assert first.warn_at == due - 15 * MINUTE


def test_a_team_closure_day_does_not_count(berlin):
    CalendarException.objects.create(calendar=berlin, date=date(2026, 11, 25), name="Offsite")

    # Tue 15:00 CET: 2 h today, Wednesday closed, 2 h from Thu 09:00 -> Thu 11:00 CET.
    ticket = open_default_policy_ticket(utc(2026, 11, 24, 14))

    assert timer(ticket, FIRST).due_at == utc(2026, 11, 26, 10)


def test_a_chinese_make_up_saturday_counts_as_a_working_day():
    make_calendar(
        "Shenzhen", time_zone="Asia/Shanghai", country="CN", opens=time(9), closes=time(18)
    )

    # Fri 8 May 2026 17:00 CST (UTC+8): 1 h today; Saturday 9 May is a make-up working day
    # (for the Labour Day holiday on Tue 5 May): 3 h from 09:00 -> Sat 12:00 CST = 04:00 UTC.
    ticket = open_default_policy_ticket(utc(2026, 5, 8, 9))

    assert timer(ticket, FIRST).due_at == utc(2026, 5, 9, 4)


def test_a_chinese_holiday_week_does_not_count():
    make_calendar(
        "Shenzhen", time_zone="Asia/Shanghai", country="CN", opens=time(9), closes=time(18)
    )

    # Fri 25 Sep 2026 is Mid-Autumn Festival; Thu 24 Sep 17:00 CST: 1 h, then Sat 26 and Sun 27
    # are a weekend: Mon 28 Sep 09:00 + 3 h = 12:00 CST = 04:00 UTC.
    ticket = open_default_policy_ticket(utc(2026, 9, 24, 9))

    assert timer(ticket, FIRST).due_at == utc(2026, 9, 28, 4)


def test_the_resolution_target_runs_over_several_business_days(berlin):
    # 48 business hours = six 8-hour days: Tue 2 h, Wed, Thu, Fri, Mon, Tue 8 h each (42 h),
    # Wed 2 Dec 6 h -> 15:00 CET.
    ticket = open_default_policy_ticket(utc(2026, 11, 24, 14))

    assert timer(ticket, RESOLUTION).due_at == utc(2026, 12, 2, 14)


def test_the_next_response_counts_business_hours_over_the_weekend(berlin, agent):
    ticket = open_default_policy_ticket(utc(2026, 11, 27, 9))  # Fri 10:00 CET
    reply(ticket, agent, utc(2026, 11, 27, 10))

    customer_writes(ticket, utc(2026, 11, 27, 15))  # Fri 16:00 CET

    # 8 business hours: 1 h on Friday, 7 h from Monday 09:00 -> Mon 16:00 CET.
    following = timer(ticket, NEXT)
    assert following.business_hours is True
    assert following.due_at == utc(2026, 11, 30, 15)


def test_a_24_7_target_ignores_the_calendar_even_across_the_dst_change(berlin, agent):
    ticket = open_default_policy_ticket(utc(2026, 10, 23, 14))

    reply(ticket, agent, utc(2026, 10, 23, 14, 30))

    periodic = timer(ticket, PERIODIC)
    assert periodic.business_hours is False
    # 72 real hours, weekend and the 25-hour Sunday included.
    assert periodic.due_at == utc(2026, 10, 26, 14, 30)


def test_a_business_hours_target_is_24_7_when_the_team_has_no_calendar():
    factories.TeamFactory(name="Round the clock", slug="round-the-clock", is_default=True)

    ticket = open_default_policy_ticket(utc(2026, 11, 27, 15))  # a Friday afternoon

    assert timer(ticket, FIRST).due_at == utc(2026, 11, 27, 19)


def test_a_business_hours_reply_counts_minutes_early_in_business_time(berlin, agent):
    ticket = open_default_policy_ticket(utc(2026, 11, 27, 15))  # due Mon 11:00 UTC

    reply(ticket, agent, utc(2026, 11, 30, 8, 30))  # Mon 09:30 CET

    first = timer(ticket, FIRST)
    assert first.status == TimerStatus.MET
    assert first.minutes_early == 150  # 09:30 to 12:00 CET, not the whole weekend


def test_a_business_hours_reply_after_closing_on_the_due_day_is_late(berlin, agent):
    # Tue 13:00 CET + 4 h = due at 17:00 CET (closing), 16:00 UTC.
    ticket = open_default_policy_ticket(utc(2026, 11, 24, 12))
    assert timer(ticket, FIRST).due_at == utc(2026, 11, 24, 16)

    reply(ticket, agent, utc(2026, 11, 24, 18))  # 19:00 CET: no business time has passed

    first = timer(ticket, FIRST)
    assert first.status == TimerStatus.BREACHED
    assert first.minutes_early < 0


# ---- Calendar changes -----------------------------------------------------------------------


def test_a_calendar_change_recomputes_the_running_business_hours_timers(berlin, agent):
    waiting = open_default_policy_ticket(utc(2026, 11, 24, 14))
    answered = open_default_policy_ticket(utc(2026, 11, 24, 14))
    reply(answered, agent, utc(2026, 11, 24, 14, 30))
    periodic_due = timer(answered, PERIODIC).due_at
    CalendarException.objects.create(calendar=berlin, date=date(2026, 11, 25), name="Offsite")

    changed = recompute_calendar_timers(calendar_id=berlin.pk, now=utc(2026, 11, 24, 15))

    assert changed == 2
    assert timer(waiting, FIRST).due_at == utc(2026, 11, 26, 10)  # Wednesday no longer counts
    assert timer(waiting, RESOLUTION).due_at == utc(2026, 12, 3, 14)
    assert timer(answered, PERIODIC).due_at == periodic_due  # 24/7: untouched
    [recomputed] = events(waiting, TicketEvent.Kind.SLA_RECOMPUTED)
    assert recomputed.data == {"reason": "calendar_changed", "calendar": berlin.pk}


def test_a_calendar_change_that_moves_no_due_time_records_nothing(berlin):
    ticket = open_default_policy_ticket(utc(2026, 11, 24, 14))
    CalendarException.objects.create(calendar=berlin, date=date(2027, 1, 5), name="Offsite")

    assert recompute_calendar_timers(calendar_id=berlin.pk, now=utc(2026, 11, 24, 15)) == 0
    assert timer(ticket, FIRST).due_at == utc(2026, 11, 25, 10)
    assert not events(ticket, TicketEvent.Kind.SLA_RECOMPUTED)


def test_a_calendar_change_leaves_other_calendars_timers_alone(berlin):
    ticket = open_default_policy_ticket(utc(2026, 11, 24, 14))
    other = make_calendar(
        "Paris",
        time_zone="Europe/Paris",
        country="FR",
        opens=time(8),
        closes=time(12),
        team=False,
    )

    assert recompute_calendar_timers(calendar_id=other.pk, now=utc(2026, 11, 24, 15)) == 0
    assert timer(ticket, FIRST).due_at == utc(2026, 11, 25, 10)
    assert not events(ticket, TicketEvent.Kind.SLA_RECOMPUTED)


def test_the_recompute_task_uses_the_current_time(berlin):
    ticket = open_default_policy_ticket(utc(2026, 11, 24, 14))
    berlin.hours.filter(weekday=2).update(opens_at=time(7))  # Wednesday opens at 07:00

    with time_machine.travel(utc(2026, 11, 24, 15), tick=False):
        tasks.recompute_calendar_timers_task(berlin.pk)

    assert timer(ticket, FIRST).due_at == utc(2026, 11, 25, 8)  # Wed 07:00 + 2 h = 09:00 CET


@pytest.fixture
def queued_recomputes(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(tasks.recompute_calendar_timers_task, "delay", calls.append)
    return calls


def test_editing_working_hours_queues_a_recompute_after_commit(
    berlin, queued_recomputes, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        hours = berlin.hours.get(weekday=2)
        hours.closes_at = time(18)
        hours.save()
        assert queued_recomputes == []  # nothing before the commit

    assert len(callbacks) == 1
    assert queued_recomputes == [berlin.pk]


@pytest.mark.parametrize("action", ["add closure", "delete closure", "edit calendar"])
def test_every_calendar_edit_queues_a_recompute(
    berlin, queued_recomputes, django_capture_on_commit_callbacks, action
):
    closure = CalendarException.objects.create(calendar=berlin, date=date(2026, 12, 31))

    with django_capture_on_commit_callbacks(execute=True):
        if action == "add closure":
            CalendarException.objects.create(calendar=berlin, date=date(2026, 12, 30))
        elif action == "delete closure":
            closure.delete()
        else:
            berlin.time_zone = "Europe/Vienna"
            berlin.save()

    assert queued_recomputes == [berlin.pk]


def test_switching_a_teams_calendar_moves_its_business_hours_timers(berlin):
    ticket = open_default_policy_ticket(utc(2026, 11, 24, 14))
    assert timer(ticket, FIRST).due_at == utc(2026, 11, 25, 10)
    early = make_calendar(
        "Midday shift",
        time_zone="Europe/Berlin",
        country="DE",
        opens=time(12),
        closes=time(14),
        team=False,
    )
    team = ticket.team
    team.calendar = early
    team.save()

    changed = recompute_team_timers(team_id=team.pk, now=utc(2026, 11, 24, 15))

    # Tue 15:00 CET: closed since 14:00; 2 h on Wednesday, 2 h on Thursday -> Thu 14:00 CET.
    assert changed == 1
    assert timer(ticket, FIRST).due_at == utc(2026, 11, 26, 13)
    [recomputed] = events(ticket, TicketEvent.Kind.SLA_RECOMPUTED)
    assert recomputed.data == {"reason": "team_calendar_changed", "team": team.pk}


def test_saving_a_team_queues_a_recompute_of_its_timers(
    berlin, monkeypatch, django_capture_on_commit_callbacks
):
    calls: list[int] = []
    monkeypatch.setattr(tasks.recompute_team_timers_task, "delay", calls.append)
    team = open_default_policy_ticket(utc(2026, 11, 24, 14)).team

    with django_capture_on_commit_callbacks(execute=True):
        team.calendar = None
        team.save()

    assert calls == [team.pk]


# ---- Pause and resume -----------------------------------------------------------------------


def test_pending_pauses_the_running_timers_keeping_their_time_left(agent):
    ticket = open_ticket()

    set_status(ticket, agent, "pending", T0 + 20 * MINUTE)

    first = timer(ticket, FIRST)
    assert first.status == TimerStatus.PAUSED
    assert first.paused_at == T0 + 20 * MINUTE
    assert first.remaining_seconds == 40 * 60
    assert timer(ticket, RESOLUTION).remaining_seconds == 100 * 60
    assert not Ticket.objects.breaching_before(T0 + 10 * DAY).filter(pk=ticket.pk)


def test_a_customer_reply_resumes_the_timers_moved_by_the_paused_time(agent):
    ticket = open_ticket()
    set_status(ticket, agent, "pending", T0 + 20 * MINUTE)

    customer_writes(ticket, T0 + 3 * HOUR)

    ticket.refresh_from_db()
    assert ticket.status == "open"
    first = timer(ticket, FIRST)
    assert first.status == TimerStatus.ACTIVE
    assert first.due_at == T0 + 3 * HOUR + 40 * MINUTE  # due T0 + 1 h, paused 2 h 40 min
    assert first.warn_at == first.due_at - 15 * MINUTE
    assert first.paused_seconds == 160 * 60
    assert first.paused_at is None and first.remaining_seconds is None
    assert timer(ticket, RESOLUTION).due_at == T0 + 4 * HOUR + 40 * MINUTE


def test_an_agent_status_change_resumes_the_timers(agent):
    ticket = open_ticket()
    set_status(ticket, agent, "pending", T0 + 20 * MINUTE)

    set_status(ticket, agent, "on_hold", T0 + 50 * MINUTE)

    first = timer(ticket, FIRST)
    assert first.status == TimerStatus.ACTIVE
    assert first.due_at == T0 + 90 * MINUTE


def test_a_second_pause_adds_to_the_paused_time(agent):
    ticket = open_ticket()
    set_status(ticket, agent, "pending", T0 + 10 * MINUTE)
    customer_writes(ticket, T0 + 30 * MINUTE)  # paused 20 min, due 09:20 -> 10:20
    set_status(ticket, agent, "pending", T0 + 40 * MINUTE)  # 40 min left

    customer_writes(ticket, T0 + 2 * HOUR)

    first = timer(ticket, FIRST)
    assert first.paused_seconds == (20 + 80) * 60
    assert first.due_at == T0 + 2 * HOUR + 40 * MINUTE


def test_a_timer_already_overdue_is_not_paused(agent):
    ticket = open_ticket()  # the courier milestone is due after 30 minutes

    set_status(ticket, agent, "pending", T0 + 45 * MINUTE)

    courier = timer(ticket, MILESTONE, "Contact the courier")
    assert courier.status == TimerStatus.ACTIVE
    assert courier.due_at == T0 + 30 * MINUTE
    assert timer(ticket, FIRST).status == TimerStatus.PAUSED


def test_the_sweeper_never_breaches_a_paused_timer(agent):
    ticket = open_ticket()
    set_status(ticket, agent, "pending", T0 + 20 * MINUTE)

    result = sweep(now=T0 + 5 * DAY)

    assert result.breached == 0
    assert timer(ticket, FIRST).status == TimerStatus.PAUSED
    assert not events(ticket, TicketEvent.Kind.SLA_BREACHED)


def test_a_reply_while_pending_meets_the_paused_timer_with_its_time_left(agent):
    ticket = open_ticket()
    set_status(ticket, agent, "pending", T0 + 20 * MINUTE)

    reply(ticket, agent, T0 + 5 * HOUR)

    first = timer(ticket, FIRST)
    assert first.status == TimerStatus.MET
    assert first.minutes_early == 40


def test_a_reply_while_pending_starts_the_periodic_update_paused(agent):
    ticket = open_ticket()
    set_status(ticket, agent, "pending", T0 + 20 * MINUTE)

    reply(ticket, agent, T0 + HOUR)

    periodic = timer(ticket, PERIODIC)
    assert periodic.status == TimerStatus.PAUSED
    assert periodic.remaining_seconds == 3 * 24 * 3600
    customer_writes(ticket, T0 + 2 * DAY)
    assert timer(ticket, PERIODIC).due_at == T0 + 5 * DAY


def test_a_reply_that_sets_pending_pauses_the_new_periodic_update(agent):
    ticket = open_ticket()

    reply(ticket, agent, T0 + 10 * MINUTE, status="pending")

    assert timer(ticket, PERIODIC).status == TimerStatus.PAUSED
    assert timer(ticket, RESOLUTION).status == TimerStatus.PAUSED
    assert timer(ticket, FIRST).status == TimerStatus.MET


def test_a_business_hours_timer_pauses_and_resumes_on_its_own_clock(berlin, agent):
    # Tue 15:00 CET, first response due Wed 11:00 CET.
    ticket = open_default_policy_ticket(utc(2026, 11, 24, 14))

    set_status(ticket, agent, "pending", utc(2026, 11, 24, 15))  # Tue 16:00 CET

    first = timer(ticket, FIRST)
    assert first.remaining_seconds == 3 * 3600  # 1 h on Tuesday, 2 h on Wednesday

    customer_writes(ticket, utc(2026, 11, 26, 13))  # Thu 14:00 CET

    first = timer(ticket, FIRST)
    assert first.due_at == utc(2026, 11, 26, 16)  # Thu 17:00 CET
    # Paused business time: Tue 16-17, all of Wednesday, Thu 09-14.
    assert first.paused_seconds == (1 + 8 + 5) * 3600


def test_a_timer_resumed_with_a_new_due_time_is_warned_again_before_it(berlin, agent):
    # Tue 13:00 CET: due at closing, 17:00 CET (16:00 UTC), warned at 16:45 CET.
    ticket = open_default_policy_ticket(utc(2026, 11, 24, 12))
    sweep(now=utc(2026, 11, 24, 15, 45))
    set_status(ticket, agent, "pending", utc(2026, 11, 24, 15, 50))  # 10 minutes left

    customer_writes(ticket, utc(2026, 11, 25, 6))  # Wed 07:00 CET, before opening

    first = timer(ticket, FIRST)
    assert first.due_at == utc(2026, 11, 25, 8, 10)  # Wed 09:10 CET
    assert first.warned_at is None
    sweep(now=utc(2026, 11, 25, 7, 55))
    warnings = events(ticket, TicketEvent.Kind.SLA_WARNING)
    assert [w.created_at for w in warnings if w.data["timer_kind"] == FIRST] == [
        utc(2026, 11, 24, 15, 45),
        utc(2026, 11, 25, 7, 55),
    ]


def test_a_pause_over_the_dst_weekend_resumes_on_monday_in_winter_time(berlin, agent):
    # Fri 23 Oct 13:00 CEST: due at 17:00 CEST (15:00 UTC).
    ticket = open_default_policy_ticket(utc(2026, 10, 23, 11))
    set_status(ticket, agent, "pending", utc(2026, 10, 23, 14))  # 16:00 CEST: 1 h left

    customer_writes(ticket, utc(2026, 10, 25, 11))  # Sunday noon, now CET (UTC+1)

    first = timer(ticket, FIRST)
    assert first.due_at == utc(2026, 10, 26, 9)  # Mon 09:00 CET + 1 h = 10:00 CET
    assert first.paused_seconds == 3600  # Fri 16:00-17:00 CEST


def test_a_pause_outside_business_hours_costs_no_business_time(berlin, agent):
    ticket = open_default_policy_ticket(utc(2026, 11, 27, 15))  # Fri, due Mon 11:00 UTC

    set_status(ticket, agent, "pending", utc(2026, 11, 27, 17))  # Fri 18:00 CET, closed
    customer_writes(ticket, utc(2026, 11, 30, 7))  # Mon 08:00 CET, not open yet

    first = timer(ticket, FIRST)
    assert first.paused_seconds == 0
    assert first.due_at == utc(2026, 11, 30, 11)


def test_a_policy_change_while_paused_recomputes_the_time_left(agent):
    ticket = open_ticket()
    set_status(ticket, agent, "pending", T0 + 20 * MINUTE)

    ticket_override_priority(
        ticket=ticket, actor=agent, priority="urgent", reason="Press", now=T0 + HOUR
    )

    first = timer(ticket, FIRST)
    assert first.status == TimerStatus.PAUSED
    assert first.remaining_seconds == 10 * 60  # Urgent: 30 min, 20 of them used before pending
    customer_writes(ticket, T0 + 2 * HOUR)
    assert timer(ticket, FIRST).due_at == T0 + 2 * HOUR + 10 * MINUTE


def test_a_recompute_after_a_pause_keeps_the_paused_time_out(agent):
    ticket = open_ticket()
    set_status(ticket, agent, "pending", T0 + 20 * MINUTE)
    customer_writes(ticket, T0 + 2 * HOUR)  # paused 100 min: due 10:00 -> 11:40

    ticket_override_priority(
        ticket=ticket, actor=agent, priority="urgent", reason="Press", now=T0 + 2 * HOUR
    )

    # Urgent: 30 min from 09:00 plus the 100 paused minutes.
    assert timer(ticket, FIRST).due_at == T0 + 130 * MINUTE


def test_solving_a_pending_ticket_meets_the_resolution_with_the_time_left(agent):
    ticket = open_ticket()
    set_status(ticket, agent, "pending", T0 + 30 * MINUTE)

    set_status(ticket, agent, "solved", T0 + 5 * HOUR)

    resolution = timer(ticket, RESOLUTION)
    assert resolution.status == TimerStatus.MET
    assert resolution.minutes_early == 90
    assert running_kinds(ticket) == set()


# ---- The due-time query ---------------------------------------------------------------------


def test_breaching_before_finds_the_tickets_with_a_running_timer_due_in_time(agent):
    soon = open_ticket(at=T0)  # courier milestone due 09:30
    later = open_ticket(at=T0 + 2 * HOUR)  # courier milestone due 11:30
    answered = open_ticket(at=T0)
    ticket_change_status(ticket=answered, actor=agent, status="solved", now=T0 + MINUTE)

    in_the_next_hour = Ticket.objects.breaching_before(T0 + HOUR)

    assert list(in_the_next_hour) == [soon]
    assert later not in in_the_next_hour
