"""The outbox dispatcher: send, retry with backoff, permanent failure, fallback, recovery."""

import datetime as dt

import pytest
from django.core import mail
from django.core.management import call_command

from notifications import dispatch, services
from notifications.backends import PermanentFailure, TemporaryFailure
from notifications.models import NoticeKind, Notification
from tests import factories
from tests.notifications.conftest import NOW, delayed_shipment

pytestmark = pytest.mark.django_db

Status = Notification.Status


def queue_delay_notice(shipment, *, level="yellow", now=NOW):
    return services.notice_enqueue(
        kind=NoticeKind.DELAY_NOTICE,
        customer=shipment.customer,
        shipment=shipment,
        dedupe_key=f"delay:{shipment.pk}:{level}",
        level=level,
        now=now,
    )


def test_a_due_notice_is_sent_once_by_email_with_its_text_recorded(recording):
    shipment = delayed_shipment(order_number="ORD-4711")
    notification = queue_delay_notice(shipment)

    result = dispatch.dispatch_pass(now=NOW)

    assert (result.claimed, result.sent) == (1, 1)
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == [shipment.customer.email]
    assert "ORD-4711" in email.body
    notification.refresh_from_db()
    assert notification.status == Status.SENT
    assert notification.sent_at == NOW
    assert notification.attempts == 1
    assert notification.recipient == shipment.customer.email
    assert "ORD-4711" in notification.body
    assert notification.subject == email.subject
    assert notification.provider_message_id
    assert notification.claimed_by == ""

    again = dispatch.dispatch_pass(now=NOW + dt.timedelta(minutes=5))
    assert again.claimed == 0
    assert len(mail.outbox) == 1


def test_the_reference_sent_to_the_provider_is_the_rows_public_id(recording):
    customer = factories.CustomerFactory(preferred_channel="sms")
    notification = queue_delay_notice(delayed_shipment(customer=customer))

    dispatch.dispatch_pass(now=NOW)

    [message] = recording.to("sms")
    assert message.reference == str(notification.public_id)
    assert message.to == customer.phone


def test_a_notice_not_yet_due_waits(recording):
    notification = queue_delay_notice(delayed_shipment(), now=NOW + dt.timedelta(hours=1))
    assert dispatch.dispatch_pass(now=NOW).claimed == 0
    notification.refresh_from_db()
    assert notification.status == Status.PENDING


def test_a_temporary_failure_is_retried_with_exponential_backoff(recording, settings):
    settings.NOTICE_RETRY_BASE_SECONDS = 60
    settings.NOTICE_MAX_ATTEMPTS = 4
    customer = factories.CustomerFactory(preferred_channel="sms")
    notification = queue_delay_notice(delayed_shipment(customer=customer))
    recording.fail_next("sms", *[TemporaryFailure("503 from provider")] * 3)

    moment = NOW
    waits = []
    for _attempt in range(3):
        result = dispatch.dispatch_pass(now=moment)
        assert result.retried == 1
        notification.refresh_from_db()
        assert notification.status == Status.PENDING
        assert "503 from provider" in notification.last_error
        waits.append(notification.next_attempt_at - moment)
        # Not before the backoff has passed.
        just_before = notification.next_attempt_at - dt.timedelta(seconds=1)
        assert dispatch.dispatch_pass(now=just_before).claimed == 0
        moment = notification.next_attempt_at

    assert waits == [dt.timedelta(minutes=1), dt.timedelta(minutes=2), dt.timedelta(minutes=4)]
    result = dispatch.dispatch_pass(now=moment)
    assert result.sent == 1
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (Status.SENT, 4)
    assert len(recording.to("sms")) == 1


def test_backoff_is_capped(settings):
    settings.NOTICE_RETRY_BASE_SECONDS = 60
    settings.NOTICE_RETRY_MAX_SECONDS = 600
    assert dispatch.retry_delay(1) == dt.timedelta(seconds=60)
    assert dispatch.retry_delay(4) == dt.timedelta(seconds=480)
    assert dispatch.retry_delay(9) == dt.timedelta(seconds=600)


def test_after_the_last_attempt_the_notice_fails_and_falls_back_to_email(recording, settings):
    settings.NOTICE_MAX_ATTEMPTS = 2
    customer = factories.CustomerFactory(preferred_channel="sms")
    notification = queue_delay_notice(delayed_shipment(customer=customer))
    recording.fail_next("sms", TemporaryFailure("timeout"), TemporaryFailure("timeout"))

    dispatch.dispatch_pass(now=NOW)
    result = dispatch.dispatch_pass(now=NOW + dt.timedelta(hours=1))

    # The fallback row is due at once: the same pass sends it.
    assert (result.failed, result.fallbacks, result.sent) == (1, 1, 1)
    notification.refresh_from_db()
    assert notification.status == Status.FAILED
    assert "gave up after 2 attempts" in notification.last_error
    fallback = Notification.objects.get(fallback_of=notification)
    assert (fallback.channel, fallback.status) == ("email", Status.SENT)
    assert len(mail.outbox) == 1


def test_a_permanent_failure_falls_back_to_the_next_channel_at_once(recording):
    customer = factories.CustomerFactory(preferred_channel="sms")
    notification = queue_delay_notice(delayed_shipment(customer=customer))
    recording.fail_next("sms", PermanentFailure("21211: invalid 'To' phone number"))

    result = dispatch.dispatch_pass(now=NOW)

    # The fallback row is due at once and the same pass sends it.
    assert (result.failed, result.fallbacks, result.sent) == (1, 1, 1)
    notification.refresh_from_db()
    assert notification.status == Status.FAILED
    assert "invalid 'To' phone number" in notification.last_error
    assert notification.attempts == 1
    fallback = notification.fallbacks.get()
    assert (fallback.channel, fallback.status) == ("email", Status.SENT)
    assert fallback.dedupe_key == f"{notification.dedupe_key}>email"
    assert mail.outbox[0].to == [customer.email]


def test_when_every_channel_failed_the_notice_stays_failed(recording):
    customer = factories.CustomerFactory(preferred_channel="sms", opt_out_email=True)
    notification = queue_delay_notice(delayed_shipment(customer=customer))
    recording.fail_next("sms", PermanentFailure("blocked"))

    result = dispatch.dispatch_pass(now=NOW)

    assert (result.failed, result.fallbacks) == (1, 0)
    notification.refresh_from_db()
    assert notification.status == Status.FAILED
    assert not Notification.objects.filter(fallback_of=notification).exists()


def test_a_backend_that_crashes_is_retried_not_fatal(recording, settings, monkeypatch):
    customer = factories.CustomerFactory(preferred_channel="sms")
    notification = queue_delay_notice(delayed_shipment(customer=customer))
    recording.fail_next("sms", ZeroDivisionError("bug"))

    result = dispatch.dispatch_pass(now=NOW)

    assert result.retried == 1
    notification.refresh_from_db()
    assert notification.status == Status.PENDING
    assert "ZeroDivisionError" in notification.last_error


def test_a_row_left_claimed_by_a_dead_worker_is_recovered_and_sent_once(recording, settings):
    settings.NOTICE_CLAIM_TIMEOUT_SECONDS = 300
    customer = factories.CustomerFactory(preferred_channel="sms")
    notification = queue_delay_notice(delayed_shipment(customer=customer))
    assert dispatch.claim_batch(now=NOW, size=10, worker="dead-worker") == [notification.pk]

    # Another worker does not touch it while the claim is fresh...
    assert dispatch.dispatch_pass(now=NOW + dt.timedelta(minutes=4)).claimed == 0
    # ...and takes it back after the timeout.
    result = dispatch.dispatch_pass(now=NOW + dt.timedelta(minutes=6))

    assert (result.recovered, result.sent) == (1, 1)
    notification.refresh_from_db()
    assert notification.status == Status.SENT
    [message] = recording.to("sms")
    assert message.reference == str(notification.public_id)


def test_claims_respect_batch_size_and_limit(recording):
    for shipment in [delayed_shipment() for _ in range(5)]:
        queue_delay_notice(shipment)
    result = dispatch.dispatch_pass(now=NOW, batch_size=2, limit=3)
    assert (result.claimed, result.sent) == (3, 3)
    assert Notification.objects.filter(status=Status.PENDING).count() == 2


def test_a_missing_template_fails_permanently_and_falls_back(recording):
    from notifications.models import NotificationTemplate

    NotificationTemplate.objects.filter(kind="delay_notice", channel="sms").delete()
    customer = factories.CustomerFactory(preferred_channel="sms")
    notification = queue_delay_notice(delayed_shipment(customer=customer))

    dispatch.dispatch_pass(now=NOW)

    notification.refresh_from_db()
    assert notification.status == Status.FAILED
    assert "no template" in notification.last_error
    assert notification.fallbacks.get().status == Status.SENT


def test_a_text_too_long_for_sms_fails_and_falls_back(recording, settings):
    from notifications.models import NotificationTemplate

    settings.NOTICE_SMS_MAX_SEGMENTS = 1
    NotificationTemplate.objects.filter(kind="delay_notice", channel="sms").update(
        body="{customer_name}, " + "your parcel is late. " * 20
    )
    customer = factories.CustomerFactory(preferred_channel="sms")
    notification = queue_delay_notice(delayed_shipment(customer=customer))

    dispatch.dispatch_pass(now=NOW)

    notification.refresh_from_db()
    assert notification.status == Status.FAILED
    assert "SMS segments" in notification.last_error
    assert not recording.to("sms")
    assert notification.fallbacks.get().channel == "email"


def test_delivery_receipts_mark_delivered_or_fail_over(recording):
    customer = factories.CustomerFactory(preferred_channel="sms")
    first = queue_delay_notice(delayed_shipment(customer=customer))
    second = services.notice_enqueue(
        kind=NoticeKind.RECOVERY, customer=customer, dedupe_key="recovery:x", now=NOW
    )
    dispatch.dispatch_pass(now=NOW)
    first.refresh_from_db()
    second.refresh_from_db()

    assert dispatch.notice_delivered(first, at=NOW + dt.timedelta(minutes=1))
    assert not dispatch.notice_delivered(first, at=NOW + dt.timedelta(minutes=2))
    first.refresh_from_db()
    assert (first.status, first.delivered_at) == (Status.DELIVERED, NOW + dt.timedelta(minutes=1))

    fallback = dispatch.notice_failed_after_send(second, error="30003: unreachable", now=NOW)
    assert fallback is not None and fallback.channel == "email"
    assert dispatch.notice_failed_after_send(second, error="30003: unreachable", now=NOW) is None
    second.refresh_from_db()
    assert (second.status, second.last_error) == (Status.FAILED, "30003: unreachable")


def test_the_command_runs_one_pass_and_reports(recording, capsys):
    now = dt.datetime.now(dt.UTC)
    queue_delay_notice(delayed_shipment(now=now), now=now - dt.timedelta(minutes=1))
    # Two hours late against a promise still ahead: within the default 24 h tolerance.
    quiet = delayed_shipment(now=now, promised_at=now + dt.timedelta(days=1), slip_hours=2)
    queue_delay_notice(quiet, now=now - dt.timedelta(minutes=1))

    call_command("dispatch_notifications", "--no-progress")

    out = capsys.readouterr().out
    assert "2 claimed, 1 sent, 1 suppressed" in out
    assert "suppressed: within tolerance: 1" in out


def test_a_fallback_that_fails_too_moves_on_to_a_channel_not_tried_yet(recording):
    """push (preferred) fails, its email fallback fails, the SMS fallback of the fallback goes
    out: each step knows every channel tried before it."""
    customer = factories.CustomerFactory(
        preferred_channel="push", email="not-an-address", phone="+4930555123"
    )
    notification = queue_delay_notice(delayed_shipment(customer=customer))
    recording.fail_next("push", PermanentFailure("unregistered device"))

    result = dispatch.dispatch_pass(now=NOW)

    assert (result.failed, result.fallbacks, result.sent) == (2, 2, 1)
    by_fallback = notification.fallbacks.get()
    assert (by_fallback.channel, by_fallback.status) == ("email", Status.FAILED)
    last = by_fallback.fallbacks.get()
    assert (last.channel, last.status) == ("sms", Status.SENT)
    assert last.dedupe_key == f"{notification.dedupe_key}>email>sms"
    assert [message.to for message in recording.to("sms")] == ["+4930555123"]


def test_the_channels_tried_before_a_batch_of_fallbacks_cost_one_query(
    db, django_assert_num_queries
):
    chains = []
    for _ in range(5):
        first = factories.NotificationFactory(channel="push", status="failed")
        second = factories.NotificationFactory(
            customer=first.customer, channel="email", status="failed", fallback_of=first
        )
        third = factories.NotificationFactory(
            customer=first.customer, channel="sms", fallback_of=second
        )
        chains.append(third)

    with django_assert_num_queries(1):
        tried = dispatch.fallback_channels_tried(chains)

    assert tried == {row.pk: {"push", "email"} for row in chains}


def test_the_commands_progress_bar_counts_only_the_notices_due_now(recording, capsys):
    now = dt.datetime.now(dt.UTC)
    queue_delay_notice(delayed_shipment(now=now), now=now - dt.timedelta(minutes=1))
    later = queue_delay_notice(delayed_shipment(now=now), now=now - dt.timedelta(minutes=1))
    Notification.objects.filter(pk=later.pk).update(next_attempt_at=now + dt.timedelta(hours=1))

    call_command("dispatch_notifications")

    captured = capsys.readouterr()
    assert "1 claimed, 1 sent" in captured.out
    assert "1/1" in captured.err and "/2" not in captured.err
