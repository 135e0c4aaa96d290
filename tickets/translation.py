"""Admin-managed texts of tickets read by agents, translated with django-modeltranslation.

A macro's *body* is not here: it is written to the customer, so it exists as one row per
customer language (``Macro.language``), picked by the ticket's language. Its *title* is what the
agent reads in the picker, so it follows the agent's language. A milestone's ``name`` is the
stable key timers are matched by; its ``label`` is what agents read.
"""

from modeltranslation.translator import TranslationOptions, register

from tickets.models import Macro, SLATarget


@register(Macro)
class MacroTranslationOptions(TranslationOptions):
    fields = ("title",)


@register(SLATarget)
class SLATargetTranslationOptions(TranslationOptions):
    fields = ("label",)
