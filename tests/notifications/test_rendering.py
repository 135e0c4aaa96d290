"""Notice rendering: template choice with fallbacks, placeholder values, safe substitution, SMS."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest
import time_machine
from django.template import engines
from django.utils import translation
from django.utils.safestring import SafeData

from notifications.links import MintedLink
from notifications.models import NoticeKind, Notification, NotificationTemplate
from notifications.rendering import (
    PLACEHOLDERS,
    SAMPLE_CONTEXT,
    NoTemplate,
    Rendered,
    TemplateBook,
    notice_context,
    render_notice,
    reply_greets,
    reply_signs_off,
    sms_segments,
)
from tests import factories
from tickets.macros import render_for_ticket
from tickets.models import Macro

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
# Late on the 14th in UTC: already the 15th in Berlin and Shanghai, still the 14th in New York.
ETA = dt.datetime(2026, 3, 14, 23, 30, tzinfo=dt.UTC)
HAN = re.compile(r"[\u4e00-\u9fff]")
CHANNELS = ("email", "sms", "push")
_carriers = itertools.count()
LANGUAGES = ("en", "zh-hans")


@pytest.fixture(autouse=True)
def frozen_time():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def book() -> TemplateBook:
    return TemplateBook.load()


def make_notice(
    *,
    kind: str = "delay_notice",
    channel: str = "email",
    language: str = "en",
    region: str = "other",
    name: str = "Carla Customer",
    time_zone: str = "Europe/Berlin",
    with_ticket: bool = True,
    with_shipment: bool = True,
    incident=None,
    context: dict | None = None,
    **shipment_fields,
) -> Notification:
    customer = factories.CustomerFactory(
        name=name, language=language, region=region, time_zone=time_zone
    )
    shipment = ticket = None
    if with_shipment:
        carrier = factories.CarrierFactory(
            code=f"dhl{next(_carriers)}",
            name="DHL",
            tracking_url_template="https://track.example/dhl?id={tracking_number}",
        )
        fields = {
            "order_number": "ORD-0042",
            "tracking_number": "TRK000042",
            "status": "in_transit",
            "last_location": "Leipzig Hub, DE",
            "predicted_eta": ETA,
            "carrier_eta": ETA - dt.timedelta(days=2),
            "delay_level": "orange",
            "delay_detected_at": NOW,
            "delay_cause": "customs_hold",
            **shipment_fields,
        }
        shipment = factories.ShipmentFactory(customer=customer, carrier=carrier, **fields)
    if with_ticket:
        ticket = factories.TicketFactory(customer=customer, shipment=shipment, language=language)
    return factories.NotificationFactory(
        customer=customer,
        shipment=shipment,
        ticket=ticket,
        incident=incident,
        kind=kind,
        channel=channel,
        language=language,
        context=context or {},
    )


def as_dispatched(notification: Notification) -> Notification:
    """The row as the dispatcher loads it: everything rendering reads, joined in one query."""
    return Notification.objects.select_related(
        "customer", "shipment__carrier", "incident", "ticket"
    ).get(pk=notification.pk)


def minted(ticket, *, link_id: int = 7) -> MintedLink:
    """A progress link as the portal mints it: the token in clear in `url` only."""
    token = f"tok{ticket.pk}-" + "S3cr3t" * 6
    return MintedLink(
        id=link_id,
        ticket_id=ticket.pk,
        url=f"https://help.shop.example/t/{token}/",
        redacted_url="https://help.shop.example/t/tok…/",
    )


def template(**fields) -> NotificationTemplate:
    defaults = {"kind": "delay_notice", "channel": "email", "language": "en", "subject": "S"}
    return NotificationTemplate(pk=fields.pop("pk", 1), **{**defaults, **fields})


# ---- Every default renders -------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("kind", NoticeKind.values)
def test_every_kind_renders_in_both_languages_on_every_channel(book, kind, channel, language):
    incident = factories.IncidentFactory(
        title="Strike at Rotterdam", public_explanation="A strike at the port of Rotterdam."
    )
    notice = make_notice(
        kind=kind,
        channel=channel,
        language=language,
        incident=incident,
        context={
            "remedy": "a coupon worth 10.00 EUR",
            "reply": "Your parcel is on the next truck.",
        },
    )
    link = minted(notice.ticket)

    rendered = render_notice(as_dispatched(notice), book=book, now=NOW, link=link)

    assert isinstance(rendered, Rendered)
    assert rendered.language == language
    text = rendered.subject + rendered.body
    assert "{" not in text and "}" not in text, (kind, channel, language)
    assert "None" not in text
    assert bool(HAN.search(rendered.body)) == (language == "zh-hans")
    assert rendered.body.strip()
    assert bool(rendered.subject) == (channel != "sms")
    assert (rendered.sms_segments > 0) == (channel == "sms")
    assert not isinstance(rendered.body, SafeData)
    # Every notice links to the progress page (the survey to its survey section) ...
    assert link.url in rendered.body
    if kind == NoticeKind.SURVEY:
        assert f"{link.url}#survey" in rendered.body
    # ... and the copy kept for agents shows the link redacted.
    assert link.url not in rendered.stored_subject + rendered.stored_body
    assert rendered.stored_body == rendered.body.replace(link.url, link.redacted_url)


def test_a_delay_email_tells_everything_the_domain_asks_for(book, settings):
    settings.SITE_URL = "https://help.shop.example"
    notice = make_notice(context={"remedy": "a coupon worth 10.00 EUR"})
    link = minted(notice.ticket)

    rendered = render_notice(as_dispatched(notice), book=book, now=NOW, link=link)

    assert rendered.subject == "Your order ORD-0042 is delayed"
    for fact in (
        "Hello Carla Customer,",
        "ORD-0042",
        "Reason for the delay: a customs inspection",
        "Current status: In transit",
        "Last scan: Leipzig Hub, DE",
        "New estimated delivery: March 15, 2026",
        "What we are doing: We are in touch with the carrier's customs team",
        "we would like to offer you a coupon worth 10.00 EUR.",
        "Carrier: DHL, tracking number TRK000042",
        f"Follow your parcel at any time: {link.url}",
        "reply to this email",
    ):
        assert fact in rendered.body


def test_lines_whose_optional_value_is_empty_are_left_out(book):
    notice = make_notice(with_ticket=False, last_location="", context={})
    notice.shipment.carrier.tracking_url_template = ""

    rendered = render_notice(notice, book=book, now=NOW)

    assert "offer you" not in rendered.body
    assert "Last scan" not in rendered.body
    assert "Follow your parcel" not in rendered.body
    assert "\n\n\n" not in rendered.body
    assert "Current status: In transit" in rendered.body


def test_a_chinese_notice_uses_the_chinese_template_and_values(book):
    notice = make_notice(language="zh-hans", time_zone="Asia/Shanghai")

    rendered = render_notice(as_dispatched(notice), book=book, now=NOW)

    assert rendered.language == "zh-hans"
    assert rendered.subject == "您的订单 ORD-0042 出现延误"
    assert "预计送达：2026年3月15日" in rendered.body
    assert "当前状态：运输中" in rendered.body


def test_the_regional_variant_is_chosen_for_the_customers_region(book):
    for region, phrase in (
        ("north_america", "Here are the facts"),
        ("europe", "About your data"),
        ("asia", "sincere apologies"),
        ("other", "Here is where it stands"),
    ):
        notice = make_notice(region=region, context={"remedy": "a coupon"})
        rendered = render_notice(as_dispatched(notice), book=book, now=NOW)
        assert phrase in rendered.body, region


# ---- Template choice ---------------------------------------------------------------------------


def test_the_book_is_loaded_in_one_query(django_assert_num_queries):
    with django_assert_num_queries(1):
        book = TemplateBook.load()
    assert len(book) == NotificationTemplate.objects.filter(is_active=True).count()


def test_pick_prefers_the_language_and_region_then_falls_back_in_order():
    exact = template(pk=1, language="zh-hans", region_style="asia")
    zh_any = template(pk=2, language="zh-hans", region_style="any")
    en_region = template(pk=3, language="en", region_style="asia")
    en_any = template(pk=4, language="en", region_style="any")
    book = TemplateBook([exact, zh_any, en_region, en_any])

    assert book.pick("delay_notice", "email", "zh-hans", "asia") is exact
    assert book.pick("delay_notice", "email", "zh-hans", "europe") is zh_any
    assert TemplateBook([en_region, en_any]).pick("delay_notice", "email", "zh-hans", "asia") is (
        en_region
    )
    assert TemplateBook([en_any]).pick("delay_notice", "email", "zh-hans", "asia") is en_any


def test_the_region_other_means_any_region():
    any_region = template(pk=1, region_style="any")
    book = TemplateBook([any_region, template(pk=2, region_style="europe")])

    assert book.pick("delay_notice", "email", "en", "other") is any_region


def test_a_language_without_a_template_falls_back_to_english(book):
    NotificationTemplate.objects.filter(kind="recovery", language="zh-hans").delete()
    notice = make_notice(kind="recovery", language="zh-hans", time_zone="Asia/Shanghai")

    rendered = render_notice(as_dispatched(notice), book=TemplateBook.load(), now=NOW)

    assert rendered.language == "en"
    assert rendered.subject == "Good news: your order ORD-0042 is moving again"
    # The values follow the template's language, not the notice's.
    assert "New estimated delivery: March 15, 2026" in rendered.body
    assert not HAN.search(rendered.body)


def test_inactive_templates_are_ignored():
    NotificationTemplate.objects.filter(kind="survey", channel="sms", language="zh-hans").update(
        is_active=False
    )
    book = TemplateBook.load()

    picked = book.pick("survey", "sms", "zh-hans", "asia")

    assert (picked.language, picked.region_style) == ("en", "any")
    with pytest.raises(NoTemplate):
        TemplateBook([template(is_active=False)]).pick("delay_notice", "email", "en", "any")


def test_no_template_at_all_raises_no_template():
    NotificationTemplate.objects.filter(kind="survey", channel="push").delete()

    with pytest.raises(NoTemplate):
        TemplateBook.load().pick("survey", "push", "zh-hans", "europe")
    with pytest.raises(NoTemplate):
        render_notice(make_notice(kind="survey", channel="push"), book=TemplateBook([]), now=NOW)


# ---- Placeholder values -----------------------------------------------------------------------


def test_notice_context_reads_the_loaded_rows_without_a_query(django_assert_num_queries):
    incident = factories.IncidentFactory(title="Strike")
    notice = as_dispatched(make_notice(incident=incident))

    with django_assert_num_queries(0):
        context = notice_context(notice, now=NOW)

    assert set(context) == set(PLACEHOLDERS)
    assert all(type(value) is str for value in context.values())


def test_render_notice_makes_no_query_either(book, django_assert_num_queries):
    notice = as_dispatched(make_notice(context={"remedy": "a coupon"}))
    link = minted(notice.ticket)

    with django_assert_num_queries(0):
        render_notice(notice, book=book, now=NOW, link=link)


def test_every_placeholder_has_its_value(settings):
    settings.SITE_URL = "https://help.shop.example"
    incident = factories.IncidentFactory(
        title="Rotterdam strike", public_explanation="A strike at the port of Rotterdam."
    )
    notice = make_notice(
        incident=incident,
        delay_level="red",
        context={"remedy": "a free upgrade", "reply": "On its way."},
    )
    notice.level = "red"
    link = minted(notice.ticket)

    context = notice_context(notice, now=NOW, link=link)

    assert context == {
        "customer_name": "Carla Customer",
        "order_number": "ORD-0042",
        "tracking_number": "TRK000042",
        "carrier": "DHL",
        "cause": "a customs inspection",
        "status": "In transit",
        "location": "Leipzig Hub, DE",
        "new_eta": "March 15, 2026",
        "action": "We are in touch with the carrier's customs team and will supply any document "
        "customs asks for straight away. A member of our team is following your parcel "
        "personally.",
        "remedy": "a free upgrade",
        "progress_url": link.url,
        "progress_link": link.url,  # the old name, same value
        "incident": "A strike at the port of Rotterdam.",
        "reply": "On its way.",
        "survey_link": f"{link.url}#survey",
    }


def test_a_notice_without_shipment_or_ticket_reads_sensibly_never_none():
    notice = make_notice(with_shipment=False, with_ticket=False, name="  ")

    context = notice_context(notice, now=NOW)

    assert context["customer_name"] == "customer"
    assert context["carrier"] == "the carrier"
    assert context["new_eta"] == "to be confirmed"
    assert context["status"] == "not reported yet"
    assert context["cause"] == "still being checked with the carrier"
    assert context["order_number"] == "—"
    for name in (
        "progress_url",
        "progress_link",
        "location",
        "incident",
        "remedy",
        "reply",
        "survey_link",
    ):
        assert context[name] == "", name
    assert "None" not in "".join(context.values())


@pytest.mark.parametrize(
    ("time_zone", "expected"),
    [
        ("Europe/Berlin", "March 15, 2026"),
        ("America/New_York", "March 14, 2026"),
        ("Mars/Olympus_Mons", "March 14, 2026"),  # unknown zone: the display default (UTC)
    ],
)
def test_the_new_eta_is_a_date_in_the_customers_time_zone(settings, time_zone, expected):
    settings.DEFAULT_DISPLAY_TIME_ZONE = "UTC"
    notice = make_notice(time_zone=time_zone)

    with translation.override("de"):
        assert notice_context(notice, now=NOW)["new_eta"] == expected


def test_the_new_eta_falls_back_to_the_carriers_and_a_past_or_missing_one_is_to_be_confirmed():
    notice = make_notice(time_zone="UTC")
    shipment = notice.shipment

    shipment.predicted_eta = None
    assert notice_context(notice, now=NOW)["new_eta"] == "March 12, 2026"

    shipment.carrier_eta = NOW - dt.timedelta(days=1)
    assert notice_context(notice, now=NOW)["new_eta"] == "to be confirmed"

    shipment.carrier_eta = None
    assert notice_context(notice, now=NOW)["new_eta"] == "to be confirmed"


def test_the_cause_falls_back_to_the_carriers_then_the_incidents():
    incident = factories.IncidentFactory(cause="congestion")
    notice = make_notice(incident=incident, delay_cause="unknown", cause="weather")

    assert notice_context(notice, now=NOW)["cause"] == "bad weather on the route"

    notice.shipment.cause = "none"
    assert notice_context(notice, now=NOW)["cause"] == "port congestion or a strike"


@pytest.mark.parametrize("with_ticket", [False, True])
def test_without_a_minted_link_the_link_is_the_carriers_tracking_page_filled_safely(with_ticket):
    notice = make_notice(with_ticket=with_ticket)
    carrier = notice.shipment.carrier

    context = notice_context(notice, now=NOW)
    assert (
        context["progress_url"]
        == context["progress_link"]
        == ("https://track.example/dhl?id=TRK000042")
    )
    assert context["survey_link"] == ""  # the survey is a section of the progress page

    carrier.tracking_url_template = "https://t.example/{tracking_number.__class__}/{0}"
    assert notice_context(notice, now=NOW)["progress_url"] == (
        "https://t.example/{tracking_number.__class__}/{0}"
    )


def test_a_minted_link_wins_over_the_carriers_tracking_page():
    notice = make_notice()
    link = minted(notice.ticket)

    context = notice_context(notice, now=NOW, link=link)

    assert context["progress_url"] == context["progress_link"] == link.url
    assert context["survey_link"] == f"{link.url}#survey"


def test_an_old_survey_notices_queued_link_is_ignored_for_the_computed_one(book):
    notice = make_notice(kind="survey", context={"survey_link": "https://old.example/survey/x/"})
    link = minted(notice.ticket)

    assert notice_context(notice, now=NOW)["survey_link"] == ""
    rendered = render_notice(as_dispatched(notice), book=book, now=NOW, link=link)
    assert f"Rate us from 1 to 5: {link.url}#survey" in rendered.body
    assert "old.example" not in rendered.body


def test_the_old_name_progress_link_renders_like_progress_url():
    notice = make_notice()
    link = minted(notice.ticket)
    book = TemplateBook(
        [template(subject="{progress_link}", body="Old: {progress_link}\nNew: {progress_url}")]
    )

    rendered = render_notice(notice, book=book, now=NOW, link=link)

    assert rendered.body == f"Old: {link.url}\nNew: {link.url}"
    assert rendered.subject == link.url


# ---- The copy kept for agents --------------------------------------------------------------


def test_the_stored_text_shows_the_link_redacted_and_the_sent_text_the_token():
    notice = make_notice(kind="survey")
    link = minted(notice.ticket)
    book = TemplateBook(
        [
            template(
                kind="survey",
                subject="Your case {progress_url}",
                body="Hi {customer_name}\nCase: {progress_url}\nRate: {survey_link}",
            )
        ]
    )

    rendered = render_notice(notice, book=book, now=NOW, link=link)

    assert rendered.subject == f"Your case {link.url}"
    assert rendered.body == f"Hi Carla Customer\nCase: {link.url}\nRate: {link.url}#survey"
    assert rendered.stored_subject == f"Your case {link.redacted_url}"
    assert rendered.stored_body == (
        f"Hi Carla Customer\nCase: {link.redacted_url}\nRate: {link.redacted_url}#survey"
    )


def test_without_a_minted_link_the_stored_text_is_the_sent_text(book):
    notice = make_notice(with_ticket=False)

    rendered = render_notice(as_dispatched(notice), book=book, now=NOW)

    assert "https://track.example/dhl?id=TRK000042" in rendered.body
    assert (rendered.stored_subject, rendered.stored_body) == (rendered.subject, rendered.body)


def test_the_incident_reads_its_public_explanation_in_the_notices_language():
    incident = factories.IncidentFactory(
        title="CDG customs",
        public_explanation="French customs are checking every parcel.",
        public_explanation_zh_hans="法国海关正在逐一查验包裹。",
    )
    notice = make_notice(incident=incident, language="zh-hans")

    assert notice_context(notice, now=NOW)["incident"] == "法国海关正在逐一查验包裹。"
    assert notice_context(notice, now=NOW, language="en")["incident"] == (
        "French customs are checking every parcel."
    )

    incident.public_explanation_zh_hans = ""
    assert notice_context(notice, now=NOW)["incident"] == (
        "French customs are checking every parcel."
    )

    incident.public_explanation = ""
    assert notice_context(notice, now=NOW)["incident"] == "CDG customs"


def test_notice_context_leaves_the_active_language_alone():
    notice = make_notice(language="zh-hans")

    with translation.override("en"):
        notice_context(notice, now=NOW)
        assert translation.get_language() == "en"


# ---- Hostile values and templates -----------------------------------------------------------


def test_a_hostile_customer_name_stays_literal_text(book):
    name = "{tracking_number}<script>alert(1)</script>{{ settings.SECRET_KEY }}{% debug %}"
    notice = make_notice(name=name)

    rendered = render_notice(as_dispatched(notice), book=book, now=NOW)

    assert f"Hello {name}," in rendered.body
    assert not isinstance(rendered.body, SafeData)
    page = engines["django"].from_string("{{ body }}").render({"body": rendered.body})
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_a_value_with_a_line_break_cannot_add_a_line_to_the_subject():
    notice = make_notice(name="Eve\r\nBcc: everyone@example.com")
    book = TemplateBook([template(subject="For {customer_name}", body="Hi")])

    rendered = render_notice(notice, book=book, now=NOW)

    assert rendered.subject == "For Eve Bcc: everyone@example.com"


@pytest.mark.parametrize(
    "body",
    [
        "{customer_name.__class__}",
        "{customer_name.__class__.__init__.__globals__}",
        "{customer_name[0]}",
        "{0}",
        "{}",
        "{customer_name!r}",
        "{customer_name:>1000000}",
        "{{ settings.SECRET_KEY }}",
        "{% load static %}{% debug %}",
        "{Customer_Name}",
        "%(customer_name)s $customer_name",
    ],
)
def test_format_string_and_template_syntax_in_a_template_stays_literal(body):
    notice = make_notice()
    book = TemplateBook([template(subject=body, body=body)])

    rendered = render_notice(notice, book=book, now=NOW)

    assert rendered.body == body
    assert rendered.subject == body


def test_a_value_that_looks_like_a_placeholder_is_not_expanded_again():
    notice = make_notice(context={"reply": "{order_number} {survey_link}"})
    book = TemplateBook([template(body="{reply} / {order_number}")])

    assert (
        render_notice(notice, book=book, now=NOW).body == "{order_number} {survey_link} / ORD-0042"
    )


# ---- SMS segments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 0),
        ("a", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("Café Ñandú @ £5 \n", 1),  # all in the GSM alphabet
        ("€" * 80, 1),  # extension characters cost two septets
        ("€" * 81, 2),
        ("a" * 159 + "€", 2),
        ("a" * 158 + "{", 1),
        ("a" * 152 + "€" + "a" * 152, 3),  # an escape pair never straddles two parts
        ("中" * 70, 1),
        ("中" * 71, 2),
        ("中" * 134, 2),
        ("中" * 135, 3),
        ("a" * 69 + "中", 1),  # one Chinese character makes the whole text UCS-2
        ("a" * 70 + "中", 2),
        ("naïve" + "a" * 66, 2),  # ï is not GSM
        ("ç", 1),
        ("😀" * 35, 1),  # outside the BMP: two UTF-16 units each
        ("😀" * 36, 2),
    ],
)
def test_sms_segments_count_gsm_and_ucs2_parts(text, segments):
    assert sms_segments(text) == segments


def test_rendered_sms_counts_segments_and_other_channels_count_none(book):
    sms = render_notice(as_dispatched(make_notice(channel="sms")), book=book, now=NOW)
    push = render_notice(as_dispatched(make_notice(channel="push")), book=book, now=NOW)

    assert sms.sms_segments == sms_segments(sms.body) >= 1
    assert push.sms_segments == 0


@pytest.mark.parametrize("language", LANGUAGES)
def test_default_sms_fit_the_limit_for_a_real_notice(book, settings, language):
    settings.SITE_URL = "https://help.shop.example"
    for kind in NoticeKind.values:
        notice = make_notice(
            kind=kind,
            channel="sms",
            language=language,
            context={"remedy": SAMPLE_CONTEXT[language]["remedy"]},
        )
        link = minted(notice.ticket)
        rendered = render_notice(as_dispatched(notice), book=book, now=NOW, link=link)
        assert link.url in rendered.body
        assert rendered.sms_segments <= settings.NOTICE_SMS_MAX_SEGMENTS, (kind, rendered.body)


# ---- A reply notice greets and signs off once --------------------------------------------------


def render_reply(book, reply: str, language: str = "en") -> str:
    notice = make_notice(kind="ticket_reply", language=language, context={"reply": reply})
    return render_notice(as_dispatched(notice), book=book, now=NOW).body


def test_a_reply_that_greets_and_signs_off_is_not_greeted_or_signed_twice(book):
    reply = "Hello Carla,\n\nYour parcel left Leipzig this morning.\n\nKind regards,\nAlice"

    body = render_reply(book, reply)

    assert body.count("Hello") == 1
    assert body.count("regards") == 1
    assert "Your customer service team" not in body
    assert body.startswith("Our team has replied to your request:\n\nHello Carla,")
    assert "Alice\n\nYou can read the whole conversation" in body
    assert "Or simply reply to this email." in body
    assert "\n\n\n" not in body


def test_a_plain_reply_keeps_the_templates_greeting_and_sign_off(book):
    body = render_reply(book, "Your parcel left Leipzig. Thank you for your patience.")

    assert body.startswith("Hello Carla Customer,")
    assert body.endswith("Kind regards,\nYour customer service team")


@pytest.mark.parametrize(
    ("reply", "greets", "signs_off"),
    [
        ("Hi Carla, it is on its way.", True, False),
        ("It is on its way.\n\nBest wishes,\nAlice\nCustomer Service", False, True),
        ("Dear Ms Customer,\nit is on its way.\nThanks!", True, True),
        ("Good morning! It is on its way.\nCheers, Alice", True, True),
        ("History shows it moved.\nThanks for waiting, it arrives tomorrow.", False, False),
        ("Carla，您好：\n\n包裹今天已从莱比锡发出。\n\n客服团队敬上", True, True),
        ("您好！包裹已发出。\n祝好！", True, True),
        ("尊敬的客户：包裹已发出。\n此致\n敬礼", True, True),
        ("包裹已发出，感谢您的耐心等待。", False, False),
    ],
)
def test_greetings_and_sign_offs_are_recognised_in_both_languages(reply, greets, signs_off):
    assert (reply_greets(reply), reply_signs_off(reply)) == (greets, signs_off)


def test_a_chinese_reply_with_its_own_greeting_and_sign_off_reads_once(book):
    reply = "Carla，您好：\n\n包裹今天已从莱比锡发出。\n\n客服团队敬上"

    body = render_reply(book, reply, language="zh-hans")

    assert body.count("您好") == 1
    assert body.count("敬上") == 1
    assert body.startswith("我们的客服已回复您的咨询：\n\nCarla，您好：")
    assert "也可以直接回复本邮件。" in body


def test_a_reply_that_only_greets_keeps_the_templates_sign_off(book):
    body = render_reply(book, "Hi Carla, it is on its way.")

    assert body.count("Hi") + body.count("Hello") == 1
    assert body.endswith("Kind regards,\nYour customer service team")


def test_a_macro_reply_sent_as_a_notice_greets_once(book):
    notice = make_notice(kind="ticket_reply")
    macro = Macro.objects.get(slug="delay-update", language="en")
    notice.context = {"reply": render_for_ticket(macro, notice.ticket)}
    notice.save()

    body = render_notice(as_dispatched(notice), book=book, now=NOW).body

    assert body.count("Hello Carla Customer") == 1
    assert body.count("Kind regards") == 1
