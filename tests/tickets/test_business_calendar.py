"""Business-hours arithmetic: hand-checked cases, real calendars, and a brute-force reference.

Every expected instant in the tables below was worked out by hand from the schedule and a wall
calendar of 2026 (and checked against the `holidays` library where a holiday is involved).
"""

from __future__ import annotations

import random
import time as timer
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from tickets.models import BusinessCalendar, CalendarException, WorkingHours
from tickets.sla.calendar import (
    Schedule,
    ScheduleHorizonError,
    add_business_time,
    business_time_between,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")
MIDNIGHT = time(0)


def h(hours: float = 0, minutes: int = 0) -> timedelta:
    return timedelta(hours=hours, minutes=minutes)


def at(tz: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=tz, fold=fold)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def every(days: range, *intervals: tuple[time, time]) -> dict[int, list[tuple[time, time]]]:
    return {weekday: list(intervals) for weekday in days}


WEEKDAYS = range(5)
ALL_WEEK = range(7)
NINE_TO_SIX = (time(9), time(18))

SCHEDULES: dict[str, Schedule | None] = {
    "24/7": None,
    "berlin": Schedule.from_rules(
        time_zone="Europe/Berlin",
        weekly_hours=every(WEEKDAYS, NINE_TO_SIX),
        holiday_country="DE",
        holiday_subdivision="BE",
        years=[2026, 2027],
        closures=[date(2026, 12, 31)],
    ),
    "berlin_mon_sat": Schedule.from_rules(
        time_zone="Europe/Berlin",
        weekly_hours=every(range(6), NINE_TO_SIX),
        holiday_country="DE",
        holiday_subdivision="BE",
        years=2026,
    ),
    "berlin_exceptions": Schedule.from_rules(
        time_zone="Europe/Berlin",
        weekly_hours=every(WEEKDAYS, NINE_TO_SIX),
        holiday_country="DE",
        holiday_subdivision="BE",
        years=2026,
        # A make-up Saturday, a make-up public holiday, and a Saturday both made up and closed.
        workdays=[date(2026, 6, 13), date(2026, 5, 1), date(2026, 6, 20)],
        closures=[date(2026, 6, 10), date(2026, 6, 20)],
    ),
    "lunch": Schedule("Europe/Berlin", every(WEEKDAYS, (time(9), time(12)), (time(13), time(17)))),
    "shanghai": Schedule.from_rules(
        time_zone="Asia/Shanghai",
        weekly_hours=every(WEEKDAYS, NINE_TO_SIX),
        holiday_country="CN",
        years=2026,
    ),
    "berlin_daily": Schedule("Europe/Berlin", every(ALL_WEEK, NINE_TO_SIX)),
    "berlin_allday": Schedule("Europe/Berlin", every(ALL_WEEK, (MIDNIGHT, MIDNIGHT))),
    "berlin_night": Schedule("Europe/Berlin", every(ALL_WEEK, (MIDNIGHT, time(6)))),
    "berlin_opens_0230": Schedule("Europe/Berlin", every(ALL_WEEK, (time(2, 30), time(10)))),
    "berlin_closes_0230": Schedule("Europe/Berlin", every(ALL_WEEK, (MIDNIGHT, time(2, 30)))),
    "new_york_daily": Schedule("America/New_York", every(ALL_WEEK, (time(9), time(17)))),
    "new_york_night": Schedule("America/New_York", every(ALL_WEEK, (MIDNIGHT, time(4)))),
}

# (schedule, start, duration, expected due instant)
ADD_CASES = {
    # Plain weekdays in June 2026 (no Berlin holidays): Tue 9th, Fri 12th, Sat 13th, Mon 15th.
    "inside hours": ("berlin", at(BERLIN, 2026, 6, 9, 10), h(2), at(BERLIN, 2026, 6, 9, 12)),
    "before opening": ("berlin", at(BERLIN, 2026, 6, 9, 7), h(1), at(BERLIN, 2026, 6, 9, 10)),
    "after closing": ("berlin", at(BERLIN, 2026, 6, 9, 19), h(1), at(BERLIN, 2026, 6, 10, 10)),
    "overnight": ("berlin", at(BERLIN, 2026, 6, 9, 17), h(3), at(BERLIN, 2026, 6, 10, 11)),
    "friday evening to monday": (
        "berlin",
        at(BERLIN, 2026, 6, 12, 17, 30),
        h(1),
        at(BERLIN, 2026, 6, 15, 9, 30),
    ),
    "saturday start": (
        "berlin",
        at(BERLIN, 2026, 6, 13, 10),
        h(0, 30),
        at(BERLIN, 2026, 6, 15, 9, 30),
    ),
    "start exactly at opening, due at closing": (
        "berlin",
        at(BERLIN, 2026, 6, 9, 9),
        h(9),
        at(BERLIN, 2026, 6, 9, 18),
    ),
    "start exactly at closing": (
        "berlin",
        at(BERLIN, 2026, 6, 9, 18),
        h(0, 1),
        at(BERLIN, 2026, 6, 10, 9, 1),
    ),
    "zero duration inside hours": (
        "berlin",
        at(BERLIN, 2026, 6, 9, 10),
        h(0),
        at(BERLIN, 2026, 6, 9, 10),
    ),
    "zero duration outside hours is due at once": (
        "berlin",
        at(BERLIN, 2026, 6, 13, 10),
        h(0),
        at(BERLIN, 2026, 6, 13, 10),
    ),
    "two weeks": ("berlin", at(BERLIN, 2026, 6, 1, 9), h(90), at(BERLIN, 2026, 6, 12, 18)),
    "three weeks": ("berlin", at(BERLIN, 2026, 6, 1, 9), h(135), at(BERLIN, 2026, 6, 19, 18)),
    "a week across the spring DST weekend": (
        "berlin",
        at(BERLIN, 2026, 3, 25, 9),
        h(45),
        at(BERLIN, 2026, 3, 31, 18),
    ),
    "public holiday on a Friday (Labour Day)": (
        "berlin",
        at(BERLIN, 2026, 4, 30, 17),
        h(2),
        at(BERLIN, 2026, 5, 4, 10),
    ),
    "Easter: Good Friday and Easter Monday": (
        "berlin",
        at(BERLIN, 2026, 4, 2, 17),
        h(2),
        at(BERLIN, 2026, 4, 7, 10),
    ),
    "Christmas Eve works, Christmas is closed": (
        "berlin",
        at(BERLIN, 2026, 12, 24, 17),
        h(2),
        at(BERLIN, 2026, 12, 28, 10),
    ),
    "own closure on New Year's Eve, then New Year's Day": (
        "berlin",
        at(BERLIN, 2026, 12, 30, 17),
        h(2),
        at(BERLIN, 2027, 1, 4, 10),
    ),
    "Tag der Deutschen Einheit closes a working Saturday": (
        "berlin_mon_sat",
        at(BERLIN, 2026, 10, 2, 17),
        h(2),
        at(BERLIN, 2026, 10, 5, 10),
    ),
    "an ordinary working Saturday": (
        "berlin_mon_sat",
        at(BERLIN, 2026, 10, 9, 17),
        h(2),
        at(BERLIN, 2026, 10, 10, 10),
    ),
    "make-up day overrides a weekend": (
        "berlin_exceptions",
        at(BERLIN, 2026, 6, 12, 17, 30),
        h(1),
        at(BERLIN, 2026, 6, 13, 9, 30),
    ),
    "make-up day overrides a public holiday": (
        "berlin_exceptions",
        at(BERLIN, 2026, 4, 30, 17),
        h(2),
        at(BERLIN, 2026, 5, 1, 10),
    ),
    "closure overrides a make-up day": (
        "berlin_exceptions",
        at(BERLIN, 2026, 6, 19, 17),
        h(2),
        at(BERLIN, 2026, 6, 22, 10),
    ),
    "team's own closure on a Wednesday": (
        "berlin_exceptions",
        at(BERLIN, 2026, 6, 9, 17),
        h(2),
        at(BERLIN, 2026, 6, 11, 10),
    ),
    "lunch break splits the time": (
        "lunch",
        at(BERLIN, 2026, 6, 9, 11, 30),
        h(1),
        at(BERLIN, 2026, 6, 9, 13, 30),
    ),
    "start during lunch": (
        "lunch",
        at(BERLIN, 2026, 6, 9, 12, 15),
        h(0, 30),
        at(BERLIN, 2026, 6, 9, 13, 30),
    ),
    "runs out exactly at lunch": (
        "lunch",
        at(BERLIN, 2026, 6, 9, 9),
        h(3),
        at(BERLIN, 2026, 6, 9, 12),
    ),
    "a full lunch day": ("lunch", at(BERLIN, 2026, 6, 9, 9), h(7), at(BERLIN, 2026, 6, 9, 17)),
    "one minute past a full lunch day": (
        "lunch",
        at(BERLIN, 2026, 6, 9, 9),
        h(7, 1),
        at(BERLIN, 2026, 6, 10, 9, 1),
    ),
    "afternoon into next morning with lunch": (
        "lunch",
        at(BERLIN, 2026, 6, 9, 16, 30),
        h(1),
        at(BERLIN, 2026, 6, 10, 9, 30),
    ),
    # China 2026: National Day Oct 1-7 off (Oct 4 a Sunday), Sun Sep 20 and Sat Oct 10 worked.
    "Golden Week": ("shanghai", at(SHANGHAI, 2026, 9, 30, 17), h(2), at(SHANGHAI, 2026, 10, 8, 10)),
    "make-up Saturday after Golden Week": (
        "shanghai",
        at(SHANGHAI, 2026, 10, 9, 17),
        h(2),
        at(SHANGHAI, 2026, 10, 10, 10),
    ),
    "make-up Sunday before Golden Week": (
        "shanghai",
        at(SHANGHAI, 2026, 9, 18, 17),
        h(2),
        at(SHANGHAI, 2026, 9, 20, 10),
    ),
    # Spring Festival: Sat Feb 14 worked, Feb 15-23 off (16-20 and 23 holidays).
    "make-up Saturday before Spring Festival": (
        "shanghai",
        at(SHANGHAI, 2026, 2, 13, 17),
        h(2),
        at(SHANGHAI, 2026, 2, 14, 10),
    ),
    "Spring Festival week": (
        "shanghai",
        at(SHANGHAI, 2026, 2, 14, 17),
        h(2),
        at(SHANGHAI, 2026, 2, 24, 10),
    ),
    # Berlin: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.
    "Berlin spring DST: Saturday evening to Sunday": (
        "berlin_daily",
        at(BERLIN, 2026, 3, 28, 17),
        h(2),
        at(BERLIN, 2026, 3, 29, 10),
    ),
    "Berlin spring DST day is still 9 real hours": (
        "berlin_daily",
        at(BERLIN, 2026, 3, 29, 9),
        h(9),
        utc(2026, 3, 29, 16),
    ),
    "Berlin autumn DST: Saturday evening to Sunday": (
        "berlin_daily",
        at(BERLIN, 2026, 10, 24, 17),
        h(2),
        utc(2026, 10, 25, 9),
    ),
    "Berlin round the clock across spring DST": (
        "berlin_allday",
        at(BERLIN, 2026, 3, 28, 12),
        h(24),
        at(BERLIN, 2026, 3, 29, 13),
    ),
    "Berlin round the clock across autumn DST": (
        "berlin_allday",
        at(BERLIN, 2026, 10, 24, 12),
        h(24),
        at(BERLIN, 2026, 10, 25, 11),
    ),
    "Berlin night shift loses an hour in spring": (
        "berlin_night",
        at(BERLIN, 2026, 3, 29, 0),
        h(5),
        at(BERLIN, 2026, 3, 29, 6),
    ),
    "Berlin night shift spills into the next night in spring": (
        "berlin_night",
        at(BERLIN, 2026, 3, 29, 0),
        h(5, 1),
        at(BERLIN, 2026, 3, 30, 0, 1),
    ),
    "Berlin night shift gains an hour in autumn": (
        "berlin_night",
        at(BERLIN, 2026, 10, 25, 0),
        h(7),
        at(BERLIN, 2026, 10, 25, 6),
    ),
    "nonexistent opening time opens when the clock jumps": (
        "berlin_opens_0230",
        at(BERLIN, 2026, 3, 29, 0),
        h(1),
        at(BERLIN, 2026, 3, 29, 4),  # opens 03:00 CEST = 01:00 UTC
    ),
    "ambiguous opening time opens at its first occurrence": (
        "berlin_opens_0230",
        at(BERLIN, 2026, 10, 25, 0),
        h(0, 30),
        utc(2026, 10, 25, 1),  # opens 02:30 CEST = 00:30 UTC
    ),
    "ambiguous closing time closes at its first occurrence": (
        "berlin_closes_0230",
        at(BERLIN, 2026, 10, 25, 0),
        h(2, 30),
        utc(2026, 10, 25, 0, 30),
    ),
    "after an ambiguous closing time, the next night": (
        "berlin_closes_0230",
        at(BERLIN, 2026, 10, 25, 0),
        h(2, 31),
        at(BERLIN, 2026, 10, 26, 0, 1),
    ),
    # New York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
    "New York spring DST": (
        "new_york_daily",
        at(NEW_YORK, 2026, 3, 7, 16),
        h(2),
        utc(2026, 3, 8, 14),
    ),
    "New York autumn DST": (
        "new_york_daily",
        at(NEW_YORK, 2026, 10, 31, 16),
        h(2),
        utc(2026, 11, 1, 15),
    ),
    "New York night shift gains an hour in autumn": (
        "new_york_night",
        at(NEW_YORK, 2026, 11, 1, 0),
        h(5),
        utc(2026, 11, 1, 9),
    ),
    "New York night shift loses an hour in spring": (
        "new_york_night",
        at(NEW_YORK, 2026, 3, 8, 0),
        h(3),
        utc(2026, 3, 8, 8),
    ),
    "24/7 is real time across spring DST": (
        "24/7",
        at(BERLIN, 2026, 3, 28, 12),
        h(24),
        at(BERLIN, 2026, 3, 29, 13),
    ),
    "24/7 is real time across autumn DST": (
        "24/7",
        at(NEW_YORK, 2026, 11, 1, 0),
        h(3),
        utc(2026, 11, 1, 7),
    ),
    "24/7 zero duration": ("24/7", at(BERLIN, 2026, 6, 13, 10), h(0), at(BERLIN, 2026, 6, 13, 10)),
}

# (schedule, start, end, open time inside [start, end))
BETWEEN_CASES = {
    "friday evening to monday morning": (
        "berlin",
        at(BERLIN, 2026, 6, 12, 17),
        at(BERLIN, 2026, 6, 15, 10),
        h(2),
    ),
    "a whole lunch day": ("lunch", at(BERLIN, 2026, 6, 9, 0), at(BERLIN, 2026, 6, 10, 0), h(7)),
    "inside one lunch break": (
        "lunch",
        at(BERLIN, 2026, 6, 9, 12),
        at(BERLIN, 2026, 6, 9, 13),
        h(0),
    ),
    "a whole Berlin week with a holiday": (
        "berlin",
        at(BERLIN, 2026, 4, 27, 0),
        at(BERLIN, 2026, 5, 4, 0),
        h(36),
    ),
    "Golden Week is closed": (
        "shanghai",
        at(SHANGHAI, 2026, 10, 1),
        at(SHANGHAI, 2026, 10, 8),
        h(0),
    ),
    "Golden Week fortnight with a make-up Saturday": (
        "shanghai",
        at(SHANGHAI, 2026, 10, 5),
        at(SHANGHAI, 2026, 10, 12),
        h(27),
    ),
    "spring-forward night": (
        "berlin_night",
        at(BERLIN, 2026, 3, 29),
        at(BERLIN, 2026, 3, 30),
        h(5),
    ),
    "fall-back night": ("berlin_night", at(BERLIN, 2026, 10, 25), at(BERLIN, 2026, 10, 26), h(7)),
    "nonexistent opening day": (
        "berlin_opens_0230",
        at(BERLIN, 2026, 3, 29),
        at(BERLIN, 2026, 3, 30),
        h(7),
    ),
    "ambiguous opening day": (
        "berlin_opens_0230",
        at(BERLIN, 2026, 10, 25),
        at(BERLIN, 2026, 10, 26),
        h(8, 30),
    ),
    "New York fall-back night": (
        "new_york_night",
        at(NEW_YORK, 2026, 11, 1),
        at(NEW_YORK, 2026, 11, 2),
        h(5),
    ),
    "end before start": ("berlin", at(BERLIN, 2026, 6, 9, 12), at(BERLIN, 2026, 6, 9, 10), h(0)),
    "24/7 across a DST change": ("24/7", at(BERLIN, 2026, 3, 29), at(BERLIN, 2026, 3, 30), h(23)),
}


def test_the_table_has_enough_hand_checked_cases():
    assert len(ADD_CASES) >= 25


@pytest.mark.parametrize(
    ("name", "start", "duration", "expected"),
    [
        (name, start, duration, expected)
        for name, (_, start, duration, expected) in ADD_CASES.items()
    ],
    ids=list(ADD_CASES),
)
def test_add_business_time_matches_the_hand_checked_table(name, start, duration, expected):
    schedule = SCHEDULES[ADD_CASES[name][0]]

    due = add_business_time(schedule, start, duration)

    assert due == expected
    assert due.tzinfo is UTC


@pytest.mark.parametrize("name", list(ADD_CASES))
def test_counting_back_to_the_due_instant_gives_the_duration(name):
    schedule_name, start, duration, _ = ADD_CASES[name]
    schedule = SCHEDULES[schedule_name]

    due = add_business_time(schedule, start, duration)

    assert business_time_between(schedule, start, due) == duration


@pytest.mark.parametrize("name", list(BETWEEN_CASES))
def test_business_time_between_matches_the_hand_checked_table(name):
    schedule_name, start, end, expected = BETWEEN_CASES[name]

    assert business_time_between(SCHEDULES[schedule_name], start, end) == expected


def test_the_holidays_used_in_the_table_are_real():
    berlin = holidays.country_holidays("DE", subdiv="BE", years=[2026, 2027])
    assert date(2026, 10, 3) in berlin and date(2026, 10, 3).weekday() == 5
    for day in [date(2026, 4, 3), date(2026, 4, 6), date(2026, 5, 1), date(2026, 12, 25)]:
        assert day in berlin
    assert date(2027, 1, 1) in berlin
    assert date(2026, 12, 24) not in berlin
    assert not [day for day in berlin if date(2026, 6, 1) <= day <= date(2026, 6, 30)]

    china = holidays.country_holidays("CN", years=2026)
    assert all(date(2026, 10, day) in china for day in (1, 2, 3, 5, 6, 7))
    assert all(date(2026, 2, day) in china for day in (16, 17, 18, 19, 20, 23))
    assert date(2026, 10, 8) not in china
    assert {date(2026, 9, 20), date(2026, 10, 10), date(2026, 2, 14)} <= china.weekend_workdays


def test_china_make_up_days_come_from_the_library_and_work_mondays_hours():
    shanghai = SCHEDULES["shanghai"]

    assert shanghai.makeup_days == {
        date(2026, 1, 4): 0,
        date(2026, 2, 14): 0,
        date(2026, 2, 28): 0,
        date(2026, 5, 9): 0,
        date(2026, 9, 20): 0,
        date(2026, 10, 10): 0,
    }
    assert shanghai.hours_on(date(2026, 10, 10)) == (NINE_TO_SIX,)
    assert shanghai.hours_on(date(2026, 10, 11)) == ()


def test_a_make_up_day_works_its_own_weekdays_hours_when_it_has_some():
    schedule = Schedule.from_rules(
        time_zone="UTC",
        weekly_hours={0: [(time(8), time(16))], 5: [(time(10), time(14))]},
        workdays=[date(2026, 6, 13), date(2026, 6, 14)],  # a Saturday and a Sunday
    )

    assert schedule.hours_on(date(2026, 6, 13)) == ((time(10), time(14)),)
    assert schedule.hours_on(date(2026, 6, 14)) == ((time(8), time(16)),)


def test_overlapping_and_touching_hours_are_merged():
    schedule = Schedule(
        "UTC", {0: [(time(13), time(18)), (time(9), time(12)), (time(11), time(13))]}
    )

    assert schedule.weekly_hours[0] == ((time(9), time(18)),)


def test_schedules_are_immutable_and_hashable():
    one = Schedule("UTC", every(WEEKDAYS, NINE_TO_SIX), makeup_days={date(2026, 6, 13): 0})
    two = Schedule("UTC", every(WEEKDAYS, NINE_TO_SIX), makeup_days={date(2026, 6, 13): 0})

    assert one == two and hash(one) == hash(two)
    with pytest.raises(AttributeError):
        one.time_zone = "Europe/Berlin"  # type: ignore[misc]
    with pytest.raises(TypeError):
        one.makeup_days[date(2026, 6, 14)] = 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"time_zone": "Mars/Olympus", "weekly_hours": {}}, "Unknown time zone"),
        ({"time_zone": "UTC", "weekly_hours": {0: [(time(18), time(9))]}}, "close after"),
        ({"time_zone": "UTC", "weekly_hours": {7: [NINE_TO_SIX]}}, "weekdays 0"),
        ({"time_zone": "UTC", "weekly_hours": (), "makeup_days": {}}, "seven entries"),
    ],
)
def test_it_refuses_malformed_schedules(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Schedule(**kwargs)


def test_it_refuses_an_unknown_holiday_country():
    with pytest.raises(ValueError, match="knows no country"):
        Schedule.from_rules(time_zone="UTC", weekly_hours={}, holiday_country="XX", years=2026)


def test_it_refuses_naive_datetimes_and_negative_durations():
    berlin = SCHEDULES["berlin"]
    with pytest.raises(ValueError, match="aware"):
        add_business_time(berlin, datetime(2026, 6, 9, 10), h(1))
    with pytest.raises(ValueError, match="aware"):
        business_time_between(berlin, at(BERLIN, 2026, 6, 9), datetime(2026, 6, 10))
    with pytest.raises(ValueError, match="negative"):
        add_business_time(berlin, at(BERLIN, 2026, 6, 9, 10), -h(1))


def test_a_schedule_that_never_opens_refuses_instead_of_looping_forever():
    closed = Schedule("UTC", {}, makeup_days={date(2026, 6, 13): 0})

    with pytest.raises(ValueError, match="never opens"):
        add_business_time(closed, utc(2026, 6, 1), h(1))
    assert add_business_time(closed, utc(2026, 6, 1), h(0)) == utc(2026, 6, 1)


def test_it_refuses_to_guess_holidays_beyond_the_years_it_loaded():
    berlin = SCHEDULES["berlin"]  # 2026 and 2027

    with pytest.raises(ScheduleHorizonError):
        add_business_time(berlin, at(BERLIN, 2027, 12, 31, 17), h(2))
    with pytest.raises(ScheduleHorizonError):
        business_time_between(berlin, at(BERLIN, 2025, 12, 31), at(BERLIN, 2026, 1, 5))


def test_weeks_and_years_of_business_time_are_fast():
    lunch, berlin = SCHEDULES["lunch"], SCHEDULES["berlin"]
    started = timer.perf_counter()

    # 35 h a week: 3,500 h is 100 weeks; 1,800 h in Berlin is about 200 working days.
    long_due = add_business_time(lunch, at(BERLIN, 2026, 1, 5, 9), h(3500))
    berlin_due = add_business_time(berlin, at(BERLIN, 2026, 1, 5, 9), h(1800))
    for _ in range(100):
        add_business_time(berlin, at(BERLIN, 2026, 1, 5, 9), h(135))

    assert timer.perf_counter() - started < 1.0
    assert long_due == at(BERLIN, 2027, 12, 3, 17)  # Friday 2026-01-09 plus 99 weeks
    assert business_time_between(lunch, at(BERLIN, 2026, 1, 5, 9), long_due) == h(3500)
    assert business_time_between(berlin, at(BERLIN, 2026, 1, 5, 9), berlin_due) == h(1800)


@pytest.mark.django_db
def test_from_calendar_reads_hours_exceptions_and_the_countrys_holidays(
    django_assert_num_queries,
):
    calendar = BusinessCalendar.objects.create(
        name="Shanghai support", time_zone="Asia/Shanghai", holiday_country="CN"
    )
    for weekday in WEEKDAYS:
        WorkingHours.objects.create(
            calendar=calendar, weekday=weekday, opens_at=time(13), closes_at=time(18)
        )
        WorkingHours.objects.create(
            calendar=calendar, weekday=weekday, opens_at=time(9), closes_at=time(12)
        )
    CalendarException.objects.create(calendar=calendar, date=date(2026, 10, 9), name="Offsite")
    CalendarException.objects.create(
        calendar=calendar, date=date(2026, 10, 3), is_working_day=True, name="Stock-take"
    )

    with django_assert_num_queries(2):
        schedule = Schedule.from_calendar(calendar, years=2026)

    mondays_hours = ((time(9), time(12)), (time(13), time(18)))
    assert schedule.time_zone == "Asia/Shanghai"
    assert schedule.horizon == (date(2026, 1, 1), date(2026, 12, 31))
    assert schedule.hours_on(date(2026, 10, 1)) == ()  # National Day
    assert schedule.hours_on(date(2026, 10, 3)) == mondays_hours  # own make-up beats a holiday
    assert schedule.hours_on(date(2026, 10, 9)) == ()  # own closure on a Friday
    assert schedule.hours_on(date(2026, 10, 10)) == mondays_hours  # the library's make-up day
    assert add_business_time(schedule, at(SHANGHAI, 2026, 9, 30, 17), h(2)) == at(
        SHANGHAI, 2026, 10, 3, 10
    )
    assert add_business_time(schedule, at(SHANGHAI, 2026, 10, 8, 17), h(2)) == at(
        SHANGHAI, 2026, 10, 10, 10
    )


@pytest.mark.django_db
def test_from_calendar_honours_the_subdivision_and_prefetched_rows(django_assert_num_queries):
    for name, subdivision in [("Berlin", "BE"), ("Munich", "BY")]:
        calendar = BusinessCalendar.objects.create(
            name=name,
            time_zone="Europe/Berlin",
            holiday_country="DE",
            holiday_subdivision=subdivision,
        )
        for weekday in WEEKDAYS:
            WorkingHours.objects.create(
                calendar=calendar, weekday=weekday, opens_at=time(9), closes_at=time(18)
            )
    calendars = {
        c.name: c for c in BusinessCalendar.objects.prefetch_related("hours", "exceptions")
    }

    with django_assert_num_queries(0):
        berlin = Schedule.from_calendar(calendars["Berlin"], years=2026)
        munich = Schedule.from_calendar(calendars["Munich"], years=2026)

    corpus_christi = date(2026, 6, 4)  # a public holiday in Bavaria, not in Berlin
    assert munich.hours_on(corpus_christi) == ()
    assert berlin.hours_on(corpus_christi) == (NINE_TO_SIX,)
    assert business_time_between(munich, at(BERLIN, 2026, 6, 1), at(BERLIN, 2026, 6, 8)) == h(36)


@pytest.mark.django_db
def test_from_calendar_without_a_country_has_no_holidays_and_no_horizon():
    calendar = BusinessCalendar.objects.create(name="Plain", time_zone="UTC")
    WorkingHours.objects.create(calendar=calendar, weekday=0, opens_at=time(9), closes_at=time(17))

    schedule = Schedule.from_calendar(calendar, years=2026)

    assert schedule.horizon is None and schedule.closed_dates == frozenset()
    assert add_business_time(schedule, utc(2030, 1, 1), h(1)) == utc(2030, 1, 7, 10)


# --- Brute force: an independent reference that walks minute by minute ----------------------
#
# It asks, for every minute, "does the local wall clock show an opening hour of this local
# date?", with no instant arithmetic at all. That definition agrees with the engine's (local
# interval ends mapped to the earliest instant showing them) whenever interval ends are not
# strictly inside a DST gap or fold, so the random schedules keep ends off those half-hours;
# the hand-checked table covers ends inside them.

TRANSITION_HOURS = {1, 2}  # Berlin's gap and fold are 02:00-03:00, New York's fold 01:00-02:00
DST_WEEKS = {
    "Europe/Berlin": [datetime(2026, 3, 26), datetime(2026, 10, 22)],
    "America/New_York": [datetime(2026, 3, 5), datetime(2026, 10, 29)],
    "Asia/Shanghai": [datetime(2026, 9, 28)],
}
MINUTE = timedelta(minutes=1)


class Reference:
    def __init__(self, time_zone, weekly, closed, makeup):
        self.tz, self.weekly, self.closed, self.makeup = ZoneInfo(time_zone), weekly, closed, makeup

    def is_open(self, instant: datetime) -> bool:
        local = instant.astimezone(self.tz)
        day, clock = local.date(), local.time().replace(fold=0)
        if day in self.closed:
            return False
        weekday = self.makeup.get(day, day.weekday())
        return any(
            opens <= clock and (closes == MIDNIGHT or clock < closes)
            for opens, closes in self.weekly[weekday]
        )

    def add(self, start: datetime, minutes: int) -> datetime:
        instant = start.astimezone(UTC)
        while minutes:
            if self.is_open(instant):
                minutes -= 1
            instant += MINUTE
        return instant

    def between(self, start: datetime, end: datetime) -> timedelta:
        instant, total = start.astimezone(UTC), 0
        while instant < end:
            total += self.is_open(instant)
            instant += MINUTE
        return total * MINUTE


def random_clock(rng: random.Random, low: int, high: int) -> int:
    """A quarter-hour (minutes after midnight) in [low, high], off DST half-hours."""
    while True:
        minutes = rng.randrange(low, high + 1, 15)
        if minutes // 60 not in TRANSITION_HOURS or minutes % 60 == 0:
            return minutes


def _minutes(clock: time) -> int:
    return 24 * 60 if clock == MIDNIGHT else clock.hour * 60 + clock.minute


def as_time(minutes: int) -> time:
    return MIDNIGHT if minutes == 24 * 60 else time(minutes // 60, minutes % 60)


def random_day(rng: random.Random) -> list[tuple[time, time]]:
    intervals, cursor = [], 0
    for _ in range(rng.choice([1, 1, 2, 3])):
        if cursor > 23 * 60:
            break
        opens = random_clock(rng, cursor, 23 * 60)
        closes = random_clock(rng, opens + 15, 24 * 60)
        intervals.append((as_time(opens), as_time(closes)))
        cursor = closes + 15
    return intervals


def random_case(rng: random.Random):
    time_zone = rng.choice(list(DST_WEEKS))
    weekly = [random_day(rng) if rng.random() < 0.7 else [] for _ in range(7)]
    if sum(bool(day) for day in weekly) < 3:
        weekly[rng.randrange(5)] = [(time(9), time(17))]
    week = rng.choice(DST_WEEKS[time_zone] + [datetime(2026, rng.randrange(1, 13), 3)])
    start_local = week + timedelta(minutes=rng.randrange(0, 7 * 24 * 60))
    nearby = [start_local.date() + timedelta(days=n) for n in range(-2, 15)]
    closed = set(rng.sample(nearby, rng.randrange(3)))
    makeup = {day: rng.randrange(7) for day in rng.sample(nearby, rng.randrange(3))}
    schedule = Schedule(time_zone, weekly, frozenset(closed), makeup)
    reference = Reference(time_zone, weekly, closed, makeup)
    start = start_local.replace(tzinfo=ZoneInfo(time_zone), fold=rng.randrange(2))
    return schedule, reference, start


def test_it_agrees_with_a_minute_by_minute_reference_on_random_cases():
    rng = random.Random(20260329)
    for case in range(300):
        schedule, reference, start = random_case(rng)
        open_minutes_a_week = sum(
            (_minutes(closes) - _minutes(opens))
            for day in schedule.weekly_hours
            for opens, closes in day
        )
        minutes = rng.choice([0, rng.randrange(1, 120), rng.randrange(1, 2 * open_minutes_a_week)])
        end = start + timedelta(minutes=rng.randrange(0, 6 * 24 * 60))
        context = f"case {case}: {schedule}, start {start.isoformat()}"

        due = add_business_time(schedule, start, timedelta(minutes=minutes))
        assert due == reference.add(start, minutes), f"{context}, {minutes} min"
        assert business_time_between(schedule, start, end) == reference.between(start, end), (
            f"{context}, end {end.isoformat()}"
        )
        assert business_time_between(schedule, start, due) == timedelta(minutes=minutes), context
