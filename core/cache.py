"""The shared cache (Redis in production) where it only saves work: an unreachable cache costs
the work, never the page.

While Redis restarts, `cache.get` raises (a connection error); the supervisor dashboard, the
root causes page and the shipment page's forecast used to answer 500 for those seconds
(docs/RELIABILITY.md). Through these functions a failing cache reads as empty and a write is
skipped; the failure is logged once per process until the cache answers again, not once per
request (as core.ratelimit does for its counters).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache as default_cache
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

log = logging.getLogger(__name__)

_failing = False


def cache_get(key: str, default: Any = None, *, cache: BaseCache = default_cache) -> Any:
    """`cache.get(key, default)`, or `default` when the cache fails."""
    try:
        value = cache.get(key, default)
    except Exception:  # an unreachable Redis, a database error in the cache table
        _failed(exc_info=True)
        return default
    _answered()
    return value


def cache_set(
    key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, *, cache: BaseCache = default_cache
) -> bool:
    """`cache.set`; False (nothing kept) when the cache fails."""
    try:
        cache.set(key, value, timeout)
    except Exception:  # as above
        _failed(exc_info=True)
        return False
    _answered()
    return True


def cache_add(
    key: str,
    value: Any,
    timeout: Any = DEFAULT_TIMEOUT,
    *,
    when_failing: bool,
    cache: BaseCache = default_cache,
) -> bool:
    """`cache.add` (True when the key was not there); `when_failing` when the cache fails: the
    caller says which answer is safe without it."""
    try:
        added = cache.add(key, value, timeout)
    except Exception:  # as above
        _failed(exc_info=True)
        return when_failing
    _answered()
    return added


def _failed(*, exc_info: bool) -> None:
    global _failing
    if not _failing:
        _failing = True
        log.warning("cache failed: working without it until it answers", exc_info=exc_info)


def _answered() -> None:
    global _failing
    if _failing:
        _failing = False
        log.warning("cache answers again")
