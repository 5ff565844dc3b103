//! The shopper API (`/v1/conversations…`): what the chat widget and shop apps call. Every
//! route but creation requires the conversation's bearer token.
//!
//! Routes that make work for the bot or for agents are rate-limited: per client address
//! first, then — once the token is checked, so nobody else can spend it — per conversation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, ClientIp, bearer};
use super::limits::{self, ConversationKind, IpKind};
use crate::service::NewConversation;

/// Refuses, before any work or any rate-limit charge, a request from a network the shop
/// blocked.
fn admit_address(state: &AppState, ip: std::net::IpAddr) -> Result<(), ApiError> {
    let blocked = state
        .service
        .wiring()
        .blocklist
        .refuses(None, Some(ip), state.clock.now_ms());
    if blocked {
        Err(ApiError::Blocked)
    } else {
        Ok(())
    }
}

/// `POST /v1/conversations`
#[utoipa::path(post, path = "/v1/conversations", tag = "shopper", request_body = crate::service::NewConversation, responses((status = 201, description = "The conversation and its token (shown once)", body = crate::service::Created), (status = 401, description = "The signed customer token was refused (signature, expiry)", body = crate::http::openapi::ErrorBody), (status = 429, description = "Too many conversations started from here; retry later", body = crate::http::openapi::ErrorBody), (status = 403, description = "The shop blocked this shopper or their network: a polite refusal", body = crate::http::openapi::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<NewConversation>,
) -> Result<impl IntoResponse, ApiError> {
    admit_address(&state, ip)?;
    state.limits.check_ip(IpKind::Conversations, ip)?;
    let created = state.service.create(req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /v1/conversations/{id}`
#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "shopper", params(("id" = String, Path, description = "The conversation's id")), security(("shopper_token" = [])), responses((status = 200, description = "Where the conversation stands: state, handoff, queue place", body = crate::desk::ShopperStatus)))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let c = state.service.authorize(&id, bearer(&headers)).await?;
    Ok(Json(state.desk.shopper_status(&c).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingBody {
    /// 1 (poor) to 5 (excellent).
    #[schema(minimum = 1, maximum = 5)]
    score: u8,
    #[serde(default)]
    comment: Option<String>,
}

/// `POST /v1/conversations/{id}/rating` `{score: 1–5, comment?}` after an agent resolved it.
#[utoipa::path(post, path = "/v1/conversations/{id}/rating", tag = "shopper", params(("id" = String, Path, description = "The conversation's id")), security(("shopper_token" = [])), request_body = RatingBody, responses((status = 201, description = "The rating is stored", body = crate::http::openapi::ShopperReplies), (status = 409, description = "Nothing to rate yet, or rated already", body = crate::http::openapi::ErrorBody)))]
pub async fn rate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RatingBody>,
) -> Result<impl IntoResponse, ApiError> {
    let applied = state
        .service
        .rate(&id, bearer(&headers), body.score, body.comment)
        .await?;
    // A rating can change the quality review's score; scored off the shopper's path (the
    // dispatcher's catch-up does it if this fails).
    let reviews = state.desk.reviews().clone();
    let rated = id.clone();
    tokio::spawn(async move {
        if let Err(e) = reviews.rated(&rated).await {
            tracing::warn!(error = %e, "could not score the rated conversation for review");
        }
    });
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "conversation_id": id,
            "state": applied.conversation.state,
            "replies": applied.messages,
        })),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketBody {
    /// How the team can reach the shopper: a phone number or an e-mail address, at most
    /// 200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    contact: String,
    /// The message: not blank, at most `http.max_message_chars` characters (2,000 by
    /// default) once surrounding white space is removed.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    text: String,
}

/// `POST /v1/conversations/{id}/tickets` `{contact, text}`: a message for the team when
/// nobody is on duty.
#[utoipa::path(post, path = "/v1/conversations/{id}/tickets", tag = "shopper", params(("id" = String, Path, description = "The conversation's id")), security(("shopper_token" = [])), request_body = TicketBody, responses((status = 201, description = "The message is left for the team", body = crate::http::openapi::TicketLeft), (status = 409, description = "The conversation is busy or not in a state to leave a message", body = crate::http::openapi::ErrorBody), (status = 429, description = "Too many open tickets", body = crate::http::openapi::ErrorBody), (status = 403, description = "The shop blocked this shopper or their network: a polite refusal", body = crate::http::openapi::ErrorBody)))]
pub async fn leave_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<TicketBody>,
) -> Result<impl IntoResponse, ApiError> {
    admit_address(&state, ip)?;
    state.limits.check_ip(IpKind::Tickets, ip)?;
    let (applied, ticket) = state
        .service
        .leave_message(
            &id,
            bearer(&headers),
            |c| {
                state
                    .limits
                    .check_conversation(ConversationKind::Tickets, &c.id)
            },
            &body.contact,
            &body.text,
        )
        .await??;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "conversation_id": id,
            "ticket_id": ticket.id,
            "state": applied.conversation.state,
            "replies": applied.messages,
        })),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// The message: not blank, at most `http.max_message_chars` characters (2,000 by
    /// default) once surrounding white space is removed.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    text: String,
    /// The sender's idempotency key, 1–128 bytes: a retry with the same key is answered
    /// from the store.
    #[schema(min_length = 1, max_length = 128)]
    client_msg_id: String,
}

/// `POST /v1/conversations/{id}/messages`
#[utoipa::path(post, path = "/v1/conversations/{id}/messages", tag = "shopper", params(("id" = String, Path, description = "The conversation's id")), security(("shopper_token" = [])), request_body = SendMessage, responses((status = 201, description = "The message and the bot's replies", body = crate::service::TurnOutcome), (status = 200, description = "A retry of a stored `client_msg_id`: the stored outcome", body = crate::service::TurnOutcome), (status = 409, description = "The conversation is busy; retry", body = crate::http::openapi::ErrorBody), (status = 429, description = "Too many messages, or the bot is at capacity; retry with the same `client_msg_id`", body = crate::http::openapi::ErrorBody), (status = 403, description = "The shop blocked this shopper or their network: a polite refusal", body = crate::http::openapi::ErrorBody), (status = 422, description = "Invalid, or a word list refused the message (`message_blocked`: it was not stored)", body = crate::http::openapi::ErrorBody)))]
pub async fn send(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SendMessage>,
) -> Result<impl IntoResponse, ApiError> {
    admit_address(&state, ip)?;
    let cost = limits::message_cost(body.text.chars().count(), state.config.nlu.max_chars);
    state.limits.charge_ip(IpKind::Messages, ip, cost)?;
    // The conversation's budget is spent only once `send` has verified the token, so a
    // caller without it cannot exhaust it.
    let outcome = state
        .service
        .send(
            &id,
            bearer(&headers),
            &body.text,
            &body.client_msg_id,
            |c| {
                state
                    .limits
                    .charge_conversation(ConversationKind::Messages, &c.id, cost)
            },
        )
        .await??;
    let status = if outcome.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(outcome)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Cursor {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    100
}

/// `GET /v1/conversations/{id}/messages?after=SEQ&limit=N`
#[utoipa::path(get, path = "/v1/conversations/{id}/messages", tag = "shopper", params(("id" = String, Path, description = "The conversation's id"), Cursor), security(("shopper_token" = [])), responses((status = 200, description = "A page of the transcript", body = crate::service::MessagePage)))]
pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(cursor): ApiQuery<Cursor>,
) -> Result<impl IntoResponse, ApiError> {
    let c = state.service.authorize(&id, bearer(&headers)).await?;
    if cursor.after < 0 {
        return Err(ApiError::InvalidRequest("after must be >= 0".into()));
    }
    Ok(Json(
        state
            .service
            .messages(&c, cursor.after, cursor.limit)
            .await?,
    ))
}

/// `POST /v1/conversations/{id}/handoff` — the "talk to a person" button.
#[utoipa::path(post, path = "/v1/conversations/{id}/handoff", tag = "shopper", params(("id" = String, Path, description = "The conversation's id")), security(("shopper_token" = [])), responses((status = 201, description = "Queued for a person", body = crate::service::TurnOutcome), (status = 200, description = "Already with a person or queued", body = crate::service::TurnOutcome), (status = 409, description = "The conversation is busy; retry", body = crate::http::openapi::ErrorBody), (status = 403, description = "The shop blocked this shopper or their network: a polite refusal", body = crate::http::openapi::ErrorBody)))]
pub async fn handoff(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    admit_address(&state, ip)?;
    state.limits.check_ip(IpKind::Handoffs, ip)?;
    let outcome = state
        .service
        .request_handoff(&id, bearer(&headers), |c| {
            state
                .limits
                .check_conversation(ConversationKind::Handoffs, &c.id)
        })
        .await??;
    let status = if outcome.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(outcome)))
}

/// `PUT /v1/conversations/{id}/page`: the product or order the shopper is viewing.
#[utoipa::path(put, path = "/v1/conversations/{id}/page", tag = "shopper", params(("id" = String, Path, description = "The conversation's id")), security(("shopper_token" = [])), request_body = crate::dialogue_memory::Page, responses((status = 204, description = "Stored; the bot and the agent see it"), (status = 400, description = "A field is too long", body = crate::http::openapi::ErrorBody), (status = 429, description = "Too many updates; retry later", body = crate::http::openapi::ErrorBody)))]
pub async fn set_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(page): ApiJson<crate::dialogue_memory::Page>,
) -> Result<impl IntoResponse, ApiError> {
    let c = state.service.authorize(&id, bearer(&headers)).await?;
    // Cheap for the server but a write: the same budget as typing indicators.
    state
        .limits
        .charge_conversation(ConversationKind::Typing, &c.id, 1)?;
    state.service.set_page(&id, bearer(&headers), page).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WelcomeQuery {
    /// `zh` (default) or `en`, or a locale such as `zh-CN`.
    #[serde(default)]
    lang: Option<String>,
    /// Which page of questions ("show others" asks for the next one; it wraps around).
    #[serde(default)]
    page: u32,
}

/// `GET /v1/welcome?lang=&page=`: the welcome card ("猜你想问"), the questions a new shopper
/// is offered as buttons — configured, or the FAQs answered most lately
/// (`intents/rules/welcome.yaml`). No token: it is shown before a conversation starts, and
/// holds only FAQ questions.
#[utoipa::path(get, path = "/v1/welcome", tag = "shopper", params(WelcomeQuery), responses((status = 200, description = "A page of the card", body = crate::content::welcome::Card), (status = 422, description = "An unsupported language", body = crate::http::openapi::ErrorBody)))]
pub async fn welcome(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<WelcomeQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let lang = match q.lang.as_deref() {
        None => crate::nlu::Lang::Zh,
        Some(l) => crate::nlu::Lang::from_locale(l).ok_or_else(|| {
            ApiError::InvalidRequest(format!("lang {l:?} is not supported (zh or en)"))
        })?,
    };
    let knowledge = state.service.knowledge();
    let welcome = &knowledge.content.welcome;
    let popular = match welcome.source {
        crate::content::welcome::WelcomeSource::Popular => state
            .insights
            .popular_faqs(welcome.days)
            .await
            .map_err(|e| ApiError::Internal(format!("popular FAQs: {e}")))?,
        crate::content::welcome::WelcomeSource::Configured => Default::default(),
    };
    Ok(Json(welcome.card(
        &knowledge.content.faqs,
        &popular,
        lang,
        q.page,
    )))
}
