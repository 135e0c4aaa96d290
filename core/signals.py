from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from core.middleware import SESSION_TIME_ZONE_KEY, valid_time_zone


@receiver(user_logged_in, dispatch_uid="core.remember_time_zone")
def remember_time_zone(sender, request, user, **kwargs) -> None:
    profile = getattr(user, "agent_profile", None)
    name = valid_time_zone(getattr(profile, "time_zone", None))
    if name and request is not None and hasattr(request, "session"):
        request.session[SESSION_TIME_ZONE_KEY] = name
