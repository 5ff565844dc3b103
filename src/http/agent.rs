//! The agent API (`/v1/agent/…`): what the agent console calls. Every route requires the
//! agent's bearer token; each request also counts as a sign of life for presence.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, bearer, optional_json};
use crate::desk::{AuthError, TransferTarget};
use crate::handoff::agent::{Agent, AgentStatus};
use crate::service::ServiceError;

const AGENT_TOKEN: &str = "a valid agent bearer token is required";

/// The agent behind the request's token.
pub async fn authenticated(state: &AppState, headers: &HeaderMap) -> Result<Agent, ApiError> {
    agent_of_token(state, bearer(headers)).await
}

/// The agent a token belongs to, with the agent API's 401 message.
pub async fn agent_of_token(state: &AppState, token: Option<&str>) -> Result<Agent, ApiError> {
    state.desk.authenticate(token).await.map_err(|e| match e {
        AuthError::Unauthorized => ApiError::UnauthorizedAs(AGENT_TOKEN),
        other => other.into(),
    })
}

fn profile(state: &AppState, a: &Agent) -> serde_json::Value {
    let now = state.clock.now_ms();
    json!({
        "id": a.id,
        "name": a.name,
        "skills": a.skills,
        "max_chats": a.max_chats,
        "supervises": a.supervises,
        "status": a.status,
        "effective_status": state.roster.effective(a, now),
    })
}

/// `GET /v1/agent/me`
#[utoipa::path(get, path = "/v1/agent/me", tag = "agent", security(("agent_token" = [])), responses((status = 200, description = "The signed-in agent", body = crate::http::openapi::AgentProfile)))]
pub async fn me(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    Ok(Json(profile(&state, &agent)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    status: AgentStatus,
}

/// `POST /v1/agent/status` `{status: online|away|offline}`
#[utoipa::path(post, path = "/v1/agent/status", tag = "agent", security(("agent_token" = [])), request_body = StatusBody, responses((status = 200, description = "The agent with the new status", body = crate::http::openapi::AgentProfile)))]
pub async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    let updated = state.desk.set_status(&agent, body.status).await?;
    Ok(Json(profile(&state, &updated)))
}

/// `POST /v1/agent/heartbeat`: keeps an agent without a socket present.
#[utoipa::path(post, path = "/v1/agent/heartbeat", tag = "agent", security(("agent_token" = [])), responses((status = 204, description = "Noted")))]
pub async fn heartbeat(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    authenticated(&state, &headers).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/agent/queue`
#[utoipa::path(get, path = "/v1/agent/queue", tag = "agent", security(("agent_token" = [])), responses((status = 200, description = "Offers, the agent's conversations and their groups' queue", body = serde_json::Value)))]
pub async fn queue(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    Ok(Json(state.desk.queue(&agent).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    #[serde(default = "default_ticket_page")]
    limit: u32,
    /// The `next` cursor of the previous page.
    #[serde(default)]
    before: Option<String>,
}

fn default_ticket_page() -> u32 {
    50
}

/// `GET /v1/agent/tickets?limit=&before=`: open tickets of the agent's groups, newest first.
#[utoipa::path(get, path = "/v1/agent/tickets", tag = "agent", params(TicketQuery), security(("agent_token" = [])), responses((status = 200, description = "Open tickets of the agent's groups, newest first", body = serde_json::Value)))]
pub async fn tickets(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<TicketQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    if !(1..=crate::desk::MAX_TICKET_PAGE).contains(&q.limit) {
        return Err(ApiError::InvalidRequest(format!(
            "limit must be 1–{}",
            crate::desk::MAX_TICKET_PAGE
        )));
    }
    Ok(Json(
        state
            .desk
            .tickets(&agent, q.before.as_deref(), q.limit)
            .await?,
    ))
}

/// `POST /v1/agent/tickets/{id}/close`
#[utoipa::path(post, path = "/v1/agent/tickets/{id}/close", tag = "agent", params(("id" = String, Path, description = "The ticket's id")), security(("agent_token" = [])), responses((status = 204, description = "Closed")))]
pub async fn close_ticket(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    state
        .desk
        .close_ticket(&agent, &id)
        .await
        .map_err(|e| match e {
            ServiceError::NotFound => {
                ApiError::NotFound("no such open ticket in your groups".into())
            }
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/agent/conversations/{id}`: the whole context in one call.
#[utoipa::path(get, path = "/v1/agent/conversations/{id}", tag = "agent", params(("id" = String, Path, description = "The conversation's id")), security(("agent_token" = [])), responses((status = 200, description = "The whole context: summary, reason, customer, transcript, notes", body = serde_json::Value), (status = 403, description = "Not the agent's conversation", body = crate::http::openapi::ErrorBody)))]
pub async fn view(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    Ok(Json(state.desk.view(&agent, &id).await?))
}

pub(super) fn outcome(applied: &crate::service::Applied) -> serde_json::Value {
    json!({
        "conversation_id": applied.conversation.id,
        "state": applied.conversation.state,
        "messages": applied.messages,
        "duplicate": applied.duplicate,
    })
}

/// `POST …/accept`
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/accept", tag = "agent", params(("id" = String, Path, description = "The conversation's id")), security(("agent_token" = [])), responses((status = 200, description = "Assigned to the agent", body = crate::http::openapi::AgentOutcome), (status = 403, description = "Not offered to this agent", body = crate::http::openapi::ErrorBody), (status = 409, description = "Taken meanwhile, or not waiting", body = crate::http::openapi::ErrorBody)))]
pub async fn accept(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    let applied = state.desk.accept(&agent, &id).await?;
    Ok(Json(outcome(&applied)))
}

/// `POST …/decline`
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/decline", tag = "agent", params(("id" = String, Path, description = "The conversation's id")), security(("agent_token" = [])), responses((status = 204, description = "Offered to someone else"), (status = 403, description = "Not offered to this agent", body = crate::http::openapi::ErrorBody), (status = 409, description = "Not waiting for this agent", body = crate::http::openapi::ErrorBody)))]
pub async fn decline(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    state.desk.decline(&agent, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// The message: not blank, at most `http.max_message_chars` characters (2,000 by
    /// default) once surrounding white space is removed.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    text: String,
    /// The sender's idempotency key, 1–128 bytes: a retry with the same key is answered
    /// from the store.
    #[schema(min_length = 1, max_length = 128)]
    #[serde(default)]
    client_msg_id: Option<String>,
}

/// `POST …/messages` `{text, client_msg_id?}`
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/messages", tag = "agent", params(("id" = String, Path, description = "The conversation's id")), security(("agent_token" = [])), request_body = ReplyBody, responses((status = 201, description = "Sent", body = crate::http::openapi::AgentOutcome), (status = 200, description = "A retry of a stored `client_msg_id`", body = crate::http::openapi::AgentOutcome), (status = 403, description = "Not the agent's conversation", body = crate::http::openapi::ErrorBody), (status = 409, description = "The conversation is busy; retry", body = crate::http::openapi::ErrorBody)))]
pub async fn reply(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ReplyBody>,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    let applied = state
        .desk
        .reply(&agent, &id, &body.text, body.client_msg_id.as_deref())
        .await?;
    let status = if applied.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(outcome(&applied))))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// The note: not blank, at most `http.max_message_chars` characters (2,000 by
    /// default) once surrounding white space is removed.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    text: String,
}

/// `POST …/notes` `{text}`: agents only.
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/notes", tag = "agent", params(("id" = String, Path, description = "The conversation's id")), security(("agent_token" = [])), request_body = NoteBody, responses((status = 201, description = "The note, for agents only", body = serde_json::Value), (status = 403, description = "Not the agent's conversation", body = crate::http::openapi::ErrorBody)))]
pub async fn note(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NoteBody>,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    let note = state.desk.note(&agent, &id, &body.text).await?;
    Ok((StatusCode::CREATED, Json(note)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    #[serde(default)]
    skill: Option<String>,
    /// An agent's name.
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

/// `POST …/transfer` `{skill | agent, note}`
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/transfer", tag = "agent", params(("id" = String, Path, description = "The conversation's id")), security(("agent_token" = [])), request_body = TransferBody, responses((status = 200, description = "Back in the queue for the skill or agent", body = crate::http::openapi::AgentOutcome), (status = 403, description = "Not the agent's conversation", body = crate::http::openapi::ErrorBody), (status = 409, description = "The conversation is busy or not assigned", body = crate::http::openapi::ErrorBody)))]
pub async fn transfer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TransferBody>,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    let target = match (body.skill, body.agent) {
        (Some(s), None) => TransferTarget::Skill(s),
        (None, Some(a)) => TransferTarget::Agent(a),
        _ => {
            return Err(ApiError::InvalidRequest(
                "give exactly one of skill or agent".into(),
            ));
        }
    };
    let applied = state
        .desk
        .transfer(&agent, &id, target, body.note.as_deref())
        .await?;
    Ok(Json(outcome(&applied)))
}

/// The wrap-up of a resolve; the body may be left out when no category is required.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// One of the wrap-up categories (`intents/rules/wrap-up.yaml`).
    #[serde(default)]
    category: Option<String>,
    /// What was done, for colleagues and the statistics (at most 2,000 characters).
    #[serde(default)]
    summary: Option<String>,
}

/// `POST …/resolve` with an optional `{category, summary}`.
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/resolve", tag = "agent", params(("id" = String, Path, description = "The conversation's id")), request_body(content = Option<ResolveBody>, description = "The wrap-up; optional unless the categories are required"), security(("agent_token" = [])), responses((status = 200, description = "Resolved", body = crate::http::openapi::AgentOutcome), (status = 403, description = "Not the agent's conversation", body = crate::http::openapi::ErrorBody), (status = 409, description = "Not assigned, or busy", body = crate::http::openapi::ErrorBody), (status = 422, description = "An unknown category, or none where one is required", body = crate::http::openapi::ErrorBody)))]
pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    let wrap: ResolveBody = optional_json(&body)?;
    let applied = state
        .desk
        .resolve(
            &agent,
            &id,
            wrap.category.as_deref(),
            wrap.summary.as_deref(),
        )
        .await?;
    Ok(Json(outcome(&applied)))
}

/// `GET /v1/agent/wrap-up`: the categories an agent may resolve a conversation under.
#[utoipa::path(get, path = "/v1/agent/wrap-up", tag = "agent", security(("agent_token" = [])), responses((status = 200, description = "The wrap-up categories, and whether one is required", body = serde_json::Value)))]
pub async fn wrap_up_categories(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    authenticated(&state, &headers).await?;
    Ok(Json(serde_json::json!(
        state.service.knowledge().content.wrap_up
    )))
}

/// `POST …/return-to-bot`
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/return-to-bot", tag = "agent", params(("id" = String, Path, description = "The conversation's id")), security(("agent_token" = [])), responses((status = 200, description = "The bot answers again", body = crate::http::openapi::AgentOutcome), (status = 403, description = "Not the agent's conversation", body = crate::http::openapi::ErrorBody), (status = 409, description = "Not assigned, or busy", body = crate::http::openapi::ErrorBody)))]
pub async fn return_to_bot(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    Ok(Json(outcome(&state.desk.return_to_bot(&agent, &id).await?)))
}

/// `POST …/reveal`: unmasked personal data, audited.
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/reveal", tag = "agent", params(("id" = String, Path, description = "The conversation's id")), security(("agent_token" = [])), responses((status = 200, description = "The masked entities, unmasked (audited)", body = serde_json::Value), (status = 403, description = "Not the agent's conversation", body = crate::http::openapi::ErrorBody)))]
pub async fn reveal(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    Ok(Json(state.desk.reveal(&agent, &id).await?))
}

/// `POST /v1/agent/conversations/{id}/lookup`: a read call to the shop's API with the
/// conversation's identity, for the agent holding it.
#[utoipa::path(post, path = "/v1/agent/conversations/{id}/lookup", tag = "agent", params(("id" = String, Path, description = "The conversation's id")), security(("agent_token" = [])), request_body = crate::desk::LookupRequest, responses((status = 200, description = "What the shop answered (outcome and fields)", body = crate::desk::LookupResult), (status = 400, description = "Unknown call or a bad value", body = crate::http::openapi::ErrorBody), (status = 403, description = "Not the agent's conversation, or a write call", body = crate::http::openapi::ErrorBody)))]
pub async fn lookup(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<crate::desk::LookupRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    Ok(Json(state.desk.lookup(&agent, &id, body).await?))
}
