"""Load: a realistic mix for 60 s against the production stack at 200k tickets / 1M shipments.

    .venv/bin/python bench/bench_load.py                   # 60 s, 46 users, bench_load database
    .venv/bin/python bench/bench_load.py --agents 40 --customers 30 --run-time 60

Issue 17 ("Load"). The stack is the one of `make prod-local` (Makefile, Procfile.prod): the same
environment (DELAYDESK_ENV=production, DEBUG off, the secret of var/prod-local.secret), gunicorn
with its workers and threads, two Celery workers and beat under honcho, on the local PostgreSQL
and Redis (broker db 10, cache db 11 by default: no other stack here uses them). The load is
bench/locustfile.py (locust, headless): agents browse queues (the page, then its tab counts),
open tickets and reply; carriers post signed webhook batches of 20 scans; customers open the
link of a notice and read their progress page; supervisors open the dashboard.

1. Data: the console benchmark's database (bench/bench_console.py's generator: 200,000
   tickets, 1,000,000 shipments, 50 agents). When --database does not hold it yet the script
   makes it first, under the bench lock (--no-generate: only says how):
       flock /tmp/delaydesk-bench.lock .venv/bin/python bench/bench_console.py \\
           --database bench_load --requests 0 --keep
2. Once per database, a catch-up to steady state (table bench_load_state): the generator leaves
   every shipment without a delay level, so the first detection pass is a cold one (minutes at
   1M, 300k level changes and as many notices queued). The script runs that pass, an SLA sweep
   and the KPI rollup in-process (their follow-up tasks are dropped: in-memory broker) and marks
   the notices they queued as sent (history), so the timed minute sees a running system, not
   a first start. Delayed shipments still without a proactive ticket stay so (the 10-minute
   catch-up job is left out of the window, see 4).
3. Every run (through the ORM): supervisors bench-supervisor-1..N (password of the agents),
   --carrier-count carriers get a known webhook secret and status mappings of the scan codes the
   locustfile sends, a sample of their active tracking numbers; --links progress links minted
   for random open tickets (portal.links.PortalLinks, as the dispatcher does). All of it goes
   into a JSON fixture (DELAYDESK_LOAD_DATA) under var/bench_load/<run>/.
4. Under the bench lock (--lock): Redis dbs flushed, beat's schedule phased so that every job
   of 5 minutes or less runs inside the minute as it would in a long-running deployment (the
   detection pass about 20 s in, the SLA sweep, the outbox dispatch twice, the KPI rollup,
   heartbeat) and the longer ones (ETA refresh, lanes, follow-ups, ...) do not; the stack
   started (honcho, Procfile.prod) and waited for (/healthz with a worker heartbeat); locust
   run headless: the users start at --spawn-rate a second (each agent and supervisor logs in
   through the login form: a password hash costs about a core for a fraction of a second, so
   the logins are spread as a shift's would be), then the statistics restart (--reset-stats)
   and --run-time seconds are measured; then the Celery queue length and the due outbox read at the
   end and every second for --drain s until both are empty; the stack stopped (SIGINT to
   honcho, as Ctrl-C). Only loopback: --host must be 127.0.0.0/8 or localhost.
5. Report: per request kind the requests, throughput, p50/p95/p99/max and errors (locust's
   percentiles: exact below 100 ms, rounded to 10 ms up to 1 s), the totals, the failures by
   kind, CPU used by each part of the stack (web, workers, beat, PostgreSQL, locust), beat's
   task runtimes from the worker logs, whether every event acknowledged 202 is stored, and a
   markdown section for docs/PERFORMANCE.md (var/bench_load/<run>/report.md).

Exit code 1 when a request failed, an acknowledged event is missing, or the stack did not
start; a slow figure is reported, not failed.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import ipaddress
import json
import math
import os
import platform
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_console import PASSWORD  # noqa: E402
from bench.bench_detection import DEFAULT_SERVER, cpu_model  # noqa: E402
from bench.bench_ingest import free_port  # noqa: E402

BIN = ROOT / ".venv" / "bin"
PYTHON = BIN / "python"
LOCUSTFILE = ROOT / "bench" / "locustfile.py"
SECRET_FILE = ROOT / "var" / "prod-local.secret"
OUT = ROOT / "var" / "bench_load"
LOCK = "/tmp/delaydesk-bench.lock"
# The scan codes bench/locustfile.py sends, mapped for every carrier of the run.
MAPPINGS = {
    "AR": ("in_transit", "none", "Arrived at hub"),
    "DP": ("in_transit", "none", "Departed hub"),
    "OD": ("out_for_delivery", "none", "Out for delivery"),
    "CH": ("exception", "customs_hold", "Held by customs"),
    "EX": ("exception", "congestion", "Delayed at hub"),
    "DL": ("delivered", "none", "Delivered"),
}
# Beat's jobs that run inside the timed minute, and when (seconds into it). The heartbeat is due
# at once: the stack counts as started once a worker ran it.
WINDOW_JOBS = {
    "core.heartbeat": -1000,
    "notifications.dispatch": 5,
    "tickets.sweep_sla": 10,
    "core.publish_pending_tasks": 15,
    "shipments.detect_delays": 25,
    "supervisor.requeue_incident_actions": 30,
    "supervisor.refresh_kpi_rollup": 45,
}
KINDS_ORDER = (
    "agent: queue page",
    "agent: queue counts",
    "agent: ticket page",
    "agent: reply",
    "carrier: webhook batch",
    "customer: open link",
    "customer: progress page",
    "supervisor: dashboard",
    "agent: login form",
    "agent: login",
    "supervisor: login form",
    "supervisor: login",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    parser.add_argument("--database", default="bench_load")
    parser.add_argument(
        "--generate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="make the data when missing (a few minutes; `make bench` runs every script)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to serve on")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--run-time", type=int, default=60, help="seconds of load")
    parser.add_argument("--agents", type=int, default=24)
    parser.add_argument("--customers", type=int, default=16)
    parser.add_argument("--carriers", type=int, default=4, help="carrier users")
    parser.add_argument("--supervisors", type=int, default=2)
    parser.add_argument(
        "--spawn-rate", type=float, default=2, help="users started (and logged in) per s"
    )
    parser.add_argument("--batch", type=int, default=20, help="events per webhook batch")
    parser.add_argument("--think", type=float, default=1.0, help="factor on think times")
    parser.add_argument("--links", type=int, default=2000, help="progress links to mint")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--cache", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--web-concurrency", type=int, help="gunicorn workers (Procfile: 4)")
    parser.add_argument("--drain", type=int, default=60, help="s to wait for queues to empty")
    parser.add_argument("--lock", default=LOCK, help="bench lock file ('' for none)")
    args = parser.parse_args()
    if not is_loopback(args.host):
        parser.error(f"refusing --host {args.host!r}: loopback only (127.0.0.0/8, localhost)")
    for url in (args.broker, args.cache):
        if not is_loopback(url):
            parser.error(f"refusing {url!r}: loopback only")
    if not args.database.replace("_", "").isalnum():
        parser.error(f"refusing odd database name {args.database!r}")
    if not 1 <= args.agents <= 50:
        parser.error("--agents: 1 to 50 (the generator makes 50 agents)")

    database_url = f"{args.server}/{args.database}"
    if not generated(database_url):
        command = (
            f"flock {LOCK} {PYTHON} bench/bench_console.py --database {args.database} "
            "--requests 0 --keep"
        )
        if not args.generate:
            print(f"{args.database} holds no benchmark data; make it first (a few minutes):")
            print(f"    {command}")
            return 2
        subprocess.run(command.split(), cwd=ROOT, check=True)

    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    out = OUT / run_id
    out.mkdir(parents=True, exist_ok=True)
    port = args.port or free_port()
    stack = stack_env(args, database_url=database_url, port=port)
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=stack, check=True
    )
    subprocess.run(
        [PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=stack,
        check=True,
    )
    django_setup(database_url)
    catch_up(database_url)
    fixture = prepare(args, run_id=run_id)
    (out / "fixture.json").write_text(json.dumps(fixture))
    sizes = data_sizes(database_url)

    with bench_lock(args.lock):
        report = timed_run(args, out=out, stack=stack, port=port, database_url=database_url)
    report["sizes"] = sizes
    report["run_id"] = run_id
    stored = stored_events(database_url, out / "acked.txt")
    report["acked"], report["stored"] = stored
    text = render(report, args)
    (out / "report.md").write_text(text)
    print(text)
    print(f"files: {out.relative_to(ROOT)}/ (locust CSV, stack log, fixture, report.md)")
    failures = report["totals"]["failures"]
    missing = stored[0] - stored[1]
    if failures or missing or not report["started"]:
        print(f"checks: FAILED ({failures} failed requests, {missing} acknowledged events missing)")
        return 1
    print("checks: OK (no failed request; every event acknowledged 202 is stored)")
    return 0


# --- setup ----------------------------------------------------------------------------------


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname if "://" in url else url
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def generated(url: str) -> bool:
    try:
        with psycopg.connect(url, autocommit=True) as db:
            return db.execute("SELECT to_regclass('bench_meta')").fetchone()[0] is not None
    except psycopg.Error:
        return False


def stack_env(args, *, database_url: str, port: int) -> dict:
    """The environment of the Makefile's prod-local (PROD_ENV), on our database and Redis dbs."""
    if not SECRET_FILE.exists():
        SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
        SECRET_FILE.write_text(secrets.token_urlsafe(60) + "\n")
        SECRET_FILE.chmod(0o600)
    env = {
        **os.environ,
        "DELAYDESK_ENV": "production",
        "DEBUG": "false",
        "SECRET_KEY": SECRET_FILE.read_text().strip(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": f"http://localhost:{port}",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": args.broker,
        "CACHE_URL": args.cache,
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
        "BIND": args.host,
    }
    if args.web_concurrency:
        env["WEB_CONCURRENCY"] = str(args.web_concurrency)
    return env


def django_setup(database_url: str) -> None:
    """Django in this process on the benchmark's database: development settings, an in-memory
    broker (what the catch-up enqueues is dropped), DEBUG off."""
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CELERY_BROKER_URL": "memory://",
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        }
    )
    os.environ.pop("DELAYDESK_ENV", None)
    os.environ.pop("CACHE_URL", None)
    import django

    django.setup()


def catch_up(database_url: str) -> None:
    """Once per database: the cold detection pass, an SLA sweep and the KPI rollup, their
    notices marked sent (see the module docstring, step 2)."""
    with psycopg.connect(database_url, autocommit=True) as db:
        db.execute("CREATE TABLE IF NOT EXISTS bench_load_state (caught_up_at timestamptz)")
        done = db.execute("SELECT caught_up_at FROM bench_load_state").fetchone()
    if done:
        print(f"steady state: caught up on {done[0]:%Y-%m-%d %H:%M} UTC")
        return
    from config.celery import app  # Django is set up by now (django_setup)

    app.loader.import_default_modules()
    print("steady state: one-time catch-up (the cold detection pass takes minutes at 1M)")
    for name in ("shipments.detect_delays", "tickets.sweep_sla", "supervisor.refresh_kpi_rollup"):
        started = time.perf_counter()
        result = app.tasks[name].apply(throw=True).result
        print(f"  {name}: {time.perf_counter() - started:.1f} s, {str(result)[:160]}")
    with psycopg.connect(database_url, autocommit=True) as db:
        marked = db.execute(
            "UPDATE notifications_notification SET status = 'sent', sent_at = created_at "
            "WHERE status = 'pending'"
        ).rowcount
        print(f"  {marked:,} notices queued by the catch-up marked sent (history)")
        db.execute("INSERT INTO bench_load_state VALUES (now())")
        db.execute("VACUUM ANALYZE")


def prepare(args, *, run_id: str) -> dict:
    """Supervisors, carriers with secrets and mappings, progress links: the fixture."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from core.roles import SUPERVISOR
    from portal.links import PortalLinks
    from shipments.models import Carrier, CarrierStatusMapping, Shipment
    from tickets.models import Ticket

    now = timezone.now()
    users = get_user_model()
    password = make_password(PASSWORD)
    supervisors = []
    for n in range(1, max(args.supervisors, 1) + 1):
        user, _ = users.objects.update_or_create(
            username=f"bench-supervisor-{n}",
            defaults={"is_staff": True, "is_active": True, "password": password},
        )
        user.groups.add(Group.objects.get(name=SUPERVISOR))
        supervisors.append(user.username)
    agents = sorted(
        users.objects.filter(username__startswith="bench-agent-").values_list("username", flat=True)
    )

    carriers = []
    for carrier in Carrier.objects.filter(code__startswith="bench").order_by("id")[
        : max(args.carriers, 1)
    ]:
        carrier.webhook_secret = f"bench-load-{carrier.code}-{secrets.token_hex(8)}"
        carrier.is_active = True
        carrier.save(update_fields=["webhook_secret", "is_active"])
        for code, (status, cause, description) in MAPPINGS.items():
            CarrierStatusMapping.objects.update_or_create(
                carrier=carrier,
                carrier_code=code,
                defaults={"status": status, "cause": cause, "description": description},
            )
        numbers = list(
            Shipment.objects.filter(carrier=carrier)
            .exclude(status__in=["delivered", "returned", "expired"])
            .order_by("?")
            .values_list("tracking_number", flat=True)[:2000]
        )
        carriers.append(
            {
                "code": carrier.code,
                "secret": carrier.webhook_secret,
                "tracking_numbers": numbers,
                "codes": sorted(MAPPINGS),
            }
        )

    ticket_ids = list(
        Ticket.objects.filter(closed_at__isnull=True, shipment__isnull=False)
        .order_by("?")
        .values_list("pk", flat=True)[: args.links]
    )
    maker = PortalLinks()
    minted = maker.mint(ticket_ids, now=now)
    maker.confirm([link.id for link in minted.values()], now=now)
    tokens = [link.url.rstrip("/").rsplit("/", 1)[1] for link in minted.values()]
    print(
        f"fixture: {len(agents)} agents, {len(supervisors)} supervisors, {len(carriers)} "
        f"carriers ({sum(len(c['tracking_numbers']) for c in carriers):,} tracking numbers), "
        f"{len(tokens):,} progress links"
    )
    return {
        "run_id": run_id,
        "password": PASSWORD,
        "agents": agents,
        "supervisors": supervisors,
        "carriers": carriers,
        "progress_tokens": tokens,
    }


def data_sizes(database_url: str) -> dict:
    with psycopg.connect(database_url, autocommit=True) as db:
        sizes = {
            table: db.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table]
            ).fetchone()[0]
            for table in (
                "tickets_ticket",
                "shipments_shipment",
                "shipments_trackingevent",
                "tickets_message",
                "notifications_notification",
            )
        }
        sizes["database_mb"] = db.execute(
            "SELECT pg_database_size(current_database()) / 1048576"
        ).fetchone()[0]
        sizes["open_tickets"] = db.execute(
            "SELECT count(*) FROM tickets_ticket WHERE closed_at IS NULL "
            "AND status NOT IN ('solved', 'closed')"
        ).fetchone()[0]
    return sizes


@contextmanager
def bench_lock(path: str):
    """The machine's bench lock (flock), held for the timed part only."""
    if not path:
        yield
        return
    import fcntl

    with open(path, "a") as handle:
        waited = time.perf_counter()
        fcntl.flock(handle, fcntl.LOCK_EX)
        if time.perf_counter() - waited > 1:
            print(f"waited {time.perf_counter() - waited:.0f} s for the bench lock {path}")
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- the timed run ----------------------------------------------------------------------------


def timed_run(args, *, out: Path, stack: dict, port: int, database_url: str) -> dict:
    import redis

    report: dict = {"started": False, "port": port}
    users = args.agents + args.customers + args.carriers + args.supervisors
    ramp = math.ceil(users / args.spawn_rate)
    report["ramp_s"] = ramp
    for url in (args.broker, args.cache):
        redis.Redis.from_url(url).flushdb()
    # The stack starts in a few seconds and locust spawns for `ramp` s before the window.
    phase_beat(database_url, lead=ramp + 5)
    log = open(out / "stack.log", "w")  # noqa: SIM115 - closed after the stack stopped
    honcho = subprocess.Popen(
        [BIN / "honcho", "start", "--procfile", "Procfile.prod", "--port", str(port)],
        cwd=ROOT,
        env=stack,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://{args.host}:{port}"
        started = time.perf_counter()
        if not wait_ready(base, honcho, timeout=120):
            print(f"the stack did not start within 120 s: see {out / 'stack.log'}")
            return report | {"totals": {"failures": 0}, "kinds": [], "failures": []}
        report["started"] = True
        report["startup_s"] = time.perf_counter() - started
        env = {
            **os.environ,
            "DELAYDESK_LOAD_DATA": str(out / "fixture.json"),
            "DELAYDESK_LOAD_AGENTS": str(args.agents),
            "DELAYDESK_LOAD_CUSTOMERS": str(args.customers),
            "DELAYDESK_LOAD_CARRIERS": str(args.carriers),
            "DELAYDESK_LOAD_SUPERVISORS": str(args.supervisors),
            "DELAYDESK_LOAD_BATCH": str(args.batch),
            "DELAYDESK_LOAD_THINK": str(args.think),
            "DELAYDESK_LOAD_ACKED": str(out / "acked.txt"),
            "DELAYDESK_LOAD_REQUESTS": str(out / "requests.csv"),
        }
        command = [
            BIN / "locust",
            "-f",
            LOCUSTFILE,
            "--headless",
            "--host",
            base,
            "--users",
            str(users),
            "--spawn-rate",
            str(args.spawn_rate),
            # The ramp-up (users logging in) first; the statistics restart once all are in.
            "--run-time",
            f"{ramp + args.run_time}s",
            "--reset-stats",
            "--stop-timeout",
            "10",
            "--csv",
            out / "locust",
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--exit-code-on-error",
            "0",
        ]
        locust_log = open(out / "locust.log", "w")  # noqa: SIM115 - closed below
        reaped = children_cpu()  # migrate and collectstatic so far
        locust = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=locust_log, stderr=subprocess.STDOUT
        )
        try:
            # Locust boots in about a second, then spawns for `ramp` s: the window starts.
            time.sleep(1 + ramp)
            report["date"] = dt.datetime.now(dt.UTC)
            report["load_before"] = os.getloadavg()
            cpu_before, stat_before = cpu_snapshot(honcho.pid), proc_stat()
            locust_before = process_cpu(locust.pid)
            began = time.perf_counter()
            locust.wait(timeout=args.run_time + 60)
        finally:
            if locust.poll() is None:
                locust.kill()
                locust.wait()
            locust_log.close()
        report["elapsed_s"] = time.perf_counter() - began
        report["cpu"] = cpu_delta(cpu_before, cpu_snapshot(honcho.pid))
        report["cpu"]["locust (client)"] = children_cpu() - reaped - locust_before
        report["busy"] = busy_share(stat_before, proc_stat())
        report["load_after"] = os.getloadavg()
        report["drain"] = drain(args.broker, database_url, seconds=args.drain)
    finally:
        stop(honcho)
        log.close()
    report["tasks"] = task_runtimes(out / "stack.log")
    report.update(read_locust(out))
    return report


def phase_beat(database_url: str, *, lead: int) -> None:
    """Beat's last runs set so that the jobs of WINDOW_JOBS fall due at their offsets into the
    window (which starts `lead` s from now) and every other job is not due for at least its
    whole interval."""
    with psycopg.connect(database_url, autocommit=True) as db:
        rows = db.execute(
            "SELECT t.id, t.name, i.every, i.period FROM django_celery_beat_periodictask t "
            "JOIN django_celery_beat_intervalschedule i ON i.id = t.interval_id"
        ).fetchall()
        unit = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
        for task_id, name, every, period in rows:
            interval = every * unit.get(period, 1)
            offset = WINDOW_JOBS.get(name)
            # Due `offset` s from now; else just run (not due within the window).
            back = max(interval - offset - lead, 0) if offset is not None else 0
            db.execute(
                "UPDATE django_celery_beat_periodictask SET last_run_at = now() - %s "
                "* interval '1 second' WHERE id = %s",
                [back, task_id],
            )
        db.execute("UPDATE django_celery_beat_periodictasks SET last_update = now()")


def wait_ready(base: str, honcho: subprocess.Popen, *, timeout: float) -> bool:
    """/healthz answers 200 and a worker has run the heartbeat since the stack started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if honcho.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as answer:  # noqa: S310
                health = json.loads(answer.read())
            seen = health.get("worker_last_seen_seconds_ago")
            if answer.status == 200 and seen is not None and seen < 20:
                return True
        except (OSError, ValueError):
            pass
        time.sleep(1)
    return False


def stop(honcho: subprocess.Popen) -> None:
    """Ctrl-C to honcho (it stops every process), then the whole group if it lingers."""
    if honcho.poll() is None:
        honcho.send_signal(signal.SIGINT)
        try:
            honcho.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait()


def drain(broker: str, database_url: str, *, seconds: int) -> dict:
    """The Celery queue and the due outbox at the end of the load, then how long until both
    are empty (polled each second, up to `seconds`)."""
    import redis

    client = redis.Redis.from_url(broker)

    def queued() -> int:
        return sum(
            client.llen(key) for key in client.scan_iter("celery*") if client.type(key) == b"list"
        )

    def outbox(db) -> int:
        return db.execute(
            "SELECT count(*) FROM notifications_notification WHERE status IN "
            "('pending', 'sending') AND (next_attempt_at IS NULL OR next_attempt_at <= now())"
        ).fetchone()[0]

    began = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as db:
        at_end = {"queue": queued(), "outbox_due": outbox(db)}
        result = {"at_end": at_end, "empty_after_s": None}
        while time.perf_counter() - began < seconds:
            if queued() == 0 and outbox(db) == 0:
                result["empty_after_s"] = time.perf_counter() - began
                break
            time.sleep(1)
        result["left"] = {"queue": queued(), "outbox_due": outbox(db)}
    return result


# --- measuring --------------------------------------------------------------------------------


def proc_stat() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    total, idle = after[0] - before[0], after[1] - before[1]
    return 1 - idle / total if total else 0.0


def _part(cmdline: str) -> str | None:
    if "gunicorn" in cmdline:
        return "web (gunicorn)"
    if "celery" in cmdline and " beat" in cmdline:
        return "beat"
    if "celery" in cmdline and "worker" in cmdline:
        return "workers (celery)"
    return None


def cpu_snapshot(honcho_pid: int) -> dict:
    """CPU seconds so far of the stack's processes by part, and of PostgreSQL's backends on
    this machine (every database: other work shows up there too)."""
    import psutil

    parts: dict[str, dict[int, float]] = {}
    try:
        children = psutil.Process(honcho_pid).children(recursive=True)
    except psutil.Error:
        children = []
    for proc in children:
        try:
            part = _part(" ".join(proc.cmdline()))
            times = proc.cpu_times()
        except psutil.Error:
            continue
        if part:
            parts.setdefault(part, {})[proc.pid] = times.user + times.system
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] and proc.info["name"].startswith("postgres"):
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            parts.setdefault("PostgreSQL", {})[proc.pid] = times.user + times.system
    return parts


def process_cpu(pid: int) -> float:
    import psutil

    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def children_cpu() -> float:
    """CPU seconds of this process's reaped children (locust, once it has exited)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_delta(before: dict, after: dict) -> dict:
    """CPU seconds per part between the snapshots (processes born meanwhile count whole)."""
    return {
        part: sum(t - before.get(part, {}).get(pid, 0.0) for pid, t in procs.items())
        for part, procs in after.items()
    }


def task_runtimes(log: Path) -> dict[str, list[float]]:
    """Celery's "Task NAME[id] succeeded in Xs" lines of the stack log, by task."""
    found: dict[str, list[float]] = {}
    pattern = re.compile(r"Task ([\w.]+)\[[^\]]+\] succeeded in ([0-9.]+)s")
    for match in pattern.finditer(log.read_text(errors="replace")):
        found.setdefault(match.group(1), []).append(float(match.group(2)))
    return found


def read_locust(out: Path) -> dict:
    if not (out / "locust_stats.csv").exists():
        log = (
            (out / "locust.log").read_text(errors="replace")
            if (out / "locust.log").exists()
            else ""
        )
        raise SystemExit(f"locust wrote no statistics; its output:\n{log[-3000:]}")
    kinds, totals = [], {}
    with open(out / "locust_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            entry = {
                "name": row["Name"],
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "rps": float(row["Requests/s"]),
                "p50": row["50%"],
                "p95": row["95%"],
                "p99": row["99%"],
                "max": float(row["Max Response Time"]),
            }
            if row["Name"] == "Aggregated":
                totals = entry
            else:
                kinds.append(entry)
    order = {name: n for n, name in enumerate(KINDS_ORDER)}
    kinds.sort(key=lambda k: order.get(k["name"], len(order)))
    failures = []
    path = out / "locust_failures.csv"
    if path.exists():
        with open(path, newline="") as handle:
            failures = [
                (row["Name"], row["Error"], int(row["Occurrences"]))
                for row in csv.DictReader(handle)
            ]
    return {"kinds": kinds, "totals": totals or {"failures": 0}, "failures": failures}


def stored_events(database_url: str, acked: Path) -> tuple[int, int]:
    """(events acknowledged with 202, of them stored)."""
    ids = acked.read_text().split() if acked.exists() else []
    if not ids:
        return 0, 0
    with psycopg.connect(database_url, autocommit=True) as db:
        stored = db.execute(
            "SELECT count(*) FROM shipments_trackingevent WHERE carrier_event_id = ANY(%s)",
            [ids],
        ).fetchone()[0]
    return len(set(ids)), stored


# --- report -----------------------------------------------------------------------------------


def _ms(value) -> str:
    return "-" if value in ("N/A", "", None) else f"{float(value):,.0f}"


def _span(low: float, high: float, args) -> str:
    return f"{low * args.think:g}-{high * args.think:g}"


def render(report: dict, args) -> str:
    sizes = report["sizes"]
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    users = args.agents + args.customers + args.carriers + args.supervisors
    lines = [
        "## Load on the production stack (issue 17)",
        "",
        "```",
        f".venv/bin/python bench/bench_load.py --run-time {args.run_time} --agents {args.agents} "
        f"--customers {args.customers} --carriers {args.carriers} "
        f"--supervisors {args.supervisors}"
        + (f" --think {args.think:g}" if args.think != 1 else ""),
        "```",
        "",
    ]
    if not report.get("started"):
        return "\n".join([*lines, "The stack did not start: no figures."])
    date = report["date"]
    load_before = ", ".join(f"{x:.2f}" for x in report["load_before"])
    load_after = ", ".join(f"{x:.2f}" for x in report["load_after"])
    lines += [
        f"- **Date:** {date:%Y-%m-%d %H:%M} UTC (run {report['run_id']}).",
        f"- **Machine:** {os.cpu_count()} cores, {cpu_model()}, {memory:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"load average {load_before} before, {load_after} after; CPUs "
        f"{report['busy']:.0%} busy during the run. Client and server share the machine.",
        f"- **Stack:** `make prod-local`'s (Procfile.prod): gunicorn "
        f"{args.web_concurrency or 4} workers x 4 threads, 2 Celery workers x 2 processes, beat; "
        "PostgreSQL 15 (default settings), Redis broker and cache; started in "
        f"{report['startup_s']:.0f} s.",
        f"- **Data:** {sizes['tickets_ticket']:,} tickets ({sizes['open_tickets']:,} open), "
        f"{sizes['shipments_shipment']:,} shipments, {sizes['shipments_trackingevent']:,} "
        f"tracking events, {sizes['tickets_message']:,} messages, "
        f"{sizes['notifications_notification']:,} notices; database {sizes['database_mb']:,} MB.",
        f"- **Load:** {users} users, measured for {args.run_time} s after all had started "
        f"({args.spawn_rate:g} a second, logging in, over {report['ramp_s']} s): "
        f"{args.agents} agents (think {_span(2, 6, args)} s), {args.customers} customers "
        f"({_span(3, 10, args)} s), {args.carriers} carriers ({args.batch} events a batch, "
        f"{_span(0.5, 1.5, args)} s), {args.supervisors} supervisors ({_span(5, 15, args)} s); "
        "each user from its own loopback address.",
        "",
        "| request kind | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    shown = [kind for kind in report["kinds"] if kind["requests"]]
    for kind in [*shown, {**report["totals"], "name": "**all**"}]:
        lines.append(
            f"| {kind['name']} | {kind['requests']:,} | {kind['rps']:.1f} | {_ms(kind['p50'])} "
            f"| {_ms(kind['p95'])} | {_ms(kind['p99'])} | {_ms(kind['max'])} "
            f"| {kind['failures']} |"
        )
    lines.append("")
    if report["failures"]:
        lines.append("Errors: " + "; ".join(f"{n} x {k}: {e}" for k, e, n in report["failures"]))
        lines.append("")
    acked, stored = report["acked"], report["stored"]
    available = os.cpu_count() * report["elapsed_s"]
    other = report["busy"] * available - sum(report["cpu"].values())
    drain_ = report["drain"]
    empty = drain_["empty_after_s"]
    lines += [
        f"- **Webhook:** {acked:,} events acknowledged with 202, {stored:,} of them stored.",
        f"- **Workers:** at the end of the load {drain_['at_end']['queue']} task(s) in the Celery "
        f"queue and {drain_['at_end']['outbox_due']} due notice(s) in the outbox; "
        + (
            f"both empty {empty:.0f} s later."
            if empty is not None
            else f"still {drain_['left']} after {args.drain} s."
        ),
        "- **Celery tasks during the run** (from the ramp-up on; runtime in the worker): "
        + "; ".join(
            f"{name} {len(times)}x {max(times):.2f} s max"
            for name, times in sorted(report["tasks"].items())
        )
        + ".",
        "- **CPU seconds in the window:** "
        + ", ".join(f"{part} {seconds:.0f}" for part, seconds in sorted(report["cpu"].items()))
        + f" (of {available:.0f} available); other processes on the machine (not the stack's, "
        f"not the client's) about {max(other, 0):.0f}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
