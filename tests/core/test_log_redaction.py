"""Customers' link tokens never reach a log (core/logging.py)."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from core.logging import RedactingGunicornLogger, RedactTokens, redact_path


def test_a_token_in_a_path_is_redacted():
    token = secrets.token_urlsafe(32)
    assert redact_path(f"GET /t/{token}/ HTTP/1.1") == "GET /t/…/ HTTP/1.1"
    assert redact_path(f"Not Found: /survey/{token}/") == "Not Found: /survey/…/"
    # The case page's address holds no token: it stays readable.
    case = "/t/case/7f0c5a5e-8f7f-4d38-9d5b-6c1c7f0a1b2c/reply/"
    assert redact_path(case) == case
    assert redact_path("/t/") == "/t/"


def test_the_log_filter_rewrites_message_and_arguments():
    token = secrets.token_urlsafe(32)
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", (f"/t/{token}/",), None
    )
    assert RedactTokens().filter(record)
    assert token not in record.getMessage()


@pytest.mark.django_db
def test_django_request_log_lines_carry_no_token(client, caplog, settings):
    settings.RATELIMIT_ENABLE = False
    token = secrets.token_urlsafe(32)
    caplog.handler.addFilter(RedactTokens())
    client.get(f"/t/{token}/")
    assert caplog.records, "the 404 is logged"
    assert all(token not in record.getMessage() for record in caplog.records)


def test_gunicorns_access_log_line_is_redacted():
    token = secrets.token_urlsafe(32)
    logger = RedactingGunicornLogger(Config())
    response = SimpleNamespace(status="302 Found", sent=0, headers=[])
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/t/{token}/?utm=x",
        "PATH_INFO": f"/t/{token}/",
        "QUERY_STRING": "utm=x",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.1",
    }

    atoms = logger.atoms(response, SimpleNamespace(headers=[]), environ, dt.timedelta(0))

    assert token not in repr(atoms)
    assert atoms["r"] == "GET /t/…/?utm=x HTTP/1.1"
