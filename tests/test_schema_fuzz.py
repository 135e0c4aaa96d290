"""schemathesis over every operation of /api/schema/: the API answers what its schema says.

Run by `make fuzz` (and `.ci/run`), not by `make test`: the `fuzz` marker is deselected by
default (pyproject addopts) because a run takes minutes. Each operation gets a bounded number
of generated requests (FUZZ_MAX_EXAMPLES, default 50), sent in-process to Django's WSGI
application, once as an agent with a token and once anonymously, and every default check of
schemathesis runs on every answer: no server error, a status code the schema lists, the
documented content type, headers and body schema, invalid input refused, valid input accepted.

The two endpoints that authenticate by signature (carrier webhook, SMS receipts) would answer
401/403 to every generated body, so in the agent run the test signs each body as the carrier
or the provider would: their validation is fuzzed behind the signature. The anonymous run sends
them unsigned, which fuzzes the refusal path.

Deliberate exclusions, each with its reason:
- `max_response_time`: not a correctness check; CI machines are shared and slow.
- `ignored_auth` in the agent run only: it replays a request with its credentials removed or
  broken, but the token this test passes explicitly to each call stays on the replay, so the
  check would see the agent's own 200. The anonymous run makes every operation answer without
  credentials, which is what the check is about.
- Only cases generated as valid are signed; a case generated to be invalid is sent unsigned
  (signing would overwrite its invalid signature headers) and must be refused.
- `positive_data_acceptance`: valid by the schema is not valid by the data. A ticket's
  customer reference, a shipment's carrier code or tracking number must exist, and a ticket
  must be in a state that allows the change; no schema can say which values exist, so such a
  request answers 400 with a field error (in the documented shape) by design.
- `negative_data_rejection` for a case whose only invalid part is its query string: list
  endpoints read their query leniently on purpose. A `page_size` that is not a number falls
  back to the default size (DRF's documented behaviour), and `updated_after` takes every ISO
  8601 form Django reads (a date alone, no seconds). Invalid bodies, paths and headers must
  still be refused.
"""

from __future__ import annotations

import json
import os
import time
from urllib.parse import parse_qsl, urlencode

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import max_response_time
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
)

from notifications.receipts import twilio_signature
from shipments.ingest import webhook_signature
from tests import factories

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "50"))
WEBHOOK_PATH = "/api/v1/tracking-events/"
RECEIPTS_PATH = "/api/v1/notifications/receipts/sms/"
FUZZ_CARRIER = "FUZZ"
FUZZ_CARRIER_SECRET = "fuzz-secret"
SMS_KEY = "fuzz-sms-key"

HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    # The same cases on every run, so CI is reproducible; FUZZ_RANDOM=1 explores new ones.
    derandomize=not os.environ.get("FUZZ_RANDOM"),
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
EXCLUDED_CHECKS = [max_response_time]
AGENT_EXCLUDED_CHECKS = [*EXCLUDED_CHECKS, ignored_auth]


# Loaded at collection, in-process (schemathesis' fixture-based loader does not run on
# pytest 9); generating the schema reads no data.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture(autouse=True)
def _in_process(settings):
    settings.RATELIMIT_ENABLE = False  # a fuzz run is a flood by design; 429s are tested apart
    settings.SMS_API_KEY = SMS_KEY
    settings.SMS_STATUS_CALLBACK_URL = "http://localhost" + RECEIPTS_PATH
    # The WSGI handler closes the connection at each request's end, which would end the test's
    # transaction; Django's own test client disconnects the same receivers.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, agent, default_configuration):
    """Some data to find: a carrier that signs, shipments, tickets of the agent's team."""
    carrier = factories.CarrierFactory(code=FUZZ_CARRIER, webhook_secret=FUZZ_CARRIER_SECRET)
    for _ in range(3):
        shipment = factories.ShipmentFactory(carrier=carrier)
        factories.TicketFactory(shipment=shipment, customer=shipment.customer, assignee=agent)
    return carrier


@pytest.fixture
def agent_token(agent) -> str:
    return Token.objects.create(user=agent).key


def _negative_locations(case) -> set:
    if case.meta is None:
        return set()
    negative = {
        location
        for location, component in case.meta.components.items()
        if component.mode.is_negative
    }
    if not negative and case.meta.generation.mode.is_negative:
        negative.add(None)  # negative, without saying where
    return negative


def _is_negative(case) -> bool:
    return bool(_negative_locations(case))


def _excluded_checks(case, base: list) -> list:
    excluded = [*base, positive_data_acceptance]
    if _negative_locations(case) == {ParameterLocation.QUERY}:
        excluded.append(negative_data_rejection)
    return excluded


def _signed_call_kwargs(case) -> dict | None:
    """The body and headers a carrier or the SMS provider would send, or None (not signed).

    A case generated to be invalid is sent as generated (unsigned): it must be refused, and
    signing it would replace its invalid signature headers with valid ones.
    """
    if _is_negative(case):
        return None
    if case.operation.path == WEBHOOK_PATH and isinstance(case.body, dict):
        body = {**case.body, "carrier": FUZZ_CARRIER}
        raw = json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Timestamp": str(int(time.time())),
            "X-Signature": webhook_signature(secret=FUZZ_CARRIER_SECRET, body=raw),
        }
        return {"data": raw, "headers": headers}
    if case.operation.path == RECEIPTS_PATH and isinstance(case.body, dict):
        raw = urlencode(case.body, doseq=True)
        params = parse_qsl(raw, keep_blank_values=True)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(
                auth_token=SMS_KEY, url="http://localhost" + RECEIPTS_PATH, params=params
            ),
        }
        return {"data": raw, "headers": headers}
    return None


@schema.parametrize()
@HYPOTHESIS
def test_the_api_keeps_its_schema_for_an_agent_with_a_token(case, world, agent_token):
    headers = {"Authorization": f"Token {agent_token}"}
    signed = _signed_call_kwargs(case)
    if signed is None:
        case.call_and_validate(
            headers=headers, excluded_checks=_excluded_checks(case, AGENT_EXCLUDED_CHECKS)
        )
        return
    signature_headers = signed.pop("headers")
    # Into the case itself, so that schemathesis validates the headers actually sent.
    case.headers = {
        **(case.headers or {}),
        **{name: value for name, value in signature_headers.items() if name != "Content-Type"},
    }
    case.call_and_validate(
        headers={**headers, "Content-Type": signature_headers["Content-Type"]},
        excluded_checks=_excluded_checks(case, AGENT_EXCLUDED_CHECKS),
        **signed,
    )


@schema.parametrize()
@HYPOTHESIS
def test_the_api_keeps_its_schema_anonymously(case, world):
    case.call_and_validate(excluded_checks=_excluded_checks(case, EXCLUDED_CHECKS))
