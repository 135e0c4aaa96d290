"""Demo customers: every tier, English and Chinese speakers, three regions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from customers.models import Customer
from demo import texts
from demo.common import DemoRandom
from demo.network import DESTINATIONS

# Marks every customer the seeder owns; --reset and --if-empty look for it.
DEMO_REF_PREFIX = "DEMO-C"

TIER_WEIGHTS = {"vip": 5, "frequent_complainer": 7, "regular": 55, "new": 33}
# How often a tier orders, relative to a new customer.
ORDER_WEIGHT = {"vip": 5, "frequent_complainer": 4, "regular": 2, "new": 1}
CHANNEL_WEIGHTS = {
    "asia": {"push": 4, "sms": 3, "email": 2, "phone": 1},
    "europe": {"email": 6, "sms": 2, "push": 2, "phone": 0.5},
    "north_america": {"email": 5, "sms": 3, "push": 2, "phone": 1},
}
QUIET_HOURS = [(dt.time(22), dt.time(7)), (dt.time(21), dt.time(8)), (dt.time(23), dt.time(6, 30))]
PHONE_LENGTH = {"DE": 12, "FR": 11, "NL": 11, "US": 11, "CN": 13}  # digits after the "+"


def _western_name(rng: DemoRandom, country: str) -> tuple[str, str]:
    names = country if country in texts.FIRST_NAMES else "US"
    first = rng.choice(texts.FIRST_NAMES[names])
    last = rng.choice(texts.LAST_NAMES[names])
    local = f"{first}.{last}".translate(texts.ASCII_FOLD).lower()
    return f"{first} {last}", local


def _chinese_name(rng: DemoRandom) -> tuple[str, str]:
    surname, surname_py = rng.choice(texts.CHINESE_SURNAMES)
    given, given_py = rng.choice(texts.CHINESE_GIVEN_NAMES)
    return f"{surname}{given}", f"{given_py}.{surname_py}"


def build_customers(
    rng: DemoRandom, count: int, destination_weights: dict[str, float]
) -> list[Customer]:
    """Unsaved customers; ``lifetime_*`` and ``created_at`` are finished by ``finish_customers``."""
    tiers = rng.spread(TIER_WEIGHTS, count)
    homes = rng.spread(destination_weights, count)
    customers = []
    for index, (tier, home) in enumerate(zip(tiers, homes, strict=True), start=1):
        country, zone, region, currency, prefixes = DESTINATIONS[home]
        chinese_speaker = rng.chance(0.92 if country == "CN" else 0.12)
        if chinese_speaker:
            name, local = _chinese_name(rng)
        else:
            name, local = _western_name(rng, country)
        channel = rng.weighted(CHANNEL_WEIGHTS[region])
        prefix = rng.choice(prefixes)
        phone = prefix + rng.digits(PHONE_LENGTH[country] - (len(prefix) - 1))
        email = f"{local}{rng.randint(1, 99)}@{rng.choice(texts.EMAIL_DOMAINS)}"
        if channel != "email" and rng.chance(0.04):
            email = ""  # reached by phone or app only
        opt_outs = {
            other: rng.chance(0.08)
            for other in ("email", "sms", "push", "phone")
            if other != channel
        }
        if not email:
            opt_outs["email"] = True
        quiet = rng.choice(QUIET_HOURS) if rng.chance(0.2) else (None, None)
        tolerance = None
        if rng.chance(0.25):
            tolerance = rng.choice([12, 24] if tier == "vip" else [24, 48, 72])
        customer = Customer(
            public_id=rng.uuid4(),
            external_ref=f"{DEMO_REF_PREFIX}{index:05d}",
            name=name,
            email=email,
            phone=phone,
            tier=tier,
            language=texts.ZH if chinese_speaker else texts.EN,
            region=region,
            country=country,
            time_zone=zone,
            preferred_channel=channel,
            opt_out_email=opt_outs.get("email", False),
            opt_out_sms=opt_outs.get("sms", False),
            opt_out_push=opt_outs.get("push", False),
            opt_out_phone=opt_outs.get("phone", False),
            quiet_hours_start=quiet[0],
            quiet_hours_end=quiet[1],
            delay_tolerance_hours=tolerance,
            currency=currency,
        )
        customer._demo_home = home  # type: ignore[attr-defined]
        customers.append(customer)
    return customers


class CustomerPicker:
    """Chooses who ordered a parcel to a region: loyal tiers order more, new ones once or twice."""

    def __init__(self, rng: DemoRandom, customers: list[Customer]):
        self.rng = rng
        self.by_home: dict[str, list[Customer]] = {}
        self.orders: dict[str, int] = {}
        for customer in customers:
            home = _home_of(customer)
            self.by_home.setdefault(home, []).append(customer)
            self.orders[customer.external_ref] = 0

    def pick(self, destination: str) -> Customer:
        pool = self.by_home.get(destination) or self.by_home[next(iter(self.by_home))]
        weights = [ORDER_WEIGHT[c.tier] for c in pool]
        for _attempt in range(6):
            customer = self.rng.choices(pool, weights=weights)[0]
            if customer.tier != "new" or self.orders[customer.external_ref] < 2:
                break
        self.orders[customer.external_ref] += 1
        return customer


def _home_of(customer: Customer) -> str:
    return customer._demo_home  # type: ignore[attr-defined]


def finish_customers(
    rng: DemoRandom,
    now: dt.datetime,
    customers: list[Customer],
    first_order: dict[str, dt.datetime],
    order_counts: dict[str, int],
    order_values: dict[str, Decimal],
) -> None:
    """Lifetime figures cover the demo orders; the account predates the first of them."""
    history = {"vip": (20, 80), "frequent_complainer": (8, 30), "regular": (3, 15), "new": (0, 0)}
    age_days = {
        "vip": (400, 1500),
        "frequent_complainer": (200, 1000),
        "regular": (60, 900),
        "new": (1, 40),
    }
    for customer in customers:
        ref = customer.external_ref
        low, high = history[customer.tier]
        earlier = rng.randint(low, high)
        average = (
            (order_values.get(ref, Decimal("0")) / order_counts[ref])
            if order_counts.get(ref)
            else Decimal(rng.randint(25, 120))
        )
        customer.lifetime_orders = earlier + order_counts.get(ref, 0)
        customer.lifetime_value = (
            order_values.get(ref, Decimal("0")) + average * earlier
        ).quantize(Decimal("0.01"))
        created = now - dt.timedelta(
            days=rng.randint(*age_days[customer.tier]), minutes=rng.randint(0, 1439)
        )
        if ref in first_order:
            created = min(created, first_order[ref] - rng.hours(1, 72))
        customer.created_at = created
        customer.updated_at = max(created, first_order.get(ref, created))
