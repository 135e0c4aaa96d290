"""Demo casework: tickets with their timeline, messages and SLA timers.

Each planned case (case_plans.py) is told as a short story: created, routed, answered,
investigated, remedied, solved. The story writes the timeline rows, the
messages and the ticket's own timestamps together, so they always agree. Priorities, remedies and
authority limits come from the database's configuration when it has some (the defaults installed
by migrations), else from shared/DOMAIN.md. SLA timers follow the database's policies as the
ticket engine runs them (sla_timers.py); a ticket no policy matches runs none, as in the engine.
The stories keep those targets as a functioning team does (shared/DOMAIN.md: resolved without
escalation >= 90%): answered in time, solved or waiting on the customer (pending) before the
resolution target; a few late replies, forgotten updates and hard cases escalate.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Protocol

from compensation.models import ApprovalRequest, CompensationOffer
from customers.models import Customer
from demo import texts
from demo.case_plans import Case
from demo.common import DemoRandom, offer_incident
from demo.issuance_data import Issued
from demo.reference import USERS
from demo.sla_timers import SWEEPER_EVENTS, StoryTimers, TeamClock
from notifications.models import Notification
from tickets.models import (
    Message,
    MilestoneTrigger,
    SatisfactionSurvey,
    SLAPolicy,
    SLATimer,
    Ticket,
    TicketEvent,
)
from tickets.sla.policy import policy_matches

H = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)

SEVERITY = {
    "lost": "lost",
    "damaged": "damaged",
    "delay": "delayed",
    "address_change": "delayed",
    "information": "information",
    "other": "information",
}
# Customer tier x severity (shared/DOMAIN.md); used when no PriorityRule rows exist.
DEFAULT_PRIORITY = {
    "vip": {"lost": "urgent", "damaged": "urgent", "delayed": "high", "information": "normal"},
    "frequent_complainer": {
        "lost": "urgent",
        "damaged": "high",
        "delayed": "high",
        "information": "normal",
    },
    "regular": {"lost": "high", "damaged": "high", "delayed": "normal", "information": "low"},
    "new": {"lost": "high", "damaged": "high", "delayed": "normal", "information": "low"},
}
AGENT_LANGUAGE = {spec.username: spec.language for spec in USERS}

# How the demo team keeps its SLA clocks: a functioning team (shared/DOMAIN.md: "resolved
# without escalation >= 90%") meets most goals; these are the slips it still has.
LATE_FIRST_REPLY = 0.07  # a first reply after its target
LATE_NEXT_REPLY = 0.05  # a customer's follow-up answered after its target
FORGOTTEN_UPDATE = 0.08  # a periodic update that never went out
# A case that reached its resolution target unfinished, and stays open (escalated): mostly lost
# parcels the carrier is still tracing.
HARD_CASE = {"lost": 0.25}
HARD_CASE_OTHERWISE = 0.03
# A case finished in time either waits on the customer (pending: an address, a photo, a choice
# between remedies) or is solved; the share that waits, by category.
WAITS_ON_CUSTOMER = {"lost": 0.5, "damaged": 0.4, "address_change": 0.5, "delay": 0.25}
# Nobody waits on a customer for months: older cases were solved.
LONGEST_WAIT = dt.timedelta(days=14)
MONTHS_EN = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


@dataclass
class Target:
    """How long the story gives itself for a step: the policy's target, else a default."""

    minutes: int
    business: bool = False


class Remedies(Protocol):
    """The parts of a story another module writes (remedy_data's ``StoryRemedies``, handed in
    by builder.py, which sits above both): notices, compensation and the survey all tell of a
    ticket, so they know this module, not the other way round."""

    def delay_notices(self, story: Story) -> None:
        """A proactive ticket's notices: one per delay level reached, and on delivery."""

    def offer(self, story: Story) -> None:
        """A remedy for the case, through approval when above the agent's authority."""

    def survey(self, story: Story) -> None:
        """After resolution, perhaps a satisfaction survey, perhaps answered."""


@dataclass
class Casework:
    tickets: list[Ticket] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    events: list[TicketEvent] = field(default_factory=list)
    timers: list[SLATimer] = field(default_factory=list)
    # The sweeper's warning and breach rows name their timer by pk, known once it is saved.
    timer_events: list[tuple[TicketEvent, SLATimer]] = field(default_factory=list)
    offers: list[CompensationOffer] = field(default_factory=list)
    approvals: list[ApprovalRequest] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    surveys: list[SatisfactionSurvey] = field(default_factory=list)
    # A survey notice's dedupe key names its survey by pk (`survey:<survey id>`), known once
    # the survey is saved.
    survey_notices: list[tuple[Notification, SatisfactionSurvey]] = field(default_factory=list)
    # The issued remedies' records (codes, ledgers, reshipped parcels, senior calls).
    issued: Issued = field(default_factory=Issued)

    def link_timer_events(self) -> None:
        """Call after saving the timers, before saving the events."""
        for event, timer in self.timer_events:
            event.data["timer"] = timer.pk

    def key_survey_notices(self) -> None:
        """Call after saving the surveys, before saving the notifications."""
        for note, survey in self.survey_notices:
            note.dedupe_key = f"survey:{survey.ticket_id}:{survey.pk}"


class CaseworkBuilder:
    def __init__(
        self,
        rng: DemoRandom,
        now: dt.datetime,
        users: dict,
        teams: dict,
        *,
        priority_matrix: dict,
        sla_policies: list,
        compensation_policies: list,
        agent_limit: tuple,
        remedies: Remedies,
    ) -> None:
        self.rng = rng
        self.now = now
        self.users = users
        self.teams = teams
        clocks: dict[int | None, TeamClock] = {}  # one schedule per calendar, built once
        for team in teams.values():
            if team.calendar_id not in clocks:
                clocks[team.calendar_id] = TeamClock(team.calendar, now)
        self.clocks = {slug: clocks[team.calendar_id] for slug, team in teams.items()}
        self.priority_matrix = priority_matrix or DEFAULT_PRIORITY
        self.sla_policies = sla_policies
        self.compensation_policies = compensation_policies
        self.agent_limit = agent_limit  # (max amount in EUR, max percent)
        self.remedies = remedies
        self.out = Casework()
        self.dedupe_keys: set[str] = set()

    # --- telling the stories ------------------------------------------------------------------

    def build(self, cases) -> Casework:
        for case in cases:
            story = Story(self, case)
            story.tell()
            story.commit()
        if not any(
            a.status == "pending" and a.requested_by == self.users["agent"]
            for a in self.out.approvals
        ):
            self._force_pending_approval()
        return self.out

    def _force_pending_approval(self) -> None:
        """The supervisor queue is never empty in the demo: one refund above the agent's limit."""
        for ticket in self.out.tickets:
            if ticket.status not in ("open", "on_hold") or ticket.shipment is None:
                continue
            shipment = ticket.shipment
            at = max(ticket.updated_at, self.now - self.rng.hours(1, 5))
            agent = self.users["agent"]
            offer = CompensationOffer(
                public_id=self.rng.uuid4(),
                ticket=ticket,
                customer=ticket.customer,
                incident=offer_incident(ticket),
                kind="full_refund",
                status="pending_approval",
                amount=max(shipment.order_value, self.agent_limit[0] * 2),
                currency=shipment.currency,
                requested_by=agent,
                reason="Customer waited far too long: full refund requested.",
                policy=None,
                created_at=at,
                updated_at=at,
            )
            self.out.offers.append(offer)
            self.out.approvals.append(
                ApprovalRequest(
                    offer=offer,
                    status="pending",
                    requested_by=agent,
                    requested_at=at,
                    note=offer.reason,
                )
            )
            self.out.events.append(
                TicketEvent(
                    ticket=ticket,
                    kind="compensation_proposed",
                    actor=agent,
                    is_public=False,
                    data={"offer": str(offer.public_id), "kind": offer.kind},
                    created_at=at,
                )
            )
            return

    # --- shared lookups -----------------------------------------------------------------------

    def priority(self, tier: str, category: str) -> str:
        row = self.priority_matrix.get(tier) or DEFAULT_PRIORITY["regular"]
        return row.get(SEVERITY[category], "normal")

    def sla_policy(self, ticket: Ticket, tier: str) -> SLAPolicy | None:
        """The first active policy that fits, as `tickets.sla.policy.match_policy` picks it."""
        for policy in self.sla_policies:
            if policy_matches(
                policy,
                priority=ticket.priority,
                category=ticket.category,
                tier=tier,
                source=ticket.source,
            ):
                return policy
        return None

    def team_for(self, case: Case) -> str:
        customer = case.customer
        if customer.language == texts.ZH or customer.region == "asia":
            return "asia-support"
        if case.category in ("lost", "damaged"):
            return "claims"
        return "logistics-europe"

    def assignee_for(self, case: Case, slug: str):
        customer = case.customer
        if case.status == "new":
            return None
        if slug == "asia-support":
            user = self.users["agent2"]
        elif customer.tier == "vip":
            user = self.users["agent"]  # VIPs go to the senior agent
        elif slug == "claims":
            user = self.users["supervisor"] if self.rng.chance(0.6) else self.users["agent"]
        else:
            user = self.users["agent"]
        if case.status == "open" and self.rng.chance(0.1):
            user = None  # routed to the team, not yet picked up
        return user

    def unique_key(self, key: str) -> str | None:
        if key in self.dedupe_keys:
            return None
        self.dedupe_keys.add(key)
        return key


def local_date(moment: dt.datetime, zone: str, language: str) -> str:
    local = moment.astimezone(zoneinfo.ZoneInfo(zone))
    if language == texts.ZH:
        return f"{local.month}月{local.day}日"
    return f"{local.day} {MONTHS_EN[local.month - 1]}"


def first_name(customer: Customer) -> str:
    if customer.language == texts.ZH:
        return customer.name
    return customer.name.split(" ")[0]


class Story:
    """One ticket told from creation to its current status, at plausible times."""

    def __init__(self, builder: CaseworkBuilder, case: Case):
        self.b = builder
        self.rng = builder.rng
        self.now = builder.now
        self.case = case
        self.customer = case.customer
        self.shipment = case.shipment
        self.language = case.customer.language
        self.events: list[TicketEvent] = []
        self.messages: list[Message] = []
        self.timers: list[SLATimer] = []
        self.timer_events: list[tuple[TicketEvent, SLATimer]] = []
        self.offers: list[CompensationOffer] = []
        self.approvals: list[ApprovalRequest] = []
        self.surveys: list[SatisfactionSurvey] = []
        self.t = case.created_at
        self.limit = self.now - MINUTE
        self.inbound: list[dt.datetime] = []
        self.outbound: list[dt.datetime] = []  # public agent replies
        self.notices: list[dt.datetime] = []  # notifications sent about the ticket
        self.status_times: dict[str, dt.datetime] = {}
        self.carrier_contacted_at: dt.datetime | None = None
        team_slug = builder.team_for(case)
        self.clock = builder.clocks[team_slug]
        priority = builder.priority(case.customer.tier, case.category)
        shipment = self.shipment
        if shipment is not None and shipment.delay_level in ("red", "long_delay"):
            # A week or more late is never routine.
            priority = {"low": "high", "normal": "high"}.get(priority, priority)
        self.ticket = Ticket(
            public_id=self.rng.uuid4(),
            subject=self._subject(),
            customer=case.customer,
            shipment=shipment,
            incident=case.incident,
            team=builder.teams[team_slug],
            status="new",
            category=case.category,
            source=case.source,
            priority=priority,
            language=self.language,
            detected_at=shipment.delay_detected_at if case.source == "proactive" else None,
            created_at=case.created_at,
            updated_at=case.created_at,
        )
        self.policy = builder.sla_policy(self.ticket, case.customer.tier)
        self.ticket.sla_policy = self.policy
        self.targets = {
            row.kind: Target(row.minutes, row.business_hours)
            for row in (self.policy.targets.all() if self.policy else ())
            if row.kind != "milestone"
        }
        self.deadline: dt.datetime | None = None  # when the story reaches solved or pending
        self._fit_to_targets()
        self.assignee = builder.assignee_for(case, team_slug)
        self.ticket.assignee = self.assignee

    # --- small pieces -------------------------------------------------------------------------

    def _subject(self) -> str:
        case = self.case
        order = self.shipment.order_number if self.shipment else ""
        if case.source == "proactive":
            cause = texts.CAUSE_SHORT[self.language].get(self.shipment.delay_cause, "")
            return texts.PROACTIVE_SUBJECT[self.language].format(order=order, cause=cause)[:200]
        return self.rng.choice(texts.SUBJECTS[self.language][case.category]).format(order=order)

    def target(self, kind: str, default_minutes: int = 60) -> Target:
        return self.targets.get(kind) or Target(default_minutes)

    def milestone_minutes(self, trigger: str) -> int | None:
        """The shortest milestone of the ticket's policy that ``trigger`` completes."""
        rows = self.policy.targets.all() if self.policy else ()
        return min(
            (row.minutes for row in rows if row.kind == "milestone" and row.met_by == trigger),
            default=None,
        )

    def due(self, target: Target, start: dt.datetime, share: float = 1.0) -> dt.datetime:
        """When ``share`` of the target's time has passed since ``start``, on its clock."""
        return self.clock.add(target.business, start, int(target.minutes * 60 * share))

    def _fit_to_targets(self) -> None:
        """Plan the ticket's status and ending inside its SLA targets, as the team works.

        Only the recent tickets still wait in the queue ("new"); a case the policy wants resolved
        by now was solved or handed to the customer (pending pauses the clocks) before its
        resolution target, except a few hard ones that stay open, overdue. ``self.deadline`` is
        then when the story reaches solved or pending.
        """
        case = self.case
        rng = self.rng
        now = self.now
        created = case.created_at
        first = self.targets.get("first_response")
        resolution = self.targets.get("resolution")
        if case.status == "new":
            overdue = [
                self.due(target, start)
                for target, start in (
                    (first, self.ticket.detected_at or created),
                    (resolution, created),
                )
                if target is not None
            ]
            if any(due <= now for due in overdue):
                case.status = "open"  # picked up long ago: only recent tickets wait
        plan = self.milestone_minutes(MilestoneTrigger.COMPENSATION_PROPOSED)
        if plan is not None and case.status != "new" and not case.remedy:
            # A policy asking for a compensation plan gets one once it falls due.
            start = self.ticket.detected_at or created
            case.remedy = self.due(Target(plan), start) <= now
        if resolution is None:
            return
        if rng.chance(HARD_CASE.get(case.category, HARD_CASE_OTHERWISE)):
            return  # a hard case: whatever it waits for, it takes longer than the target
        due = self.due(resolution, created)
        if case.status in ("new", "open", "on_hold", "pending") and due <= now:
            wait = case.status == "pending" or rng.chance(WAITS_ON_CUSTOMER.get(case.category, 0.3))
            if wait and now - due < LONGEST_WAIT:
                case.status = "pending"
            else:
                case.status = "closed" if rng.chance(0.7) else "solved"
                case.solve_after = None
            case.due_soon = False
        self.deadline = self.due(resolution, created, rng.uniform(0.3, 0.9))

    def step(self, low_hours: float, high_hours: float) -> dt.datetime:
        """Move the story clock on, never past its limit (later beats still need room)."""
        gap = dt.timedelta(hours=self.rng.uniform(low_hours, high_hours))
        gap = max(min(gap, (self.limit - self.t) / 2), dt.timedelta(0))
        self.t = (self.t + gap).replace(second=0, microsecond=0)
        return self.t

    def event(
        self, event_kind: str, at: dt.datetime, actor=None, public: bool = True, **data
    ) -> TicketEvent:
        event = TicketEvent(
            ticket=self.ticket,
            kind=event_kind,
            actor=actor,
            is_public=public and event_kind != "note",
            data=data,
            created_at=at,
        )
        self.events.append(event)
        return event

    def values(self, **extra) -> dict:
        """Placeholder values for the texts, in the customer's language and time zone."""
        shipment = self.shipment
        agent = self.assignee or self.b.users["agent"]
        zone = self.customer.time_zone
        values = {
            "name": first_name(self.customer),
            "order": "",
            "tracking": "",
            "carrier": "",
            "date": "",
            "cause": texts.CAUSE_PLAIN[self.language]["capacity"],
            "eta": local_date(self.now + 2 * 24 * H, zone, self.language),
            "agent": agent.first_name,
            "ref": f"CS{self.rng.digits(8)}",
            "remedy": "",
        }
        if shipment is not None:
            eta = shipment.predicted_eta or shipment.carrier_eta or shipment.promised_at
            values.update(
                order=shipment.order_number,
                tracking=shipment.tracking_number,
                carrier=shipment.carrier.name,
                eta=local_date(eta, zone, self.language),
                date=local_date(shipment.delivered_at or self.now, zone, self.language),
                cause=texts.CAUSE_PLAIN[self.language].get(shipment.delay_cause, values["cause"]),
            )
        values.update(extra)
        return values

    def customer_says(self, body: str, at: dt.datetime, channel: str = "") -> None:
        self.messages.append(
            Message(
                ticket=self.ticket,
                kind="public",
                direction="inbound",
                channel=channel,
                body=body,
                created_at=at,
                updated_at=at,
            )
        )
        self.event("customer_message", at, channel=channel)
        self.inbound.append(at)

    def agent_says(self, body: str, at: dt.datetime, author=None) -> None:
        author = author or self.assignee or self.b.users["agent"]
        channel = "email" if self.customer.email else "sms"
        self.messages.append(
            Message(
                ticket=self.ticket,
                kind="public",
                direction="outbound",
                channel=channel,
                author=author,
                body=body,
                created_at=at,
                updated_at=at,
            )
        )
        self.event("agent_reply", at, actor=author, channel=channel)
        self.outbound.append(at)

    def note(self, at: dt.datetime) -> None:
        author = self.assignee or self.b.users["agent"]
        language = AGENT_LANGUAGE.get(author.username, texts.EN)
        cause = self.shipment.delay_cause if self.shipment else "none"
        notes = texts.NOTES[language]
        body = notes.get(cause, notes["none"]).format(**self.values())
        self.messages.append(
            Message(
                ticket=self.ticket,
                kind="note",
                direction="internal",
                channel="",
                author=author,
                body=body,
                created_at=at,
                updated_at=at,
            )
        )
        self.event("note", at, actor=author, public=False)

    def set_status(self, status: str, at: dt.datetime, actor=None) -> None:
        if status == self.ticket.status:
            return
        self.event("status_changed", at, actor=actor, old=self.ticket.status, new=status)
        self.ticket.status = status
        self.status_times[status] = at

    # --- the story ------------------------------------------------------------------------------

    def tell(self) -> None:
        case = self.case
        rng = self.rng
        ticket = self.ticket
        actor = (self.assignee or self.b.users["agent"]) if case.source == "agent" else None
        self.event(
            "created",
            self.t,
            actor=actor,
            source=case.source,
            category=case.category,
            priority=ticket.priority,
        )
        target = case.status
        if target in ("solved", "closed"):
            self.limit = self._solve_time()
            target = case.status  # a ticket too young to be closed stays solved
        elif target == "pending" and self.deadline is not None:
            self.limit = min(self.limit, self.deadline)
        following = self.target("next_response", 240)
        if case.due_soon and not following.business:
            limit = self.now - dt.timedelta(minutes=following.minutes) + rng.minutes(10, 50)
            if limit - self.t > 2 * H:
                self.limit = limit
            else:
                case.due_soon = False
        else:
            case.due_soon = False

        if case.source == "proactive":
            self.b.remedies.delay_notices(self)
        else:
            channel = {"email": "email", "agent": "phone"}.get(case.source, "")
            body = rng.choice(texts.CUSTOMER_FIRST[self.language][case.category])
            self.customer_says(body.format(**self.values()), self.t, channel)

        if target == "new":
            if case.source == "proactive" and rng.chance(0.3) and self.limit - self.t > 2 * H:
                self.customer_says(
                    rng.choice(texts.CUSTOMER_REPLY_TO_NOTICE[self.language]),
                    self.step(0.5, 12),
                    "email",
                )
            return self.finish()

        # The first answer is planned first: usually inside its target, now and then late.
        # Proactive tickets exist to contact the customer (the notices do not count: no agent
        # wrote them).
        answer = bool(self.inbound) or case.source == "proactive" or rng.chance(0.5)
        reply_at = self._first_reply_at() if answer else self.limit
        limit, self.limit = self.limit, min(self.limit, reply_at)

        # Routed and picked up. A carrier milestone ("contact the courier within 30 min") hurries
        # the pick-up and the call to the carrier, which most agents then make in time.
        courier = self.milestone_minutes(MilestoneTrigger.CARRIER_CONTACTED)
        hurry = min(courier / 60, 1.0) if courier and rng.chance(0.9) else None
        assigned_at = self.step(0.02 * hurry, 0.3 * hurry) if hurry else self.step(0.05, 1)
        if self.assignee is not None:
            self.event(
                "assigned",
                assigned_at,
                assignee=self.assignee.username,
                assignee_name=self.assignee.first_name,
                team=ticket.team.slug,
            )
        self.set_status("open", assigned_at)

        # Investigating with the carrier: the first thing to do for a parcel problem.
        if self.shipment is not None and case.category not in ("information", "other"):
            if hurry:
                at = self.step(0.05 * hurry, 0.4 * hurry)
            else:
                at = self.step(0.05, 0.4) if rng.chance(0.75) else self.step(0.5, 4)
            self.event(
                "carrier_contacted", at, actor=self.assignee, carrier=self.shipment.carrier.code
            )
            self.carrier_contacted_at = at
            self.note(self.step(0.05, 0.5))
        self.limit = limit

        if answer:
            self.t = min(max(reply_at, self.t), self.t + (self.limit - self.t) / 2).replace(
                second=0, microsecond=0
            )
            body = texts.AGENT_FIRST_REPLY[self.language][case.category].format(**self.values())
            self.agent_says(body, self.t)

        # The customer follows up (when the case lasts long enough) and gets an answer.
        if rng.chance(0.5) and self.limit - self.t > 4 * H:
            self._follow_up(target)

        if case.remedy:
            self.b.remedies.offer(self)

        if target == "pending":
            self.agent_says(self._question().format(**self.values()), self.step(0.2, 4))
            self.set_status("pending", self.t, actor=self.assignee)
        elif target == "on_hold":
            self.set_status("on_hold", self.step(0.1, 2), actor=self.assignee)
        elif target in ("solved", "closed"):
            self.solve()
        if case.due_soon:
            self.t = self.limit
            self.customer_says(
                rng.choice(texts.CUSTOMER_FOLLOW_UP[self.language][:2]), self.t, "email"
            )
        self.finish()

    def _first_reply_at(self) -> dt.datetime:
        """When the first public reply goes out: a share of the first-response target after
        its start (detection, for proactive tickets), on the target's clock."""
        ticket = self.ticket
        first = self.targets.get("first_response") or Target(60)
        start = ticket.detected_at or ticket.created_at
        late = self.rng.chance(LATE_FIRST_REPLY)
        share = self.rng.uniform(1.1, 2) if late else self.rng.uniform(0.1, 0.8)
        at = max(self.due(first, start, share), ticket.created_at + self.rng.minutes(2, 10))
        return at.replace(second=0, microsecond=0)

    def _follow_up(self, target: str) -> None:
        """The customer asks for news and is answered inside the next-response target (now and
        then late); on a ticket still being worked, the answer may still be due."""
        rng = self.rng
        asked = self.step(4, 40)
        days = (asked - self.ticket.created_at) / (24 * H)
        # "Any news on my parcel?", or after a few days "It has been three days..."
        body = texts.CUSTOMER_FOLLOW_UP[self.language][1 if days >= 2.5 else 0]
        self.customer_says(body, asked, "email")
        following = self.targets.get("next_response")
        if following is None:
            answer_at = self.step(0.2, 3)
        else:
            waiting = target in ("open", "on_hold") and rng.chance(0.15)
            if waiting and self.due(following, asked) > self.now:
                return  # the answer is still due
            late = rng.chance(LATE_NEXT_REPLY)
            share = rng.uniform(1.1, 2) if late else rng.uniform(0.1, 0.7)
            answer_at = self.due(following, asked, share)
            answer_at = min(answer_at, self.t + (self.limit - self.t) / 2)
            self.t = answer_at.replace(second=0, microsecond=0)
            answer_at = self.t
        self.agent_says(texts.AGENT_UPDATE[self.language][0].format(**self.values()), answer_at)

    def _question(self) -> str:
        """What the ticket waits on the customer for."""
        language = self.language
        if any(offer.status == "offered" for offer in self.offers):
            return texts.AGENT_ASK_CHOICE[language]
        if self.case.category == "damaged":
            return texts.AGENT_ASK_PHOTO[language]
        return texts.AGENT_ASK_CUSTOMER[language]

    def _solve_time(self) -> dt.datetime:
        """When the ticket was solved: after what it waited for, before its resolution target
        (``self.deadline``; none for a hard case) and before now (closed: 4 days)."""
        case = self.case
        created = case.created_at
        earliest = max(case.solve_after or created, created) + self.rng.hours(1, 30)
        if self.deadline is not None:
            earliest = min(earliest, self.deadline)
        if case.status == "closed":
            solved = min(earliest, self.now - 4 * 24 * H - H)
            if solved - created >= 30 * MINUTE:
                return solved.replace(second=0, microsecond=0)
            case.status = "solved"
        solved = min(earliest, self.now - self.rng.hours(0.2, 2))
        if solved - created < 30 * MINUTE:
            solved = created + (self.now - created) * 0.7
        return solved.replace(second=0, microsecond=0)

    def solve(self) -> None:
        """Solved with a last word: delivered, or (a parcel still on its way) the new date and
        "we keep you posted"; a reply from the customer would reopen the ticket."""
        at = self.limit
        shipment = self.shipment
        category = self.case.category
        said_at = max(self.t, at - self.rng.minutes(1, 20))
        body = None
        if shipment is not None and category == "delay":
            delivered = shipment.delivered_at is not None and shipment.delivered_at <= said_at
            body = texts.AGENT_CLOSING if delivered else texts.AGENT_SOLVED_IN_TRANSIT
            body = body[self.language]
        elif not self.outbound:
            body = texts.AGENT_FIRST_REPLY[self.language][category]
        if body is not None:
            self.agent_says(body.format(**self.values()), said_at)
        self.set_status("solved", at, actor=self.assignee)
        self.ticket.solved_at = at
        if self.case.status == "closed":
            closed_at = at + 4 * 24 * H
            self.set_status("closed", closed_at)
            self.ticket.closed_at = closed_at
        self.b.remedies.survey(self)

    # --- timers and bookkeeping -------------------------------------------------------------------

    def keep_posted(self) -> None:
        """While the ticket is worked, the agent writes again before the periodic-update clock
        (which every public reply restarts) runs out; now and then one forgets."""
        target = self.targets.get("periodic_update")
        ticket = self.ticket
        if target is None or not self.outbound or ticket.status == "new":
            return
        # Pending tickets wait on the customer (their clocks are paused); a "due soon" message
        # stays unanswered.
        end = ticket.solved_at or self.status_times.get("pending")
        end = end or (self.limit if self.case.due_soon else self.now - MINUTE)
        replies = sorted(self.outbound)
        last = replies[0]
        for at in [*replies[1:], end]:
            while True:
                due = self.clock.add(target.business, last, target.minutes * 60)
                if due >= at or self.rng.chance(FORGOTTEN_UPDATE):
                    break
                update_at = last + (due - last) * self.rng.uniform(0.6, 0.95)
                update_at = update_at.replace(second=0, microsecond=0)
                body = texts.AGENT_UPDATE[self.language][0].format(**self.values())
                self.agent_says(body, update_at)
                last = update_at
            last = max(last, at)

    def finish(self) -> None:
        ticket = self.ticket
        self.keep_posted()
        ticket.first_response_at = min(self.outbound) if self.outbound else None
        ticket.last_customer_message_at = max(self.inbound) if self.inbound else None
        ticket.last_agent_update_at = max(self.outbound) if self.outbound else None
        StoryTimers(self).write()
        worked = [e for e in self.events if e.kind not in SWEEPER_EVENTS]
        ticket.updated_at = max([ticket.created_at] + [e.created_at for e in worked])
        ticket.version = len(worked)

    def commit(self) -> None:
        out = self.b.out
        out.tickets.append(self.ticket)
        out.messages += self.messages
        out.events += self.events
        out.timers += self.timers
        out.timer_events += self.timer_events
        out.offers += self.offers
        out.approvals += self.approvals
        out.surveys += self.surveys
