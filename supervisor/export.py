"""CSV exports of the supervisor workspace's tables, streamed.

Every table of the workspace offers its rows as CSV with the page's filters applied
(`?format=csv` on the table's own URL). The rows are written as they are read
(`StreamingHttpResponse` over a generator; querysets iterated with `.iterator()`), so a large
export neither times out waiting for the whole file nor holds it in memory.

Cells a spreadsheet would run as a formula (starting with =, +, -, @, tab or CR) get a leading
apostrophe: a customer's comment or a carrier's location is outside input.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence

from django.http import StreamingHttpResponse
from django.utils import timezone

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose write() returns the line (csv.writer into a generator)."""

    def write(self, value: str) -> str:
        return value


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


def csv_lines(header: Sequence[str], rows: Iterable[Sequence]) -> Iterable[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # a BOM: spreadsheets then read UTF-8 (Chinese names) as UTF-8
    yield writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        yield writer.writerow([safe_cell(cell) for cell in row])


def wants_csv(request) -> bool:
    return request.GET.get("format") == "csv"


def csv_response(
    name: str, header: Sequence[str], rows: Iterable[Sequence]
) -> StreamingHttpResponse:
    """A streamed CSV download named `<name>-<date>.csv`."""
    response = StreamingHttpResponse(
        csv_lines(header, rows), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
