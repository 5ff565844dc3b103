//! Calling the shop's API: one declared call with the task's values, guarded.
//!
//! ```text
//! CallDecl + values ─► render path, query, headers, body ─► allowed host? public address?
//!   ─► breaker admits? ─► send (timeout per try; reads retried after a timeout, a
//!   connection error or a 5xx; writes never) ─► read at most max_response_bytes ─► JSON
//!   ─► fields at their pointers, required ones present, owner is the verified customer
//!   ─► CallResult { fields | failure, trace }
//! ```
//!
//! Every call leaves a [`CallTrace`] (what was attempted, with which values, what came back),
//! with personal data masked: it is stored with the turn and shown to the agent after a
//! handoff. Addresses are checked twice: a literal IP in the URL here, and every address a
//! name resolves to in [`GuardedResolver`], so a DNS answer cannot point Baton at an internal
//! service either.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::breaker::{Breaker, BreakerState};
use crate::config::ShopConfig;
use crate::content::actions::{CallDecl, CallKind, Refusal};
use crate::content::template as render;

/// The values a call's templates see: order_number, phone_last4, customer_id, address, sku.
pub type Values = BTreeMap<String, String>;

/// Values whose content is personal: masked in traces.
const SECRET_VALUES: &[&str] = &["phone_last4"];

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Ok,
    /// The shop said: no such order for this shopper.
    NotFound,
    /// The shop said: not in the order's state.
    NotAllowed,
    Timeout,
    /// No connection (refused, reset, DNS).
    Unreachable,
    /// A status the call does not expect (5xx, 401, a redirect …).
    HttpError,
    /// Not JSON, or a required field missing.
    Malformed,
    TooLarge,
    BreakerOpen,
    /// The URL's host or address is not allowed.
    Refused,
    /// The answer is about another customer: never shown.
    WrongCustomer,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::NotFound => "not_found",
            CallOutcome::NotAllowed => "not_allowed",
            CallOutcome::Timeout => "timeout",
            CallOutcome::Unreachable => "unreachable",
            CallOutcome::HttpError => "http_error",
            CallOutcome::Malformed => "malformed",
            CallOutcome::TooLarge => "too_large",
            CallOutcome::BreakerOpen => "breaker_open",
            CallOutcome::Refused => "refused",
            CallOutcome::WrongCustomer => "wrong_customer",
        }
    }

    /// An answer the conversation can use (data, or the shop's expected refusal).
    pub fn answered(self) -> bool {
        matches!(
            self,
            CallOutcome::Ok | CallOutcome::NotFound | CallOutcome::NotAllowed
        )
    }
}

/// What was attempted and what came back, personal data masked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallTrace {
    pub call: String,
    pub method: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<u16>,
    pub outcome: CallOutcome,
    pub values: Values,
    /// The start of the answer (masked), for the agent to see what the shop said.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub excerpt: Option<String>,
    pub tries: u32,
    pub ms: u64,
}

/// One call's result.
#[derive(Debug, Clone)]
pub struct CallResult {
    pub trace: CallTrace,
    /// The named fields, when the outcome is `Ok`.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl CallResult {
    pub fn outcome(&self) -> CallOutcome {
        self.trace.outcome
    }
}

/// Per-call counters for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct CallMetrics {
    pub calls: u64,
    pub failures: BTreeMap<&'static str, u64>,
    pub latency_ms_sum: u64,
    pub breaker: &'static str,
}

/// The guarded HTTP client of the shop's API.
#[derive(Debug)]
pub struct ShopClient {
    http: reqwest::Client,
    base: Url,
    allowed_hosts: Vec<String>,
    allow_private: bool,
    config: ShopConfig,
    breakers: DashMap<String, Mutex<Breaker>>,
    metrics: DashMap<String, CallMetrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    #[error("shop.base_url {0:?} is not an http(s) URL")]
    BadBaseUrl(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl ShopClient {
    /// A client for `base_url`. `allow_private` also comes from the config, or is set for
    /// the demo shop Baton serves on its own loopback address.
    pub fn new(
        config: &ShopConfig,
        base_url: &str,
        allow_private: bool,
    ) -> Result<ShopClient, ShopError> {
        let mut base =
            Url::parse(base_url).map_err(|_| ShopError::BadBaseUrl(base_url.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(ShopError::BadBaseUrl(base_url.to_string()));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .connect_timeout(Duration::from_millis(config.timeout_ms))
            .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ShopError::Client(e.to_string()))?;
        let mut allowed_hosts = config.allowed_hosts.clone();
        allowed_hosts.extend(base.host_str().map(str::to_string));
        Ok(ShopClient {
            http,
            base,
            allowed_hosts,
            allow_private,
            config: config.clone(),
            breakers: DashMap::new(),
            metrics: DashMap::new(),
        })
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// Makes one declared call. `owner` is the verified customer an answer must be about.
    pub async fn call(
        &self,
        name: &str,
        decl: &CallDecl,
        values: &Values,
        idempotency_key: Option<&str>,
        owner: Option<&str>,
    ) -> CallResult {
        let started = Instant::now();
        let mut trace = CallTrace {
            call: name.to_string(),
            method: decl.method.as_str().to_string(),
            url: String::new(),
            status: None,
            outcome: CallOutcome::Ok,
            values: masked(values),
            excerpt: None,
            tries: 0,
            ms: 0,
        };
        let mut fields = serde_json::Map::new();
        match self.build(decl, values) {
            Err(outcome) => trace.outcome = outcome,
            Ok((request, shown_url)) => {
                trace.url = shown_url;
                if !self.admit(name) {
                    trace.outcome = CallOutcome::BreakerOpen;
                } else {
                    let answer = self.send(decl, request, idempotency_key, &mut trace).await;
                    if let Some(body) = answer {
                        read_answer(decl, &body, owner, &mut trace, &mut fields);
                    }
                    self.settle_breaker(name, trace.outcome);
                }
            }
        }
        trace.ms = started.elapsed().as_millis() as u64;
        self.count(name, &trace);
        if !trace.outcome.answered() {
            tracing::warn!(
                call = name,
                outcome = trace.outcome.as_str(),
                status = trace.status,
                tries = trace.tries,
                ms = trace.ms,
                "shop call failed"
            );
        }
        CallResult { trace, fields }
    }

    /// The request and the URL as the agent sees it (secret values masked).
    fn build(
        &self,
        decl: &CallDecl,
        values: &Values,
    ) -> Result<(PreparedRequest, String), CallOutcome> {
        let context = serde_json::to_value(values).map_err(|_| CallOutcome::Malformed)?;
        let url = self.url(decl, &context)?;
        let shown = self.url(
            decl,
            &serde_json::to_value(masked(values)).unwrap_or_default(),
        )?;
        self.check_destination(&url)?;
        let mut headers = Vec::new();
        let mut header_context = context.clone();
        if let Some(map) = header_context.as_object_mut() {
            map.insert("env".into(), render::shop_env());
        }
        for (k, t) in &decl.headers {
            let v = render::render(t, &header_context).map_err(|_| CallOutcome::Malformed)?;
            headers.push((k.clone(), v));
        }
        let body = match &decl.body {
            Some(b) => Some(render_json(b, &context)?),
            None => None,
        };
        Ok((PreparedRequest { url, headers, body }, shown.to_string()))
    }

    fn url(&self, decl: &CallDecl, context: &serde_json::Value) -> Result<Url, CallOutcome> {
        // Values go into the path percent-encoded: a typed "../admin?x" stays one segment.
        let mut segments = context.clone();
        if let Some(map) = segments.as_object_mut() {
            for v in map.values_mut() {
                if let Some(text) = v.as_str() {
                    if text.chars().all(|c| c == '.') {
                        return Err(CallOutcome::Refused);
                    }
                    *v = encode_segment(text).into();
                }
            }
        }
        let path = render::render(&decl.path, &segments).map_err(|_| CallOutcome::Malformed)?;
        let mut url = if path.starts_with("https://") {
            Url::parse(&path).map_err(|_| CallOutcome::Refused)?
        } else {
            let mut url = self.base.clone();
            url.set_path(&format!(
                "{}{}",
                self.base.path(),
                path.trim_start_matches('/')
            ));
            url
        };
        {
            let mut query = url.query_pairs_mut();
            for (k, t) in &decl.query {
                let v = render::render(t, context).map_err(|_| CallOutcome::Malformed)?;
                if !v.is_empty() {
                    query.append_pair(k, &v);
                }
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        Ok(url)
    }

    /// Only configured hosts, and no private address written as a literal IP.
    fn check_destination(&self, url: &Url) -> Result<(), CallOutcome> {
        let host = url.host_str().unwrap_or_default();
        if !self
            .allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
        {
            return Err(CallOutcome::Refused);
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal
            && !self.allow_private
            && !is_public(ip)
        {
            return Err(CallOutcome::Refused);
        }
        Ok(())
    }

    fn admit(&self, name: &str) -> bool {
        let breaker = self.breakers.entry(name.to_string()).or_insert_with(|| {
            Mutex::new(Breaker::new(
                self.config.breaker_failures,
                Duration::from_secs(self.config.breaker_open_secs),
            ))
        });
        breaker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(Instant::now())
    }

    fn settle_breaker(&self, name: &str, outcome: CallOutcome) {
        if let Some(b) = self.breakers.get(name) {
            let mut b = b.lock().unwrap_or_else(|e| e.into_inner());
            // A wrong customer's order is the shop's bug, not an outage: it does not trip.
            match outcome {
                o if o.answered() || o == CallOutcome::WrongCustomer => b.succeeded(),
                _ => b.failed(Instant::now()),
            }
        }
    }

    /// Sends with retries (reads only); the body when a status the call understands came.
    async fn send(
        &self,
        decl: &CallDecl,
        request: PreparedRequest,
        idempotency_key: Option<&str>,
        trace: &mut CallTrace,
    ) -> Option<Vec<u8>> {
        let tries = match decl.kind {
            CallKind::Read => 1 + self.config.read_retries,
            CallKind::Write => 1,
        };
        let timeout = Duration::from_millis(decl.timeout_ms.unwrap_or(self.config.timeout_ms));
        for attempt in 1..=tries {
            trace.tries = attempt;
            let method = reqwest::Method::from_bytes(decl.method.as_str().as_bytes())
                .unwrap_or(reqwest::Method::GET);
            let mut builder = self
                .http
                .request(method, request.url.clone())
                .timeout(timeout)
                .header("Accept", "application/json");
            for (k, v) in &request.headers {
                builder = builder.header(k, v);
            }
            if let Some(key) = idempotency_key {
                builder = builder.header("Idempotency-Key", key);
            }
            if let Some(body) = &request.body {
                builder = builder.json(body);
            }
            let retry = match builder.send().await {
                Err(e) => {
                    trace.outcome = if e.is_timeout() {
                        CallOutcome::Timeout
                    } else {
                        CallOutcome::Unreachable
                    };
                    true
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    trace.status = Some(status);
                    match read_capped(response, self.config.max_response_bytes, timeout).await {
                        Err(outcome) => {
                            trace.outcome = outcome;
                            outcome == CallOutcome::Timeout
                        }
                        Ok(body) => {
                            trace.excerpt = Some(excerpt(&body));
                            if (200..300).contains(&status) {
                                trace.outcome = CallOutcome::Ok;
                                return Some(body);
                            }
                            match decl.refusals.get(&status) {
                                Some(Refusal::NotFound) => {
                                    trace.outcome = CallOutcome::NotFound;
                                    return None;
                                }
                                Some(Refusal::NotAllowed) => {
                                    trace.outcome = CallOutcome::NotAllowed;
                                    return None;
                                }
                                None => {
                                    trace.outcome = CallOutcome::HttpError;
                                    status >= 500
                                }
                            }
                        }
                    }
                }
            };
            if !retry {
                return None;
            }
        }
        None
    }

    fn count(&self, name: &str, trace: &CallTrace) {
        let mut m = self.metrics.entry(name.to_string()).or_default();
        m.calls += 1;
        m.latency_ms_sum += trace.ms;
        if !trace.outcome.answered() {
            *m.failures.entry(trace.outcome.as_str()).or_default() += 1;
        }
    }

    /// Calls, failures, latency and breaker state per call, for `/metrics`.
    pub fn metrics(&self) -> BTreeMap<String, CallMetrics> {
        let now = Instant::now();
        self.metrics
            .iter()
            .map(|e| {
                let mut m = e.value().clone();
                m.breaker = self
                    .breakers
                    .get(e.key())
                    .map(|b| b.lock().unwrap_or_else(|p| p.into_inner()).state(now))
                    .unwrap_or(BreakerState::Closed)
                    .as_str();
                (e.key().clone(), m)
            })
            .collect()
    }
}

struct PreparedRequest {
    url: Url,
    headers: Vec<(String, String)>,
    body: Option<serde_json::Value>,
}

/// Reads the answer's fields; sets the outcome when it is unusable.
fn read_answer(
    decl: &CallDecl,
    body: &[u8],
    owner: Option<&str>,
    trace: &mut CallTrace,
    fields: &mut serde_json::Map<String, serde_json::Value>,
) {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        trace.outcome = CallOutcome::Malformed;
        return;
    };
    for (name, pointer) in &decl.fields {
        if let Some(v) = doc.pointer(pointer).filter(|v| !v.is_null()) {
            fields.insert(name.clone(), v.clone());
        }
    }
    if decl.required.iter().any(|f| !fields.contains_key(f)) {
        trace.outcome = CallOutcome::Malformed;
        fields.clear();
        return;
    }
    if let (Some(owner), Some(field)) = (owner, &decl.owner_field) {
        let named = fields.get(field).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        if named.as_deref() != Some(owner) {
            trace.outcome = CallOutcome::WrongCustomer;
            // Nothing of another customer's order leaves this function, not even for agents.
            trace.excerpt = None;
            fields.clear();
        }
    }
}

/// The body, or `TooLarge` past `cap` bytes (checked as it streams, not after).
async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
    timeout: Duration,
) -> Result<Vec<u8>, CallOutcome> {
    if response.content_length().is_some_and(|n| n as usize > cap) {
        return Err(CallOutcome::TooLarge);
    }
    let mut body = Vec::new();
    let read = async {
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            if e.is_timeout() {
                CallOutcome::Timeout
            } else {
                CallOutcome::Unreachable
            }
        })? {
            if body.len() + chunk.len() > cap {
                return Err(CallOutcome::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| CallOutcome::Timeout)??;
    Ok(body)
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let cut: String = text.chars().take(300).collect();
    crate::pii::mask(&cut)
}

fn masked(values: &Values) -> Values {
    values
        .iter()
        .map(|(k, v)| {
            let shown = if SECRET_VALUES.contains(&k.as_str()) {
                "•".repeat(v.chars().count())
            } else {
                crate::pii::mask(v)
            };
            (k.clone(), shown)
        })
        .collect()
}

fn encode_segment(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Renders every string of a JSON body template.
fn render_json(
    template: &serde_json::Value,
    context: &serde_json::Value,
) -> Result<serde_json::Value, CallOutcome> {
    use serde_json::Value;
    Ok(match template {
        Value::String(t) => {
            let v = render::render(t, context).map_err(|_| CallOutcome::Malformed)?;
            if v.is_empty() {
                Value::Null
            } else {
                Value::String(v)
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| render_json(i, context))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_json(v, context)?)))
                .collect::<Result<_, CallOutcome>>()?,
        ),
        other => other.clone(),
    })
}

/// The idempotency key of a write: the same conversation and confirming message always give
/// the same key, so a retried message cannot make a second write.
pub fn idempotency_key(conversation_id: &str, client_msg_id: &str, call: &str) -> String {
    let digest = Sha256::digest(format!("{conversation_id}\n{client_msg_id}\n{call}"));
    format!(
        "baton-{}",
        digest[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// Whether `ip` is on the public internet (not loopback, private, link-local, shared or
/// unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// Resolves names, dropping private addresses unless they are allowed.
#[derive(Debug)]
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{} has no allowed address", name.as_str()).into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_loopback_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["8.8.8.8", "203.0.113.9", "2001:4860:4860::8888"] {
            assert!(is_public(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn idempotency_keys_follow_the_confirming_message() {
        let a = idempotency_key("c1", "m1", "cancel");
        assert_eq!(a, idempotency_key("c1", "m1", "cancel"));
        assert_ne!(a, idempotency_key("c1", "m2", "cancel"));
        assert_ne!(a, idempotency_key("c2", "m1", "cancel"));
    }

    #[test]
    fn urls_stay_on_the_base_and_mask_secrets() {
        let config = ShopConfig::default();
        let client =
            ShopClient::new(&config, "https://shop.example.com/api", false).expect("client");
        let calls = crate::content::actions::ShopCalls::default();
        let decl = calls.get("order").expect("order call");
        let values: Values = [
            ("order_number".to_string(), "../admin?x=1".to_string()),
            ("phone_last4".to_string(), "5678".to_string()),
        ]
        .into();
        let (req, shown) = client
            .build(decl, &values)
            .map_err(|o| o.as_str())
            .expect("built");
        assert_eq!(
            req.url.as_str(),
            "https://shop.example.com/api/orders/..%2Fadmin%3Fx%3D1?phone_last4=5678"
        );
        assert!(
            shown.ends_with("phone_last4=%E2%80%A2%E2%80%A2%E2%80%A2%E2%80%A2"),
            "{shown}"
        );
        let private = ShopClient::new(&config, "http://127.0.0.1:9/api", false).expect("client");
        assert_eq!(
            private.build(decl, &values).err(),
            Some(CallOutcome::Refused)
        );
        assert!(ShopClient::new(&config, "ftp://x", false).is_err());
    }
}
