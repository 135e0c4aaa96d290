"""Inbound SMS delivery receipts: Twilio's signed status callbacks change the outbox row.

The tests that record an outcome run through the dispatcher's services
(``notifications.dispatch.notice_delivered`` and ``notice_failed_after_send``, the lead's);
they are in the sections marked "needs notifications.dispatch". The signature tests and the
view's refusals do not depend on them.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pytest
import time_machine
from django.test import Client

from notifications.backends import OutgoingMessage, TwilioSMSBackend
from notifications.models import Notification
from notifications.receipts import (
    RECEIPT_DELIVERED,
    RECEIPT_FAILED,
    RECEIPT_IGNORED,
    RECEIPT_NOTED,
    RECEIPT_UNCHANGED,
    RECEIPT_UNKNOWN,
    receipt_error_text,
    receipt_record,
    twilio_signature,
    twilio_signature_valid,
)
from tests import factories
from tests.notifications.fake_sms_provider import FakeSMSProvider

NOW = dt.datetime(2026, 11, 17, 10, 0, tzinfo=dt.UTC)
SENT_AT = NOW - dt.timedelta(minutes=5)
SITE = "https://delaydesk.example.com"
PATH = "/api/v1/notifications/receipts/sms/"
CALLBACK = SITE + PATH
SID = "SM" + "a" * 32


# --- Signatures (independent of the dispatcher) -------------------------------------------------

TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}


def test_the_signature_matches_twilios_own_test_vector():
    # From twilio-python's tests/unit/test_request_validator.py.
    signature = twilio_signature(
        auth_token="12345", url=TWILIO_URL, params=list(TWILIO_PARAMS.items())
    )
    assert signature == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_a_repeated_parameter_is_signed_with_its_values_sorted():
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    signature = twilio_signature(auth_token="12345", url=TWILIO_URL, params=params)
    assert signature == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    "signed_url",
    [
        TWILIO_URL,
        TWILIO_URL.replace(".com", ".com:443"),  # a proxy added the default port
    ],
)
def test_a_signature_is_valid_for_the_url_with_or_without_its_port(signed_url):
    signature = twilio_signature(
        auth_token="12345", url=signed_url, params=list(TWILIO_PARAMS.items())
    )
    assert twilio_signature_valid(
        auth_token="12345",
        urls=[TWILIO_URL],
        params=list(TWILIO_PARAMS.items()),
        signature=signature,
    )


@pytest.mark.parametrize(
    ("auth_token", "signature"),
    [
        ("12345", "RSOYDt4T1cUTdK1PDd93/VVr8B8=x"),
        ("12345", ""),
        ("12345", None),
        ("12345", "ünicode"),
        ("54321", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        # Without a key nothing is valid, not even a signature made with the empty key.
        ("", twilio_signature(auth_token="", url=TWILIO_URL, params=list(TWILIO_PARAMS.items()))),
    ],
)
def test_a_wrong_or_missing_signature_is_invalid(auth_token, signature):
    assert not twilio_signature_valid(
        auth_token=auth_token,
        urls=[TWILIO_URL],
        params=list(TWILIO_PARAMS.items()),
        signature=signature,
    )


def test_the_error_text_names_twilios_reason():
    assert receipt_error_text(status="undelivered", error_code="30003") == (
        "SMS undelivered according to the provider (error 30003: unreachable destination handset)"
    )
    assert receipt_error_text(status="failed", error_code="12345") == (
        "SMS failed according to the provider (error 12345)"
    )
    assert receipt_error_text(status="failed") == "SMS failed according to the provider"


# --- The view's refusals (independent of the dispatcher) ----------------------------------------


@pytest.fixture
def provider(settings):
    fake = FakeSMSProvider()
    settings.SITE_URL = SITE
    settings.SMS_STATUS_CALLBACK_URL = ""
    settings.SMS_API_KEY = fake.auth_token
    return fake  # not started: these tests only use it to sign callbacks


@pytest.fixture
def sent_sms(db):
    customer = factories.CustomerFactory(preferred_channel="sms")
    return factories.NotificationFactory(
        customer=customer,
        channel="sms",
        recipient=customer.phone,
        body="Your parcel is late.",
        status=Notification.Status.SENT,
        sent_at=SENT_AT,
        attempts=1,
        provider_message_id=SID,
    )


def post_receipt(client, params: dict, signature: str | None):
    """Post like Twilio: a urlencoded form with the signature header."""
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    return client.post(
        PATH, urlencode(params), content_type="application/x-www-form-urlencoded", headers=headers
    )


def test_a_receipt_without_a_signature_is_refused(client, provider, sent_sms):
    params, _signature = provider.status_callback(SID, "delivered", url=CALLBACK)

    response = post_receipt(client, params, None)

    assert response.status_code == 403
    assert response.json() == {
        "detail": "The request is not signed with our provider key.",
        "code": "permission_denied",
        "errors": {},
    }
    sent_sms.refresh_from_db()
    assert sent_sms.status == Notification.Status.SENT


def test_a_receipt_signed_with_another_key_is_refused(client, provider, sent_sms):
    provider.auth_token = "someone-elses-token"
    params, signature = provider.status_callback(SID, "delivered", url=CALLBACK)

    assert post_receipt(client, params, signature).status_code == 403


def test_a_receipt_changed_after_signing_is_refused(client, provider, sent_sms):
    params, signature = provider.status_callback(SID, "delivered", url=CALLBACK)
    params["MessageStatus"] = "failed"

    assert post_receipt(client, params, signature).status_code == 403
    sent_sms.refresh_from_db()
    assert sent_sms.status == Notification.Status.SENT


def test_receipts_are_refused_while_no_provider_key_is_configured(
    client, provider, sent_sms, settings
):
    settings.SMS_API_KEY = ""
    provider.auth_token = ""
    params, signature = provider.status_callback(SID, "delivered", url=CALLBACK)

    assert post_receipt(client, params, signature).status_code == 403


def test_a_signed_receipt_without_a_status_is_a_field_error(client, provider, sent_sms):
    params, _signature = provider.status_callback(SID, "delivered", url=CALLBACK)
    del params["MessageStatus"]
    signature = twilio_signature(
        auth_token=provider.auth_token, url=CALLBACK, params=list(params.items())
    )

    response = post_receipt(client, params, signature)

    assert response.status_code == 400
    assert "MessageStatus" in response.json()["errors"]


def test_the_receipts_endpoint_only_takes_posts(client, provider, db):
    assert client.get(PATH).status_code == 405


def test_the_schema_describes_the_receipts_endpoint(client, db):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"][PATH]["post"]
    assert "application/x-www-form-urlencoded" in operation["requestBody"]["content"]
    assert {"200", "400", "403"} <= operation["responses"].keys()


# --- Recording receipts: needs notifications.dispatch (notice_delivered, ...) -------------------


@time_machine.travel(NOW, tick=False)
def test_a_delivered_receipt_marks_the_notice_delivered(client, provider, sent_sms):
    params, signature = provider.status_callback(SID, "delivered", url=CALLBACK)

    response = post_receipt(client, params, signature)

    assert response.status_code == 200
    assert response.json() == {"outcome": "delivered"}
    sent_sms.refresh_from_db()
    assert sent_sms.status == Notification.Status.DELIVERED
    assert sent_sms.delivered_at == NOW


def test_a_receipt_signed_for_the_url_it_reached_is_accepted_too(client, provider, sent_sms):
    # Behind a proxy we may know ourselves by another name than SMS_STATUS_CALLBACK_URL.
    params, signature = provider.status_callback(SID, "delivered", url="http://testserver" + PATH)

    assert post_receipt(client, params, signature).json() == {"outcome": "delivered"}


def test_the_configured_callback_url_is_the_one_checked(client, provider, sent_sms, settings):
    settings.SMS_STATUS_CALLBACK_URL = "https://hooks.example.net/delaydesk/sms"
    params, signature = provider.status_callback(
        SID, "delivered", url="https://hooks.example.net/delaydesk/sms"
    )

    assert post_receipt(client, params, signature).json() == {"outcome": "delivered"}


def test_the_provider_needs_no_csrf_token_and_no_login(provider, sent_sms):
    client = Client(enforce_csrf_checks=True)
    params, signature = provider.status_callback(SID, "delivered", url=CALLBACK)

    assert post_receipt(client, params, signature).status_code == 200


def test_a_repeated_delivered_receipt_changes_nothing(client, provider, sent_sms):
    params, signature = provider.status_callback(SID, "delivered", url=CALLBACK)
    post_receipt(client, params, signature)
    sent_sms.refresh_from_db()
    delivered_at = sent_sms.delivered_at

    response = post_receipt(client, params, signature)

    assert response.json() == {"outcome": "unchanged"}
    sent_sms.refresh_from_db()
    assert (sent_sms.status, sent_sms.delivered_at) == (Notification.Status.DELIVERED, delivered_at)


@time_machine.travel(NOW, tick=False)
def test_an_undelivered_receipt_fails_the_notice_and_queues_the_next_channel(
    client, provider, sent_sms
):
    params, signature = provider.status_callback(
        SID, "undelivered", url=CALLBACK, error_code="30003"
    )

    response = post_receipt(client, params, signature)

    assert response.json() == {"outcome": "failed"}
    sent_sms.refresh_from_db()
    assert sent_sms.status == Notification.Status.FAILED
    assert "30003" in sent_sms.last_error
    [fallback] = sent_sms.fallbacks.all()
    assert fallback.channel == "email"
    assert fallback.status == Notification.Status.PENDING


def test_a_repeated_failed_receipt_queues_no_second_fallback(client, provider, sent_sms):
    params, signature = provider.status_callback(SID, "failed", url=CALLBACK, error_code="30005")
    post_receipt(client, params, signature)

    response = post_receipt(client, params, signature)

    assert response.json() == {"outcome": "unchanged"}
    assert sent_sms.fallbacks.count() == 1


def test_a_failure_reported_after_delivery_wins(client, provider, sent_sms):
    # Status callbacks can arrive out of order; the failure is the provider's later word.
    for status in ("delivered", "undelivered"):
        params, signature = provider.status_callback(SID, status, url=CALLBACK)
        post_receipt(client, params, signature)

    sent_sms.refresh_from_db()
    assert sent_sms.status == Notification.Status.FAILED


@pytest.mark.parametrize("status", ["queued", "sent", "sending"])
def test_intermediate_statuses_change_nothing(client, provider, sent_sms, status):
    params, signature = provider.status_callback(SID, status, url=CALLBACK)

    assert post_receipt(client, params, signature).json() == {"outcome": "noted"}
    sent_sms.refresh_from_db()
    assert sent_sms.status == Notification.Status.SENT


def test_a_receipt_for_an_unknown_message_is_acknowledged_and_ignored(client, provider, sent_sms):
    params, signature = provider.status_callback("SM" + "f" * 32, "delivered", url=CALLBACK)

    response = post_receipt(client, params, signature)

    assert (response.status_code, response.json()) == (200, {"outcome": "unknown"})
    sent_sms.refresh_from_db()
    assert sent_sms.status == Notification.Status.SENT


def test_a_receipt_costs_two_queries(
    client, provider, sent_sms, django_assert_num_queries, no_rate_limits
):
    params, signature = provider.status_callback(SID, "delivered", url=CALLBACK)
    # 1. the notification by provider id (indexed); 2. the conditional update to DELIVERED.
    with django_assert_num_queries(2):
        post_receipt(client, params, signature)


def test_the_whole_loop_with_the_fake_provider(client, settings, sent_sms):
    """Send through the Twilio backend, then let the fake provider report delivery."""
    with FakeSMSProvider() as fake:
        settings.SITE_URL = SITE
        settings.SMS_STATUS_CALLBACK_URL = ""
        for name, value in fake.django_settings().items():
            setattr(settings, name, value)
        sid = TwilioSMSBackend().send(
            OutgoingMessage(to=sent_sms.recipient, body=sent_sms.body, reference="n-1")
        )
        Notification.objects.filter(pk=sent_sms.pk).update(provider_message_id=sid)

        params, signature = fake.status_callback(sid, "delivered")  # to the StatusCallback sent

    assert post_receipt(client, params, signature).json() == {"outcome": "delivered"}
    sent_sms.refresh_from_db()
    assert sent_sms.status == Notification.Status.DELIVERED


# --- receipt_record directly ------------------------------------------------------------------


def test_receipt_record_reports_what_it_did(sent_sms):
    record = {"provider_message_id": SID, "at": NOW}
    assert receipt_record(**record, status="sent") == RECEIPT_NOTED
    assert receipt_record(**record, status="canceled") == RECEIPT_IGNORED
    assert receipt_record(**record, status="DELIVERED") == RECEIPT_DELIVERED
    assert receipt_record(**record, status="delivered") == RECEIPT_UNCHANGED
    assert receipt_record(**record, status="failed", error_code="30008") == RECEIPT_FAILED
    assert receipt_record(**record, status="failed") == RECEIPT_UNCHANGED
    assert receipt_record(provider_message_id="", status="delivered", at=NOW) == RECEIPT_UNKNOWN


def test_a_receipt_for_a_notice_not_sent_yet_changes_nothing(sent_sms):
    Notification.objects.filter(pk=sent_sms.pk).update(status=Notification.Status.SENDING)

    assert receipt_record(provider_message_id=SID, status="failed", at=NOW) == RECEIPT_UNCHANGED
    assert not sent_sms.fallbacks.exists()


# --- Outside input: size and signature before the body is used (issue 11) --------------------


def test_an_unsigned_empty_body_is_refused_with_403(client, provider, db):
    response = client.post(PATH, "", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", ""], ids=["form", "no-content-type"]
)
def test_a_signed_empty_body_is_answered_400_with_field_errors(client, provider, db, content_type):
    signature = twilio_signature(auth_token=provider.auth_token, url=CALLBACK, params=[])

    response = client.post(
        PATH, b"", content_type=content_type, headers={"X-Twilio-Signature": signature}
    )

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"MessageSid", "MessageStatus"}


def test_an_oversized_receipt_is_refused_with_413_before_its_signature_is_checked(
    client, provider, sent_sms, settings, monkeypatch
):
    settings.RECEIPTS_MAX_BODY_BYTES = 1024

    def must_not_run(**kwargs):
        raise AssertionError("the signature of an oversized body was checked")

    monkeypatch.setattr("notifications.api.twilio_signature_valid", must_not_run)
    params, signature = provider.status_callback(SID, "delivered", url=CALLBACK)

    response = post_receipt(client, {**params, "Padding": "x" * 2000}, signature)

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    sent_sms.refresh_from_db()
    assert sent_sms.status == Notification.Status.SENT
