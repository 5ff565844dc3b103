//! The FAQ knowledge base: a tantivy index over questions, alternates and answers, and the
//! confidence that says how well the best FAQ matches a query.
//!
//! Data flow: validated [`crate::content::Faq`]s → [`FaqIndex::build`] (in-memory tantivy
//! index + per-FAQ term sets) → [`FaqIndex::search`] with normalised text → ranked
//! [`FaqHit`]s, each with a BM25 score and a confidence in 0..=1.
//! [`FaqIndex::build_calibrated`] first fits the Chinese confidence on the KB's own
//! alternates ([`self_calibration`], [`calibration`]).

pub mod analyzer;
pub mod calibration;
mod index;
pub mod phrasing_vectors;
pub mod self_calibration;

pub use index::{FaqHit, FaqHits, FaqIndex, KbError};
