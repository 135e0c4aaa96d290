"""Console pages of the compensation app: the ticket page's remedy panel and its form.

Included at ``console/`` (config/urls.py).
"""

from django.urls import path

from compensation import panels

app_name = "compensation"

urlpatterns = [
    # The ticket page's remedy panel (htmx), put into its "ticket.sidebar" slot (apps.py).
    path(
        "tickets/<uuid:public_id>/compensation/",
        panels.ticket_panel,
        name="ticket_panel",
    ),
    # The panel's form: accept a suggestion, or edit / replace it with a reason (POST only).
    path(
        "tickets/<uuid:public_id>/compensation/offer/",
        panels.ticket_offer,
        name="ticket_offer",
    ),
    # The customer's choice among standing alternatives, recorded by an agent (POST only).
    path(
        "tickets/<uuid:public_id>/compensation/offers/<uuid:offer_id>/choose/",
        panels.offer_choose,
        name="offer_choose",
    ),
]
