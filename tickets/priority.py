"""Priority = customer tier x problem severity, read from the `PriorityRule` matrix (admin data)."""

from __future__ import annotations

from tickets.models import Category, Priority, PriorityRule, Severity

# Severity of each ticket category: lost > damaged > delayed > information request.
# Address changes and "other" are requests for information or action, not a lost good.
CATEGORY_SEVERITY = {
    Category.LOST: Severity.LOST,
    Category.DAMAGED: Severity.DAMAGED,
    Category.DELAY: Severity.DELAYED,
    Category.ADDRESS_CHANGE: Severity.INFORMATION,
    Category.INFORMATION: Severity.INFORMATION,
    Category.OTHER: Severity.INFORMATION,
}

# When an operator deleted a cell of the matrix: a sane middle, never silently "low".
FALLBACK_PRIORITY = Priority.NORMAL


def severity_for(category: str) -> str:
    return CATEGORY_SEVERITY.get(category, Severity.INFORMATION)


def priority_for(*, customer_tier: str, category: str) -> str:
    """The matrix cell for this customer tier and the category's severity (one query)."""
    priority = (
        PriorityRule.objects.filter(customer_tier=customer_tier, severity=severity_for(category))
        .values_list("priority", flat=True)
        .first()
    )
    return priority or FALLBACK_PRIORITY
