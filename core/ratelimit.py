"""Rate limits of the public endpoints, counted in the shared cache, answered with 429.

django-ratelimit counts hits per (group, key) in fixed windows of the rate's period, in the
`default` cache: the database cache on the embedded default, Redis in production
(config/settings.py, CACHE_URL). Every web process sees the same counters; a per-process
memory cache would multiply each limit by the number of processes, so a system check refuses
one (`core.E101`).

Two ways in, one answer:

- `rate_limited(group, rate_setting, key)` decorates a view (for a DRF method, wrap it with
  `method_decorator`); it counts every matching request before the view runs.
- `wait_seconds(...)` counts one hit for a key the view only knows later (the webhook counts per
  carrier once the signature proved which carrier it is) and `throttled_response(...)` answers.

Over the limit, the answer is 429 with `Retry-After` (seconds until the window resets): the API
error shape ({"detail", "code": "throttled", "errors": {}}) under /api/, the branded page
templates/429.html elsewhere. The rates are settings ("COUNT/PERIOD", e.g. "30/m"), read on each
request so tests and operators can change them; RATELIMIT_ENABLE=false turns every limit off.

A cache that cannot be reached lets the request through (logged): the limits protect capacity,
and the login lockout that guards passwords lives in the database (django-axes), not here.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import re
from collections.abc import Callable

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_ratelimit import ALL
from django_ratelimit.core import get_usage

from core.api_errors import error_response, is_api_path
from core.views import render_error_page

log = logging.getLogger(__name__)

THROTTLED_CODE = "throttled"
# What a throttled reader sees (tests assert these).
THROTTLED_API = _("Too many requests. Try again in %(seconds)s seconds.")

# Cache backends that are not shared between processes (or not a cache at all).
UNSHARED_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
    "django.core.cache.backends.filebased.FileBasedCache",
}

Key = str | Callable[[str, HttpRequest], str]

# The rate settings of the public endpoints (config/settings.py), "COUNT/PERIOD" as
# django-ratelimit reads it: PERIOD is s, m, h or d, optionally with a multiplier ("5/10m").
RATE_SETTINGS = (
    "RATELIMIT_WEBHOOK",
    "RATELIMIT_RECEIPTS",
    "RATELIMIT_PUBLIC_LINK",
    "RATELIMIT_LOGIN",
)
RATE = re.compile(r"[0-9]+/[0-9]*[smhd]")


def client_address(group: str, request: HttpRequest) -> str:
    """The client's address as django-axes sees it (same proxy settings, one source of truth);
    IPv6 addresses by their /64 network, which one client usually holds whole."""
    address = get_client_ip_address(request) or request.META.get("REMOTE_ADDR") or "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False).network_address)
    return str(parsed)


def _fixed(value: str, group: str, request: HttpRequest) -> str:
    return value


def _key(key: Key) -> Key:
    return client_address if key == "ip" else key


def wait_seconds(
    request: HttpRequest,
    *,
    group: str,
    rate_setting: str,
    key: Key = "ip",
    value: str | None = None,
    method=ALL,
) -> int | None:
    """Count one hit of ``request`` for ``group``; return the seconds until the window resets
    when the hit is over the limit, else None.

    The hit is counted per ``value`` when given (a value the caller already knows, like the
    webhook's verified carrier code), else per ``key``: "ip" (the client address), a
    django-ratelimit key ("header:x-name") or a callable(group, request) -> str. The rate is
    read from the setting named ``rate_setting``.
    """
    rate = getattr(settings, rate_setting)
    if not isinstance(rate, str) or not RATE.fullmatch(rate):
        # Loud, not a silently lifted limit (the system check reports it at start-up too).
        raise ImproperlyConfigured(f"{rate_setting}: expected COUNT/PERIOD like 30/m, got {rate!r}")
    if value is not None:
        key = functools.partial(_fixed, value)
    try:
        usage = get_usage(
            request, group=group, key=_key(key), rate=rate, method=method, increment=True
        )
    except Exception:  # an unreachable Redis, a database error in the cache table
        _cache_failed(group, exc_info=True)
        return None
    if usage is not None and usage["should_limit"] and usage["time_left"] < 0:
        _cache_failed(group)  # the counter could not be read or written
        return None
    _cache_answered()
    if usage is None or not usage["should_limit"]:
        return None
    # django-ratelimit's window includes its last second (a hit at exactly `time_left` seconds
    # from now still counts in it), so the next window starts one second later.
    return usage["time_left"] + 1


# One warning when the cache starts failing and one line when it answers again (per process),
# not one per request of a flood.
_failing = False


def _cache_failed(group: str, exc_info: bool = False) -> None:
    global _failing
    if not _failing:
        _failing = True
        log.warning(
            "rate limit %s not counted: the cache failed; requests pass until it answers",
            group,
            exc_info=exc_info,
        )


def _cache_answered() -> None:
    global _failing
    if _failing:
        _failing = False
        log.warning("rate limits are counted again: the cache answers")


def throttled_response(request: HttpRequest, wait: int) -> HttpResponse:
    """429 with Retry-After: JSON in the API's error shape under /api/, else the 429 page in
    the error pages' frame (staff navigation only for staff, as on every error page)."""
    if is_api_path(request.path):
        response = error_response(THROTTLED_API % {"seconds": wait}, THROTTLED_CODE, 429)
    else:
        minutes = max(1, math.ceil(wait / 60))
        response = render_error_page(
            request,
            "429.html",
            429,
            {
                "retry_after_seconds": wait,
                "retry_after_minutes": minutes,
                "retry_after_text": ngettext(
                    "Try again in %(count)d minute.", "Try again in %(count)d minutes.", minutes
                )
                % {"count": minutes},
            },
        )
    response["Retry-After"] = str(wait)
    response["Cache-Control"] = "no-store"
    return response


def rate_limited(group: str, rate_setting: str, key: Key = "ip", method=ALL):
    """Decorate a view: count each request (of ``method``) per ``key`` for ``group`` and answer
    429 once the rate in setting ``rate_setting`` is exceeded, before the view runs.

    Usable on any public view, e.g. the customer's progress page:

        @rate_limited("public-link", "RATELIMIT_PUBLIC_LINK")
        def progress(request, token): ...
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            wait = wait_seconds(
                request, group=group, rate_setting=rate_setting, key=key, method=method
            )
            if wait is not None:
                return throttled_response(request, wait)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


@checks.register(checks.Tags.caches)
def shared_cache_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Rate limits count in the default cache, which every web process must share."""
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if getattr(settings, "RATELIMIT_ENABLE", True) and backend in UNSHARED_CACHES:
        return [
            checks.Error(
                f"The default cache ({backend}) is not shared between processes: each one "
                "would count its own rate limits.",
                hint="Leave CACHE_URL empty (database cache) or set it to redis://HOST:6379/1.",
                id="core.E101",
            )
        ]
    return []


@checks.register()
def rate_settings_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return [
        checks.Error(
            f"{name}: expected COUNT/PERIOD like 30/m, got {getattr(settings, name)!r}",
            hint="PERIOD is s, m, h or d, optionally with a multiplier: 600/m, 5/10m, 1000/h.",
            id="core.E102",
        )
        for name in RATE_SETTINGS
        if not isinstance(getattr(settings, name, None), str)
        or not RATE.fullmatch(getattr(settings, name))
    ]
