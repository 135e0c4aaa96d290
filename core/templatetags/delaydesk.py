from django import template

register = template.Library()


@register.filter
def absolute(value):
    """|absolute: the size of a number whatever its sign ("2.5 days early" from -2.5)."""
    try:
        return abs(value)
    except TypeError:
        return value
