//! Nothing acknowledged is lost: stop the server, start it on the same data directory, and
//! the transcript and the queued handoff are still there.

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, test_config};

#[tokio::test]
async fn transcript_and_queued_handoff_survive_a_restart() {
    let app = spawn_app().await;
    let (id, token) = app.create(json!({"locale": "zh"})).await;
    app.say(&id, &token, "发票怎么开").await;
    let queued = app.say(&id, &token, "人工客服").await;
    assert_eq!(queued["state"], "queued");
    let before = app.messages(&id, &token, 0).await;
    let handoff_id = queued["handoff"]["id"].clone();
    let data_dir = app.data_dir.clone();
    let temp = app.stop().await;

    let app = spawn_app_with(test_config(&data_dir)).await;
    let after = app.messages(&id, &token, 0).await;
    assert_eq!(after["messages"], before["messages"]);
    assert_eq!(after["state"], "queued");
    let state = app
        .client
        .get(app.url(&format!("/v1/conversations/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(state["handoff"]["id"], handoff_id);
    let h = app
        .service
        .store()
        .open_handoff(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.context.as_ref().unwrap().transcript.len(), 5);
    // The conversation carries on where it was: still with a person, still answering.
    let more = app.say(&id, &token, "请尽快").await;
    assert_eq!(more["message"]["seq"], 6);
    app.stop().await;
    drop(temp);
}
