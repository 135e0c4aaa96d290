"""Seeding and removing the demo data set.

``seed_demo_data`` runs in the caller's transaction:

1. Read the anchor ``now`` once (rounded down to the hour) and seed one ``DemoRandom``.
2. Upsert the reference rows (logins, teams, carriers, lanes); add the demo macros if missing.
3. Generate customers, incidents and shipments in memory, then the casework on top of them.
4. Write everything with ``bulk_create`` in dependency order, then the lane statistics.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Prefetch, Q
from django.utils import timezone

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
from core.roles import AGENT
from customers.models import Customer
from demo import network, reference
from demo.case_plans import CasePlanner
from demo.common import DemoRandom, floor_hour, history_timestamps
from demo.customer_data import (
    DEMO_REF_PREFIX,
    CustomerPicker,
    build_customers,
    finish_customers,
)
from demo.judging import DEFAULT_RULES, LateForecast, RuleSpec, lane_statistics
from demo.remedy_data import NoticeWriter, StoryRemedies
from demo.shipment_data import ShipmentBuilder, build_incidents
from demo.shipment_plans import FINAL_SCENARIOS, plan_shipments
from demo.ticket_data import CaseworkBuilder
from notifications.models import Notification
from portal.models import ProgressLink
from shipments.models import DelayLevelChange, DelayRule, Incident, Lane, Shipment, TrackingEvent
from tickets.models import (
    Message,
    PriorityRule,
    SatisfactionSurvey,
    SLATimer,
    Ticket,
    TicketEvent,
)
from tickets.sla.policy import active_policies

DEFAULT_SHIPMENTS = 3000
MIN_SHIPMENTS = 100
BATCH_SIZE = 500
BUDGET_PREFIX = "Demo "

Progress = Callable[..., object]  # a tqdm-like factory: progress(iterable=None, total=, desc=)


@dataclass
class SeedResult:
    seed: int
    now: dt.datetime
    counts: dict[str, int] = field(default_factory=dict)
    delay_levels: dict[str, int] = field(default_factory=dict)
    pending_approvals: int = 0


def demo_data_exists() -> bool:
    return Customer.objects.filter(external_ref__startswith=DEMO_REF_PREFIX).exists()


def delete_demo_data() -> dict[str, int]:
    """Delete the generated history, children first; reference rows are upserted on reseed.

    Demo rows hang off the demo customers (external_ref ``DEMO-C…``); incidents are demo ones
    when demo shipments point at them. PROTECT foreign keys dictate the order.
    """
    customers = Customer.objects.filter(external_ref__startswith=DEMO_REF_PREFIX)
    shipments = Shipment.objects.filter(customer__in=customers)
    tickets = Ticket.objects.filter(Q(customer__in=customers) | Q(shipment__in=shipments))
    incident_ids = list(
        Incident.objects.filter(Q(shipments__in=shipments) | Q(tickets__in=tickets))
        .values_list("pk", flat=True)
        .distinct()
    )
    offers = CompensationOffer.objects.filter(Q(customer__in=customers) | Q(ticket__in=tickets))
    deleted: Counter[str] = Counter()

    def delete(label: str, queryset) -> None:
        count, _by_model = queryset.delete()
        deleted[label] += count

    delete("approval requests", ApprovalRequest.objects.filter(offer__in=offers))
    # What issuing them wrote (PROTECT: before the offers, the parcels and the tickets).
    delete("issued codes", IssuedCode.objects.filter(offer__in=offers))
    delete("refunds", RefundEntry.objects.filter(offer__in=offers))
    delete(
        "loyalty points",
        LoyaltyEntry.objects.filter(Q(offer__in=offers) | Q(customer__in=customers)),
    )
    delete("reshipments", Reshipment.objects.filter(offer__in=offers))
    delete("senior calls", SeniorCall.objects.filter(offer__in=offers))
    delete("compensation offers", offers)
    delete(
        "budgets",
        Budget.objects.filter(
            Q(incident_id__in=incident_ids)
            | Q(name__startswith=BUDGET_PREFIX, incident__isnull=True)
        ),
    )
    delete(
        "notifications",
        Notification.objects.filter(
            Q(customer__in=customers) | Q(ticket__in=tickets) | Q(shipment__in=shipments)
        ),
    )
    delete("surveys", SatisfactionSurvey.objects.filter(ticket__in=tickets))
    delete("progress links", ProgressLink.objects.filter(ticket__in=tickets))
    delete("SLA timers", SLATimer.objects.filter(ticket__in=tickets))
    delete("timeline events", TicketEvent.objects.filter(ticket__in=tickets))
    delete("messages", Message.objects.filter(ticket__in=tickets))
    delete("tickets", tickets)
    delete("delay level changes", DelayLevelChange.objects.filter(shipment__in=shipments))
    delete("tracking events", TrackingEvent.objects.filter(shipment__in=shipments))
    delete("shipments", shipments)
    delete("incidents", Incident.objects.filter(pk__in=incident_ids))
    delete("customers", customers)
    return dict(deleted)


def _no_progress(iterable: Iterable | None = None, **_kwargs):
    return _Silent(iterable)


class _Silent:
    def __init__(self, iterable):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def update(self, _n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def seed_demo_data(
    *, seed: int, shipments: int = DEFAULT_SHIPMENTS, progress: Progress | None = None
) -> SeedResult:
    """Create the demo data set; deterministic for a given seed and (frozen) clock."""
    if shipments < MIN_SHIPMENTS:
        raise ValueError(f"at least {MIN_SHIPMENTS} shipments are needed for the demo mix")
    progress = progress or _no_progress
    now = floor_hour(timezone.now())
    rng = DemoRandom(seed)
    result = SeedResult(seed=seed, now=now)
    with history_timestamps():
        _seed(rng, now, shipments, progress, result)
    return result


def _seed(
    rng: DemoRandom, now: dt.datetime, total: int, progress: Progress, result: SeedResult
) -> None:
    users = reference.ensure_users(now)
    teams = reference.ensure_teams(now)
    reference.ensure_profiles(users, teams, now)
    carriers = network.ensure_carriers(rng, now)
    lanes = network.ensure_lanes(carriers, now)
    macros = reference.ensure_macros(now)

    destination_weights: dict[str, float] = {}
    for spec, _lane in lanes:
        destination_weights[spec.destination] = (
            destination_weights.get(spec.destination, 0) + spec.weight
        )
    customers = build_customers(rng, max(60, round(total * 0.42)), destination_weights)
    incidents = build_incidents(rng, now, lanes, carriers, users["supervisor"])
    builder = ShipmentBuilder(
        rng, now, lanes, carriers, CustomerPicker(rng, customers), _delay_rules(), incidents
    )
    built, lane_stats = _generate_shipments(rng, now, total, builder, progress)
    _finish_customers_and_incidents(rng, now, customers, incidents, built)

    casework_builder = _casework_builder(rng, now, users, teams)
    cases = CasePlanner(rng, now).plan(built)
    casework = casework_builder.build(progress(cases, desc="Writing tickets", unit="ticket"))
    tickets_by_shipment = {
        t.shipment.public_id: t for t in casework.tickets if t.incident is not None
    }
    notices = NoticeWriter(casework_builder)
    for key, incident in incidents.items():
        affected = [item.shipment for item in built if item.plan.incident == key]
        notices.incident_notices(incident, affected, tickets_by_shipment)
    # The model's warnings open no ticket (PROACTIVE_TICKET_MIN_LEVEL): the notice alone.
    notices.forecast_notices([item for item in built if item.plan.scenario == "will_be_late"])

    tables: list[tuple[str, type, list]] = [
        ("customers", Customer, customers),
        ("incidents", Incident, list(incidents.values())),
        ("shipments", Shipment, [item.shipment for item in built]),
        ("tracking events", TrackingEvent, [e for item in built for e in item.events]),
        ("delay level changes", DelayLevelChange, [c for item in built for c in item.changes]),
        ("tickets", Ticket, casework.tickets),
        ("messages", Message, casework.messages),
        ("SLA timers", SLATimer, casework.timers),
        ("timeline events", TicketEvent, casework.events),
        ("compensation offers", CompensationOffer, casework.offers),
        ("approval requests", ApprovalRequest, casework.approvals),
        # What issuing the remedies wrote (demo.issuance_data), after the offers it names.
        ("issued codes", IssuedCode, casework.issued.codes),
        ("refunds", RefundEntry, casework.issued.refunds),
        ("loyalty points", LoyaltyEntry, casework.issued.points),
        ("reshipped parcels", Shipment, casework.issued.parcels),
        ("reshipments", Reshipment, casework.issued.reshipments),
        ("senior call milestones", SLATimer, casework.issued.timers),
        ("senior calls", SeniorCall, casework.issued.senior_calls),
        ("surveys", SatisfactionSurvey, casework.surveys),
        ("notifications", Notification, casework.notifications),
        ("budgets", Budget, _budgets(now, incidents)),
    ]
    # The sweeper's timeline rows name their timer by pk, the survey notices their survey.
    _save(
        tables,
        progress,
        before={
            "timeline events": casework.link_timer_events,
            "notifications": casework.key_survey_notices,
        },
    )
    _save_lane_statistics(now, lanes, lane_stats)

    result.counts = {
        "users": len(users),
        "teams": len(teams),
        "carriers": len(carriers),
        "lanes": len(lanes),
        "macros": macros,
        **{label: len(rows) for label, _model, rows in tables},
    }
    # Parcels still on their way, as the supervisor's KPI strip counts them.
    result.delay_levels = dict(
        sorted(
            Counter(
                item.shipment.delay_level
                for item in built
                if item.shipment.delay_level != "none" and item.plan.scenario not in FINAL_SCENARIOS
            ).items()
        )
    )
    result.pending_approvals = sum(1 for a in casework.approvals if a.status == "pending")


def _delay_rules() -> list[RuleSpec]:
    """The active delay rules of the database (installed by migration), else DOMAIN.md's."""
    rules = [
        RuleSpec(
            rule.key,
            rule.kind,
            rule.level,
            float(rule.threshold),
            float(rule.horizon_hours) if rule.horizon_hours else None,
        )
        for rule in DelayRule.objects.filter(is_active=True)
    ]
    return rules or list(DEFAULT_RULES)


def _generate_shipments(rng, now, total, builder: ShipmentBuilder, progress: Progress):
    """Finished parcels first: their deliveries make the lane statistics against which the
    rules judge the parcels still on their way (the yellow rule uses the lane's mean, the
    "will be late" rules the transit times)."""
    plans = plan_shipments(rng, total)
    bar = progress(total=len(plans), desc="Generating shipments", unit="shipment")
    built = []
    for plan in plans:
        if plan.scenario in FINAL_SCENARIOS:
            built.append(builder.build(plan))
            bar.update(1)
    lane_stats = lane_statistics(now, (item.shipment for item in built))
    builder.lane_means = {pk: row["mean_transit_hours"] for pk, row in lane_stats.items()}
    builder.forecast = LateForecast(now, (item.shipment for item in built))
    for plan in plans:
        if plan.scenario not in FINAL_SCENARIOS:
            built.append(builder.build(plan))
            bar.update(1)
    bar.close()
    return built, lane_stats


def _finish_customers_and_incidents(rng, now, customers, incidents, built) -> None:
    first_order: dict[str, dt.datetime] = {}
    order_counts: Counter[str] = Counter()
    order_values: dict[str, Decimal] = {}
    for item in built:
        shipment = item.shipment
        ref = shipment.customer.external_ref
        order_counts[ref] += 1
        order_values[ref] = order_values.get(ref, Decimal("0")) + shipment.order_value
        if ref not in first_order or shipment.ordered_at < first_order[ref]:
            first_order[ref] = shipment.ordered_at
    finish_customers(rng, now, customers, first_order, order_counts, order_values)
    for key, incident in incidents.items():
        incident.affected_count = sum(1 for item in built if item.plan.incident == key)


def _casework_builder(rng, now, users, teams) -> CaseworkBuilder:
    """Casework follows the configuration the migrations installed, when there is some."""
    matrix: dict[str, dict[str, str]] = {}
    for rule in PriorityRule.objects.all():
        matrix.setdefault(rule.customer_tier, {})[rule.severity] = rule.priority
    limit = AuthorityLimit.objects.filter(group__name=AGENT).first()
    return CaseworkBuilder(
        rng,
        now,
        users,
        teams,
        priority_matrix=matrix,
        sla_policies=active_policies(),
        compensation_policies=list(
            CompensationPolicy.objects.filter(is_active=True)
            .order_by("position", "id")
            .prefetch_related(Prefetch("remedies", queryset=PolicyRemedy.objects.order_by("pk")))
        ),
        agent_limit=(limit.max_amount, limit.max_percent) if limit else (Decimal(50), Decimal(10)),
        remedies=StoryRemedies(),
    )


def _save(
    tables: list[tuple[str, type, list]],
    progress: Progress,
    before: dict[str, Callable[[], object]] | None = None,
) -> None:
    """Bulk-create each table in order; ``before[label]()`` runs just before that table."""
    before = before or {}
    bar = progress(
        total=sum(len(rows) for _label, _model, rows in tables), desc="Saving", unit="row"
    )
    for label, model, rows in tables:
        if label in before:
            before[label]()
        for start in range(0, len(rows), BATCH_SIZE):
            batch = rows[start : start + BATCH_SIZE]
            model.objects.bulk_create(batch)
            bar.update(len(batch))
    bar.close()


def _save_lane_statistics(now: dt.datetime, lanes, lane_stats: dict[int, dict]) -> None:
    lane_rows = [lane for _spec, lane in lanes]
    for lane in lane_rows:
        for key, value in lane_stats.get(lane.pk, {}).items():
            setattr(lane, key, value)
        lane.updated_at = now
    Lane.objects.bulk_update(
        lane_rows,
        [
            "delivered_count",
            "mean_transit_hours",
            "p50_transit_hours",
            "p90_transit_hours",
            "on_time_rate",
            "stats_updated_at",
            "updated_at",
        ],
    )


def _budgets(now: dt.datetime, incidents: dict[str, Incident]) -> list[Budget]:
    month_start = now.date().replace(day=1)
    next_month = (month_start + dt.timedelta(days=32)).replace(day=1)
    budgets = [
        Budget(
            name=f"{BUDGET_PREFIX}compensation budget {now:%B %Y}",
            period_start=month_start,
            period_end=next_month - dt.timedelta(days=1),
            amount=Decimal("5000.00"),
            currency="EUR",
            created_at=now - dt.timedelta(days=(now.date() - month_start).days),
            updated_at=now - dt.timedelta(days=(now.date() - month_start).days),
        ),
    ]
    per_parcel = {"customs": Decimal("20"), "strike": Decimal("15")}
    for key, incident in incidents.items():
        amount = max(Decimal("100"), per_parcel[key] * incident.affected_count)
        budgets.append(
            Budget(
                name=f"{incident.title}: compensation",
                period_start=incident.window_start.date(),
                period_end=(now + dt.timedelta(days=30)).date(),
                amount=amount.quantize(Decimal("1.00")),
                currency="EUR",
                incident=incident,
                created_at=incident.created_at,
                updated_at=incident.created_at,
            )
        )
    return budgets
