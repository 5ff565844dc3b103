//! The knowledge serving now: a cheap-to-clone handle over an atomically swappable
//! snapshot. Turns take [`LiveKnowledge::current`] once and finish on it; the reloader swaps
//! a rebuilt snapshot in with [`LiveKnowledge::swap`], so a reload never blocks or splits a
//! turn.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::Knowledge;

/// Shared handle to the serving snapshot.
#[derive(Clone)]
pub struct LiveKnowledge {
    serving: Arc<ArcSwap<Knowledge>>,
}

impl LiveKnowledge {
    pub fn new(knowledge: Arc<Knowledge>) -> LiveKnowledge {
        LiveKnowledge {
            serving: Arc::new(ArcSwap::new(knowledge)),
        }
    }

    /// The snapshot serving now.
    pub fn current(&self) -> Arc<Knowledge> {
        self.serving.load_full()
    }

    /// Replaces the snapshot; turns in flight finish on the old one.
    pub fn swap(&self, knowledge: Arc<Knowledge>) {
        self.serving.store(knowledge);
    }
}
