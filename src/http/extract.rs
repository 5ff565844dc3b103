//! Extractors whose rejections use Baton's error shape instead of axum's plain text, the
//! client's address and the bearer token reader.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;

/// `axum::Json`, rejecting with [`ApiError`] (and the configured body limit in the message).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(match ApiError::from(rejection) {
                ApiError::PayloadTooLarge(_) => {
                    ApiError::PayloadTooLarge(state.config.http.body_limit_bytes)
                }
                other => other,
            }),
        }
    }
}

/// `axum::extract::Query`, rejecting with [`ApiError`].
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(v) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(v))
    }
}

/// The client's address, as the rate limits see it ([`super::limits::client_ip`]).
pub struct ClientIp(pub std::net::IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, std::convert::Infallible> {
        Ok(ClientIp(super::limits::client_ip(
            &parts.headers,
            &parts.extensions,
            state.limits.trust_forwarded_for(),
        )))
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A JSON body that may be left out: an empty (or blank) body is `T::default()`. For
/// actions whose options are all optional (approving a draft, resolving a conversation).
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::InvalidRequest(e.to_string())
        } else {
            ApiError::MalformedJson(e.to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_tokens() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert("authorization", "bearer  xyz ".parse().unwrap());
        assert_eq!(bearer(&h), Some("xyz"));
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert("authorization", "Bearer ".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}

/// Property tests of request bodies: `cargo test --lib fuzz_`, `PROPTEST_CASES=N` for a long
/// run. Every JSON body of the shopper, agent and admin APIs goes through `axum::Json` and
/// [`ApiError`]'s conversion of its rejection, as in [`ApiJson`] (which only adds the body
/// limit to a 413).
#[cfg(test)]
mod fuzz {
    use std::sync::LazyLock;

    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;
    use crate::fuzzing::{self, mutated};

    static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime for the tests")
    });

    /// A valid body of every request type, in the order of [`accepts`].
    const BODIES: [&str; 11] = [
        r#"{"channel":"web","locale":"zh-CN","customer_token":"t.x","customer":{"id":"c1","name":"张三","tags":["new"],"vip":true}}"#,
        r#"{"score":5,"comment":"很好"}"#,
        r#"{"contact":"13812345678","text":"请回电"}"#,
        r#"{"text":"我的订单到哪了","client_msg_id":"m-1"}"#,
        r#"{"status":"online"}"#,
        r#"{"text":"已为您查询","client_msg_id":"a-1"}"#,
        r#"{"text":"VIP, call back"}"#,
        r#"{"skill":"billing","agent":"li","note":"refund"}"#,
        r#"{"name":"li","skills":["orders","billing"],"max_chats":4}"#,
        r#"{"skills":["vip"],"max_chats":0,"disabled":false}"#,
        r#"{"question":"Can I pay with PayPal?","alternates":["paypal?"],"tags":["pay"],"skill":"payments","answer":"Yes.","category":"payments"}"#,
    ];

    /// Whether request type `k` reads `body`, through the route's own extractor; a refusal
    /// must be a client error in Baton's JSON shape, and agree with serde.
    fn accepts(k: usize, body: &[u8], content_type: &str) -> Result<bool, TestCaseError> {
        use super::super::{agent, shopper};
        use crate::content::editor::FaqDoc;
        use crate::desk::agents::{AgentPatch, NewAgent};
        use crate::service::NewConversation;
        match k {
            0 => extract::<NewConversation>(body, content_type),
            1 => extract::<shopper::RatingBody>(body, content_type),
            2 => extract::<shopper::TicketBody>(body, content_type),
            3 => extract::<shopper::SendMessage>(body, content_type),
            4 => extract::<agent::StatusBody>(body, content_type),
            5 => extract::<agent::ReplyBody>(body, content_type),
            6 => extract::<agent::NoteBody>(body, content_type),
            7 => extract::<agent::TransferBody>(body, content_type),
            8 => extract::<NewAgent>(body, content_type),
            9 => extract::<AgentPatch>(body, content_type),
            _ => extract::<FaqDoc>(body, content_type),
        }
    }

    fn extract<T: DeserializeOwned>(
        body: &[u8],
        content_type: &str,
    ) -> Result<bool, TestCaseError> {
        let request = axum::http::Request::builder()
            .method("POST")
            .uri("/")
            .header("content-type", content_type)
            .body(Body::from(body.to_vec()))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let serde_ok = serde_json::from_slice::<T>(body).is_ok();
        let rejection = match RUNTIME.block_on(axum::Json::<T>::from_request(request, &())) {
            Ok(_) => {
                prop_assert!(serde_ok, "axum accepted what serde refuses");
                return Ok(true);
            }
            Err(rejection) => rejection,
        };
        let json_type = matches!(
            content_type,
            "application/json" | "application/json; charset=utf-8"
        );
        prop_assert!(!(serde_ok && json_type), "axum refused what serde accepts");
        let response = ApiError::from(rejection).into_response();
        let status = response.status();
        let bytes = RUNTIME
            .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let shape: Value = serde_json::from_slice(&bytes)
            .map_err(|e| TestCaseError::fail(format!("error body is not JSON: {e}")))?;
        let code = shape["error"].as_str().unwrap_or_default();
        let expected = match status {
            StatusCode::BAD_REQUEST => "malformed_json",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_request",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            other => {
                return Err(TestCaseError::fail(format!(
                    "status {other} for a bad body"
                )));
            }
        };
        prop_assert_eq!(code, expected);
        prop_assert!(!json_type || status != StatusCode::UNSUPPORTED_MEDIA_TYPE);
        prop_assert!(
            shape["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            shape
        );
        Ok(false)
    }

    fn bytes() -> impl Strategy<Value = (usize, Vec<u8>)> {
        prop_oneof![
            (
                0..BODIES.len(),
                proptest::collection::vec(any::<u8>(), 0..200)
            ),
            mutated(BODIES.iter().map(|b| b.to_string()).collect(), 6)
                .prop_map(|(k, t)| (k, t.into_bytes())),
            (0..BODIES.len(), fuzzing::arbitrary_text()).prop_map(|(k, t)| (k, t.into_bytes())),
        ]
    }

    proptest! {
        #![proptest_config(fuzzing::config(256))]

        #[test]
        fn fuzz_request_bodies((k, body) in bytes(), any_type in 0..BODIES.len()) {
            accepts(k, &body, "application/json")?;
            // The same bytes offered to another route's type.
            accepts(any_type, &body, "application/json; charset=utf-8")?;
        }

        #[test]
        fn fuzz_request_content_types(
            k in 0..BODIES.len(),
            content_type in prop_oneof![
                proptest::sample::select(vec![
                    "text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                    "application/problem+json", "application/json;", "", "json",
                    "multipart/form-data; boundary=x", "application/vnd.api+json",
                ])
                .prop_map(String::from),
                "[ -~]{0,30}",
            ],
        ) {
            accepts(k, BODIES[k].as_bytes(), &content_type)?;
        }

        /// The valid bodies are read.
        #[test]
        fn fuzz_request_bodies_valid_seeds(k in 0..BODIES.len()) {
            prop_assert!(accepts(k, BODIES[k].as_bytes(), "application/json")?);
        }
    }
}
