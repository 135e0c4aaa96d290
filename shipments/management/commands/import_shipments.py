"""``manage.py import_shipments PATH.csv [--carrier CODE] [--time-zone ZONE] [--dry-run]``

Loads a merchant's order export. Columns (header row required, any order, extra columns
ignored; * = required):

    carrier*, tracking_number*, order_number*, customer_ref*, customer_name*, customer_email,
    customer_phone, customer_language (en, zh-hans), origin_region*, destination_region*,
    destination_postal_code, service_level (economy, standard, express), ordered_at,
    shipped_at (hand-over to the carrier), delivered_at, promised_at*, order_value,
    currency (ISO 4217, default EUR)

``carrier`` may be left out when ``--carrier CODE`` names the carrier of every row. Timestamps
are ISO 8601; one without an offset is read in ``--time-zone`` (default UTC). A delivered_at
makes the shipment delivered, as a carrier's delivery scan does, so a history of past orders
loads without the webhook; one before the row's shipped_at or ordered_at is a bad row. The
full rules are in shipments/imports.py.

Rows are processed in chunks of 1,000, each in its own transaction with bulk inserts and
updates. Re-running a file updates its shipments (key: carrier + tracking_number) and never
moves an original promise (a differing promised_at is reported as a warning). A bad row is
reported on stderr with its line number and reason ("line 7: promised_at: not a date:
'tomorrow'") while the good rows load. The last line sums up: created, updated, unchanged,
failed. The exit code is non-zero only when the file cannot be read, lacks required columns,
or an option is wrong.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone
from tqdm import tqdm

from shipments.imports import (
    CHUNK_SIZE,
    CSV_COLUMNS,
    REQUIRED_COLUMNS,
    ImportReport,
    RowInvalid,
    ShipmentIn,
    carrier_ids_by_code,
    shipment_row_parse,
    shipments_import,
    time_zone_parse,
)

COLUMNS_HELP = (
    "Columns: "
    + ", ".join(f"{name}*" if name in REQUIRED_COLUMNS else name for name in CSV_COLUMNS)
    + " (* required; carrier optional with --carrier). Timestamps ISO 8601."
)


class Command(BaseCommand):
    help = "Import shipments from a merchant's CSV export (idempotent). " + COLUMNS_HELP

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="CSV file, UTF-8, with a header row.")
        parser.add_argument(
            "--carrier", help="Carrier code of every row (then the carrier column is optional)."
        )
        parser.add_argument(
            "--time-zone",
            default="UTC",
            help="Zone of timestamps without an offset, e.g. Asia/Shanghai (default UTC).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check and count everything, store nothing.",
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=CHUNK_SIZE,
            help=f"Rows per transaction ({CHUNK_SIZE}).",
        )

    def handle(self, *args, **options) -> None:
        path: Path = options["path"]
        dry_run: bool = options["dry_run"]
        chunk_size = max(1, options["chunk_size"])
        try:
            time_zone = time_zone_parse(options["time_zone"])
        except ValueError as exc:
            raise CommandError(f"--time-zone: {exc}") from None
        carrier_ids = carrier_ids_by_code()
        default_carrier = options["carrier"]
        if default_carrier and default_carrier not in carrier_ids:
            raise CommandError(f"--carrier: no active carrier with code {default_carrier!r}")

        # The progress bar goes to the command's stderr, so that stdout carries the summary.
        progress_file = options.get("stderr") or sys.stderr
        report = ImportReport()
        now = timezone.now()
        try:
            with path.open(newline="", encoding="utf-8-sig") as file:
                total = _count_rows(path)
                reader = csv.DictReader(file)
                self._check_header(reader.fieldnames, default_carrier=default_carrier, path=path)
                with tqdm(total=total, unit="rows", file=progress_file, leave=False) as bar:
                    for chunk, invalid in _chunks(
                        reader,
                        size=chunk_size,
                        carrier_ids=carrier_ids,
                        default_carrier=default_carrier,
                        time_zone=time_zone,
                        now=now,
                    ):
                        loaded = self._load(chunk, now=now, dry_run=dry_run)
                        for message in [*invalid.messages, *loaded.messages]:
                            tqdm.write(message, file=progress_file)
                        report.add(invalid)
                        report.add(loaded)
                        bar.update(len(chunk) + invalid.failed)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise CommandError(
                f"cannot read {path}: {exc} (chunks before this point were "
                f"{'checked' if dry_run else 'stored'})"
            ) from None

        summary = (
            f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
            f"failed {report.failed}"
        )
        if dry_run:
            summary += " (dry run: nothing stored)"
        self.stdout.write(summary)

    def _check_header(self, fieldnames, *, default_carrier: str | None, path: Path) -> None:
        if not fieldnames:
            raise CommandError(f"{path} is empty: expected a header row. {COLUMNS_HELP}")
        header = {name.strip() for name in fieldnames if name}
        missing = [
            name
            for name in REQUIRED_COLUMNS
            if name not in header and not (name == "carrier" and default_carrier)
        ]
        if missing:
            raise CommandError(f"{path}: missing required columns: {', '.join(missing)}")

    def _load(self, chunk: list[ShipmentIn], *, now, dry_run: bool) -> ImportReport:
        try:
            return shipments_import(rows=chunk, now=now, dry_run=dry_run)
        except DatabaseError as exc:
            # Another import or an edit raced this chunk; its rows are reported, not lost silently.
            lines = f"{chunk[0].line}-{chunk[-1].line}" if chunk else "?"
            return ImportReport(
                failed=len(chunk),
                messages=[f"lines {lines}: not stored, database error: {exc}"],
            )


def _count_rows(path: Path) -> int:
    """Lines after the header: the progress bar's total (a quoted newline makes it an estimate)."""
    with path.open("rb") as file:
        newlines = sum(block.count(b"\n") for block in iter(lambda: file.read(1 << 20), b""))
    return max(0, newlines - 1)


def _chunks(
    reader: csv.DictReader, *, size: int, carrier_ids, default_carrier, time_zone, now
) -> Iterator[tuple[list[ShipmentIn], ImportReport]]:
    """Parsed rows in chunks of ``size`` valid ones, with the invalid rows met on the way."""
    chunk: list[ShipmentIn] = []
    invalid = ImportReport()
    previous_line = reader.line_num  # the header's last line
    for row in reader:
        line = previous_line + 1  # where the row starts (a quoted value may span lines)
        previous_line = reader.line_num
        if None in row:  # more cells than header columns
            row.pop(None)
        try:
            chunk.append(
                shipment_row_parse(
                    row={key.strip(): value for key, value in row.items() if key},
                    line=line,
                    carrier_ids=carrier_ids,
                    default_carrier=default_carrier,
                    time_zone=time_zone,
                    now=now,
                )
            )
        except RowInvalid as exc:
            invalid.failed += 1
            invalid.messages.append(f"line {line}: {exc}")
        if len(chunk) >= size:
            yield chunk, invalid
            chunk, invalid = [], ImportReport()
    if chunk or invalid.failed:
        yield chunk, invalid
