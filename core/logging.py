"""Keep customers' link tokens out of logs.

A progress link (/t/<token>/) or an old survey link (/survey/<token>/) is a credential: the
access log of gunicorn and Django's request log ("Not Found: /t/...") would otherwise write
it in clear. `redact_path` replaces the token with "…"; `RedactTokens` is the logging filter
(config/settings.py LOGGING) and `RedactingGunicornLogger` gunicorn's logger class (Procfile).
"""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger

# A token segment: anything but the case page's own "case" segment.
_TOKEN_PATH = re.compile(r"/(t|survey)/(?!case/)[^/?#\s]+")


def redact_path(text: str) -> str:
    return _TOKEN_PATH.sub(lambda match: f"/{match.group(1)}/…", text)


class RedactTokens(logging.Filter):
    """Rewrites a record's message and string arguments without the tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_path(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_path(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "path"):
            record.request_path = redact_path(request.path)
        return True


class RedactingGunicornLogger(Logger):
    """gunicorn's access log, with every value that may hold the path redacted (the request
    line, the path, the environ's RAW_URI and PATH_INFO, a Referer)."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact_path(value) if isinstance(value, str) else value
            for key, value in atoms.items()
        }
