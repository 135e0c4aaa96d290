"""The dispatcher records outcomes in groups: one UPDATE per group of fast sends to backends that
drop repeats, at once after a slow send or one whose repeat would reach the customer; a worker
killed between groups sends the unrecorded rows again with the same reference (never to
another customer, never with a new reference)."""

import datetime as dt
import re
import time
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from notifications import backends, dispatch, services
from notifications.backends import TemporaryFailure
from notifications.models import NoticeKind, Notification
from tests import factories
from tests.notifications.conftest import NOW
from tests.notifications.recording_backends import RECORDER, RecordingSMSBackend

pytestmark = pytest.mark.django_db

Status = Notification.Status


@pytest.fixture(autouse=True)
def no_timing(monkeypatch):
    """Groups here close by size only: on a loaded machine a send (with the tests' own queries
    around it) can take longer than the slow-send threshold or the group age limit, which
    would write a group early. The tests of those two rules set them themselves."""
    monkeypatch.setattr(dispatch, "SLOW_SEND_SECONDS", 60.0)
    monkeypatch.setattr(dispatch, "MAX_GROUP_AGE_SECONDS", 3600.0)


@pytest.fixture
def idempotent_sms(recording, monkeypatch):
    """The recording SMS backend as a provider that drops a repeated reference (Twilio-style):
    its fast sends may wait for their outcome group."""
    monkeypatch.setattr(RecordingSMSBackend, "repeat_reaches_customer", False)
    return recording


def queue_replies(count: int) -> list[Notification]:
    """Ticket replies on SMS: no tolerance, frequency cap or quiet hours in the way."""
    return [
        services.notice_enqueue(
            kind=NoticeKind.TICKET_REPLY,
            customer=factories.CustomerFactory(preferred_channel="sms", phone=f"+4930555{n:04d}"),
            dedupe_key=f"reply:group-test:{n}",
            context={"reply": f"Answer {n}."},
            now=NOW - dt.timedelta(minutes=1),
        )
        for n in range(count)
    ]


def outcome_updates(queries) -> list[str]:
    """The group writes: one UPDATE over unnest() on PostgreSQL; on SQLite one executemany(),
    which Django's query log records as "<n> times: <sql>"."""
    return [
        query["sql"]
        for query in queries
        if re.match(r"(\d+ times: )?UPDATE notifications_notification (AS n )?SET", query["sql"])
    ]


def test_fast_sends_are_recorded_in_groups_of_the_configured_size(
    idempotent_sms, settings, monkeypatch
):
    settings.NOTICE_OUTCOME_GROUP_SIZE = 5
    notices = queue_replies(12)
    marked_when_sent: list[int] = []
    send = RECORDER.record

    def record(channel, message):
        marked_when_sent.append(Notification.objects.filter(status=Status.SENT).count())
        return send(channel, message)

    monkeypatch.setattr(RECORDER, "record", record)
    with CaptureQueriesContext(connection) as queries:
        result = dispatch.dispatch_pass(now=NOW)

    assert result.sent == 12
    # Three groups (5, 5, 2): one statement each, not one per row.
    assert len(outcome_updates(queries.captured_queries)) == 3
    # The rows of a group are marked together, before the next group's sends.
    assert marked_when_sent == [0] * 5 + [5] * 5 + [10] * 2
    rows = Notification.objects.filter(pk__in=[n.pk for n in notices])
    assert Counter(rows.values_list("status", flat=True)) == {"sent": 12}
    assert all(row.sent_at == NOW and row.attempts == 1 for row in rows)
    assert len({row.provider_message_id for row in rows}) == 12
    assert {row.claimed_by for row in rows} == {""}


def test_a_slow_send_is_recorded_before_the_next_send(idempotent_sms, settings, monkeypatch):
    settings.NOTICE_OUTCOME_GROUP_SIZE = 50
    monkeypatch.setattr(dispatch, "SLOW_SEND_SECONDS", 0.01)
    queue_replies(4)
    marked_when_sent: list[int] = []
    send = RECORDER.record

    def slow_record(channel, message):
        marked_when_sent.append(Notification.objects.filter(status=Status.SENT).count())
        time.sleep(dispatch.SLOW_SEND_SECONDS * 1.5)  # a provider answering in milliseconds
        return send(channel, message)

    monkeypatch.setattr(RECORDER, "record", slow_record)
    result = dispatch.dispatch_pass(now=NOW)

    assert result.sent == 4
    # Each slow send's row is marked before the next one goes out: a kill repeats at most one.
    assert marked_when_sent == [0, 1, 2, 3]


def test_a_fast_send_whose_repeat_would_reach_the_customer_is_recorded_at_once(
    recording, settings, monkeypatch
):
    """A backend without idempotency (the default, and email through SMTP): a kill may repeat
    at most the one message in flight, however fast the backend answers."""
    settings.NOTICE_OUTCOME_GROUP_SIZE = 50
    assert RecordingSMSBackend.repeat_reaches_customer
    queue_replies(4)
    marked_when_sent: list[int] = []
    send = RECORDER.record

    def record(channel, message):
        marked_when_sent.append(Notification.objects.filter(status=Status.SENT).count())
        return send(channel, message)

    monkeypatch.setattr(RECORDER, "record", record)
    assert dispatch.dispatch_pass(now=NOW).sent == 4
    assert marked_when_sent == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("email_backend", "reaches"),
    [
        ("django.core.mail.backends.smtp.EmailBackend", True),
        ("anymail.backends.example.EmailBackend", True),
        ("django.core.mail.backends.locmem.EmailBackend", False),
        ("django.core.mail.backends.dummy.EmailBackend", False),
    ],
)
def test_only_email_that_reaches_no_one_may_wait_for_its_group(settings, email_backend, reaches):
    settings.EMAIL_BACKEND = email_backend
    assert backends.EmailChannelBackend().repeat_reaches_customer is reaches


def test_providers_that_drop_repeats_and_no_op_backends_may_wait_for_their_group():
    assert not backends.TwilioSMSBackend.repeat_reaches_customer  # the idempotency token
    assert not backends.NullSMSBackend.repeat_reaches_customer
    assert not backends.FilePushBackend.repeat_reaches_customer
    assert backends.MessageBackend.repeat_reaches_customer  # unknown backends: at once


def test_a_group_size_of_one_records_every_outcome_at_once(idempotent_sms, settings):
    settings.NOTICE_OUTCOME_GROUP_SIZE = 1
    queue_replies(3)
    with CaptureQueriesContext(connection) as queries:
        assert dispatch.dispatch_pass(now=NOW).sent == 3
    assert len(outcome_updates(queries.captured_queries)) == 3


def test_suppressed_deferred_and_retried_rows_share_a_group_with_sent_ones(
    idempotent_sms, settings, monkeypatch
):
    settings.NOTICE_OUTCOME_GROUP_SIZE = 10
    sent, opted_out, quiet, flaky = queue_replies(4)
    Customer.objects.filter(pk=opted_out.customer_id).update(opt_out_sms=True, opt_out_email=True)
    Customer.objects.filter(pk=quiet.customer_id).update(
        quiet_hours_start=dt.time(9), quiet_hours_end=dt.time(11), time_zone="UTC"
    )
    # Replies go out in quiet hours (the customer is waiting for them); a recovery notice waits.
    Notification.objects.filter(pk=quiet.pk).update(kind=NoticeKind.RECOVERY)
    send = RECORDER.record

    def record(channel, message):
        if message.reference == str(flaky.public_id):
            raise TemporaryFailure("provider busy")
        return send(channel, message)

    monkeypatch.setattr(RECORDER, "record", record)
    with CaptureQueriesContext(connection) as queries:
        result = dispatch.dispatch_pass(now=NOW)

    assert (result.sent, result.suppressed, result.deferred, result.retried) == (1, 1, 1, 1)
    assert len(outcome_updates(queries.captured_queries)) == 1
    rows = {row.pk: row for row in Notification.objects.all()}
    assert rows[sent.pk].status == Status.SENT and rows[sent.pk].claimed_at is not None
    assert rows[opted_out.pk].status == Status.SUPPRESSED
    assert "opted out" in rows[opted_out.pk].suppressed_reason
    assert rows[opted_out.pk].sent_at is None
    assert rows[quiet.pk].status == Status.PENDING
    assert rows[quiet.pk].next_attempt_at == NOW.replace(hour=11)
    assert (rows[quiet.pk].claimed_at, rows[quiet.pk].attempts) == (None, 0)
    assert rows[flaky.pk].status == Status.PENDING
    assert rows[flaky.pk].attempts == 1 and rows[flaky.pk].claimed_at is None
    assert rows[flaky.pk].last_error == "sms: provider busy"
    assert rows[flaky.pk].next_attempt_at == NOW + dispatch.retry_delay(1)
    assert {row.claimed_by for row in rows.values()} == {""}


class Killed(BaseException):
    """The worker process dies (SIGKILL): nothing after this point runs in it."""


def test_a_worker_killed_between_groups_resends_the_unrecorded_group_with_the_same_references(
    idempotent_sms, settings, monkeypatch
):
    settings.NOTICE_OUTCOME_GROUP_SIZE = 4
    settings.NOTICE_CLAIM_TIMEOUT_SECONDS = 60
    notices = queue_replies(10)
    real_flush = dispatch.OutcomeWriter.flush
    calls = {"n": 0}

    def flush_then_die(self):
        if calls["n"] == "dead":
            return  # a dead process writes nothing more
        calls["n"] += 1
        if calls["n"] == 2:  # killed with the second group sent but not written
            calls["n"] = "dead"
            raise Killed
        real_flush(self)

    monkeypatch.setattr(dispatch.OutcomeWriter, "flush", flush_then_die)
    with pytest.raises(Killed):
        dispatch.dispatch_pass(now=NOW)
    first_round = [message.reference for message in idempotent_sms.to("sms")]
    assert len(first_round) == 8  # two groups sent, one of them recorded
    assert Notification.objects.filter(status=Status.SENT).count() == 4
    assert Notification.objects.filter(status=Status.SENDING).count() == 6

    monkeypatch.setattr(dispatch.OutcomeWriter, "flush", real_flush)
    # Not before the claim timeout...
    assert dispatch.dispatch_pass(now=NOW + dt.timedelta(seconds=30)).claimed == 0
    # ...then the dead worker's six rows go out (again, for the four of the unrecorded group).
    result = dispatch.dispatch_pass(now=NOW + dt.timedelta(seconds=61))
    assert (result.recovered, result.sent) == (6, 6)

    rows = Notification.objects.filter(pk__in=[n.pk for n in notices])
    assert Counter(rows.values_list("status", flat=True)) == {"sent": 10}
    calls_per_reference = Counter(message.reference for message in idempotent_sms.to("sms"))
    # No loss: every row's reference reached the provider.
    assert set(calls_per_reference) == {str(n.public_id) for n in notices}
    # The repeats are exactly the unrecorded group, each under its own reference (an
    # idempotent provider drops them); no customer got a second reference.
    repeated = {ref for ref, n in calls_per_reference.items() if n > 1}
    assert repeated == set(first_round[4:8])
    assert max(calls_per_reference.values()) == 2
    references_per_phone: dict[str, set[str]] = {}
    for message in idempotent_sms.to("sms"):
        references_per_phone.setdefault(message.to, set()).add(message.reference)
    assert len(references_per_phone) == 10
    assert all(len(refs) == 1 for refs in references_per_phone.values())


def test_a_group_is_written_when_its_oldest_outcome_reaches_the_age_limit(
    idempotent_sms, settings, monkeypatch
):
    settings.NOTICE_OUTCOME_GROUP_SIZE = 50
    monkeypatch.setattr(dispatch, "MAX_GROUP_AGE_SECONDS", 0.0)
    queue_replies(3)
    with CaptureQueriesContext(connection) as queries:
        assert dispatch.dispatch_pass(now=NOW).sent == 3
    assert len(outcome_updates(queries.captured_queries)) == 3
