"""Channel backends for SMS and app push, chosen by setting (email uses Django's backends).

A backend sends one message and returns the provider's message id; it raises
:class:`TemporaryFailure` for errors worth a retry and :class:`PermanentFailure` otherwise.
"""

from __future__ import annotations

import logging
import sys
import uuid
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class DeliveryError(Exception):
    """Base of the errors a backend raises."""


class TemporaryFailure(DeliveryError):
    """Worth another try later (timeout, rate limit, 5xx)."""


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

    def send(self, message: OutgoingMessage) -> str:
        raise NotImplementedError


class ConsoleBackend(MessageBackend):
    """Writes each message to standard output: for development."""

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
    setting = {"sms": "SMS_BACKEND", "push": "PUSH_BACKEND"}[channel]
    return _load(getattr(settings, setting), setting)()
