"""Macros: placeholder values from a real ticket, safe rendering, the list for a ticket."""

from __future__ import annotations

import datetime as dt
import importlib
import re
import uuid
from decimal import Decimal

import factory
import pytest
import time_machine
from django.apps import apps
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.template import engines
from django.utils import timezone, translation
from django.utils.safestring import SafeData

from compensation.models import OfferStatus, RemedyKind
from tests import factories
from tickets import macros
from tickets.macros import (
    PLACEHOLDERS,
    macro_context,
    macros_for_ticket,
    render_for_ticket,
    render_macro,
    unknown_placeholders,
)
from tickets.models import Category, Macro, Ticket

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
# Late on the 14th in UTC: already the 15th in Berlin and Shanghai, still the 14th in New York.
ETA = dt.datetime(2026, 3, 14, 23, 30, tzinfo=dt.UTC)
HAN = re.compile(r"[\u4e00-\u9fff]")
DEFAULTS = importlib.import_module("tickets.migrations.0003_default_macros")


class MacroFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Macro

    slug = factory.Sequence(lambda n: f"macro-{n}")
    language = "en"
    title = factory.Sequence(lambda n: f"Macro {n}")
    body = "Hello {customer_name}"
    category = ""


@pytest.fixture(autouse=True)
def frozen_time():
    with time_machine.travel(NOW, tick=False):
        yield


def delayed_ticket(
    *, language: str = "en", time_zone: str = "Europe/Berlin", name: str = "Carla Customer"
) -> Ticket:
    customer = factories.CustomerFactory(name=name, language=language, time_zone=time_zone)
    shipment = factories.ShipmentFactory(
        customer=customer,
        order_number="ORD-0042",
        tracking_number="TRK000042",
        predicted_eta=ETA,
        carrier_eta=ETA - dt.timedelta(days=2),
        delay_level="red",
        delay_detected_at=NOW,
        delay_cause="customs_hold",
    )
    return factories.TicketFactory(customer=customer, shipment=shipment, language=language)


def offer(ticket: Ticket, *, minutes_ago: int = 0, **fields):
    made = factories.CompensationOfferFactory(ticket=ticket, **fields)
    # created_at is auto_now_add: set it afterwards to say which offer is the most recent.
    type(made).objects.filter(pk=made.pk).update(created_at=NOW - dt.timedelta(minutes=minutes_ago))
    return made


def show_in_page(text: str) -> str:
    """Through a Django template with autoescape on, as the console and e-mails show it."""
    return engines["django"].from_string("<p>{{ body|linebreaksbr }}</p>").render({"body": text})


# ---- Placeholder values -------------------------------------------------------------------------


def test_every_placeholder_is_filled_from_the_ticket_its_shipment_customer_and_offer():
    ticket = delayed_ticket()
    offer(ticket, kind=RemedyKind.DISCOUNT_CODE, amount=None, percent=Decimal("15.00"))

    context = macro_context(ticket)

    assert set(context) == set(PLACEHOLDERS)
    assert context == {
        "customer_name": "Carla Customer",
        "order_number": "ORD-0042",
        "tracking_number": "TRK000042",
        "new_eta": "March 15, 2026",
        "delay_reason": "Customs hold",
        "compensation": "a discount code for 15% off",
    }
    assert all(type(value) is str for value in context.values())


def test_in_chinese_the_cause_is_the_translated_label_and_the_date_is_written_the_chinese_way():
    ticket = delayed_ticket(language="zh-hans", time_zone="Asia/Shanghai")

    context = macro_context(ticket)

    assert context["delay_reason"] == "海关扣留"
    assert context["new_eta"] == "2026年3月15日"
    assert context["order_number"] == "ORD-0042"


def test_the_language_argument_overrides_the_tickets_language_and_leaves_the_active_one_alone():
    ticket = delayed_ticket(language="en")

    with translation.override("en"):
        context = macro_context(ticket, language="zh-hans")
        assert translation.get_language() == "en"

    assert context["delay_reason"] == "海关扣留"
    assert context["new_eta"] == "2026年3月15日"


@pytest.mark.parametrize(
    ("time_zone", "expected"),
    [
        ("Europe/Berlin", "March 15, 2026"),
        ("Asia/Shanghai", "March 15, 2026"),
        ("America/New_York", "March 14, 2026"),
        ("UTC", "March 14, 2026"),
    ],
)
def test_the_new_eta_is_the_date_in_the_customers_time_zone_not_the_readers(time_zone, expected):
    ticket = delayed_ticket(time_zone=time_zone)

    # The agent reading the console sits somewhere else entirely.
    with timezone.override("Pacific/Kiritimati"):
        assert macro_context(ticket)["new_eta"] == expected


def test_a_customer_time_zone_that_does_not_exist_falls_back_to_the_display_default(settings):
    settings.DEFAULT_DISPLAY_TIME_ZONE = "America/New_York"
    ticket = delayed_ticket(time_zone="Mars/Olympus_Mons")

    assert macro_context(ticket)["new_eta"] == "March 14, 2026"


def test_the_new_eta_falls_back_to_the_carriers_estimate_and_then_to_the_promise():
    ticket = delayed_ticket(time_zone="UTC")
    shipment = ticket.shipment

    shipment.predicted_eta = None
    assert macro_context(ticket)["new_eta"] == "March 12, 2026"

    shipment.carrier_eta = None
    shipment.promised_at = dt.datetime(2026, 3, 13, 12, 0, tzinfo=dt.UTC)
    assert macro_context(ticket)["new_eta"] == "March 13, 2026"


def test_the_delay_reason_falls_back_to_the_carriers_cause_and_otherwise_says_it_is_being_checked():
    ticket = delayed_ticket()
    shipment = ticket.shipment

    shipment.delay_cause, shipment.cause = "none", "weather"
    assert macro_context(ticket)["delay_reason"] == "Bad weather"

    shipment.delay_cause, shipment.cause = "unknown", "none"
    assert macro_context(ticket)["delay_reason"] == "Being checked with the carrier"


def test_a_ticket_without_a_shipment_has_no_value_for_the_shipments_placeholders():
    ticket = factories.TicketFactory(shipment=None, customer__name="Carla Customer")

    context = macro_context(ticket)

    assert context["customer_name"] == "Carla Customer"
    assert context["order_number"] == ""
    assert context["tracking_number"] == ""
    assert context["new_eta"] == ""
    assert context["delay_reason"] == ""
    assert context["compensation"] == ""


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_default_macro_reads_well_on_a_ticket_without_a_shipment(language):
    ticket = factories.TicketFactory(
        shipment=None, customer__name="Carla Customer", language=language
    )

    for macro in Macro.objects.filter(slug__in=DEFAULT_SLUGS, language=language):
        text = render_for_ticket(macro, ticket)
        assert "—" not in text, macro.slug
        assert "{" not in text and "}" not in text, macro.slug
        assert not re.search(r"order\s+[.,;:]|订单\s+[，。]|\s[.,]|\(\s*\)|（\s*）", text), text
        assert "\n\n\n" not in text, macro.slug
        assert "Carla Customer" in text


def test_the_delay_apology_without_a_shipment_keeps_what_still_holds():
    ticket = factories.TicketFactory(shipment=None, customer__name="Carla Customer")
    macro = Macro.objects.get(slug="delay-apology", language="en")

    assert render_for_ticket(macro, ticket) == (
        "Hello Carla Customer,\n\n"
        "I am sorry that your order is taking longer than we promised.\n\n"
        "We are keeping a close eye on it and will write to you again if anything changes. "
        "Thank you for your patience.\n\n"
        "Kind regards,\nCustomer Service"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # The order number only names the order: the sentence stands without it.
        ("Your order {order_number} is late.", "Your order is late."),
        ("The address of order {order_number} changed.", "The address of your order changed."),
        ("您的订单 {order_number} 已发出。", "您的订单已发出。"),
        # A parenthesis with an empty value goes, the sentence stays.
        ("It is held (tracking number {tracking_number}) at customs.", "It is held at customs."),
        ("目前预计送达（运单号：{tracking_number}）。", "目前预计送达。"),
        # Otherwise the sentence goes, and a line left empty with it.
        ("Sorry. Reason: {delay_reason}. Thanks!", "Sorry. Thanks!"),
        ("Hi,\n\nIt arrives on {new_eta}.\n\nBye", "Hi,\n\nBye"),
        ("抱歉。延误原因：{delay_reason}。谢谢！", "抱歉。谢谢！"),
        ("We offer you {compensation}.\nThanks.", "Thanks."),
    ],
)
def test_an_empty_value_takes_what_would_dangle_with_it(body, expected):
    context = {**CONTEXT, "order_number": "", "tracking_number": "", "new_eta": ""}
    context |= {"delay_reason": "", "compensation": ""}

    assert render_macro(body, context) == expected


def test_a_value_that_is_there_leaves_the_text_whole():
    body = "Your order {order_number} (tracking number {tracking_number}) is late."

    assert render_macro(body, CONTEXT) == "Your order ORD-1 (tracking number TRK-1) is late."


# ---- Compensation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"kind": RemedyKind.PARTIAL_REFUND, "amount": Decimal("10.00")}, "a refund of 10.00 EUR"),
        (
            {"kind": RemedyKind.FULL_REFUND, "amount": Decimal("49.9"), "currency": "USD"},
            "a full refund of 49.90 USD",
        ),
        ({"kind": RemedyKind.COUPON, "amount": Decimal("5")}, "a coupon worth 5.00 EUR"),
        (
            {"kind": RemedyKind.DISCOUNT_CODE, "amount": None, "percent": Decimal("12.50")},
            "a discount code for 12.5% off",
        ),
        ({"kind": RemedyKind.LOYALTY_POINTS, "amount": None, "points": 500}, "500 loyalty points"),
        ({"kind": RemedyKind.FREE_SHIPPING, "amount": None}, "a free-shipping coupon"),
        ({"kind": RemedyKind.RESHIP, "amount": None}, "a free replacement shipment"),
    ],
)
def test_the_compensation_reads_as_a_short_phrase(fields, expected):
    ticket = delayed_ticket()
    offer(ticket, **fields)

    assert macro_context(ticket)["compensation"] == expected


def test_the_compensation_is_the_most_recent_offer_that_still_stands():
    ticket = delayed_ticket()
    offer(ticket, minutes_ago=30, amount=Decimal("10.00"), status=OfferStatus.OFFERED)
    offer(ticket, minutes_ago=20, amount=Decimal("20.00"), status=OfferStatus.REJECTED)
    offer(ticket, minutes_ago=10, amount=Decimal("30.00"), status=OfferStatus.CANCELLED)
    offer(ticket, minutes_ago=5, amount=Decimal("40.00"), status=OfferStatus.DECLINED)
    offer(delayed_ticket(), amount=Decimal("99.00"))  # another ticket's offer

    assert macro_context(ticket)["compensation"] == "a refund of 10.00 EUR"


def test_offers_the_customer_chooses_among_are_all_named():
    ticket = delayed_ticket()
    group = uuid.uuid4()
    offer(ticket, minutes_ago=1, choice_group=group, amount=Decimal("90.00"))
    offer(ticket, choice_group=group, kind=RemedyKind.UPGRADE, amount=None)

    assert macro_context(ticket)["compensation"] == "a refund of 90.00 EUR or a free upgrade"


def test_the_compensation_is_empty_when_every_offer_was_turned_down():
    ticket = delayed_ticket()
    offer(ticket, status=OfferStatus.REJECTED)

    assert macro_context(ticket)["compensation"] == ""


def test_the_compensation_keeps_its_numbers_in_chinese():
    ticket = delayed_ticket(language="zh-hans")
    offer(ticket, kind=RemedyKind.DISCOUNT_CODE, amount=None, percent=Decimal("15"))

    assert "15%" in macro_context(ticket)["compensation"]


# ---- Values from the apps above tickets (register_placeholder) ------------------------------


@pytest.fixture
def nothing_registered(monkeypatch):
    """Tickets on its own: no app above it has filled a provided placeholder."""
    monkeypatch.setattr(macros, "_providers", {})


def test_without_a_provider_the_compensation_placeholder_is_known_and_empty(nothing_registered):
    ticket = delayed_ticket()
    offer(ticket, amount=Decimal("10.00"))

    context = macro_context(ticket)

    assert "compensation" in PLACEHOLDERS
    assert set(context) == set(PLACEHOLDERS)
    assert context["compensation"] == ""
    assert unknown_placeholders("We offer you {compensation}.") == []


def test_without_a_provider_the_sentence_with_the_compensation_is_left_out(nothing_registered):
    ticket = delayed_ticket()
    offer(ticket, amount=Decimal("10.00"))
    macro = Macro(
        language="en", body="Hello {customer_name}. We offer you {compensation}.\nThanks."
    )

    assert render_for_ticket(macro, ticket) == "Hello Carla Customer.\nThanks."


def test_a_registered_provider_fills_its_placeholder_in_the_macros_language(
    nothing_registered,
):
    macros.register_placeholder("compensation", lambda ticket: translation.get_language())

    assert macro_context(delayed_ticket(), language="zh-hans")["compensation"] == "zh-hans"


def test_only_a_declared_placeholder_can_be_provided(nothing_registered):
    with pytest.raises(ValueError, match="PROVIDED_PLACEHOLDERS"):
        macros.register_placeholder("coupon_code", lambda ticket: "X")

    assert macros._providers == {}
    assert "coupon_code" not in PLACEHOLDERS


# ---- Rendering ---------------------------------------------------------------------------------

CONTEXT = {
    "customer_name": "Carla",
    "order_number": "ORD-1",
    "tracking_number": "TRK-1",
    "new_eta": "March 15, 2026",
    "delay_reason": "Customs hold",
    "compensation": "a refund of 10.00 EUR",
}


def test_it_replaces_each_placeholder_by_its_value():
    body = "Hi {customer_name}, {order_number}/{tracking_number}: {new_eta}, {delay_reason}. "
    body += "We offer {compensation}. Again: {customer_name}."

    assert render_macro(body, CONTEXT) == (
        "Hi Carla, ORD-1/TRK-1: March 15, 2026, Customs hold. "
        "We offer a refund of 10.00 EUR. Again: Carla."
    )


@pytest.mark.parametrize(
    "body",
    [
        "{customer_name.__class__}",
        "{customer_name.__class__.__init__.__globals__}",
        "{customer_name[0]}",
        "{0}",
        "{}",
        "{customer_name!r}",
        "{customer_name!s:>20}",
        "{customer_name:>1000000}",
        "{{ settings.SECRET_KEY }}",
        "{{ customer_name }}",
        "{% load static %}{% debug %}",
        "{# comment #}",
        "{ customer_name }",
        "{Customer_Name}",
        "{customer_name",
        "customer_name}",
        "}{",
        "%(customer_name)s $customer_name",
    ],
)
def test_hostile_or_foreign_syntax_comes_out_literally(body):
    assert render_macro(body, CONTEXT) == body


def test_doubled_braces_are_no_escape_the_inner_placeholder_is_still_replaced():
    assert render_macro("{{customer_name}}", CONTEXT) == "{Carla}"
    assert render_macro("{{order_number}", CONTEXT) == "{ORD-1"
    assert render_macro("{{{tracking_number}}}", CONTEXT) == "{{TRK-1}}"


def test_a_value_that_looks_like_a_placeholder_is_not_expanded_again():
    context = {**CONTEXT, "customer_name": "{order_number} {{ settings.SECRET_KEY }}"}

    assert render_macro("Hi {customer_name}, {order_number}", context) == (
        "Hi {order_number} {{ settings.SECRET_KEY }}, ORD-1"
    )


def test_unknown_placeholders_stay_as_written_and_are_reported_once_each():
    body = "Hi {customer_name}, use {coupon_code} ({coupon_code}) before {Expiry} or {0}{}."

    assert render_macro(body, CONTEXT) == (
        "Hi Carla, use {coupon_code} ({coupon_code}) before {Expiry} or {0}{}."
    )
    assert unknown_placeholders(body) == ["coupon_code", "Expiry", "0", ""]


def test_attribute_access_and_template_syntax_are_reported_as_unknown():
    body = "{customer_name.__class__} {customer_name!r} {{ settings.SECRET_KEY }} {% load x %}"

    assert unknown_placeholders(body) == [
        "customer_name.__class__",
        "customer_name!r",
        " settings.SECRET_KEY ",
        "% load x %",
    ]


def test_a_body_with_only_known_placeholders_reports_nothing():
    assert unknown_placeholders(" ".join(f"{{{name}}}" for name in PLACEHOLDERS)) == []


def test_a_placeholder_missing_from_the_context_stays_as_written():
    assert render_macro("{customer_name} {compensation}", {"customer_name": "Carla"}) == (
        "Carla {compensation}"
    )


def test_a_hostile_customer_name_is_neither_expanded_nor_executed_when_shown():
    name = "{tracking_number}<script>alert(1)</script>"
    ticket = delayed_ticket(name=name)
    macro = MacroFactory(body="Hello {customer_name}, parcel {tracking_number}.\n<b>Thanks</b>")

    text = render_for_ticket(macro, ticket)

    assert text == (
        "Hello {tracking_number}<script>alert(1)</script>, parcel TRK000042.\n<b>Thanks</b>"
    )
    assert not isinstance(text, SafeData)
    page = show_in_page(text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;Thanks&lt;/b&gt;" in page
    assert "<script>" not in page
    assert "<b>" not in page


def test_render_for_ticket_uses_the_macros_language():
    ticket = delayed_ticket(language="en")
    macro = MacroFactory(language="zh-hans", body="延误原因：{delay_reason}，预计{new_eta}送达。")

    assert render_for_ticket(macro, ticket) == "延误原因：海关扣留，预计2026年3月15日送达。"


# ---- Macros for a ticket ---------------------------------------------------------------------


@pytest.fixture
def only_test_macros():
    Macro.objects.all().delete()


def test_macros_for_a_ticket_put_its_category_and_any_category_first_then_sort_by_title(
    only_test_macros,
):
    ticket = factories.TicketFactory(category="delay", language="en")
    MacroFactory(title="B delay", category="delay")
    MacroFactory(title="C any", category="")
    MacroFactory(title="A damaged", category="damaged")
    MacroFactory(title="A delay", category="delay")
    MacroFactory(title="A inactive", category="delay", is_active=False)
    MacroFactory(title="A chinese", category="delay", language="zh-hans")

    titles = [macro.title for macro in macros_for_ticket(ticket)]

    assert titles == ["A delay", "B delay", "C any", "A damaged"]


def test_macros_for_a_ticket_are_in_the_tickets_language(only_test_macros):
    ticket = factories.TicketFactory(category="lost", language="zh-hans")
    MacroFactory(slug="lost", title="Lost", category="lost")
    MacroFactory(slug="lost", title="丢件", category="lost", language="zh-hans")

    assert [macro.title for macro in macros_for_ticket(ticket)] == ["丢件"]


# ---- Default macros (data migration) -----------------------------------------------------------

DEFAULT_SLUGS = {
    "delay-apology",
    "delay-update",
    "lost-parcel-investigation",
    "compensation-offer",
    "damaged-parcel",
    "address-change",
    "resolved-closing",
}


def test_the_data_migration_ran_and_installed_every_slug_in_both_languages():
    assert ("tickets", "0003_default_macros") in MigrationRecorder(connection).applied_migrations()
    installed = {
        (slug, language) for slug, language in Macro.objects.values_list("slug", "language")
    }
    slugs = {slug for slug, _category, _variants in DEFAULTS.MACROS}

    assert slugs >= DEFAULT_SLUGS
    assert {(slug, language) for slug in slugs for language in ("en", "zh-hans")} <= installed


def test_default_macros_use_only_known_placeholders_and_chinese_ones_are_in_chinese():
    for slug, category, variants in DEFAULTS.MACROS:
        assert set(variants) == {"en", "zh-hans"}, slug
        assert category in {"", *Category.values}, slug
        for language, (title, body) in variants.items():
            assert unknown_placeholders(title + body) == [], (slug, language)
            assert "{customer_name}" in body, (slug, language)
            assert len(title) <= Macro._meta.get_field("title").max_length
            assert bool(HAN.search(body)) == (language == "zh-hans"), (slug, language)


def test_every_default_macro_renders_for_a_real_ticket_without_leftover_braces():
    ticket = delayed_ticket()
    offer(ticket, kind=RemedyKind.DISCOUNT_CODE, amount=None, percent=Decimal("15"))

    for macro in Macro.objects.filter(slug__in=DEFAULT_SLUGS):
        text = render_for_ticket(macro, ticket)
        assert "{" not in text and "}" not in text, (macro.slug, macro.language)
        assert "Carla Customer" in text


def test_installing_the_defaults_again_adds_nothing_and_keeps_an_admins_edits():
    Macro.objects.filter(slug="delay-apology", language="en").update(body="Edited by an admin")
    count = Macro.objects.count()

    DEFAULTS.install(apps, None)

    assert Macro.objects.count() == count
    assert Macro.objects.get(slug="delay-apology", language="en").body == "Edited by an admin"


def test_installing_the_defaults_into_an_empty_table_puts_them_all_back():
    Macro.objects.all().delete()

    DEFAULTS.install(apps, None)

    assert Macro.objects.count() == 2 * len(DEFAULTS.MACROS)


def test_the_data_migration_can_be_reversed_without_touching_data():
    (operation,) = DEFAULTS.Migration.operations

    assert operation.reversible
    assert DEFAULTS.Migration.dependencies == [("tickets", "0002_default_priority_and_sla")]
