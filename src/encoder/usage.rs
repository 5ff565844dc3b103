//! How the shoppers' messages that reached the encoder's door were understood, counted since
//! the process started, for `/metrics`: with a vector computed by a forward pass, with a
//! vector remembered from an earlier copy of the text, or without the encoder because the
//! cheap models were sure (`knowledge::gate`). Texts whose whole understanding was remembered
//! (`knowledge::recent`) never get this far and are not counted.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct EncoderUsage {
    embedded: AtomicU64,
    remembered: AtomicU64,
    skipped: AtomicU64,
}

/// The counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageCounts {
    /// Messages embedded by a forward pass.
    pub embedded: u64,
    /// Messages whose vector was already known (content text or a recent copy).
    pub remembered: u64,
    /// Messages understood without the encoder.
    pub skipped: u64,
}

impl EncoderUsage {
    /// A message's vector was asked for; `computed`: it took a forward pass.
    pub fn vector(&self, computed: bool) {
        let counter = if computed {
            &self.embedded
        } else {
            &self.remembered
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A message was understood without the encoder.
    pub fn understood_without(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    pub fn counts(&self) -> UsageCounts {
        UsageCounts {
            embedded: self.embedded.load(Ordering::Relaxed),
            remembered: self.remembered.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_is_counted_apart() {
        let usage = EncoderUsage::default();
        usage.vector(true);
        usage.vector(false);
        usage.vector(false);
        usage.understood_without();
        assert_eq!(
            usage.counts(),
            UsageCounts {
                embedded: 1,
                remembered: 2,
                skipped: 1
            }
        );
    }
}
