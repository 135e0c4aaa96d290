"""Warning quality of the predicted ETA on real Olist orders (docs/PERFORMANCE.md).

    .venv/bin/python bench/eta_accuracy.py [--data ../shared/data/olist] [--window-days 180]
        [--cutoff 2017-09-01] [--training-start 2017-03-01]

Prints, per horizon N (hours before the promise), precision and recall of three warnings: the
naive rule of shared/DOMAIN.md ("not delivered N h before the promise"), the predicted ETA
after the promise, and P(late) above a threshold. The threshold is tuned on the training
period (parcels purchased from --training-start whose promise fell before --cutoff), whose
figures are printed as the fit figures; the reported figures are on the parcels purchased from
--cutoff on, where nothing is chosen. Counting (shipments/olist.py): parcels handed over and
never delivered are late; a date-only promise holds until the end of its day; an order
purchased after the warning moment is not counted at that moment. Reads the data in place;
needs no database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipments.olist import RuleScores, WarningScore

REPO_ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from shipments import olist
    from shipments.lanes import DEFAULT_WINDOW_DAYS

    def day(text: str) -> dt.datetime:
        # A day in Sao Paulo, as the data's timestamps.
        try:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time.min, olist.SAO_PAULO)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared/data/olist")
    parser.add_argument("--window-days", type=int, default=DEFAULT_WINDOW_DAYS)
    parser.add_argument(
        "--cutoff",
        type=day,
        default=olist.EVALUATION_CUTOFF,
        help="First day of the reported months (default 2017-09-01).",
    )
    parser.add_argument(
        "--training-start",
        type=day,
        default=olist.TRAINING_START,
        help="First purchase day of the training period (default 2017-03-01).",
    )
    args = parser.parse_args()
    if missing := olist.missing_files(args.data):
        parser.error(f"{args.data}: missing {', '.join(missing)}")
    if args.training_start >= args.cutoff:
        parser.error("--training-start must be before --cutoff")

    started = time.perf_counter()
    orders = olist.load_orders(args.data)
    report = olist.accuracy_report(
        orders,
        window_days=args.window_days,
        cutoff=args.cutoff,
        training_start=args.training_start,
    )
    elapsed = time.perf_counter() - started

    print(
        f"date: {dt.date.today().isoformat()}  machine: {platform.node()} "
        f"({os.cpu_count()} CPUs, Python {platform.python_version()})"
    )
    print(
        f"data: {args.data} - {report.orders} orders, {report.parcels} parcels (handed over), "
        f"{report.delivered} delivered, {report.never_delivered} never delivered; "
        f"{report.late} late ({report.late / report.parcels:.1%}, never delivered included, "
        "promise = end of the promised day)"
    )
    print(f"history window: {args.window_days} days; run time {elapsed:.1f} s")
    print()
    print(
        "loader check: naive rule counted as DOMAIN.md does (delivered orders only, promise "
        "at midnight starting its day; DOMAIN.md: P 0.87/0.65/0.49 at 24/72/120 h, R 1.00)"
    )
    for horizon, score in report.brief_naive.items():
        print(f"  {horizon:>3} h  late {score.late:>4}  {_cell(score)}")
    print("naive rule on all parcels, counted as below")
    for horizon, score in report.naive_all.items():
        print(f"  {horizon:>3} h  late {score.late:>4}  {_cell(score)}")
    print()
    print(
        f"training (fit) period: {report.training.orders} parcels purchased from "
        f"{report.training_start:%Y-%m-%d} with a promise before {report.cutoff:%Y-%m-%d}; "
        "the thresholds t are tuned here"
    )
    _table(report.training, report.thresholds)
    print()
    print(
        f"evaluation (reported) period: {report.evaluation.orders} parcels purchased from "
        f"{report.cutoff:%Y-%m-%d}; nothing chosen here"
    )
    _table(report.evaluation, report.thresholds)
    return 0


def _table(scores: RuleScores, thresholds: dict[int, float]) -> None:
    header = (
        f"{'horizon':>7} | {'late':>4} | {'naive P / R (flagged)':<22} | "
        f"{'ETA > promise P / R (flagged)':<30} | {'P(late) >= t P / R (flagged)':<30} | t"
    )
    print(header)
    print("-" * len(header))
    for horizon, naive in scores.naive.items():
        print(
            f"{horizon:>5} h | {naive.late:>4} | {_cell(naive):<22} | "
            f"{_cell(scores.eta_rule[horizon]):<30} | "
            f"{_cell(scores.probability_rule[horizon]):<30} | {thresholds[horizon]:.2f}"
        )


def _cell(score: WarningScore) -> str:
    return f"{score.precision:.3f} / {score.recall:.3f} ({score.flagged})"


if __name__ == "__main__":
    raise SystemExit(main())
