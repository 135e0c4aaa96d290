import datetime as dt
import io
import json
import smtplib

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from notifications.backends import (
    ConsoleSMSBackend,
    EmailChannelBackend,
    FilePushBackend,
    FileSMSBackend,
    NullPushBackend,
    NullSMSBackend,
    OutgoingMessage,
    PermanentFailure,
    TemporaryFailure,
    _load,
    get_backend,
)


def test_the_development_sms_backend_prints_the_message():
    stream = io.StringIO()
    provider_id = ConsoleSMSBackend(stream).send(OutgoingMessage(to="+4930123", body="Late, sorry"))
    assert provider_id.startswith("console-")
    assert stream.getvalue() == "SMS to +4930123: Late, sorry\n"


def test_backends_are_chosen_by_setting(settings):
    settings.SMS_BACKEND = "notifications.backends.ConsoleSMSBackend"
    assert isinstance(get_backend("sms"), ConsoleSMSBackend)


def test_a_backend_setting_naming_nothing_fails_the_system_check(settings):
    settings.SMS_BACKEND = "notifications.backends.NoSuchBackend"
    _load.cache_clear()
    with pytest.raises(SystemCheckError, match="SMS_BACKEND: cannot import"):
        call_command("check")
    _load.cache_clear()


def test_a_backend_setting_naming_something_else_fails_the_system_check(settings):
    settings.PUSH_BACKEND = "django.core.mail.backends.console.EmailBackend"
    _load.cache_clear()
    with pytest.raises(SystemCheckError, match="PUSH_BACKEND: .* is not a MessageBackend"):
        call_command("check")
    _load.cache_clear()


# --- Email ----------------------------------------------------------------------------------------


class RaisingConnection(BaseEmailBackend):
    """A mail transport that fails the way an SMTP server would."""

    def __init__(self, exc: Exception):
        super().__init__(fail_silently=False)
        self.exc = exc

    def send_messages(self, email_messages):
        raise self.exc


EMAIL = OutgoingMessage(
    to="carla@example.com", body="Your parcel is late.", title="Order 1001", reference="n-42"
)


def test_email_goes_through_djangos_mail_with_our_message_id_and_reference(settings):
    settings.DEFAULT_FROM_EMAIL = "Delaydesk <support@shop.example>"

    provider_id = get_backend("email").send(EMAIL)

    [sent] = mail.outbox
    assert (sent.subject, sent.body, sent.to) == (
        "Order 1001",
        "Your parcel is late.",
        ["carla@example.com"],
    )
    assert sent.from_email == "Delaydesk <support@shop.example>"
    assert sent.extra_headers["X-Delaydesk-Reference"] == "n-42"
    assert sent.message()["Message-ID"] == provider_id
    assert provider_id.startswith("<") and provider_id.endswith("@shop.example>")


def test_each_email_gets_its_own_message_id():
    backend = EmailChannelBackend()
    assert backend.send(EMAIL) != backend.send(EMAIL)


def test_a_title_with_a_line_break_becomes_one_line_rather_than_a_header_error():
    EmailChannelBackend().send(OutgoingMessage(to="carla@example.com", body="b", title="a\nb"))
    assert mail.outbox[0].subject == "a b"


@pytest.mark.parametrize("address", ["", "not-an-address", "carla@example.com\nBcc: x@y.z"])
def test_a_bad_address_fails_permanently_without_sending(address):
    with pytest.raises(PermanentFailure, match="invalid email address"):
        EmailChannelBackend().send(OutgoingMessage(to=address, body="b"))
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            smtplib.SMTPRecipientsRefused({"carla@example.com": (550, b"no such user")}),
            PermanentFailure,
        ),
        (smtplib.SMTPSenderRefused(553, b"sender not allowed", "support@x"), PermanentFailure),
        (smtplib.SMTPDataError(554, b"spam"), PermanentFailure),
        # 4xx: the server says "later" (greylisting, a full mailbox), RFC 5321.
        (
            smtplib.SMTPRecipientsRefused({"carla@example.com": (450, b"greylisted")}),
            TemporaryFailure,
        ),
        (smtplib.SMTPSenderRefused(451, b"try later", "support@x"), TemporaryFailure),
        (smtplib.SMTPDataError(452, b"insufficient storage"), TemporaryFailure),
        (smtplib.SMTPServerDisconnected("gone"), TemporaryFailure),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), TemporaryFailure),
        (ConnectionRefusedError(111, "refused"), TemporaryFailure),
        (TimeoutError("timed out"), TemporaryFailure),
    ],
)
def test_smtp_errors_map_to_temporary_or_permanent_failures(exc, expected):
    with pytest.raises(expected):
        EmailChannelBackend(connection=RaisingConnection(exc)).send(EMAIL)


def test_a_permanent_smtp_failure_names_the_servers_answer():
    exc = smtplib.SMTPRecipientsRefused({"carla@example.com": (550, b"no such user")})
    with pytest.raises(PermanentFailure, match="no such user"):
        EmailChannelBackend(connection=RaisingConnection(exc)).send(EMAIL)


def test_the_email_transport_is_djangos_email_backend_setting(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    provider_id = get_backend("email").send(EMAIL)
    assert provider_id.startswith("<")
    assert mail.outbox == []


# --- File and null backends --------------------------------------------------------------------


def test_the_file_backend_appends_one_json_line_per_message(settings, tmp_path):
    settings.NOTIFICATIONS_FILE_DIR = tmp_path / "outbox"
    settings.SMS_BACKEND = "notifications.backends.FileSMSBackend"
    backend = get_backend("sms")

    with time_machine.travel(dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC), tick=False):
        first = backend.send(OutgoingMessage(to="+4930123", body="Late, sorry", reference="n-1"))
    second = backend.send(OutgoingMessage(to="+4930124", body="再次抱歉", reference="n-2"))

    lines = (tmp_path / "outbox" / "sms.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "to": "+4930123",
            "title": "",
            "body": "Late, sorry",
            "reference": "n-1",
            "provider_id": first,
            "time": "2026-11-02T09:30:00+00:00",
        },
        {
            "to": "+4930124",
            "title": "",
            "body": "再次抱歉",
            "reference": "n-2",
            "provider_id": second,
            "time": json.loads(lines[1])["time"],
        },
    ]
    assert first != second


def test_the_push_file_backend_writes_its_own_file(tmp_path):
    FilePushBackend(tmp_path).send(OutgoingMessage(to="device-1", body="b", title="t"))
    assert json.loads((tmp_path / "push.jsonl").read_text())["title"] == "t"
    assert not (tmp_path / "sms.jsonl").exists()


def test_the_file_backend_fails_temporarily_when_it_cannot_write(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(TemporaryFailure, match="cannot write"):
        FileSMSBackend(blocker).send(OutgoingMessage(to="+4930123", body="b"))


def test_the_file_backends_default_folder_is_var_outbox(settings):
    assert settings.NOTIFICATIONS_FILE_DIR == settings.VAR_DIR / "outbox"


@pytest.mark.parametrize("backend_class", [NullSMSBackend, NullPushBackend])
def test_the_null_backends_send_nothing_and_return_unique_ids(backend_class, capsys):
    backend = backend_class()
    ids = {backend.send(OutgoingMessage(to="x", body="b")) for _ in range(1000)}
    assert len(ids) == 1000
    assert capsys.readouterr() == ("", "")


# --- Choosing and checking ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "path", "channel"),
    [
        ("SMS_BACKEND", "notifications.backends.FileSMSBackend", "sms"),
        ("SMS_BACKEND", "notifications.backends.NullSMSBackend", "sms"),
        ("SMS_BACKEND", "notifications.backends.TwilioSMSBackend", "sms"),
        ("PUSH_BACKEND", "notifications.backends.FilePushBackend", "push"),
        ("PUSH_BACKEND", "notifications.backends.NullPushBackend", "push"),
    ],
)
def test_every_backend_can_be_chosen_by_setting(settings, setting, path, channel):
    setattr(settings, setting, path)
    backend = get_backend(channel)
    assert type(backend).__name__ == path.rpartition(".")[2]
    assert backend.channel == channel


def test_the_defaults_print_to_the_console():
    assert isinstance(get_backend("sms"), ConsoleSMSBackend)
    assert isinstance(get_backend("email"), EmailChannelBackend)


def test_twilio_without_its_settings_fails_the_system_check(settings):
    settings.SMS_BACKEND = "notifications.backends.TwilioSMSBackend"
    settings.SMS_API_URL = "https://api.twilio.com"
    settings.SMS_ACCOUNT_SID = ""
    settings.SMS_API_KEY = ""
    settings.SMS_FROM = "+15005550006"
    with pytest.raises(
        SystemCheckError, match="SMS_BACKEND: TwilioSMSBackend needs SMS_ACCOUNT_SID, SMS_API_KEY"
    ):
        call_command("check")


def test_twilio_with_a_malformed_api_url_fails_the_system_check(settings):
    settings.SMS_BACKEND = "notifications.backends.TwilioSMSBackend"
    settings.SMS_API_URL = "api.twilio.com"
    settings.SMS_ACCOUNT_SID = "AC123"
    settings.SMS_API_KEY = "token"
    settings.SMS_FROM = "+15005550006"
    with pytest.raises(SystemCheckError, match="SMS_API_URL: expected an http"):
        call_command("check")


def test_twilio_with_its_settings_passes_the_system_check(settings):
    settings.SMS_BACKEND = "notifications.backends.TwilioSMSBackend"
    settings.SMS_API_URL = "https://api.twilio.com"
    settings.SMS_ACCOUNT_SID = "AC123"
    settings.SMS_API_KEY = "token"
    settings.SMS_FROM = "+15005550006"
    call_command("check")
