from django.core import checks


@checks.register(checks.Tags.compatibility)
def check_channel_backends(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Refuse to start with an SMS or push backend setting that names nothing importable."""
    from notifications.backends import _load

    errors = []
    from django.conf import settings

    for setting in ("SMS_BACKEND", "PUSH_BACKEND"):
        try:
            _load(getattr(settings, setting), setting)
        except ImportError as exc:
            errors.append(checks.Error(str(exc), id="notifications.E001", obj=setting))
    return errors
