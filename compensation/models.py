import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.models import DelayCause, TimeStampedModel, choice_values
from customers.models import Customer


class RemedyKind(models.TextChoices):
    COUPON = "coupon", _("Coupon")
    DISCOUNT_CODE = "discount_code", _("Percentage discount code")
    LOYALTY_POINTS = "loyalty_points", _("Loyalty points")
    PARTIAL_REFUND = "partial_refund", _("Partial refund")
    FULL_REFUND = "full_refund", _("Full refund")
    RESHIP = "reship", _("Reship")
    FREE_SHIPPING = "free_shipping", _("Free-shipping coupon")
    EXPEDITED_RESHIP = "expedited_reship", _("Expedited reshipment")
    PRIORITY_SHIPPING = "priority_shipping", _("Priority shipping on the next order")
    GIFT = "gift", _("Small gift")
    CASH = "cash", _("Fixed cash amount")
    UPGRADE = "upgrade", _("Upgrade")
    SENIOR_CALL = "senior_call", _("Senior contact by phone")


# Kinds whose value is money (amount + currency) rather than a percentage or points.
MONEY_KINDS = ("coupon", "partial_refund", "full_refund", "cash")


class PolicyKind(models.TextChoices):
    RULE = "rule", _("Rule: gives remedies")
    UPLIFT = "uplift", _("Uplift: raises the remedies of the rule that applies")


class IncidentScope(models.TextChoices):
    ANY = "any", _("Any shipment")
    IN_INCIDENT = "in_incident", _("Only shipments in an incident")
    NO_INCIDENT = "no_incident", _("Only shipments in no incident")


class CompensationPolicy(TimeStampedModel):
    """One row of the remedy matrix (compensation.policies): the first active rule (by
    position) whose conditions all match gives its remedies; every active uplift that matches
    then raises their money and percentages (e.g. "VIP +50%"). An empty condition matches
    anything."""

    Kind = PolicyKind

    name = models.CharField(_("name"), max_length=100, unique=True)
    position = models.PositiveIntegerField(
        _("position"), default=100, help_text=_("Lower first: the first matching rule applies.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    kind = models.CharField(
        _("kind"),
        max_length=8,
        choices=PolicyKind.choices,
        default=PolicyKind.RULE,
        help_text=_(
            "A rule gives its remedies; an uplift gives none and raises the money and "
            "percentages of the rule that applies by its uplift percent."
        ),
    )
    uplift_percent = models.DecimalField(
        _("uplift percent"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Uplifts only: 50 raises 10 EUR to 15 EUR and 10% to 15% (at most 100%)."),
    )
    cause = models.CharField(
        _("cause"),
        max_length=24,
        choices=DelayCause.choices,
        blank=True,
        help_text=_("The shipment's cause (or its delay cause). Empty: any cause."),
    )
    delay_levels = models.JSONField(
        _("delay levels"),
        default=list,
        blank=True,
        help_text=_("The shipment's delay level is one of these. None ticked: any level."),
    )
    min_days_late = models.PositiveIntegerField(
        _("more than days late"),
        null=True,
        blank=True,
        help_text=_(
            "Days between the promised delivery and now (or the delivery): 30 matches from "
            "the 31st day. Empty: no lower bound."
        ),
    )
    max_days_late = models.PositiveIntegerField(
        _("at most days late"),
        null=True,
        blank=True,
        help_text=_("Empty: no upper bound."),
    )
    categories = models.JSONField(
        _("ticket categories"),
        default=list,
        blank=True,
        help_text=_("The ticket's category is one of these. None ticked: any category."),
    )
    min_order_value = models.DecimalField(
        _("order value at least"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("In the order value currency below. Empty: no lower bound."),
    )
    max_order_value = models.DecimalField(
        _("order value below"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Empty: no upper bound."),
    )
    order_currency = models.CharField(
        _("order value currency"),
        max_length=3,
        default="EUR",
        help_text=_("An order value bound only matches orders in this currency."),
    )
    customer_tiers = models.JSONField(
        _("customer tiers"),
        default=list,
        blank=True,
        help_text=_("None ticked: any tier."),
    )
    regions = models.JSONField(
        _("destination regions"),
        default=list,
        blank=True,
        help_text=_("The customer's region, where the parcel goes. None ticked: any region."),
    )
    incident_scope = models.CharField(
        _("incidents"),
        max_length=12,
        choices=IncidentScope.choices,
        default=IncidentScope.ANY,
    )
    incident = models.ForeignKey(
        "shipments.Incident",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="compensation_policies",
        verbose_name=_("incident"),
        help_text=_("Only the shipments and tickets of this incident. Empty: any."),
    )
    offer_proactively = models.BooleanField(
        _("offer before being asked"), default=False, help_text=_("E.g. full refund after 30 days.")
    )
    description = models.CharField(
        _("explanation"),
        max_length=300,
        blank=True,
        help_text=_("Why this policy gives what it gives; agents read it with the suggestion."),
    )

    class Meta:
        verbose_name = _("compensation policy")
        verbose_name_plural = _("compensation policies")
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(cause="") | Q(cause__in=choice_values(DelayCause)),
                name="compensation_policy_cause_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=choice_values(PolicyKind)),
                name="compensation_policy_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(incident_scope__in=choice_values(IncidentScope)),
                name="compensation_policy_incident_scope_valid",
            ),
            models.CheckConstraint(
                condition=~Q(kind="uplift") | Q(uplift_percent__isnull=False, uplift_percent__gt=0),
                name="compensation_policy_uplift_has_percent",
            ),
            models.CheckConstraint(
                condition=Q(min_days_late__isnull=True)
                | Q(max_days_late__isnull=True)
                | Q(max_days_late__gte=F("min_days_late")),
                name="compensation_policy_days_ordered",
            ),
            models.CheckConstraint(
                condition=Q(min_order_value__isnull=True)
                | Q(max_order_value__isnull=True)
                | Q(max_order_value__gt=F("min_order_value")),
                name="compensation_policy_value_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PolicyRemedy(models.Model):
    """One remedy of a policy; a policy may give several together (15% off + priority shipping)
    or offer a choice (customer picks one of the options sharing a choice group)."""

    policy = models.ForeignKey(
        CompensationPolicy, on_delete=models.CASCADE, related_name="remedies"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=RemedyKind.choices)
    percent = models.DecimalField(
        _("percent"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    amount = models.DecimalField(
        _("amount"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    points = models.PositiveIntegerField(_("points"), null=True, blank=True)
    choice_group = models.PositiveSmallIntegerField(
        _("choice group"),
        default=0,
        help_text=_("Remedies with the same non-zero group are alternatives."),
    )

    class Meta:
        verbose_name = _("policy remedy")
        verbose_name_plural = _("policy remedies")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=choice_values(RemedyKind)),
                name="compensation_policyremedy_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(percent__isnull=True) | Q(percent__gt=0, percent__lte=100),
                name="compensation_policyremedy_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gt=0),
                name="compensation_policyremedy_amount_gt_0",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy}: {self.get_kind_display()}"


class AuthorityLimit(models.Model):
    """How much compensation a role (or one user) may grant without a supervisor, per currency.

    One row per (group, currency) or (user, currency). For a user and a currency the user's own
    row wins; otherwise the highest of the user's groups' rows (compensation.services
    `authority_for`). No row for a currency: every offer in it waits for a supervisor.
    """

    group = models.ForeignKey(
        "auth.Group",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="authority_limits",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="authority_limits",
    )
    max_amount = models.DecimalField(_("up to amount"), max_digits=12, decimal_places=2)
    max_percent = models.DecimalField(_("up to percent"), max_digits=5, decimal_places=2, default=0)
    max_points = models.PositiveIntegerField(
        _("up to loyalty points"),
        default=0,
        help_text=_("Points are not money: the same number applies whatever the row's currency."),
    )
    currency = models.CharField(_("currency"), max_length=3, default="EUR")

    class Meta:
        verbose_name = _("authority limit")
        verbose_name_plural = _("authority limits")
        constraints = [
            models.CheckConstraint(
                condition=Q(group__isnull=False, user__isnull=True)
                | Q(group__isnull=True, user__isnull=False),
                name="compensation_authoritylimit_group_xor_user",
            ),
            models.CheckConstraint(
                condition=Q(max_amount__gte=0), name="compensation_authoritylimit_amount_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(max_percent__gte=0, max_percent__lte=100),
                name="compensation_authoritylimit_percent_range",
            ),
            # One limit per holder and currency.
            models.UniqueConstraint(
                fields=["group", "currency"],
                condition=Q(group__isnull=False),
                name="compensation_authoritylimit_one_per_group_currency",
            ),
            models.UniqueConstraint(
                fields=["user", "currency"],
                condition=Q(user__isnull=False),
                name="compensation_authoritylimit_one_per_user_currency",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group or self.user}: {self.max_amount} {self.currency}"


class Budget(TimeStampedModel):
    """Money set aside for compensation over a period, optionally for one incident."""

    name = models.CharField(_("name"), max_length=100)
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to"))
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    incident = models.ForeignKey(
        "shipments.Incident",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="budgets",
    )

    class Meta:
        verbose_name = _("budget")
        verbose_name_plural = _("budgets")
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="compensation_budget_amount_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")),
                name="compensation_budget_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CompensationOfferQuerySet(models.QuerySet):
    def awaiting_approval(self) -> "CompensationOfferQuerySet":
        return self.filter(status=CompensationOffer.Status.PENDING_APPROVAL)


class OfferStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    PENDING_APPROVAL = "pending_approval", _("Waiting for approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    OFFERED = "offered", _("Offered to the customer")
    ACCEPTED = "accepted", _("Chosen by the customer")
    DECLINED = "declined", _("Declined by the customer")
    ISSUED = "issued", _("Issued")
    CANCELLED = "cancelled", _("Cancelled")


class CompensationOffer(TimeStampedModel):
    """A remedy for one ticket, from proposal through approval to issuance."""

    Status = OfferStatus

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.PROTECT, related_name="offers")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="offers")
    # The incident the offer counts against (its budget, the approval queue's incidents): the
    # ticket's incident, else its shipment's, as they stood when the offer was made
    # (compensation.budgets.incident_of). Kept on the offer so that an incident's sums read its
    # own offers by index instead of joining every offer to its ticket and shipment.
    incident = models.ForeignKey(
        "shipments.Incident",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="compensation_offers",
        verbose_name=_("incident"),
        db_index=False,  # compensation_offer_inc_idx leads with it
    )
    policy = models.ForeignKey(
        CompensationPolicy, on_delete=models.SET_NULL, null=True, blank=True, related_name="offers"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=RemedyKind.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PROPOSED
    )
    amount = models.DecimalField(
        _("amount"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    percent = models.DecimalField(
        _("percent"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    points = models.PositiveIntegerField(_("points"), null=True, blank=True)
    choice_group = models.UUIDField(
        _("choice group"), null=True, blank=True, help_text=_("Offers the customer chooses among.")
    )
    reason = models.TextField(_("reason"), blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: proposed by the system."),
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    issued_reference = models.CharField(_("coupon code or refund id"), max_length=64, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    bulk_key = models.CharField(
        _("bulk offer"),
        max_length=40,
        blank=True,
        default="",
        editable=False,
        help_text=_("Set on an incident's bulk offer: one offer per ticket and bulk run."),
    )

    objects = CompensationOfferQuerySet.as_manager()

    class Meta:
        verbose_name = _("compensation offer")
        verbose_name_plural = _("compensation offers")
        permissions = [("approve_compensationoffer", _("Can approve or reject compensation"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=choice_values(OfferStatus)),
                name="compensation_offer_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=choice_values(RemedyKind)),
                name="compensation_offer_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gt=0),
                name="compensation_offer_amount_gt_0",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=MONEY_KINDS) | Q(amount__isnull=False),
                name="compensation_offer_money_kind_has_amount",
            ),
            models.CheckConstraint(
                condition=Q(percent__isnull=True) | Q(percent__gt=0, percent__lte=100),
                name="compensation_offer_percent_range",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved")
                | Q(approved_by__isnull=False, approved_at__isnull=False),
                name="compensation_offer_approved_implies_approved_by",
            ),
            models.CheckConstraint(
                condition=~Q(status="issued") | Q(issued_at__isnull=False),
                name="compensation_offer_issued_has_time",
            ),
            # The person who requested a compensation never approves it.
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True)
                | Q(requested_by__isnull=True)
                | ~Q(approved_by=F("requested_by")),
                name="compensation_offer_no_self_approval",
            ),
            # An incident's bulk offer reaches each ticket once, however often it runs
            # (compensation.services.offer_incident_remedy).
            models.UniqueConstraint(
                fields=["ticket", "bulk_key"],
                condition=~Q(bulk_key=""),
                name="compensation_offer_one_per_bulk_key",
            ),
        ]
        indexes = [
            # Supervisor approval queue, oldest first: its order to the last key, so a page is
            # read off the index (no sort of every pending offer; bench/bench_approvals.py).
            models.Index(
                fields=["created_at", "id"],
                name="compensation_offer_pend_idx",
                condition=Q(status="pending_approval"),
            ),
            models.Index(fields=["ticket", "status"], name="compensation_offer_ticket_idx"),
            # An incident's offers: its budget's sums, the approval queue's incidents.
            models.Index(
                fields=["incident", "status"],
                name="compensation_offer_inc_idx",
                condition=Q(incident__isnull=False),
            ),
            # Customer profile: past compensation.
            models.Index(fields=["customer", "-created_at"], name="compensation_offer_cust_idx"),
            # Supervisor KPIs: "compensation issued in a period" (cost by kind, cause, carrier).
            models.Index(
                fields=["issued_at"],
                name="compensation_offer_issued_idx",
                condition=Q(status="issued"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for ticket #{self.ticket_id}"


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class ApprovalRequest(models.Model):
    """A request for a supervisor's decision on an offer above the requester's authority."""

    Status = ApprovalStatus

    offer = models.ForeignKey(CompensationOffer, on_delete=models.PROTECT, related_name="approvals")
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: proposed by the system (an incident's bulk offer, a proactive one)."),
    )
    requested_at = models.DateTimeField(_("requested at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=choice_values(ApprovalStatus)),
                name="compensation_approval_status_valid",
            ),
            models.UniqueConstraint(
                fields=["offer"],
                condition=Q(status="pending"),
                name="compensation_approval_one_pending_per_offer",
            ),
            models.CheckConstraint(
                condition=Q(status="pending")
                | Q(decided_by__isnull=False, decided_at__isnull=False),
                name="compensation_approval_decided_has_decider",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="compensation_approval_no_self_approval",
            ),
        ]

    def __str__(self) -> str:
        return f"Approval of offer {self.offer_id}: {self.status}"


# --- Issuance: what an issued remedy left behind (compensation.issuance) ---------------------


class IssuedCode(models.Model):
    """A coupon, percentage discount or free-shipping code given to a customer.

    Only a SHA-256 hash of the code and its last 4 characters are stored: neither the admin list
    nor a copy of the database yields a usable code (the code has 80 random bits, so its hash
    cannot be reversed by guessing). The customer reads the code once, in the "remedy issued"
    notice; support finds it again by its last 4 characters or by hashing what the customer
    reads out (`compensation.issuance.find_code`).
    """

    offer = models.OneToOneField(
        CompensationOffer, on_delete=models.PROTECT, related_name="issued_code"
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    code_hash = models.CharField(_("code hash (SHA-256)"), max_length=64, unique=True)
    last4 = models.CharField(_("last 4 characters"), max_length=4)
    created_at = models.DateTimeField(_("issued at"))
    redeemed_at = models.DateTimeField(_("redeemed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("issued code")
        verbose_name_plural = _("issued codes")
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="compensation_code_cust_idx")
        ]

    def __str__(self) -> str:
        return f"****-{self.last4}"


class RefundEntry(models.Model):
    """One refund of an order (partial, full or a fixed cash amount): the ledger of that order.

    An order is its shipment row (a reship refunds against the original order). The entries of
    one order form a chain: `sequence` 1, 2, 3 ... (unique per order) and `refunded_total`, the
    order's refunded total including this entry, never above `order_value` (both checked by the
    database). `compensation.issuance` appends under a row lock on the order's shipment, so two
    refunds at once queue; without the lock the second would collide on the sequence rather than
    overpay.
    """

    offer = models.OneToOneField(CompensationOffer, on_delete=models.PROTECT, related_name="refund")
    shipment = models.ForeignKey(
        "shipments.Shipment", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    order_number = models.CharField(_("order number"), max_length=64)
    sequence = models.PositiveIntegerField(_("entry number"))
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    order_value = models.DecimalField(_("order value"), max_digits=12, decimal_places=2)
    refunded_total = models.DecimalField(
        _("refunded so far (this entry included)"), max_digits=12, decimal_places=2
    )
    created_at = models.DateTimeField(_("refunded at"))

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "sequence"], name="compensation_refund_unique_sequence"
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="compensation_refund_amount_gt_0"
            ),
            models.CheckConstraint(
                condition=Q(sequence__gte=1), name="compensation_refund_sequence_gte_1"
            ),
            models.CheckConstraint(
                condition=Q(refunded_total__gte=F("amount"))
                & Q(refunded_total__lte=F("order_value")),
                name="compensation_refund_total_within_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_number} #{self.sequence}: {self.amount} {self.currency}"


class LoyaltyEntry(models.Model):
    """A movement of a customer's loyalty points; the balance is the sum of the entries."""

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    offer = models.OneToOneField(
        CompensationOffer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="loyalty_entry",
    )
    points = models.IntegerField(_("points"), help_text=_("Negative: points spent."))
    created_at = models.DateTimeField(_("booked at"))

    class Meta:
        verbose_name = _("loyalty points entry")
        verbose_name_plural = _("loyalty points entries")
        constraints = [
            models.CheckConstraint(
                condition=~Q(points=0), name="compensation_loyalty_points_not_0"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "created_at"], name="compensation_loyalty_cust_idx")
        ]

    def __str__(self) -> str:
        return f"{self.points:+d} points for customer {self.customer_id}"


class Reshipment(models.Model):
    """A remedy that sent the order again: the new shipment, and the one it replaces."""

    offer = models.OneToOneField(
        CompensationOffer, on_delete=models.PROTECT, related_name="reshipment"
    )
    original = models.ForeignKey("shipments.Shipment", on_delete=models.PROTECT, related_name="+")
    shipment = models.OneToOneField(
        "shipments.Shipment", on_delete=models.PROTECT, related_name="reshipment_of"
    )
    expedited = models.BooleanField(_("expedited"), default=False)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("reshipment")
        verbose_name_plural = _("reshipments")
        constraints = [
            models.CheckConstraint(
                condition=~Q(original=F("shipment")), name="compensation_reship_not_itself"
            ),
        ]

    def __str__(self) -> str:
        return f"Reship of shipment {self.original_id} as {self.shipment_id}"


class SeniorCall(models.Model):
    """A "senior contact by phone" remedy: the task of a senior agent, timed by an SLA milestone.

    The milestone is a running `tickets.SLATimer` (kind milestone, met by hand) on the ticket:
    it shows with the ticket's other SLA clocks, the sweeper warns and breaches it, and the agent
    marks it done from the ticket page once the call took place.
    """

    offer = models.OneToOneField(
        CompensationOffer, on_delete=models.PROTECT, related_name="senior_call"
    )
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.PROTECT, related_name="+")
    timer = models.ForeignKey(
        "tickets.SLATimer", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    senior = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: no senior agent was free; the team lead picks one."),
    )
    due_at = models.DateTimeField(_("call due by"))
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("senior call")
        verbose_name_plural = _("senior calls")

    def __str__(self) -> str:
        return f"Senior call for ticket #{self.ticket_id}"
