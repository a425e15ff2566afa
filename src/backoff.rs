//! The one back-off policy: exponential from `initial`, doubled on every
//! attempt and capped at `max`, with "equal jitter" (half of the step fixed,
//! half random), so that many callers that failed together spread out and a
//! wait never collapses to zero.
//!
//! It is a pure function of the attempt number rather than a retry loop
//! (backon's shape) because every caller keeps its own count where it
//! lives: the budget counts 429s in a row across all watchers, the notify
//! outbox stores each message's attempts, a watcher counts its failed polls.

use std::time::Duration;

use rand::Rng;

/// Back-off between `initial` and `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max }
    }

    /// The full step before attempt `attempt` (1-based): `initial *
    /// 2^(attempt-1)`, capped at `max`. The wait is in its upper half.
    pub fn step(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        self.initial
            .saturating_mul(1u32 << exponent)
            .min(self.max.max(self.initial))
    }

    /// How long to wait after failed attempt `attempt` (1-based): a random
    /// point in `[step/2, step]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let step = self.step(attempt);
        let half = step / 2;
        let spread = step.saturating_sub(half).as_millis() as u64;
        half + Duration::from_millis(rand::rng().random_range(0..=spread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn doubles_from_initial_and_stops_at_max() {
        let policy = Backoff::new(SECOND, Duration::from_secs(60));
        let steps: Vec<u64> = (1..=8).map(|a| policy.step(a).as_secs()).collect();
        assert_eq!(steps, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(policy.step(0), SECOND, "attempt 0 reads as the first");
        assert_eq!(policy.step(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn delay_stays_in_the_upper_half_of_the_step() {
        let policy = Backoff::new(SECOND, Duration::from_secs(60));
        for attempt in [1, 3, 40] {
            let step = policy.step(attempt);
            for _ in 0..200 {
                let delay = policy.delay(attempt);
                assert!(delay >= step / 2 && delay <= step, "{delay:?} for {step:?}");
            }
        }
    }

    #[test]
    fn delay_is_random_not_fixed() {
        let policy = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
        let distinct: std::collections::BTreeSet<Duration> =
            (0..50).map(|_| policy.delay(1)).collect();
        assert!(distinct.len() > 5, "jitter spreads waits: {distinct:?}");
    }

    #[test]
    fn a_max_below_initial_never_shrinks_the_first_wait() {
        let policy = Backoff::new(Duration::from_secs(5), SECOND);
        assert_eq!(policy.step(1), Duration::from_secs(5));
    }
}
