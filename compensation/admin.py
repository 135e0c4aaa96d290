from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin

from compensation.models import (
    ApprovalRequest,
    AuthorityLimit,
    Budget,
    CompensationOffer,
    CompensationPolicy,
    IncidentScope,
    IssuedCode,
    LoyaltyEntry,
    PolicyKind,
    PolicyRemedy,
    RefundEntry,
    Reshipment,
    SeniorCall,
)
from core.admin_utils import (
    AuditedAdmin,
    AuthoredAdmin,
    HistoryAdmin,
    TimelineInline,
    choice_labels,
    choice_list_field,
)
from customers.models import CustomerRegion, CustomerTier
from shipments.models import DelayLevel
from tickets.models import Category

UPLIFT_NEEDS_PERCENT = _("An uplift raises the remedies by a percentage: give it.")
BOUNDS_ORDERED = _("The upper bound must not be below the lower one.")
GROUP_XOR_USER = _("Set either a role group or a single user, not both.")


def remedy_value(remedy: PolicyRemedy | CompensationOffer) -> str:
    """What a remedy is worth in one column: "15%", "20.00 EUR" or "500 points"."""
    parts = []
    if remedy.percent is not None:
        parts.append(f"{remedy.percent.normalize():f}%")
    if remedy.amount is not None:
        parts.append(f"{remedy.amount} {remedy.currency}")
    if remedy.points is not None:
        parts.append(f"{remedy.points} {_('points')}")
    return " / ".join(parts) or "-"


# --- Policies and limits (configuration) ----------------------------------------------------


class CompensationPolicyForm(forms.ModelForm):
    """Tiers, levels, categories and regions as checkboxes (no Meta: the ModelAdmin supplies
    model and fields); an uplift says by how much, a rule gives remedies."""

    customer_tiers = choice_list_field(
        _("customer tiers"), CustomerTier.choices, help_text=_("None ticked: any tier.")
    )
    delay_levels = choice_list_field(
        _("delay levels"),
        DelayLevel.choices,
        help_text=_("The shipment's delay level is one of these. None ticked: any level."),
    )
    categories = choice_list_field(
        _("ticket categories"),
        Category.choices,
        help_text=_("The ticket's category is one of these. None ticked: any category."),
    )
    regions = choice_list_field(
        _("destination regions"),
        CustomerRegion.choices,
        help_text=_("The customer's region, where the parcel goes. None ticked: any region."),
    )

    def clean(self):
        cleaned = super().clean()
        # Said in words before compensation_policy_uplift_has_percent says it in SQL.
        if cleaned.get("kind") == PolicyKind.UPLIFT and not cleaned.get("uplift_percent"):
            self.add_error("uplift_percent", UPLIFT_NEEDS_PERCENT)
        low, high = cleaned.get("min_days_late"), cleaned.get("max_days_late")
        if low is not None and high is not None and high < low:
            self.add_error("max_days_late", BOUNDS_ORDERED)
        low, high = cleaned.get("min_order_value"), cleaned.get("max_order_value")
        if low is not None and high is not None and high <= low:
            self.add_error("max_order_value", BOUNDS_ORDERED)
        return cleaned


class PolicyRemedyInline(admin.TabularInline):
    model = PolicyRemedy
    extra = 0
    fields = ("kind", "percent", "amount", "currency", "points", "choice_group")
    verbose_name_plural = _(
        "remedies (group 0: given together; the same non-zero group: the customer chooses one; "
        "a refund without an amount is computed from the order value)"
    )


@admin.register(CompensationPolicy)
class CompensationPolicyAdmin(AuditedAdmin, TranslationAdmin):
    audit_related = ("remedies",)
    form = CompensationPolicyForm
    list_display = (
        "name",
        "position",
        "is_active",
        "kind",
        "conditions",
        "offer_proactively",
        "remedy_summary",
    )
    list_editable = ("position", "is_active")
    list_filter = ("is_active", "kind", "cause", "offer_proactively")
    search_fields = ("name", "description")
    ordering = ("position", "id")
    inlines = (PolicyRemedyInline,)
    list_select_related = ("incident",)
    autocomplete_fields = ("incident",)
    fieldsets = (
        (
            None,
            {
                "description": _(
                    "The first active rule by position whose conditions all match applies; "
                    "the agent sees every matching rule, ranked, with its explanation. "
                    "Uplifts raise the money and percentages of the suggested remedies."
                ),
                "fields": (
                    "name",
                    "position",
                    "is_active",
                    "kind",
                    "uplift_percent",
                    "description",
                ),
            },
        ),
        (
            _("Applies when"),
            {
                "description": _("Every condition that is set must hold; empty ones match all."),
                "fields": (
                    "cause",
                    "delay_levels",
                    ("min_days_late", "max_days_late"),
                    "categories",
                    "customer_tiers",
                    ("min_order_value", "max_order_value", "order_currency"),
                    "regions",
                    ("incident_scope", "incident"),
                ),
            },
        ),
        (None, {"fields": ("offer_proactively",)}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("remedies")

    @admin.display(description=_("applies when"))
    def conditions(self, obj: CompensationPolicy) -> str:
        parts = []
        if obj.cause:
            parts.append(obj.get_cause_display())
        if obj.delay_levels:
            parts.append(choice_labels(obj.delay_levels, DelayLevel.choices))
        if obj.min_days_late is not None:
            parts.append(f"> {obj.min_days_late} {_('days late')}")
        if obj.max_days_late is not None:
            parts.append(f"<= {obj.max_days_late} {_('days late')}")
        if obj.categories:
            parts.append(choice_labels(obj.categories, Category.choices))
        if obj.customer_tiers:
            parts.append(choice_labels(obj.customer_tiers, CustomerTier.choices))
        if obj.min_order_value is not None:
            parts.append(f">= {obj.min_order_value} {obj.order_currency}")
        if obj.max_order_value is not None:
            parts.append(f"< {obj.max_order_value} {obj.order_currency}")
        if obj.regions:
            parts.append(choice_labels(obj.regions, CustomerRegion.choices))
        if obj.incident_id:
            parts.append(str(obj.incident))
        elif obj.incident_scope != IncidentScope.ANY:
            parts.append(obj.get_incident_scope_display())
        if obj.kind == PolicyKind.UPLIFT:
            parts.append(f"+{obj.uplift_percent.normalize():f}%")
        return "; ".join(str(part) for part in parts) or _("always")

    @admin.display(description=_("remedies"))
    def remedy_summary(self, obj: CompensationPolicy) -> str:
        remedies = sorted(obj.remedies.all(), key=lambda remedy: (remedy.choice_group, remedy.pk))
        return "; ".join(
            f"{remedy.get_kind_display()} {remedy_value(remedy)}"
            + (f" ({_('choice')} {remedy.choice_group})" if remedy.choice_group else "")
            for remedy in remedies
        )


@admin.register(PolicyRemedy)
class PolicyRemedyAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ("policy", "kind", "value", "choice_group")
    list_filter = ("kind", "policy")
    list_select_related = ("policy",)
    ordering = ("policy__position", "policy__id", "choice_group", "id")

    @admin.display(description=_("value"))
    def value(self, obj: PolicyRemedy) -> str:
        return remedy_value(obj)


class AuthorityLimitForm(forms.ModelForm):
    """Group or user, in words (no Meta: the ModelAdmin supplies model and fields)."""

    def clean(self):
        cleaned = super().clean()
        # Said in words before compensation_authoritylimit_group_xor_user says it in SQL.
        if bool(cleaned.get("group")) == bool(cleaned.get("user")):
            raise forms.ValidationError(GROUP_XOR_USER)
        return cleaned


@admin.register(AuthorityLimit)
class AuthorityLimitAdmin(AuditedAdmin, admin.ModelAdmin):
    form = AuthorityLimitForm
    list_display = ("holder", "currency", "max_amount", "max_percent", "max_points")
    list_filter = ("currency", "group")
    list_select_related = ("group", "user")
    ordering = ("group__name", "user__username", "currency")
    autocomplete_fields = ("user",)
    fields = ("group", "user", "currency", "max_amount", "max_percent", "max_points")

    @admin.display(description=_("for"))
    def holder(self, obj: AuthorityLimit) -> str:
        if obj.group_id:
            return f"{_('group')}: {obj.group}"
        return f"{_('user')}: {obj.user}"


@admin.register(Budget)
class BudgetAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ("name", "period_start", "period_end", "amount", "currency", "incident")
    list_filter = ("currency",)
    list_select_related = ("incident",)
    search_fields = ("name", "incident__title")
    autocomplete_fields = ("incident",)
    ordering = ("-period_start",)


# --- Offers and approvals (operational) -----------------------------------------------------


class ApprovalRequestInline(TimelineInline):
    model = ApprovalRequest
    fields = ("requested_at", "requested_by", "status", "decided_by", "decided_at", "note")
    readonly_fields = fields
    ordering = ("requested_at",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("requested_by", "decided_by")


@admin.register(CompensationOffer)
class CompensationOfferAdmin(AuthoredAdmin):
    ordering = ("-pk",)  # newest first, on the primary key index
    list_display = (
        "__str__",
        "customer",
        "value",
        "status",
        "requested_by",
        "approved_by",
        "created_at",
        "issued_at",
    )
    list_filter = ("status", "kind", "policy")
    list_select_related = ("customer", "requested_by", "approved_by")
    search_fields = ("ticket__id__exact", "customer__name", "=customer__email", "=issued_reference")
    search_help_text = _("Ticket number, customer name or exact email, coupon code or refund id.")
    date_hierarchy = "created_at"
    show_full_result_count = False
    autocomplete_fields = ("ticket", "customer")
    # Whoever adds an offer here requested it (never another user picked in a form); the
    # no-self-approval rule then keeps them from approving it.
    author_fields = ("requested_by",)
    # Approval and issuance go through the compensation services (authority limit, no
    # self-approval, timeline, budget); they are shown here, never set by hand.
    readonly_fields = (
        "public_id",
        "status",
        "incident",  # the budget it counts against, fixed when it was made
        "choice_group",
        "approved_by",
        "approved_at",
        "issued_at",
        "issued_reference",
        "version",
        "created_at",
        "updated_at",
    )
    # What was proposed (and maybe approved) is fixed: changing the amount afterwards would
    # bypass the approval it got.
    readonly_on_change = (
        "ticket",
        "customer",
        "policy",
        "kind",
        "amount",
        "currency",
        "percent",
        "points",
    )
    fieldsets = (
        (None, {"fields": ("ticket", "customer", "policy", "public_id", "status", "version")}),
        (
            _("Remedy"),
            {"fields": ("kind", "amount", "currency", "percent", "points", "choice_group")},
        ),
        (_("Reason"), {"fields": ("reason", "requested_by", "created_at", "updated_at")}),
        (
            _("Approval and issuance"),
            {"fields": ("approved_by", "approved_at", "issued_at", "issued_reference")},
        ),
    )
    inlines = (ApprovalRequestInline,)

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return fields if obj is None else fields + self.readonly_on_change

    def has_add_permission(self, request) -> bool:
        # An offer is money: it is made through the compensation services, which check the
        # requester's authority limit and open the approval above it. A row typed in here,
        # even by a superuser, would skip both.
        return False

    @admin.display(description=_("value"))
    def value(self, obj: CompensationOffer) -> str:
        return remedy_value(obj)


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(HistoryAdmin):
    list_display = ("offer", "status", "requested_by", "requested_at", "decided_by", "decided_at")
    list_filter = ("status",)
    list_select_related = ("offer", "requested_by", "decided_by")
    search_fields = ("offer__ticket__id__exact", "note")
    search_help_text = _("Ticket number or words of the note.")
    date_hierarchy = "requested_at"
    show_full_result_count = False
    # Requests are made by the offer services and decided on the supervisor page
    # (offer_approve / offer_reject), which also move the offer; a row is the record of it.
    raw_id_fields = ("offer",)


# --- Issuance records (compensation.issuance): written when a remedy is issued, shown only ------


@admin.register(IssuedCode)
class IssuedCodeAdmin(HistoryAdmin):
    # Only the last 4 characters: the code is stored hashed and shown to nobody but the customer
    # (in the "remedy issued" notice). Support finds a code by its last 4 characters.
    list_display = ("masked_code", "offer", "customer", "created_at", "redeemed_at")
    list_select_related = ("offer", "customer")
    fields = ("masked_code", "offer", "customer", "created_at", "redeemed_at")
    readonly_fields = fields
    search_fields = ("=last4", "offer__ticket__id__exact")
    search_help_text = _("Last 4 characters of the code, or ticket number.")
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description=_("code"))
    def masked_code(self, obj: IssuedCode) -> str:
        return str(obj)


@admin.register(RefundEntry)
class RefundEntryAdmin(HistoryAdmin):
    list_display = (
        "order_number",
        "sequence",
        "amount",
        "currency",
        "refunded_total",
        "order_value",
        "offer",
        "created_at",
    )
    list_select_related = ("offer",)
    search_fields = ("=order_number", "offer__ticket__id__exact")
    search_help_text = _("Exact order number, or ticket number.")
    date_hierarchy = "created_at"
    show_full_result_count = False
    ordering = ("-pk",)


@admin.register(LoyaltyEntry)
class LoyaltyEntryAdmin(HistoryAdmin):
    list_display = ("customer", "points", "offer", "created_at")
    list_select_related = ("customer", "offer")
    search_fields = ("customer__name", "=customer__email")
    search_help_text = _("Customer name or exact email.")
    date_hierarchy = "created_at"
    show_full_result_count = False
    ordering = ("-pk",)


@admin.register(Reshipment)
class ReshipmentAdmin(HistoryAdmin):
    list_display = ("shipment", "original", "expedited", "offer", "created_at")
    list_filter = ("expedited",)
    list_select_related = ("offer", "original__carrier", "shipment__carrier")
    search_fields = ("=shipment__tracking_number", "=original__tracking_number")
    search_help_text = _("Exact tracking number of the new or the original shipment.")
    show_full_result_count = False
    ordering = ("-pk",)


@admin.register(SeniorCall)
class SeniorCallAdmin(HistoryAdmin):
    list_display = ("ticket", "senior", "due_at", "offer", "created_at")
    list_select_related = ("offer", "ticket", "senior")
    search_fields = ("ticket__id__exact",)
    search_help_text = _("Ticket number.")
    show_full_result_count = False
    ordering = ("-pk",)
