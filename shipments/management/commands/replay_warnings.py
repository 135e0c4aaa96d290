"""``manage.py replay_warnings --data DIR --from DATE --to DATE [--step 1d]
[--horizons 24,72,120] [--database-url URL] [--json FILE]``

Replays the product's delay detection over an order history in the Olist layout and prints,
at each horizon, the precision and recall of its warnings and of the naive rule
(shipments/replay.py says what is counted and how nothing after the clock is used).

The replay writes shipments and levels, so it never runs in the database of this process:
the command runs itself again in a child process whose DATABASE_URL names a throwaway
database, migrates it, replays there and hands back the figures as JSON. By default that is
a SQLite file in a temporary folder; ``--database-url postgres://.../replay_x`` names a
PostgreSQL database the command creates (refusing a name that exists) and drops afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dj_database_url
import psycopg
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from shipments.olist import HORIZONS_HOURS, load_orders, missing_files
from shipments.replay import ReplayRefused, replay_warnings

# The child process's marker: the name of the database it was given, so that the hidden
# option alone (typed by hand against a live database) runs nothing.
THROWAWAY_ENV = "DELAYDESK_REPLAY_THROWAWAY_DATABASE"
STEP_PATTERN = re.compile(r"(\d+)([dh])")
NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,62}")
DATABASE_EXISTS = "--database-url: database {name!r} exists; the replay needs a new one."
NOT_THROWAWAY = "--result-file is internal: the command runs it in a throwaway database."


class Command(BaseCommand):
    help = (
        "Replay delay detection over an Olist-layout order history in a throwaway database "
        "and report precision and recall of the product's warnings and of the naive rule "
        "24, 72 and 120 hours before the promise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", required=True, type=Path, help="Folder of the CSV files.")
        parser.add_argument(
            "--from", dest="start", required=True, help="First promised day counted (date)."
        )
        parser.add_argument("--to", dest="end", required=True, help="Last promised day counted.")
        parser.add_argument("--step", default="1d", help="Clock step: 1d, 12h... (default 1d).")
        parser.add_argument(
            "--horizons",
            default=",".join(str(h) for h in HORIZONS_HOURS),
            help="Hours before the promise, comma-separated (default 24,72,120).",
        )
        parser.add_argument(
            "--database-url",
            help="postgres://USER@HOST:PORT/NEW_NAME: replay in this new PostgreSQL database, "
            "created and dropped by the command (default: a temporary SQLite file).",
        )
        parser.add_argument(
            "--model",
            action="store_true",
            help="Also train the late-delivery model on the history before the replay's first "
            "moment and report its warnings beside the product's.",
        )
        parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
        parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)

    def handle(self, *args, **options) -> None:
        data: Path = options["data"]
        missing = missing_files(data)
        if missing:
            raise CommandError(f"--data {data}: missing {', '.join(missing)}")
        start, end = _date(options["start"], "--from"), _date(options["end"], "--to")
        if end < start:
            raise CommandError("--to is before --from")
        step = _step(options["step"])
        horizons = _horizons(options["horizons"])
        if options["result_file"] is not None:
            self._replay_here(
                data,
                start=start,
                end=end,
                step=step,
                horizons=horizons,
                with_model=options["model"],
                out=options["result_file"],
            )
            return

        started = time.monotonic()
        child_args = [
            "--data",
            str(data.resolve()),
            "--from",
            start.isoformat(),
            "--to",
            end.isoformat(),
            "--step",
            options["step"],
            "--horizons",
            ",".join(str(h) for h in horizons),
            *(["--model"] if options["model"] else []),
        ]
        if options["database_url"]:
            result = self._in_postgresql(options["database_url"], child_args)
        else:
            with tempfile.TemporaryDirectory(prefix="delaydesk-replay-") as folder:
                path = Path(folder) / "replay.sqlite3"
                result = self._run_child(f"sqlite:///{path}", str(path), child_args, folder)
        result["total_seconds"] = round(time.monotonic() - started, 2)
        self.stdout.write(_table(result))
        if options["json"]:
            options["json"].write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    # -- the parent ------------------------------------------------------------------------

    def _in_postgresql(self, url: str, child_args: list[str]) -> dict:
        config = dj_database_url.parse(url)
        name = config.get("NAME") or ""
        if not config.get("ENGINE", "").endswith("postgresql") or not NAME_PATTERN.fullmatch(name):
            raise CommandError(
                "--database-url: expected postgres://USER@HOST:PORT/NAME with a new database "
                f"name of lowercase letters, digits and underscores, got {url!r}"
            )
        server = psycopg.connect(
            dbname="postgres",
            user=config.get("USER") or None,
            password=config.get("PASSWORD") or None,
            host=config.get("HOST") or None,
            port=config.get("PORT") or None,
            autocommit=True,
        )
        try:
            exists = server.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [name]
            ).fetchone()
            if exists:
                raise CommandError(DATABASE_EXISTS.format(name=name))
            server.execute(f'CREATE DATABASE "{name}"')
            try:
                with tempfile.TemporaryDirectory(prefix="delaydesk-replay-") as folder:
                    return self._run_child(url, name, child_args, folder)
            finally:
                server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            server.close()

    def _run_child(self, url: str, name: str, child_args: list[str], folder: str) -> dict:
        result_file = Path(folder) / "result.json"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            THROWAWAY_ENV: name,
            # Nothing a replay queues may reach a shared broker (shipments.replay mutes the
            # signals too); the child's files stay in the temporary folder.
            "CELERY_BROKER_URL": "memory://",
            # The cache in the throwaway database (a shared Redis would mix the two).
            "CACHE_URL": "",
            "DELAYDESK_VAR_DIR": folder,
        }
        command = [
            sys.executable,
            str(Path(settings.BASE_DIR) / "manage.py"),
            "replay_warnings",
            *child_args,
            "--result-file",
            str(result_file),
        ]
        # The child's progress bar and errors go straight to this command's stderr.
        completed = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
        if completed.returncode != 0 or not result_file.is_file():
            raise CommandError(f"the replay failed (exit {completed.returncode}); see above")
        return json.loads(result_file.read_text(encoding="utf-8"))

    # -- the child -------------------------------------------------------------------------

    def _replay_here(
        self, data: Path, *, start, end, step, horizons, with_model: bool, out: Path
    ) -> None:
        name = str(settings.DATABASES["default"]["NAME"])
        if not os.environ.get(THROWAWAY_ENV) or os.environ[THROWAWAY_ENV] != name:
            raise CommandError(NOT_THROWAWAY)
        call_command("migrate", verbosity=0, interactive=False)
        orders = load_orders(data)

        def progress(moments):
            # The child's stderr is the parent's: the bar shows where the command runs.
            return tqdm(moments, unit="step", file=sys.stderr, desc="replay")

        try:
            report = replay_warnings(
                orders,
                start=start,
                end=end,
                step=step,
                horizons=horizons,
                with_model=with_model,
                progress=progress,
            )
        except ReplayRefused as exc:
            raise CommandError(str(exc)) from None
        out.write_text(json.dumps(report.as_dict()), encoding="utf-8")


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option}: expected a date such as 2017-09-01, got {value!r}") from None


def _step(value: str) -> dt.timedelta:
    match = STEP_PATTERN.fullmatch(value.strip())
    if not match or int(match[1]) == 0:
        raise CommandError(f"--step: expected a number of days or hours (1d, 12h), got {value!r}")
    amount = int(match[1])
    return dt.timedelta(days=amount) if match[2] == "d" else dt.timedelta(hours=amount)


def _horizons(value: str) -> list[int]:
    try:
        hours = sorted({int(part) for part in value.split(",") if part.strip()})
    except ValueError:
        hours = []
    if not hours or hours[0] <= 0:
        raise CommandError(f"--horizons: expected positive hours such as 24,72,120, got {value!r}")
    return hours


def _table(result: dict) -> str:
    lines = [
        f"Replay of {result['orders']} orders ({result['imported']} imported, "
        f"{result['not_imported']} not): promises {result['window_start']} .. "
        f"{result['window_end']}, {result['steps']} steps of {result['step_hours']:g} h "
        f"from {result['clock_start']} to {result['clock_end']}",
        f"Parcels counted: {result['parcels']}, late: {result['late']} "
        "(delivered after the promised day, or handed over and never delivered)",
        "",
        f"{'horizon':>8}  {'rule':<8} {'parcels':>7} {'late':>5} {'flagged':>7} "
        f"{'flag+late':>9} {'precision':>9} {'recall':>6}",
    ]
    for horizon in result["horizons"]:
        for rule in ("product", "naive", "model"):
            score = result.get(rule, {}).get(str(horizon))
            if score is None:
                continue
            lines.append(
                f"{horizon:>7}h  {rule:<8} {score['orders']:>7} {score['late']:>5} "
                f"{score['flagged']:>7} {score['flagged_late']:>9} "
                f"{score['precision']:>9.3f} {score['recall']:>6.3f}"
            )
    levels = ", ".join(f"{level} {count}" for level, count in result["first_levels"].items())
    if result.get("model_note"):
        lines += ["", f"Late-delivery model: {result['model_note']}"]
    lines += [
        "",
        f"First warning level of the counted parcels: {levels or 'none warned'}",
        f"Time: import {result['import_seconds']} s, replay {result['replay_seconds']} s, "
        f"total {result['total_seconds']} s",
    ]
    return "\n".join(lines) + "\n"
