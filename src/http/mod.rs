//! The HTTP edge: routes, shared state, limits and error shape. Handlers are thin — they
//! authenticate, parse, call the [`ConversationService`] (shoppers) or the [`Desk`] (agents,
//! admins) and serialise; all rules live below. WebSocket sessions live in [`ws`]; the API's
//! OpenAPI 3.1 description (`GET /openapi.json`) in [`openapi`].
//!
//! Only the shopper API (`/v1/conversations…`) answers cross-origin requests: it is what the
//! widget on a shop's pages calls. The agent console and the admin page are served by Baton
//! itself, so their APIs get no CORS. Every API response carries `Cache-Control: no-store`
//! (tokens, transcripts, personal data), and request traces record the path only: a query
//! string may carry a credential.
//!
//! Rate limits ([`limits`]) are asked at the top of each handler they apply to. What every
//! request meets before its route — the head size, the time limit, `no-store`, and for
//! `/v1/agent/…`, `/v1/admin/…` and `/metrics` the count of refused tokens (an address past
//! its limit is turned away before any token check) — is one middleware, [`edge`].

mod admin;
mod agent;
mod edge;
mod error;
mod extract;
mod health;
mod kb;
pub mod limits;
mod moderation;
pub mod openapi;
mod pages;
mod quality;
mod rules;
mod shopper;
mod supervisor;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::middleware;
use axum::routing::{MethodRouter, get, post};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use limits::Limits;
pub use openapi::ApiDoc;
pub use ws::SocketTickets;

use crate::clock::Clock;
use crate::config::Config;
use crate::desk::Desk;
use crate::handoff::Roster;
use crate::knowledge::LiveKnowledge;
use crate::realtime::Hub;
use crate::service::ConversationService;
use crate::store::Store;

/// What handlers can reach: the narrow handles each needs, not a way through the service
/// to everything. One pointer: axum clones the state for every extractor and layer of every
/// request, and a clone of the handles themselves was twenty reference counts to move.
#[derive(Clone)]
pub struct AppState(Arc<Handles>);

impl std::ops::Deref for AppState {
    type Target = Handles;

    fn deref(&self) -> &Handles {
        &self.0
    }
}

/// The handles of [`AppState`].
pub struct Handles {
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
    /// One-time tickets that open a WebSocket (so no token travels in a URL).
    pub tickets: Arc<SocketTickets>,
    /// Rate limits per client address and per conversation, and the socket cap.
    pub limits: Arc<Limits>,
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
        AppState(Arc::new(Handles {
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
            tickets: Arc::new(SocketTickets::default()),
            limits: Arc::new(Limits::new(&config.limits)),
            config,
            service,
            desk,
            reloader,
            sockets,
            stop,
        }))
    }
}

/// A router that remembers the method and path of each route it registers, so that the
/// OpenAPI document can be checked against what is actually served.
struct Api {
    router: Router<AppState>,
    routes: Vec<(&'static str, &'static str)>,
}

impl Api {
    fn new() -> Api {
        Api {
            router: Router::new(),
            routes: Vec::new(),
        }
    }

    fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        route: MethodRouter<AppState>,
    ) -> Api {
        self.routes.push((method, path));
        // axum merges method routers registered for the same path.
        self.router = self.router.route(path, route);
        self
    }

    fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Api {
        self.add("GET", path, get(h))
    }

    fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Api {
        self.add("POST", path, post(h))
    }

    fn put<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Api {
        self.add("PUT", path, axum::routing::put(h))
    }

    fn patch<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Api {
        self.add("PATCH", path, axum::routing::patch(h))
    }

    fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Api {
        self.add("DELETE", path, axum::routing::delete(h))
    }
}

/// What the widget calls, possibly from a shop's own origin.
fn shopper_api() -> Api {
    Api::new()
        .get("/v1/welcome", shopper::welcome)
        .post("/v1/conversations", shopper::create)
        .get("/v1/conversations/{id}", shopper::show)
        .post("/v1/conversations/{id}/messages", shopper::send)
        .get("/v1/conversations/{id}/messages", shopper::list)
        .post("/v1/conversations/{id}/handoff", shopper::handoff)
        .post("/v1/conversations/{id}/rating", shopper::rate)
        .post("/v1/conversations/{id}/tickets", shopper::leave_message)
        .put("/v1/conversations/{id}/page", shopper::set_page)
        .post("/v1/conversations/{id}/ws-ticket", ws::shopper_ticket)
        .get("/v1/conversations/{id}/ws", ws::shopper)
}

/// The probes, the agent API and the admin API.
fn staff_api() -> Api {
    Api::new()
        .get("/healthz", health::healthz)
        .get("/readyz", health::readyz)
        .get("/v1/agent/me", agent::me)
        .post("/v1/agent/status", agent::status)
        .post("/v1/agent/heartbeat", agent::heartbeat)
        .get("/v1/agent/queue", agent::queue)
        .get("/v1/agent/tickets", agent::tickets)
        .post("/v1/agent/tickets/{id}/close", agent::close_ticket)
        .post("/v1/agent/ws-ticket", ws::agent_ticket)
        .get("/v1/agent/ws", ws::agent)
        .get("/v1/agent/conversations/{id}", agent::view)
        .post("/v1/agent/conversations/{id}/accept", agent::accept)
        .post("/v1/agent/conversations/{id}/decline", agent::decline)
        .post("/v1/agent/conversations/{id}/messages", agent::reply)
        .post("/v1/agent/conversations/{id}/notes", agent::note)
        .post("/v1/agent/conversations/{id}/transfer", agent::transfer)
        .post("/v1/agent/conversations/{id}/resolve", agent::resolve)
        .get("/v1/agent/wrap-up", agent::wrap_up_categories)
        .post(
            "/v1/agent/conversations/{id}/return-to-bot",
            agent::return_to_bot,
        )
        .post("/v1/agent/conversations/{id}/reveal", agent::reveal)
        .post("/v1/agent/conversations/{id}/lookup", agent::lookup)
        .get("/v1/agent/reviews", quality::mine)
        .get("/v1/agent/reviews/{id}", quality::my_review)
        .post("/v1/agent/reviews/{id}/appeal", quality::appeal)
        .get("/v1/quality/reviews", quality::list)
        .get("/v1/quality/reviews/{id}", quality::open)
        .post("/v1/quality/reviews/{id}", quality::score)
        .get("/v1/quality/export", quality::export)
        .get("/v1/supervisor/overview", supervisor::overview)
        .get("/v1/supervisor/conversations/{id}", supervisor::watch)
        .post(
            "/v1/supervisor/conversations/{id}/whisper",
            supervisor::whisper,
        )
        .post(
            "/v1/supervisor/conversations/{id}/take-over",
            supervisor::take_over,
        )
        .post(
            "/v1/supervisor/conversations/{id}/reassign",
            supervisor::reassign,
        )
        .get("/v1/admin/agents", admin::list_agents)
        .post("/v1/admin/agents", admin::add_agent)
        .patch("/v1/admin/agents/{name}", admin::update_agent)
        .post("/v1/admin/agents/{name}/rotate", admin::rotate_agent)
        .get("/v1/admin/audit", admin::audit)
        .post("/v1/admin/customers/{id}/forget", admin::forget_customer)
        .post(
            "/v1/admin/conversations/{id}/forget",
            admin::forget_conversation,
        )
        .get("/v1/admin/kb/status", admin::kb_status)
        .post("/v1/admin/kb/reload", admin::kb_reload)
        .get("/v1/admin/kb/gaps", kb::gaps)
        .get("/v1/admin/kb/drafts", kb::drafts)
        .post("/v1/admin/kb/drafts/{id}/approve", kb::approve_draft)
        .post("/v1/admin/kb/drafts/{id}/reject", kb::reject_draft)
        .get("/v1/admin/faqs", kb::list_faqs)
        .get("/v1/admin/faqs/{id}/{lang}", kb::get_faq)
        .put("/v1/admin/faqs/{id}/{lang}", kb::put_faq)
        .delete("/v1/admin/faqs/{id}/{lang}", kb::delete_faq)
        .get("/v1/admin/rules/{name}", rules::get_rules)
        .put("/v1/admin/rules/{name}", rules::put_rules)
        .get("/v1/admin/stats", admin::stats)
        .get("/v1/admin/blocks", moderation::list_blocks)
        .post("/v1/admin/blocks", moderation::create_block)
        .delete("/v1/admin/blocks/{id}", moderation::lift_block)
        .get("/v1/admin/word-hits", moderation::word_hits)
}

/// The Prometheus text for the shop's scraper (admin token): not JSON, so outside the
/// OpenAPI document.
fn metrics_api() -> Api {
    Api::new().get("/metrics", admin::metrics)
}

/// Method and path of every JSON API route the router serves (the probes, `/v1/…`): what
/// the OpenAPI document must describe.
pub fn api_routes() -> Vec<(&'static str, &'static str)> {
    let mut routes = shopper_api().routes;
    routes.extend(staff_api().routes);
    routes
}

/// Method and path of every route but the static pages: the JSON API and the metrics, each
/// of which the authorization matrix must give a row.
pub fn private_routes() -> Vec<(&'static str, &'static str)> {
    let mut routes = api_routes();
    routes.extend(metrics_api().routes);
    routes
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let http = &state.config.http;
    let body_limit = http.body_limit_bytes;
    let edge = edge::Edge {
        limits: state.limits.clone(),
        request_timeout: Duration::from_millis(http.request_timeout_ms),
        max_header_bytes: http.max_header_bytes,
    };
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
        .route("/i18n.js", get(pages::i18n_js))
        .route("/openapi.json", get(openapi::serve))
        .layer(tower_http::compression::CompressionLayer::new());
    // What the widget calls, possibly from a shop's own origin: the only routes with CORS.
    // The 405 fallback is set before the CORS layer so that preflights (OPTIONS) reach it.
    let shopper = shopper_api()
        .router
        .method_not_allowed_fallback(method_not_allowed)
        .layer(cors(&http.allowed_origins));
    // The demo shop's order API, when Baton calls its own demo instead of a real shop.
    let demo_shop = if state.config.shop.enabled && state.config.shop.base_url.is_none() {
        Router::new().nest_service("/demo/api", crate::shop::demo::router())
    } else {
        Router::new()
    };
    Router::new()
        .merge(pages)
        .merge(demo_shop)
        .merge(shopper)
        .merge(staff_api().router)
        .merge(metrics_api().router)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(edge, edge::edge))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of one request: method and path, never the query string (`?ticket=`, and
/// whatever a client puts there).
fn request_span(req: &Request) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        version = ?req.version(),
    )
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what a `fmt` subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn request_spans_record_the_path_but_not_the_query() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let req = Request::builder()
            .uri("/v1/agent/ws?ticket=SECRET-TICKET&token=SECRET-TOKEN")
            .body(axum::body::Body::empty())
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            request_span(&req).in_scope(|| tracing::debug!("started processing request"));
        });
        let log = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("path=/v1/agent/ws"), "{log}");
        assert!(!log.contains("SECRET"), "{log}");
    }
}
