"""Channel backends: one message out, the provider's message id back.

A backend sends one message and returns the provider's message id; it raises
:class:`TemporaryFailure` for errors worth a retry and :class:`PermanentFailure` otherwise.

- email: :class:`EmailChannelBackend`, always; Django's ``EMAIL_BACKEND`` picks the transport
  (SMTP in production, console in development, ``django.core.mail.backends.dummy.EmailBackend``
  to send nothing in benchmarks).
- sms and push: the class named by ``SMS_BACKEND`` / ``PUSH_BACKEND``: console or file (for
  development), null (benchmarks), :class:`TwilioSMSBackend` (a real provider).
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import logging
import os
import smtplib
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from email.utils import parseaddr
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection, make_msgid
from django.core.validators import validate_email
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class DeliveryError(Exception):
    """Base of the errors a backend raises."""


class TemporaryFailure(DeliveryError):
    """Worth another try later (timeout, rate limit, 5xx).

    ``retry_after`` is the provider's own hint in seconds (an HTTP ``Retry-After``), if any.
    """

    def __init__(self, *args: object, retry_after: float | None = None):
        super().__init__(*args)
        self.retry_after = retry_after


class PermanentFailure(DeliveryError):
    """Retrying cannot help (invalid number, unsubscribed, rejected content)."""


@dataclass(frozen=True)
class OutgoingMessage:
    to: str
    body: str
    title: str = ""
    reference: str = ""  # our notification id, echoed in delivery receipts where supported


class MessageBackend:
    channel = ""
    # Whether the same message sent twice (same reference, after a worker died between the
    # send and recording it) reaches the person twice. The dispatcher records such a send at
    # once; others may wait for their outcome group (notifications.dispatch.OutcomeWriter).
    # True unless the backend knows better: a provider that drops a repeated idempotency key,
    # or a backend that reaches no one.
    repeat_reaches_customer = True

    def send(self, message: OutgoingMessage) -> str:
        raise NotImplementedError


# --- Development and benchmarks -----------------------------------------------------------------


class ConsoleBackend(MessageBackend):
    """Writes each message to standard output: for development."""

    repeat_reaches_customer = False

    def __init__(self, stream=None):
        self.stream = stream

    def send(self, message: OutgoingMessage) -> str:
        provider_id = f"console-{uuid.uuid4()}"
        stream = self.stream or sys.stdout
        title = f" [{message.title}]" if message.title else ""
        stream.write(f"{self.channel.upper()} to {message.to}{title}: {message.body}\n")
        stream.flush()
        return provider_id


class ConsoleSMSBackend(ConsoleBackend):
    channel = "sms"


class ConsolePushBackend(ConsoleBackend):
    channel = "push"


# One lock per process is enough: the lines are short and written with one append each, which
# POSIX keeps whole between processes (O_APPEND); the lock covers threads of one worker.
_file_lock = threading.Lock()


class FileBackend(MessageBackend):
    """Appends each message as one JSON line to ``<NOTIFICATIONS_FILE_DIR>/<channel>.jsonl``:
    for development, where a file is easier to read back than a console shared with a worker."""

    repeat_reaches_customer = False

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory or settings.NOTIFICATIONS_FILE_DIR)

    @property
    def path(self) -> Path:
        return self.directory / f"{self.channel}.jsonl"

    def send(self, message: OutgoingMessage) -> str:
        provider_id = f"file-{uuid.uuid4()}"
        line = json.dumps(
            {
                "to": message.to,
                "title": message.title,
                "body": message.body,
                "reference": message.reference,
                "provider_id": provider_id,
                "time": timezone.now().isoformat(),
            },
            ensure_ascii=False,
        )
        try:
            with _file_lock:
                self.directory.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as outbox:
                    outbox.write(line + "\n")
        except OSError as exc:
            raise TemporaryFailure(f"cannot write {self.path}: {exc}") from exc
        return provider_id


class FileSMSBackend(FileBackend):
    channel = "sms"


class FilePushBackend(FileBackend):
    channel = "push"


class NullBackend(MessageBackend):
    """Sends nothing and returns a unique id at once: for benchmarks of everything around it.

    (For email, set ``EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend``.)
    """

    repeat_reaches_customer = False

    # A per-process prefix and a counter: unique across workers, cheaper than uuid4 per message.
    _prefix = f"null-{uuid.uuid4().hex[:12]}-"
    _counter = itertools.count(1)

    def send(self, message: OutgoingMessage) -> str:
        return f"{self._prefix}{os.getpid()}-{next(self._counter)}"


class NullSMSBackend(NullBackend):
    channel = "sms"


class NullPushBackend(NullBackend):
    channel = "push"


# --- Email ---------------------------------------------------------------------------------------

REFERENCE_HEADER = "X-Delaydesk-Reference"

# Django's email backends that deliver to no one (development, tests, benchmarks).
NON_DELIVERING_EMAIL_BACKENDS = frozenset(
    f"django.core.mail.backends.{name}.EmailBackend"
    for name in ("dummy", "locmem", "console", "filebased")
)


class EmailChannelBackend(MessageBackend):
    """Email through Django's mail API, so ``EMAIL_BACKEND`` chooses the transport.

    The provider id is the Message-ID we set ourselves, so it is known even when the transport
    (SMTP) gives nothing back; bounces and replies quote it and our reference header.
    """

    channel = "email"

    def __init__(self, connection=None):
        self.connection = connection

    @property
    def repeat_reaches_customer(self) -> bool:
        """SMTP has no idempotency key: a repeated email is read twice. Only Django's backends
        that deliver to no one make a repeat harmless."""
        return settings.EMAIL_BACKEND not in NON_DELIVERING_EMAIL_BACKENDS

    def send(self, message: OutgoingMessage) -> str:
        try:
            validate_email(message.to)
        except ValidationError:
            raise PermanentFailure(f"invalid email address {message.to!r}") from None
        from_email = settings.DEFAULT_FROM_EMAIL
        domain = parseaddr(from_email)[1].rpartition("@")[2] or None
        message_id = make_msgid(domain=domain)
        headers = {"Message-ID": message_id}
        if message.reference:
            headers[REFERENCE_HEADER] = _one_line(message.reference)
        email = EmailMessage(
            subject=_one_line(message.title),
            body=message.body,
            from_email=from_email,
            to=[message.to],
            headers=headers,
            connection=self.connection or get_connection(fail_silently=False),
        )
        try:
            email.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _reply in exc.recipients.values()]
            # 4xx is a transient refusal (greylisting, mailbox busy): RFC 5321 says try later.
            if codes and all(400 <= code < 500 for code in codes):
                raise TemporaryFailure(f"recipient refused for now: {exc.recipients}") from exc
            raise PermanentFailure(f"recipient refused: {exc.recipients}") from exc
        except smtplib.SMTPSenderRefused as exc:
            if 400 <= exc.smtp_code < 500:
                raise TemporaryFailure(f"sender refused for now: {_smtp_reply(exc)}") from exc
            raise PermanentFailure(f"sender refused: {_smtp_reply(exc)}") from exc
        except smtplib.SMTPDataError as exc:
            # 5xx after DATA: the content itself was rejected (spam filter, size); same again
            # would meet the same answer.
            if exc.smtp_code >= 500:
                raise PermanentFailure(f"message rejected: {_smtp_reply(exc)}") from exc
            raise TemporaryFailure(f"message deferred: {_smtp_reply(exc)}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            # Includes socket timeouts (TimeoutError is an OSError) and refused connections.
            raise TemporaryFailure(f"mail server: {exc!r}") from exc
        except ValueError as exc:
            # Django raises ValueError for an address it cannot encode (BadHeaderError too).
            raise PermanentFailure(f"invalid message: {exc}") from exc
        return message_id


def _one_line(value: str) -> str:
    # A header with a newline is refused (header injection); a title is one line anyway.
    return " ".join(value.split())


def _smtp_reply(exc: smtplib.SMTPResponseException) -> str:
    reply = exc.smtp_error
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return f"{exc.smtp_code} {reply}"


# --- Twilio ---------------------------------------------------------------------------------

IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would follow a 30x of our POST as a GET and drop the form; a provider that
    # redirects its API is misconfigured, and the error should say so.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def sms_status_callback_url() -> str:
    """Where providers post SMS delivery receipts: the setting, else SITE_URL + our route."""
    return settings.SMS_STATUS_CALLBACK_URL or (
        settings.SITE_URL + reverse("notifications_api:sms-receipts")
    )


class TwilioSMSBackend(MessageBackend):
    """SMS through the Twilio Programmable Messaging REST API (or any provider speaking it).

    ``POST {SMS_API_URL}/2010-04-01/Accounts/{SMS_ACCOUNT_SID}/Messages.json`` with HTTP basic
    auth (account sid, ``SMS_API_KEY`` as the auth token) and the form fields To, From (or
    MessagingServiceSid when ``SMS_FROM`` is a messaging service ``MG...``), Body and
    StatusCallback. 2xx answers the message ``sid``; 429, 5xx, connection errors and timeouts
    are temporary; any other 4xx is permanent, with the provider's code and message.

    Our reference goes out as an idempotency token, so that a provider honouring it drops the
    resend that follows a timeout after it had in fact accepted the message.
    """

    channel = "sms"
    # Our reference goes out as the idempotency token: the provider drops the repeat.
    repeat_reaches_customer = False

    def __init__(
        self,
        *,
        api_url: str | None = None,
        account_sid: str | None = None,
        auth_token: str | None = None,
        sender: str | None = None,
        status_callback: str | None = None,
        timeout: float | None = None,
    ):
        self.api_url = (settings.SMS_API_URL if api_url is None else api_url).rstrip("/")
        self.account_sid = settings.SMS_ACCOUNT_SID if account_sid is None else account_sid
        self.auth_token = settings.SMS_API_KEY if auth_token is None else auth_token
        self.sender = settings.SMS_FROM if sender is None else sender
        self.status_callback = (
            sms_status_callback_url() if status_callback is None else status_callback
        )
        self.timeout = settings.SMS_TIMEOUT_SECONDS if timeout is None else timeout

    @property
    def messages_url(self) -> str:
        sid = urllib.parse.quote(self.account_sid, safe="")
        return f"{self.api_url}/2010-04-01/Accounts/{sid}/Messages.json"

    def form(self, message: OutgoingMessage) -> dict[str, str]:
        sender_field = "MessagingServiceSid" if self.sender.startswith("MG") else "From"
        form = {"To": message.to, sender_field: self.sender, "Body": message.body}
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        return form

    def send(self, message: OutgoingMessage) -> str:
        credentials = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        headers = {
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Accept": "application/json",
        }
        if message.reference:
            headers[IDEMPOTENCY_HEADER] = message.reference
        request = urllib.request.Request(
            self.messages_url,
            data=urllib.parse.urlencode(self.form(message)).encode(),
            headers=headers,
            method="POST",
        )
        try:
            with _opener.open(request, timeout=self.timeout) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, _read_quietly(exc)
            retry_after = _retry_after(exc.headers.get("Retry-After"))
            text = self._error_text(status, body)
            if status == 429 or status >= 500:
                raise TemporaryFailure(text, retry_after=retry_after) from None
            raise PermanentFailure(text) from None
        except TimeoutError as exc:  # while reading the answer
            raise TemporaryFailure(f"SMS provider timed out after {self.timeout} s") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise TemporaryFailure(f"SMS provider timed out after {self.timeout} s") from exc
            raise TemporaryFailure(f"SMS provider unreachable: {reason}") from exc
        try:
            sid = json.loads(body)["sid"]
        except (ValueError, KeyError, TypeError):
            sid = None
        if not isinstance(sid, str) or not sid:
            # Accepted, maybe: a retry under the same idempotency token is the safe move.
            raise TemporaryFailure(f"SMS provider answered {status} without a message sid")
        return sid

    @staticmethod
    def _error_text(status: int, body: bytes) -> str:
        try:
            error = json.loads(body)
        except ValueError:
            error = None
        if isinstance(error, dict) and ("code" in error or "message" in error):
            return (
                f"SMS provider refused (HTTP {status}): "
                f"error {error.get('code')}: {error.get('message')}"
            )
        snippet = body[:200].decode("utf-8", "replace").strip()
        return f"SMS provider answered HTTP {status}" + (f": {snippet}" if snippet else "")


def _read_quietly(response) -> bytes:
    try:
        return response.read()
    except OSError:
        return b""


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None  # an HTTP date: rare from APIs, and our own backoff is good enough


# --- Choosing -------------------------------------------------------------------------------


@cache
def _load(path: str, setting: str) -> type[MessageBackend]:
    try:
        backend = import_string(path)
    except ImportError as exc:
        raise ImportError(f"{setting}: cannot import {path!r} ({exc})") from exc
    if not (isinstance(backend, type) and issubclass(backend, MessageBackend)):
        raise ImportError(f"{setting}: {path!r} is not a MessageBackend")
    return backend


def get_backend(channel: str) -> MessageBackend:
    if channel == "email":
        return EmailChannelBackend()
    setting = {"sms": "SMS_BACKEND", "push": "PUSH_BACKEND"}[channel]
    return _load(getattr(settings, setting), setting)()
