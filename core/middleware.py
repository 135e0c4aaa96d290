import zoneinfo

from django.conf import settings
from django.utils import timezone

SESSION_TIME_ZONE_KEY = "delaydesk_time_zone"


def valid_time_zone(name: str | None) -> str | None:
    if not name:
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return name


class UserTimezoneMiddleware:
    """Show dates in the reader's time zone.

    The zone comes from the session (set at login from the agent's profile, or chosen by the
    reader), else the site's display default. Reading it from the session costs no query.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        name = valid_time_zone(session.get(SESSION_TIME_ZONE_KEY) if session is not None else None)
        timezone.activate(zoneinfo.ZoneInfo(name or settings.DEFAULT_DISPLAY_TIME_ZONE))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
