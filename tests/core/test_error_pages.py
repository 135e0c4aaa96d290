"""Branded error pages: 400, 403, 404, 500 and the CSRF failure, in the reader's language,
with the console navigation for staff only and never on the customer pages; JSON in the API's
error shape under /api/ (the DRF-side shape is in test_api_errors.py)."""

import pytest
from django.test import Client

ERROR_URLS = "tests.core.error_urls"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def error_urls(settings):
    settings.ROOT_URLCONF = ERROR_URLS


@pytest.fixture
def anonymous():
    return Client(raise_request_exception=False)


@pytest.fixture
def agent_browser(agent):
    browser = Client(raise_request_exception=False)
    browser.force_login(agent)
    return browser


def _page(response) -> str:
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


@pytest.mark.django_db
def test_an_unknown_page_answers_the_branded_404_in_english(anonymous):
    response = anonymous.get("/no-such-page/", **EN)
    assert response.status_code == 404
    page = _page(response)
    assert "Page not found" in page
    assert 'data-error="404"' in page
    assert "css/delaydesk.css" in page
    assert "data-staff-nav" not in page


@pytest.mark.django_db
def test_the_404_page_speaks_the_readers_language(anonymous):
    page = _page(anonymous.get("/no-such-page/", **ZH))
    assert "页面未找到" in page
    assert '<html lang="zh-hans">' in page


@pytest.mark.django_db
def test_staff_see_the_console_navigation_on_a_console_404(agent_browser):
    page = _page(agent_browser.get("/console/tickets/00000000-0000-0000-0000-000000000000/", **EN))
    assert "data-staff-nav" in page
    assert "/console/" in page
    assert "Back to your work" in page


@pytest.mark.django_db
def test_a_customer_page_404_shows_no_staff_navigation_even_to_a_signed_in_agent(agent_browser):
    response = agent_browser.get("/survey/not-a-token/", **ZH)
    assert response.status_code == 404
    page = _page(response)
    assert "此链接无效" in page  # the customer pages' own 404 (portal)
    assert "data-staff-nav" not in page
    assert "Back to your work" not in page and "返回工作台" not in page


@pytest.mark.django_db
def test_a_server_error_answers_the_branded_500_in_the_readers_language(error_urls, agent_browser):
    response = agent_browser.get("/console/boom/", **ZH)
    assert response.status_code == 500
    page = _page(response)
    assert "出错了" in page
    assert 'data-error="500"' in page
    # Rendered without the request: no user, no navigation, no language form.
    assert "data-staff-nav" not in page
    assert "set_language" not in page and "/i18n/setlang/" not in page


@pytest.mark.django_db
def test_the_500_page_renders_when_the_database_is_gone(error_urls, anonymous, monkeypatch):
    from django.db import connection

    def refuse(*args, **kwargs):
        raise AssertionError("the 500 page must not touch the database")

    with monkeypatch.context() as patch:
        patch.setattr(connection, "cursor", refuse)
        response = anonymous.get("/survey/boom/", **EN)
    assert response.status_code == 500
    assert "Something went wrong" in _page(response)


@pytest.mark.django_db
def test_a_bad_request_answers_the_branded_400(error_urls, anonymous):
    response = anonymous.get("/console/bad/", **ZH)
    assert response.status_code == 400
    assert "请求有误" in _page(response)


@pytest.mark.django_db
def test_a_refusal_answers_the_branded_403(error_urls, agent_browser):
    response = agent_browser.get("/console/denied/", **EN)
    assert response.status_code == 403
    page = _page(response)
    assert "Access denied" in page
    assert "data-staff-nav" in page


@pytest.mark.django_db
def test_a_refusal_on_a_customer_page_shows_no_staff_navigation(error_urls, agent_browser):
    page = _page(agent_browser.get("/survey/denied/", **ZH))
    assert "无权访问" in page
    assert "data-staff-nav" not in page


@pytest.mark.django_db
def test_an_anonymous_visitor_never_sees_the_staff_navigation(error_urls, anonymous):
    page = _page(anonymous.get("/console/denied/", **EN))
    assert "Access denied" in page
    assert "data-staff-nav" not in page


@pytest.mark.django_db
def test_a_post_without_csrf_token_answers_the_branded_csrf_page(agent):
    browser = Client(enforce_csrf_checks=True, raise_request_exception=False)
    browser.force_login(agent)
    response = browser.post("/accounts/logout/", **ZH)
    assert response.status_code == 403
    page = _page(response)
    assert "此表单已过期" in page
    assert 'data-error="csrf"' in page


@pytest.mark.django_db
def test_error_pages_carry_no_inline_style_or_script(error_urls, anonymous, agent_browser):
    pages = [
        anonymous.get("/no-such-page/"),
        anonymous.get("/console/bad/"),
        agent_browser.get("/console/denied/"),
        anonymous.get("/survey/boom/"),
    ]
    for response in pages:
        page = _page(response)
        assert "<style" not in page
        assert "style=" not in page
        assert "<script" not in page


# --- Django-level errors under /api/: JSON in the API's shape ---------------------------------


def _api_error(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail", "code", "errors"}
    assert body["code"] == code
    assert body["errors"] == {}
    assert body["detail"]
    return body


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tickets/not-a-uuid/",
        "/api/v1/tickets/12345/messages/",
        "/api/v1/no-such-thing/",
        "/api/v2/tickets/",
    ],
)
def test_an_api_url_that_matches_nothing_answers_json_404(agent_browser, path):
    _api_error(agent_browser.get(path, **EN), 404, "not_found")


@pytest.mark.django_db
def test_the_api_json_404_speaks_the_readers_language(anonymous):
    body = _api_error(anonymous.get("/api/v1/tickets/not-a-uuid/", **ZH), 404, "not_found")
    assert body["detail"] == "未找到。"


@pytest.mark.django_db
def test_a_server_error_in_an_api_view_answers_json_500(error_urls, anonymous):
    body = _api_error(anonymous.get("/api/v1/boom/", **EN), 500, "server_error")
    assert "boom" not in body["detail"]


@pytest.mark.django_db
def test_a_server_error_in_a_plain_django_view_under_api_answers_json_500(error_urls, anonymous):
    _api_error(anonymous.get("/api/v1/django-boom/", **EN), 500, "server_error")


@pytest.mark.django_db
def test_a_django_400_and_403_under_api_answer_json(error_urls, anonymous):
    _api_error(anonymous.get("/api/v1/bad/", **EN), 400, "bad_request")
    _api_error(anonymous.get("/api/v1/denied/", **EN), 403, "permission_denied")


# --- HEAD /healthz ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_head_healthz_answers_like_get_without_a_body(client):
    get = client.get("/healthz")
    head = client.head("/healthz")
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head["Content-Type"] == get["Content-Type"]
    assert "no-cache" in head["Cache-Control"]


def test_head_healthz_answers_503_when_the_database_does_not(client, monkeypatch):
    from django.db import OperationalError

    from core import views

    class BrokenConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(views, "connection", BrokenConnection())
    response = client.head("/healthz")
    assert response.status_code == 503
    assert response.content == b""


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/tickets/99999999999999999999999/", "/api/v1/nothing/"])
def test_with_debug_on_an_api_url_that_matches_nothing_still_answers_json_404(
    settings, agent_browser, path
):
    """`make run` runs with DEBUG on, where Django would answer its technical HTML page."""
    settings.DEBUG = True
    body = _api_error(agent_browser.get(path, **ZH), 404, "not_found")
    assert body["detail"] == "未找到。"


@pytest.mark.django_db
def test_with_debug_on_a_console_404_stays_the_technical_page(settings, agent_browser):
    settings.DEBUG = True
    response = agent_browser.get("/console/no-such-page/", **EN)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
