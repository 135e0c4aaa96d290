"""Parts of the agent's ticket page rendered once and shown again while nothing in them changed.

The timeline (messages and events, 50-100 rows on a long case) and the shipment's scans were
most of the page's rendering time (docs/PERFORMANCE.md, issue 18). Each is kept under a key
that sums up everything it shows:

- the rows themselves, through the stamps the ticket query reads with the ticket
  (tickets.selectors.ticket_detail_queryset): count and newest id of the messages (and their
  newest `updated_at`), of the timeline events, of the scans (and how many are unmapped).
  Whatever the timeline shows is a row: a reply, a note, a change of status (pausing or
  resuming the SLA clocks with it), assignee, priority or category, an SLA warning, breach or
  met milestone, a remedy step, a notice sent; a scan is a row of the scans. So the very next
  view after any of them has another key, whichever code path or process wrote the row: no
  counter has to be bumped by the services. The SLA timers, the header and the panels are not
  kept: they are read and rendered on every view;
- what a row's words depend on besides its own columns: the customer's name (the author of
  inbound messages), the milestones' labels, whether remedies can be named;
- the reader's language and time zone (dates are rendered in the reader's zone);
- the ticket's and shipment's public ids (random: a key never matches another database's
  rows, e.g. in tests that roll back and reuse ids).

When the timeline's key is new (after an action), its rows are read, and each row is kept too
(`render_rows`, keyed by its own columns and names): only the new row is rendered, not the
whole history again.

Nothing in these parts depends on who reads them beyond language and zone (no per-agent
button; every console user sees notes), nor on the clock (no "3 hours ago"). The names of the
agents who wrote are the one thing that can change without a new row: a kept timeline shows a
renamed agent under the new name after at most the cache's TIMEOUT (config/settings.py,
"ticket_fragments").

The cache is each web process's own memory: an entry is found only by the state it shows, so
a process that never saw it renders it once itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable

from django.core.cache import caches
from django.template.loader import get_template
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe

from tickets import selectors
from tickets.models import Ticket

CACHE_ALIAS = "ticket_fragments"
# Bumped when the markup of a kept part changes, so that a process never shows an old one.
SCHEMA = 1


def _digest(values: list) -> str:
    return hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest()


def _reader() -> list[str]:
    return [translation.get_language() or "", timezone.get_current_timezone_name()]


def timeline_key(ticket: Ticket, detail: selectors.TicketDetail) -> str:
    """The key of the ticket's rendered timeline (see the module docstring)."""
    values = [
        SCHEMA,
        str(ticket.public_id),
        ticket.messages_stamp,
        ticket.events_stamp,
        ticket.customer.name,
        sorted(detail.milestone_labels.items()),
        selectors.remedy_labels_known(),
        *_reader(),
    ]
    return f"timeline:{ticket.pk}:{_digest(values)}"


def scans_key(ticket: Ticket) -> str:
    """The key of the rendered scans of the ticket's shipment."""
    shipment = ticket.shipment
    values = [SCHEMA, str(shipment.public_id), ticket.scans_stamp, *_reader()]
    return f"scans:{shipment.pk}:{_digest(values)}"


def _row_key(ticket: Ticket, entry: selectors.TimelineEntry, reader: list[str]) -> str:
    """The key of one rendered timeline row: its own columns that can change, and the names
    and labels its words use (read with the row, so a renamed agent shows at once here)."""
    if entry.message is not None:
        message = entry.message
        author = message.author
        values = [
            "message",
            message.pk,
            message.updated_at,
            author.get_full_name() or author.get_username() if author is not None else "",
            ticket.customer.name,
        ]
    else:
        event = entry.event
        values = ["event", event.pk, event.actor_name, event.timer_label, event.remedy_label]
    values += [SCHEMA, str(ticket.public_id), *reader]
    return f"timeline-row:{ticket.pk}:{_digest(values)}"


def render_rows(ticket: Ticket, detail: selectors.TicketDetail) -> None:
    """Give each entry of the loaded timeline its rendering: kept rows from the cache, the
    others (the new message or event after an action) rendered now and kept.

    After an action the timeline has a new key (a new row), but its other rows have not
    changed: only the new one is rendered, not the whole history again."""
    cache = caches[CACHE_ALIAS]
    reader = _reader()
    keys = [_row_key(ticket, entry, reader) for entry in detail.timeline]
    found = cache.get_many(keys)
    template = None
    new: dict[str, str] = {}
    entries = []
    for key, entry in zip(keys, detail.timeline, strict=True):
        html = found.get(key)
        if html is None:
            template = template or get_template("tickets/ticket_detail.html#timeline-entry")
            html = new[key] = str(template.render({"entry": entry, "ticket": ticket}))
        # Rendered by the template engine, which escaped whatever someone typed.
        entries.append(dataclasses.replace(entry, html=mark_safe(html)))  # nosec B308 B703
    if new:
        cache.set_many(new)
    detail.timeline = entries


def kept(key: str, render: Callable[[], str]) -> SafeString:
    """The rendering kept under `key`, else `render()` (kept for the next view)."""
    cache = caches[CACHE_ALIAS]
    html = cache.get(key)
    if html is None:
        html = render()
        cache.set(key, str(html))
    # The template engine's own output (it escaped whatever someone typed).
    return mark_safe(html)  # nosec B308 B703
