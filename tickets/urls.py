from django.urls import path

from tickets import panels, views

app_name = "tickets"

urlpatterns = [
    path("", views.console, name="console"),
    path("counts/", views.console_counts, name="console_counts"),
    path("tickets/<uuid:public_id>/", views.ticket_detail, name="ticket_detail"),
    # The shipment page's tickets panel (tickets.panels).
    path(
        "shipments/<uuid:public_id>/tickets/",
        panels.shipment_tickets,
        name="shipment_tickets",
    ),
    # Reads for the ticket page's widgets.
    path(
        "tickets/<uuid:public_id>/macros/<id:macro_id>/render/",
        views.macro_render,
        name="macro_render",
    ),
    path("tickets/<uuid:public_id>/agents/", views.assign_form, name="assign_form"),
    # Actions: POST only, one service call each.
    path("tickets/<uuid:public_id>/claim/", views.ticket_claim, name="ticket_claim"),
    path("tickets/<uuid:public_id>/release/", views.ticket_release, name="ticket_release"),
    path("tickets/<uuid:public_id>/assign/", views.ticket_assign, name="ticket_assign"),
    path("tickets/<uuid:public_id>/reply/", views.ticket_reply, name="ticket_reply"),
    path("tickets/<uuid:public_id>/note/", views.ticket_note, name="ticket_note"),
    path("tickets/<uuid:public_id>/status/", views.ticket_status, name="ticket_status"),
    path("tickets/<uuid:public_id>/priority/", views.ticket_priority, name="ticket_priority"),
    path("tickets/<uuid:public_id>/category/", views.ticket_category, name="ticket_category"),
    path(
        "tickets/<uuid:public_id>/carrier-contacted/",
        views.ticket_carrier_contacted,
        name="ticket_carrier_contacted",
    ),
    path(
        "tickets/<uuid:public_id>/milestone/",
        views.ticket_milestone_done,
        name="ticket_milestone_done",
    ),
]
