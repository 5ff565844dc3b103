//! The shopper side of a conversation: from a message to the bot's reply.
//!
//! [`turn::analyze`] runs the models and rules over a message; [`policy::decide`] (pure)
//! applies the handoff rules; [`turn::plan`] words the reply in the shopper's language;
//! [`phrases`] holds what Baton itself says. Persistence is the conversation service's job
//! ([`crate::service`]).

pub mod phrases;
pub mod policy;
pub mod signals;
pub mod turn;

pub use policy::{Decision, Facts, Signals, decide};
pub use turn::{Analysis, Plan, PlannedReply, analyze, plan};
