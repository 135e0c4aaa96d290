"""Business-hours arithmetic for SLA timers: pure functions over an immutable `Schedule`.

A `Schedule` says when a team is open: weekly hours in a time zone, minus closed dates (public
holidays, the team's own closures), plus make-up working dates (China's adjusted weekends).
`None` instead of a schedule means 24/7: plain elapsed time.

The model, in the words the rest of the code relies on:

* Hours are local wall-clock intervals ``[opens, closes)`` per weekday; several per weekday are
  allowed (a lunch break). ``closes == time(0)`` means "until midnight" (end of the day).
* Each interval of a local date is turned into a span of real time between two aware instants, so
  a 09:00-18:00 day is 9 real hours even on a DST-change date, and 00:00-06:00 is 5 real hours on
  a spring-forward night and 7 on a fall-back night.
* A local time maps to the *earliest instant at which the wall clock shows that time or later*:
  - a nonexistent time (inside a spring-forward gap, e.g. 02:30 on 2026-03-29 in Berlin) maps to
    the end of the gap (03:00 CEST): the office opens, or closes, when the clock jumps past it;
  - an ambiguous time (inside a fall-back fold, e.g. 02:30 on 2026-10-25 in Berlin) maps to its
    first occurrence (02:30 CEST).
  This mapping is monotonic, so an interval never turns inside out and days never overlap.
* A date's hours are decided by, in order: a closed date -> closed (closures beat everything);
  a make-up date -> the hours of the weekday it is mapped to; otherwise -> its own weekday's hours.
* `add_business_time(s, start, d)` is the *earliest* instant ``t >= start`` with
  ``business_time_between(s, start, t) == d``. So a zero duration is due at ``start`` itself (even
  outside hours), and time that runs out exactly at closing is due at closing, not next morning.

Holidays come from the `holidays` library, which knows years, not eternity: a schedule built with
holidays carries a `horizon` (the local dates it knows) and refuses, with `ScheduleHorizonError`,
to compute across a date outside it rather than silently treat an unknown holiday as a workday.

The algorithm walks local dates, one per iteration (closed dates cost a set lookup), never minutes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from types import MappingProxyType
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

if TYPE_CHECKING:
    from tickets.models import BusinessCalendar

Interval = tuple[time, time]
"""Local opening hours ``(opens, closes)``; ``closes == time(0)`` means until midnight."""

WeeklyHours = tuple[tuple[Interval, ...], ...]
"""Seven tuples of intervals, index 0 = Monday (as `datetime.date.weekday`)."""

MONDAY = 0
ONE_DAY = timedelta(days=1)
ZERO = timedelta(0)
_END_OF_DAY = timedelta(days=1)


class ScheduleHorizonError(ValueError):
    """The computation needs a date whose public holidays the schedule was not built with."""


def _offset(t: time, *, closing: bool) -> timedelta:
    """A local time as a distance from midnight; a closing ``time(0)`` is the end of the day."""
    if closing and t == time(0):
        return _END_OF_DAY
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond)


def _normalize_day(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Validate one weekday's intervals, sort them and merge overlapping or touching ones."""
    spans: list[tuple[timedelta, timedelta, time, time]] = []
    for opens, closes in intervals:
        if not isinstance(opens, time) or not isinstance(closes, time):
            raise TypeError(f"Opening hours must be datetime.time pairs, got {(opens, closes)!r}")
        if opens.tzinfo is not None or closes.tzinfo is not None:
            raise ValueError("Opening hours are local wall-clock times: give naive times.")
        start, end = _offset(opens, closing=False), _offset(closes, closing=True)
        if start >= end:
            raise ValueError(f"Opening hours must close after they open: {opens}-{closes}")
        spans.append((start, end, opens, closes))
    spans.sort()
    merged: list[list] = []
    for start, end, opens, closes in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1][1], merged[-1][3] = end, closes
        else:
            merged.append([start, end, opens, closes])
    return tuple((opens, closes) for _, _, opens, closes in merged)


def default_makeup_weekday(weekly_hours: WeeklyHours, day: date) -> int:
    """Which weekday's hours a make-up working date works.

    Its own weekday's hours if it has any (a make-up date that overrides a holiday or a closure
    on a normal workday works that day's normal hours); otherwise Monday's, as China's adjusted
    weekends are "normal working days"; otherwise the first weekday that has hours at all.
    """
    if weekly_hours[day.weekday()]:
        return day.weekday()
    if weekly_hours[MONDAY]:
        return MONDAY
    return next((wd for wd in range(7) if weekly_hours[wd]), MONDAY)


@dataclass(frozen=True)
class Schedule:
    """When a team is open. Immutable and hashable; build it once per calendar and reuse it.

    Fields (normalized in `__post_init__`, so plain sets, lists and dicts are accepted):

    * ``time_zone``: IANA name, e.g. ``"Europe/Berlin"``.
    * ``weekly_hours``: seven sequences of ``(opens, closes)`` naive times, Monday first (or a
      mapping weekday -> sequence, missing weekdays closed).
    * ``closed_dates``: local dates with no hours at all. They win over make-up dates.
    * ``makeup_days``: local date -> weekday (0 = Monday) whose hours that date works.
    * ``horizon``: ``(first, last)`` local dates whose holidays are known (inclusive), or ``None``
      for no limit. Arithmetic that needs a date outside raises `ScheduleHorizonError`.
    """

    time_zone: str
    weekly_hours: WeeklyHours
    closed_dates: frozenset[date] = frozenset()
    makeup_days: Mapping[date, int] = field(default_factory=dict)
    horizon: tuple[date, date] | None = None
    _tz: tzinfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            tz = ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"Unknown time zone: {self.time_zone!r}") from exc
        weekly_hours = self.weekly_hours
        if isinstance(weekly_hours, Mapping):
            if any(wd not in range(7) for wd in weekly_hours):
                raise ValueError("weekly_hours keys are weekdays 0 (Monday) to 6 (Sunday).")
            weekly_hours = tuple(weekly_hours.get(wd, ()) for wd in range(7))
        weekly = tuple(weekly_hours)
        if len(weekly) != 7:
            raise ValueError("weekly_hours needs seven entries, Monday first.")
        weekly = tuple(_normalize_day(day) for day in weekly)
        makeup = dict(sorted(self.makeup_days.items()))
        if any(not 0 <= wd <= 6 for wd in makeup.values()):
            raise ValueError("A make-up day maps to a weekday between 0 (Monday) and 6.")
        if self.horizon is not None and self.horizon[0] > self.horizon[1]:
            raise ValueError("A schedule's horizon must start before it ends.")
        object.__setattr__(self, "_tz", tz)
        object.__setattr__(self, "weekly_hours", weekly)
        object.__setattr__(self, "closed_dates", frozenset(self.closed_dates))
        object.__setattr__(self, "makeup_days", MappingProxyType(makeup))

    def __hash__(self) -> int:
        return hash(
            (
                self.time_zone,
                self.weekly_hours,
                self.closed_dates,
                frozenset(self.makeup_days.items()),
                self.horizon,
            )
        )

    @classmethod
    def from_rules(
        cls,
        *,
        time_zone: str,
        weekly_hours: Mapping[int, Iterable[Interval]],
        holiday_country: str | None = None,
        holiday_subdivision: str | None = None,
        years: int | Iterable[int] | None = None,
        closures: Iterable[date] = (),
        workdays: Iterable[date] = (),
    ) -> Schedule:
        """Combine weekly hours, a country's public holidays and a team's own exceptions.

        1. Public holidays and the country's make-up working days (``weekend_workdays`` in the
           `holidays` library: China's adjusted weekends) are read for every year from the
           smallest to the largest of ``years``; the schedule's horizon covers those years.
        2. Closed = (public holidays - ``workdays``) + ``closures``: a team's own working day
           beats a public holiday.
        3. Make-up = (country make-up days + ``workdays``) - ``closures``, each working the hours
           of `default_makeup_weekday`: a team's own closure beats a make-up day.
        """
        if any(wd not in range(7) for wd in weekly_hours):
            raise ValueError("weekly_hours keys are weekdays 0 (Monday) to 6 (Sunday).")
        weekly = tuple(tuple(weekly_hours.get(wd, ())) for wd in range(7))
        closures, workdays = set(closures), set(workdays)
        public_holidays: set[date] = set()
        country_workdays: set[date] = set()
        horizon = None
        if holiday_country:
            if years is None:
                raise ValueError("Public holidays need the years to load.")
            wanted = {years} if isinstance(years, int) else set(years)
            if not wanted:
                raise ValueError("Public holidays need at least one year.")
            first, last = min(wanted), max(wanted)
            public_holidays, country_workdays = public_holidays_and_workdays(
                holiday_country, holiday_subdivision or None, range(first, last + 1)
            )
            horizon = (date(first, 1, 1), date(last, 12, 31))
            # Dates outside the horizon are never consulted; the library also reports a few
            # from other years (make-up days of neighbouring years), which would only clutter.
            public_holidays = {d for d in public_holidays if horizon[0] <= d <= horizon[1]}
            country_workdays = {d for d in country_workdays if horizon[0] <= d <= horizon[1]}
        normalized = tuple(_normalize_day(day) for day in weekly)
        makeup_dates = (country_workdays | workdays) - closures
        return cls(
            time_zone=time_zone,
            weekly_hours=normalized,
            closed_dates=frozenset((public_holidays - workdays) | closures),
            makeup_days={d: default_makeup_weekday(normalized, d) for d in makeup_dates},
            horizon=horizon,
        )

    @classmethod
    def from_calendar(cls, calendar: BusinessCalendar, *, years: int | Iterable[int]) -> Schedule:
        """Read a `BusinessCalendar`, its `WorkingHours` and `CalendarException` rows.

        Two queries, or none when ``hours`` and ``exceptions`` are prefetched. Exceptions with
        ``is_working_day`` are make-up days (they override public holidays and weekends); the
        others are the team's own closures (they override everything). ``years`` bounds the
        public holidays loaded, and with them the schedule's horizon.
        """
        weekly: dict[int, list[Interval]] = {wd: [] for wd in range(7)}
        for row in calendar.hours.all():
            weekly[row.weekday].append((row.opens_at, row.closes_at))
        exceptions = list(calendar.exceptions.all())
        return cls.from_rules(
            time_zone=calendar.time_zone,
            weekly_hours=weekly,
            holiday_country=calendar.holiday_country or None,
            holiday_subdivision=calendar.holiday_subdivision or None,
            years=years,
            closures=(e.date for e in exceptions if not e.is_working_day),
            workdays=(e.date for e in exceptions if e.is_working_day),
        )

    def hours_on(self, day: date) -> tuple[Interval, ...]:
        """The local opening hours of one date, after closures and make-up days."""
        if day in self.closed_dates:
            return ()
        weekday = self.makeup_days.get(day, day.weekday())
        return self.weekly_hours[weekday]

    def _check_horizon(self, day: date) -> None:
        if self.horizon is not None and not self.horizon[0] <= day <= self.horizon[1]:
            raise ScheduleHorizonError(
                f"{day} is outside the dates this schedule knows holidays for "
                f"({self.horizon[0]} to {self.horizon[1]}): build it with more years."
            )

    def _local_instant(self, day: date, t: time, *, closing: bool = False) -> datetime:
        """The earliest UTC instant at which the local wall clock shows ``day t`` or later."""
        if closing and t == time(0):
            day, t = day + ONE_DAY, time(0)
        naive = datetime.combine(day, t)
        # fold=0: for an ambiguous time, the first occurrence, which is what we want.
        instant = naive.replace(tzinfo=self._tz).astimezone(UTC)
        if instant.astimezone(self._tz).replace(tzinfo=None) == naive:
            return instant
        return self._gap_end(naive)

    def _gap_end(self, naive: datetime) -> datetime:
        """The instant a spring-forward gap containing ``naive`` ends (the clock's jump).

        fold=1 reads ``naive`` with the offset after the jump (an instant before it), fold=0 with
        the offset before (an instant after it); bisect whole seconds in between, as zone
        transitions happen on whole seconds.
        """
        before = naive.replace(tzinfo=self._tz, fold=1).astimezone(UTC)
        after = naive.replace(tzinfo=self._tz, fold=0).astimezone(UTC)
        low, high = math.floor(before.timestamp()), math.ceil(after.timestamp())
        moved = after.astimezone(self._tz).utcoffset()
        while high - low > 1:
            middle = (low + high) // 2
            probe = datetime.fromtimestamp(middle, UTC).astimezone(self._tz)
            if probe.utcoffset() == moved:
                high = middle
            else:
                low = middle
        return datetime.fromtimestamp(high, UTC)

    def open_spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The real-time spans (aware UTC, half-open) the team is open on one local date."""
        spans = []
        for opens, closes in self.hours_on(day):
            start = self._local_instant(day, opens)
            end = self._local_instant(day, closes, closing=True)
            if start < end:
                spans.append((start, end))
        return spans

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self._tz).date()

    def _may_open_after(self, day: date) -> bool:
        """Whether any date after ``day`` can have hours (guards against endless searches)."""
        if any(self.weekly_hours):
            return True
        return any(d > day and self.weekly_hours[wd] for d, wd in self.makeup_days.items())


def _as_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {value!r}.")
    return value.astimezone(UTC)


def add_business_time(schedule: Schedule | None, start: datetime, duration: timedelta) -> datetime:
    """The aware UTC instant when ``duration`` of open time has elapsed after ``start``.

    The earliest such instant: a clock started outside hours begins at the next opening, one
    that runs out exactly at closing is due at closing, and a zero duration is due at ``start``.
    ``schedule=None`` means 24/7: ``start + duration`` in real (UTC) time, DST-proof.

    1. Convert ``start`` to UTC and find its local date.
    2. For each local date from there on, take its open spans (closed dates have none), clip
       the first to ``start``, and consume ``duration`` span by span.
    3. Return the instant inside the span where the remaining duration reaches zero.
    """
    start = _as_utc(start, "start")
    if duration < ZERO:
        raise ValueError(f"A duration cannot be negative: {duration}.")
    if schedule is None:
        return start + duration
    if duration == ZERO:
        return start
    remaining = duration
    day = schedule.local_date(start)
    while True:
        schedule._check_horizon(day)
        for span_start, span_end in schedule.open_spans(day):
            if span_end <= start:
                continue
            span_start = max(span_start, start)
            available = span_end - span_start
            if remaining <= available:
                return span_start + remaining
            remaining -= available
        if not schedule._may_open_after(day):
            raise ValueError("This schedule never opens again: add working hours.")
        day += ONE_DAY


def business_time_between(schedule: Schedule | None, start: datetime, end: datetime) -> timedelta:
    """Open time inside ``[start, end)``; zero when ``end <= start``.

    ``schedule=None`` means 24/7: the real time between the two instants.
    """
    start, end = _as_utc(start, "start"), _as_utc(end, "end")
    if end <= start:
        return ZERO
    if schedule is None:
        return end - start
    total = ZERO
    day = schedule.local_date(start)
    # A date's spans start at or after its local midnight, so stop at the first date whose
    # midnight is at or past ``end`` (not at end's local date: a fold can cross midnight).
    while schedule._local_instant(day, time(0)) < end:
        schedule._check_horizon(day)
        for span_start, span_end in schedule.open_spans(day):
            overlap = min(span_end, end) - max(span_start, start)
            if overlap > ZERO:
                total += overlap
        day += ONE_DAY
    return total


def public_holidays_and_workdays(
    country: str, subdivision: str | None, years: Iterable[int]
) -> tuple[set[date], set[date]]:
    """Public holidays and make-up working days (on weekends) of a country, from `holidays`.

    The library records a country's adjusted working weekends (China's 调休) in
    ``weekend_workdays``; for most countries that set is empty.
    """
    try:
        calendar = holidays_lib.country_holidays(country, subdiv=subdivision, years=list(years))
    except NotImplementedError as exc:
        raise ValueError(
            f"The holidays library knows no country {country!r} / subdivision {subdivision!r}."
        ) from exc
    return set(calendar.keys()), set(getattr(calendar, "weekend_workdays", ()))
