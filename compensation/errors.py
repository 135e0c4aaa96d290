"""The compensation engine's one error type.

Services (offer_request, offer_approve, issuance.issue, ...) raise `CompensationError` for every
refusal a user can meet: the view, the API serializer or the approval queue shows `message`
(already translated, user-facing), branches on `code` (a stable machine-readable string such as
"four_eyes", "already_decided", "note_required", "refund_exceeds_order"), and attaches the
message to `field` when the refusal concerns one input (e.g. "note", "amount"), else None.
"""

from __future__ import annotations


class CompensationError(Exception):
    """A refused compensation step: translated `message`, stable `code`, optional `field`."""

    def __init__(self, message, *, code: str = "invalid", field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.code = code
        self.field = field

    def __repr__(self) -> str:
        return f"CompensationError({str(self.message)!r}, code={self.code!r}, field={self.field!r})"
