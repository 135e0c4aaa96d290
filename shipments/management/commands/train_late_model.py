"""`manage.py train_late_model [--as-of TIMESTAMP] [--cutoff TIMESTAMP]`: train the
late-delivery model (shipments.risk) on the history before a moment and store it."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from shipments.risk import HORIZONS_HOURS, train

MOMENT_MALFORMED = (
    "{option} expects an ISO 8601 timestamp with a UTC offset, e.g. 2026-11-20T08:00:00+00:00; "
    "got {value!r}."
)
AS_OF_IN_FUTURE = "--as-of {value} is in the future; a model learns only from what happened."
CUTOFF_AFTER_AS_OF = "--cutoff {value} is after --as-of: there would be nothing to report on."


class Command(BaseCommand):
    help = (
        "Train the late-delivery model on the history before --as-of (default now) and make "
        "it the active version. Promises after --cutoff (default LATE_MODEL_REPORT_DAYS "
        "before --as-of) are never trained on: the precision and recall shown to operators "
        "come from them. With too little history nothing is stored and the reason is printed. "
        "The beat task shipments.train_late_model does the same weekly."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", metavar="TIMESTAMP", help="Train as of (default now).")
        parser.add_argument("--cutoff", metavar="TIMESTAMP", help="Train on promises before.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, as_of=None, cutoff=None, no_progress=False, **options) -> None:
        now = timezone.now()
        moment = self._parse("--as-of", as_of) if as_of else now
        if moment > now:
            raise CommandError(AS_OF_IN_FUTURE.format(value=as_of))
        cut = self._parse("--cutoff", cutoff) if cutoff else None
        if cut is not None and cut > moment:
            raise CommandError(CUTOFF_AFTER_AS_OF.format(value=cutoff))
        # The progress bar goes to stderr, so that stdout carries the summary.
        bar = tqdm(total=0, unit="examples", disable=no_progress, file=self.stderr._out)

        def total(n: int) -> None:
            bar.total = n
            bar.refresh()

        with bar:
            result = train(as_of=moment, cutoff=cut, progress=bar.update, total=total)
        if result.model is None:
            self.stdout.write(f"No model trained: {result.reason}.")
            return
        model = result.model
        self.stdout.write(
            f"Model v{model.version} trained on {model.training_shipments} shipments "
            f"(promises {model.history_from:%Y-%m-%d} to {model.cutoff:%Y-%m-%d}); "
            f"threshold {model.threshold:.3f}; active."
        )
        for horizon in HORIZONS_HOURS:
            figures = model.figures["reported"][str(horizon)]
            self.stdout.write(
                f"  {horizon:>3} h before the promise, after the cutoff: precision "
                f"{figures['precision']:.2f}, recall {figures['recall']:.2f} "
                f"({figures['flagged']} flagged, {figures['late']} late of "
                f"{figures['undelivered']} undelivered; naive precision "
                f"{figures['naive_precision']:.2f})"
            )

    @staticmethod
    def _parse(option: str, value: str) -> dt.datetime:
        moment = parse_datetime(value)
        if moment is None or timezone.is_naive(moment):
            raise CommandError(MOMENT_MALFORMED.format(option=option, value=value))
        return moment
