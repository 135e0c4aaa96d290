"""Console pages of the compensation app: the ticket page's remedy panel.

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
]
