from django import forms
from django.utils.translation import gettext_lazy as _

from core.inputs import IdModelChoiceField
from core.models import DelayCause
from shipments.models import Carrier, DelayLevel, Lane

CAUSE_CHOICES = [(value, label) for value, label in DelayCause.choices if value != "none"]
LEVEL_CHOICES = [(value, label) for value, label in DelayLevel.choices if value != "none"]


class IncidentFilterForm(forms.Form):
    """A supervisor opens an incident and attaches the delayed shipments matching a filter."""

    title = forms.CharField(label=_("Title"), max_length=200)
    cause = forms.ChoiceField(label=_("Cause"), choices=CAUSE_CHOICES)
    carrier = IdModelChoiceField(
        label=_("Carrier"), queryset=Carrier.objects.filter(is_active=True), required=False
    )
    lane = IdModelChoiceField(
        label=_("Lane"),
        queryset=Lane.objects.select_related("carrier").order_by(
            "carrier__code", "origin_region", "destination_region"
        ),
        required=False,
    )
    hub = forms.CharField(
        label=_("Hub"),
        max_length=200,
        required=False,
        help_text=_("The parcels' last location, e.g. Paris CDG customs."),
    )
    delay_levels = forms.MultipleChoiceField(
        label=_("Delay levels"),
        choices=LEVEL_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Nothing ticked: any level."),
    )
    detected_since = forms.DateTimeField(
        label=_("Detected since"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    public_explanation = forms.CharField(
        label=_("Public explanation (English)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_("Empty: written from the cause and the place."),
    )
    public_explanation_zh_hans = forms.CharField(
        label=_("Public explanation (Chinese)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )
