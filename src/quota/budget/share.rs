//! Several replicas: this replica's part of Zoom's per-second rate and of
//! the day.
//!
//! - The day follows the work: what is left today is planned in proportion
//!   to the watches this replica holds, `(watches + 1) / (all watches +
//!   replicas)` from its heartbeat (even, `1 / replicas`, before). The
//!   parts sum to one when the counts agree; when they do not (replicas
//!   read them at different moments) the daily cap, counted over all
//!   replicas in the database, still holds.
//! - The per-second rate follows the work too: each heartbeat hands this
//!   replica its part (`crate::store::leases` apportions whole requests a
//!   second by the watches each replica holds, one at least, under a lock
//!   in PostgreSQL, and never grants more than the others leave). A smaller
//!   part is taken at once: the slots reserved at the old pace are given up
//!   and taken again at the new one. A larger part is taken [`RAISE_AFTER`]
//!   later, when the replica that gave the requests back has been at its
//!   smaller pace for more than a one-second window. So the parts in force
//!   never sum to more than the rate, even though every replica reads them
//!   at its own heartbeat (proportional parts computed by each replica on
//!   its own put 11 requests into one second at 10 a second, measured).
//!   Before the first grant (and with one process) the rate is split
//!   evenly, `floor(rate / replicas)` each.
//!   A token bucket shared in PostgreSQL would be exact too but put a
//!   database round trip (2-3 ms at the median here, BENCHMARKS.md) before
//!   every Zoom request and stop polling whenever the database is slow; the
//!   grant costs one short step of the heartbeat.

use std::time::Duration;

use tokio::time::Instant;

use super::{Budget, State};

/// How long a larger part of the rate waits before it is used: the replica
/// that gave those requests back took its smaller part right after its
/// heartbeat committed, and every one-second window of its old pace must be
/// over (one second, and as much again for a slow scheduler).
pub const RAISE_AFTER: Duration = Duration::from_secs(2);

/// A part of the rate below this is none: no request goes out.
pub(super) const MIN_PART: f64 = 1e-6;

/// Without a part of the rate, a caller looks again this much later.
pub(super) const NO_PART_WAIT: Duration = Duration::from_secs(1);

/// This replica's part of the per-second rate.
#[derive(Debug, Default)]
pub(super) struct RatePart {
    /// The part the heartbeat granted; `None`: the even split.
    granted: Option<f64>,
    /// A larger part granted, in force from that instant.
    raise: Option<(f64, Instant)>,
    /// Counts the times the part shrank: a slot reserved before is given
    /// up and taken again at the new pace.
    pub(super) epoch: u64,
}

impl RatePart {
    /// When a larger part waits for its time.
    pub(super) fn raise_at(&self) -> Option<Instant> {
        self.raise.map(|(_, from)| from)
    }
}

/// This replica's part of what is left today.
pub(super) fn share_of(state: &State) -> f64 {
    state.work_share.unwrap_or_else(|| even_part(state))
}

/// An even part of the cluster's: one of the live replicas'.
pub(super) fn even_part(state: &State) -> f64 {
    1.0 / f64::from(state.replicas.max(1))
}

/// A replica's part of the cluster's work: its running watches (plus one)
/// over all running watches (plus one per live replica).
pub fn work_share(mine: u32, all: u32, replicas: u32) -> f64 {
    let replicas = replicas.max(1);
    let all = all.max(mine);
    (f64::from(mine) + 1.0) / (f64::from(all) + f64::from(replicas))
}

impl Budget {
    /// Time between two of this replica's requests when its part of the
    /// rate is `share`. It takes whole requests a second
    /// (`floor(rate x share)`), spaced so that no one-second window holds
    /// more than that: evenly spaced replicas could each put one more into
    /// the same second. With less than one request a second, it keeps to
    /// `1 / (rate x share)` apart on average.
    pub(super) fn spacing(&self, share: f64) -> Duration {
        let share = share.clamp(f64::MIN_POSITIVE, 1.0);
        let whole = (f64::from(self.per_second) * share + 1e-9).floor() as u32;
        if whole >= 1 {
            (Duration::from_secs(1) + Duration::from_millis(25)) / whole
        } else {
            self.interval.div_f64(share)
        }
    }

    /// This replica's part of the per-second rate at `now`. A raise whose
    /// time has come is taken: the schedule starts again at the new pace
    /// (slots reserved at the old one are taken again, see `acquire`).
    pub(super) fn rate_part(&self, state: &mut State, now: Instant) -> f64 {
        if let Some((part, from)) = state.rate.raise
            && from <= now
        {
            state.rate.granted = Some(part);
            state.rate.raise = None;
            self.respace(state, part, now);
        }
        state.rate.granted.unwrap_or_else(|| even_part(state))
    }

    /// A new part of the rate in force from `now`: slots reserved before
    /// are not used (a new epoch), and the next is one new spacing on (or
    /// after a pause in force).
    fn respace(&self, state: &mut State, part: f64, now: Instant) {
        state.rate.epoch += 1;
        state.freed.clear();
        let paused = state.paused_until.unwrap_or(now);
        let next = if part < MIN_PART {
            now
        } else {
            now + self.spacing(part)
        };
        state.next_slot = next.max(paused);
    }

    /// The requests a second this replica spaces its requests at now (its
    /// gauge shows it), and the rate to plan with: the part granted even if
    /// it waits for its time, an even part while there is none at all (a
    /// replica waiting for the others to give back: a plan for no rate
    /// would schedule every poll a day ahead).
    pub(super) fn rate_now(&self, state: &mut State) -> f64 {
        let part = self.rate_part(state, Instant::now());
        let rate = |part: f64| {
            if part < MIN_PART {
                0.0
            } else {
                1.0 / self.spacing(part).as_secs_f64()
            }
        };
        self.metrics.rate.set(rate(part));
        let planned = match state.rate.raise {
            Some((raise, _)) => raise.max(part),
            None if part < MIN_PART => even_part(state),
            None => part,
        };
        rate(planned)
    }

    /// The heartbeat's grant of this replica's part of the account's
    /// per-second rate (`crate::store::leases`). Smaller: in force at once,
    /// and slots reserved at the old pace are taken again. Larger: in force
    /// [`RAISE_AFTER`] from now (a raise already waiting for a part at least
    /// as large keeps its time).
    pub fn grant_rate(&self, part: f64) {
        let part = if part.is_finite() {
            part.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let mut state = self.lock();
        let now = Instant::now();
        let current = self.rate_part(&mut state, now);
        if part < current - MIN_PART {
            state.rate.granted = Some(part);
            state.rate.raise = None;
            self.respace(&mut state, part, now);
        } else if part > current + MIN_PART {
            let from = match state.rate.raise {
                Some((waiting, from)) if waiting + MIN_PART >= part => from,
                _ => now + RAISE_AFTER,
            };
            state.rate.granted = Some(current);
            state.rate.raise = Some((part, from));
        } else {
            state.rate.granted = Some(current);
            state.rate.raise = None;
        }
        self.rate_now(&mut state);
    }

    /// The heartbeat's word on this replica's part of the work
    /// ([`work_share`]): the day's plan follows it from now on.
    pub fn follow_work(&self, share: f64) {
        self.lock().work_share = Some(share.clamp(0.0, 1.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    #[test]
    fn the_parts_follow_the_work_sum_to_one_and_are_never_zero() {
        assert_eq!(work_share(0, 0, 1), 1.0);
        // Six meetings' 18 watches on one of three replicas.
        let parts = [
            work_share(18, 18, 3),
            work_share(0, 18, 3),
            work_share(0, 18, 3),
        ];
        assert!((parts.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((parts[0] - 19.0 / 21.0).abs() < 1e-12);
        assert!(parts[1] > 0.0);
        // Balanced: even.
        assert!((work_share(6, 18, 3) - 1.0 / 3.0).abs() < 1e-12);
        // Counts read at different moments never give more than all.
        assert_eq!(work_share(5, 3, 1), 1.0);
    }

    #[test]
    fn the_spacing_follows_the_part_of_the_rate() {
        let mut registry = Registry::default();
        let budget = Budget::new(10, 1000, &mut registry);
        let ms = |d: Duration| d.as_millis();
        assert_eq!(ms(budget.spacing(1.0)), 102, "ten a second");
        assert_eq!(
            ms(budget.spacing(1.0 / 3.0)),
            341,
            "floor(10 / 3) = 3 a second"
        );
        assert_eq!(ms(budget.spacing(0.5)), 205);
        // Less than one a second: the single-request spacing (1.025 s / 10)
        // over the part: 2.05 s apart.
        assert_eq!(ms(budget.spacing(0.05)), 2050);
        assert_eq!(budget.quota().share, 1.0);
        budget.share(3, 0, None);
        assert!(
            (budget.quota().share - 1.0 / 3.0).abs() < 1e-12,
            "even at first"
        );
        budget.follow_work(0.25);
        let quota = budget.quota();
        assert_eq!(quota.share, 0.25, "the day follows the work");
        assert!(
            (quota.rate - 1.0 / 0.341_666_666).abs() < 1e-6,
            "the rate stays even, 3 a second: {quota:?}"
        );
    }

    /// Acquires from `callers` tasks at once for `secs` seconds of paused
    /// time; the instants (from `start`) the requests went out at.
    async fn sends(
        budget: &std::sync::Arc<Budget>,
        callers: usize,
        run: Duration,
    ) -> std::sync::Arc<std::sync::Mutex<Vec<Duration>>> {
        let start = Instant::now();
        let times = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        for _ in 0..callers {
            let (budget, times) = (budget.clone(), times.clone());
            tokio::spawn(async move {
                loop {
                    budget.acquire().await.expect("quota left");
                    times.lock().unwrap().push(Instant::now() - start);
                }
            });
        }
        tokio::time::sleep(run).await;
        times
    }

    fn in_window(times: &[Duration], from_ms: u64, to_ms: u64) -> usize {
        times
            .iter()
            .filter(|t| **t >= Duration::from_millis(from_ms) && **t < Duration::from_millis(to_ms))
            .count()
    }

    #[tokio::test(start_paused = true)]
    async fn a_smaller_part_of_the_rate_holds_at_once_even_for_slots_reserved_before() {
        let mut registry = Registry::default();
        let budget = std::sync::Arc::new(Budget::new(10, 100_000, &mut registry));
        budget.grant_rate(1.0);
        // Fifty callers queue at ten a second: their slots reach 5 s ahead.
        let times = sends(&budget, 50, Duration::from_millis(1_000)).await;
        budget.grant_rate(0.3);
        assert!((budget.quota().rate - 3.0 / 1.025).abs() < 1e-6);
        tokio::time::sleep(Duration::from_secs(4)).await;
        let times = times.lock().unwrap().clone();
        assert!(in_window(&times, 0, 1_000) >= 9, "{times:?}");
        // The first at the new pace is one new spacing (341 ms) on.
        assert_eq!(in_window(&times, 1_001, 1_300), 0, "{times:?}");
        for second in 1..4 {
            let from = 1_000 + second * 1_000;
            assert!(
                in_window(&times, from, from + 1_000) <= 3,
                "the old pace's slots were used: {times:?}"
            );
        }
        assert!(in_window(&times, 2_000, 5_000) >= 8, "{times:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_larger_part_waits_two_seconds_and_no_part_sends_nothing() {
        let mut registry = Registry::default();
        let budget = std::sync::Arc::new(Budget::new(10, 100_000, &mut registry));
        budget.grant_rate(0.0);
        // Nothing is sent, but the plan is not for nothing: an even part.
        assert!((budget.quota().rate - 10.0 / 1.025).abs() < 1e-6);
        assert_eq!(budget.metrics.rate.get(), 0.0, "the gauge shows none");
        let times = sends(&budget, 20, Duration::from_secs(3)).await;
        assert!(times.lock().unwrap().is_empty(), "sent without a part");
        // Granted 2 of 10: from two seconds on (planned for at once).
        budget.grant_rate(0.2);
        assert!((budget.quota().rate - 2.0 / 1.025).abs() < 1e-6);
        assert_eq!(budget.metrics.rate.get(), 0.0);
        tokio::time::sleep(Duration::from_millis(1_900)).await;
        assert!(times.lock().unwrap().is_empty(), "a raise taken early");
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        let count = times.lock().unwrap().len();
        assert!((3..=5).contains(&count), "two a second: {count}");
        // Raised to 6: still 2 a second for two seconds, then 6.
        let before = times.lock().unwrap().len();
        budget.grant_rate(0.6);
        // The same grant again keeps the raise's time.
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        budget.grant_rate(0.6);
        tokio::time::sleep(Duration::from_millis(900)).await;
        let slow = times.lock().unwrap().len() - before;
        assert!(slow <= 4, "two a second while the raise waits: {slow}");
        tokio::time::sleep(Duration::from_secs(3)).await;
        let fast = times.lock().unwrap().len() - before - slow;
        assert!(fast >= 16, "six a second after it: {fast}");
    }

    #[tokio::test(start_paused = true)]
    async fn callers_queued_at_a_slow_pace_take_a_raise_when_it_comes() {
        let mut registry = Registry::default();
        let budget = std::sync::Arc::new(Budget::new(10, 100_000, &mut registry));
        budget.grant_rate(0.1);
        // Twenty callers queued at one a second: slots up to 20 s ahead.
        let times = sends(&budget, 20, Duration::from_millis(500)).await;
        budget.grant_rate(1.0);
        tokio::time::sleep(Duration::from_millis(1_900)).await;
        let before = times.lock().unwrap().len();
        assert!(before <= 3, "one a second until the raise: {before}");
        // In force at 2.0 s: the queued callers do not wait for their slots
        // of the old pace.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let after = times.lock().unwrap().len() - before;
        assert!(after >= 4, "ten a second from the raise on: {after}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_same_grant_again_changes_nothing() {
        let mut registry = Registry::default();
        let budget = std::sync::Arc::new(Budget::new(10, 100_000, &mut registry));
        budget.grant_rate(0.3);
        let times = sends(&budget, 20, Duration::ZERO).await;
        // Every heartbeat grants the same part: the schedule goes on.
        for _ in 0..30 {
            budget.grant_rate(0.3);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let count = times.lock().unwrap().len();
        assert!((8..=10).contains(&count), "three a second: {count}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_larger_part_than_the_one_waiting_waits_from_its_own_grant() {
        let mut registry = Registry::default();
        let budget = std::sync::Arc::new(Budget::new(10, 100_000, &mut registry));
        budget.grant_rate(0.1);
        let times = sends(&budget, 20, Duration::ZERO).await;
        budget.grant_rate(0.2);
        tokio::time::sleep(Duration::from_secs(1)).await;
        // 6 of 10, granted 1 s later: in force at 3 s, not at the 2 s of
        // the smaller raise.
        budget.grant_rate(0.6);
        tokio::time::sleep(Duration::from_millis(1_050)).await;
        let at_two = times.lock().unwrap().len();
        tokio::time::sleep(Duration::from_millis(850)).await;
        let between = times.lock().unwrap().len() - at_two;
        assert!(between <= 2, "two a second from 2 s to 3 s: {between}");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = times.lock().unwrap().len() - at_two - between;
        assert!(after >= 5, "six a second from 3 s: {after}");
    }
}
