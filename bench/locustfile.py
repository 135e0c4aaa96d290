"""The load mix of bench/bench_load.py: agents, carriers, customers and supervisors (locust).

    locust -f bench/locustfile.py --headless --host http://127.0.0.1:8000 --run-time 60s \\
        --users 46 --spawn-rate 2        # with DELAYDESK_LOAD_DATA=<fixture.json>

bench/bench_load.py prepares the data, writes the fixture, starts the production stack and runs
this file; other scripts (the fault-injection run) import it or run it the same way. Nothing
here imports Django: the user classes speak HTTP only, as browsers and carriers do.

Interface (kept stable):

- ``DELAYDESK_LOAD_DATA``: path of the JSON fixture (required), written by bench_load.py:
  ``{"run_id": str, "password": str, "agents": [username, ...], "supervisors": [username, ...],
  "carriers": [{"code", "secret", "tracking_numbers": [...], "codes": [...]}, ...],
  "progress_tokens": [token, ...]}``.
- ``DELAYDESK_LOAD_AGENTS``, ``_CUSTOMERS``, ``_CARRIERS``, ``_SUPERVISORS``: how many users of
  each class (``fixed_count``; defaults 24, 16, 4, 2); pass their sum as ``--users``.
- ``DELAYDESK_LOAD_BATCH``: events per webhook batch (20). ``DELAYDESK_LOAD_THINK``: factor on
  every think time (1.0; 0.5 halves them). ``DELAYDESK_LOAD_TIMEOUT``: seconds before a request
  counts as failed (30).
- ``DELAYDESK_LOAD_SOURCE_ADDRESSES``: "1" (default) binds each simulated user to its own
  loopback address (127.0.0.2, 127.0.0.3, ...), so the per-address limits (login posts, progress
  links) see one client per person, as in production, not one address for everybody.
- A GET is sent once more when its reused keep-alive connection turns out closed by the server
  (as browsers do); a POST never is: its failure counts.
- ``DELAYDESK_LOAD_REQUESTS``: when set, a CSV file that receives one line per request:
  start (unix seconds), kind, milliseconds, 1 if it failed.
- ``DELAYDESK_LOAD_ACKED``: when set, a file that receives the ``event_id`` of every tracking
  event in a batch answered 202, one per line (the fault run checks each is stored).

Only loopback targets: a host other than 127.0.0.0/8, localhost or [::1] stops the run at
start. Every request has a timeout; locust's ``--run-time`` bounds the run.

Requests are named by kind (the rows of the report): "agent: queue page", "agent: queue
counts", "agent: ticket page", "agent: reply", "agent: login", "carrier: webhook batch",
"customer: open link", "customer: progress page", "supervisor: dashboard", "supervisor: login".
All requests carry ``X-Forwarded-Proto: https`` as behind the TLS proxy of a deployment
(production cookies are Secure: they are sent back over the loopback's plain HTTP all the same).
``ACKNOWLEDGED`` counts the 202 batches and their events, ``acknowledged_summary()`` reads it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import itertools
import json
import os
import random
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

from locust import HttpUser, between, events, task
from locust.clients import LocustHttpAdapter
from urllib3 import PoolManager, Retry

WEBHOOK_PATH = "/api/v1/tracking-events/"
LOGIN_PATH = "/accounts/login/"
CONSOLE_PATH = "/console/"
COUNTS_PATH = "/console/counts/"
DASHBOARD_PATH = "/supervisor/"
SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"

# The carrier codes bench_load.py maps for every bench carrier, with the share of scans each
# gets: mostly movement, a few holds, exceptions and deliveries.
SCAN_CODES = (("AR", 0.45), ("DP", 0.30), ("OD", 0.12), ("CH", 0.06), ("EX", 0.04), ("DL", 0.03))
HUBS = ("Shenzhen hub", "Hong Kong airport", "Leipzig hub", "Leipzig customs", "Berlin depot")
# Queue tabs an agent opens, with how often (tickets.selectors.QUEUES).
QUEUE_MIX = (("mine", 0.5), ("breaching", 0.2), ("unassigned", 0.15), ("all", 0.15))
REPLY_TEXTS = (
    "Thank you for your patience. The carrier confirms your parcel is moving again; we will "
    "update you as soon as it reaches the local depot.",
    "We have asked the carrier to prioritise your parcel and will write again within 24 hours.",
    "Sorry for the wait: your parcel is out for delivery today.",
)

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TICKET_RE = re.compile(
    r"/console/tickets/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/"
)
REPLY_VERSION_RE = re.compile(r'id="reply-form".*?name="version" value="(\d+)"', re.S)


# --- configuration ------------------------------------------------------------------------


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


BATCH_EVENTS = env_int("DELAYDESK_LOAD_BATCH", 20)
THINK = env_float("DELAYDESK_LOAD_THINK", 1.0)
TIMEOUT = env_float("DELAYDESK_LOAD_TIMEOUT", 30.0)
SOURCE_ADDRESSES = os.environ.get("DELAYDESK_LOAD_SOURCE_ADDRESSES", "1") == "1"


def think(low: float, high: float):
    """locust's `between`, scaled by DELAYDESK_LOAD_THINK."""
    return between(low * THINK, high * THINK)


def is_loopback(url: str | None) -> bool:
    """Whether ``url`` (a base URL like http://127.0.0.1:8000) points at this machine only."""
    if not url:
        return False
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_loopback(url: str | None) -> None:
    if not is_loopback(url):
        raise SystemExit(f"refusing to load {url!r}: only loopback hosts (127.0.0.0/8, ::1)")


_fixture: dict | None = None
_fixture_lock = threading.Lock()


def fixture() -> dict:
    """The JSON fixture of DELAYDESK_LOAD_DATA, read once."""
    global _fixture
    with _fixture_lock:
        if _fixture is None:
            path = os.environ.get("DELAYDESK_LOAD_DATA")
            if not path:
                raise SystemExit("DELAYDESK_LOAD_DATA is not set (bench/bench_load.py writes it)")
            _fixture = json.loads(Path(path).read_text())
        return _fixture


@events.init.add_listener
def _check_host(environment, **_kwargs):
    # `--host` (or LOCUST_HOST) is the only target; each user checks its own host again.
    if environment.host is not None:
        require_loopback(environment.host)


# --- helpers (pure; tests/test_bench_load.py checks them against the app) ------------------


def webhook_signature(secret: str, body: bytes) -> str:
    """X-Signature of a webhook body: sha256=<hex HMAC-SHA256 keyed with the carrier's secret>
    (shipments.ingest.webhook_signature)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_batch(
    *,
    carrier: str,
    tracking_numbers: list[str],
    size: int,
    prefix: str,
    rng: random.Random,
    now: dt.datetime | None = None,
) -> tuple[bytes, list[str]]:
    """A batch body of ``size`` scans of random parcels of ``carrier`` and its event ids
    (``<prefix>-<n>``, unique as long as the prefix is)."""
    now = now or dt.datetime.now(dt.UTC)
    codes, weights = zip(*SCAN_CODES, strict=True)
    ids, scans = [], []
    for n in range(size):
        event_id = f"{prefix}-{n}"
        ids.append(event_id)
        scans.append(
            {
                "event_id": event_id,
                "tracking_number": rng.choice(tracking_numbers),
                "occurred_at": (now - dt.timedelta(minutes=rng.randint(0, 180))).isoformat(),
                "status": rng.choices(codes, weights)[0],
                "location": rng.choice(HUBS),
                "description": "Scan",
            }
        )
    body = json.dumps({"carrier": carrier, "events": scans}, separators=(",", ":")).encode()
    return body, ids


def webhook_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    stamp = int(now if now is not None else dt.datetime.now(dt.UTC).timestamp())
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: webhook_signature(secret, body),
        TIMESTAMP_HEADER: str(stamp),
    }


def csrf_token(html: str) -> str | None:
    match = CSRF_RE.search(html)
    return match.group(1) if match else None


def ticket_ids(html: str) -> list[str]:
    return list(dict.fromkeys(TICKET_RE.findall(html)))


def weighted(pairs, rng: random.Random):
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights)[0]


# What the carriers were told (202): counted for the report, ids kept for the fault run.
ACKNOWLEDGED = {"batches": 0, "events": 0, "accepted": 0, "duplicates": 0}
_acked_lock = threading.Lock()
_acked_file = None


def _acknowledge(ids: list[str], answer: dict) -> None:
    global _acked_file
    with _acked_lock:
        ACKNOWLEDGED["batches"] += 1
        ACKNOWLEDGED["events"] += len(ids)
        ACKNOWLEDGED["accepted"] += int(answer.get("accepted", 0))
        ACKNOWLEDGED["duplicates"] += int(answer.get("duplicates", 0))
        path = os.environ.get("DELAYDESK_LOAD_ACKED")
        if path:
            if _acked_file is None:
                _acked_file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed at stop
            _acked_file.write("".join(f"{event_id}\n" for event_id in ids))


def acknowledged_summary() -> dict:
    with _acked_lock:
        return dict(ACKNOWLEDGED)


_requests_file = None


@events.request.add_listener
def _record_request(name, response_time, exception=None, start_time=None, **_kwargs):
    """With DELAYDESK_LOAD_REQUESTS: one CSV line per request (start unix time, kind,
    milliseconds, 1 when it failed), to line latencies up with what the stack did."""
    global _requests_file
    path = os.environ.get("DELAYDESK_LOAD_REQUESTS")
    if not path:
        return
    with _acked_lock:
        if _requests_file is None:
            _requests_file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed at stop
        failed = 0 if exception is None else 1
        _requests_file.write(f"{start_time or 0:.3f},{name},{response_time:.1f},{failed}\n")


@events.test_stop.add_listener
def _close_files(**_kwargs):
    global _acked_file, _requests_file
    with _acked_lock:
        for handle in (_acked_file, _requests_file):
            if handle is not None:
                handle.close()
        _acked_file = _requests_file = None


# --- users -----------------------------------------------------------------------------------


_addresses = itertools.count()
_numbers: dict[str, itertools.count] = {}


class StackUser(HttpUser):
    """Common ground: loopback only, a source address of its own, timeouts, the proxy header."""

    abstract = True

    def on_start(self) -> None:
        require_loopback(self.host)
        # The n-th user of its class takes the n-th agent, carrier or supervisor of the fixture.
        self.number = next(_numbers.setdefault(type(self).__name__, itertools.count()))
        self.rng = random.Random()
        # A GET whose reused keep-alive connection the server closed meanwhile (gunicorn drops
        # idle ones after 2 s) is sent once more, as browsers do; POSTs are never repeated.
        retry = Retry(total=1, connect=1, read=1, status=0, redirect=0, allowed_methods={"GET"})
        pool = None
        if SOURCE_ADDRESSES:
            n = next(_addresses)
            pool = PoolManager(source_address=(f"127.0.{n // 250}.{2 + n % 250}", 0))
        self.client.mount("http://", LocustHttpAdapter(pool_manager=pool, max_retries=retry))
        self.client.headers["X-Forwarded-Proto"] = "https"
        self.origin = "https://" + (urlsplit(self.host).netloc or "127.0.0.1")

    def request(self, method: str, path: str, *, name: str, **kwargs):
        """Every request of the users: a timeout, Origin on POSTs (CSRF checks it over https),
        and the cookies sent. Production's cookies are Secure, which requests never sends over
        http:// (and a cookie policy does not survive its per-request jar): they are marked
        plain here, as the TLS proxy of a deployment receives them over https."""
        for cookie in self.client.cookies:
            cookie.secure = False
        kwargs.setdefault("timeout", TIMEOUT)
        if method == "POST":
            kwargs["headers"] = {"Origin": self.origin, **kwargs.get("headers", {})}
        return self.client.request(method, path, name=name, **kwargs)

    def get(self, path: str, *, name: str, **kwargs):
        return self.request("GET", path, name=name, **kwargs)

    def post(self, path: str, *, name: str, **kwargs):
        return self.request("POST", path, name=name, **kwargs)

    def login(self, username: str, *, name: str) -> bool:
        page = self.get(LOGIN_PATH, name=f"{name} form")
        token = csrf_token(page.text or "")
        with self.post(
            LOGIN_PATH,
            name=name,
            headers={"Referer": self.origin + LOGIN_PATH},
            data={
                "csrfmiddlewaretoken": token or "",
                "username": username,
                "password": fixture()["password"],
            },
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"login of {username}: {response.status_code}")
                return False
            response.success()
        return True


class AgentUser(StackUser):
    """An agent: opens a queue tab (the page, then its counts as the browser does), opens
    tickets from it, and replies on tickets assigned to them (CSRF token and version from the
    ticket page, posted as htmx does)."""

    weight = 24
    fixed_count = env_int("DELAYDESK_LOAD_AGENTS", 24)
    wait_time = think(2, 6)

    def on_start(self) -> None:
        super().on_start()
        agents = fixture()["agents"]
        self.username = agents[self.number % len(agents)]
        self.mine: list[str] = []
        self.seen: list[str] = []
        self.logged_in = self.login(self.username, name="agent: login")
        if self.logged_in:
            self.queue("mine")

    def queue(self, tab: str) -> None:
        page = self.rng.choice((1, 1, 1, 2, 3)) if tab == "all" else 1
        response = self.get(f"{CONSOLE_PATH}?queue={tab}&page={page}", name="agent: queue page")
        ids = ticket_ids(response.text or "")
        if tab == "mine" and ids:
            self.mine = ids
        elif ids:
            self.seen = ids
        self.get(COUNTS_PATH, name="agent: queue counts", headers={"HX-Request": "true"})

    @task(3)
    def browse_queue(self) -> None:
        if self.logged_in:
            self.queue(weighted(QUEUE_MIX, self.rng))

    @task(4)
    def open_ticket(self) -> None:
        pool = self.seen if self.seen and self.rng.random() < 0.4 else self.mine
        if self.logged_in and pool:
            self.get(f"{CONSOLE_PATH}tickets/{self.rng.choice(pool)}/", name="agent: ticket page")

    @task(2)
    def reply(self) -> None:
        if not (self.logged_in and self.mine):
            return
        public_id = self.rng.choice(self.mine)
        path = f"{CONSOLE_PATH}tickets/{public_id}/"
        page = self.get(path, name="agent: ticket page")
        token, version = csrf_token(page.text or ""), REPLY_VERSION_RE.search(page.text or "")
        if page.status_code != 200 or token is None or version is None:
            return  # closed meanwhile or out of scope: nothing to reply to
        self.post(
            f"{path}reply/",
            name="agent: reply",
            headers={"HX-Request": "true", "X-CSRFToken": token, "Referer": self.origin + path},
            data={"body": self.rng.choice(REPLY_TEXTS), "status": "", "version": version.group(1)},
        )


class CarrierUser(StackUser):
    """A carrier's system: pushes signed batches of DELAYDESK_LOAD_BATCH scans of its own
    parcels, about one a second."""

    weight = 4
    fixed_count = env_int("DELAYDESK_LOAD_CARRIERS", 4)
    wait_time = think(0.5, 1.5)

    def on_start(self) -> None:
        super().on_start()
        carriers = fixture()["carriers"]
        self.carrier = carriers[self.number % len(carriers)]
        self.batches = itertools.count()

    @task
    def post_batch(self) -> None:
        prefix = f"LOAD-{fixture()['run_id']}-{self.number}-{next(self.batches)}"
        body, ids = webhook_batch(
            carrier=self.carrier["code"],
            tracking_numbers=self.carrier["tracking_numbers"],
            size=BATCH_EVENTS,
            prefix=prefix,
            rng=self.rng,
        )
        with self.post(
            WEBHOOK_PATH,
            name="carrier: webhook batch",
            data=body,
            headers=webhook_headers(self.carrier["secret"], body),
            catch_response=True,
        ) as response:
            if response.status_code == 202:
                _acknowledge(ids, response.json())
                response.success()
            else:
                response.failure(f"{response.status_code}: {(response.text or '')[:200]}")


class CustomerUser(StackUser):
    """A customer: opens the link of a notice (302 to the case page), reads the progress page
    and comes back to it now and then; sometimes another customer's turn (new session)."""

    weight = 16
    fixed_count = env_int("DELAYDESK_LOAD_CUSTOMERS", 16)
    wait_time = think(3, 10)

    def on_start(self) -> None:
        super().on_start()
        self.case_path: str | None = None
        self.open_link()

    def open_link(self) -> None:
        self.client.cookies.clear()
        token = self.rng.choice(fixture()["progress_tokens"])
        with self.get(
            f"/t/{token}/",
            name="customer: open link",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code == 302 and "/t/case/" in response.headers.get("Location", ""):
                self.case_path = urlsplit(response.headers["Location"]).path
                response.success()
            else:
                self.case_path = None
                response.failure(f"link answered {response.status_code}")
                return
        self.get(self.case_path, name="customer: progress page")

    @task(3)
    def read_again(self) -> None:
        if self.case_path:
            self.get(self.case_path, name="customer: progress page")
        else:
            self.open_link()

    @task(1)
    def next_customer(self) -> None:
        self.open_link()


class SupervisorUser(StackUser):
    """A supervisor: the dashboard, mostly the default 30 days, sometimes 7 or 90."""

    weight = 2
    fixed_count = env_int("DELAYDESK_LOAD_SUPERVISORS", 2)
    wait_time = think(5, 15)

    def on_start(self) -> None:
        super().on_start()
        supervisors = fixture()["supervisors"]
        self.username = supervisors[self.number % len(supervisors)]
        self.logged_in = self.login(self.username, name="supervisor: login")

    @task
    def dashboard(self) -> None:
        if self.logged_in:
            days = weighted(((30, 0.7), (7, 0.2), (90, 0.1)), self.rng)
            query = "" if days == 30 else f"?days={days}"
            self.get(f"{DASHBOARD_PATH}{query}", name="supervisor: dashboard")
