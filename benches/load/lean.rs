//! The shoppers' two requests — open a conversation, send a message — on hyper's own
//! client, with the replies read into the two fields the generator needs.
//!
//! They are nearly all of a run's requests. Through `reqwest` (a URL parsed and its host
//! mapped through IDNA per request, redirect and timeout machinery, a JSON tree per reply)
//! the generator took about a third of a core, on the same two cores as the server it
//! measures. Agents, listeners and the final read-back stay on `reqwest`: they are few.
//!
//! ```text
//! post(url, bearer, forwarded, JSON) ─► hyper (pooled keep-alive connection)
//!     ─► status, Retry-After, body ─► Created / Acknowledged
//! ```

use std::net::Ipv4Addr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

/// A connection pool to the nodes under test.
#[derive(Clone)]
pub struct Lean(Client<HttpConnector, Body>);

/// What came back: status, headers and the whole body.
pub struct Reply {
    pub status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// `POST /v1/conversations`: what the shopper keeps.
#[derive(Deserialize)]
pub struct Created {
    pub conversation_id: String,
    pub token: String,
}

/// `POST /v1/conversations/{id}/messages`: where the message was stored, and whether the
/// turn handed the conversation over.
pub struct Acknowledged {
    pub seq: i64,
    pub handed_over: bool,
}

#[derive(Deserialize)]
struct Outcome {
    message: Stored,
    #[serde(default)]
    handoff: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Stored {
    seq: i64,
}

impl Lean {
    pub fn new() -> Lean {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Lean(Client::builder(TokioExecutor::new()).build(connector))
    }

    /// POSTs `body` as JSON, with a bearer token and a proxy's `X-Forwarded-For` when given.
    pub async fn post(
        &self,
        url: &str,
        bearer: Option<&str>,
        forwarded: Option<Ipv4Addr>,
        body: Vec<u8>,
    ) -> Result<Reply, String> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(ip) = forwarded {
            request = request.header("x-forwarded-for", ip.to_string());
        }
        let request = request.body(Body::from(body)).map_err(|e| e.to_string())?;
        let response = self.0.request(request).await.map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(Body::new(body), usize::MAX)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

impl Reply {
    /// How long a 429 asks to wait (1 s when it does not say).
    pub fn retry_after(&self) -> Duration {
        let seconds = self
            .headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(1);
        Duration::from_secs(seconds)
    }

    pub fn created(&self) -> Option<Created> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn acknowledged(&self) -> Option<Acknowledged> {
        let outcome: Outcome = serde_json::from_slice(&self.body).ok()?;
        Some(Acknowledged {
            seq: outcome.message.seq,
            handed_over: outcome.handoff.is_some(),
        })
    }
}
