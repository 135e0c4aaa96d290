from decimal import Decimal

from compensation.models import AuthorityLimit
from core.models import tables_exist
from core.roles import AGENT, SUPERVISOR

# How much a role may grant without a supervisor's approval (shared/DOMAIN.md, "Compensation").
DEFAULT_AUTHORITY = {
    AGENT: {"max_amount": Decimal("50.00"), "max_percent": Decimal("15.00"), "currency": "EUR"},
    SUPERVISOR: {
        "max_amount": Decimal("1000.00"),
        "max_percent": Decimal("100.00"),
        "currency": "EUR",
    },
}


def ensure_default_authority_limits(sender=None, **kwargs) -> None:
    """Give each role group its default authority limit once; later edits in the admin stay."""
    from django.contrib.auth.models import Group

    using = kwargs.get("using", "default")
    if not tables_exist(Group, AuthorityLimit, using=using):
        return
    for group in Group.objects.using(using).filter(name__in=DEFAULT_AUTHORITY):
        AuthorityLimit.objects.using(using).get_or_create(
            group=group, defaults=DEFAULT_AUTHORITY[group.name]
        )
