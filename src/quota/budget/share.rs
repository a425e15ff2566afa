//! Several replicas: this replica's part of Zoom's per-second rate and of
//! the day.
//!
//! - The day follows the work: what is left today is planned in proportion
//!   to the watches this replica holds, `(watches + 1) / (all watches +
//!   replicas)` from its heartbeat (even, `1 / replicas`, before). The
//!   parts sum to one when the counts agree; when they do not (replicas
//!   read them at different moments) the daily cap, counted over all
//!   replicas in the database, still holds.
//! - The per-second rate is split evenly, `floor(rate / replicas)` each.
//!   Measured (`tests/processes/cluster`, 30 participants on three
//!   replicas at 10 a second): proportional per-second parts from each
//!   replica's own heartbeat put 11 requests into one second, because
//!   each read the counts at another moment and their parts summed to
//!   more than one; an even split never does, and the rebalancing
//!   (`crate::store::leases`) keeps the work even, within one meeting.
//!   A token bucket shared in PostgreSQL would be exact but put a database
//!   round trip (2-3 ms at the median here, BENCHMARKS.md) before every
//!   Zoom request and stop polling whenever the database is slow.

use std::time::Duration;

use super::{Budget, State};

/// This replica's part of what is left today.
pub(super) fn share_of(state: &State) -> f64 {
    state.work_share.unwrap_or_else(|| even_part(state))
}

/// This replica's part of the per-second rate: an even one.
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
}
