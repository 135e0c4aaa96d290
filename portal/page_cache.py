"""The case page, served again without being read and rendered again while its case has not
changed.

Customers come back to their page: from each notice, after each reply, to see whether the
parcel moved. Reading the case (eight queries) and rendering it cost about three quarters of a
view (docs/PERFORMANCE.md); the query that checks the browser's access reads, with the case's
own columns, a stamp of each of its lists (portal.access). `key` sums all of that up, with the
language, the time zone and the view (first or ?all=1): a new event, message, scan, remedy or
answer, a changed preference or estimate, a new agent, gives a new key, so a page in the cache
is never older than its case. Time alone changes a page too (an estimate passes, a survey
closes): an entry lives until the first such moment (CasePage.changes_at) and at most
PORTAL_PAGE_CACHE_SECONDS (the bound on how long "in 2 hours" may lag).

Only the plain page is kept: a GET with no query string but ?all=1, no message to show after an
action, no form sent back with its errors. What differs between two answers of one page, the
CSRF token, is a slot in the kept text (CSRF_SLOT) filled for each answer; anything typed by a
customer or an agent is escaped in the page, so it can never look like the slot.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.cache import caches
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.utils.safestring import mark_safe

from portal.access import PAGE_COLUMNS, PAGE_LOOKUPS, STAMP_NAMES
from portal.models import ProgressLink

CSRF_SLOT = mark_safe("<!--csrf-token-->")  # nosec B308  # a constant HTML comment
# The only query strings of a kept page: the first view and every step (?all=1).
QUERIES = ("", "all=1")


def pages():
    return caches["portal_pages"]


def servable(request: HttpRequest) -> bool:
    """Whether this answer is the plain page (the same for every view of one state)."""
    return (
        settings.PORTAL_PAGE_CACHE_SECONDS > 0
        and request.method == "GET"
        and request.META.get("QUERY_STRING", "") in QUERIES
        and not get_messages(request)
    )


def key(link: ProgressLink, *, language: str, zone: str, full: bool) -> str:
    """Everything the page shows depends on, summed up (see the module docstring)."""
    values = [link.ticket.public_id, language, zone, full]
    values += [_value(link, column) for column in PAGE_COLUMNS]
    values += [
        getattr(link, f"page_{name}_{column}")
        for _owner, name, columns in PAGE_LOOKUPS
        for column in columns
    ]
    values += [getattr(link, name) for name in STAMP_NAMES]
    digest = hashlib.blake2b(repr(values).encode(), digest_size=20).hexdigest()
    return f"case:{link.ticket_id}:{digest}"


def _value(link: ProgressLink, column: str):
    row = link
    for name in column.split("__"):
        row = getattr(row, name)
        if row is None:
            return None
    return row


def get(key: str, *, now: dt.datetime) -> str | None:
    kept = pages().get(key)
    if kept is None:
        return None
    text, until = kept
    return text if until is None or now < until else None


def put(key: str, text: str, *, now: dt.datetime, changes_at: dt.datetime | None) -> None:
    seconds = settings.PORTAL_PAGE_CACHE_SECONDS
    if changes_at is not None:
        seconds = min(seconds, int((changes_at - now).total_seconds()))
    if seconds >= 1:
        pages().set(key, (text, changes_at), seconds)


def fill(text: str, request: HttpRequest) -> str:
    """A kept page with this answer's CSRF token in its slots."""
    return text.replace(CSRF_SLOT, get_token(request))
