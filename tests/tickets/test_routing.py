"""Routing: the team by category and region, the agent by skills, language, seniority and load."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.roles import SUPERVISOR
from tests import factories
from tickets.models import Team, Ticket
from tickets.routing import (
    RoutingDecision,
    choose_agent,
    choose_team,
    open_ticket_counts,
    route_ticket,
)

pytestmark = pytest.mark.django_db


# ---- Helpers --------------------------------------------------------------------------------


def make_agent(team: Team, *, load: int = 0, user_kwargs=None, **profile):
    """An agent of `team` with `load` open tickets assigned; returns the user."""
    user = factories.AgentFactory(**(user_kwargs or {}))
    factories.AgentProfileFactory(user=user, team=team, **profile)
    give_tickets(user, load)
    return user


def give_tickets(user, count: int, *, status: str = Ticket.Status.OPEN) -> None:
    # Routing counts load across every team, so these tickets need none.
    solved_at = timezone.now() if status in ("solved", "closed") else None
    for _ in range(count):
        factories.TicketFactory(assignee=user, status=status, solved_at=solved_at, shipment=None)


def pick(team: Team, *, category="delay", language="en", vip=False, exclude_user_ids=()):
    return choose_agent(
        team=team,
        category=category,
        language=language,
        vip=vip,
        exclude_user_ids=exclude_user_ids,
    )


def ticket_for(*, category="delay", region="europe", tier="regular", language="en") -> Ticket:
    customer = factories.CustomerFactory(region=region, tier=tier)
    return factories.TicketFactory(
        customer=customer, category=category, language=language, status="new", shipment=None
    )


@pytest.fixture
def team():
    return factories.TeamFactory(name="Logistics", slug="logistics", categories=["delay"])


# ---- Team -----------------------------------------------------------------------------------


def test_a_team_matching_category_and_region_beats_one_matching_the_category_anywhere():
    factories.TeamFactory(name="A delays anywhere", categories=["delay"])
    europe = factories.TeamFactory(name="B delays Europe", categories=["delay"], regions=["europe"])

    assert choose_team(category="delay", region="europe") == europe


def test_a_team_matching_the_category_anywhere_beats_one_matching_the_region_only():
    claims = factories.TeamFactory(name="Z claims", categories=["lost", "damaged"])
    factories.TeamFactory(name="A Europe branch", regions=["europe"])

    assert choose_team(category="lost", region="europe") == claims


def test_a_team_matching_the_region_only_beats_the_default_team():
    factories.TeamFactory(name="A catch-all", is_default=True)
    branch = factories.TeamFactory(name="Z Asia branch", regions=["asia"])

    assert choose_team(category="information", region="asia") == branch


def test_a_team_listing_other_regions_does_not_get_the_ticket_by_its_category():
    factories.TeamFactory(name="A claims Asia", categories=["lost"], regions=["asia"])
    anywhere = factories.TeamFactory(name="Z claims", categories=["lost"])

    assert choose_team(category="lost", region="europe") == anywhere


def test_a_team_listing_other_categories_does_not_get_the_ticket_by_its_region():
    factories.TeamFactory(name="A Europe claims", categories=["lost"], regions=["europe"])
    default = factories.TeamFactory(name="Z catch-all", is_default=True)

    assert choose_team(category="delay", region="europe") == default


def test_the_default_team_takes_what_no_team_matches():
    factories.TeamFactory(name="A claims", categories=["lost"])
    default = factories.TeamFactory(name="Z catch-all", is_default=True)

    assert choose_team(category="delay", region="europe") == default


def test_no_team_matches_and_no_default_team_gives_none():
    factories.TeamFactory(name="Claims", categories=["lost"])
    factories.TeamFactory(name="Asia branch", regions=["asia"])

    assert choose_team(category="delay", region="europe") is None


def test_equal_matches_go_to_the_team_name_in_alphabetical_order():
    factories.TeamFactory(name="Logistics B", slug="b", categories=["delay"])
    first = factories.TeamFactory(name="Logistics A", slug="a", categories=["delay"])

    assert choose_team(category="delay", region="europe") == first


def test_a_matching_team_wins_over_the_default_even_when_the_default_matches_less(
    django_assert_num_queries,
):
    factories.TeamFactory(name="A catch-all", categories=["delay"], is_default=True)
    europe = factories.TeamFactory(name="Z Europe", categories=["delay"], regions=["europe"])

    # 1 all teams, ranked in Python.
    with django_assert_num_queries(1):
        assert choose_team(category="delay", region="europe") == europe


# ---- Agent: load ----------------------------------------------------------------------------


def test_the_least_loaded_agent_gets_the_ticket(team):
    make_agent(team, load=3)
    lightest = make_agent(team, load=1)
    make_agent(team, load=2)

    assert pick(team) == lightest


def test_equal_loads_go_to_the_lowest_user_id(team):
    first = make_agent(team, load=1)
    make_agent(team, load=1)

    assert pick(team) == first


def test_an_agent_at_their_maximum_is_skipped_even_when_least_loaded(team):
    make_agent(team, load=2, max_open_tickets=2)
    busier = make_agent(team, load=5, max_open_tickets=25)

    assert pick(team) == busier


def test_nobody_gets_the_ticket_when_every_agent_is_full(team):
    make_agent(team, load=1, max_open_tickets=1)
    make_agent(team, load=0, max_open_tickets=0)

    assert pick(team) is None


@pytest.mark.parametrize("status", ["solved", "closed"])
def test_solved_and_closed_tickets_do_not_count_towards_load(team, status):
    done = make_agent(team)
    give_tickets(done, 3, status=status)
    make_agent(team, load=1)

    assert pick(team) == done


@pytest.mark.parametrize("status", ["new", "open", "pending", "on_hold"])
def test_every_unfinished_status_counts_towards_load(team, status):
    waiting = make_agent(team)
    give_tickets(waiting, 2, status=status)
    lighter = make_agent(team, load=1)

    assert pick(team) == lighter


def test_open_ticket_counts_are_per_user_with_zero_for_none(team):
    busy = make_agent(team, load=2)
    give_tickets(busy, 1, status="solved")
    idle = make_agent(team)

    assert open_ticket_counts([busy.pk, idle.pk]) == {busy.pk: 2, idle.pk: 0}
    assert open_ticket_counts([]) == {}


def test_load_is_counted_in_one_query_whatever_the_number_of_agents(
    team, django_assert_num_queries
):
    users = [make_agent(team, load=n) for n in range(5)]

    with django_assert_num_queries(1):
        counts = open_ticket_counts(user.pk for user in users)

    assert counts == {user.pk: n for n, user in enumerate(users)}


# ---- Agent: who may be chosen ---------------------------------------------------------------


def test_an_unavailable_agent_is_skipped(team):
    make_agent(team, is_available=False)
    available = make_agent(team, load=4)

    assert pick(team) == available


def test_an_inactive_user_is_skipped(team):
    make_agent(team, user_kwargs={"is_active": False})
    active = make_agent(team, load=4)

    assert pick(team) == active


def test_a_user_without_the_console_permission_is_skipped(team):
    make_agent(team, user_kwargs={"roles": ()})
    agent = make_agent(team, load=4)

    assert pick(team) == agent


def test_supervisors_superusers_and_direct_grants_may_be_chosen(team):
    supervisor = make_agent(team, user_kwargs={"roles": (SUPERVISOR,)})
    superuser = make_agent(team, user_kwargs={"roles": (), "is_superuser": True})
    granted = make_agent(team, user_kwargs={"roles": ()})
    granted.user_permissions.add(
        Permission.objects.get(content_type__app_label="tickets", codename="work_console")
    )

    chosen = []
    for _ in range(3):
        user = pick(team, exclude_user_ids=[u.pk for u in chosen])
        chosen.append(user)

    assert chosen == [supervisor, superuser, granted]


def test_an_agent_of_another_team_is_never_chosen(team):
    make_agent(factories.TeamFactory(name="Claims", categories=["lost"]))
    own = make_agent(team, load=4)

    assert pick(team) == own


def test_excluded_users_are_skipped(team):
    excluded = make_agent(team)
    other = make_agent(team, load=4)

    assert pick(team, exclude_user_ids={excluded.pk}) == other


def test_without_a_team_nobody_is_chosen(team, django_assert_num_queries):
    make_agent(team)

    with django_assert_num_queries(0):
        assert pick(None) is None


# ---- Agent: skills --------------------------------------------------------------------------


def test_a_specialist_does_not_get_a_category_outside_their_skills(team):
    make_agent(team, skills=["lost", "damaged"])
    generalist = make_agent(team, load=4, skills=[])

    assert pick(team, category="delay") == generalist


def test_a_specialist_gets_a_category_in_their_skills(team):
    specialist = make_agent(team, skills=["lost"])
    make_agent(team, load=4, skills=[])

    assert pick(team, category="lost") == specialist


def test_an_agent_listing_only_languages_is_a_generalist(team):
    linguist = make_agent(team, skills=["zh-hans"])

    assert pick(team, category="address_change") == linguist


def test_a_team_of_specialists_in_other_categories_leaves_the_ticket_unassigned(team):
    make_agent(team, skills=["lost"])

    assert pick(team, category="delay") is None


# ---- Agent: language ------------------------------------------------------------------------


def test_an_agent_speaking_the_tickets_language_is_preferred_over_a_less_loaded_one(team):
    make_agent(team, load=0)
    speaker = make_agent(team, load=3, skills=["zh-hans"])

    assert pick(team, language="zh-hans") == speaker


def test_the_least_loaded_speaker_wins_among_speakers(team):
    make_agent(team, load=0)
    make_agent(team, load=3, skills=["zh-hans"])
    lighter_speaker = make_agent(team, load=2, skills=["delay", "zh-hans"])

    assert pick(team, language="zh-hans") == lighter_speaker


def test_when_no_speaker_has_room_the_ticket_falls_back_to_the_others(team):
    make_agent(team, load=1, max_open_tickets=1, skills=["zh-hans"])
    fallback = make_agent(team, load=3)

    assert pick(team, language="zh-hans") == fallback


def test_an_english_ticket_ignores_language_skills(team):
    make_agent(team, load=3, skills=["en"])
    lightest = make_agent(team, load=0)

    assert pick(team, language="en") == lightest


# ---- Agent: VIP customers -------------------------------------------------------------------


def test_a_vip_ticket_goes_to_a_senior_even_when_a_junior_is_less_loaded(team):
    make_agent(team, load=0, is_senior=False)
    senior = make_agent(team, load=5, is_senior=True)

    assert pick(team, vip=True) == senior


def test_a_vip_ticket_without_a_senior_with_room_goes_to_nobody(team):
    make_agent(team, load=0, is_senior=False)
    make_agent(team, load=2, max_open_tickets=2, is_senior=True)

    assert pick(team, vip=True) is None


def test_a_regular_ticket_may_go_to_a_senior(team):
    make_agent(team, load=2, is_senior=False)
    senior = make_agent(team, load=1, is_senior=True)

    assert pick(team, vip=False) == senior


# ---- route_ticket ---------------------------------------------------------------------------


def test_route_ticket_picks_the_team_and_its_least_loaded_agent(team):
    factories.TeamFactory(name="Claims", categories=["lost"])
    make_agent(team, load=2)
    lightest = make_agent(team, load=1)

    decision = route_ticket(ticket_for(category="delay"))

    assert decision == RoutingDecision(team=team, assignee=lightest, reason="least_loaded")


def test_route_ticket_sends_a_vip_to_a_senior(team):
    make_agent(team, load=0)
    senior = make_agent(team, load=3, is_senior=True)

    decision = route_ticket(ticket_for(tier="vip"))

    assert decision == RoutingDecision(team=team, assignee=senior, reason="vip_senior")


def test_route_ticket_leaves_a_vip_unassigned_when_no_senior_is_available(team):
    make_agent(team, load=0)
    make_agent(team, is_senior=True, is_available=False)

    decision = route_ticket(ticket_for(tier="vip"))

    assert decision == RoutingDecision(team=team, assignee=None, reason="no_senior_available")


def test_route_ticket_leaves_the_ticket_in_the_team_queue_when_nobody_has_room(team):
    make_agent(team, load=1, max_open_tickets=1)

    decision = route_ticket(ticket_for())

    assert decision == RoutingDecision(team=team, assignee=None, reason="no_available_agent")


def test_route_ticket_without_a_team_says_so():
    factories.TeamFactory(name="Claims", categories=["lost"])

    decision = route_ticket(ticket_for(category="delay"))

    assert decision == RoutingDecision(team=None, assignee=None, reason="no_team")


def test_route_ticket_uses_the_customer_region_and_the_ticket_language():
    factories.TeamFactory(name="Logistics", categories=["delay"])
    asia = factories.TeamFactory(name="Logistics Asia", categories=["delay"], regions=["asia"])
    make_agent(asia, load=0)
    speaker = make_agent(asia, load=2, skills=["zh-hans"])

    decision = route_ticket(ticket_for(region="asia", language="zh-hans"))

    assert (decision.team, decision.assignee) == (asia, speaker)


def test_route_ticket_saves_nothing(team):
    make_agent(team)
    ticket = ticket_for()

    route_ticket(ticket)

    ticket.refresh_from_db()
    assert (ticket.team, ticket.assignee) == (None, None)


@pytest.mark.parametrize("size", [2, 12])
def test_route_ticket_runs_a_constant_number_of_queries(team, size, django_assert_num_queries):
    for n in range(size):
        make_agent(team, load=n % 3, is_senior=n % 2 == 0, skills=["zh-hans"] if n % 4 else [])
    ticket = Ticket.objects.get(pk=ticket_for(tier="vip", language="zh-hans").pk)

    # 1 the customer, 2 the teams, 3 the team's candidate agents (locked FOR UPDATE on
    # PostgreSQL: the test runs in a transaction), 4 their open-ticket counts.
    with django_assert_num_queries(4):
        decision = route_ticket(ticket)

    assert decision.assignee is not None


@pytest.mark.postgres
def test_the_candidate_agents_are_locked_inside_a_transaction(team):
    make_agent(team)

    with CaptureQueriesContext(connection) as captured:
        route_ticket(ticket_for())

    candidates = next(q["sql"] for q in captured if 'FROM "tickets_agentprofile"' in q["sql"])
    assert 'FOR UPDATE OF "tickets_agentprofile"' in candidates


# ---- Concurrency (real row locks) -----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_routings_share_the_team_and_never_overfill_an_agent():
    team = factories.TeamFactory(name="Logistics", slug="logistics", categories=["delay"])
    agents = [make_agent(team, max_open_tickets=2) for _ in range(2)]
    tickets = [ticket_for() for _ in range(5)]
    start = threading.Barrier(len(tickets))
    reasons, errors = [], []

    def route_and_assign(ticket_id: int):
        # What the service does: lock the ticket, route it, record the decision, commit.
        try:
            start.wait()
            with transaction.atomic():
                ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
                decision = route_ticket(ticket)
                ticket.team, ticket.assignee = decision.team, decision.assignee
                ticket.save(update_fields=["team", "assignee"])
            reasons.append(decision.reason)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=route_and_assign, args=(t.pk,)) for t in tickets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(reasons) == ["least_loaded"] * 4 + ["no_available_agent"]
    loads = dict(
        Ticket.objects.filter(assignee__isnull=False)
        .values("assignee")
        .annotate(n=Count("pk"))
        .values_list("assignee", "n")
    )
    assert loads == {agents[0].pk: 2, agents[1].pk: 2}
