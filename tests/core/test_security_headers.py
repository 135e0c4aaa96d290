"""The Content-Security-Policy is on every answer: every page and API route (whatever its status:
a page, a redirect to the login, a 403, a 404, an API error), static files and the answers a
middleware gives before any view runs. It allows no inline script or style and no framing."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver

from tests import factories

pytestmark = pytest.mark.django_db

SAMPLE_ARGUMENTS = {"uuid": str(uuid.uuid4()), "int": "1", "str": "x", "slug": "x", "path": "x"}


def every_route(resolver: URLResolver | None = None, prefix: str = "") -> list[str]:
    """Every URL the project routes, its parameters filled with harmless samples."""
    paths = []
    for entry in (resolver or get_resolver()).url_patterns:
        pattern = prefix + _example(entry.pattern)
        if isinstance(entry, URLResolver):
            paths.extend(every_route(entry, pattern))
        elif isinstance(entry, URLPattern):
            paths.append("/" + pattern)
    return sorted(set(paths))


def _example(pattern) -> str:
    text = str(pattern)
    converters = getattr(pattern, "converters", {})
    if not converters:  # a regex route (the admin's): its literal form, anchors stripped
        return text.lstrip("^").rstrip("$").replace("\\", "")
    for name, converter in converters.items():
        kind = type(converter).__name__.removesuffix("Converter").lower()
        text = text.replace(f"<{kind}:{name}>", SAMPLE_ARGUMENTS.get(kind, "x"))
        text = text.replace(f"<{name}>", SAMPLE_ARGUMENTS["str"])
    return text


def assert_strict_policy(response, what: str) -> None:
    policy = response.get("Content-Security-Policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives.get("frame-ancestors") == ["'none'"], f"{what}: {policy!r}"
    assert directives.get("default-src") == ["'self'"], f"{what}: {policy!r}"
    for name in ("script-src", "style-src"):
        assert directives.get(name) == ["'self'"], f"{what}: {policy!r}"


def test_every_route_answers_with_the_policy_anonymously(client):
    routes = every_route()
    assert len(routes) > 40  # the walk found the project's routes, not just a few

    for path in routes:
        assert_strict_policy(client.get(path), f"GET {path} (anonymous)")


def test_every_route_answers_with_the_policy_to_a_signed_in_user(client):
    user = factories.AgentFactory(username="lee", roles=("agent", "supervisor"))
    factories.AgentProfileFactory(user=user)
    client.force_login(user)

    for path in every_route():
        assert_strict_policy(client.get(path), f"GET {path} (agent and supervisor)")


def test_the_pages_that_render_carry_the_policy(agent_client, supervisor, customer):
    ticket = factories.TicketFactory(customer=customer)
    shipment = factories.ShipmentFactory(customer=customer)
    for path in (
        "/console/",
        f"/console/tickets/{ticket.public_id}/",
        f"/console/shipments/{shipment.public_id}/",
        f"/console/customers/{customer.public_id}/",
        "/api/v1/tickets/",
        "/api/schema/",
        "/api/docs/",
        "/api/docs/?script",
    ):
        response = agent_client.get(path)
        assert response.status_code == 200, path
        assert_strict_policy(response, f"GET {path}")


def test_api_errors_posts_and_static_files_carry_the_policy(client):
    answers = {
        "webhook without a signature": client.post(
            "/api/v1/webhooks/carriers/x/", data="{}", content_type="application/json"
        ),
        "API without a token": client.get("/api/v1/tickets/"),
        "unknown API route": client.get("/api/v1/no-such-thing/"),
        "a NUL in the query": client.get("/console/?q=%00"),
        "a path without its slash": client.get("/console"),
        "the login page": client.get("/accounts/login/"),
        "a wrong login": client.post("/accounts/login/", {"username": "x", "password": "y"}),
    }
    for what, response in answers.items():
        assert response.status_code != 500, what
        assert_strict_policy(response, what)


def test_the_api_docs_page_has_no_inline_script_or_style(agent_client):
    page = agent_client.get("/api/docs/").content.decode()

    assert "<style" not in page
    assert "<script>" not in page
    assert 'src="/api/docs/?script=' in page
    script = agent_client.get("/api/docs/?script")
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


INLINE = re.compile(
    r"<script(?![^>]*\ssrc=)[^>]*>"  # a script without src
    r"|<style[\s>]"  # a style block
    r"|\sstyle\s*="  # a style attribute
    r"|\son[a-z]+\s*="  # an event handler attribute (onclick=...)
    r"|\shx-on[:-]"  # htmx's inline handlers (evaluated code: 'unsafe-eval')
    r"|javascript:",
    re.IGNORECASE,
)


def test_no_template_of_the_project_has_inline_script_or_style():
    """What the policy would refuse in a browser, refused at the source: every template of the
    project (the error pages and the lockout page included), not only the pages a browser test
    visits."""
    root = Path(settings.BASE_DIR)
    templates = [
        path
        for path in root.glob("**/templates/**/*.html")
        if not {".venv", "node_modules", "var"} & set(path.relative_to(root).parts)
    ]
    assert len(templates) > 20

    found = [
        f"{path.relative_to(root)}: {match.group(0)!r}"
        for path in templates
        for match in INLINE.finditer(path.read_text())
    ]
    assert found == []
