//! The blacklist and the word-list log over HTTP (admin token):
//! `GET/POST /v1/admin/blocks`, `DELETE /v1/admin/blocks/{id}` and `GET /v1/admin/word-hits`.
//!
//! Every block and every lift is audited (`block.create`, `block.lift`: the block's id, kind,
//! reason and expiry; the customer id or network stays in the block's own row) and takes
//! effect on this node at once, on the others within [`REFRESH`](crate::moderation::blocklist::REFRESH).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::admin::require_admin;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use crate::moderation::NewBlock;

/// Who made a change through the admin token.
const ADMIN: &str = "admin";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BlocksQuery {
    /// Also the lifted and expired blocks (the latest 1,000).
    #[serde(default)]
    all: bool,
}

/// `GET /v1/admin/blocks?all=`: the blocks that refuse now (or every block), newest first.
#[utoipa::path(get, path = "/v1/admin/blocks", tag = "admin", params(BlocksQuery), security(("admin_token" = [])), responses((status = 200, description = "The blacklist, newest first", body = crate::http::openapi::BlockList)))]
pub async fn list_blocks(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<BlocksQuery>,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    let now = state.clock.now_ms();
    let blocks = state.store.blocks(!q.all, now).await?;
    let shown: Vec<serde_json::Value> = blocks
        .iter()
        .map(|b| {
            let mut v = json!(b);
            v["live"] = json!(b.is_live(now));
            v
        })
        .collect();
    Ok(Json(json!({ "blocks": shown })))
}

/// `POST /v1/admin/blocks` `{customer_id | network, reason, hours?}`: blocks a verified
/// customer or a network.
#[utoipa::path(post, path = "/v1/admin/blocks", tag = "admin", request_body = NewBlock, security(("admin_token" = [])), responses((status = 201, description = "Blocked", body = crate::moderation::Block), (status = 422, description = "Not exactly one of customer_id and network, a bad network, reason or hours", body = crate::http::openapi::ErrorBody)))]
pub async fn create_block(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(new): ApiJson<NewBlock>,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    let now = state.clock.now_ms();
    let block = new
        .into_block(ADMIN, now)
        .map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    state.store.create_block(&block).await?;
    state
        .desk
        .audit_admin(
            "block.create",
            json!({ "block_id": block.id, "kind": block.kind, "reason": block.reason, "expires_at": block.expires_at }),
        )
        .await?;
    refresh(&state).await?;
    Ok((StatusCode::CREATED, Json(block)))
}

/// `DELETE /v1/admin/blocks/{id}`: lifts a block; the row stays on record.
#[utoipa::path(delete, path = "/v1/admin/blocks/{id}", tag = "admin", params(("id" = String, Path, description = "The block's id")), security(("admin_token" = [])), responses((status = 200, description = "Lifted", body = crate::moderation::Block), (status = 404, description = "No block with this id refuses anyone now", body = crate::http::openapi::ErrorBody)))]
pub async fn lift_block(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    let now = state.clock.now_ms();
    let Some(block) = state.store.lift_block(&id, ADMIN, now).await? else {
        return Err(ApiError::NotFound(format!(
            "no live block {id:?} (unknown, lifted or expired)"
        )));
    };
    state
        .desk
        .audit_admin(
            "block.lift",
            json!({ "block_id": block.id, "kind": block.kind, "reason": block.reason }),
        )
        .await?;
    refresh(&state).await?;
    Ok(Json(block))
}

async fn refresh(state: &AppState) -> Result<(), ApiError> {
    Ok(state.service.refresh_blocklist().await?)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WordHitsQuery {
    /// How many days back (1–90, default 7).
    #[serde(default = "week")]
    #[param(minimum = 1, maximum = 90)]
    days: u32,
    /// Most recent matches listed (1–1000, default 200); the counts cover the whole period.
    #[serde(default = "two_hundred")]
    #[param(minimum = 1, maximum = 1000)]
    limit: u32,
}

fn week() -> u32 {
    7
}

fn two_hundred() -> u32 {
    200
}

/// `GET /v1/admin/word-hits?days=&limit=`: what the word lists caught — counts per list
/// and action over the period, and the latest matches (list, word, who; never the text).
#[utoipa::path(get, path = "/v1/admin/word-hits", tag = "admin", params(WordHitsQuery), security(("admin_token" = [])), responses((status = 200, description = "Counts and the latest matches", body = crate::http::openapi::WordHitLog)))]
pub async fn word_hits(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<WordHitsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    require_admin(&state, &headers)?;
    if !(1..=90).contains(&q.days) || !(1..=1000).contains(&q.limit) {
        return Err(ApiError::InvalidRequest(
            "days must be 1–90 and limit 1–1000".into(),
        ));
    }
    let since = state.clock.now_ms() - i64::from(q.days) * 86_400_000;
    let counts = state.store.word_hit_counts(since).await?;
    let hits = state.store.word_hits(since, q.limit).await?;
    let labels: serde_json::Map<String, serde_json::Value> = state
        .service
        .knowledge()
        .content
        .words
        .lists
        .iter()
        .map(|l| (l.id.clone(), json!(l.label)))
        .collect();
    Ok(Json(json!({
        "since": since,
        "labels": labels,
        "counts": counts,
        "hits": hits,
    })))
}
