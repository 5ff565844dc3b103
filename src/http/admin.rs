//! The admin API (`/v1/admin/…`): agents, the audit log, knowledge reloads, statistics,
//! erasing a customer's data and `/metrics`. Requires the admin token from
//! configuration (`BATON_ADMIN_TOKEN`); without one configured, the admin API is off.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, bearer};
use crate::desk::agents::{self, AgentPatch, NewAgent};
use crate::service::erase::Subject;

pub(super) fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = state.config.admin_token.as_deref() else {
        return Err(ApiError::Unavailable(
            "the admin API is off: set BATON_ADMIN_TOKEN (or admin_token in the config file)"
                .into(),
        ));
    };
    if token_matches(expected, headers) {
        Ok(())
    } else {
        Err(ApiError::UnauthorizedAs(
            "a valid admin bearer token is required",
        ))
    }
}

/// Whether the request carries the admin token; `false` when the admin API is off.
pub(super) fn is_admin_token(state: &AppState, headers: &HeaderMap) -> bool {
    state
        .config
        .admin_token
        .as_deref()
        .is_some_and(|expected| token_matches(expected, headers))
}

fn token_matches(expected: &str, headers: &HeaderMap) -> bool {
    let given = bearer(headers).unwrap_or_default();
    // Compare digests so neither the length nor the content leaks through timing.
    Sha256::digest(given.as_bytes())
        .ct_eq(&Sha256::digest(expected.as_bytes()))
        .into()
}

/// `GET /v1/admin/agents`
#[utoipa::path(get, path = "/v1/admin/agents", tag = "admin", security(("admin_token" = [])), responses((status = 200, description = "Every agent", body = crate::http::openapi::AgentList)))]
pub async fn list_agents(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    let agents = state.desk.refresh_agents().await?;
    let now = state.clock.now_ms();
    let roster = &state.roster;
    let list: Vec<_> = agents
        .iter()
        .map(|a| {
            json!({
                "id": a.id, "name": a.name, "skills": a.skills, "max_chats": a.max_chats,
                "status": a.status, "effective_status": roster.effective(a, now),
                "disabled": a.disabled, "supervises": a.supervises, "created_at": a.created_at,
            })
        })
        .collect();
    Ok(Json(json!({ "agents": list })))
}

/// `POST /v1/admin/agents` `{name, skills, max_chats}` → the agent and its token (shown once).
#[utoipa::path(post, path = "/v1/admin/agents", tag = "admin", security(("admin_token" = [])), request_body = NewAgent, responses((status = 201, description = "The agent and its token (shown once)", body = crate::http::openapi::AgentWithToken), (status = 409, description = "The name is taken", body = crate::http::openapi::ErrorBody)))]
pub async fn add_agent(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewAgent>,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    let now = state.clock.now_ms();
    let (agent, token) = agents::add(state.store.as_ref(), body, now).await?;
    state
        .desk
        .audit_admin(
            "agent_add",
            json!({ "agent_id": agent.id, "name": agent.name }),
        )
        .await?;
    state.desk.agent_changed(&agent).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "agent": agent, "token": token })),
    ))
}

/// `PATCH /v1/admin/agents/{name}` `{skills?, max_chats?, disabled?}`
#[utoipa::path(patch, path = "/v1/admin/agents/{name}", tag = "admin", params(("name" = String, Path, description = "The agent's name")), security(("admin_token" = [])), request_body = AgentPatch, responses((status = 200, description = "The agent as changed", body = crate::http::openapi::AgentRecord)))]
pub async fn update_agent(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<AgentPatch>,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    let now = state.clock.now_ms();
    let detail = json!({ "name": name, "skills": patch.skills, "max_chats": patch.max_chats, "disabled": patch.disabled });
    let agent = agents::update(state.store.as_ref(), &name, patch, now).await?;
    state.desk.audit_admin("agent_update", detail).await?;
    state.desk.agent_changed(&agent).await?;
    Ok(Json(json!({ "agent": agent })))
}

/// `POST /v1/admin/agents/{name}/rotate` → a new token; the old one stops working.
#[utoipa::path(post, path = "/v1/admin/agents/{name}/rotate", tag = "admin", params(("name" = String, Path, description = "The agent's name")), security(("admin_token" = [])), responses((status = 200, description = "A new token; the old one stops working", body = crate::http::openapi::AgentWithToken)))]
pub async fn rotate_agent(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    let now = state.clock.now_ms();
    let (agent, token) = agents::rotate(state.store.as_ref(), &name, now).await?;
    state
        .desk
        .audit_admin("agent_rotate", json!({ "agent_id": agent.id }))
        .await?;
    state.desk.agent_changed(&agent).await?;
    Ok(Json(json!({ "agent": agent, "token": token })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    100
}

/// `GET /v1/admin/audit?conversation_id=&limit=`, newest first.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", params(AuditQuery), security(("admin_token" = [])), responses((status = 200, description = "The audit log, newest first", body = crate::http::openapi::AuditLog)))]
pub async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    let entries = state
        .service
        .store()
        .audit_log(q.conversation_id.as_deref(), q.limit.clamp(1, 1000))
        .await?;
    Ok(Json(json!({ "entries": entries })))
}

/// `POST /v1/admin/customers/{id}/forget`: erases the personal data of every conversation
/// of the shop's customer `id`; answers with the counts. 404 when nothing is stored for them.
#[utoipa::path(post, path = "/v1/admin/customers/{id}/forget", tag = "admin", params(("id" = String, Path, description = "The shop's customer id")), security(("admin_token" = [])), responses((status = 200, description = "What was erased", body = crate::service::erase::Forgotten), (status = 409, description = "A conversation is busy; retry", body = crate::http::openapi::ErrorBody)))]
pub async fn forget_customer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    let done = state
        .service
        .forget(&Subject::Customer(id), "admin")
        .await
        .map_err(|e| match e {
            crate::service::ServiceError::NotFound => {
                ApiError::NotFound("no conversations of this customer to erase".into())
            }
            other => other.into(),
        })?;
    Ok(Json(done))
}

/// `POST /v1/admin/conversations/{id}/forget`: erases one conversation's personal data (an
/// anonymous shopper's request); answers with the counts. 404 for an unknown id.
#[utoipa::path(post, path = "/v1/admin/conversations/{id}/forget", tag = "admin", params(("id" = String, Path, description = "The conversation's id")), security(("admin_token" = [])), responses((status = 200, description = "What was erased", body = crate::service::erase::Forgotten), (status = 409, description = "The conversation is busy; retry", body = crate::http::openapi::ErrorBody)))]
pub async fn forget_conversation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    let done = state
        .service
        .forget(&Subject::Conversation(id), "admin")
        .await?;
    Ok(Json(done))
}

/// `GET /v1/admin/kb/status`: the serving snapshot and the last reload attempt's errors.
#[utoipa::path(get, path = "/v1/admin/kb/status", tag = "admin", security(("admin_token" = [])), responses((status = 200, description = "The serving snapshot and the last reload's errors", body = serde_json::Value)))]
pub async fn kb_status(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    Ok(Json(state.reloader.status()))
}

/// `POST /v1/admin/kb/reload`: rebuilds now and answers with the result (`ok: false` and the
/// errors when the files have problems; the last good snapshot keeps serving).
#[utoipa::path(post, path = "/v1/admin/kb/reload", tag = "admin", security(("admin_token" = [])), responses((status = 200, description = "The reload's result (`ok: false` and the errors when the files have problems)", body = serde_json::Value)))]
pub async fn kb_reload(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    Ok(Json(state.reloader.reload("api").await))
}

/// A time range from the query: `from` and `to` as Unix milliseconds or RFC 3339 times;
/// `to` defaults to now and `from` to seven days before `to`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimeRange {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
}

const DEFAULT_RANGE_MS: i64 = 7 * 86_400_000;

/// Ranges longer than this are refused: one request must not read years of conversations.
const MAX_RANGE_MS: i64 = 400 * 86_400_000;

/// Times are refused outside 1970 … 9999: nothing happened before, and the bounds keep all
/// arithmetic on them far from `i64` overflow (which once let any range through).
const LATEST_MS: i64 = 253_402_300_799_999;

fn parse_time(name: &str, value: &str) -> Result<i64, ApiError> {
    let ms = match value.parse::<i64>() {
        Ok(ms) => ms,
        Err(_) => value
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .map_err(|_| {
                ApiError::InvalidRequest(format!(
                    "{name} must be Unix milliseconds or an RFC 3339 time like 2026-11-11T00:00:00Z, not {value:?}"
                ))
            })?,
    };
    if !(0..=LATEST_MS).contains(&ms) {
        return Err(ApiError::InvalidRequest(format!(
            "{name} must be between 1970-01-01 and 9999-12-31, not {value:?}"
        )));
    }
    Ok(ms)
}

impl TimeRange {
    pub fn resolve(&self, now: i64) -> Result<(i64, i64), ApiError> {
        let to = self
            .to
            .as_deref()
            .map(|v| parse_time("to", v))
            .transpose()?
            .unwrap_or(now.saturating_add(1));
        let from = self
            .from
            .as_deref()
            .map(|v| parse_time("from", v))
            .transpose()?
            .unwrap_or(to.saturating_sub(DEFAULT_RANGE_MS));
        if from >= to {
            return Err(ApiError::InvalidRequest("from must be before to".into()));
        }
        if to.checked_sub(from).is_none_or(|span| span > MAX_RANGE_MS) {
            return Err(ApiError::InvalidRequest(
                "the range is longer than 400 days; ask for less".into(),
            ));
        }
        Ok((from, to))
    }
}

/// `GET /v1/admin/stats?from=&to=`: statistics of conversations that started in the range.
#[utoipa::path(get, path = "/v1/admin/stats", tag = "admin", params(TimeRange), security(("admin_token" = [])), responses((status = 200, description = "Statistics of conversations started in the range", body = serde_json::Value)))]
pub async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(range): ApiQuery<TimeRange>,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    let (from, to) = range.resolve(state.clock.now_ms())?;
    Ok(Json(state.insights.stats(from, to).await?))
}

/// `GET /metrics` (admin token): Prometheus text format.
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    let (stats, age) = state.insights.all_time_stats().await?;
    let text = crate::insights::prometheus::render(&stats, &gauges(&state, age).await?);
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

async fn gauges(
    state: &AppState,
    statistics_age: std::time::Duration,
) -> Result<crate::insights::prometheus::Gauges, ApiError> {
    let open = state.store.open_handoffs().await?;
    let now = state.clock.now_ms();
    let agents = state.desk.refresh_agents().await?;
    let roster = &state.roster;
    let kb = state.reloader.status();
    Ok(crate::insights::prometheus::Gauges {
        statistics_age_seconds: statistics_age.as_secs_f64(),
        queued: open.iter().filter(|h| h.is_queued()).count() as u64,
        assigned: open.iter().filter(|h| !h.is_queued()).count() as u64,
        agents_online: agents
            .iter()
            .filter(|a| {
                !a.disabled
                    && roster.effective(a, now) == crate::handoff::agent::AgentStatus::Online
            })
            .count() as u64,
        kb_faqs: kb.faqs as u64,
        kb_intents: kb.intents as u64,
        kb_last_reload_ok: kb.ok,
        encoder: state
            .knowledge
            .current()
            .encoder
            .as_ref()
            .map(|e| e.usage.counts()),
        shop: state
            .service
            .wiring()
            .shop
            .as_ref()
            .map(|s| s.metrics())
            .unwrap_or_default(),
    })
}
