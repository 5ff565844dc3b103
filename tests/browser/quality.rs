//! Quality review in the console: a supervisor opens a conversation from their review queue,
//! reads what the rules found beside the transcript and scores it with a comment; the agent
//! finds the review among their own and appeals it, once; the support lead's dashboard shows
//! each agent's average and what waits for a reviewer.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::{Value, json};

use crate::chrome::browser;
use crate::console::signed_in;
use crate::helpers::{ADMIN_TOKEN, editable_app};

#[tokio::test]
async fn a_supervisor_scores_a_conversation_and_the_agent_appeals() {
    let (app, _dir) = editable_app(false).await;
    let lin = app.add_agent("林晓", &["after_sales"], 3).await;
    let lead = app
        .add_supervisor("周主管", &["general"], 3, &["after_sales"])
        .await;
    app.online(&lin).await;
    let (id, _) = app
        .handed_to(
            &lin,
            json!({"locale": "zh", "customer": {"id": "u-77", "name": "李雷"}}),
        )
        .await;
    for (path, body) in [
        ("messages", json!({"text": "这个我不知道，你自己看物流"})),
        ("resolve", json!({})),
    ] {
        let (s, b) = app
            .agent_post(&lin, &format!("/v1/agent/conversations/{id}/{path}"), body)
            .await;
        assert!(s == 200 || s == 201, "{path}: {b}");
    }
    // Scored off the agent's path: wait for it before the consoles load their lists.
    let mut handoff = Value::Null;
    for _ in 0..200 {
        let (_, b) = app.agent_get(&lin, "/v1/agent/reviews").await;
        if let Some(r) = b["reviews"].as_array().and_then(|a| a.first()) {
            handoff = r["handoff_id"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let handoff = handoff.as_str().expect("a review").to_string();

    let console = signed_in(&app, &lead).await;
    let item = format!("#review-queue li[data-review='{handoff}']");
    console
        .until(
            "the conversation in the review queue",
            &format!("document.querySelector(\"{item}\") !== null && document.querySelector(\"{item}\").textContent.includes('林晓')"),
        )
        .await;
    console.click(Locator::Css(&item)).await;
    console
        .until(
            "the findings beside the transcript",
            "!document.getElementById('review').hidden && document.getElementById('r-findings').textContent.includes('禁用语') && document.getElementById('r-transcript').textContent.includes('你自己看物流')",
        )
        .await;
    console.type_in(Locator::Id("r-score"), "55").await;
    console
        .type_in(
            Locator::Id("r-comment"),
            "先问候顾客，不要说“不知道”，查一下物流再回复。",
        )
        .await;
    console.screenshot("console-quality").await;
    console.click(Locator::Id("r-score-submit")).await;
    console
        .until(
            "the review, scored",
            "document.getElementById('r-verdicts').textContent.includes('周主管 评分 55') && document.getElementById('r-score-form').hidden",
        )
        .await;
    console.close().await;

    let agent = signed_in(&app, &lin).await;
    let mine = format!("#my-reviews li[data-review='{handoff}']");
    agent
        .until(
            "the review among the agent's own",
            &format!("document.querySelector(\"{mine}\") !== null && document.querySelector(\"{mine}\").textContent.includes('55')"),
        )
        .await;
    agent.click(Locator::Css(&mine)).await;
    agent
        .until(
            "the reviewer's comment and the appeal form",
            "document.getElementById('r-verdicts').textContent.includes('查一下物流') && !document.getElementById('r-appeal-form').hidden && document.getElementById('r-score-form').hidden",
        )
        .await;
    agent
        .type_in(
            Locator::Id("r-appeal"),
            "顾客第一句就问物流，我先回答了问题。",
        )
        .await;
    agent.click(Locator::Css("#r-appeal-form button")).await;
    agent
        .until(
            "the appeal, recorded once",
            "document.getElementById('r-badges').textContent.includes('申诉中') && document.getElementById('r-appeal-form').hidden",
        )
        .await;
    agent.close().await;
    let (_, b) = app
        .agent_get(&lin, &format!("/v1/agent/reviews/{handoff}"))
        .await;
    assert_eq!(b["state"], "appealed", "{b:#}");
    assert_eq!(b["appeal"], "顾客第一句就问物流，我先回答了问题。");

    let lead_page = browser(1280, 1600).await;
    crate::admin::sign_in(&lead_page, &app, ADMIN_TOKEN, "zh").await;
    lead_page
        .until(
            "林晓's average, and the appeal waiting",
            "document.getElementById('quality-agents').textContent.includes('林晓：1 条，平均 55 分') && document.getElementById('quality-count').textContent === '1'",
        )
        .await;
    lead_page.close().await;
}
