"""CSV exports of the supervisor workspace's tables, streamed.

Every table of the workspace offers its rows as CSV with the page's filters applied
(`?format=csv` on the table's own URL). The rows are written as they are read
(`StreamingHttpResponse` over a generator; querysets iterated with `.iterator()`) and sent
about 64 KiB at a time, so a large export neither times out waiting for the whole file nor
holds it in memory. A streamed response outlives its view, so the rows are written in the
time zone and language of the request (as_in_the_request).

Cells a spreadsheet would run as a formula (starting with =, +, -, @, tab or CR) get a leading
apostrophe: a customer's comment or a carrier's location is outside input.

The helpers live in core.export (the admin's audit trail exports with them too); this module
is the workspace's name for them.
"""

from core.export import (
    CHUNK_CHARS,
    FORMULA_START,
    PLAIN_TYPES,
    as_in_the_request,
    csv_lines,
    csv_response,
    safe_cell,
    safe_row,
    wants_csv,
)

__all__ = [
    "CHUNK_CHARS",
    "FORMULA_START",
    "PLAIN_TYPES",
    "as_in_the_request",
    "csv_lines",
    "csv_response",
    "safe_cell",
    "safe_row",
    "wants_csv",
]
