"""Agent scorecards (/supervisor/agents/): a score of 0-100 per agent and per team for the
scope's period, from the five components of shared/DOMAIN.md ("KPIs"), each shown with its raw
figure, its normalised value, its weight and how it was computed.

Components (weights from `settings.SCORECARD_WEIGHTS`, defaults 40/20/20/10/10):

1. satisfaction: the mean rating of the surveys answered in the period whose `agent` is the
   agent (who had the ticket when it was solved); (mean - 1) / 4 * 100.
2. response time: the median time from a ticket's start (its opening, or the delay's detection
   for a proactive ticket: the SLA first-response clock) to its first public reply, over the
   agent's tickets first answered in the period; 100 at or under the target
   (`SCORECARD_RESPONSE_TARGET_MINUTES`), falling linearly to 0 at RESPONSE_ZERO_FACTOR times it.
3. resolution: of the agent's tickets opened in the period, the share solved (or closed).
4. complaint rate: the share of the agent's answered surveys rated 2 or less; 100 * (1 - share).
5. proactive contacts: of the agent's tickets opened in the period, the share where we spoke
   first: opened by delay detection, or first replied to before any message of the customer.

"The agent's tickets" are those assigned to the agent now (`Ticket.assignee`); ratings count for
the survey's `agent`. A component without data shows "—" and its weight is spread over the
others in proportion to theirs; a row without any data has no score. A team row adds up the
tickets and surveys of its agents (a median over all their tickets, not an average of the
agents' figures); the "all agents" row does the same for every agent shown.

The scope's filters narrow the tickets (carrier, lane, region, incident, tier); the team filter
narrows the agents (their profile's team), whatever team a ticket was routed to.

Queries: the agents (one), then per grouping (agent, team, all) one aggregate over the
tickets opened, one over the surveys, and one windowed query that returns only the one or two
middle first-response times of each group (the median, on SQLite and PostgreSQL alike): a
constant count whatever the number of agents and tickets. They run on `core.db.reports_db()`:
the reports replica when one is configured, whose replication delay (usually under a second)
may leave out the last seconds' replies and ratings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.paginator import Paginator
from django.db.models import (
    Avg,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from core.db import reports_db
from core.inputs import parse_page
from supervisor.export import csv_response, wants_csv
from supervisor.scope import Scope, scope_from
from tickets.models import AgentProfile, Message, SatisfactionSurvey, Source, Ticket

PAGE_SIZE = 50
COMPONENTS = ("satisfaction", "response_time", "resolution", "complaints", "proactive")
DEFAULT_WEIGHTS = {
    "satisfaction": 40,
    "response_time": 20,
    "resolution": 20,
    "complaints": 10,
    "proactive": 10,
}
# The response-time component reaches 0 at this many times the first-response target.
RESPONSE_ZERO_FACTOR = 4
LOW_RATING = 2  # a rating of this or less is a complaint (the survey asks why)

LABELS = {
    "satisfaction": _("Satisfaction"),
    "response_time": _("Response time"),
    "resolution": _("Resolution"),
    "complaints": _("Complaint rate"),
    "proactive": _("Proactive contacts"),
}

# --- weights: settings and their system check ------------------------------------------------


def weight_errors(weights) -> list[str]:
    """What is wrong with a SCORECARD_WEIGHTS value (nothing: an empty list)."""
    if not isinstance(weights, Mapping):
        return [f"expected a dict of {', '.join(COMPONENTS)}, got {type(weights).__name__}"]
    errors = []
    if set(weights) != set(COMPONENTS):
        errors.append(
            f"expected exactly the components {', '.join(COMPONENTS)}, "
            f"got {', '.join(map(str, weights))}"
        )
    values = list(weights.values())
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        errors.append("every weight is a whole number of percent, 0 or more")
    elif sum(values) != 100:
        errors.append(f"the weights must add up to 100, they add up to {sum(values)}")
    return errors


@checks.register(checks.Tags.compatibility)
def check_scorecard_weights(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Refuse to start with scorecard weights that do not add up to 100 (or name other
    components): the score would no longer be a score out of 100."""
    weights = getattr(settings, "SCORECARD_WEIGHTS", DEFAULT_WEIGHTS)
    return [
        checks.Error(
            f"SCORECARD_WEIGHTS: {problem}",
            hint="Set SCORECARD_WEIGHT_SATISFACTION, _RESPONSE_TIME, _RESOLUTION, _COMPLAINTS "
            "and _PROACTIVE so that they add up to 100.",
            id="supervisor.E001",
            obj="SCORECARD_WEIGHTS",
        )
        for problem in weight_errors(weights)
    ]


def scorecard_weights() -> dict[str, int]:
    weights = getattr(settings, "SCORECARD_WEIGHTS", DEFAULT_WEIGHTS)
    errors = weight_errors(weights)
    if errors:
        raise ImproperlyConfigured("SCORECARD_WEIGHTS: " + "; ".join(errors))
    return {key: weights[key] for key in COMPONENTS}


def response_target_minutes() -> int:
    return getattr(settings, "SCORECARD_RESPONSE_TARGET_MINUTES", 60)


# --- the figures: aggregates per group ----------------------------------------------------------


@dataclass
class Figures:
    """The raw aggregates of one agent, team or of all agents."""

    answers: int = 0  # surveys answered in the period
    mean_rating: float | None = None
    low: int = 0  # of them, rated LOW_RATING or less
    responses: int = 0  # tickets first answered in the period
    median_seconds: float | None = None
    opened: int = 0  # tickets opened in the period (and assigned)
    solved: int = 0
    proactive: int = 0

    @property
    def has_data(self) -> bool:
        return bool(self.answers or self.responses or self.opened)


ALL = "all"  # the group key of the "all agents" row

# Group keys per grouping: tickets' and surveys' paths to the agent or the agent's team.
TICKET_KEYS = {"agent": "assignee_id", "team": "assignee__agent_profile__team_id", ALL: None}
SURVEY_KEYS = {"agent": "agent_id", "team": "agent__agent_profile__team_id", ALL: None}


def scoped_tickets(scope: Scope) -> QuerySet[Ticket]:
    """Tickets assigned to an agent (a user with an AgentProfile) of the scope's team, narrowed
    by the scope's other filters."""
    tickets = Ticket.objects.using(reports_db()).filter(assignee__agent_profile__isnull=False)
    if scope.team is not None:
        tickets = tickets.filter(assignee__agent_profile__team=scope.team)
    return replace(scope, team=None).tickets(tickets)


def scoped_surveys(scope: Scope) -> QuerySet[SatisfactionSurvey]:
    """Ratings given in the period to an agent of the scope's team, for tickets within the
    scope's other filters."""
    surveys = SatisfactionSurvey.objects.using(reports_db()).filter(
        scope.in_period("answered_at"), rating__isnull=False, agent__agent_profile__isnull=False
    )
    if scope.team is not None:
        surveys = surveys.filter(agent__agent_profile__team=scope.team)
    return replace(scope, team=None).tickets(surveys, "ticket__")


def _grouped(qs: QuerySet, key: str | None, **aggregates) -> dict:
    if key is None:
        return {ALL: qs.aggregate(**aggregates)}
    rows = qs.order_by().values(key).annotate(**aggregates)
    return {row[key]: row for row in rows}


def spoke_first() -> Q:
    """A ticket where we spoke first: opened by delay detection, or a first public reply before
    any message of the customer."""
    customer_wrote_before = Message.objects.filter(
        ticket=OuterRef("pk"),
        direction=Message.Direction.INBOUND,
        created_at__lte=OuterRef("first_response_at"),
    )
    return Q(source=Source.PROACTIVE) | (
        Q(first_response_at__isnull=False) & ~Q(Exists(customer_wrote_before))
    )


def _median_waits(tickets: QuerySet[Ticket], key: str | None) -> dict:
    """(count, median seconds) of the first-response waits per group, from one query that
    returns only each group's middle one or two rows (ROW_NUMBER over the group's waits)."""
    group = F(key) if key else Value(ALL)
    partition = [F(key)] if key else None
    rows = (
        tickets.annotate(
            wait=ExpressionWrapper(
                F("first_response_at") - Coalesce("detected_at", "created_at"),
                output_field=DurationField(),
            )
        )
        .annotate(
            group=group,
            position=Window(RowNumber(), partition_by=partition, order_by=[F("wait").asc(), "pk"]),
            size=Window(Count("pk"), partition_by=partition),
        )
        .filter(position__gte=(F("size") + 1) / 2, position__lte=(F("size") + 2) / 2)
        .values_list("group", "wait", "size")
    )
    middles: dict = defaultdict(list)
    sizes: dict = {}
    for group_key, wait, size in rows:
        middles[group_key].append(wait.total_seconds())
        sizes[group_key] = size
    return {k: (sizes[k], sum(waits) / len(waits)) for k, waits in middles.items()}


def figures_by(scope: Scope, grouping: str) -> dict:
    """Figures per agent id, per team id, or {ALL: figures}: three queries."""
    ticket_key, survey_key = TICKET_KEYS[grouping], SURVEY_KEYS[grouping]
    tickets = scoped_tickets(scope)
    opened = _grouped(
        tickets.filter(scope.in_period("created_at")),
        ticket_key,
        opened_count=Count("pk"),
        solved_count=Count("pk", filter=Q(solved_at__isnull=False)),
        proactive_count=Count("pk", filter=spoke_first()),
    )
    ratings = _grouped(
        scoped_surveys(scope),
        survey_key,
        answer_count=Count("pk"),
        mean=Avg("rating"),
        low_count=Count("pk", filter=Q(rating__lte=LOW_RATING)),
    )
    waits = _median_waits(tickets.filter(scope.in_period("first_response_at")), ticket_key)
    figures: dict = defaultdict(Figures)
    for k, row in opened.items():
        figures[k].opened = row["opened_count"]
        figures[k].solved = row["solved_count"]
        figures[k].proactive = row["proactive_count"]
    for k, row in ratings.items():
        if row["answer_count"]:
            figures[k].answers = row["answer_count"]
            figures[k].mean_rating = float(row["mean"])
            figures[k].low = row["low_count"]
    for k, (size, median) in waits.items():
        figures[k].responses = size
        figures[k].median_seconds = median
    return dict(figures)


# --- the score ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Component:
    key: str
    weight: int  # as configured, percent
    value: float | None  # normalised 0-100; None: no data
    raw: float | None  # mean rating, median minutes or a share (0-1)
    part: int  # low ratings, solved or proactive tickets (for shares)
    count: int  # answers or tickets behind the figure
    effective_weight: float | None = None  # after spreading the missing ones' weights

    @property
    def label(self) -> str:
        return str(LABELS[self.key])

    @property
    def missing(self) -> bool:
        return self.value is None

    @property
    def raw_text(self) -> str:
        """The raw figure in words, for the table cell."""
        if self.value is None:
            return gettext("no data")
        values = {"part": self.part, "n": self.count}
        if self.key == "satisfaction":
            text = ngettext(
                "%(mean)s / 5 from %(n)s answer", "%(mean)s / 5 from %(n)s answers", self.count
            )
            return text % {**values, "mean": f"{self.raw:.2f}"}
        if self.key == "response_time":
            text = ngettext(
                "median %(minutes)s min over %(n)s ticket",
                "median %(minutes)s min over %(n)s tickets",
                self.count,
            )
            return text % {**values, "minutes": f"{self.raw:.0f}"}
        if self.key == "complaints":
            text = ngettext(
                "%(part)s of %(n)s answer rated 1 or 2",
                "%(part)s of %(n)s answers rated 1 or 2",
                self.count,
            )
        elif self.key == "resolution":
            text = ngettext(
                "%(part)s of %(n)s ticket solved", "%(part)s of %(n)s tickets solved", self.count
            )
        else:
            text = ngettext(
                "we spoke first on %(part)s of %(n)s ticket",
                "we spoke first on %(part)s of %(n)s tickets",
                self.count,
            )
        return text % values


def _short(number: float) -> str:
    """One decimal, none when it is 0: 62.5, 75, 33.3."""
    return f"{number:.1f}".removesuffix(".0")


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def response_value(median_minutes: float, target_minutes: float) -> float:
    """100 at or under the target, 0 at RESPONSE_ZERO_FACTOR times it or more, linear between."""
    zero = RESPONSE_ZERO_FACTOR * target_minutes
    if median_minutes <= target_minutes:
        return 100.0
    if median_minutes >= zero:
        return 0.0
    return 100.0 * (zero - median_minutes) / (zero - target_minutes)


def _scaled(raw: float | None, normalise) -> float | None:
    return None if raw is None else normalise(raw)


def components_of(
    figures: Figures, *, weights: dict[str, int], target_minutes: float
) -> list[Component]:
    f = figures
    minutes = None if f.median_seconds is None else f.median_seconds / 60
    low_share = _share(f.low, f.answers)
    solved_share = _share(f.solved, f.opened)
    proactive_share = _share(f.proactive, f.opened)
    # key: (raw figure, its value on 0-100, part, count)
    made = {
        "satisfaction": (
            f.mean_rating,
            _scaled(f.mean_rating, lambda mean: (mean - 1) / 4 * 100),
            0,
            f.answers,
        ),
        "response_time": (
            minutes,
            _scaled(minutes, lambda m: response_value(m, target_minutes)),
            0,
            f.responses,
        ),
        "resolution": (solved_share, _scaled(solved_share, lambda s: 100 * s), f.solved, f.opened),
        "complaints": (low_share, _scaled(low_share, lambda s: 100 * (1 - s)), f.low, f.answers),
        "proactive": (
            proactive_share,
            _scaled(proactive_share, lambda s: 100 * s),
            f.proactive,
            f.opened,
        ),
    }
    present = sum(weights[key] for key, (_raw, value, *_rest) in made.items() if value is not None)
    return [
        Component(
            key=key,
            weight=weights[key],
            value=value,
            raw=raw,
            part=part,
            count=count,
            effective_weight=None if value is None or not present else weights[key] * 100 / present,
        )
        for key, (raw, value, part, count) in made.items()
    ]


def weighted_score(components: Iterable[Component]) -> float | None:
    """The weighted mean of the components with data (their weights spread over the missing
    ones'); None when none has data or the present ones weigh nothing."""
    present = [c for c in components if c.value is not None]
    total = sum(c.weight for c in present)
    if not total:
        return None
    return sum(c.weight * c.value for c in present) / total


@dataclass
class ScoreRow:
    kind: str  # "agent", "team" or "all"
    key: object
    name: str
    team_name: str
    components: list[Component]
    score: float | None
    active: bool = True
    members: int = 0  # a team's (or all) agents shown

    @property
    def reweighted(self) -> bool:
        return self.score is not None and any(c.missing for c in self.components)

    @property
    def missing_labels(self) -> str:
        return ", ".join(c.label for c in self.components if c.missing)

    @property
    def formula(self) -> str:
        """The weighted mean written out: "40% × 62.5 + 20% × 75 + … = 67.5"."""
        if self.score is None:
            return ""
        terms = " + ".join(
            f"{_short(c.effective_weight)}% × {_short(c.value)}"
            for c in self.components
            if c.value is not None
        )
        return f"{terms} = {self.score:.1f}"

    def sort_value(self, key: str):
        if key == "agent":
            return self.name.casefold()
        if key == "team":
            return self.team_name.casefold()
        if key == "score":
            return self.score
        return next(c.value for c in self.components if c.key == key)


def _row(kind, key, name, team_name, figures, *, weights, target, active=True) -> ScoreRow:
    components = components_of(figures or Figures(), weights=weights, target_minutes=target)
    return ScoreRow(
        kind=kind,
        key=key,
        name=name,
        team_name=team_name,
        components=components,
        score=weighted_score(components),
        active=active,
    )


@dataclass
class Scoreboard:
    agents: list[ScoreRow]
    teams: list[ScoreRow]
    overall: ScoreRow
    weights: dict[str, int]
    target_minutes: int
    agent_count: int = 0


def _display_name(user) -> str:
    full = user.get_full_name().strip()
    return full or user.username


def scoreboard(*, scope: Scope) -> Scoreboard:
    """Every agent of the scope (active ones, and those with data in the period), the teams of
    those agents and all of them together, scored: ten queries."""
    weights = scorecard_weights()
    target = response_target_minutes()
    profiles = (
        AgentProfile.objects.using(reports_db())
        .select_related("user", "team")
        .order_by("user__username")
    )
    if scope.team is not None:
        profiles = profiles.filter(team=scope.team)
    by_agent = figures_by(scope, "agent")
    by_team = figures_by(scope, "team")
    overall = figures_by(scope, ALL).get(ALL)
    options = {"weights": weights, "target": target}
    agents, teams = [], {}
    for profile in profiles:
        user = profile.user
        figures = by_agent.get(user.pk)
        if not user.is_active and not (figures and figures.has_data):
            continue
        team_name = profile.team.name if profile.team else ""
        agents.append(
            _row(
                "agent",
                user.pk,
                _display_name(user),
                team_name,
                figures,
                active=user.is_active,
                **options,
            )
        )
        if profile.team is not None:
            if profile.team.pk not in teams:
                teams[profile.team.pk] = _row(
                    "team",
                    profile.team.pk,
                    team_name,
                    team_name,
                    by_team.get(profile.team.pk),
                    **options,
                )
            teams[profile.team.pk].members += 1
    everyone = _row("all", ALL, gettext("All agents"), "", overall, **options)
    everyone.members = len(agents)
    return Scoreboard(
        agents=agents,
        teams=sorted(teams.values(), key=lambda row: row.name.casefold()),
        overall=everyone,
        weights=weights,
        target_minutes=target,
        agent_count=len(agents),
    )


# --- sorting --------------------------------------------------------------------------------

SORT_KEYS = ("agent", "team", "score", *COMPONENTS)
TEXT_KEYS = ("agent", "team")
DEFAULT_SORT = "score"


def parse_sort(data) -> tuple[str, str]:
    """`?sort=` among SORT_KEYS (else the score) and `?dir=` asc or desc (else the column's
    natural one: names A-Z, figures best first)."""
    key = data.get("sort", "")
    if key not in SORT_KEYS:
        key = DEFAULT_SORT
    direction = data.get("dir", "")
    if direction not in ("asc", "desc"):
        direction = "asc" if key in TEXT_KEYS else "desc"
    return key, direction


def sort_rows(rows: list[ScoreRow], key: str, direction: str) -> list[ScoreRow]:
    """Rows ordered by `key`; rows without a value ("—") last in either direction, then by
    name."""
    by_name = sorted(rows, key=lambda row: (row.name.casefold(), str(row.key)))
    known = [row for row in by_name if row.sort_value(key) is not None]
    unknown = [row for row in by_name if row.sort_value(key) is None]
    known.sort(key=lambda row: row.sort_value(key), reverse=direction == "desc")
    return known + unknown


# --- the view -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    weight: int | None
    aria_sort: str
    query: str  # the query string that sorts by this column (the other way when it is sorted)
    how: str = ""


def _columns(
    scope: Scope, key: str, direction: str, weights: dict[str, int], how: dict[str, str]
) -> list[Column]:
    columns = []
    labels = {"agent": gettext("Agent"), "team": gettext("Team"), "score": gettext("Score")}
    for name in SORT_KEYS:
        natural = "asc" if name in TEXT_KEYS else "desc"
        if name == key:
            aria = "ascending" if direction == "asc" else "descending"
            next_direction = "desc" if direction == "asc" else "asc"
        else:
            aria, next_direction = "none", natural
        columns.append(
            Column(
                key=name,
                label=labels.get(name) or str(LABELS[name]),
                weight=weights.get(name),
                aria_sort=aria,
                query=scope.query(sort=name, dir=next_direction),
                how=how.get(name, ""),
            )
        )
    return columns


def how_computed(target_minutes: int) -> dict[str, str]:
    """One sentence per component: how its raw figure is made and normalised to 0-100."""
    zero = RESPONSE_ZERO_FACTOR * target_minutes
    return {
        "satisfaction": gettext(
            "Mean rating (1-5) of the surveys answered in the period for tickets the agent had "
            "when they were solved; normalised as (mean − 1) / 4 × 100."
        ),
        "response_time": gettext(
            "Median time from a ticket's opening (for a proactive ticket: the delay's "
            "detection) to its first public reply, over the agent's tickets first answered in "
            "the period; 100 at or under the target of %(target)s min, falling linearly to 0 at "
            "%(zero)s min (%(factor)s× the target) and beyond."
        )
        % {"target": target_minutes, "zero": zero, "factor": RESPONSE_ZERO_FACTOR},
        "resolution": gettext(
            "Of the tickets opened in the period and assigned to the agent, the share solved "
            "or closed; solved / assigned × 100."
        ),
        "complaints": gettext(
            "Share of the agent's surveys answered in the period with a rating of 1 or 2; "
            "normalised as 100 × (1 − share)."
        ),
        "proactive": gettext(
            "Of the tickets opened in the period and assigned to the agent, the share where we "
            "spoke first: opened by delay detection, or answered before the customer wrote; "
            "share × 100."
        ),
    }


def _csv_rows(board: Scoreboard, agents: list[ScoreRow]) -> Iterator[list]:
    for row in [*agents, *board.teams, board.overall]:
        line = [
            row.kind,
            row.name,
            row.team_name,
            "" if row.score is None else f"{row.score:.1f}",
        ]
        for c in row.components:
            raw = "" if c.raw is None else f"{c.raw:.4f}".rstrip("0").rstrip(".")
            line += [
                raw,
                c.count,
                "" if c.value is None else f"{c.value:.1f}",
                c.weight,
                "" if c.effective_weight is None else f"{c.effective_weight:.1f}",
            ]
        yield line


def _csv_header() -> list[str]:
    header = [gettext("Row"), gettext("Name"), gettext("Team"), gettext("Score")]
    raw_names = {
        "satisfaction": gettext("mean rating"),
        "response_time": gettext("median minutes"),
        "resolution": gettext("share solved"),
        "complaints": gettext("share rated 1-2"),
        "proactive": gettext("share proactive"),
    }
    for key in COMPONENTS:
        label = str(LABELS[key])
        header += [
            f"{label}: {raw_names[key]}",
            f"{label}: {gettext('count')}",
            f"{label}: {gettext('value 0-100')}",
            f"{label}: {gettext('weight %')}",
            f"{label}: {gettext('weight used %')}",
        ]
    return header


@require_GET
@login_required
@permission_required("tickets.supervise", raise_exception=True)
def scorecards(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    scope, form = scope_from(request.GET, now=now)
    sort, direction = parse_sort(request.GET)
    board = scoreboard(scope=scope)
    how = how_computed(board.target_minutes)
    agents = sort_rows(board.agents, sort, direction)
    if wants_csv(request):
        return csv_response("agent-scorecards", _csv_header(), _csv_rows(board, agents))
    page = Paginator(agents, PAGE_SIZE).get_page(parse_page(request.GET.get("page")))
    context = {
        "scope": scope,
        "form": form,
        "board": board,
        "page": page,
        "teams": sort_rows(board.teams, sort, direction),
        "columns": _columns(scope, sort, direction, board.weights, how),
        "how": [(str(LABELS[key]), board.weights[key], text) for key, text in how.items()],
        "sort": sort,
        "direction": direction,
        "sort_query": scope.query(sort=sort, dir=direction),
        "csv_query": scope.query(sort=sort, dir=direction, format="csv"),
        "now": now,
    }
    return render(request, "supervisor/scorecards.html", context)
