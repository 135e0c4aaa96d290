"""Webhook ingest throughput through the real HTTP stack (docs/PERFORMANCE.md).

    .venv/bin/python bench/bench_ingest.py --events 60000 --batch 500

1. (Re)creates its own PostgreSQL database (``--database-url``, default ``bench_ingest``) and
   migrates it with ``manage.py migrate``.
2. Seeds one carrier with a known webhook secret and ``events / --events-per-shipment``
   shipments (each with its customer and one lane), then runs ANALYZE.
3. Builds the batches up front: every shipment gets its scans, shuffled over the whole run so
   batches mix parcels and scans arrive out of order, as carriers send them. Bodies are
   serialized and signed before the clock starts; only X-Timestamp is set at send time.
4. Starts gunicorn (``config.wsgi``, ``--workers``, DEBUG=false) on a free loopback port and
   posts the batches from ``--clients`` threads over http.client connections.
5. Reports sustained events/s over the whole run (first request sent to last answer), latency
   percentiles, and checks every event was stored exactly once; then re-posts every batch and
   checks that 0 new rows appear and that every event is answered as a duplicate. The exit
   code is 1 when a check fails.
6. Stops gunicorn. ``--profile N`` instead runs N batches in-process under cProfile (the view's
   validation plus the service) and prints where the time goes and the queries per batch.

It prints the machine (cores, CPU model, load), the data size and the date, and the CPU time
the run cost (gunicorn workers, and with ``--conn-max-age`` the PostgreSQL backends), which
says what the code costs even when other work shares the machine: look at the load averages.
``--conn-max-age 60`` gives the workers persistent database connections through a gunicorn
hook, because config/env.py currently leaves CONN_MAX_AGE at 0 (a connection per request).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import queue
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = REPO_ROOT / ".venv/bin/python"
GUNICORN = REPO_ROOT / ".venv/bin/gunicorn"
CARRIER_CODE = "BENCH"
SECRET = "bench-secret-not-for-production"
CODES = {  # the carrier's codes -> (status, cause)
    "IR": ("info_received", "none"),
    "PU": ("in_transit", "none"),
    "AR": ("in_transit", "none"),
    "DP": ("in_transit", "none"),
    "OD": ("out_for_delivery", "none"),
    "DL": ("delivered", "none"),
    "CH": ("exception", "customs_hold"),
}
JOURNEY = ("IR", "PU", "AR", "DP", "AR", "CH", "DP", "AR", "OD", "DL")
HUBS = ("Shenzhen hub", "Hong Kong airport", "Leipzig hub", "Leipzig customs", "Berlin depot")
WEBHOOK_PATH = "/api/v1/tracking-events/"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--events-per-shipment", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bench_ingest")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--conn-max-age",
        type=int,
        metavar="SECONDS",
        help="override the workers' CONN_MAX_AGE (config/env.py leaves it at 0: one new "
        "PostgreSQL connection per request); measures the stack with persistent connections",
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="profile N batches in-process"
    )
    args = parser.parse_args()
    if not 1 <= args.batch <= 1000:
        parser.error("--batch must be 1 to 1000")

    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "WARNING",
        # Counted as in production, never refused: a big --events run is one carrier's flood.
        "RATELIMIT_WEBHOOK": "1000000/m",
    }
    shipments = max(1, args.events // args.events_per_shipment)
    print(machine_line())
    print(
        f"data: {args.events:,} events in batches of {args.batch} for {shipments:,} shipments "
        f"({args.events_per_shipment} scans each), database {urlsplit(args.database_url).path[1:]}"
    )

    database_recreate(args.database_url)
    started = time.perf_counter()
    subprocess.run(
        [str(PYTHON), "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
    )
    os.environ.update(env)
    sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()
    tracking_numbers = seed(shipments)
    bodies = build_batches(
        tracking_numbers,
        events_per_shipment=args.events_per_shipment,
        total=args.events,
        batch=args.batch,
        seed=args.seed,
    )
    print(f"setup (migrate, seed, build batches): {time.perf_counter() - started:.1f} s")

    if args.profile:
        return profile(bodies[: args.profile])

    port = free_port()
    server = gunicorn_start(
        port=port, workers=args.workers, env=env, conn_max_age=args.conn_max_age
    )
    database = urlsplit(args.database_url).path.lstrip("/")
    persistent = bool(args.conn_max_age)
    try:
        before = event_rows()
        cpu = CpuMeter(server_pid=server.pid, database=database, measure_postgres=persistent)
        first = post_all(bodies, port=port, clients=args.clients)
        first.cpu = cpu.read()
        after_first = event_rows()
        cpu = CpuMeter(server_pid=server.pid, database=database, measure_postgres=persistent)
        again = post_all(bodies, port=port, clients=args.clients)
        again.cpu = cpu.read()
        after_again = event_rows()
    finally:
        gunicorn_stop(server)

    print(f"load after the run: {load_line()}")
    report("first delivery", first, events=args.events)
    report("redelivery", again, events=args.events)
    stored = after_first - before
    print(f"rows stored by the first delivery: {stored:,} (expected {args.events:,})")
    print(f"new rows from the redelivery: {after_again - after_first:,} (expected 0)")
    ok = (
        stored == args.events
        and after_again == after_first
        and first.accepted == args.events
        and again.duplicates == args.events
        and again.accepted == 0
        and not first.failures
        and not again.failures
    )
    print("checks:", "OK" if ok else "FAILED")
    return 0 if ok else 1


# --- Environment ------------------------------------------------------------------------------


def machine_line() -> str:
    from bench.bench_detection import cpu_model

    model = cpu_model()
    return (
        f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  machine: {platform.node()}, "
        f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}; "
        f"load before: {load_line()}"
    )


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)"


def database_recreate(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing odd database name {name!r}")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


GUNICORN_CONN_MAX_AGE_HOOK = """
def post_fork(server, worker):
    # bench/bench_ingest.py --conn-max-age: persistent database connections in the workers.
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = {seconds}
"""


def gunicorn_start(
    *, port: int, workers: int, env: dict, conn_max_age: int | None
) -> subprocess.Popen:
    command = [
        str(GUNICORN),
        "config.wsgi",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
    ]
    if conn_max_age is not None:
        hook = Path(tempfile.mkdtemp(prefix="bench_ingest_")) / "gunicorn_conf.py"
        hook.write_text(GUNICORN_CONN_MAX_AGE_HOOK.format(seconds=conn_max_age))
        command += ["--config", str(hook)]
    print(f"web: {' '.join(command[1:])} (DEBUG=false)")
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                connection.close()
                return server
        except OSError:
            pass
        if server.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        time.sleep(0.2)
    gunicorn_stop(server)
    raise SystemExit("gunicorn did not answer /healthz within 30 s")


def gunicorn_stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class CpuMeter:
    """CPU seconds spent by the gunicorn workers, the database's client backends and this
    client, between creation and read(): what the run costs whatever else loads the machine.

    PostgreSQL's background writers (WAL writer, checkpointer, autovacuum) are not counted.
    """

    def __init__(self, *, server_pid: int, database: str, measure_postgres: bool):
        self.server_pid = server_pid
        self.database = database
        # Backends that live one request exit before read(): their CPU cannot be summed.
        self.measure_postgres = measure_postgres
        self.start = self._sample()

    def _sample(self) -> dict[str, dict[int, float]]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s "
                "AND backend_type = 'client backend'",
                [self.database],
            )
            backends = [row[0] for row in cursor.fetchall()]
        workers = _children(self.server_pid)
        return {
            "web": {pid: _cpu_seconds(pid) for pid in [self.server_pid, *workers]},
            "postgres": {pid: _cpu_seconds(pid) for pid in backends},
            "client": {os.getpid(): _cpu_seconds(os.getpid())},
        }

    def read(self) -> dict[str, float]:
        end = self._sample()
        return {
            part: sum(seconds - self.start[part].get(pid, 0.0) for pid, seconds in pids.items())
            for part, pids in end.items()
            if part != "postgres" or self.measure_postgres
        }


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime are fields 14 and 15 of /proc/<pid>/stat (1-based, after "pid (comm)").
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- Data ---------------------------------------------------------------------------------------


def seed(count: int) -> list[str]:
    from customers.models import Customer
    from shipments.models import Carrier, CarrierStatusMapping, Lane, Shipment

    carrier = Carrier.objects.create(code=CARRIER_CODE, name="Bench Express", webhook_secret=SECRET)
    CarrierStatusMapping.objects.bulk_create(
        CarrierStatusMapping(carrier=carrier, carrier_code=code, status=status, cause=cause)
        for code, (status, cause) in CODES.items()
    )
    lane = Lane.objects.create(carrier=carrier, origin_region="CN-GD", destination_region="DE-BE")
    now = dt.datetime.now(dt.UTC)
    customers = Customer.objects.bulk_create(
        (Customer(external_ref=f"B-{n}", name=f"Bench customer {n}") for n in range(count)),
        batch_size=5000,
    )
    tracking_numbers = [f"BN{n:010d}" for n in range(count)]
    Shipment.objects.bulk_create(
        (
            Shipment(
                carrier=carrier,
                tracking_number=tracking_number,
                order_number=f"BO-{n}",
                customer=customer,
                lane=lane,
                origin_region="CN-GD",
                destination_region="DE-BE",
                shipped_at=now - dt.timedelta(days=3),
                promised_at=now + dt.timedelta(days=4),
            )
            for n, (tracking_number, customer) in enumerate(
                zip(tracking_numbers, customers, strict=True)
            )
        ),
        batch_size=5000,
    )
    # Statistics, as autovacuum keeps them on a live database (pgbench does the same after
    # loading). Without them PostgreSQL guesses that "carrier_id = 1" picks a few rows and
    # reads every shipment of the carrier to find 500 tracking numbers.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return tracking_numbers


def build_batches(
    tracking_numbers: list[str], *, events_per_shipment: int, total: int, batch: int, seed: int
) -> list[bytes]:
    from shipments.ingest import webhook_signature

    rng = random.Random(seed)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    events = []
    for n, tracking_number in enumerate(tracking_numbers):
        for step in range(events_per_shipment):
            code = JOURNEY[step % len(JOURNEY)]
            events.append(
                {
                    "event_id": f"{tracking_number}-{step}",
                    "tracking_number": tracking_number,
                    "occurred_at": (
                        start + dt.timedelta(hours=6 * step, seconds=n % 3600)
                    ).isoformat(),
                    "status": code,
                    "location": HUBS[min(step, len(HUBS) - 1)],
                    "description": f"Scan {code}",
                }
            )
    events = events[:total]
    rng.shuffle(events)
    bodies = []
    for offset in range(0, len(events), batch):
        body = json.dumps(
            {"carrier": CARRIER_CODE, "events": events[offset : offset + batch]},
            separators=(",", ":"),
        ).encode()
        bodies.append((body, webhook_signature(secret=SECRET, body=body)))
    return bodies


def event_rows() -> int:
    from shipments.models import TrackingEvent

    return TrackingEvent.objects.count()


# --- Load ---------------------------------------------------------------------------------------


@dataclass
class RunResult:
    seconds: float = 0.0
    accepted: int = 0
    duplicates: int = 0
    unknown: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)


def post_all(bodies: list[tuple[bytes, str]], *, port: int, clients: int) -> RunResult:
    work: queue.SimpleQueue = queue.SimpleQueue()
    for item in bodies:
        work.put(item)
    result = RunResult()
    lock = threading.Lock()

    def client() -> None:
        # One connection per thread, reused while the server keeps it open (gunicorn's sync
        # workers close after each answer; http.client then reconnects by itself).
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            try:
                body, signature = work.get_nowait()
            except queue.Empty:
                break
            sent = time.perf_counter()
            try:
                connection.request(
                    "POST",
                    WEBHOOK_PATH,
                    body=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-Signature": signature,
                        "X-Timestamp": str(int(time.time())),
                    },
                )
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                with lock:
                    result.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            elapsed = time.perf_counter() - sent
            with lock:
                result.latencies.append(elapsed)
                if response.status != 202:
                    result.failures.append(f"{response.status}: {payload[:200]!r}")
                    continue
                answer = json.loads(payload)
                result.accepted += answer["accepted"]
                result.duplicates += answer["duplicates"]
                result.unknown += len(answer["unknown_tracking_numbers"])
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def report(name: str, result: RunResult, *, events: int) -> None:
    latencies = sorted(result.latencies) or [0.0]

    def percentile(share: float) -> float:
        return latencies[min(len(latencies) - 1, int(share * len(latencies)))] * 1000

    print(
        f"{name}: {events:,} events in {result.seconds:.2f} s = "
        f"{events / result.seconds:,.0f} events/s sustained; "
        f"accepted {result.accepted:,}, duplicates {result.duplicates:,}, "
        f"unknown {result.unknown}; {len(result.latencies)} requests, latency p50 "
        f"{percentile(0.5):.0f} ms, p95 {percentile(0.95):.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms, mean {statistics.fmean(latencies) * 1000:.0f} ms"
    )
    if result.cpu:
        per_thousand = {
            part: seconds / events * 1000 * 1000 for part, seconds in result.cpu.items()
        }
        line = (
            f"  CPU per 1,000 events: web {per_thousand['web']:.0f} ms, "
            f"client {per_thousand['client']:.0f} ms"
        )
        if "postgres" in per_thousand:
            server_ms = per_thousand["web"] + per_thousand["postgres"]
            cores = os.cpu_count() or 1
            line += (
                f", PostgreSQL {per_thousand['postgres']:.0f} ms; {cores} idle cores would "
                f"serve ~{cores * 1000 / server_ms * 1000:,.0f} events/s"
            )
        else:
            line += "; PostgreSQL not measured (a backend lives one request: --conn-max-age)"
        print(line)
    for failure in result.failures[:5]:
        print(f"  failure: {failure}")
    if len(result.failures) > 5:
        print(f"  ... {len(result.failures) - 5} more failures")


# --- Profile ------------------------------------------------------------------------------------


def profile(bodies: list[tuple[bytes, str]]) -> int:
    """Run the view's work in-process under cProfile: parse, verify, validate, ingest."""
    import cProfile
    import pstats

    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from shipments.ingest import carrier_status_mappings, tracking_events_ingest
    from shipments.models import Carrier
    from shipments.serializers import TrackingEventBatchSerializer

    carrier = Carrier.objects.get(code=CARRIER_CODE)
    timings = {"parse+validate": 0.0, "ingest": 0.0}
    queries = []
    profiler = cProfile.Profile()
    for body, _signature in bodies:
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            profiler.enable()
            started = time.perf_counter()
            payload = json.loads(body)
            serializer = TrackingEventBatchSerializer(
                data=payload, context={"status_mappings": carrier_status_mappings(carrier=carrier)}
            )
            serializer.is_valid(raise_exception=True)
            validated = time.perf_counter()
            tracking_events_ingest(
                carrier=carrier,
                events=serializer.validated_data["events"],
                received_at=timezone.now(),
            )
            done = time.perf_counter()
            profiler.disable()
        timings["parse+validate"] += validated - started
        timings["ingest"] += done - validated
        queries.append(len(captured))
    count = len(bodies)
    print(
        f"profiled {count} batches: parse+validate {timings['parse+validate'] / count * 1000:.1f}"
        f" ms/batch, ingest {timings['ingest'] / count * 1000:.1f} ms/batch, "
        f"queries per batch {sorted(set(queries))}"
    )
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
