"""Money in the compensation engine: Decimal and an ISO 4217 currency, never float.

The currency data (how many minor units a currency has) and the formatting per locale come from
babel's CLDR data, not from hand-written tables: JPY has no minor unit, EUR / CNY / USD have 2
(`minor_units`). Amounts are rounded to the currency's minor unit with ROUND_HALF_UP (the
commercial rounding customers and accountants expect: 0.005 EUR -> 0.01 EUR, 0.5 JPY -> 1 JPY),
never with Python's default banker's rounding. Amounts in different currencies are never added:
`totals` keeps one sum per currency.

The database columns hold two decimal places (`DecimalField(decimal_places=2)`), so the engine
accepts the currencies whose minor unit fits in them (`is_supported_currency`): JPY's 1235 is
stored as 1235.00, a 3-digit currency (KWD) is refused rather than silently rounded.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision, list_currencies
from django.utils import translation

# Decimal places of the money columns (compensation offers, budgets, refunds).
STORED_DECIMAL_PLACES = 2

# A valid ISO 4217 code the engine can store, e.g. "EUR", "JPY", "CNY".
_KNOWN_CURRENCIES = frozenset(list_currencies())


def minor_units(currency: str) -> int:
    """How many digits the currency has after the decimal point: JPY 0, EUR 2, CNY 2, KWD 3."""
    return get_currency_precision(currency.upper())


def is_supported_currency(currency: str) -> bool:
    """A known ISO 4217 code whose minor unit fits the money columns (two decimal places)."""
    return (
        isinstance(currency, str)
        and len(currency) == 3
        and currency.upper() == currency
        and currency in _KNOWN_CURRENCIES
        and minor_units(currency) <= STORED_DECIMAL_PLACES
    )


def to_decimal(amount: Any) -> Decimal:
    """Decimal from a Decimal, int or string ("12.50"); a float is refused (its binary value is
    not the amount someone typed), as is anything that is not a finite number."""
    if isinstance(amount, (bool, float)):
        raise TypeError("money is Decimal, int or str, never float or bool")
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not an amount: {amount!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not an amount: {amount!r}")
    return value


def quantize(amount: Any, currency: str) -> Decimal:
    """``amount`` rounded to the currency's minor unit, half up: 12.345 EUR -> 12.35,
    1234.5 JPY -> 1235, 0.125 CNY -> 0.13."""
    exponent = Decimal(1).scaleb(-minor_units(currency))
    return to_decimal(amount).quantize(exponent, rounding=ROUND_HALF_UP)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of the currency: 0.01 EUR, 1 JPY."""
    return Decimal(1).scaleb(-minor_units(currency))


def babel_locale(language: str | None = None) -> Locale:
    """The babel locale of a Django language code ("zh-hans" -> zh_Hans); the active language
    when none is given, English when the code is unknown to CLDR."""
    return _locale(translation.to_locale(language or translation.get_language() or "en"))


@functools.lru_cache(maxsize=64)
def _locale(code: str) -> Locale:
    try:
        return Locale.parse(code)
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def format_money(amount: Any, currency: str, locale: str | None = None) -> str:
    """The amount as the reader's locale writes it, rounded to the currency's minor unit:
    ("1234.5", "EUR", "de") -> "1.234,50 €", ("1234", "JPY", "en") -> "¥1,234",
    ("12.5", "CNY", "zh-hans") -> "¥12.50". ``locale`` is a Django language code or a babel
    locale name; the active language when None."""
    return _formatted(quantize(amount, currency), currency, babel_locale(locale))


@functools.lru_cache(maxsize=4096)
def _formatted(amount: Decimal, currency: str, locale: Locale) -> str:
    # A page shows the same few amounts many times (a policy's suggestion on each of its rows, a
    # budget on each of its incident's): babel's formatting is worked out once per amount.
    # ``amount`` is already rounded to the currency, so equal amounts are written alike.
    # currency_digits (the default) gives each currency its CLDR number of decimals.
    return format_currency(amount, currency, locale=locale)


def totals(items: Iterable[Any]) -> dict[str, Decimal]:
    """One sum per currency, never adding two currencies: ``items`` are (amount, currency)
    pairs or objects with ``amount`` and ``currency`` (offers, budgets); a None amount (a
    percentage or points remedy) counts nothing. Sums are rounded to each currency's minor unit.
    """
    sums: dict[str, Decimal] = {}
    for item in items:
        if isinstance(item, tuple):
            amount, currency = item
        else:
            amount, currency = item.amount, item.currency
        if amount is None:
            continue
        sums[currency] = sums.get(currency, Decimal(0)) + quantize(amount, currency)
    return {currency: quantize(total, currency) for currency, total in sorted(sums.items())}
