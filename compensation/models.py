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
        ]
        indexes = [
            # Supervisor approval queue, oldest first.
            models.Index(
                fields=["created_at"],
                name="compensation_offer_pend_idx",
                condition=Q(status="pending_approval"),
            ),
            models.Index(fields=["ticket", "status"], name="compensation_offer_ticket_idx"),
            # Customer profile: past compensation.
            models.Index(fields=["customer", "-created_at"], name="compensation_offer_cust_idx"),
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
