"""The demo's SLA timers: each told story replayed through the rules of the ticket engine.

The engine starts, meets, pauses and cancels a ticket's timers as its steps happen
(`tickets.sla.timers`, called by `tickets.services`), and the sweeper (`tickets.sla.sweeper`,
every minute) warns, breaches and escalates. A demo story knows all its steps at once, so
`StoryTimers` replays them in time order under the same rules and keeps the rows and timeline
events they would have left behind:

* opened: first response and milestones start at creation (proactive tickets: at detection),
  resolution at creation, each due its target's minutes later on the target's clock;
* a customer message starts next response once the ticket had a first response, unless one
  already runs (the oldest unanswered message counts);
* a public reply meets first response, next response and periodic update (a breached one records
  when it was met, late) and the milestones a reply completes, then starts the next periodic
  update; the carrier contacted (or the ticket on hold, waiting on it) and a proposed remedy
  complete theirs;
* pending pauses the timers not yet due, keeping the time left on each timer's own clock (a
  story's last step: nothing resumes them); solved meets resolution and cancels what still runs;
* between the steps, and last at the demo's ``now``, the sweeper warns at ``warn_at``, breaches
  at ``due_at`` (``breached_at = due_at``) and escalates the ticket at its first breach, so a
  real sweep at ``now`` finds nothing left to do.

Due times come from the engine's calendar arithmetic on one `Schedule` per team calendar.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from compensation.models import CompensationOffer
from tickets.models import (
    BusinessCalendar,
    MilestoneTrigger,
    SLAPolicy,
    SLATarget,
    SLATimer,
    Ticket,
    TicketEvent,
    TimerKind,
    TimerStatus,
)
from tickets.sla.calendar import Schedule, add_business_time, business_time_between

# The holidays `tickets.sla.timers.Clocks` loads around "now" (the demo history is months long),
# so a timer's due time here is the one the engine computes at the demo's now.
YEARS_BACK, YEARS_AHEAD = 1, 2

RUNNING = (TimerStatus.ACTIVE, TimerStatus.PAUSED)
INITIAL_KINDS = (TimerKind.FIRST_RESPONSE, TimerKind.RESOLUTION, TimerKind.MILESTONE)
REPLY_KINDS = (TimerKind.FIRST_RESPONSE, TimerKind.NEXT_RESPONSE, TimerKind.PERIODIC_UPDATE)
# What the sweeper writes; it never touches a ticket's `updated_at` or `version`.
SWEEPER_EVENTS = (
    TicketEvent.Kind.SLA_WARNING,
    TicketEvent.Kind.SLA_BREACHED,
    TicketEvent.Kind.ESCALATED,
)

# A story's steps; at the same minute, in this order (a reply comes before the status it sets).
OPENED, CUSTOMER, CARRIER, REMEDY, REPLY, PENDING, ON_HOLD, SOLVED = range(8)
STATUS_STEPS = (("pending", PENDING), ("on_hold", ON_HOLD), ("solved", SOLVED))


class TeamClock:
    """A team's two clocks, as `tickets.sla.timers.Clocks` has them: 24/7, and business hours
    of the team's calendar (its `Schedule` built once, for the whole demo)."""

    def __init__(self, calendar: BusinessCalendar | None, now: dt.datetime):
        years = range(now.year - YEARS_BACK, now.year + YEARS_AHEAD + 1)
        self.schedule = (
            Schedule.from_calendar(calendar, years=years) if calendar is not None else None
        )

    def add(self, business_hours: bool, start: dt.datetime, seconds: int) -> dt.datetime:
        schedule = self.schedule if business_hours else None
        return add_business_time(schedule, start, dt.timedelta(seconds=seconds))

    def seconds_between(self, business_hours: bool, start: dt.datetime, end: dt.datetime) -> int:
        """Seconds on this clock inside ``[start, end)``; negative when ``end`` is earlier."""
        if end < start:
            return -self.seconds_between(business_hours, end, start)
        schedule = self.schedule if business_hours else None
        return int(business_time_between(schedule, start, end).total_seconds())


class TimedStory(Protocol):
    """What `StoryTimers` reads from a told story (ticket_data's `Story`), and where it writes."""

    ticket: Ticket
    clock: TeamClock
    policy: SLAPolicy | None
    now: dt.datetime
    assignee: object  # the agent (a user) or None
    inbound: list[dt.datetime]  # customer messages
    outbound: list[dt.datetime]  # public agent replies
    carrier_contacted_at: dt.datetime | None
    offers: list[CompensationOffer]
    status_times: dict[str, dt.datetime]
    timers: list[SLATimer]  # out: the timer rows
    timer_events: list[tuple[TicketEvent, SLATimer]]  # out: events naming their timer

    def event(
        self, event_kind: str, at: dt.datetime, actor=None, public: bool = True, **data
    ) -> TicketEvent: ...


class StoryTimers:
    """The timers of one told story, and the sweeper's and milestones' timeline rows."""

    def __init__(self, story: TimedStory):
        self.s = story
        self.ticket = story.ticket
        self.clock = story.clock
        self.policy = story.policy
        self.targets: list[SLATarget] = list(story.policy.targets.all()) if story.policy else []
        self.timers: list[SLATimer] = []
        self.since: dict[int, dt.datetime] = {}  # id(timer) -> when the engine created its row
        self.first_response_at: dt.datetime | None = None
        self.solved = False

    def write(self) -> None:
        if self.policy is None:
            return  # no policy applies: the engine runs no timers either
        for at, step in self._steps():
            self._sweep(at)
            self._apply(step, at)
        self._sweep(self.s.now, inclusive=True)
        self.s.timers += self.timers

    def _steps(self) -> list[tuple[dt.datetime, int]]:
        s = self.s
        steps = [(self.ticket.created_at, OPENED)]
        steps += [(at, CUSTOMER) for at in s.inbound]
        steps += [(at, REPLY) for at in s.outbound]
        if s.carrier_contacted_at is not None:
            steps.append((s.carrier_contacted_at, CARRIER))
        if s.offers:
            steps.append((min(offer.created_at for offer in s.offers), REMEDY))
        steps += [
            (s.status_times[name], step) for name, step in STATUS_STEPS if name in s.status_times
        ]
        return sorted(steps)

    def _apply(self, step: int, at: dt.datetime) -> None:
        ticket = self.ticket
        if step == OPENED:
            contact = ticket.detected_at or ticket.created_at
            for target in self._targets(*INITIAL_KINDS):
                start = ticket.created_at if target.kind == TimerKind.RESOLUTION else contact
                self._start(target, start, at)
        elif step == CUSTOMER:
            if self.first_response_at is not None:
                self._start_kind(TimerKind.NEXT_RESPONSE, at)
        elif step == REPLY:
            self._meet(self._unmet(*REPLY_KINDS), at)
            self._meet_milestones(MilestoneTrigger.PUBLIC_REPLY, at)
            self.first_response_at = self.first_response_at or at
            if not self.solved:
                self._start_kind(TimerKind.PERIODIC_UPDATE, at)
        elif step in (CARRIER, ON_HOLD):
            self._meet_milestones(MilestoneTrigger.CARRIER_CONTACTED, at)
        elif step == REMEDY:
            self._meet_milestones(MilestoneTrigger.COMPENSATION_PROPOSED, at)
        elif step == PENDING:
            self._pause(at)
        elif step == SOLVED:
            self._meet(self._unmet(TimerKind.RESOLUTION), at)
            self.solved = True
            for timer in self._running():
                timer.status = TimerStatus.CANCELLED
                timer.paused_at = None
                timer.remaining_seconds = None

    # --- the engine's building blocks (tickets.sla.timers) ------------------------------------

    def _targets(self, *kinds: str) -> list[SLATarget]:
        return [target for target in self.targets if target.kind in kinds]

    def _running(self, *kinds: str) -> list[SLATimer]:
        return [t for t in self.timers if t.status in RUNNING and (not kinds or t.kind in kinds)]

    def _unmet(self, *kinds: str) -> list[SLATimer]:
        """Running, or breached and not met yet: what a meeting step completes."""
        return [
            t
            for t in self.timers
            if t.kind in kinds
            and (t.status in RUNNING or (t.status == TimerStatus.BREACHED and t.met_at is None))
        ]

    def _start(self, target: SLATarget, start: dt.datetime, at: dt.datetime) -> None:
        due = self.clock.add(target.business_hours, start, target.minutes * 60)
        warning = self.policy.warning_minutes
        timer = SLATimer(
            ticket=self.ticket,
            target=target,
            kind=target.kind,
            name=target.name,
            met_by=target.met_by if target.kind == TimerKind.MILESTONE else "",
            business_hours=target.business_hours,
            status=TimerStatus.ACTIVE,
            started_at=start,
            due_at=due,
            warn_at=due - dt.timedelta(minutes=warning) if warning else None,
        )
        self.timers.append(timer)
        self.since[id(timer)] = at

    def _start_kind(self, kind: str, at: dt.datetime) -> None:
        targets = self._targets(kind)
        if targets and not self._running(kind):
            self._start(targets[0], at, at)

    def _meet(self, timers: list[SLATimer], at: dt.datetime) -> list[SLATimer]:
        """`sla.meet`. The sweeps before ``at`` breached every active timer due before it, so a
        running timer is met in time; a breached one records when it was met, late."""
        for timer in timers:
            if timer.status == TimerStatus.PAUSED:
                timer.minutes_early = (timer.remaining_seconds or 0) // 60
                timer.status = TimerStatus.MET
            elif timer.status == TimerStatus.ACTIVE:
                seconds = self.clock.seconds_between(timer.business_hours, at, timer.due_at)
                timer.minutes_early = seconds // 60
                timer.status = TimerStatus.MET
            else:
                # At least a minute late, rounded up: a business-hours goal reached after closing
                # on its due day is late although no business time has passed since.
                seconds = self.clock.seconds_between(timer.business_hours, timer.due_at, at)
                timer.minutes_early = -max(1, -(-seconds // 60))
            timer.met_at = at
            timer.paused_at = None
            timer.remaining_seconds = None
        return timers

    def _meet_milestones(self, trigger: str, at: dt.datetime) -> None:
        milestones = [t for t in self._unmet(TimerKind.MILESTONE) if t.met_by == trigger]
        for timer in self._meet(milestones, at):
            self.s.event(
                TicketEvent.Kind.MILESTONE_MET,
                at,
                actor=self.s.assignee,
                public=False,
                name=timer.name,
                minutes_early=timer.minutes_early,
            )

    def _pause(self, at: dt.datetime) -> None:
        """Timers already past due stay active: the sweeper breaches them."""
        for timer in self._running():
            if timer.status == TimerStatus.ACTIVE and timer.due_at > at:
                timer.status = TimerStatus.PAUSED
                timer.paused_at = at
                timer.remaining_seconds = self.clock.seconds_between(
                    timer.business_hours, at, timer.due_at
                )

    # --- the sweeper (tickets.sla.sweeper), every minute up to `until` -------------------------

    def _sweep(self, until: dt.datetime, *, inclusive: bool = False) -> None:
        """What the sweeps before ``until`` did (``inclusive``: and the one at ``until``)."""

        def due(moment: dt.datetime) -> bool:
            return moment < until or (inclusive and moment == until)

        breaches = []
        for timer in self.timers:
            if timer.status != TimerStatus.ACTIVE:
                continue
            since = self.since[id(timer)]  # no sweep saw the timer before its row existed
            if timer.warn_at is not None and timer.warned_at is None:
                warned_at = max(timer.warn_at, since)
                if warned_at < timer.due_at and due(warned_at):
                    timer.warned_at = warned_at
                    self._timer_event(TicketEvent.Kind.SLA_WARNING, timer, warned_at)
            breached_at = max(timer.due_at, since)
            if due(breached_at):
                timer.status = TimerStatus.BREACHED
                timer.breached_at = timer.due_at
                self._timer_event(TicketEvent.Kind.SLA_BREACHED, timer, breached_at)
                breaches.append(breached_at)
        if breaches:
            self._escalate(min(breaches))

    def _timer_event(self, kind: str, timer: SLATimer, at: dt.datetime) -> None:
        event = self.s.event(
            kind,
            at,
            public=False,
            timer_kind=timer.kind,
            name=timer.name,
            due_at=timer.due_at.isoformat(),
        )
        self.s.timer_events.append((event, timer))  # "timer": its pk, once saved

    def _escalate(self, at: dt.datetime) -> None:
        if self.ticket.is_escalated:
            return
        self.ticket.is_escalated = True
        self.ticket.escalated_at = at
        self.s.event(TicketEvent.Kind.ESCALATED, at, public=False, reason="sla_breach")
