import secrets
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.inputs import clean_search, parse_id
from core.models import Channel, Language, TimeStampedModel, choice_values
from customers.models import Customer, CustomerTier
from shipments.models import Shipment


def new_access_token() -> str:
    # Old migrations name it (tickets 0001): a ticket once held its progress link token in
    # clear. The portal app now keeps links, as hashes.
    return secrets.token_urlsafe(32)


def new_survey_token() -> str:
    # Old migrations name it (notifications 0001, tickets 0007).
    return secrets.token_urlsafe(24)


class BusinessCalendar(TimeStampedModel):
    """Weekly working hours in a time zone, public holidays of a country, and own closures."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    holiday_country = models.CharField(
        _("holiday country"),
        max_length=2,
        blank=True,
        help_text=_("ISO country code whose public holidays (and make-up working days) apply."),
    )
    holiday_subdivision = models.CharField(_("holiday subdivision"), max_length=10, blank=True)

    class Meta:
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")

    def __str__(self) -> str:
        return self.name


class WorkingHours(models.Model):
    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    opens_at = models.TimeField(_("opens"))
    closes_at = models.TimeField(_("closes"))

    class Meta:
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        ordering = ["weekday", "opens_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weekday__gte=0, weekday__lte=6),
                name="tickets_workinghours_weekday_valid",
            ),
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")),
                name="tickets_workinghours_opens_before_closes",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}-{self.closes_at:%H:%M}"


class CalendarException(models.Model):
    """A team's own closure, or a make-up working day (China's adjusted weekends)."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="exceptions"
    )
    date = models.DateField(_("date"))
    is_working_day = models.BooleanField(
        _("working day"), default=False, help_text=_("On: a make-up working day. Off: closed.")
    )
    name = models.CharField(_("name"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("calendar exception")
        verbose_name_plural = _("calendar exceptions")
        constraints = [
            models.UniqueConstraint(
                fields=["calendar", "date"], name="tickets_calendarexception_unique_date"
            )
        ]

    def __str__(self) -> str:
        return f"{self.calendar}: {self.date} ({self.name})"


class Category(models.TextChoices):
    DELAY = "delay", _("Delay")
    LOST = "lost", _("Lost parcel")
    DAMAGED = "damaged", _("Damaged parcel")
    ADDRESS_CHANGE = "address_change", _("Address change")
    INFORMATION = "information", _("Information request")
    OTHER = "other", _("Other")


class Priority(models.TextChoices):
    URGENT = "urgent", _("Urgent")
    HIGH = "high", _("High")
    NORMAL = "normal", _("Normal")
    LOW = "low", _("Low")


PRIORITY_RANK = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 3}


class Severity(models.TextChoices):
    """Problem severity for the priority matrix: lost > damaged > delayed > information."""

    LOST = "lost", _("Lost")
    DAMAGED = "damaged", _("Damaged")
    DELAYED = "delayed", _("Delayed")
    INFORMATION = "information", _("Information request")


class Team(TimeStampedModel):
    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    calendar = models.ForeignKey(
        BusinessCalendar,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="teams",
        help_text=_("Empty: the team works 24/7."),
    )
    categories = models.JSONField(_("categories handled"), default=list, blank=True)
    regions = models.JSONField(_("customer regions handled"), default=list, blank=True)
    is_default = models.BooleanField(_("default team"), default=False)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="tickets_team_one_default"
            )
        ]

    def __str__(self) -> str:
        return self.name


class AgentProfile(TimeStampedModel):
    """What routing needs to know about a staff user."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile"
    )
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, null=True, blank=True, related_name="agents"
    )
    is_senior = models.BooleanField(
        _("senior"), default=False, help_text=_("Receives VIP tickets.")
    )
    skills = models.JSONField(
        _("skills"), default=list, blank=True, help_text=_("Categories, languages.")
    )
    max_open_tickets = models.PositiveIntegerField(_("max open tickets"), default=25)
    is_available = models.BooleanField(_("available"), default=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    language = models.CharField(
        _("language"), max_length=10, choices=Language.choices, default=Language.EN
    )

    class Meta:
        verbose_name = _("agent profile")
        verbose_name_plural = _("agent profiles")

    def __str__(self) -> str:
        return str(self.user)


class PriorityRule(models.Model):
    """One cell of the priority matrix: customer tier x severity -> priority."""

    customer_tier = models.CharField(
        _("customer tier"), max_length=24, choices=CustomerTier.choices
    )
    severity = models.CharField(_("severity"), max_length=16, choices=Severity.choices)
    priority = models.CharField(_("priority"), max_length=8, choices=Priority.choices)

    class Meta:
        verbose_name = _("priority rule")
        verbose_name_plural = _("priority matrix")
        constraints = [
            models.UniqueConstraint(
                fields=["customer_tier", "severity"], name="tickets_priorityrule_unique_cell"
            ),
            models.CheckConstraint(
                condition=Q(priority__in=choice_values(Priority)),
                name="tickets_priorityrule_priority_valid",
            ),
            models.CheckConstraint(
                condition=Q(customer_tier__in=choice_values(CustomerTier))
                & Q(severity__in=choice_values(Severity)),
                name="tickets_priorityrule_cell_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_tier} x {self.severity} = {self.priority}"


class Source(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    AGENT = "agent", _("Agent")
    PROACTIVE = "proactive", _("Proactive (delay detection)")
    API = "api", _("API")
    EMAIL = "email", _("Email")


class SLAPolicy(TimeStampedModel):
    """Ordered: the first active policy whose conditions match a ticket applies.

    An empty condition list matches anything; the last policy should match everything.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    position = models.PositiveIntegerField(_("position"), default=100)
    is_active = models.BooleanField(_("active"), default=True)
    priorities = models.JSONField(_("priorities"), default=list, blank=True)
    categories = models.JSONField(_("categories"), default=list, blank=True)
    customer_tiers = models.JSONField(_("customer tiers"), default=list, blank=True)
    sources = models.JSONField(_("sources"), default=list, blank=True)
    warning_minutes = models.PositiveIntegerField(_("warn before breach (minutes)"), default=15)

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class TimerKind(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("First response")
    NEXT_RESPONSE = "next_response", _("Next response")
    PERIODIC_UPDATE = "periodic_update", _("Periodic update")
    RESOLUTION = "resolution", _("Resolution")
    MILESTONE = "milestone", _("Milestone")


class MilestoneTrigger(models.TextChoices):
    """What completes a milestone timer (other timer kinds have fixed triggers)."""

    PUBLIC_REPLY = "public_reply", _("A public reply to the customer")
    CARRIER_CONTACTED = "carrier_contacted", _("The carrier was contacted")
    COMPENSATION_PROPOSED = "compensation_proposed", _("A remedy was proposed")
    MANUAL = "manual", _("An agent marks it done")


class SLATarget(models.Model):
    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="targets")
    kind = models.CharField(_("kind"), max_length=16, choices=TimerKind.choices)
    name = models.CharField(
        _("name"),
        max_length=64,
        blank=True,
        help_text=_("For milestones: the key timers are matched by. Agents read the label."),
    )
    label = models.CharField(
        _("label"),
        max_length=100,
        blank=True,
        help_text=_("For milestones: what agents read, in their language (empty: the name)."),
    )
    minutes = models.PositiveIntegerField(_("minutes"))
    business_hours = models.BooleanField(
        _("business hours"),
        default=False,
        help_text=_("Count in the team's business calendar instead of 24/7."),
    )
    met_by = models.CharField(
        _("milestone met by"),
        max_length=24,
        choices=MilestoneTrigger.choices,
        default=MilestoneTrigger.MANUAL,
        help_text=_("Milestones only: what completes it."),
    )

    class Meta:
        verbose_name = _("SLA target")
        verbose_name_plural = _("SLA targets")
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "kind", "name"], name="tickets_slatarget_unique_kind_name"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=choice_values(TimerKind)), name="tickets_slatarget_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(minutes__gt=0), name="tickets_slatarget_minutes_gt_0"
            ),
            models.CheckConstraint(
                condition=~Q(kind="milestone") | ~Q(name=""),
                name="tickets_slatarget_milestone_named",
            ),
            models.CheckConstraint(
                condition=Q(met_by__in=choice_values(MilestoneTrigger)),
                name="tickets_slatarget_met_by_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy}: {self.name or self.kind} {self.minutes} min"

    @property
    def display_name(self) -> str:
        """The milestone's label in the active language (English, else the name, if none)."""
        return self.label or self.name


class TicketQuerySet(models.QuerySet):
    def open(self) -> "TicketQuerySet":
        return self.exclude(status__in=CLOSED_STATUSES)

    def visible_to(self, user) -> "TicketQuerySet":
        """The console scope of a staff user.

        Supervisors (and superusers) see every ticket. An agent in a team sees the team's
        tickets, tickets not routed to any team, and tickets assigned to them; an agent without
        a team (a small shop) sees everything. Anyone else sees nothing.
        """
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser or user.has_perm("tickets.supervise"):
            return self
        if not user.has_perm("tickets.work_console"):
            return self.none()
        team_id = AgentProfile.objects.filter(user=user).values_list("team_id", flat=True).first()
        if team_id is None:
            return self
        return self.filter(Q(team_id=team_id) | Q(team__isnull=True) | Q(assignee=user))

    def assigned_to(self, user) -> "TicketQuerySet":
        return self.filter(assignee=user)

    def unassigned(self) -> "TicketQuerySet":
        return self.filter(assignee__isnull=True)

    def breaching_before(self, moment) -> "TicketQuerySet":
        """Tickets with a running SLA timer due before `moment`.

        An IN over the due-time partial index (the overdue-or-soon timers are few), not an
        EXISTS per ticket, so the database starts from the timers.
        """
        return self.filter(pk__in=SLATimer.objects.running_due_before(moment).values("ticket_id"))

    def search(self, term: str) -> "TicketQuerySet":
        """Find tickets by what an agent has at hand, choosing the conditions by the term's shape:

        - an email address: the customer's email (exact, any case);
        - anything else: the exact order or tracking number, or #reference (ASCII digits
          within the id range only: '#١٢٣' or a 30-digit number is text, not a ticket number);
        - and, for a term without digits (names and words, not identifiers): part of the
          customer's name or of the ticket's subject.

        The shipment and customer conditions are subqueries over their own indexes, not
        conditions on joined rows, and an identifier never triggers a "contains" scan of every
        customer name (docs/PERFORMANCE.md).
        """
        term = clean_search(term)
        if not term:
            return self
        if "@" in term:
            customers = Customer.objects.filter(email__iexact=term)
            return self.filter(customer_id__in=customers.values("pk"))
        shipments = Shipment.objects.filter(Q(order_number=term) | Q(tracking_number=term))
        match = Q(shipment_id__in=shipments.values("pk"))
        reference = parse_id(term.removeprefix("#"))
        if reference is not None:
            match |= Q(pk=reference)
        if not any(char.isdigit() for char in term):
            customers = Customer.objects.filter(name__icontains=term)
            match |= Q(subject__icontains=term) | Q(customer_id__in=customers.values("pk"))
        return self.filter(match)


class TicketStatus(models.TextChoices):
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    PENDING = "pending", _("Pending (waiting on customer)")
    ON_HOLD = "on_hold", _("On hold (waiting on carrier)")
    SOLVED = "solved", _("Solved")
    CLOSED = "closed", _("Closed")


class Ticket(TimeStampedModel):
    Status = TicketStatus

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subject = models.CharField(_("subject"), max_length=200)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="tickets")
    shipment = models.ForeignKey(
        "shipments.Shipment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
    )
    incident = models.ForeignKey(
        "shipments.Incident",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
    )
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, null=True, blank=True, related_name="tickets"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_tickets",
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.NEW
    )
    category = models.CharField(
        _("category"), max_length=16, choices=Category.choices, default=Category.DELAY
    )
    source = models.CharField(
        _("source"), max_length=16, choices=Source.choices, default=Source.CUSTOMER
    )
    priority = models.CharField(
        _("priority"), max_length=8, choices=Priority.choices, default=Priority.NORMAL
    )
    # urgent=0 ... low=3, computed by the database: the queues order by it, and an index on a
    # plain column serves "most pressing first, then oldest" without sorting the backlog.
    priority_rank = models.GeneratedField(
        expression=models.Case(
            *(
                models.When(priority=priority, then=models.Value(rank))
                for priority, rank in PRIORITY_RANK.items()
            ),
            default=models.Value(len(PRIORITY_RANK)),
        ),
        output_field=models.SmallIntegerField(),
        db_persist=True,
        verbose_name=_("priority rank"),
    )
    priority_overridden = models.BooleanField(_("priority set by hand"), default=False)
    language = models.CharField(
        _("language"), max_length=10, choices=Language.choices, default=Language.EN
    )
    sla_policy = models.ForeignKey(
        SLAPolicy, on_delete=models.PROTECT, null=True, blank=True, related_name="tickets"
    )
    version = models.PositiveIntegerField(
        _("version"),
        default=1,
        help_text=_("Optimistic lock: bumped by every change an agent could overwrite."),
    )
    detected_at = models.DateTimeField(
        _("delay detected at"),
        null=True,
        blank=True,
        help_text=_("Proactive tickets: the first-contact clock starts here."),
    )
    first_response_at = models.DateTimeField(_("first response"), null=True, blank=True)
    last_customer_message_at = models.DateTimeField(
        _("last customer message"), null=True, blank=True
    )
    last_agent_update_at = models.DateTimeField(_("last update to customer"), null=True, blank=True)
    solved_at = models.DateTimeField(_("solved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    is_escalated = models.BooleanField(_("escalated"), default=False)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)

    objects = TicketQuerySet.as_manager()

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        permissions = [
            ("work_console", _("Can work tickets in the agent console")),
            ("supervise", _("Can use the supervisor pages")),
            ("override_priority", _("Can override a ticket's priority")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=choice_values(TicketStatus)),
                name="tickets_ticket_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(category__in=choice_values(Category)),
                name="tickets_ticket_category_valid",
            ),
            models.CheckConstraint(
                condition=Q(source__in=choice_values(Source)), name="tickets_ticket_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(priority__in=choice_values(Priority)),
                name="tickets_ticket_priority_valid",
            ),
            models.CheckConstraint(
                condition=Q(language__in=choice_values(Language)),
                name="tickets_ticket_language_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["solved", "closed"]) | Q(solved_at__isnull=False),
                name="tickets_ticket_solved_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(source="proactive") | Q(shipment__isnull=False),
                name="tickets_ticket_proactive_has_shipment",
            ),
            # Delay detection opens one proactive ticket per shipment, however often it runs.
            models.UniqueConstraint(
                fields=["shipment"],
                condition=Q(source="proactive"),
                name="tickets_ticket_one_proactive_per_shipment",
            ),
        ]
        indexes = [
            # Console queue "all open by priority, oldest first".
            models.Index(
                fields=["priority_rank", "created_at", "id"],
                name="tickets_ticket_open_queue_idx",
                condition=~Q(status__in=["solved", "closed"]),
            ),
            # Console queues "mine" and "unassigned" (assignee IS NULL), by priority and age.
            models.Index(
                fields=["assignee", "priority_rank", "created_at", "id"],
                name="tickets_ticket_mine_idx",
                condition=~Q(status__in=["solved", "closed"]),
            ),
            # Console queue "by team" and routing's least-loaded count.
            models.Index(
                fields=["team", "status"],
                name="tickets_ticket_team_idx",
                condition=~Q(status__in=["solved", "closed"]),
            ),
            # Console queue "by incident".
            models.Index(
                fields=["incident", "status"],
                name="tickets_ticket_incident_idx",
                condition=Q(incident__isnull=False),
            ),
            # Customer profile: "this customer's tickets, newest first".
            models.Index(fields=["customer", "-created_at"], name="tickets_ticket_customer_idx"),
            # Auto-close sweeper: solved tickets older than the reopen window.
            models.Index(
                fields=["solved_at"], name="tickets_ticket_solved_idx", condition=Q(status="solved")
            ),
            # Supervisor KPIs: "tickets solved (or since closed) in a period"; the backlog chart
            # (supervisor.trends) reads the tickets done since a day by priority rank and day
            # created from the index alone.
            models.Index(
                fields=["solved_at"],
                include=["status", "priority_rank", "created_at", "team"],
                name="tickets_ticket_resolved_idx",
                condition=Q(solved_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    @property
    def reference(self) -> str:
        return f"#{self.pk}"


CLOSED_STATUSES = (Ticket.Status.SOLVED, Ticket.Status.CLOSED)


class MessageKind(models.TextChoices):
    PUBLIC = "public", _("Public reply")
    NOTE = "note", _("Internal note")


class MessageDirection(models.TextChoices):
    INBOUND = "inbound", _("From the customer")
    OUTBOUND = "outbound", _("To the customer")
    INTERNAL = "internal", _("Internal")


class Message(TimeStampedModel):
    """A public reply (customer or agent) or an internal note (agents only, never shown out)."""

    Kind = MessageKind

    Direction = MessageDirection

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    direction = models.CharField(_("direction"), max_length=8, choices=Direction.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    body = models.TextField(_("body"))

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=choice_values(MessageKind)), name="tickets_message_kind_valid"
            ),
            models.CheckConstraint(
                condition=(Q(kind="note") & Q(direction="internal"))
                | (Q(kind="public") & Q(direction__in=["inbound", "outbound"])),
                name="tickets_message_note_is_internal",
            ),
            models.CheckConstraint(
                condition=~Q(direction__in=["outbound", "internal"]) | Q(author__isnull=False),
                name="tickets_message_agent_message_has_author",
            ),
            models.CheckConstraint(condition=~Q(body=""), name="tickets_message_body_not_empty"),
        ]
        indexes = [
            # Ticket detail: messages in order.
            models.Index(fields=["ticket", "created_at"], name="tickets_message_ticket_idx"),
        ]


class TicketEventKind(models.TextChoices):
    CREATED = "created", _("Created")
    STATUS_CHANGED = "status_changed", _("Status changed")
    ASSIGNED = "assigned", _("Assigned")
    UNASSIGNED = "unassigned", _("Unassigned")
    PRIORITY_CHANGED = "priority_changed", _("Priority changed")
    CUSTOMER_MESSAGE = "customer_message", _("Customer wrote")
    AGENT_REPLY = "agent_reply", _("Agent replied")
    NOTE = "note", _("Internal note")
    CARRIER_CONTACTED = "carrier_contacted", _("Investigating with the carrier")
    REOPENED = "reopened", _("Reopened")
    CATEGORY_CHANGED = "category_changed", _("Category changed")
    MILESTONE_MET = "milestone_met", _("Milestone met")
    SLA_RECOMPUTED = "sla_recomputed", _("SLA timers recomputed")
    SLA_WARNING = "sla_warning", _("SLA warning")
    SLA_BREACHED = "sla_breached", _("SLA breached")
    ESCALATED = "escalated", _("Escalated")
    COMPENSATION_PROPOSED = "compensation_proposed", _("Remedy proposed")
    COMPENSATION_APPROVED = "compensation_approved", _("Remedy approved")
    COMPENSATION_REJECTED = "compensation_rejected", _("Remedy rejected")
    COMPENSATION_OFFERED = "compensation_offered", _("Remedy offered")
    COMPENSATION_ACCEPTED = "compensation_accepted", _("Remedy chosen")
    COMPENSATION_ISSUED = "compensation_issued", _("Remedy issued")
    NOTIFICATION_SENT = "notification_sent", _("Customer notified")
    SURVEY_ANSWERED = "survey_answered", _("Satisfaction rated")
    LINK_REVOKED = "link_revoked", _("Progress links revoked")


class TicketEvent(models.Model):
    """The timeline: every state change, assignment, SLA event, message and compensation step."""

    Kind = TicketEventKind

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    is_public = models.BooleanField(_("shown to the customer"), default=False)
    data = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("timeline event")
        verbose_name_plural = _("timeline events")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=choice_values(TicketEventKind)),
                name="tickets_ticketevent_kind_valid",
            ),
            models.CheckConstraint(
                condition=~Q(kind="note") | Q(is_public=False),
                name="tickets_ticketevent_note_never_public",
            ),
        ]
        indexes = [
            # Ticket timeline (console: all; progress page: public subset).
            models.Index(fields=["ticket", "created_at"], name="tickets_event_timeline_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.ticket_id} {self.kind} at {self.created_at:%Y-%m-%d %H:%M}"


class TimerStatus(models.TextChoices):
    ACTIVE = "active", _("Running")
    PAUSED = "paused", _("Paused")
    MET = "met", _("Met")
    BREACHED = "breached", _("Breached")
    CANCELLED = "cancelled", _("Cancelled")


class SLATimerQuerySet(models.QuerySet):
    def running_due_before(self, moment) -> "SLATimerQuerySet":
        """Running timers due before `moment`, overdue included (the due-time partial index)."""
        return self.filter(status=TimerStatus.ACTIVE, due_at__lt=moment)


class SLATimer(models.Model):
    Status = TimerStatus

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="timers")
    target = models.ForeignKey(
        SLATarget, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=TimerKind.choices)
    name = models.CharField(_("name"), max_length=64, blank=True)
    met_by = models.CharField(
        _("met by"), max_length=24, choices=MilestoneTrigger.choices, blank=True
    )
    business_hours = models.BooleanField(_("business hours"), default=False)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    started_at = models.DateTimeField(_("started at"))
    due_at = models.DateTimeField(_("due at"))
    warn_at = models.DateTimeField(_("warn at"), null=True, blank=True)
    warned_at = models.DateTimeField(_("warned at"), null=True, blank=True)
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    remaining_seconds = models.PositiveIntegerField(
        _("remaining when paused (s)"), null=True, blank=True
    )
    paused_seconds = models.PositiveIntegerField(
        _("time spent paused (s)"),
        default=0,
        help_text=_("Counted on the timer's own clock (business hours or 24/7)."),
    )
    met_at = models.DateTimeField(_("met at"), null=True, blank=True)
    breached_at = models.DateTimeField(_("breached at"), null=True, blank=True)
    minutes_early = models.IntegerField(_("minutes early (negative: late)"), null=True, blank=True)

    objects = SLATimerQuerySet.as_manager()

    class Meta:
        verbose_name = _("SLA timer")
        verbose_name_plural = _("SLA timers")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=choice_values(TimerStatus)),
                name="tickets_slatimer_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=choice_values(TimerKind)), name="tickets_slatimer_kind_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="met") | Q(met_at__isnull=False),
                name="tickets_slatimer_met_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="breached") | Q(breached_at__isnull=False),
                name="tickets_slatimer_breached_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="paused")
                | Q(paused_at__isnull=False, remaining_seconds__isnull=False),
                name="tickets_slatimer_paused_has_remaining",
            ),
            # One running clock per target on a ticket; a restart closes the old one first.
            models.UniqueConstraint(
                fields=["ticket", "kind", "name"],
                condition=Q(status__in=["active", "paused"]),
                name="tickets_slatimer_one_running_per_kind",
            ),
        ]
        indexes = [
            # Breach sweeper and "breaching in the next hour": running timers by due time.
            models.Index(
                fields=["due_at"], name="tickets_slatimer_due_idx", condition=Q(status="active")
            ),
            # Warning sweeper: running timers not yet warned, by warn time.
            models.Index(
                fields=["warn_at"],
                name="tickets_slatimer_warn_idx",
                condition=Q(status="active", warned_at__isnull=True),
            ),
            models.Index(fields=["ticket", "status"], name="tickets_slatimer_ticket_idx"),
            # Escalation sweeper: timers breached recently (tickets.sla.sweeper.escalate).
            models.Index(
                fields=["breached_at"],
                name="tickets_slatimer_breached_idx",
                condition=Q(status="breached"),
            ),
            # Supervisor KPIs: "timers met in a period" (SLA compliance).
            models.Index(
                fields=["met_at"], name="tickets_slatimer_met_idx", condition=Q(status="met")
            ),
            # Supervisor SLA alerts and "breaching now" (supervisor.kpis.past_due_q): running
            # and breached timers due before a moment, read index-only (id, ticket, kind
            # included) and checked against the open tickets by a hash. Keyed by status first,
            # so the query does not walk the timers in due order meeting the breaches of closed
            # tickets one ticket read at a time; paused timers are in it so that its condition
            # does not already say "running or breached", which PostgreSQL would then not use
            # as the range to read.
            models.Index(
                fields=["status", "due_at"],
                include=["id", "ticket", "kind"],
                name="tickets_slatimer_live_idx",
                condition=Q(status__in=["active", "paused", "breached"]),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.ticket_id} {self.name or self.kind} due {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def display_name(self) -> str:
        """The milestone's name as agents read it, in the active language: its target's label
        (load the target with the timer), else the name copied when the timer started."""
        target = self.target if self.target_id else None
        return (target.display_name if target is not None else "") or self.name


class Macro(TimeStampedModel):
    """A reply template with placeholders, one row per language."""

    slug = models.SlugField(_("key"), max_length=64)
    language = models.CharField(_("language"), max_length=10, choices=Language.choices)
    title = models.CharField(_("title"), max_length=100)
    body = models.TextField(
        _("body"),
        help_text=_(
            "Placeholders: {customer_name} {order_number} {tracking_number} {new_eta} "
            "{delay_reason} {compensation}"
        ),
    )
    category = models.CharField(_("category"), max_length=16, choices=Category.choices, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("macro")
        verbose_name_plural = _("macros")
        ordering = ["slug", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug", "language"], name="tickets_macro_unique_language"
            ),
            models.CheckConstraint(
                condition=Q(language__in=choice_values(Language)),
                name="tickets_macro_language_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.language})"


class SurveyReason(models.TextChoices):
    """Why a customer who rated 2 or less was unhappy (asked on the survey form)."""

    LATE = "late", _("My parcel was late")
    NO_INFORMATION = "no_information", _("I was not kept informed")
    REMEDY_UNFAIR = "remedy_unfair", _("The remedy was not fair")
    AGENT_UNHELPFUL = "agent_unhelpful", _("The agent was not helpful")
    OTHER = "other", _("Something else")


class SatisfactionSurvey(TimeStampedModel):
    """After a resolution: the customer's rating of 1-5, a comment and, for a low rating, why.

    One per resolution of a ticket (a ticket reopened and solved again asks again), answered
    once and editable for SURVEY_EDIT_DAYS, closed unanswered SURVEY_CLOSE_DAYS after the
    resolution. The rating is a fact about the ticket (the ticket page, the agent scorecard
    through `agent`, the KPIs read it), so the model lives with tickets; notifications only
    sends the survey notice (and marks `sent_at`), and the customer answers on the progress page
    (portal). Its table and constraint names date from when it lived in notifications (tickets
    migration 0007 moved it without copying a row).

    `legacy_token_hash`: surveys sent before the progress page had a link of their own,
    /survey/<token>/; the token's SHA-256 keeps those links working (portal redirects them).
    """

    Reason = SurveyReason

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="surveys")
    resolved_at = models.DateTimeField(_("resolved at"))
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("agent"),
        help_text=_("Who had the ticket when it was solved: the rating counts on their scorecard."),
    )
    legacy_token_hash = models.CharField(
        _("old survey link (hash)"), max_length=64, unique=True, null=True, blank=True
    )
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    rating = models.PositiveSmallIntegerField(
        _("rating"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    reason = models.CharField(_("reason"), max_length=16, choices=SurveyReason.choices, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    edited_at = models.DateTimeField(_("changed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("satisfaction survey")
        verbose_name_plural = _("satisfaction surveys")
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="notifications_survey_rating_1_to_5",
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(answered_at__isnull=False),
                name="notifications_survey_rated_has_time",
            ),
            models.CheckConstraint(
                condition=Q(reason="") | Q(reason__in=choice_values(SurveyReason)),
                name="tickets_survey_reason_valid",
            ),
            # One survey per resolution.
            models.UniqueConstraint(
                fields=["ticket", "resolved_at"], name="tickets_survey_one_per_resolution"
            ),
        ]
        indexes = [
            # Agent scorecard: an agent's ratings by time.
            models.Index(
                fields=["agent", "answered_at"],
                name="tickets_survey_agent_idx",
                condition=Q(answered_at__isnull=False),
            ),
            # Supervisor KPIs: "answers given in a period" (CSAT, negative reviews).
            models.Index(
                fields=["answered_at"],
                name="tickets_survey_answered_idx",
                condition=Q(answered_at__isnull=False),
            ),
            # Supervisor KPIs: "surveys sent in a period" (response rate).
            models.Index(
                fields=["sent_at"],
                name="tickets_survey_sent_idx",
                condition=Q(sent_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"Survey of #{self.ticket_id}: {self.rating or '-'}"
