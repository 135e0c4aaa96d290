"""One shape for every error the API answers, whatever raised it.

    {"detail": "<a sentence in the reader's language>",
     "code": "<machine code: invalid, not_found, permission_denied, throttled, ...>",
     "errors": {"<field>" or "<field>.<index>.<sub-field>": ["<message>", ...]}}

`errors` is {} when the error is not about fields. Three doors lead here:

1. `api_exception_handler`, DRF's EXCEPTION_HANDLER: every exception a DRF view raises
   (ValidationError, NotAuthenticated, PermissionDenied, NotFound, MethodNotAllowed, Throttled,
   ParseError, UnsupportedMediaType, Django's Http404 and PermissionDenied). Headers DRF sets
   (WWW-Authenticate, Retry-After, Allow) are kept.
2. `error_response`, for the Django-level handlers in core.views: a URL that matches no route
   (a malformed id included), a 400/403 Django raised itself, a server error, under /api/.
3. `add_error_responses`, a drf-spectacular postprocessing hook: the `Error` component, and
   the error answers of every operation in /api/schema/.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.utils.encoding import force_str
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

API_PATH_PREFIX = "/api/"

# Codes of the errors Django answers before (or after) any DRF view.
CODE_BAD_REQUEST = "bad_request"
CODE_PERMISSION_DENIED = exceptions.PermissionDenied.default_code
CODE_NOT_FOUND = exceptions.NotFound.default_code
CODE_SERVER_ERROR = "server_error"
CODE_CSRF_FAILED = "csrf_failed"
CODE_CONFLICT = "conflict"

BAD_REQUEST = _("Bad request.")
SERVER_ERROR = _("A server error occurred. It has been logged; please try again later.")
CSRF_FAILED = _("CSRF check failed: reload the page and try again.")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PATH_PREFIX)


def error_body(detail: Any, code: str, errors: dict[str, list[str]] | None = None) -> dict:
    return {"detail": force_str(detail), "code": code, "errors": errors or {}}


def error_response(detail: Any, code: str, status: int) -> JsonResponse:
    """A JSON error for a Django-level failure under /api/ (no DRF view ran)."""
    return JsonResponse(error_body(detail, code), status=status)


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {dotted path: [messages]}.

    {"events": [{}, {"occurred_at": ["x"]}]} -> {"events.1.occurred_at": ["x"]}; a ListField's
    {"tags": {2: ["x"]}} -> {"tags.2": ["x"]}; messages with no field go under
    `non_field_errors` (DRF's NON_FIELD_ERRORS_KEY).
    """
    flat: dict[str, list[str]] = {}

    def add(key: str, message: Any) -> None:
        flat.setdefault(key or api_settings.NON_FIELD_ERRORS_KEY, []).append(force_str(message))

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list | tuple):
            for index, item in enumerate(node):
                if isinstance(item, dict | list | tuple):
                    # A list serializer's errors: one entry per item, {} for the valid ones.
                    walk(item, f"{path}.{index}" if path else str(index))
                else:
                    add(path, item)
        else:
            add(path, node)

    walk(detail, prefix)
    return flat


def _as_api_exception(exc: Exception) -> exceptions.APIException | None:
    # The same conversions DRF's own handler makes. A 404 says the generic (translated)
    # message: Django's "No Ticket matches the given query." names a model and is English only.
    # A refusal keeps the reason our code gave (services raise translated messages).
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(*exc.args[:1])
    if isinstance(exc, exceptions.APIException):
        return exc
    return None


def _detail_and_errors(exc: exceptions.APIException) -> tuple[str, str, dict[str, list[str]]]:
    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError) or isinstance(detail, dict | list):
        errors = flatten_errors(detail)
        messages = errors.get(api_settings.NON_FIELD_ERRORS_KEY, [])
        if len(errors) == 1 and len(messages) == 1:
            # One message about the request as a whole: say it.
            return messages[0], exceptions.ValidationError.default_code, errors
        return (
            force_str(exceptions.ValidationError.default_detail),
            exceptions.ValidationError.default_code,
            errors,
        )
    code = getattr(detail, "code", None) or exc.default_code
    return force_str(detail), code, {}


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: DRF's handling (status, headers, rollback), our body.

    Returns None for anything that is not an API error, so Django's handler500 answers (in the
    same shape, see core.views.server_error).
    """
    response = drf_exception_handler(exc, context)
    api_exc = _as_api_exception(exc)
    if response is None or api_exc is None:
        return response
    detail, code, errors = _detail_and_errors(api_exc)
    response.data = error_body(detail, code, errors)
    return response


# --- OpenAPI ----------------------------------------------------------------------------------

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error of the API, whatever its status.",
    "properties": {
        "detail": {
            "type": "string",
            "description": "What went wrong, in the reader's language (Accept-Language).",
        },
        "code": {
            "type": "string",
            "description": (
                "Machine-readable: invalid, parse_error, not_authenticated, "
                "authentication_failed, permission_denied, not_found, method_not_allowed, "
                "unsupported_media_type, throttled, conflict, bad_request, server_error, ..."
            ),
        },
        "errors": {
            "type": "object",
            "description": (
                "Field errors by dotted path (`events.3.occurred_at`); messages about the "
                "request as a whole under `non_field_errors`. Empty when not about fields."
            ),
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["detail", "code", "errors"],
    "example": {
        "detail": "Invalid input.",
        "code": "invalid",
        "errors": {"events.3.occurred_at": ["Give a time zone offset."]},
    },
}

# Answers any operation may give: bad input or a malformed request; no credentials or a bad
# signature (401); a role that may not (403); an unknown id or route, or an invalid page or
# cursor (404); a method the route does not have (405); a body too large (413) or of another
# media type (415); a rate limit (429, with Retry-After). 409 is documented by the operations
# that can conflict. What an operation documents itself keeps its description.
ERROR_STATUSES = {
    "400": "Invalid input: see `errors`.",
    "401": "Not authenticated, or a bad signature.",
    "403": "Not allowed.",
    "404": "Not found.",
    "405": "Method not allowed.",
    "413": "Request body too large.",
    "415": "Unsupported media type.",
    "429": "Too many requests: retry after the Retry-After header's seconds.",
}
CONFLICT_DESCRIPTION = "Conflict: the resource changed since you read it."


def _extends_error(schema: dict, components: dict) -> bool:
    """Whether `schema` is (a reference to) a component with every field of the Error shape,
    e.g. a 409 that also says the current version."""
    ref = schema.get("$ref", "")
    target = components.get(ref.rsplit("/", 1)[-1], {}) if ref else schema
    return set(ERROR_SCHEMA["required"]) <= set(target.get("properties", {}))


def add_error_responses(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]).

    Every 4xx of every /api/ operation answers the `Error` component: the statuses of
    ERROR_STATUSES always, the others (409) where the operation documents them. An operation's
    own description of an error status is kept; its schema is replaced by `Error` unless it
    already extends it.
    """
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components[ERROR_COMPONENT] = ERROR_SCHEMA
    ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for path, operations in result.get("paths", {}).items():
        if not is_api_path(path):
            continue
        for method, operation in operations.items():
            if method not in {"get", "put", "post", "patch", "delete", "head", "options"}:
                continue
            responses = operation.setdefault("responses", {})
            for status_code, description in ERROR_STATUSES.items():
                responses.setdefault(status_code, {"description": description})
            for status_code, response in responses.items():
                if not status_code.startswith("4"):
                    continue
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if not (schema and _extends_error(schema, components)):
                    response["content"] = {"application/json": {"schema": ref}}
                if not response.get("description"):
                    response["description"] = ERROR_STATUSES.get(
                        status_code, CONFLICT_DESCRIPTION if status_code == "409" else ""
                    )
    _drop_unreferenced(result, components)
    return result


def _drop_unreferenced(result: dict, components: dict) -> None:
    """Remove the components nothing refers to any more (the views' old error bodies)."""
    while True:
        text = json.dumps(result)
        unused = [name for name in components if f'"#/components/schemas/{name}"' not in text]
        if not unused:
            return
        for name in unused:
            del components[name]


class ApiNotFoundAsJsonMiddleware:
    """An API path that matches no route answers the JSON 404 in development too.

    With DEBUG on (the embedded default of `make run`), Django answers a 404 with its technical
    HTML page instead of handler404; an integrator trying the API locally must get the same
    answer as in production, so an HTML 404 under /api/ is replaced by the JSON one.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code == 404
            and is_api_path(request.path)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return error_response(exceptions.NotFound.default_detail, CODE_NOT_FOUND, 404)
        return response
