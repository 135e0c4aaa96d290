"""Words for the demo data: names, places, messages, in English and Simplified Chinese.

Kept apart from the generator so the builder reads as logic. Placeholders use ``str.format``
names: {name} {order} {tracking} {eta} {cause} {carrier} {agent} {date} {ref} {remedy}.
"""

from __future__ import annotations

EN = "en"
ZH = "zh-hans"

# --- People ------------------------------------------------------------------------------------

FIRST_NAMES = {
    "DE": [
        "Lukas",
        "Leon",
        "Felix",
        "Jonas",
        "Paul",
        "Maximilian",
        "Hannah",
        "Mia",
        "Emma",
        "Lena",
        "Clara",
        "Sophie",
        "Marie",
        "Anna",
        "Tobias",
        "Katharina",
    ],
    "FR": [
        "Hugo",
        "Louis",
        "Lucas",
        "Gabriel",
        "Jules",
        "Arthur",
        "Léa",
        "Chloé",
        "Camille",
        "Manon",
        "Inès",
        "Juliette",
        "Élise",
        "Théo",
    ],
    "NL": [
        "Daan",
        "Sem",
        "Lars",
        "Bram",
        "Thijs",
        "Ruben",
        "Sanne",
        "Fleur",
        "Julia",
        "Lotte",
        "Eva",
        "Femke",
        "Noor",
        "Jesse",
    ],
    "US": [
        "James",
        "Michael",
        "David",
        "Ryan",
        "Ethan",
        "Tyler",
        "Sarah",
        "Emily",
        "Jessica",
        "Ashley",
        "Megan",
        "Olivia",
        "Grace",
        "Madison",
        "Brandon",
        "Kevin",
    ],
}
LAST_NAMES = {
    "DE": [
        "Müller",
        "Schmidt",
        "Schneider",
        "Fischer",
        "Weber",
        "Meyer",
        "Wagner",
        "Becker",
        "Hoffmann",
        "Schulz",
        "Koch",
        "Richter",
        "Klein",
        "Wolf",
        "Neumann",
        "Braun",
    ],
    "FR": [
        "Martin",
        "Bernard",
        "Dubois",
        "Thomas",
        "Robert",
        "Richard",
        "Petit",
        "Durand",
        "Leroy",
        "Moreau",
        "Simon",
        "Laurent",
        "Lefèvre",
        "Garnier",
    ],
    "NL": [
        "de Jong",
        "Jansen",
        "de Vries",
        "van den Berg",
        "van Dijk",
        "Bakker",
        "Visser",
        "Smit",
        "Meijer",
        "de Boer",
        "Mulder",
        "Bos",
    ],
    "US": [
        "Smith",
        "Johnson",
        "Williams",
        "Brown",
        "Jones",
        "Garcia",
        "Miller",
        "Davis",
        "Rodriguez",
        "Martinez",
        "Wilson",
        "Anderson",
        "Taylor",
        "Moore",
        "Jackson",
        "Lee",
    ],
}
# (hanzi, pinyin) pairs: the name is written in Chinese, the e-mail address in pinyin.
CHINESE_SURNAMES = [
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("林", "lin"),
    ("高", "gao"),
    ("罗", "luo"),
]
CHINESE_GIVEN_NAMES = [
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("洋", "yang"),
    ("艳", "yan"),
    ("杰", "jie"),
    ("涛", "tao"),
    ("秀英", "xiuying"),
    ("晓明", "xiaoming"),
    ("欣怡", "xinyi"),
    ("子涵", "zihan"),
    ("浩然", "haoran"),
    ("雨桐", "yutong"),
    ("梓轩", "zixuan"),
    ("思远", "siyuan"),
    ("佳怡", "jiayi"),
    ("俊杰", "junjie"),
    ("婷婷", "tingting"),
    ("志强", "zhiqiang"),
]
EMAIL_DOMAINS = ["example.com", "example.net", "example.org", "mail.example.com"]

ASCII_FOLD = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "é": "e",
        "è": "e",
        "ê": "e",
        "ë": "e",
        "à": "a",
        "ç": "c",
        "ï": "i",
        "ô": "o",
        "É": "E",
        "Ü": "Ue",
        "Ö": "Oe",
        "Ä": "Ae",
        " ": "",
    }
)

# --- Carrier event descriptions ----------------------------------------------------------------
# Keys are event roles (see reference.CARRIERS); {place} is the stop's name.

EVENT_TEXT = {
    EN: {
        "label": "Shipment information received",
        "pickup": "Picked up at {place}",
        "arrive": "Arrived at {place}",
        "depart": "Departed from {place}",
        "customs_in": "Customs clearance started at {place}",
        "customs_ok": "Released by customs at {place}",
        "out": "Out for delivery from {place}",
        "delivered": "Delivered in {place}",
        "attempt": "Delivery attempt failed: recipient not at home",
        "pickup_point": "Available for pickup at a service point in {place}",
        "returned": "Returned to sender",
        "customs_hold": "Held by customs at {place}: inspection pending",
        "congestion": "Delayed at {place}: port congestion",
        "capacity": "Delayed at {place}: high parcel volumes",
        "weather": "Delayed at {place}: severe weather",
        "sorting": "Missorted at {place}: rerouted to the correct facility",
        "address_issue": "Address incomplete: awaiting recipient information",
        "carrier_outage": "Scan data delayed: carrier system maintenance",
        "tracking_lost": "Tracking information not available: investigation opened",
        "damage": "Parcel damaged at {place}: repacked",
        "loss": "Parcel cannot be located: trace opened",
    },
    ZH: {
        "label": "已收到快件信息",
        "pickup": "快件已在【{place}】揽收",
        "arrive": "快件已到达【{place}】",
        "depart": "快件已从【{place}】发出",
        "customs_in": "快件在【{place}】开始清关",
        "customs_ok": "快件已在【{place}】清关放行",
        "out": "快件已从【{place}】派送中",
        "delivered": "快件已在【{place}】签收",
        "attempt": "派送失败：收件人不在",
        "pickup_point": "快件已到达【{place}】自提点，请及时取件",
        "returned": "快件已退回寄件人",
        "customs_hold": "快件在【{place}】被海关扣留查验",
        "congestion": "【{place}】港口拥堵，快件延误",
        "capacity": "【{place}】快件量激增，快件延误",
        "weather": "受恶劣天气影响，快件在【{place}】延误",
        "sorting": "快件在【{place}】错分，已改派至正确网点",
        "address_issue": "收件地址不详，等待收件人补充信息",
        "carrier_outage": "系统维护，扫描信息延迟上传",
        "tracking_lost": "物流信息暂无更新，已发起查询",
        "damage": "快件在【{place}】外包装破损，已重新包装",
        "loss": "快件暂时无法找到，已发起追踪",
    },
}

# --- Causes in plain words ---------------------------------------------------------------------

CAUSE_PLAIN = {
    EN: {
        "customs_hold": "your parcel is being held for a customs inspection",
        "congestion": "the port is congested (a strike has slowed handling down)",
        "capacity": "the carrier is handling very high volumes in the peak season",
        "weather": "severe weather on the route has slowed transport",
        "sorting": "your parcel was sent to the wrong sorting centre and is being rerouted",
        "address_issue": "the carrier could not confirm the delivery address",
        "carrier_outage": "a system outage at the carrier delayed the scans",
        "tracking_lost": "the carrier's tracking stopped updating",
        "damage": "the parcel was damaged in transit",
        "loss": "the carrier cannot locate the parcel at the moment",
    },
    ZH: {
        "customs_hold": "您的包裹正在接受海关查验",
        "congestion": "港口拥堵（罢工导致作业放缓）",
        "capacity": "旺季快件量激增，承运商运力紧张",
        "weather": "运输途中遭遇恶劣天气",
        "sorting": "包裹被错分到其他分拣中心，正在改派",
        "address_issue": "承运商无法确认收货地址",
        "carrier_outage": "承运商系统故障，扫描信息延迟",
        "tracking_lost": "承运商的物流信息暂停更新",
        "damage": "包裹在运输途中受损",
        "loss": "承运商暂时无法找到包裹",
    },
}
# Why a "will be late" parcel is late: no cause from the carrier, the forecast.
FORECAST_REASON = {
    EN: "our forecast from recent deliveries on the same route",
    ZH: "根据同一线路近期送达情况的预测",
}
CAUSE_SHORT = {
    EN: {
        "customs_hold": "customs inspection",
        "congestion": "port congestion",
        "capacity": "peak-season volumes",
        "weather": "bad weather",
        "sorting": "a sorting error",
        "address_issue": "an address problem",
        "carrier_outage": "a carrier system outage",
        "tracking_lost": "missing tracking updates",
        "damage": "damage in transit",
        "loss": "a missing parcel",
    },
    ZH: {
        "customs_hold": "海关查验",
        "congestion": "港口拥堵",
        "capacity": "旺季爆仓",
        "weather": "恶劣天气",
        "sorting": "分拣错误",
        "address_issue": "地址问题",
        "carrier_outage": "承运商系统故障",
        "tracking_lost": "物流信息中断",
        "damage": "运输破损",
        "loss": "包裹丢失",
    },
}

# --- Ticket subjects ---------------------------------------------------------------------------

PROACTIVE_SUBJECT = {
    EN: "Your order {order} is delayed: {cause}",
    ZH: "您的订单 {order} 出现延误：{cause}",
}
SUBJECTS = {
    EN: {
        "delay": [
            "Where is my parcel?",
            "Order {order} still not here",
            "Tracking has not moved for days",
            "When will order {order} arrive?",
        ],
        "lost": ["Is my parcel lost? Order {order}", "My package seems to be lost"],
        "damaged": ["Parcel arrived damaged", "Broken item in order {order}"],
        "address_change": ["Change delivery address for {order}", "Wrong address on my order"],
        "information": [
            "Delivery time for order {order}?",
            "Can I collect my parcel myself?",
            "Which carrier ships my order?",
        ],
        "other": [
            "Invoice for order {order}",
            "Marked as delivered but not received",
            "Question about import duties",
        ],
    },
    ZH: {
        "delay": [
            "我的包裹在哪里？",
            "订单 {order} 还没到",
            "物流好几天没更新了",
            "订单 {order} 什么时候能送到？",
        ],
        "lost": ["包裹是不是丢了？订单 {order}", "快递好像丢件了"],
        "damaged": ["收到的包裹破损了", "订单 {order} 商品损坏"],
        "address_change": ["修改订单 {order} 的收货地址", "收货地址填错了"],
        "information": ["订单 {order} 大概几天到？", "可以自提吗？", "我的订单用哪家快递？"],
        "other": ["订单 {order} 需要开发票", "显示已签收但我没收到", "关税问题咨询"],
    },
}

# --- Messages ----------------------------------------------------------------------------------

CUSTOMER_FIRST = {
    EN: {
        "delay": [
            "Hello, my order {order} was supposed to arrive by now and the tracking ({tracking}) "
            "has not changed for days. Can you tell me what is going on?",
            "Hi, I am still waiting for order {order}. It was promised for last week. "
            "I need it urgently, please check with the courier.",
            "Where is my parcel? Tracking number {tracking} just says in transit.",
        ],
        "lost": [
            "My parcel {tracking} has not moved for more than a week. I think it is lost. "
            "What are you going to do about it?",
            "Order {order} never arrived and the courier says they cannot find it. "
            "I would like a refund or a new parcel.",
        ],
        "damaged": [
            "The box for order {order} arrived crushed and the item inside is broken. "
            "I have photos if you need them.",
            "My parcel was delivered today but it is badly damaged. The lamp is in pieces.",
        ],
        "address_change": [
            "I made a mistake in the address for order {order}. The house number should be 12, "
            "not 21. Can you still change it?",
            "I am moving next week. Could you redirect parcel {tracking} to my new address?",
        ],
        "information": [
            "Hi, can you tell me when order {order} will arrive? I am travelling next week.",
            "Is it possible to collect parcel {tracking} at a pickup point instead?",
        ],
        "other": [
            "Could you send me an invoice for order {order}? I need it for my company.",
            "The tracking says my parcel was delivered but there is nothing at my door.",
            "Do I have to pay import duties on order {order}?",
        ],
    },
    ZH: {
        "delay": [
            "你好，我的订单 {order} 早就应该到了，物流单号 {tracking} 好几天都没有更新，"
            "请问是什么情况？",
            "您好，订单 {order} 说好上周送到，现在还没收到，我急着用，麻烦帮我催一下快递。",
            "我的包裹在哪里？单号 {tracking} 一直显示运输中。",
        ],
        "lost": [
            "我的包裹 {tracking} 一个多星期没有动静了，是不是丢了？你们打算怎么处理？",
            "订单 {order} 一直没收到，快递说找不到了。我要求退款或者重新发货。",
        ],
        "damaged": [
            "订单 {order} 的箱子压坏了，里面的东西也碎了，需要的话我可以发照片。",
            "今天收到包裹，外包装破损严重，台灯已经摔碎了。",
        ],
        "address_change": [
            "订单 {order} 的地址写错了，门牌号应该是12号，不是21号，还能改吗？",
            "我下周搬家，能把包裹 {tracking} 改寄到新地址吗？",
        ],
        "information": [
            "你好，请问订单 {order} 什么时候能到？我下周要出差。",
            "包裹 {tracking} 可以改成自提点取件吗？",
        ],
        "other": [
            "请帮我开一下订单 {order} 的发票，公司报销要用。",
            "物流显示已签收，但是我门口什么都没有。",
            "订单 {order} 需要交关税吗？",
        ],
    },
}
CUSTOMER_REPLY_TO_NOTICE = {
    EN: [
        "Thanks for letting me know. Is there any way to speed this up?",
        "I need this parcel before the weekend, it is a birthday present. What can you do?",
        "OK, thank you for the update. Please keep me posted.",
        "This is the second time an order from you is late. I am not happy.",
    ],
    ZH: [
        "谢谢通知。有没有办法加快一点？",
        "这个包裹我周末前一定要收到，是生日礼物，你们能想想办法吗？",
        "好的，谢谢告知，有进展请及时通知我。",
        "这已经是第二次延误了，非常不满意。",
    ],
}
CUSTOMER_FOLLOW_UP = {
    EN: [
        "Any news on my parcel?",
        "It has been three days. Is there an update?",
        "Thanks. The address is Hauptstraße 12, 2nd floor. Please deliver after 5 pm.",
    ],
    ZH: [
        "请问我的包裹有新消息了吗？",
        "已经三天了，有进展吗？",
        "谢谢。地址是世纪大道100号2楼，请下午5点以后送。",
    ],
}
AGENT_FIRST_REPLY = {
    EN: {
        "delay": "Hello {name}, thank you for your patience. Your order {order} is delayed because "
        "{cause}. We have contacted {carrier} and the new estimated delivery date is "
        "{eta}. I will keep you updated. Best regards, {agent}",
        "lost": "Hello {name}, I am sorry your parcel {tracking} has not arrived. I have opened a "
        "trace with {carrier} and will confirm within 24 hours whether it can be found. "
        "If not, we will send a replacement or refund you in full. Best regards, {agent}",
        "damaged": "Hello {name}, I am very sorry the parcel arrived damaged. Could you send us a "
        "photo of the item and the box? We will then reship it or refund you, as you "
        "prefer. Best regards, {agent}",
        "address_change": "Hello {name}, thank you. Could you confirm the full new address, "
        "including the postcode? I will pass it to {carrier} right away. "
        "Best regards, {agent}",
        "information": "Hello {name}, your order {order} is on its way with {carrier} and "
        "should arrive by {eta}. You can follow it with tracking number "
        "{tracking}. Best regards, {agent}",
        "other": "Hello {name}, thank you for your message. I have looked into order {order} "
        "and will get back to you shortly. Best regards, {agent}",
    },
    ZH: {
        "delay": "{name}您好，非常抱歉让您久等了。您的订单 {order} 因{cause}出现延误。"
        "我们已联系{carrier}，预计新的送达日期为{eta}。有进展我会第一时间通知您。{agent}",
        "lost": "{name}您好，很抱歉您的包裹 {tracking} 还没有送到。我已向{carrier}发起查件，"
        "24小时内给您答复；如果找不到，我们会为您补发或全额退款。{agent}",
        "damaged": "{name}您好，非常抱歉包裹在运输中受损。麻烦您拍一下商品和外包装的照片，"
        "我们会按您的意愿补发或退款。{agent}",
        "address_change": "{name}您好，谢谢您的告知。请提供完整的新地址（含邮编），"
        "我会马上转告{carrier}。{agent}",
        "information": "{name}您好，您的订单 {order} 正由{carrier}配送，预计{eta}前送达，"
        "可以用单号 {tracking} 查询物流。{agent}",
        "other": "{name}您好，感谢您的留言。我已经在核实订单 {order} 的情况，稍后回复您。{agent}",
    },
}
AGENT_UPDATE = {
    EN: [
        "Hello {name}, a quick update: {carrier} confirmed the parcel is moving again. The new "
        "estimated delivery date is {eta}. Best regards, {agent}",
        "Hello {name}, I am still in contact with {carrier} about order {order}. As an apology "
        "we would like to offer you {remedy}. Best regards, {agent}",
    ],
    ZH: [
        "{name}您好，最新进展：{carrier}确认包裹已恢复运输，预计{eta}送达。{agent}",
        "{name}您好，我仍在与{carrier}跟进订单 {order}。为表歉意，我们为您提供{remedy}。{agent}",
    ],
}
AGENT_CLOSING = {
    EN: "Hello {name}, good news: your parcel was delivered on {date}. Thank you for your "
    "patience, and sorry again for the delay. Best regards, {agent}",
    ZH: "{name}您好，好消息：您的包裹已于{date}签收。感谢您的耐心等待，再次为延误致歉。{agent}",
}
AGENT_SOLVED_IN_TRANSIT = {
    EN: "Hello {name}, {carrier} has confirmed the new estimated delivery date of order {order}: "
    "{eta}. We will keep you posted until it arrives, so I am marking this request as solved. "
    "If anything is still unclear, just reply to this message. Best regards, {agent}",
    ZH: "{name}您好，{carrier}已确认订单 {order} 新的预计送达日期：{eta}。包裹送达前我们会持续"
    "通知您最新进展，这个问题我先标记为已解决。如还有疑问，直接回复本消息即可。{agent}",
}
AGENT_ASK_CHOICE = {
    EN: "Hello {name}, please let us know which option you prefer for order {order}, and we "
    "will arrange it right away. Best regards, {agent}",
    ZH: "{name}您好，请告诉我们订单 {order} 您选择哪种方案，我们会马上为您安排。{agent}",
}
AGENT_ASK_PHOTO = {
    EN: "Hello {name}, to settle the damage claim for order {order} with {carrier} we still need "
    "a photo of the item and the box. Best regards, {agent}",
    ZH: "{name}您好，为了向{carrier}办理订单 {order} 的破损理赔，还需要您提供商品和外包装的照片。"
    "{agent}",
}
AGENT_ASK_CUSTOMER = {
    EN: "Hello {name}, to continue we need one detail from you: please confirm the delivery "
    "address (street, house number and postcode) for order {order}. Best regards, {agent}",
    ZH: "{name}您好，为了继续处理，请您确认订单 {order} 的收货地址（街道、门牌号和邮编）。{agent}",
}
NOTES = {
    EN: {
        "customs_hold": "Called {carrier}: held at customs pending the commercial invoice. "
        "Invoice re-sent to the broker, ref {ref}.",
        "congestion": "{carrier} confirms the container is waiting for a berth. No ETA change "
        "possible before the strike ends. Ref {ref}.",
        "capacity": "{carrier} hub over capacity; parcels processed in arrival order. Ref {ref}.",
        "weather": "Storm closure on the route; {carrier} expects normal service in 2 days.",
        "sorting": "Missorted, {carrier} rerouted it to the right depot. Ref {ref}.",
        "address_issue": "Street exists but house number unknown to {carrier}. Asked the "
        "customer to confirm the address.",
        "carrier_outage": "{carrier} status page: scanning outage, backlog being uploaded.",
        "tracking_lost": "Trace opened with {carrier}, ref {ref}. Answer expected in 48 h.",
        "damage": "Photos received. Damage is visible on the outer box: claim filed with "
        "{carrier}, ref {ref}.",
        "loss": "{carrier} declared the parcel lost after the trace (ref {ref}). Refund needs "
        "supervisor approval: above my limit.",
        "none": "Customer called; explained the tracking. Nothing else needed.",
    },
    ZH: {
        "customs_hold": "已致电{carrier}：海关要求补充商业发票，已重新发给报关行，查询号 {ref}。",
        "congestion": "{carrier}确认集装箱在等待靠泊，罢工结束前无法更新预计时间。查询号 {ref}。",
        "capacity": "{carrier}转运中心爆仓，按到达顺序处理。查询号 {ref}。",
        "weather": "线路因暴风雨封闭，{carrier}预计2天后恢复正常。",
        "sorting": "错分件，{carrier}已改派至正确网点。查询号 {ref}。",
        "address_issue": "{carrier}反馈门牌号不存在，已请客户确认地址。",
        "carrier_outage": "{carrier}系统故障，积压的扫描数据正在补传。",
        "tracking_lost": "已向{carrier}发起查件，查询号 {ref}，预计48小时内答复。",
        "damage": "已收到照片，外箱明显破损，已向{carrier}提出索赔，查询号 {ref}。",
        "loss": "{carrier}查件后确认丢失（查询号 {ref}）。退款超出我的权限，需主管审批。",
        "none": "客户来电，已解释物流信息，无需进一步处理。",
    },
}

# --- Remedies in words, for messages and notifications -----------------------------------------

REMEDY_TEXT = {
    EN: {
        "coupon": "a {amount} {currency} voucher",
        "discount_code": "a {percent}% discount code",
        "loyalty_points": "{points} loyalty points",
        "partial_refund": "a refund of {amount} {currency}",
        "full_refund": "a full refund of {amount} {currency}",
        "reship": "a free replacement",
        "free_shipping": "free shipping on your next order",
        "expedited_reship": "an express replacement",
        "priority_shipping": "priority shipping on your next order",
        "gift": "a small gift",
        "cash": "{amount} {currency}",
        "upgrade": "a free upgrade",
        "senior_call": "a call from a senior adviser",
    },
    ZH: {
        "coupon": "{amount} {currency} 代金券",
        "discount_code": "{percent}% 折扣码",
        "loyalty_points": "{points} 积分",
        "partial_refund": "退款 {amount} {currency}",
        "full_refund": "全额退款 {amount} {currency}",
        "reship": "免费补发",
        "free_shipping": "下一单免运费",
        "expedited_reship": "加急补发",
        "priority_shipping": "下一单优先发货",
        "gift": "一份小礼物",
        "cash": "{amount} {currency} 现金补偿",
        "upgrade": "免费升级",
        "senior_call": "资深客服专线回电",
    },
}

REJECTION_NOTES = [
    "Above the incident budget; offer the standard 15% discount instead.",
    "The parcel was delivered two days later; a full refund is out of proportion.",
]

# --- Surveys -----------------------------------------------------------------------------------

SURVEY_COMMENTS = {
    EN: {
        "good": [
            "Quick and friendly, thank you!",
            "You told me about the delay before I had to ask. Much appreciated.",
            "Great service, the voucher was a nice touch.",
        ],
        "mixed": [
            "The parcel was late but the agent kept me informed.",
            "OK in the end, but it took a while.",
        ],
        "bad": [
            "Three weeks late and I had to chase you twice.",
            "Nobody could tell me where my parcel was.",
        ],
    },
    ZH: {
        "good": [
            "处理得很快，态度很好，谢谢！",
            "还没问就主动通知我延误了，很贴心。",
            "服务很好，代金券也很有诚意。",
        ],
        "mixed": ["包裹虽然晚了，但客服一直有跟进。", "最后解决了，就是时间有点长。"],
        "bad": ["晚了三个星期，还要我催两次。", "没有人能告诉我包裹到底在哪里。"],
    },
}

# --- Incidents ---------------------------------------------------------------------------------

INCIDENTS = {
    "customs": {
        "title": "French customs hold at Paris-CDG",
        "hub": "Paris-Charles de Gaulle customs, FR",
        EN: "French customs at Paris-Charles de Gaulle are inspecting all e-commerce parcels "
        "from Ningbo after a change in import controls. Affected parcels are safe and will "
        "be released once the inspection is finished; we expect a delay of 5 to 8 days. "
        "You do not need to do anything. We will update you as soon as your parcel moves "
        "again, and we are offering every affected customer a 15% discount on the next order.",
        ZH: "由于进口监管调整，法国戴高乐机场海关正在对来自宁波的所有电商包裹进行查验。"
        "受影响的包裹安全无虞，查验完成后即会放行，预计延误5至8天，您无需进行任何操作。"
        "包裹恢复运输后我们会第一时间通知您，并为所有受影响的客户提供下单85折优惠。",
    },
    "strike": {
        "title": "Port strike at Rotterdam",
        "hub": "Port of Rotterdam (Maasvlakte), NL",
        EN: "Dock workers at the Port of Rotterdam are on strike, so containers from China are "
        "waiting to be unloaded. Your parcel is inside one of these containers. Unloading "
        "will resume when the strike ends; we currently expect a delay of about 10 days. "
        "We will tell you the new delivery date as soon as the container is unloaded, and "
        "we are giving every affected customer a 10% discount and free shipping on the "
        "next order.",
        ZH: "鹿特丹港码头工人正在罢工，来自中国的集装箱暂时无法卸货，您的包裹就在其中一个"
        "集装箱内。罢工结束后将恢复卸货，目前预计延误约10天。集装箱卸货后我们会立即告知"
        "新的送达日期，并为所有受影响的客户提供下一单9折优惠和免运费。",
    },
}

# --- Notifications -----------------------------------------------------------------------------

NOTICE = {
    "delay_notice": {
        EN: (
            "Your order {order} is delayed",
            "Hello {name}, we are sorry: your order {order} is delayed because {cause}. "
            "New estimated delivery: {eta}. We are on it and will keep you updated. "
            "Follow your parcel here: {link}",
        ),
        ZH: (
            "您的订单 {order} 出现延误",
            "{name}您好，非常抱歉：您的订单 {order} 因{cause}出现延误，预计新的送达时间为{eta}。"
            "我们正在全力跟进，并会持续通知您。查看进度：{link}",
        ),
    },
    # Detection's "will be late" level: a forecast, no cause from the carrier (the product's
    # notice says so: notifications.rendering's FORECAST_CAUSE and FORECAST_ACTION).
    "will_be_late": {
        EN: (
            "Your order {order} may arrive late",
            "Hello {name}, our forecast from recent deliveries on the same route says your "
            "order {order} will probably arrive after the promised date. New estimated "
            "delivery: {eta}. We are telling you early so that you can plan; we are watching "
            "your parcel and will write again if the estimate changes. "
            "Follow your parcel here: {link}",
        ),
        ZH: (
            "您的订单 {order} 可能会晚到",
            "{name}您好，根据同一线路近期的送达情况，我们预计您的订单 {order} "
            "可能晚于承诺日期送达，预计新的送达时间为{eta}。我们提前告知您以便您做好安排；我们会持续关注您的包裹，"
            "如预计时间有变会再通知您。查看进度：{link}",
        ),
    },
    "incident_notice": {
        EN: (
            "Update on your order {order}",
            "Hello {name}, {explanation} Follow your parcel here: {link}",
        ),
        ZH: ("关于您的订单 {order} 的最新情况", "{name}您好，{explanation}查看进度：{link}"),
    },
    "delivered": {
        EN: (
            "Your order {order} has arrived",
            "Hello {name}, your order {order} was delivered. Thank you for your patience.",
        ),
        ZH: ("您的订单 {order} 已送达", "{name}您好，您的订单 {order} 已签收，感谢您的耐心等待。"),
    },
    "survey": {
        EN: (
            "How did we do?",
            "Hello {name}, how happy are you with how we handled your "
            "request? Rate us from 1 to 5: {link}",
        ),
        ZH: ("请为我们的服务打分", "{name}您好，您对本次服务满意吗？请打1到5分：{link}"),
    },
}

# --- Macros ------------------------------------------------------------------------------------

# Reply templates the default ones (tickets/migrations/0003_default_macros.py) lack; the demo
# adds them and never touches the defaults. Placeholders: those of tickets.macros.PLACEHOLDERS.
MACROS = [
    (
        "customs-hold",
        "delay",
        {
            EN: (
                "Customs hold: parcel under inspection",
                "Hello {customer_name},\n\n"
                "Your order {order_number} (tracking number {tracking_number}) is being held by "
                "customs for inspection. This is a routine check and your parcel is safe; we are "
                "in touch with the carrier and will follow it until it is released.\n\n"
                "The parcel is now expected to arrive on {new_eta}. To make up for the wait, we "
                "would like to offer you {compensation}.\n\n"
                "Kind regards,\nCustomer Service",
            ),
            ZH: (
                "海关查验：包裹正在清关",
                "{customer_name}，您好：\n\n"
                "您的订单 {order_number}（运单号：{tracking_number}）目前正在接受海关例行查验，"
                "包裹安全无虞。我们正与承运商保持联系，并会持续跟进直至放行。\n\n"
                "包裹现预计于{new_eta}送达。为弥补您的等待，我们为您提供{compensation}。\n\n"
                "客服团队敬上",
            ),
        },
    ),
]
