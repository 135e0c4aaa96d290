"""Progress links in notices: the customer's page is a higher app's (portal), the notice is ours.

A progress link (``{progress_url}``) carries a token that exists in clear only when it is made:
the portal stores its hash. So the dispatcher asks for a fresh link for each batch it sends,
and tells the maker which links went out:

1. ``mint(ticket_ids, now=...)`` before the batch's sends: one new link per ticket (one
   statement), usable at once: a notice may reach the customer before its outcome is recorded.
2. ``confirm(link_ids, now=...)`` inside the transaction that records sent notices: these links
   went out, so each becomes its ticket's live link, and the ticket's older links stop working
   after the grace period (PROGRESS_LINK_GRACE_HOURS).
3. ``discard(link_ids)`` when the batch ends: the links no sent notice carried (suppressed,
   deferred, retried or failed rows, and a text whose template has no ``{progress_url}``).

The notice text sent carries ``url``; the stored copy of the notice (what agents read in the
console and the admin) carries ``redacted_url`` in its place (``Rendered.stored_body``). A
maker's failure does not stop the notices: the dispatcher logs it and sends the batch with the
carrier's tracking link (mint), records the outcomes without the confirm (confirm, which runs in
a savepoint of its own), or leaves the links (discard).

Notifications sits below portal and cannot import it: the portal registers its maker in
``PortalConfig.ready()`` (``register_provider``). With none registered (notifications alone, or a
test), ``get_provider()`` is None and notices link to the carrier's tracking page instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class MintedLink:
    id: int  # the maker's row id: confirm and discard name links by it
    ticket_id: int
    url: str  # with the token in clear: goes into the sent text only, never into a row
    redacted_url: str  # what the stored copy of the notice shows in its place: no token part


class ProgressLinkProvider(Protocol):
    def mint(self, ticket_ids: Collection[int], *, now: dt.datetime) -> dict[int, MintedLink]:
        """A new link for each ticket id, by ticket id (one call per batch, before its sends).
        A ticket missing from the answer gets the carrier's tracking link."""

    def confirm(self, link_ids: Collection[int], *, now: dt.datetime) -> None:
        """These links went out: each is its ticket's live link from now on. Called inside the
        transaction that records the notices as sent, once per link and batch."""

    def discard(self, link_ids: Collection[int]) -> None:
        """These links went out in no notice: delete them."""


_provider: ProgressLinkProvider | None = None


def register_provider(provider: ProgressLinkProvider | None) -> None:
    global _provider
    _provider = provider


def get_provider() -> ProgressLinkProvider | None:
    return _provider
