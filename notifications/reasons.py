"""Why a notice was not sent, told in the reader's language.

The dispatcher decides in a worker, whose language is the site's; the agent who asks "why did
this customer not hear from us?" may read Chinese. So a reason is kept as its parts: each an
untranslated message (marked with gettext_noop, so it is in the catalogue) and its values,
stored on the notification (`suppressed_reason_parts`) and translated when shown
(`Notification.suppressed_reason_text`). The English sentence is stored too
(`suppressed_reason`), for the admin, search and exports.

Values are stored raw and made readable when shown: a channel or shipment status code becomes
its label in the reader's language, a moment (ISO 8601) is shown in the reader's time zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import formats, timezone, translation
from django.utils.translation import gettext, gettext_noop

from core.models import Channel
from shipments.models import ShipmentStatus

# Parameters whose stored value is a code or a moment (see `_readable`).
CHANNEL_PARAMS = ("channel",)
CHANNEL_LIST_PARAMS = ("channels",)
STATUS_PARAMS = ("status",)
MOMENT_PARAMS = ("time",)

PARTS_SEPARATOR = gettext_noop("; ")

# The messages (their translations are in locale/; the dispatcher builds its reasons from these).
SHIPMENT_FINAL = gettext_noop("the parcel was %(status)s before the notice went out")
BACK_ON_TIME = gettext_noop("the parcel was back on time before the notice went out")
ARRIVED_BEFORE_RECOVERY = gettext_noop("the parcel arrived before the recovery notice went out")
TICKET_REOPENED = gettext_noop("the ticket was reopened before the survey went out")
SURVEY_REPLACED = gettext_noop(
    "the ticket was solved again before the survey went out: the next resolution's survey "
    "replaces it"
)
WITHIN_TOLERANCE = gettext_noop(
    "the delivery estimate slipped %(slip)s h, within the customer's tolerance of %(limit)s h"
)
FREQUENCY_CAP = gettext_noop("frequency cap: the customer already heard about a delay at %(time)s")
OPTED_OUT = gettext_noop("opted out of %(channel)s")
NO_ADDRESS = gettext_noop("no address for %(channel)s")
ALREADY_FAILED = gettext_noop("already failed on %(channels)s")
NO_CHANNEL_LEFT = gettext_noop("no channel left")
# Not a refusal: the notice waits (still pending) and goes out when the quiet hours end.
QUIET_HOURS = gettext_noop("held back for the customer's quiet hours until %(time)s")


@dataclass(frozen=True)
class Part:
    """One sentence of a reason: an untranslated message and its raw values."""

    message: str
    params: dict = field(default_factory=dict)

    def text(self) -> str:
        """The sentence in the active language (and time zone)."""
        translated = gettext(self.message)
        if not self.params:
            return translated
        return translated % {name: _readable(name, value) for name, value in self.params.items()}


def render(parts: list[Part]) -> str:
    """The whole reason in the active language."""
    return gettext(PARTS_SEPARATOR).join(part.text() for part in parts)


def render_english(parts: list[Part]) -> str:
    """The reason as stored in `suppressed_reason` (English, UTC)."""
    with translation.override("en"), timezone.override(dt.UTC):
        return render(parts)


def to_json(parts: list[Part]) -> list[list]:
    return [[part.message, part.params] for part in parts]


def from_json(value) -> list[Part]:
    """Parts read back from the database; anything malformed yields no parts (the stored
    English sentence is shown instead)."""
    if not isinstance(value, list):
        return []
    parts = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            return []
        params = item[1] if isinstance(item[1], dict) else {}
        parts.append(Part(item[0], params))
    return parts


def text_of(stored_parts, fallback: str) -> str:
    """A stored reason in the active language; `fallback` (the stored sentence) when there are
    no parts, or when a part no longer formats (a message changed since it was stored)."""
    parts = from_json(stored_parts)
    if not parts:
        return fallback
    try:
        return render(parts)
    except (KeyError, TypeError, ValueError):
        return fallback


def _readable(name: str, value):
    if name in CHANNEL_PARAMS:
        return _channel_label(value)
    if name in CHANNEL_LIST_PARAMS and isinstance(value, list):
        return ", ".join(_channel_label(code) for code in value)
    if name in STATUS_PARAMS:
        try:
            return str(ShipmentStatus(value).label).lower()
        except ValueError:
            return value
    if name in MOMENT_PARAMS and isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        local = timezone.localtime(moment)
        return f"{formats.date_format(local, 'Y-m-d H:i')} {local.tzname()}"
    return value


def _channel_label(code) -> str:
    try:
        return str(Channel(code).label)
    except ValueError:
        return str(code)
