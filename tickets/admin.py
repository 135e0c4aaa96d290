import re

import holidays
from django import forms
from django.contrib import admin
from django.db.models import Count, Prefetch
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin, TranslationTabularInline

from core.admin_utils import (
    AuditedAdmin,
    HistoryAdmin,
    TimelineInline,
    choice_labels,
    choice_list_field,
    choice_rank,
    clean_time_zone,
)
from core.inputs import parse_id
from core.models import Language
from customers.models import CustomerRegion, CustomerTier
from tickets.macros import unknown_placeholders
from tickets.models import (
    AgentProfile,
    BusinessCalendar,
    CalendarException,
    Category,
    Macro,
    Message,
    Priority,
    PriorityRule,
    SatisfactionSurvey,
    Severity,
    SLAPolicy,
    SLATarget,
    SLATimer,
    Source,
    Team,
    Ticket,
    TicketEvent,
    WorkingHours,
)

UNKNOWN_HOLIDAY_COUNTRY = _("No public holiday calendar for this country code.")
UNKNOWN_HOLIDAY_SUBDIVISION = _("Unknown subdivision for this country. Known: %(known)s")

# ASCII digits: `\d` matches any Unicode digit ('#١٢٣' is text, not a ticket number).
TICKET_REFERENCE = re.compile(r"#([0-9]+)")


def duration(minutes: int) -> str:
    """SLA targets as people say them: 30 min, 4 h, 3 d."""
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)} d"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


# --- Business calendars -------------------------------------------------------------------


class BusinessCalendarForm(forms.ModelForm):
    """Checks zone and holidays (no Meta: the ModelAdmin supplies model and fields)."""

    def clean_time_zone(self) -> str:
        return clean_time_zone(self.cleaned_data["time_zone"])

    def clean_holiday_country(self) -> str:
        country = self.cleaned_data["holiday_country"].upper()
        if country and country not in holidays.list_supported_countries():
            raise forms.ValidationError(UNKNOWN_HOLIDAY_COUNTRY)
        return country

    def clean(self):
        cleaned = super().clean()
        country = cleaned.get("holiday_country")
        subdivision = cleaned.get("holiday_subdivision")
        if country and subdivision:
            known = holidays.list_supported_countries().get(country, [])
            if subdivision not in known:
                self.add_error(
                    "holiday_subdivision",
                    forms.ValidationError(
                        UNKNOWN_HOLIDAY_SUBDIVISION, params={"known": ", ".join(known) or "-"}
                    ),
                )
        return cleaned


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    extra = 0
    fields = ("weekday", "opens_at", "closes_at")


class CalendarExceptionInline(admin.TabularInline):
    model = CalendarException
    extra = 0
    fields = ("date", "is_working_day", "name")
    ordering = ("-date",)


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    form = BusinessCalendarForm
    list_display = ("name", "time_zone", "holiday_country", "holiday_subdivision", "team_count")
    search_fields = ("name",)
    inlines = (WorkingHoursInline, CalendarExceptionInline)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_team_count=Count("teams"))

    @admin.display(description=_("teams"), ordering="_team_count")
    def team_count(self, obj: BusinessCalendar) -> int:
        return obj._team_count


@admin.register(WorkingHours)
class WorkingHoursAdmin(admin.ModelAdmin):
    list_display = ("calendar", "weekday", "opens_at", "closes_at")
    list_filter = ("calendar", "weekday")
    list_select_related = ("calendar",)
    ordering = ("calendar__name", "weekday", "opens_at")


@admin.register(CalendarException)
class CalendarExceptionAdmin(admin.ModelAdmin):
    list_display = ("date", "calendar", "name", "is_working_day")
    list_filter = ("calendar", "is_working_day")
    list_select_related = ("calendar",)
    search_fields = ("name",)
    date_hierarchy = "date"
    ordering = ("-date",)


# --- Teams, agents, priority matrix ---------------------------------------------------------


class TeamForm(forms.ModelForm):
    """JSON lists as checkboxes (no Meta: the ModelAdmin supplies model and fields)."""

    categories = choice_list_field(_("categories handled"), Category.choices)
    regions = choice_list_field(_("customer regions handled"), CustomerRegion.choices)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    form = TeamForm
    list_display = (
        "name",
        "slug",
        "calendar",
        "is_default",
        "handles",
        "regions_handled",
        "agent_count",
    )
    list_filter = ("is_default", "calendar")
    list_select_related = ("calendar",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_agent_count=Count("agents"))

    @admin.display(description=_("categories handled"))
    def handles(self, obj: Team) -> str:
        return choice_labels(obj.categories, Category.choices)

    @admin.display(description=_("customer regions handled"))
    def regions_handled(self, obj: Team) -> str:
        return choice_labels(obj.regions, CustomerRegion.choices)

    @admin.display(description=_("agents"), ordering="_agent_count")
    def agent_count(self, obj: Team) -> int:
        return obj._agent_count


SKILL_CHOICES = [(_("Categories"), Category.choices), (_("Languages"), Language.choices)]


class AgentProfileForm(forms.ModelForm):
    """Skills as checkboxes (no Meta: the ModelAdmin supplies model and fields)."""

    skills = choice_list_field(_("skills"), SKILL_CHOICES, help_text=_("Categories, languages."))

    def clean_time_zone(self) -> str:
        return clean_time_zone(self.cleaned_data["time_zone"])


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    form = AgentProfileForm
    list_display = (
        "user",
        "team",
        "is_senior",
        "is_available",
        "max_open_tickets",
        "language",
        "time_zone",
    )
    list_editable = ("is_available",)
    list_filter = ("team", "is_senior", "is_available", "language")
    list_select_related = ("user", "team")
    search_fields = ("user__username", "user__first_name", "user__last_name", "=user__email")
    autocomplete_fields = ("user",)


@admin.register(PriorityRule)
class PriorityRuleAdmin(AuditedAdmin, admin.ModelAdmin):
    """The priority matrix, read row by row: customer tier, then severity (most severe first)."""

    list_display = ("customer_tier", "severity", "priority")
    list_editable = ("priority",)
    list_filter = ("customer_tier", "severity", "priority")
    ordering = (choice_rank("customer_tier", CustomerTier), choice_rank("severity", Severity))
    list_per_page = 100  # the whole matrix on one page


# --- SLA ------------------------------------------------------------------------------------


class SLAPolicyForm(forms.ModelForm):
    """Conditions as checkboxes (no Meta: the ModelAdmin supplies model and fields)."""

    priorities = choice_list_field(_("priorities"), Priority.choices)
    categories = choice_list_field(_("categories"), Category.choices)
    customer_tiers = choice_list_field(_("customer tiers"), CustomerTier.choices)
    sources = choice_list_field(_("sources"), Source.choices)


class SLATargetInline(TranslationTabularInline):
    model = SLATarget
    extra = 0
    fields = ("kind", "name", "label", "minutes", "business_hours", "met_by")


@admin.register(SLAPolicy)
class SLAPolicyAdmin(AuditedAdmin, admin.ModelAdmin):
    audit_related = ("targets",)
    form = SLAPolicyForm
    list_display = (
        "name",
        "position",
        "is_active",
        "conditions",
        "target_summary",
        "warning_minutes",
    )
    list_editable = ("position", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)
    ordering = ("position", "id")
    inlines = (SLATargetInline,)
    fieldsets = (
        (None, {"fields": ("name", "position", "is_active", "warning_minutes")}),
        (
            _("Applies to tickets matching all of"),
            {
                "description": _(
                    "The first active policy by position whose conditions match applies. "
                    "Keep a last policy without conditions."
                ),
                "fields": ("priorities", "categories", "customer_tiers", "sources"),
            },
        ),
    )

    def get_queryset(self, request):
        targets = SLATarget.objects.order_by("kind", "name")
        return super().get_queryset(request).prefetch_related(Prefetch("targets", queryset=targets))

    @admin.display(description=_("conditions"))
    def conditions(self, obj: SLAPolicy) -> str:
        parts = [
            choice_labels(values, choices)
            for values, choices in (
                (obj.priorities, Priority.choices),
                (obj.categories, Category.choices),
                (obj.customer_tiers, CustomerTier.choices),
                (obj.sources, Source.choices),
            )
            if values
        ]
        return " + ".join(parts) or str(_("any ticket"))

    @admin.display(description=_("targets"))
    def target_summary(self, obj: SLAPolicy) -> str:
        return "; ".join(
            f"{target.display_name or target.get_kind_display()} {duration(target.minutes)}"
            + (f" ({_('business hours')})" if target.business_hours else "")
            for target in obj.targets.all()
        )


@admin.register(SLATarget)
class SLATargetAdmin(AuditedAdmin, TranslationAdmin):
    list_display = ("policy", "kind", "name", "label", "minutes", "business_hours")
    list_filter = ("policy", "kind", "business_hours")
    list_select_related = ("policy",)
    search_fields = ("name", "policy__name")
    ordering = ("policy__position", "policy__id", "kind", "name")


# --- Tickets and their history --------------------------------------------------------------


class MessageInline(TimelineInline):
    model = Message
    fields = ("created_at", "kind", "direction", "channel", "author", "body")
    readonly_fields = fields
    ordering = ("created_at",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")


class TicketEventInline(TimelineInline):
    model = TicketEvent
    fields = ("created_at", "kind", "actor", "is_public", "data")
    readonly_fields = fields
    ordering = ("created_at",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class SLATimerInline(TimelineInline):
    model = SLATimer
    fields = (
        "kind",
        "name",
        "status",
        "started_at",
        "due_at",
        "met_at",
        "breached_at",
        "minutes_early",
    )
    readonly_fields = fields
    ordering = ("due_at",)


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    ordering = ("-pk",)  # newest first, on the primary key index
    list_display = (
        "reference",
        "subject",
        "customer",
        "shipment",
        "status",
        "priority",
        "category",
        "team",
        "assignee",
        "is_escalated",
        "created_at",
    )
    list_display_links = ("reference", "subject")
    list_filter = (
        "status",
        "priority",
        "category",
        "source",
        "is_escalated",
        "team",
        ("assignee", admin.EmptyFieldListFilter),
        "language",
    )
    list_select_related = ("customer", "shipment__carrier", "team", "assignee")
    search_fields = (
        "=shipment__tracking_number",
        "=shipment__order_number",
        "customer__name",
        "=customer__email",
        "subject",
    )
    search_help_text = _(
        "Ticket reference (#123), tracking or order number, customer name or exact email, subject."
    )
    date_hierarchy = "created_at"
    show_full_result_count = False
    autocomplete_fields = ("customer", "shipment", "incident", "assignee")
    # Lifecycle fields move through the ticket services, which also write the timeline, start
    # and stop the SLA timers and notify the customer; the admin never bypasses them.
    readonly_fields = (
        "reference",
        "public_id",
        "status",
        "priority_overridden",
        "sla_policy",
        "version",
        "is_escalated",
        "detected_at",
        "first_response_at",
        "last_customer_message_at",
        "last_agent_update_at",
        "solved_at",
        "closed_at",
        "created_at",
        "updated_at",
    )
    # Set when a ticket is opened here; afterwards only through the console (assign, prioritise).
    readonly_on_change = ("customer", "shipment", "source", "team", "assignee", "priority")
    fieldsets = (
        (
            None,
            {"fields": ("reference", "subject", "customer", "shipment", "incident", "public_id")},
        ),
        (
            _("Classification"),
            {"fields": ("category", "source", "priority", "priority_overridden", "language")},
        ),
        (
            _("Work"),
            {"fields": ("status", "team", "assignee", "sla_policy", "is_escalated", "version")},
        ),
        (
            _("Clock"),
            {
                "fields": (
                    "detected_at",
                    "first_response_at",
                    "last_customer_message_at",
                    "last_agent_update_at",
                    "solved_at",
                    "closed_at",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )
    inlines = (SLATimerInline, TicketEventInline, MessageInline)

    def has_add_permission(self, request) -> bool:
        # Tickets are opened in the console, through the API or by delay detection, which
        # route them, start their SLA timers and write the first timeline row.
        return False

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return self.readonly_fields + self.readonly_on_change

    def get_search_results(self, request, queryset, search_term):
        reference = TICKET_REFERENCE.fullmatch(search_term.strip())
        if reference:
            number = parse_id(reference[1])  # None beyond the id range: no ticket has it
            return (queryset.filter(pk=number) if number else queryset.none()), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description=_("ticket"), ordering="pk")
    def reference(self, obj: Ticket) -> str:
        return obj.reference if obj.pk else "-"


@admin.register(Message)
class MessageAdmin(HistoryAdmin):
    list_display = ("created_at", "ticket", "kind", "direction", "channel", "author", "excerpt")
    list_filter = ("kind", "direction", "channel")
    list_select_related = ("ticket", "author")
    search_fields = ("ticket__id__exact", "body")
    search_help_text = _("Ticket number or words of the message.")
    date_hierarchy = "created_at"
    show_full_result_count = False
    raw_id_fields = ("ticket",)

    @admin.display(description=_("body"))
    def excerpt(self, obj: Message) -> str:
        return obj.body if len(obj.body) <= 80 else obj.body[:79] + "…"


@admin.register(TicketEvent)
class TicketEventAdmin(HistoryAdmin):
    list_display = ("created_at", "ticket", "kind", "actor", "is_public")
    list_filter = ("kind", "is_public")
    list_select_related = ("ticket", "actor")
    search_fields = ("ticket__id__exact",)
    search_help_text = _("Ticket number.")
    date_hierarchy = "created_at"
    show_full_result_count = False
    raw_id_fields = ("ticket",)


@admin.register(SLATimer)
class SLATimerAdmin(HistoryAdmin):
    list_display = (
        "ticket",
        "kind",
        "name",
        "status",
        "started_at",
        "due_at",
        "warned_at",
        "met_at",
        "breached_at",
        "minutes_early",
    )
    list_filter = ("status", "kind")
    list_select_related = ("ticket",)
    search_fields = ("ticket__id__exact", "name")
    search_help_text = _("Ticket number or milestone name.")
    date_hierarchy = "due_at"
    show_full_result_count = False
    raw_id_fields = ("ticket",)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "target":
            # SLATarget.__str__ names its policy: one query for the whole select.
            kwargs["queryset"] = SLATarget.objects.select_related("policy")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# --- Macros ---------------------------------------------------------------------------------


UNKNOWN_MACRO_PLACEHOLDERS = _(
    "Unknown placeholders: %(names)s. Use only {customer_name}, {order_number}, "
    "{tracking_number}, {new_eta}, {delay_reason} and {compensation}."
)


class MacroForm(forms.ModelForm):
    """Checks placeholders (no Meta: the ModelAdmin supplies model and fields).

    Macros render with `tickets.macros.render_macro`, which replaces only the known names; any
    other text in braces would reach the customer as written, so the form refuses it.
    """

    def clean_body(self) -> str:
        body = self.cleaned_data["body"]
        unknown = unknown_placeholders(body)
        if unknown:
            raise forms.ValidationError(
                UNKNOWN_MACRO_PLACEHOLDERS,
                params={"names": ", ".join("{" + name + "}" for name in unknown)},
            )
        return body


@admin.register(Macro)
class MacroAdmin(TranslationAdmin):
    form = MacroForm
    list_display = ("slug", "language", "title", "category", "is_active", "updated_at")
    list_editable = ("is_active",)
    list_filter = ("language", "category", "is_active")
    search_fields = ("slug", "title", "body")
    prepopulated_fields = {"slug": ("title",)}


@admin.register(SatisfactionSurvey)
class SatisfactionSurveyAdmin(admin.ModelAdmin):
    list_display = (
        "ticket",
        "resolved_at",
        "agent",
        "rating",
        "reason",
        "answered_at",
        "short_comment",
    )
    list_filter = ("rating", "reason", ("answered_at", admin.EmptyFieldListFilter))
    list_select_related = ("ticket", "agent")
    search_fields = ("ticket__id__exact", "comment")
    search_help_text = _("Ticket number or words of the comment.")
    date_hierarchy = "created_at"
    show_full_result_count = False
    raw_id_fields = ("ticket",)
    # The customer's answer: theirs, not ours to change.
    readonly_fields = (
        "resolved_at",
        "agent",
        "sent_at",
        "rating",
        "reason",
        "comment",
        "answered_at",
        "edited_at",
        "created_at",
        "updated_at",
    )
    fields = ("ticket",) + readonly_fields

    def has_add_permission(self, request) -> bool:
        # A survey is opened when its ticket is solved.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the customer's answer is part of the record

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ("ticket",) + self.readonly_fields
        return self.readonly_fields

    @admin.display(description=_("comment"))
    def short_comment(self, obj: SatisfactionSurvey) -> str:
        return obj.comment if len(obj.comment) <= 80 else obj.comment[:79] + "…"
