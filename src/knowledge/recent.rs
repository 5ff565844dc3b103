//! What the models made of recent messages, so a text many shoppers type is classified and
//! searched for once per knowledge snapshot.
//!
//! Real traffic repeats itself: on a busy day thousands of shoppers type "我的订单到哪了" or
//! click the same suggested question. The intent and the FAQ candidates of a normalised text
//! depend on that text and the snapshot's models alone, so the bot turn
//! ([`crate::dialogue::respond`]) asks here first: a hit skips the encoder, the classifier and
//! the FAQ search; a miss runs them and leaves the result here. What depends on the
//! conversation or the configuration (the language to assume, asking for a person, negative
//! words, the decision) is worked out on every turn all the same.
//!
//! The cache belongs to one snapshot, so a reloaded knowledge base starts with an empty one
//! and never answers with the old models. It is bounded (least recently and least often used
//! entries go first), keyed by a 128-bit hash of the text, and holds no shopper's words: an
//! intent label, FAQ ids and the FAQs' own questions.

use std::sync::Arc;

use quick_cache::sync::Cache;

use crate::kb::FaqHits;
use crate::nlu::IntentPrediction;

/// What the models make of a normalised message.
#[derive(Debug, Clone)]
pub struct Understood {
    pub intent: IntentPrediction,
    /// The best FAQ candidates, best first.
    pub faq_hits: FaqHits,
}

/// Understood messages by the hash of their normalised text and how many FAQ candidates
/// were asked for.
pub struct RecentUnderstanding {
    /// `None` when caching is turned off (capacity 0).
    entries: Option<Cache<(u128, usize), Arc<Understood>>>,
}

impl std::fmt::Debug for RecentUnderstanding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentUnderstanding")
            .field("len", &self.len())
            .finish()
    }
}

fn key(normalized: &str, faq_candidates: usize) -> (u128, usize) {
    (
        xxhash_rust::xxh3::xxh3_128(normalized.as_bytes()),
        faq_candidates,
    )
}

impl RecentUnderstanding {
    /// A cache of at most `capacity` messages (0 turns it off).
    pub fn new(capacity: usize) -> RecentUnderstanding {
        RecentUnderstanding {
            entries: (capacity > 0).then(|| Cache::new(capacity)),
        }
    }

    /// What was made of `normalized` with `faq_candidates` candidates, if it is still here.
    pub fn get(&self, normalized: &str, faq_candidates: usize) -> Option<Arc<Understood>> {
        self.entries.as_ref()?.get(&key(normalized, faq_candidates))
    }

    /// Keeps what was made of `normalized` for the next time.
    pub fn put(&self, normalized: &str, faq_candidates: usize, understood: Arc<Understood>) {
        if let Some(entries) = &self.entries {
            entries.insert(key(normalized, faq_candidates), understood);
        }
    }

    /// How many messages are kept.
    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, Cache::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn understood(label: &str) -> Arc<Understood> {
        Arc::new(Understood {
            intent: IntentPrediction {
                label: label.into(),
                confidence: 0.9,
                out_of_scope: false,
                alternatives: Vec::new(),
            },
            faq_hits: FaqHits::default(),
        })
    }

    #[test]
    fn a_text_is_found_again_only_with_the_same_number_of_candidates() {
        let recent = RecentUnderstanding::new(16);
        assert!(recent.get("我的订单到哪了", 5).is_none());
        recent.put("我的订单到哪了", 5, understood("order_status"));
        let found = recent.get("我的订单到哪了", 5);
        assert_eq!(
            found.map(|u| u.intent.label.clone()).as_deref(),
            Some("order_status")
        );
        assert!(recent.get("我的订单到哪了", 3).is_none());
        assert!(recent.get("where is my order", 5).is_none());
    }

    #[test]
    fn capacity_zero_keeps_nothing_and_the_cache_stays_bounded() {
        let off = RecentUnderstanding::new(0);
        off.put("退款", 5, understood("refund"));
        assert!(off.get("退款", 5).is_none());
        assert!(off.is_empty());

        let small = RecentUnderstanding::new(8);
        for n in 0..100 {
            small.put(&format!("message {n}"), 5, understood("x"));
        }
        assert!(small.len() <= 8, "{} kept", small.len());
    }
}
