"""Default authority limits per role group and currency (shared/DOMAIN.md, "Compensation").

Agents may grant up to 50 EUR or 15% without a supervisor, supervisors up to 1000 EUR or 100%.
The CNY and JPY rows are round equivalents of the EUR figures (about 8 CNY and 160 JPY to the
euro when they were set), not live exchange rates: an admin adjusts them in the admin
(compensation > authority limits). A currency with no row sends every offer in it to approval.
"""

from decimal import Decimal

from django.contrib.auth.models import Group

from compensation.models import AuthorityLimit
from core.models import tables_exist
from core.roles import AGENT, SUPERVISOR

# role -> currency -> limits. Percent and points do not depend on the currency.
DEFAULT_AUTHORITY = {
    AGENT: {
        "EUR": {"max_amount": Decimal("50.00"), "max_percent": Decimal("15.00"), "max_points": 500},
        "CNY": {
            "max_amount": Decimal("400.00"),
            "max_percent": Decimal("15.00"),
            "max_points": 500,
        },
        "JPY": {"max_amount": Decimal("8000"), "max_percent": Decimal("15.00"), "max_points": 500},
    },
    SUPERVISOR: {
        "EUR": {
            "max_amount": Decimal("1000.00"),
            "max_percent": Decimal("100.00"),
            "max_points": 10000,
        },
        "CNY": {
            "max_amount": Decimal("8000.00"),
            "max_percent": Decimal("100.00"),
            "max_points": 10000,
        },
        "JPY": {
            "max_amount": Decimal("160000"),
            "max_percent": Decimal("100.00"),
            "max_points": 10000,
        },
    },
}


def ensure_default_authority_limits(sender=None, **kwargs) -> None:
    """Give each role group its default limit in each default currency once: later edits in the
    admin stay (a row is only created where the group has none for that currency)."""
    using = kwargs.get("using", "default")
    if not tables_exist(Group, AuthorityLimit, using=using):
        return
    for group in Group.objects.using(using).filter(name__in=DEFAULT_AUTHORITY):
        for currency, limits in DEFAULT_AUTHORITY[group.name].items():
            AuthorityLimit.objects.using(using).get_or_create(
                group=group, currency=currency, defaults=limits
            )
