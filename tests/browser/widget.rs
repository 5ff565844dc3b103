//! The widget alone: it keeps the conversation across a reload without showing anything
//! twice, renders hostile text as text, works with the keyboard and on a phone-sized screen.

use fantoccini::key::Key;
use serde_json::json;

use crate::chrome::{ROOT, browser};
use crate::helpers::spawn_app;

const INJECTION: &str = "<img src=x onerror=\"window.__pwned=1\">看看这个";

#[tokio::test]
async fn a_reload_keeps_the_conversation_and_markup_stays_text() {
    let app = spawn_app().await;
    let b = browser(1280, 900).await;
    b.client.goto(&app.url("/demo")).await.unwrap();
    b.widget(".launcher").await.click().await.unwrap();
    let input = b.widget(".composer textarea").await;
    input.send_keys("退货的运费是谁出的？").await.unwrap();
    input.send_keys(&Key::Enter.to_string()).await.unwrap();
    b.until("the FAQ answer", &format!("[...{ROOT}.querySelectorAll('.msg.bot')].some(m => m.textContent.includes('无理由退货'))"))
        .await;
    // FAQ Markdown is rendered (bold, a list), through elements the renderer made itself.
    let rendered = b
        .js(&format!("return {ROOT}.querySelector('.msg.bot strong') !== null && {ROOT}.querySelector('.msg.bot li') !== null;"))
        .await;
    assert_eq!(rendered, json!(true));

    input.send_keys(INJECTION).await.unwrap();
    input.send_keys(&Key::Enter.to_string()).await.unwrap();
    b.until("the shopper's message", &format!("[...{ROOT}.querySelectorAll('.msg.shopper')].some(m => m.textContent === {INJECTION:?})"))
        .await;
    let injected = b
        .js(&format!(
            "return [{ROOT}.querySelectorAll('.log img').length, window.__pwned === undefined];"
        ))
        .await;
    assert_eq!(
        injected,
        json!([0, true]),
        "no element, no script: text only"
    );
    // An agent's reply with markup is text too.
    let agent = app.add_agent("王芳", &["general", "after_sales"], 2).await;
    app.online(&agent).await;
    let (id, token) = stored_conversation(&b).await;
    app.service
        .request_handoff(&id, Some(&token), |_| Ok::<(), ()>(()))
        .await
        .unwrap()
        .unwrap();
    app.tick().await;
    app.agent_post(
        &agent,
        &format!("/v1/agent/conversations/{id}/accept"),
        json!({}),
    )
    .await;
    let (s, _) = app
        .agent_post(
            &agent,
            &format!("/v1/agent/conversations/{id}/messages"),
            json!({"text": "<b>粗体</b><img src=x onerror=\"window.__pwned=2\">"}),
        )
        .await;
    assert_eq!(s, 201);
    b.until("the agent's reply", &format!("[...{ROOT}.querySelectorAll('.msg.agent')].some(m => m.textContent.includes('<b>粗体</b>'))"))
        .await;
    let injected = b
        .js(&format!("return [{ROOT}.querySelectorAll('.log img, .log b').length, window.__pwned === undefined];"))
        .await;
    assert_eq!(injected, json!([0, true]));

    let before = b
        .js(&format!(
            "return [...{ROOT}.querySelectorAll('.msg:not(.pending)')].map(m => m.textContent);"
        ))
        .await;
    b.client.refresh().await.unwrap();
    b.until(
        "the conversation after the reload",
        &format!(
            "{ROOT} && {ROOT}.querySelectorAll('.msg').length >= {}",
            before.as_array().unwrap().len()
        ),
    )
    .await;
    let after = b
        .js(&format!(
            "return [...{ROOT}.querySelectorAll('.msg:not(.pending)')].map(m => m.textContent);"
        ))
        .await;
    assert_eq!(after, before, "the same messages, once each, in order");
    let (same_id, _) = stored_conversation(&b).await;
    assert_eq!(same_id, id, "the same conversation continues");
    b.screenshot("widget-reload").await;
    b.close().await;
    app.stop().await;
}

#[tokio::test]
async fn keyboard_only_on_a_phone_sized_screen_in_english() {
    let app = spawn_app().await;
    let b = browser(390, 844).await;
    b.client.goto(&app.url("/demo?lang=en")).await.unwrap();
    let launcher = b.widget(".launcher").await;
    assert_eq!(
        launcher.text().await.unwrap(),
        "Chat with us",
        "follows the page's language"
    );
    // Focus the launcher, open with Enter, type, send with Enter: no mouse.
    b.js(&format!("{ROOT}.querySelector('.launcher').focus();"))
        .await;
    launcher.send_keys(&Key::Enter.to_string()).await.unwrap();
    b.until(
        "the input has the focus",
        &format!("{ROOT}.activeElement && {ROOT}.activeElement.tagName === 'TEXTAREA'"),
    )
    .await;
    let input = b.widget(".composer textarea").await;
    input
        .send_keys("How long does a refund take?")
        .await
        .unwrap();
    input.send_keys(&Key::Enter.to_string()).await.unwrap();
    b.until(
        "a reply",
        &format!("{ROOT}.querySelectorAll('.msg.bot').length > 0"),
    )
    .await;
    let width = b
        .js(&format!(
            "return {ROOT}.querySelector('.panel').getBoundingClientRect().width;"
        ))
        .await;
    assert_eq!(
        width.as_f64().map(|w| w.round()),
        Some(390.0),
        "full width on a phone"
    );
    b.screenshot("widget-phone").await;
    // The language switch changes the widget's own words.
    b.widget("header button").await.click().await.unwrap();
    b.until(
        "Chinese labels",
        &format!("{ROOT}.querySelector('.composer .primary').textContent === '发送'"),
    )
    .await;
    // Escape closes and gives the focus back to the launcher.
    b.widget(".composer textarea")
        .await
        .send_keys(&Key::Escape.to_string())
        .await
        .unwrap();
    b.until("closed", &format!("{ROOT}.querySelector('.panel').hidden && {ROOT}.activeElement === {ROOT}.querySelector('.launcher')"))
        .await;
    b.close().await;
    app.stop().await;
}

/// The conversation id and token the widget keeps in localStorage.
pub async fn stored_conversation(b: &crate::chrome::Browser) -> (String, String) {
    let v = b
        .until("a stored conversation", "(() => { for (let i = 0; i < localStorage.length; i++) { const k = localStorage.key(i); if (k.startsWith('baton:')) { const v = JSON.parse(localStorage.getItem(k)); if (v.id) return [v.id, v.token]; } } return null; })()")
        .await;
    (
        v[0].as_str().unwrap().to_string(),
        v[1].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn off_hours_the_shopper_leaves_a_message_from_the_widget() {
    let temp = tempfile::tempdir().unwrap();
    let config = crate::helpers::test_config(temp.path());
    // 23:30 in Shanghai: the team is off duty.
    let app =
        crate::helpers::spawn_app_at(config, crate::helpers::clock_at("2026-11-11T15:30:00Z"))
            .await;
    let agent = app.add_agent("早班", &["general"], 2).await;
    let b = browser(1280, 900).await;
    b.client.goto(&app.url("/demo")).await.unwrap();
    b.widget(".launcher").await.click().await.unwrap();
    b.widget(".actions .chip").await.click().await.unwrap();
    b.until(
        "the off-hours notice",
        &format!("{ROOT}.querySelector('.log').textContent.includes('09:00–22:00')"),
    )
    .await;
    b.until(
        "the leave-a-message button",
        &format!("!{ROOT}.querySelectorAll('.actions .chip')[1].hidden"),
    )
    .await;
    b.widget(".actions .chip:nth-child(2)")
        .await
        .click()
        .await
        .unwrap();
    b.widget("form.card input")
        .await
        .send_keys("13812345678")
        .await
        .unwrap();
    b.widget("form.card textarea")
        .await
        .send_keys("明早请回电话")
        .await
        .unwrap();
    b.screenshot("widget-leave-message").await;
    b.widget("form.card .row .primary")
        .await
        .click()
        .await
        .unwrap();
    b.until(
        "the confirmation",
        &format!("{ROOT}.querySelector('.log').textContent.includes('留言已收到')"),
    )
    .await;
    let (s, t) = app.agent_get(&agent, "/v1/agent/tickets").await;
    assert_eq!(s, 200);
    assert_eq!(t["tickets"][0]["text"], "明早请回电话", "{t}");
    assert_eq!(t["tickets"][0]["contact"], "13812345678");
    b.close().await;
    app.stop().await;
}

#[tokio::test]
async fn unacknowledged_messages_are_resent_with_their_id_and_shown_once() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    // The first message reached the server, but the page died before it heard back; the
    // second never left. Both are in the widget's outbox when the page comes back.
    let r = app
        .send_raw(&id, &token, "我的订单到哪了", "lost-ack")
        .await;
    assert_eq!(r.status(), 201);
    let b = browser(1280, 900).await;
    b.client.goto(&app.url("/demo")).await.unwrap();
    let key = format!("baton:{}", app.base);
    let saved = json!({
        "id": id, "token": token, "lang": "zh", "open": true,
        "outbox": [
            {"client_msg_id": "lost-ack", "text": "我的订单到哪了"},
            {"client_msg_id": "never-sent", "text": "还有发票怎么开"},
        ],
    });
    b.client
        .execute(
            "localStorage.setItem(arguments[0], arguments[1]);",
            vec![json!(key), json!(saved.to_string())],
        )
        .await
        .unwrap();
    b.client.refresh().await.unwrap();
    b.until("both messages stored", &format!("{ROOT} && [...{ROOT}.querySelectorAll('.msg.shopper:not(.pending)')].some(m => m.textContent === '还有发票怎么开')"))
        .await;
    b.until("the outbox drained", "(() => { const k = Object.keys(localStorage).find(k => k.startsWith('baton:')); return JSON.parse(localStorage.getItem(k)).outbox.length === 0; })()")
        .await;
    let shown = b
        .js(&format!(
            "return [...{ROOT}.querySelectorAll('.msg.shopper')].map(m => m.textContent);"
        ))
        .await;
    assert_eq!(
        shown,
        json!(["我的订单到哪了", "还有发票怎么开"]),
        "each once"
    );
    let stored = app.messages(&id, &token, 0).await;
    let shopper: Vec<&str> = stored["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["author"] == "shopper")
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        shopper,
        ["我的订单到哪了", "还有发票怎么开"],
        "the retry stored nothing twice"
    );
    b.close().await;
    app.stop().await;
}

/// Types a message into the open widget and waits for a reply to it.
async fn say(b: &crate::chrome::Browser, text: &str, replies_before: usize) {
    let input = b.widget(".composer textarea").await;
    input.send_keys(text).await.unwrap();
    input.send_keys(&Key::Enter.to_string()).await.unwrap();
    b.until(
        "a reply",
        &format!("{ROOT}.querySelectorAll('.msg.bot').length > {replies_before}"),
    )
    .await;
}

#[tokio::test]
async fn a_signed_in_shopper_is_verified_a_refused_token_chats_as_a_guest() {
    let app = spawn_app().await;
    let b = browser(1280, 900).await;
    b.client.goto(&app.url("/demo")).await.unwrap();
    b.widget(".launcher").await.click().await.unwrap();

    // An expired token: the shopper still gets help, as a guest.
    let expired = crate::helpers::customer_token(
        json!({"id": "u-2002", "vip": true, "exp": app.now_secs() - 3600}),
    );
    b.js(&format!("Baton.identify({expired:?});")).await;
    say(&b, "你好", 0).await;
    let (guest, _) = stored_conversation(&b).await;
    let customer = app.service.load(&guest).await.unwrap().customer;
    assert!(!customer.verified && !customer.is_vip(), "{customer:?}");

    // Signing in starts a verified conversation: the guest's is left behind.
    let token = app.signed(json!({"id": "u-2001", "name": "李雷", "vip": true}));
    b.js(&format!("Baton.identify({token:?});")).await;
    b.until(
        "the guest's conversation is left",
        &format!("{ROOT}.querySelectorAll('.msg').length === 0"),
    )
    .await;
    say(&b, "你好", 0).await;
    let (signed, _) = stored_conversation(&b).await;
    assert_ne!(signed, guest);
    let customer = app.service.load(&signed).await.unwrap().customer;
    assert!(customer.verified && customer.is_vip(), "{customer:?}");
    assert_eq!(customer.id.as_deref(), Some("u-2001"));

    // The same customer again (the next page view) keeps the conversation; signing out
    // leaves it behind.
    b.js(&format!("Baton.identify({token:?});")).await;
    assert_eq!(stored_conversation(&b).await.0, signed);
    b.js("Baton.identify(null);").await;
    let left = b
        .js("return Object.keys(localStorage).filter(k => k.startsWith('baton:')).map(k => JSON.parse(localStorage.getItem(k)).id);")
        .await;
    assert_eq!(
        left,
        json!([null]),
        "no conversation stays for the next person"
    );
    b.close().await;
    app.stop().await;
}

/// How many bot messages the widget shows.
async fn bot_messages(b: &crate::chrome::Browser) -> usize {
    b.js(&format!(
        "return {ROOT}.querySelectorAll('.msg.bot').length;"
    ))
    .await
    .as_u64()
    .unwrap_or(0) as usize
}

/// Says `first` to the bot and waits until the JavaScript expression `done` holds. A guest's
/// order is only shown to whoever knows the phone's last four digits: when the bot asks
/// for them instead, the shopper answers 5678 (the demo shop's phone of customer c1001).
pub async fn talk_until(b: &crate::chrome::Browser, first: &str, what: &str, done: &str) {
    let check = format!("return !!({done});");
    say(b, first, bot_messages(b).await).await;
    if b.js(&check).await == json!(true) {
        return;
    }
    let asked = b
        .js(&format!(
            "const m = [...{ROOT}.querySelectorAll('.msg.bot')].pop(); return m ? m.textContent : '';"
        ))
        .await;
    assert!(
        asked
            .as_str()
            .is_some_and(|t| ["4", "四", "尾号", "手机"].iter().any(|w| t.contains(w))),
        "the bot neither showed {what} nor asked for the phone's last digits: {asked}"
    );
    say(b, "5678", bot_messages(b).await).await;
    b.until(what, done).await;
}

/// The demo page with the widget open, as a guest.
pub async fn open_demo(app: &crate::helpers::TestApp) -> crate::chrome::Browser {
    let b = browser(1280, 900).await;
    b.client.goto(&app.url("/demo")).await.unwrap();
    b.widget(".launcher").await.click().await.unwrap();
    b
}

#[tokio::test]
async fn an_order_status_shows_the_order_card_and_its_tracking_timeline() {
    let app = spawn_app().await;
    let b = open_demo(&app).await;
    talk_until(
        &b,
        "帮我查下订单 MM202611110001 到哪了",
        "an order card with its timeline",
        &format!("{ROOT}.querySelector('.msg.bot .order ol.trace li')"),
    )
    .await;
    let card = b
        .js(&format!(
            "const c = [...{ROOT}.querySelectorAll('.msg.bot .order')].pop();
             return {{
               head: c.querySelector('.head').textContent,
               items: [...c.querySelectorAll('.item')].map(i => i.textContent),
               amount: c.querySelector('.amount').textContent,
               trace: [...c.querySelectorAll('ol.trace > li')].map(li => [li.querySelector('time') ? li.querySelector('time').textContent : '', li.querySelector('.text').textContent]),
               label: c.getAttribute('aria-label'),
             }};"
        ))
        .await;
    let head = card["head"].as_str().unwrap();
    assert!(
        head.contains("MM202611110001") && head.contains("已发货"),
        "{card}"
    );
    assert!(
        card["items"][0]
            .as_str()
            .is_some_and(|i| i.contains("轻薄羽绒服") && i.contains("× 1") && i.contains("399.00")),
        "{card}"
    );
    assert!(
        card["amount"].as_str().unwrap().contains("399.00"),
        "{card}"
    );
    let trace = card["trace"].as_array().unwrap();
    assert_eq!(trace.len(), 4, "the demo shop's four events: {card}");
    assert!(
        trace
            .iter()
            .all(|e| !e[0].as_str().unwrap().is_empty() && !e[1].as_str().unwrap().is_empty()),
        "each event has its time and text: {card}"
    );
    // Nothing from the shop became markup.
    let markup = b
        .js(&format!(
            "return {ROOT}.querySelectorAll('.log img, .log script, .log b').length;"
        ))
        .await;
    assert_eq!(markup, json!(0));
    b.screenshot("widget-order-trace").await;
    b.close().await;
    app.stop().await;
}

/// Asks the bot to cancel MM202611110002 and waits for its confirm buttons.
pub async fn ask_to_cancel(b: &crate::chrome::Browser) {
    talk_until(
        b,
        "帮我取消订单 MM202611110002",
        "the confirm buttons",
        &format!("{ROOT}.querySelector('.choices button:not([disabled])')"),
    )
    .await;
}

/// Taps the enabled answer button whose label contains `label`.
pub async fn tap(b: &crate::chrome::Browser, label: &str) {
    for button in b.widget_all(".choices button:not([disabled])").await {
        if button.text().await.unwrap().contains(label) {
            button.click().await.unwrap();
            return;
        }
    }
    panic!("no enabled button labelled {label}");
}

#[tokio::test]
async fn cancelling_an_order_is_confirmed_with_a_button() {
    let app = spawn_app().await;
    let b = open_demo(&app).await;
    ask_to_cancel(&b).await;
    let labels = b
        .js(&format!(
            "return [...{ROOT}.querySelectorAll('.choices button')].map(b => b.textContent);"
        ))
        .await;
    assert!(
        labels.as_array().unwrap().len() >= 2,
        "confirm and a way out: {labels}"
    );
    let shoppers = b
        .js(&format!(
            "return {ROOT}.querySelectorAll('.msg.shopper').length;"
        ))
        .await;
    b.screenshot("widget-order-cancel-ask").await;
    let before = bot_messages(&b).await;
    tap(&b, "确认").await;
    // The tap is the shopper's next message: the button's value, sent like typed text.
    b.until(
        "the tap as a shopper message",
        &format!("{ROOT}.querySelectorAll('.msg.shopper:not(.pending)').length > {shoppers}"),
    )
    .await;
    b.until(
        "the bot's confirmation",
        &format!(
            "{ROOT}.querySelectorAll('.msg.bot').length > {before} && /已取消|取消成功|已为您取消/.test([...{ROOT}.querySelectorAll('.msg.bot')].pop().textContent)"
        ),
    )
    .await;
    let spent = b
        .js(&format!(
            "return [...{ROOT}.querySelectorAll('.choices button')].every(b => b.disabled);"
        ))
        .await;
    assert_eq!(spent, json!(true), "a message's buttons answer it once");
    let pressed = b
        .js(&format!(
            "return [...{ROOT}.querySelectorAll('.choices button[aria-pressed=true]')].map(b => b.textContent);"
        ))
        .await;
    assert!(
        pressed[0].as_str().is_some_and(|l| l.contains("确认")),
        "{pressed}"
    );
    // The demo shop has the order cancelled.
    let order: serde_json::Value = app
        .client
        .get(app.url("/demo/api/orders/MM202611110002?phone_last4=5678"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(order["order"]["status"], "cancelled", "{order}");
    b.screenshot("widget-order-cancel").await;
    b.close().await;
    app.stop().await;
}
