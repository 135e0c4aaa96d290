"""Demo remedies and outbox: compensation offers with approvals, surveys, notifications."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

from compensation.models import MONEY_KINDS, ApprovalRequest, CompensationOffer
from customers.models import Customer
from demo import texts
from demo.common import offer_incident
from demo.issuance_data import DemoIssuance
from demo.shipment_data import CURRENCY_RATE, Built
from demo.ticket_data import MINUTE, CaseworkBuilder, Story, first_name, local_date
from notifications import reasons
from notifications.models import Notification
from notifications.rendering import SURVEY_FRAGMENT
from notifications.services import survey_delay
from portal.links import redacted_url
from shipments.models import Incident, Shipment
from tickets.models import SatisfactionSurvey, SurveyReason

H = dt.timedelta(hours=1)
CENT = Decimal("0.01")


def eur_rate(currency: str) -> Decimal:
    return Decimal(str(CURRENCY_RATE.get(currency, 1)))


def days_late(shipment: Shipment | None, now: dt.datetime) -> float:
    """How late a parcel is (or was at delivery), in days; 0 when on time."""
    if shipment is None:
        return 0.0
    end = shipment.delivered_at or max(shipment.predicted_eta or now, now)
    return max(0.0, (end - shipment.promised_at).total_seconds() / 86400)


class StoryRemedies:
    """The remedy chapters of a ticket story, as ticket_data's ``CaseworkBuilder`` asks for them
    (its ``Remedies``): builder.py hands one in."""

    def delay_notices(self, story: Story) -> None:
        NoticeWriter(story.b).delay_notices(story)

    def offer(self, story: Story) -> None:
        OfferStory(story).tell()

    def survey(self, story: Story) -> None:
        SurveyStory(story).tell()


class OfferStory:
    """A remedy that fits the cause and the customer, through approval when above authority.

    The remedies come from the first compensation policy that matches (cause, days late, order
    value, tier), as the compensation app would choose them; without a matching policy, a
    small gesture that fits the region (a voucher, or points and a gift in Asia).
    """

    def __init__(self, story: Story):
        self.s = story
        self.rng = story.rng
        self.users = story.b.users
        self.issuance = DemoIssuance(
            story.b.out.issued, story.rng, now=story.now, senior=self.users["agent"]
        )

    def policy(self):
        s = self.s
        shipment = s.shipment
        cause = shipment.delay_cause if shipment else ""
        late = days_late(shipment, s.now)
        value_eur = shipment.order_value / eur_rate(shipment.currency) if shipment else Decimal(0)
        for policy in s.b.compensation_policies:
            if policy.cause and policy.cause != cause:
                continue
            if policy.min_days_late is not None and late < policy.min_days_late:
                continue
            if policy.min_order_value is not None and value_eur < policy.min_order_value:
                continue
            if policy.customer_tiers and s.customer.tier not in policy.customer_tiers:
                continue
            return policy
        return None

    def remedies(self, policy) -> list[tuple[str, dict, int]]:
        """(kind, money/percent/points values, choice group) for each remedy of the offer."""
        s = self.s
        shipment = s.shipment
        currency = shipment.currency if shipment else s.customer.currency
        value = shipment.order_value if shipment else Decimal("40.00")
        rate = eur_rate(currency)
        if policy is None:
            vip = s.customer.tier == "vip"
            if s.customer.region == "asia":
                return [("gift", {}, 0), ("loyalty_points", {"points": 1000 if vip else 500}, 0)]
            return [("coupon", {"amount": (Decimal(10 if vip else 5) * rate).quantize(CENT)}, 0)]
        remedies = []
        for row in policy.remedies.all():
            values: dict = {}
            if row.kind in ("full_refund",):
                values["amount"] = value
            elif row.kind == "partial_refund":
                percent = row.percent or Decimal("30")
                values.update(percent=percent, amount=(value * percent / 100).quantize(CENT))
            elif row.amount is not None:
                values["amount"] = (row.amount * rate).quantize(CENT)
            elif row.kind in MONEY_KINDS:
                values["amount"] = (Decimal(10) * rate).quantize(CENT)
            if row.percent is not None and "percent" not in values:
                values["percent"] = row.percent
            if row.points is not None:
                values["points"] = row.points
            remedies.append((row.kind, values, row.choice_group))
        return remedies

    def needs_approval(self, values: dict, currency: str) -> bool:
        max_amount, max_percent = self.s.b.agent_limit
        amount = values.get("amount")
        percent = values.get("percent")
        return (amount is not None and amount / eur_rate(currency) > max_amount) or (
            percent is not None and "amount" not in values and percent > max_percent
        )

    def tell(self) -> None:
        s = self.s
        rng = self.rng
        shipment = s.shipment
        currency = shipment.currency if shipment else s.customer.currency
        policy = self.policy()
        remedies = self.remedies(policy)
        if not remedies:
            return
        target = s.case.status
        if target in ("solved", "closed"):
            final = rng.weighted({"issued": 8, "declined": 1, "cancelled": 0.5})
        else:
            final = rng.weighted(
                {
                    "proposed": 1.5,
                    "pending_approval": 2.5,
                    "offered": 2,
                    "accepted": 1,
                    "rejected": 0.6,
                }
            )
        agents = (self.users["agent"], self.users["agent2"])
        # The requester is an agent; the supervisor decides and never approves their own.
        requester = s.assignee if s.assignee in agents else self.users["agent"]
        supervisor = self.users["supervisor"]
        groups = {group: rng.uuid4() for _kind, _values, group in remedies if group}
        chosen = {}
        for kind, _values, group in remedies:
            chosen.setdefault(group, kind)
        proposed_at = s.step(0.3, 8)
        words = []
        for kind, values, group in remedies:
            status = final
            approval_needed = self.needs_approval(values, currency)
            if status in ("pending_approval", "rejected") and not approval_needed:
                status = "offered"
            if group and chosen[group] != kind and status in ("accepted", "issued"):
                status = "declined"
            system = status == "proposed" and rng.chance(0.6)
            offer = CompensationOffer(
                public_id=rng.uuid4(),
                ticket=s.ticket,
                customer=s.customer,
                incident=offer_incident(s.ticket),
                policy=policy,
                kind=kind,
                status=status,
                currency=currency,
                choice_group=groups.get(group),
                reason=self._reason(policy, kind),
                requested_by=None if system else requester,
                created_at=proposed_at,
                updated_at=proposed_at,
                **values,
            )
            reference = {"offer": str(offer.public_id), "kind": kind}
            s.event(
                "compensation_proposed",
                proposed_at,
                actor=offer.requested_by,
                public=False,
                **reference,
            )
            at = proposed_at
            if approval_needed and status not in ("proposed", "cancelled"):
                approval = ApprovalRequest(
                    offer=offer, requested_by=requester, requested_at=at, note=offer.reason
                )
                if status == "pending_approval":
                    approval.status = "pending"
                else:
                    at = min(at + rng.hours(0.3, 6), at + (s.limit - at) / 3)
                    approval.decided_by = supervisor
                    approval.decided_at = at
                    if status == "rejected":
                        approval.status = "rejected"
                        approval.note = rng.choice(texts.REJECTION_NOTES)
                        s.event(
                            "compensation_rejected", at, actor=supervisor, public=False, **reference
                        )
                    else:
                        approval.status = "approved"
                        offer.approved_by = supervisor
                        offer.approved_at = at
                        s.event(
                            "compensation_approved", at, actor=supervisor, public=False, **reference
                        )
                s.approvals.append(approval)
            if status in ("offered", "accepted", "declined", "issued"):
                s.event("compensation_offered", at, actor=offer.requested_by, **reference)
                words.append(self._words(kind, values, currency))
            if status in ("accepted", "issued"):
                at = at + (s.limit - at) / 4
                s.event("compensation_accepted", at, **reference)
            if status == "issued":
                at = at + (s.limit - at) / 4
                issued = self.issuance.issue(offer, at=at)
                if issued is None:
                    # Nothing left to refund on the order: accepted, never paid twice.
                    offer.status = "accepted"
                else:
                    offer.issued_at = at
                    offer.issued_reference = issued
                    s.event("compensation_issued", at, actor=offer.requested_by, **reference)
            offer.updated_at = at
            s.offers.append(offer)
            s.t = max(s.t, at.replace(second=0, microsecond=0))
        if words:
            alternatives = any(group for _kind, _values, group in remedies)
            joiner = "、" if s.language == texts.ZH else " or " if alternatives else " and "
            remedy = joiner.join(dict.fromkeys(words))
            body = texts.AGENT_UPDATE[s.language][1].format(**s.values(remedy=remedy))
            s.agent_says(body, s.step(0.1, 1))

    def _reason(self, policy, kind: str) -> str:
        label = policy.name if policy is not None else "Goodwill gesture"
        return f"{label}: {kind.replace('_', ' ')}."

    def _words(self, kind: str, values: dict, currency: str) -> str:
        template = texts.REMEDY_TEXT[self.s.language][kind]
        percent = values.get("percent")
        return template.format(
            amount=values.get("amount", ""),
            currency=currency,
            percent=int(percent) if percent else "",
            points=values.get("points", ""),
        )


# Why a customer who rated 1 or 2 was unhappy: mostly the late parcel itself.
LOW_RATING_REASONS = {
    SurveyReason.LATE: 6,
    SurveyReason.NO_INFORMATION: 2,
    SurveyReason.AGENT_UNHELPFUL: 1,
    SurveyReason.OTHER: 0.5,
}
# Only a customer who was offered a remedy finds it unfair.
UNFAIR_REMEDY_WEIGHT = 1.5


class SurveyStory:
    """After resolution: most customers get a survey (SURVEY_DELAY_HOURS after it, as the
    outbox sends it), most of them answer; late ones rate lower, and say why when they rate 1
    or 2. The survey counts on the scorecard of the agent who had the ticket."""

    def __init__(self, story: Story):
        self.s = story
        self.rng = story.rng

    def tell(self) -> None:
        s = self.s
        rng = self.rng
        ticket = s.ticket
        if not rng.chance(0.65):
            return
        sent_at = ticket.solved_at + survey_delay() + rng.minutes(1, 30)
        if sent_at > s.now:
            return
        survey = SatisfactionSurvey(
            ticket=ticket,
            resolved_at=ticket.solved_at,
            agent=ticket.assignee,
            sent_at=sent_at,
            created_at=ticket.solved_at,
            updated_at=sent_at,
        )
        # The outbox's key is `survey:<survey id>`, known once the survey is saved: until then
        # the ticket's id holds its place (builder.py names the survey before the notices go in).
        note = NoticeWriter(s.b).simple(s, "survey", f"survey:{ticket.public_id}", sent_at)
        if note is not None:
            s.b.out.survey_notices.append((note, survey))
        answer_at = (sent_at + rng.hours(0.3, 48)).replace(second=0, microsecond=0)
        if answer_at <= s.now and rng.chance(0.7):
            late = days_late(s.shipment, ticket.solved_at) if s.shipment is not None else 0.0
            if s.shipment is not None and s.shipment.delay_detected_at is None:
                late = 0.0
            if late > 5 or ticket.category == "lost":
                weights = {1: 3, 2: 3, 3: 2, 4: 1, 5: 0.5}
            elif late > 0:
                weights = {2: 1, 3: 2, 4: 3, 5: 2}
            else:
                weights = {3: 1, 4: 3, 5: 5}
            rating = rng.weighted(weights)
            survey.rating = rating
            survey.answered_at = answer_at
            survey.updated_at = answer_at
            if rating <= 2:
                reasons = dict(LOW_RATING_REASONS)
                if s.offers:
                    reasons[SurveyReason.REMEDY_UNFAIR] = UNFAIR_REMEDY_WEIGHT
                survey.reason = rng.weighted(reasons).value
            if rng.chance(0.6):
                mood = "good" if rating >= 4 else "mixed" if rating == 3 else "bad"
                survey.comment = rng.choice(texts.SURVEY_COMMENTS[s.language][mood])
            s.event(
                "survey_answered",
                answer_at,
                public=False,
                rating=rating,
                reason=survey.reason,
                changed=False,
            )
        s.surveys.append(survey)


class NoticeWriter:
    """Outbox rows as the dispatcher would have left them: sent, delivered, queued or suppressed."""

    def __init__(self, builder: CaseworkBuilder):
        self.b = builder
        self.rng = builder.rng
        self.now = builder.now

    @staticmethod
    def channel_for(customer: Customer) -> str | None:
        """The preferred channel if usable, else the first usable one (phone is for agents)."""
        usable = [
            channel
            for channel in ("email", "sms", "push")
            if not customer.is_opted_out(channel) and (channel != "email" or customer.email)
        ]
        if customer.preferred_channel in usable:
            return customer.preferred_channel
        return usable[0] if usable else None

    @staticmethod
    def after_quiet_hours(customer: Customer, at: dt.datetime) -> dt.datetime:
        start, end = customer.quiet_hours_start, customer.quiet_hours_end
        if start is None or end is None:
            return at
        zone = zoneinfo.ZoneInfo(customer.time_zone)
        local = at.astimezone(zone)
        clock = local.time()
        quiet = (start <= clock or clock < end) if start > end else (start <= clock < end)
        if not quiet:
            return at
        day = local.date() if clock < end else local.date() + dt.timedelta(days=1)
        return dt.datetime.combine(day, end, tzinfo=zone).astimezone(dt.UTC)

    def write(
        self,
        *,
        customer: Customer,
        kind: str,
        key: str,
        at: dt.datetime,
        subject: str,
        body: str,
        context: dict,
        ticket=None,
        shipment=None,
        incident=None,
    ) -> Notification | None:
        if self.b.unique_key(key) is None:
            return None  # never the same notice twice
        rng = self.rng
        at = min(at, self.now - MINUTE).replace(second=0, microsecond=0)
        channel = self.channel_for(customer)
        note = Notification(
            public_id=rng.uuid4(),
            customer=customer,
            ticket=ticket,
            shipment=shipment,
            incident=incident,
            kind=kind,
            channel=channel or customer.preferred_channel,
            language=customer.language,
            level=context.get("level", ""),
            dedupe_key=key,
            body=body,
            context=context,
            not_before=at,
            created_at=at,
            updated_at=at,
        )
        if channel is None:
            note.status = "suppressed"
            why = [
                reasons.Part(
                    reasons.OPTED_OUT if customer.is_opted_out(name) else reasons.NO_ADDRESS,
                    {"channel": name},
                )
                for name in ("email", "sms", "push")
            ]
            note.suppressed_reason = reasons.render_english(why)
            note.suppressed_reason_parts = reasons.to_json(why)
            note.recipient = customer.email or customer.phone
        else:
            note.recipient = {
                "email": customer.email,
                "sms": customer.phone,
                "push": f"app:{customer.public_id}",
            }[channel]
            note.subject = subject if channel == "email" else ""
            send_at = self.after_quiet_hours(customer, at)
            note.not_before = send_at
            if send_at > self.now:
                note.status = "pending"  # waiting for the end of the customer's quiet hours
                note.next_attempt_at = send_at
            else:
                note.status = "delivered" if channel != "email" and rng.chance(0.6) else "sent"
                note.attempts = 1
                note.claimed_at = send_at
                note.claimed_by = "worker@demo"
                note.sent_at = min(send_at + rng.minutes(0, 3), self.now)
                note.provider_message_id = {
                    "email": f"<{rng.token(12)}@mail.delaydesk.example>",
                    "sms": f"SM{rng.getrandbits(64):016x}",
                    "push": f"push-{rng.token(9)}",
                }[channel]
                if note.status == "delivered":
                    note.delivered_at = min(note.sent_at + rng.minutes(0, 5), self.now)
                note.updated_at = note.delivered_at or note.sent_at
        self.b.out.notifications.append(note)
        return note

    @staticmethod
    def link(kind: str = "") -> str:
        """The progress link as the outbox row keeps it: redacted (the customer got the link
        itself, with its token; no row holds one). A survey links to the page's survey."""
        return redacted_url() + (SURVEY_FRAGMENT if kind == "survey" else "")

    def delay_notices(self, story: Story) -> None:
        """A notice per delay level reached (dedupe key per level), then one on delivery."""
        shipment = story.shipment
        for level, changed_at in story.case.built.levels:
            if changed_at < story.case.created_at - H:
                continue
            values = story.values()
            subject, body = texts.NOTICE["delay_notice"][story.language]
            at = max(changed_at, story.case.created_at) + self.rng.minutes(2, 20)
            note = self.write(
                customer=story.customer,
                kind="follow_up" if story.notices else "delay_notice",
                key=f"delay:{shipment.public_id}:{level}",
                at=at,
                subject=subject.format(**values),
                body=body.format(link=self.link(), **values),
                context={
                    "customer_name": values["name"],
                    "order_number": values["order"],
                    "tracking_number": values["tracking"],
                    "new_eta": values["eta"],
                    "delay_reason": values["cause"],
                    "level": level,
                },
                ticket=story.ticket,
                shipment=shipment,
            )
            self._record(story, note)
        if shipment.status == "delivered" and shipment.delivered_at < self.now:
            note = self.simple(
                story,
                "delivered",
                f"delivered:{shipment.public_id}",
                shipment.delivered_at + self.rng.minutes(2, 30),
            )
            self._record(story, note)

    def _record(self, story: Story, note: Notification | None) -> None:
        """A sent notice on the ticket's timeline. Notices are no agent replies: they meet no SLA
        clock and set no first response (only an agent's public reply does)."""
        if note is None or note.status not in ("sent", "delivered"):
            return
        story.notices.append(note.sent_at)
        story.event("notification_sent", note.sent_at, kind=note.kind, channel=note.channel)

    def simple(self, story: Story, kind: str, key: str, at: dt.datetime) -> Notification | None:
        values = story.values()
        subject, body = texts.NOTICE[kind][story.language]
        return self.write(
            customer=story.customer,
            kind=kind,
            key=key,
            at=at,
            subject=subject.format(**values),
            body=body.format(link=self.link(kind), **values),
            context={"customer_name": values["name"], "order_number": values["order"]},
            ticket=story.ticket,
            shipment=story.shipment,
        )

    def forecast_notices(self, items: list[Built]) -> None:
        """The delay notice of each parcel the model warns about ("will be late"), as
        detection queued it with the level change: no ticket, so the carrier's tracking page
        is the link, and the estimate is the one given a missed promise."""
        for item in items:
            shipment = item.shipment
            if shipment.delay_level != "will_be_late":
                continue
            customer = shipment.customer
            language = customer.language
            eta = local_date(shipment.late_eta, customer.time_zone, language)
            values = {"name": first_name(customer), "order": shipment.order_number, "eta": eta}
            link = shipment.carrier.tracking_url_template.format(
                tracking_number=shipment.tracking_number
            )
            subject, body = texts.NOTICE["will_be_late"][language]
            self.write(
                customer=customer,
                kind="delay_notice",
                key=f"delay:{shipment.public_id}:will_be_late",
                at=shipment.delay_detected_at + self.rng.minutes(1, 10),
                subject=subject.format(**values),
                body=body.format(link=link, **values),
                context={
                    "customer_name": values["name"],
                    "order_number": shipment.order_number,
                    "tracking_number": shipment.tracking_number,
                    "new_eta": eta,
                    "delay_reason": texts.FORECAST_REASON[language],
                    "level": "will_be_late",
                },
                shipment=shipment,
            )

    def incident_notices(
        self, incident: Incident, shipments: list[Shipment], tickets_by_shipment: dict
    ) -> None:
        """Every affected customer hears the same explanation, once."""
        for shipment in shipments:
            customer = shipment.customer
            language = customer.language
            at = max(incident.created_at, shipment.delay_detected_at) + self.rng.minutes(5, 90)
            explanation = (
                incident.public_explanation_zh_hans
                if language == texts.ZH
                else incident.public_explanation + " "
            )
            subject, body = texts.NOTICE["incident_notice"][language]
            ticket = tickets_by_shipment.get(shipment.public_id)
            if ticket is not None:
                link = self.link()
            else:
                link = shipment.carrier.tracking_url_template.format(
                    tracking_number=shipment.tracking_number
                )
            values = {"name": first_name(customer), "order": shipment.order_number}
            self.write(
                customer=customer,
                kind="incident_notice",
                key=f"incident:{incident.public_id}:{shipment.public_id}",
                at=at,
                subject=subject.format(**values),
                body=body.format(explanation=explanation, link=link, **values),
                context={
                    "customer_name": values["name"],
                    "order_number": shipment.order_number,
                    "incident": str(incident.public_id),
                },
                ticket=ticket,
                shipment=shipment,
                incident=incident,
            )
