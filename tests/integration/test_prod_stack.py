"""The production stack of `make prod-local`, black-box: the core loop over HTTP and a real broker.

`honcho start --procfile Procfile.prod` (gunicorn with several workers, two Celery workers, beat)
with production settings (DELAYDESK_ENV=production, DEBUG off, the env of the Makefile's
prod-local) on a PostgreSQL database of its own (created here, dropped at the end) on the
server of DATABASE_URL, with Redis db 14 as broker and cache. The loop:

1. a carrier's signed webhook posts a customs hold scanned 30 hours ago at a hub (HTTP);
2. `celery call shipments.detect_delays` goes through the broker: a worker runs detection, which
   marks the shipment hub_hold, opens the proactive ticket and queues the delay notice;
3. the dispatcher (a worker) sends the delay notice once (SMS to a file, FileSMSBackend);
4. an agent logs in through the login form and replies on the ticket page, setting it solved;
5. the survey notice goes out at once (SURVEY_DELAY_HOURS=0) with the customer's link;
6. the customer opens the link and answers the survey (HTTP);
7. the database says: one delay notice sent once, the reply stored, the survey answered.

The requests carry `X-Forwarded-Proto: https`, as behind the TLS proxy of a real deployment
(SECURE_PROXY_SSL_HEADER): production cookies are Secure, so the test sends them itself.
Skipped on SQLite (marked `postgres`) and, saying so, when Redis does not answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIS_URL = "redis://127.0.0.1:6379/14"  # broker and cache: used by no other test
CARRIER, SECRET, MAPPED_CODE = "STACKPOST", "stack-webhook-secret", "CD"
TRACKING = "TRKSTACK000001"
AGENT, PASSWORD = "stackagent", "correct-horse-battery"  # tests.factories.PASSWORD
PHONE = "+4930555000123"
START_SECONDS = 60  # migrate is done before: gunicorn and both workers start in a few seconds
STEP_SECONDS = 30  # each asynchronous step (a task through the broker) within this

SETUP = f"""
import datetime as dt
from django.utils import timezone
from shipments.models import CarrierStatusMapping
from tests.factories import AgentFactory, CarrierFactory, CustomerFactory, LaneFactory
from tests.factories import ShipmentFactory
now = timezone.now()
carrier = CarrierFactory(code="{CARRIER}", webhook_secret="{SECRET}")
CarrierStatusMapping.objects.create(
    carrier=carrier, carrier_code="{MAPPED_CODE}", status="exception", cause="customs_hold"
)
customer = CustomerFactory(preferred_channel="sms", phone="{PHONE}", language="en")
ShipmentFactory(
    carrier=carrier,
    lane=LaneFactory(carrier=carrier),
    customer=customer,
    tracking_number="{TRACKING}",
    order_number="ORD-STACK-1",
    shipped_at=now - dt.timedelta(days=2),
    promised_at=now + dt.timedelta(days=1),
)
AgentFactory(username="{AGENT}")
"""


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_params() -> dict:
    import dj_database_url

    db = dj_database_url.parse(os.environ["DATABASE_URL"])
    return {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"] or "postgres",
        "password": db["PASSWORD"] or None,
    }


def admin_sql(statement) -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **server_params()) as connection:
        connection.execute(statement)


class Stack:
    def __init__(self, *, url: str, db_name: str, env: dict, folder: Path, log: Path):
        self.url, self.db_name, self.env, self.folder, self.log = url, db_name, env, folder, log

    def query(self, sql: str, params=()) -> list[tuple]:
        import psycopg

        with psycopg.connect(dbname=self.db_name, **server_params()) as connection:
            return connection.execute(sql, params).fetchall()

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def outbox(self) -> list[dict]:
        path = self.folder / "outbox" / "sms.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def wait_for(self, what: str, predicate, seconds: float = STEP_SECONDS):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.3)
        pytest.fail(f"not within {seconds} s: {what}\n--- stack log ---\n{self.log_tail()}")


def production_env(
    *, port: int, database: str, broker_url: str, cache_url: str, secret_key: str, **extra: str
) -> dict:
    """The environment `make prod-local` gives the stack (Makefile, PROD_ENV) on `database` of
    the local server: production settings, DEBUG off, plain HTTP on loopback; `extra` adds to
    it (each stack's own backends and sizes). Shared by this test, bench/bench_faults.py and
    bench/bench_load.py."""
    server = server_params()
    password = f":{server['password']}" if server["password"] else ""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.pop("DELAYDESK_DISPLAY_TIME_ZONE", None)
    env.update(
        DELAYDESK_ENV="production",
        DEBUG="false",
        SECRET_KEY=secret_key,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SITE_URL=f"http://127.0.0.1:{port}",
        DATABASE_URL=(
            f"postgres://{server['user']}{password}@{server['host']}:{server['port']}/{database}"
        ),
        CELERY_BROKER_URL=broker_url,
        CACHE_URL=cache_url,
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="0",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def run(env: dict, *args: str, timeout: float = 180) -> None:
    done = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-3000:]}"


def stop_honcho(process: subprocess.Popen) -> None:
    """As Ctrl-C does: honcho sends SIGTERM to every process and waits; bounded, then SIGKILL to
    the whole group (honcho and everything it started)."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # leftovers, if any: the group is ours alone
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    import redis

    if not answers(6379):
        pytest.skip("needs the local Redis on 127.0.0.1:6379 (the production broker and cache)")
    folder = tmp_path_factory.mktemp("prod-stack")
    db_name = f"delaydesk_prod_stack_{uuid.uuid4().hex[:10]}"
    port = free_port()
    env = production_env(
        port=port,
        database=db_name,
        broker_url=REDIS_URL,
        cache_url=REDIS_URL,
        secret_key="prod-stack-test-" + uuid.uuid4().hex + uuid.uuid4().hex,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        # This test's own: messages to files it reads, the survey at once, a small stack.
        DELAYDESK_VAR_DIR=str(folder / "var"),
        NOTIFICATIONS_FILE_DIR=str(folder / "outbox"),
        SMS_BACKEND="notifications.backends.FileSMSBackend",
        SURVEY_DELAY_HOURS="0",
        WEB_CONCURRENCY="2",
        CELERY_CONCURRENCY="1",
    )
    redis.Redis.from_url(REDIS_URL).flushdb()  # a task left over by an earlier run does not run
    admin_sql(f'CREATE DATABASE "{db_name}"')
    log = folder / "stack.log"
    honcho = None
    try:
        manage = [sys.executable, "manage.py"]
        run(env, *manage, "migrate", "--noinput", "-v0")
        run(env, *manage, "collectstatic", "--noinput", "-v0")
        run(env, *manage, "shell", "-c", SETUP)
        with log.open("w") as out:
            honcho = subprocess.Popen(
                [str(BIN / "honcho"), "start", "--procfile", "Procfile.prod", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: the teardown kills nothing else
            )
        stack = Stack(
            url=f"http://127.0.0.1:{port}", db_name=db_name, env=env, folder=folder, log=log
        )
        stack.wait_for("gunicorn answers /healthz", lambda: _healthy(stack.url), START_SECONDS)
        stack.wait_for(
            "both Celery workers are ready",
            lambda: log.read_text(errors="replace").count(" ready.") >= 2,
            START_SECONDS,
        )
        yield stack
    finally:
        if honcho is not None:
            stop_honcho(honcho)
        admin_sql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        redis.Redis.from_url(REDIS_URL).flushdb()


def _healthy(url: str) -> bool:
    import requests

    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


class Browser:
    """requests with the Secure cookies of production kept by hand (requests' cookie jar does
    not send a Secure cookie over http://), as a browser behind the TLS proxy would."""

    def __init__(self, base: str):
        import requests

        self.base = base
        self.http = requests.Session()
        self.cookies: dict[str, str] = {}
        self.origin = "https://" + base.split("://", 1)[1]

    def request(self, method: str, path: str, **kwargs):
        headers = {
            "X-Forwarded-Proto": "https",
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            **kwargs.pop("headers", {}),
        }
        if method == "POST":
            headers.setdefault("Origin", self.origin)
        response = self.http.request(
            method, self.base + path, headers=headers, allow_redirects=False, timeout=20, **kwargs
        )
        self.http.cookies.clear()
        for cookie in response.cookies:
            self.cookies[cookie.name] = cookie.value
        return response

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


def test_the_core_loop_runs_on_the_production_stack(stack):
    started = time.monotonic()
    [(shipment_id, level)] = stack.query(
        "SELECT id, delay_level FROM shipments_shipment WHERE tracking_number = %s", [TRACKING]
    )
    assert level == "none"

    # 1. The carrier's webhook: a customs hold scanned at a hub 30 hours ago, signed.
    scanned_at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 30 * 3600))
    body = json.dumps(
        {
            "carrier": CARRIER,
            "events": [
                {
                    "event_id": "STACK-0001",
                    "tracking_number": TRACKING,
                    "occurred_at": scanned_at,
                    "status": MAPPED_CODE,
                    "location": "Leipzig hub, DE",
                    "description": "Held by customs: documents required",
                }
            ],
        }
    ).encode()
    # Imported here: bench/bench_faults.py imports this module without configuring Django.
    from shipments.ingest import webhook_signature

    signature = webhook_signature(secret=SECRET, body=body)
    carrier = Browser(stack.url)
    answer = carrier.post(
        "/api/v1/tracking-events/",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Signature": signature,
            "X-Timestamp": str(int(time.time())),
        },
    )
    assert answer.status_code in (200, 201, 202), answer.text
    assert stack.query("SELECT status FROM shipments_shipment WHERE id = %s", [shipment_id]) == [
        ("exception",)
    ]

    # 2. Detection, run by a worker: the task goes through the broker.
    run(
        stack.env,
        str(BIN / "celery"),
        "-A",
        "config",
        "call",
        "shipments.detect_delays",
        timeout=60,
    )
    [(ticket_id, ticket_uuid)] = stack.wait_for(
        "detection opens the proactive ticket",
        lambda: stack.query(
            "SELECT id, public_id FROM tickets_ticket WHERE shipment_id = %s AND source = %s",
            [shipment_id, "proactive"],
        ),
    )
    assert stack.query(
        "SELECT delay_level FROM shipments_shipment WHERE id = %s", [shipment_id]
    ) == [("hub_hold",)]

    # 3. The dispatcher sends the delay notice, once.
    stack.wait_for(
        "the delay notice is sent",
        lambda: stack.query(
            "SELECT id FROM notifications_notification "
            "WHERE shipment_id = %s AND kind = 'delay_notice' AND status = 'sent'",
            [shipment_id],
        ),
    )
    delay_messages = [m for m in stack.outbox() if m["to"] == PHONE]
    assert len(delay_messages) == 1, delay_messages

    # 4. An agent logs in with the form and replies on the ticket page, solving the ticket.
    agent = Browser(stack.url)
    page = agent.get("/accounts/login/")
    assert page.status_code == 200
    login = agent.post(
        "/accounts/login/",
        data={
            "username": AGENT,
            "password": PASSWORD,
            "csrfmiddlewaretoken": csrf_token(page.text),
        },
    )
    assert login.status_code == 302, login.text[:2000]
    ticket_page = agent.get(f"/console/tickets/{ticket_uuid}/")
    assert ticket_page.status_code == 200, ticket_page.text[:2000]
    version = re.search(r'name="version" value="(\d+)"', ticket_page.text).group(1)
    reply = agent.post(
        f"/console/tickets/{ticket_uuid}/reply/",
        data={
            "csrfmiddlewaretoken": csrf_token(ticket_page.text),
            "version": version,
            "body": "Your parcel is held by customs; we have sent the documents.",
            "status": "solved",
        },
    )
    assert reply.status_code == 302, reply.text[:3000]

    # 5. The survey notice goes out (SURVEY_DELAY_HOURS=0) with the customer's link.
    survey_message = stack.wait_for(
        "the survey notice is sent",
        lambda: [m for m in stack.outbox() if "/t/" in m["body"] and "1 to 5" in m["body"]],
    )[-1]
    link = re.search(r"https?://[^/\s]+(/t/[A-Za-z0-9_-]+/)", survey_message["body"]).group(1)

    # 6. The customer opens the link and answers the survey.
    customer = Browser(stack.url)
    opened = customer.get(link)
    assert opened.status_code == 302, opened.text[:2000]
    case_path = opened.headers["Location"].split("#")[0]
    case = customer.get(case_path)
    assert case.status_code == 200, case.text[:2000]
    answered = customer.post(
        f"{case_path}survey/",
        data={"csrfmiddlewaretoken": csrf_token(case.text), "rating": "5", "comment": "Thanks"},
    )
    assert answered.status_code in (200, 302, 303), answered.text[:3000]

    # 7. What the database says.
    assert stack.query(
        "SELECT COUNT(*) FROM notifications_notification "
        "WHERE shipment_id = %s AND kind = 'delay_notice' AND status = 'sent'",
        [shipment_id],
    ) == [(1,)]
    assert stack.query(
        "SELECT status, attempts FROM notifications_notification "
        "WHERE shipment_id = %s AND kind = 'delay_notice'",
        [shipment_id],
    ) == [("sent", 1)]
    assert stack.query("SELECT status FROM tickets_ticket WHERE id = %s", [ticket_id]) == [
        ("solved",)
    ]
    replies = stack.query(
        "SELECT body FROM tickets_message WHERE ticket_id = %s AND body LIKE %s",
        [ticket_id, "%held by customs%"],
    )
    assert len(replies) == 1
    assert stack.query(
        "SELECT rating, comment FROM tickets_satisfactionsurvey WHERE ticket_id = %s",
        [ticket_id],
    ) == [(5, "Thanks")]
    # Each notice sent once (two workers, beat's dispatcher passes and the nudges all ran):
    # the delay notice, the reply notice and the survey, and nothing else reached the customer.
    assert sorted(
        stack.query(
            "SELECT kind, status, attempts FROM notifications_notification n "
            "JOIN customers_customer c ON c.id = n.customer_id WHERE c.phone = %s",
            [PHONE],
        )
    ) == [("delay_notice", "sent", 1), ("survey", "sent", 1), ("ticket_reply", "sent", 1)]
    references = [m["reference"] for m in stack.outbox()]
    assert len(references) == 3 == len(set(references)), stack.outbox()
    assert time.monotonic() - started < 90
