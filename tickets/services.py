"""Ticket writes: open, message, reply, note, status, assignment, priority, category, milestones.

Every service follows the same shape (shared/CONVENTIONS.md):

1. lock the ticket row (`SELECT ... FOR UPDATE`) inside `transaction.atomic`;
2. check the optimistic lock when the caller sends the version it saw (`expected_version`):
   two agents saving the same ticket never silently overwrite each other;
3. return early when the ticket is already in the wanted state (a double click is harmless);
4. change the ticket, its SLA timers and the timeline in the same transaction;
5. bump `version` for every change another agent could overwrite (fields, status, assignment,
   public replies); internal notes only append and do not make other agents' forms stale.

Times are read once per operation (`now`); callers and tests may pass it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import Channel, Language
from customers.models import Customer
from tickets import routing
from tickets.models import (
    CLOSED_STATUSES,
    Category,
    Message,
    MilestoneTrigger,
    Priority,
    SatisfactionSurvey,
    SLATimer,
    Source,
    Ticket,
    TicketEvent,
    TicketStatus,
    TimerKind,
    TimerStatus,
)
from tickets.priority import priority_for
from tickets.signals import survey_answered, ticket_opened, ticket_replied, ticket_solved
from tickets.sla import timers as sla
from tickets.sla.policy import match_policy

# A customer who writes within this window after "solved" reopens the ticket; later, the ticket
# is closed (tickets.tasks.close_solved_tickets) and a new message opens a follow-up ticket.
REOPEN_WINDOW = dt.timedelta(days=7)

# Statuses an agent may choose; "new" is only ever set by opening a ticket.
AGENT_STATUSES = (
    TicketStatus.OPEN,
    TicketStatus.PENDING,
    TicketStatus.ON_HOLD,
    TicketStatus.SOLVED,
    TicketStatus.CLOSED,
)

# Messages users see: constants, so tests and the console can rely on them.
STALE_TICKET = _(
    "Someone else changed this ticket while you were working on it. Nothing was saved: "
    "reload the ticket to see their change, then try again."
)
TICKET_CLOSED = _("This ticket is closed. Open a new ticket for a new request.")
ALREADY_ASSIGNED = _("This ticket is already assigned to %(name)s. Ask them or a supervisor.")
NOT_ASSIGNEE = _("Only the assignee or a supervisor can release this ticket.")
NOT_AN_AGENT = _("This user cannot work tickets.")
REASON_REQUIRED = _("Say why you change the priority: the reason goes to the timeline.")
EMPTY_MESSAGE = _("Write a message first.")
INVALID_STATUS = _("Choose a valid status.")
INVALID_PRIORITY = _("Choose a valid priority.")
INVALID_CATEGORY = _("Choose a valid category.")
INVALID_LANGUAGE = _("Choose a valid language.")
INVALID_CHANNEL = _("Choose a valid channel.")
CANNOT_OVERRIDE = _("You may not override priorities.")
NO_SUCH_MILESTONE = _("This milestone is not running on this ticket.")
MESSAGE_TOO_LONG = _("Keep the message under %(limit)s characters.")

MAX_MESSAGE_LENGTH = 20_000
EXCERPT_LENGTH = 140


class StaleTicketError(ValidationError):
    """The ticket changed since the caller read it (optimistic lock)."""

    def __init__(self, current_version: int) -> None:
        super().__init__(STALE_TICKET, code="stale")
        self.current_version = current_version


class TicketActionError(ValidationError):
    """A ticket action that the ticket's state or the input does not allow."""


@dataclass(frozen=True)
class CustomerMessageResult:
    message: Message
    reopened: bool = False
    follow_up: bool = False  # the message opened a new ticket (the old one was closed)


# --- helpers -------------------------------------------------------------------------------


def _lock(ticket: Ticket | int) -> Ticket:
    """Lock the ticket row, then read it with its related rows.

    Two statements on purpose. On PostgreSQL (READ COMMITTED) a `SELECT ... FOR UPDATE` that
    waited for another transaction returns the locked row's new version, but the rows joined to
    it (`select_related`) as of the statement's snapshot: after a concurrent claim the ticket
    would carry the new `assignee_id` with the old (empty) `assignee`, after a re-match the new
    `sla_policy_id` with the old policy. The second statement, run once the lock is held, sees
    every committed change.

    `FOR NO KEY UPDATE`, not `FOR UPDATE`: it serialises writers of the ticket all the same, but
    lets rows that merely reference it be inserted meanwhile. The SLA sweeper inserts timeline
    rows for timers it holds locked; under a plain `FOR UPDATE` it would wait for this ticket
    while a service holding it waits for those timers: a deadlock.
    """
    pk = ticket.pk if isinstance(ticket, Ticket) else ticket
    Ticket.objects.select_for_update(no_key=True).only("pk").get(pk=pk)
    return Ticket.objects.select_related(
        "customer", "team__calendar", "assignee", "sla_policy"
    ).get(pk=pk)


def _check_version(ticket: Ticket, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != ticket.version:
        raise StaleTicketError(ticket.version)


def _save(ticket: Ticket, *fields: str, now: dt.datetime, bump: bool = True) -> None:
    update = set(fields) | {"updated_at"}
    ticket.updated_at = now
    if bump:
        ticket.version += 1
        update.add("version")
    ticket.save(update_fields=sorted(update))


def record_event(
    ticket: Ticket,
    kind: str,
    /,
    *,
    at: dt.datetime,
    actor: Any = None,
    public: bool = False,
    **data: Any,
) -> TicketEvent:
    """One timeline row; `public` rows show on the customer's progress page.

    `ticket` and `kind` are positional-only, so the data may carry its own `kind` (the remedy
    kind of compensation events, which the timeline names)."""
    return TicketEvent.objects.create(
        ticket=ticket, kind=kind, actor=actor, is_public=public, data=data, created_at=at
    )


def _stamp(obj, now: dt.datetime) -> None:
    """Give a new row the operation's time: `created_at` is `auto_now_add`, which reads the clock
    again; only a caller that passed an explicit `now` (an import, a test) sees a difference."""
    if abs((obj.created_at - now).total_seconds()) > 1:
        type(obj).objects.filter(pk=obj.pk).update(created_at=now, updated_at=now)
        obj.created_at = obj.updated_at = now


def _excerpt(body: str) -> str:
    body = " ".join(body.split())
    return body if len(body) <= EXCERPT_LENGTH else body[: EXCERPT_LENGTH - 1] + "…"


def _clean_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise TicketActionError(EMPTY_MESSAGE, code="empty")
    if len(body) > MAX_MESSAGE_LENGTH:
        raise TicketActionError(
            MESSAGE_TOO_LONG, code="too_long", params={"limit": MAX_MESSAGE_LENGTH}
        )
    return body


def _add_message(
    ticket: Ticket, kind: str, body: str, *, at: dt.datetime, channel: str = "", author=None
) -> Message:
    """A message and its timeline row: customer message, agent reply or internal note."""
    direction = {
        TicketEvent.Kind.CUSTOMER_MESSAGE: Message.Direction.INBOUND,
        TicketEvent.Kind.AGENT_REPLY: Message.Direction.OUTBOUND,
        TicketEvent.Kind.NOTE: Message.Direction.INTERNAL,
    }[kind]
    message = Message.objects.create(
        ticket=ticket,
        kind=Message.Kind.NOTE if kind == TicketEvent.Kind.NOTE else Message.Kind.PUBLIC,
        direction=direction,
        channel=channel,
        author=author,
        body=body,
    )
    _stamp(message, at)
    data: dict[str, Any] = {"message": message.pk}
    if kind == TicketEvent.Kind.NOTE:
        data["excerpt"] = _excerpt(body)
    else:
        data["channel"] = channel
    if kind == TicketEvent.Kind.AGENT_REPLY:
        data["agent_name"] = _display_name(author)
    # Notes are never public; customer messages and replies are the conversation itself.
    record_event(ticket, kind, at=at, actor=author, public=kind != TicketEvent.Kind.NOTE, **data)
    return message


def _display_name(user) -> str:
    return user.first_name or user.get_username()


def is_agent(user) -> bool:
    return bool(user and user.is_active and user.has_perm("tickets.work_console"))


def _record_breaches(ticket: Ticket, timers: list[SLATimer], at: dt.datetime) -> None:
    """A timer met late before the sweeper saw it still leaves a breach in the timeline.

    Only timers that `sla.meet` breached just now: one the sweeper breached earlier already has
    its "SLA breached" row, and meeting it late must not add a second one.
    """
    for timer in timers:
        if getattr(timer, "breached_now", False):
            record_event(
                ticket,
                TicketEvent.Kind.SLA_BREACHED,
                at=at,
                timer=timer.pk,
                timer_kind=timer.kind,
                name=timer.name,
                due_at=timer.due_at.isoformat(),
                minutes_late=-(timer.minutes_early or 0),
            )


def _record_milestones(ticket: Ticket, timers: list[SLATimer], at: dt.datetime, actor) -> None:
    for timer in timers:
        if timer.kind == TimerKind.MILESTONE:
            record_event(
                ticket,
                TicketEvent.Kind.MILESTONE_MET,
                at=at,
                actor=actor,
                name=timer.name,
                minutes_early=timer.minutes_early,
            )


def _apply_policy(ticket: Ticket, *, at: dt.datetime, actor=None) -> bool:
    """Re-match the SLA policy after a change of priority or category; recompute timers.

    (A team's calendar change goes through `recompute_team_timers`.)
    """
    policy = match_policy(ticket)
    if policy == ticket.sla_policy:
        return False
    old = ticket.sla_policy.name if ticket.sla_policy else ""
    ticket.sla_policy = policy
    ticket.save(update_fields=["sla_policy"])
    changed = sla.recompute(ticket, at=at, clocks=sla.Clocks(ticket, at=at))
    record_event(
        ticket,
        TicketEvent.Kind.SLA_RECOMPUTED,
        at=at,
        actor=actor,
        old_policy=old,
        new_policy=policy.name if policy else "",
        timers=changed,
    )
    return True


def _assign(ticket: Ticket, assignee, *, at: dt.datetime, actor=None, reason: str = "") -> None:
    previous = ticket.assignee
    ticket.assignee = assignee
    if assignee is None:
        record_event(
            ticket,
            TicketEvent.Kind.UNASSIGNED,
            at=at,
            actor=actor,
            previous=_display_name(previous) if previous else "",
        )
        return
    # The customer sees "assigned to <first name>" (shared/DOMAIN.md), never the full name.
    record_event(
        ticket,
        TicketEvent.Kind.ASSIGNED,
        at=at,
        actor=actor,
        public=True,
        assignee=assignee.pk,
        assignee_name=_display_name(assignee),
        previous=_display_name(previous) if previous else "",
        reason=reason,
    )


# --- opening -------------------------------------------------------------------------------


def ticket_open(
    *,
    customer: Customer,
    subject: str,
    category: str = Category.DELAY,
    source: str = Source.CUSTOMER,
    body: str = "",
    channel: str = "",
    shipment=None,
    incident=None,
    language: str | None = None,
    actor=None,
    detected_at: dt.datetime | None = None,
    priority: str | None = None,
    route: bool = True,
    now: dt.datetime | None = None,
) -> Ticket:
    """Open a ticket: priority from the matrix, routing, SLA policy and timers, timeline.

    1. Priority = customer tier x the category's severity (or `priority` when given: API).
    2. Routing picks the team (category, region) and the least-loaded able agent (VIP: senior).
    3. The first matching SLA policy applies; first response, resolution and milestones start
       (first-contact clocks at `detected_at` for proactive tickets).
    4. `body` is the customer's own words (web form, email, phone call taken by an agent).
    """
    if category not in Category.values:
        raise TicketActionError(INVALID_CATEGORY, code="invalid_category")
    if language is not None and language not in Language.values:
        raise TicketActionError(INVALID_LANGUAGE, code="invalid_language")
    if channel and channel not in Channel.values:
        raise TicketActionError(INVALID_CHANNEL, code="invalid_channel")
    if priority is not None and priority not in Priority.values:
        raise TicketActionError(INVALID_PRIORITY, code="invalid_priority")
    now = now or timezone.now()
    body = (body or "").strip()
    if body:
        body = _clean_body(body)
    if incident is None and shipment is not None:
        incident = shipment.incident
    with transaction.atomic():
        ticket = Ticket(
            subject=(subject or "").strip()[:200] or _excerpt(body)[:200] or str(_("Request")),
            customer=customer,
            shipment=shipment,
            incident=incident,
            category=category,
            source=source,
            language=language or customer.language,
            priority=priority or priority_for(customer_tier=customer.tier, category=category),
            priority_overridden=priority is not None,
            status=TicketStatus.NEW,
            detected_at=detected_at,
            last_customer_message_at=now if body else None,
            created_at=now,
            updated_at=now,
        )
        decision = routing.route_ticket(ticket) if route else None
        if decision is not None:
            ticket.team = decision.team
        ticket.sla_policy = match_policy(ticket)
        ticket.save()
        _stamp(ticket, now)
        record_event(
            ticket,
            TicketEvent.Kind.CREATED,
            at=now,
            actor=actor,
            public=True,
            source=source,
            category=category,
            priority=ticket.priority,
            team=ticket.team.name if ticket.team_id else "",
        )
        if body:
            _add_message(ticket, TicketEvent.Kind.CUSTOMER_MESSAGE, body, at=now, channel=channel)
        if decision is not None and decision.assignee is not None:
            _assign(ticket, decision.assignee, at=now, reason=decision.reason)
            ticket.save(update_fields=["assignee"])
        sla.start_initial_timers(ticket, at=now, clocks=sla.Clocks(ticket, at=now))
        transaction.on_commit(
            lambda: ticket_opened.send(sender=Ticket, ticket_id=ticket.pk, source=source)
        )
    return ticket


# --- customer messages ---------------------------------------------------------------------


def ticket_add_customer_message(
    *, ticket: Ticket, body: str, channel: str = "", now: dt.datetime | None = None
) -> CustomerMessageResult:
    """A message from the customer, from any channel.

    Reopens a ticket solved within `REOPEN_WINDOW`; on a closed ticket (or one solved longer
    ago) it opens a follow-up ticket instead. Resumes clocks paused on the customer, and starts
    the next-response timer unless one already runs (the oldest unanswered message counts) or
    the first response still does.
    """
    body = _clean_body(body)
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        too_late = ticket.status == TicketStatus.CLOSED or (
            ticket.status == TicketStatus.SOLVED
            and ticket.solved_at is not None
            and now - ticket.solved_at > REOPEN_WINDOW
        )
        if too_late:
            follow_up = ticket_open(
                customer=ticket.customer,
                subject=ticket.subject,
                category=ticket.category,
                source=Source.CUSTOMER,
                body=body,
                channel=channel,
                shipment=ticket.shipment,
                language=ticket.language,
                now=now,
            )
            return CustomerMessageResult(
                message=follow_up.messages.order_by("-pk").first(), follow_up=True
            )
        clocks = sla.Clocks(ticket, at=now)
        message = _add_message(
            ticket, TicketEvent.Kind.CUSTOMER_MESSAGE, body, at=now, channel=channel
        )
        reopened = False
        fields = ["last_customer_message_at"]
        ticket.last_customer_message_at = now
        if ticket.status == TicketStatus.SOLVED:
            reopened = True
            ticket.status = TicketStatus.OPEN
            ticket.solved_at = None
            fields += ["status", "solved_at"]
            record_event(ticket, TicketEvent.Kind.REOPENED, at=now, public=True)
            sla.start_timer(ticket, TimerKind.RESOLUTION, at=now, clocks=clocks)
            if ticket.first_response_at:
                sla.start_timer(ticket, TimerKind.PERIODIC_UPDATE, at=now, clocks=clocks)
        elif ticket.status == TicketStatus.PENDING:
            ticket.status = TicketStatus.OPEN
            fields.append("status")
            record_event(
                ticket,
                TicketEvent.Kind.STATUS_CHANGED,
                at=now,
                old=TicketStatus.PENDING,
                new=TicketStatus.OPEN,
                reason="customer_replied",
            )
            sla.resume(ticket, at=now, clocks=clocks)
        # The first response covers messages until the first reply. Without one running (a
        # ticket solved without a reply and reopened now), the next response owes the answer.
        if (
            ticket.first_response_at is not None
            or not sla.running(ticket, TimerKind.FIRST_RESPONSE).exists()
        ):
            sla.start_timer(ticket, TimerKind.NEXT_RESPONSE, at=now, clocks=clocks)
        _save(ticket, *fields, now=now)
    return CustomerMessageResult(message=message, reopened=reopened)


# --- agent actions -------------------------------------------------------------------------


def ticket_reply(
    *,
    ticket: Ticket,
    actor,
    body: str,
    expected_version: int | None = None,
    status: str | None = None,
    channel: str = "",
    now: dt.datetime | None = None,
) -> Message:
    """A public reply to the customer; optionally "reply and set status" in one step.

    Meets first response, next response and the periodic update (which starts again), and the
    milestones met by a public reply. The replying agent takes an unassigned ticket.
    """
    body = _clean_body(body)
    if status is not None and status not in AGENT_STATUSES:
        raise TicketActionError(INVALID_STATUS, code="invalid_status")
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        _check_version(ticket, expected_version)
        if ticket.status == TicketStatus.CLOSED:
            raise TicketActionError(TICKET_CLOSED, code="closed")
        clocks = sla.Clocks(ticket, at=now)
        message = _add_message(
            ticket, TicketEvent.Kind.AGENT_REPLY, body, at=now, channel=channel, author=actor
        )
        # Inside the transaction: the reply notice commits with the reply (tickets.signals).
        ticket_replied.send(
            sender=Ticket, ticket=ticket, message=message, body=body, channel=channel, at=now
        )
        met = sla.meet_kinds(
            ticket,
            TimerKind.FIRST_RESPONSE,
            TimerKind.NEXT_RESPONSE,
            TimerKind.PERIODIC_UPDATE,
            at=now,
            clocks=clocks,
        )
        milestones = sla.meet_milestones(
            ticket, MilestoneTrigger.PUBLIC_REPLY, at=now, clocks=clocks
        )
        _record_breaches(ticket, met + milestones, now)
        _record_milestones(ticket, milestones, now, actor)
        fields = ["last_agent_update_at"]
        ticket.last_agent_update_at = now
        if ticket.first_response_at is None:
            ticket.first_response_at = now
            fields.append("first_response_at")
        if ticket.assignee_id is None and is_agent(actor):
            _assign(ticket, actor, at=now, actor=actor, reason="replied")
            fields.append("assignee")
        if ticket.status == TicketStatus.NEW:
            ticket.status = TicketStatus.OPEN
            fields.append("status")
        if ticket.status not in CLOSED_STATUSES:
            sla.start_timer(ticket, TimerKind.PERIODIC_UPDATE, at=now, clocks=clocks)
        _save(ticket, *fields, now=now)
        if status is not None and status != ticket.status:
            _change_status(ticket, status, actor=actor, at=now, clocks=clocks)
            _save(ticket, "status", "solved_at", "closed_at", now=now, bump=False)
    return message


def ticket_add_note(*, ticket: Ticket, actor, body: str, now: dt.datetime | None = None) -> Message:
    """An internal note: agents only, never shown to the customer, no version bump."""
    body = _clean_body(body)
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        message = _add_message(ticket, TicketEvent.Kind.NOTE, body, at=now, author=actor)
        _save(ticket, now=now, bump=False)
    return message


def _change_status(ticket: Ticket, status: str, *, actor, at: dt.datetime, clocks) -> None:
    """Move the ticket to `status` with its clock effects; the caller saves the ticket."""
    old = ticket.status
    if old == TicketStatus.CLOSED:
        raise TicketActionError(TICKET_CLOSED, code="closed")
    ticket.status = status
    if old == TicketStatus.PENDING:
        sla.resume(ticket, at=at, clocks=clocks)
    if old == TicketStatus.SOLVED and status != TicketStatus.CLOSED:
        # Reopened by an agent (to open, on hold or pending): the resolution clock starts again,
        # and the periodic update if the customer had an answer (as on a customer's reopen).
        # A clock started on a pending ticket starts paused (`sla.start_timer`).
        ticket.solved_at = None
        record_event(ticket, TicketEvent.Kind.REOPENED, at=at, actor=actor, public=True)
        sla.start_timer(ticket, TimerKind.RESOLUTION, at=at, clocks=clocks)
        if ticket.first_response_at:
            sla.start_timer(ticket, TimerKind.PERIODIC_UPDATE, at=at, clocks=clocks)
    if status == TicketStatus.PENDING:
        sla.pause(ticket, at=at, clocks=clocks)
    elif status == TicketStatus.SOLVED:
        ticket.solved_at = at
        met = sla.meet_kinds(ticket, TimerKind.RESOLUTION, at=at, clocks=clocks)
        _record_breaches(ticket, met, at)
        sla.cancel(ticket)
        # One survey per resolution, attributed to the agent who had the ticket.
        survey, _created = SatisfactionSurvey.objects.get_or_create(
            ticket=ticket, resolved_at=at, defaults={"agent_id": ticket.assignee_id}
        )
        # Inside the transaction: the survey notice commits with the solve (tickets.signals).
        ticket_solved.send(sender=Ticket, ticket=ticket, survey=survey, at=at)
    elif status == TicketStatus.CLOSED:
        ticket.solved_at = ticket.solved_at or at
        ticket.closed_at = at
        if old != TicketStatus.SOLVED:
            met = sla.meet_kinds(ticket, TimerKind.RESOLUTION, at=at, clocks=clocks)
            _record_breaches(ticket, met, at)
        sla.cancel(ticket)
    if status == TicketStatus.ON_HOLD:
        milestones = sla.meet_milestones(
            ticket, MilestoneTrigger.CARRIER_CONTACTED, at=at, clocks=clocks
        )
        _record_breaches(ticket, milestones, at)
        _record_milestones(ticket, milestones, at, actor)
    # "Investigating with carrier" and "resolved" are steps the customer follows.
    public = status in (TicketStatus.ON_HOLD, TicketStatus.SOLVED, TicketStatus.CLOSED) or (
        old == TicketStatus.SOLVED
    )
    record_event(
        ticket,
        TicketEvent.Kind.STATUS_CHANGED,
        at=at,
        actor=actor,
        public=public,
        old=old,
        new=status,
    )


def ticket_change_status(
    *,
    ticket: Ticket,
    actor,
    status: str,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> Ticket:
    if status not in AGENT_STATUSES:
        raise TicketActionError(INVALID_STATUS, code="invalid_status")
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        if ticket.status == status:
            return ticket
        _check_version(ticket, expected_version)
        _change_status(ticket, status, actor=actor, at=now, clocks=sla.Clocks(ticket, at=now))
        _save(ticket, "status", "solved_at", "closed_at", now=now)
    return ticket


def ticket_claim(
    *, ticket: Ticket, actor, expected_version: int | None = None, now: dt.datetime | None = None
) -> Ticket:
    """The agent takes an unassigned ticket."""
    if not is_agent(actor):
        raise PermissionDenied(NOT_AN_AGENT)
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        if ticket.assignee_id == actor.pk:
            return ticket
        _check_version(ticket, expected_version)
        if ticket.status == TicketStatus.CLOSED:
            raise TicketActionError(TICKET_CLOSED, code="closed")
        if ticket.assignee_id is not None:
            raise TicketActionError(
                ALREADY_ASSIGNED,
                code="assigned",
                params={"name": _display_name(ticket.assignee)},
            )
        _assign(ticket, actor, at=now, actor=actor, reason="claimed")
        fields = ["assignee"]
        if ticket.status == TicketStatus.NEW:
            ticket.status = TicketStatus.OPEN
            fields.append("status")
        _save(ticket, *fields, now=now)
    return ticket


def ticket_release(
    *, ticket: Ticket, actor, expected_version: int | None = None, now: dt.datetime | None = None
) -> Ticket:
    """The assignee (or a supervisor) puts the ticket back in the unassigned queue."""
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        if ticket.assignee_id is None:
            return ticket
        _check_version(ticket, expected_version)
        if ticket.assignee_id != actor.pk and not actor.has_perm("tickets.supervise"):
            raise PermissionDenied(NOT_ASSIGNEE)
        _assign(ticket, None, at=now, actor=actor)
        _save(ticket, "assignee", now=now)
    return ticket


def ticket_assign(
    *,
    ticket: Ticket,
    actor,
    assignee,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> Ticket:
    """Reassign to another agent (any console user may hand a ticket over)."""
    if assignee is None:
        return ticket_release(
            ticket=ticket, actor=actor, expected_version=expected_version, now=now
        )
    if not is_agent(assignee):
        raise TicketActionError(NOT_AN_AGENT, code="not_agent")
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        if ticket.assignee_id == assignee.pk:
            return ticket
        _check_version(ticket, expected_version)
        if ticket.status == TicketStatus.CLOSED:
            raise TicketActionError(TICKET_CLOSED, code="closed")
        _assign(ticket, assignee, at=now, actor=actor, reason="reassigned")
        fields = ["assignee"]
        if ticket.status == TicketStatus.NEW:
            ticket.status = TicketStatus.OPEN
            fields.append("status")
        _save(ticket, *fields, now=now)
    return ticket


def ticket_override_priority(
    *,
    ticket: Ticket,
    actor,
    priority: str,
    reason: str,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> Ticket:
    """Set the priority by hand; the reason is recorded and the SLA policy re-matched."""
    if not actor.has_perm("tickets.override_priority"):
        raise PermissionDenied(CANNOT_OVERRIDE)
    if priority not in Priority.values:
        raise TicketActionError(INVALID_PRIORITY, code="invalid_priority")
    reason = (reason or "").strip()
    if not reason:
        raise TicketActionError(REASON_REQUIRED, code="reason_required")
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        if ticket.priority == priority and ticket.priority_overridden:
            return ticket
        _check_version(ticket, expected_version)
        record_event(
            ticket,
            TicketEvent.Kind.PRIORITY_CHANGED,
            at=now,
            actor=actor,
            old=ticket.priority,
            new=priority,
            reason=reason[:500],
        )
        ticket.priority = priority
        ticket.priority_overridden = True
        _save(ticket, "priority", "priority_overridden", now=now)
        if ticket.status not in CLOSED_STATUSES:
            _apply_policy(ticket, at=now, actor=actor)
    return ticket


def ticket_change_category(
    *,
    ticket: Ticket,
    actor,
    category: str,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> Ticket:
    """A new category: the priority follows the matrix (unless set by hand), SLA re-matched."""
    if category not in Category.values:
        raise TicketActionError(INVALID_CATEGORY, code="invalid_category")
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        if ticket.category == category:
            return ticket
        _check_version(ticket, expected_version)
        record_event(
            ticket,
            TicketEvent.Kind.CATEGORY_CHANGED,
            at=now,
            actor=actor,
            old=ticket.category,
            new=category,
        )
        ticket.category = category
        fields = ["category"]
        if not ticket.priority_overridden:
            new_priority = priority_for(customer_tier=ticket.customer.tier, category=category)
            if new_priority != ticket.priority:
                record_event(
                    ticket,
                    TicketEvent.Kind.PRIORITY_CHANGED,
                    at=now,
                    actor=actor,
                    old=ticket.priority,
                    new=new_priority,
                    reason="category",
                )
                ticket.priority = new_priority
                fields.append("priority")
        _save(ticket, *fields, now=now)
        if ticket.status not in CLOSED_STATUSES:
            _apply_policy(ticket, at=now, actor=actor)
    return ticket


def ticket_mark_carrier_contacted(
    *,
    ticket: Ticket,
    actor,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> Ticket:
    """The agent contacted the carrier: the customer sees "investigating with the carrier"."""
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        _check_version(ticket, expected_version)
        if ticket.status == TicketStatus.CLOSED:
            raise TicketActionError(TICKET_CLOSED, code="closed")
        clocks = sla.Clocks(ticket, at=now)
        record_event(ticket, TicketEvent.Kind.CARRIER_CONTACTED, at=now, actor=actor, public=True)
        milestones = sla.meet_milestones(
            ticket, MilestoneTrigger.CARRIER_CONTACTED, at=now, clocks=clocks
        )
        _record_breaches(ticket, milestones, now)
        _record_milestones(ticket, milestones, now, actor)
        _save(ticket, now=now)
    return ticket


def ticket_meet_milestone(
    *,
    ticket: Ticket,
    actor,
    timer_id: int,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> SLATimer:
    """An agent marks a running milestone done by hand."""
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        _check_version(ticket, expected_version)
        timer = (
            SLATimer.objects.filter(
                ticket=ticket,
                pk=timer_id,
                kind=TimerKind.MILESTONE,
                status__in=(*sla.RUNNING, TimerStatus.BREACHED),
                met_at=None,
            )
            .select_for_update()
            .first()
        )
        if timer is None:
            raise TicketActionError(NO_SUCH_MILESTONE, code="no_milestone")
        clocks = sla.Clocks(ticket, at=now)
        sla.meet([timer], at=now, clocks=clocks)
        _record_breaches(ticket, [timer], now)
        _record_milestones(ticket, [timer], now, actor)
        _save(ticket, now=now)
    return timer


def ticket_sla_trigger(
    *, ticket: Ticket | int, trigger: str, actor=None, now: dt.datetime | None = None
) -> list[SLATimer]:
    """Other apps report a milestone trigger (compensation: a remedy was proposed)."""
    now = now or timezone.now()
    with transaction.atomic():
        ticket = _lock(ticket)
        clocks = sla.Clocks(ticket, at=now)
        milestones = sla.meet_milestones(ticket, trigger, at=now, clocks=clocks)
        _record_breaches(ticket, milestones, now)
        _record_milestones(ticket, milestones, now, actor)
    return milestones


# --- sweepers and bulk work ----------------------------------------------------------------


def close_solved_tickets(*, now: dt.datetime | None = None, batch_size: int = 5_000) -> int:
    """Close tickets solved longer than `REOPEN_WINDOW` ago (set-based, idempotent)."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                Ticket.objects.filter(status=TicketStatus.SOLVED, solved_at__lt=now - REOPEN_WINDOW)
                .select_for_update(skip_locked=True)
                .order_by()
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                return total
            Ticket.objects.filter(pk__in=ids, status=TicketStatus.SOLVED).update(
                status=TicketStatus.CLOSED, closed_at=now, updated_at=now, version=F("version") + 1
            )
            TicketEvent.objects.bulk_create(
                TicketEvent(
                    ticket_id=pk,
                    kind=TicketEvent.Kind.STATUS_CHANGED,
                    is_public=False,
                    created_at=now,
                    data={"old": TicketStatus.SOLVED, "new": TicketStatus.CLOSED, "reason": "auto"},
                )
                for pk in ids
            )
        total += len(ids)
        if len(ids) < batch_size:
            return total


def _recompute_business_timers(running_timers, *, now: dt.datetime, **data) -> int:
    """Recompute the tickets of these running business-hours timers, one transaction each."""
    ticket_ids = list(running_timers.values_list("ticket_id", flat=True).distinct())
    changed = 0
    for ticket_id in ticket_ids:
        with transaction.atomic():
            ticket = _lock(ticket_id)
            if sla.recompute(ticket, at=now, clocks=sla.Clocks(ticket, at=now)):
                record_event(ticket, TicketEvent.Kind.SLA_RECOMPUTED, at=now, **data)
                changed += 1
    return changed


def recompute_calendar_timers(*, calendar_id: int, now: dt.datetime | None = None) -> int:
    """A business calendar changed: recompute the running business-hours timers of its teams."""
    return _recompute_business_timers(
        SLATimer.objects.filter(
            status__in=sla.RUNNING, business_hours=True, ticket__team__calendar_id=calendar_id
        ),
        now=now or timezone.now(),
        reason="calendar_changed",
        calendar=calendar_id,
    )


def recompute_team_timers(*, team_id: int, now: dt.datetime | None = None) -> int:
    """A team got another calendar (or none): its tickets' business-hours timers follow."""
    return _recompute_business_timers(
        SLATimer.objects.filter(
            status__in=sla.RUNNING, business_hours=True, ticket__team_id=team_id
        ),
        now=now or timezone.now(),
        reason="team_calendar_changed",
        team=team_id,
    )


# --- satisfaction ------------------------------------------------------------------------------


class SurveyOutcome(StrEnum):
    RECORDED = "recorded"  # the first answer
    CHANGED = "changed"  # an answer changed inside the edit window
    CLOSED = "closed"  # too late: unanswered past the close, or answered past the edit window


def survey_open(survey: SatisfactionSurvey, *, now: dt.datetime) -> bool:
    """Can the customer answer ``survey`` now (unanswered, not closed)?"""
    return survey.answered_at is None and now < survey.resolved_at + dt.timedelta(
        days=settings.SURVEY_CLOSE_DAYS
    )


def survey_editable(survey: SatisfactionSurvey, *, now: dt.datetime) -> bool:
    """Can the customer still change their answer to ``survey``?"""
    return survey.answered_at is not None and now < survey.answered_at + dt.timedelta(
        days=settings.SURVEY_EDIT_DAYS
    )


def survey_answer(
    *,
    survey: SatisfactionSurvey,
    rating: int,
    comment: str,
    reason: str = "",
    now: dt.datetime,
) -> SurveyOutcome:
    """Record the customer's answer to ``survey`` (one per resolution), or change it inside the
    edit window (SURVEY_EDIT_DAYS after the first answer). An unanswered survey closes
    SURVEY_CLOSE_DAYS after the resolution. Anything else changes nothing: CLOSED.

    A conditional UPDATE, so two submits racing each other record one first answer (the other
    becomes a change of it, or nothing past the window); the timeline row is written in the
    same transaction, and `survey_answered` is sent on commit for the first answer and for a
    change (the KPIs and the scorecard read the row).
    """
    reason = reason if rating <= 2 else ""
    edit_from = now - dt.timedelta(days=settings.SURVEY_EDIT_DAYS)
    close_from = now - dt.timedelta(days=settings.SURVEY_CLOSE_DAYS)
    with transaction.atomic():
        rows = SatisfactionSurvey.objects.filter(pk=survey.pk)
        outcome = SurveyOutcome.RECORDED
        updated = rows.filter(answered_at__isnull=True, resolved_at__gt=close_from).update(
            rating=rating, comment=comment, reason=reason, answered_at=now, updated_at=now
        )
        if not updated:
            outcome = SurveyOutcome.CHANGED
            updated = rows.filter(answered_at__gt=edit_from).update(
                rating=rating, comment=comment, reason=reason, edited_at=now, updated_at=now
            )
        if not updated:
            survey.refresh_from_db()
            return SurveyOutcome.CLOSED
        record_event(
            survey.ticket,
            TicketEvent.Kind.SURVEY_ANSWERED,
            at=now,
            rating=rating,
            reason=reason,
            changed=outcome == SurveyOutcome.CHANGED,
        )
        transaction.on_commit(
            lambda: survey_answered.send(
                sender=SatisfactionSurvey, survey=survey, rating=rating, at=now
            )
        )
    survey.refresh_from_db()
    return outcome


__all__ = [
    "REOPEN_WINDOW",
    "StaleTicketError",
    "TicketActionError",
    "close_solved_tickets",
    "record_event",
    "recompute_calendar_timers",
    "recompute_team_timers",
    "SurveyOutcome",
    "survey_answer",
    "survey_editable",
    "survey_open",
    "ticket_add_customer_message",
    "ticket_add_note",
    "ticket_assign",
    "ticket_change_category",
    "ticket_change_status",
    "ticket_claim",
    "ticket_mark_carrier_contacted",
    "ticket_meet_milestone",
    "ticket_open",
    "ticket_override_priority",
    "ticket_release",
    "ticket_reply",
    "ticket_sla_trigger",
]
