"""A local fake of Twilio's Messages API, for tests and benchmarks of the SMS backend.

    with FakeSMSProvider() as provider:
        backend = TwilioSMSBackend(**provider.backend_settings())
        sid = backend.send(OutgoingMessage(to="+4930123", body="Late", reference="n-1"))
        assert provider.messages[0].body == "Late"

It listens on 127.0.0.1 (a free port) in a thread and:

- accepts ``POST /2010-04-01/Accounts/<sid>/Messages.json`` with basic auth (401, Twilio code
  20003, on wrong credentials), validates To/From/Body like Twilio (400 with codes 21604,
  21602, 21211, 21606) and answers 201 with a message resource (``sid`` "SM" + 32 hex);
- records every request (:attr:`requests`) and every accepted message (:attr:`messages`);
- honours ``I-Twilio-Idempotency-Token``: a token seen before answers the same sid again and
  counts in :attr:`duplicates` instead of making a new message;
- can be told to fail the next N requests (:meth:`fail_next`: 429, 500, 400 ... with Twilio's
  error JSON) or to hang them (:meth:`hang_next`, optionally after accepting the message, the
  "sent but the answer was lost" case);
- signs status callbacks like Twilio (:meth:`status_callback`), and posts them
  (:meth:`post_status_callback`) to a live server.

The signature is computed here independently of notifications.receipts, so the tests check the
production code against Twilio's documented algorithm rather than against itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"

# Twilio's own texts for the errors the fake produces.
ERRORS = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    21211: "The 'To' number {to} is not a valid phone number.",
    21602: "Message body is required.",
    21604: "A 'To' phone number is required.",
    21606: "The 'From' phone number provided is not a valid message-capable Twilio phone number.",
    21610: "Attempt to send to unsubscribed recipient",
}
DEFAULT_CODES = {400: 21211, 401: 20003, 404: 20404, 429: 20429}


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's documented request signature (for status callbacks to us)."""
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    mac = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    auth: tuple[str, str] | None  # basic auth (user, password) as sent


@dataclass
class SentMessage:
    sid: str
    to: str
    sender: str
    body: str
    status_callback: str
    idempotency_token: str
    status: str = "queued"


@dataclass
class _Plan:
    """What to do with one upcoming request instead of answering normally."""

    status: int = 0  # an error answer
    code: int | None = None
    message: str = ""
    hang_seconds: float = 0.0
    accept_first: bool = False
    retry_after: str | None = None


@dataclass
class FakeSMSProvider:
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "fake-auth-token"
    sender: str = "+15005550006"
    latency: float = 0.0  # seconds added to every answer (benchmarks)
    requests: list[RecordedRequest] = field(default_factory=list)
    messages: list[SentMessage] = field(default_factory=list)
    duplicates: int = 0

    def __post_init__(self):
        self._lock = threading.Lock()
        self._plans: deque[_Plan] = deque()
        self._by_token: dict[str, SentMessage] = {}
        self._released = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- Life cycle -------------------------------------------------------------------------

    def start(self) -> FakeSMSProvider:
        self._released.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-sms-provider",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()  # wake hanging handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSMSProvider:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake provider first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def backend_settings(self) -> dict[str, str]:
        """Keyword arguments for TwilioSMSBackend (api_url, account_sid, auth_token, sender)."""
        return {
            "api_url": self.url,
            "account_sid": self.account_sid,
            "auth_token": self.auth_token,
            "sender": self.sender,
        }

    def django_settings(self) -> dict[str, str]:
        """The same as Django settings, for ``settings.<NAME> = value`` in a test."""
        return {
            "SMS_BACKEND": "notifications.backends.TwilioSMSBackend",
            "SMS_API_URL": self.url,
            "SMS_ACCOUNT_SID": self.account_sid,
            "SMS_API_KEY": self.auth_token,
            "SMS_FROM": self.sender,
        }

    # --- Programming the next answers ---------------------------------------------------------

    def fail_next(
        self,
        times: int = 1,
        *,
        status: int = 500,
        code: int | None = None,
        message: str = "",
        retry_after: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` and Twilio's error JSON."""
        with self._lock:
            self._plans.extend(
                _Plan(status=status, code=code, message=message, retry_after=retry_after)
                for _ in range(times)
            )

    def hang_next(
        self, times: int = 1, *, seconds: float = 30.0, accept_first: bool = False
    ) -> None:
        """Leave the next ``times`` requests unanswered for ``seconds`` (or until stop()).

        With ``accept_first`` the message is accepted (and its idempotency token remembered)
        before the hang, as when a provider sends but the answer never comes back.
        """
        with self._lock:
            self._plans.extend(
                _Plan(hang_seconds=seconds, accept_first=accept_first) for _ in range(times)
            )

    def reset(self) -> None:
        with self._lock:
            self._plans.clear()
            self._by_token.clear()
            self.requests.clear()
            self.messages.clear()
            self.duplicates = 0

    # --- Status callbacks ------------------------------------------------------------------------

    def status_callback(
        self, sid: str, status: str, *, url: str | None = None, error_code: str = ""
    ) -> tuple[dict[str, str], str]:
        """The form and the ``X-Twilio-Signature`` Twilio would post for ``sid`` to ``url``
        (by default the message's StatusCallback)."""
        message = self.message(sid)
        url = url or (message.status_callback if message else "")
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": message.sender if message else self.sender,
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message.to if message else "",
        }
        if error_code:
            params["ErrorCode"] = error_code
        if message:
            message.status = status
        return params, twilio_signature(self.auth_token, url, params)

    def post_status_callback(
        self, sid: str, status: str, *, url: str | None = None, error_code: str = ""
    ) -> tuple[int, bytes]:
        """Post a signed status callback to a live server; return (HTTP status, body)."""
        message = self.message(sid)
        url = url or (message.status_callback if message else "")
        params, signature = self.status_callback(sid, status, url=url, error_code=error_code)
        request = urllib.request.Request(
            url,
            data=urllib.parse.urlencode(params).encode(),
            headers={
                "X-Twilio-Signature": signature,
                "I-Twilio-Idempotency-Token": uuid.uuid4().hex,
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def message(self, sid: str) -> SentMessage | None:
        with self._lock:
            return next((m for m in self.messages if m.sid == sid), None)

    # --- Answering (called from the server's threads) ---------------------------------------------

    def _handle(self, request: RecordedRequest) -> tuple[int, dict, dict[str, str]]:
        """Return (status, JSON body, extra headers) for one request."""
        with self._lock:
            self.requests.append(request)
            plan = self._plans.popleft() if self._plans else None
        if plan and plan.status:
            return _error(plan.status, plan.code, plan.message, retry_after=plan.retry_after)
        match = MESSAGES_PATH.match(request.path)
        if request.method != "POST" or match is None:
            return _error(404)
        if (
            request.auth != (self.account_sid, self.auth_token)
            or match["account"] != self.account_sid
        ):
            return _error(401)
        form = request.form
        if not form.get("To"):
            return _error(400, 21604)
        if not form.get("Body"):
            return _error(400, 21602)
        if not re.fullmatch(r"\+[1-9]\d{6,14}", form["To"]):
            return _error(400, 21211, to=form["To"])
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return _error(400, 21606)
        if plan and plan.hang_seconds and not plan.accept_first:
            # Never got through: no message; the client has given up by the time we answer.
            self._released.wait(plan.hang_seconds)
            return _error(503)
        token = request.headers.get(IDEMPOTENCY_HEADER.lower(), "")
        with self._lock:
            message = self._by_token.get(token) if token else None
            if message is not None:
                self.duplicates += 1
            else:
                message = SentMessage(
                    sid="SM" + uuid.uuid4().hex,
                    to=form["To"],
                    sender=form.get("From") or form.get("MessagingServiceSid", ""),
                    body=form["Body"],
                    status_callback=form.get("StatusCallback", ""),
                    idempotency_token=token,
                )
                self.messages.append(message)
                if token:
                    self._by_token[token] = message
        if plan and plan.hang_seconds:
            # Accepted, but the answer comes too late for the client.
            self._released.wait(plan.hang_seconds)
        return 201, self._resource(message), {}

    def _resource(self, message: SentMessage) -> dict:
        return {
            "sid": message.sid,
            "account_sid": self.account_sid,
            "to": message.to,
            "from": message.sender,
            "body": message.body,
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message.sid}.json",
        }


def _error(
    status: int, code: int | None = None, message: str = "", *, retry_after=None, **fmt
) -> tuple[int, dict, dict[str, str]]:
    code = code or DEFAULT_CODES.get(status, 20500)
    text = message or ERRORS.get(code, "Error").format(**fmt)
    body = {
        "code": code,
        "message": text,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return status, body, ({"Retry-After": retry_after} if retry_after else {})


def _handler_for(provider: FakeSMSProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self._answer()

        def do_GET(self):
            self._answer()

        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            form = dict(urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            request = RecordedRequest(
                method=self.command,
                path=urllib.parse.urlsplit(self.path).path,
                headers={name.lower(): value for name, value in self.headers.items()},
                form=form,
                auth=_basic_auth(self.headers.get("Authorization", "")),
            )
            status, body, headers = provider._handle(request)
            if provider.latency:
                provider._released.wait(provider.latency)
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer to

        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            pass

    return Handler


def _basic_auth(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
    except ValueError:
        return None
    return user, password


@pytest.fixture
def fake_sms_provider():
    """A running fake provider, stopped after the test."""
    with FakeSMSProvider() as provider:
        yield provider
