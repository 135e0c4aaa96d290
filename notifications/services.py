"""Writing notices into the outbox, always inside the caller's transaction.

A notice is a row of `Notification` written in the same transaction as the event that causes it
(a delay level change, a reply, a solved ticket, an incident announcement), so a notice is never
lost and never written for an event that rolled back. Each row carries a unique dedupe key: a
retry, a second detection pass or a double click finds the key taken and writes nothing.

Rows are written as *pending* on the customer's preferred channel. Whether, when and where a
notice is really sent (tolerance, frequency cap, quiet hours, opt-outs, fallback) is decided by
the dispatcher at send time (`notifications.dispatch`), from the state of that moment, and every
notice it does not send is kept with its reason.

Two ways in:
- `notice_enqueue` for one notice (ORM; a reply, a remedy, a survey);
- `notices_enqueue_for_shipments` for many at once (one `INSERT ... SELECT` per call, no rows
  through Python): delay notices of a detection pass, incident notices, follow-ups, delivered
  notices.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation

from compensation.models import CompensationOffer
from compensation.texts import describe_choice
from core.models import Channel
from notifications import reasons
from notifications.models import DELAY_KINDS, NoticeKind, Notification
from notifications.sender import dispatch_soon
from shipments.models import FINAL_STATUSES, Incident, IncidentStatus, Shipment

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from customers.models import Customer
    from tickets.models import SatisfactionSurvey, Ticket


def first_channel(preferred: str) -> str:
    """The channel a notice is queued on: the preferred one; a phone call is an agent's task,
    so a customer who prefers calls is written to by email first."""
    return Channel.EMAIL if preferred == Channel.PHONE else preferred


def send_not_before(now: dt.datetime) -> dt.datetime:
    """When a new notice may go out: at once by default (NOTICE_DELAY_MINUTES)."""
    return now + dt.timedelta(minutes=settings.NOTICE_DELAY_MINUTES)


def notice_enqueue(
    *,
    kind: str,
    customer: Customer,
    dedupe_key: str,
    shipment: Shipment | None = None,
    ticket: Ticket | None = None,
    incident: Incident | None = None,
    level: str = "",
    context: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Notification:
    """Queue one notice (or return the one already queued under `dedupe_key`)."""
    now = now or timezone.now()
    not_before = send_not_before(now)
    defaults = {
        "customer": customer,
        "shipment": shipment,
        "ticket": ticket,
        "incident": incident,
        "kind": kind,
        "channel": first_channel(customer.preferred_channel),
        "language": customer.language,
        "level": level,
        "context": context or {},
        "not_before": not_before,
        "next_attempt_at": not_before,
    }
    with transaction.atomic():
        existing = Notification.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                notification = Notification.objects.create(dedupe_key=dedupe_key, **defaults)
        except IntegrityError:  # written by a concurrent transaction since the read
            return Notification.objects.get(dedupe_key=dedupe_key)
    dispatch_soon()
    return notification


def notices_enqueue_for_shipments(
    *,
    kind: str,
    shipment_ids: Sequence[int] | None = None,
    incident_id: int | None = None,
    key: str,
    level: str | None = "",
    now: dt.datetime,
    only_if_told: bool = False,
    one_per_customer: bool = False,
    statuses: Iterable[str] = (),
    exclude_statuses: Iterable[str] = (),
) -> int:
    """Queue one `kind` notice per shipment (or per customer) in one statement; returns how
    many were written (keys already taken are skipped).

    Shipments are `shipment_ids`, or every shipment of `incident_id`. `key` is the dedupe key
    with `{shipment}`, `{customer}` and `{incident}` slots (for example `"delay:{shipment}:red"`).
    `only_if_told`: only shipments whose customer already had a delay-type notice about them
    (a recovery or a delivered notice closes a story that was told; otherwise it is noise).
    `one_per_customer`: the key has no `{shipment}` slot; one row per customer (the first
    shipment's id is recorded). `level` None records each shipment's current delay level.
    `statuses` / `exclude_statuses` filter on the shipment's status.
    """
    if shipment_ids is None and incident_id is None:
        raise ValueError("give shipment_ids or incident_id")
    if shipment_ids is not None and not shipment_ids:
        return 0
    vendor = connection.vendor
    ops = connection.ops
    not_before = send_not_before(now)
    params: dict[str, Any] = {
        "kind": kind,
        "level": level,
        "now": ops.adapt_datetimefield_value(now),
        "not_before": ops.adapt_datetimefield_value(not_before),
        "incident": incident_id,
        "phone": Channel.PHONE,
        "email": Channel.EMAIL,
    }
    where = ["s.customer_id IS NOT NULL"]
    if shipment_ids is not None:
        if vendor == "postgresql":
            where.append("s.id = ANY(%(ids)s)")
            params["ids"] = list(shipment_ids)
        else:
            where.append("s.id IN (SELECT value FROM json_each(%(ids)s))")
            params["ids"] = json.dumps(list(shipment_ids))
    if incident_id is not None:
        where.append("s.incident_id = %(incident)s")
    for name, values, operator in (
        ("in", list(statuses), "IN"),
        ("out", list(exclude_statuses), "NOT IN"),
    ):
        if values:
            slots = ", ".join(f"%(status_{name}_{i})s" for i in range(len(values)))
            where.append(f"s.status {operator} ({slots})")
            params.update({f"status_{name}_{i}": str(v) for i, v in enumerate(values)})
    if only_if_told:
        kinds = ", ".join(f"'{k}'" for k in DELAY_KINDS)  # constants, not input
        where.append(
            "EXISTS (SELECT 1 FROM notifications_notification told "
            f"WHERE told.shipment_id = s.id AND told.kind IN ({kinds}) "
            "AND told.status IN ('pending', 'sending', 'sent', 'delivered'))"  # nosec B608  # constants only, values bound
        )
    dedupe = _key_sql(key)
    level_sql = "s.delay_level" if level is None else "%(level)s"
    public_id = "gen_random_uuid()" if vendor == "postgresql" else "lower(hex(randomblob(16)))"
    select = f"""
        SELECT {public_id}, %(now)s, %(now)s, s.customer_id, s.id,
               COALESCE(%(incident)s, s.incident_id), %(kind)s,
               CASE WHEN c.preferred_channel = %(phone)s THEN %(email)s
                    ELSE c.preferred_channel END,
               c.language, {level_sql}, {dedupe}, '', '', '', '{{}}', 'pending', '',
               %(not_before)s, 0, %(not_before)s, '', '', ''
        FROM shipments_shipment s
        JOIN customers_customer c ON c.id = s.customer_id
        WHERE {" AND ".join(where)}
    """  # nosec B608  # constants only, values bound
    if one_per_customer:
        select += " ORDER BY s.id"
    sql = f"""
        INSERT INTO notifications_notification (
            public_id, created_at, updated_at, customer_id, shipment_id, incident_id, kind,
            channel, language, level, dedupe_key, recipient, subject, body, context, status,
            suppressed_reason, not_before, attempts, next_attempt_at, claimed_by,
            provider_message_id, last_error
        )
        {select}
        ON CONFLICT (dedupe_key) DO NOTHING
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        written = max(cursor.rowcount, 0)
    if written:
        dispatch_soon()
    return written


def _key_sql(key: str) -> str:
    """SQL for a dedupe key template: literal parts as quoted strings, slots as columns.

    SQLite needs the "WHERE" that every statement here has between the SELECT and the
    ON CONFLICT clause, or it would read ON CONFLICT as a join constraint."""
    slots = {"{shipment}": "s.id", "{customer}": "s.customer_id"}
    parts: list[str] = []
    rest = key
    while rest:
        positions = [(rest.find(slot), slot) for slot in slots if slot in rest]
        if not positions:
            parts.append(_quoted(rest))
            break
        index, slot = min(positions)
        if index:
            parts.append(_quoted(rest[:index]))
        parts.append(f"CAST({slots[slot]} AS TEXT)")
        rest = rest[index + len(slot) :]
    return " || ".join(parts) if parts else "''"


def _quoted(text: str) -> str:
    if "'" in text or "%" in text:
        raise ValueError(f"dedupe key literal {text!r} may not contain quotes or %")
    return f"'{text}'"


def incident_notify(
    *, incident: Incident, by: Any = None, now: dt.datetime | None = None, round: int = 1
) -> int:
    """Queue an incident notice for every customer with an undelivered shipment in `incident`,
    one per customer, in one statement; returns how many were queued.

    A second call for the same round queues nothing (the keys are taken); a later round (a new
    update of the same incident) writes new keys.
    """
    if incident.status == IncidentStatus.RESOLVED:
        return 0  # its customers hear about their parcels through their own notices
    now = now or timezone.now()
    with transaction.atomic():
        written = notices_enqueue_for_shipments(
            kind=NoticeKind.INCIDENT_NOTICE,
            incident_id=incident.pk,
            key=f"incident:{incident.pk}:{round}:" + "{customer}",
            now=now,
            one_per_customer=True,
            exclude_statuses=FINAL_STATUSES,
        )
    logger.info("Incident %s: %s customers notified (by %s)", incident.pk, written, by or "system")
    return written


# --- Notices about tickets and remedies ----------------------------------------------------------


def reply_enqueue(
    *, ticket: Ticket, message_id: int, body: str, channel: str = "", now: dt.datetime
) -> Notification | None:
    """An agent's public reply goes to the customer (on the reply's channel if it names one we
    send on, else the customer's preferred channel). A reply logged for a phone call sends
    nothing."""
    if channel == Channel.PHONE:
        return None
    notification = notice_enqueue(
        kind=NoticeKind.TICKET_REPLY,
        customer=ticket.customer,
        dedupe_key=f"reply:{message_id}",
        ticket=ticket,
        shipment=ticket.shipment,
        context={"reply": body},
        now=now,
    )
    if channel in (Channel.EMAIL, Channel.SMS, Channel.PUSH) and notification.channel != channel:
        Notification.objects.filter(pk=notification.pk, status=Notification.Status.PENDING).update(
            channel=channel
        )
    return notification


def survey_delay() -> dt.timedelta:
    """How long after the solution the survey notice goes out (SURVEY_DELAY_HOURS): a customer
    rates after living with the solution a while, not with the answer."""
    return dt.timedelta(hours=settings.SURVEY_DELAY_HOURS)


def survey_enqueue(*, survey: SatisfactionSurvey, now: dt.datetime) -> Notification:
    """A solved ticket's satisfaction survey notice: one per resolution (its survey), sent
    SURVEY_DELAY_HOURS later. Its link ({survey_link}) is made when it is sent: the survey
    section of the ticket's progress page (`notifications.rendering`)."""
    ticket = survey.ticket
    # A customer asked twice within a day would answer the older survey, which no longer counts:
    # one survey notice per resolution, and only the latest resolution's goes out.
    why = [reasons.Part(reasons.SURVEY_REPLACED)]
    Notification.objects.filter(
        kind=NoticeKind.SURVEY, ticket=ticket, status=Notification.Status.PENDING
    ).update(
        status=Notification.Status.SUPPRESSED,
        suppressed_reason=reasons.render_english(why)[:200],
        suppressed_reason_parts=reasons.to_json(why),
        updated_at=now,
    )
    return notice_enqueue(
        kind=NoticeKind.SURVEY,
        customer=ticket.customer,
        # Keys of surveys sent before there was one per resolution were "survey:<ticket id>".
        dedupe_key=f"survey:{ticket.pk}:{survey.pk}",
        ticket=ticket,
        shipment=ticket.shipment,
        now=now + survey_delay(),
    )


def remedy_enqueue(
    *,
    offer: Any,
    kind: str,
    now: dt.datetime | None = None,
    code: str = "",
    alternatives: Sequence[Any] = (),
) -> Notification:
    """Tell the customer about a remedy offered to them or issued (compensation offers).

    `alternatives`: every offer of a choice (the first is `offer`), told in one notice ("a
    refund of 10.00 EUR or a free replacement shipment"). `code`: an issued coupon or discount
    code, shown in place of its masked reference (the notice is the one place the customer
    reads it; compensation keeps only its hash)."""
    now = now or timezone.now()
    customer = offer.customer
    with translation.override(customer.language):
        remedy = str(describe_choice(list(alternatives) or [offer]))
    reference = code or offer.issued_reference
    if reference and kind == NoticeKind.REMEDY_ISSUED:
        remedy = f"{remedy} ({reference})"
    return notice_enqueue(
        kind=kind,
        customer=customer,
        dedupe_key=f"{kind}:{offer.pk}",
        ticket=offer.ticket,
        shipment=offer.ticket.shipment,
        context={"remedy": remedy},
        now=now,
    )


def remedies_offered_enqueue(*, offer_ids: Sequence[int], now: dt.datetime) -> int:
    """ "Remedy offered" notices for an incident's bulk offer, one per ticket, in one statement
    (no rows through Python: a 100,000-shipment incident); returns how many were written.

    Every ticket of a bulk run got the same remedies, so the phrase is written once per
    language from the first ticket's offers, and each customer reads it in theirs. The dedupe
    key is the one `remedy_enqueue` uses for the ticket's first offer: an offer told one by one
    (after an approval) and in bulk is told once.
    """
    if not offer_ids:
        return 0
    first = CompensationOffer.objects.filter(pk__in=offer_ids).order_by("pk").first()
    if first is None:
        return 0
    choice = (
        list(CompensationOffer.objects.filter(choice_group=first.choice_group).order_by("pk"))
        if first.choice_group
        else [first]
    )
    phrases = {}
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            phrases[language] = json.dumps({"remedy": str(describe_choice(choice))})
    vendor, ops = connection.vendor, connection.ops
    not_before = send_not_before(now)
    params: dict[str, Any] = {
        "kind": NoticeKind.REMEDY_OFFERED,
        "key": f"{NoticeKind.REMEDY_OFFERED}:",
        "now": ops.adapt_datetimefield_value(now),
        "not_before": ops.adapt_datetimefield_value(not_before),
        "phone": Channel.PHONE,
        "email": Channel.EMAIL,
        "fallback": phrases[settings.LANGUAGE_CODE],
    }
    if vendor == "postgresql":
        ids = "o.id = ANY(%(ids)s)"
        params["ids"] = list(offer_ids)
    else:
        ids = "o.id IN (SELECT value FROM json_each(%(ids)s))"
        params["ids"] = json.dumps(list(offer_ids))
    cases = []
    for index, (language, phrase) in enumerate(sorted(phrases.items())):
        params[f"lang_{index}"], params[f"phrase_{index}"] = language, phrase
        cases.append(f"WHEN %(lang_{index})s THEN %(phrase_{index})s")
    context = f"CASE c.language {' '.join(cases)} ELSE %(fallback)s END"
    if vendor == "postgresql":
        context = f"CAST({context} AS jsonb)"
    public_id = "gen_random_uuid()" if vendor == "postgresql" else "lower(hex(randomblob(16)))"
    sql = f"""
        INSERT INTO notifications_notification (
            public_id, created_at, updated_at, customer_id, shipment_id, ticket_id, incident_id,
            kind, channel, language, level, dedupe_key, recipient, subject, body, context,
            status, suppressed_reason, not_before, attempts, next_attempt_at, claimed_by,
            provider_message_id, last_error
        )
        SELECT {public_id}, %(now)s, %(now)s, o.customer_id, t.shipment_id, t.id, t.incident_id,
               %(kind)s,
               CASE WHEN c.preferred_channel = %(phone)s THEN %(email)s
                    ELSE c.preferred_channel END,
               c.language, '', %(key)s || CAST(MIN(o.id) AS TEXT), '', '', '', {context},
               'pending', '', %(not_before)s, 0, %(not_before)s, '', '', ''
        FROM compensation_compensationoffer o
        JOIN tickets_ticket t ON t.id = o.ticket_id
        JOIN customers_customer c ON c.id = o.customer_id
        WHERE {ids}
        GROUP BY o.customer_id, t.shipment_id, t.id, t.incident_id, c.preferred_channel,
                 c.language
        ON CONFLICT (dedupe_key) DO NOTHING
    """  # nosec B608  # constants only, values bound
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        written = max(cursor.rowcount, 0)
    if written:
        dispatch_soon()
    return written
