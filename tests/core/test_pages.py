"""Login, logout, home routing, roles on the pages, and the language switch."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")
LOGOUT = reverse("logout")
HOME = reverse("home")
CONSOLE = reverse("tickets:console")
SUPERVISOR_PAGE = reverse("supervisor:home")


# ---- Login and logout -----------------------------------------------------------------------


def test_the_login_page_renders(client):
    response = client.get(LOGIN)

    body = response.content.decode()
    assert response.status_code == 200
    assert "Log in to Delaydesk" in body
    assert 'name="username"' in body
    assert 'name="password"' in body
    assert "csrfmiddlewaretoken" in body


def test_logging_in_with_the_right_password_opens_a_session(client, agent):
    response = client.post(LOGIN, {"username": "alice", "password": factories.PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == HOME
    assert client.get(CONSOLE).status_code == 200


def test_logging_in_goes_back_to_the_page_asked_for(client, agent):
    response = client.post(
        LOGIN, {"username": "alice", "password": factories.PASSWORD, "next": CONSOLE}
    )

    assert response["Location"] == CONSOLE


def test_a_wrong_password_shows_an_error_and_no_session(client, agent):
    response = client.post(LOGIN, {"username": "alice", "password": "wrong"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logging_out_takes_a_post_and_ends_the_session(agent_client):
    assert agent_client.get(LOGOUT).status_code == 405

    response = agent_client.post(LOGOUT)

    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert agent_client.get(CONSOLE).status_code == 302


def test_the_layout_has_a_logout_form_posting_with_a_csrf_token(agent_client):
    body = agent_client.get(CONSOLE).content.decode()

    assert f'action="{LOGOUT}" method="post"' in body
    assert "Log out" in body


# ---- Home routing ---------------------------------------------------------------------------


def test_home_sends_agents_to_the_console(agent_client):
    response = agent_client.get(HOME)

    assert response.status_code == 302
    assert response["Location"] == CONSOLE


def test_home_sends_supervisors_to_the_supervisor_page(supervisor_client):
    response = supervisor_client.get(HOME)

    assert response["Location"] == SUPERVISOR_PAGE


def test_a_user_without_any_role_gets_the_no_role_page(client):
    client.force_login(factories.UserFactory(username="nobody"))

    response = client.get(HOME)

    assert response.status_code == 403
    assert "Your account has no role yet" in response.content.decode()


def test_a_staff_user_without_any_role_gets_the_no_role_page(client):
    client.force_login(factories.UserFactory(username="staffer", is_staff=True))

    response = client.get(HOME)

    assert response.status_code == 403
    assert "Your account has no role yet" in response.content.decode()


def test_an_operator_lands_on_the_admin(operator_client):
    assert operator_client.get(HOME)["Location"] == "/admin/"


def test_a_staff_user_with_stray_permissions_but_no_role_is_told_so(client):
    # Issue 11: the admin is for the operator role only, so a permission alone no longer
    # sends anyone there (it used to, and the admin then refused them).
    from django.contrib.auth.models import Permission

    user = factories.UserFactory(username="stray", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_delayrule"))
    client.force_login(user)

    assert client.get(HOME).status_code == 403


def test_home_sends_anonymous_visitors_to_log_in(client):
    response = client.get(HOME)

    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


# ---- Roles on the pages ---------------------------------------------------------------------


@pytest.mark.parametrize("url", [CONSOLE, SUPERVISOR_PAGE])
def test_anonymous_visitors_are_redirected_to_log_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={url}"


def test_an_agent_opens_the_console_but_not_the_supervisor_page(agent_client):
    assert agent_client.get(CONSOLE).status_code == 200
    assert agent_client.get(SUPERVISOR_PAGE).status_code == 403


def test_a_supervisor_opens_both_pages(supervisor_client):
    assert supervisor_client.get(CONSOLE).status_code == 200
    assert supervisor_client.get(SUPERVISOR_PAGE).status_code == 200


def test_the_navigation_shows_each_role_its_pages(agent_client, client, supervisor):
    agent_nav = agent_client.get(CONSOLE).content.decode()
    assert f'href="{CONSOLE}"' in agent_nav
    assert f'href="{SUPERVISOR_PAGE}"' not in agent_nav

    client.force_login(supervisor)
    supervisor_nav = client.get(SUPERVISOR_PAGE).content.decode()
    assert f'href="{CONSOLE}"' in supervisor_nav
    assert f'href="{SUPERVISOR_PAGE}"' in supervisor_nav
    # Role users are staff, but the admin is for operators (issue 11): no link to it.
    assert 'href="/admin/"' not in supervisor_nav
    assert 'href="/admin/"' not in agent_nav
    assert "Sam" in supervisor_nav


# ---- Language -------------------------------------------------------------------------------


def test_switching_to_simplified_chinese_translates_the_console(agent_client):
    response = agent_client.post(
        reverse("set_language"), {"language": "zh-hans", "next": CONSOLE}, follow=True
    )

    body = response.content.decode()
    assert response.redirect_chain[-1][0] == CONSOLE
    assert '<html lang="zh-hans">' in body
    assert "工单队列" in body  # "Ticket queue"
    assert "分配给我" in body  # the "Mine" tab
    assert "退出登录" in body  # "Log out"
    assert "Ticket queue" not in body


def test_switching_back_to_english(agent_client):
    agent_client.post(reverse("set_language"), {"language": "zh-hans", "next": CONSOLE})
    response = agent_client.post(
        reverse("set_language"), {"language": "en", "next": CONSOLE}, follow=True
    )

    assert "Ticket queue" in response.content.decode()


def test_model_labels_are_translated_too(agent_client, agent):
    factories.TicketFactory(assignee=agent, priority="urgent", status="pending")

    body = agent_client.get(CONSOLE, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "紧急" in body  # Priority.URGENT
    assert "等待客户回复" in body  # TicketStatus.PENDING


def test_the_language_switch_offers_english_and_simplified_chinese(client):
    body = client.get(LOGIN).content.decode()

    assert 'name="language" value="en"' in body
    assert 'name="language" value="zh-hans"' in body
    assert "简体中文" in body
