"""A ticket's SLA timers: start, meet, pause, resume, cancel and recompute.

These are the building blocks of `tickets.services`; each runs inside the caller's transaction
with the ticket row already locked, and takes the operation's `now` (read once) as `at`.

What each timer measures (shared/DOMAIN.md, issue 4):

* first response: from creation (proactive tickets: from *detection*) to the first public agent
  reply;
* next response: from the oldest unanswered customer message to the next public agent reply.
  Every customer message that arrives after an agent reply starts it again; further messages
  while it already runs do not push the deadline later (a chatty customer is not answered later);
* periodic update: the longest gap allowed between two public agent updates; every reply meets
  the running one and starts the next, until the ticket is solved;
* resolution: from creation (or reopening) to solved;
* milestones: named steps (lost parcel: contact 1 h, verify 24 h, compensation plan 48 h), each
  met by its trigger (`SLATarget.met_by`).

Each timer counts on one clock: 24/7, or the ticket team's business calendar when its target
says so. The due time is stored (`due_at`), so "breaching within the hour" is an index range
scan, and the sweeper (`tickets.sla.sweeper`) needs no calendar arithmetic at all.

While the ticket is pending on the customer, running timers pause: the time left is kept
(`remaining_seconds`, on the timer's clock) and the due time is moved when the ticket resumes.
`paused_seconds` accumulates the paused time, so a recompute (new policy, changed calendar) can
rebuild the due time from `started_at` without counting the pauses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from tickets.models import (
    MilestoneTrigger,
    SLAPolicy,
    SLATarget,
    SLATimer,
    Ticket,
    TimerKind,
    TimerStatus,
)
from tickets.sla.calendar import Schedule, add_business_time, business_time_between

RUNNING = (TimerStatus.ACTIVE, TimerStatus.PAUSED)

# Timer kinds started when a ticket opens; next response and periodic update start later.
INITIAL_KINDS = (TimerKind.FIRST_RESPONSE, TimerKind.RESOLUTION, TimerKind.MILESTONE)

# Public holidays are loaded for these years around "now": targets are hours or days long, and a
# week of business time never reaches two years ahead.
_YEARS_BACK, _YEARS_AHEAD = 1, 2


class Clocks:
    """The two clocks a ticket's timers count on: real time, and its team's business calendar.

    The calendar is read from the database once per operation (two queries), and only when a
    business-hours timer needs it.
    """

    def __init__(self, ticket: Ticket, *, at: dt.datetime) -> None:
        team = ticket.team if ticket.team_id else None
        self.calendar = team.calendar if team is not None and team.calendar_id else None
        self.at = at
        self._schedule: Schedule | None = None

    def schedule(self, business_hours: bool) -> Schedule | None:
        if not business_hours or self.calendar is None:
            return None
        if self._schedule is None:
            years = range(self.at.year - _YEARS_BACK, self.at.year + _YEARS_AHEAD + 1)
            self._schedule = Schedule.from_calendar(self.calendar, years=years)
        return self._schedule

    def add(self, business_hours: bool, start: dt.datetime, seconds: int) -> dt.datetime:
        return add_business_time(
            self.schedule(business_hours), start, dt.timedelta(seconds=max(seconds, 0))
        )

    def seconds_between(self, business_hours: bool, start: dt.datetime, end: dt.datetime) -> int:
        """Seconds on this clock inside ``[start, end)``; negative when ``end`` is earlier."""
        if end < start:
            return -self.seconds_between(business_hours, end, start)
        span = business_time_between(self.schedule(business_hours), start, end)
        return int(span.total_seconds())


def _warn_at(due_at: dt.datetime, policy: SLAPolicy | None) -> dt.datetime | None:
    if policy is None or not policy.warning_minutes:
        return None
    return due_at - dt.timedelta(minutes=policy.warning_minutes)


def new_timer(
    ticket: Ticket,
    target: SLATarget,
    *,
    start: dt.datetime,
    clocks: Clocks,
    policy: SLAPolicy | None,
) -> SLATimer:
    """An unsaved running timer for one target, due `target.minutes` after `start`."""
    due_at = clocks.add(target.business_hours, start, target.minutes * 60)
    return SLATimer(
        ticket=ticket,
        target=target,
        kind=target.kind,
        name=target.name,
        met_by=target.met_by if target.kind == TimerKind.MILESTONE else "",
        business_hours=target.business_hours,
        status=TimerStatus.ACTIVE,
        started_at=start,
        due_at=due_at,
        warn_at=_warn_at(due_at, policy),
    )


def policy_targets(policy: SLAPolicy | None, *kinds: str) -> list[SLATarget]:
    if policy is None:
        return []
    return [target for target in policy.targets.all() if not kinds or target.kind in kinds]


def initial_start(ticket: Ticket, target: SLATarget) -> dt.datetime:
    """When an initial timer starts: resolution when the ticket was opened, first-contact clocks
    (first response, milestones) at detection for proactive tickets."""
    if target.kind == TimerKind.RESOLUTION:
        return ticket.created_at
    return ticket.detected_at or ticket.created_at


def start_initial_timers(ticket: Ticket, *, at: dt.datetime, clocks: Clocks) -> list[SLATimer]:
    """First response, resolution and milestones of the ticket's policy.

    The first-contact clocks (first response, milestones) start at detection for proactive
    tickets; resolution starts when the ticket was opened.
    """
    timers = [
        new_timer(
            ticket,
            target,
            start=initial_start(ticket, target),
            clocks=clocks,
            policy=ticket.sla_policy,
        )
        for target in policy_targets(ticket.sla_policy, *INITIAL_KINDS)
    ]
    return SLATimer.objects.bulk_create(timers)


def start_timer(ticket: Ticket, kind: str, *, at: dt.datetime, clocks: Clocks) -> SLATimer | None:
    """Start the policy's timer of `kind` at `at`, unless one is already running."""
    targets = policy_targets(ticket.sla_policy, kind)
    if not targets or running(ticket, kind).exists():
        return None
    timer = new_timer(ticket, targets[0], start=at, clocks=clocks, policy=ticket.sla_policy)
    if ticket.status == Ticket.Status.PENDING:
        # The ticket waits on the customer (an agent's reply while pending starts the periodic
        # update): the new clock starts paused, with its whole budget left.
        timer.status = TimerStatus.PAUSED
        timer.paused_at = at
        timer.remaining_seconds = targets[0].minutes * 60
    timer.save()
    return timer


def running(ticket: Ticket, *kinds: str):
    timers = SLATimer.objects.filter(ticket=ticket, status__in=RUNNING)
    return timers.filter(kind__in=kinds) if kinds else timers


def _minutes_late(timer: SLATimer, at: dt.datetime, clocks: Clocks) -> int:
    """Whole minutes on the timer's clock from the due time to `at`, for `at` past due.

    Rounded towards "late" and at least one: one second past due is a minute late, and so is a
    business-hours goal reached after closing time on its due day (no business time has passed,
    but the due time has, and the sweeper breaches by real time).
    """
    seconds = clocks.seconds_between(timer.business_hours, timer.due_at, at)
    return max(1, -(-seconds // 60))


def meet(timers: Iterable[SLATimer], *, at: dt.datetime, clocks: Clocks) -> list[SLATimer]:
    """Record that the timers' goals were reached at `at`.

    Callers read the timers `FOR UPDATE` (`meet_kinds`, `meet_milestones`): the sweeper claims
    timers with `SKIP LOCKED`, so it either leaves these alone or has committed its breach
    before they are read, and a breach is never written (nor recorded) twice.

    A running timer becomes met with its minutes early, or breached with its minutes late
    (negative) when `at` is past its due time and the sweeper has not caught it yet; such a
    timer gets `breached_now = True` (not stored) so the caller records the breach once. A
    timer the sweeper already breached keeps its status and records when, late, it was met.
    A paused timer is never past due (`pause` skips overdue ones): it is met with its time left.
    """
    done = []
    for timer in timers:
        timer.breached_now = False
        if timer.status == TimerStatus.PAUSED:
            timer.minutes_early = (timer.remaining_seconds or 0) // 60
            timer.status = TimerStatus.MET
        elif timer.status == TimerStatus.ACTIVE and at <= timer.due_at:
            timer.minutes_early = (
                clocks.seconds_between(timer.business_hours, at, timer.due_at) // 60
            )
            timer.status = TimerStatus.MET
        elif timer.status == TimerStatus.ACTIVE:
            timer.minutes_early = -_minutes_late(timer, at, clocks)
            timer.status = TimerStatus.BREACHED
            timer.breached_at = timer.due_at
            timer.breached_now = True
        elif timer.status == TimerStatus.BREACHED and timer.met_at is None:
            timer.minutes_early = -_minutes_late(timer, at, clocks)
        else:
            continue
        timer.met_at = at
        timer.paused_at = None
        timer.remaining_seconds = None
        timer.save(
            update_fields=[
                "status",
                "met_at",
                "minutes_early",
                "breached_at",
                "paused_at",
                "remaining_seconds",
            ]
        )
        done.append(timer)
    return done


def meet_kinds(ticket: Ticket, *kinds: str, at: dt.datetime, clocks: Clocks) -> list[SLATimer]:
    """Meet the running (or breached, not yet met) timers of these kinds."""
    timers = SLATimer.objects.filter(
        ticket=ticket, kind__in=kinds, status__in=(*RUNNING, TimerStatus.BREACHED), met_at=None
    ).exclude(kind=TimerKind.MILESTONE)
    return meet(timers.select_for_update(), at=at, clocks=clocks)


def meet_milestones(
    ticket: Ticket, trigger: str, *, at: dt.datetime, clocks: Clocks
) -> list[SLATimer]:
    """Meet the milestones completed by `trigger` (a `MilestoneTrigger` value)."""
    timers = SLATimer.objects.filter(
        ticket=ticket,
        kind=TimerKind.MILESTONE,
        met_by=trigger,
        status__in=(*RUNNING, TimerStatus.BREACHED),
        met_at=None,
    )
    return meet(timers.select_for_update(), at=at, clocks=clocks)


def pause(ticket: Ticket, *, at: dt.datetime, clocks: Clocks) -> int:
    """Stop the clocks while the ticket waits on the customer; keep the time left.

    Timers already past due stay active: they breached before the pause, and the sweeper says so.
    """
    paused = 0
    timers = running(ticket).filter(status=TimerStatus.ACTIVE, due_at__gt=at)
    for timer in timers.select_for_update():
        timer.remaining_seconds = clocks.seconds_between(timer.business_hours, at, timer.due_at)
        timer.status = TimerStatus.PAUSED
        timer.paused_at = at
        timer.save(update_fields=["status", "paused_at", "remaining_seconds"])
        paused += 1
    return paused


def resume(ticket: Ticket, *, at: dt.datetime, clocks: Clocks) -> int:
    """Restart paused clocks: each is due its remaining time after `at`, on its own clock."""
    resumed = 0
    for timer in running(ticket).filter(status=TimerStatus.PAUSED):
        timer.paused_seconds += max(
            clocks.seconds_between(timer.business_hours, timer.paused_at, at), 0
        )
        timer.due_at = clocks.add(timer.business_hours, at, timer.remaining_seconds or 0)
        timer.warn_at = _warn_at(timer.due_at, ticket.sla_policy)
        if timer.warn_at is not None and timer.warn_at > at:
            # A warning given before the pause was for the old due time (as in `recompute`).
            timer.warned_at = None
        timer.status = TimerStatus.ACTIVE
        timer.paused_at = None
        timer.remaining_seconds = None
        timer.save(
            update_fields=[
                "status",
                "due_at",
                "warn_at",
                "warned_at",
                "paused_at",
                "remaining_seconds",
                "paused_seconds",
            ]
        )
        resumed += 1
    return resumed


def cancel(ticket: Ticket, *kinds: str) -> int:
    """Stop running timers that no longer apply (a solved ticket needs no next response)."""
    return running(ticket, *kinds).update(
        status=TimerStatus.CANCELLED, paused_at=None, remaining_seconds=None
    )


def _recomputed_fields(timer: SLATimer) -> tuple:
    return (
        timer.target_id,
        timer.business_hours,
        timer.met_by,
        timer.remaining_seconds,
        timer.due_at,
        timer.warn_at,
        timer.warned_at,
    )


def _reached_before(ticket: Ticket, target: SLATarget) -> bool:
    """A first-contact goal the ticket reached before a policy asking for it applied.

    The customer already had a public reply: neither a first response nor a milestone met by a
    public reply ("Contact the customer") starts, overdue, after a late category change.
    """
    if ticket.first_response_at is None:
        return False
    return target.kind == TimerKind.FIRST_RESPONSE or (
        target.kind == TimerKind.MILESTONE and target.met_by == MilestoneTrigger.PUBLIC_REPLY
    )


def recompute(ticket: Ticket, *, at: dt.datetime, clocks: Clocks) -> int:
    """Rebuild the running timers after the ticket's policy or its team's calendar changed.

    1. Each running timer takes the new policy's target of the same kind and name, and its due
       time is rebuilt from `started_at` on the target's clock, without the paused time; a
       paused timer gets its time left recomputed instead.
    2. A running timer whose kind and name the new policy lacks is cancelled, unless it is a
       milestone no policy set (no target: a task added to the ticket by hand or by another
       service, such as a remedy's senior call): that one is not the policy's to cancel and
       keeps its own clock.
    3. Initial timers the new policy has and the ticket never ran (a milestone of the lost-parcel
       policy after a category change, say) start, as if the ticket had been opened under it;
       first-contact goals a public reply already reached do not (`_reached_before`).

    Returns the number of timers changed (due time, time left, target or clock), cancelled or
    started.
    """
    policy = ticket.sla_policy
    targets = {(t.kind, t.name): t for t in policy_targets(policy)}
    changed = 0
    for timer in running(ticket):
        target = targets.get((timer.kind, timer.name))
        if target is None and timer.target_id is None and timer.kind == TimerKind.MILESTONE:
            continue  # a task of its own (rule 2): no policy set it, none takes it away
        if target is None:
            timer.status = TimerStatus.CANCELLED
            timer.paused_at = None
            timer.remaining_seconds = None
            timer.save(update_fields=["status", "paused_at", "remaining_seconds"])
            changed += 1
            continue
        budget = target.minutes * 60
        before = _recomputed_fields(timer)
        timer.target = target
        timer.business_hours = target.business_hours
        timer.met_by = target.met_by if target.kind == TimerKind.MILESTONE else ""
        if timer.status == TimerStatus.PAUSED:
            used = (
                clocks.seconds_between(target.business_hours, timer.started_at, timer.paused_at)
                - timer.paused_seconds
            )
            timer.remaining_seconds = max(budget - max(used, 0), 0)
        else:
            timer.due_at = clocks.add(
                target.business_hours, timer.started_at, budget + timer.paused_seconds
            )
            timer.warn_at = _warn_at(timer.due_at, policy)
            if timer.warn_at is not None and timer.warn_at > at:
                timer.warned_at = None
        if _recomputed_fields(timer) == before:
            # Nothing moved (a calendar edit on a day this timer never reaches): no write, and
            # the caller records no "recomputed" row for it.
            continue
        timer.save(
            update_fields=[
                "target",
                "business_hours",
                "met_by",
                "remaining_seconds",
                "due_at",
                "warn_at",
                "warned_at",
            ]
        )
        changed += 1

    ever = set(SLATimer.objects.filter(ticket=ticket).values_list("kind", "name"))
    missing = [
        target
        for target in policy_targets(policy, *INITIAL_KINDS)
        if (target.kind, target.name) not in ever and not _reached_before(ticket, target)
    ]
    if missing and ticket.status not in (Ticket.Status.SOLVED, Ticket.Status.CLOSED):
        SLATimer.objects.bulk_create(
            new_timer(
                ticket,
                target,
                start=initial_start(ticket, target),
                clocks=clocks,
                policy=policy,
            )
            for target in missing
        )
        changed += len(missing)
        if ticket.status == Ticket.Status.PENDING:
            pause(ticket, at=at, clocks=clocks)
    return changed


__all__ = [
    "Clocks",
    "MilestoneTrigger",
    "cancel",
    "meet",
    "meet_kinds",
    "meet_milestones",
    "pause",
    "recompute",
    "resume",
    "running",
    "start_initial_timers",
    "start_timer",
]
