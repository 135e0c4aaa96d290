"""The customer's forms on the progress page: every field checked, every error in words."""

from __future__ import annotations

import re
import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.models import Channel
from customers.models import Customer
from tickets.models import SurveyReason
from tickets.services import MAX_MESSAGE_LENGTH

RATING_CHOICES = [
    (1, _("1 – Very dissatisfied")),
    (2, _("2 – Dissatisfied")),
    (3, _("3 – Neither satisfied nor dissatisfied")),
    (4, _("4 – Satisfied")),
    (5, _("5 – Very satisfied")),
]
COMMENT_MAX_LENGTH = 2000
LOW_RATING = 2

REFERENCE_MAX = 64
PROOF_MAX = 254


class SubmissionForm(forms.Form):
    """A form sent at most once: a second send of the same page (a double click, a reload
    after a slow answer) carries the same `submission` key and changes nothing."""

    submission = forms.UUIDField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("submission", uuid.uuid4())


class ReplyForm(SubmissionForm):
    body = forms.CharField(
        label=_("Your message"),
        max_length=MAX_MESSAGE_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={
            "required": _("Please write your message."),
            "max_length": _("Please keep your message under %(limit_value)d characters."),
        },
    )

    def clean_body(self) -> str:
        body = self.cleaned_data["body"].strip()
        if not body:
            raise ValidationError(_("Please write your message."), code="required")
        return body


class RemedyChoiceForm(SubmissionForm):
    offer = forms.UUIDField(
        error_messages={
            "required": _("Please choose one of the remedies."),
            "invalid": _("Please choose one of the remedies."),
        }
    )


class SurveyForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("How satisfied are you with how we handled your case?"),
        choices=RATING_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Please choose a rating from 1 to 5."),
            "invalid_choice": _("Please choose a rating from 1 to 5."),
        },
    )
    reason = forms.ChoiceField(
        label=_("What went wrong most?"),
        choices=SurveyReason.choices,
        required=False,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("Please choose one of the reasons.")},
    )
    comment = forms.CharField(
        label=_("Anything you would like to tell us? (optional)"),
        required=False,
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={
            "max_length": _("Please keep your comment under %(limit_value)d characters.")
        },
    )

    def clean_comment(self) -> str:
        return self.cleaned_data["comment"].strip()

    def clean(self):
        data = super().clean()
        rating = data.get("rating")
        if rating is not None and rating <= LOW_RATING and not data.get("reason"):
            self.add_error("reason", _("Please tell us what went wrong most."))
        if rating is not None and rating > LOW_RATING:
            data["reason"] = ""
        return data


class PreferencesForm(forms.ModelForm):
    """How and when the customer hears from us (customers.Customer)."""

    class Meta:
        model = Customer
        fields = [
            "preferred_channel",
            "opt_out_email",
            "opt_out_sms",
            "opt_out_push",
            "quiet_hours_start",
            "quiet_hours_end",
            "language",
        ]
        labels = {
            "preferred_channel": _("Reach me first by"),
            "opt_out_email": _("No emails"),
            "opt_out_sms": _("No text messages"),
            "opt_out_push": _("No app notifications"),
            "quiet_hours_start": _("Quiet from"),
            "quiet_hours_end": _("until"),
            "language": _("Language of our messages"),
        }
        widgets = {
            "quiet_hours_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_hours_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "preferred_channel": forms.RadioSelect,
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A phone call is a task for an agent, not a channel a customer picks here.
        self.fields["preferred_channel"].choices = [
            (value, label) for value, label in Channel.choices if value != Channel.PHONE
        ]
        for name in ("quiet_hours_start", "quiet_hours_end"):
            self.fields[name].error_messages["invalid"] = _("Enter a time like 21:30.")

    def clean(self):
        data = super().clean()
        start, end = data.get("quiet_hours_start"), data.get("quiet_hours_end")
        if (start is None) != (end is None) and not self.errors.get("quiet_hours_start"):
            missing = "quiet_hours_end" if end is None else "quiet_hours_start"
            self.add_error(missing, _("Give both times, or neither for no quiet hours."))
        elif start is not None and start == end:
            self.add_error("quiet_hours_end", _("The quiet hours cannot start and end together."))
        channel = data.get("preferred_channel")
        if channel and data.get(f"opt_out_{channel}"):
            self.add_error(
                "preferred_channel",
                _("You asked for no messages this way: choose another way to reach you first."),
            )
        if data.get("opt_out_email") and data.get("opt_out_sms") and data.get("opt_out_push"):
            self.add_error(
                None,
                _(
                    "With every channel switched off we cannot tell you about your parcel: "
                    "keep at least one."
                ),
            )
        return data


class LookupForm(forms.Form):
    """The second way in: the order or tracking number and a detail only the customer knows."""

    reference = forms.CharField(
        label=_("Order or tracking number"),
        max_length=REFERENCE_MAX,
        error_messages={
            "required": _("Please enter your order or tracking number."),
            "max_length": _("That number is too long: please check it."),
        },
    )
    proof = forms.CharField(
        label=_("Email, phone number or postal code on the order"),
        max_length=PROOF_MAX,
        error_messages={
            "required": _("Please enter the email, phone number or postal code of the order."),
            "max_length": _("That is too long: please check it."),
        },
    )

    def clean_reference(self) -> str:
        return self.cleaned_data["reference"].strip()

    def clean_proof(self) -> str:
        return self.cleaned_data["proof"].strip()


def phone_digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def postal_code(value: str) -> str:
    return re.sub(r"[\s-]", "", value).upper()
