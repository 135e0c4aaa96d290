from decimal import Decimal

from django.contrib import admin, messages
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin

from core.admin_utils import (
    AuditedAdmin,
    AuthoredAdmin,
    HistoryAdmin,
    TimelineInline,
    ViewOnly,
    choice_rank,
    mask_secret,
)
from shipments.models import (
    FINAL_STATUSES,
    Carrier,
    CarrierStatusMapping,
    DelayLevel,
    DelayLevelChange,
    DelayRule,
    Incident,
    Lane,
    LateModel,
    Shipment,
    TrackingEvent,
    UnmappedStatusCode,
)

# Badge colours of the delay levels (shared/DOMAIN.md's names: yellow, orange, red, alert).
DELAY_LEVEL_COLOURS = {
    DelayLevel.NONE: ("#e6f4ea", "#1e6b34"),
    DelayLevel.WILL_BE_LATE: ("#e0efff", "#1d4f91"),
    DelayLevel.YELLOW: ("#fff4c2", "#6b5200"),
    DelayLevel.HUB_HOLD: ("#e8e0f8", "#4a2a8a"),
    DelayLevel.ORANGE: ("#ffe0c2", "#8a4300"),
    DelayLevel.RED: ("#ffd6d6", "#9b1c1c"),
    DelayLevel.LONG_DELAY: ("#5c1010", "#ffffff"),
}


class CarrierStatusMappingInline(admin.TabularInline):
    model = CarrierStatusMapping
    extra = 1
    fields = ("carrier_code", "status", "cause", "description")


@admin.register(Carrier)
class CarrierAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "is_active", "masked_webhook_secret", "mapping_count")
    list_filter = ("is_active",)
    search_fields = ("name", "code")
    readonly_fields = ("masked_webhook_secret",)
    prepopulated_fields = {"code": ("name",)}
    inlines = (CarrierStatusMappingInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_mapping_count=Count("status_mappings"))

    def get_fields(self, request, obj=None):
        # Whoever may change a carrier sees and edits the secret (to hand it to the carrier);
        # view-only staff (agents have view_carrier) only see the masked value.
        secret = "webhook_secret"
        if obj is not None and not self.has_change_permission(request, obj):
            secret = "masked_webhook_secret"
        return ("name", "code", "is_active", "tracking_url_template", secret)

    @admin.display(description=_("webhook secret"))
    def masked_webhook_secret(self, obj: Carrier) -> str:
        return mask_secret(obj.webhook_secret)

    @admin.display(description=_("status mappings"), ordering="_mapping_count")
    def mapping_count(self, obj: Carrier) -> int:
        return obj._mapping_count


@admin.register(CarrierStatusMapping)
class CarrierStatusMappingAdmin(admin.ModelAdmin):
    list_display = ("carrier", "carrier_code", "status", "cause", "description")
    list_filter = ("carrier", "status", "cause")
    list_select_related = ("carrier",)
    search_fields = ("carrier_code", "description", "carrier__code")
    ordering = ("carrier__name", "carrier_code")


@admin.register(Lane)
class LaneAdmin(admin.ModelAdmin):
    list_display = (
        "origin_region",
        "destination_region",
        "carrier",
        "service_level",
        "delivered_count",
        "mean_transit",
        "p50_transit",
        "p90_transit",
        "on_time",
        "stats_updated_at",
    )
    list_filter = ("carrier", "service_level")
    list_select_related = ("carrier",)
    search_fields = ("origin_region", "destination_region", "carrier__code")
    # The statistics come from delivered history (the lane statistics job); never typed in.
    stats_fields = (
        "delivered_count",
        "mean_transit_hours",
        "p50_transit_hours",
        "p90_transit_hours",
        "on_time_rate",
        "stats_updated_at",
    )
    readonly_fields = stats_fields + ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("carrier", "origin_region", "destination_region", "service_level")}),
        (_("Statistics (from delivered shipments)"), {"fields": stats_fields}),
        (None, {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        # Lane.__str__ names the carrier: autocomplete lists stay at one query.
        return super().get_queryset(request).select_related(*self.list_select_related)

    @staticmethod
    def _hours(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} h"

    @admin.display(description=_("mean transit (h)"), ordering="mean_transit_hours")
    def mean_transit(self, obj: Lane) -> str:
        return self._hours(obj.mean_transit_hours)

    @admin.display(description=_("median transit (h)"), ordering="p50_transit_hours")
    def p50_transit(self, obj: Lane) -> str:
        return self._hours(obj.p50_transit_hours)

    @admin.display(description=_("p90 transit (h)"), ordering="p90_transit_hours")
    def p90_transit(self, obj: Lane) -> str:
        return self._hours(obj.p90_transit_hours)

    @admin.display(description=_("on-time rate"), ordering="on_time_rate")
    def on_time(self, obj: Lane) -> str:
        return "-" if obj.on_time_rate is None else f"{obj.on_time_rate:.0%}"


@admin.register(Incident)
class IncidentAdmin(AuthoredAdmin):
    list_display = (
        "title",
        "status",
        "cause",
        "carrier",
        "lane",
        "hub",
        "window_start",
        "window_end",
        "affected_count",
        "is_automatic",
    )
    list_filter = ("status", "cause", "is_automatic", "carrier")
    list_select_related = ("carrier", "lane__carrier")
    search_fields = ("title", "hub")
    date_hierarchy = "window_start"
    autocomplete_fields = ("lane",)
    # Who opened it is whoever adds it here; it is resolved on the supervisor page
    # (incident_resolve records when and by whom), never by editing these fields.
    author_fields = ("opened_by",)
    readonly_fields = (
        "public_id",
        "status",
        "resolved_at",
        "resolved_by",
        "affected_count",
        "affected_shipments",
        "is_automatic",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("title", "status", "cause", "public_id")}),
        (_("Scope"), {"fields": ("carrier", "lane", "hub", "window_start", "window_end")}),
        (
            _("Public explanation"),
            {"fields": ("public_explanation", "public_explanation_zh_hans")},
        ),
        (
            _("Tracking"),
            {
                "fields": (
                    "affected_count",
                    "affected_shipments",
                    "is_automatic",
                    "opened_by",
                    "resolved_at",
                    "resolved_by",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )

    @admin.display(description=_("affected shipments"))
    def affected_shipments(self, obj: Incident) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:shipments_shipment_changelist")
        return format_html('<a href="{}?incident__id__exact={}">{}</a>', url, obj.pk, _("List"))


class ShipmentStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("active", _("Active")), ("final", _("Delivered, returned or expired")))

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.active()
        if self.value() == "final":
            return queryset.filter(status__in=FINAL_STATUSES)
        return queryset


class TrackingEventInline(TimelineInline):
    model = TrackingEvent
    fields = (
        "occurred_at",
        "status",
        "cause",
        "carrier_code",
        "location",
        "description",
        "carrier_event_id",
        "received_at",
    )
    readonly_fields = fields
    ordering = ("-occurred_at",)


class DelayLevelChangeInline(TimelineInline):
    model = DelayLevelChange
    fields = ("changed_at", "from_level", "to_level", "cause", "rule_key")
    readonly_fields = fields
    ordering = ("-changed_at",)


def delay_level_badge(level: str, label: str) -> str:
    background, colour = DELAY_LEVEL_COLOURS.get(level, ("#eee", "#333"))
    return format_html(
        '<span style="background:{};color:{};padding:1px 6px;border-radius:8px;'
        'white-space:nowrap">{}</span>',
        background,
        colour,
        label,
    )


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    ordering = ("-pk",)  # newest first, on the primary key index
    list_display = (
        "tracking_number",
        "order_number",
        "carrier",
        "customer",
        "status",
        "delay_level_badge",
        "delay_cause",
        "slip_days",
        "promised_at",
        "predicted_eta",
        "last_event_at",
    )
    list_filter = (
        ShipmentStateFilter,
        "status",
        "delay_level",
        "delay_cause",
        "carrier",
        "service_level",
    )
    list_select_related = ("carrier", "customer")
    search_fields = ("=tracking_number", "=order_number", "customer__name", "=customer__email")
    search_help_text = _("Tracking number, order number, customer name or exact email.")
    date_hierarchy = "promised_at"
    show_full_result_count = False
    autocomplete_fields = ("customer", "lane", "incident")
    # Written by tracking ingestion and delay detection (with a DelayLevelChange row each
    # time); a hand edit here would leave the history and the notifications behind.
    readonly_fields = (
        "public_id",
        "delay_level_badge",
        "delay_cause",
        "delay_rule",
        "delay_detected_at",
        "slip_days",
        "predicted_eta",
        "last_event_at",
        "last_location",
        "location_since",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("carrier", "tracking_number", "order_number", "customer", "public_id")}),
        (
            _("Route"),
            {
                "fields": (
                    "lane",
                    "service_level",
                    "origin_region",
                    "destination_region",
                    "destination_postal_code",
                )
            },
        ),
        (
            _("Status"),
            {"fields": ("status", "cause", "last_event_at", "last_location", "location_since")},
        ),
        (
            _("Dates"),
            {
                "fields": (
                    "ordered_at",
                    "shipped_at",
                    "promised_at",
                    "carrier_eta",
                    "predicted_eta",
                    "delivered_at",
                )
            },
        ),
        (
            _("Delay"),
            {
                "fields": (
                    "delay_level_badge",
                    "delay_cause",
                    "delay_rule",
                    "delay_detected_at",
                    "slip_days",
                    "incident",
                )
            },
        ),
        (_("Order"), {"fields": ("order_value", "currency", "created_at", "updated_at")}),
    )
    inlines = (TrackingEventInline, DelayLevelChangeInline)

    def get_queryset(self, request):
        # Shipment.__str__ names the carrier: autocomplete lists stay at one query. (The
        # changelist skips list_select_related once a queryset has any, hence all of it here.)
        return super().get_queryset(request).select_related(*self.list_select_related)

    @admin.display(description=_("delay level"), ordering="delay_level")
    def delay_level_badge(self, obj: Shipment) -> str:
        return delay_level_badge(obj.delay_level, obj.get_delay_level_display())

    @admin.display(description=_("slip (days)"))
    def slip_days(self, obj: Shipment) -> str:
        days = obj.slip_days
        if days is None:
            return "-"
        return f"{days:+.1f}"


@admin.register(TrackingEvent)
class TrackingEventAdmin(HistoryAdmin):
    list_display = (
        "occurred_at",
        "shipment",
        "status",
        "cause",
        "carrier_code",
        "location",
        "carrier_event_id",
        "received_at",
    )
    list_filter = ("status", "cause", "carrier", "unmapped")
    list_select_related = ("shipment__carrier",)
    search_fields = ("=shipment__tracking_number", "=shipment__order_number", "=carrier_event_id")
    search_help_text = _("Tracking number, order number or the carrier's event id.")
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    # A carrier scan is evidence: stored once as received (ingestion), never typed or rewritten.
    raw_id_fields = ("shipment",)


@admin.register(UnmappedStatusCode)
class UnmappedStatusCodeAdmin(HistoryAdmin):
    """Carrier codes that arrived without a status mapping: the operators' to-do list. A row
    goes away when its code is mapped on the carrier's page (its events are then applied)."""

    list_display = (
        "carrier",
        "carrier_code",
        "event_count",
        "first_seen_at",
        "last_seen_at",
        "map_link",
    )
    list_filter = ("carrier",)
    list_select_related = ("carrier",)
    search_fields = ("=carrier_code",)
    search_help_text = _("The carrier's status code, exactly.")

    @admin.display(description=_("mapping"))
    def map_link(self, obj: UnmappedStatusCode) -> str:
        url = reverse("admin:shipments_carrier_change", args=[obj.carrier_id])
        return format_html('<a href="{}">{}</a>', url, _("Map it on the carrier's page"))


@admin.register(DelayRule)
class DelayRuleAdmin(AuditedAdmin, TranslationAdmin):
    list_display = (
        "key",
        "level",
        "kind",
        "threshold",
        "horizon_hours",
        "is_active",
        "description",
    )
    list_editable = ("threshold", "is_active")
    list_filter = ("is_active", "level", "kind")
    search_fields = ("key", "description")
    ordering = (choice_rank("level", DelayLevel), "key")

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "level":
            # "On time" is not something a rule detects (shipments_delayrule_level_valid).
            kwargs["choices"] = [c for c in DelayLevel.choices if c[0] != DelayLevel.NONE]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "threshold":
            kwargs["min_value"] = Decimal("0.01")  # shipments_delayrule_threshold_gt_0
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The probability rules' defaults came from a model's validation months: show what
        # the active model chose on its own, so an operator can follow it or not.
        model = LateModel.objects.filter(is_active=True).first()
        if model is not None and request.method == "GET":
            chosen = ", ".join(
                f"{hours} h: {float(value):.2f}"
                for hours, value in sorted(
                    (model.thresholds or {}).items(), key=lambda item: int(item[0])
                )
            )
            messages.info(
                request,
                _(
                    "The active late-delivery model (version %(version)s) chose these "
                    "probability thresholds on its validation months: %(chosen)s."
                )
                % {"version": model.version, "chosen": chosen or f"{model.threshold:.2f}"},
            )
        return super().changeform_view(request, object_id, form_url, extra_context)


@admin.register(DelayLevelChange)
class DelayLevelChangeAdmin(HistoryAdmin):
    list_display = ("changed_at", "shipment", "from_level", "to_level", "cause", "rule_key")
    list_filter = ("to_level", "from_level", "cause")
    list_select_related = ("shipment__carrier",)
    search_fields = ("=shipment__tracking_number", "=shipment__order_number", "=rule_key")
    date_hierarchy = "changed_at"
    show_full_result_count = False
    raw_id_fields = ("shipment",)


def _figure(model: LateModel, horizon: int, name: str) -> str:
    value = model.figures.get("reported", {}).get(str(horizon), {}).get(name)
    return "-" if value is None else f"{value:.2f}"


@admin.register(LateModel)
class LateModelAdmin(ViewOnly, admin.ModelAdmin):
    """The trained late-delivery models (shipments.risk) and how well each did on the months
    after its cutoff, which it never trained or tuned on. Written by training only: a typed
    coefficient or figure would be a model nobody validated."""

    list_display = (
        "version",
        "is_active",
        "trained_at",
        "history_from",
        "cutoff",
        "history_to",
        "training_shipments",
        "precision_24",
        "recall_24",
        "precision_72",
        "recall_72",
        "precision_120",
        "recall_120",
        "threshold",
    )
    list_filter = ("is_active",)
    ordering = ("-version",)
    readonly_fields = (
        "version",
        "is_active",
        "trained_at",
        "history_from",
        "validation_from",
        "cutoff",
        "history_to",
        "training_shipments",
        "training_examples",
        "validation_examples",
        "reported_examples",
        "threshold",
        "thresholds",
        "figures",
        "feature_names",
        "coefficients",
    )
    fields = readonly_fields

    @admin.display(description=_("precision at 24 h"))
    def precision_24(self, model: LateModel) -> str:
        return _figure(model, 24, "precision")

    @admin.display(description=_("recall at 24 h"))
    def recall_24(self, model: LateModel) -> str:
        return _figure(model, 24, "recall")

    @admin.display(description=_("precision at 72 h"))
    def precision_72(self, model: LateModel) -> str:
        return _figure(model, 72, "precision")

    @admin.display(description=_("recall at 72 h"))
    def recall_72(self, model: LateModel) -> str:
        return _figure(model, 72, "recall")

    @admin.display(description=_("precision at 120 h"))
    def precision_120(self, model: LateModel) -> str:
        return _figure(model, 120, "precision")

    @admin.display(description=_("recall at 120 h"))
    def recall_120(self, model: LateModel) -> str:
        return _figure(model, 120, "recall")
