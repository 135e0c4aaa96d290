"""The satisfaction survey a customer opens from the link in their survey notice: no login,
in their language, answered once."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse

from tests import factories
from tickets.models import SatisfactionSurvey, TicketEvent

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def survey():
    customer = factories.CustomerFactory(name="Carla Customer", language="en")
    shipment = factories.ShipmentFactory(customer=customer, order_number="ORD-2024-0815")
    ticket = factories.TicketFactory(
        customer=customer, shipment=shipment, status="solved", solved_at=NOW - dt.timedelta(days=1)
    )
    return SatisfactionSurvey.objects.create(ticket=ticket, sent_at=NOW - dt.timedelta(days=1))


def url(survey: SatisfactionSurvey) -> str:
    return reverse("notifications:survey", args=[survey.token])


def test_the_survey_opens_without_a_login(client, survey):
    response = client.get(url(survey))

    body = response.content.decode()
    assert response.status_code == 200
    assert "How did we do?" in body
    assert "Hello Carla Customer" in body
    assert "ORD-2024-0815" in body
    assert "private" in response["Cache-Control"]


def test_the_rating_is_a_group_of_labelled_radio_buttons(client, survey):
    body = client.get(url(survey)).content.decode()

    assert "<fieldset" in body and "<legend>How satisfied are you" in body
    for value in range(1, 6):
        assert f'type="radio" class="star-input" id="rating-{value}" name="rating"' in body
        assert f'<label for="rating-{value}"' in body
    assert '<span class="visually-hidden">5 – Very satisfied</span>' in body
    assert '<textarea id="id_comment" name="comment"' in body


def test_a_rating_and_a_comment_are_saved_once_with_a_timeline_row(client, survey):
    with time_machine.travel(NOW, tick=False):
        response = client.post(url(survey), {"rating": "4", "comment": "  Quick and kind.  "})

    assert response.status_code == 302
    assert response["Location"] == f"{url(survey)}?thanks=1"
    survey.refresh_from_db()
    assert survey.rating == 4
    assert survey.comment == "Quick and kind."
    assert survey.answered_at == NOW
    event = TicketEvent.objects.get(ticket=survey.ticket, kind="survey_answered")
    assert event.data == {"rating": 4}
    assert event.created_at == NOW


def test_the_thank_you_page_follows_the_answer(client, survey):
    response = client.post(url(survey), {"rating": "5"}, follow=True)

    body = response.content.decode()
    assert "Thank you!" in body
    assert "We received your rating of 5 out of 5." in body
    assert '<form method="post" class="stack"' not in body


def test_the_comment_is_optional(client, survey):
    client.post(url(survey), {"rating": "2"})

    survey.refresh_from_db()
    assert (survey.rating, survey.comment) == (2, "")


@pytest.mark.parametrize("rating", ["", "0", "6", "five", "3.5"])
def test_an_invalid_rating_is_refused_on_its_field(client, survey, rating):
    response = client.post(url(survey), {"rating": rating, "comment": "Kept"})

    body = response.content.decode()
    assert response.status_code == 422
    assert (
        '<p class="field-error" id="rating-error">Please choose a rating from 1 to 5.</p>' in body
    )
    assert 'aria-describedby="rating-error"' in body
    assert ">Kept</textarea>" in body  # what the customer typed stays
    survey.refresh_from_db()
    assert survey.answered_at is None
    assert not TicketEvent.objects.filter(kind="survey_answered").exists()


def test_a_too_long_comment_is_refused_on_its_field_and_the_rating_kept(client, survey):
    response = client.post(url(survey), {"rating": "3", "comment": "x" * 2001})

    body = response.content.decode()
    assert response.status_code == 422
    assert 'id="comment-error"' in body
    assert 'id="rating-3" name="rating" value="3" checked' in body
    survey.refresh_from_db()
    assert survey.answered_at is None


def test_a_second_answer_changes_nothing_and_says_already_answered(client, survey):
    with time_machine.travel(NOW, tick=False):
        client.post(url(survey), {"rating": "4", "comment": "First"})

    response = client.post(url(survey), {"rating": "1", "comment": "Second"})

    body = response.content.decode()
    assert response.status_code == 409
    assert "You have already answered" in body
    assert "rating of 4 out of 5" in body
    survey.refresh_from_db()
    assert (survey.rating, survey.comment, survey.answered_at) == (4, "First", NOW)
    assert TicketEvent.objects.filter(kind="survey_answered").count() == 1


def test_an_answered_survey_shows_no_form(client, survey):
    client.post(url(survey), {"rating": "4"})

    body = client.get(url(survey)).content.decode()

    assert "You have already answered" in body
    assert "data-survey-form" not in body


def test_an_unknown_token_is_404(client, survey):
    assert client.get(reverse("notifications:survey", args=["not-a-token"])).status_code == 404
    assert (
        client.post(reverse("notifications:survey", args=["x"]), {"rating": 5}).status_code == 404
    )


def test_the_survey_only_answers_get_and_post(client, survey):
    assert client.put(url(survey)).status_code == 405


def test_the_survey_speaks_the_customer_s_language(client, survey):
    customer = survey.ticket.customer
    customer.language = "zh-hans"
    customer.save()

    response = client.get(url(survey), HTTP_ACCEPT_LANGUAGE="en")

    body = response.content.decode()
    assert '<html lang="zh-hans">' in body
    assert response["Content-Language"] == "zh-hans"


def test_the_visitor_s_own_language_choice_wins(client, survey):
    customer = survey.ticket.customer
    customer.language = "zh-hans"
    customer.save()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    response = client.get(url(survey))

    assert '<html lang="en">' in response.content.decode()
    assert "How did we do?" in response.content.decode()


def test_the_language_switch_is_offered_and_comes_back_to_the_survey(client, survey):
    body = client.get(url(survey)).content.decode()
    assert 'class="language-switch"' in body

    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": url(survey)})

    assert response["Location"] == url(survey)
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
