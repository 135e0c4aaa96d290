import io

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from notifications.backends import (
    ConsoleSMSBackend,
    OutgoingMessage,
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
