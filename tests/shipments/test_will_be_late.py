"""The "will be late" level (issue 16): the late-delivery model's probability as a delay rule.

The model is a real stored LateModel whose weights are all zero, so P(late) is its intercept's
probability for every shipment: each test sets the probability it needs, and the rule, the
pass, the estimate and the notice are the product's own.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from notifications import dispatch
from notifications.models import NoticeKind, Notification
from shipments import risk
from shipments.detection import detect_delays
from shipments.eta import predict_eta
from shipments.models import DelayLevel, DelayRule, LateModel, Shipment, ShipmentStatus
from tests import factories
from tests.shipments.test_detection import level_of, on_time

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def frozen_time():
    with time_machine.travel(NOW, tick=False):
        yield


def constant_model(probability: float, *, version: int = 1, trained_at=NOW - DAY, active=True):
    """A stored model that answers ``probability`` for every shipment."""
    width = len(risk.FEATURE_NAMES)
    return LateModel.objects.create(
        version=version,
        trained_at=trained_at,
        history_from=trained_at - 200 * DAY,
        validation_from=trained_at - 120 * DAY,
        cutoff=trained_at - 60 * DAY,
        history_to=trained_at,
        training_shipments=1000,
        training_examples=3000,
        validation_examples=1000,
        reported_examples=1000,
        threshold=0.55,
        thresholds={"24": 0.44, "72": 0.55, "120": 0.5},
        feature_names=list(risk.FEATURE_NAMES),
        coefficients={
            "mean": [0.0] * width,
            "scale": [1.0] * width,
            "coef": [0.0] * width,
            "intercept": math.log(probability / (1 - probability)),
            "c": 1.0,
        },
        is_active=active,
    )


@pytest.fixture
def lane(db):
    return factories.LaneFactory(mean_transit_hours=120.0)


def quiet(lane, **overrides) -> Shipment:
    """A shipment no observed-delay rule fires for (test_detection's), due in 48 h."""
    return on_time(lane, **{"promised_at": NOW + 48 * HOUR, **overrides})


def test_the_migration_installs_the_two_default_probability_rules():
    rules = {
        rule.key: (rule.kind, rule.level, rule.threshold, rule.horizon_hours)
        for rule in DelayRule.objects.filter(kind=DelayRule.Kind.LATE_PROBABILITY)
    }
    assert rules == {
        "will_be_late_72h": ("late_probability", "will_be_late", Decimal("0.57"), 72),
        "will_be_late_24h": ("late_probability", "will_be_late", Decimal("0.48"), 24),
    }


def test_will_be_late_is_the_least_severe_delay_level():
    from shipments.models import DELAY_LEVEL_RANK

    assert DELAY_LEVEL_RANK[DelayLevel.NONE] == 0
    assert DELAY_LEVEL_RANK[DelayLevel.WILL_BE_LATE] == 1
    assert DELAY_LEVEL_RANK[DelayLevel.YELLOW] == 2


@pytest.mark.parametrize(
    ("probability", "fires"),
    [(0.50, False), (0.56, False), (0.58, True), (0.90, True)],
)
def test_the_probability_must_be_over_the_threshold(lane, probability, fires):
    constant_model(probability)
    shipment = quiet(lane, promised_at=NOW + 48 * HOUR)

    detect_delays(now=NOW)

    assert level_of(shipment) == ("will_be_late" if fires else "none")
    if fires:
        assert shipment.delay_rule == "will_be_late_72h"
        assert shipment.delay_detected_at == NOW


def test_the_horizon_is_inclusive_and_nothing_fires_further_out(lane):
    constant_model(0.7)
    beyond = quiet(lane, promised_at=NOW + 72 * HOUR + SECOND)
    at = quiet(lane, promised_at=NOW + 72 * HOUR)
    inside = quiet(lane, promised_at=NOW + 71 * HOUR)

    detect_delays(now=NOW)

    assert (level_of(beyond), level_of(at), level_of(inside)) == (
        "none",
        "will_be_late",
        "will_be_late",
    )


def test_the_24h_rule_has_its_own_lower_threshold(lane):
    constant_model(0.52)  # under 0.57 (72 h), over 0.48 (24 h)
    two_days = quiet(lane, promised_at=NOW + 48 * HOUR)
    one_day = quiet(lane, promised_at=NOW + 24 * HOUR)

    detect_delays(now=NOW)

    assert level_of(two_days) == "none"
    assert level_of(one_day) == "will_be_late"
    assert one_day.delay_rule == "will_be_late_24h"


def test_it_keeps_firing_once_the_promise_has_passed(lane):
    constant_model(0.7)
    shipment = quiet(lane, promised_at=NOW - 2 * HOUR)

    detect_delays(now=NOW)

    assert level_of(shipment) == "will_be_late"


def test_an_observed_delay_wins_over_the_forecast(lane):
    constant_model(0.9)
    silent = quiet(lane, last_event_at=NOW - 80 * HOUR, last_location="", location_since=None)

    detect_delays(now=NOW)

    assert level_of(silent) == "orange"


def test_the_forecast_dropping_brings_the_shipment_back_on_time(lane):
    model = constant_model(0.7)
    shipment = quiet(lane)
    detect_delays(now=NOW)
    assert level_of(shipment) == "will_be_late"

    model.coefficients = {**model.coefficients, "intercept": math.log(0.2 / 0.8)}
    model.save()
    detect_delays(now=NOW + HOUR)

    assert level_of(shipment) == "none"
    assert shipment.delay_detected_at is None


def test_deactivating_the_rules_turns_the_level_off(lane):
    constant_model(0.9)
    DelayRule.objects.filter(kind=DelayRule.Kind.LATE_PROBABILITY).update(is_active=False)
    shipment = quiet(lane)

    detect_delays(now=NOW)

    assert level_of(shipment) == "none"


def test_threshold_and_horizon_are_data_edited_in_the_admin(lane):
    constant_model(0.6)
    DelayRule.objects.filter(key="will_be_late_72h").update(
        threshold=Decimal("0.65"), horizon_hours=96
    )
    far = quiet(lane, promised_at=NOW + 90 * HOUR)

    detect_delays(now=NOW)
    assert level_of(far) == "none"  # 0.6 is under the new 0.65

    DelayRule.objects.filter(key="will_be_late_72h").update(threshold=Decimal("0.5"))
    detect_delays(now=NOW + SECOND)
    assert level_of(far) == "will_be_late"  # 90 h left is inside the 96 h horizon


def test_a_rule_is_refused_without_a_horizon_or_with_a_probability_of_one():
    rule = DelayRule(
        key="p", kind=DelayRule.Kind.LATE_PROBABILITY, level="will_be_late", threshold=1
    )
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert set(error.value.message_dict) >= {"threshold", "horizon_hours"}
    other = DelayRule(key="o", kind="no_update_hours", level="orange", threshold=5, horizon_hours=3)
    with pytest.raises(ValidationError) as error:
        other.full_clean()
    assert "horizon_hours" in error.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        DelayRule.objects.create(
            key="q", kind=DelayRule.Kind.LATE_PROBABILITY, level="will_be_late", threshold="0.5"
        )


def test_without_a_model_the_lane_quantile_rule_decides(lane):
    # No LateModel: the fallback. A parcel well past its lane's whole history with hours left
    # is late by the lane's distribution; one that needs 10 more hours of its 48 is not.
    carrier = lane.carrier
    for day in range(30):
        factories.ShipmentFactory(
            carrier=carrier,
            lane=lane,
            status=ShipmentStatus.DELIVERED,
            shipped_at=NOW - (40 - day) * DAY,
            delivered_at=NOW - (40 - day) * DAY + (48 + day % 3) * HOUR,
            promised_at=NOW - (40 - day) * DAY + 5 * DAY,
        )
    slow = quiet(lane, shipped_at=NOW - 100 * HOUR, promised_at=NOW + 20 * HOUR)
    fresh = quiet(lane, shipped_at=NOW - 40 * HOUR, promised_at=NOW + 20 * HOUR)

    scores = risk.score([slow.pk, fresh.pk], now=NOW)
    assert scores.fallback
    detect_delays(now=NOW)

    assert level_of(slow) == "will_be_late"
    assert level_of(fresh) == "none"


# --- The estimate and the notice --------------------------------------------------------------


def delivered_history(lane, days=30):
    """Deliveries of ``lane`` taking 3 to 9 days: the distribution the estimate reads."""
    for n in range(days):
        shipped = NOW - (40 - n) * DAY
        factories.ShipmentFactory(
            carrier=lane.carrier,
            lane=lane,
            status=ShipmentStatus.DELIVERED,
            shipped_at=shipped,
            delivered_at=shipped + (3 + n % 7) * DAY,
            promised_at=shipped + 6 * DAY,
        )


def test_a_shipment_warned_gets_the_estimate_given_it_misses_its_promise(lane):
    delivered_history(lane)
    constant_model(0.7)
    shipment = quiet(lane, shipped_at=NOW - 4 * DAY, promised_at=NOW + 2 * DAY)

    detect_delays(now=NOW)

    shipment.refresh_from_db()
    assert shipment.delay_level == "will_be_late"
    assert shipment.late_eta > shipment.promised_at
    assert shipment.told_eta == shipment.late_eta
    assert shipment.predicted_eta is None  # what the rules read is left alone
    # Exactly the ETA model's own answer from the promise on.
    from shipments.eta import load_transit_history

    distribution = load_transit_history(now=NOW).for_shipment(
        lane_id=lane.pk, carrier_id=lane.carrier_id, service_level=shipment.service_level
    )
    assert shipment.late_eta == predict_eta(
        now=NOW,
        shipped_at=shipment.shipped_at,
        promised_at=shipment.promised_at,
        distribution=distribution,
        last_event_at=shipment.last_event_at,
        late=True,
    )
    assert shipment.late_eta > predict_eta(
        now=NOW,
        shipped_at=shipment.shipped_at,
        promised_at=shipment.promised_at,
        distribution=distribution,
        last_event_at=shipment.last_event_at,
    )


def test_a_second_pass_changes_nothing_and_the_estimate_never_feeds_the_red_rule(lane):
    """The late estimate can be a week past the promise (a long-tailed lane); the "predicted a
    week late" rule must not read it: the next pass at the same moment changes nothing."""
    for n in range(30):
        shipped = NOW - (60 - n) * DAY
        factories.ShipmentFactory(
            carrier=lane.carrier,
            lane=lane,
            status=ShipmentStatus.DELIVERED,
            shipped_at=shipped,
            delivered_at=shipped + (3 if n % 2 else 20) * DAY,
            promised_at=shipped + 6 * DAY,
        )
    constant_model(0.7)
    shipment = quiet(lane, shipped_at=NOW - 4 * DAY, promised_at=NOW + 2 * DAY)

    detect_delays(now=NOW)
    shipment.refresh_from_db()
    assert shipment.late_eta - shipment.promised_at > 7 * DAY
    second = detect_delays(now=NOW)
    later = detect_delays(now=NOW + 5 * dt.timedelta(minutes=1))

    assert (second.changes, later.changes) == (0, 0)
    assert level_of(shipment) == "will_be_late"


def test_the_eta_refresh_keeps_the_late_estimate_while_the_level_stays(lane):
    from shipments.eta import refresh_predicted_etas

    delivered_history(lane)
    constant_model(0.7)
    shipment = quiet(lane, shipped_at=NOW - 4 * DAY, promised_at=NOW + 2 * DAY)
    detect_delays(now=NOW)
    Shipment.objects.filter(pk=shipment.pk).update(late_eta=None)

    refresh_predicted_etas(now=NOW)

    shipment.refresh_from_db()
    assert shipment.late_eta > shipment.promised_at
    assert shipment.predicted_eta is not None and shipment.predicted_eta < shipment.late_eta
    assert detect_delays(now=NOW + SECOND).changes == 0


@pytest.fixture
def recording(settings):
    from tests.notifications.conftest import RECORDER

    settings.SMS_BACKEND = "tests.notifications.recording_backends.RecordingSMSBackend"
    settings.PUSH_BACKEND = "tests.notifications.recording_backends.RecordingPushBackend"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    RECORDER.reset()
    yield RECORDER
    RECORDER.reset()


def test_the_warning_reaches_the_customer_through_the_outbox_with_the_new_estimate(
    lane, recording, settings
):
    from django.core import mail

    settings.NOTICE_TOLERANCE_HOURS = 0
    settings.NOTICE_TOLERANCE_HOURS_BY_TIER = {}
    delivered_history(lane)
    constant_model(0.7)
    customer = factories.CustomerFactory(preferred_channel="email", time_zone="UTC")
    shipment = quiet(lane, customer=customer, shipped_at=NOW - 4 * DAY, promised_at=NOW + 2 * DAY)

    detect_delays(now=NOW)

    notice = Notification.objects.get(shipment=shipment)
    assert (notice.kind, notice.level, notice.status) == (
        NoticeKind.DELAY_NOTICE,
        "will_be_late",
        Notification.Status.PENDING,
    )
    assert not shipment.tickets.exists()  # a forecast opens no ticket by default

    dispatch.dispatch_pass(now=NOW)

    notice.refresh_from_db()
    assert notice.status == Notification.Status.SENT
    shipment.refresh_from_db()
    body = mail.outbox[-1].body
    assert f"{shipment.late_eta:%d}" in body  # the new estimate's day
    assert "our forecast from recent deliveries on the same route" in body
    assert "We are telling you early" in body


def test_noise_control_is_unchanged_for_the_warning(lane, recording, settings):
    """A slip within the customer's tolerance holds the warning back, as for any delay."""
    settings.NOTICE_TOLERANCE_HOURS = 24 * 30
    settings.NOTICE_TOLERANCE_HOURS_BY_TIER = {}
    delivered_history(lane)
    constant_model(0.7)
    shipment = quiet(lane, shipped_at=NOW - 4 * DAY, promised_at=NOW + 2 * DAY)

    detect_delays(now=NOW)
    dispatch.dispatch_pass(now=NOW)

    notice = Notification.objects.get(shipment=shipment)
    assert notice.status == Notification.Status.SUPPRESSED
    assert "within the customer's tolerance" in notice.suppressed_reason


def test_one_warning_per_level_and_a_later_rise_still_gets_through(lane, recording, settings):
    settings.NOTICE_TOLERANCE_HOURS = 0
    settings.NOTICE_TOLERANCE_HOURS_BY_TIER = {}
    delivered_history(lane)
    constant_model(0.7)
    shipment = quiet(lane, shipped_at=NOW - 4 * DAY, promised_at=NOW + 2 * DAY)

    detect_delays(now=NOW)
    detect_delays(now=NOW + HOUR)  # still will be late: no second notice
    assert Notification.objects.filter(shipment=shipment).count() == 1
    dispatch.dispatch_pass(now=NOW + HOUR)

    # The parcel then goes silent for 3 days: orange, a rise worth telling at once.
    Shipment.objects.filter(pk=shipment.pk).update(last_event_at=NOW - 80 * HOUR)
    detect_delays(now=NOW + 2 * HOUR)
    dispatch.dispatch_pass(now=NOW + 2 * HOUR)

    levels = list(
        Notification.objects.filter(shipment=shipment).order_by("pk").values_list("level", "status")
    )
    assert levels == [("will_be_late", "sent"), ("orange", "sent")]


# --- As of T ------------------------------------------------------------------------------------


def test_an_as_of_pass_never_asks_a_model_trained_after_its_moment(lane):
    constant_model(0.9, version=1, trained_at=NOW)  # trained "now": after T
    moment = NOW - 5 * DAY
    shipment = quiet(
        lane,
        shipped_at=moment - 48 * HOUR,
        promised_at=moment + 48 * HOUR,
        last_event_at=None,
        ordered_at=moment - 3 * DAY,
    )
    assert risk.model_as_of(moment) is None

    detect_delays(now=moment, from_events=True)

    # The fallback (no history as of T: no opinion beyond the promise) does not warn.
    assert level_of(shipment) == "none"


def test_an_as_of_pass_asks_the_model_trained_by_its_moment(lane):
    moment = NOW - 5 * DAY
    constant_model(0.9, version=1, trained_at=moment - DAY, active=False)
    shipment = quiet(
        lane,
        shipped_at=moment - 48 * HOUR,
        promised_at=moment + 48 * HOUR,
        last_event_at=None,
        ordered_at=moment - 3 * DAY,
    )
    factories.TrackingEventFactory(shipment=shipment, occurred_at=moment - HOUR)

    detect_delays(now=moment, from_events=True)

    assert level_of(shipment) == "will_be_late"


def test_an_explicit_scorer_feeds_the_rule_of_an_as_of_pass(lane):
    moment = NOW - 5 * DAY
    near = quiet(lane, shipped_at=moment - 48 * HOUR, promised_at=moment + 48 * HOUR)
    far = quiet(lane, shipped_at=moment - 48 * HOUR, promised_at=moment + 100 * HOUR)
    for shipment in (near, far):
        factories.TrackingEventFactory(shipment=shipment, occurred_at=moment - HOUR)
    asked = []

    def scorer(states, at):
        asked.append(at)
        return [0.99 for _ in states]

    detect_delays(now=moment, from_events=True, late_scorer=scorer)

    assert asked == [moment]
    assert (level_of(near), level_of(far)) == ("will_be_late", "none")


def test_the_new_date_a_warned_customer_hears_about_is_the_late_estimate(lane):
    """A customer warned early was told the late estimate: when it moves by a day the refresh
    queues a new-date notice; the plain prediction moving does not."""
    from shipments.eta import refresh_predicted_etas

    delivered_history(lane)
    constant_model(0.7)
    shipment = quiet(lane, shipped_at=NOW - 4 * DAY, promised_at=NOW + 2 * DAY)
    detect_delays(now=NOW)
    refresh_predicted_etas(now=NOW)
    shipment.refresh_from_db()
    told = shipment.late_eta

    # Only the plain prediction is off by days: nothing new to tell.
    Shipment.objects.filter(pk=shipment.pk).update(predicted_eta=NOW + 30 * DAY)
    refresh_predicted_etas(now=NOW)
    assert not Notification.objects.filter(shipment=shipment, kind=NoticeKind.RECOVERY).exists()

    # The told date is two days off what the refresh computes: the customer hears the new one.
    Shipment.objects.filter(pk=shipment.pk).update(late_eta=told - 2 * DAY)
    refresh_predicted_etas(now=NOW)
    shipment.refresh_from_db()
    assert shipment.late_eta == told
    assert Notification.objects.filter(shipment=shipment, kind=NoticeKind.RECOVERY).count() == 1
