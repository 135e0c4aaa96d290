"""Reference data of the demo: logins, teams, calendars, carriers, lanes, macros.

These rows are configuration rather than history, so they are upserted by their natural key
(username, slug, carrier code, lane route): running the seeder again restores them instead of
duplicating them, and nothing that points at them has to be deleted. Macros are only created
when missing (macro slug + language), so an admin's rewording survives a reseed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group

from core.roles import AGENT, OPERATOR, SUPERVISOR
from demo import texts
from demo.common import stamps
from tickets.models import (
    AgentProfile,
    BusinessCalendar,
    CalendarException,
    Macro,
    Team,
    WorkingHours,
)

DEMO_PASSWORD = "delaydesk-demo"

# --- Logins ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserSpec:
    username: str
    first_name: str
    last_name: str
    groups: tuple[str, ...]
    is_superuser: bool = False
    team: str | None = None
    is_senior: bool = False
    skills: tuple[str, ...] = ()
    time_zone: str = "UTC"
    language: str = texts.EN
    is_available: bool = True
    max_open_tickets: int = 25


USERS = (
    UserSpec(
        "agent",
        "Anna",
        "Weber",
        (AGENT,),
        team="logistics-europe",
        is_senior=True,
        skills=("delay", "lost", "damaged", "address_change", "vip", "en", "de"),
        time_zone="Europe/Berlin",
    ),
    UserSpec(
        "agent2",
        "Mei",
        "Chen",
        (AGENT,),
        team="asia-support",
        skills=("delay", "address_change", "information", "zh-hans", "en"),
        time_zone="Asia/Shanghai",
        language=texts.ZH,
    ),
    # The supervisor group holds every agent permission too, so one group is enough.
    UserSpec(
        "supervisor",
        "Sofia",
        "Becker",
        (SUPERVISOR,),
        team="claims",
        skills=("lost", "damaged", "compensation", "en", "de"),
        time_zone="Europe/Berlin",
        max_open_tickets=10,
    ),
    # Configures rules, policies, templates and carriers in the admin; works no tickets.
    UserSpec("operator", "Otto", "Meyer", (OPERATOR,), is_available=False, max_open_tickets=0),
    UserSpec(
        "admin", "Ada", "Admin", (), is_superuser=True, is_available=False, max_open_tickets=0
    ),
)
DEMO_USERNAMES = tuple(spec.username for spec in USERS)


def ensure_users(now: dt.datetime) -> dict[str, object]:
    """The demo logins, all with the demo password, in their role groups."""
    User = get_user_model()
    # One hash for all the users: PBKDF2 is slow on purpose, and they share the password.
    password = make_password(DEMO_PASSWORD)
    groups = {
        group.name: group for group in Group.objects.filter(name__in=[AGENT, SUPERVISOR, OPERATOR])
    }
    users = {}
    for spec in USERS:
        user, _created = User.objects.update_or_create(
            username=spec.username,
            defaults={
                "first_name": spec.first_name,
                "last_name": spec.last_name,
                "email": f"{spec.username}@delaydesk.example",
                "is_staff": True,
                "is_superuser": spec.is_superuser,
                "is_active": True,
                "password": password,
                "date_joined": now - dt.timedelta(days=400),
            },
        )
        user.groups.set([groups[name] for name in spec.groups if name in groups])
        users[spec.username] = user
    return users


def ensure_profiles(users: dict[str, object], teams: dict[str, Team], now: dt.datetime) -> None:
    for spec in USERS:
        AgentProfile.objects.update_or_create(
            user=users[spec.username],
            defaults={
                "team": teams.get(spec.team) if spec.team else None,
                "is_senior": spec.is_senior,
                "skills": list(spec.skills),
                "max_open_tickets": spec.max_open_tickets,
                "is_available": spec.is_available,
                "time_zone": spec.time_zone,
                "language": spec.language,
                **stamps(now - dt.timedelta(days=400)),
            },
        )


# --- Teams and calendars -----------------------------------------------------------------------


@dataclass(frozen=True)
class TeamSpec:
    slug: str
    name: str
    calendar: str | None
    categories: tuple[str, ...]
    regions: tuple[str, ...]
    is_default: bool = False


CALENDARS = {
    # name: (time zone, holiday country, subdivision)
    "Berlin office": ("Europe/Berlin", "DE", "BE"),
    "Shanghai office": ("Asia/Shanghai", "CN", ""),
}
TEAMS = (
    TeamSpec(
        "logistics-europe",
        "Logistics Europe & Americas",
        "Berlin office",
        ("delay", "address_change", "information", "other"),
        ("europe", "north_america", "other"),
        is_default=True,
    ),
    TeamSpec(
        "asia-support",
        "Asia Support 亚洲客服",
        "Shanghai office",
        ("delay", "lost", "damaged", "address_change", "information", "other"),
        ("asia",),
    ),
    # No calendar: claims are worked around the clock.
    TeamSpec("claims", "Claims 24/7", None, ("lost", "damaged"), ()),
)


def ensure_teams(now: dt.datetime) -> dict[str, Team]:
    calendars = {}
    for name, (zone, country, subdivision) in CALENDARS.items():
        calendar, _created = BusinessCalendar.objects.update_or_create(
            name=name,
            defaults={
                "time_zone": zone,
                "holiday_country": country,
                "holiday_subdivision": subdivision,
                **stamps(now - dt.timedelta(days=400)),
            },
        )
        calendar.hours.all().delete()
        WorkingHours.objects.bulk_create(
            WorkingHours(calendar=calendar, weekday=day, opens_at=dt.time(9), closes_at=dt.time(18))
            for day in range(5)
        )
        calendar.exceptions.all().delete()
        calendars[name] = calendar
    # A team offsite in Berlin in two weeks: a closure the SLA clock must skip.
    CalendarException.objects.create(
        calendar=calendars["Berlin office"],
        date=(now + dt.timedelta(days=14)).date(),
        is_working_day=False,
        name="Team offsite",
    )
    other_default = (
        Team.objects.filter(is_default=True)
        .exclude(slug__in=[spec.slug for spec in TEAMS])
        .exists()
    )
    teams = {}
    for spec in TEAMS:
        team, _created = Team.objects.update_or_create(
            slug=spec.slug,
            defaults={
                "name": spec.name,
                "calendar": calendars[spec.calendar] if spec.calendar else None,
                "categories": list(spec.categories),
                "regions": list(spec.regions),
                "is_default": spec.is_default and not other_default,
                **stamps(now - dt.timedelta(days=400)),
            },
        )
        teams[spec.slug] = team
    return teams


# --- Carriers and their status codes -----------------------------------------------------------


# --- Places and lanes --------------------------------------------------------------------------


# --- Macros ------------------------------------------------------------------------------------


def ensure_macros(now: dt.datetime) -> int:
    """The demo's own macros, created when missing: an admin's edits and the defaults the
    migration installed stay as they are. Returns how many demo macro rows exist."""
    count = 0
    for slug, category, variants in texts.MACROS:
        # The title is what agents read, in their language, whatever the customer's language.
        titles = {
            f"title_{code.replace('-', '_')}": variant[0] for code, variant in variants.items()
        }
        for language, (title, body) in variants.items():
            Macro.objects.get_or_create(
                slug=slug,
                language=language,
                defaults={
                    "title": title,
                    **titles,
                    "body": body,
                    "category": category,
                    "is_active": True,
                    **stamps(now - dt.timedelta(days=300)),
                },
            )
            count += 1
    return count
