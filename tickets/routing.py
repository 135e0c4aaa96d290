"""Ticket routing: which team gets a ticket, and which of its agents (shared/DOMAIN.md, "Routing").

Pure decisions: nothing here writes. `tickets.services` calls `route_ticket` inside its
transaction when a ticket is opened and when an agent asks for auto-assignment, then records the
assignment and its timeline event itself.

Team (`choose_team`, one query: there are few teams, so they are ranked in Python):

1. A team whose `categories` list the ticket's category and whose `regions` list the customer's
   region.
2. Otherwise a team that lists the category and has no regions (an empty list means any region).
3. Otherwise a team that lists the region and has no categories (an empty list means any
   category).
4. Otherwise the team with `is_default=True` (at most one, by constraint); otherwise None.

A non-empty list restricts: a team listing other regions (or other categories) never gets the
ticket by matching, only as the default team. Ties within a rank go to the team name, A to Z.

Agent (`choose_agent`, two queries whatever the team's size):

1. Candidates: `AgentProfile` rows of the team with `is_available`, an active user who may work
   the console (`tickets.work_console` through a group or a direct grant, or a superuser), and
   not in `exclude_user_ids`. VIP tickets consider seniors (`is_senior`) only. No team: nobody.
2. Skills: `AgentProfile.skills` is a list of category values and language codes. An agent
   listing no category is a generalist and takes every category; a specialist only takes the
   categories listed.
3. Load: the agent's open tickets (status not solved or closed), in any team, counted in one
   aggregate query. Agents at or above `max_open_tickets` are skipped.
4. For a ticket not in English, agents listing its language come first; the others are the
   fallback when none of them has room.
5. Least loaded wins; ties go to the lowest user id, so the choice is deterministic.

Races: when the caller holds a transaction, step 1 locks the candidate profiles
(`SELECT ... FOR UPDATE`, in id order so two routings cannot deadlock each other) before step 3
counts. Two tickets routed to one team at the same instant therefore take turns, and the second
sees the first one's assignment once it commits. SQLite has no row locks (Django omits the
clause) and serialises writers anyway. Outside a transaction (a read-only preview) nothing is
locked, because PostgreSQL refuses FOR UPDATE in autocommit mode.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q

from customers.models import CustomerTier
from tickets.models import AgentProfile, Category, Team, Ticket

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ENGLISH = "en"
CATEGORY_VALUES = frozenset(Category.values)


class RoutingReason(StrEnum):
    """Why a ticket went where it went; stored in timeline data, so the values are stable."""

    LEAST_LOADED = "least_loaded"
    VIP_SENIOR = "vip_senior"
    NO_AVAILABLE_AGENT = "no_available_agent"
    NO_SENIOR_AVAILABLE = "no_senior_available"
    NO_TEAM = "no_team"


@dataclass(frozen=True)
class RoutingDecision:
    team: Team | None
    assignee: User | None  # None: the ticket waits in the team's unassigned queue
    reason: str


def route_ticket(ticket: Ticket) -> RoutingDecision:
    """Decide the team and agent for `ticket` without saving anything.

    Queries: the customer (unless already loaded), the teams, the candidate agents, their loads
    (the last one only when there is a candidate).
    """
    customer = ticket.customer
    vip = customer.tier == CustomerTier.VIP
    team = choose_team(category=ticket.category, region=customer.region)
    if team is None:
        return RoutingDecision(team=None, assignee=None, reason=RoutingReason.NO_TEAM)
    assignee = choose_agent(team=team, category=ticket.category, language=ticket.language, vip=vip)
    if assignee is not None:
        reason = RoutingReason.VIP_SENIOR if vip else RoutingReason.LEAST_LOADED
    else:
        reason = RoutingReason.NO_SENIOR_AVAILABLE if vip else RoutingReason.NO_AVAILABLE_AGENT
    return RoutingDecision(team=team, assignee=assignee, reason=reason)


def choose_team(*, category: str, region: str) -> Team | None:
    """The team for a category and a customer region; see the module docstring. One query."""
    teams = list(Team.objects.order_by("name"))
    ranked = [(_team_rank(team, category=category, region=region), team) for team in teams]
    matching = [(rank, team) for rank, team in ranked if rank is not None]
    if matching:
        # min() keeps the first of equal ranks, and the list is in name order.
        return min(matching, key=lambda pair: pair[0])[1]
    return next((team for team in teams if team.is_default), None)


def _team_rank(team: Team, *, category: str, region: str) -> int | None:
    categories = _as_list(team.categories)
    regions = _as_list(team.regions)
    if category in categories and region in regions:
        return 0
    if category in categories and not regions:
        return 1
    if region in regions and not categories:
        return 2
    return None


def choose_agent(
    *,
    team: Team | None,
    category: str,
    language: str,
    vip: bool,
    exclude_user_ids: Collection[int] = (),
) -> User | None:
    """The least loaded agent of `team` who may take the ticket, or None; see the module
    docstring. Two queries (one when the team has no candidate), none when `team` is None."""
    if team is None:
        return None
    profiles = [
        profile
        for profile in _candidate_profiles(team=team, vip=vip, exclude_user_ids=exclude_user_ids)
        if _handles_category(profile, category)
    ]
    if not profiles:
        return None
    loads = open_ticket_counts(profile.user_id for profile in profiles)
    with_room = [
        profile for profile in profiles if loads[profile.user_id] < profile.max_open_tickets
    ]
    if not with_room:
        return None
    language = language.lower()
    best = min(
        with_room,
        key=lambda profile: (
            language != ENGLISH and not _speaks(profile, language),
            loads[profile.user_id],
            profile.user_id,
        ),
    )
    return best.user


def open_ticket_counts(user_ids: Iterable[int]) -> dict[int, int]:
    """Open tickets (not solved or closed) assigned to each user, 0 for none. One query."""
    ids = set(user_ids)
    if not ids:
        return {}
    counts = dict.fromkeys(ids, 0)
    rows = (
        Ticket.objects.open()
        .filter(assignee_id__in=ids)
        .order_by()
        .values("assignee_id")
        .annotate(open_count=Count("pk"))
        .values_list("assignee_id", "open_count")
    )
    counts.update(rows)
    return counts


def _candidate_profiles(
    *, team: Team, vip: bool, exclude_user_ids: Collection[int]
) -> list[AgentProfile]:
    work_console = Permission.objects.filter(
        content_type__app_label="tickets", codename="work_console"
    )
    may_work_console = (
        Q(user__is_superuser=True)
        | Exists(work_console.filter(group__user=OuterRef("user_id")))
        | Exists(work_console.filter(user=OuterRef("user_id")))
    )
    profiles = (
        AgentProfile.objects.filter(team=team, is_available=True, user__is_active=True)
        .filter(may_work_console)
        .select_related("user")
        .order_by("pk")
    )
    if vip:
        profiles = profiles.filter(is_senior=True)
    if exclude_user_ids:
        profiles = profiles.exclude(user_id__in=list(exclude_user_ids))
    if connection.in_atomic_block:
        # Lock the profiles only, not their users: the lock serialises routing, nothing more.
        profiles = profiles.select_for_update(of=("self",))
    return list(profiles)


def _handles_category(profile: AgentProfile, category: str) -> bool:
    listed = {skill for skill in _skills(profile) if skill in CATEGORY_VALUES}
    return not listed or category in listed


def _speaks(profile: AgentProfile, language: str) -> bool:
    return language in _skills(profile)


def _skills(profile: AgentProfile) -> set[str]:
    return {skill.lower() for skill in _as_list(profile.skills) if isinstance(skill, str)}


def _as_list(value) -> list:
    # JSON fields edited in the admin can hold anything; a non-list counts as empty.
    return value if isinstance(value, list) else []
