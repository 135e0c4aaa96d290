"""Warning quality of the predicted ETA on real Olist orders (docs/PERFORMANCE.md).

    .venv/bin/python bench/eta_accuracy.py [--data ../shared/data/olist] [--window-days 180]

Prints, per horizon N (hours before the promise), precision and recall of three warnings on
the held-out orders (purchased from 2017-09-01): the naive rule of shared/DOMAIN.md ("not
delivered N h before the promise"), the predicted ETA after the promise, and P(late) above a
threshold tuned on the training period. Reads the data in place; needs no database.
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
    from shipments.olist import WarningScore

REPO_ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from shipments import olist
    from shipments.lanes import DEFAULT_WINDOW_DAYS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared/data/olist")
    parser.add_argument("--window-days", type=int, default=DEFAULT_WINDOW_DAYS)
    args = parser.parse_args()
    if missing := olist.missing_files(args.data):
        parser.error(f"{args.data}: missing {', '.join(missing)}")

    started = time.perf_counter()
    orders = olist.load_orders(args.data)
    report = olist.accuracy_report(orders, window_days=args.window_days)
    elapsed = time.perf_counter() - started

    print(
        f"date: {dt.date.today().isoformat()}  machine: {platform.node()} "
        f"({os.cpu_count()} CPUs, Python {platform.python_version()})"
    )
    print(
        f"data: {args.data} - {report.orders} orders, {report.delivered} delivered, "
        f"{report.late} late ({report.late / report.delivered:.1%})"
    )
    print(
        f"history window: {args.window_days} days; training (tuning) orders: "
        f"{report.training_orders}; evaluation orders: {report.evaluation_orders} "
        f"(purchased from {olist.EVALUATION_CUTOFF:%Y-%m-%d}); run time {elapsed:.1f} s"
    )
    print()
    print("naive rule on all delivered orders (DOMAIN.md: P 0.87/0.65/0.49 at 24/72/120 h, R 1.00)")
    for horizon, score in report.naive_all.items():
        print(f"  {horizon:>3} h  {_cell(score)}")
    print()
    header = (
        f"{'horizon':>7} | {'late':>4} | {'naive P / R (flagged)':<22} | "
        f"{'ETA > promise P / R (flagged)':<30} | {'P(late) >= t P / R (flagged)':<30} | t"
    )
    print("evaluation period")
    print(header)
    print("-" * len(header))
    for horizon in report.naive:
        print(
            f"{horizon:>5} h | {report.naive[horizon].late:>4} | "
            f"{_cell(report.naive[horizon]):<22} | {_cell(report.eta_rule[horizon]):<30} | "
            f"{_cell(report.probability_rule[horizon]):<30} | "
            f"{report.thresholds[horizon]:.2f}"
        )
    return 0


def _cell(score: WarningScore) -> str:
    return f"{score.precision:.3f} / {score.recall:.3f} ({score.flagged})"


if __name__ == "__main__":
    raise SystemExit(main())
