//! What an order task says: Baton's own questions and notices in both languages, the
//! editor's templates rendered over a call's fields, and the card and buttons a client shows.

use crate::content::Bilingual;
use crate::content::actions::ShopCalls;
use crate::content::template;
use crate::conversation::{
    Author, Button, Card, CardItem, CardOrder, DecisionKind, Outgoing, ReplyMeta, TraceEvent,
};
use crate::dialogue_memory::OrderSeen;
use crate::nlu::Lang;

type Fields = serde_json::Map<String, serde_json::Value>;

fn pick(lang: Lang, zh: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

pub fn ask_order_number(lang: Lang) -> &'static str {
    pick(
        lang,
        "请告诉我订单号（在「我的 → 我的订单」里可以找到）。",
        "Could you tell me the order number? You can find it under My → My Orders.",
    )
}

pub fn ask_phone(lang: Lang) -> &'static str {
    pick(
        lang,
        "为了确认是您的订单，请告诉我下单手机号的后四位。",
        "To make sure it's your order, please tell me the last 4 digits of the phone number on it.",
    )
}

pub fn ask_choice(lang: Lang) -> &'static str {
    pick(
        lang,
        "您问的是哪一笔订单？点一下就好，也可以直接发订单号。",
        "Which order do you mean? Tap one, or send the order number.",
    )
}

pub fn ask_address(lang: Lang) -> &'static str {
    pick(
        lang,
        "请发送新的收货地址（省、市、区和详细地址）。",
        "Please send the new delivery address (street, number, city).",
    )
}

pub fn ask_sku(lang: Lang) -> &'static str {
    pick(
        lang,
        "请告诉我商品编号（例如 SKU-1001），或者在商品页面打开聊天再问我。",
        "Please tell me the product code (e.g. SKU-1001), or ask me from the product's page.",
    )
}

pub fn not_found(lang: Lang) -> &'static str {
    pick(
        lang,
        "没有找到这个订单，或者它和您的账户、手机号对不上。请核对后再发一次订单号。",
        "I couldn't find that order for you, or it doesn't match your account or phone. Please check the number and send it again.",
    )
}

pub fn product_not_found(lang: Lang) -> &'static str {
    pick(
        lang,
        "没有找到这个商品编号，请核对一下。",
        "I couldn't find that product code; please check it.",
    )
}

pub fn declined(lang: Lang) -> &'static str {
    pick(
        lang,
        "好的，订单保持不变。还有什么可以帮您？",
        "OK, I've left the order as it is. Anything else I can help with?",
    )
}

pub fn left_task(lang: Lang) -> &'static str {
    pick(
        lang,
        "好的，有其他需要随时告诉我。",
        "Sure. If you need anything else, just ask.",
    )
}

pub fn call_failed(lang: Lang) -> &'static str {
    pick(
        lang,
        "抱歉，订单系统暂时没有正常回应。我已为您转接人工客服，他们能看到您刚才的请求，不用再说一遍。",
        "Sorry, the order system isn't answering properly right now. I'm passing you to a colleague who can see exactly what you asked, so you won't need to repeat it.",
    )
}

pub fn gave_up_asking(lang: Lang) -> &'static str {
    pick(
        lang,
        "我还是没能确认订单信息，为您转接人工客服。",
        "I still couldn't confirm the order details, so I'm passing you to a colleague.",
    )
}

pub fn confirm_buttons(lang: Lang) -> Vec<Button> {
    let (yes, no) = match lang {
        Lang::Zh => (("确认", "确认"), ("先不了", "不用了")),
        Lang::En => (("Yes, go ahead", "yes"), ("No, keep it", "no")),
    };
    vec![
        Button {
            label: yes.0.into(),
            value: yes.1.into(),
        },
        Button {
            label: no.0.into(),
            value: no.1.into(),
        },
    ]
}

/// A plain task message.
pub fn message(intent: &str, text: impl Into<String>) -> Outgoing {
    Outgoing::reply(
        Author::Bot,
        text,
        ReplyMeta {
            intent: Some(intent.to_string()),
            ..ReplyMeta::new(DecisionKind::Task)
        },
    )
}

/// The fields a reply template sees: the call's fields, each labelled one's `<field>_label`
/// in `lang`, and `lang` itself.
pub fn template_values(fields: &Fields, calls: &ShopCalls, lang: Lang) -> serde_json::Value {
    let mut values = fields.clone();
    for (name, value) in fields {
        if let Some(v) = value.as_str()
            && let Some(label) = calls.label(name, v, lang)
        {
            values.insert(format!("{name}_label"), label.into());
        }
    }
    values.insert("lang".into(), lang.code().into());
    serde_json::Value::Object(values)
}

/// An editor's template in `lang`; a template that fails renders as the raw text (the lint
/// checked it compiles, so this is only a runtime value problem).
pub fn render_text(text: &Bilingual<String>, values: &serde_json::Value, lang: Lang) -> String {
    let template = text.get(lang);
    template::render(template, values)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "a task reply did not render");
            template.clone()
        })
}

fn text_of(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The order on a card, from the reference contract's field names.
pub fn card_order(fields: &Fields, calls: &ShopCalls, lang: Lang) -> Option<CardOrder> {
    let number = text_of(fields.get("number"))?;
    let status = text_of(fields.get("status")).unwrap_or_default();
    let status_label = calls
        .label("status", &status, lang)
        .map(str::to_string)
        .unwrap_or_else(|| status.clone());
    let items = fields
        .get("items")
        .and_then(|v| v.as_array())
        .map(|items| {
            items
                .iter()
                .map(|i| CardItem {
                    name: localized(i, "name", lang).unwrap_or_default(),
                    qty: i.get("qty").and_then(|q| q.as_u64()).unwrap_or(1) as u32,
                    price: text_of(i.get("price")),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(CardOrder {
        number,
        status,
        status_label,
        items,
        amount: text_of(fields.get("amount")),
        currency: text_of(fields.get("currency")),
        created_at: text_of(fields.get("created_at")),
    })
}

/// `key` of a JSON object in `lang`: `key_en` for English when the shop gives one.
fn localized(v: &serde_json::Value, key: &str, lang: Lang) -> Option<String> {
    if lang == Lang::En
        && let Some(en) = text_of(v.get(format!("{key}_en")))
    {
        return Some(en);
    }
    text_of(v.get(key))
}

/// A card: the order (when asked for and present) and the timeline in `timeline`.
pub fn card(
    fields: &Fields,
    calls: &ShopCalls,
    lang: Lang,
    with_order: bool,
    timeline: Option<&str>,
) -> Option<Box<Card>> {
    let order = if with_order {
        card_order(fields, calls, lang)
    } else {
        None
    };
    let trace: Vec<TraceEvent> = timeline
        .and_then(|t| fields.get(t))
        .and_then(|v| v.as_array())
        .map(|events| {
            events
                .iter()
                .map(|e| TraceEvent {
                    time: text_of(e.get("time")).unwrap_or_default(),
                    text: localized(e, "text", lang).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let title = match (
        text_of(fields.get("carrier")),
        text_of(fields.get("tracking_number")),
    ) {
        (Some(c), Some(n)) if !trace.is_empty() => Some(format!("{c} {n}")),
        _ => None,
    };
    (order.is_some() || !trace.is_empty()).then(|| {
        Box::new(Card {
            title,
            order,
            trace,
        })
    })
}

/// The order as the agent's context view lists it.
pub fn order_seen(fields: &Fields, calls: &ShopCalls, lang: Lang) -> Option<OrderSeen> {
    let o = card_order(fields, calls, lang)?;
    Some(OrderSeen {
        number: o.number,
        status: Some(o.status).filter(|s| !s.is_empty()),
        status_label: Some(o.status_label).filter(|s| !s.is_empty()),
        amount: o.amount,
        currency: o.currency,
        items: o
            .items
            .iter()
            .map(|i| format!("{} × {}", i.name, i.qty))
            .collect(),
    })
}

/// A choice button for one of the shopper's recent orders.
pub fn order_button(order: &serde_json::Value, calls: &ShopCalls, lang: Lang) -> Option<Button> {
    let number = text_of(order.get("number"))?;
    let status = text_of(order.get("status")).unwrap_or_default();
    let label_status = calls
        .label("status", &status, lang)
        .map(str::to_string)
        .unwrap_or(status);
    let first_item = order
        .get("items")
        .and_then(|i| i.as_array())
        .and_then(|i| i.first())
        .and_then(|i| localized(i, "name", lang));
    let label = [Some(number.clone()), first_item, Some(label_status)]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    Some(Button {
        label,
        value: number,
    })
}
