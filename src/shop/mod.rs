//! The shop's own systems, as Baton talks to them: its order API.
//!
//! ```text
//! intents/actions/*.yaml ─► content::actions::ShopCalls (declared calls, checked, hot reloaded)
//!                                   │
//! dialogue::task (an order task) ───┴─► ShopClient::call ─► the shop's HTTP API
//!                                           (guards, breaker, trace)   │
//! demo::router ◄──────────── the reference contract, served by `baton serve` under /demo/api
//! ```
//!
//! [`client`] makes one declared call safely (its templates rendered by
//! [`crate::content::template`]); [`breaker`] is the per-call circuit breaker; [`demo`] the
//! demo shop.

pub mod breaker;
pub mod client;
pub mod demo;

pub use client::{CallOutcome, CallResult, CallTrace, ShopClient, ShopError, Values};
