//! The whole handoff in two browsers: a shopper on the demo shop asks a FAQ in Chinese and
//! gets the answer, asks for a person and sees their place in the queue; an agent signed in
//! to the console gets the offer, accepts, sees the transcript, the reason and the summary,
//! replies (once by hand, once from an assist suggestion); the shopper sees the replies; the
//! agent resolves; the shopper rates. And the shop beside the transcript: the shopper's
//! page, the orders the bot looked up, its calls to the shop and the agent's own look-ups.

use fantoccini::Locator;
use fantoccini::key::Key;

use crate::chrome::{ROOT, browser};
use crate::helpers::spawn_app;

#[tokio::test]
async fn shopper_and_agent_end_to_end() {
    let app = spawn_app().await;
    let wang = app.add_agent("王芳", &["general", "after_sales"], 3).await;

    // The agent signs in and goes online from the console.
    let agent = signed_in(&app, &wang).await;

    // The shopper asks a FAQ in Chinese.
    let shopper = browser(1280, 900).await;
    shopper.client.goto(&app.url("/demo")).await.unwrap();
    shopper.widget(".launcher").await.click().await.unwrap();
    let input = shopper.widget(".composer textarea").await;
    input.send_keys("退货的运费是谁出的？").await.unwrap();
    input.send_keys(&Key::Enter.to_string()).await.unwrap();
    shopper
        .until("the FAQ answer", &format!("[...{ROOT}.querySelectorAll('.msg.bot')].some(m => m.textContent.includes('无理由退货'))"))
        .await;
    shopper.screenshot("widget-answer").await;

    // … then asks for a person, and sees where they stand.
    shopper
        .widget(".actions .chip")
        .await
        .click()
        .await
        .unwrap();
    shopper
        .until(
            "queued",
            &format!("{ROOT}.querySelector('.status').textContent === '排队中'"),
        )
        .await;
    shopper
        .until("the queue position", &format!("!{ROOT}.querySelector('.banner').hidden && {ROOT}.querySelector('.banner').textContent.includes('马上轮到您')"))
        .await;
    shopper.screenshot("widget-queued").await;

    // The agent gets the offer and takes it: transcript, reason and summary at once.
    agent
        .until(
            "the offer",
            "document.querySelectorAll('#offers li').length === 1",
        )
        .await;
    agent.screenshot("console-offer").await;
    agent.click(Locator::Css("#offers li button.primary")).await;
    agent
        .until(
            "the transcript",
            "document.getElementById('c-transcript').textContent.includes('退货的运费是谁出的')",
        )
        .await;
    agent
        .until(
            "the reason",
            "document.getElementById('c-badges').textContent.includes('顾客要求人工')",
        )
        .await;
    agent
        .until(
            "the summary",
            "document.getElementById('c-summary').textContent.includes('转人工原因')",
        )
        .await;
    agent.until("the intent and confidence", "/return_shipping|return_request|human_agent/.test(document.getElementById('c-transcript').textContent) && document.getElementById('c-transcript').textContent.includes('%')").await;
    shopper
        .until(
            "the agent's name",
            &format!("{ROOT}.querySelector('.status').textContent.includes('王芳')"),
        )
        .await;

    // A reply by hand.
    let reply = agent.client.find(Locator::Id("reply")).await.unwrap();
    reply
        .send_keys("您好，我是王芳，马上为您处理退货运费的问题。")
        .await
        .unwrap();
    reply.send_keys(&Key::Enter.to_string()).await.unwrap();
    shopper
        .until("the agent's reply", &format!("[...{ROOT}.querySelectorAll('.msg.agent')].some(m => m.textContent.includes('马上为您处理'))"))
        .await;

    // The shopper asks again; the agent answers from an assist suggestion, one click away.
    let input = shopper.widget(".composer textarea").await;
    input.send_keys("运费险怎么用？").await.unwrap();
    input.send_keys(&Key::Enter.to_string()).await.unwrap();
    agent
        .until(
            "an assist suggestion",
            "document.querySelectorAll('#c-assist button').length > 0",
        )
        .await;
    agent
        .until(
            "what the bot understood of the new message",
            "document.querySelector('#c-transcript li:last-child .why') !== null",
        )
        .await;
    agent.screenshot("console-conversation").await;
    agent.click(Locator::Css("#c-assist button")).await;
    agent
        .until(
            "the reply box filled",
            "document.getElementById('reply').value.length > 10",
        )
        .await;
    let suggested = agent
        .js("return document.getElementById('reply').value;")
        .await;
    let first_line = suggested
        .as_str()
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    agent
        .type_in(Locator::Id("reply"), &Key::Enter.to_string())
        .await;
    shopper
        .until("the suggested answer", &format!("[...{ROOT}.querySelectorAll('.msg.agent')].some(m => m.textContent.includes({first_line:?}))"))
        .await;
    shopper.screenshot("widget-agent").await;

    // Resolve; the shopper rates.
    agent.click(Locator::Id("resolve")).await;
    shopper.until("the rating form", &format!("{ROOT}.querySelector('.stars') && !{ROOT}.querySelector('.stars').closest('form').hidden")).await;
    shopper.screenshot("widget-rating").await;
    shopper
        .widget(".stars button:nth-child(5)")
        .await
        .click()
        .await
        .unwrap();
    shopper
        .widget("form.card .row .primary")
        .await
        .click()
        .await
        .unwrap();
    shopper
        .until(
            "thanks",
            &format!("{ROOT}.querySelector('.log').textContent.includes('感谢您的评价')"),
        )
        .await;

    let (id, _) = crate::widget::stored_conversation(&shopper).await;
    let audit = app.service.store().audit_log(Some(&id), 100).await.unwrap();
    let rated = audit.iter().find(|a| a.action == "rate").expect("a rating");
    assert_eq!(rated.detail["score"], 5);
    assert!(
        audit
            .iter()
            .any(|a| a.action == "resolve" && a.actor == format!("agent:{}", wang.id))
    );
    agent.close().await;
    shopper.close().await;
    app.stop().await;
}

/// A console signed in as `who`, online, its live connection up; in Chinese, which the
/// texts these tests look for are in, whatever the browser's own language.
pub(crate) async fn signed_in(
    app: &crate::helpers::TestApp,
    who: &crate::helpers::Agent,
) -> crate::chrome::Browser {
    let agent = browser(1400, 900).await;
    agent
        .client
        .goto(&app.url("/console?lang=zh"))
        .await
        .unwrap();
    agent
        .until(
            "the sign-in form",
            "!document.getElementById('signin').hidden",
        )
        .await;
    agent.type_in(Locator::Id("token"), &who.token).await;
    agent.click(Locator::Css("#signin-form button")).await;
    agent
        .until("the console", "!document.getElementById('app').hidden")
        .await;
    agent
        .until(
            "the agent's name",
            &format!(
                "document.getElementById('me-name').textContent === {:?}",
                who.name
            ),
        )
        .await;
    agent
        .until(
            "connected",
            "document.getElementById('conn').classList.contains('ok')",
        )
        .await;
    agent
        .client
        .find(Locator::Id("status"))
        .await
        .unwrap()
        .select_by_value("online")
        .await
        .unwrap();
    agent
        .until(
            "online",
            "document.getElementById('status').value === 'online'",
        )
        .await;
    app.tick().await;
    agent
}

#[tokio::test]
async fn the_agent_sees_the_orders_and_looks_one_up() {
    let app = spawn_app().await;
    let li = app.add_agent("李娜", crate::helpers::ALL_SKILLS, 3).await;
    let agent = signed_in(&app, &li).await;

    // A guest on the demo shop's product page cancels an order, then asks for a person.
    let shopper = crate::widget::open_demo(&app).await;
    crate::widget::ask_to_cancel(&shopper).await;
    crate::widget::tap(&shopper, "确认").await;
    shopper
        .until(
            "the cancellation",
            &format!(
                "[...{ROOT}.querySelectorAll('.msg.bot')].pop().textContent.includes('已取消')"
            ),
        )
        .await;
    let input = shopper.widget(".composer textarea").await;
    input.send_keys("转人工").await.unwrap();
    input.send_keys(&Key::Enter.to_string()).await.unwrap();
    shopper
        .until(
            "queued",
            &format!("{ROOT}.querySelector('.status').textContent === '排队中'"),
        )
        .await;
    app.tick().await;

    // The agent takes it: the page the shopper was on and the order are there at once.
    agent
        .until(
            "the offer",
            "document.querySelectorAll('#offers li').length === 1",
        )
        .await;
    agent.click(Locator::Css("#offers li button.primary")).await;
    agent
        .until(
            "the order in the Orders panel",
            "document.querySelector('#c-orders li[data-order=\"MM202611110002\"]')",
        )
        .await;
    let order = agent
        .js("return document.querySelector('#c-orders li[data-order=\"MM202611110002\"]').textContent;")
        .await;
    assert!(
        order.as_str().is_some_and(|o| o.contains("已取消")
            && o.contains("空气炸锅")
            && o.contains("299.00")),
        "{order}"
    );
    agent
        .until(
            "the shopper's page",
            "document.getElementById('c-page').textContent.includes('轻薄羽绒服')",
        )
        .await;
    agent
        .until(
            "the calls made to the shop",
            "document.querySelectorAll('#c-calls li[data-call]').length > 0",
        )
        .await;
    let calls = agent
        .js("return [...document.querySelectorAll('#c-calls li[data-call]')].map(l => l.dataset.call);")
        .await;
    assert!(
        calls.as_array().unwrap().iter().any(|c| c == "cancel"),
        "the cancel call is listed: {calls}"
    );

    // A look-up of the agent's own: the other order's tracking.
    agent
        .client
        .find(Locator::Id("l-call"))
        .await
        .unwrap()
        .select_by_value("logistics")
        .await
        .unwrap();
    agent.type_in(Locator::Id("l-key"), "MM202611110001").await;
    agent
        .click(Locator::Css("#lookup-form button[type=submit]"))
        .await;
    agent
        .until(
            "the look-up's fields",
            "document.querySelectorAll('#l-result .fields li').length > 0 || document.querySelector('#l-result .error')",
        )
        .await;
    let result = agent
        .js("return document.getElementById('l-result').textContent;")
        .await;
    let result = result.as_str().unwrap();
    assert!(
        result.contains("SF1400000001") && !result.contains("HTTP"),
        "{result}"
    );
    agent
        .js("document.getElementById('c-page').scrollIntoView();")
        .await;
    agent.screenshot("console-orders").await;

    // A number that does not exist: the shop's answer, as a message.
    agent
        .client
        .find(Locator::Id("l-key"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    agent.type_in(Locator::Id("l-key"), "MM209901010000").await;
    agent
        .click(Locator::Css("#lookup-form button[type=submit]"))
        .await;
    agent
        .until(
            "the look-up's answer",
            "document.getElementById('l-result').textContent.includes('MM209901010000') && !document.getElementById('l-result').textContent.includes('…')",
        )
        .await;
    agent.close().await;
    shopper.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_rules_tag_shows_and_the_agent_resolves_with_a_wrap_up_category() {
    let app = spawn_app().await;
    let li = app.add_agent("李娜", crate::helpers::ALL_SKILLS, 3).await;
    let agent = signed_in(&app, &li).await;

    // A threat to call the regulator: the sample rule sends it urgently to complaints, tagged.
    let (id, token) = app.create(serde_json::json!({"locale": "zh"})).await;
    app.say(&id, &token, "三天了还不发货，我要打12315投诉你们")
        .await;
    app.tick().await;
    agent
        .until(
            "the offer",
            "document.querySelectorAll('#offers li').length === 1",
        )
        .await;
    agent.click(Locator::Css("#offers li button.primary")).await;
    agent
        .until(
            "the rule's tag",
            "[...document.querySelectorAll('#c-badges .rule-tag')].some(b => b.textContent === '#regulator')",
        )
        .await;
    agent
        .until(
            "the wrap-up categories",
            "document.querySelector('#wrap-category option[value=\"complaint\"]') && !document.getElementById('wrap-category').disabled",
        )
        .await;
    agent
        .client
        .find(Locator::Id("wrap-category"))
        .await
        .unwrap()
        .select_by_value("complaint")
        .await
        .unwrap();
    agent
        .type_in(Locator::Id("wrap-summary"), "已安抚，承诺今天发货")
        .await;
    agent.screenshot("console-wrap-up").await;
    agent.click(Locator::Id("resolve")).await;
    let mut filed = None;
    for _ in 0..200 {
        let h = app.service.store().latest_handoff(&id).await.unwrap();
        if let Some(w) = h.and_then(|h| h.wrap_up) {
            filed = Some(w);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let filed = filed.expect("resolved with a wrap-up");
    assert_eq!(filed.category, "complaint");
    assert_eq!(filed.summary.as_deref(), Some("已安抚，承诺今天发货"));
    agent.close().await;
    app.stop().await;
}
