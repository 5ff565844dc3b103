//! Baton: a customer-service chatbot engine for online shops, with human handoff.
//!
//! A shopper's message travels through these parts:
//!
//! ```text
//! http (axum) ─► service ─► dialogue::analyze ─► nlu (intent classifier, candle)
//!     ▲             │                        └─► kb (FAQ retrieval, tantivy + jieba)
//!     │             │       dialogue::decide (pure handoff rules) ─► dialogue::plan (wording)
//!     │             ▼
//!     │     store (SQLite; every message durable before the reply) ─► handoff records
//!     │             ▲
//!     │           desk (agents: routing, offers, SLAs, actions) ◄── clock, dispatcher
//!     │             │
//!     └── realtime (WebSocket fan-out to shoppers and agents, after each commit)
//! ```
//!
//! - [`config`]: defaults < TOML < `BATON_*` env < CLI flags, unknown keys rejected.
//! - [`content`]: `kb/` FAQ files and `intents/` files → validated content or diagnostics
//!   with file:line.
//! - [`nlu`]: normalisation, language, the hashed n-gram intent classifier (trained with
//!   candle, cached by content hash).
//! - [`encoder`]: the pre-trained sentence encoder (candle BERT), its embedding cache and
//!   inference pool.
//! - [`kb`]: the FAQ index and its calibrated confidence.
//! - [`knowledge`]: one immutable snapshot of content + models, swapped atomically;
//!   [`reload`]: watching `kb/` and `intents/` and swapping in a rebuilt snapshot.
//! - [`dialogue`]: one turn — analysis, the handoff rules, the reply.
//! - [`handoff`]: escalation records, agents, the routing rules and the agent's view (pure).
//! - [`desk`]: the human side at run time — agent authentication, presence, the dispatcher
//!   (offers, SLAs, queue positions) and agents' actions.
//! - [`realtime`]: the event channels WebSockets read; [`clock`]: the time every rule reads.
//! - [`conversation`]: the domain types that are stored and served.
//! - [`service`]: the application layer — authorisation, idempotency, ordering, durability.
//! - [`store`]: the storage interface and its SQLite implementation.
//! - [`http`]: routes and the JSON error shape; [`server`]: start-up and shutdown.
//! - [`pii`]: finding and masking personal data; [`telemetry`]: logging.
//! - [`eval`]: `baton eval` on public datasets; [`cli`]: the command line.

pub mod analytics;
pub mod cli;
pub mod clock;
pub mod config;
pub mod content;
pub mod conversation;
pub mod desk;
pub mod dialogue;
pub mod encoder;
pub mod eval;
pub mod gaps;
pub mod handoff;
pub mod http;
pub mod insights;
pub mod kb;
pub mod knowledge;
pub mod metrics;
pub mod nlu;
pub mod pii;
pub mod realtime;
pub mod reload;
pub mod server;
pub mod service;
pub mod similarity;
pub mod store;
pub mod telemetry;
