//! A circuit breaker per declared call: after `failures` failures in a row the call is not
//! tried for `open_for`; then one try is let through (half-open), and its outcome closes or
//! re-opens the breaker. A shop API that is down then costs a shopper an immediate handoff
//! instead of a timeout each, and the API gets room to recover.

use std::time::{Duration, Instant};

/// The breaker's state as `/metrics` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
pub struct Breaker {
    failures: u32,
    threshold: u32,
    open_for: Duration,
    opened_at: Option<Instant>,
    /// A half-open trial is in flight: other callers are still refused.
    trial: bool,
}

impl Breaker {
    pub fn new(threshold: u32, open_for: Duration) -> Breaker {
        Breaker {
            failures: 0,
            threshold: threshold.max(1),
            open_for,
            opened_at: None,
            trial: false,
        }
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        match self.opened_at {
            None => BreakerState::Closed,
            Some(at) if now.duration_since(at) < self.open_for => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Whether a call may go out now; a half-open breaker lets exactly one through.
    pub fn admit(&mut self, now: Instant) -> bool {
        match self.state(now) {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen if self.trial => false,
            BreakerState::HalfOpen => {
                self.trial = true;
                true
            }
        }
    }

    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.opened_at = None;
        self.trial = false;
    }

    pub fn failed(&mut self, now: Instant) {
        self.failures += 1;
        if self.trial || self.failures >= self.threshold {
            self.opened_at = Some(now);
        }
        self.trial = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_lets_one_trial_through() {
        let t0 = Instant::now();
        let mut b = Breaker::new(3, Duration::from_secs(10));
        b.failed(t0);
        b.failed(t0);
        b.succeeded();
        b.failed(t0);
        b.failed(t0);
        assert!(b.admit(t0), "a success in between resets the count");
        b.failed(t0);
        assert_eq!(b.state(t0), BreakerState::Open);
        assert!(!b.admit(t0 + Duration::from_secs(5)));
        let later = t0 + Duration::from_secs(11);
        assert!(b.admit(later), "one trial once the wait is over");
        assert!(!b.admit(later), "only one");
        b.failed(later);
        assert_eq!(
            b.state(later),
            BreakerState::Open,
            "a failed trial re-opens"
        );
        let much_later = later + Duration::from_secs(11);
        assert!(b.admit(much_later));
        b.succeeded();
        assert_eq!(b.state(much_later), BreakerState::Closed);
    }
}
