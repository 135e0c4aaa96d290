"""Progress links in sent notices (notifications/links.py): the dispatcher mints one link per
ticket of a batch in one call, sends the token in the text only, keeps the redacted link in the
stored copy, confirms the links that went out in the transaction that records them, and
discards the others when the batch ends. Without a link maker, the carrier's tracking page."""

import datetime as dt
import logging

import pytest
from django.core import mail
from django.db import connection

from customers.models import Customer
from notifications import dispatch, services
from notifications.backends import TemporaryFailure
from notifications.models import NoticeKind, Notification, NotificationTemplate
from tests import factories
from tests.notifications.conftest import NOW, delayed_shipment
from tests.notifications.recording_backends import RecordingSMSBackend

pytestmark = pytest.mark.django_db

Status = Notification.Status


def queue_reply(ticket, *, n: int = 0, now=NOW) -> Notification:
    """A reply notice: no tolerance, frequency cap or quiet hours in the way."""
    return services.notice_enqueue(
        kind=NoticeKind.TICKET_REPLY,
        customer=ticket.customer,
        ticket=ticket,
        shipment=ticket.shipment,
        dedupe_key=f"reply:links:{ticket.pk}:{n}",
        context={"reply": f"Answer {n}."},
        now=now - dt.timedelta(minutes=1),
    )


def queue_delay_notice(shipment, *, now=NOW) -> Notification:
    """A delay notice: no ticket of its own (it links to its shipment's newest ticket)."""
    return services.notice_enqueue(
        kind=NoticeKind.DELAY_NOTICE,
        customer=shipment.customer,
        shipment=shipment,
        dedupe_key=f"delay:links:{shipment.pk}",
        level="yellow",
        now=now - dt.timedelta(minutes=1),
    )


def sms_ticket(**customer_fields):
    customer = factories.CustomerFactory(preferred_channel="sms", **customer_fields)
    return factories.TicketFactory(customer=customer)


def sent_text(recording, notification: Notification) -> str:
    """What the backend received for `notification` (SMS, push or email)."""
    reference = str(notification.public_id)
    for _channel, message in recording.sent:
        if message.reference == reference:
            return message.title + "\n" + message.body
    for email in mail.outbox:
        if email.to == [notification.customer.email]:
            return email.subject + "\n" + email.body
    raise AssertionError(f"nothing sent for {notification.pk}")


def test_one_mint_call_per_batch_for_the_distinct_tickets_of_its_notices(recording, progress_links):
    ticket = sms_ticket()
    other = sms_ticket()
    shipment = delayed_shipment(customer=factories.CustomerFactory(preferred_channel="sms"))
    newest = factories.TicketFactory(customer=shipment.customer, shipment=shipment)
    queue_reply(ticket, n=1)
    queue_reply(ticket, n=2)  # the same ticket: one link for both
    queue_reply(other)
    queue_delay_notice(shipment)  # no ticket of its own: its shipment's ticket
    queue_delay_notice(delayed_shipment())  # no ticket at all: no link

    result = dispatch.dispatch_pass(now=NOW)

    assert result.sent == 5
    assert progress_links.mints == [(sorted([ticket.pk, other.pk, newest.pk]), NOW)]


def test_each_batch_mints_once(recording, progress_links):
    tickets = [sms_ticket() for _ in range(5)]
    for ticket in tickets:
        queue_reply(ticket)

    dispatch.dispatch_pass(now=NOW, batch_size=2)

    assert [len(ticket_ids) for ticket_ids, _now in progress_links.mints] == [2, 2, 1]
    assert sorted(t for ids, _now in progress_links.mints for t in ids) == sorted(
        ticket.pk for ticket in tickets
    )


def test_the_backend_gets_the_token_and_the_stored_copy_the_redacted_link(
    recording, progress_links
):
    by_sms = queue_reply(sms_ticket())
    by_email = queue_reply(factories.TicketFactory())
    by_push = queue_reply(sms_ticket(), n=3)
    Notification.objects.filter(pk=by_push.pk).update(channel="push")
    Customer.objects.filter(pk=by_push.customer_id).update(preferred_channel="push")

    assert dispatch.dispatch_pass(now=NOW).sent == 3

    for notice in (by_sms, by_email, by_push):
        link = progress_links.link_of(notice.ticket_id)
        assert link.url in sent_text(recording, notice), notice.channel
        notice.refresh_from_db()
        assert notice.status == Status.SENT
        assert link.redacted_url in notice.body, notice.channel
        assert link.url not in notice.body + notice.subject, notice.channel
        assert "SeCrEt" not in notice.body + notice.subject


def test_a_delay_notice_links_to_its_shipments_newest_ticket(recording, progress_links):
    shipment = delayed_shipment(order_number="ORD-77")
    factories.TicketFactory(customer=shipment.customer, shipment=shipment)
    newest = factories.TicketFactory(customer=shipment.customer, shipment=shipment)
    notice = queue_delay_notice(shipment)

    assert dispatch.dispatch_pass(now=NOW).sent == 1

    link = progress_links.link_of(newest.pk)
    assert progress_links.mints == [([newest.pk], NOW)]
    # The European variant (the customer's region): "You can follow every step ... here:".
    assert f"here: {link.url}\n" in mail.outbox[0].body
    notice.refresh_from_db()
    assert f"here: {link.redacted_url}\n" in notice.body


def test_the_links_of_sent_rows_are_confirmed_in_the_transaction_that_records_them(
    recording, progress_links
):
    notices = [queue_reply(sms_ticket(), n=n) for n in range(3)]
    depth_outside = len(connection.atomic_blocks)
    statuses_seen = []

    def check(link_ids):
        tickets = [progress_links.minted[link_id].ticket_id for link_id in link_ids]
        statuses_seen.append(
            set(Notification.objects.filter(ticket_id__in=tickets).values_list("status", flat=True))
        )

    progress_links.on_confirm = check

    dispatch.dispatch_pass(now=NOW)

    expected = sorted(progress_links.link_of(n.ticket_id).id for n in notices)
    assert progress_links.confirmed == expected
    assert all(now == NOW for _ids, now, _depth in progress_links.confirms)
    # Inside the group's transaction (and a savepoint of its own), after its UPDATE.
    assert all(depth >= depth_outside + 2 for _ids, _now, depth in progress_links.confirms)
    assert statuses_seen and all(seen == {Status.SENT} for seen in statuses_seen)
    assert progress_links.discarded == []


def test_a_group_of_fast_sends_confirms_its_links_with_its_one_write(
    recording, progress_links, settings, monkeypatch
):
    monkeypatch.setattr(RecordingSMSBackend, "repeat_reaches_customer", False)
    monkeypatch.setattr(dispatch, "SLOW_SEND_SECONDS", 60.0)
    monkeypatch.setattr(dispatch, "MAX_GROUP_AGE_SECONDS", 3600.0)
    settings.NOTICE_OUTCOME_GROUP_SIZE = 2
    ticket, other = sms_ticket(), sms_ticket()
    for n in range(3):
        queue_reply(ticket, n=n)  # one ticket, one link, in two groups
    queue_reply(other, n=9)

    assert dispatch.dispatch_pass(now=NOW).sent == 4

    # Groups of 2: the shared link with the first group, the other with the second; each once.
    assert [ids for ids, _now, _depth in progress_links.confirms] == [
        [progress_links.link_of(ticket.pk).id],
        [progress_links.link_of(other.pk).id],
    ]


def test_links_of_suppressed_deferred_and_retried_rows_are_discarded(
    recording, progress_links, monkeypatch
):
    sent = queue_reply(sms_ticket())
    opted_out = queue_reply(sms_ticket(opt_out_sms=True, opt_out_email=True))
    quiet = queue_reply(
        sms_ticket(quiet_hours_start=dt.time(9), quiet_hours_end=dt.time(11), time_zone="UTC")
    )
    Notification.objects.filter(pk=quiet.pk).update(kind=NoticeKind.RECOVERY)  # waits
    flaky = queue_reply(sms_ticket())
    send = recording.record

    def record(channel, message):
        if message.reference == str(flaky.public_id):
            raise TemporaryFailure("provider busy")
        return send(channel, message)

    monkeypatch.setattr(recording, "record", record)

    result = dispatch.dispatch_pass(now=NOW)

    assert (result.sent, result.suppressed, result.deferred, result.retried) == (1, 1, 1, 1)
    link = {n.pk: progress_links.link_of(n.ticket_id).id for n in (sent, opted_out, quiet, flaky)}
    assert progress_links.confirmed == [link[sent.pk]]
    assert progress_links.discards == [sorted(link[n.pk] for n in (opted_out, quiet, flaky))]


def test_a_link_shared_by_a_sent_and_a_suppressed_row_is_kept(recording, progress_links):
    ticket = sms_ticket()
    sent = queue_reply(ticket, n=1)
    suppressed = queue_reply(ticket, n=2)
    Notification.objects.filter(pk=suppressed.pk).update(kind=NoticeKind.SURVEY)  # not solved

    result = dispatch.dispatch_pass(now=NOW)

    assert (result.sent, result.suppressed) == (1, 1)
    link = progress_links.link_of(ticket.pk)
    assert link.url in sent_text(recording, sent)
    assert progress_links.confirmed == [link.id]
    assert progress_links.discards == []


def test_a_sent_text_without_the_link_does_not_confirm_it(recording, progress_links):
    NotificationTemplate.objects.filter(kind="ticket_reply", channel="sms", language="en").update(
        body="Hi {customer_name}, our team has replied. Open the app to read it."
    )
    notice = queue_reply(sms_ticket())

    assert dispatch.dispatch_pass(now=NOW).sent == 1

    link = progress_links.link_of(notice.ticket_id)
    assert link.url not in sent_text(recording, notice)
    assert progress_links.confirmed == []
    assert progress_links.discards == [[link.id]]


def test_without_a_link_maker_the_notice_links_to_the_carriers_tracking_page(
    recording, no_progress_links
):
    carrier = factories.CarrierFactory(
        code="trackco", tracking_url_template="https://track.example/t?id={tracking_number}"
    )
    shipment = delayed_shipment(carrier=carrier, tracking_number="TRK-55")
    factories.TicketFactory(customer=shipment.customer, shipment=shipment)
    notice = queue_delay_notice(shipment)

    assert dispatch.dispatch_pass(now=NOW).sent == 1

    assert "here: https://track.example/t?id=TRK-55\n" in mail.outbox[0].body
    notice.refresh_from_db()
    assert notice.body == mail.outbox[0].body  # nothing to redact


def test_a_failing_mint_sends_the_batch_with_the_carriers_link(
    recording, progress_links, monkeypatch, caplog
):
    def broken(ticket_ids, *, now):
        raise RuntimeError("portal down")

    monkeypatch.setattr(progress_links, "mint", broken)
    carrier = factories.CarrierFactory(
        code="trackco2", tracking_url_template="https://track.example/t?id={tracking_number}"
    )
    shipment = delayed_shipment(carrier=carrier, tracking_number="TRK-56")
    factories.TicketFactory(customer=shipment.customer, shipment=shipment)
    queue_delay_notice(shipment)

    with caplog.at_level(logging.ERROR, logger="notifications.dispatch"):
        assert dispatch.dispatch_pass(now=NOW).sent == 1

    assert "https://track.example/t?id=TRK-56" in mail.outbox[0].body
    assert "minting 1 progress links failed" in caplog.text
    assert (progress_links.confirms, progress_links.discards) == ([], [])


def test_a_failing_confirm_still_records_the_outcome(recording, progress_links, monkeypatch):
    def broken(link_ids, *, now):
        Notification.objects.update(body="written by a failed confirm")
        raise RuntimeError("portal bug")

    monkeypatch.setattr(progress_links, "confirm", broken)
    notice = queue_reply(sms_ticket())

    assert dispatch.dispatch_pass(now=NOW).sent == 1

    notice.refresh_from_db()
    assert notice.status == Status.SENT  # not claimed again and sent a second time
    assert notice.body != "written by a failed confirm"  # the confirm's writes rolled back
    assert progress_links.discards == []  # it went out
