"""Notice texts: pick the template for a notice, fill in its placeholders, count SMS segments.

The dispatcher renders at send time, so a notice tells the shipment's current state:

1. ``TemplateBook.load()`` reads every active template in one query, once per batch.
2. ``book.pick(kind, channel, language, region)`` finds the best variant (see ``pick``).
3. ``notice_context`` computes the placeholder values from the rows the dispatcher has already
   loaded (``select_related("customer", "shipment__carrier", "incident", "ticket")``), in the
   template's language, without a query of its own.
4. ``render_notice`` substitutes them with ``core.placeholders`` (a single pass: a value is
   never scanned again, and ``{x.__class__}``, ``{{ }}`` or ``{% %}`` stay as written). The
   result is plain text: the email backend sends it as text/plain, nothing marks it safe.

Optional values (``remedy``, ``reply``, ``survey_link``, ``progress_url``, ``incident``,
``location``) are empty when there is nothing to say, and **a body line that uses an empty
value is left out**, so a template can carry "As an apology, we offer you {remedy}." on a
line of its own for the notices that come with a remedy. Every other value always reads as
something sensible ("to be confirmed", "the carrier", ...), never "None".

The progress link (``{progress_url}``; ``{progress_link}`` is its old name, still accepted) is
the customer's progress page when the dispatcher minted a link for the notice's ticket
(``notifications.links``), else the carrier's tracking page. Its token is in clear only in the
text sent: ``Rendered.stored_subject`` / ``stored_body``, the copy the outbox row keeps for
agents, show the link's redacted form instead. The survey (``{survey_link}``) is a section of
the progress page, so it exists only with a minted link.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import formats, timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.middleware import valid_time_zone
from core.models import Channel, DelayCause, Language
from core.placeholders import placeholders_in, render_placeholders
from notifications.models import Notification, NotificationTemplate, RegionStyle
from shipments.models import DelayLevel

if TYPE_CHECKING:
    from notifications.links import MintedLink
    from shipments.models import Incident, Shipment

PLACEHOLDERS = (
    "customer_name",
    "order_number",
    "tracking_number",
    "carrier",
    "cause",
    "status",
    "location",
    "new_eta",
    "action",
    "remedy",
    "progress_url",
    "progress_link",
    "incident",
    "reply",
    "survey_link",
)

# Old names still accepted in a template (an admin may have typed one), with the same value as
# the name they stand for; the admin lists only the current names.
PLACEHOLDER_ALIASES = {"progress_link": "progress_url"}
DOCUMENTED_PLACEHOLDERS = tuple(name for name in PLACEHOLDERS if name not in PLACEHOLDER_ALIASES)

# Values that are "" when there is nothing to say; the body line using one is then dropped.
OPTIONAL_PLACEHOLDERS = frozenset(
    ("remedy", "reply", "survey_link", "progress_url", "progress_link", "incident", "location")
)

# Values from Notification.context, set by whoever queued the notice. (An older survey notice's
# context may still hold a "survey_link": it is ignored, the link is computed at render.)
CONTEXT_PLACEHOLDERS = ("remedy", "reply")

# The survey is a section of the progress page.
SURVEY_FRAGMENT = "#survey"

FALLBACK_LANGUAGE = Language.EN

# --- Words for missing values -------------------------------------------------------------------

NO_VALUE = pgettext_lazy("notice placeholder without a value", "—")
NO_NAME = pgettext_lazy("customer name in a notice when it is unknown", "customer")
NO_CARRIER = pgettext_lazy("carrier name in a notice when it is unknown", "the carrier")
NO_STATUS = pgettext_lazy("shipment status in a notice when it is unknown", "not reported yet")
NO_ETA = pgettext_lazy("new delivery estimate in a notice when there is none", "to be confirmed")

# The cause in plain words. Each reads after "Reason for the delay: " (a noun phrase).
CAUSE_WORDS = {
    DelayCause.CUSTOMS_HOLD: _("a customs inspection"),
    DelayCause.CONGESTION: _("port congestion or a strike"),
    DelayCause.CAPACITY: _("peak-season volumes at the carrier"),
    DelayCause.WEATHER: _("bad weather on the route"),
    DelayCause.SORTING: _("a sorting error at the carrier"),
    DelayCause.ADDRESS_ISSUE: _("a problem with the delivery address"),
    DelayCause.CARRIER_OUTAGE: _("a system outage at the carrier"),
    DelayCause.TRACKING_LOST: _("missing tracking updates from the carrier"),
    DelayCause.DAMAGE: _("damage in transit"),
    DelayCause.LOSS: _("the carrier cannot currently locate the parcel"),
}
CAUSE_BEING_CHECKED = _("still being checked with the carrier")

# What is being done, one sentence per cause.
CAUSE_ACTIONS = {
    DelayCause.CUSTOMS_HOLD: _(
        "We are in touch with the carrier's customs team and will supply any document customs "
        "asks for straight away."
    ),
    DelayCause.CONGESTION: _(
        "We have asked the carrier to put your parcel on the first available departure."
    ),
    DelayCause.CAPACITY: _("We have asked the carrier to give your parcel priority."),
    DelayCause.WEATHER: _(
        "The carrier will move your parcel on as soon as it is safe; we check the route daily."
    ),
    DelayCause.SORTING: _("We have asked the carrier to put your parcel back on the right route."),
    DelayCause.ADDRESS_ISSUE: _(
        "We are checking the delivery address with the carrier; if it needs a correction, "
        "just reply to this message."
    ),
    DelayCause.CARRIER_OUTAGE: _(
        "We are confirming your parcel's position with the carrier directly until its systems "
        "are back."
    ),
    DelayCause.TRACKING_LOST: _(
        "We have asked the carrier to locate your parcel and confirm where it is."
    ),
    DelayCause.DAMAGE: _(
        "We have asked the carrier to report on the damage, and we will make it right with a "
        "replacement or a refund."
    ),
    DelayCause.LOSS: _(
        "We have opened a search with the carrier; if your parcel is not found soon, we will "
        "send a replacement or refund you."
    ),
}
DEFAULT_ACTION = _(
    "We have asked the carrier for an explanation and are following your parcel closely."
)
# A "will be late" warning is a forecast, not a reported problem: with no cause from the
# carrier, its reason and action say so instead of "asked the carrier for an explanation".
FORECAST_CAUSE = _("our forecast from recent deliveries on the same route")
FORECAST_ACTION = _(
    "We are telling you early so that you can plan; we are watching your parcel and will "
    "write again if the estimate changes."
)
# Added to the cause's sentence when the delay is long.
LEVEL_ACTIONS = {
    DelayLevel.RED: _("A member of our team is following your parcel personally."),
    DelayLevel.LONG_DELAY: _(
        "A member of our team is following your parcel personally and will contact you if you "
        "would rather have a replacement or a refund than wait."
    ),
}


# --- Templates ----------------------------------------------------------------------------------


class NoTemplate(Exception):
    """No active template for a notice's kind and channel, in any fallback language or region."""


class TemplateBook:
    """The active templates, loaded once, and the fallback rule that picks one."""

    def __init__(self, templates: Iterable[NotificationTemplate]):
        self._templates = {
            (t.kind, t.channel, t.language, t.region_style): t for t in templates if t.is_active
        }

    @classmethod
    def load(cls) -> TemplateBook:
        return cls(NotificationTemplate.objects.filter(is_active=True))

    def __len__(self) -> int:
        return len(self._templates)

    def pick(self, kind: str, channel: str, language: str, region: str) -> NotificationTemplate:
        """The template for ``kind`` on ``channel``, trying in order (language, region),
        (language, any region), (English, region), (English, any region).

        A customer region without a style of its own ("other") is "any". Raises ``NoTemplate``.
        """
        if region not in RegionStyle.values:
            region = RegionStyle.ANY
        for variant in dict.fromkeys(
            (
                (language, region),
                (language, RegionStyle.ANY),
                (FALLBACK_LANGUAGE, region),
                (FALLBACK_LANGUAGE, RegionStyle.ANY),
            )
        ):
            template = self._templates.get((kind, channel, *variant))
            if template is not None:
                return template
        raise NoTemplate(f"no active template for {kind}/{channel} in {language} or en")


# --- Rendering ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    subject: str  # sent: may carry a progress link's token
    body: str  # sent: may carry a progress link's token
    language: str
    template_id: int
    sms_segments: int  # 0 unless the channel is SMS (counted on the text sent)
    # What the outbox row keeps (agents read it in the console and the admin): the text with
    # the progress link's redacted form in place of the link; the sent text without a link.
    stored_subject: str
    stored_body: str


def render_notice(
    notification: Notification,
    *,
    book: TemplateBook,
    now: dt.datetime,
    link: MintedLink | None = None,
) -> Rendered:
    """The text of ``notification`` from the best template, in that template's language.

    ``link``: the progress link minted for the notice's ticket (by the dispatcher), if any.
    """
    template = book.pick(
        notification.kind,
        notification.channel,
        notification.language,
        notification.customer.region,
    )
    context = notice_context(notification, now=now, link=link, language=template.language)
    subject = render_subject(template.subject, context)
    body = render_body(courtesies_left_to_the_reply(template.body, context["reply"]), context)
    return Rendered(
        subject=subject,
        body=body,
        language=template.language,
        template_id=template.pk,
        sms_segments=sms_segments(body) if notification.channel == Channel.SMS else 0,
        stored_subject=redact(subject, link),
        stored_body=redact(body, link),
    )


def redact(text: str, link: MintedLink | None) -> str:
    """``text`` with the link's redacted form wherever the link (with its token) appears."""
    if link is None or not link.url:
        return text
    return text.replace(link.url, link.redacted_url)


def render_subject(subject: str, context: Mapping[str, str]) -> str:
    """One line: a value with a line break must not start a second header line."""
    return " ".join(render_placeholders(subject, context, PLACEHOLDERS).split())


def render_body(body: str, context: Mapping[str, str]) -> str:
    """``body`` with its placeholders filled, without the lines whose optional value is empty."""
    lines = []
    for line in body.splitlines():
        if any(context.get(name) == "" for name in placeholders_in(line, PLACEHOLDERS)):
            continue
        lines.append(render_placeholders(line, context, PLACEHOLDERS))
    # A dropped paragraph leaves two blank lines in a row: keep one.
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


# --- Greeting and sign-off of an agent's reply ------------------------------------------------
#
# A reply notice wraps the agent's text ({reply}) in the template's greeting and sign-off. Agents
# often write their own ("Hello Carla," ... "Kind regards, Alice"; macros do too), and a customer
# should not be greeted twice. Both languages are recognised whatever the notice's language.

# The first line of a text greets: "Hello Carla,", "Hi,", "Dear Ms Li", "Good morning";
# "张女士，您好：", "您好！", "尊敬的客户", "亲爱的李先生", "下午好".
_GREETING = re.compile(
    r"^(?:(?:hello|hi|hey|dear|greetings|good\s+(?:morning|afternoon|evening|day))\b"
    r"|.{0,40}?(?:您好|你好|大家好)|(?:尊敬的|亲爱的|早上好|上午好|下午好|晚上好))",
    re.IGNORECASE,
)
# A line closes a text: "Kind regards,", "Best wishes", "Sincerely", "Thanks!", "Cheers, Alice";
# "此致", "敬礼", "祝好！", "客服团队敬上", "谢谢！". A whole sentence ("Thank you for your
# patience.") is not a sign-off: only a short closing phrase, optionally followed by a name.
_SIGN_OFF = re.compile(
    r"^(?:(?:(?:kind|best|warm|warmest|many|with\s+(?:kind|best))\s+)?regards"
    r"|(?:best|warm|kind)\s+wishes|all\s+the\s+best|sincerely|yours(?:\s+(?:sincerely|truly"
    r"|faithfully))?|cheers|(?:many\s+)?thanks(?:\s+again)?|thank\s+you(?:\s+again)?"
    r"|take\s+care)\b[\s,.!]*(?:\S+(?:\s+\S+)?)?$"
    r"|(?:此致|敬礼|祝好|顺祝商祺|顺颂商祺|祝您生活愉快|谢谢|多谢|感谢您?)[！!。，,\s]*$"
    r"|.{0,20}(?:敬上|谨上|敬启)[！!。\s]*$",
    re.IGNORECASE,
)
# How many closing lines of the agent's text may hold the sign-off ("Kind regards,\nAlice\n
# Customer Service" puts it third from the end).
_SIGN_OFF_LINES = 3


def reply_greets(reply: str) -> bool:
    """The agent's text starts with a greeting of its own."""
    lines = [line.strip() for line in reply.splitlines() if line.strip()]
    return bool(lines) and bool(_GREETING.match(lines[0]))


def reply_signs_off(reply: str) -> bool:
    """One of the agent's last lines is a sign-off of its own."""
    lines = [line.strip() for line in reply.splitlines() if line.strip()]
    return any(_SIGN_OFF.match(line) for line in lines[-_SIGN_OFF_LINES:])


def courtesies_left_to_the_reply(body: str, reply: str) -> str:
    """The template ``body`` without its greeting when the agent's ``reply`` greets, and
    without its sign-off when the reply signs off.

    1. Only a template that shows the reply ({reply}) and a reply that is not empty.
    2. The template's greeting is its first non-empty line, before the reply, if it greets.
    3. Its sign-off is its last paragraph, after the reply, if that paragraph's first line
       closes (a paragraph that only invites an answer stays).
    """
    if not reply.strip() or "{reply}" not in body:
        return body
    lines = body.splitlines()
    reply_at = next(i for i, line in enumerate(lines) if "{reply}" in line)
    drop: set[int] = set()
    if reply_greets(reply):
        first = next((i for i, line in enumerate(lines) if line.strip()), None)
        if first is not None and first < reply_at and _GREETING.match(lines[first].strip()):
            drop.add(first)
    if reply_signs_off(reply):
        end = len(lines)
        while end > reply_at + 1 and not lines[end - 1].strip():
            end -= 1
        start = end
        while start > reply_at + 1 and lines[start - 1].strip():
            start -= 1
        if start < end and _SIGN_OFF.match(lines[start].strip()):
            drop.update(range(start, end))
    if not drop:
        return body
    kept = "\n".join(line for i, line in enumerate(lines) if i not in drop)
    # A dropped paragraph leaves blank lines around it: at most one in a row, none at the ends.
    return re.sub(r"\n{3,}", "\n\n", kept).strip("\n")


def notice_context(
    notification: Notification,
    *,
    now: dt.datetime,
    link: MintedLink | None = None,
    language: str | None = None,
) -> dict[str, str]:
    """The placeholder values of ``notification`` as plain text, in ``language`` (default: the
    notice's), dates in the customer's time zone.

    ``link``: the progress link minted for the notice's ticket, if any (else the progress link
    is the carrier's tracking page, and there is no survey link).

    Reads only the notice's customer, shipment (and its carrier), incident and context: no
    query when the caller loaded them with select_related.
    """
    customer = notification.customer
    shipment = notification.shipment
    incident = notification.incident
    language = language or notification.language
    extra = notification.context if isinstance(notification.context, dict) else {}
    level = notification.level or (shipment.delay_level if shipment else "")
    with translation.override(language):
        values = {
            "customer_name": customer.name.strip() or str(NO_NAME),
            "order_number": (shipment.order_number if shipment else "") or str(NO_VALUE),
            "tracking_number": (shipment.tracking_number if shipment else "") or str(NO_VALUE),
            "carrier": _carrier_name(shipment),
            "cause": str(_cause_words(_cause(shipment, incident), level)),
            "status": str(shipment.get_status_display()) if shipment else str(NO_STATUS),
            "location": shipment.last_location.strip() if shipment else "",
            "new_eta": _new_eta(shipment, customer.time_zone, now),
            "action": _action(_cause(shipment, incident), level),
            "progress_url": _progress_url(link, shipment),
            "survey_link": f"{link.url}{SURVEY_FRAGMENT}" if link is not None and link.url else "",
            "incident": _incident_text(incident, language),
        }
    for name in CONTEXT_PLACEHOLDERS:
        value = extra.get(name)
        values[name] = "" if value is None else str(value).strip()
    for alias, name in PLACEHOLDER_ALIASES.items():
        values[alias] = values[name]
    return values


def _carrier_name(shipment: Shipment | None) -> str:
    if shipment is None:
        return str(NO_CARRIER)
    return shipment.carrier.name.strip() or str(NO_CARRIER)


def _cause(shipment: Shipment | None, incident: Incident | None) -> str:
    """The delay's cause, else the carrier's sub-status, else the incident's."""
    candidates = []
    if shipment is not None:
        candidates += [shipment.delay_cause, shipment.cause]
    if incident is not None:
        candidates.append(incident.cause)
    for cause in candidates:
        if cause not in (DelayCause.NONE, DelayCause.UNKNOWN, ""):
            return cause
    return DelayCause.UNKNOWN


def _cause_words(cause: str, level: str = ""):
    if level == DelayLevel.WILL_BE_LATE and cause == DelayCause.UNKNOWN:
        return FORECAST_CAUSE
    return CAUSE_WORDS.get(cause, CAUSE_BEING_CHECKED)


def _action(cause: str, level: str) -> str:
    if level == DelayLevel.WILL_BE_LATE and cause == DelayCause.UNKNOWN:
        return str(FORECAST_ACTION)
    sentences = [str(CAUSE_ACTIONS.get(cause, DEFAULT_ACTION))]
    if level in LEVEL_ACTIONS:
        sentences.append(str(LEVEL_ACTIONS[level]))
    return " ".join(sentences)


def _new_eta(shipment: Shipment | None, time_zone: str, now: dt.datetime) -> str:
    """Our estimate, else the carrier's, as a date in the customer's zone (no time of day: the
    estimate is lane statistics, not a delivery slot). An estimate whose day has passed is
    stale, and the promise is what was missed: both read "to be confirmed"."""
    eta = shipment.told_eta if shipment is not None else None
    if eta is None:
        return str(NO_ETA)
    zone = zoneinfo.ZoneInfo(valid_time_zone(time_zone) or settings.DEFAULT_DISPLAY_TIME_ZONE)
    local = timezone.localtime(eta, zone)
    if local.date() < timezone.localtime(now, zone).date():
        return str(NO_ETA)
    return formats.date_format(local, "DATE_FORMAT")


def _progress_url(link: MintedLink | None, shipment: Shipment | None) -> str:
    """The customer's progress page (the minted link), else the carrier's tracking page, else
    nothing."""
    if link is not None and link.url:
        return link.url
    if shipment is not None and shipment.carrier.tracking_url_template:
        # Carrier URL templates are admin input too: the same safe substitution.
        return render_placeholders(
            shipment.carrier.tracking_url_template,
            {"tracking_number": shipment.tracking_number},
            ("tracking_number",),
        ).strip()
    return ""


def _incident_text(incident: Incident | None, language: str) -> str:
    """The incident's public explanation in the notice's language, else in English, else its
    title."""
    if incident is None:
        return ""
    return incident.explanation(language) or incident.title.strip()


# --- SMS ----------------------------------------------------------------------------------------

# GSM 03.38 default alphabet (one septet each) and its extension table (escape + one septet).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM_SINGLE, GSM_PART = 160, 153  # septets; a multi-part message spends 7 on its header
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units


def is_gsm(text: str) -> bool:
    return all(char in GSM_BASIC or char in GSM_EXTENSION for char in text)


def sms_segments(text: str) -> int:
    """How many SMS parts ``text`` takes: GSM-7 (160 alone, 153 per part; an extension
    character such as ``€`` or ``{`` costs 2) when every character is in the GSM alphabet,
    else UCS-2 (70 alone, 67 per part; a character outside the BMP, e.g. an emoji, costs 2).
    A 2-unit character is never split between two parts. "" takes 0."""
    if not text:
        return 0
    if is_gsm(text):
        sizes = [2 if char in GSM_EXTENSION else 1 for char in text]
        single, part = GSM_SINGLE, GSM_PART
    else:
        sizes = [2 if ord(char) > 0xFFFF else 1 for char in text]
        single, part = UCS2_SINGLE, UCS2_PART
    if sum(sizes) <= single:
        return 1
    parts, used = 1, 0
    for size in sizes:
        if used + size > part:
            parts, used = parts + 1, 0
        used += size
    return parts


def sms_single_limit(text: str) -> int:
    """Units that fit in one SMS for this text's encoding (for messages shown in the admin)."""
    return GSM_SINGLE if is_gsm(text) else UCS2_SINGLE


# --- Sample values (admin validation and preview) ----------------------------------------------

# A progress link: SITE_URL, "/t/" and a 43-character token.
_SAMPLE_LINK = "https://help.shop.example/t/" + "Xy3-" * 10 + "Q7z/"

# Realistic, on the long side: an SMS template that fits with these fits nearly always.
SAMPLE_CONTEXT: dict[str, dict[str, str]] = {
    Language.EN: {
        "customer_name": "Alexandra Montgomery-Whitfield",
        "order_number": "ORD-2026-0048213",
        "tracking_number": "1Z999AA10123456784",
        "carrier": "DHL Parcel Europe",
        "cause": "port congestion or a strike",
        "status": "In transit",
        "location": "Frankfurt am Main, DE",
        "new_eta": "Sept. 30, 2026",
        "action": "We have asked the carrier to put your parcel on the first available departure.",
        "remedy": "a coupon worth 15.00 EUR for your next order",
        "progress_url": _SAMPLE_LINK,
        "progress_link": _SAMPLE_LINK,
        "incident": "A strike at the port of Rotterdam is holding up container traffic. "
        "The unions and the port have agreed to resume work on Monday.",
        "reply": "Thank you for your patience. I have spoken to the carrier, and your parcel "
        "will be on the next truck to Berlin.",
        "survey_link": f"{_SAMPLE_LINK}{SURVEY_FRAGMENT}",
    },
    Language.ZH_HANS: {
        "customer_name": "欧阳晓峰",
        "order_number": "ORD-2026-0048213",
        "tracking_number": "SF1234567890123",
        "carrier": "顺丰速运",
        "cause": "港口拥堵或罢工",
        "status": "运输中",
        "location": "上海浦东国际机场",
        "new_eta": "2026年9月30日",
        "action": "我们已请承运商安排您的包裹搭乘最早一班运输。",
        "remedy": "一张价值15.00欧元的优惠券",
        "progress_url": _SAMPLE_LINK,
        "progress_link": _SAMPLE_LINK,
        "incident": "鹿特丹港罢工导致集装箱运输受阻，港方与工会已商定周一起恢复作业。",
        "reply": "感谢您的耐心等待。我已与承运商确认，您的包裹将搭乘下一班发往北京的货车。",
        "survey_link": f"{_SAMPLE_LINK}{SURVEY_FRAGMENT}",
    },
}


def sample_context(language: str) -> dict[str, str]:
    return SAMPLE_CONTEXT.get(language, SAMPLE_CONTEXT[Language.EN])


def render_sample(template: NotificationTemplate) -> Rendered:
    """``template`` filled with the sample values of its language (admin check and preview)."""
    context = sample_context(template.language)
    body = render_body(template.body, context)
    subject = render_subject(template.subject, context)
    return Rendered(
        subject=subject,
        body=body,
        language=template.language,
        template_id=template.pk or 0,
        sms_segments=sms_segments(body) if template.channel == Channel.SMS else 0,
        stored_subject=subject,
        stored_body=body,
    )
