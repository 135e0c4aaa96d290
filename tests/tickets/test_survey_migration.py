"""The satisfaction survey moved from notifications to tickets without losing or copying a row
(tickets/migrations/0007_satisfactionsurvey.py), and its permissions followed it; then its
link token became a hash (tickets/migrations/0008_progress_links_leave_tickets.py)."""

import hashlib

import pytest
from django.db import connection
from django.utils import timezone

from tests.migration_steps import latest, migrate

BEFORE = [
    ("notifications", "0005_suppressed_reason_parts"),
    ("tickets", "0006_translated_macro_titles_and_milestone_labels"),
]


@pytest.mark.django_db(transaction=True)
def test_the_surveys_and_their_grants_move_to_tickets():
    try:
        old = migrate(BEFORE)
        Customer = old.get_model("customers", "Customer")
        Ticket = old.get_model("tickets", "Ticket")
        Survey = old.get_model("notifications", "SatisfactionSurvey")
        ContentType = old.get_model("contenttypes", "ContentType")
        Permission = old.get_model("auth", "Permission")
        Group = old.get_model("auth", "Group")
        customer = Customer.objects.create(name="Mei", email="mei@example.com")
        ticket = Ticket.objects.create(customer=customer, subject="Late parcel")
        survey = Survey.objects.create(
            ticket=ticket, token="t0k3n", rating=4, comment="Fine", answered_at=timezone.now()
        )
        old_type, _ = ContentType.objects.get_or_create(
            app_label="notifications", model="satisfactionsurvey"
        )
        view, _ = Permission.objects.get_or_create(
            content_type=old_type, codename="view_satisfactionsurvey", defaults={"name": "Can view"}
        )
        group = Group.objects.create(name="readers")
        group.permissions.add(view)

        new = migrate(latest())

        moved = new.get_model("tickets", "SatisfactionSurvey").objects.get()
        assert (moved.pk, moved.ticket_id, moved.rating, moved.comment) == (
            survey.pk,
            ticket.pk,
            4,
            "Fine",
        )
        # tickets 0008: the old link's token is kept only as its hash (the portal redirects
        # old survey links), and the survey belongs to the ticket's resolution.
        assert moved.legacy_token_hash == hashlib.sha256(b"t0k3n").hexdigest()
        assert moved.resolved_at == survey.created_at
        assert moved._meta.db_table == "tickets_satisfactionsurvey"
        with connection.cursor() as cursor:
            tables = connection.introspection.table_names(cursor)
        assert "notifications_satisfactionsurvey" not in tables
        granted = new.get_model("auth", "Group").objects.get(name="readers").permissions.get()
        assert (granted.content_type.app_label, granted.codename) == (
            "tickets",
            "view_satisfactionsurvey",
        )
    finally:
        migrate(latest())
