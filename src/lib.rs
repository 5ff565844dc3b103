//! Baton: a customer-service chatbot engine for online shops, with human handoff.
//!
//! A shopper's message travels through these parts:
//!
//! ```text
//! http (axum) ─► service::send ─► dialogue::respond: normalise ─► encoder ─► nlu (intent)
//!     ▲               │                                          └─► kb (FAQ retrieval)
//!     │               │           dialogue::decide (pure handoff rules) ─► plan ─► settle
//!     │               ▼
//!     │      service::commit (one transaction: messages, state, handoff) ─► store
//!     │               │                               ▲
//!     │               │     desk (agents: routing, offers, SLAs, actions) ── Change ─┘
//!     │               ▼
//!     └──── realtime (WebSocket fan-out to shoppers and agents, after each commit)
//! ```
//!
//! Layers, bottom to top; a module only uses modules of its own layer or below:
//!
//! 1. Ground floor — [`vocabulary`] (escalation reason, priority, validated ids and message
//!    text), [`config`] (defaults < TOML < `BATON_*` env < CLI flags), [`clock`] (the time
//!    every rule reads), [`pii`] (finding and masking personal data), [`identity`] (checking
//!    the shop's signed customer tokens), [`telemetry`] (logging).
//! 2. Understanding — [`encoder`] (the pre-trained sentence encoder, its cache and pool),
//!    [`nlu`] (normalisation, language, the intent classifier, lexical similarity),
//!    [`content`] (`kb/` and `intents/` files → validated content, or diagnostics with
//!    file:line; the FAQ editor; the shop's declared calls and the templates of their
//!    replies), [`kb`] (the FAQ index and its calibrated confidence), [`shop`] (the shop's
//!    order API: the guarded client of declared calls, and the demo shop),
//!    [`dialogue_memory`] (what the bot remembers across a conversation's turns).
//! 3. Records — [`conversation`] (conversations, messages, turn records), [`handoff`]
//!    (escalation records, agents, roster, availability, routing rules, the agent's view:
//!    no I/O), [`store`] (the storage interface, its SQLite and PostgreSQL implementations,
//!    `baton migrate-store`), [`realtime`] (the event channels sockets read),
//!    [`moderation`] (the blacklist and the log of word-list matches).
//! 4. [`knowledge`] — one immutable snapshot of content + models, its live handle, and the
//!    reloader that watches `kb/` and `intents/` and swaps rebuilt snapshots in;
//!    [`cluster`] — several nodes on one PostgreSQL database: events over LISTEN/NOTIFY,
//!    the desk lease, shared presence.
//! 5. [`dialogue`] — one bot turn: analysis, the handoff rules, the reply.
//! 6. [`service`] — the application layer: authorisation, idempotency, ordering, and the
//!    one commit path every change to a conversation goes through.
//! 7. [`insights`] — looking back: statistics, knowledge gaps, FAQ drafts, the Prometheus
//!    text; [`quality`] — scoring the conversations agents close, the review queue, appeals
//!    and the CSV export.
//! 8. [`desk`] — the human side at run time: agent authentication, presence, the dispatcher
//!    (offers, SLAs, queue positions) and agents' actions.
//! 9. Edges — [`http`] (routes, the JSON error shape, WebSockets, rate limits), [`server`]
//!    (start-up and shutdown), [`cli`] (the command line), [`eval`] (`baton eval` on public
//!    datasets).

pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod content;
pub mod conversation;
pub mod desk;
pub mod dialogue;
pub mod dialogue_memory;
pub mod encoder;
pub mod eval;
pub mod handoff;
pub mod http;
pub mod identity;
pub mod insights;
pub mod kb;
pub mod knowledge;
pub mod moderation;
pub mod nlu;
pub mod pii;
pub mod quality;
pub mod realtime;
pub mod server;
pub mod service;
pub mod shop;
pub mod store;
pub mod telemetry;
pub mod vocabulary;

/// Generators and the case count shared by the parsers' `fuzz_*` property tests.
#[cfg(test)]
pub(crate) mod fuzzing;
