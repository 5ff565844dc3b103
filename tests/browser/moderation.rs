//! The dashboard's word lists and blacklist: what the lists caught (list, word, who; never
//! the message), and a network blocked and lifted from the form.

use fantoccini::Locator;
use serde_json::json;

use crate::chrome::browser;
use crate::helpers::{ADMIN_TOKEN, editable_app};

#[tokio::test]
async fn the_lead_sees_what_the_word_lists_caught_and_blocks_a_network() {
    let (app, _dir) = editable_app(false).await;
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    app.say(&id, &token, "你们客服都是傻逼吗，我的快递呢").await;

    let b = browser(1280, 1600).await;
    crate::admin::sign_in(&b, &app, ADMIN_TOKEN, "zh").await;
    b.until(
        "the word-list match",
        "[...document.querySelectorAll('#word-hits .word-hit')].some(c => c.textContent.includes('傻逼') && c.textContent.includes('打码') && c.textContent.includes('顾客'))",
    )
    .await;
    let leaked = b
        .js("return document.getElementById('word-hits').textContent.includes('快递');")
        .await;
    assert_eq!(leaked, json!(false), "never the message");

    b.client
        .find(Locator::Id("block-kind"))
        .await
        .unwrap()
        .select_by_value("network")
        .await
        .unwrap();
    b.type_in(Locator::Id("block-target"), "203.0.113.0/24")
        .await;
    b.type_in(Locator::Id("block-reason"), "刷单机器人").await;
    b.type_in(Locator::Id("block-hours"), "24").await;
    b.click(Locator::Css("#block-form button")).await;
    b.until(
        "the block in the list",
        "[...document.querySelectorAll('#blocks .block')].some(c => c.textContent.includes('203.0.113.0/24') && c.textContent.includes('刷单机器人'))",
    )
    .await;
    b.screenshot("admin-moderation").await;
    let (_, live) = app
        .admin(reqwest::Method::GET, "/v1/admin/blocks", None)
        .await;
    assert_eq!(live["blocks"][0]["target"], "203.0.113.0/24");

    b.click(Locator::Css("#blocks [data-action=lift]")).await;
    b.until(
        "the list emptied",
        "document.querySelector('#blocks .none') !== null",
    )
    .await;
    let (_, live) = app
        .admin(reqwest::Method::GET, "/v1/admin/blocks", None)
        .await;
    assert_eq!(live["blocks"], json!([]));
    b.close().await;
}
