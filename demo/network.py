"""The demo's transport network: carriers with their status codes, places, and lanes.

Configuration rather than history, upserted by natural key like the rest of reference.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from demo import texts
from demo.common import DemoRandom, stamps
from shipments.models import Carrier, CarrierStatusMapping, Lane

# Event role -> (Delaydesk status, cause). Every carrier maps its own code for each role.
ROLE_STATUS = {
    "label": ("info_received", "none"),
    "pickup": ("in_transit", "none"),
    "arrive": ("in_transit", "none"),
    "depart": ("in_transit", "none"),
    "customs_in": ("in_transit", "none"),
    "customs_ok": ("in_transit", "none"),
    "out": ("out_for_delivery", "none"),
    "delivered": ("delivered", "none"),
    "attempt": ("failed_attempt", "none"),
    "pickup_point": ("available_for_pickup", "none"),
    "returned": ("returned", "none"),
    "customs_hold": ("exception", "customs_hold"),
    "congestion": ("in_transit", "congestion"),
    "capacity": ("in_transit", "capacity"),
    "weather": ("in_transit", "weather"),
    "sorting": ("in_transit", "sorting"),
    "address_issue": ("exception", "address_issue"),
    "carrier_outage": ("in_transit", "carrier_outage"),
    "tracking_lost": ("exception", "tracking_lost"),
    "damage": ("exception", "damage"),
    "loss": ("exception", "loss"),
}


ROLES = tuple(ROLE_STATUS)


@dataclass(frozen=True)
class CarrierSpec:
    code: str
    name: str
    language: str  # the language of the carrier's event descriptions
    tracking_url: str
    codes: str  # the carrier's code for each of ROLES, in the same order, space-separated
    webhook_secret: str | None = None  # None: derived from the seed

    def code_for(self, role: str) -> str:
        return self.codes.split()[ROLES.index(role)]


CARRIERS = (
    CarrierSpec(
        "DEMO",
        "Demo Express",
        texts.EN,
        "https://tracking.example.com/demo/{tracking_number}",
        "IR PU AR DP CI CR OD DL FA PP RS CH PC CP WX MS AD SY NT DM LS",
        webhook_secret="demo-secret",
    ),
    CarrierSpec(
        "SF",
        "SF Express",
        texts.ZH,
        "https://www.sf-express.com/chn/en/waybill/waybill-detail/{tracking_number}",
        "10 50 30 36 607 608 44 80 70 125 99 609 631 632 633 634 33 635 636 648 649",
    ),
    CarrierSpec(
        "DHL",
        "DHL",
        texts.EN,
        "https://www.dhl.com/en/home/tracking.html?tracking-id={tracking_number}",
        "SD PU AF DF CC CR WC OK NH SA RT CD PD HV WD MS BA SO TL DM LO",
    ),
    CarrierSpec(
        "CAINIAO",
        "Cainiao",
        texts.ZH,
        "https://global.cainiao.com/detail.htm?mailNoList={tracking_number}",
        "ORDER_RECEIVED GTMS_ACCEPT SC_INBOUND SC_OUTBOUND CC_EX_START CC_IM_SUCCESS "
        "GTMS_DELIVERING GTMS_SIGNED GTMS_DELIVER_FAIL GTMS_STA_INBOUND RETURN_SIGNED "
        "CC_IM_HOLD LH_PORT_DELAY SC_OVERLOAD LH_WEATHER_DELAY SC_MIS_SORT GTMS_ADDR_ERROR "
        "SYS_DELAY TRACE_LOST PKG_DAMAGED PKG_LOST",
    ),
    CarrierSpec(
        "POSTNL",
        "PostNL",
        texts.EN,
        "https://jouw.postnl.nl/track-and-trace/{tracking_number}",
        "A01 B01 J01 J05 C01 C02 J40 I01 H01 I09 K01 C04 J21 J22 J23 J30 H10 X01 X02 P01 P02",
    ),
)


CARRIER_SPECS = {spec.code: spec for spec in CARRIERS}


def mapping_description(role: str) -> str:
    text = texts.EVENT_TEXT[texts.EN][role]
    for joint in (" at {place}", " from {place}", " in {place}", " {place}"):
        text = text.replace(joint, "")
    return text


def ensure_carriers(rng: DemoRandom, now: dt.datetime) -> dict[str, Carrier]:
    carriers = {}
    for spec in CARRIERS:
        secret = spec.webhook_secret or rng.token(32)
        carrier, _created = Carrier.objects.update_or_create(
            code=spec.code,
            defaults={
                "name": spec.name,
                "webhook_secret": secret,
                "tracking_url_template": spec.tracking_url,
                "is_active": True,
                **stamps(now - dt.timedelta(days=400)),
            },
        )
        carrier.status_mappings.all().delete()
        CarrierStatusMapping.objects.bulk_create(
            CarrierStatusMapping(
                carrier=carrier,
                carrier_code=spec.code_for(role),
                status=status,
                cause=cause,
                description=mapping_description(role),
            )
            for role, (status, cause) in ROLE_STATUS.items()
        )
        carriers[spec.code] = carrier
    return carriers


# key: (English name, Chinese name)
PLACES = {
    "SZX": ("Shenzhen, CN", "深圳"),
    "SZX_HUB": ("Shenzhen Bao'an Hub, CN", "深圳宝安集散中心"),
    "CAN": ("Guangzhou Baiyun Airport, CN", "广州白云国际机场"),
    "HKG": ("Hong Kong International Airport, HK", "香港国际机场"),
    "NGB": ("Ningbo, CN", "宁波"),
    "NGB_HUB": ("Ningbo Export Hub, CN", "宁波出口仓"),
    "NGB_PORT": ("Port of Ningbo-Zhoushan, CN", "宁波舟山港"),
    "HGH": ("Hangzhou Xiaoshan Airport, CN", "杭州萧山国际机场"),
    "HGH_HUB": ("Hangzhou Transit Hub, CN", "杭州转运中心"),
    "SHA": ("Shanghai, CN", "上海"),
    "PVG": ("Shanghai Pudong Airport, CN", "上海浦东国际机场"),
    "SHA_HUB": ("Shanghai Hongqiao Hub, CN", "上海虹桥中转场"),
    "SHA_DEPOT": ("Shanghai Pudong Delivery Station, CN", "上海浦东营业部"),
    "WUH_HUB": ("Wuhan Transit Hub, CN", "武汉转运中心"),
    "PEK_HUB": ("Beijing Shunyi Hub, CN", "北京顺义集散中心"),
    "PEK_DEPOT": ("Beijing Chaoyang Delivery Station, CN", "北京朝阳营业部"),
    "PEK": ("Beijing, CN", "北京"),
    "LEJ": ("Leipzig/Halle Air Hub, DE", "莱比锡/哈雷航空枢纽"),
    "FRA": ("Frankfurt Airport customs, DE", "法兰克福机场海关"),
    "BER_HUB": ("Berlin Parcel Centre, DE", "柏林包裹中心"),
    "BER_DEPOT": ("Berlin-Mitte Delivery Depot, DE", "柏林米特派送站"),
    "BER": ("Berlin, DE", "柏林"),
    "MUC_HUB": ("Munich Parcel Centre, DE", "慕尼黑包裹中心"),
    "MUC": ("Munich, DE", "慕尼黑"),
    "CGN_DEPOT": ("Cologne Delivery Depot, DE", "科隆派送站"),
    "CGN": ("Cologne, DE", "科隆"),
    "CDG": ("Paris-Charles de Gaulle customs, FR", "巴黎戴高乐机场海关"),
    "SXB_HUB": ("Strasbourg Hub, FR", "斯特拉斯堡转运中心"),
    "PAR_DEPOT": ("Paris Nord Sorting Centre, FR", "巴黎北分拣中心"),
    "PAR": ("Paris, FR", "巴黎"),
    "RTM": ("Port of Rotterdam (Maasvlakte), NL", "鹿特丹港"),
    "AMS": ("Amsterdam, NL", "阿姆斯特丹"),
    "AMS_HUB": ("Amsterdam Sorting Centre, NL", "阿姆斯特丹分拣中心"),
    "NWG_HUB": ("Nieuwegein Cross-border Hub, NL", "尼沃海恩跨境中心"),
    "CVG": ("Cincinnati Air Hub, US", "辛辛那提航空枢纽"),
    "JFK": ("New York JFK Gateway, US", "纽约肯尼迪机场口岸"),
    "EWR_DEPOT": ("Newark Delivery Station, US", "纽瓦克派送站"),
    "NYC": ("New York, US", "纽约"),
    "LAX": ("Los Angeles Airport customs, US", "洛杉矶机场海关"),
    "ONT_HUB": ("Ontario CA Hub, US", "安大略（加州）转运中心"),
    "ORD_HUB": ("Chicago Hub, US", "芝加哥转运中心"),
    "LA": ("Los Angeles, US", "洛杉矶"),
}


@dataclass(frozen=True)
class Stop:
    place: str
    kind: str  # origin, hub, export, port, import, depot, dest
    progress: float  # share of the transit time at which the parcel gets here


@dataclass(frozen=True)
class LaneSpec:
    carrier: str
    origin: str
    destination: str
    service_level: str
    mean_hours: float
    weight: float
    stops: tuple[Stop, ...]
    sea: bool = False
    key: str = field(default="")

    @property
    def international(self) -> bool:
        return self.origin[:2] != self.destination[:2]

    @property
    def promise_hours(self) -> int:
        # Promise whole days with a margin over the mean, as merchants quote "5-8 days".
        days = -(-self.mean_hours * 1.4 // 24)
        return int(days * 24)


def _stops(*items: tuple[str, str, float]) -> tuple[Stop, ...]:
    return tuple(Stop(place, kind, progress) for place, kind, progress in items)


LANES = (
    LaneSpec(
        "SF",
        "CN-GD",
        "DE-BE",
        "express",
        110,
        8,
        _stops(
            ("SZX", "origin", 0),
            ("SZX_HUB", "hub", 0.08),
            ("HKG", "export", 0.25),
            ("LEJ", "import", 0.55),
            ("BER_DEPOT", "depot", 0.9),
            ("BER", "dest", 1),
        ),
    ),
    LaneSpec(
        "DEMO",
        "CN-GD",
        "DE-BE",
        "standard",
        200,
        8,
        _stops(
            ("SZX", "origin", 0),
            ("CAN", "export", 0.2),
            ("FRA", "import", 0.5),
            ("BER_HUB", "hub", 0.8),
            ("BER_DEPOT", "depot", 0.92),
            ("BER", "dest", 1),
        ),
    ),
    LaneSpec(
        "CAINIAO",
        "CN-ZJ",
        "FR-IDF",
        "standard",
        260,
        7,
        _stops(
            ("NGB", "origin", 0),
            ("NGB_HUB", "hub", 0.1),
            ("HGH", "export", 0.3),
            ("CDG", "import", 0.6),
            ("PAR_DEPOT", "depot", 0.9),
            ("PAR", "dest", 1),
        ),
    ),
    LaneSpec(
        "CAINIAO",
        "CN-ZJ",
        "NL-NH",
        "economy",
        720,
        4,
        _stops(
            ("NGB", "origin", 0),
            ("NGB_HUB", "hub", 0.05),
            ("NGB_PORT", "export", 0.12),
            ("RTM", "port", 0.8),
            ("AMS_HUB", "depot", 0.93),
            ("AMS", "dest", 1),
        ),
        sea=True,
    ),
    LaneSpec(
        "CAINIAO",
        "CN-ZJ",
        "DE-NW",
        "economy",
        740,
        4,
        _stops(
            ("NGB", "origin", 0),
            ("NGB_HUB", "hub", 0.05),
            ("NGB_PORT", "export", 0.12),
            ("RTM", "port", 0.78),
            ("CGN_DEPOT", "depot", 0.93),
            ("CGN", "dest", 1),
        ),
        sea=True,
    ),
    LaneSpec(
        "DHL",
        "DE-BE",
        "DE-BY",
        "standard",
        30,
        10,
        _stops(
            ("BER", "origin", 0),
            ("BER_HUB", "hub", 0.2),
            ("MUC_HUB", "hub", 0.65),
            ("MUC", "dest", 1),
        ),
    ),
    LaneSpec(
        "DHL",
        "DE-BY",
        "FR-IDF",
        "standard",
        70,
        5,
        _stops(
            ("MUC", "origin", 0),
            ("MUC_HUB", "hub", 0.15),
            ("SXB_HUB", "hub", 0.5),
            ("PAR_DEPOT", "depot", 0.85),
            ("PAR", "dest", 1),
        ),
    ),
    LaneSpec(
        "DHL",
        "CN-GD",
        "US-NY",
        "express",
        96,
        5,
        _stops(
            ("SZX", "origin", 0),
            ("SZX_HUB", "hub", 0.1),
            ("HKG", "export", 0.25),
            ("CVG", "hub", 0.55),
            ("JFK", "import", 0.7),
            ("NYC", "dest", 1),
        ),
    ),
    LaneSpec(
        "POSTNL",
        "NL-NH",
        "DE-NW",
        "standard",
        40,
        6,
        _stops(
            ("AMS", "origin", 0),
            ("AMS_HUB", "hub", 0.2),
            ("NWG_HUB", "hub", 0.45),
            ("CGN_DEPOT", "depot", 0.85),
            ("CGN", "dest", 1),
        ),
    ),
    LaneSpec(
        "POSTNL",
        "NL-NH",
        "FR-IDF",
        "standard",
        75,
        4,
        _stops(
            ("AMS", "origin", 0),
            ("AMS_HUB", "hub", 0.15),
            ("NWG_HUB", "hub", 0.35),
            ("PAR_DEPOT", "depot", 0.85),
            ("PAR", "dest", 1),
        ),
    ),
    LaneSpec(
        "DEMO",
        "US-CA",
        "US-NY",
        "standard",
        110,
        8,
        _stops(
            ("LA", "origin", 0),
            ("ONT_HUB", "hub", 0.1),
            ("ORD_HUB", "hub", 0.5),
            ("EWR_DEPOT", "depot", 0.88),
            ("NYC", "dest", 1),
        ),
    ),
    LaneSpec(
        "DEMO",
        "US-CA",
        "US-NY",
        "express",
        44,
        4,
        _stops(
            ("LA", "origin", 0),
            ("ONT_HUB", "hub", 0.12),
            ("EWR_DEPOT", "depot", 0.8),
            ("NYC", "dest", 1),
        ),
    ),
    LaneSpec(
        "DEMO",
        "CN-SH",
        "US-CA",
        "economy",
        300,
        4,
        _stops(
            ("SHA", "origin", 0),
            ("PVG", "export", 0.2),
            ("LAX", "import", 0.6),
            ("ONT_HUB", "depot", 0.88),
            ("LA", "dest", 1),
        ),
    ),
    LaneSpec(
        "SF",
        "CN-GD",
        "CN-SH",
        "express",
        28,
        8,
        _stops(
            ("SZX", "origin", 0),
            ("SZX_HUB", "hub", 0.15),
            ("SHA_HUB", "hub", 0.6),
            ("SHA_DEPOT", "depot", 0.85),
            ("SHA", "dest", 1),
        ),
    ),
    LaneSpec(
        "SF",
        "CN-GD",
        "CN-BJ",
        "standard",
        52,
        6,
        _stops(
            ("SZX", "origin", 0),
            ("SZX_HUB", "hub", 0.1),
            ("WUH_HUB", "hub", 0.4),
            ("PEK_HUB", "hub", 0.75),
            ("PEK_DEPOT", "depot", 0.9),
            ("PEK", "dest", 1),
        ),
    ),
    LaneSpec(
        "CAINIAO",
        "CN-ZJ",
        "CN-BJ",
        "economy",
        72,
        5,
        _stops(
            ("NGB", "origin", 0),
            ("HGH_HUB", "hub", 0.2),
            ("PEK_HUB", "hub", 0.7),
            ("PEK_DEPOT", "depot", 0.88),
            ("PEK", "dest", 1),
        ),
    ),
)


# Destination region -> (country, time zone, customer region, currency, phone prefixes)
DESTINATIONS = {
    "DE-BE": ("DE", "Europe/Berlin", "europe", "EUR", ("+4930",)),
    "DE-BY": ("DE", "Europe/Berlin", "europe", "EUR", ("+4989",)),
    "DE-NW": ("DE", "Europe/Berlin", "europe", "EUR", ("+49221", "+49211")),
    "FR-IDF": ("FR", "Europe/Paris", "europe", "EUR", ("+336", "+331")),
    "NL-NH": ("NL", "Europe/Amsterdam", "europe", "EUR", ("+316", "+3120")),
    "US-NY": ("US", "America/New_York", "north_america", "USD", ("+1212", "+1917", "+1646")),
    "US-CA": ("US", "America/Los_Angeles", "north_america", "USD", ("+1213", "+1415")),
    "CN-SH": ("CN", "Asia/Shanghai", "asia", "CNY", ("+86138", "+86139", "+86186")),
    "CN-BJ": ("CN", "Asia/Shanghai", "asia", "CNY", ("+86135", "+86137", "+86188")),
}


def ensure_lanes(carriers: dict[str, Carrier], now: dt.datetime) -> list[tuple[LaneSpec, Lane]]:
    """The demo lanes, statistics cleared (they are recomputed from the generated history)."""
    lanes = []
    for spec in LANES:
        lane, _created = Lane.objects.update_or_create(
            carrier=carriers[spec.carrier],
            origin_region=spec.origin,
            destination_region=spec.destination,
            service_level=spec.service_level,
            defaults={
                "delivered_count": 0,
                "mean_transit_hours": None,
                "p50_transit_hours": None,
                "p90_transit_hours": None,
                "on_time_rate": None,
                "stats_updated_at": None,
                **stamps(now - dt.timedelta(days=400)),
            },
        )
        lanes.append((spec, lane))
    return lanes
