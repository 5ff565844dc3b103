//! The support lead's rules over HTTP (`/v1/admin/rules/triggers`): the trigger rules file
//! read with its ETag, and replaced whole — checked like `baton lint` checks it, written
//! atomically, live after the reload that follows. Admin token required.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::admin::require_admin;
use super::error::ApiError;
use super::extract::ApiJson;
use super::kb::{precondition, reload_soon, shown, with_etag};
use crate::content::rules::TriggerRule;

/// A new trigger rules file.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggersBody {
    /// The whole YAML file (see `intents/rules/triggers.yaml`).
    text: String,
}

/// Longest rules file accepted, in bytes: rules are a page, not a word list dump.
const MAX_TRIGGERS_BYTES: usize = 256 * 1024;

fn rule_json(r: &TriggerRule) -> serde_json::Value {
    json!({
        "id": r.id, "label": r.label, "words": r.words,
        "patterns": r.patterns.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "hits": r.hits, "escalate": r.escalate, "tag": r.tag, "alert": r.alert,
    })
}

/// `GET /v1/admin/rules/triggers`: the file as it is on disk (empty when there is none),
/// its ETag, and the rules being served now.
#[utoipa::path(get, path = "/v1/admin/rules/triggers", tag = "admin", security(("admin_token" = [])), responses((status = 200, description = "The trigger rules file and the rules live now", body = crate::http::openapi::TriggersFile, headers(("ETag" = String)))))]
pub async fn get_triggers(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let (text, etag) = state.editor.read_triggers()?.unwrap_or_default();
    let live: Vec<_> = state
        .service
        .knowledge()
        .content
        .rules
        .rules
        .iter()
        .map(rule_json)
        .collect();
    let path = shown(&state, &state.editor.triggers_path());
    Ok(with_etag(
        StatusCode::OK,
        &etag,
        json!({ "path": path, "etag": etag, "text": text, "live": live }),
    ))
}

/// `PUT /v1/admin/rules/triggers` with `{text}`: replaces the file (`If-Match: <etag>` when
/// it exists). 422 with `file:line` diagnostics when the rules are not valid.
#[utoipa::path(put, path = "/v1/admin/rules/triggers", tag = "admin", params(("If-Match" = Option<String>, Header, description = "The ETag of the version replaced")), security(("admin_token" = [])), request_body = TriggersBody, responses((status = 200, description = "Replaced", body = crate::http::openapi::FaqWritten, headers(("ETag" = String))), (status = 201, description = "Created", headers(("ETag" = String))), (status = 409, description = "The file changed since the ETag", body = crate::http::openapi::ErrorBody), (status = 422, description = "The rules are not valid", body = crate::http::openapi::ErrorBody), (status = 428, description = "Replacing needs `If-Match`", body = crate::http::openapi::ErrorBody)))]
pub async fn put_triggers(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TriggersBody>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    if body.text.len() > MAX_TRIGGERS_BYTES {
        return Err(ApiError::InvalidRequest(format!(
            "the rules file may be at most {MAX_TRIGGERS_BYTES} bytes"
        )));
    }
    let pre = precondition(&headers)?;
    let written = state.editor.put_triggers(&body.text, &pre).await?;
    let path = shown(&state, &written.path);
    state
        .desk
        .audit_admin(
            "rules.triggers_put",
            json!({ "path": path, "created": written.created, "etag": written.etag }),
        )
        .await?;
    reload_soon(&state);
    let status = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(with_etag(
        status,
        &written.etag,
        json!({ "path": path, "etag": written.etag, "created": written.created }),
    ))
}
