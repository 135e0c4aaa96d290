"""Numbers and text from outside never break a page: every search box, integer filter and id.

Digits that are not ASCII digits ('١٢٣', '１２３', '²'), integers beyond 64 bits, NUL
characters and any other Unicode text are sent to every route of the site, in every query
parameter the route reads and every path id, and to every admin changelist's search and
filters and every admin object URL. Nothing answers 5xx; ids are ASCII digits within range or
they match nothing (404, empty list, or a 400 field error in the API).

The routes come from the URL resolver and the parameters from what each view reads (a request
records the query keys it looks up), so a new page or filter is covered without editing this
file. Run it on SQLite and on PostgreSQL: an overflow only shows on the real database.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import QueryDict
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern
from django.utils import timezone
from django.utils.datastructures import MultiValueDict

from core.inputs import ID_MAX, IdConverter, clean_search, parse_id, parse_page
from portal.links import PortalLinks, hash_token
from tests import factories
from tickets.models import Macro, SatisfactionSurvey

BAD_INPUTS = {
    "arabic_indic_digits": "١٢٣",
    "fullwidth_digits": "１２３",
    "superscript_two": "²",
    "beyond_64_bits": "9" * 30,
    "just_beyond_bigint": str(ID_MAX + 1),
    "negative": "-1",
    "zero": "0",
    "exponent": "1e3",
    "nul": "\x00abc",
    "unicode_text": "ž漢字🙂",
    "very_long": "ž漢字🙂 " * 1000,
}
NUL = "\x00"
# The OpenAPI schema and its docs page read no database and take seconds a request to build:
# probed with the number-like inputs only.
SCHEMA_ROUTES = {"api/schema/", "api/docs/"}

# The last year a datetime holds: the admin's date hierarchy adds one to it.
LAST_YEAR = {"last_year": "9999"}
# What numbers and ids are checked with where every input would take too long (admin filters,
# form fields of POST actions): the digits that look like numbers, the number beyond 64 bits, NUL.
ID_INPUTS = {
    key: BAD_INPUTS[key]
    for key in (
        "arabic_indic_digits",
        "fullwidth_digits",
        "superscript_two",
        "beyond_64_bits",
        "nul",
    )
}


# --- the shared helpers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        (" 42 ", 42),
        (str(ID_MAX), ID_MAX),
        (str(ID_MAX + 1), None),
        ("9" * 30, None),
        ("0", None),
        ("-1", None),
        ("+1", None),
        ("1e3", None),
        ("1.0", None),
        ("١٢٣", None),
        ("１２３", None),
        ("²", None),
        ("", None),
        (None, None),
        (7, 7),
        (0, None),
        (True, None),
        (ID_MAX + 1, None),
    ],
)
def test_parse_id_takes_ascii_digits_within_the_64_bit_range_only(text, expected):
    assert parse_id(text) == expected


def test_parse_page_falls_back_to_the_first_page_and_caps_the_number():
    assert parse_page("3") == 3
    assert parse_page("١") == 1
    assert parse_page("9" * 30) == 1
    assert parse_page(str(10**9)) == 1_000_000


def test_clean_search_keeps_any_unicode_drops_control_characters_and_caps_the_length():
    assert clean_search("  ž漢字🙂  ") == "ž漢字🙂"
    assert clean_search("\x00abc\x00") == "abc"
    assert clean_search("a\x00b") == "a b"
    assert len(clean_search("x" * 5000)) == 200
    assert clean_search(None) == ""


def test_the_id_converter_refuses_what_the_database_cannot_hold():
    converter = IdConverter()
    assert converter.to_python("12") == 12
    for text in ("0", str(ID_MAX + 1), "9" * 19):
        with pytest.raises(ValueError):
            converter.to_python(text)


# --- the world the routes are probed in ---------------------------------------------------


@pytest.fixture
def world(db, no_rate_limits):
    """One of each thing a route can name, seen by a superuser (every scope, every page) whose
    browser also opened the ticket's progress link (the customer's pages)."""
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    ticket = factories.TicketFactory(status="solved", solved_at=timezone.now())
    incident = factories.IncidentFactory(carrier=ticket.shipment.carrier)
    SatisfactionSurvey.objects.create(
        ticket=ticket,
        resolved_at=timezone.now(),
        sent_at=timezone.now(),
        legacy_token_hash=hash_token("an-old-survey-token"),
    )
    link = PortalLinks().mint([ticket.pk], now=timezone.now())[ticket.pk]
    macro = Macro.objects.create(slug="hello", language="en", title="Hello", body="Hello")
    offer = factories.CompensationOfferFactory(ticket=ticket, status="pending_approval")
    return {
        "user": user,
        "ticket": ticket,
        "incident": incident,
        "progress_token": link.url.rstrip("/").rsplit("/", 1)[1],
        "macro": macro,
        "offer": offer,
    }


def _samples(world) -> dict[str, str]:
    """A valid value for each (route prefix, path parameter): the pages then read their query
    parameters rather than stopping at a 404."""
    ticket, shipment = world["ticket"], world["ticket"].shipment
    return {
        "console/tickets/:public_id": str(ticket.public_id),
        "console/tickets/:macro_id": str(world["macro"].pk),
        # An offer of that ticket (the remedy panel's "the customer chose this" button).
        "console/tickets/:offer_id": str(world["offer"].public_id),
        "console/customers/:public_id": str(ticket.customer.public_id),
        "console/shipments/:public_id": str(shipment.public_id),
        "supervisor/incidents/:public_id": str(world["incident"].public_id),
        # (before the offers' prefix, which also starts these routes)
        "supervisor/approvals/incidents/:public_id": str(world["incident"].public_id),
        "supervisor/approvals/:public_id": str(world["offer"].public_id),
        "survey/:token": "an-old-survey-token",
        "t/case/:public_id": str(ticket.public_id),
        "t/:token": world["progress_token"],
        "api/v1/tickets/:id": str(ticket.public_id),
        # No offer has this id: these routes read no query parameter, and the path test's
        # answer is the 404 anyway (the API's own tests: tests/compensation/test_api.py).
        "api/v1/compensations/:id": str(ticket.public_id),
        "api/v1/shipments/:tracking_number": shipment.tracking_number,
    }


def _site_routes() -> Iterator[tuple[str, list[str]]]:
    """(route with <name> placeholders, parameter names) of every URL pattern but the admin's
    (probed below through the admin's own registry) and the language switch's."""

    def walk(patterns, prefix: str):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                if entry.app_name == "admin":
                    continue
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                if isinstance(entry.pattern, RegexPattern):  # a DRF router's
                    route = _regex_route(str(entry.pattern))
                    yield prefix + route, list(entry.pattern.regex.groupindex)
                else:
                    yield prefix + str(entry.pattern), list(entry.pattern.converters)

    for route, names in walk(get_resolver().url_patterns, ""):
        if not route.startswith("i18n/"):
            yield route, names


def _regex_route(regex: str) -> str:
    """A DRF router pattern ('^tickets/(?P<id>[...])/$') as a route ('tickets/<id>/')."""
    import re

    route = regex.lstrip("^").rstrip("$")
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", route)
    route = route.replace("\\.(?P<format>[a-z0-9]+)/?", "").replace("\\", "")
    return route


SITE_ROUTES = sorted({route: names for route, names in _site_routes()}.items())


def _fill(route: str, names: list[str], world, override: dict[str, str] | None = None) -> str:
    samples = _samples(world)
    path = route
    for name in names:
        key = next(
            (k for k in samples if k.endswith(f":{name}") and route.startswith(k.split(":")[0])),
            None,
        )
        assert key is not None, f"no sample value for <{name}> in {route}: add one to _samples"
        value = (override or {}).get(name, samples[key])
        path = path.replace(f"<{name}>", quote(value, safe=""), 1)
        path = path.replace(f"<uuid:{name}>", quote(value, safe=""), 1)
        for converter in ("int", "id", "str", "path", "slug"):
            path = path.replace(f"<{converter}:{name}>", quote(value, safe=""), 1)
    return "/" + path


class _ReadKeys:
    """Records which keys the view looks up in request.GET / request.POST."""

    def __init__(self, monkeypatch) -> None:
        self.keys: set[str] = set()
        for method in ("get", "getlist", "__getitem__", "__contains__"):
            original = getattr(MultiValueDict, method)
            monkeypatch.setattr(QueryDict, method, self._wrap(original))

    def _wrap(self, original):
        def recording(querydict, key, *args, **kwargs):
            self.keys.add(key)
            return original(querydict, key, *args, **kwargs)

        return recording


def _client(world) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(world["user"])
    assert client.get(f"/t/{world['progress_token']}/").status_code == 302
    return client


def _assert_answered(response, what: str, value: str, *, in_query: bool = True) -> None:
    """No 5xx; a NUL in a path or query string is refused before any view reads it (400)."""
    assert response.status_code < 500, f"{what} with {value!r} answered {response.status_code}"
    if NUL in value and in_query:
        assert response.status_code in (400, 404), f"{what} with a NUL: {response.status_code}"


@pytest.mark.parametrize(("route", "names"), SITE_ROUTES, ids=[route for route, _ in SITE_ROUTES])
def test_every_query_parameter_a_route_reads_takes_any_input(route, names, world, monkeypatch):
    client = _client(world)
    path = _fill(route, names, world)
    for method in ("get", "post"):
        with monkeypatch.context() as patch:
            reads = _ReadKeys(patch)
            response = getattr(client, method)(path, {"probe": "1"})
        keys = reads.keys - {"probe"}
        if response.status_code in (405, 404) and not keys:
            continue
        for key in sorted(keys):
            if method == "get":
                for value in (ID_INPUTS if route in SCHEMA_ROUTES else BAD_INPUTS).values():
                    response = client.get(path, {key: value})
                    _assert_answered(response, f"GET {path}?{key}=", value)
                continue
            for value in ID_INPUTS.values():
                response = client.post(path, {"version": "1", key: value})
                _assert_answered(response, f"POST {path} {key}=", value, in_query=False)


ROUTES_WITH_IDS = [(route, names) for route, names in SITE_ROUTES if names]


@pytest.mark.parametrize(
    ("route", "names"), ROUTES_WITH_IDS, ids=[route for route, _ in ROUTES_WITH_IDS]
)
def test_every_path_id_takes_any_input_and_answers_not_found(route, names, world):
    client = _client(world)
    for value in BAD_INPUTS.values():
        for name in names:
            path = _fill(route, names, world, override={name: value})
            for method in ("get", "post"):
                response = getattr(client, method)(path)
                _assert_answered(response, f"{method.upper()} {path}", value)
                if response.status_code != 405:
                    assert response.status_code in (400, 404), (path, response.status_code)
                if path.startswith("/api/") and response.status_code in (400, 404):
                    assert response["Content-Type"].startswith("application/json"), path


# --- the admin ----------------------------------------------------------------------------

ADMINS = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def _changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


@pytest.mark.parametrize(
    ("model", "model_admin"), ADMINS, ids=[model._meta.label for model, _ in ADMINS]
)
def test_every_admin_search_filter_and_object_url_takes_any_input(model, model_admin, world):
    client = _client(world)
    url = _changelist(model)
    request = RequestFactory().get(url)
    request.user = world["user"]
    parameters = {"q"} if model_admin.get_search_fields(request) else set()
    parameters.update(("p", "o"))  # page and ordering
    if model_admin.date_hierarchy:
        parameters.update(f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month"))
    changelist = model_admin.get_changelist_instance(request)
    for spec in changelist.filter_specs:
        parameters.update(spec.expected_parameters())
    for parameter in sorted(parameters):
        for value in (BAD_INPUTS if parameter == "q" else ID_INPUTS | LAST_YEAR).values():
            response = client.get(url, {parameter: value})
            _assert_answered(response, f"admin {url}?{parameter}=", value)
    for value in ID_INPUTS.values():
        # The history and delete pages find their object as the change page does.
        path = f"{url}{quote(value, safe='')}/change/"
        response = client.get(path)
        _assert_answered(response, f"admin {path}", value)
        assert response.status_code in (302, 400, 404), (path, response.status_code)


# --- the right answers, one by one ---------------------------------------------------------


def _unicode_digits(number: int, zero: str) -> str:
    return "".join(chr(ord(zero) + int(digit)) for digit in str(number))


@pytest.fixture
def agent_client_and_ticket(agent_client, agent):
    ticket = factories.TicketFactory(assignee=agent)
    return agent_client, ticket


@pytest.mark.parametrize(
    "zero", ["\u0660", "\uff10", "\u06f0"], ids=["arabic", "fullwidth", "persian"]
)
def test_console_search_reads_unicode_digits_as_text_not_as_a_ticket_reference(
    agent_client_and_ticket, zero
):
    client, ticket = agent_client_and_ticket
    reference = _unicode_digits(ticket.pk, zero)
    for term in (reference, f"#{reference}"):
        response = client.get(reverse("tickets:console"), {"queue": "all", "q": term})
        assert response.status_code == 200
        assert ticket.subject not in response.content.decode()
    found = client.get(reverse("tickets:console"), {"queue": "all", "q": f"#{ticket.pk}"})
    assert ticket.subject in found.content.decode()


@pytest.mark.parametrize("term", ["²", "9" * 30, f"#{'9' * 30}", "ž漢字🙂", "x" * 5000])
def test_console_search_answers_an_empty_queue_for_numbers_no_ticket_can_have(
    agent_client_and_ticket, term
):
    client, ticket = agent_client_and_ticket
    response = client.get(reverse("tickets:console"), {"queue": "all", "q": term})
    assert response.status_code == 200
    assert ticket.subject not in response.content.decode()


@pytest.mark.parametrize("reference", ["٣", "²", "9" * 30, "0", "-1", "ž漢字🙂"])
def test_the_console_incident_filter_refuses_what_is_not_an_incident_number(
    supervisor_client, reference
):
    incident = factories.IncidentFactory()
    assert (
        supervisor_client.get(reverse("tickets:console"), {"incident": incident.pk}).status_code
        == 200
    )
    response = supervisor_client.get(reverse("tickets:console"), {"incident": reference})
    assert response.status_code == 404


def test_a_nul_in_the_query_string_is_a_bad_request_not_a_database_error(agent_client):
    response = agent_client.get(reverse("tickets:console"), {"q": "\x00abc"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "value", ["١", "１", "²", "9" * 30, str(ID_MAX + 1), "0", "-1", "1e3", "1.5"]
)
def test_the_shipments_api_lane_filter_answers_a_field_error(world, value):
    client = _client(world)
    lane = world["ticket"].shipment.lane
    assert client.get("/api/v1/shipments/", {"lane": lane.pk}).status_code == 200
    response = client.get("/api/v1/shipments/", {"lane": value})
    assert response.status_code == 400
    assert "lane" in response.json().get("errors", response.json())


@pytest.mark.parametrize("value", ["١", "9" * 30, "0", "-1", "1e3"])
def test_the_tickets_api_page_number_is_ascii_digits_or_not_found(world, value):
    client = _client(world)
    assert client.get("/api/v1/tickets/", {"page": "1"}).status_code == 200
    response = client.get("/api/v1/tickets/", {"page": value})
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    "value", ["99999999999999999999999", "١", "0b5c8f0e-7d7a-4c52-9a57-3f1d2e6b4a10"]
)
def test_an_api_ticket_id_that_names_no_ticket_is_a_json_404(world, value):
    response = _client(world).get(f"/api/v1/tickets/{quote(value)}/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


def test_a_macro_id_beyond_64_bits_in_a_console_url_is_not_found(agent_client_and_ticket):
    client, ticket = agent_client_and_ticket
    path = f"/console/tickets/{ticket.public_id}/macros/{'9' * 30}/render/"
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("zero", ["\u0660", "\uff10"], ids=["arabic", "fullwidth"])
def test_admin_ticket_search_reads_unicode_digits_as_text(world, zero):
    client = _client(world)
    ticket = world["ticket"]
    url = _changelist(type(ticket))
    found = client.get(url, {"q": f"#{ticket.pk}"})
    assert ticket.subject in found.content.decode()
    response = client.get(url, {"q": f"#{_unicode_digits(ticket.pk, zero)}"})
    assert response.status_code == 200
    assert ticket.subject not in response.content.decode()


@pytest.mark.parametrize("zero", ["\u0660", "\uff10"], ids=["arabic", "fullwidth"])
@pytest.mark.parametrize("page", ["change", "history", "delete"])
def test_an_admin_object_page_does_not_read_unicode_digits_as_the_objects_id(world, zero, page):
    """int('١٢٣') is 123: without the check the admin opened object 123 from that URL."""
    client = _client(world)
    ticket = world["ticket"]
    url = _changelist(type(ticket))
    assert client.get(f"{url}{ticket.pk}/{page}/").status_code == 200
    response = client.get(f"{url}{quote(_unicode_digits(ticket.pk, zero))}/{page}/")
    assert response.status_code == 404


@pytest.mark.parametrize("version", ["١", "１", "9" * 30, str(ID_MAX + 1), "0", True])
def test_the_tickets_api_version_is_a_field_error_unless_ascii_digits_in_range(world, version):
    ticket = world["ticket"]
    response = _client(world).patch(
        f"/api/v1/tickets/{ticket.public_id}/",
        {"version": version, "status": "pending"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "version" in response.json().get("errors", response.json())


@pytest.mark.parametrize("position", ["not-a-time", "\x00", "2026-01-01T00:00:00+00:00\x00", "١"])
def test_a_forged_shipments_api_cursor_is_not_found(world, position):
    import base64

    cursor = base64.b64encode(urlencode({"p": position}).encode()).decode()
    response = _client(world).get("/api/v1/shipments/", {"cursor": cursor})
    assert response.status_code == 404


def test_the_incident_form_reads_a_lane_in_other_digits_as_no_lane(supervisor_client):
    lane = factories.LaneFactory()
    response = supervisor_client.post(
        reverse("incidents:new"),
        {"title": "Customs", "cause": "customs_hold", "lane": _unicode_digits(lane.pk, "\u0660")},
    )
    assert response.status_code == 200
    assert "lane" in response.context["form"].errors


def test_the_assign_form_reads_an_agent_in_other_digits_as_no_agent(
    agent_client_and_ticket, agent, other_agent
):
    client, ticket = agent_client_and_ticket
    response = client.post(
        reverse("tickets:ticket_assign", args=[ticket.public_id]),
        {"version": ticket.version, "assignee": _unicode_digits(other_agent.pk, "\uff10")},
    )
    assert response.status_code == 422
    ticket.refresh_from_db()
    assert ticket.assignee == agent


def test_a_nul_in_a_cookie_is_a_bad_request_not_a_session_lookup(client, db):
    # A quoted cookie value may spell NUL as an octal escape; the session key is looked up as is.
    response = client.get(reverse("tickets:console"), HTTP_COOKIE='sessionid="\\000abcdefgh"')
    assert response.status_code == 400
