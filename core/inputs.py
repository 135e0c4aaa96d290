"""Numbers and text from outside (query strings, path segments, filters, search boxes), checked
before they reach the database.

Input is trusted for what it is, not for how it looks:

- Python's `int()` and `str.isdigit()` accept any Unicode digit ('١٢٣', '１２３'), `isdigit()`
  even a superscript '²' that `int()` then refuses, and `re`'s `\\d` matches them all. An id
  from outside is ASCII digits only.
- The database's integers are 64-bit at most: PostgreSQL answers "bigint out of range" and
  SQLite's driver raises OverflowError. An id from outside is within 1..2**63-1, or it is no id
  (nothing matches it), never an error.
- PostgreSQL refuses text holding NUL (psycopg raises ValueError before sending the query).
  `RefuseNulMiddleware` answers 400 to a path or query string holding one; search text has
  NULs (and other control characters) removed, and is capped.

Use these everywhere instead of `int()` / `isdigit()`: `parse_id`, `parse_page`,
`clean_search`; `IdField` / `IdModelChoiceField` in forms; `IdFilter` in django-filter
filtersets; `IdSerializerField` in DRF serializers; `StrictPageNumberPagination` and
`StrictCursorPagination` for DRF pages; `<id:name>` (`IdConverter`, registered by core.apps)
in URL patterns; `bounded_admin_search` (core.admin_site) for every admin search box.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import BadRequest, ValidationError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination, PageNumberPagination

# The largest value of a 64-bit signed integer column (PostgreSQL bigint, SQLite INTEGER).
ID_MAX = 2**63 - 1
# Digits of the largest id: longer ASCII text is out of range without converting it.
ID_MAX_DIGITS = len(str(ID_MAX))
# Explicit ASCII class: `\d` in `re` matches every Unicode decimal digit.
_ASCII_DIGITS = re.compile(r"[0-9]+")

# Page numbers beyond this are past any real list's end.
PAGE_MAX = 1_000_000

SEARCH_MAX_LENGTH = 200

INVALID_ID = _("Enter a whole number from 1 to %(max)s, in the digits 0-9.")
NUL_IN_REQUEST = _("The address holds a NUL character, which is never valid input.")


def parse_id(text: Any) -> int | None:
    """The id `text` spells (ASCII digits, 1..2**63-1, surrounding spaces ignored), else None.

    An int (e.g. from a path converter or JSON) is range-checked as it is; bools are not ids.
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text if 1 <= text <= ID_MAX else None
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not text or len(text) > ID_MAX_DIGITS or not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 1 <= value <= ID_MAX else None


def parse_page(text: Any, *, default: int = 1, maximum: int = PAGE_MAX) -> int:
    """A page number from a query string: ASCII digits, at least 1 and at most `maximum`;
    `default` for anything else (a stale or mistyped link still opens a page)."""
    value = parse_id(text)
    if value is None:
        return default
    return min(value, maximum)


def clean_search(text: Any, *, max_length: int = SEARCH_MAX_LENGTH) -> str:
    """Search text as the database may receive it: any Unicode, control characters (NUL
    among them) turned into spaces, outer spaces stripped, at most `max_length` characters."""
    if not isinstance(text, str):
        return ""
    if any(unicodedata.category(char) == "Cc" for char in text):
        text = "".join(" " if unicodedata.category(char) == "Cc" else char for char in text)
    return text.strip()[:max_length].strip()


# Words of an admin search: each word is an OR over the model's search fields, the words are
# ANDed, and SQLite refuses an expression tree deeper than 1000 (a long pasted text answered 500).
ADMIN_SEARCH_MAX_WORDS = 20
ADMIN_SEARCH_VARS = ("q", "term")  # the changelist's search box, the autocomplete's
# The admin's date hierarchy (`?created_at__year=2026&created_at__month=5`) builds a datetime
# from these and the next year, month or day after it, outside its own error handling: year
# 9999 or a 30-digit year answered 500.
ADMIN_DATE_PARTS = {"__year": (1, 9998), "__month": (1, 12), "__day": (1, 31)}


# Key fields whose values are ids (parse_id); other keys (a token's key) are left to the admin.
INTEGER_KEYS = frozenset(
    {"AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField"}
)


def bounded_admin_search(view):
    """Wrap an admin view so its search text (`?q=`, the autocomplete's `?term=`) is clean
    search text of at most `ADMIN_SEARCH_MAX_WORDS` words, whatever ModelAdmin searches it, a
    date-hierarchy part that is not ASCII digits in its range is dropped (as a stale link), and
    an object page (change, history, delete) of a model with an integer key answers 404 for an
    id that is not one (Django's int() would read '١٢٣' as 123 and open object 123)."""
    model = getattr(getattr(view, "__self__", None), "model", None)
    integer_key = model is not None and model._meta.pk.get_internal_type() in INTEGER_KEYS

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if integer_key and "object_id" in kwargs and parse_id(kwargs["object_id"]) is None:
            raise Http404("No such object")
        dates = [key for key in request.GET if key.endswith(tuple(ADMIN_DATE_PARTS))]
        if dates or any(name in request.GET for name in ADMIN_SEARCH_VARS):
            request.GET = request.GET.copy()
            for name in ADMIN_SEARCH_VARS:
                if name in request.GET:
                    words = clean_search(request.GET[name]).split()
                    request.GET[name] = " ".join(words[:ADMIN_SEARCH_MAX_WORDS])
            for key in dates:
                low, high = ADMIN_DATE_PARTS["__" + key.rsplit("__", 1)[1]]
                values = [parse_id(value) for value in request.GET.getlist(key)]
                if not values or any(v is None or not low <= v <= high for v in values):
                    del request.GET[key]
        return view(request, *args, **kwargs)

    return wrapper


# --- forms and filters ------------------------------------------------------------------------


class IdField(forms.IntegerField):
    """An integer form field that takes only ASCII digits within 1..2**63-1.

    Django's IntegerField takes '١٢٣' as 123 and any size of number.
    """

    default_error_messages = {"invalid": INVALID_ID}

    def __init__(self, *, min_value: int = 1, max_value: int = ID_MAX, **kwargs) -> None:
        super().__init__(min_value=min_value, max_value=max_value, **kwargs)

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        if isinstance(value, str):
            value = value.strip()
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and _ASCII_DIGITS.fullmatch(value):
            number = int(value) if len(value) <= ID_MAX_DIGITS else ID_MAX + 1
        else:
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"max": ID_MAX}
            )
        if not self.min_value <= number <= self.max_value:
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"max": self.max_value}
            )
        return number


class IdModelChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField keyed by id that refuses non-ASCII or out-of-range ids as an invalid
    choice (Django's would look up '١' as pk 1)."""

    def to_python(self, value: Any):
        if value in self.empty_values:
            return None
        if parse_id(value.pk if isinstance(value, self.queryset.model) else value) is None:
            raise ValidationError(
                self.error_messages["invalid_choice"],
                code="invalid_choice",
                params={"value": value},
            )
        return super().to_python(value)


# The schema says what the filter accepts (django-filter's NumberFilter is documented as any
# number): schemathesis sends 0 or 2**64 as valid otherwise.
@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": ID_MAX})
class IdFilter(django_filters.NumberFilter):
    """A django-filter filter on an integer id: ASCII digits within range, else a field error
    (django-filter's NumberFilter takes '１e3' as 1000 and sends any size of number)."""

    field_class = IdField


class IdSerializerField(serializers.IntegerField):
    """A DRF integer id or version: a JSON number or ASCII digits, within 1..2**63-1 (DRF's
    IntegerField reads "١" as 1 and takes any size of number)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or (
            isinstance(data, str) and not _ASCII_DIGITS.fullmatch(data.strip())
        ):
            self.fail("invalid")
        return super().to_internal_value(data)


# --- DRF pagination ---------------------------------------------------------------------------


class StrictPageNumberPagination(PageNumberPagination):
    """DRF page numbers read as ASCII digits: another page number is a 404 ("Invalid page."),
    as DRF answers for a page past the end; a `page_size` that is not one is ignored."""

    def get_page_number(self, request, paginator):
        text = request.query_params.get(self.page_query_param)
        if text is None or text in self.last_page_strings:
            return super().get_page_number(request, paginator)
        number = parse_id(text)
        if number is None or number > PAGE_MAX:
            raise NotFound(self.invalid_page_message)
        return number

    def get_page_size(self, request):
        if self.page_size_query_param:
            size = parse_id(request.query_params.get(self.page_size_query_param))
            if size is not None:
                return min(size, self.max_page_size) if self.max_page_size else size
        return self.page_size


class StrictCursorPagination(CursorPagination):
    """DRF cursors whose position is checked before it is queried.

    A cursor is opaque to clients but not signed: a forged one holds any text as the position,
    which DRF compares with the ordering field as it is (a text that is no date answered 500).
    A position the field cannot read is an invalid cursor (404), as DRF answers for a cursor
    it cannot decode.
    """

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        field = self._model._meta.get_field(self.ordering[0].lstrip("-"))
        try:
            if "\x00" in cursor.position:
                raise ValidationError("NUL")
            field.to_python(cursor.position)
        except ValidationError:
            raise NotFound(self.invalid_cursor_message) from None
        return cursor


# --- URL paths --------------------------------------------------------------------------------


class IdConverter:
    """`<id:name>` in URL patterns: ASCII digits within 1..2**63-1, anything else is no match
    (a 404), never a query with a number the database cannot hold."""

    regex = f"[0-9]{{1,{ID_MAX_DIGITS}}}"

    def to_python(self, value: str) -> int:
        number = parse_id(value)
        if number is None:
            raise ValueError(value)
        return number

    def to_url(self, value: int | str) -> str:
        number = parse_id(value)
        if number is None:
            raise ValueError(value)
        return str(number)


class RefuseNulMiddleware:
    """400 for a path, query string or cookie holding a NUL character (%00, or "\\000" in a
    quoted cookie value).

    No page or API reads one as valid input, and PostgreSQL refuses text holding NUL with an
    error, so any lookup by such a value (a survey token, a tracking number, an admin search,
    a session key) would answer 500. Form bodies are checked by Django's and DRF's fields,
    which refuse NUL. The session is read lazily, after this middleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            "\x00" in request.path_info
            or any(
                "\x00" in key or any("\x00" in value for value in values)
                for key, values in request.GET.lists()
            )
            or any("\x00" in value for value in request.COOKIES.values())
        ):
            raise BadRequest(NUL_IN_REQUEST)
        return self.get_response(request)
