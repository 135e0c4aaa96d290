"""The OpenAPI schema tells the truth: what the serializers require is marked required, what
they refuse is out of the documented range, and every error answers the one documented shape.
(schemathesis checks the whole API against it: tests/test_schema_fuzz.py, `make fuzz`.)"""

import pytest
from drf_spectacular.generators import SchemaGenerator

API_METHODS = {"get", "post", "patch", "put", "delete"}
ALWAYS_DOCUMENTED_ERRORS = {"400", "401", "403", "404", "405", "413", "415", "429"}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _component(schema, name):
    return schema["components"]["schemas"][name]


def _request_component(schema, path, method):
    ref = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return _component(schema, ref["$ref"].rsplit("/", 1)[-1])


def test_the_ticket_patch_marks_version_required(schema):
    body = _request_component(schema, "/api/v1/tickets/{id}/", "patch")
    assert "version" in body["required"]
    assert body["properties"]["version"]["minimum"] == 1


def test_a_message_body_has_its_minimum_length(schema):
    body = _request_component(schema, "/api/v1/tickets/{id}/messages/", "post")
    assert body["properties"]["body"]["minLength"] == 1
    assert "body" in body["required"]


def test_required_text_fields_of_every_request_refuse_the_empty_string(schema):
    for name in ("TicketCreate", "MessageCreate", "ShipmentCreate", "TrackingEventIn"):
        component = _component(schema, name)
        for field in component.get("required", []):
            prop = component["properties"][field]
            if prop.get("type") == "string" and "format" not in prop:
                assert prop.get("minLength", 0) >= 1, (name, field)


def test_integer_filters_document_their_range(schema):
    parameters = {
        p["name"]: p["schema"] for p in schema["paths"]["/api/v1/shipments/"]["get"]["parameters"]
    }
    assert parameters["lane"]["type"] == "integer"
    assert parameters["lane"]["minimum"] == 1
    assert parameters["lane"]["maximum"] == 2**63 - 1


def test_the_idempotency_key_documents_what_is_accepted(schema):
    (parameter,) = [
        p
        for p in schema["paths"]["/api/v1/tickets/"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    ]
    assert parameter["schema"]["maxLength"] == 255
    assert parameter["schema"]["pattern"]


def test_every_operation_answers_its_errors_in_the_error_component(schema):
    error = _component(schema, "Error")
    assert error["required"] == ["detail", "code", "errors"]
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        if path.startswith("/api/")
        for method, operation in item.items()
        if method in API_METHODS
    ]
    assert len(operations) >= 8
    for path, method, operation in operations:
        responses = operation["responses"]
        assert set(responses) >= ALWAYS_DOCUMENTED_ERRORS, (path, method)
        for status, response in responses.items():
            if not status.startswith("4"):
                continue
            ref = response["content"]["application/json"]["schema"]["$ref"]
            name = ref.rsplit("/", 1)[-1]
            assert {"detail", "code", "errors"} <= set(_component(schema, name)["properties"])


def test_the_ticket_conflict_extends_the_error_shape_with_the_version(schema):
    response = schema["paths"]["/api/v1/tickets/{id}/"]["patch"]["responses"]["409"]
    ref = response["content"]["application/json"]["schema"]["$ref"]
    conflict = _component(schema, ref.rsplit("/", 1)[-1])
    assert {"detail", "code", "errors", "current_version"} <= set(conflict["properties"])


def test_the_schema_generates_without_warnings(capsys):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
