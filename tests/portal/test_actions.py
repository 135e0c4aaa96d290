"""What the customer does on the page: reply, choose a remedy, set preferences, rate; and the
two other ways in (the lookup form, old survey links)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from compensation.models import CompensationOffer, OfferStatus, RemedyKind
from portal.models import ProgressLink
from tests import factories
from tests.portal.conftest import NOW, mint, path_of
from tickets.models import Message, SatisfactionSurvey, SLATimer, Ticket, TicketEvent

pytestmark = pytest.mark.usefixtures("no_rate_limits", "frozen")


def open_case(client, ticket) -> str:
    url, _ = mint(ticket)
    return client.get(path_of(url))["Location"]


def action(ticket, name: str) -> str:
    return reverse(f"portal:{name}", args=[ticket.public_id])


# --- reply -------------------------------------------------------------------------------------


def test_a_reply_becomes_a_customer_message_and_restarts_the_answer_clock(client, case):
    from tickets.models import SLAPolicy

    case.first_response_at = NOW - dt.timedelta(hours=3)
    case.sla_policy = SLAPolicy.objects.get(name="Urgent")
    case.save()
    page = open_case(client, case)
    key = str(uuid.uuid4())

    response = client.post(action(case, "reply"), {"body": "  Any news?  ", "submission": key})

    assert response.status_code == 302 and response["Location"] == f"{page}#conversation"
    message = Message.objects.get(ticket=case, direction="inbound")
    assert message.body == "Any news?"
    assert SLATimer.objects.filter(ticket=case, kind="next_response", status="active").exists()
    assert "Thank you: your message was sent to our team." in client.get(page).content.decode()


def test_the_same_reply_sent_twice_is_one_message(client, case):
    open_case(client, case)
    form = {"body": "Any news?", "submission": str(uuid.uuid4())}
    client.post(action(case, "reply"), form)
    second = client.post(action(case, "reply"), form)
    assert second.status_code == 302
    assert Message.objects.filter(ticket=case, direction="inbound").count() == 1


@pytest.mark.parametrize("body", ["", "   ", "x" * 20_001])
def test_a_bad_reply_comes_back_with_a_message_and_what_was_typed(client, case, body):
    open_case(client, case)
    response = client.post(action(case, "reply"), {"body": body, "submission": str(uuid.uuid4())})
    page = response.content.decode()
    assert response.status_code == 422
    assert 'class="field-error"' in page
    if body.strip():
        assert body[:100] in page
    assert not Message.objects.filter(ticket=case, direction="inbound").exists()


def test_a_reply_with_htmx_comes_back_in_the_conversation_section(client, case):
    open_case(client, case)
    bad = client.post(action(case, "reply"), {"body": ""}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 422
    assert bad.content.decode().lstrip().startswith('<section class="card conversation"')
    good = client.post(action(case, "reply"), {"body": "Hi there"}, HTTP_HX_REQUEST="true")
    section = good.content.decode()
    assert good.status_code == 200
    assert section.lstrip().startswith('<section class="card conversation"')
    assert "Thank you: your message was sent to our team." in section
    assert "Hi there" in section  # the message, now in the conversation
    assert re.search(r'<textarea id="id_body" name="body"[^>]*></textarea>', section)  # emptied


def test_a_reply_reopens_a_recently_solved_case(client, case):
    case.status, case.solved_at = "solved", NOW - dt.timedelta(days=2)
    case.save()
    open_case(client, case)
    client.post(action(case, "reply"), {"body": "Still not here."})
    case.refresh_from_db()
    assert case.status == "open"
    assert TicketEvent.objects.filter(ticket=case, kind="reopened").exists()


def test_a_reply_to_a_closed_case_opens_a_follow_up_the_browser_can_see(client, case):
    case.status, case.solved_at, case.closed_at = "closed", NOW - dt.timedelta(days=9), NOW
    case.save()
    open_case(client, case)

    response = client.post(action(case, "reply"), {"body": "It arrived broken."})

    follow_up = Ticket.objects.exclude(pk=case.pk).get(customer=case.customer)
    assert (
        response["Location"] == reverse("portal:case", args=[follow_up.public_id]) + "#conversation"
    )
    assert client.get(response["Location"]).status_code == 200
    assert follow_up.messages.get().body == "It arrived broken."


def test_a_form_without_its_csrf_token_is_refused(case, db):
    browser = Client(enforce_csrf_checks=True)
    open_case(browser, case)
    assert browser.post(action(case, "reply"), {"body": "Hi"}).status_code == 403
    assert not Message.objects.filter(ticket=case, direction="inbound").exists()


def csrf_form(browser, page: str) -> dict:
    body = browser.get(page).content.decode()
    return {
        "csrfmiddlewaretoken": re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)[1]
    }


def test_a_plain_form_from_the_page_passes_csrf_without_a_referer(case, db, settings):
    """The page's no-referrer policy makes a browser send `Origin: null` with a plain form:
    accepted when the browser says the form came from our own page (portal.csrf)."""
    settings.CSRF_TRUSTED_ORIGINS = []
    browser = Client(enforce_csrf_checks=True)
    page = open_case(browser, case)
    form = {**csrf_form(browser, page), "body": "Sent without JavaScript"}

    response = browser.post(
        action(case, "reply"),
        form,
        HTTP_ORIGIN="null",
        HTTP_SEC_FETCH_SITE="same-origin",
        secure=True,
    )

    assert response.status_code == 302
    assert Message.objects.filter(ticket=case, body="Sent without JavaScript").exists()


@pytest.mark.parametrize("site", ["cross-site", "same-site", None])
def test_a_null_origin_from_elsewhere_is_refused(case, db, site):
    browser = Client(enforce_csrf_checks=True)
    page = open_case(browser, case)
    headers = {"HTTP_ORIGIN": "null"}
    if site:
        headers["HTTP_SEC_FETCH_SITE"] = site
    form = {**csrf_form(browser, page), "body": "Hi"}
    assert browser.post(action(case, "reply"), form, **headers).status_code == 403
    assert not Message.objects.filter(ticket=case, direction="inbound").exists()


def test_a_form_from_another_origin_is_refused(case, db):
    browser = Client(enforce_csrf_checks=True)
    page = open_case(browser, case)
    form = {**csrf_form(browser, page), "body": "Hi"}
    response = browser.post(action(case, "reply"), form, HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 403


def test_the_language_switch_keeps_the_visitor_on_the_page(case, db):
    browser = Client(enforce_csrf_checks=True)
    page = open_case(browser, case)
    form = {**csrf_form(browser, page), "language": "zh-hans", "next": page}
    response = browser.post(
        reverse("portal:language"), form, HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="same-origin"
    )
    assert response.status_code == 302 and response["Location"] == page
    assert '<html lang="zh-hans">' in browser.get(page).content.decode()
    # Never a redirect off the site.
    form["next"] = "https://evil.example/t/x/"
    assert browser.post(reverse("portal:language"), form)["Location"] == reverse("portal:lookup")


# --- remedy choice -----------------------------------------------------------------------------


@pytest.fixture
def choice(case):
    group = uuid.uuid4()
    return [
        factories.CompensationOfferFactory(
            ticket=case, kind=kind, amount=amount, status=OfferStatus.OFFERED, choice_group=group
        )
        for kind, amount in ((RemedyKind.COUPON, Decimal("15.00")), (RemedyKind.RESHIP, None))
    ]


def test_the_customer_chooses_one_remedy_once(client, case, choice):
    page = open_case(client, case)
    coupon, reship = choice

    response = client.post(action(case, "remedy"), {"offer": str(reship.public_id)})

    assert response.status_code == 302 and response["Location"].endswith("#remedies")
    reship.refresh_from_db()
    coupon.refresh_from_db()
    assert reship.status == OfferStatus.ISSUED
    assert coupon.status == OfferStatus.CANCELLED
    body = client.get(page).content.decode()
    assert "on its way to you" in body and "data-remedy-form" not in body


def test_choosing_again_changes_nothing(client, case, choice):
    open_case(client, case)
    coupon, reship = choice
    client.post(action(case, "remedy"), {"offer": str(reship.public_id)})

    same = client.post(action(case, "remedy"), {"offer": str(reship.public_id)})
    other = client.post(action(case, "remedy"), {"offer": str(coupon.public_id)})

    assert same.status_code == 302
    assert other.status_code == 409
    assert "You have already chosen a remedy" in other.content.decode()
    assert CompensationOffer.objects.filter(status=OfferStatus.ISSUED).count() == 1


@pytest.mark.parametrize("value", ["", "not-a-uuid", "5e3c42fc-28e0-4a5d-926d-8f71468695f4"])
def test_an_unknown_remedy_is_refused_with_a_message(client, case, choice, value):
    open_case(client, case)
    response = client.post(action(case, "remedy"), {"offer": value})
    assert response.status_code == 422
    assert "Please choose one of the remedies." in response.content.decode()
    assert not CompensationOffer.objects.filter(status=OfferStatus.ISSUED).exists()


def test_another_tickets_remedy_cannot_be_chosen(client, case, choice, db):
    other = factories.CompensationOfferFactory(
        status=OfferStatus.OFFERED, choice_group=uuid.uuid4(), kind=RemedyKind.RESHIP, amount=None
    )
    open_case(client, case)
    assert client.post(action(case, "remedy"), {"offer": str(other.public_id)}).status_code == 422
    other.refresh_from_db()
    assert other.status == OfferStatus.OFFERED


# --- preferences -------------------------------------------------------------------------------


def test_the_customer_changes_how_we_keep_in_touch(client, case):
    page = open_case(client, case)
    response = client.post(
        action(case, "preferences"),
        {
            "preferred_channel": "sms",
            "opt_out_email": "on",
            "quiet_hours_start": "21:30",
            "quiet_hours_end": "07:00",
            "language": "zh-hans",
        },
    )
    assert response.status_code == 302
    customer = case.customer
    customer.refresh_from_db()
    assert customer.preferred_channel == "sms"
    assert customer.opt_out_email and not customer.opt_out_sms
    assert customer.quiet_hours_start == dt.time(21, 30)
    assert customer.language == "zh-hans"
    assert '<html lang="zh-hans">' in client.get(page).content.decode()


@pytest.mark.parametrize(
    "form, field, message",
    [
        ({"preferred_channel": "pigeon", "language": "en"}, "preferred_channel", "valid choice"),
        (
            {"preferred_channel": "email", "opt_out_email": "on", "language": "en"},
            "preferred_channel",
            "choose another way",
        ),
        (
            {"preferred_channel": "email", "quiet_hours_start": "22:00", "language": "en"},
            "quiet_hours_end",
            "Give both times",
        ),
        (
            {
                "preferred_channel": "email",
                "quiet_hours_start": "25:99",
                "quiet_hours_end": "07:00",
                "language": "en",
            },
            "quiet_hours_start",
            "Enter a time like 21:30.",
        ),
        ({"preferred_channel": "email", "language": "klingon"}, "language", "valid choice"),
    ],
)
def test_bad_preferences_are_refused_field_by_field(client, case, form, field, message):
    open_case(client, case)
    before = {f.name: getattr(case.customer, f.name) for f in case.customer._meta.fields}
    response = client.post(action(case, "preferences"), form)
    assert response.status_code == 422
    assert message in response.content.decode()
    case.customer.refresh_from_db()
    assert before == {f.name: getattr(case.customer, f.name) for f in case.customer._meta.fields}


def test_switching_everything_off_is_refused(client, case):
    open_case(client, case)
    form = {
        "preferred_channel": "email",
        "opt_out_email": "on",
        "opt_out_sms": "on",
        "opt_out_push": "on",
        "language": "en",
    }
    response = client.post(action(case, "preferences"), form)
    assert response.status_code == 422
    assert "keep at least one" in response.content.decode()


# --- survey ------------------------------------------------------------------------------------


@pytest.fixture
def solved(case, agent):
    case.status, case.solved_at = "solved", NOW - dt.timedelta(days=1)
    case.save()
    return SatisfactionSurvey.objects.create(
        ticket=case, resolved_at=case.solved_at, agent=agent, sent_at=NOW
    )


def test_the_survey_is_answered_on_the_page_and_lands_on_ticket_and_scorecard(
    client, case, solved, agent
):
    page = open_case(client, case)
    assert 'data-survey-state="open"' in client.get(page).content.decode()

    response = client.post(action(case, "survey"), {"rating": "4", "comment": " Quick! "})

    assert response.status_code == 302 and response["Location"].endswith("#survey")
    solved.refresh_from_db()
    assert (solved.rating, solved.comment, solved.reason) == (4, "Quick!", "")
    assert solved.agent == agent
    assert TicketEvent.objects.filter(ticket=case, kind="survey_answered").count() == 1
    assert 'data-survey-state="editable"' in client.get(page).content.decode()


def test_a_low_rating_needs_a_reason(client, case, solved):
    open_case(client, case)
    refused = client.post(action(case, "survey"), {"rating": "2", "comment": "Slow"})
    assert refused.status_code == 422
    body = refused.content.decode()
    assert "Please tell us what went wrong most." in body
    assert "Slow" in body  # nothing typed is lost
    client.post(action(case, "survey"), {"rating": "2", "reason": "late"})
    solved.refresh_from_db()
    assert (solved.rating, solved.reason) == (2, "late")


@pytest.mark.parametrize("rating", ["", "0", "6", "five"])
def test_a_rating_outside_1_to_5_is_refused(client, case, solved, rating):
    open_case(client, case)
    response = client.post(action(case, "survey"), {"rating": rating})
    assert response.status_code == 422
    assert "Please choose a rating from 1 to 5." in response.content.decode()


def test_an_answer_can_be_changed_for_7_days_then_it_is_final(client, case, solved, frozen):
    open_case(client, case)
    client.post(action(case, "survey"), {"rating": "3"})
    frozen.move_to(NOW + dt.timedelta(days=6))
    client.post(action(case, "survey"), {"rating": "5"})
    solved.refresh_from_db()
    assert solved.rating == 5 and solved.edited_at is not None

    frozen.move_to(NOW + dt.timedelta(days=7, minutes=1))
    late = client.post(action(case, "survey"), {"rating": "1", "reason": "other"})

    assert late.status_code == 409
    solved.refresh_from_db()
    assert solved.rating == 5
    assert SatisfactionSurvey.objects.filter(ticket=case).count() == 1  # one answer


def test_an_unanswered_survey_closes_after_28_days(client, case, solved, frozen):
    frozen.move_to(solved.resolved_at + dt.timedelta(days=28, minutes=1))
    open_case(client, case)
    response = client.post(action(case, "survey"), {"rating": "5"})
    assert response.status_code == 409
    solved.refresh_from_db()
    assert solved.rating is None


def test_a_double_submitted_first_answer_is_one_answer(client, case, solved):
    open_case(client, case)
    client.post(action(case, "survey"), {"rating": "4"})
    client.post(action(case, "survey"), {"rating": "4"})
    assert TicketEvent.objects.filter(ticket=case, kind="survey_answered").count() == 2
    solved.refresh_from_db()
    assert solved.rating == 4 and solved.answered_at == NOW


def test_no_survey_before_the_case_is_solved(client, case):
    open_case(client, case)
    response = client.post(action(case, "survey"), {"rating": "5"})
    assert response.status_code == 409
    assert not SatisfactionSurvey.objects.exists()


def test_each_resolution_gets_its_own_survey(agent, case):
    from tickets.services import ticket_change_status

    ticket_change_status(ticket=case, actor=agent, status="solved", now=NOW)
    ticket_change_status(ticket=case, actor=agent, status="open", now=NOW + dt.timedelta(hours=1))
    ticket_change_status(ticket=case, actor=agent, status="solved", now=NOW + dt.timedelta(hours=2))
    assert SatisfactionSurvey.objects.filter(ticket=case).count() == 2


# --- old survey links --------------------------------------------------------------------------


def test_an_old_survey_link_opens_the_case_at_its_survey(client, case, solved):
    token = "old-survey-token-from-last-month"
    solved.legacy_token_hash = hashlib.sha256(token.encode()).hexdigest()
    solved.save()

    response = client.get(f"/survey/{token}/")

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:case", args=[case.public_id]) + "#survey"
    assert 'data-survey-state="open"' in client.get(response["Location"]).content.decode()


def test_an_unknown_old_survey_link_is_the_plain_404(client, db):
    assert client.get("/survey/nothing-like-this/").status_code == 404


# --- lookup ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference, proof",
    [
        ("order", "CARLA@example.com"),
        ("tracking", "carla@example.com"),
        ("order", "+49 30 123456"),
        ("order", "030 123456"),
        ("order", "10115"),
    ],
)
def test_the_lookup_form_finds_the_case(client, case, reference, proof):
    case.shipment.destination_postal_code = "10115"
    case.shipment.save()
    number = case.shipment.order_number if reference == "order" else case.shipment.tracking_number

    response = client.post(reverse("portal:lookup"), {"reference": number, "proof": proof})

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:case", args=[case.public_id])
    assert client.get(response["Location"]).status_code == 200
    assert ProgressLink.objects.filter(ticket=case, kind="lookup").exists()


@pytest.mark.parametrize(
    "reference, proof",
    [
        ("right", "someone@else.com"),
        ("wrong", "carla@example.com"),
        ("right", "123"),
        ("right", "99999"),
    ],
)
def test_the_lookup_form_gives_one_plain_answer_when_nothing_matches(
    client, case, reference, proof
):
    number = case.shipment.order_number if reference == "right" else "ORD-NOPE"
    response = client.post(reverse("portal:lookup"), {"reference": number, "proof": proof})
    assert response.status_code == 404
    body = response.content.decode()
    assert "We could not find a case with these details." in body
    assert number in body and proof in body  # what was typed stays in the form
    assert "Carla" not in body


def test_the_lookup_form_checks_its_fields(client, db):
    response = client.post(reverse("portal:lookup"), {"reference": "", "proof": "x" * 300})
    body = response.content.decode()
    assert response.status_code == 422
    assert "Please enter your order or tracking number." in body
    assert "That is too long" in body
