"""Faults under load on the production stack (issue 17): does Delaydesk lose, repeat or hang?

    flock /tmp/delaydesk-bench.lock .venv/bin/python bench/bench_faults.py

Starts the stack of `make prod-local` (the processes of Procfile.prod: gunicorn with several
workers, two Celery workers, beat) with production settings on a PostgreSQL database of its own
(`--database`, created afresh and dropped at the end unless --keep) and on a redis-server of its
own (`--redis-port`, 6391 by default, no persistence), so restarting that Redis disturbs nobody.
The processes are started one by one, each in its own process group (not under honcho, which
stops every process when one dies: a killed worker must stay killed until it is started again).

SMS goes to a fake of Twilio's Messages API in this process (tests/notifications/
fake_sms_provider.py, which honours the idempotency token like Twilio); customers prefer SMS.

While it runs, load comes from threads of this script and from bench/locustfile.py
(--locust-users, 8 by default: agents, two carriers of a carrier of their own, a supervisor;
skipped when locust is not installed):

- carriers: signed webhook batches of 5 events; every event id answered 202 is remembered
  (locust's carriers write theirs to a file, checked the same way);
- an agent: the console's queue page, logged in through the login form;
- a monitor: GET /healthz every 0.5 s.

Every request has a client timeout (--request-timeout); one that runs out is "hung".

Phases, each fault alone and then all together: `worker_kill` (SIGKILL to a Celery worker's
process group, started again 5 s later), `redis_restart` (Redis stopped, started again 3 s
later, empty), `pg_refuse` (the app's database refuses connections for 10 s: ALLOW_CONNECTIONS
false and its sessions terminated), `provider_timeout` (the SMS provider answers nothing within
the client's timeout for 60 s, half of the time after accepting the message), `all_together`.
Each phase first fills the outbox (--notices notices to distinct customers), injects its fault,
queues a few probe notices after it and then waits for the stack to recover: /healthz and the
webhook answer again (bound --web-bound) and every notice of the phase is sent (bound
--outbox-bound). Then it checks:

- every event id acknowledged with 202 is stored (all phases, at the end, too);
- every notice of the phase is sent, and the provider accepted exactly one message per notice
  and per customer; resends of a message it had accepted already (dropped by their
  idempotency token, but delivered twice by a provider that ignored it) are counted;
- no request hung;
- /healthz was 503 while the database refused connections, and the web and outbox recovered
  within the bounds;
- no process exited by itself. One that does is recorded and, as a process supervisor would,
  started again after --restart-after seconds.

Prints a summary per phase and writes results.json and results.md (the table of
docs/RELIABILITY.md) to --out. Results and what they mean: docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import hashlib
import hmac
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.integration.test_prod_stack import (  # noqa: E402 - after the path is set
    admin_sql,
    answers,
    csrf_token,
    free_port,
    production_env,
    server_params,
)
from tests.notifications.fake_sms_provider import (  # noqa: E402
    IDEMPOTENCY_HEADER,
    FakeSMSProvider,
)

BIN = Path(sys.executable).parent
CARRIER, SECRET, CODE = "FAULTPOST", "fault-webhook-secret", "IT"
AGENT, PASSWORD = "faultagent", "correct-horse-battery"  # tests.factories.PASSWORD
SUPERVISOR = "faultsupervisor"
# bench/locustfile.py's carriers post for a carrier of their own, with its own parcels and
# customers: their deliveries and holds must not touch the parcels whose notices are counted.
LOAD_CARRIER, LOAD_SECRET = "FAULTLOAD", "fault-load-secret"
LOAD_MAPPINGS = {  # bench/bench_load.py's MAPPINGS: the scan codes the locustfile sends
    "AR": ("in_transit", "none"),
    "DP": ("in_transit", "none"),
    "OD": ("out_for_delivery", "none"),
    "CH": ("exception", "customs_hold"),
    "EX": ("exception", "congestion"),
    "DL": ("delivered", "none"),
}
PHASES = ("worker_kill", "redis_restart", "pg_refuse", "provider_timeout", "all_together")

# The bench's settings beside the production ones of `make prod-local` (say so in the report):
# shorter timers so a phase settles in minutes rather than the defaults' quarter of an hour.
BENCH_SETTINGS = {
    "SMS_TIMEOUT_SECONDS": "2",  # default 10
    "NOTICE_CLAIM_TIMEOUT_SECONDS": "60",  # default 300
    "NOTICE_RETRY_BASE_SECONDS": "10",  # default 60
    "NOTICE_RETRY_MAX_SECONDS": "60",  # default 3600
    "HEARTBEAT_INTERVAL_SECONDS": "10",  # default 60
    "RATELIMIT_WEBHOOK": "100000/m",  # the bench's own carrier posts more than 600 a minute
    "WEB_CONCURRENCY": "2",
    "CELERY_CONCURRENCY": "2",
}
PROVIDER_LATENCY = 0.05  # seconds of a healthy provider's answer
PROVIDER_HANG = 4.0  # seconds an outage leaves a request unanswered (> SMS_TIMEOUT_SECONDS)

# A Django process of the stack's settings that the bench drives over stdin (one JSON command a
# line): setting up the data and queueing notices with the product's own service (which nudges a
# dispatcher task through the broker, as detection does).
HELPER = r"""
import json, sys
import django
django.setup()
from django.db import close_old_connections, connection
CARRIER, SECRET, CODE, AGENT, SUPERVISOR, LOAD_CARRIER, LOAD_SECRET = sys.argv[1:8]
LOAD_MAPPINGS = json.loads(sys.argv[8])
from django.utils import timezone

def parcels(carrier, count, tracking, phone, ref):
    import datetime as dt
    from customers.models import Customer
    from shipments.models import Shipment
    from tests.factories import CustomerFactory, LaneFactory, ShipmentFactory
    now = timezone.now()
    lane = LaneFactory(carrier=carrier)
    customers = Customer.objects.bulk_create(
        CustomerFactory.build(preferred_channel="sms", phone=phone.format(n),
                              email=f"{ref.lower()}{n}@example.com", external_ref=f"{ref}-{n:06d}")
        for n in range(count)
    )
    Shipment.objects.bulk_create(
        ShipmentFactory.build(carrier=carrier, lane=lane, customer=customer,
                              tracking_number=tracking.format(n), order_number=f"ORD-{ref}{n:07d}",
                              shipped_at=now - dt.timedelta(days=2),
                              promised_at=now + dt.timedelta(days=3))
        for n, customer in enumerate(customers)
    )

def setup(count, load_count):
    from shipments.models import CarrierStatusMapping, Shipment
    from tests.factories import AgentFactory, CarrierFactory, SupervisorFactory
    carrier = CarrierFactory(code=CARRIER, webhook_secret=SECRET)
    CarrierStatusMapping.objects.create(carrier=carrier, carrier_code=CODE, status="in_transit")
    parcels(carrier, count, "FLT{:09d}", "+4930{:07d}", "FAULT")
    load_carrier = CarrierFactory(code=LOAD_CARRIER, webhook_secret=LOAD_SECRET)
    for code, (status, cause) in LOAD_MAPPINGS.items():
        CarrierStatusMapping.objects.create(
            carrier=load_carrier, carrier_code=code, status=status, cause=cause)
    parcels(load_carrier, load_count, "FLD{:09d}", "+4931{:07d}", "LOAD")
    AgentFactory(username=AGENT)
    SupervisorFactory(username=SUPERVISOR)
    return {"shipments": Shipment.objects.filter(carrier=carrier).count(),
            "load_shipments": Shipment.objects.filter(carrier=load_carrier).count()}

def queue(numbers, key):
    from notifications.services import notices_enqueue_for_shipments
    from shipments.models import Shipment
    ids = list(Shipment.objects.filter(tracking_number__in=numbers).values_list("id", flat=True))
    return {"queued": notices_enqueue_for_shipments(
        kind="recovery", shipment_ids=ids, key=key, now=timezone.now())}

print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    command = json.loads(line)
    close_old_connections()
    try:
        if command["op"] == "setup":
            answer = setup(command["count"], command["load_count"])
        else:
            answer = queue(command["numbers"], command["key"])
        answer["ok"] = True
    except Exception as exc:
        connection.close()
        answer = {"ok": False, "error": repr(exc)[:500]}
    print(json.dumps(answer), flush=True)
"""


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def load() -> str:
    return "load average {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


# --- The fake provider, with an outage switch ----------------------------------------------------


class FlakySMSProvider(FakeSMSProvider):
    """The fake Twilio; while `outage` is set every request waits PROVIDER_HANG seconds before
    its answer, every other one after accepting the message (sent, but the answer is lost)."""

    def __post_init__(self):
        super().__post_init__()
        self.outage = threading.Event()
        self._flip = 0
        # Requests for a message accepted before they came: what a provider that ignores the
        # idempotency token (or email, which has none) would deliver a second time.
        self.resends: Counter = Counter()

    def _handle(self, request):
        token = request.headers.get(IDEMPOTENCY_HEADER.lower(), "")
        with self._lock:
            if token and token in self._by_token:
                self.resends[token] += 1
        if self.outage.is_set():
            with self._lock:
                self._flip += 1
                accept_first = self._flip % 2 == 0
            self.hang_next(seconds=PROVIDER_HANG, accept_first=accept_first)
        return super()._handle(request)

    def tally(self, tokens: set[str]) -> dict:
        """For the notices `tokens`: requests, messages accepted (per token, per phone)."""
        with self._lock:
            requests_ = [
                r for r in self.requests if r.headers.get(IDEMPOTENCY_HEADER.lower()) in tokens
            ]
            messages = [m for m in self.messages if m.idempotency_token in tokens]
        per_token = Counter(m.idempotency_token for m in messages)
        per_phone = Counter(m.to for m in messages)
        return {
            "requests": len(requests_),
            "requests_per_token": Counter(
                r.headers.get(IDEMPOTENCY_HEADER.lower()) for r in requests_
            ),
            "messages": len(messages),
            "tokens_with_two_messages": sorted(t for t, n in per_token.items() if n > 1),
            "phones_with_two_messages": sorted(p for p, n in per_phone.items() if n > 1),
            "sid_of": {m.idempotency_token: m.sid for m in messages},
            "resends": sum(n for token, n in self.resends.items() if token in tokens),
        }


# --- The stack's processes ------------------------------------------------------------------------


def procfile(path: Path) -> dict[str, str]:
    entries = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


class Processes:
    """Procfile.prod's processes, each in a process group of its own, plus the bench's Redis."""

    def __init__(self, env: dict, folder: Path, redis_port: int):
        self.env, self.folder, self.redis_port = env, folder, redis_port
        self.commands = procfile(ROOT / "Procfile.prod")
        self.running: dict[str, subprocess.Popen] = {}
        self.started: Counter = Counter()
        self.lock = threading.RLock()
        self.stopped_on_purpose: set[str] = set()  # the supervisor leaves these alone

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.folder / f"{name}.log").open("a")
        self.running[name] = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started[name] += 1

    def start(self, name: str) -> None:
        with self.lock:
            self._start(name)
            self.stopped_on_purpose.discard(name)

    def _start(self, name: str) -> None:
        if name == "redis":
            self._spawn(
                name,
                [
                    shutil.which("redis-server") or "redis-server",
                    "--port",
                    str(self.redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.folder),
                ],
            )
            deadline = time.monotonic() + 10
            while not answers(self.redis_port) and time.monotonic() < deadline:
                time.sleep(0.05)
            return
        self._spawn(name, ["sh", "-c", "exec " + self.commands[name]])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        with self.lock:
            self.stopped_on_purpose.add(name)
            process = self.running[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def exited(self) -> list[tuple[str, int]]:
        """Processes that ended without being stopped on purpose: (name, exit code)."""
        with self.lock:
            return [
                (name, process.returncode)
                for name, process in self.running.items()
                if name not in self.stopped_on_purpose and process.poll() is not None
            ]

    def stop_all(self) -> None:
        self.stopped_on_purpose.update(self.running)
        for process in self.running.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # pool children left over, if any


class Helper:
    """The Django helper process (HELPER) of the stack's settings."""

    def __init__(self, env: dict, log: Path):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                HELPER,
                *(CARRIER, SECRET, CODE, AGENT, SUPERVISOR, LOAD_CARRIER, LOAD_SECRET),
                json.dumps(LOAD_MAPPINGS),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("a"),
            text=True,
        )
        self.lock = threading.Lock()
        assert json.loads(self.process.stdout.readline())["ready"]

    def call(self, **command) -> dict:
        with self.lock:
            self.process.stdin.write(json.dumps(command) + "\n")
            self.process.stdin.flush()
            return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=20)


# --- Load and monitors ----------------------------------------------------------------------------


@dataclass
class Record:
    kind: str  # healthz, webhook, console
    started: float  # seconds since the run started
    seconds: float
    status: int | str  # HTTP status, "timeout" (hung) or the error's class name
    body: dict | None = None
    events: list[str] = field(default_factory=list)


class Load:
    def __init__(self, url: str, timeout: float, clock, tracking_count: int):
        self.url, self.timeout, self.clock = url, timeout, clock
        self.tracking_count = tracking_count
        self.records: list[Record] = []
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.run_id = uuid.uuid4().hex[:8]

    def start(self, webhook_threads: int = 2) -> None:
        targets = [self.healthz] + [self.webhook] * webhook_threads + [self.console]
        for n, target in enumerate(targets):
            thread = threading.Thread(target=target, args=(n,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=self.timeout + 5)

    def _request(self, kind: str, session, method: str, path: str, **kwargs):
        """One request with the client timeout; returns (its record, the response or None)."""
        started = self.clock()
        try:
            response = session.request(method, self.url + path, timeout=self.timeout, **kwargs)
            status: int | str = response.status_code
        except requests.Timeout:
            response, status = None, "timeout"
        except requests.RequestException as exc:
            response, status = None, type(exc).__name__
        record = Record(kind, started, self.clock() - started, status)
        if kind == "healthz" and response is not None:
            with contextlib.suppress(ValueError):
                record.body = response.json()
        self.records.append(record)
        return record, response

    def healthz(self, _n: int) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            self._request("healthz", session, "GET", "/healthz")
            self.stop.wait(0.5)

    def webhook(self, n: int) -> None:
        session = requests.Session()
        sequence = 0
        while not self.stop.is_set():
            sequence += 1
            ids = [f"F-{self.run_id}-{n}-{sequence}-{i}" for i in range(5)]
            occurred = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
            body = json.dumps(
                {
                    "carrier": CARRIER,
                    "events": [
                        {
                            "event_id": event_id,
                            "tracking_number": f"FLT{random.randrange(self.tracking_count):09d}",
                            "occurred_at": occurred.isoformat(),
                            "status": CODE,
                            "location": "Leipzig hub, DE",
                            "description": "In transit",
                        }
                        for event_id in ids
                    ],
                }
            ).encode()
            signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            record, _response = self._request(
                "webhook",
                session,
                "POST",
                "/api/v1/tracking-events/",
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Signature": signature,
                    "X-Timestamp": str(int(time.time())),
                    "X-Forwarded-Proto": "https",
                },
            )
            record.events = ids
            self.stop.wait(0.1)

    def console(self, _n: int) -> None:
        """An agent on the queue page; logs in again whenever the session is lost."""
        session = requests.Session()
        cookies: dict[str, str] = {}
        origin = "https://" + self.url.split("://", 1)[1]

        def call(method, path, **kwargs):
            headers = {
                "X-Forwarded-Proto": "https",
                "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
            }
            if method == "POST":
                headers["Origin"] = origin
            record, response = self._request(
                "console", session, method, path, headers=headers, allow_redirects=False, **kwargs
            )
            session.cookies.clear()
            if response is not None:
                cookies.update({c.name: c.value for c in response.cookies})
            return record, response

        logged_in = False
        while not self.stop.is_set():
            if not logged_in:
                page, response = call("GET", "/accounts/login/")
                if page.status == 302:  # signed in still: the login page sends it on
                    logged_in = True
                elif page.status == 200:
                    done, _response = call(
                        "POST",
                        "/accounts/login/",
                        data={
                            "username": AGENT,
                            "password": PASSWORD,
                            "csrfmiddlewaretoken": csrf_token(response.text),
                        },
                    )
                    logged_in = done.status == 302
            else:
                record, _response = call("GET", "/console/")
                logged_in = record.status != 302  # 302: to the login page, the session is gone
            self.stop.wait(0.3)


# --- Locust (bench/locustfile.py), optional -------------------------------------------------------


def locust_start(args, url: str, folder: Path, env: dict, phase: str):
    """bench/locustfile.py headless against the stack for the phase (stopped by locust_stop):
    agents, carriers (of LOAD_CARRIER) and a supervisor, no customers (no progress links
    here). Returns (process, csv prefix, file of acknowledged event ids) or None."""
    locustfile = ROOT / "bench" / "locustfile.py"
    executable = BIN / "locust"
    if args.locust_users <= 0:
        return None
    if not (locustfile.exists() and executable.exists()):
        print("  (locust or bench/locustfile.py missing: no locust load)")
        return None
    fixture = folder / f"locust-{phase}.json"
    fixture.write_text(
        json.dumps(
            {
                "run_id": f"{phase}-{uuid.uuid4().hex[:8]}",
                "password": PASSWORD,
                "agents": [AGENT],
                "supervisors": [SUPERVISOR],
                "carriers": [
                    {
                        "code": LOAD_CARRIER,
                        "secret": LOAD_SECRET,
                        "tracking_numbers": [f"FLD{n:09d}" for n in range(args.load_shipments)],
                        "codes": sorted(LOAD_MAPPINGS),
                    }
                ],
                "progress_tokens": [],
            }
        )
    )
    agents = max(args.locust_users - 3, 1)
    acked = folder / f"locust-{phase}-acked.txt"
    prefix = folder / f"locust-{phase}"
    process = subprocess.Popen(
        [
            str(executable),
            "-f",
            str(locustfile),
            "--headless",
            "--host",
            url,
            "-u",
            str(agents + 3),
            "-r",
            str(agents + 3),
            "--run-time",
            "900s",
            "--csv",
            str(prefix),
            "--only-summary",
            *shlex.split(args.locust_args),
        ],
        cwd=ROOT,
        env={
            **env,
            "DELAYDESK_LOAD_DATA": str(fixture),
            "DELAYDESK_LOAD_ACKED": str(acked),
            "DELAYDESK_LOAD_AGENTS": str(agents),
            "DELAYDESK_LOAD_CARRIERS": "2",
            "DELAYDESK_LOAD_SUPERVISORS": "1",
            "DELAYDESK_LOAD_CUSTOMERS": "0",
            "DELAYDESK_LOAD_TIMEOUT": str(args.request_timeout),
        },
        stdout=(folder / f"locust-{phase}.log").open("a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, prefix, acked


def locust_stop(run) -> dict | None:
    """Stop locust (SIGTERM: it quits and writes its CSV files); its figures for the phase:
    per request kind the count, failures, median and max; timeouts; the acknowledged ids."""
    if run is None:
        return None
    process, prefix, acked = run
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    kinds = {}
    stats = Path(f"{prefix}_stats.csv")
    if stats.exists():
        for row in csv.DictReader(stats.open()):
            kinds[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failed": int(row["Failure Count"]),
                "median_ms": row["Median Response Time"],
                "max_ms": round(float(row["Max Response Time"] or 0)),
            }
    failures = Path(f"{prefix}_failures.csv")
    errors = Counter()
    if failures.exists():
        for row in csv.DictReader(failures.open()):
            errors[f"{row['Name']}: {row['Error'][:120]}"] += int(row["Occurrences"])
    hung = sum(
        n for error, n in errors.items() if "timed out" in error.lower() or "Timeout" in error
    )
    ids = acked.read_text().split() if acked.exists() else []
    return {"kinds": kinds, "errors": dict(errors), "hung": hung, "acked": ids}


# --- The run --------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.t0 = time.monotonic()
        self.folder = Path(args.out)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.db = args.database
        self.timeline: list[tuple[float, str]] = []
        self.phase_results: list[dict] = []
        self.locust: dict | None = None

    def clock(self) -> float:
        return time.monotonic() - self.t0

    def mark(self, text: str) -> float:
        moment = self.clock()
        self.timeline.append((moment, text))
        print(f"  [{moment:7.1f} s] {text}", flush=True)
        return moment

    def query(self, sql: str, params=()) -> list[tuple]:
        with psycopg.connect(dbname=self.db, **server_params()) as connection:
            return connection.execute(sql, params).fetchall()

    # Set-up -----------------------------------------------------------------------------------

    def environment(self, port: int) -> dict:
        redis_url = f"redis://127.0.0.1:{self.args.redis_port}"
        return production_env(
            port=port,
            database=self.db,
            broker_url=f"{redis_url}/0",
            cache_url=f"{redis_url}/1",
            secret_key="bench-faults-" + uuid.uuid4().hex + uuid.uuid4().hex,
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            DELAYDESK_VAR_DIR=str(self.folder / "var"),
            PORT=str(port),
            DJANGO_SETTINGS_MODULE="config.settings",
            **self.provider.django_settings(),
            **BENCH_SETTINGS,
        )

    def setup(self) -> None:
        args = self.args
        if answers(args.redis_port):
            sys.exit(f"port {args.redis_port} is taken: choose another with --redis-port")
        self.provider = FlakySMSProvider(latency=PROVIDER_LATENCY).start()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = self.environment(self.port)
        admin_sql(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        admin_sql(f'CREATE DATABASE "{self.db}"')
        self.processes = Processes(self.env, self.folder, args.redis_port)
        self.processes.start("redis")
        for command in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"]):
            subprocess.run(
                [sys.executable, "manage.py", *command],
                cwd=ROOT,
                env=self.env,
                check=True,
                timeout=600,
            )
        self.helper = Helper(self.env, self.folder / "helper.log")
        made = self.helper.call(op="setup", count=args.shipments, load_count=args.load_shipments)
        assert made["ok"], made
        self.mark(
            f"data: {made['shipments']} + {made['load_shipments']} (locust's carrier) shipments, "
            "as many customers (SMS), 2 carriers, an agent and a supervisor"
        )
        for name in self.processes.commands:
            self.processes.start(name)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            logs = "".join(
                (self.folder / f"{n}.log").read_text(errors="replace")
                for n in ("worker1", "worker2")
            )
            healthy = False
            with contextlib.suppress(requests.RequestException):
                healthy = requests.get(self.url + "/healthz", timeout=2).status_code == 200
            if healthy and logs.count(" ready.") >= 2:
                break
            time.sleep(0.5)
        else:
            sys.exit(f"the stack did not start within 90 s; logs in {self.folder}")
        self.mark(f"stack up on {self.url}: {', '.join(self.processes.commands)} + redis")
        self.load = Load(self.url, args.request_timeout, self.clock, args.shipments)
        self.load.start()
        self.exits: list[dict] = []
        threading.Thread(target=self.supervise, daemon=True).start()
        self.next_customer = 0

    def supervise(self) -> None:
        """As systemd's Restart=always would (Procfile.prod under honcho would instead stop
        the whole stack): a process that ends by itself is recorded, with the last error line
        of its log, and started again --restart-after seconds later (never, if negative)."""
        while not self.load.stop.is_set():
            for name, code in self.processes.exited():
                log = (self.folder / f"{name}.log").read_text(errors="replace").splitlines()
                errors = [line for line in log if "CRITICAL" in line or "Error" in line[:200]]
                self.exits.append(
                    {
                        "process": name,
                        "exit": code,
                        "at": round(self.clock(), 1),
                        "last_error": (errors or [""])[-1][:300],
                    }
                )
                self.mark(f"UNEXPECTED: {name} exited with {code}: {self.exits[-1]['last_error']}")
                with self.processes.lock:
                    self.processes.stopped_on_purpose.add(name)  # not recorded twice
                if self.args.restart_after >= 0:
                    threading.Timer(self.args.restart_after, self.restart, args=(name,)).start()
            time.sleep(0.5)

    def restart(self, name: str) -> None:
        if not self.load.stop.is_set():
            self.processes.start(name)
            self.mark(f"supervisor: {name} started again")

    # Faults ------------------------------------------------------------------------------------

    def worker_holding_notices(self, wait: float = 10) -> tuple[str, int]:
        """The Celery worker whose processes hold the most claimed notices (claimed_by is
        "host:pid"), waiting up to `wait` seconds for one to claim some; else worker1."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            groups = {self.processes.running[n].pid: n for n in ("worker1", "worker2")}
            owner: dict[int, str] = {}
            for stat in Path("/proc").glob("[0-9]*/stat"):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    fields = stat.read_text().rsplit(")", 1)[1].split()
                    if int(fields[2]) in groups:  # the process group
                        owner[int(stat.parent.name)] = groups[int(fields[2])]
            held: Counter = Counter()
            for claimed_by, count in self.query(
                "SELECT claimed_by, COUNT(*) FROM notifications_notification "
                "WHERE status = 'sending' GROUP BY claimed_by"
            ):
                pid = claimed_by.rpartition(":")[2]
                if pid.isdigit() and int(pid) in owner:
                    held[owner[int(pid)]] += count
            if held:
                return held.most_common(1)[0]
            time.sleep(0.1)
        return "worker1", 0

    def kill_worker(self) -> None:
        name, held = self.worker_holding_notices()
        self.processes.kill(name, signal.SIGKILL)
        self.mark(
            f"fault: SIGKILL to {name}'s process group (main process and pool) while it held "
            f"{held} claimed notices"
        )
        time.sleep(5)
        self.processes.start(name)
        self.mark(f"{name} started again")

    def restart_redis(self) -> None:
        self.processes.kill("redis", signal.SIGTERM)
        self.mark("fault: Redis stopped (broker and cache; no persistence: queued tasks lost)")
        time.sleep(3)
        self.processes.start("redis")
        self.mark("Redis started again (empty)")

    def refuse_postgres(self) -> None:
        admin_sql(f'ALTER DATABASE "{self.db}" WITH ALLOW_CONNECTIONS false')
        admin_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.db}' AND pid <> pg_backend_pid()"
        )
        self.mark("fault: database refuses connections, its sessions terminated")
        time.sleep(10)
        admin_sql(f'ALTER DATABASE "{self.db}" WITH ALLOW_CONNECTIONS true')
        self.mark("database accepts connections again")

    def provider_down(self, seconds: float) -> None:
        self.provider.outage.set()
        self.mark(f"fault: SMS provider answers nothing for {PROVIDER_HANG:.0f} s a request")
        time.sleep(seconds)
        self.provider.outage.clear()
        self.mark("SMS provider answers again")

    # A phase -----------------------------------------------------------------------------------

    def queue(self, phase: str, label: str, count: int) -> None:
        numbers = [f"FLT{n:09d}" for n in range(self.next_customer, self.next_customer + count)]
        self.next_customer += count
        for _attempt in range(30):
            answer = self.helper.call(op="queue", numbers=numbers, key=f"fb:{phase}:{{shipment}}")
            if answer["ok"]:
                self.mark(f"{label}: {answer['queued']} notices queued")
                return
            time.sleep(1)  # the database may be refusing: queue once it answers
        raise RuntimeError(f"could not queue notices: {answer}")

    def run_phase(self, phase: str) -> dict:
        args = self.args
        print(f"\n== {phase} ({now_utc()}, {load()})", flush=True)
        started = self.mark(f"phase {phase} begins")
        locust = locust_start(args, self.url, self.folder, self.env, phase)
        time.sleep(args.baseline)
        self.queue(phase, "outbox filled", args.notices)
        fault_start = self.clock()
        if phase == "worker_kill":
            self.kill_worker()
        elif phase == "redis_restart":
            self.restart_redis()
        elif phase == "pg_refuse":
            self.refuse_postgres()
        elif phase == "provider_timeout":
            self.provider_down(args.provider_outage)
        else:
            threads = [
                threading.Thread(target=self.provider_down, args=(args.provider_outage,)),
                threading.Thread(target=self.kill_worker),
            ]
            threads[0].start()
            time.sleep(2)
            threads[1].start()
            time.sleep(2)
            self.restart_redis()
            self.refuse_postgres()
            for thread in threads:
                thread.join()
        fault_end = self.clock()
        self.queue(phase, "probe after the fault", args.probes)
        expected = args.notices + args.probes
        deadline = fault_end + args.outbox_bound
        settled_at = None
        while self.clock() < deadline:
            counts = dict(
                self.query(
                    "SELECT status, COUNT(*) FROM notifications_notification "
                    "WHERE dedupe_key LIKE %s GROUP BY status",
                    [f"fb:{phase}:%"],
                )
            )
            if counts.get("sent", 0) + counts.get("delivered", 0) >= expected:
                settled_at = self.clock()
                break
            time.sleep(1)
        self.mark(f"outbox of {phase}: {counts}")
        # The web has had the time to recover too; a few more seconds of load after it.
        while self.clock() < fault_end + args.web_bound + 2:
            time.sleep(0.5)
        time.sleep(3)
        ended = self.mark(f"phase {phase} ends")
        self.locust = locust_stop(locust)
        result = self.judge(phase, started, fault_start, fault_end, ended, settled_at, expected)
        self.phase_results.append(result)
        return result

    # Judging -----------------------------------------------------------------------------------

    def judge(self, phase, started, fault_start, fault_end, ended, settled_at, expected) -> dict:
        args = self.args
        records = [r for r in self.load.records if started <= r.started < ended]
        by_kind: dict[str, list[Record]] = defaultdict(list)
        for record in records:
            by_kind[record.kind].append(record)
        requests_summary = {}
        for kind, rows in sorted(by_kind.items()):
            statuses = Counter(str(r.status) for r in rows)
            ok = {"healthz": "200", "webhook": "202"}.get(kind)
            failed = sum(
                n for s, n in statuses.items() if (s != ok if ok else not s.startswith(("2", "3")))
            )
            requests_summary[kind] = {
                "requests": len(rows),
                "statuses": dict(statuses),
                "failed": failed,
                "hung": statuses.get("timeout", 0),
                "max_seconds": round(max((r.seconds for r in rows), default=0), 2),
            }
        # Health as /healthz saw it: the unhealthy stretches, and the web's recovery.
        health = [r for r in by_kind["healthz"]]
        unhealthy = [r for r in health if r.status != 200]
        failures = [r for r in records if r.kind != "healthz" and (r.status not in (200, 202, 302))]
        last_bad = max(
            (r.started + r.seconds for r in unhealthy + failures if r.started >= fault_start),
            default=None,
        )
        web_recovery = None if last_bad is None else max(0.0, last_bad - fault_end)
        # Failures of web requests while /healthz said 200 (the nearest poll before them).
        blind = 0
        for failure in failures:
            before = [h for h in health if h.started <= failure.started]
            if before and before[-1].status == 200 and failure.status != "timeout":
                blind += 1
        worker_ages = [
            r.body.get("worker_last_seen_seconds_ago")
            for r in health
            if r.body and r.body.get("worker_last_seen_seconds_ago") is not None
        ]
        # Events acknowledged with 202: all stored?
        acked = [e for r in by_kind["webhook"] if r.status == 202 for e in r.events]
        stored = self.stored_events(acked)
        missing = sorted(set(acked) - stored)
        locust = self.locust
        if locust is not None:
            missing += sorted(
                set(locust["acked"]) - self.stored_events(locust["acked"], LOAD_CARRIER)
            )
        # Notices of the phase.
        rows = self.query(
            "SELECT public_id::text, status, attempts, provider_message_id, recipient, "
            "fallback_of_id FROM notifications_notification WHERE dedupe_key LIKE %s",
            [f"fb:{phase}:%"],
        )
        fallbacks = self.query(
            "SELECT COUNT(*) FROM notifications_notification f JOIN notifications_notification o "
            "ON o.id = f.fallback_of_id WHERE o.dedupe_key LIKE %s",
            [f"fb:{phase}:%"],
        )[0][0]
        tokens = {row[0] for row in rows}
        tally = self.provider.tally(tokens)
        statuses = Counter(row[1] for row in rows)
        not_sent = [row[0] for row in rows if row[1] not in ("sent", "delivered")]
        unmatched_sid = [
            row[0]
            for row in rows
            if row[1] in ("sent", "delivered") and tally["sid_of"].get(row[0]) != row[3]
        ]
        never_accepted = [row[0] for row in rows if row[0] not in tally["sid_of"]]
        outbox_recovery = None if settled_at is None else settled_at - fault_end
        exits = [e for e in self.exits if started <= e["at"] < ended]
        down = [f"{n} (exit {c})" for n, c in self.processes.exited()]
        checks = {
            "acked events stored": not missing,
            "no notice lost": not not_sent and not never_accepted and len(rows) == expected,
            "no notice twice to a customer": not tally["tokens_with_two_messages"]
            and not tally["phones_with_two_messages"],
            "sent rows carry the provider's sid": not unmatched_sid,
            "no request hung": all(v["hung"] == 0 for v in requests_summary.values())
            and (locust is None or locust["hung"] == 0),
            f"web recovered within {args.web_bound:.0f} s": web_recovery is None
            or web_recovery <= args.web_bound,
            f"outbox recovered within {args.outbox_bound:.0f} s": outbox_recovery is not None,
            "no process exited by itself": not exits and not down,
        }
        if phase in ("pg_refuse", "all_together"):
            checks["/healthz unhealthy while the database refused"] = self.healthz_saw_refusal(
                health
            )
        result = {
            "phase": phase,
            "window_seconds": [round(started, 1), round(ended, 1)],
            "fault_seconds": [round(fault_start, 1), round(fault_end, 1)],
            "requests": requests_summary,
            "healthz_unhealthy": self.stretches(health),
            "healthz_vs_refusal": self.healthz_lags(health),
            "web_failures_while_healthz_ok": blind,
            "web_recovery_seconds": None if web_recovery is None else round(web_recovery, 1),
            "worker_last_seen_max_seconds": max(worker_ages, default=None),
            "events_acked": len(acked),
            "locust": None
            if locust is None
            else {
                "kinds": locust["kinds"],
                "errors": locust["errors"],
                "hung": locust["hung"],
                "events_acked": len(locust["acked"]),
            },
            "events_acked_missing": missing[:20],
            "notices": len(rows),
            "notice_statuses": dict(statuses),
            "notices_not_sent": not_sent[:20],
            "fallback_notices": fallbacks,
            "provider_requests": tally["requests"],
            "provider_messages": tally["messages"],
            "provider_resends_of_accepted": tally["resends"],
            "outbox_log": self.outbox_log(started, ended),
            "max_attempts": max((row[2] for row in rows), default=0),
            "outbox_recovery_seconds": None
            if outbox_recovery is None
            else round(outbox_recovery, 1),
            "unexpected_exits": exits,
            "down_at_the_end": down,
            "checks": checks,
            "load": load(),
        }
        self.report(result)
        return result

    def outbox_log(self, started: float, ended: float) -> dict:
        """From the workers' logs, between two moments of the run: notices recovered from a
        worker's claim (after the claim timeout) and given back by a batch out of time."""
        wall = time.time() - self.clock()
        since, until = (
            dt.datetime.fromtimestamp(wall + moment).strftime("%Y-%m-%d %H:%M:%S")
            for moment in (started, ended)
        )
        found = {"recovered_from_claims": 0, "given_back_by_batches": 0}
        pattern = re.compile(r"^\[(\S+ \S+?),\d+: .*Outbox: (\d+) notices (recovered|given back)")
        for name in ("worker1", "worker2"):
            for line in (self.folder / f"{name}.log").read_text(errors="replace").splitlines():
                match = pattern.match(line)
                if match and since <= match[1] <= until:
                    key = (
                        "recovered_from_claims"
                        if match[3] == "recovered"
                        else "given_back_by_batches"
                    )
                    found[key] += int(match[2])
        return found

    def stored_events(self, event_ids: list[str], carrier: str = CARRIER) -> set[str]:
        stored: set[str] = set()
        for start in range(0, len(event_ids), 5000):
            chunk = event_ids[start : start + 5000]
            stored |= {
                row[0]
                for row in self.query(
                    "SELECT e.carrier_event_id FROM shipments_trackingevent e "
                    "JOIN shipments_carrier c ON c.id = e.carrier_id "
                    "WHERE c.code = %s AND e.carrier_event_id = ANY(%s)",
                    [carrier, chunk],
                )
            }
        return stored

    def refusals(self) -> list[tuple[float, float]]:
        starts = [t for t, text in self.timeline if text.startswith("fault: database refuses")]
        ends = [t for t, text in self.timeline if text.startswith("database accepts")]
        return list(zip(starts, ends, strict=False))

    def healthz_lags(self, health: list[Record]) -> list[dict]:
        """Per refusal in `health`'s window: seconds from its start to the first 503, and from
        its end to the first 200 after it."""
        lags = []
        for start, end in self.refusals():
            first_503 = next((h for h in health if h.started >= start and h.status == 503), None)
            first_200 = next((h for h in health if h.started >= end and h.status == 200), None)
            if health and health[0].started <= start <= health[-1].started:
                lags.append(
                    {
                        "refused": [round(start, 1), round(end, 1)],
                        "unhealthy_after": None
                        if first_503 is None
                        else round(first_503.started + first_503.seconds - start, 1),
                        "healthy_again_after": None
                        if first_200 is None
                        else round(first_200.started + first_200.seconds - end, 1),
                    }
                )
        return lags

    def healthz_saw_refusal(self, health: list[Record]) -> bool:
        """Every poll that started inside a refusal (after its first second) and ended before
        its end answered 503; refusals outside the polls' window are not judged here (False
        when none is inside it)."""
        judged = 0
        for start, end in self.refusals():
            if not health or not health[0].started <= start <= health[-1].started:
                continue
            inside = [h for h in health if start + 1 <= h.started and h.started + h.seconds < end]
            if not inside or any(h.status != 503 for h in inside):
                return False
            judged += 1
        return judged > 0

    @staticmethod
    def stretches(health: list[Record]) -> list[dict]:
        """Runs of non-200 /healthz answers: from, to (seconds since the start), statuses."""
        runs, current = [], None
        for record in health:
            if record.status != 200:
                if current is None:
                    current = {"from": round(record.started, 1), "statuses": Counter()}
                current["to"] = round(record.started + record.seconds, 1)
                current["statuses"][str(record.status)] += 1
            elif current is not None:
                runs.append(current)
                current = None
        if current is not None:
            runs.append(current)
        for run in runs:
            run["statuses"] = dict(run["statuses"])
        return runs

    @staticmethod
    def report(result: dict) -> None:
        print(f"-- {result['phase']}: fault {result['fault_seconds']}, {result['load']}")
        for kind, summary in result["requests"].items():
            print(f"   {kind:8} {summary}")
        for key in (
            "healthz_unhealthy",
            "healthz_vs_refusal",
            "web_recovery_seconds",
            "web_failures_while_healthz_ok",
            "worker_last_seen_max_seconds",
            "events_acked",
            "locust",
            "events_acked_missing",
            "notices",
            "notice_statuses",
            "fallback_notices",
            "provider_requests",
            "provider_messages",
            "provider_resends_of_accepted",
            "outbox_log",
            "max_attempts",
            "outbox_recovery_seconds",
            "unexpected_exits",
            "down_at_the_end",
        ):
            print(f"   {key}: {result[key]}")
        for check, passed in result["checks"].items():
            print(f"   [{'PASS' if passed else 'FAIL'}] {check}")

    # The whole run -----------------------------------------------------------------------------

    def run(self) -> int:
        args = self.args
        print(
            f"bench_faults: {now_utc()}, {platform.node()}, {os.cpu_count()} cores, "
            f"{platform.python_version()}, {load()}"
        )
        print(f"  bench settings: {BENCH_SETTINGS}")
        try:
            self.setup()
            for phase in args.phases:
                self.run_phase(phase)
            self.load.finish()
            acked = [e for r in self.load.records if r.status == 202 for e in r.events]
            missing = sorted(set(acked) - self.stored_events(acked))
            summary = {
                "date": now_utc(),
                "machine": f"{platform.node()}, {os.cpu_count()} cores, {platform.platform()}",
                "shipments": args.shipments,
                "bench_settings": BENCH_SETTINGS,
                "events_acked_total": len(acked),
                "events_acked_missing_total": len(missing),
                "phases": self.phase_results,
                "timeline": [(round(t, 1), text) for t, text in self.timeline],
                "load": load(),
            }
            (self.folder / "results.json").write_text(json.dumps(summary, indent=2, default=str))
            table = markdown_table(self.phase_results)
            (self.folder / "results.md").write_text(table)
            print("\n" + table)
            failed = [
                (r["phase"], c)
                for r in self.phase_results
                for c, ok in r["checks"].items()
                if not ok
            ]
            print(
                f"\nall phases: {len(acked)} events acknowledged with 202, {len(missing)} "
                f"missing; {len(failed)} failed checks {failed}; results in "
                f"{self.folder / 'results.json'} ({load()})"
            )
            return 1 if failed or missing else 0
        finally:
            if hasattr(self, "load"):
                self.load.finish()
            if hasattr(self, "helper"):
                with contextlib.suppress(Exception):
                    self.helper.close()
            if hasattr(self, "processes"):
                self.processes.stop_all()
            if hasattr(self, "provider"):
                self.provider.stop()
            with contextlib.suppress(Exception):
                admin_sql(f'ALTER DATABASE "{self.db}" WITH ALLOW_CONNECTIONS true')
            if not args.keep:
                with contextlib.suppress(Exception):
                    admin_sql(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')


def markdown_table(results: list[dict]) -> str:
    """One row per phase, as docs/RELIABILITY.md shows them."""
    lines = [
        "| phase | /healthz not 200 | web requests failed (of) | hung | 202 events stored "
        "| notices sent / lost / twice | resends of accepted | web back after | outbox back after "
        "| exits | checks |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        web = {k: v for k, v in r["requests"].items() if k != "healthz"}
        failed = sum(v["failed"] for v in web.values())
        total = sum(v["requests"] for v in web.values())
        codes = Counter()
        for v in web.values():
            for status, n in v["statuses"].items():
                if status not in ("200", "202", "302"):
                    codes[status] += n
        locust = r.get("locust") or {"kinds": {}, "events_acked": 0, "hung": 0}
        aggregated = locust["kinds"].get("Aggregated", {"requests": 0, "failed": 0})
        failed += aggregated["failed"]
        total += aggregated["requests"]
        polls = Counter()
        for run in r["healthz_unhealthy"]:
            polls.update(run["statuses"])
        unhealthy = ", ".join(f"{n} x {status}" for status, n in polls.items())
        for lag in r["healthz_vs_refusal"]:
            unhealthy += (
                f": {lag['unhealthy_after']} s after the refusal began to "
                f"{lag['healthy_again_after']} s after it ended"
            )
        hung = sum(v["hung"] for v in r["requests"].values()) + locust["hung"]
        acked = r["events_acked"] + locust["events_acked"]
        lost = len(r["notices_not_sent"])
        twice = "0" if r["checks"]["no notice twice to a customer"] else "FAIL"
        sent = r["notice_statuses"].get("sent", 0)
        verdict = sum(r["checks"].values())
        lines.append(
            f"| {r['phase']} | {unhealthy or 'never'} | {failed} of {total}"
            f"{' (' + ', '.join(f'{n} x {c}' for c, n in codes.items()) + ')' if codes else ''}"
            f" | {hung} | {acked - len(r['events_acked_missing'])} of {acked} "
            f"| {sent} / {lost} / {twice} | {r['provider_resends_of_accepted']} "
            f"| {r['web_recovery_seconds'] if r['web_recovery_seconds'] is not None else '-'} s "
            f"| {r['outbox_recovery_seconds']} s "
            f"| {', '.join(e['process'] for e in r['unexpected_exits']) or 'none'} "
            f"| {verdict}/{len(r['checks'])} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--database", default="bench_faults")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--redis-port", type=int, default=6391)
    parser.add_argument("--shipments", type=int, default=3000)
    parser.add_argument("--notices", type=int, default=300, help="notices queued per phase")
    parser.add_argument("--probes", type=int, default=20, help="notices queued after a fault")
    parser.add_argument("--baseline", type=float, default=5, help="seconds before the fault")
    parser.add_argument("--provider-outage", type=float, default=60)
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=15,
        help="client timeout: a request still unanswered after it is hung",
    )
    parser.add_argument(
        "--web-bound",
        type=float,
        default=15,
        help="seconds after a fault within which /healthz and the webhook must answer again",
    )
    parser.add_argument(
        "--outbox-bound",
        type=float,
        default=240,
        help="seconds after a fault within which every notice must be sent",
    )
    parser.add_argument(
        "--restart-after",
        type=float,
        default=5,
        help="seconds after which a process that exited by itself is started again (as a "
        "process supervisor would); negative: never",
    )
    parser.add_argument("--load-shipments", type=int, default=1000, help="of locust's carrier")
    parser.add_argument(
        "--locust-users",
        type=int,
        default=8,
        help="bench/locustfile.py users (2 carriers, 1 supervisor, the rest agents); 0: none",
    )
    parser.add_argument("--locust-args", default="", help="more locust arguments")
    parser.add_argument(
        "--out",
        default=str(ROOT / "var" / "bench_faults" / time.strftime("%Y%m%d-%H%M%S")),
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    # The PostgreSQL server (its database name is not used: --database names the bench's own).
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    sys.exit(Bench(parse_args()).run())
