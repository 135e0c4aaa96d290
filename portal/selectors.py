"""What the customer's case page shows, read in a fixed number of queries.

`case_page(link, now=...)` takes the link `portal.access.case_link` loaded (with the ticket,
customer, shipment, carrier, lane, incident and agent) and reads, one query each: the public
timeline events (newest CASE_EVENTS), the conversation's public messages (newest
CASE_MESSAGES), the parcel's scans (newest CASE_SCANS), the first names of the agents the
timeline names, the remedies the customer was offered and the survey of the latest
resolution; the next clock we keep to the customer came with the link. The count does not grow
with events or scans (tests/portal/test_page.py asserts it at two sizes). A page once rendered
is served again while its case is unchanged (portal.page_cache).

Only what the customer may read leaves this module, as plain values: no internal note (they
are never public, and messages are read by kind), no agent surname (first names only, from the
users table), no SLA timer name, priority, team, tier or money limit. Templates get these
dataclasses, never the rows.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.dateformat import DateFormat, TimeFormat, re_escaped, re_formatchars
from django.utils.formats import get_format
from django.utils.timezone import template_localtime
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from compensation.models import CompensationOffer, OfferStatus
from compensation.texts import describe_offer
from portal.access import REPLY_KINDS
from portal.forms import phone_digits, postal_code
from portal.links import ticket_reachable
from portal.models import LinkKind, ProgressLink
from shipments.models import FINAL_STATUSES, Shipment, ShipmentStatus, TrackingEvent
from tickets.models import (
    Message,
    SatisfactionSurvey,
    SLATimer,
    Ticket,
    TicketEvent,
    TicketStatus,
    TimerKind,
    TimerStatus,
)
from tickets.services import REOPEN_WINDOW, survey_editable, survey_open

CASE_EVENTS = 60
CASE_MESSAGES = 40
CASE_SCANS = 60
# What the page shows at first, newest first in meaning (a phone screen, and a page that
# serves fast): the latest steps, scans and messages; "show all" (?all=1) shows everything
# read above. The steps bar and the estimate always use every event read.
SHOWN_EVENTS = 12
SHOWN_MESSAGES = 10
SHOWN_SCANS = 10
# The estimate is "fairly sure" when the lane's statistics rest on this many deliveries and the
# last scan is fresh, "a rough estimate" with fewer (shipments.eta borrows a wider group's
# statistics below 20).
SURE_DELIVERIES = 100
FRESH_SCAN = dt.timedelta(hours=72)

Kind = TicketEvent.Kind

# The steps of a case the customer follows (shared/DOMAIN.md, "Customer-visible progress").
STEPS = (
    ("received", _("Received")),
    ("assigned", _("With an agent")),
    ("investigating", _("Investigating with the carrier")),
    ("remedy", _("Remedy offered")),
    ("resolved", _("Resolved")),
)


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    done: bool
    current: bool


class Stamped:
    """A row's moment `at` as the page writes it, in the zone and language active while the
    page renders: `at_iso` for a <time datetime> (what `|date:'c'` gives) and `at_text` (what
    `|date:"SHORT_DATETIME_FORMAT"` gives). The same text as those filters for a fraction of
    their cost: the page writes a moment on each of up to 160 rows, and the two filters took
    about 43 µs a row, 4.6 of the 11 ms of rendering the benchmark's page (107 rows;
    bench/bench_portal.py, docs/PERFORMANCE.md)."""

    at: dt.datetime

    @property
    def at_iso(self) -> str:
        return template_localtime(self.at).isoformat()  # DateFormat.c

    @property
    def at_text(self) -> str:
        return local_format(template_localtime(self.at), get_format("SHORT_DATETIME_FORMAT"))


# Format characters of django.utils.dateformat whose text depends on the day alone, or on the
# hour and minute alone: their text is worked out once per language and day, or per language
# and minute of the day (1,440 of them), not once per row. The others (seconds, time zone,
# timestamps) are formatted for each value, as DateFormat does.
DAY_CHARACTERS = frozenset("bdDEFjlLmMnNoStwWyYz")
CLOCK_CHARACTERS = frozenset("aAfgGhHiP")


def local_format(value: dt.datetime, format_string: str) -> str:
    """`DateFormat(value).format(format_string)`, with the day's and the clock's pieces from a
    cache (the same text: every piece is still made by DateFormat)."""
    language = get_language()
    pieces = []
    formatter = None
    for is_character, text in _format_pieces(format_string):
        if not is_character:
            pieces.append(text)
        elif text in DAY_CHARACTERS:
            pieces.append(_day_piece(language, text, value.date()))
        elif text in CLOCK_CHARACTERS:
            pieces.append(_clock_piece(language, text, value.hour, value.minute))
        else:
            formatter = formatter or DateFormat(value)
            pieces.append(str(getattr(formatter, text)()))
    return "".join(pieces)


@functools.lru_cache(maxsize=64)
def _format_pieces(format_string: str) -> tuple[tuple[bool, str], ...]:
    """The format split as DateFormat.format splits it: (a format character?, its text)."""
    return tuple(
        (True, piece) if n % 2 else (False, re_escaped.sub(r"\1", piece))
        for n, piece in enumerate(re_formatchars.split(str(format_string)))
        if piece
    )


@functools.lru_cache(maxsize=4096)
def _day_piece(language: str | None, character: str, day: dt.date) -> str:
    return str(getattr(DateFormat(day), character)())


@functools.lru_cache(maxsize=4096)
def _clock_piece(language: str | None, character: str, hour: int, minute: int) -> str:
    return str(getattr(TimeFormat(dt.time(hour, minute)), character)())


@dataclass(frozen=True)
class StoryEntry(Stamped):
    """One line of the case's public story."""

    at: dt.datetime
    kind: str  # received, assigned, investigating, remedy_offered, remedy_chosen, ...
    agent: str = ""  # an agent's first name
    detail: str = ""  # a remedy's name, a rating


@dataclass(frozen=True)
class ChatMessage(Stamped):
    at: dt.datetime
    from_customer: bool
    author: str  # the agent's first name; "" for the customer
    body: str


@dataclass(frozen=True)
class Scan(Stamped):
    at: dt.datetime
    status: str
    location: str
    description: str


@dataclass(frozen=True)
class Estimate:
    promised: dt.datetime
    estimate: dt.datetime | None
    delivered: dt.datetime | None
    gap_days: int | None  # whole days after the promise (negative: early)
    confidence: str  # sure, rough, carrier, none, delivered
    deliveries: int  # the lane's deliveries behind a "sure"/"rough" estimate


@dataclass(frozen=True)
class Remedy:
    public_id: str
    text: str
    status: str
    choice_group: str
    reference: str


@dataclass(frozen=True)
class NextContact:
    kind: str  # reply_by, update_by, waiting_for_you, carrier, cadence, resolved, closed
    due: dt.datetime | None = None
    days: int = 0


@dataclass
class CasePage:
    ticket: Ticket
    customer: object
    shipment: Shipment | None
    agent_name: str
    steps: list[Step]
    story: list[StoryEntry]
    messages: list[ChatMessage]
    scans: list[Scan]
    estimate: Estimate | None
    incident_text: str
    next_contact: NextContact
    choices: list[Remedy]
    remedies: list[Remedy]
    survey: SatisfactionSurvey | None
    survey_state: str  # none, open, editable, answered, closed
    reply_opens_new: bool
    changes_at: dt.datetime | None = None  # when the passing of time alone changes the page
    older_story: bool = False
    story_hidden: int = 0
    messages_hidden: int = 0
    scans_hidden: int = 0


def first_name(user) -> str:
    """What a customer reads of an agent: the first name, else nothing (a username may hold a
    surname)."""
    return (getattr(user, "first_name", "") or "").strip()


def case_page(link: ProgressLink, *, now: dt.datetime, full: bool = False) -> CasePage:
    """The page of ``link``'s case; ``full``: every step, scan and message read, else the
    latest SHOWN_* of each (how many more there are is on the page, with a link to them)."""
    ticket = link.ticket
    shipment = ticket.shipment
    # Rows as named tuples, not model instances: the page reads four columns of each.
    events = list(
        TicketEvent.objects.filter(ticket=ticket, is_public=True)
        .exclude(kind=Kind.NOTE)
        .values_list("kind", "data", "created_at", "actor_id", named=True)
        .order_by("-created_at", "-id")[: CASE_EVENTS + 1]
    )
    older = len(events) > CASE_EVENTS
    events = events[:CASE_EVENTS][::-1]
    messages = list(
        Message.objects.filter(ticket=ticket, kind=Message.Kind.PUBLIC)
        .values_list("direction", "body", "created_at", "author_id", named=True)
        .order_by("-created_at", "-id")[:CASE_MESSAGES]
    )[::-1]
    names = _first_names(events, messages, ticket)
    offers = _offers(ticket)
    survey = latest_survey(
        ticket, "pk", "ticket_id", "resolved_at", "rating", "reason", "comment", "answered_at"
    )
    story = _story(events, names)
    scans = _scans(shipment)
    chat = [
        ChatMessage(
            at=message.created_at,
            from_customer=message.direction == Message.Direction.INBOUND,
            author=names.get(message.author_id, ""),
            body=message.body,
        )
        for message in messages
    ]
    steps = _steps(ticket, story, offers)
    hidden = {"story": 0, "messages": 0, "scans": 0}
    if not full:
        hidden = {
            "story": max(len(story) - SHOWN_EVENTS, 0),
            "messages": max(len(chat) - SHOWN_MESSAGES, 0),
            "scans": max(len(scans) - SHOWN_SCANS, 0),
        }
        story, chat, scans = story[-SHOWN_EVENTS:], chat[-SHOWN_MESSAGES:], scans[:SHOWN_SCANS]
    next_contact = _next_contact(link, ticket, shipment, now=now)
    return CasePage(
        ticket=ticket,
        customer=ticket.customer,
        shipment=shipment,
        agent_name=first_name(ticket.assignee) if ticket.assignee_id else "",
        steps=steps,
        story=story,
        older_story=older,
        story_hidden=hidden["story"],
        messages_hidden=hidden["messages"],
        scans_hidden=hidden["scans"],
        messages=chat,
        scans=scans,
        estimate=_estimate(shipment, now=now),
        incident_text=(
            ticket.incident.explanation(ticket.customer.language) if ticket.incident else ""
        ),
        next_contact=next_contact,
        changes_at=_changes_at(ticket, shipment, survey, next_contact, now=now),
        choices=[o for o in offers if o.status == OfferStatus.OFFERED and o.choice_group],
        remedies=[o for o in offers if not (o.status == OfferStatus.OFFERED and o.choice_group)],
        survey=survey if _survey_shown(ticket, survey) else None,
        survey_state=_survey_state(ticket, survey, now=now),
        reply_opens_new=ticket.status == TicketStatus.CLOSED
        or (
            ticket.status == TicketStatus.SOLVED
            and ticket.solved_at is not None
            and now - ticket.solved_at > REOPEN_WINDOW
        ),
    )


def _changes_at(
    ticket: Ticket,
    shipment: Shipment | None,
    survey: SatisfactionSurvey | None,
    next_contact: NextContact,
    *,
    now: dt.datetime,
) -> dt.datetime | None:
    """The first moment after `now` at which the page would say something else with nothing
    else changed: the estimate passes, the last scan stops being fresh, the clock we keep runs
    out, the reopen window or the survey closes (portal.page_cache keeps a page no longer)."""
    moments = [next_contact.due if next_contact.kind in ("reply_by", "update_by") else None]
    if shipment is not None:
        moments += [
            shipment.told_eta,
            shipment.last_event_at + FRESH_SCAN if shipment.last_event_at else None,
        ]
    if ticket.solved_at is not None:
        moments.append(ticket.solved_at + REOPEN_WINDOW)
    if survey is not None:
        moments.append(survey.resolved_at + dt.timedelta(days=settings.SURVEY_CLOSE_DAYS))
        if survey.answered_at is not None:
            moments.append(survey.answered_at + dt.timedelta(days=settings.SURVEY_EDIT_DAYS))
    later = [moment for moment in moments if moment is not None and moment >= now]
    return min(later, default=None)


def latest_survey(ticket: Ticket, *fields: str) -> SatisfactionSurvey | None:
    """The survey of the ticket's latest resolution (only ``fields`` when given)."""
    surveys = SatisfactionSurvey.objects.filter(ticket=ticket).order_by("-resolved_at")
    return (surveys.only(*fields) if fields else surveys).first()


# --- lookup form and agents' panel ---------------------------------------------------------------

# The lookup form reads at most this many tickets of one order number.
LOOKUP_CANDIDATES = 20
# A phone number proves an order when at least this many trailing digits agree.
PHONE_DIGITS = 7


def find_case(reference: str, proof: str, *, now: dt.datetime) -> Ticket | None:
    """The newest reachable ticket about the order ``reference`` (its order or tracking
    number) that ``proof`` matches: the customer's email or phone, or the order's postal code.
    One query by the number (indexed), the proof checked here."""
    candidates = (
        Ticket.objects.filter(ticket_reachable(now))
        .filter(Q(shipment__order_number=reference) | Q(shipment__tracking_number=reference))
        .select_related("customer", "shipment")
        .only(
            "pk",
            "public_id",
            "customer__email",
            "customer__phone",
            "shipment__destination_postal_code",
        )
        .order_by("-created_at", "-pk")[:LOOKUP_CANDIDATES]
    )
    return next((ticket for ticket in candidates if _proves(ticket, proof)), None)


def _proves(ticket: Ticket, proof: str) -> bool:
    email = ticket.customer.email.strip()
    if email and email.casefold() == proof.casefold():
        return True
    code = postal_code(proof)
    if code and postal_code(ticket.shipment.destination_postal_code) == code:
        return True
    # A phone number as typed: with or without the country code or the trunk zero ("+49 30
    # 1234567", "030 1234567"): the trailing digits must agree, at least PHONE_DIGITS of them.
    stored, given = phone_digits(ticket.customer.phone), phone_digits(proof).lstrip("0")
    length = min(len(stored), len(given))
    return length >= PHONE_DIGITS and stored[-length:] == given[-length:]


def link_state(ticket: Ticket, *, now: dt.datetime) -> dict:
    """What the ticket page's "Progress page" panel says of the ticket's links (one query)."""
    rows = list(
        ProgressLink.objects.filter(ticket=ticket)
        .only("kind", "created_at", "live_until", "revoked_at")
        .order_by("-created_at")[:50]
    )
    ttl = dt.timedelta(days=settings.PROGRESS_LINK_TTL_DAYS)
    expires_at = ticket.closed_at + ttl if ticket.closed_at else None
    reachable = expires_at is None or expires_at > now
    live = [
        row
        for row in rows
        if reachable
        and row.revoked_at is None
        and row.kind == LinkKind.NOTICE
        and (row.live_until is None or row.live_until > now)
    ]
    sessions = [
        row for row in rows if reachable and row.revoked_at is None and row.kind != LinkKind.NOTICE
    ]
    return {
        "live": live[0] if live else None,
        "live_count": len(live),
        "sessions": len(sessions),
        "last_sent": next((row.created_at for row in rows if row.kind == LinkKind.NOTICE), None),
        "revoked_at": next((row.revoked_at for row in rows if row.revoked_at), None),
        "expires_at": expires_at,
        "any_working": bool(live or sessions),
    }


# --- pieces ------------------------------------------------------------------------------------


def _first_names(events, messages, ticket: Ticket) -> dict[int, str]:
    """First names of the agents the story and the conversation name (one query)."""
    ids = {event.data.get("assignee") for event in events if event.kind == Kind.ASSIGNED}
    ids |= {message.author_id for message in messages if message.author_id}
    ids = {value for value in ids if isinstance(value, int)}
    if ticket.assignee_id:
        ids.discard(ticket.assignee_id)
    names = {ticket.assignee_id: first_name(ticket.assignee)} if ticket.assignee_id else {}
    if ids:
        names |= {
            pk: (name or "").strip()
            for pk, name in get_user_model()
            .objects.filter(pk__in=ids)
            .values_list("pk", "first_name")
        }
    return names


def _story(events, names: dict[int, str]) -> list[StoryEntry]:
    story: list[StoryEntry] = []
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        at = event.created_at
        if event.kind == Kind.CREATED:
            kind = "detected" if data.get("source") == "proactive" else "received"
            story.append(StoryEntry(at, kind))
        elif event.kind == Kind.ASSIGNED:
            agent = names.get(data.get("assignee"), "")
            story.append(StoryEntry(at, "assigned", agent=agent))
        elif event.kind == Kind.CUSTOMER_MESSAGE:
            story.append(StoryEntry(at, "you_wrote"))
        elif event.kind == Kind.AGENT_REPLY:
            story.append(StoryEntry(at, "replied", agent=names.get(event.actor_id, "")))
        elif event.kind == Kind.CARRIER_CONTACTED or (
            event.kind == Kind.STATUS_CHANGED and data.get("new") == TicketStatus.ON_HOLD
        ):
            story.append(StoryEntry(at, "investigating"))
        elif event.kind == Kind.STATUS_CHANGED and data.get("new") == TicketStatus.SOLVED:
            story.append(StoryEntry(at, "resolved"))
        elif event.kind == Kind.STATUS_CHANGED and data.get("new") == TicketStatus.CLOSED:
            story.append(StoryEntry(at, "closed"))
        elif event.kind == Kind.REOPENED:
            story.append(StoryEntry(at, "reopened"))
        elif event.kind in (
            Kind.COMPENSATION_OFFERED,
            Kind.COMPENSATION_ACCEPTED,
            Kind.COMPENSATION_ISSUED,
        ):
            kind = {
                Kind.COMPENSATION_OFFERED: "remedy_offered",
                Kind.COMPENSATION_ACCEPTED: "remedy_chosen",
                Kind.COMPENSATION_ISSUED: "remedy_issued",
            }[event.kind]
            story.append(StoryEntry(at, kind, detail=_remedy_phrase(data)))
        elif event.kind == Kind.SURVEY_ANSWERED and data.get("rating"):
            story.append(StoryEntry(at, "rated", detail=str(data["rating"])))
    return story


def _remedy_phrase(data: dict) -> str:
    """The remedy of a timeline event in words, from the event's own details."""
    offer = CompensationOffer(
        kind=data.get("kind", ""),
        amount=_decimal(data.get("amount")),
        currency=data.get("currency") or "",
        percent=_decimal(data.get("percent")),
        points=data.get("points") if isinstance(data.get("points"), int) else None,
    )
    return describe_offer(offer) if offer.kind else ""


def _decimal(value) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except ArithmeticError:
        return None


def _steps(ticket: Ticket, story: list[StoryEntry], offers: list[Remedy]) -> list[Step]:
    seen = {entry.kind for entry in story}
    done = {
        "received": True,
        "assigned": ticket.assignee_id is not None or "assigned" in seen or "replied" in seen,
        "investigating": "investigating" in seen,
        "remedy": bool(offers) or bool(seen & {"remedy_offered", "remedy_issued"}),
        "resolved": ticket.status in (TicketStatus.SOLVED, TicketStatus.CLOSED),
    }
    reached = [key for key, _label in STEPS if done[key]]
    current = reached[-1] if reached else "received"
    return [
        Step(key=key, label=str(label), done=done[key], current=key == current)
        for key, label in STEPS
    ]


def _offers(ticket: Ticket) -> list[Remedy]:
    """The remedies the customer was offered, chose or received (never one still waiting for
    a supervisor, nor a rejected proposal: those are ours)."""
    rows = (
        CompensationOffer.objects.filter(
            ticket=ticket,
            status__in=(OfferStatus.OFFERED, OfferStatus.ACCEPTED, OfferStatus.ISSUED),
        )
        .only(
            "public_id",
            "kind",
            "amount",
            "currency",
            "percent",
            "points",
            "status",
            "choice_group",
            "issued_reference",
            "created_at",
        )
        .order_by("created_at", "pk")
    )
    return [
        Remedy(
            public_id=str(row.public_id),
            text=describe_offer(row),
            status=row.status,
            choice_group=str(row.choice_group) if row.choice_group else "",
            reference=row.issued_reference if row.status == OfferStatus.ISSUED else "",
        )
        for row in rows
    ]


def _scans(shipment: Shipment | None) -> list[Scan]:
    if shipment is None:
        return []
    rows = list(
        TrackingEvent.objects.filter(shipment=shipment, unmapped=False)
        .values_list("occurred_at", "status", "location", "description")
        .order_by("-occurred_at", "-id")[:CASE_SCANS]
    )
    # Each status's label once (get_status_display builds and translates every choice for
    # each row it is called on).
    choices = dict(TrackingEvent._meta.get_field("status").flatchoices)
    labels = {status: str(choices.get(status, status)) for status in {row[1] for row in rows}}
    return [
        Scan(at=at, status=labels[status], location=location, description=description)
        for at, status, location, description in rows
    ]


def _estimate(shipment: Shipment | None, *, now: dt.datetime) -> Estimate | None:
    if shipment is None:
        return None
    if shipment.status == ShipmentStatus.DELIVERED and shipment.delivered_at:
        gap = _gap_days(shipment.delivered_at, shipment.promised_at)
        return Estimate(shipment.promised_at, None, shipment.delivered_at, gap, "delivered", 0)
    # The date the customer's notices gave (the late estimate while "will be late").
    estimate = shipment.told_eta
    if estimate is not None and estimate < now:
        estimate = None  # a date that has passed is no estimate
    lane = shipment.lane
    deliveries = lane.delivered_count if lane is not None else 0
    fresh = shipment.last_event_at is not None and now - shipment.last_event_at <= FRESH_SCAN
    if estimate is None:
        confidence = "none"
    elif shipment.predicted_eta is None:
        confidence = "carrier"
    elif deliveries >= SURE_DELIVERIES and fresh:
        confidence = "sure"
    else:
        confidence = "rough"
    gap = _gap_days(estimate, shipment.promised_at) if estimate else None
    return Estimate(shipment.promised_at, estimate, None, gap, confidence, deliveries)


def _gap_days(when: dt.datetime, promised: dt.datetime) -> int:
    """Whole days between two moments (rounded: 1.6 days late reads "2 days")."""
    return round((when - promised).total_seconds() / 86400)


def _next_clock(link: ProgressLink) -> tuple[str, dt.datetime | None]:
    """The next answer ("reply_by") or news ("update_by") we owe, and when: the earliest
    running clock. The page's link query read both (portal.access); else one query."""
    if hasattr(link, "page_reply_due"):
        clocks = [("reply_by", link.page_reply_due), ("update_by", link.page_update_due)]
    else:
        timer = (
            SLATimer.objects.filter(
                ticket=link.ticket,
                status=TimerStatus.ACTIVE,
                kind__in=(*REPLY_KINDS, TimerKind.PERIODIC_UPDATE),
            )
            .only("kind", "due_at")
            .order_by("due_at")
            .first()
        )
        if timer is None:
            return "", None
        kind = "update_by" if timer.kind == TimerKind.PERIODIC_UPDATE else "reply_by"
        clocks = [(kind, timer.due_at)]
    clocks = [(kind, due) for kind, due in clocks if due is not None]
    return min(clocks, key=lambda clock: clock[1]) if clocks else ("", None)


def _next_contact(
    link: ProgressLink, ticket: Ticket, shipment: Shipment | None, *, now: dt.datetime
) -> NextContact:
    if ticket.status == TicketStatus.CLOSED:
        return NextContact("closed")
    if ticket.status == TicketStatus.SOLVED:
        return NextContact("resolved", due=(ticket.solved_at or now) + REOPEN_WINDOW)
    if ticket.status == TicketStatus.PENDING:
        return NextContact("waiting_for_you")
    kind, due = _next_clock(link)
    if due is not None and due > now:
        return NextContact(kind, due=due)
    late = shipment is not None and shipment.status not in FINAL_STATUSES and shipment.delay_level
    if ticket.status == TicketStatus.ON_HOLD:
        return NextContact("carrier", days=settings.NOTICE_FOLLOW_UP_DAYS)
    if late and shipment.delay_level != "none":
        return NextContact("cadence", days=settings.NOTICE_FOLLOW_UP_DAYS)
    return NextContact("soon")


def _survey_shown(ticket: Ticket, survey: SatisfactionSurvey | None) -> bool:
    return survey is not None and ticket.status in (TicketStatus.SOLVED, TicketStatus.CLOSED)


def _survey_state(ticket: Ticket, survey: SatisfactionSurvey | None, *, now: dt.datetime) -> str:
    if not _survey_shown(ticket, survey):
        return "none"
    if survey_open(survey, now=now):
        return "open"
    if survey_editable(survey, now=now):
        return "editable"
    return "answered" if survey.answered_at else "closed"
