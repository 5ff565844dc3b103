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

use std::sync::Arc;
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

use crate::clock::Clock;
use crate::config::Config;
use crate::desk::Desk;
use crate::handoff::Roster;
use crate::knowledge::LiveKnowledge;
use crate::realtime::Hub;
use crate::service::ConversationService;
use crate::store::Store;

/// What handlers can reach: the narrow handles each needs, not a way through the service
/// to everything. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Shoppers' conversations: creation, authorisation, turns, tickets, ratings.
    pub service: ConversationService,
    /// Agents: authentication, actions, queue positions.
    pub desk: Desk,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub config: Arc<Config>,
    /// The serving knowledge snapshot.
    pub knowledge: LiveKnowledge,
    /// Agents and their presence.
    pub roster: Arc<Roster>,
    /// Event channels the sockets read.
    pub hub: Hub,
    /// Wakes the dispatcher.
    pub poke: Arc<tokio::sync::Notify>,
    /// Open WebSocket sessions, so shutdown can wait for them.
    pub sockets: TaskTracker,
    /// Cancelled on shutdown: sockets close with "going away".
    pub stop: CancellationToken,
    pub reloader: crate::knowledge::reload::Reloader,
    /// Statistics, gaps and drafts.
    pub insights: crate::insights::Insights,
    /// FAQ edits through the API.
    pub editor: Arc<crate::content::editor::Editor>,
    /// The last `/metrics` text and when it was computed.
    pub metrics: Arc<tokio::sync::Mutex<Option<(std::time::Instant, String)>>>,
}

impl AppState {
    /// The state of a built server: its service and desk, and the handles both share.
    pub fn new(
        service: ConversationService,
        desk: Desk,
        reloader: crate::knowledge::reload::Reloader,
        sockets: TaskTracker,
        stop: CancellationToken,
    ) -> AppState {
        let wiring = service.wiring().clone();
        let config = service.config_arc().clone();
        AppState {
            store: service.store().clone(),
            clock: wiring.clock,
            knowledge: service.live_knowledge().clone(),
            roster: wiring.roster,
            hub: wiring.hub,
            poke: wiring.poke,
            insights: desk.insights().clone(),
            editor: Arc::new(crate::content::editor::Editor::new(
                config.kb.clone(),
                config.intents.clone(),
            )),
            metrics: Arc::default(),
            config,
            service,
            desk,
            reloader,
            sockets,
            stop,
        }
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let http = &state.config.http;
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
        .route(
            "/v1/admin/customers/{id}/forget",
            post(admin::forget_customer),
        )
        .route(
            "/v1/admin/conversations/{id}/forget",
            post(admin::forget_conversation),
        )
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
