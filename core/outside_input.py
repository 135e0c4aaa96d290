"""Checks on what arrives from outside (carriers, merchants, providers) before it is trusted.

Three guards shared by every door that takes outside input:

1. ``request_body_read``: the raw body, refused with 413 from its announced length before a
   byte is read (and from its real length when the announcement lies).
2. ``json_too_deep`` / ``json_loads_bounded``: the nesting depth of a JSON body, measured by
   an iterative scan of its bytes (no recursion, so a body nested a million deep costs one pass
   and cannot raise RecursionError), and ``json.loads`` only once the depth is known to be
   small. ``json_carrier_code`` reads the ``"carrier"`` string, so the webhook finds whose
   secret signs a body, and checks the signature, before parsing it.
3. ``outside_time_error``: a time from outside must fall in a sane window (settings
   ``OUTSIDE_TIME_MIN_YEAR``, ``OUTSIDE_TIME_MAX_AHEAD_HOURS`` for facts such as a scan or an
   order, ``OUTSIDE_PROMISE_MAX_AHEAD_DAYS`` for promises); year 1 or 9999 never reaches the
   database, where it would break every page that shows or converts it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

# Deeper than any body we take (the webhook's is 3: {"events": [{...}]}) with room for the
# extra fields carriers send and we ignore; far below Python's recursion limit.
MAX_JSON_DEPTH = 32

BODY_TOO_LARGE = _("The body is larger than {limit} bytes.")
CONTENT_LENGTH_MALFORMED = _("Malformed Content-Length header.")
NOT_JSON = _("The body is not JSON.")
JSON_TOO_DEEP = _("The body is nested deeper than {depth} levels.")
TIME_TOO_EARLY = _("Not a plausible time: before {year}.")
TIME_TOO_LATE = _("Not a plausible time: more than {hours} hours after it reached us.")
PROMISE_TOO_LATE = _("Not a plausible time: more than {days} days after it reached us.")


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The body is too large.")
    default_code = "payload_too_large"


# --- Body size --------------------------------------------------------------------------------


def request_body_read(request: HttpRequest, *, max_bytes: int) -> bytes:
    """The raw body, or PayloadTooLarge (413) when it is longer than ``max_bytes``.

    The announced Content-Length is checked before reading: an oversized body is refused
    without being read. Django's DATA_UPLOAD_MAX_MEMORY_SIZE, when lower, answers the same.
    """
    too_large = PayloadTooLarge(BODY_TOO_LARGE.format(limit=max_bytes))
    announced = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(announced)
    except ValueError:
        raise ParseError(CONTENT_LENGTH_MALFORMED) from None
    if length < 0:
        raise ParseError(CONTENT_LENGTH_MALFORMED)
    if length > max_bytes:
        raise too_large
    try:
        body = request.body
    except RequestDataTooBig:
        raise too_large from None
    if len(body) > max_bytes:
        raise too_large
    return body


# --- JSON depth -------------------------------------------------------------------------------

# A JSON string, escapes included (the unrolled form: linear, no backtracking).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
_OPENING = frozenset(b"[{")
# The first "carrier" key followed by a string. Not depth-aware: an event may carry a key of
# that name too, so whoever uses it checks the parsed top-level value against it afterwards.
_CARRIER = re.compile(rb'"carrier"\s*:\s*("[^"\\]*(?:\\.[^"\\]*)*")')


def json_too_deep(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` nests brackets deeper than ``max_depth``, without parsing it.

    Strings are cut out (their brackets are text), then only brackets are kept and counted in
    one iterative pass that stops at the first level too deep: a body nested a million deep
    costs milliseconds and cannot raise RecursionError. Whether the rest is valid JSON is for
    json.loads to say, afterwards; an unterminated string can only overstate the depth of a
    body it would refuse anyway.
    """
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = 0
    for char in brackets:
        if char in _OPENING:
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def json_carrier_code(body: bytes) -> str | None:
    """The value of the first ``"carrier": "<code>"`` in ``body``, found without parsing it.

    None unless it is printable text: a NUL (which PostgreSQL refuses in a query) or a lone
    surrogate (which no database encodes) names no carrier, and must not reach the lookup
    (found by make fuzz: an unsigned body answered 500).
    """
    match = _CARRIER.search(body)
    if match is None:
        return None
    try:
        code = json.loads(match.group(1))  # one flat string: no depth to fear
    except ValueError:
        return None
    return code if isinstance(code, str) and code.isprintable() else None


def json_loads_bounded(body: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for outside input: 400 (ParseError) when too deep or not JSON."""
    raw = body.encode(errors="surrogatepass") if isinstance(body, str) else body
    if json_too_deep(raw, max_depth=max_depth):
        raise ParseError(JSON_TOO_DEEP.format(depth=max_depth))
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ParseError(NOT_JSON) from None


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with the depth cap: every JSON body the API reads (settings'
    DEFAULT_PARSER_CLASSES) is measured before json.load sees it, so a body nested too deep is
    a 400, never a RecursionError answered 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read()
        if json_too_deep(raw):
            raise ParseError(JSON_TOO_DEEP.format(depth=MAX_JSON_DEPTH))
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:  # unreachable under the cap; a 400 all the same
            raise ParseError(NOT_JSON) from None


# --- Time window ------------------------------------------------------------------------------

# A fact (a scan, an order, a hand-over) has happened: at most a little ahead of our clock
# (the sender's clock may run ahead). A promise (a delivery date) lies ahead by nature.
OutsideTimeKind = Literal["fact", "promise"]
FACT: OutsideTimeKind = "fact"
PROMISE: OutsideTimeKind = "promise"


@dataclass(frozen=True, slots=True)
class OutsideTimeWindow:
    earliest: dt.datetime
    latest: dt.datetime
    kind: OutsideTimeKind

    def error(self, moment: dt.datetime) -> str | None:
        """None when ``moment`` (aware) is inside, else the message to show.

        Aware datetimes compare without converting, so year 1 or 9999 with any offset is
        refused here before anything converts it to UTC (which would overflow).
        """
        if moment < self.earliest:
            return str(TIME_TOO_EARLY.format(year=self.earliest.year))
        if moment > self.latest:
            if self.kind == PROMISE:
                return str(PROMISE_TOO_LATE.format(days=settings.OUTSIDE_PROMISE_MAX_AHEAD_DAYS))
            return str(TIME_TOO_LATE.format(hours=settings.OUTSIDE_TIME_MAX_AHEAD_HOURS))
        return None

    def __contains__(self, moment: dt.datetime) -> bool:
        return self.earliest <= moment <= self.latest


def outside_time_window(
    *, received_at: dt.datetime, kind: OutsideTimeKind = FACT
) -> OutsideTimeWindow:
    """The window a time of ``kind`` received at ``received_at`` must fall in (settings)."""
    earliest = dt.datetime(settings.OUTSIDE_TIME_MIN_YEAR, 1, 1, tzinfo=dt.UTC)
    if kind == PROMISE:
        ahead = dt.timedelta(days=settings.OUTSIDE_PROMISE_MAX_AHEAD_DAYS)
    else:
        ahead = dt.timedelta(hours=settings.OUTSIDE_TIME_MAX_AHEAD_HOURS)
    return OutsideTimeWindow(earliest=earliest, latest=received_at + ahead, kind=kind)


def outside_time_error(
    moment: dt.datetime, *, received_at: dt.datetime, kind: OutsideTimeKind = FACT
) -> str | None:
    """None when the aware ``moment`` is a plausible outside time, else why not."""
    return outside_time_window(received_at=received_at, kind=kind).error(moment)
