"""Admin-managed texts of shipments read by agents, translated with django-modeltranslation."""

from modeltranslation.translator import TranslationOptions, register

from shipments.models import DelayRule


@register(DelayRule)
class DelayRuleTranslationOptions(TranslationOptions):
    fields = ("description",)
