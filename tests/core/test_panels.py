"""core.panels: a lower page names a slot, higher apps put their panels into it."""

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django_htmx.middleware import HtmxDetails

from core import panels

SLOT = "test.slot"


@pytest.fixture
def slot():
    yield SLOT
    panels._panels.pop(SLOT, None)


def render_slot(*args) -> str:
    template = Template("{% load delaydesk %}{% panel_slot slot public_id %}")
    return template.render(Context({"slot": SLOT, "public_id": args[0] if args else None}))


def test_an_empty_slot_renders_nothing(slot):
    assert render_slot("00000000-0000-0000-0000-000000000001").strip() == ""


def test_panels_render_in_order_with_their_url_and_a_link_without_javascript(slot):
    public_id = "00000000-0000-0000-0000-000000000001"
    panels.register_panel(
        slot=slot,
        url_name="notifications:ticket_history",
        title="Notices",
        link_text="Show the notices",
        order=30,
        marker="notice-panel",
    )
    panels.register_panel(
        slot=slot,
        url_name="compensation:ticket_panel",
        title="Remedies",
        link_text="Show the remedies",
        order=20,
    )
    html = render_slot(public_id)

    notices = f"/console/tickets/{public_id}/notifications/"
    remedies = f"/console/tickets/{public_id}/compensation/"
    assert html.index(remedies) < html.index(notices)
    assert f'hx-get="{notices}" hx-trigger="load"' in html
    assert f'<a href="{notices}">Show the notices</a>' in html
    assert "data-notice-panel" in html


def test_registering_twice_keeps_one_panel_and_it_can_be_taken_out(slot):
    for _ in range(2):
        panels.register_panel(
            slot=slot, url_name="supervisor:home", title="A", link_text="a", order=1
        )
    assert len(panels.panels(slot)) == 1
    panels.unregister_panel(slot=slot, url_name="supervisor:home")
    assert panels.panels(slot) == []


def test_the_apps_fill_the_slots_of_the_pages_below_them():
    assert [p.url_name for p in panels.panels("ticket.sidebar")] == [
        "compensation:ticket_panel",
        "notifications:ticket_history",
        "portal:link_panel",
    ]
    assert [p.url_name for p in panels.panels("shipment.main")] == ["tickets:shipment_tickets"]


@pytest.mark.parametrize(
    ("headers", "template"),
    [
        ({"HTTP_HX_REQUEST": "true"}, "fragment"),
        ({}, "page"),
        ({"HTTP_HX_REQUEST": "true", "HTTP_HX_HISTORY_RESTORE_REQUEST": "true"}, "page"),
    ],
)
def test_a_panel_answers_htmx_with_its_fragment_and_anyone_else_with_its_page(
    headers, template, settings, tmp_path
):
    (tmp_path / "fragment.html").write_text("fragment")
    (tmp_path / "page.html").write_text("page")
    settings.TEMPLATES = [
        {"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [tmp_path]}
    ]
    request = RequestFactory().get("/panel/", **headers)
    request.htmx = HtmxDetails(request)  # what django-htmx's middleware adds

    response = panels.render_panel(request, fragment="fragment.html", page="page.html", context={})

    assert response.content.decode() == template
    assert "HX-Request" in response["Vary"]
