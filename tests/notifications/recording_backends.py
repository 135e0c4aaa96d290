"""Channel backends for tests: they record what they are asked to send and can be told to fail.

Point SMS_BACKEND / PUSH_BACKEND at them with the `recording` fixture (tests/notifications/
conftest.py); email goes through Django's locmem backend (pytest-django), read `mail.outbox`.
"""

from __future__ import annotations

from collections import deque

from notifications.backends import MessageBackend, OutgoingMessage, PermanentFailure


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, OutgoingMessage]] = []
        self.failures: dict[str, deque[Exception]] = {}

    def fail_next(self, channel: str, *errors: Exception) -> None:
        self.failures.setdefault(channel, deque()).extend(errors)

    def record(self, channel: str, message: OutgoingMessage) -> str:
        queue = self.failures.get(channel)
        if queue:
            raise queue.popleft()
        self.sent.append((channel, message))
        return f"{channel}-{len(self.sent)}"

    def to(self, channel: str) -> list[OutgoingMessage]:
        return [message for sent_on, message in self.sent if sent_on == channel]

    def reset(self) -> None:
        self.sent.clear()
        self.failures.clear()


RECORDER = Recorder()


class RecordingSMSBackend(MessageBackend):
    channel = "sms"

    def send(self, message: OutgoingMessage) -> str:
        return RECORDER.record(self.channel, message)


class RecordingPushBackend(MessageBackend):
    channel = "push"

    def send(self, message: OutgoingMessage) -> str:
        return RECORDER.record(self.channel, message)


class RejectingSMSBackend(MessageBackend):
    channel = "sms"

    def send(self, message: OutgoingMessage) -> str:
        raise PermanentFailure("21211: invalid 'To' phone number")
