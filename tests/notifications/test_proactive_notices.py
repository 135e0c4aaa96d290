"""The proactive story: delay notice, follow-ups every 3 days, recovery, delivered; notices for
replies, solved tickets and remedies. Written in the transaction of the event that causes them."""

import datetime as dt

import pytest
import time_machine
from django.core import mail

from notifications import dispatch, proactive, services
from notifications.models import NoticeKind, Notification
from shipments.detection import detect_delays
from shipments.ingest import EventIn, tracking_events_ingest
from shipments.models import ShipmentStatus
from tests import factories
from tests.notifications.conftest import NOW, delayed_shipment
from tickets.models import SatisfactionSurvey

pytestmark = pytest.mark.django_db

Status = Notification.Status
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def kinds(shipment):
    return list(
        Notification.objects.filter(shipment=shipment)
        .order_by("created_at", "pk")
        .values_list("kind", flat=True)
    )


# --- Detection -----------------------------------------------------------------------------


def test_detection_queues_a_delay_notice_for_a_newly_delayed_shipment(recording):
    lane = factories.LaneFactory(mean_transit_hours=120.0)
    with time_machine.travel(NOW, tick=False):
        late = factories.ShipmentFactory(
            lane=lane,
            carrier=lane.carrier,
            shipped_at=NOW - 200 * HOUR,  # 167% of the lane's mean: yellow
            promised_at=NOW - 2 * DAY,
            last_event_at=NOW - HOUR,
            last_location="Leipzig hub",
            location_since=NOW - HOUR,
        )
        on_time = factories.ShipmentFactory(
            lane=lane, carrier=lane.carrier, shipped_at=NOW - 24 * HOUR, last_event_at=NOW - HOUR
        )

        detect_delays(now=NOW)

        notice = Notification.objects.get()
        assert (notice.shipment_id, notice.kind, notice.level) == (
            late.pk,
            "delay_notice",
            "yellow",
        )
        assert notice.dedupe_key == f"delay:{late.pk}:yellow"
        assert notice.status == Status.PENDING
        assert not Notification.objects.filter(shipment=on_time).exists()

        # A second pass at the same moment, or the next tick, queues nothing more.
        detect_delays(now=NOW)
        detect_delays(now=NOW + 5 * dt.timedelta(minutes=1))
        assert Notification.objects.count() == 1

        result = dispatch.dispatch_pass(now=NOW)
        assert result.sent == 1
        assert late.order_number in mail.outbox[0].body


def test_an_as_of_pass_tells_nobody():
    lane = factories.LaneFactory(mean_transit_hours=120.0)
    with time_machine.travel(NOW, tick=False):
        factories.ShipmentFactory(
            lane=lane, carrier=lane.carrier, shipped_at=NOW - 200 * HOUR, last_event_at=NOW - HOUR
        )
        result = detect_delays(now=NOW, from_events=True)
    assert result.changes == 1
    assert not Notification.objects.exists()


def test_each_rise_is_told_once_and_a_drop_is_a_recovery_for_the_told():
    told = delayed_shipment("yellow")
    untold = factories.ShipmentFactory()

    proactive.delay_changes_enqueue(changes=[(told.pk, "none", "yellow", "congestion")], now=NOW)
    proactive.delay_changes_enqueue(
        changes=[(told.pk, "yellow", "red", "congestion")], now=NOW + HOUR
    )
    proactive.delay_changes_enqueue(
        changes=[
            (told.pk, "red", "none", "none"),
            (untold.pk, "yellow", "none", "none"),  # never told: no recovery either
        ],
        now=NOW + 2 * HOUR,
    )
    # Back to yellow later: that level was told already.
    proactive.delay_changes_enqueue(
        changes=[(told.pk, "none", "yellow", "congestion")], now=NOW + 3 * HOUR
    )

    assert kinds(told) == ["delay_notice", "delay_notice", "recovery"]
    assert not Notification.objects.filter(shipment=untold).exists()
    recovery = Notification.objects.get(kind="recovery")
    assert recovery.level == told.delay_level


def test_a_delivered_shipment_gets_no_delay_notice():
    from tests.notifications.conftest import delivered_shipment

    shipment = delivered_shipment()
    written = proactive.delay_changes_enqueue(
        changes=[(shipment.pk, "none", "red", "congestion")], now=NOW
    )
    assert written == 0


# --- Follow-ups ----------------------------------------------------------------------------


def test_follow_ups_every_three_days_while_delayed(recording):
    shipment = delayed_shipment("orange", now=NOW)
    with time_machine.travel(NOW, tick=False):
        proactive.delay_changes_enqueue(
            changes=[(shipment.pk, "none", "orange", "congestion")], now=NOW
        )
        dispatch.dispatch_pass(now=NOW)

    sent_at = []
    moment = NOW
    for _hour in range(0, 10 * 24):  # ten days, hourly like beat
        moment += HOUR
        with time_machine.travel(moment, tick=False):
            if proactive.follow_ups_enqueue(now=moment):
                sent_at.append(moment)
            dispatch.dispatch_pass(now=moment)

    assert [at - NOW for at in sent_at] == [3 * DAY, 6 * DAY, 9 * DAY]
    follow_ups = Notification.objects.filter(kind="follow_up").order_by("created_at")
    assert [n.status for n in follow_ups] == [Status.SENT] * 3
    assert all(n.level == "orange" for n in follow_ups)
    assert len(mail.outbox) == 4


def test_follow_ups_stop_when_the_parcel_is_back_on_time_or_delivered():
    shipment = delayed_shipment("yellow")
    with time_machine.travel(NOW, tick=False):
        proactive.delay_changes_enqueue(
            changes=[(shipment.pk, "none", "yellow", "congestion")], now=NOW
        )
    shipment.delay_level = "none"
    shipment.save(update_fields=["delay_level"])
    assert proactive.follow_ups_enqueue(now=NOW + 4 * DAY) == 0

    shipment.delay_level = "yellow"
    shipment.status = ShipmentStatus.DELIVERED
    shipment.delivered_at = NOW + 3 * DAY
    shipment.save()
    assert proactive.follow_ups_enqueue(now=NOW + 4 * DAY) == 0


def test_no_follow_up_for_a_shipment_nobody_was_told_about():
    delayed_shipment("yellow")
    assert proactive.follow_ups_enqueue(now=NOW + 4 * DAY) == 0


def test_a_follow_up_run_twice_on_the_same_day_queues_once():
    shipment = delayed_shipment("yellow")
    with time_machine.travel(NOW, tick=False):
        proactive.delay_changes_enqueue(
            changes=[(shipment.pk, "none", "yellow", "congestion")], now=NOW
        )
    later = NOW + 3 * DAY + HOUR
    with time_machine.travel(later, tick=False):
        assert proactive.follow_ups_enqueue(now=later) == 1
        assert proactive.follow_ups_enqueue(now=later + HOUR) == 0


# --- Recovery on a new ETA, delivered on arrival -------------------------------------------


def test_a_new_predicted_date_is_a_recovery_notice_for_the_told(monkeypatch):
    shipment = delayed_shipment("red")
    proactive.delay_changes_enqueue(changes=[(shipment.pk, "none", "red", "congestion")], now=NOW)

    assert proactive.new_eta_enqueue(shipment_ids=[shipment.pk], now=NOW + HOUR) == 1
    assert kinds(shipment) == ["delay_notice", "recovery"]


def test_the_eta_refresh_tells_a_new_date_of_a_day_or_more_only():
    from shipments.eta import _new_date

    before = NOW + 2 * DAY
    assert _new_date("red", before, before + DAY)
    assert _new_date("red", before, before - DAY)
    assert not _new_date("red", before, before + 23 * HOUR)
    assert not _new_date("none", before, before + 3 * DAY)
    assert not _new_date("red", None, before)


def test_a_delivery_scan_closes_the_story_for_a_told_customer(recording):
    carrier = factories.CarrierFactory(code="acme")
    told = delayed_shipment(carrier=carrier, tracking_number="ACME-TOLD")
    untold = factories.ShipmentFactory(carrier=carrier, tracking_number="ACME-UNTOLD")
    proactive.delay_changes_enqueue(changes=[(told.pk, "none", "yellow", "congestion")], now=NOW)

    events = [
        EventIn(
            event_id=f"dl-{number}",
            tracking_number=number,
            occurred_at=NOW - HOUR,
            carrier_code="DL",
            status="delivered",
            cause="none",
            location="Berlin",
        )
        for number in ("ACME-TOLD", "ACME-UNTOLD")
    ]
    tracking_events_ingest(carrier=carrier, events=events, received_at=NOW)

    told.refresh_from_db()
    assert told.status == ShipmentStatus.DELIVERED
    assert kinds(told) == ["delay_notice", "delivered"]
    assert not Notification.objects.filter(shipment=untold).exists()
    delivered = Notification.objects.get(kind="delivered")
    assert delivered.dedupe_key == f"delivered:{told.pk}"

    # The delay notice went stale (delivered first); the delivered notice goes out.
    dispatch.dispatch_pass(now=NOW)
    assert Notification.objects.get(kind="delay_notice").status == Status.SUPPRESSED
    assert Notification.objects.get(kind="delivered").status == Status.SENT


# --- Tickets and remedies ------------------------------------------------------------------


def test_an_agents_reply_is_sent_to_the_customer(recording, agent):
    from tickets.services import ticket_reply

    ticket = factories.TicketFactory()
    message = ticket_reply(ticket=ticket, actor=agent, body="Your parcel left the hub today.")

    notice = Notification.objects.get(kind="ticket_reply")
    assert notice.dedupe_key == f"reply:{message.pk}"
    assert notice.ticket_id == ticket.pk
    assert notice.context == {"reply": "Your parcel left the hub today."}

    dispatch.dispatch_pass(now=dt.datetime.now(dt.UTC))
    assert "Your parcel left the hub today." in mail.outbox[0].body


def test_a_reply_logged_for_a_phone_call_sends_nothing(agent):
    from tickets.services import ticket_reply

    ticket_reply(
        ticket=factories.TicketFactory(), actor=agent, body="Called the customer.", channel="phone"
    )
    assert not Notification.objects.exists()


def test_solving_a_ticket_queues_one_survey_a_day_later(agent):
    from tickets.services import ticket_change_status

    ticket = factories.TicketFactory()
    ticket_change_status(ticket=ticket, actor=agent, status="solved", now=NOW)

    assert SatisfactionSurvey.objects.filter(ticket=ticket).exists()
    notice = Notification.objects.get(kind="survey")
    assert notice.next_attempt_at == NOW + DAY  # SURVEY_DELAY_HOURS, 24 by default
    # Its link is made when it is sent: the survey section of the progress page.
    assert "survey_link" not in notice.context

    ticket_change_status(ticket=ticket, actor=agent, status="open", now=NOW + HOUR)
    ticket_change_status(ticket=ticket, actor=agent, status="solved", now=NOW + 2 * HOUR)
    # The second resolution has its own survey; only its notice is still to go out.
    assert Notification.objects.filter(kind="survey", status="pending").count() == 1


def test_the_survey_delay_is_read_from_the_settings_when_a_ticket_is_solved(agent, settings):
    from tickets.services import ticket_change_status

    settings.SURVEY_DELAY_HOURS = 5
    ticket = factories.TicketFactory()
    ticket_change_status(ticket=ticket, actor=agent, status="solved", now=NOW)

    assert Notification.objects.get(kind="survey").next_attempt_at == NOW + 5 * HOUR


def test_a_survey_for_a_ticket_reopened_meanwhile_is_suppressed(recording, agent):
    from tickets.services import ticket_change_status

    ticket = factories.TicketFactory()
    ticket_change_status(ticket=ticket, actor=agent, status="solved", now=NOW)
    ticket_change_status(ticket=ticket, actor=agent, status="open", now=NOW + HOUR)

    dispatch.dispatch_pass(now=NOW + DAY + HOUR)

    notice = Notification.objects.get(kind="survey")
    assert notice.status == Status.SUPPRESSED
    assert "reopened" in notice.suppressed_reason


def test_a_sent_survey_marks_the_survey_sent_and_links_to_the_progress_pages_survey(
    recording, agent, progress_links
):
    from tickets.services import ticket_change_status

    ticket = factories.TicketFactory()
    ticket_change_status(ticket=ticket, actor=agent, status="solved", now=NOW)
    dispatch.dispatch_pass(now=NOW + DAY + HOUR)

    assert SatisfactionSurvey.objects.get(ticket=ticket).sent_at == NOW + DAY + HOUR
    link = progress_links.link_of(ticket.pk)
    assert f"{link.url}#survey" in mail.outbox[0].body
    notice = Notification.objects.get(kind="survey")
    assert f"{link.redacted_url}#survey" in notice.body
    assert link.url not in notice.body


def test_remedy_notices_describe_the_remedy_in_the_customers_language(recording):
    from compensation.models import CompensationOffer

    customer = factories.CustomerFactory(language="zh-hans")
    ticket = factories.TicketFactory(customer=customer)
    offer = CompensationOffer.objects.create(
        ticket=ticket, customer=customer, kind="coupon", amount=10, currency="EUR"
    )

    offered = services.remedy_enqueue(offer=offer, kind=NoticeKind.REMEDY_OFFERED, now=NOW)
    again = services.remedy_enqueue(offer=offer, kind=NoticeKind.REMEDY_OFFERED, now=NOW)

    assert again.pk == offered.pk
    assert offered.context["remedy"]
    assert offered.context["remedy"] != "a coupon worth 10.00 EUR"  # written in Chinese
    dispatch.dispatch_pass(now=NOW)
    offered.refresh_from_db()
    assert offered.status == Status.SENT
    assert offered.context["remedy"] in offered.body
