"""Noise control at send time: tolerance, frequency cap, quiet hours, opt-outs; every notice
that is not sent keeps its reason."""

import datetime as dt
import zoneinfo

import pytest
from django.core import mail
from django.utils import timezone, translation

from notifications import dispatch, services
from notifications.models import NoticeKind, Notification
from tests import factories
from tests.notifications.conftest import NOW, delayed_shipment, delivered_shipment

pytestmark = pytest.mark.django_db

Status = Notification.Status


def queue(shipment, *, kind=NoticeKind.DELAY_NOTICE, level="yellow", key=None, now=NOW):
    return services.notice_enqueue(
        kind=kind,
        customer=shipment.customer,
        shipment=shipment,
        dedupe_key=key or f"{kind}:{shipment.pk}:{level}",
        level=level,
        now=now,
    )


def outcome(notification):
    notification.refresh_from_db()
    return notification.status, notification.suppressed_reason


# --- Tolerance -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slip_hours", "status"), [(23, Status.SUPPRESSED), (24, Status.SUPPRESSED), (25, Status.SENT)]
)
def test_a_delay_notice_goes_out_only_when_the_slip_exceeds_the_default_tolerance(
    recording, slip_hours, status
):
    promise = NOW + dt.timedelta(days=2)  # the promise is still ahead; the ETA is past it
    notification = queue(delayed_shipment(promised_at=promise, slip_hours=slip_hours))

    dispatch.dispatch_pass(now=NOW)

    got, reason = outcome(notification)
    assert got == status
    if status == Status.SUPPRESSED:
        assert f"slipped {slip_hours} h, within the customer's tolerance of 24 h" in reason


def test_tolerance_is_configurable_per_tier(recording, settings):
    settings.NOTICE_TOLERANCE_HOURS_BY_TIER = {
        **settings.NOTICE_TOLERANCE_HOURS_BY_TIER,
        "vip": 6,
    }
    promise = NOW + dt.timedelta(days=2)
    vip = factories.CustomerFactory(tier="vip")
    regular = factories.CustomerFactory(tier="regular")
    for_vip = queue(delayed_shipment(customer=vip, promised_at=promise, slip_hours=12))
    for_regular = queue(delayed_shipment(customer=regular, promised_at=promise, slip_hours=12))

    dispatch.dispatch_pass(now=NOW)

    assert outcome(for_vip)[0] == Status.SENT
    assert outcome(for_regular)[0] == Status.SUPPRESSED


def test_a_customers_own_tolerance_wins_over_the_tier(recording):
    promise = NOW + dt.timedelta(days=2)
    patient = factories.CustomerFactory(tier="vip", delay_tolerance_hours=72)
    notification = queue(delayed_shipment(customer=patient, promised_at=promise, slip_hours=48))

    dispatch.dispatch_pass(now=NOW)

    status, reason = outcome(notification)
    assert status == Status.SUPPRESSED
    assert "tolerance of 72 h" in reason


def test_a_past_estimate_counts_from_now(recording):
    # Promised 3 days ago, "predicted" 1 h after the promise: that moment is long gone, the
    # parcel is at least 3 days late.
    shipment = delayed_shipment(promised_at=NOW - dt.timedelta(days=3), slip_hours=1)
    notification = queue(shipment)
    dispatch.dispatch_pass(now=NOW)
    assert outcome(notification)[0] == Status.SENT


def test_without_a_promise_or_an_estimate_the_level_decides(recording):
    shipment = delayed_shipment("hub_hold", promised_at=NOW + dt.timedelta(days=1))
    shipment.predicted_eta = None
    shipment.save(update_fields=["predicted_eta"])
    notification = queue(shipment, level="hub_hold")
    dispatch.dispatch_pass(now=NOW)
    assert outcome(notification)[0] == Status.SENT


def test_tolerance_does_not_hold_back_an_incident_notice_or_a_recovery(recording):
    shipment = delayed_shipment(promised_at=NOW + dt.timedelta(days=2), slip_hours=2)
    recovery = queue(shipment, kind=NoticeKind.RECOVERY, level="none")
    dispatch.dispatch_pass(now=NOW)
    assert outcome(recovery)[0] == Status.SENT


# --- Stale notices -------------------------------------------------------------------------


def test_a_delay_notice_for_a_parcel_delivered_meanwhile_is_suppressed(recording):
    shipment = delivered_shipment()
    notification = queue(shipment)
    dispatch.dispatch_pass(now=NOW)
    status, reason = outcome(notification)
    assert status == Status.SUPPRESSED
    assert reason == "the parcel was delivered before the notice went out"


def test_a_delay_notice_for_a_parcel_back_on_time_is_suppressed(recording):
    shipment = factories.ShipmentFactory()  # level none
    notification = queue(shipment)
    dispatch.dispatch_pass(now=NOW)
    assert outcome(notification) == (
        Status.SUPPRESSED,
        "the parcel was back on time before the notice went out",
    )


# --- Frequency cap -------------------------------------------------------------------------


def test_one_delay_message_per_customer_per_day(recording):
    customer = factories.CustomerFactory()
    first = queue(delayed_shipment(customer=customer))
    dispatch.dispatch_pass(now=NOW)
    assert outcome(first)[0] == Status.SENT

    second_parcel = queue(delayed_shipment(customer=customer), now=NOW + dt.timedelta(hours=5))
    dispatch.dispatch_pass(now=NOW + dt.timedelta(hours=5))
    status, reason = outcome(second_parcel)
    assert status == Status.SUPPRESSED
    assert (
        reason == "frequency cap: the customer already heard about a delay at 2026-11-17 10:00 UTC"
    )

    next_day = queue(delayed_shipment(customer=customer), now=NOW + dt.timedelta(hours=25))
    dispatch.dispatch_pass(now=NOW + dt.timedelta(hours=25))
    assert outcome(next_day)[0] == Status.SENT


def test_a_rising_level_gets_through_the_cap(recording):
    shipment = delayed_shipment("yellow")
    yellow = queue(shipment, level="yellow")
    dispatch.dispatch_pass(now=NOW)

    shipment.delay_level = "red"
    shipment.save(update_fields=["delay_level"])
    red = queue(shipment, level="red", now=NOW + dt.timedelta(hours=2))
    same_again = queue(
        delayed_shipment("yellow", customer=shipment.customer),
        level="yellow",
        now=NOW + dt.timedelta(hours=2),
    )
    dispatch.dispatch_pass(now=NOW + dt.timedelta(hours=2))

    assert outcome(yellow)[0] == Status.SENT
    assert outcome(red)[0] == Status.SENT
    assert outcome(same_again)[0] == Status.SUPPRESSED


def test_two_delay_notices_in_one_batch_send_one(recording):
    customer = factories.CustomerFactory()
    a = queue(delayed_shipment(customer=customer))
    b = queue(delayed_shipment(customer=customer))

    result = dispatch.dispatch_pass(now=NOW)

    assert (result.sent, result.suppressed) == (1, 1)
    assert outcome(a)[0] == Status.SENT
    assert outcome(b)[0] == Status.SUPPRESSED


def test_a_notice_held_back_for_tolerance_does_not_count_for_the_cap(recording):
    customer = factories.CustomerFactory()
    within = queue(
        delayed_shipment(customer=customer, promised_at=NOW + dt.timedelta(days=2), slip_hours=3)
    )
    late = queue(delayed_shipment(customer=customer))

    dispatch.dispatch_pass(now=NOW)

    assert outcome(within)[0] == Status.SUPPRESSED
    assert outcome(late)[0] == Status.SENT


def test_the_cap_counts_a_notice_another_worker_is_sending(recording):
    customer = factories.CustomerFactory()
    elsewhere = queue(delayed_shipment(customer=customer))
    assert dispatch.claim_batch(now=NOW, size=1, worker="other-worker") == [elsewhere.pk]
    mine = queue(delayed_shipment(customer=customer))

    dispatch.dispatch_pass(now=NOW)

    assert outcome(mine)[0] == Status.SUPPRESSED


def test_the_cap_leaves_replies_and_remedies_alone(recording):
    customer = factories.CustomerFactory()
    queue(delayed_shipment(customer=customer))
    ticket = factories.TicketFactory(customer=customer)
    reply = services.notice_enqueue(
        kind=NoticeKind.TICKET_REPLY,
        customer=customer,
        ticket=ticket,
        dedupe_key="reply:1",
        context={"reply": "We are on it."},
        now=NOW,
    )
    dispatch.dispatch_pass(now=NOW)
    assert outcome(reply)[0] == Status.SENT


# --- Quiet hours ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time_zone", "utc_now", "quiet", "until_utc"),
    [
        # 22:00-07:00 in Shanghai (UTC+8): 23:30 local is quiet until 07:00 local = 23:00 UTC.
        ("Asia/Shanghai", "2026-11-17T15:30", True, "2026-11-17T23:00"),
        # 06:59 local is still quiet; 07:00 is not.
        ("Asia/Shanghai", "2026-11-17T22:59", True, "2026-11-17T23:00"),
        ("Asia/Shanghai", "2026-11-17T23:00", False, None),
        # New York (UTC-5 in November): 10:00 UTC is 05:00 local, quiet until 12:00 UTC.
        ("America/New_York", "2026-11-17T10:00", True, "2026-11-17T12:00"),
        # Berlin (UTC+1): 10:00 UTC is 11:00 local, daytime.
        ("Europe/Berlin", "2026-11-17T10:00", False, None),
        # New York across the DST change (Sunday 2026-11-01, 02:00 EDT -> 01:00 EST):
        # 23:00 local on Saturday (03:00 UTC) is quiet until 07:00 EST = 12:00 UTC.
        ("America/New_York", "2026-11-01T03:00", True, "2026-11-01T12:00"),
    ],
)
def test_quiet_hours_follow_the_customers_time_zone(time_zone, utc_now, quiet, until_utc):
    customer = factories.CustomerFactory(
        time_zone=time_zone, quiet_hours_start=dt.time(22), quiet_hours_end=dt.time(7)
    )
    now = dt.datetime.fromisoformat(utc_now).replace(tzinfo=dt.UTC)
    until = dispatch.quiet_until(customer, now=now)
    if quiet:
        assert until == dt.datetime.fromisoformat(until_utc).replace(tzinfo=dt.UTC)
    else:
        assert until is None


def test_daytime_quiet_hours(db):
    customer = factories.CustomerFactory(
        time_zone="UTC", quiet_hours_start=dt.time(12), quiet_hours_end=dt.time(14)
    )
    assert dispatch.quiet_until(customer, now=NOW.replace(hour=13)) == NOW.replace(hour=14)
    assert dispatch.quiet_until(customer, now=NOW.replace(hour=14)) is None


def test_a_notice_in_quiet_hours_waits_until_they_end_then_goes(recording):
    customer = factories.CustomerFactory(
        time_zone="Asia/Shanghai", quiet_hours_start=dt.time(22), quiet_hours_end=dt.time(7)
    )
    night = dt.datetime(2026, 11, 17, 16, 0, tzinfo=dt.UTC)  # 00:00 in Shanghai
    notification = queue(delayed_shipment(customer=customer, now=night), now=night)

    result = dispatch.dispatch_pass(now=night)

    assert result.deferred == 1
    notification.refresh_from_db()
    assert notification.status == Status.PENDING
    assert notification.next_attempt_at == dt.datetime(2026, 11, 17, 23, 0, tzinfo=dt.UTC)
    assert notification.attempts == 0
    assert not mail.outbox
    assert dispatch.dispatch_pass(now=night + dt.timedelta(hours=6)).claimed == 0

    morning = dt.datetime(2026, 11, 17, 23, 0, tzinfo=dt.UTC)
    assert dispatch.dispatch_pass(now=morning).sent == 1


def test_a_notice_held_for_quiet_hours_says_why_and_until_when(recording):
    customer = factories.CustomerFactory(
        time_zone="Asia/Shanghai", quiet_hours_start=dt.time(22), quiet_hours_end=dt.time(7)
    )
    night = dt.datetime(2026, 11, 17, 16, 0, tzinfo=dt.UTC)  # 00:00 in Shanghai
    notification = queue(delayed_shipment(customer=customer, now=night), now=night)

    dispatch.dispatch_pass(now=night)

    notification.refresh_from_db()
    assert notification.status == Status.PENDING
    assert notification.suppressed_reason == (
        "held back for the customer's quiet hours until 2026-11-17 23:00 UTC"
    )
    with translation.override("zh-hans"), timezone.override(zoneinfo.ZoneInfo("Asia/Shanghai")):
        assert (
            notification.suppressed_reason_text
            == "因客户的免打扰时段暂缓发送，直至 2026-11-18 07:00 CST"
        )

    # Sent when they end: the reason stays as history of why it went out late.
    dispatch.dispatch_pass(now=dt.datetime(2026, 11, 17, 23, 0, tzinfo=dt.UTC))
    notification.refresh_from_db()
    assert notification.status == Status.SENT
    assert "quiet hours until" in notification.suppressed_reason


def test_a_ticket_reply_is_not_held_by_quiet_hours(recording):
    customer = factories.CustomerFactory(
        time_zone="UTC", quiet_hours_start=dt.time(0), quiet_hours_end=dt.time(23, 59)
    )
    ticket = factories.TicketFactory(customer=customer)
    reply = services.notice_enqueue(
        kind=NoticeKind.TICKET_REPLY,
        customer=customer,
        ticket=ticket,
        dedupe_key="reply:2",
        context={"reply": "Here is your answer."},
        now=NOW,
    )
    dispatch.dispatch_pass(now=NOW)
    assert outcome(reply)[0] == Status.SENT


# --- Opt-outs and channels -----------------------------------------------------------------


def test_an_opted_out_preferred_channel_is_skipped_for_the_next(recording):
    customer = factories.CustomerFactory(preferred_channel="sms", opt_out_sms=True)
    notification = queue(delayed_shipment(customer=customer))

    dispatch.dispatch_pass(now=NOW)

    notification.refresh_from_db()
    assert (notification.status, notification.channel) == (Status.SENT, "email")
    assert not recording.to("sms")
    assert mail.outbox[0].to == [customer.email]


def test_a_customer_opted_out_everywhere_hears_nothing_and_we_know_why(recording):
    customer = factories.CustomerFactory(
        preferred_channel="email", opt_out_email=True, opt_out_sms=True
    )
    notification = queue(delayed_shipment(customer=customer))

    dispatch.dispatch_pass(now=NOW)

    status, reason = outcome(notification)
    assert status == Status.SUPPRESSED
    assert reason == "opted out of Email; opted out of SMS"
    assert not mail.outbox and not recording.sent
    # Kept as parts too, so that an agent reads the reason in their own language.
    assert notification.suppressed_reason_parts == [
        ["opted out of %(channel)s", {"channel": "email"}],
        ["opted out of %(channel)s", {"channel": "sms"}],
    ]
    with translation.override("zh-hans"):
        assert notification.suppressed_reason_text == "已退订电子邮件；已退订短信"


def test_a_reason_decided_under_another_language_is_stored_in_english(recording):
    """A worker whose active language is Chinese still stores the English sentence."""
    customer = factories.CustomerFactory(preferred_channel="email", opt_out_email=True, phone="")
    notification = queue(delayed_shipment(customer=customer))

    with translation.override("zh-hans"):
        dispatch.dispatch_pass(now=NOW)

    assert outcome(notification) == (Status.SUPPRESSED, "opted out of Email; no address for SMS")


def test_an_opt_out_after_queueing_is_honoured_at_send_time(recording):
    customer = factories.CustomerFactory(preferred_channel="email")
    notification = queue(delayed_shipment(customer=customer))
    customer.opt_out_email = True
    customer.phone = ""
    customer.save()

    dispatch.dispatch_pass(now=NOW)

    status, reason = outcome(notification)
    assert status == Status.SUPPRESSED
    assert reason == "opted out of Email; no address for SMS"


def test_push_goes_to_the_app_user_when_preferred(recording):
    customer = factories.CustomerFactory(preferred_channel="push")
    queue(delayed_shipment(customer=customer))
    dispatch.dispatch_pass(now=NOW)
    [message] = recording.to("push")
    assert message.to == str(customer.public_id)
    assert message.title  # the push title comes from the template's subject


def test_the_channel_chain():
    customer = factories.CustomerFactory.build(preferred_channel="push")
    assert dispatch.channel_chain(customer) == ["push", "email", "sms"]
    customer.preferred_channel = "sms"
    assert dispatch.channel_chain(customer) == ["sms", "email"]
    customer.preferred_channel = "phone"
    assert dispatch.channel_chain(customer) == ["email", "sms"]
