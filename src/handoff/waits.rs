//! How long a conversation joining each group's queue would wait now: written by the
//! dispatcher after every pass ([`super::routing::newcomer_wait`] over the seats and the
//! queue it just saw), read by a bot turn deciding whether a person answers first
//! ([`crate::dialogue::reception`]). An estimate as fresh as the last pass: a turn never
//! waits for the queue to be read.

use dashmap::DashMap;

/// The latest wait estimate per skill group.
#[derive(Debug, Default)]
pub struct WaitBoard {
    waits: DashMap<String, i64>,
}

impl WaitBoard {
    /// Replaces every estimate: groups missing from `estimates` have nobody available.
    pub fn set(&self, estimates: impl IntoIterator<Item = (String, Option<i64>)>) {
        let fresh: Vec<(String, i64)> = estimates
            .into_iter()
            .filter_map(|(skill, wait)| Some((skill, wait?)))
            .collect();
        self.waits
            .retain(|skill, _| fresh.iter().any(|(s, _)| s == skill));
        for (skill, wait) in fresh {
            self.waits.insert(skill, wait);
        }
    }

    /// The wait a newcomer to `skill`'s queue would have, in milliseconds; `None` when nobody
    /// of the group was available at the last pass.
    pub fn wait_ms(&self, skill: &str) -> Option<i64> {
        self.waits.get(skill).map(|w| *w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_replaces_every_estimate() {
        let board = WaitBoard::default();
        board.set([
            ("orders".to_string(), Some(0)),
            ("billing".to_string(), Some(60_000)),
        ]);
        assert_eq!(
            (board.wait_ms("orders"), board.wait_ms("billing")),
            (Some(0), Some(60_000))
        );
        board.set([("orders".to_string(), None)]);
        assert_eq!(
            (board.wait_ms("orders"), board.wait_ms("billing")),
            (None, None)
        );
    }
}
