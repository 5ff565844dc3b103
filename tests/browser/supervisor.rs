//! A supervisor in the console: their group live beside their own lists (the agents and
//! their load, who holds what and how long the shopper has waited for an answer), a
//! conversation read without the agent being told, a whisper that reaches the agent, and a
//! take-over that makes the conversation theirs.

use fantoccini::Locator;
use serde_json::json;

use crate::console::signed_in;
use crate::helpers::spawn_app;

#[tokio::test]
async fn the_supervisor_watches_whispers_and_takes_over() {
    let app = spawn_app().await;
    let wang = app.add_agent("王芳", &["after_sales"], 3).await;
    let lead = app
        .add_supervisor("周主管", &["general"], 3, &["after_sales"])
        .await;
    app.online(&wang).await;
    let (id, token) = app
        .create(json!({"locale": "zh", "customer": {"id": "u-42", "name": "韩梅梅"}}))
        .await;
    app.say(&id, &token, "我的订单MM202611110001退款多久到账？")
        .await;
    app.say(&id, &token, "转人工").await;
    let (s, b) = app
        .agent_post(
            &wang,
            &format!("/v1/agent/conversations/{id}/accept"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    app.say(&id, &token, "还要等多久？").await;

    let console = signed_in(&app, &lead).await;
    console
        .until(
            "the group's conversation, held by 王芳",
            "[...document.querySelectorAll('#watch li')].some(li => li.textContent.includes('韩梅梅') && li.textContent.includes('王芳') && li.textContent.includes('顾客等回复'))",
        )
        .await;
    console
        .until(
            "王芳 in the team, with her load",
            "[...document.querySelectorAll('#team li')].some(li => li.textContent.includes('王芳') && li.textContent.includes('1/3'))",
        )
        .await;
    console
        .click(Locator::Css(&format!(
            "#watch li[data-conversation='{id}']"
        )))
        .await;
    console
        .until(
            "the transcript, read silently",
            "!document.getElementById('sup-tools').hidden && document.getElementById('c-transcript').textContent.includes('还要等多久')",
        )
        .await;
    let reply_disabled = console
        .js("return document.getElementById('reply').disabled;")
        .await;
    assert_eq!(reply_disabled, json!(true), "watching is not answering");

    console
        .type_in(Locator::Id("whisper"), "先查退款单再回复顾客")
        .await;
    console.click(Locator::Css("#whisper-form button")).await;
    console
        .until(
            "the whisper among the notes",
            "[...document.querySelectorAll('#c-notes li.whisper')].some(li => li.textContent.includes('先查退款单'))",
        )
        .await;
    console.screenshot("console-supervisor").await;
    let (_, view) = app
        .agent_get(&wang, &format!("/v1/agent/conversations/{id}"))
        .await;
    assert_eq!(view["notes"][0]["whisper"], true, "王芳 has it: {view:#}");
    let shopper_sees = app.messages(&id, &token, 0).await.to_string();
    assert!(!shopper_sees.contains("先查退款单"), "never the shopper");

    console.click(Locator::Id("take-over")).await;
    console
        .until(
            "the conversation among the supervisor's own",
            &format!("document.querySelector(\"#mine li[data-conversation='{id}']\") !== null && !document.getElementById('reply').disabled"),
        )
        .await;
    assert_eq!(
        app.open_handoff(&id).await.agent_id.as_deref(),
        Some(lead.id.as_str())
    );
    console.close().await;
}
