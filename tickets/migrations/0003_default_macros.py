"""Default macros (reply templates), in English and Simplified Chinese (editable in the admin).

Placeholders are those of tickets/macros.py: {customer_name} {order_number} {tracking_number}
{new_eta} {delay_reason} {compensation}. Installing is idempotent and never overwrites a macro
that already exists (an admin may have reworded it); reversing leaves the rows in place.
"""

from django.db import migrations

EN = "en"
ZH = "zh-hans"

# slug, category ("" = any category), {language: (title, body)}
MACROS = [
    (
        "delay-apology",
        "delay",
        {
            EN: (
                "Delay: apology and new ETA",
                "Hello {customer_name},\n\n"
                "I am sorry that your order {order_number} is taking longer than we promised. "
                "Reason for the delay: {delay_reason}.\n\n"
                "The parcel is now expected to arrive on {new_eta}. You can follow it with "
                "tracking number {tracking_number}.\n\n"
                "We are keeping a close eye on it and will write to you again if anything "
                "changes. Thank you for your patience.\n\n"
                "Kind regards,\nCustomer Service",
            ),
            ZH: (
                "延误致歉及新预计送达时间",
                "{customer_name}，您好：\n\n"
                "非常抱歉，您的订单 {order_number} 未能在承诺的时间内送达。"
                "延误原因：{delay_reason}。\n\n"
                "包裹现预计于{new_eta}送达，"
                "您可以通过运单号 {tracking_number} 随时查询物流进度。\n\n"
                "我们会持续跟进，如有任何变化将第一时间通知您。感谢您的耐心与理解！\n\n"
                "客服团队敬上",
            ),
        },
    ),
    (
        "delay-update",
        "delay",
        {
            EN: (
                "Delay: progress update",
                "Hello {customer_name},\n\n"
                "Here is the latest news on your order {order_number}. The parcel is still on "
                "its way and we are in regular contact with the carrier about it. Reason for the "
                "delay: {delay_reason}.\n\n"
                "The current estimated delivery date is {new_eta} (tracking number "
                "{tracking_number}).\n\n"
                "We will send you another update in a few days, or sooner if the parcel moves "
                "on. Thank you for bearing with us.\n\n"
                "Kind regards,\nCustomer Service",
            ),
            ZH: (
                "延误进展更新",
                "{customer_name}，您好：\n\n"
                "向您同步订单 {order_number} 的最新进展："
                "包裹仍在运输途中，我们一直与承运商保持沟通。"
                "延误原因：{delay_reason}。\n\n"
                "目前预计送达日期为{new_eta}（运单号：{tracking_number}）。\n\n"
                "我们会在几天后再次向您更新进展；如包裹有新的动态，我们会第一时间告知您。"
                "感谢您的耐心等待！\n\n"
                "客服团队敬上",
            ),
        },
    ),
    (
        "lost-parcel-investigation",
        "lost",
        {
            EN: (
                "Lost parcel: investigation opened",
                "Hello {customer_name},\n\n"
                "Thank you for letting us know, and I am sorry that your order {order_number} "
                "has not arrived. We have opened an investigation with the carrier for the "
                "parcel with tracking number {tracking_number}.\n\n"
                "We will tell you what they find as soon as they reply. If the parcel cannot be "
                "found, we will send you a replacement or refund you, whichever you prefer.\n\n"
                "Kind regards,\nCustomer Service",
            ),
            ZH: (
                "丢件：已向承运商发起调查",
                "{customer_name}，您好：\n\n"
                "感谢您告知我们。订单 {order_number} 至今未能送达，给您带来不便，我们深表歉意。"
                "我们已就运单号 {tracking_number} 的包裹向承运商发起查件调查。\n\n"
                "承运商一有回复，我们会立即告知您调查结果。如最终确认包裹丢失，"
                "我们将按您的意愿为您补发或退款，请您放心。\n\n"
                "客服团队敬上",
            ),
        },
    ),
    (
        "compensation-offer",
        "",
        {
            EN: (
                "Compensation offer",
                "Hello {customer_name},\n\n"
                "We are sorry for the trouble with your order {order_number}. To make up for "
                "it, we would like to offer you {compensation}.\n\n"
                "Simply reply to this message to let us know that it suits you. If you have any "
                "questions, we are happy to help.\n\n"
                "Kind regards,\nCustomer Service",
            ),
            ZH: (
                "补偿方案",
                "{customer_name}，您好：\n\n"
                "订单 {order_number} 给您带来了困扰，我们深表歉意。作为补偿，我们希望为您提供"
                "{compensation}。\n\n"
                "如您同意，请直接回复本消息告诉我们；如有任何疑问，我们也随时乐意为您解答。\n\n"
                "客服团队敬上",
            ),
        },
    ),
    (
        "damaged-parcel",
        "damaged",
        {
            EN: (
                "Damaged parcel: photos please",
                "Hello {customer_name},\n\n"
                "I am very sorry that your order {order_number} arrived damaged. So that we can "
                "sort this out quickly, could you please reply with a few photos of the damaged "
                "item and of the outer packaging, including the shipping label?\n\n"
                "As soon as we have them, we will arrange a replacement or a refund for you and "
                "take up the claim with the carrier ourselves. Please keep the item and the "
                "packaging until the case is closed.\n\n"
                "Kind regards,\nCustomer Service",
            ),
            ZH: (
                "包裹破损：请提供照片",
                "{customer_name}，您好：\n\n"
                "非常抱歉，您的订单 {order_number} 在运输途中受损。为了尽快为您处理，"
                "麻烦您回复几张照片，包括受损的商品、外包装以及快递面单。\n\n"
                "收到照片后，我们会尽快为您安排补发或退款，并由我们向承运商索赔，无需您另行处理。"
                "在问题解决之前，请暂时保留商品及包装。\n\n"
                "客服团队敬上",
            ),
        },
    ),
    (
        "address-change",
        "address_change",
        {
            EN: (
                "Address change: request received",
                "Hello {customer_name},\n\n"
                "Thank you for your message. We have received your request to change the "
                "delivery address of order {order_number} and passed it on to the carrier "
                "(tracking number {tracking_number}).\n\n"
                "The change only applies once the carrier confirms it; if the parcel is already "
                "out for delivery, it may no longer be possible. If you have not sent us the "
                "full new address yet, including house number and postcode, please reply with "
                "it. We will let you know as soon as the carrier answers.\n\n"
                "Kind regards,\nCustomer Service",
            ),
            ZH: (
                "地址修改申请已受理",
                "{customer_name}，您好：\n\n"
                "感谢您的来信。我们已收到您修改订单 {order_number} 收货地址的申请，"
                "并已转交承运商处理（运单号：{tracking_number}）。\n\n"
                "地址修改需经承运商确认后方可生效；如包裹已在派送途中，可能无法再修改。"
                "如您尚未提供完整的新地址（含门牌号和邮政编码），请直接回复本消息告诉我们。"
                "承运商一有答复，我们会立即通知您。\n\n"
                "客服团队敬上",
            ),
        },
    ),
    (
        "shipment-status",
        "information",
        {
            EN: (
                "Parcel status",
                "Hello {customer_name},\n\n"
                "Thank you for getting in touch. Your order {order_number} is on its way with "
                "tracking number {tracking_number}, and it is currently expected to arrive on "
                "{new_eta}.\n\n"
                "If that date changes, we will let you know straight away.\n\n"
                "Kind regards,\nCustomer Service",
            ),
            ZH: (
                "包裹状态查询",
                "{customer_name}，您好：\n\n"
                "感谢您的咨询。您的订单 {order_number} 正在配送途中，运单号为 {tracking_number}，"
                "目前预计于{new_eta}送达。\n\n"
                "如预计送达时间有变化，我们会及时通知您。\n\n"
                "客服团队敬上",
            ),
        },
    ),
    (
        "resolved-closing",
        "",
        {
            EN: (
                "Closing: case resolved",
                "Hello {customer_name},\n\n"
                "I am glad we could resolve the issue with your order {order_number}. Thank you "
                "for your patience while we sorted it out, and once again our apologies for the "
                "inconvenience.\n\n"
                "We are now closing this request. If anything else comes up, simply reply to "
                "this message and we will pick it up right away.\n\n"
                "Kind regards,\nCustomer Service",
            ),
            ZH: (
                "结案：问题已解决",
                "{customer_name}，您好：\n\n"
                "很高兴订单 {order_number} 的问题已经得到解决。感谢您在处理期间的耐心与理解，"
                "再次为给您带来的不便致歉。\n\n"
                "本次服务请求现已关闭。如您还有任何问题，直接回复本消息即可，我们会第一时间为您跟进。\n\n"
                "客服团队敬上",
            ),
        },
    ),
]


def install(apps, schema_editor):
    Macro = apps.get_model("tickets", "Macro")
    for slug, category, variants in MACROS:
        for language, (title, body) in variants.items():
            Macro.objects.get_or_create(
                slug=slug,
                language=language,
                defaults={"title": title, "body": body, "category": category, "is_active": True},
            )


class Migration(migrations.Migration):
    dependencies = [("tickets", "0002_default_priority_and_sla")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
