//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: knowledge is loaded and the database answers.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let knowledge = state.knowledge.current();
    let body = |db: &str| {
        json!({
            "status": if db == "ok" { "ready" } else { "not_ready" },
            "database": db,
            "knowledge_version": knowledge.version,
            "faqs": knowledge.index.len(),
            "intents": knowledge.content.intents.len(),
        })
    };
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(body("ok"))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(body("unavailable")))
        }
    }
}
