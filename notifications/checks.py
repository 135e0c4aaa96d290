from django.core import checks

from notifications.backends import TwilioSMSBackend, _load

TWILIO_SETTINGS = ("SMS_API_URL", "SMS_ACCOUNT_SID", "SMS_API_KEY", "SMS_FROM")


@checks.register(checks.Tags.compatibility)
def check_channel_backends(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Refuse to start with an SMS or push backend setting that names nothing importable, or
    with a provider backend that lacks the settings it needs to send anything."""
    from django.conf import settings

    errors = []
    for setting in ("SMS_BACKEND", "PUSH_BACKEND"):
        try:
            backend = _load(getattr(settings, setting), setting)
        except ImportError as exc:
            errors.append(checks.Error(str(exc), id="notifications.E001", obj=setting))
            continue
        if issubclass(backend, TwilioSMSBackend):
            missing = [name for name in TWILIO_SETTINGS if not getattr(settings, name, "")]
            if missing:
                errors.append(
                    checks.Error(
                        f"{setting}: {backend.__name__} needs {', '.join(missing)}",
                        hint="Set them in the environment (SMS_API_URL: https://api.twilio.com).",
                        id="notifications.E002",
                        obj=setting,
                    )
                )
            elif not settings.SMS_API_URL.startswith(("https://", "http://")):
                errors.append(
                    checks.Error(
                        f"SMS_API_URL: expected an http(s) URL, got {settings.SMS_API_URL!r}",
                        id="notifications.E003",
                        obj="SMS_API_URL",
                    )
                )
    return errors
