"""The django-helpdesk peer harness (../shared/peers/django-helpdesk/), driven from Python.

`bench/bench_console.py --peer` uses it to time the peer and Delaydesk on the same machine,
with the same tool, in one run (issue 18). The harness's own scripts do the work, unchanged:

- `env.sh` names the paths and the peer's PostgreSQL cluster (127.0.0.1:55432), under
  `PEERS` (default here: /var/tmp/peers, as its README asks);
- `setup.sh` installs the peer from PyPI when its venv is missing (minutes), `pg.sh` starts
  and stops its cluster, `hd_gen_data` tops its data up to the wanted number of tickets;
- `hd_measure_queries` counts each page's SQL and writes the page URLs and a staff session;
- `measure_http.py` times each page over real HTTP against gunicorn (2 sync workers): 3
  warm-ups, then `--runs` sequential GETs on a new connection each (median, p95), then
  `wrk -t2 -c8 -d15s --timeout 30s --latency`. The same script times Delaydesk's pages.
- `escalate_tickets` runs on a fresh `CREATE DATABASE ... TEMPLATE helpdesk` copy, as
  `time_escalation.sh` does (wall time of one run, process start included).

Nothing in the shared folder is written: results go to $PEERS/results/side-by-side-<time>/.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.bench_ingest import gunicorn_stop

ROOT = Path(__file__).resolve().parents[1]
PEER_DIR = ROOT.parent / "shared" / "peers" / "django-helpdesk"
DEFAULT_PEERS = "/var/tmp/peers"
# The peer pages of the side-by-side: its ticket list shell, the JSON rows that the shell
# fetches, and the ticket view (hd_measure_queries' names).
PEER_PAGES = ("list", "datatables", "view")


@dataclass
class PeerRun:
    """What one measurement of the peer found."""

    inproc: dict  # hd_measure_queries' JSON: meta, per-page query counts, targets, session
    http: dict  # measure_http.py's JSON: per page median_ms, p95_ms, wrk {rps, lat_p50_ms...}
    load: float  # 1-minute load average when the HTTP timing started


class PeerHarness:
    def __init__(self, directory: Path = PEER_DIR, peers: str = DEFAULT_PEERS):
        self.directory = Path(directory)
        if not (self.directory / "env.sh").exists():
            raise SystemExit(f"no peer harness at {self.directory} (env.sh missing)")
        self.peers = peers
        self.env = self._read_env()
        self.started_pg = False

    def _read_env(self) -> dict[str, str]:
        """The environment after `. ./env.sh` with PEERS set (VENV, SITE, PY, PGPORT...)."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("HD_", "PG"))}
        # Nothing of Delaydesk's own environment (its settings module, database) leaks in.
        for name in (
            "VENV", "SITE", "PY", "RESULTS", "PGDATA_DIR", "PGBIN", "DATABASE_URL",
            "DJANGO_SETTINGS_MODULE", "PYTHONPATH", "VIRTUAL_ENV",
        ):  # fmt: skip
            base.pop(name, None)
        base["PEERS"] = self.peers
        dump = subprocess.run(
            ["bash", "-c", ". ./env.sh && env -0"],
            cwd=self.directory,
            env=base,
            capture_output=True,
            check=True,
        ).stdout
        return dict(item.split("=", 1) for item in dump.decode().split("\0") if "=" in item)

    @property
    def python(self) -> str:
        return self.env["PY"]

    @property
    def site(self) -> str:
        return self.env["SITE"]

    @property
    def server_url(self) -> str:
        """The peer's PostgreSQL cluster, as a URL for bench_console's --server."""
        return f"postgres://postgres@127.0.0.1:{self.env['PGPORT']}"

    def _run(self, command: list[str], *, cwd=None, env: dict | None = None, **kw):
        return subprocess.run(
            command, cwd=cwd or self.directory, env=env or self.env, check=True, **kw
        )

    def _psql(self, sql: str, database: str | None = None) -> str:
        database = database or self.env["HD_DB_NAME"]
        result = self._run(["psql", "-tAc", sql, database], capture_output=True, text=True)
        return result.stdout.strip()

    # --- set-up ---------------------------------------------------------------------------------

    def ensure_ready(self, *, tickets: int) -> None:
        """Install the peer if needed, start its PostgreSQL, top its data up to `tickets`."""
        if not Path(self.python).exists():
            print(f"peer: no venv at {self.env['VENV']}: running setup.sh (installs from PyPI)")
            self._run(["./setup.sh"])
            self.env = self._read_env()
            self.started_pg = True
        if shutil.which("wrk") is None:
            raise SystemExit("wrk is missing: apt-get install -y wrk (setup.sh does it too)")
        if self.env.get("HD_DB") != "postgres":
            raise SystemExit("peer: setup fell back to SQLite; the side-by-side needs PostgreSQL")
        status = self._run(["./pg.sh", "status"], capture_output=True, text=True).stdout
        if "server is running" not in status:
            self._run(["./pg.sh", "start"])
            self.started_pg = True
        have = int(self._psql("SELECT count(*) FROM helpdesk_ticket") or 0)
        if have < tickets:
            print(f"peer: {have:,} tickets; generating up to {tickets:,} (hd_gen_data)")
            self._run([self.python, "manage.py", "hd_gen_data", "--tickets", str(tickets)],
                      cwd=self.site)  # fmt: skip
        elif have > tickets:
            print(f"peer: holds {have:,} tickets, more than the {tickets:,} asked for")

    def stop(self, *, keep: bool) -> None:
        """Stop the peer's PostgreSQL if this run started it (and `keep` is off)."""
        if self.started_pg and not keep:
            self._run(["./pg.sh", "stop"], capture_output=True)
            print("peer: PostgreSQL stopped (pg.sh stop)")

    # --- measuring ------------------------------------------------------------------------------

    def measure_http(
        self, *, targets: Path, base: str, out: Path, runs: int, wrk_duration: str, only=None
    ) -> dict:
        """The harness's measure_http.py (stdlib + wrk) against `base`; its JSON results."""
        command = [
            sys.executable,
            str(self.directory / "measure_http.py"),
            "--targets",
            str(targets),
            "--base",
            base,
            "--runs",
            str(runs),
            "--wrk-duration",
            wrk_duration,
            "--out",
            str(out),
        ]
        if only:
            command += ["--only", *only]
        subprocess.run(command, check=True)
        return json.loads(out.read_text())["results"]

    def measure(self, *, out_dir: Path, runs: int, wrk_duration: str, port: int) -> PeerRun:
        """Query counts in-process, then the three pages over HTTP through gunicorn."""
        out_dir.mkdir(parents=True, exist_ok=True)
        inproc_path = out_dir / "peer_inproc.json"
        print("\npeer: SQL queries per page (hd_measure_queries, in-process, --runs 1):")
        # --runs only sets its in-process latency loop, which the side-by-side does not use.
        self._run(
            [self.python, "manage.py", "hd_measure_queries", "--out", str(inproc_path),
             "--runs", "1"],
            cwd=self.site,
        )  # fmt: skip
        inproc = json.loads(inproc_path.read_text())
        server = subprocess.Popen(
            [
                f"{self.env['VENV']}/bin/gunicorn",
                "hdsite.wsgi:application",
                "--chdir",
                self.site,
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "--timeout",
                "120",
                "--log-level",
                "warning",
                "--error-logfile",
                str(out_dir / "peer_gunicorn.log"),
            ],
            cwd=self.site,
            env=self.env,
        )
        try:
            _wait_for(port, "/helpdesk/login/", server)
            load = os.getloadavg()[0]
            print(f"\npeer: measure_http.py through gunicorn (2 sync workers, pid {server.pid}):")
            http_results = self.measure_http(
                targets=inproc_path,
                base=f"http://127.0.0.1:{port}",
                out=out_dir / "peer_http.json",
                runs=runs,
                wrk_duration=wrk_duration,
                only=PEER_PAGES,
            )
        finally:
            gunicorn_stop(server)
        return PeerRun(inproc=inproc, http=http_results, load=load)

    def escalate(self, *, out_dir: Path) -> dict:
        """`manage.py escalate_tickets` once on a fresh copy of the data (it mutates tickets):
        wall time with process start, as time_escalation.sh's hyperfine run measures it."""
        copy = "helpdesk_esc"
        self._run(["dropdb", "--if-exists", copy])
        self._run(["createdb", "-T", self.env["HD_DB_NAME"], copy])
        try:
            load = os.getloadavg()[0]
            print(f"\npeer: escalate_tickets on a fresh copy ({copy}; load {load:.2f})...")
            started = time.perf_counter()
            self._run(
                [self.python, "manage.py", "escalate_tickets"],
                cwd=self.site,
                env={**self.env, "HD_DB_NAME": copy},
                stdout=subprocess.DEVNULL,
            )
            seconds = time.perf_counter() - started
            escalated = int(
                self._psql(
                    "SELECT count(*) FROM helpdesk_followup WHERE title = 'Ticket Escalated'", copy
                )
            )
        finally:
            self._run(["dropdb", "--if-exists", copy])
        result = {"seconds": seconds, "escalated": escalated, "load": load}
        (out_dir / "peer_escalation.json").write_text(json.dumps(result, indent=2))
        print(f"peer: escalate_tickets {seconds:.1f} s, {escalated:,} tickets escalated")
        return result


def _wait_for(port: int, path: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("peer gunicorn exited during start-up")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                connection.close()
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"peer gunicorn did not answer {path} within {seconds:.0f} s")
