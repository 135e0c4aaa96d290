"""`manage.py refresh_kpi_rollup [--full]`: refresh the supervisor dashboard's rollup now."""

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from supervisor.rollup import rollup_refresh


class Command(BaseCommand):
    help = (
        "Refresh the supervisor dashboard's rollup (first contact, proactive share, 30-day "
        "repurchase): the customers whose data changed since the last refresh, or every "
        "customer with --full (after a bulk import, or to repair it). The beat task "
        "supervisor.refresh_kpi_rollup does the incremental refresh every 5 minutes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--full", action="store_true", help="Rebuild every row.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, full=False, no_progress=False, **options) -> None:
        # The progress bar goes to stderr, so that stdout carries the summary.
        bar = tqdm(total=0, unit="batch", disable=no_progress, file=self.stderr._out)

        def total(n: int) -> None:
            bar.total = n
            bar.refresh()

        with bar:
            result = rollup_refresh(full=full, progress=bar.update, total=total)
        kind = "Full rebuild" if result.full else "Incremental refresh"
        self.stdout.write(
            f"{kind}: {result.customers} customers, {result.rows} rows written; figures as of "
            f"{result.as_of.isoformat(timespec='seconds')}."
        )
