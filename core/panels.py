"""Panel slots: where a page of a lower app shows what a higher app owns, without importing it.

Apps import only downward (docs/ARCHITECTURE.md). Yet the ticket page (tickets) shows the
notices sent about the ticket (notifications) and its remedies (compensation). The lower page
names a *slot*; a higher app puts a *panel* into it in its ``AppConfig.ready()``.

A panel is an HTMX fragment served by the higher app's own URL: the lower page renders a
placeholder that loads it after the page (``hx-trigger="load"``), with a plain link to the same
URL for a reader without JavaScript. The higher app checks its own roles and keeps its own query
budget, so the lower page's query count does not change when a panel is added. The URL is
reversed with the arguments the lower page passes (usually the object's public id).

A slot nobody filled renders nothing: a lower app works, and is tested, without the apps above
it. The slots in use are listed in docs/ARCHITECTURE.md.

    # notifications/apps.py
    def ready(self):
        panels.register_panel(
            slot="ticket.sidebar", url_name="notifications:ticket_history",
            title=_("Notifications"), link_text=_("Show the notices sent about this ticket"),
            order=30, marker="notice-panel",
        )

    {# templates/tickets/ticket_detail.html #}
    {% load delaydesk %}{% panel_slot "ticket.sidebar" ticket.public_id %}

(Plain navigation, a link or a redirect to a higher app's page, is by URL name: config's URLconf
resolves it; that is not an import.)
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.functional import Promise

_panels: dict[str, dict[str, Panel]] = {}


@dataclass(frozen=True)
class Panel:
    slot: str
    url_name: str
    title: str | Promise
    link_text: str | Promise
    order: int = 100
    # A data attribute (data-<marker>) and class that scripts, styles and tests find it by.
    marker: str = ""


def register_panel(
    *,
    slot: str,
    url_name: str,
    title: str | Promise,
    link_text: str | Promise,
    order: int = 100,
    marker: str = "",
) -> Panel:
    """Put the panel served at ``url_name`` into ``slot`` (idempotent per slot and URL name)."""
    panel = Panel(slot, url_name, title, link_text, order, marker)
    _panels.setdefault(slot, {})[url_name] = panel
    return panel


def unregister_panel(*, slot: str, url_name: str) -> None:
    """Take a panel out of its slot (tests show a page without a higher app's panel)."""
    _panels.get(slot, {}).pop(url_name, None)


def panels(slot: str) -> list[Panel]:
    """The panels registered for ``slot``, in order."""
    return sorted(_panels.get(slot, {}).values(), key=lambda p: (p.order, p.url_name))


def render_panel(request: HttpRequest, *, fragment: str, page: str, context: dict) -> HttpResponse:
    """A panel's answer: the ``fragment`` template for htmx, else the small ``page`` around it
    (the panel's link without JavaScript, or a history restore after a cache miss, which
    needs the whole page). Varies on HX-Request, so a cache never serves one for the other."""
    htmx = getattr(request, "htmx", None)
    partial = bool(htmx) and not htmx.history_restore_request
    response = render(request, fragment if partial else page, context)
    patch_vary_headers(response, ("HX-Request",))
    return response
