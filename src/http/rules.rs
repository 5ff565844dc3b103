//! The support lead's rules over HTTP (`/v1/admin/rules/{triggers|reception|wrap-up|words|welcome|quality}`): a rules file
//! read with its ETag and what is live now, and replaced whole — checked as `baton lint`
//! checks it, written atomically, audited, live after the reload that follows. Admin token
//! required.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::admin::require_admin;
use super::error::ApiError;
use super::extract::ApiJson;
use super::kb::{precondition, reload_soon, shown, with_etag, written_response};
use crate::content::Content;
use crate::content::editor::RulesFile;

/// A new rules file.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesBody {
    /// The whole YAML file (see `intents/rules/`).
    text: String,
}

/// Longest rules file accepted, in bytes: rules are a page, not a word list dump.
const MAX_RULES_BYTES: usize = 256 * 1024;

fn rules_file(name: &str) -> Result<RulesFile, ApiError> {
    RulesFile::named(name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no rules file {name:?}: the rules are `triggers`, `reception`, `wrap-up`, `words`, `welcome` and `quality`"
        ))
    })
}

/// What is being served now from `file`.
fn live(content: &Content, file: RulesFile) -> serde_json::Value {
    match file {
        RulesFile::Triggers => json!(
            content
                .rules
                .rules
                .iter()
                .map(|r| json!({
                    "id": r.id, "label": r.label, "words": r.words,
                    "patterns": r.patterns.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                    "hits": r.hits, "escalate": r.escalate, "tag": r.tag, "alert": r.alert,
                }))
                .collect::<Vec<_>>()
        ),
        RulesFile::WrapUp => json!(content.wrap_up),
        RulesFile::Welcome => json!({
            "size": content.welcome.size, "source": content.welcome.source,
            "days": content.welcome.days, "questions": content.welcome.questions,
            "exclude": content.welcome.exclude,
        }),
        RulesFile::Words => json!(
            content
                .words
                .lists
                .iter()
                .map(|l| json!({
                    "id": l.id, "label": l.label, "words": l.words,
                    "patterns": l.patterns.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                    "applies_to": l.applies_to, "action": l.action, "alert": l.alert,
                }))
                .collect::<Vec<_>>()
        ),
        RulesFile::Quality => json!({
            "sample_rate": content.quality.sample_rate,
            "rules": content.quality.rules.iter().map(|r| json!({
                "id": r.id, "label": r.label, "check": r.check.name(), "points": r.points,
            })).collect::<Vec<_>>(),
        }),
        RulesFile::Reception => json!({
            "default": content.reception.default.as_str(),
            "groups": content.reception.groups.iter().map(|g| json!({
                "skill": g.skill, "mode": g.mode.as_str(),
                "window": g.window.map(|w| w.describe()),
                "max_wait_seconds": g.max_wait_seconds,
            })).collect::<Vec<_>>(),
        }),
    }
}

/// `GET /v1/admin/rules/{name}`: the file as it is on disk (empty when there is none), its
/// ETag, and what is live now.
#[utoipa::path(get, path = "/v1/admin/rules/{name}", tag = "admin", params(("name" = String, Path, description = "`triggers`, `reception`, `wrap-up`, `words`, `welcome` or `quality`")), security(("admin_token" = [])), responses((status = 200, description = "The rules file and what is live now", body = crate::http::openapi::RulesFileBody, headers(("ETag" = String)))))]
pub async fn get_rules(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let file = rules_file(&name)?;
    let (text, etag) = state.editor.read_rules(file)?.unwrap_or_default();
    let live = live(&state.service.knowledge().content, file);
    let path = shown(&state, &state.editor.rules_path(file));
    Ok(with_etag(
        StatusCode::OK,
        &etag,
        json!({ "path": path, "etag": etag, "text": text, "live": live }),
    ))
}

/// `PUT /v1/admin/rules/{name}` with `{text}`: replaces the file (`If-Match: <etag>` when it
/// exists). 422 with `file:line` diagnostics when the rules are not valid.
#[utoipa::path(put, path = "/v1/admin/rules/{name}", tag = "admin", params(("name" = String, Path, description = "`triggers`, `reception`, `wrap-up`, `words`, `welcome` or `quality`"), ("If-Match" = Option<String>, Header, description = "The ETag of the version replaced")), security(("admin_token" = [])), request_body = RulesBody, responses((status = 200, description = "Replaced", headers(("ETag" = String))), (status = 201, description = "Created", headers(("ETag" = String))), (status = 409, description = "The file changed since the ETag", body = crate::http::openapi::ErrorBody), (status = 422, description = "The rules are not valid", body = crate::http::openapi::ErrorBody), (status = 428, description = "Replacing needs `If-Match`", body = crate::http::openapi::ErrorBody)))]
pub async fn put_rules(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RulesBody>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers)?;
    let file = rules_file(&name)?;
    if body.text.len() > MAX_RULES_BYTES {
        return Err(ApiError::InvalidRequest(format!(
            "a rules file may be at most {MAX_RULES_BYTES} bytes"
        )));
    }
    let pre = precondition(&headers)?;
    let written = state.editor.put_rules(file, &body.text, &pre).await?;
    let path = shown(&state, &written.path);
    state
        .desk
        .audit_admin(
            "rules.put",
            json!({ "path": path, "created": written.created, "etag": written.etag }),
        )
        .await?;
    reload_soon(&state);
    Ok(written_response(
        &written,
        json!({ "path": path, "etag": written.etag, "created": written.created }),
    ))
}
