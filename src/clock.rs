//! The time every rule of Baton reads: when a message arrived, how long a shopper has waited,
//! when an offer lapses, whether the team is on duty.
//!
//! In production it is the system clock. Tests use a manual clock that only moves when told,
//! so SLA breaches, offer timeouts and business hours are tested without sleeping: advance
//! the clock, run one dispatcher pass ([`crate::desk::Desk::tick`]), look at the result.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// A cheap-to-clone source of Unix-millisecond time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock standing at `start_ms` until [`Clock::advance`] moves it.
    pub fn manual(start_ms: i64) -> Clock {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(start_ms))),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(t) => t.load(Ordering::SeqCst),
            None => jiff::Timestamp::now().as_millisecond(),
        }
    }

    /// The same instant as a timestamp (for calendars: business hours).
    pub fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::from_millisecond(self.now_ms()).unwrap_or_else(|_| jiff::Timestamp::now())
    }

    /// Moves a manual clock forward; the system clock cannot be moved and ignores this.
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.manual {
            t.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
        }
    }

    /// Whether this clock only moves when told (tests).
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = Clock::manual(1_000);
        assert_eq!(c.now_ms(), 1_000);
        c.clone().advance(Duration::from_secs(2));
        assert_eq!(c.now_ms(), 3_000, "clones share the time");
        assert!(Clock::system().now_ms() > 1_700_000_000_000);
    }
}
