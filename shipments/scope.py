"""Who may see a shipment's customer: a rule shipments applies but the apps above it own.

Supervisors, superusers and the merchant's own systems see every shipment's customer
(`sees_every_customer`). Anyone else sees the customers an app above grants them: the tickets
app grants an agent the customers with a ticket in the agent's scope (the console's team rule,
the customer page's too). Shipments imports no app above it (docs/ARCHITECTURE.md), so such an
app registers its grant in its ``AppConfig.ready()``:

    # tickets/apps.py
    def ready(self):
        scope.register_customer_scope(customers_with_tickets_in_scope)

    # tickets/...: fn(user, customer_id) -> a boolean expression over the customer's id
    def customers_with_tickets_in_scope(user, customer_id):
        return Exists(Ticket.objects.visible_to(user).filter(customer_id=customer_id))

`customer_id` is an expression naming the customer's id in the query the grant goes into
(``OuterRef("customer_id")`` for shipments); the grant returns a boolean expression (an
``Exists``, a ``Q``, a ``Value``), so the rule costs no query of its own: it rides along in the
query that reads the shipments. Several grants are OR-ed: any one of them lets the reader see.

Safe by default: with nothing registered, nobody but those who see every customer sees one (an
agent gets no customer: null in the API, no customer on the shipment page).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import BooleanField, Expression, ExpressionWrapper, OuterRef, Q, Value

# fn(user, customer_id expression) -> boolean expression (Exists, Q, Value, ...)
CustomerScope = Callable[[Any, Any], Any]

_scopes: list[CustomerScope] = []


def register_customer_scope(fn: CustomerScope) -> CustomerScope:
    """Grant the readers `fn` names the customers it names (idempotent per function)."""
    if fn not in _scopes:
        _scopes.append(fn)
    return fn


def unregister_customer_scope(fn: CustomerScope) -> None:
    """Take a grant back (tests)."""
    if fn in _scopes:
        _scopes.remove(fn)


def registered_customer_scopes() -> list[CustomerScope]:
    return list(_scopes)


def sees_every_customer(user) -> bool:
    """Supervisors, superusers and the merchant's own systems (who create shipments, and send
    their customers in with them) see every shipment's customer."""
    return (
        user.is_superuser
        or user.has_perm("tickets.supervise")
        or user.has_perm("shipments.add_shipment")
    )


def customer_visible(user, customer_id: Any = None) -> Expression:
    """A boolean expression: may `user` see who the customer `customer_id` is (by default the
    customer of the shipment row the expression is annotated on). For ``.annotate()``."""
    if sees_every_customer(user):
        return Value(True)
    if customer_id is None:
        customer_id = OuterRef("customer_id")
    grants = [fn(user, customer_id) for fn in _scopes]
    if not grants:
        return Value(False)
    if len(grants) == 1 and not isinstance(grants[0], Q):
        return grants[0]
    condition = Q()
    for grant in grants:
        condition |= Q(grant)
    return ExpressionWrapper(condition, output_field=BooleanField())
