from django import template
from django.urls import reverse

from core import panels

register = template.Library()


@register.filter
def absolute(value):
    """|absolute: the size of a number whatever its sign ("2.5 days early" from -2.5)."""
    try:
        return abs(value)
    except TypeError:
        return value


@register.inclusion_tag("core/_panel_slot.html")
def panel_slot(slot, *args):
    """{% panel_slot "ticket.sidebar" ticket.public_id %}: the panels higher apps put into this
    slot of the page (core.panels), each loaded from its own app's URL once the page is shown."""
    return {
        "panels": [(panel, reverse(panel.url_name, args=args)) for panel in panels.panels(slot)]
    }
