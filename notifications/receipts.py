"""Inbound delivery receipts: a provider tells us what became of a message we handed it.

The provider's message id (``Notification.provider_message_id``, indexed) finds the row; the
outcome is recorded through the dispatcher's services, which are idempotent, so a repeated or
late receipt changes nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from notifications import dispatch
from notifications.models import Notification, NotificationStatus
from notifications.sender import dispatch_soon

logger = logging.getLogger(__name__)

# What receipt_record did, for the caller's answer and the tests.
RECEIPT_DELIVERED = "delivered"  # SENT -> DELIVERED
RECEIPT_FAILED = "failed"  # SENT/DELIVERED -> FAILED, fallback channel queued
RECEIPT_NOTED = "noted"  # an intermediate status (queued, sent): nothing to record
RECEIPT_UNCHANGED = "unchanged"  # the row already had that outcome (a repeated receipt)
RECEIPT_UNKNOWN = "unknown"  # no notification has that provider id
RECEIPT_IGNORED = "ignored"  # a status we do not act on

# Twilio's MessageStatus values (https://www.twilio.com/docs/messaging/api/message-resource).
DELIVERED_STATUSES = frozenset({"delivered", "read"})
FAILED_STATUSES = frozenset({"undelivered", "failed"})
PROGRESS_STATUSES = frozenset({"accepted", "scheduled", "queued", "sending", "sent"})

# Twilio's delivery error codes seen most, so the agent reads a reason and not a number.
TWILIO_DELIVERY_ERRORS = {
    "30003": "unreachable destination handset",
    "30004": "message blocked",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "message filtered by the carrier",
    "30008": "unknown error",
}


def receipt_error_text(*, status: str, error_code: str = "") -> str:
    text = f"SMS {status} according to the provider"
    if error_code:
        reason = TWILIO_DELIVERY_ERRORS.get(error_code)
        text += f" (error {error_code}{': ' + reason if reason else ''})"
    return text


def receipt_record(
    *, provider_message_id: str, status: str, error_code: str = "", at: dt.datetime
) -> str:
    """Record one delivery receipt; return what it did (one of the ``RECEIPT_*`` values).

    1. Find the notification by provider id; an unknown id is logged and ignored (the provider
       only needs to hear that we got it).
    2. delivered: ``notice_delivered`` (SENT -> DELIVERED).
    3. undelivered/failed: ``notice_failed_after_send`` (SENT/DELIVERED -> FAILED and the
       fallback channel queued); a row already FAILED is left alone, so a repeat changes nothing.
    4. queued/sent and anything else: nothing.
    """
    status = status.strip().lower()
    error_code = error_code.strip()
    if status in PROGRESS_STATUSES:
        return RECEIPT_NOTED
    if status not in DELIVERED_STATUSES | FAILED_STATUSES:
        logger.info("Receipt with status %r for %s ignored", status, provider_message_id)
        return RECEIPT_IGNORED
    notification = (
        Notification.objects.filter(provider_message_id=provider_message_id)
        .order_by("-created_at")
        .first()
        if provider_message_id
        else None
    )
    if notification is None:
        logger.info("Receipt (%s) for unknown provider id %r ignored", status, provider_message_id)
        return RECEIPT_UNKNOWN

    if status in DELIVERED_STATUSES:
        if notification.status == NotificationStatus.DELIVERED:
            return RECEIPT_UNCHANGED
        changed = dispatch.notice_delivered(notification, at=at)
        return RECEIPT_DELIVERED if changed else RECEIPT_UNCHANGED

    # DELIVERED too: receipts can arrive out of order, and the provider's failure is the later
    # word (the dispatcher's service accepts both).
    if notification.status not in (NotificationStatus.SENT, NotificationStatus.DELIVERED):
        return RECEIPT_UNCHANGED
    fallback = dispatch.notice_failed_after_send(
        notification, error=receipt_error_text(status=status, error_code=error_code), now=at
    )
    if fallback is not None:
        dispatch_soon()  # the customer's next channel goes out with the next pass
    return RECEIPT_FAILED


# --- Twilio request signatures ------------------------------------------------------------------


def twilio_signature(*, auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """``X-Twilio-Signature``: base64 HMAC-SHA1 keyed with the auth token over the full URL
    followed by every POST parameter's name and value, sorted by name (then value)."""
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> set[str]:
    # Twilio signs the URL as it called it; proxies and load balancers add or drop the port.
    parts = urlsplit(url)
    variants = {url}
    if parts.port is not None:
        variants.add(urlunsplit(parts._replace(netloc=parts.netloc.rpartition(":")[0])))
    elif parts.hostname:
        default = {"https": 443, "http": 80}.get(parts.scheme)
        if default:
            variants.add(urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}")))
    return variants


def twilio_signature_valid(
    *,
    auth_token: str,
    urls: Iterable[str],
    params: Iterable[tuple[str, str]],
    signature: str | None,
) -> bool:
    """Whether ``signature`` signs ``params`` for one of ``urls`` (and their port variants).

    Without an auth token nothing is valid: an empty key would let anyone sign.
    """
    if not auth_token or not signature:
        return False
    params = list(params)
    given = signature.strip().encode()
    candidates = set().union(*(_url_variants(url) for url in urls if url))
    return any(
        hmac.compare_digest(
            twilio_signature(auth_token=auth_token, url=url, params=params).encode(), given
        )
        for url in candidates
    )
