"""Admin-managed texts that agents read (macro names, milestone labels, delay rule descriptions)
carry a zh-Hans translation (django-modeltranslation) and show in the reader's language.

The defaults the project ships are translated by the migrations; an operator edits both
languages in the admin; a text without a translation shows in English.
"""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from shipments.models import DelayRule
from tests import factories
from tickets.models import Macro, SLAPolicy, SLATarget, TicketEvent

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def ticket_page(client, ticket, **headers) -> str:
    response = client.get(reverse("tickets:ticket_detail", args=[ticket.public_id]), **headers)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def lost_parcel_ticket(customer):
    """An English lost-parcel ticket with the default policy's "Contact the customer" milestone
    running and "Verify with the carrier" met (its timer and its timeline row)."""
    ticket = factories.TicketFactory(customer=customer, category="lost", language="en")
    policy = SLAPolicy.objects.get(name="Lost parcel")
    contact = SLATarget.objects.get(policy=policy, name="Contact the customer")
    verify = SLATarget.objects.get(policy=policy, name="Verify with the carrier")
    factories.SLATimerFactory(
        ticket=ticket, target=contact, kind="milestone", name=contact.name, met_by="public_reply"
    )
    factories.SLATimerFactory(
        ticket=ticket,
        target=verify,
        kind="milestone",
        name=verify.name,
        met_by="carrier_contacted",
        status="met",
        met_at=timezone.now(),
    )
    factories.TicketEventFactory(
        ticket=ticket,
        kind=TicketEvent.Kind.MILESTONE_MET,
        data={"name": verify.name, "timer_kind": "milestone"},
    )
    return ticket


def test_the_shipped_defaults_carry_a_chinese_translation():
    macro = Macro.objects.get(slug="delay-apology", language="en")
    assert (macro.title_en, macro.title_zh_hans) == (
        "Delay: apology and new ETA",
        "延误致歉及新预计送达时间",
    )
    # The body is written to the customer: one row per customer language, not translated.
    assert Macro.objects.get(slug="delay-apology", language="zh-hans").body.startswith(
        "{customer_name}，您好"
    )
    target = SLATarget.objects.get(policy__name="Delay", name="Contact the courier")
    assert (target.label_en, target.label_zh_hans) == ("Contact the courier", "联系快递员")
    rule = DelayRule.objects.get(key="orange")
    assert (rule.description_en, rule.description_zh_hans) == (
        "No tracking update for 72 hours",
        "超过 72 小时没有物流更新",
    )
    for macro in Macro.objects.all():
        assert macro.title_en and macro.title_zh_hans, macro.slug
    for target in SLATarget.objects.filter(kind="milestone"):
        assert target.label_en and target.label_zh_hans, target.name
    for rule in DelayRule.objects.all():
        assert rule.description_en and rule.description_zh_hans, rule.key


def test_the_macro_picker_names_macros_in_the_agents_language(agent_client, customer):
    ticket = factories.TicketFactory(customer=customer, category="delay", language="en")

    chinese = ticket_page(agent_client, ticket, **ZH)
    english = ticket_page(agent_client, ticket, **EN)

    assert "延误致歉及新预计送达时间" in chinese
    assert "Delay: apology and new ETA" not in chinese
    assert "Delay: apology and new ETA" in english
    assert "延误致歉及新预计送达时间" not in english


def test_the_macro_body_stays_in_the_customers_language_whoever_reads(agent_client, customer):
    ticket = factories.TicketFactory(customer=customer, category="delay", language="en")
    macro = Macro.objects.get(slug="delay-apology", language="en")
    url = reverse("tickets:macro_render", args=[ticket.public_id, macro.pk])

    response = agent_client.get(url, **ZH)

    assert response.status_code == 200
    assert "I am sorry that your order" in response.content.decode()


def test_milestones_are_named_in_the_agents_language(agent_client, lost_parcel_ticket):
    chinese = ticket_page(agent_client, lost_parcel_ticket, **ZH)
    english = ticket_page(agent_client, lost_parcel_ticket, **EN)

    assert "联系客户" in chinese  # the running timer
    assert "与承运商核实" in chinese  # the timeline's "milestone met"
    assert "Contact the customer" not in chinese
    assert "Verify with the carrier" not in chinese
    assert "Contact the customer" in english
    assert "Verify with the carrier" in english
    assert "联系客户" not in english


def test_a_milestone_without_a_translation_shows_its_name(agent_client, lost_parcel_ticket):
    SLATarget.objects.filter(name="Contact the customer").update(label_zh_hans=None)

    assert "Contact the customer" in ticket_page(agent_client, lost_parcel_ticket, **ZH)


def test_a_timer_whose_target_is_gone_shows_the_name_it_started_with(
    agent_client, lost_parcel_ticket
):
    lost_parcel_ticket.timers.update(target=None)

    assert "Contact the customer" in ticket_page(agent_client, lost_parcel_ticket, **ZH)


def test_the_supervisor_alerts_name_milestones_in_the_readers_language(
    supervisor_client, lost_parcel_ticket
):
    lost_parcel_ticket.timers.update(due_at=timezone.now() + dt.timedelta(minutes=10))

    chinese = supervisor_client.get(reverse("supervisor:home"), **ZH).content.decode()
    english = supervisor_client.get(reverse("supervisor:home"), **EN).content.decode()

    assert "联系客户" in chinese
    assert "Contact the customer" in english


def delayed_by_the_orange_rule():
    return factories.ShipmentFactory(
        delay_level="orange", delay_rule="orange", delay_detected_at=timezone.now()
    )


def test_the_shipment_page_describes_the_rule_in_the_readers_language(agent_client):
    shipment = delayed_by_the_orange_rule()
    url = f"/console/shipments/{shipment.public_id}/"

    chinese = agent_client.get(url, **ZH).content.decode()
    english = agent_client.get(url, **EN).content.decode()

    assert "超过 72 小时没有物流更新" in chinese
    assert "No tracking update for 72 hours" not in chinese
    assert "No tracking update for 72 hours" in english


def test_an_operator_edits_both_languages_in_the_admin(operator_client, agent):
    rule = DelayRule.objects.get(key="orange")
    url = reverse("admin:shipments_delayrule_change", args=[rule.pk])
    form = operator_client.get(url).content.decode()
    assert 'name="description_en"' in form
    assert 'name="description_zh_hans"' in form

    response = operator_client.post(
        url,
        {
            "key": rule.key,
            "kind": rule.kind,
            "level": rule.level,
            "threshold": "48",
            "is_active": "on",
            "description_en": "No tracking update for 48 hours",
            "description_zh_hans": "超过 48 小时没有物流更新",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]

    shipment = delayed_by_the_orange_rule()
    page = f"/console/shipments/{shipment.public_id}/"
    agent_client = Client()
    agent_client.force_login(agent)
    assert "超过 48 小时没有物流更新" in agent_client.get(page, **ZH).content.decode()
    assert "No tracking update for 48 hours" in agent_client.get(page, **EN).content.decode()


def test_the_admin_edits_macro_titles_and_milestone_labels_per_language(operator_client):
    macro = Macro.objects.get(slug="delay-apology", language="en")
    form = operator_client.get(reverse("admin:tickets_macro_change", args=[macro.pk]))
    assert 'name="title_zh_hans"' in form.content.decode()
    policy = SLAPolicy.objects.get(name="Lost parcel")
    form = operator_client.get(reverse("admin:tickets_slapolicy_change", args=[policy.pk]))
    assert "label_zh_hans" in form.content.decode()
