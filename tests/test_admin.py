"""The admin: every model registered, every page renders, no changelist grows with its rows."""

import datetime as dt
import itertools
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compensation import issuance
from compensation.models import (
    ApprovalRequest,
    AuthorityLimit,
    Budget,
    CompensationOffer,
    CompensationPolicy,
    IssuedCode,
    LoyaltyEntry,
    PolicyRemedy,
    RefundEntry,
    Reshipment,
    SeniorCall,
)
from customers.models import Customer, CustomerTier
from notifications.models import Notification, NotificationTemplate
from portal.links import PortalLinks
from portal.models import ProgressLink
from shipments.models import (
    Carrier,
    CarrierStatusMapping,
    DelayLevelChange,
    DelayRule,
    Incident,
    Lane,
    LateModel,
    Shipment,
    TrackingEvent,
    UnmappedStatusCode,
)
from tests import factories
from tickets.models import (
    AgentProfile,
    BusinessCalendar,
    CalendarException,
    Macro,
    Message,
    PriorityRule,
    SatisfactionSurvey,
    Severity,
    SLAPolicy,
    SLATarget,
    SLATimer,
    Team,
    Ticket,
    TicketEvent,
    WorkingHours,
)

pytestmark = pytest.mark.django_db

DELAYDESK_APPS = ("customers", "shipments", "tickets", "compensation", "notifications", "portal")

_seq = itertools.count(1)


def admin_url(model: type[Model], view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def label(model: type[Model]) -> str:
    return model._meta.label


# --- One row of each Delaydesk model, with the foreign keys its changelist shows filled in ---


def _calendar() -> BusinessCalendar:
    return BusinessCalendar.objects.create(name=f"Calendar {next(_seq)}", time_zone="Europe/Berlin")


def _sla_policy() -> SLAPolicy:
    policy = factories.SLAPolicyFactory(priorities=["urgent"], categories=["lost"])
    SLATarget.objects.create(policy=policy, kind="first_response", minutes=60)
    SLATarget.objects.create(policy=policy, kind="milestone", name="Verify", minutes=1440)
    return policy


def _compensation_policy() -> CompensationPolicy:
    policy = factories.CompensationPolicyFactory(cause="customs_hold", customer_tiers=["vip"])
    PolicyRemedy.objects.create(policy=policy, kind="discount_code", percent=Decimal("15"))
    PolicyRemedy.objects.create(policy=policy, kind="priority_shipping")
    return policy


def _issued(kind: str, **fields) -> CompensationOffer:
    """An offer issued as the compensation services issue it (what the issuance rows record)."""
    fields.setdefault("amount", None)
    offer = factories.CompensationOfferFactory(kind=kind, status="accepted", **fields)
    issuance.issue(offer, now=timezone.now())
    return offer


def _template() -> NotificationTemplate:
    # The next (kind, channel, language, region) variant no row holds yet.
    taken = set(
        NotificationTemplate.objects.values_list("kind", "channel", "language", "region_style")
    )
    for variant in itertools.product(
        NotificationTemplate._meta.get_field("kind").choices,
        (("email", ""), ("sms", ""), ("push", "")),
        NotificationTemplate._meta.get_field("language").choices,
        NotificationTemplate._meta.get_field("region_style").choices,
    ):
        values = tuple(value for value, _label in variant)
        if values not in taken:
            kind, channel, language, region = values
            return factories.NotificationTemplateFactory(
                kind=kind, channel=channel, language=language, region_style=region
            )
    raise AssertionError("every template variant exists")


def _priority_rule() -> PriorityRule:
    # A fixed 4 x 4 matrix (installed by a migration): there is no eleventh cell to add.
    rule, _created = PriorityRule.objects.get_or_create(
        customer_tier="vip", severity="lost", defaults={"priority": "urgent"}
    )
    return rule


BUILDERS: dict[type[Model], Callable[[], Model]] = {
    Customer: factories.CustomerFactory,
    Carrier: factories.CarrierFactory,
    CarrierStatusMapping: lambda: CarrierStatusMapping.objects.create(
        carrier=factories.CarrierFactory(),
        carrier_code="HELD",
        status="exception",
        cause="customs_hold",
    ),
    Lane: factories.LaneFactory,
    LateModel: lambda: LateModel.objects.create(
        version=next(_seq),
        trained_at=timezone.now(),
        history_from=timezone.now() - dt.timedelta(days=365),
        validation_from=timezone.now() - dt.timedelta(days=120),
        cutoff=timezone.now() - dt.timedelta(days=60),
        history_to=timezone.now(),
        training_shipments=1000,
        training_examples=3000,
        validation_examples=500,
        reported_examples=500,
        figures={"reported": {"72": {"precision": 0.8, "recall": 0.6}}},
        threshold=0.7,
    ),
    Incident: lambda: factories.IncidentFactory(
        carrier=factories.CarrierFactory(),
        lane=factories.LaneFactory(),
        opened_by=factories.UserFactory(),
    ),
    Shipment: lambda: factories.ShipmentFactory(
        delay_level="orange", delay_detected_at=timezone.now(), predicted_eta=timezone.now()
    ),
    TrackingEvent: factories.TrackingEventFactory,
    DelayRule: lambda: DelayRule.objects.create(
        key=f"rule-{next(_seq)}", kind="no_update_hours", level="orange", threshold=Decimal("48")
    ),
    UnmappedStatusCode: lambda: UnmappedStatusCode.objects.create(
        carrier=factories.CarrierFactory(),
        carrier_code=f"NEW-{next(_seq)}",
        event_count=3,
        first_seen_at=timezone.now(),
        last_seen_at=timezone.now(),
    ),
    DelayLevelChange: lambda: DelayLevelChange.objects.create(
        shipment=factories.ShipmentFactory(),
        from_level="none",
        to_level="yellow",
        cause="congestion",
        rule_key="yellow",
        changed_at=timezone.now(),
    ),
    BusinessCalendar: _calendar,
    WorkingHours: lambda: WorkingHours.objects.create(
        calendar=_calendar(), weekday=0, opens_at=dt.time(9), closes_at=dt.time(17)
    ),
    CalendarException: lambda: CalendarException.objects.create(
        calendar=_calendar(), date=dt.date(2026, 12, 24), name="Christmas Eve"
    ),
    Team: lambda: factories.TeamFactory(
        calendar=_calendar(), categories=["lost"], regions=["asia"]
    ),
    AgentProfile: factories.AgentProfileFactory,
    PriorityRule: _priority_rule,
    SLAPolicy: _sla_policy,
    SLATarget: lambda: SLATarget.objects.create(
        policy=factories.SLAPolicyFactory(), kind="resolution", minutes=120
    ),
    Ticket: lambda: factories.TicketFactory(
        team=factories.TeamFactory(), assignee=factories.AgentFactory()
    ),
    Message: lambda: factories.MessageFactory(
        direction=Message.Direction.OUTBOUND, author=factories.AgentFactory()
    ),
    TicketEvent: lambda: factories.TicketEventFactory(actor=factories.AgentFactory()),
    SLATimer: lambda: factories.SLATimerFactory(target=_sla_policy().targets.first()),
    Macro: lambda: Macro.objects.create(
        slug=f"macro-{next(_seq)}",
        language="en",
        title="Customs delay",
        body="Hello {customer_name}",
    ),
    CompensationPolicy: _compensation_policy,
    PolicyRemedy: lambda: PolicyRemedy.objects.create(
        policy=factories.CompensationPolicyFactory(), kind="coupon", amount=Decimal("10")
    ),
    AuthorityLimit: lambda: AuthorityLimit.objects.create(
        user=factories.AgentFactory(), max_amount=Decimal("30")
    ),
    Budget: lambda: Budget.objects.create(
        name=f"Budget {next(_seq)}",
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 3, 31),
        amount=Decimal("5000"),
        incident=factories.IncidentFactory(),
    ),
    CompensationOffer: lambda: factories.CompensationOfferFactory(
        requested_by=factories.AgentFactory(), policy=factories.CompensationPolicyFactory()
    ),
    ApprovalRequest: factories.ApprovalRequestFactory,
    IssuedCode: lambda: _issued("coupon", amount=Decimal("10")).issued_code,
    RefundEntry: lambda: _issued("partial_refund", amount=Decimal("1")).refund,
    LoyaltyEntry: lambda: _issued("loyalty_points", points=100).loyalty_entry,
    Reshipment: lambda: _issued("reship").reshipment,
    SeniorCall: lambda: _issued("senior_call").senior_call,
    NotificationTemplate: _template,
    Notification: lambda: factories.NotificationFactory(ticket=factories.TicketFactory()),
    SatisfactionSurvey: lambda: SatisfactionSurvey.objects.create(
        ticket=factories.TicketFactory(),
        resolved_at=timezone.now(),
        rating=4,
        answered_at=timezone.now(),
        comment="Fine",
    ),
    ProgressLink: lambda: ProgressLink.objects.get(
        pk=PortalLinks().mint([factories.TicketFactory().pk], now=timezone.now()).popitem()[1].id
    ),
}

# Tables that cannot grow: the priority matrix has exactly one row per tier x severity.
FIXED_SIZE = {PriorityRule}


def test_every_delaydesk_model_is_registered_and_has_a_row_builder():
    models = {m for app in DELAYDESK_APPS for m in apps.get_app_config(app).get_models()}
    assert {m for m in models if not admin.site.is_registered(m)} == set()
    assert set(BUILDERS) == models


@pytest.mark.parametrize("model", list(admin.site._registry), ids=label)
def test_the_changelist_and_the_add_page_render(admin_client, admin_user, rf, model):
    request = rf.get("/")
    request.user = admin_user
    # Some admins are deliberately read-only (a heartbeat is written by the worker, not typed).
    addable = admin.site._registry[model].has_add_permission(request)

    assert admin_client.get(admin_url(model, "changelist")).status_code == 200
    assert admin_client.get(admin_url(model, "add")).status_code == (200 if addable else 403)


@pytest.mark.parametrize("model", list(BUILDERS), ids=label)
def test_the_change_page_of_a_row_renders(admin_client, model):
    row = BUILDERS[model]()
    response = admin_client.get(admin_url(model, "change", row.pk))
    assert response.status_code == 200


@pytest.mark.parametrize("model", [m for m in BUILDERS if m not in FIXED_SIZE], ids=label)
def test_the_changelist_query_count_does_not_grow_with_rows(
    admin_client, django_assert_max_num_queries, model
):
    """What a changelist shows of its foreign keys comes with the page, never row by row."""
    url = admin_url(model, "changelist")
    for _ in range(2):
        BUILDERS[model]()
    admin_client.get(url)  # warm per-process caches (content types) out of the measure
    with CaptureQueriesContext(connection) as with_two_rows:
        assert admin_client.get(url).status_code == 200

    for _ in range(8):
        BUILDERS[model]()
    with django_assert_max_num_queries(len(with_two_rows)):
        response = admin_client.get(url)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= 10


# Every changelist: the session, the user, COUNT(*) for the paginator, the page itself (one
# query, joined to what its columns show) and, with a date hierarchy, MIN/MAX and the DISTINCT
# days. Shipments add the carriers of their filter, tickets the teams of theirs.
@pytest.mark.parametrize(
    "model, queries",
    [(Shipment, 7), (Ticket, 7), (Notification, 6)],
    ids=["shipment", "ticket", "notification"],
)
def test_the_busiest_changelists_cost_a_fixed_number_of_queries(
    admin_client, django_assert_max_num_queries, model, queries
):
    for _ in range(10):
        BUILDERS[model]()
    with django_assert_max_num_queries(queries):
        assert admin_client.get(admin_url(model, "changelist")).status_code == 200


# --- Search ---------------------------------------------------------------------------------


def results(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.mark.parametrize(
    "model", [m for m in BUILDERS if admin.site._registry[m].search_fields], ids=label
)
@pytest.mark.parametrize("term", ["late parcel", "12345", "#7", "a@b.c"])
def test_every_search_box_takes_words_numbers_and_references(admin_client, model, term):
    BUILDERS[model]()

    assert admin_client.get(admin_url(model, "changelist"), {"q": term}).status_code == 200


def test_the_shipment_search_finds_by_tracking_and_order_number(admin_client):
    wanted = factories.ShipmentFactory(tracking_number="JD0123456789", order_number="ORD-77")
    factories.ShipmentFactory()
    url = admin_url(Shipment, "changelist")

    assert results(admin_client.get(url, {"q": "JD0123456789"})) == [wanted]
    assert results(admin_client.get(url, {"q": "jd0123456789"})) == [wanted]
    assert results(admin_client.get(url, {"q": "ORD-77"})) == [wanted]


def test_the_shipment_search_finds_by_customer(admin_client, customer):
    wanted = factories.ShipmentFactory(customer=customer)
    factories.ShipmentFactory()
    url = admin_url(Shipment, "changelist")

    assert results(admin_client.get(url, {"q": "Carla"})) == [wanted]
    assert results(admin_client.get(url, {"q": customer.email})) == [wanted]


def test_the_ticket_search_finds_by_tracking_order_number_customer_and_reference(
    admin_client, customer
):
    shipment = factories.ShipmentFactory(
        customer=customer, tracking_number="SF998877", order_number="ORD-2024-1"
    )
    wanted = factories.TicketFactory(customer=customer, shipment=shipment)
    factories.TicketFactory()
    url = admin_url(Ticket, "changelist")

    assert results(admin_client.get(url, {"q": "SF998877"})) == [wanted]
    assert results(admin_client.get(url, {"q": "ORD-2024-1"})) == [wanted]
    assert results(admin_client.get(url, {"q": "Carla Customer"})) == [wanted]
    assert results(admin_client.get(url, {"q": f"#{wanted.pk}"})) == [wanted]


def test_the_notification_search_finds_by_dedupe_key(admin_client):
    wanted = factories.NotificationFactory(dedupe_key="delay_notice:shipment:42:orange")
    factories.NotificationFactory()
    url = admin_url(Notification, "changelist")

    assert results(admin_client.get(url, {"q": "delay_notice:shipment:42:orange"})) == [wanted]


def test_the_shipment_autocomplete_costs_the_same_for_many_results(
    admin_client, django_assert_max_num_queries
):
    url = reverse("admin:autocomplete")
    params = {"app_label": "tickets", "model_name": "ticket", "field_name": "shipment", "term": ""}
    factories.ShipmentFactory()
    with CaptureQueriesContext(connection) as with_one:
        assert admin_client.get(url, params).status_code == 200
    for _ in range(9):
        factories.ShipmentFactory()
    with django_assert_max_num_queries(len(with_one)):
        response = admin_client.get(url, params)
    assert len(response.json()["results"]) == 10


# --- Configuration screens ------------------------------------------------------------------


def changelist_edit(rule: DelayRule, **values) -> dict:
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "form-0-id": str(rule.pk),
        "_save": "Save",
    }
    data.update({f"form-0-{name}": value for name, value in values.items() if value is not False})
    return data


def test_a_delay_rule_threshold_is_edited_in_the_changelist(admin_client):
    rule = DelayRule.objects.create(
        key="test-stalled", kind="no_update_hours", level="orange", threshold=Decimal("72")
    )
    url = admin_url(DelayRule, "changelist")

    response = admin_client.post(url, changelist_edit(rule, threshold="48", is_active="on"))

    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.threshold == Decimal("48")
    assert rule.is_active


def test_a_delay_rule_is_switched_off_in_the_changelist(admin_client):
    rule = DelayRule.objects.create(
        key="test-stalled", kind="no_update_hours", level="orange", threshold=Decimal("72")
    )

    admin_client.post(
        admin_url(DelayRule, "changelist"), changelist_edit(rule, threshold="72", is_active=False)
    )

    rule.refresh_from_db()
    assert not rule.is_active


def test_a_delay_rule_refuses_a_zero_threshold(admin_client):
    rule = DelayRule.objects.create(
        key="test-stalled", kind="no_update_hours", level="orange", threshold=Decimal("72")
    )

    response = admin_client.post(
        admin_url(DelayRule, "changelist"), changelist_edit(rule, threshold="0", is_active="on")
    )

    assert response.status_code == 200
    assert response.context["cl"].formset.errors[0]["threshold"]
    rule.refresh_from_db()
    assert rule.threshold == Decimal("72")


def test_the_priority_matrix_lists_tier_by_severity_and_edits_in_place(admin_client):
    for tier, severity in itertools.product(CustomerTier.values, Severity.values):
        PriorityRule.objects.get_or_create(
            customer_tier=tier, severity=severity, defaults={"priority": "normal"}
        )
    url = admin_url(PriorityRule, "changelist")

    rows = results(admin_client.get(url))

    assert [(r.customer_tier, r.severity) for r in rows] == list(
        itertools.product(CustomerTier.values, Severity.values)
    )
    cell = rows[0]
    admin_client.post(
        url,
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(cell.pk),
            "form-0-priority": "low",
            "_save": "Save",
        },
    )
    cell.refresh_from_db()
    assert cell.priority == "low"


def test_an_sla_policy_is_added_with_conditions_as_checkboxes_and_target_inlines(admin_client):
    response = admin_client.post(
        admin_url(SLAPolicy, "add"),
        {
            "name": "VIP lost parcels",
            "position": "5",
            "is_active": "on",
            "warning_minutes": "15",
            "priorities": ["urgent", "high"],
            "customer_tiers": ["vip"],
            "targets-TOTAL_FORMS": "2",
            "targets-INITIAL_FORMS": "0",
            "targets-0-kind": "first_response",
            "targets-0-minutes": "30",
            "targets-0-met_by": "manual",
            "targets-1-kind": "milestone",
            "targets-1-name": "Call the customer",
            "targets-1-minutes": "60",
            "targets-1-business_hours": "on",
            "targets-1-met_by": "public_reply",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    policy = SLAPolicy.objects.get(name="VIP lost parcels")
    assert policy.priorities == ["urgent", "high"]
    assert policy.categories == []
    assert policy.customer_tiers == ["vip"]
    assert sorted(policy.targets.values_list("kind", "minutes", "business_hours")) == [
        ("first_response", 30, False),
        ("milestone", 60, True),
    ]


def test_a_business_calendar_refuses_an_unknown_time_zone_and_holiday_country(admin_client):
    response = admin_client.post(
        admin_url(BusinessCalendar, "add"),
        {
            "name": "Shanghai office",
            "time_zone": "Asia/Shangai",
            "holiday_country": "XX",
            "hours-TOTAL_FORMS": "0",
            "hours-INITIAL_FORMS": "0",
            "exceptions-TOTAL_FORMS": "0",
            "exceptions-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"time_zone", "holiday_country"}
    assert not BusinessCalendar.objects.filter(name="Shanghai office").exists()


def test_a_business_calendar_is_added_with_hours_and_a_make_up_working_day(admin_client):
    response = admin_client.post(
        admin_url(BusinessCalendar, "add"),
        {
            "name": "Shanghai office",
            "time_zone": "Asia/Shanghai",
            "holiday_country": "cn",
            "hours-TOTAL_FORMS": "1",
            "hours-INITIAL_FORMS": "0",
            "hours-0-weekday": "0",
            "hours-0-opens_at": "09:00",
            "hours-0-closes_at": "18:00",
            "exceptions-TOTAL_FORMS": "1",
            "exceptions-INITIAL_FORMS": "0",
            "exceptions-0-date": "2026-02-14",
            "exceptions-0-is_working_day": "on",
            "exceptions-0-name": "Spring Festival make-up day",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    calendar = BusinessCalendar.objects.get(name="Shanghai office")
    assert calendar.holiday_country == "CN"
    assert calendar.hours.get().closes_at == dt.time(18)
    assert calendar.exceptions.get().is_working_day


def test_a_notification_template_offers_no_phone_channel_and_checks_placeholders(admin_client):
    url = admin_url(NotificationTemplate, "add")
    channel_choices = admin_client.get(url).context["adminform"].form.fields["channel"].choices
    assert "phone" not in {value for value, _label in channel_choices}

    response = admin_client.post(
        url,
        {
            "kind": "recovery",  # a variant the default templates do not install
            "channel": "email",
            "language": "en",
            "region_style": "europe",
            "subject": "Order {order_number is late",
            "body": "Hello {customer_name}",
            "is_active": "on",
        },
    )

    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"subject"}


# --- Secrets and read-only history ----------------------------------------------------------


def test_the_carrier_list_masks_the_webhook_secret_and_the_form_edits_it(admin_client):
    carrier = factories.CarrierFactory(webhook_secret="s3cret-shared-with-the-carrier-XYZ9")

    listing = admin_client.get(admin_url(Carrier, "changelist")).content.decode()
    assert "s3cret-shared-with-the-carrier" not in listing
    assert "••••••XYZ9" in listing

    form_page = admin_client.get(admin_url(Carrier, "change", carrier.pk)).content.decode()
    assert 'value="s3cret-shared-with-the-carrier-XYZ9"' in form_page

    response = admin_client.post(
        admin_url(Carrier, "change", carrier.pk),
        {
            "name": carrier.name,
            "code": carrier.code,
            "is_active": "on",
            "tracking_url_template": "",
            "webhook_secret": "rotated-secret-0000000000000000",
            "status_mappings-TOTAL_FORMS": "0",
            "status_mappings-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    carrier.refresh_from_db()
    assert carrier.webhook_secret == "rotated-secret-0000000000000000"


def test_view_only_staff_see_the_carrier_secret_masked(client):
    # Supervisors (who read carriers) no longer enter the admin at all (issue 11): an admin
    # user who may only view carriers stands in for them.
    from django.contrib.auth.models import Permission

    viewer = factories.UserFactory(is_staff=True)
    viewer.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=("core", "shipments"),
            codename__in=("use_admin", "view_carrier"),
        )
    )
    client.force_login(viewer)
    carrier = factories.CarrierFactory(webhook_secret="s3cret-shared-with-the-carrier-XYZ9")

    response = client.get(admin_url(Carrier, "change", carrier.pk))

    assert response.status_code == 200
    assert "s3cret-shared-with-the-carrier" not in response.content.decode()
    assert "••••••XYZ9" in response.content.decode()


def test_the_admin_never_shows_a_progress_link_token_or_its_hash(admin_client):
    ticket = factories.TicketFactory()
    minted = PortalLinks().mint([ticket.pk], now=timezone.now())[ticket.pk]
    link = ProgressLink.objects.get(pk=minted.id)
    token = minted.url.rstrip("/").rsplit("/", 1)[1]

    for url in (
        admin_url(Ticket, "changelist"),
        admin_url(Ticket, "change", ticket.pk),
        admin_url(ProgressLink, "changelist"),
        admin_url(ProgressLink, "change", link.pk),
    ):
        page = admin_client.get(url).content.decode()
        assert token not in page
        assert link.token_hash not in page


@pytest.mark.parametrize("model", [TicketEvent, DelayLevelChange], ids=label)
def test_a_timeline_row_is_shown_but_never_edited(admin_client, model):
    row = BUILDERS[model]()
    url = admin_url(model, "change", row.pk)

    page = admin_client.get(url)
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert admin_client.post(url, {}).status_code == 403


@pytest.mark.parametrize("model", [TrackingEvent, Message, SLATimer, ApprovalRequest], ids=label)
def test_history_rows_open_with_every_field_read_only(admin_client, model):
    row = BUILDERS[model]()

    form = admin_client.get(admin_url(model, "change", row.pk)).context["adminform"].form

    assert list(form.fields) == []


def test_a_sent_notification_is_read_only_but_a_pending_one_can_be_reworded(admin_client):
    sent = factories.NotificationFactory(status="sent", sent_at=timezone.now())
    pending = factories.NotificationFactory()

    sent_form = (
        admin_client.get(admin_url(Notification, "change", sent.pk)).context["adminform"].form
    )
    pending_form = (
        admin_client.get(admin_url(Notification, "change", pending.pk)).context["adminform"].form
    )

    assert list(sent_form.fields) == []
    assert {"subject", "body", "not_before"} <= set(pending_form.fields)
    assert not {"status", "attempts", "sent_at", "dedupe_key", "customer"} & set(
        pending_form.fields
    )


def test_an_offer_keeps_what_was_proposed_and_only_its_reason_is_edited(admin_client):
    offer = factories.CompensationOfferFactory(requested_by=factories.AgentFactory())

    form = (
        admin_client.get(admin_url(CompensationOffer, "change", offer.pk)).context["adminform"].form
    )

    assert set(form.fields) == {"reason"}


def test_cancelling_notifications_leaves_those_already_claimed(admin_client):
    pending = factories.NotificationFactory()
    sending = factories.NotificationFactory(status="sending", claimed_at=timezone.now())

    response = admin_client.post(
        admin_url(Notification, "changelist"),
        {"action": "cancel_pending", "_selected_action": [pending.pk, sending.pk]},
    )

    assert response.status_code == 302
    pending.refresh_from_db()
    sending.refresh_from_db()
    assert pending.status == "cancelled"
    assert sending.status == "sending"


def test_lane_statistics_are_read_only(admin_client):
    lane = factories.LaneFactory()

    form = admin_client.get(admin_url(Lane, "change", lane.pk)).context["adminform"].form

    assert set(form.fields) == {"carrier", "origin_region", "destination_region", "service_level"}


def test_the_shipment_list_shows_the_delay_badge_and_slip(admin_client):
    promised = timezone.now()
    factories.ShipmentFactory(
        promised_at=promised,
        predicted_eta=promised + dt.timedelta(days=8),
        delay_level="red",
        delay_detected_at=promised,
    )

    page = admin_client.get(admin_url(Shipment, "changelist")).content.decode()

    assert "Red: predicted over a week late" in page
    assert "+8.0" in page
