"""Agent scorecards (/supervisor/agents/): the five components, their weights, teams, the period
and filters, sorting, the CSV export, permissions and the query budget.

The fixture (`world`), all in the default period (the last 30 days up to NOW) unless said:

Alice (team Logistics): four tickets opened two days ago.
  A1 customer wrote, first reply after 30 min, solved.
  A2 proactive (delay detected 60 min before the ticket), first reply 60 min after opening
     (120 min after detection), solved.
  A3 opened by an agent, no customer message, first reply after 90 min, open: we spoke first.
  A4 customer wrote, first reply after 150 min, solved.
  Ratings for Alice in the period: 5, 4, 4 (yesterday) and 1 (ten days ago); a rating of 1 forty
  days ago and an unanswered survey do not count.
  satisfaction  mean 14/4 = 3.5            -> (3.5 - 1) / 4 * 100 = 62.5
  response time waits 30, 90, 120, 150     -> median 105 min; target 60, zero at 240:
                                              100 * (240 - 105) / 180 = 75
  resolution    3 of 4 solved              -> 75
  complaints    1 of 4 answers rated <= 2  -> 100 * (1 - 0.25) = 75
  proactive     A2 and A3, 2 of 4          -> 50
  score = .4*62.5 + .2*75 + .2*75 + .1*75 + .1*50 = 25 + 15 + 15 + 7.5 + 5 = 67.5

Bob (team Logistics), no ratings: B1 customer wrote, first reply after 20 min, solved; B2
customer wrote, not answered yet, open.
  response 20 min -> 100; resolution 1 of 2 -> 50; proactive 0 of 2 -> 0;
  satisfaction and complaints: no data, their 50 points of weight spread over the other 50:
  score = (20*100 + 20*50 + 10*0) / 50 = 60.0 (weights used 40%, 40%, 20%).

Carol (team Claims): nothing; every component "—", no score.

Team Logistics (its agents' tickets together, not an average of Alice's and Bob's scores):
  satisfaction 62.5, complaints 75 (Bob has no ratings);
  waits 20, 30, 90, 120, 150 -> median 90 -> 100 * (240 - 90) / 180 = 83.33;
  resolution 4 of 6 -> 66.67; proactive 2 of 6 -> 33.33;
  score = 25 + 16.667 + 13.333 + 7.5 + 3.333 = 65.83 (the mean of 67.5 and 60 would be 63.75).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from supervisor import scorecards
from tests import factories
from tests.config.test_settings import run_manage
from tickets.models import Message, SatisfactionSurvey, Ticket

pytestmark = pytest.mark.django_db

PAGE = reverse("supervisor:scorecards")
NOW = dt.datetime(2025, 3, 20, 12, 0, tzinfo=dt.UTC)
OPENED = NOW - dt.timedelta(days=2)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@dataclass
class World:
    logistics: object
    claims: object
    alice: object
    bob: object
    carol: object
    carrier_a: object
    carrier_b: object


def agent_in(team, username: str, first_name: str):
    user = factories.AgentFactory(username=username, first_name=first_name)
    factories.AgentProfileFactory(user=user, team=team)
    return user


def ticket(
    assignee,
    *,
    carrier,
    created=OPENED,
    reply_after: int | None = None,
    solved: bool = False,
    source: str = "customer",
    detected_before: int | None = None,
    customer_wrote: bool = True,
) -> Ticket:
    shipment = factories.ShipmentFactory(carrier=carrier)
    t = factories.TicketFactory(
        assignee=assignee,
        shipment=shipment,
        customer=shipment.customer,
        source=source,
        status="solved" if solved else "open",
        solved_at=created + dt.timedelta(hours=5) if solved else None,
    )
    Ticket.objects.filter(pk=t.pk).update(
        created_at=created,
        detected_at=(
            created - dt.timedelta(minutes=detected_before) if detected_before is not None else None
        ),
        first_response_at=(
            created + dt.timedelta(minutes=reply_after) if reply_after is not None else None
        ),
    )
    if customer_wrote:
        message = factories.MessageFactory(ticket=t)
        Message.objects.filter(pk=message.pk).update(created_at=created)
    t.refresh_from_db()
    return t


def rating(t: Ticket, agent, value: int | None, *, answered: dt.datetime) -> SatisfactionSurvey:
    return SatisfactionSurvey.objects.create(
        ticket=t,
        resolved_at=answered - dt.timedelta(days=1),
        agent=agent,
        rating=value,
        answered_at=answered if value is not None else None,
    )


def build_world() -> World:
    logistics = factories.TeamFactory(name="Logistics", slug="logistics")
    claims = factories.TeamFactory(name="Claims", slug="claims")
    alice = agent_in(logistics, "alice", "Alice")
    bob = agent_in(logistics, "bob", "Bob")
    carol = agent_in(claims, "carol", "Carol")
    carrier_a = factories.CarrierFactory(code="dhl")
    carrier_b = factories.CarrierFactory(code="ups")

    a1 = ticket(alice, carrier=carrier_a, reply_after=30, solved=True)
    a2 = ticket(
        alice,
        carrier=carrier_a,
        reply_after=60,
        solved=True,
        source="proactive",
        detected_before=60,
        customer_wrote=False,
    )
    ticket(alice, carrier=carrier_a, reply_after=90, source="agent", customer_wrote=False)
    a4 = ticket(alice, carrier=carrier_a, reply_after=150, solved=True)
    # An older ticket: outside the period's cohorts, its rating inside the period counts.
    old = ticket(
        alice, carrier=carrier_a, created=NOW - dt.timedelta(days=40), reply_after=5, solved=True
    )
    yesterday = NOW - dt.timedelta(days=1)
    rating(a1, alice, 5, answered=yesterday)
    rating(a2, alice, 4, answered=yesterday)
    rating(a4, alice, 4, answered=yesterday)
    rating(old, alice, 1, answered=NOW - dt.timedelta(days=10))
    SatisfactionSurvey.objects.create(  # before the period: not counted
        ticket=old,
        resolved_at=NOW - dt.timedelta(days=45),
        agent=alice,
        rating=1,
        answered_at=NOW - dt.timedelta(days=40),
    )
    rating(a1, alice, None, answered=NOW)  # sent, not answered

    ticket(bob, carrier=carrier_b, reply_after=20, solved=True)
    ticket(bob, carrier=carrier_b)
    # A ticket with nobody assigned and one of a user without an agent profile count nowhere.
    ticket(None, carrier=carrier_a, reply_after=500)
    ticket(factories.SupervisorFactory(), carrier=carrier_a, reply_after=500)
    return World(logistics, claims, alice, bob, carol, carrier_a, carrier_b)


@pytest.fixture
def world(db) -> World:
    return build_world()


def rows_by_name(rows) -> dict:
    return {row.name: row for row in rows}


def values(row) -> dict:
    return {c.key: None if c.value is None else round(c.value, 2) for c in row.components}


# ---- Access ---------------------------------------------------------------------------------


def test_agents_are_refused_the_scorecards(agent_client):
    assert agent_client.get(PAGE).status_code == 403
    assert agent_client.get(PAGE, {"format": "csv"}).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(PAGE)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={PAGE}"


def test_the_scorecards_only_answer_get(supervisor_client):
    assert supervisor_client.post(PAGE).status_code == 405


def test_the_workspace_navigation_links_the_scorecards(supervisor_client, world):
    body = supervisor_client.get(PAGE).content.decode()

    assert f'href="{PAGE}" aria-current="page"' in body


# ---- The components and the weighted score -----------------------------------------------------


def test_each_component_and_the_score_match_the_hand_computed_figures(supervisor_client, world):
    response = supervisor_client.get(PAGE)

    assert response.status_code == 200
    agents = rows_by_name(response.context["page"].object_list)
    alice = agents["Alice"]
    assert values(alice) == {
        "satisfaction": 62.5,
        "response_time": 75.0,
        "resolution": 75.0,
        "complaints": 75.0,
        "proactive": 50.0,
    }
    assert alice.score == pytest.approx(67.5)
    raw = {c.key: c for c in alice.components}
    assert raw["satisfaction"].raw == pytest.approx(3.5) and raw["satisfaction"].count == 4
    assert raw["response_time"].raw == pytest.approx(105) and raw["response_time"].count == 4
    assert (raw["resolution"].part, raw["resolution"].count) == (3, 4)
    assert (raw["complaints"].part, raw["complaints"].count) == (1, 4)
    assert (raw["proactive"].part, raw["proactive"].count) == (2, 4)
    assert not alice.reweighted
    assert [c.weight for c in alice.components] == [40, 20, 20, 10, 10]


def test_the_page_shows_each_figure_with_its_weight_and_how_it_was_computed(
    supervisor_client, world
):
    body = supervisor_client.get(PAGE).content.decode()

    assert "67.5" in body
    assert "3.50 / 5 from 4 answers" in body
    assert "median 105 min over 4 tickets" in body
    assert "3 of 4 tickets solved" in body
    assert "1 of 4 answers rated 1 or 2" in body
    assert "we spoke first on 2 of 4 tickets" in body
    assert "<strong>62.5</strong>" in body
    assert 'title="40% × 62.5 + 20% × 75 + 20% × 75 + 10% × 75 + 10% × 50 = 67.5"' in body
    for weight in ("40%", "20%", "10%"):
        assert weight in body
    assert "(mean − 1) / 4 × 100" in body
    assert "100 at or under the target of 60 min, falling linearly to 0 at 240 min" in body


def test_a_missing_component_spreads_its_weight_over_the_others(supervisor_client, world):
    response = supervisor_client.get(PAGE)

    bob = rows_by_name(response.context["page"].object_list)["Bob"]
    assert values(bob) == {
        "satisfaction": None,
        "response_time": 100.0,
        "resolution": 50.0,
        "complaints": None,
        "proactive": 0.0,
    }
    assert bob.score == pytest.approx(60.0)
    assert bob.reweighted
    assert [c.effective_weight for c in bob.components] == [None, 40.0, 40.0, None, 20.0]
    body = response.content.decode()
    assert "No data for Satisfaction, Complaint rate: its weight is spread over the others." in body
    assert bob.formula == "40% × 100 + 40% × 50 + 20% × 0 = 60.0"


def test_an_agent_without_any_data_has_no_score_and_no_division_by_zero(supervisor_client, world):
    response = supervisor_client.get(PAGE)

    carol = rows_by_name(response.context["page"].object_list)["Carol"]
    assert carol.score is None
    assert all(c.value is None for c in carol.components)
    assert not carol.reweighted


def test_weights_from_the_settings_drive_the_score(supervisor_client, world, settings):
    settings.SCORECARD_WEIGHTS = {
        "satisfaction": 0,
        "response_time": 50,
        "resolution": 0,
        "complaints": 0,
        "proactive": 50,
    }

    agents = rows_by_name(supervisor_client.get(PAGE).context["page"].object_list)

    assert agents["Alice"].score == pytest.approx(62.5)  # (75 + 50) / 2
    assert agents["Bob"].score == pytest.approx(50.0)  # (100 + 0) / 2


@pytest.mark.parametrize(
    ("median", "expected"),
    [(0, 100.0), (60, 100.0), (105, 75.0), (150, 50.0), (240, 0.0), (1000, 0.0)],
)
def test_the_response_time_falls_linearly_from_the_target_to_four_times_it(median, expected):
    assert scorecards.response_value(median, 60) == pytest.approx(expected)


# ---- Teams ------------------------------------------------------------------------------------


def test_a_team_row_adds_up_its_agents_tickets_not_their_scores(supervisor_client, world):
    response = supervisor_client.get(PAGE)

    teams = rows_by_name(response.context["teams"])
    logistics = teams["Logistics"]
    assert values(logistics) == {
        "satisfaction": 62.5,
        "response_time": 83.33,
        "resolution": 66.67,
        "complaints": 75.0,
        "proactive": 33.33,
    }
    assert logistics.score == pytest.approx(65 + 5 / 6)
    assert logistics.members == 2
    assert teams["Claims"].score is None
    overall = response.context["board"].overall
    assert overall.score == pytest.approx(65 + 5 / 6)
    assert overall.members == 3


# ---- Period and filters -------------------------------------------------------------------------


def test_a_shorter_period_leaves_out_older_ratings(supervisor_client, world):
    response = supervisor_client.get(PAGE, {"days": 7})

    alice = rows_by_name(response.context["page"].object_list)["Alice"]
    assert values(alice)["satisfaction"] == pytest.approx(83.33)  # 5, 4, 4: mean 13/3
    assert values(alice)["complaints"] == 100.0
    assert values(alice)["resolution"] == 75.0


def test_a_period_without_activity_shows_no_scores(supervisor_client, world):
    response = supervisor_client.get(PAGE, {"start": "2024-01-01", "end": "2024-01-31"})

    rows = response.context["page"].object_list
    assert [row.score for row in rows] == [None, None, None]
    assert "—" in response.content.decode()


def test_the_team_filter_narrows_the_agents(supervisor_client, world):
    response = supervisor_client.get(PAGE, {"team": world.claims.pk})

    assert [row.name for row in response.context["page"].object_list] == ["Carol"]
    assert [row.name for row in response.context["teams"]] == ["Claims"]
    assert response.context["board"].overall.score is None


def test_a_carrier_filter_narrows_the_tickets_and_ratings(supervisor_client, world):
    response = supervisor_client.get(PAGE, {"carrier": world.carrier_b.pk})

    agents = rows_by_name(response.context["page"].object_list)
    assert agents["Alice"].score is None  # all her tickets and rated tickets are with dhl
    assert agents["Bob"].score == pytest.approx(60.0)


def test_a_bad_filter_value_falls_back_to_its_default(supervisor_client, world):
    response = supervisor_client.get(PAGE, {"team": "999999", "days": "13"})

    assert response.status_code == 200
    assert len(response.context["page"].object_list) == 3


# ---- Sorting and pages -----------------------------------------------------------------------


def names(response) -> list[str]:
    return [row.name for row in response.context["page"].object_list]


def test_the_default_order_is_the_best_score_first_with_no_score_last(supervisor_client, world):
    response = supervisor_client.get(PAGE)

    assert names(response) == ["Alice", "Bob", "Carol"]
    assert 'aria-sort="descending"' in response.content.decode()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sort": "score", "dir": "asc"}, ["Bob", "Alice", "Carol"]),
        ({"sort": "response_time", "dir": "desc"}, ["Bob", "Alice", "Carol"]),
        ({"sort": "proactive"}, ["Alice", "Bob", "Carol"]),
        ({"sort": "agent"}, ["Alice", "Bob", "Carol"]),
        ({"sort": "agent", "dir": "desc"}, ["Carol", "Bob", "Alice"]),
        ({"sort": "team", "dir": "asc"}, ["Carol", "Alice", "Bob"]),
        ({"sort": "satisfaction", "dir": "asc"}, ["Alice", "Bob", "Carol"]),
    ],
)
def test_any_column_sorts(supervisor_client, world, params, expected):
    response = supervisor_client.get(PAGE, params)

    assert names(response) == expected


def test_an_unknown_sort_key_or_direction_falls_back_to_the_score(supervisor_client, world):
    response = supervisor_client.get(PAGE, {"sort": "password", "dir": "sideways"})

    assert response.status_code == 200
    assert names(response) == ["Alice", "Bob", "Carol"]
    assert response.context["sort"] == "score"
    assert response.context["direction"] == "desc"


def test_column_headers_link_to_their_sort_keeping_the_filters(supervisor_client, world):
    response = supervisor_client.get(PAGE, {"days": 7, "sort": "score", "dir": "desc"})

    columns = {column.key: column for column in response.context["columns"]}
    assert columns["score"].aria_sort == "descending"
    assert columns["score"].query == "days=7&sort=score&dir=asc"
    assert columns["agent"].aria_sort == "none"
    assert columns["agent"].query == "days=7&sort=agent&dir=asc"
    assert 'href="?days=7&amp;sort=satisfaction&amp;dir=desc"' in response.content.decode()


def test_many_agents_are_paginated_keeping_the_sort(supervisor_client, world, monkeypatch):
    monkeypatch.setattr(scorecards, "PAGE_SIZE", 2)

    first = supervisor_client.get(PAGE, {"sort": "agent"})
    second = supervisor_client.get(PAGE, {"sort": "agent", "page": 2})

    assert names(first) == ["Alice", "Bob"]
    assert "sort=agent&amp;dir=asc&amp;page=2" in first.content.decode()
    assert names(second) == ["Carol"]


def test_without_agents_the_page_says_how_to_add_them(supervisor_client):
    response = supervisor_client.get(PAGE)

    assert response.status_code == 200
    assert "No agents to score" in response.content.decode()


# ---- CSV ----------------------------------------------------------------------------------------


def test_the_csv_export_streams_every_row_with_the_filters(supervisor_client, world):
    response = supervisor_client.get(PAGE, {"format": "csv", "sort": "agent"})

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="agent-scorecards-2025-03-20.csv"' in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["Row", "Name", "Team", "Score"]
    assert len(header) == 4 + 5 * 5
    assert [row[:2] for row in body] == [
        ["agent", "Alice"],
        ["agent", "Bob"],
        ["agent", "Carol"],
        ["team", "Claims"],
        ["team", "Logistics"],
        ["all", "All agents"],
    ]
    alice = dict(zip(header, body[0], strict=True))
    assert alice["Team"] == "Logistics"
    assert alice["Score"] == "67.5"
    assert alice["Satisfaction: mean rating"] == "3.5"
    assert alice["Satisfaction: count"] == "4"
    assert alice["Satisfaction: value 0-100"] == "62.5"
    assert alice["Satisfaction: weight %"] == "40"
    assert alice["Response time: median minutes"] == "105"
    assert alice["Resolution: share solved"] == "0.75"
    bob = dict(zip(header, body[1], strict=True))
    assert bob["Satisfaction: value 0-100"] == ""
    assert bob["Response time: weight used %"] == "40.0"
    assert bob["Proactive contacts: weight used %"] == "20.0"

    filtered = supervisor_client.get(PAGE, {"format": "csv", "team": world.claims.pk})
    text = b"".join(filtered.streaming_content).decode("utf-8")
    assert "Alice" not in text and "Carol" in text


# ---- The weights' system check -----------------------------------------------------------------


def test_the_default_weights_pass_the_check(settings):
    assert scorecards.check_scorecard_weights() == []
    assert sum(settings.SCORECARD_WEIGHTS.values()) == 100


def test_weights_not_adding_up_to_100_fail_the_check(settings):
    settings.SCORECARD_WEIGHTS = {**scorecards.DEFAULT_WEIGHTS, "satisfaction": 30}

    errors = scorecards.check_scorecard_weights()

    assert [error.id for error in errors] == ["supervisor.E001"]
    assert "add up to 90" in errors[0].msg


def test_weights_naming_other_components_fail_the_check(settings):
    settings.SCORECARD_WEIGHTS = {"satisfaction": 60, "speed": 40}

    errors = scorecards.check_scorecard_weights()

    assert errors and all(error.id == "supervisor.E001" for error in errors)
    assert "expected exactly the components" in errors[0].msg


def test_weights_from_the_environment_not_adding_up_to_100_stop_start_up():
    result = run_manage("check", SCORECARD_WEIGHT_SATISFACTION="30")

    assert result.returncode != 0
    assert "SCORECARD_WEIGHT_*: the five weights must add up to 100, they add up to 90" in (
        result.stderr
    )


def test_the_check_is_registered_with_django():
    from django.core import checks

    assert scorecards.check_scorecard_weights in checks.registry.registry.get_checks()


# ---- Query budget -------------------------------------------------------------------------


def fill(n: int) -> None:
    """n more agents in a new team, each with a rated, solved ticket and an open one."""
    team = factories.TeamFactory()
    carrier = factories.CarrierFactory()
    for i in range(n):
        user = agent_in(team, f"extra{n}-{i}", f"Extra{i}")
        solved = ticket(user, carrier=carrier, reply_after=10 + i, solved=True)
        ticket(user, carrier=carrier, reply_after=None, source="proactive", customer_wrote=False)
        rating(solved, user, 1 + i % 5, answered=NOW - dt.timedelta(days=3))


# 1-2. session, user  3-4. the permission check (groups' and the user's own permissions)
# 5. the agents (profile, user, team joined)  6-8. per agent: tickets opened, ratings,
# middle first-response waits  9-11. per team: the same  12-14. all agents: the same
# 15-16. the scope form's team and carrier choices
SCORECARD_QUERIES = 16


@pytest.mark.parametrize("n", [2, 20])
def test_the_page_costs_the_same_queries_whatever_the_number_of_agents_and_tickets(
    supervisor_client, world, django_assert_max_num_queries, n
):
    fill(n)

    with django_assert_max_num_queries(SCORECARD_QUERIES):
        response = supervisor_client.get(PAGE)

    assert len(response.context["page"].object_list) == 3 + n


def test_the_query_count_is_exactly_equal_at_two_sizes(supervisor_client, world):
    fill(2)
    with CaptureQueriesContext(connection) as small:
        supervisor_client.get(PAGE)
    fill(25)
    with CaptureQueriesContext(connection) as large:
        supervisor_client.get(PAGE, {"format": "csv"})
        csv_large = len(large)
        response = supervisor_client.get(PAGE)

    assert len(response.context["page"].object_list) == 30
    assert len(large) - csv_large == len(small), [q["sql"] for q in large.captured_queries]
