//! The quality review API.
//!
//! - `/v1/quality/…` is the reviewer's: the admin token (every group), or the agent token of
//!   a supervisor (their groups, never their own conversations). The queue, one review with
//!   its transcript, a score and comment (or the decision on an appeal), and the CSV export.
//! - `/v1/agent/reviews…` is the reviewed agent's: their own reviews, and one appeal each.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::agent::authenticated;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use crate::quality::{ReviewFilter, Reviewer, Reviews, StateFilter};

/// The admin token, or a supervisor's agent token.
async fn reviewer(state: &AppState, headers: &HeaderMap) -> Result<Reviewer, ApiError> {
    if super::admin::is_admin_token(state, headers) {
        return Ok(Reviewer::Admin);
    }
    let agent = authenticated(state, headers).await?;
    if agent.is_supervisor() {
        Ok(Reviewer::Supervisor(agent))
    } else {
        Err(ApiError::Forbidden(
            "reviewing needs the admin token or an agent who supervises a group".into(),
        ))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewsQuery {
    /// `queue` (default: waiting for a reviewer, appeals first, then the longest waiting),
    /// `all`, or one state: `auto`, `pending`, `reviewed`, `appealed`, `closed`.
    #[serde(default)]
    state: Option<String>,
    /// Closed in the last this many days (1–366, default 30).
    #[serde(default = "month")]
    #[param(minimum = 1, maximum = 366)]
    days: u32,
    /// Only this agent's (by name).
    #[serde(default)]
    agent: Option<String>,
    /// Only this group's.
    #[serde(default)]
    skill: Option<String>,
    /// At most this many (1–500, default 100).
    #[serde(default = "hundred")]
    #[param(minimum = 1, maximum = 500)]
    limit: u32,
}

fn month() -> u32 {
    30
}

fn hundred() -> u32 {
    100
}

fn check_days(days: u32) -> Result<u32, ApiError> {
    if (1..=crate::quality::MAX_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(ApiError::InvalidRequest("days must be 1–366".into()))
    }
}

/// `GET /v1/quality/reviews`: the review queue, or any reviews, with each agent's average.
#[utoipa::path(get, path = "/v1/quality/reviews", tag = "quality", params(ReviewsQuery), security(("admin_token" = []), ("agent_token" = [])), responses((status = 200, description = "The reviews, and per agent the number, the average final score and the findings", body = crate::http::openapi::ReviewList), (status = 403, description = "An agent who supervises no group, or not this group", body = crate::http::openapi::ErrorBody), (status = 422, description = "A filter out of range", body = crate::http::openapi::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ReviewsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let who = reviewer(&state, &headers).await?;
    let days = check_days(q.days)?;
    if !(1..=crate::quality::MAX_PAGE).contains(&q.limit) {
        return Err(ApiError::InvalidRequest("limit must be 1–500".into()));
    }
    let state_filter = match q.state.as_deref() {
        None => StateFilter::Queue,
        Some(s) => StateFilter::parse(s).ok_or_else(|| {
            ApiError::InvalidRequest(
                "state is queue, all, auto, pending, reviewed, appealed or closed".into(),
            )
        })?,
    };
    let agent_id = match q.agent.as_deref() {
        None => None,
        Some(name) => Some(
            state
                .store
                .agent_by_name(name)
                .await?
                .ok_or_else(|| ApiError::InvalidRequest(format!("no agent named {name:?}")))?
                .id,
        ),
    };
    let filter = ReviewFilter {
        days,
        state: Some(state_filter),
        agent_id,
        skill: q.skill,
        limit: q.limit,
    };
    let reviews = state.desk.reviews().list(&who, &filter).await?;
    let by_agent = Reviews::by_agent(&reviews);
    Ok(Json(json!({ "reviews": reviews, "by_agent": by_agent })))
}

/// `GET /v1/quality/reviews/{id}`: one review with the transcript (personal data masked).
#[utoipa::path(get, path = "/v1/quality/reviews/{id}", tag = "quality", params(("id" = String, Path, description = "The handoff's id")), security(("admin_token" = []), ("agent_token" = [])), responses((status = 200, description = "The review and the transcript up to its close", body = crate::quality::ReviewDetail), (status = 403, description = "An agent who supervises no group", body = crate::http::openapi::ErrorBody), (status = 404, description = "No such review in a group the caller supervises", body = crate::http::openapi::ErrorBody)))]
pub async fn open(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let who = reviewer(&state, &headers).await?;
    Ok(Json(
        state.desk.reviews().open(Some(&who), None, &id).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreBody {
    /// 0–100.
    #[schema(minimum = 0, maximum = 100)]
    score: u32,
    /// Why, for the agent: at most 2,000 characters.
    #[serde(default)]
    #[schema(max_length = 2000)]
    comment: Option<String>,
}

/// `POST /v1/quality/reviews/{id}` `{score, comment?}`: the review, or the decision on the
/// agent's appeal.
#[utoipa::path(post, path = "/v1/quality/reviews/{id}", tag = "quality", params(("id" = String, Path, description = "The handoff's id")), security(("admin_token" = []), ("agent_token" = [])), request_body = ScoreBody, responses((status = 200, description = "Reviewed (or the appeal decided)", body = crate::quality::ReviewItem), (status = 403, description = "Not a group the caller supervises, or their own conversation", body = crate::http::openapi::ErrorBody), (status = 404, description = "No such review", body = crate::http::openapi::ErrorBody), (status = 409, description = "Reviewed already and not appealed, or changed meanwhile", body = crate::http::openapi::ErrorBody), (status = 422, description = "Score out of range or comment too long", body = crate::http::openapi::ErrorBody)))]
pub async fn score(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ScoreBody>,
) -> Result<impl IntoResponse, ApiError> {
    let who = reviewer(&state, &headers).await?;
    let item = state
        .desk
        .reviews()
        .review(&who, &id, body.score, body.comment.as_deref())
        .await?;
    Ok(Json(item))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DaysQuery {
    /// Closed in the last this many days (1–366, default 30).
    #[serde(default = "month")]
    #[param(minimum = 1, maximum = 366)]
    days: u32,
}

/// `GET /v1/quality/export?days=`: every review the caller may see, as CSV.
#[utoipa::path(get, path = "/v1/quality/export", tag = "quality", params(DaysQuery), security(("admin_token" = []), ("agent_token" = [])), responses((status = 200, description = "One row per review, oldest first", content_type = "text/csv", body = String), (status = 403, description = "An agent who supervises no group", body = crate::http::openapi::ErrorBody), (status = 422, description = "days out of range", body = crate::http::openapi::ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<DaysQuery>,
) -> Result<Response, ApiError> {
    let who = reviewer(&state, &headers).await?;
    let days = check_days(q.days)?;
    let csv = state.desk.reviews().export(&who, days).await?;
    let mut response = csv.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"quality-reviews.csv\""),
    );
    Ok(response)
}

/// `GET /v1/agent/reviews?days=`: the agent's own reviews, newest first.
#[utoipa::path(get, path = "/v1/agent/reviews", tag = "agent", params(DaysQuery), security(("agent_token" = [])), responses((status = 200, description = "The agent's reviews and their average", body = crate::http::openapi::ReviewList), (status = 422, description = "days out of range", body = crate::http::openapi::ErrorBody)))]
pub async fn mine(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<DaysQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    let days = check_days(q.days)?;
    let reviews = state.desk.reviews().of_agent(&agent, days).await?;
    let by_agent = Reviews::by_agent(&reviews);
    Ok(Json(json!({ "reviews": reviews, "by_agent": by_agent })))
}

/// `GET /v1/agent/reviews/{id}`: one of the agent's own reviews, with the transcript.
#[utoipa::path(get, path = "/v1/agent/reviews/{id}", tag = "agent", params(("id" = String, Path, description = "The handoff's id")), security(("agent_token" = [])), responses((status = 200, description = "The review and the transcript up to its close", body = crate::quality::ReviewDetail), (status = 404, description = "No such review of this agent's", body = crate::http::openapi::ErrorBody)))]
pub async fn my_review(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    Ok(Json(
        state.desk.reviews().open(None, Some(&agent), &id).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppealBody {
    /// Why the review is wrong: not blank, at most 2,000 characters.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    text: String,
}

/// `POST /v1/agent/reviews/{id}/appeal` `{text}`: once per review, after it was reviewed.
#[utoipa::path(post, path = "/v1/agent/reviews/{id}/appeal", tag = "agent", params(("id" = String, Path, description = "The handoff's id")), security(("agent_token" = [])), request_body = AppealBody, responses((status = 200, description = "Appealed: back in the review queue", body = crate::quality::ReviewItem), (status = 404, description = "No such review of this agent's", body = crate::http::openapi::ErrorBody), (status = 409, description = "Not reviewed yet, or appealed already", body = crate::http::openapi::ErrorBody), (status = 422, description = "Blank or too long", body = crate::http::openapi::ErrorBody)))]
pub async fn appeal(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AppealBody>,
) -> Result<impl IntoResponse, ApiError> {
    let agent = authenticated(&state, &headers).await?;
    Ok(Json(
        state.desk.reviews().appeal(&agent, &id, &body.text).await?,
    ))
}
