"""The Twilio SMS backend against a local fake of Twilio's Messages API."""

from __future__ import annotations

import time

import pytest

from notifications.backends import (
    IDEMPOTENCY_HEADER,
    OutgoingMessage,
    PermanentFailure,
    TemporaryFailure,
    TwilioSMSBackend,
    get_backend,
)
from tests.notifications.fake_sms_provider import FakeSMSProvider, twilio_signature

MESSAGE = OutgoingMessage(to="+4915112345678", body="Your parcel is late: sorry.", reference="n-7")
CALLBACK = "https://delaydesk.example.com/api/v1/notifications/receipts/sms/"


@pytest.fixture
def provider():
    with FakeSMSProvider() as fake:
        yield fake


@pytest.fixture
def backend(provider) -> TwilioSMSBackend:
    return TwilioSMSBackend(**provider.backend_settings(), status_callback=CALLBACK, timeout=2)


def test_it_sends_and_returns_the_providers_message_sid(provider, backend):
    sid = backend.send(MESSAGE)

    [message] = provider.messages
    assert sid == message.sid
    assert sid.startswith("SM") and len(sid) == 34
    assert (message.to, message.body) == ("+4915112345678", "Your parcel is late: sorry.")


def test_it_posts_the_twilio_form_with_basic_auth(provider, backend):
    backend.send(MESSAGE)

    [request] = provider.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{provider.account_sid}/Messages.json"
    assert request.auth == (provider.account_sid, provider.auth_token)
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert request.form == {
        "To": "+4915112345678",
        "From": provider.sender,
        "Body": "Your parcel is late: sorry.",
        "StatusCallback": CALLBACK,
    }


def test_it_sends_our_reference_as_the_idempotency_token(provider, backend):
    backend.send(MESSAGE)
    assert provider.requests[0].headers[IDEMPOTENCY_HEADER.lower()] == "n-7"


def test_a_resend_with_the_same_reference_is_a_duplicate_not_a_second_sms(provider, backend):
    first = backend.send(MESSAGE)
    second = backend.send(MESSAGE)

    assert first == second
    assert len(provider.messages) == 1
    assert provider.duplicates == 1


def test_a_timeout_after_the_provider_accepted_then_a_retry_sends_one_sms(provider):
    backend = TwilioSMSBackend(**provider.backend_settings(), status_callback=CALLBACK, timeout=0.3)
    provider.hang_next(accept_first=True, seconds=5)

    with pytest.raises(TemporaryFailure, match="timed out"):
        backend.send(MESSAGE)
    sid = backend.send(MESSAGE)

    assert [m.sid for m in provider.messages] == [sid]
    assert provider.duplicates == 1


def test_non_ascii_text_arrives_intact(provider, backend):
    backend.send(OutgoingMessage(to="+8613800138000", body="您的包裹延误了，非常抱歉。"))
    assert provider.messages[0].body == "您的包裹延误了，非常抱歉。"


def test_a_messaging_service_is_sent_as_messaging_service_sid(provider):
    settings = {**provider.backend_settings(), "sender": "MG" + "1" * 32}
    TwilioSMSBackend(**settings, status_callback="").send(MESSAGE)

    form = provider.requests[0].form
    assert form["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in form and "StatusCallback" not in form


def test_settings_configure_the_backend(provider, settings):
    for name, value in provider.django_settings().items():
        setattr(settings, name, value)
    settings.SITE_URL = "https://delaydesk.example.com"
    settings.SMS_STATUS_CALLBACK_URL = ""
    settings.SMS_TIMEOUT_SECONDS = 7

    backend = get_backend("sms")
    backend.send(MESSAGE)

    assert backend.timeout == 7
    # The default callback is our receipts route under SITE_URL.
    assert provider.requests[0].form["StatusCallback"] == CALLBACK


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_rate_limits_and_server_errors_are_temporary(provider, backend, status):
    provider.fail_next(status=status)

    with pytest.raises(TemporaryFailure, match=f"HTTP {status}"):
        backend.send(MESSAGE)
    assert provider.messages == []


def test_a_rate_limit_passes_on_the_providers_retry_after(provider, backend):
    provider.fail_next(status=429, retry_after="30")

    with pytest.raises(TemporaryFailure) as failure:
        backend.send(MESSAGE)
    assert failure.value.retry_after == 30.0


def test_after_a_temporary_failure_the_retry_goes_through(provider, backend):
    provider.fail_next(2, status=500)

    for _ in range(2):
        with pytest.raises(TemporaryFailure):
            backend.send(MESSAGE)
    sid = backend.send(MESSAGE)

    assert [m.sid for m in provider.messages] == [sid]
    assert provider.duplicates == 0


def test_a_provider_that_does_not_answer_in_time_is_a_temporary_failure(provider):
    backend = TwilioSMSBackend(**provider.backend_settings(), status_callback=CALLBACK, timeout=0.3)
    provider.hang_next(seconds=5)

    started = time.monotonic()
    with pytest.raises(TemporaryFailure, match="timed out after 0.3 s"):
        backend.send(MESSAGE)
    assert time.monotonic() - started < 3
    assert provider.messages == []


def test_a_provider_that_is_down_is_a_temporary_failure(provider):
    settings = provider.backend_settings()
    provider.stop()

    with pytest.raises(TemporaryFailure, match="unreachable"):
        TwilioSMSBackend(**settings, status_callback=CALLBACK, timeout=1).send(MESSAGE)


def test_a_rejected_number_is_a_permanent_failure_with_the_providers_code_and_message(backend):
    with pytest.raises(PermanentFailure) as failure:
        backend.send(OutgoingMessage(to="+12", body="b"))

    assert str(failure.value) == (
        "SMS provider refused (HTTP 400): error 21211: "
        "The 'To' number +12 is not a valid phone number."
    )


def test_a_programmed_400_is_a_permanent_failure(provider, backend):
    provider.fail_next(status=400, code=21610, message="Attempt to send to unsubscribed recipient")

    with pytest.raises(PermanentFailure, match="error 21610: Attempt to send to unsubscribed"):
        backend.send(MESSAGE)


def test_wrong_credentials_are_a_permanent_failure(provider):
    settings = {**provider.backend_settings(), "auth_token": "wrong"}

    with pytest.raises(PermanentFailure, match="HTTP 401.*20003: Authenticate"):
        TwilioSMSBackend(**settings, status_callback=CALLBACK).send(MESSAGE)
    assert provider.messages == []


def test_an_answer_without_a_sid_is_a_temporary_failure(provider, backend, monkeypatch):
    monkeypatch.setattr(provider, "_resource", lambda message: {"status": "queued"})

    with pytest.raises(TemporaryFailure, match="without a message sid"):
        backend.send(MESSAGE)


# --- The fake itself ------------------------------------------------------------------------


def test_the_fake_signs_callbacks_with_twilios_documented_algorithm():
    # Twilio's own test vector (twilio-python, tests/unit/test_request_validator.py).
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
        "Caller": "+14158675309",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_the_fake_builds_a_signed_status_callback_for_a_sent_message(provider, backend):
    sid = backend.send(MESSAGE)

    params, signature = provider.status_callback(sid, "undelivered", error_code="30003")

    assert params["MessageSid"] == sid
    assert (params["MessageStatus"], params["ErrorCode"]) == ("undelivered", "30003")
    assert signature == twilio_signature(provider.auth_token, CALLBACK, params)
    assert provider.message(sid).status == "undelivered"
