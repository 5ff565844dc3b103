//! `[shop]`: where the shop's order API is and how far Baton trusts it. What the calls are
//! (paths, templates, fields) is content, declared under `intents/actions/`; this is the
//! operator's side: the base URL, which addresses may be called, and the budgets of a call.

use serde::{Deserialize, Serialize};

/// The shop's order API as the operator configures it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ShopConfig {
    /// Turn order look-ups and actions off: order intents answer with their fixed reply.
    pub enabled: bool,
    /// Base URL every declared call is relative to. Unset: the demo shop Baton serves itself
    /// under `/demo/api` (on the address `serve` listens on).
    pub base_url: Option<String>,
    /// Hosts calls may go to besides the base URL's (exact host names).
    pub allowed_hosts: Vec<String>,
    /// Allow private, loopback and link-local addresses (a shop API on the same network).
    /// Off by default so a mistyped or hostile URL cannot reach internal services; the demo
    /// shop on Baton's own loopback address is always allowed.
    pub allow_private: bool,
    /// Default timeout of one try of a call, in milliseconds (a call may declare its own).
    pub timeout_ms: u64,
    /// Largest answer read from the shop, in bytes; a bigger one is a failed call.
    pub max_response_bytes: usize,
    /// Extra tries of a read after a timeout, a connection error or a 5xx. Writes are never
    /// retried (the shop might have done it).
    pub read_retries: u32,
    /// Consecutive failures of one call that open its circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker refuses calls before letting one through, in seconds.
    pub breaker_open_secs: u64,
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            enabled: true,
            base_url: None,
            allowed_hosts: Vec::new(),
            allow_private: false,
            timeout_ms: 2500,
            max_response_bytes: 256 * 1024,
            read_retries: 1,
            breaker_failures: 5,
            breaker_open_secs: 30,
        }
    }
}
