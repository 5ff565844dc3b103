//! The HTTP edge: routes, shared state, limits and error shape. Handlers are thin — they
//! authenticate, parse, call the [`ConversationService`] (shoppers) or the [`Desk`] (agents,
//! admins) and serialise; all rules live below. WebSocket sessions live in [`ws`].

mod admin;
mod agent;
mod error;
mod extract;
mod health;
mod kb;
mod pages;
mod shopper;
mod ws;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::trace::TraceLayer;

pub use error::ApiError;

use crate::desk::Desk;
use crate::service::ConversationService;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub service: ConversationService,
    pub desk: Desk,
    /// Open WebSocket sessions, so shutdown can wait for them.
    pub sockets: TaskTracker,
    /// Cancelled on shutdown: sockets close with "going away".
    pub stop: CancellationToken,
    pub reloader: crate::reload::Reloader,
    /// FAQ edits through the API.
    pub editor: std::sync::Arc<crate::content::editor::Editor>,
    /// The last `/metrics` text and when it was computed.
    pub metrics: std::sync::Arc<tokio::sync::Mutex<Option<(std::time::Instant, String)>>>,
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let http = &state.service.config().http;
    let body_limit = http.body_limit_bytes;
    let timeout = Duration::from_millis(http.request_timeout_ms);
    // Pages and scripts, compressed: what a shopper's phone downloads first.
    let pages = Router::new()
        .route("/widget.js", get(pages::widget))
        .route("/demo", get(pages::demo))
        .route("/demo.css", get(pages::demo_css))
        .route("/console", get(pages::console))
        .route("/console.js", get(pages::console_js))
        .route("/console.css", get(pages::console_css))
        .route("/admin", get(pages::admin))
        .route("/admin.js", get(pages::admin_js))
        .route("/admin.css", get(pages::admin_css))
        .layer(tower_http::compression::CompressionLayer::new());
    Router::new()
        .merge(pages)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/v1/conversations", post(shopper::create))
        .route("/v1/conversations/{id}", get(shopper::show))
        .route(
            "/v1/conversations/{id}/messages",
            post(shopper::send).get(shopper::list),
        )
        .route("/v1/conversations/{id}/handoff", post(shopper::handoff))
        .route("/v1/conversations/{id}/rating", post(shopper::rate))
        .route(
            "/v1/conversations/{id}/tickets",
            post(shopper::leave_message),
        )
        .route("/v1/conversations/{id}/ws", get(ws::shopper))
        .route("/v1/agent/me", get(agent::me))
        .route("/v1/agent/status", post(agent::status))
        .route("/v1/agent/heartbeat", post(agent::heartbeat))
        .route("/v1/agent/queue", get(agent::queue))
        .route("/v1/agent/tickets", get(agent::tickets))
        .route("/v1/agent/tickets/{id}/close", post(agent::close_ticket))
        .route("/v1/agent/ws", get(ws::agent))
        .route("/v1/agent/conversations/{id}", get(agent::view))
        .route("/v1/agent/conversations/{id}/accept", post(agent::accept))
        .route("/v1/agent/conversations/{id}/decline", post(agent::decline))
        .route("/v1/agent/conversations/{id}/messages", post(agent::reply))
        .route("/v1/agent/conversations/{id}/notes", post(agent::note))
        .route(
            "/v1/agent/conversations/{id}/transfer",
            post(agent::transfer),
        )
        .route("/v1/agent/conversations/{id}/resolve", post(agent::resolve))
        .route(
            "/v1/agent/conversations/{id}/return-to-bot",
            post(agent::return_to_bot),
        )
        .route("/v1/agent/conversations/{id}/reveal", post(agent::reveal))
        .route(
            "/v1/admin/agents",
            get(admin::list_agents).post(admin::add_agent),
        )
        .route(
            "/v1/admin/agents/{name}",
            axum::routing::patch(admin::update_agent),
        )
        .route("/v1/admin/agents/{name}/rotate", post(admin::rotate_agent))
        .route("/v1/admin/audit", get(admin::audit))
        .route("/v1/admin/kb/status", get(admin::kb_status))
        .route("/v1/admin/kb/reload", post(admin::kb_reload))
        .route("/v1/admin/kb/gaps", get(kb::gaps))
        .route("/v1/admin/kb/drafts", get(kb::drafts))
        .route("/v1/admin/kb/drafts/{id}/approve", post(kb::approve_draft))
        .route("/v1/admin/kb/drafts/{id}/reject", post(kb::reject_draft))
        .route("/v1/admin/faqs", get(kb::list_faqs))
        .route(
            "/v1/admin/faqs/{id}/{lang}",
            get(kb::get_faq).put(kb::put_faq).delete(kb::delete_faq),
        )
        .route("/v1/admin/stats", get(admin::stats))
        .route("/metrics", get(admin::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(timeout, request_timeout))
        .layer(cors(&http.allowed_origins))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Lets the widget on the shop's own pages (`http.allowed_origins`) call the API when Baton
/// runs on another origin. Credentials are bearer tokens, never cookies.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderValue, Method, header};
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(allowed)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600))
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
