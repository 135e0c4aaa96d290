"""factory_boy factories for every core model. Sequences keep unique fields unique."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from compensation import budgets
from compensation.models import ApprovalRequest, CompensationOffer, CompensationPolicy, RemedyKind
from core.roles import AGENT, OPERATOR, SUPERVISOR
from customers.models import Customer
from notifications.models import Notification, NotificationTemplate
from shipments.models import Carrier, Incident, Lane, Shipment, ShipmentStatus, TrackingEvent
from tickets.models import AgentProfile, Message, SLAPolicy, SLATimer, Team, Ticket, TicketEvent

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Sequence(lambda n: f"First{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        _apply_roles(self, create, extracted or ())


def _apply_roles(user, create: bool, roles) -> None:
    """Staff users get their role groups; `roles=(...)` at call time overrides the default."""
    if not create:
        return
    for role in roles:
        user.groups.add(Group.objects.get(name=role))
    if roles:
        user.is_staff = True
    user.save()


class AgentFactory(UserFactory):
    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        _apply_roles(self, create, extracted if extracted is not None else (AGENT,))


class SupervisorFactory(UserFactory):
    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        _apply_roles(self, create, extracted if extracted is not None else (SUPERVISOR,))


class OperatorFactory(UserFactory):
    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        _apply_roles(self, create, extracted if extracted is not None else (OPERATOR,))


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_ref = factory.Sequence(lambda n: f"CUST-{n:06d}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    phone = factory.Sequence(lambda n: f"+4930{n:07d}")
    tier = Customer.Tier.REGULAR
    language = "en"
    region = Customer.Region.EUROPE
    country = "DE"
    time_zone = "Europe/Berlin"


class CarrierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Carrier
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"carrier{n}")
    name = factory.LazyAttribute(lambda o: o.code.upper())
    webhook_secret = "test-secret"


class LaneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lane

    carrier = factory.SubFactory(CarrierFactory)
    origin_region = "CN-GD"
    destination_region = factory.Sequence(lambda n: f"DE-{n}")
    service_level = "standard"
    delivered_count = 100
    mean_transit_hours = 120.0
    p50_transit_hours = 110.0
    p90_transit_hours = 180.0


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    title = factory.Sequence(lambda n: f"Incident {n}")
    cause = "customs_hold"
    window_start = factory.LazyFunction(timezone.now)


class ShipmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shipment

    carrier = factory.SubFactory(CarrierFactory)
    tracking_number = factory.Sequence(lambda n: f"TRK{n:09d}")
    order_number = factory.Sequence(lambda n: f"ORD-{n:07d}")
    customer = factory.SubFactory(CustomerFactory)
    lane = factory.SubFactory(LaneFactory, carrier=factory.SelfAttribute("..carrier"))
    origin_region = factory.LazyAttribute(lambda o: o.lane.origin_region if o.lane else "CN-GD")
    destination_region = factory.LazyAttribute(
        lambda o: o.lane.destination_region if o.lane else "DE-BE"
    )
    status = ShipmentStatus.IN_TRANSIT
    order_value = Decimal("49.90")
    shipped_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=2))
    promised_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=3))


class TrackingEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrackingEvent

    shipment = factory.SubFactory(ShipmentFactory)
    carrier = factory.SelfAttribute("shipment.carrier")
    carrier_event_id = factory.Sequence(lambda n: f"EV{n:010d}")
    occurred_at = factory.LazyFunction(timezone.now)
    carrier_code = "IT"
    status = ShipmentStatus.IN_TRANSIT
    location = "Leipzig hub"


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class AgentProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentProfile

    user = factory.SubFactory(AgentFactory)
    team = factory.SubFactory(TeamFactory)


class SLAPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SLAPolicy

    name = factory.Sequence(lambda n: f"Policy {n}")


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ticket

    subject = factory.Sequence(lambda n: f"Where is my parcel? ({n})")
    customer = factory.SubFactory(CustomerFactory)
    shipment = factory.SubFactory(ShipmentFactory, customer=factory.SelfAttribute("..customer"))
    status = Ticket.Status.OPEN
    category = "delay"
    source = "customer"
    priority = "normal"


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    ticket = factory.SubFactory(TicketFactory)
    kind = Message.Kind.PUBLIC
    direction = Message.Direction.INBOUND
    channel = "email"
    body = "My parcel has not moved for a week."


class TicketEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TicketEvent

    ticket = factory.SubFactory(TicketFactory)
    kind = TicketEvent.Kind.CREATED
    is_public = True
    created_at = factory.LazyFunction(timezone.now)


class SLATimerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SLATimer

    ticket = factory.SubFactory(TicketFactory)
    kind = "first_response"
    started_at = factory.LazyFunction(timezone.now)
    due_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(hours=1))


class CompensationPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CompensationPolicy

    name = factory.Sequence(lambda n: f"Compensation policy {n}")


class CompensationOfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CompensationOffer

    ticket = factory.SubFactory(TicketFactory)
    customer = factory.SelfAttribute("ticket.customer")
    # As compensation.services does: the incident the offer counts against.
    incident_id = factory.LazyAttribute(lambda o: budgets.incident_of(o.ticket))
    kind = RemedyKind.PARTIAL_REFUND
    amount = Decimal("20.00")
    currency = "EUR"


class ApprovalRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApprovalRequest

    offer = factory.SubFactory(
        CompensationOfferFactory, status=CompensationOffer.Status.PENDING_APPROVAL
    )
    requested_by = factory.SubFactory(AgentFactory)
    requested_at = factory.LazyFunction(timezone.now)


class NotificationTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationTemplate

    kind = "delay_notice"
    channel = "email"
    language = "en"
    subject = "Your order {order_number} is delayed"
    body = "Hello {customer_name}, your parcel is late."


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    customer = factory.SubFactory(CustomerFactory)
    kind = "delay_notice"
    channel = "email"
    language = "en"
    dedupe_key = factory.Sequence(lambda n: f"test:{n}")
    not_before = factory.LazyFunction(timezone.now)
