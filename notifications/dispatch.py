"""The outbox dispatcher: claims due notices, applies noise control, renders, sends, records.

One pass (`dispatch_pass`, the `dispatch_notifications` command, the beat task):

1. Rows a dead worker left claimed for longer than NOTICE_CLAIM_TIMEOUT_SECONDS go back to the
   queue (`recover_stale_claims`).
2. Claim a batch of due pending rows in one statement: ``UPDATE ... SET status = 'sending'
   WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING id`` on PostgreSQL, so parallel
   workers never claim the same row; SQLite serialises writers, so the same UPDATE is enough.
3. Load the batch with customer, shipment, ticket and incident in one query (plus one for the
   newest ticket of the shipments of notices without a ticket, one for the frequency cap and
   one for the channels fallback rows tried, each only when needed), mint the batch's
   progress links (one call of the link maker, one statement: `notifications.links`), decide
   each row, send it, and record the outcomes in groups (`OutcomeWriter`): one UPDATE and one
   commit per group of up to NOTICE_OUTCOME_GROUP_SIZE rows (with the link maker's confirm of
   the group's links in the same transaction), at once after a slow send (a real provider
   call) or one whose repeat would reach the customer, and always before the next claim. One
   commit per row made the commits (a WAL flush each) and the ORM around them the limit of
   the whole dispatcher (docs/PERFORMANCE.md, issue 5). At the end of the batch one call
   discards the links no sent notice carried. A batch that has sent for half the claim timeout
   gives its remaining rows back to the queue (`release_claims`), so that a slow provider never
   lets another worker recover rows this one is still sending.

Each decision is recorded: *sent* (provider id, rendered text with its progress link redacted,
recipient), *suppressed* with the reason (tolerance, frequency cap, opt-out, no longer delayed),
*deferred* (quiet hours: the row stays pending until the quiet hours end), *retried* with
exponential backoff after a temporary failure, *failed* permanently (and a fallback row on the
customer's next channel).

Delivery is at least once at the provider boundary and exactly once everywhere else: a row is
marked sent after the provider accepted it: right after, when the call took milliseconds or
when a repeat would reach the customer (email through SMTP); with its outcome group when a
backend that drops repeats or delivers nothing answered faster. A worker killed in between
leaves the row claimed, and after the claim timeout it is sent again *with the same
reference* (`OutgoingMessage.reference`, the row's public id), which providers that support
idempotency keys (the Twilio adapter sends it as one) use to drop the repeat. So a kill
repeats at most one message a customer could see twice. No row is ever lost: a claimed row is
either marked or recovered. (A row sent again carries a new progress link, as each batch mints
its own; the lost send's link, never confirmed, stops working like any older link of its ticket
once a later one is confirmed.)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import time
import zoneinfo
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.models import Channel
from notifications import backends, links, reasons
from notifications.links import MintedLink, ProgressLinkProvider
from notifications.models import DELAY_KINDS, NoticeKind, Notification, NotificationStatus
from notifications.rendering import NoTemplate, TemplateBook, render_notice
from shipments.models import DELAY_LEVEL_RANK, FINAL_STATUSES, DelayLevel
from tickets.models import SatisfactionSurvey, Ticket

logger = logging.getLogger(__name__)

Status = NotificationStatus

# Kinds that only make sense while the parcel is late.
WHILE_DELAYED_KINDS = (NoticeKind.DELAY_NOTICE, NoticeKind.FOLLOW_UP)
# Kinds the customer's tolerance applies to ("is this slip worth a message?").
TOLERANCE_KINDS = (NoticeKind.DELAY_NOTICE, NoticeKind.FOLLOW_UP)
# Answers the customer is waiting for go out even in their quiet hours.
QUIET_HOURS_EXEMPT = (NoticeKind.TICKET_REPLY,)
# The order of fallback channels after the preferred one; push only when preferred (we cannot
# know whether a customer has the app otherwise).
FALLBACK_ORDER = (Channel.EMAIL, Channel.SMS)


@dataclass
class DispatchResult:
    claimed: int = 0
    sent: int = 0
    suppressed: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    fallbacks: int = 0
    recovered: int = 0
    released: int = 0
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, other: DispatchResult) -> None:
        for name in (
            "claimed",
            "sent",
            "suppressed",
            "deferred",
            "retried",
            "failed",
            "fallbacks",
            "recovered",
            "released",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


# --- Channels ------------------------------------------------------------------------------------


def address(customer, channel: str) -> str:
    """Where a notice on `channel` goes: email address, phone number, or the app user id."""
    if channel == Channel.EMAIL:
        return customer.email
    if channel == Channel.SMS:
        return customer.phone
    if channel == Channel.PUSH:
        return str(customer.public_id)
    return ""


def channel_chain(customer) -> list[str]:
    """The customer's channels in the order we try them: preferred first, then the fallbacks."""
    preferred = Channel.EMAIL if customer.preferred_channel == Channel.PHONE else None
    chain = [preferred or customer.preferred_channel]
    chain += [channel for channel in FALLBACK_ORDER if channel not in chain]
    return chain


def usable_channel(
    customer, *, starting_at: str, tried: set[str]
) -> tuple[str | None, list[reasons.Part]]:
    """The first channel from `starting_at` on that is not opted out, has an address and was not
    tried yet; else (None, why none is left)."""
    chain = channel_chain(customer)
    chain = chain[chain.index(starting_at) :] if starting_at in chain else [starting_at, *chain]
    why: list[reasons.Part] = []
    for channel in chain:
        if channel in tried:
            continue
        if customer.is_opted_out(channel):
            why.append(reasons.Part(reasons.OPTED_OUT, {"channel": channel}))
            continue
        if not address(customer, channel):
            why.append(reasons.Part(reasons.NO_ADDRESS, {"channel": channel}))
            continue
        return channel, []
    if tried:
        why.append(reasons.Part(reasons.ALREADY_FAILED, {"channels": sorted(tried)}))
    return None, why or [reasons.Part(reasons.NO_CHANNEL_LEFT)]


# --- Noise control -----------------------------------------------------------------------------


def tolerance_hours(customer) -> int:
    if customer.delay_tolerance_hours is not None:
        return customer.delay_tolerance_hours
    return settings.NOTICE_TOLERANCE_HOURS_BY_TIER.get(
        customer.tier, settings.NOTICE_TOLERANCE_HOURS
    )


def eta_slip(shipment, *, now: dt.datetime) -> dt.timedelta | None:
    """How late the parcel will be against its promise: expected arrival minus promise.

    The expected arrival is the predicted ETA, else the carrier's, and never earlier than now
    (a past estimate of an undelivered parcel is already wrong). None when the promise is
    unknown, or when there is no estimate and the promise has not passed yet.
    """
    if shipment.promised_at is None:
        return None
    expected = shipment.told_eta
    if expected is None:
        if now <= shipment.promised_at:
            return None
        expected = now
    return max(expected, now) - shipment.promised_at


def quiet_until(customer, *, now: dt.datetime) -> dt.datetime | None:
    """The end of the customer's quiet hours if `now` falls inside them, else None."""
    start, end = customer.quiet_hours_start, customer.quiet_hours_end
    if start is None or end is None or start == end:
        return None
    try:
        zone = zoneinfo.ZoneInfo(customer.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    local = now.astimezone(zone)
    moment = local.time().replace(tzinfo=None)
    if start < end:
        quiet = start <= moment < end
        end_day = local.date()
    else:  # over midnight, e.g. 21:00-08:00
        quiet = moment >= start or moment < end
        end_day = local.date() + dt.timedelta(days=1) if moment >= start else local.date()
    if not quiet:
        return None
    # A wall-clock end that a DST change skips resolves forward (zoneinfo's fold=0 rules).
    until = dt.datetime.combine(end_day, end, tzinfo=zone)
    return until.astimezone(dt.UTC)


@dataclass
class Heard:
    """Delay-type notices a customer got recently (or that are being sent right now)."""

    at: dt.datetime
    level_rank: int
    notification_id: int


def recent_delay_notices(
    customer_ids: set[int], *, now: dt.datetime, batch: list[int] = ()
) -> dict[int, list[Heard]]:
    """Per customer: delay-type notices sent within the cap window, or in flight in another
    worker (rows of this `batch` count only once they are sent). One query."""
    if not customer_ids or settings.NOTICE_FREQUENCY_CAP_HOURS == 0:
        return {}
    since = now - dt.timedelta(hours=settings.NOTICE_FREQUENCY_CAP_HOURS)
    rows = (
        Notification.objects.filter(
            Q(status__in=[Status.SENT, Status.DELIVERED], sent_at__gte=since)
            | Q(status=Status.SENDING),
            customer_id__in=customer_ids,
            kind__in=DELAY_KINDS,
        )
        .exclude(pk__in=batch)
        .values_list("customer_id", "id", "status", "sent_at", "claimed_at", "level")
    )
    heard: dict[int, list[Heard]] = defaultdict(list)
    for customer_id, pk, status, sent_at, claimed_at, level in rows:
        heard[customer_id].append(
            Heard(
                at=sent_at or claimed_at or now,
                level_rank=_rank(level),
                notification_id=pk if status == Status.SENDING else 0,
            )
        )
    return heard


def _rank(level: str) -> int:
    return DELAY_LEVEL_RANK.get(level, 0)


class Reason:
    """The categories of "why not sent", for counting (the stored reason is a sentence)."""

    STALE = "no longer true"
    TOLERANCE = "within tolerance"
    FREQUENCY_CAP = "frequency cap"
    NO_CHANNEL = "no usable channel"


def suppression_reason(
    notification: Notification, *, now: dt.datetime, heard: list[Heard]
) -> tuple[str, list[reasons.Part]]:
    """(category, why) saying why `notification` must not go out now, or ("", [])."""
    kind = notification.kind
    shipment = notification.shipment
    customer = notification.customer
    if shipment is not None and kind in WHILE_DELAYED_KINDS:
        if shipment.status in FINAL_STATUSES:
            return Reason.STALE, [reasons.Part(reasons.SHIPMENT_FINAL, {"status": shipment.status})]
        if shipment.delay_level == DelayLevel.NONE:
            return Reason.STALE, [reasons.Part(reasons.BACK_ON_TIME)]
    if shipment is not None and kind == NoticeKind.RECOVERY and shipment.status in FINAL_STATUSES:
        return Reason.STALE, [reasons.Part(reasons.ARRIVED_BEFORE_RECOVERY)]
    if (
        kind == NoticeKind.SURVEY
        and notification.ticket is not None
        and notification.ticket.status not in ("solved", "closed")
    ):
        return Reason.STALE, [reasons.Part(reasons.TICKET_REOPENED)]
    if shipment is not None and kind in TOLERANCE_KINDS:
        slip = eta_slip(shipment, now=now)
        limit = tolerance_hours(customer)
        if slip is not None and slip <= dt.timedelta(hours=limit):
            hours = int(slip.total_seconds() // 3600)
            return Reason.TOLERANCE, [
                reasons.Part(reasons.WITHIN_TOLERANCE, {"slip": hours, "limit": limit})
            ]
    if kind in DELAY_KINDS:
        rank = _rank(notification.level)
        for earlier in heard:
            if earlier.notification_id == notification.pk:
                continue
            if earlier.notification_id and earlier.notification_id > notification.pk:
                continue  # claimed later than this one: it yields to this one, not vice versa
            if rank > earlier.level_rank and notification.level:
                continue  # the level rose since: worth telling
            at = earlier.at.astimezone(dt.UTC).replace(second=0, microsecond=0)
            return Reason.FREQUENCY_CAP, [
                reasons.Part(reasons.FREQUENCY_CAP, {"time": at.isoformat()})
            ]
    return "", []


# --- One pass ----------------------------------------------------------------------------------


def dispatch_pass(
    *,
    now: dt.datetime | None = None,
    batch_size: int | None = None,
    limit: int | None = None,
    worker: str | None = None,
    progress=None,
) -> DispatchResult:
    """Send every due notice once (up to `limit`); returns what happened."""
    clock_fixed = now is not None
    worker = worker or worker_name()
    batch_size = batch_size or settings.NOTICE_BATCH_SIZE
    result = DispatchResult()
    result.recovered = recover_stale_claims(now=now or timezone.now())
    book = None
    while limit is None or result.claimed < limit:
        moment = now if clock_fixed else timezone.now()
        size = batch_size if limit is None else min(batch_size, limit - result.claimed)
        ids = claim_batch(now=moment, size=size, worker=worker)
        if not ids:
            break
        if book is None:
            book = TemplateBook.load()
        batch = process_batch(ids, now=moment, book=book, worker=worker)
        result.add(batch)
        for reason, count in batch.reasons.items():
            result.reasons[reason] += count
        if progress is not None:
            progress(len(ids))
    return result


def recover_stale_claims(*, now: dt.datetime) -> int:
    """Put rows claimed by a worker that stopped back in the queue (same reference on resend)."""
    stale_before = now - dt.timedelta(seconds=settings.NOTICE_CLAIM_TIMEOUT_SECONDS)
    recovered = Notification.objects.filter(
        status=Status.SENDING, claimed_at__lt=stale_before
    ).update(
        status=Status.PENDING,
        next_attempt_at=now,
        claimed_at=None,
        claimed_by="",
        last_error=_("the worker stopped while sending; queued again"),
        updated_at=now,
    )
    if recovered:
        logger.warning("Outbox: %s notices recovered from stopped workers", recovered)
    return recovered


def claim_batch(*, now: dt.datetime, size: int, worker: str) -> list[int]:
    """Mark up to `size` due pending rows as being sent by `worker`; returns their ids."""
    ops = connection.ops
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = f"""
        UPDATE notifications_notification
        SET status = %(sending)s, claimed_at = %(now)s, claimed_by = %(worker)s,
            updated_at = %(now)s
        WHERE id IN (
            SELECT id FROM notifications_notification
            WHERE status = %(pending)s AND next_attempt_at <= %(now)s
            ORDER BY next_attempt_at, id
            LIMIT %(size)s{lock}
        )
        RETURNING id
    """  # nosec B608  # constants only, values bound
    params = {
        "sending": Status.SENDING,
        "pending": Status.PENDING,
        "now": ops.adapt_datetimefield_value(now),
        "worker": worker,
        "size": size,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(row[0] for row in cursor.fetchall())


def process_batch(ids: list[int], *, now: dt.datetime, book, worker: str) -> DispatchResult:
    result = DispatchResult(claimed=len(ids))
    rows = list(
        Notification.objects.filter(pk__in=ids, status=Status.SENDING, claimed_by=worker)
        .select_related("customer", "shipment__carrier", "ticket", "incident")
        .order_by("pk")
    )
    tickets = progress_tickets(rows)
    ticket_of = {row.pk: link_ticket_id(row, tickets) for row in rows}
    provider = links.get_provider()
    minted = mint_links(provider, set(ticket_of.values()) - {None}, now=now)
    heard = recent_delay_notices(
        {row.customer_id for row in rows if row.kind in DELAY_KINDS}, now=now, batch=ids
    )
    tried = fallback_channels_tried(rows)
    outcomes = OutcomeWriter(now=now, provider=provider)
    budget_ends = batch_clock() + settings.NOTICE_CLAIM_TIMEOUT_SECONDS * CLAIM_BUDGET_SHARE
    try:
        for index, notification in enumerate(rows):
            if batch_clock() >= budget_ends:
                outcomes.flush()
                rest = [row.pk for row in rows[index:]]
                result.released = release_claims(rest, worker=worker, now=now)
                break
            handle(
                notification,
                now=now,
                book=book,
                link=minted.get(ticket_of[notification.pk]),
                heard=heard.setdefault(notification.customer_id, []),
                tried=tried.get(notification.pk, set()),
                result=result,
                outcomes=outcomes,
            )
    finally:
        # Also on an error: what was sent is recorded rather than sent again after the timeout.
        outcomes.flush()
        unused = {link.id for link in minted.values()} - outcomes.links_sent
        discard_links(provider, unused)
    return result


# A batch sends for at most this share of NOTICE_CLAIM_TIMEOUT_SECONDS after its claim, then
# gives its remaining rows back to the queue. Otherwise a slow provider (every send waiting for
# SMS_TIMEOUT_SECONDS: 200 rows x 10 s is far past the 300 s claim timeout) lets another
# worker's pass recover rows this one still holds in memory and is about to send: both would
# send them (docs/RELIABILITY.md, "provider_timeout"). The other half is the margin for the one
# send in flight when the budget runs out.
CLAIM_BUDGET_SHARE = 0.5


def batch_clock() -> float:
    """Seconds on a monotonic clock (a function, so tests can move it)."""
    return time.monotonic()


def release_claims(ids: list[int], *, worker: str, now: dt.datetime) -> int:
    """Rows of a batch that ran out of time go back to the queue, due at once (at the batch's
    `now`), attempts unchanged; only those still claimed by `worker` (one statement). Returns
    how many."""
    released = Notification.objects.filter(
        pk__in=ids, status=Status.SENDING, claimed_by=worker
    ).update(
        status=Status.PENDING, claimed_at=None, claimed_by="", next_attempt_at=now, updated_at=now
    )
    if released:
        logger.warning(
            "Outbox: %s notices given back to the queue: the batch ran out of its claim time",
            released,
        )
    return released


def progress_tickets(rows: list[Notification]) -> dict[int, Ticket]:
    """For notices without a ticket: the newest ticket of their shipment (its progress link)."""
    wanted = {row.shipment_id for row in rows if row.ticket_id is None and row.shipment_id}
    if not wanted:
        return {}
    found: dict[int, Ticket] = {}
    for ticket in (
        Ticket.objects.filter(shipment_id__in=wanted)
        .only("id", "shipment_id")
        .order_by("shipment_id", "-created_at", "-id")
    ):
        found.setdefault(ticket.shipment_id, ticket)
    return found


def link_ticket_id(notification: Notification, tickets: dict[int, Ticket]) -> int | None:
    """The ticket whose progress page a notice links to: its own, else the newest of its
    shipment's (`progress_tickets`), else none."""
    if notification.ticket_id:
        return notification.ticket_id
    ticket = tickets.get(notification.shipment_id) if notification.shipment_id else None
    return ticket.pk if ticket is not None else None


# --- Progress links (notifications.links) -------------------------------------------------------
#
# The link maker is a higher app's (portal). A failure of its own must not stop the notices: a
# failed mint sends the batch with the carrier's tracking link, a failed confirm leaves the
# group's links as minted (the outcomes are recorded all the same, or a notice by email would be
# sent again and again), a failed discard leaves links that no notice carried. Each is logged.


def mint_links(
    provider: ProgressLinkProvider | None, ticket_ids: set[int], *, now: dt.datetime
) -> dict[int, MintedLink]:
    """A new progress link per ticket id (one call for the batch); {} without a link maker."""
    if provider is None or not ticket_ids:
        return {}
    try:
        return dict(provider.mint(sorted(ticket_ids), now=now))
    except Exception:
        logger.exception("Outbox: minting %s progress links failed", len(ticket_ids))
        return {}


def discard_links(provider: ProgressLinkProvider | None, link_ids: set[int]) -> None:
    """The minted links no sent notice carried go (one call)."""
    if provider is None or not link_ids:
        return
    try:
        provider.discard(sorted(link_ids))
    except Exception:
        logger.exception("Outbox: discarding %s progress links failed", len(link_ids))


def fallback_channels_tried(rows: list[Notification]) -> dict[int, set[str]]:
    """Channels already tried before each fallback row (its chain of `fallback_of`)."""
    chains = channels_of_chains({row.fallback_of_id for row in rows if row.fallback_of_id})
    return {row.pk: chains.get(row.fallback_of_id, set()) for row in rows if row.fallback_of_id}


def channels_of_chains(ids: set[int]) -> dict[int, set[str]]:
    """For each notice id: its channel and the channels of every notice it is a fallback of,
    in one recursive query (a chain is a channel or two long; `fallback_of` only points to
    older rows, so it ends)."""
    if not ids:
        return {}
    table = connection.ops.quote_name(Notification._meta.db_table)
    placeholders = ", ".join(["%s"] * len(ids))
    sql = f"""
        WITH RECURSIVE chain(start_id, fallback_of_id, channel) AS (
            SELECT id, fallback_of_id, channel FROM {table} WHERE id IN ({placeholders})
            UNION ALL
            SELECT chain.start_id, earlier.fallback_of_id, earlier.channel
            FROM {table} earlier JOIN chain ON earlier.id = chain.fallback_of_id
        )
        SELECT start_id, channel FROM chain
    """  # nosec B608  # constants only, values bound
    found: dict[int, set[str]] = defaultdict(set)
    with connection.cursor() as cursor:
        cursor.execute(sql, sorted(ids))
        for start_id, channel in cursor.fetchall():
            found[start_id].add(channel)
    return found


def handle(
    notification: Notification,
    *,
    now: dt.datetime,
    book,
    link: MintedLink | None = None,
    heard: list[Heard],
    tried: set[str],
    result: DispatchResult,
    outcomes: OutcomeWriter,
) -> None:
    """Decide one claimed row (defer, suppress or send) and hand its outcome to `outcomes`.

    `link`: the progress link minted for the row's ticket, if any (the sent text carries it)."""
    customer = notification.customer
    if notification.kind not in QUIET_HOURS_EXEMPT:
        until = quiet_until(customer, now=now)
        if until is not None:
            outcomes.release(notification, until=until)
            result.deferred += 1
            return
    category, why = suppression_reason(notification, now=now, heard=heard)
    if not why:
        channel, why = usable_channel(customer, starting_at=notification.channel, tried=tried)
        if channel is None:
            category = Reason.NO_CHANNEL
        else:
            notification.channel = channel
    if why:
        outcomes.suppressed(notification, why=why)
        result.suppressed += 1
        result.reasons[category] += 1
        return
    _send(
        notification,
        now=now,
        book=book,
        link=link,
        heard=heard,
        result=result,
        outcomes=outcomes,
    )


def _send(notification, *, now, book, link, heard, result: DispatchResult, outcomes) -> None:
    try:
        rendered = render_notice(notification, book=book, now=now, link=link)
    except NoTemplate as error:
        _fail(
            notification,
            error=_("no template: %(error)s") % {"error": error},
            now=now,
            result=result,
        )
        return
    if (
        notification.channel == Channel.SMS
        and rendered.sms_segments > settings.NOTICE_SMS_MAX_SEGMENTS
    ):
        error = _("the text needs %(n)s SMS segments, more than the limit of %(limit)s") % {
            "n": rendered.sms_segments,
            "limit": settings.NOTICE_SMS_MAX_SEGMENTS,
        }
        _fail(notification, error=error, now=now, result=result)
        return
    recipient = address(notification.customer, notification.channel)
    message = backends.OutgoingMessage(
        to=recipient,
        body=rendered.body,
        title=rendered.subject,
        reference=str(notification.public_id),
    )
    backend = backends.get_backend(notification.channel)
    started = time.monotonic()
    try:
        provider_id = backend.send(message)
    except backends.PermanentFailure as error:
        _fail(notification, error=f"{notification.channel}: {error}", now=now, result=result)
        return
    except backends.TemporaryFailure as error:
        outcomes.retry_or_fail(
            notification, error=f"{notification.channel}: {error}", result=result
        )
        return
    except Exception as error:  # a backend bug must not stop the pass; retry it later
        logger.exception("Outbox: backend for %s raised", notification.channel)
        outcomes.retry_or_fail(
            notification, error=f"{notification.channel}: {error!r}", result=result
        )
        return
    outcomes.sent(
        notification,
        rendered=rendered,
        recipient=recipient,
        provider_id=provider_id,
        link=link if carries(rendered, link) else None,
        record_now=(
            backend.repeat_reaches_customer or time.monotonic() - started >= SLOW_SEND_SECONDS
        ),
    )
    result.sent += 1
    if notification.kind in DELAY_KINDS:
        heard.append(Heard(at=now, level_rank=_rank(notification.level), notification_id=0))


def carries(rendered, link: MintedLink | None) -> bool:
    """The sent text holds the link (a template without {progress_url} sends none)."""
    return link is not None and bool(link.url) and link.url in rendered.subject + rendered.body


# --- Recording outcomes ------------------------------------------------------------------------

# A send that took at least this long is recorded at once: next to such a provider call one
# UPDATE is cheap, and a worker killed after it leaves at most that one message sent but not
# marked. So is a send whose repeat would reach the customer (email through SMTP: no
# idempotency key). Only faster sends to backends that drop or never deliver a repeat (a
# provider honouring our idempotency key, a no-op backend) are recorded in groups.
SLOW_SEND_SECONDS = 0.005
# A group is written when it holds NOTICE_OUTCOME_GROUP_SIZE rows, at the end of the batch, or
# when its oldest outcome is this old (whatever comes first).
MAX_GROUP_AGE_SECONDS = 0.25

OUTCOME_COLUMNS = (
    # column, array type on PostgreSQL; NULL in a group row keeps the row's current value.
    ("status", "text"),
    ("channel", "text"),
    ("language", "text"),
    ("recipient", "text"),
    ("subject", "text"),
    ("body", "text"),
    ("sent_at", "timestamptz"),
    ("attempts", "integer"),
    ("provider_message_id", "text"),
    ("suppressed_reason", "text"),
    ("suppressed_reason_parts", "jsonb"),
    ("last_error", "text"),
    ("next_attempt_at", "timestamptz"),
)


class OutcomeWriter:
    """Records what happened to claimed rows: one UPDATE per group of rows, not per row.

    Sent, suppressed, deferred and retried rows go into the group; a permanent failure is
    written at once with its fallback row (one transaction). A sent row keeps the text with its
    progress link redacted (`Rendered.stored_subject`, `stored_body`); only the customer gets
    the token. A group is written (one statement and one commit, with the surveys' sent_at and
    the link maker's confirm of the progress links its sent rows carried, in the same
    transaction: a link becomes its ticket's live link only with the outcome that says it went
    out) when it reaches NOTICE_OUTCOME_GROUP_SIZE rows, when its oldest outcome is
    MAX_GROUP_AGE_SECONDS old, right after a send slower than SLOW_SEND_SECONDS or one whose
    repeat would reach the customer (`MessageBackend.repeat_reaches_customer`), and when the
    batch ends (also on an error).

    A worker killed before it wrote a group leaves those rows claimed: after the claim timeout
    they are queued again and the sent ones go out again *with the same reference* (at least
    once at the provider boundary). So a kill repeats at most one send that a customer could
    see twice, and at most one group of sends that the backend drops or never delivers;
    NOTICE_OUTCOME_GROUP_SIZE = 1 writes every outcome at once.
    """

    def __init__(
        self,
        *,
        now: dt.datetime,
        group_size: int | None = None,
        provider: ProgressLinkProvider | None = None,
    ):
        self.now = now
        self.group_size = group_size or settings.NOTICE_OUTCOME_GROUP_SIZE
        self.provider = provider
        self.rows: list[tuple] = []
        self.survey_tickets: list[int] = []
        # Progress links: of the group's sent rows (confirmed with the group), of every sent
        # row so far (the batch discards the others), confirmed so far (once is enough).
        self.group_links: set[int] = set()
        self.links_sent: set[int] = set()
        self.links_confirmed: set[int] = set()
        self.oldest = 0.0

    # Outcomes -------------------------------------------------------------------------------

    def sent(
        self,
        notification,
        *,
        rendered,
        recipient: str,
        provider_id,
        record_now: bool,
        link: MintedLink | None = None,
    ):
        """`link`: the progress link the sent text carried, if any."""
        if link is not None:
            self.links_sent.add(link.id)
            if link.id not in self.links_confirmed:
                self.group_links.add(link.id)
        self._add(
            notification.pk,
            status=Status.SENT,
            channel=notification.channel,
            language=rendered.language,
            recipient=recipient,
            subject=rendered.stored_subject[:200],
            body=rendered.stored_body,
            sent_at=self.now,
            attempts=notification.attempts + 1,
            provider_message_id=str(provider_id or "")[:128],
            last_error="",
        )
        if notification.kind == NoticeKind.SURVEY and notification.ticket_id:
            self.survey_tickets.append(notification.ticket_id)
        if record_now:
            self.flush()

    def suppressed(self, notification, *, why: list[reasons.Part]) -> None:
        """Not sent, and why: in English (`suppressed_reason`) and as parts that the history
        shows in the reader's language (`suppressed_reason_parts`)."""
        self._add(
            notification.pk,
            status=Status.SUPPRESSED,
            suppressed_reason=reasons.render_english(why)[:200],
            suppressed_reason_parts=json.dumps(reasons.to_json(why)),
        )

    def release(self, notification, *, until: dt.datetime) -> None:
        """Back to the queue until `until` (quiet hours), attempts unchanged, with the reason
        the history shows ("held back ... until"); it stays after the send, as history, and a
        later suppression replaces it."""
        why = [reasons.Part(reasons.QUIET_HOURS, {"time": until.isoformat()})]
        self._add(
            notification.pk,
            status=Status.PENDING,
            next_attempt_at=until,
            suppressed_reason=reasons.render_english(why)[:200],
            suppressed_reason_parts=json.dumps(reasons.to_json(why)),
        )

    def retry_or_fail(self, notification, *, error: str, result: DispatchResult) -> None:
        attempts = notification.attempts + 1
        if attempts >= settings.NOTICE_MAX_ATTEMPTS:
            message = _("gave up after %(n)s attempts: %(error)s") % {
                "n": attempts,
                "error": error,
            }
            notification.attempts = attempts - 1
            _fail(notification, error=message, now=self.now, result=result)
            return
        self._add(
            notification.pk,
            status=Status.PENDING,
            attempts=attempts,
            next_attempt_at=self.now + retry_delay(attempts),
            last_error=error[:2000],
        )
        result.retried += 1

    # Writing --------------------------------------------------------------------------------

    def _add(self, pk: int, **values) -> None:
        if not self.rows:
            self.oldest = time.monotonic()
        self.rows.append((pk, *(values.get(column) for column, _type in OUTCOME_COLUMNS)))
        if (
            len(self.rows) >= self.group_size
            or time.monotonic() - self.oldest >= MAX_GROUP_AGE_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        """Write the group: one UPDATE (PostgreSQL: over unnest() arrays; SQLite: one
        parameterised statement per row), the surveys' sent_at, the confirm of the progress
        links the group's sent rows carried, one commit."""
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        surveys, self.survey_tickets = self.survey_tickets, []
        confirm = sorted(self.group_links) if self.provider is not None else []
        self.group_links = set()
        postgresql = connection.vendor == "postgresql"
        # One statement commits on its own (autocommit): no BEGIN/COMMIT round trips.
        atomic = transaction.atomic() if surveys or confirm or not postgresql else nullcontext()
        with atomic, connection.cursor() as cursor:
            if postgresql:
                cursor.execute(_GROUP_UPDATE_POSTGRESQL, _group_params(rows, now=self.now))
            else:
                cursor.executemany(_GROUP_UPDATE_ROW, _row_params(rows, now=self.now))
            if surveys:
                SatisfactionSurvey.objects.filter(ticket_id__in=surveys, sent_at=None).update(
                    sent_at=self.now
                )
            if confirm:
                self._confirm(confirm)
        self.links_confirmed.update(confirm)

    def _confirm(self, link_ids: list[int]) -> None:
        """The link maker's confirm, in the group's transaction. In a savepoint of its own: a
        failure is logged and rolls back only the confirm, so the outcomes are still recorded
        (else a notice by email would go out again after every claim timeout)."""
        try:
            with transaction.atomic():
                self.provider.confirm(link_ids, now=self.now)
        except Exception:
            logger.exception("Outbox: confirming %s progress links failed", len(link_ids))


def _set_clause(value: str) -> str:
    """SET list for a group row: status always, NULL keeps a column, a release or retry clears
    the claim time (the row is pending again), every outcome clears the claimant."""
    sets = [f"status = {value.format(column='status')}"]
    sets += [
        f"{column} = COALESCE({value.format(column=column)}, {{table}}{column})"
        for column, _type in OUTCOME_COLUMNS
        if column != "status"
    ]
    sets.append(
        f"claimed_at = CASE WHEN {value.format(column='status')} = '{Status.PENDING}' "
        "THEN NULL ELSE {table}claimed_at END"
    )
    sets.append("claimed_by = ''")
    sets.append("updated_at = %s")
    return ", ".join(sets)


_GROUP_UPDATE_POSTGRESQL = (
    "UPDATE notifications_notification AS n SET "
    + _set_clause("v.{column}").format(table="n.")  # nosec B608  # constants only, values bound
    + " FROM unnest(%s::bigint[], "
    + ", ".join(f"%s::{type_}[]" for _column, type_ in OUTCOME_COLUMNS)
    + ") AS v(id, "
    + ", ".join(column for column, _type in OUTCOME_COLUMNS)
    + ") WHERE n.id = v.id"
)

# SQLite: the same SET list with one parameter per column, for executemany().
_GROUP_UPDATE_ROW = (
    "UPDATE notifications_notification SET " + _set_clause("%s").format(table="") + " WHERE id = %s"  # nosec B608  # constants only, values bound
)


def _row_params(rows: list[tuple], *, now: dt.datetime) -> list[list]:
    """Parameters of _GROUP_UPDATE_ROW per row: the columns, the status again (claim time),
    the time, the id."""
    adapt = connection.ops.adapt_datetimefield_value
    return [
        [
            *(adapt(value) if isinstance(value, dt.datetime) else value for value in row[1:]),
            row[1],
            adapt(now),
            row[0],
        ]
        for row in rows
    ]


def _group_params(rows: list[tuple], *, now: dt.datetime) -> list:
    columns = list(zip(*rows, strict=True))
    return [now, list(columns[0]), *(list(values) for values in columns[1:])]


def retry_delay(attempts: int) -> dt.timedelta:
    """Exponential backoff: base, 2 x base, 4 x base ... capped (attempts counts from 1)."""
    seconds = settings.NOTICE_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return dt.timedelta(seconds=min(seconds, settings.NOTICE_RETRY_MAX_SECONDS))


def _fail(notification, *, error: str, now: dt.datetime, result: DispatchResult) -> None:
    with transaction.atomic():
        Notification.objects.filter(pk=notification.pk).update(
            status=Status.FAILED,
            attempts=notification.attempts + 1,
            claimed_by="",
            last_error=error[:2000],
            updated_at=now,
        )
        fallback = queue_fallback(notification, now=now)
    result.failed += 1
    if fallback is not None:
        result.fallbacks += 1


def queue_fallback(notification: Notification, *, now: dt.datetime) -> Notification | None:
    """After a permanent failure: the same notice on the customer's next usable channel."""
    tried = {notification.channel}
    if notification.fallback_of_id:
        tried |= channels_of_chains({notification.fallback_of_id})[notification.fallback_of_id]
    channel, _why = usable_channel(
        notification.customer, starting_at=notification.channel, tried=tried
    )
    if channel is None:
        return None
    key = f"{notification.dedupe_key}>{channel}"[:200]
    fallback, _created = Notification.objects.get_or_create(
        dedupe_key=key,
        defaults={
            "customer_id": notification.customer_id,
            "ticket_id": notification.ticket_id,
            "shipment_id": notification.shipment_id,
            "incident_id": notification.incident_id,
            "fallback_of": notification,
            "kind": notification.kind,
            "channel": channel,
            "language": notification.language,
            "level": notification.level,
            "context": notification.context,
            "not_before": now,
            "next_attempt_at": now,
        },
    )
    return fallback


# --- After sending: delivery receipts ----------------------------------------------------------


def notice_delivered(notification: Notification, *, at: dt.datetime) -> bool:
    """The provider reports the notice delivered (SENT -> DELIVERED; idempotent)."""
    return bool(
        Notification.objects.filter(pk=notification.pk, status=Status.SENT).update(
            status=Status.DELIVERED, delivered_at=at, updated_at=timezone.now()
        )
    )


def notice_failed_after_send(
    notification: Notification, *, error: str, now: dt.datetime
) -> Notification | None:
    """The provider accepted the notice but could not deliver it: mark it failed and queue the
    customer's next channel (returned; the caller nudges a worker for it). Idempotent: a
    repeated receipt finds the row failed already."""
    with transaction.atomic():
        changed = Notification.objects.filter(
            pk=notification.pk, status__in=[Status.SENT, Status.DELIVERED]
        ).update(status=Status.FAILED, last_error=error[:2000], updated_at=now)
        if not changed:
            return None
        notification.refresh_from_db()
        fallback = queue_fallback(notification, now=now)
    return fallback
