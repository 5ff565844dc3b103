//! The shopper side of a conversation: from a message to the bot's reply.
//!
//! [`bot::respond`] is the one bot turn: it normalises and embeds the message, then
//! [`turn::analyze`] runs the models and rules over it, [`policy::decide`] (pure) applies the
//! handoff rules, [`turn::plan`] words the reply in the shopper's language and
//! [`rules`] applies the support lead's trigger rules and [`turn::settle`] checks a handoff
//! against who can take it. [`phrases`] holds what Baton
//! itself says. Persistence is the conversation service's job ([`crate::service`]).

pub mod bot;
pub mod phrases;
pub mod policy;
pub mod reception;
pub mod rules;
pub mod signals;
pub mod task;
pub mod turn;

pub use bot::{Compute, TurnError, respond};
pub use policy::{Decision, Facts, Signals, decide};
pub use turn::{Analysis, GroupTask, Plan, analyze, button_plan, plan, settle};
