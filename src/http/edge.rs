//! The rules every request meets before its route, as one middleware:
//!
//! ```text
//! request ─► head over max_header_bytes? 431
//!         ─► (staff paths) address locked out by refused tokens? 429
//!         ─► the route, within request_timeout_ms (else 503)
//!         ─► (staff paths) a 401 counts against the address
//!         ─► (API and /metrics) Cache-Control: no-store
//! ```
//!
//! One middleware rather than a layer per rule: axum applies a router's layers to every
//! route, and each `from_fn` layer clones the service stack beneath it and boxes a future on
//! every request. With four of them that machinery was about 8 % of a node's CPU under
//! load. Each rule is still a function of its own below.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use super::limits::{self, Limits};

/// What the edge's rules need: the configured limits.
#[derive(Clone)]
pub(super) struct Edge {
    pub(super) limits: Arc<Limits>,
    pub(super) request_timeout: Duration,
    pub(super) max_header_bytes: usize,
}

/// The middleware (`axum::middleware::from_fn_with_state`).
pub(super) async fn edge(State(edge): State<Edge>, req: Request, next: Next) -> Response {
    if head_bytes(&req) > edge.max_header_bytes {
        return head_too_large(edge.max_header_bytes);
    }
    let private = is_private(req.uri().path());
    let staff = takes_staff_token(req.uri().path());
    let mut response = if staff {
        counting_token_failures(&edge.limits, req, next, edge.request_timeout).await
    } else {
        within(edge.request_timeout, next.run(req)).await
    };
    if private {
        no_store(&mut response);
    }
    response
}

/// Answers 431 in the usual JSON shape when the request head is over the limit. The
/// connection layer refuses heads over twice the limit before they are even parsed (with a
/// bare 431), so this is what a client with a merely bloated header sees.
fn head_too_large(max: usize) -> Response {
    ApiError::HeadersTooLarge(max).into_response()
}

/// About how many bytes the request line and headers took on the wire.
fn head_bytes(req: &Request) -> usize {
    let line = req.method().as_str().len()
        + req.uri().path_and_query().map_or(1, |p| p.as_str().len())
        + " HTTP/1.1\r\n ".len();
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len())
        .sum();
    line + headers
}

/// Answers 503 with the usual JSON body when a request runs past the configured time.
async fn within(limit: Duration, response: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(limit, response).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// Whether `path` takes an agent or admin token.
fn takes_staff_token(path: &str) -> bool {
    path.starts_with("/v1/agent/") || path.starts_with("/v1/admin/") || path == "/metrics"
}

/// Turns an address locked out by its refused tokens away before its token is checked (an
/// agent token check is an argon2 hash), and counts every refused token.
async fn counting_token_failures(
    limits: &Limits,
    req: Request,
    next: Next,
    timeout: Duration,
) -> Response {
    let ip = limits::client_ip(
        req.headers(),
        req.extensions(),
        limits.trust_forwarded_for(),
    );
    if let Err(e) = limits.check_token_attempt(ip) {
        return e.into_response();
    }
    let response = within(timeout, next.run(req)).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        limits.token_refused(ip);
    }
    response
}

/// Whether responses to `path` may hold tokens or personal data: every API route and the
/// metrics, but not the static pages and scripts, which may be cached.
fn is_private(path: &str) -> bool {
    path.starts_with("/v1/") || path == "/metrics"
}

/// `Cache-Control: no-store` on private responses, errors included: no shared cache or
/// browser history keeps a token or a transcript.
fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_and_metrics_responses_are_private_and_pages_are_not() {
        assert!(is_private("/v1/conversations"));
        assert!(is_private("/v1/agent/ws-ticket"));
        assert!(is_private("/metrics"));
        assert!(!is_private("/widget.js"));
        assert!(!is_private("/console"));
    }

    #[test]
    fn staff_tokens_are_taken_by_the_agent_and_admin_apis_and_the_metrics() {
        assert!(takes_staff_token("/v1/agent/queue"));
        assert!(takes_staff_token("/v1/admin/agents"));
        assert!(takes_staff_token("/metrics"));
        assert!(!takes_staff_token("/v1/conversations"));
        assert!(!takes_staff_token("/console"));
    }
}
