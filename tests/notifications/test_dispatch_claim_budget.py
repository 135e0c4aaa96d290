"""A dispatcher batch sends for at most half the claim timeout, then gives its other rows back.

Found by bench/bench_faults.py (docs/RELIABILITY.md, "provider_timeout"): with a provider that
times out, every send lasts SMS_TIMEOUT_SECONDS, a batch of 200 outlived its claim, another
worker's pass recovered the rows it still held and both workers sent them.
"""

import datetime as dt

import pytest

from notifications import dispatch, services
from notifications.backends import MessageBackend, OutgoingMessage
from notifications.models import NoticeKind, Notification
from notifications.rendering import TemplateBook
from tests import factories
from tests.notifications.conftest import NOW
from tests.notifications.recording_backends import RECORDER

pytestmark = pytest.mark.django_db

Status = Notification.Status


class Clock:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


CLOCK = Clock()


class SlowSMSBackend(MessageBackend):
    """Records the message, then lets SEND_SECONDS pass on the dispatcher's clock (a provider
    whose every answer comes at the client's timeout)."""

    channel = "sms"
    SEND_SECONDS = 10.0

    def send(self, message: OutgoingMessage) -> str:
        provider_id = RECORDER.record(self.channel, message)
        CLOCK.seconds += self.SEND_SECONDS
        return provider_id


@pytest.fixture
def slow_sms(recording, settings, monkeypatch):
    settings.SMS_BACKEND = f"{__name__}.SlowSMSBackend"
    settings.NOTICE_CLAIM_TIMEOUT_SECONDS = 60  # a budget of 30 s: three sends of 10 s
    monkeypatch.setattr(dispatch, "batch_clock", CLOCK)
    return recording


def queue_replies(count: int) -> list[Notification]:
    """Ticket replies on SMS: no tolerance, frequency cap or quiet hours in the way."""
    return [
        services.notice_enqueue(
            kind=NoticeKind.TICKET_REPLY,
            customer=factories.CustomerFactory(preferred_channel="sms", phone=f"+4930777{n:04d}"),
            dedupe_key=f"reply:claim-budget:{n}",
            context={"reply": f"Answer {n}."},
            now=NOW - dt.timedelta(minutes=1),
        )
        for n in range(count)
    ]


def test_a_batch_past_half_the_claim_timeout_gives_its_other_rows_back(slow_sms):
    notices = queue_replies(6)
    ids = dispatch.claim_batch(now=NOW, size=10, worker="w1")

    result = dispatch.process_batch(ids, now=NOW, book=TemplateBook.load(), worker="w1")

    assert (result.sent, result.released) == (3, 3)
    assert len(slow_sms.to("sms")) == 3
    rows = Notification.objects.filter(pk__in=ids).order_by("pk")
    assert [row.status for row in rows] == [Status.SENT] * 3 + [Status.PENDING] * 3
    for row in rows[3:]:
        # Due at once, unclaimed, no attempt spent: nothing was tried.
        assert (row.claimed_at, row.claimed_by, row.attempts) == (None, "", 0)
        assert row.next_attempt_at == NOW

    # The next pass (another worker's) sends the rows given back, each once.
    dispatch.dispatch_pass(now=NOW, worker="w2")
    references = [message.reference for message in slow_sms.to("sms")]
    assert sorted(references) == sorted(str(notice.public_id) for notice in notices)
    assert set(Notification.objects.values_list("status", flat=True)) == {Status.SENT}


def test_a_batch_within_its_budget_sends_every_row(slow_sms, monkeypatch):
    monkeypatch.setattr(SlowSMSBackend, "SEND_SECONDS", 1.0)
    queue_replies(6)
    ids = dispatch.claim_batch(now=NOW, size=10, worker="w1")

    result = dispatch.process_batch(ids, now=NOW, book=TemplateBook.load(), worker="w1")

    assert (result.sent, result.released) == (6, 0)


def test_giving_back_leaves_the_rows_another_worker_holds(slow_sms):
    queue_replies(2)
    ids = dispatch.claim_batch(now=NOW, size=10, worker="w1")
    # The first row was recovered from w1 and claimed by w2 meanwhile.
    Notification.objects.filter(pk=ids[0]).update(claimed_by="w2")

    assert dispatch.release_claims(ids, worker="w1", now=NOW) == 1

    first, second = Notification.objects.filter(pk__in=ids).order_by("pk")
    assert (first.status, first.claimed_by) == (Status.SENDING, "w2")
    assert (second.status, second.claimed_by) == (Status.PENDING, "")
