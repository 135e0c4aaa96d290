"""Admin-managed texts of compensation read by agents, translated with django-modeltranslation.

A policy's explanation (``description``) is shown to the agent with its suggestion on the ticket
page (compensation.policies), so it follows the agent's language; the name stays the stable key
the default matrix is kept up to date by.
"""

from modeltranslation.translator import TranslationOptions, register

from compensation.models import CompensationPolicy


@register(CompensationPolicy)
class CompensationPolicyTranslationOptions(TranslationOptions):
    fields = ("description",)
