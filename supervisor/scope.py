"""The period and filters every page of the supervisor workspace reads its figures for.

A supervisor picks a period (default: the last 30 days, whole days in the reader's time zone)
and narrows it by team, carrier, lane, destination region, incident or customer tier. Every
figure is compared with the previous period of the same length (`Scope.previous`). The choice
travels in the query string (`Scope.query`), so a figure's link to the cases behind it, a chart
and a CSV export carry the same filters.

Outside input: `ScopeForm` validates the query string; a bad value gets a field message and
the page falls back to the default for that field (never a 500), a period longer than
MAX_DAYS or ending before it starts is refused.

`Scope.tickets(qs)` and `Scope.shipments(qs)` apply the filters (not the period: which moment
falls in the period differs per figure, e.g. `delay_detected_at` or `created_at`; use
`Scope.in_period(field)` and `Scope.in_previous(field)`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from customers.models import CustomerTier
from shipments.models import Carrier, Incident, Lane, Shipment
from tickets.models import Team, Ticket

DEFAULT_DAYS = 30
MAX_DAYS = 366
PERIOD_CHOICES = (7, 30, 90)
FILTER_NAMES = ("team", "carrier", "lane", "region", "incident", "tier")


# A preset's name, translated when the form is shown (not when this module is imported).
_last_days = lazy(lambda n: _("last %(n)s days") % {"n": n}, str)


class ScopeForm(forms.Form):
    """The query string of a supervisor page: `days` (a preset) or `start`/`end` (inclusive
    dates), and the filters. Unknown ids are field errors, not 404s."""

    days = forms.TypedChoiceField(
        label=_("period"),
        choices=[(n, _last_days(n)) for n in PERIOD_CHOICES],
        coerce=int,
        required=False,
        initial=DEFAULT_DAYS,
    )
    start = forms.DateField(
        label=_("from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    team = forms.ModelChoiceField(
        label=_("team"), queryset=Team.objects.order_by("name"), required=False
    )
    carrier = forms.ModelChoiceField(
        label=_("carrier"), queryset=Carrier.objects.order_by("name"), required=False
    )
    lane = forms.ModelChoiceField(
        label=_("lane"), queryset=Lane.objects.select_related("carrier"), required=False
    )
    region = forms.CharField(label=_("destination region"), max_length=64, required=False)
    incident = forms.ModelChoiceField(
        label=_("incident"),
        queryset=Incident.objects.order_by("-window_start"),
        to_field_name="public_id",
        required=False,
    )
    tier = forms.ChoiceField(
        label=_("customer tier"), choices=[("", "---------"), *CustomerTier.choices], required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A select of every lane or incident would be a page of its own: they are typed as ids
        # (the links from tables carry them); the form still validates them.
        self.fields["lane"].widget = forms.TextInput()
        self.fields["incident"].widget = forms.TextInput()

    def clean_region(self) -> str:
        return self.cleaned_data["region"].strip()

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", _("The end of the period is before its start."))
            elif (end - start).days + 1 > MAX_DAYS:
                self.add_error("end", _("A period is at most %(n)s days.") % {"n": MAX_DAYS})
        elif start or end:
            self.add_error("start" if not start else "end", _("Give both dates, or neither."))
        return data


@dataclass(frozen=True)
class Scope:
    """A period [start, end) in UTC and the filters (model instances or strings, None when
    not set)."""

    start: dt.datetime
    end: dt.datetime
    first_day: dt.date
    last_day: dt.date
    days: int | None = DEFAULT_DAYS
    team: Team | None = None
    carrier: Carrier | None = None
    lane: Lane | None = None
    region: str = ""
    incident: Incident | None = None
    tier: str = ""

    # --- the period ---------------------------------------------------------------------------

    @property
    def length(self) -> dt.timedelta:
        return self.end - self.start

    @property
    def day_count(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def previous(self) -> Scope:
        """The period of the same length just before this one, same filters."""
        return replace(
            self,
            start=self.start - self.length,
            end=self.start,
            first_day=self.first_day - dt.timedelta(days=self.day_count),
            last_day=self.first_day - dt.timedelta(days=1),
        )

    def day_list(self) -> list[dt.date]:
        return [self.first_day + dt.timedelta(days=n) for n in range(self.day_count)]

    def in_period(self, field: str) -> Q:
        return Q(**{f"{field}__gte": self.start, f"{field}__lt": self.end})

    def in_previous(self, field: str) -> Q:
        previous = self.previous()
        return Q(**{f"{field}__gte": previous.start, f"{field}__lt": previous.end})

    # --- the filters --------------------------------------------------------------------------

    @property
    def filtered(self) -> bool:
        return any(getattr(self, name) for name in FILTER_NAMES)

    def tickets(self, qs: QuerySet[Ticket], prefix: str = "") -> QuerySet:
        """`qs` (tickets, or rows reaching a ticket through `prefix`, e.g. "ticket__") narrowed
        by the filters."""
        return qs.filter(self.ticket_q(prefix))

    def ticket_q(self, prefix: str = "") -> Q:
        q = Q()
        if self.team:
            q &= Q(**{f"{prefix}team": self.team})
        if self.tier:
            q &= Q(**{f"{prefix}customer__tier": self.tier})
        if self.incident:
            q &= Q(**{f"{prefix}incident": self.incident})
        return q & self.shipment_q(f"{prefix}shipment__", tickets=False)

    def shipments(self, qs: QuerySet[Shipment], prefix: str = "") -> QuerySet:
        """`qs` (shipments, or rows reaching a shipment through `prefix`) narrowed by the
        filters. The team filter keeps shipments with a ticket of that team."""
        return qs.filter(self.shipment_q(prefix))

    def shipment_q(self, prefix: str = "", *, tickets: bool = True) -> Q:
        q = Q()
        if self.carrier:
            q &= Q(**{f"{prefix}carrier": self.carrier})
        if self.lane:
            q &= Q(**{f"{prefix}lane": self.lane})
        if self.region:
            q &= Q(**{f"{prefix}destination_region__iexact": self.region})
        if tickets:
            if self.incident:
                q &= Q(**{f"{prefix}incident": self.incident})
            if self.tier:
                q &= Q(**{f"{prefix}customer__tier": self.tier})
            if self.team:
                shipment = OuterRef(f"{prefix}pk" if prefix else "pk")
                q &= Q(Exists(Ticket.objects.filter(shipment=shipment, team=self.team)))
        return q

    # --- links --------------------------------------------------------------------------------

    def params(self) -> dict[str, str]:
        """The query string's values that rebuild this scope (defaults left out)."""
        params: dict[str, str] = {}
        if self.days is not None:
            if self.days != DEFAULT_DAYS:
                params["days"] = str(self.days)
        else:
            params["start"] = self.first_day.isoformat()
            params["end"] = self.last_day.isoformat()
        for name in ("team", "carrier", "lane"):
            if getattr(self, name) is not None:
                params[name] = str(getattr(self, name).pk)
        if self.incident is not None:
            params["incident"] = str(self.incident.public_id)
        if self.region:
            params["region"] = self.region
        if self.tier:
            params["tier"] = self.tier
        return params

    def query(self, **extra) -> str:
        """This scope as a query string, with `extra` parameters (None drops one)."""
        params = {**self.params(), **extra}
        return urlencode({k: v for k, v in params.items() if v not in (None, "")})


def day_start(day: dt.date) -> dt.datetime:
    """Midnight starting `day` in the active (the reader's) time zone."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time()), timezone.get_current_timezone())


def default_days(*, now: dt.datetime, days: int = DEFAULT_DAYS) -> tuple[dt.date, dt.date]:
    """The last `days` whole days up to and including today, in the reader's time zone."""
    today = timezone.localdate(now)
    return today - dt.timedelta(days=days - 1), today


def scope_from(data, *, now: dt.datetime) -> tuple[Scope, ScopeForm]:
    """The scope a query string asks for, and its bound form (with a message at each field it
    could not use; those fields fall back to their defaults)."""
    form = ScopeForm(data or None)
    cleaned, errors = {}, {}
    if form.is_bound:
        form.is_valid()  # invalid fields leave cleaned_data and fall back to their defaults
        cleaned, errors = form.cleaned_data, form.errors

    def value(name):
        return None if name in errors else cleaned.get(name)

    days = value("days") or None
    start, end = value("start"), value("end")
    if start and end and not ({"start", "end"} & set(errors)):
        first, last, days = start, end, None
    else:
        days = days or DEFAULT_DAYS
        first, last = default_days(now=now, days=days)
    scope = Scope(
        start=day_start(first),
        end=day_start(last + dt.timedelta(days=1)),
        first_day=first,
        last_day=last,
        days=days,
        team=value("team"),
        carrier=value("carrier"),
        lane=value("lane"),
        region=value("region") or "",
        incident=value("incident"),
        tier=value("tier") or "",
    )
    return scope, form
