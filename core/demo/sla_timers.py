"""The demo's SLA timers: due times in a team's business hours (or 24/7), and the timer rows.

A small stand-in for the SLA engine: weekly working hours of the team's calendar, the public
holidays of its country (the pinned ``holidays`` package) and the calendar's own closures.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import TYPE_CHECKING

import holidays

from tickets.models import BusinessCalendar, SLATimer

if TYPE_CHECKING:
    from core.demo.ticket_data import Story, Target

MINUTE = dt.timedelta(minutes=1)
PERIODIC_UPDATE_MINUTES = 72 * 60  # follow-up every 3 days while still delayed


class SlaClock:
    def __init__(self, calendar: BusinessCalendar | None):
        self.calendar = calendar
        if calendar is None:
            return
        self.zone = zoneinfo.ZoneInfo(calendar.time_zone)
        self.hours: dict[int, list[tuple[dt.time, dt.time]]] = {}
        for row in calendar.hours.all():
            self.hours.setdefault(row.weekday, []).append((row.opens_at, row.closes_at))
        self.closed = {e.date for e in calendar.exceptions.all() if not e.is_working_day}
        self.make_up = {e.date for e in calendar.exceptions.all() if e.is_working_day}
        self.holidays = (
            holidays.country_holidays(
                calendar.holiday_country, subdiv=calendar.holiday_subdivision or None
            )
            if calendar.holiday_country
            else {}
        )

    def _periods(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        if day in self.closed or (day in self.holidays and day not in self.make_up):
            return []
        weekday = 0 if day in self.make_up and day.weekday() >= 5 else day.weekday()
        return [
            (
                dt.datetime.combine(day, opens, tzinfo=self.zone),
                dt.datetime.combine(day, closes, tzinfo=self.zone),
            )
            for opens, closes in sorted(self.hours.get(weekday, []))
        ]

    def add(self, start: dt.datetime, minutes: int, business: bool) -> dt.datetime:
        """``start`` plus ``minutes`` of working time (wall-clock for 24/7 teams)."""
        if not business or self.calendar is None or not self.hours:
            return start + dt.timedelta(minutes=minutes)
        remaining = dt.timedelta(minutes=minutes)
        day = start.astimezone(self.zone).date()
        for _ in range(400):  # a year of closed days would be a broken calendar
            for opens, closes in self._periods(day):
                begin = max(opens, start)
                if begin >= closes:
                    continue
                if begin + remaining <= closes:
                    return (begin + remaining).astimezone(dt.UTC)
                remaining -= closes - begin
            day += dt.timedelta(days=1)
        return start + dt.timedelta(minutes=minutes)

    def between(self, start: dt.datetime, end: dt.datetime, business: bool) -> dt.timedelta:
        """Working time from ``start`` to ``end`` (what a paused timer has left)."""
        if end <= start:
            return dt.timedelta(0)
        if not business or self.calendar is None or not self.hours:
            return end - start
        total = dt.timedelta(0)
        day = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        while day <= last:
            for opens, closes in self._periods(day):
                begin, finish = max(opens, start), min(closes, end)
                if finish > begin:
                    total += finish - begin
            day += dt.timedelta(days=1)
        return total


class StoryTimers:
    """The SLA timers of one told story: met, breached, running or paused as its times say."""

    def __init__(self, story: Story):
        self.s = story

    def write(self) -> None:
        ticket = self.s.ticket
        created = ticket.created_at
        open_now = ticket.status not in ("solved", "closed")

        target = self.s.target("first_response")
        self.timer("first_response", "", target, created, done_at=ticket.first_response_at)

        # Next response: each answered customer message met or missed; the last may still run.
        target = self.s.target("next_response", 240)
        waiting = self.s.inbound if self.s.case.source == "proactive" else self.s.inbound[1:]
        for message_at in waiting:
            answers = [at for at in self.s.outbound if at > message_at]
            if answers:
                self.timer("next_response", "", target, message_at, done_at=min(answers))
            elif open_now and message_at == self.s.inbound[-1] and ticket.status != "pending":
                self.timer("next_response", "", target, message_at, done_at=None)

        # Resolution: pauses while the ticket waits on the customer.
        target = self.s.target("resolution", 48 * 60)
        due = self.s.due(created, target)
        paused_at = self.s.status_times.get("pending")
        if ticket.status == "pending" and paused_at is not None and paused_at < due:
            remaining = self.s.clock.between(paused_at, due, target.business)
            self.s.timers.append(
                SLATimer(
                    ticket=ticket,
                    target=target.target,
                    kind="resolution",
                    status="paused",
                    started_at=created,
                    due_at=due,
                    warn_at=due - dt.timedelta(minutes=self.s.warning),
                    paused_at=paused_at,
                    remaining_seconds=int(remaining.total_seconds()),
                )
            )
        else:
            self.timer("resolution", "", target, created, done_at=ticket.solved_at)

        # While a delayed parcel waits on the carrier, the customer hears from us every 3 days.
        if ticket.category in ("delay", "lost") and self.s.shipment is not None:
            target = self.s.target("periodic_update", PERIODIC_UPDATE_MINUTES)
            last_update = max(self.s.outbound) if self.s.outbound else created
            if ticket.status == "on_hold":
                self.timer("periodic_update", "", target, last_update, done_at=None)
            elif not open_now and self.s.rng.chance(0.3):
                self.s.timers.append(
                    SLATimer(
                        ticket=ticket,
                        target=target.target,
                        kind="periodic_update",
                        status="cancelled",
                        started_at=last_update,
                        due_at=self.s.due(last_update, target),
                    )
                )

        for name, target in self.s.milestones:
            done = self._milestone_done(name)
            if done is None and not open_now:
                done = ticket.solved_at
            self.timer("milestone", name, target, created, done_at=done)

    def _milestone_done(self, name: str) -> dt.datetime | None:
        """Which step of the story meets a milestone, read from its name."""
        words = name.lower()
        if "customer" in words:
            return self.s.ticket.first_response_at
        if any(word in words for word in ("compensation", "remedy", "refund", "plan")):
            return min((offer.created_at for offer in self.s.offers), default=None)
        return self.s.carrier_contacted_at  # contact the courier, verify with the carrier

    def timer(
        self,
        kind: str,
        name: str,
        target: Target,
        started: dt.datetime,
        *,
        done_at: dt.datetime | None,
    ) -> None:
        """A met, breached or running timer; a breach leaves a timeline row and may escalate."""
        now = self.s.now
        ticket = self.s.ticket
        due = self.s.due(started, target)
        warn_at = due - dt.timedelta(minutes=self.s.warning)
        timer = SLATimer(
            ticket=ticket,
            target=target.target,
            kind=kind,
            name=name,
            started_at=started,
            due_at=due,
            warn_at=warn_at,
        )
        if done_at is not None and done_at <= due:
            timer.status = "met"
            timer.met_at = done_at
            timer.minutes_early = int((due - done_at).total_seconds() // 60)
        elif done_at is not None or due <= now:
            timer.status = "breached"
            timer.breached_at = due
            if done_at is not None:
                timer.minutes_early = -int((done_at - due).total_seconds() // 60)
            self.s.event("sla_breached", due, public=False, timer=kind, name=name)
            # Breaches escalate to a supervisor for the customers who matter most.
            if (
                kind != "periodic_update"
                and (
                    ticket.priority == "urgent"
                    or (ticket.priority == "high" and self.s.customer.tier == "vip")
                )
                and not ticket.is_escalated
            ):
                ticket.is_escalated = True
                self.s.event(
                    "escalated",
                    min(due + MINUTE, now),
                    public=False,
                    reason="sla_breached",
                    timer=kind,
                )
        else:
            timer.status = "active"
        stop = timer.met_at or timer.breached_at or now
        if warn_at <= stop and warn_at <= now:
            timer.warned_at = min(warn_at + MINUTE, now)
            if timer.status == "active":
                self.s.event("sla_warning", timer.warned_at, public=False, timer=kind, name=name)
        self.s.timers.append(timer)
