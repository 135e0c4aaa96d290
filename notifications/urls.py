"""Pages of the notifications app (console history, customer page, incident notice).

Included at the site root (config/urls.py), so each path is written in full.
"""

from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    # Console: the ticket page's notification panel (htmx) and the customer page.
    path(
        "console/tickets/<uuid:public_id>/notifications/",
        views.ticket_history,
        name="ticket_history",
    ),
    path("console/customers/<uuid:public_id>/", views.customer_detail, name="customer_detail"),
    # Supervisor: tell every customer of an incident at once.
    path(
        "supervisor/incidents/<uuid:public_id>/notify/",
        views.incident_notify,
        name="incident_notify",
    ),
]
