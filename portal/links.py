"""Progress links: make, check, retire and revoke them (portal.models.ProgressLink).

- `PortalLinks` is the maker notifications' dispatcher calls (notifications.links): one new
  link per ticket of a batch, confirmed for the notices that went out, discarded for the rest.
- `usable_link(token, now=...)`: the link a token opens, in one indexed query whatever is wrong
  with the token (unknown, retired, revoked, its ticket closed too long ago), so a wrong token
  costs the same as a good one and the answer tells nothing about why.
- `anchor_link(ticket, kind, now=...)`: a link row without a known token, for a page session
  the lookup form or an old survey link opened (revoking the ticket's links ends it too).
- `revoke_links(ticket, by=..., now=...)`: an agent ends every link and page session of a
  ticket; the customer's next notice brings a new link.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Collection

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse

from core import audit
from core.models import AuditAction
from notifications.links import MintedLink
from portal.models import LinkKind, ProgressLink
from tickets.models import Ticket, TicketEvent
from tickets.services import record_event

# 32 bytes (256 bits) from the operating system's CSPRNG; 43 URL-safe characters.
TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """SHA-256 of the token, hex. Any string hashes (a malformed token simply matches nothing)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def link_url(token: str) -> str:
    return f"{settings.SITE_URL}{reverse('portal:exchange', args=[token])}"


def redacted_url() -> str:
    """What the stored copy of a notice shows in place of its link: no part of the token."""
    return f"{settings.SITE_URL}{reverse('portal:lookup')}…"


def grace() -> dt.timedelta:
    return dt.timedelta(hours=settings.PROGRESS_LINK_GRACE_HOURS)


def ticket_reachable(now: dt.datetime, prefix: str = "") -> Q:
    """Tickets whose page still opens: not closed, or closed less than PROGRESS_LINK_TTL_DAYS
    ago."""
    closed_since = now - dt.timedelta(days=settings.PROGRESS_LINK_TTL_DAYS)
    return Q(**{f"{prefix}closed_at__isnull": True}) | Q(**{f"{prefix}closed_at__gt": closed_since})


def usable(now: dt.datetime) -> Q:
    """Links that open a page now: not revoked, not retired, their ticket reachable."""
    return (
        Q(revoked_at__isnull=True)
        & (Q(live_until__isnull=True) | Q(live_until__gt=now))
        & ticket_reachable(now, prefix="ticket__")
    )


def usable_link(token: str, *, now: dt.datetime) -> ProgressLink | None:
    """The link ``token`` opens now (with its ticket's public id), else None."""
    return (
        ProgressLink.objects.filter(usable(now), token_hash=hash_token(token))
        .select_related("ticket")
        .only("pk", "ticket_id", "ticket__public_id")
        .first()
    )


def anchor_link(ticket: Ticket, *, kind: str, now: dt.datetime) -> ProgressLink:
    """A link nobody holds a token of (a random hash; it opens nothing by itself), anchoring a
    page session opened another way."""
    return ProgressLink.objects.create(
        ticket=ticket,
        kind=kind,
        token_hash=hash_token(new_token()),
        created_at=now,
        live_until=now,
    )


def revoke_links(ticket: Ticket, *, by, now: dt.datetime) -> int:
    """End every link of ``ticket`` and the page sessions opened with them; the timeline says
    who did it. Returns how many links were still unrevoked."""
    with transaction.atomic():
        count = ProgressLink.objects.filter(ticket=ticket, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=by
        )
        record_event(ticket, TicketEvent.Kind.LINK_REVOKED, at=now, actor=by, links=count)
        audit.record(
            AuditAction.LINKS_REVOKED,
            actor=by,
            obj=ticket,
            before={"working_links": count},
            after={"working_links": 0},
            at=now,
        )
    return count


def purge_expired_links(*, now: dt.datetime) -> int:
    """Delete the links of tickets closed longer than PROGRESS_LINK_TTL_DAYS ago: they open
    nothing any more (one set-based DELETE). A link retired by a newer one stays while its
    ticket is reachable: a page session opened with it still names it."""
    closed_before = now - dt.timedelta(days=settings.PROGRESS_LINK_TTL_DAYS)
    deleted, _ = ProgressLink.objects.filter(ticket__closed_at__lte=closed_before).delete()
    return deleted


class PortalLinks:
    """The progress-link maker of notifications' dispatcher (notifications.links)."""

    def mint(self, ticket_ids: Collection[int], *, now: dt.datetime) -> dict[int, MintedLink]:
        """One new link per ticket, in one INSERT; usable at once (a notice may reach the
        customer before its outcome is recorded)."""
        tokens = {ticket_id: new_token() for ticket_id in sorted(set(ticket_ids))}
        if not tokens:
            return {}
        rows = ProgressLink.objects.bulk_create(
            ProgressLink(
                ticket_id=ticket_id,
                kind=LinkKind.NOTICE,
                token_hash=hash_token(token),
                created_at=now,
            )
            for ticket_id, token in tokens.items()
        )
        hidden = redacted_url()
        return {
            row.ticket_id: MintedLink(
                id=row.pk,
                ticket_id=row.ticket_id,
                url=link_url(tokens[row.ticket_id]),
                redacted_url=hidden,
            )
            for row in rows
        }

    def confirm(self, link_ids: Collection[int], *, now: dt.datetime) -> None:
        """These links went out: their tickets' older links work PROGRESS_LINK_GRACE_HOURS
        more (one UPDATE)."""
        ids = sorted(set(link_ids))
        if not ids:
            return
        tickets = ProgressLink.objects.filter(pk__in=ids).values("ticket_id")
        ProgressLink.objects.filter(
            ticket_id__in=tickets, live_until__isnull=True, pk__lt=ids[-1]
        ).exclude(pk__in=ids).update(live_until=now + grace())

    def discard(self, link_ids: Collection[int]) -> None:
        """Links no notice carried: nobody can hold them, delete them."""
        if link_ids:
            ProgressLink.objects.filter(pk__in=list(link_ids), kind=LinkKind.NOTICE).delete()
