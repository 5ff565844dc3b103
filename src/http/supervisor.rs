//! The supervisor API (`/v1/supervisor/…`): what a support lead's console calls to watch the
//! groups they supervise and step in. Same agent bearer token as the agent API; an agent who
//! supervises no group is refused every route (403).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::AppState;
use super::agent::{authenticated, outcome};
use super::error::ApiError;
use super::extract::ApiJson;

/// `GET /v1/supervisor/overview`
#[utoipa::path(get, path = "/v1/supervisor/overview", tag = "supervisor", security(("agent_token" = [])), responses((status = 200, description = "The supervised groups live: agents and their load, the queue, conversations held by agents (with the wait for an answer), conversations with the bot", body = serde_json::Value), (status = 403, description = "Supervises no group", body = crate::http::openapi::ErrorBody)))]
pub async fn overview(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    Ok(Json(state.desk.overview(&agent).await?))
}

/// `GET /v1/supervisor/conversations/{id}`: read silently.
#[utoipa::path(get, path = "/v1/supervisor/conversations/{id}", tag = "supervisor", params(("id" = String, Path, description = "The conversation's id")), security(("agent_token" = [])), responses((status = 200, description = "The whole context, as the agent sees it; nobody is told", body = serde_json::Value), (status = 403, description = "Not in a supervised group", body = crate::http::openapi::ErrorBody)))]
pub async fn watch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    Ok(Json(state.desk.watch(&agent, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhisperBody {
    /// The note: not blank, at most `http.max_message_chars` characters (2,000 by
    /// default) once surrounding white space is removed.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    text: String,
}

/// `POST …/whisper` `{text}`: to the agent, never the shopper.
#[utoipa::path(post, path = "/v1/supervisor/conversations/{id}/whisper", tag = "supervisor", params(("id" = String, Path, description = "The conversation's id")), security(("agent_token" = [])), request_body = WhisperBody, responses((status = 201, description = "The whisper, a note for agents only", body = serde_json::Value), (status = 403, description = "Not in a supervised group", body = crate::http::openapi::ErrorBody), (status = 409, description = "The bot holds the conversation", body = crate::http::openapi::ErrorBody)))]
pub async fn whisper(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<WhisperBody>,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    let note = state.desk.whisper(&agent, &id, &body.text).await?;
    Ok((StatusCode::CREATED, Json(note)))
}

/// `POST …/take-over`: the supervisor holds it now.
#[utoipa::path(post, path = "/v1/supervisor/conversations/{id}/take-over", tag = "supervisor", params(("id" = String, Path, description = "The conversation's id")), security(("agent_token" = [])), responses((status = 200, description = "Assigned to the supervisor", body = crate::http::openapi::AgentOutcome), (status = 403, description = "Not in a supervised group", body = crate::http::openapi::ErrorBody), (status = 409, description = "The supervisor is not online, already holds it, or the bot holds it", body = crate::http::openapi::ErrorBody)))]
pub async fn take_over(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    let applied = state.desk.take_over(&agent, &id).await?;
    Ok(Json(outcome(&applied)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignBody {
    /// The agent's name.
    agent: String,
}

/// `POST …/reassign` `{agent}`: straight to another agent who is online.
#[utoipa::path(post, path = "/v1/supervisor/conversations/{id}/reassign", tag = "supervisor", params(("id" = String, Path, description = "The conversation's id")), security(("agent_token" = [])), request_body = ReassignBody, responses((status = 200, description = "Assigned to the agent", body = crate::http::openapi::AgentOutcome), (status = 422, description = "No such active agent", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not in a supervised group", body = crate::http::openapi::ErrorBody), (status = 409, description = "The agent is not online or already holds it, or the bot holds it", body = crate::http::openapi::ErrorBody)))]
pub async fn reassign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ReassignBody>,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    let applied = state.desk.reassign(&agent, &id, &body.agent).await?;
    Ok(Json(outcome(&applied)))
}
