"""Every DRF error in the API's one shape: {"detail", "code", "errors"} (core/api_errors.py)."""

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils import translation
from rest_framework import exceptions, serializers
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.api_errors import api_exception_handler, flatten_errors
from tests import factories


def _handle(exc):
    response = api_exception_handler(exc, {})
    assert response is not None
    assert set(response.data) == {"detail", "code", "errors"}
    return response


def test_nested_field_errors_are_flattened_to_dotted_paths():
    class Event(serializers.Serializer):
        occurred_at = serializers.DateTimeField()
        tags = serializers.ListField(child=serializers.IntegerField())

    class Batch(serializers.Serializer):
        carrier = serializers.CharField()
        events = Event(many=True)

    batch = Batch(
        data={
            "carrier": "",
            "events": [
                {"occurred_at": "2026-01-01T00:00:00Z", "tags": [1]},
                {"occurred_at": "2026-01-01T00:00:00Z", "tags": [1]},
                {"occurred_at": "2026-01-01T00:00:00Z", "tags": [1]},
                {"occurred_at": "yesterday", "tags": [1, "x"]},
            ],
        }
    )
    assert not batch.is_valid()
    response = _handle(exceptions.ValidationError(batch.errors))
    assert response.status_code == 400
    assert response.data["code"] == "invalid"
    assert response.data["detail"] == "Invalid input."
    assert set(response.data["errors"]) == {"carrier", "events.3.occurred_at", "events.3.tags.1"}
    assert all(isinstance(m, str) for ms in response.data["errors"].values() for m in ms)


def test_one_message_about_the_whole_request_is_the_detail():
    response = _handle(exceptions.ValidationError("Give at least one field."))
    assert response.data == {
        "detail": "Give at least one field.",
        "code": "invalid",
        "errors": {"non_field_errors": ["Give at least one field."]},
    }


def test_flatten_keeps_non_field_errors_and_list_messages():
    assert flatten_errors({"non_field_errors": ["a"], "x": ["b", "c"]}) == {
        "non_field_errors": ["a"],
        "x": ["b", "c"],
    }
    assert flatten_errors(["a", "b"]) == {"non_field_errors": ["a", "b"]}


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (exceptions.NotAuthenticated(), 401, "not_authenticated"),
        (exceptions.AuthenticationFailed(), 401, "authentication_failed"),
        (exceptions.PermissionDenied(), 403, "permission_denied"),
        (exceptions.NotFound(), 404, "not_found"),
        (exceptions.MethodNotAllowed("DELETE"), 405, "method_not_allowed"),
        (exceptions.ParseError(), 400, "parse_error"),
        (exceptions.UnsupportedMediaType("text/plain"), 415, "unsupported_media_type"),
        (exceptions.Throttled(wait=42), 429, "throttled"),
        (Http404("No Ticket matches the given query."), 404, "not_found"),
        (DjangoPermissionDenied(), 403, "permission_denied"),
    ],
)
def test_every_drf_error_answers_the_shape(exc, status, code):
    response = _handle(exc)
    assert response.status_code == status
    assert response.data["code"] == code
    assert response.data["errors"] == {}
    assert response.data["detail"]


def test_a_django_404_says_not_found_without_naming_the_model():
    assert _handle(Http404("No Ticket matches the given query.")).data["detail"] == "Not found."


def test_throttled_keeps_retry_after():
    response = _handle(exceptions.Throttled(wait=42))
    assert response["Retry-After"] == "42"


def test_the_detail_speaks_the_readers_language():
    with translation.override("zh-hans"):
        response = _handle(exceptions.NotFound())
    assert response.data["detail"] == "未找到。"


def test_an_unexpected_exception_is_left_to_the_500_handler():
    assert api_exception_handler(RuntimeError("boom"), {}) is None


# --- Through the real API ---------------------------------------------------------------------


@pytest.fixture
def agent_api(agent):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=agent).key}")
    return client


@pytest.mark.django_db
def test_anonymous_api_call_answers_401_in_the_shape():
    response = APIClient().get("/api/v1/tickets/")
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
        "errors": {},
    }
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.django_db
def test_a_wrong_method_answers_405_in_the_shape(agent_api):
    response = agent_api.delete("/api/v1/tickets/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert "Allow" in response


@pytest.mark.django_db
def test_malformed_json_answers_400_parse_error(agent_api):
    response = agent_api.post(
        "/api/v1/tickets/", data=b"{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert response.json()["errors"] == {}


@pytest.mark.django_db
def test_another_media_type_answers_415(agent_api):
    response = agent_api.post("/api/v1/tickets/", data=b"x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


@pytest.mark.django_db
def test_field_errors_of_a_real_endpoint_are_under_errors(agent_api):
    response = agent_api.post("/api/v1/tickets/", {"subject": ""}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert {"customer", "subject", "body", "category"} <= set(body["errors"])


@pytest.mark.django_db
def test_a_webhook_batch_error_names_the_event_by_dotted_path(settings):
    import json
    import time

    from shipments.ingest import webhook_signature

    settings.RATELIMIT_ENABLE = False
    factories.CarrierFactory(code="DHL", webhook_secret="s3cret")
    good = {
        "event_id": "e1",
        "tracking_number": "T1",
        "occurred_at": "2026-11-02T09:30:00+01:00",
        "status": "X",
    }
    body = json.dumps(
        {"carrier": "DHL", "events": [good, {**good, "event_id": "e2", "occurred_at": "no"}]}
    ).encode()
    response = APIClient().post(
        "/api/v1/tracking-events/",
        data=body,
        content_type="application/json",
        HTTP_X_SIGNATURE=webhook_signature(secret="s3cret", body=body),
        HTTP_X_TIMESTAMP=str(int(time.time())),
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["events.1.occurred_at"]


# --- Found by the schemathesis run (make fuzz) ------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "moment",
    [
        "2026-01-17T14:17:05+18:40",  # an offset ISO 8601 allows and PostgreSQL refuses
        "1153-01-17T14:17:05+18:40",
        "2026-01-17T14:17:05-23:59",
    ],
)
def test_a_moment_with_any_utc_offset_filters_tickets(agent_api, moment):
    ticket = factories.TicketFactory()
    response = agent_api.get("/api/v1/tickets/", {"updated_after": moment})
    assert response.status_code == 200
    assert response.json()["count"] in (0, 1)
    assert ticket.pk


@pytest.mark.django_db
def test_a_moment_that_leaves_the_calendar_in_utc_is_a_field_error(agent_api):
    response = agent_api.get("/api/v1/tickets/", {"updated_after": "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["updated_after"]


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["DHL\u0000", "\ud9eb\udece", "D\u0007"])
def test_an_unsigned_webhook_naming_an_impossible_carrier_is_refused_not_a_500(settings, code):
    import json

    settings.RATELIMIT_ENABLE = False
    body = json.dumps({"carrier": code, "events": []}).encode()
    response = APIClient().post(
        "/api/v1/tracking-events/",
        data=body,
        content_type="application/json",
        HTTP_X_SIGNATURE="sha256=00",
        HTTP_X_TIMESTAMP="5000",
    )
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
