"""An incident's bulk offer from the supervisor's page (supervisor.incident_offer): the form
with the incident's open tickets and budget, one offer per open ticket however often it is
sent, refusals on their fields, the role, CSRF, and both languages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages import mofile, pofile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compensation import services
from compensation.models import ApprovalRequest, Budget, CompensationOffer, OfferStatus
from tests import factories
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

HOME = reverse("supervisor:home")
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
TEN_PERCENT = {"kind": "discount_code", "percent": "10", "reason": "Strike at the hub"}


@pytest.fixture
def incident(db):
    return factories.IncidentFactory(title="Hub strike")


def affected(incident, count: int) -> list[Ticket]:
    return [factories.TicketFactory(shipment__incident=incident) for _ in range(count)]


def offer_url(incident) -> str:
    return reverse("supervisor:incident_offer", args=[incident.public_id])


def said(response) -> list[str]:
    """The messages the incident's page showed after the redirect (shown, so gone): the run of
    the bulk offer is there, with its outcome (supervisor.incidents)."""
    [(url, status)] = response.redirect_chain
    assert status == 302
    assert url.startswith("/supervisor/incidents/") and url.endswith("/#actions"), url
    return [str(m) for m in response.context["messages"]]


def budget(incident, amount: str, currency: str = "EUR") -> Budget:
    today = timezone.localdate()
    return Budget.objects.create(
        name="Strike",
        period_start=today - dt.timedelta(days=1),
        period_end=today + dt.timedelta(days=30),
        amount=Decimal(amount),
        currency=currency,
        incident=incident,
    )


# ---- the form -------------------------------------------------------------------------------


def test_the_form_shows_the_open_tickets_and_the_budget(supervisor_client, incident):
    affected(incident, 3)
    factories.TicketFactory(incident=incident, shipment=None)  # its own incident
    factories.TicketFactory(
        shipment__incident=incident, status=Ticket.Status.SOLVED, solved_at=timezone.now()
    )
    factories.TicketFactory(shipment__incident=factories.IncidentFactory())  # another one
    budget(incident, "500.00")
    factories.CompensationOfferFactory(
        ticket=Ticket.objects.filter(shipment__incident=incident).first(),
        kind="coupon",
        amount=Decimal("20.00"),
        currency="EUR",
        status=OfferStatus.ISSUED,
        issued_at=timezone.now(),
    )

    response = supervisor_client.get(offer_url(incident), **EN)

    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-open-tickets="4"' in body
    assert "4 open tickets in this incident." in body
    assert "€20.00 of €500.00 used" in body and "€480.00 left" in body
    assert "Hub strike" in body
    # Only the goodwill kinds are offered.
    assert 'value="discount_code"' in body and 'value="coupon"' in body
    assert 'value="full_refund"' not in body and 'value="reship"' not in body
    assert "csrfmiddlewaretoken" in body
    assert "<script" not in body.split("</header>")[-1] and " style=" not in body


def test_an_incident_without_a_budget_says_so(supervisor_client, incident):
    response = supervisor_client.get(offer_url(incident), **EN)
    body = response.content.decode()
    assert "No budget set for this incident" in body
    assert "0 open tickets in this incident." in body


def test_the_supervisor_home_links_each_open_incident_to_it(supervisor_client, incident):
    response = supervisor_client.get(HOME, **EN)
    body = response.content.decode()
    assert offer_url(incident) in body
    assert "Offer a remedy to every affected customer" in body


@pytest.fixture
def catalog_from_po(settings, tmp_path):
    """The zh-Hans catalog compiled from the .po as it is now (the committed .mo is compiled by
    the lead, later): babel reads and writes it, LOCALE_PATHS points at the copy."""
    source = Path(settings.BASE_DIR) / "locale/zh_Hans/LC_MESSAGES/django.po"
    target = tmp_path / "zh_Hans/LC_MESSAGES/django.mo"
    target.parent.mkdir(parents=True)
    with source.open("rb") as po_file:
        catalog = pofile.read_po(po_file, locale="zh_Hans")
    with target.open("wb") as mo_file:
        mofile.write_mo(mo_file, catalog)
    settings.LOCALE_PATHS = [str(tmp_path)]  # setting_changed drops the loaded catalogs


def test_the_page_reads_in_chinese(supervisor_client, incident, catalog_from_po):
    affected(incident, 2)

    response = supervisor_client.get(offer_url(incident), HTTP_ACCEPT_LANGUAGE="zh-hans")

    body = response.content.decode()
    assert response.status_code == 200
    assert "向“Hub strike”的客户提供补救" in body
    assert "此事件中有 2 个未关闭的工单。" in body
    assert "提供给所有受影响的客户" in body
    home = supervisor_client.get(HOME, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "向所有受影响的客户提供补救" in home


def test_the_outcome_reads_in_chinese(supervisor_client, incident, catalog_from_po):
    affected(incident, 2)
    response = supervisor_client.post(
        offer_url(incident), TEN_PERCENT, follow=True, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert said(response) == ["已提供给 2 位客户。"]


# ---- offering -------------------------------------------------------------------------------


def test_posting_offers_once_and_a_second_post_adds_nothing(supervisor_client, incident):
    tickets = affected(incident, 3)

    response = supervisor_client.post(offer_url(incident), TEN_PERCENT, follow=True, **EN)

    assert said(response) == ["Offered to 3 customers."]
    offers = CompensationOffer.objects.all()
    assert sorted(o.ticket_id for o in offers) == sorted(t.pk for t in tickets)
    assert {(o.status, o.kind, o.percent) for o in offers} == {
        (OfferStatus.OFFERED, "discount_code", Decimal("10.00"))
    }

    again = supervisor_client.post(offer_url(incident), TEN_PERCENT, follow=True, **EN)

    assert said(again) == ["Nothing new: every ticket already has this offer."]
    assert CompensationOffer.objects.count() == 3


def test_offers_beyond_the_budget_wait_for_approval(supervisor_client, incident):
    affected(incident, 3)
    budget(incident, "25.00")

    response = supervisor_client.post(
        offer_url(incident),
        {"kind": "coupon", "amount": "10", "currency": "EUR"},
        follow=True,
        **EN,
    )

    assert said(response) == ["3 offers wait for approval."]
    assert CompensationOffer.objects.filter(status=OfferStatus.PENDING_APPROVAL).count() == 3
    assert ApprovalRequest.objects.filter(status="pending").count() == 3


def test_an_incident_without_open_tickets_has_nothing_to_offer(supervisor_client, incident):
    response = supervisor_client.post(offer_url(incident), TEN_PERCENT, follow=True, **EN)
    assert said(response) == ["Nothing to offer: this incident has no open ticket."]


# ---- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["full_refund", "partial_refund", "reship"])
def test_a_refund_or_reship_is_refused_on_the_kind(supervisor_client, incident, kind):
    affected(incident, 2)

    response = supervisor_client.post(
        offer_url(incident), {"kind": kind, "amount": "5", "currency": "EUR"}, **EN
    )

    assert response.status_code == 422
    assert response.context["form"].errors["kind"] == [str(services.NOT_FOR_BULK)]
    assert 'data-error="kind"' in response.content.decode()
    assert not CompensationOffer.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "coupon", "currency": "EUR"}, "amount", services.AMOUNT_REQUIRED),
        ({"kind": "discount_code"}, "percent", services.PERCENT_REQUIRED),
        ({"kind": "loyalty_points"}, "points", services.POINTS_REQUIRED),
        ({"kind": "coupon", "amount": "5", "currency": "ZZZ"}, "currency", None),
        ({"kind": "coupon", "amount": "5", "currency": "XXXX"}, "currency", None),
        ({"kind": "discount_code", "percent": "150"}, "percent", None),
        ({"kind": "loyalty_points", "points": "9" * 30}, "points", None),
        ({"kind": "gift", "reason": "x" * 5000}, "reason", None),
        ({"kind": "nonsense"}, "kind", None),
        ({}, "kind", None),
    ],
)
def test_bad_input_is_a_field_error(supervisor_client, incident, data, field, message):
    affected(incident, 1)

    response = supervisor_client.post(offer_url(incident), data, **EN)

    assert response.status_code == 422
    errors = response.context["form"].errors
    assert field in errors, errors
    if message is not None:
        assert errors[field] == [str(message)]
    assert not CompensationOffer.objects.exists()


# ---- who and how ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
def test_agents_may_not_offer_to_an_incident(agent_client, incident, method):
    affected(incident, 1)
    response = getattr(agent_client, method)(offer_url(incident), TEN_PERCENT)
    assert response.status_code == 403
    assert not CompensationOffer.objects.exists()


def test_anonymous_goes_to_the_login(client, incident):
    response = client.get(offer_url(incident))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_unknown_incident_is_not_found(supervisor_client):
    url = reverse("supervisor:incident_offer", args=["00000000-0000-4000-8000-000000000000"])
    assert supervisor_client.get(url).status_code == 404


def test_a_post_without_the_csrf_token_is_refused(supervisor, incident):
    affected(incident, 1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor)
    response = client.post(offer_url(incident), TEN_PERCENT)
    assert response.status_code == 403
    assert not CompensationOffer.objects.exists()
