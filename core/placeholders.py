"""Safe placeholder substitution for texts written in the admin (macros, notice templates).

Rendering is a single regex pass over the body, on purpose not ``str.format``/``format_map``
and not the Django template engine. Bodies are written in the admin, so they are input:

- ``str.format`` evaluates each field: ``{customer_name.__class__}`` reads attributes (a
  classic way to walk from a value to globals and settings), ``{0}`` reads positional
  arguments, ``{customer_name:>1000000}`` pads a value to a megabyte, and a stray ``{`` raises.
- The Django template engine runs tags and filters (``{% load %}``, ``{{ settings.X }}`` with
  whatever the context reaches).

Here only ``{name}`` with ``name`` in the caller's ``allowed`` names is replaced; everything
else (unknown names, attribute or index access, conversions, format specs, template syntax)
stays exactly as written. Braces have no escape: ``{{`` stays ``{{``, so ``{{order_number}}``
becomes ``{ORD-1}`` (the inner placeholder is replaced, the outer braces are text).
Replacement values are never scanned again, so a customer called ``{tracking_number}`` stays
that way.

The result is plain text, not marked safe: whatever shows it escapes any HTML that a value or
the body contains.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

# What rendering replaces: lowercase names only, no dots, brackets, "!" or ":".
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# What validation reports: anything between a pair of braces, so that "{Order}", "{0}",
# "{customer_name.__class__}" and "{ settings.SECRET_KEY }" are flagged, not silently kept.
_BRACED = re.compile(r"\{([^{}]*)\}")


def render_placeholders(body: str, context: Mapping[str, str], allowed: Collection[str]) -> str:
    """``body`` with each ``{name}`` replaced by ``context[name]``, in one pass.

    Names outside ``allowed``, or missing from ``context``, stay as written. Plain text.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in allowed and name in context:
            return str(context[name])
        return match.group(0)

    return _PLACEHOLDER.sub(replace, body)


def placeholders_in(body: str, allowed: Collection[str]) -> list[str]:
    """The allowed placeholder names ``body`` uses, once each, in order."""
    found: list[str] = []
    for match in _PLACEHOLDER.finditer(body):
        name = match.group(1)
        if name in allowed and name not in found:
            found.append(name)
    return found


def unknown_placeholders(body: str, allowed: Collection[str]) -> list[str]:
    """What ``body`` has between braces that is not an allowed name, once each, in order.

    For form validation: these are left in the text as written. ``{}`` is reported as "".
    """
    found: list[str] = []
    for match in _BRACED.finditer(body):
        name = match.group(1)
        if name not in allowed and name not in found:
            found.append(name)
    return found


def has_stray_braces(body: str) -> bool:
    """Whether ``body`` has a ``{`` or ``}`` outside a ``{...}`` pair, such as ``{order_number``
    or the outer braces of ``{{order_number}}``: they would reach the reader as written."""
    rest = _BRACED.sub("", body)
    return "{" in rest or "}" in rest
