"""Default notice templates, in English and Simplified Chinese (editable in the admin).

Every kind on every channel (email with a subject, a short SMS, a push notification whose title
is the subject) for any region, plus regional email variants of the delay notices (delay
notice, follow-up, incident notice), after shared/DOMAIN.md: North America gets direct facts
and concrete compensation, Europe a detailed explanation and a privacy and opt-out line, Asia
more apology and relationship care.

Placeholders are those of notifications/rendering.py. A body line whose optional value
({remedy}, {reply}, {survey_link}, {progress_link}, {incident}, {location}) is empty is left
out, so such values sit on lines of their own. SMS texts fit in two segments with the sample
values of rendering.SAMPLE_CONTEXT (Chinese SMS are UCS-2: 134 characters for two).

Installing is idempotent and never overwrites a template that already exists (an admin may
have reworded or switched it off); reversing leaves the rows in place.
"""

from textwrap import dedent

from django.db import migrations

EN = "en"
ZH = "zh-hans"
ANY = "any"
NORTH_AMERICA = "north_america"
EUROPE = "europe"
ASIA = "asia"


def text(body: str) -> str:
    return dedent(body).strip("\n")


# --- For any region: email ---------------------------------------------------------------------

EMAIL = {
    "delay_notice": {
        EN: (
            "Your order {order_number} is delayed",
            text("""
                Hello {customer_name},

                We are sorry: your order {order_number} will not arrive on the date we promised. Here is where it stands.

                Reason for the delay: {cause}
                Current status: {status}
                Last scan: {location}
                New estimated delivery: {new_eta}

                What we are doing: {action}

                To make up for the wait, we would like to offer you {remedy}.

                Carrier: {carrier}, tracking number {tracking_number}
                Follow your parcel at any time: {progress_link}

                If you have a question, just reply to this email and our team will get back to you.

                Kind regards,
                Your customer service team
            """),
        ),
        ZH: (
            "您的订单 {order_number} 出现延误",
            text("""
                {customer_name}，您好：

                非常抱歉，您的订单 {order_number} 未能按承诺的时间送达。以下是目前的最新情况：

                延误原因：{cause}
                当前状态：{status}
                最新位置：{location}
                预计送达：{new_eta}

                我们的处理：{action}

                为弥补您的等待，我们为您准备了{remedy}。

                承运商：{carrier}，运单号：{tracking_number}
                随时查看包裹进度：{progress_link}

                如有任何疑问，直接回复本邮件即可，我们会尽快与您联系。

                客服团队敬上
            """),
        ),
    },
    "follow_up": {
        EN: (
            "Update on your delayed order {order_number}",
            text("""
                Hello {customer_name},

                Here is the latest news on your order {order_number}: it is still on its way, and we are still on it.

                Current status: {status}
                Last scan: {location}
                New estimated delivery: {new_eta}
                Reason for the delay: {cause}

                What we are doing: {action}

                As a thank-you for your patience, we would like to offer you {remedy}.

                Follow your parcel at any time: {progress_link}

                We will write again in a few days, or sooner if anything changes. If you have a question, just reply to this email.

                Kind regards,
                Your customer service team
            """),
        ),
        ZH: (
            "您的订单 {order_number} 最新进展",
            text("""
                {customer_name}，您好：

                向您同步订单 {order_number} 的最新进展：包裹仍在途中，我们也一直在为您跟进。

                当前状态：{status}
                最新位置：{location}
                预计送达：{new_eta}
                延误原因：{cause}

                我们的处理：{action}

                感谢您的耐心等待，我们为您准备了{remedy}。

                随时查看包裹进度：{progress_link}

                几天后我们会再向您更新进展，如有变化也会第一时间通知您。如有疑问，直接回复本邮件即可。

                客服团队敬上
            """),
        ),
    },
    "recovery": {
        EN: (
            "Good news: your order {order_number} is moving again",
            text("""
                Hello {customer_name},

                Good news: your order {order_number} is on the move again.

                Current status: {status}
                Last scan: {location}
                New estimated delivery: {new_eta}

                Follow your parcel at any time: {progress_link}

                Thank you for your patience. If anything is unclear, just reply to this email.

                Kind regards,
                Your customer service team
            """),
        ),
        ZH: (
            "好消息：您的订单 {order_number} 已恢复运输",
            text("""
                {customer_name}，您好：

                好消息！您的订单 {order_number} 已恢复运输。

                当前状态：{status}
                最新位置：{location}
                预计送达：{new_eta}

                随时查看包裹进度：{progress_link}

                感谢您的耐心等待。如有疑问，直接回复本邮件即可。

                客服团队敬上
            """),
        ),
    },
    "delivered": {
        EN: (
            "Your order {order_number} has arrived",
            text("""
                Hello {customer_name},

                Your order {order_number} has been delivered. Thank you for your patience, and sorry again that it took longer than we promised.

                If anything is wrong with your parcel, just reply to this email and we will put it right.

                Delivery details: {progress_link}

                Kind regards,
                Your customer service team
            """),
        ),
        ZH: (
            "您的订单 {order_number} 已送达",
            text("""
                {customer_name}，您好：

                您的订单 {order_number} 已成功签收。感谢您的耐心等待，也再次为这次延误向您致歉。

                如果包裹有任何问题，请直接回复本邮件，我们会尽快为您妥善处理。

                配送详情：{progress_link}

                客服团队敬上
            """),
        ),
    },
    "remedy_offered": {
        EN: (
            "Our apology for the delay of order {order_number}",
            text("""
                Hello {customer_name},

                We are sorry that your order {order_number} is taking longer than we promised.
                To make up for it, we would like to offer you {remedy}.

                You can accept it on your progress page: {progress_link}

                New estimated delivery: {new_eta}

                If you have a question, just reply to this email.

                Kind regards,
                Your customer service team
            """),
        ),
        ZH: (
            "关于订单 {order_number} 延误的补偿",
            text("""
                {customer_name}，您好：

                很抱歉，您的订单 {order_number} 未能按时送达。
                为表歉意，我们为您准备了{remedy}。

                您可以在进度页面领取：{progress_link}

                预计送达：{new_eta}

                如有疑问，直接回复本邮件即可。

                客服团队敬上
            """),
        ),
    },
    "remedy_issued": {
        EN: (
            "Your compensation for order {order_number}",
            text("""
                Hello {customer_name},

                As promised, we have issued {remedy} for your order {order_number}.

                You will find the details on your progress page: {progress_link}

                Thank you again for your patience. If anything is unclear, just reply to this email.

                Kind regards,
                Your customer service team
            """),
        ),
        ZH: (
            "订单 {order_number} 的补偿已发放",
            text("""
                {customer_name}，您好：

                我们已按承诺为您的订单 {order_number} 发放{remedy}。

                详情请查看进度页面：{progress_link}

                再次感谢您的耐心与理解。如有疑问，直接回复本邮件即可。

                客服团队敬上
            """),
        ),
    },
    "ticket_reply": {
        EN: (
            "We have replied to your request",
            text("""
                Hello {customer_name},

                Our team has replied to your request:

                {reply}

                You can read the whole conversation and answer on your progress page: {progress_link}
                Or simply reply to this email.

                Kind regards,
                Your customer service team
            """),
        ),
        ZH: (
            "您的咨询已有回复",
            text("""
                {customer_name}，您好：

                我们的客服已回复您的咨询：

                {reply}

                您可以在进度页面查看完整对话并继续留言：{progress_link}
                也可以直接回复本邮件。

                客服团队敬上
            """),
        ),
    },
    "survey": {
        EN: (
            "How did we do?",
            text("""
                Hello {customer_name},

                Your request has been resolved. Would you tell us how we did? It takes less than a minute.

                Rate us from 1 to 5: {survey_link}

                Thank you! Every answer helps us do better.

                Kind regards,
                Your customer service team
            """),
        ),
        ZH: (
            "请为我们的服务打分",
            text("""
                {customer_name}，您好：

                您的问题已处理完毕。能否花不到一分钟的时间，告诉我们这次的服务体验如何？

                请打1到5分：{survey_link}

                非常感谢！您的每一条反馈都会帮助我们做得更好。

                客服团队敬上
            """),
        ),
    },
    "incident_notice": {
        EN: (
            "Important update about your order {order_number}",
            text("""
                Hello {customer_name},

                We are writing because a disruption is delaying a number of parcels, including your order {order_number}. We are sorry for the inconvenience.

                What is happening: {incident}
                Reason for the delay: {cause}
                Current status of your parcel: {status}
                Last scan: {location}
                New estimated delivery: {new_eta}

                What we are doing: {action}

                To make up for the wait, we would like to offer you {remedy}.

                Follow your parcel at any time: {progress_link}

                We will keep you informed until your parcel arrives. If you have a question, just reply to this email.

                Kind regards,
                Your customer service team
            """),
        ),
        ZH: (
            "关于您的订单 {order_number} 的重要通知",
            text("""
                {customer_name}，您好：

                受一起突发情况影响，部分包裹出现延误，其中包括您的订单 {order_number}。给您带来不便，我们深表歉意。

                情况说明：{incident}
                延误原因：{cause}
                当前状态：{status}
                最新位置：{location}
                预计送达：{new_eta}

                我们的处理：{action}

                为弥补您的等待，我们为您准备了{remedy}。

                随时查看包裹进度：{progress_link}

                在包裹送达之前，我们会持续向您通报进展。如有疑问，直接回复本邮件即可。

                客服团队敬上
            """),
        ),
    },
}

# --- For any region: SMS (no subject; the link on a line of its own) -----------------------------

SMS = {
    "delay_notice": {
        EN: "Hi {customer_name}, sorry: your order {order_number} is delayed. Reason: {cause}. "
        "New estimated delivery: {new_eta}. We are on it.\n"
        "Details: {progress_link}",
        ZH: "{customer_name}您好，抱歉订单{order_number}延误。原因：{cause}；预计送达：{new_eta}。\n"
        "进度：{progress_link}",
    },
    "follow_up": {
        EN: "Hi {customer_name}, update on order {order_number}: still on its way ({status}). "
        "New estimated delivery: {new_eta}. We keep following it for you.\n"
        "Details: {progress_link}",
        ZH: "{customer_name}您好，订单{order_number}仍在途中，预计送达：{new_eta}，我们会持续跟进。\n"
        "进度：{progress_link}",
    },
    "recovery": {
        EN: "Good news, {customer_name}: your order {order_number} is moving again. "
        "New estimated delivery: {new_eta}.\n"
        "Track it: {progress_link}",
        ZH: "好消息！{customer_name}，您的订单{order_number}已恢复运输，预计送达：{new_eta}。\n"
        "进度：{progress_link}",
    },
    "delivered": {
        EN: "Hi {customer_name}, your order {order_number} has been delivered. "
        "Thank you for your patience!\n"
        "Any problem? Tell us here: {progress_link}",
        ZH: "{customer_name}您好，您的订单{order_number}已签收，感谢您的耐心等待！\n"
        "如有问题请告诉我们：{progress_link}",
    },
    "remedy_offered": {
        EN: "Hi {customer_name}, sorry for the delay of order {order_number}.\n"
        "We would like to offer you {remedy}.\n"
        "Accept it here: {progress_link}",
        ZH: "{customer_name}您好，订单{order_number}延误，深表歉意。\n"
        "特为您准备了{remedy}。\n"
        "领取：{progress_link}",
    },
    "remedy_issued": {
        EN: "Hi {customer_name}, as promised we have issued {remedy} for order {order_number}. "
        "Thank you for your patience.\n"
        "Details: {progress_link}",
        ZH: "{customer_name}您好，我们已为订单{order_number}发放{remedy}，感谢您的耐心。\n"
        "详情：{progress_link}",
    },
    "ticket_reply": {
        EN: "Hi {customer_name}, our team has replied to your request.\n"
        "Read it and answer here: {progress_link}",
        ZH: "{customer_name}您好，客服已回复您的咨询。\n查看并回复：{progress_link}",
    },
    "survey": {
        EN: "Hi {customer_name}, how did we do? Please rate our help from 1 to 5, "
        "it takes less than a minute:\n"
        "{survey_link}",
        ZH: "{customer_name}您好，您对本次服务满意吗？请花一分钟为我们打分（1-5分）：\n{survey_link}",
    },
    "incident_notice": {
        EN: "Hi {customer_name}, a disruption is delaying many parcels, including your order "
        "{order_number}. Reason: {cause}. New estimated delivery: {new_eta}. Sorry for the wait.\n"
        "Details: {progress_link}",
        ZH: "您好！突发情况致订单{order_number}延误。原因：{cause}；"
        "预计送达：{new_eta}。\n"
        "进度：{progress_link}",
    },
}

# --- For any region: push (the subject is the title; the app opens the details) -----------------

PUSH = {
    "delay_notice": {
        EN: (
            "Order {order_number} is delayed",
            "Sorry, {customer_name}: new estimated delivery {new_eta}. Reason: {cause}. "
            "Tap for details.",
        ),
        ZH: (
            "订单 {order_number} 延误",
            "{customer_name}，非常抱歉！延误原因：{cause}；预计送达：{new_eta}。点击查看详情。",
        ),
    },
    "follow_up": {
        EN: (
            "Update on order {order_number}",
            "Still on its way ({status}). New estimated delivery {new_eta}. Tap for details.",
        ),
        ZH: (
            "订单 {order_number} 最新进展",
            "包裹仍在途中（{status}），预计送达：{new_eta}。点击查看详情。",
        ),
    },
    "recovery": {
        EN: (
            "Order {order_number} is moving again",
            "Good news: new estimated delivery {new_eta}. Tap to follow your parcel.",
        ),
        ZH: (
            "订单 {order_number} 已恢复运输",
            "好消息！包裹已重新上路，预计送达：{new_eta}。点击跟踪包裹。",
        ),
    },
    "delivered": {
        EN: (
            "Order {order_number} delivered",
            "Your parcel has arrived. Thank you for your patience, {customer_name}!",
        ),
        ZH: ("订单 {order_number} 已送达", "{customer_name}，您的包裹已签收，感谢您的耐心等待！"),
    },
    "remedy_offered": {
        EN: (
            "Our apology for the wait",
            "We are sorry for the delay of order {order_number}. "
            "Tap to see what we would like to offer you.",
        ),
        ZH: (
            "为延误向您致歉",
            "很抱歉订单 {order_number} 延误了，我们为您准备了一份补偿，点击查看。",
        ),
    },
    "remedy_issued": {
        EN: (
            "Your compensation is ready",
            "Your compensation for order {order_number} has been issued. Tap for details.",
        ),
        ZH: ("您的补偿已发放", "订单 {order_number} 的补偿已发放，点击查看详情。"),
    },
    "ticket_reply": {
        EN: (
            "New reply to your request",
            "Hi {customer_name}, our team has replied. Tap to read it.",
        ),
        ZH: ("您的咨询有新回复", "{customer_name}，客服已回复您的咨询，点击查看。"),
    },
    "survey": {
        EN: ("How did we do?", "Rate our help from 1 to 5. It takes less than a minute."),
        ZH: ("请为我们的服务打分", "花一分钟为本次服务打个分（1-5分）吧，感谢您的反馈！"),
    },
    "incident_notice": {
        EN: (
            "Update on order {order_number}",
            "A disruption is delaying many parcels, including yours. "
            "New estimated delivery {new_eta}. Tap for details.",
        ),
        ZH: (
            "订单 {order_number} 重要通知",
            "受突发情况影响，您的包裹出现延误，预计送达：{new_eta}。非常抱歉，点击查看详情。",
        ),
    },
}

# --- Regional email variants of the delay notices ---------------------------------------------

PRIVACY_EN = (
    "About your data: we send you this message because it concerns the delivery of an order you "
    "placed with us, and we use your contact details only to keep you informed about it. If you "
    "would rather not receive delivery updates by email, reply to this email and we will stop "
    "them."
)
PRIVACY_ZH = (
    "关于您的个人信息：我们向您发送本邮件，是因为它涉及您所下订单的配送，您的联系方式仅用于向您"
    "通报配送情况。如果您不希望再通过邮件接收配送通知，请直接回复本邮件，我们将停止发送。"
)

REGIONAL = {
    ("delay_notice", NORTH_AMERICA): {
        EN: (
            "Order {order_number} delayed: new delivery date {new_eta}",
            text("""
                Hi {customer_name},

                Your order {order_number} is running late. Here are the facts:

                - Reason: {cause}
                - Status: {status}
                - Last scan: {location}
                - New estimated delivery: {new_eta}
                - Carrier: {carrier}, tracking number {tracking_number}

                What we're doing: {action}

                For the inconvenience, we're offering you {remedy}.

                Track your order: {progress_link}

                Questions? Reply to this email and our team will get right back to you.

                Thanks,
                Your customer service team
            """),
        ),
        ZH: (
            "订单 {order_number} 延误，新的预计送达：{new_eta}",
            text("""
                {customer_name}，您好：

                您的订单 {order_number} 出现延误，具体情况如下：

                - 延误原因：{cause}
                - 当前状态：{status}
                - 最新位置：{location}
                - 预计送达：{new_eta}
                - 承运商：{carrier}，运单号：{tracking_number}

                我们的处理：{action}

                为弥补给您带来的不便，我们为您提供{remedy}。

                查看包裹进度：{progress_link}

                如有疑问，直接回复本邮件，我们会尽快答复您。

                客服团队
            """),
        ),
    },
    ("follow_up", NORTH_AMERICA): {
        EN: (
            "Order {order_number} update: new delivery date {new_eta}",
            text("""
                Hi {customer_name},

                A quick update on order {order_number}:

                - Status: {status}
                - Last scan: {location}
                - New estimated delivery: {new_eta}
                - Reason for the delay: {cause}

                What we're doing: {action}

                For the inconvenience, we're offering you {remedy}.

                Track your order: {progress_link}

                We'll update you again in a few days, or as soon as anything changes. Questions? Just reply to this email.

                Thanks,
                Your customer service team
            """),
        ),
        ZH: (
            "订单 {order_number} 进展更新：预计送达 {new_eta}",
            text("""
                {customer_name}，您好：

                订单 {order_number} 最新进展如下：

                - 当前状态：{status}
                - 最新位置：{location}
                - 预计送达：{new_eta}
                - 延误原因：{cause}

                我们的处理：{action}

                为弥补给您带来的不便，我们为您提供{remedy}。

                查看包裹进度：{progress_link}

                几天后我们会再次更新，如有变化会立即通知您。如有疑问，直接回复本邮件即可。

                客服团队
            """),
        ),
    },
    ("incident_notice", NORTH_AMERICA): {
        EN: (
            "Order {order_number} is affected by a shipping disruption",
            text("""
                Hi {customer_name},

                A shipping disruption is delaying a number of orders, including yours ({order_number}). Here are the facts:

                - What happened: {incident}
                - Reason: {cause}
                - Status of your parcel: {status}
                - Last scan: {location}
                - New estimated delivery: {new_eta}

                What we're doing: {action}

                For the inconvenience, we're offering you {remedy}.

                Track your order: {progress_link}

                We'll keep you posted until your order arrives. Questions? Just reply to this email.

                Thanks,
                Your customer service team
            """),
        ),
        ZH: (
            "订单 {order_number} 受运输突发情况影响",
            text("""
                {customer_name}，您好：

                一起运输突发情况导致部分订单延误，其中包括您的订单 {order_number}。具体情况如下：

                - 情况说明：{incident}
                - 延误原因：{cause}
                - 当前状态：{status}
                - 最新位置：{location}
                - 预计送达：{new_eta}

                我们的处理：{action}

                为弥补给您带来的不便，我们为您提供{remedy}。

                查看包裹进度：{progress_link}

                在包裹送达之前，我们会持续向您通报进展。如有疑问，直接回复本邮件即可。

                客服团队
            """),
        ),
    },
    ("delay_notice", EUROPE): {
        EN: (
            "Your order {order_number} is delayed: what happened and what comes next",
            text("""
                Dear {customer_name},

                We are sorry to let you know that your order {order_number} will not arrive on the date we promised. We would like to explain what has happened and what we are doing about it.

                Why your parcel is late
                Reason for the delay: {cause}
                Current status: {status}
                Last scan: {location}
                Carrier: {carrier}, tracking number {tracking_number}

                What happens next
                New estimated delivery: {new_eta}
                This estimate is based on the carrier's latest information and on how parcels on the same route have recently travelled. If it changes, we will tell you.
                What we are doing: {action}

                As an apology, we would like to offer you {remedy}.

                You can follow every step of your parcel here: {progress_link}
                If you have any question, simply reply to this email.

                Kind regards,
                Your customer service team

            """)
            + "\n\n"
            + PRIVACY_EN,
        ),
        ZH: (
            "您的订单 {order_number} 出现延误：原因及后续安排",
            text("""
                尊敬的{customer_name}：

                很遗憾地通知您，您的订单 {order_number} 未能按承诺的日期送达。下面向您详细说明发生了什么，以及我们正在采取的措施。

                延误的原因
                延误原因：{cause}
                当前状态：{status}
                最新位置：{location}
                承运商：{carrier}，运单号：{tracking_number}

                后续安排
                预计送达：{new_eta}
                该预计时间依据承运商的最新信息及同一线路近期包裹的实际运输时间得出，如有变化，我们会及时告知您。
                我们的处理：{action}

                为表歉意，我们为您准备了{remedy}。

                您可以在这里查看包裹的每一步进展：{progress_link}
                如有任何疑问，直接回复本邮件即可。

                客服团队敬上
            """)
            + "\n\n"
            + PRIVACY_ZH,
        ),
    },
    ("follow_up", EUROPE): {
        EN: (
            "Your order {order_number}: where it is now and what we are doing",
            text("""
                Dear {customer_name},

                We promised to keep you informed about your order {order_number}, so here is a detailed update.

                Where your parcel is now
                Current status: {status}
                Last scan: {location}
                Carrier: {carrier}, tracking number {tracking_number}

                Why it is still delayed
                Reason for the delay: {cause}
                What we are doing: {action}

                What happens next
                New estimated delivery: {new_eta}
                This estimate is based on the carrier's latest information and on how parcels on the same route have recently travelled. We will write again in a few days, or sooner if anything changes.

                As an apology, we would like to offer you {remedy}.

                You can follow every step of your parcel here: {progress_link}
                If you have any question, simply reply to this email.

                Kind regards,
                Your customer service team
            """)
            + "\n\n"
            + PRIVACY_EN,
        ),
        ZH: (
            "您的订单 {order_number}：当前位置及处理进展",
            text("""
                尊敬的{customer_name}：

                我们承诺会持续向您通报订单 {order_number} 的情况，以下是详细的最新进展。

                包裹目前的位置
                当前状态：{status}
                最新位置：{location}
                承运商：{carrier}，运单号：{tracking_number}

                仍在延误的原因
                延误原因：{cause}
                我们的处理：{action}

                后续安排
                预计送达：{new_eta}
                该预计时间依据承运商的最新信息及同一线路近期包裹的实际运输时间得出。几天后我们会再次更新，如有变化也会及时通知您。

                为表歉意，我们为您准备了{remedy}。

                您可以在这里查看包裹的每一步进展：{progress_link}
                如有任何疑问，直接回复本邮件即可。

                客服团队敬上
            """)
            + "\n\n"
            + PRIVACY_ZH,
        ),
    },
    ("incident_notice", EUROPE): {
        EN: (
            "A disruption is delaying your order {order_number}: the full picture",
            text("""
                Dear {customer_name},

                We are writing to tell you about a disruption that is delaying a number of parcels, including your order {order_number}, and to explain what we are doing about it.

                What is happening
                {incident}
                Reason for the delay: {cause}

                Your parcel
                Current status: {status}
                Last scan: {location}
                Carrier: {carrier}, tracking number {tracking_number}
                New estimated delivery: {new_eta}
                This estimate takes the disruption into account; if the situation changes, we will tell you.

                What we are doing
                {action}

                As an apology, we would like to offer you {remedy}.

                You can follow every step of your parcel here: {progress_link}
                If you have any question, simply reply to this email.

                Kind regards,
                Your customer service team
            """)
            + "\n\n"
            + PRIVACY_EN,
        ),
        ZH: (
            "突发情况导致您的订单 {order_number} 延误：详细说明",
            text("""
                尊敬的{customer_name}：

                我们写信是想告知您，一起突发情况导致部分包裹延误，其中包括您的订单 {order_number}，并向您说明我们正在采取的措施。

                情况说明
                {incident}
                延误原因：{cause}

                您的包裹
                当前状态：{status}
                最新位置：{location}
                承运商：{carrier}，运单号：{tracking_number}
                预计送达：{new_eta}
                该预计时间已考虑此次突发情况的影响，如情况有变，我们会及时告知您。

                我们正在做的
                {action}

                为表歉意，我们为您准备了{remedy}。

                您可以在这里查看包裹的每一步进展：{progress_link}
                如有任何疑问，直接回复本邮件即可。

                客服团队敬上
            """)
            + "\n\n"
            + PRIVACY_ZH,
        ),
    },
    ("delay_notice", ASIA): {
        EN: (
            "Our sincere apologies: your order {order_number} is delayed",
            text("""
                Dear {customer_name},

                Please accept our sincere apologies. Your order {order_number} will not reach you on the date we promised, and we are truly sorry for the trouble this causes you.

                Reason for the delay: {cause}
                Current status: {status}
                Last scan: {location}
                New estimated delivery: {new_eta}

                What we are doing: {action}

                As a small token of our apology, and of our thanks for your trust, we would like to offer you {remedy}.

                You can follow your parcel at any time here: {progress_link}

                You are important to us, and we will do everything we can to bring your parcel to you as soon as possible. If there is anything at all we can do for you, simply reply to this email.

                With our sincere apologies and warm regards,
                Your customer service team
            """),
        ),
        ZH: (
            "诚挚致歉：您的订单 {order_number} 出现延误",
            text("""
                尊敬的{customer_name}，您好：

                首先，我们要向您致以诚挚的歉意。您的订单 {order_number} 未能如约送达，给您添麻烦了，我们深感抱歉。

                延误原因：{cause}
                当前状态：{status}
                最新位置：{location}
                预计送达：{new_eta}

                我们的处理：{action}

                为表达我们的歉意，也感谢您一直以来的信任与支持，我们特别为您准备了{remedy}，敬请笑纳。

                您可以随时在这里查看包裹进度：{progress_link}

                您的满意对我们非常重要，我们会尽一切努力让包裹尽快送到您手中。如有任何需要，请随时回复本邮件，我们非常乐意为您效劳。

                再次向您致歉，并衷心感谢您的理解！
                客服团队敬上
            """),
        ),
    },
    ("follow_up", ASIA): {
        EN: (
            "Your order {order_number}: our latest update, with our apologies",
            text("""
                Dear {customer_name},

                Thank you very much for your patience, and again our sincere apologies that your order {order_number} has still not reached you. We have not forgotten it, and we would like to tell you where it stands.

                Current status: {status}
                Last scan: {location}
                New estimated delivery: {new_eta}
                Reason for the delay: {cause}

                What we are doing: {action}

                As a small token of our thanks for your understanding, we would like to offer you {remedy}.

                You can follow your parcel at any time here: {progress_link}

                We will keep you informed every step of the way. If there is anything at all we can do for you, simply reply to this email.

                With our sincere apologies and warm regards,
                Your customer service team
            """),
        ),
        ZH: (
            "订单 {order_number} 最新进展，再次向您致歉",
            text("""
                尊敬的{customer_name}，您好：

                非常感谢您的耐心等待，您的订单 {order_number} 至今仍未送达，我们再次向您深表歉意。我们一直在为您跟进，现将最新情况告知如下：

                当前状态：{status}
                最新位置：{location}
                预计送达：{new_eta}
                延误原因：{cause}

                我们的处理：{action}

                为感谢您的理解与包容，我们特别为您准备了{remedy}，敬请笑纳。

                您可以随时在这里查看包裹进度：{progress_link}

                我们会全程为您跟进，直到包裹安全送达。如有任何需要，请随时回复本邮件，我们非常乐意为您效劳。

                再次向您致歉，并衷心感谢您的理解！
                客服团队敬上
            """),
        ),
    },
    ("incident_notice", ASIA): {
        EN: (
            "Our sincere apologies: a disruption is delaying your order {order_number}",
            text("""
                Dear {customer_name},

                We are very sorry to tell you that a disruption is delaying a number of parcels, including your order {order_number}. Please accept our sincere apologies for the worry and trouble this causes you.

                What is happening: {incident}
                Reason for the delay: {cause}
                Current status of your parcel: {status}
                Last scan: {location}
                New estimated delivery: {new_eta}

                What we are doing: {action}

                As a small token of our apology, and of our thanks for your trust, we would like to offer you {remedy}.

                You can follow your parcel at any time here: {progress_link}

                You are important to us, and we will keep you informed until your parcel is safely with you. If there is anything at all we can do for you, simply reply to this email.

                With our sincere apologies and warm regards,
                Your customer service team
            """),
        ),
        ZH: (
            "诚挚致歉：突发情况导致您的订单 {order_number} 延误",
            text("""
                尊敬的{customer_name}，您好：

                非常抱歉地通知您，受一起突发情况影响，部分包裹出现延误，其中包括您的订单 {order_number}。给您带来担忧和不便，我们深表歉意。

                情况说明：{incident}
                延误原因：{cause}
                当前状态：{status}
                最新位置：{location}
                预计送达：{new_eta}

                我们的处理：{action}

                为表达我们的歉意，也感谢您一直以来的信任与支持，我们特别为您准备了{remedy}，敬请笑纳。

                您可以随时在这里查看包裹进度：{progress_link}

                您的满意对我们非常重要，在包裹安全送达之前，我们会持续向您通报进展。如有任何需要，请随时回复本邮件，我们非常乐意为您效劳。

                再次向您致歉，并衷心感谢您的理解！
                客服团队敬上
            """),
        ),
    },
}


def templates():
    """Every default as ((kind, channel, language, region_style), subject, body)."""
    for kind, variants in EMAIL.items():
        for language, (subject, body) in variants.items():
            yield (kind, "email", language, ANY), subject, body
    for kind, variants in SMS.items():
        for language, body in variants.items():
            yield (kind, "sms", language, ANY), "", body
    for kind, variants in PUSH.items():
        for language, (title, body) in variants.items():
            yield (kind, "push", language, ANY), title, body
    for (kind, region), variants in REGIONAL.items():
        for language, (subject, body) in variants.items():
            yield (kind, "email", language, region), subject, body


def install(apps, schema_editor):
    NotificationTemplate = apps.get_model("notifications", "NotificationTemplate")
    for (kind, channel, language, region), subject, body in templates():
        NotificationTemplate.objects.get_or_create(
            kind=kind,
            channel=channel,
            language=language,
            region_style=region,
            defaults={"subject": subject, "body": body, "is_active": True},
        )


class Migration(migrations.Migration):
    dependencies = [("notifications", "0002_outbox_fallback_level")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
