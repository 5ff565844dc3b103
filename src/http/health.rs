//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;

/// `GET /healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "probes", responses((status = 200, description = "The process is up", body = crate::http::openapi::Health)))]
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: knowledge is loaded and the database answers.
#[utoipa::path(get, path = "/readyz", tag = "probes", responses((status = 200, description = "Ready to serve", body = crate::http::openapi::Readiness), (status = 503, description = "The database does not answer", body = crate::http::openapi::Readiness)))]
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
