//! Personal data in tickets: a shopper's message left for the team reaches every agent of
//! the group, in the ticket list and in the live `ticket` event, so its text is masked
//! however the shopper wrote the number; the contact they left to be called back on is not.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

/// 13912345678 written to dodge a plain pattern: full-width digits, a zero-width space,
/// Chinese numerals and dots between the groups.
const OBFUSCATED: &str = "１３９\u{200B}.一二三四.5六78";

/// No run of the phone number's hidden middle, in any writing, in what a ticket shows
/// (its ids and timestamps are left out: they are random or clock digits).
fn assert_no_phone(ticket: &Value) {
    let shown: String = ticket
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "id" | "conversation_id"))
        .filter_map(|(_, v)| v.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let digits: String = shown.chars().filter(char::is_ascii_digit).collect();
    for leak in [OBFUSCATED, "一二三四", "\u{200B}", "１３９", "5六78"] {
        assert!(!shown.contains(leak), "{leak:?} shown to agents: {shown}");
    }
    for leak in ["1234", "3912", "2345", "9123", "4567"] {
        assert!(!digits.contains(leak), "{leak:?} shown to agents: {shown}");
    }
}

#[tokio::test]
async fn ticket_text_reaches_agents_masked_however_the_number_is_written() {
    let app = spawn_app().await;
    let agent = app.add_agent("晓雨", &["general", "after_sales"], 3).await;
    // Tickets are taken where the leave-a-message form was offered: nobody was online yet.
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    let r = app
        .client
        .post(app.url(&format!("/v1/conversations/{id}/handoff")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let mut ws = app.agent_ws(&agent).await;
    assert_eq!(ws.next().await.unwrap()["type"], "hello");
    let r = app
        .client
        .post(app.url(&format!("/v1/conversations/{id}/tickets")))
        .bearer_auth(&token)
        .json(&json!({
            "contact": "13800001111",
            "text": format!("退款的事，请打我另一个号 {OBFUSCATED}，订单MM202611110001"),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let event = ws.until("ticket", |v| v["type"] == "ticket").await;
    let text = event["ticket"]["text"].as_str().unwrap();
    assert!(text.contains("139****5678"), "{text}");
    assert!(
        text.contains("MM202611110001"),
        "order numbers stay: {text}"
    );
    assert_no_phone(&event["ticket"]);
    // The contact is how the agent calls back: shown as given.
    assert_eq!(event["ticket"]["contact"], "13800001111");

    let (s, list) = app.agent_get(&agent, "/v1/agent/tickets").await;
    assert_eq!(s, 200);
    let tickets = list["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 1, "{list}");
    assert_eq!(tickets[0]["text"], event["ticket"]["text"]);
    assert_eq!(tickets[0]["contact"], "13800001111");
    assert_no_phone(&tickets[0]);

    // Closing works on the masked listing too.
    let tid = tickets[0]["id"].as_str().unwrap();
    let (s, _) = app
        .agent_post(&agent, &format!("/v1/agent/tickets/{tid}/close"), json!({}))
        .await;
    assert_eq!(s, 204);
    app.stop().await;
}
