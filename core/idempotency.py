"""The `Idempotency-Key` header of the API's create operations, read and locked one way.

A client that retries a create after a timeout sends the same key: the endpoint answers with
what the first request made instead of making it again. Each endpoint keeps the key with what
it made (a timeline row, in the same transaction); this module reads the header, serialises
requests that carry the same key, and documents the header in the OpenAPI schema.
"""

from __future__ import annotations

import hashlib

from django.db import connection
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_LENGTH = 255
INVALID_IDEMPOTENCY_KEY = _("Send an Idempotency-Key of 1 to 255 printable ASCII characters.")


def idempotency_key(request: Request) -> str:
    """The request's key ("" without one); a field error for one that is not 1-255 printable
    ASCII characters (surrounding spaces are stripped)."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return ""
    key = key.strip()
    if (
        not key
        or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH
        or not key.isascii()
        or not key.isprintable()
    ):
        raise ValidationError({"idempotency_key": [INVALID_IDEMPOTENCY_KEY]})
    return key


def lock_idempotency_key(scope: str, user, key: str) -> None:
    """Serialise requests with the same (`scope`, user, key) until the transaction ends
    (PostgreSQL advisory lock). Without it two requests could both find nothing made for the
    key and both make it. A hash collision only makes two unrelated requests wait."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(f"{scope}:{user.pk}:{key}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)]
        )


def idempotency_parameter(description: str) -> OpenApiParameter:
    """The header in the schema: what `idempotency_key` accepts, and what the endpoint does."""
    return OpenApiParameter(
        IDEMPOTENCY_HEADER,
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH,
            "pattern": "^[!-~]([ -~]*[!-~])?$",
        },
        OpenApiParameter.HEADER,
        description=description,
    )
