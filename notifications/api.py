"""Notifications API (DRF): delivery receipts from channel providers.

Thin views: check the provider's signature, validate with a serializer, call
notifications.receipts, answer at once (providers time out and retry slow webhooks).
"""

from __future__ import annotations

from django.conf import settings
from django.http import QueryDict
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.outside_input import request_body_read
from core.ratelimit import rate_limited
from notifications.backends import sms_status_callback_url
from notifications.receipts import receipt_record, twilio_signature_valid

TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
BAD_SIGNATURE = _("The request is not signed with our provider key.")

_DETAIL = inline_serializer("ReceiptDetail", fields={"detail": serializers.CharField()})


class SMSReceiptSerializer(serializers.Serializer):
    """The fields of a Twilio status callback we use; the others it sends are ignored."""

    MessageSid = serializers.CharField(max_length=128, help_text="The provider's message id.")
    MessageStatus = serializers.CharField(
        max_length=32,
        help_text="queued, sent, delivered, undelivered or failed (other values are ignored).",
    )
    ErrorCode = serializers.CharField(
        max_length=16, required=False, allow_blank=True, default="", help_text="On failure."
    )


class ReceiptResultSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=["delivered", "failed", "noted", "unchanged", "unknown", "ignored"],
        help_text="What the receipt changed; repeated receipts answer `unchanged`.",
    )


SMS_RECEIPT_DESCRIPTION = """
The SMS provider's status callback (Twilio's format): a form post with `MessageSid`,
`MessageStatus` and, on failure, `ErrorCode`. Set as `StatusCallback` on every message sent.

**Authentication** is by signature only: `X-Twilio-Signature` is the base64 HMAC-SHA1, keyed
with the provider auth token (`SMS_API_KEY`), of the full callback URL followed by every POST
parameter's name and value sorted by name. A wrong or missing signature answers 403. A body
over 16 KiB (setting `RECEIPTS_MAX_BODY_BYTES`) answers 413 unread; a signed body without the
required fields (an empty one included) answers 400.

**Rate limit**: `RATELIMIT_RECEIPTS` requests per client address (600 a minute by default),
counted before anything else; over it, 429 with `Retry-After` (seconds until the window resets).

`delivered` marks the notification delivered; `undelivered` and `failed` mark it failed and
queue the customer's next channel; other statuses change nothing. Receipts for unknown message
ids are ignored. Repeated receipts change nothing, so the provider may retry freely.
""".strip()


# Per client address, before the signature is checked or the body read.
@method_decorator(rate_limited("receipts", "RATELIMIT_RECEIPTS"), name="post")
class SMSReceiptView(APIView):
    authentication_classes: list = []  # the provider proves itself with the signature
    permission_classes = [AllowAny]
    parser_classes = [FormParser]

    @extend_schema(
        operation_id="sms_receipts_record",
        summary="SMS provider webhook: delivery receipts",
        description=SMS_RECEIPT_DESCRIPTION,
        tags=["delivery receipts"],
        auth=[],
        request={"application/x-www-form-urlencoded": SMSReceiptSerializer},
        parameters=[
            OpenApiParameter(
                TWILIO_SIGNATURE_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="base64 HMAC-SHA1 of URL + sorted params, keyed with the auth token",
            )
        ],
        responses={
            200: ReceiptResultSerializer,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="A required field is missing."),
            403: OpenApiResponse(_DETAIL, description="Bad or missing signature."),
            413: OpenApiResponse(_DETAIL, description="The body is over the size limit."),
        },
        examples=[
            OpenApiExample(
                "Delivered",
                value={
                    "MessageSid": "SM0123456789abcdef0123456789abcdef",
                    "MessageStatus": "delivered",
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        received_at = timezone.now()
        # The size from Content-Length before anything is read (413); a form body parses
        # flat (no nesting to fear). An empty body parses to {} rather than a QueryDict: no
        # parameters, so the signature and then the required fields refuse it.
        request_body_read(request, max_bytes=settings.RECEIPTS_MAX_BODY_BYTES)
        form = request.data if isinstance(request.data, QueryDict) else QueryDict()
        params = [(name, value) for name, values in form.lists() for value in values]
        if not twilio_signature_valid(
            auth_token=settings.SMS_API_KEY,
            # The URL the provider was given, and the one we were reached at (they differ
            # behind a proxy that terminates TLS or rewrites the host).
            urls=[sms_status_callback_url(), request.build_absolute_uri()],
            params=params,
            signature=request.headers.get(TWILIO_SIGNATURE_HEADER),
        ):
            raise PermissionDenied(BAD_SIGNATURE)
        serializer = SMSReceiptSerializer(data=form)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        outcome = receipt_record(
            provider_message_id=data["MessageSid"],
            status=data["MessageStatus"],
            error_code=data["ErrorCode"],
            at=received_at,
        )
        return Response(ReceiptResultSerializer({"outcome": outcome}).data)
