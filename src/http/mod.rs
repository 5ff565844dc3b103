//! The HTTP edge: routes, shared state, limits and error shape. Handlers are thin — they
//! authenticate, parse, call the [`ConversationService`] and serialise; all rules live below.

mod error;
mod extract;
mod health;
mod shopper;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

pub use error::ApiError;

use crate::service::ConversationService;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub service: ConversationService,
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let http = &state.service.config().http;
    let body_limit = http.body_limit_bytes;
    let timeout = Duration::from_millis(http.request_timeout_ms);
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/v1/conversations", post(shopper::create))
        .route("/v1/conversations/{id}", get(shopper::show))
        .route(
            "/v1/conversations/{id}/messages",
            post(shopper::send).get(shopper::list),
        )
        .route("/v1/conversations/{id}/handoff", post(shopper::handoff))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(timeout, request_timeout))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("this endpoint does not support that method".into())
}

/// Answers 503 with the usual JSON body when a request runs past the configured time.
async fn request_timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}
