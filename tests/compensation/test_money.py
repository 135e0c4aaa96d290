"""Money: Decimal with a currency, rounded to the currency's minor unit (babel's CLDR data),
formatted in the reader's locale, summed per currency and never across currencies."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from compensation.money import (
    format_money,
    is_supported_currency,
    minor_unit,
    minor_units,
    quantize,
    to_decimal,
    totals,
)


@pytest.mark.parametrize(
    ("currency", "digits"), [("JPY", 0), ("EUR", 2), ("CNY", 2), ("USD", 2), ("KWD", 3)]
)
def test_minor_units_come_from_the_currency_data(currency, digits):
    assert minor_units(currency) == digits
    assert minor_unit(currency) == Decimal(1).scaleb(-digits)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        # JPY has no minor unit: half a yen rounds up, never to the even neighbour.
        ("1234.5", "JPY", Decimal("1235")),
        ("1233.5", "JPY", Decimal("1234")),
        ("1234.49", "JPY", Decimal("1234")),
        ("0.5", "JPY", Decimal("1")),
        # EUR: cents, half up.
        ("12.345", "EUR", Decimal("12.35")),
        ("12.335", "EUR", Decimal("12.34")),
        ("12.3449", "EUR", Decimal("12.34")),
        ("0.005", "EUR", Decimal("0.01")),
        ("10", "EUR", Decimal("10.00")),
        # CNY: fen (two digits), half up.
        ("0.125", "CNY", Decimal("0.13")),
        ("99.995", "CNY", Decimal("100.00")),
        ("7.1", "CNY", Decimal("7.10")),
    ],
)
def test_quantize_rounds_half_up_to_the_minor_unit(amount, currency, expected):
    result = quantize(amount, currency)
    assert result == expected
    assert result.as_tuple().exponent == -minor_units(currency)


def test_quantize_keeps_a_decimal_exact():
    assert quantize(Decimal("0.1") + Decimal("0.2"), "EUR") == Decimal("0.30")


def test_a_float_is_never_money():
    with pytest.raises(TypeError):
        quantize(0.1, "EUR")
    with pytest.raises(TypeError):
        to_decimal(True)


@pytest.mark.parametrize("value", ["", "ten", "NaN", "Infinity", None])
def test_what_is_not_an_amount_is_refused(value):
    with pytest.raises(ValueError):
        to_decimal(value)


@pytest.mark.parametrize(
    ("currency", "supported"),
    [
        ("EUR", True),
        ("JPY", True),
        ("CNY", True),
        ("eur", False),
        ("XYZ", False),
        ("KWD", False),
        ("", False),
        ("EURO", False),
    ],
)
def test_supported_currencies_are_known_codes_that_fit_two_decimals(currency, supported):
    assert is_supported_currency(currency) is supported


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        ("1234.5", "EUR", "en", "€1,234.50"),
        ("1234.5", "EUR", "de", "1.234,50\xa0€"),
        ("1234.5", "JPY", "en", "¥1,235"),
        ("12.5", "CNY", "zh-hans", "¥12.50"),
        ("12.5", "EUR", "zh-hans", "€12.50"),
    ],
)
def test_format_money_writes_the_amount_as_the_locale_does(amount, currency, locale, expected):
    assert format_money(amount, currency, locale) == expected


def test_format_money_uses_the_active_language_by_default():
    with translation.override("zh-hans"):
        assert format_money(Decimal("3"), "CNY") == "¥3.00"
    with translation.override("en"):
        assert format_money(Decimal("3"), "CNY") == "CN¥3.00"


def test_totals_are_per_currency_and_never_add_two_currencies():
    class Offer:
        def __init__(self, amount, currency):
            self.amount, self.currency = amount, currency

    result = totals(
        [
            (Decimal("10.00"), "EUR"),
            (Decimal("0.005"), "EUR"),
            Offer(Decimal("1000"), "JPY"),
            Offer(Decimal("0.5"), "JPY"),
            Offer(None, "EUR"),  # a percentage remedy: no money
            ("7.10", "CNY"),
        ]
    )
    assert result == {"CNY": Decimal("7.10"), "EUR": Decimal("10.01"), "JPY": Decimal("1001")}
    assert totals([]) == {}
