"""`manage.py detect_delays [--as-of TIMESTAMP] [--dry-run]`: one delay detection pass."""

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from shipments.detection import DetectionResult, detect_delays

AS_OF_MALFORMED = (
    "--as-of expects an ISO 8601 timestamp with a UTC offset, e.g. 2026-11-20T08:00:00+00:00; "
    "got {value!r}."
)
AS_OF_IN_FUTURE = "--as-of {value} is in the future; the rules can only judge what happened."


class _DryRun(Exception):
    """Raised to roll the pass back once its result is known."""

    def __init__(self, result: DetectionResult):
        self.result = result


class Command(BaseCommand):
    help = (
        "Run one delay detection pass and print shipments per level, level changes and "
        "incidents. --as-of evaluates the rules as a live pass at a past moment would have: "
        "the state from the tracking events up to it, lane statistics and predicted ETAs from "
        "the deliveries made by then (backfills, audits and replays)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--as-of",
            metavar="TIMESTAMP",
            help="ISO 8601 with offset, e.g. 2026-11-20T08:00:00+00:00 (default: now).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Judge and report, then roll back: nothing is stored and nobody is told.",
        )

    def handle(self, *args, as_of: str | None = None, dry_run: bool = False, **options) -> None:
        now = timezone.now()
        from_events = False
        if as_of is not None:
            moment = self._parse_as_of(as_of)
            if moment > now:
                raise CommandError(AS_OF_IN_FUTURE.format(value=as_of))
            now, from_events = moment, True

        if dry_run:
            try:
                with transaction.atomic():
                    raise _DryRun(detect_delays(now=now, from_events=from_events))
            except _DryRun as rolled_back:
                result = rolled_back.result
        else:
            result = detect_delays(now=now, from_events=from_events)
        self._report(result, dry_run=dry_run)

    @staticmethod
    def _parse_as_of(value: str):
        try:
            moment = parse_datetime(value.strip())
        except ValueError:
            moment = None
        if moment is None or timezone.is_naive(moment):
            raise CommandError(AS_OF_MALFORMED.format(value=value))
        return moment

    def _report(self, result: DetectionResult, *, dry_run: bool) -> None:
        source = "from tracking events" if result.from_events else "live"
        suffix = " (dry run: rolled back)" if dry_run else ""
        self.stdout.write(f"Delay detection as of {result.now.isoformat()} ({source}){suffix}")
        if result.skipped:
            self.stdout.write("Skipped: another detection pass is running.")
            return
        for level, count in result.levels.items():
            self.stdout.write(f"  {level:<11} {count}")
        if result.from_events:
            self.stdout.write(
                f"Predicted ETAs as of the moment: {result.etas_predicted} "
                f"({result.etas_without_history} without delivered history: the promise)"
            )
        self.stdout.write(f"Level changes: {result.changes} ({result.updated} shipments updated)")
        self.stdout.write(
            f"Incidents: {result.incidents_created} created, {result.incidents_updated} updated"
        )
