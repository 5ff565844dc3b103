//! The widget's welcome card ("猜你想问"): shown in an empty chat, "换一批" turns the page, a
//! tap asks the question and the bot answers it; the card follows the shopper's language.

use serde_json::json;

use crate::chrome::{ROOT, browser};
use crate::helpers::spawn_app;

#[tokio::test]
async fn the_welcome_card_offers_questions_and_a_tap_asks_one() {
    let app = spawn_app().await;
    let b = browser(1280, 900).await;
    b.client.goto(&app.url("/demo")).await.unwrap();
    b.widget(".launcher").await.click().await.unwrap();
    b.until(
        "the welcome card",
        &format!("{ROOT}.querySelectorAll('.welcome .suggest button').length === 4 && {ROOT}.querySelector('.welcome h3').textContent === '猜你想问'"),
    )
    .await;
    b.screenshot("widget-welcome").await;
    let first = b
        .js(&format!(
            "return {ROOT}.querySelector('.welcome .suggest button').textContent;"
        ))
        .await;
    b.widget(".welcome .others").await.click().await.unwrap();
    b.until(
        "the next page",
        &format!("{ROOT}.querySelector('.welcome .suggest button') && {ROOT}.querySelector('.welcome .suggest button').textContent !== {first}"),
    )
    .await;
    // The card follows the language switch.
    b.widget("header button").await.click().await.unwrap();
    b.until(
        "the English card",
        &format!("{ROOT}.querySelector('.welcome h3') && {ROOT}.querySelector('.welcome h3').textContent === 'You may want to ask' && /^[\\x00-\\x7f]+$/.test({ROOT}.querySelector('.welcome .suggest button').textContent)"),
    )
    .await;
    let asked = b
        .js(&format!("const q = {ROOT}.querySelector('.welcome .suggest button'); q.click(); return q.textContent;"))
        .await;
    b.until(
        "the question asked and answered",
        &format!("[...{ROOT}.querySelectorAll('.msg.shopper')].some(m => m.textContent === {asked}) && {ROOT}.querySelectorAll('.msg.bot').length > 0"),
    )
    .await;
    let gone = b
        .js(&format!(
            "return {ROOT}.querySelector('.welcome') === null;"
        ))
        .await;
    assert_eq!(gone, json!(true), "the card is for an empty chat");
    b.close().await;
}
