"""CSV downloads, streamed: the supervisor workspace's tables and the admin's audit trail.

Used by supervisor.export (the workspace's tables) and the admin's audit trail alike.

Every table offers its rows as CSV with the page's filters applied (`?format=csv` on the
table's own URL). The rows are written as they are read (`StreamingHttpResponse` over a
generator; querysets iterated with `.iterator()`) and sent about 64 KiB at a time, so a large
export neither times out waiting for the whole file nor holds it in memory. A streamed response
outlives its view, so the rows are written in the time zone and language of the request
(as_in_the_request).

Cells a spreadsheet would run as a formula (starting with =, +, -, @, tab or CR) get a leading
apostrophe: a customer's comment, a carrier's location or a user agent is outside input.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils import timezone, translation

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Rows are written into a buffer and sent about this many characters at a time: one piece per
# row made the server write (and chunk-encode) every row on its own, 165,000 socket writes for
# the delayed shipments of 90 days instead of about 500.
CHUNK_CHARS = 64 * 1024
# Cells of these types are written as they are: their text cannot start with a formula
# character (a negative number is a number, which safe_cell leaves alone too), so checking
# them would only cost time per cell. None is written as an empty cell, as safe_cell makes it.
PLAIN_TYPES = frozenset({int, float, bool, Decimal, dt.date, dt.datetime, uuid.UUID, type(None)})


def safe_cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def safe_row(row: Sequence) -> list:
    """The row's cells as safe_cell writes them, checking only text (and lazy or other objects
    written through str()): the common cells cost no function call."""
    return [
        cell
        if (kind := cell.__class__) in PLAIN_TYPES
        or (kind is str and not cell.startswith(FORMULA_START))
        else safe_cell(cell)
        for cell in row
    ]


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def csv_lines(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff"  # a BOM: spreadsheets then read UTF-8 (Chinese names) as UTF-8
    writer.writerow([safe_cell(h) for h in header])
    yield _take(buffer)  # the header goes out before the rows' query runs
    for row in rows:
        writer.writerow(safe_row(row))
        if buffer.tell() >= CHUNK_CHARS:
            yield _take(buffer)
    if buffer.tell():
        yield _take(buffer)


def as_in_the_request(pieces: Iterator[str]) -> Iterator[str]:
    """`pieces` made in the time zone and language of the request that asked for them.

    A streamed response is written after the view returned, when the middleware has put the
    reader's time zone away (core.middleware): moments written then came out in UTC. Call it in
    the view: it reads them now, and sets them again around each piece (not across a yield, so
    nothing else in the thread sees them)."""
    zone = timezone.get_current_timezone()
    language = translation.get_language()

    def written() -> Iterator[str]:
        try:
            while True:
                with timezone.override(zone), translation.override(language):
                    piece = next(pieces, None)
                if piece is None:
                    return
                yield piece
        finally:
            if hasattr(pieces, "close"):
                pieces.close()  # a download cut short: its cursor is closed now

    return written()


def wants_csv(request) -> bool:
    return request.GET.get("format") == "csv"


def csv_response(
    name: str, header: Sequence[str], rows: Iterable[Sequence]
) -> StreamingHttpResponse:
    """A streamed CSV download named `<name>-<date>.csv`, its rows written in the request's
    time zone and language."""
    response = StreamingHttpResponse(
        as_in_the_request(csv_lines(header, rows)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
