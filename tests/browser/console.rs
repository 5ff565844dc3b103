//! The whole handoff in two browsers: a shopper on the demo shop asks a FAQ in Chinese and
//! gets the answer, asks for a person and sees their place in the queue; an agent signed in
//! to the console gets the offer, accepts, sees the transcript, the reason and the summary,
//! replies (once by hand, once from an assist suggestion); the shopper sees the replies; the
//! agent resolves; the shopper rates.

use fantoccini::Locator;
use fantoccini::key::Key;

use crate::chrome::{ROOT, browser};
use crate::helpers::spawn_app;

#[tokio::test]
async fn shopper_and_agent_end_to_end() {
    let app = spawn_app().await;
    let wang = app.add_agent("王芳", &["general", "after_sales"], 3).await;

    // The agent signs in and goes online from the console.
    let agent = browser(1400, 900).await;
    agent.client.goto(&app.url("/console")).await.unwrap();
    agent
        .until(
            "the sign-in form",
            "!document.getElementById('signin').hidden",
        )
        .await;
    agent.type_in(Locator::Id("token"), &wang.token).await;
    agent.click(Locator::Css("#signin-form button")).await;
    agent
        .until("the console", "!document.getElementById('app').hidden")
        .await;
    agent
        .until(
            "the agent's name",
            "document.getElementById('me-name').textContent === '王芳'",
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
