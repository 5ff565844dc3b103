//! Errors at the HTTP edge: one enum, one table from error to status and code, and the JSON
//! shape every client sees: `{"error": "<code>", "message": "<human text>"}`.
//!
//! Internal failures become an opaque 500; their cause is logged, never sent.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::content::editor::EditError;
use crate::desk::AuthError;
use crate::desk::agents::ManageError;
use crate::insights::InsightsError;
use crate::service::ServiceError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("requests with a body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("a valid bearer token for this conversation is required")]
    Unauthorized,
    /// Unauthenticated on the agent or admin API (the message says which token).
    #[error("{0}")]
    UnauthorizedAs(&'static str),
    #[error("{0}")]
    Forbidden(String),
    /// The shop blocked the shopper or their network: a polite refusal.
    #[error("{}", crate::dialogue::phrases::BLOCKED)]
    Blocked,
    /// A word list refused the message.
    #[error("{0}")]
    MessageBlocked(String),
    /// A signed customer identity that was refused: `401` when its signature or expiry
    /// failed, `422` when it could never have been right.
    #[error("{message}")]
    CustomerToken { message: String, refused: bool },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    /// Content that does not validate: the diagnostics go out with the error.
    #[error("{0}")]
    InvalidContent(String, Vec<crate::content::Diagnostic>),
    #[error("{0}")]
    PreconditionRequired(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    TooManyRequests(String),
    /// The caller went over a limit of theirs (not the server's capacity); they may try
    /// again after `retry_after_secs` (the `Retry-After` header).
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    #[error("the request took too long")]
    Timeout,
    /// A WebSocket endpoint was called without a valid upgrade handshake.
    #[error("{0}")]
    UpgradeRequired(String),
    #[error("the request line and headers are larger than {0} bytes")]
    HeadersTooLarge(usize),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// Status and stable machine-readable code.
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            ApiError::InvalidRequest(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Unauthorized | ApiError::UnauthorizedAs(_) => {
                (StatusCode::UNAUTHORIZED, "unauthorized")
            }
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Blocked => (StatusCode::FORBIDDEN, "blocked"),
            ApiError::MessageBlocked(_) => (StatusCode::UNPROCESSABLE_ENTITY, "message_blocked"),
            ApiError::CustomerToken { refused: true, .. } => {
                (StatusCode::UNAUTHORIZED, "invalid_customer_token")
            }
            ApiError::CustomerToken { refused: false, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_customer_token")
            }
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::InvalidContent(..) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_content"),
            ApiError::PreconditionRequired(_) => {
                (StatusCode::PRECONDITION_REQUIRED, "precondition_required")
            }
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "busy"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            ApiError::UpgradeRequired(_) => (StatusCode::UPGRADE_REQUIRED, "upgrade_required"),
            ApiError::HeadersTooLarge(_) => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
            ),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let retry_after = match &self {
            ApiError::RateLimited {
                retry_after_secs, ..
            } => HeaderValue::from(*retry_after_secs),
            _ => HeaderValue::from_static("1"),
        };
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let mut body = json!({ "error": code, "message": self.to_string() });
        if let ApiError::InvalidContent(_, diagnostics) = &self {
            body["diagnostics"] = json!(diagnostics);
        }
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            // Say when to come back, so well-behaved clients spread their retries instead of
            // hammering: a rate limit knows when its next token is due; an overload (busy
            // encoder, 503) is momentary.
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, retry_after);
            }
            // RFC 9110 §15.5.22: a 426 names the protocol to switch to.
            StatusCode::UPGRADE_REQUIRED => {
                headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                headers.insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
            }
            _ => {}
        }
        response
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound => ApiError::NotFound("no such conversation".into()),
            ServiceError::Unauthorized => ApiError::Unauthorized,
            ServiceError::Invalid(m) => ApiError::InvalidRequest(m),
            ServiceError::Contended => {
                ApiError::Conflict("the conversation is busy; retry the request".into())
            }
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::Forbidden(m) => ApiError::Forbidden(m),
            ServiceError::Blocked => ApiError::Blocked,
            ServiceError::MessageBlocked(m) => ApiError::MessageBlocked(m),
            // A cap on open tickets frees up only when agents close some: no wait to compute.
            ServiceError::RateLimited(m) => ApiError::RateLimited {
                message: m,
                retry_after_secs: 1,
            },
            ServiceError::Identity(e) => ApiError::CustomerToken {
                refused: e.is_rejection(),
                message: e.to_string(),
            },
            ServiceError::Busy => ApiError::TooManyRequests(
                "the bot is at capacity; retry the same message (same client_msg_id) shortly"
                    .into(),
            ),
            ServiceError::Store(
                StoreError::Database(sqlx::Error::PoolTimedOut) | StoreError::Busy,
            ) => ApiError::Unavailable("the database is busy; retry shortly".into()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthorized => ApiError::Unauthorized,
            AuthError::Saturated => ApiError::Unavailable(e.to_string()),
            AuthError::Service(e) => e.into(),
        }
    }
}

impl From<WebSocketUpgradeRejection> for ApiError {
    fn from(r: WebSocketUpgradeRejection) -> Self {
        match r {
            // The server's side of the connection cannot be upgraded: not the client's fault.
            WebSocketUpgradeRejection::ConnectionNotUpgradable(e) => {
                ApiError::Internal(e.body_text())
            }
            other => ApiError::UpgradeRequired(format!(
                "this endpoint is a WebSocket: {}",
                other.body_text()
            )),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ServiceError::from(e).into()
    }
}

impl From<InsightsError> for ApiError {
    fn from(e: InsightsError) -> Self {
        match e {
            InsightsError::Store(e) => e.into(),
            InsightsError::NotFound => ApiError::NotFound("no such conversation".into()),
            InsightsError::Task(..) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<crate::quality::ReviewError> for ApiError {
    fn from(e: crate::quality::ReviewError) -> Self {
        use crate::quality::ReviewError;
        match e {
            ReviewError::NotFound(m) => ApiError::NotFound(m),
            ReviewError::Forbidden(m) => ApiError::Forbidden(m),
            ReviewError::Invalid(m) => ApiError::InvalidRequest(m),
            ReviewError::Conflict(m) => ApiError::Conflict(m),
            ReviewError::Store(e) => e.into(),
        }
    }
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Invalid(e) => ApiError::InvalidRequest(e.to_string()),
            ManageError::NotFound(name) => ApiError::NotFound(format!("no agent named {name:?}")),
            ManageError::Store(StoreError::Exists(what)) => {
                ApiError::Conflict(format!("{what} already exists"))
            }
            ManageError::Store(e) => ServiceError::from(e).into(),
        }
    }
}

impl From<EditError> for ApiError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::Invalid(message, diagnostics) => {
                ApiError::InvalidContent(message, diagnostics)
            }
            EditError::NotFound { .. } => ApiError::NotFound(e.to_string()),
            EditError::Stale(m) => ApiError::Conflict(m),
            EditError::PreconditionRequired => ApiError::PreconditionRequired(e.to_string()),
            EditError::Io { .. } => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => ApiError::InvalidRequest(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => ApiError::MalformedJson(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge(0)
            }
            other => ApiError::MalformedJson(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::InvalidRequest(r.body_text())
    }
}
