//! One request budget for every watcher: Zoom's per-second rate, the daily
//! quota, and the account-wide pause after a 429.
//!
//! Zoom's limits are per account, so one watcher's 429 means every watcher
//! must wait. Requests are spaced evenly (`1 / rate`), which never exceeds
//! the rate in any one-second window; a pause pushes every later slot past
//! its end. Built on `tokio::time` so tests drive it with paused time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::store::{BudgetUse, Store, Write};

/// The clock of the daily quota: the wall clock, or one running faster from
/// a given time (the accelerated day of the quota benchmark, where one
/// simulated minute passes in a second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QuotaClock {
    Wall,
    Accelerated {
        /// The quota clock's time at `since`.
        at: DateTime<Utc>,
        since: Instant,
        /// Quota-clock seconds per real second.
        speed: u32,
    },
}

impl QuotaClock {
    /// The quota clock's time now.
    pub fn now(&self) -> DateTime<Utc> {
        match *self {
            QuotaClock::Wall => Utc::now(),
            QuotaClock::Accelerated { at, since, speed } => {
                let real = since.elapsed() * speed.max(1);
                at + chrono::TimeDelta::from_std(real).unwrap_or_default()
            }
        }
    }

    /// The real time that `quota_time` on this clock takes.
    pub fn to_real(&self, quota_time: Duration) -> Duration {
        match *self {
            QuotaClock::Wall => quota_time,
            QuotaClock::Accelerated { speed, .. } => quota_time / speed.max(1),
        }
    }
}

/// What is spent and left of today's quota, for the planner and the
/// status line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuotaView {
    /// Requests counted today by this process.
    pub used_today: u32,
    /// This process's daily allowance (`zoom.daily_limit` x `zoom.daily_share`).
    pub allowance: u32,
    /// What Zoom last said is left of the account's quota today
    /// (`X-RateLimit-Remaining`), if it said.
    pub zoom_remaining: Option<u32>,
    /// Real time until the quota renews at 00:00 UTC.
    pub until_reset: Duration,
    /// Requests per second the budget spaces requests at (this replica's
    /// part of the rate, with several).
    pub rate: f64,
    /// This replica's part of what is left today: 1 alone, 1/N with N
    /// replicas sharing the database.
    pub share: f64,
}

/// The shared limiter. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Budget {
    interval: Duration,
    /// Requests a second qoswatch may send (the account's limit times
    /// `zoom.rate_share`), for the share of each of several replicas.
    per_second: u32,
    daily_limit: u32,
    clock: QuotaClock,
    state: Mutex<State>,
    metrics: BudgetMetrics,
    /// Where the day's count and a pause are kept across restarts.
    store: Option<Store>,
}

#[derive(Debug)]
struct State {
    /// Earliest instant the next request may go out.
    next_slot: Instant,
    /// Until when every request waits (after a 429).
    paused_until: Option<Instant>,
    /// 429s in a row without a `Retry-After`, for exponential back-off.
    rate_limited_in_a_row: u32,
    day: NaiveDate,
    used_today: u32,
    /// Slots handed out and not yet used or given back: they count against
    /// the day like requests, or a crowd of waiting callers would all pass
    /// the daily check and overshoot it together.
    reserved: u32,
    /// Zoom's `X-RateLimit-Remaining` of today, with the day it was for.
    zoom_remaining: Option<(NaiveDate, u32)>,
    /// Replicas sharing the rate and the day (1 without a shared database).
    replicas: u32,
    /// What the other replicas counted today, as of their last heartbeat.
    others_used: u32,
    exhausted_logged: bool,
    /// Reserved slots still in the future whose callers were cancelled
    /// (participant left while waiting): handed to the next callers so
    /// cancellations do not leave the budget idle.
    freed: BinaryHeap<Reverse<Instant>>,
}

#[derive(Debug, Clone, Default)]
struct BudgetMetrics {
    requests: Counter,
    rate_limited: Counter,
    paused: Gauge,
}

/// Why `acquire` did not hand out a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// The daily quota is used up until the next 00:00 UTC.
    #[error("daily Zoom quota of {limit} requests used up; resets at 00:00 UTC in {reset_in:?}")]
    DailyQuotaExhausted { limit: u32, reset_in: Duration },
}

impl Budget {
    pub fn new(requests_per_second: u32, daily_limit: u32, registry: &mut Registry) -> Self {
        let metrics = BudgetMetrics::default();
        registry.register(
            "qoswatch_zoom_requests",
            "Requests sent to Zoom's QoS endpoints",
            metrics.requests.clone(),
        );
        registry.register(
            "qoswatch_zoom_rate_limited",
            "429 answers from Zoom",
            metrics.rate_limited.clone(),
        );
        registry.register(
            "qoswatch_zoom_paused",
            "1 while every watcher waits out a Zoom rate limit",
            metrics.paused.clone(),
        );
        Self {
            // A 2.5 % margin: at exactly 1 s / rate, network jitter put
            // rate + 1 requests into one second at the simulator.
            interval: (Duration::from_secs(1) + Duration::from_millis(25))
                / requests_per_second.max(1),
            per_second: requests_per_second.max(1),
            daily_limit,
            clock: QuotaClock::Wall,
            state: Mutex::new(State {
                next_slot: Instant::now(),
                paused_until: None,
                rate_limited_in_a_row: 0,
                day: Utc::now().date_naive(),
                used_today: 0,
                reserved: 0,
                zoom_remaining: None,
                replicas: 1,
                others_used: 0,
                exhausted_logged: false,
                freed: BinaryHeap::new(),
            }),
            metrics,
            store: None,
        }
    }

    /// The same budget on another quota clock (the accelerated day of the
    /// quota benchmark).
    pub fn with_clock(mut self, clock: QuotaClock) -> Self {
        self.clock = clock;
        self.lock().day = clock.now().date_naive();
        self
    }

    /// Starts a new day's count if the quota clock passed 00:00 UTC.
    fn roll_over(&self, state: &mut State) {
        let today = self.clock.now().date_naive();
        if today != state.day {
            state.day = today;
            state.used_today = 0;
            state.others_used = 0;
            state.exhausted_logged = false;
        }
    }

    /// Zoom's rate-limit headers on an answer: `X-RateLimit-Remaining` of
    /// the daily quota (when the answer is not about the per-second limit).
    pub fn observe_zoom_remaining(&self, remaining: u32) {
        let mut state = self.lock();
        self.roll_over(&mut state);
        state.zoom_remaining = Some((state.day, remaining));
    }

    /// What is spent and left today.
    pub fn quota(&self) -> QuotaView {
        let mut state = self.lock();
        self.roll_over(&mut state);
        let day = state.day;
        QuotaView {
            used_today: state.used_today.saturating_add(state.others_used),
            allowance: self.daily_limit,
            zoom_remaining: state
                .zoom_remaining
                .filter(|(seen, _)| *seen == day)
                .map(|(_, remaining)| remaining),
            until_reset: self
                .clock
                .to_real(until_next_utc_midnight(self.clock.now())),
            rate: 1.0 / self.spacing(state.replicas).as_secs_f64(),
            share: 1.0 / f64::from(state.replicas),
        }
    }

    /// Time between two of this replica's requests when `replicas` share
    /// the rate. Each takes whole requests a second (`floor(rate / N)`),
    /// spaced so that no one-second window holds more than that: N evenly
    /// spaced replicas with `rate / N` each could put one more each into
    /// the same second. With fewer requests than replicas, each keeps to
    /// `N / rate` apart on average.
    fn spacing(&self, replicas: u32) -> Duration {
        let whole = self.per_second / replicas.max(1);
        if whole >= 1 {
            (Duration::from_secs(1) + Duration::from_millis(25)) / whole
        } else {
            self.interval * replicas
        }
    }

    /// The quota's current UTC day (on the quota clock).
    pub fn today(&self) -> NaiveDate {
        let mut state = self.lock();
        self.roll_over(&mut state);
        state.day
    }

    /// Several replicas share the account's limits (read at each
    /// heartbeat): the rate is split evenly between the `replicas` alive,
    /// the day counts what the others used, and a 429 pause one of them
    /// recorded holds here too.
    pub fn share(
        &self,
        replicas: u32,
        others_used_today: u32,
        paused_until: Option<DateTime<Utc>>,
    ) {
        let mut state = self.lock();
        self.roll_over(&mut state);
        let replicas = replicas.max(1);
        if replicas > state.replicas {
            // More replicas from now: space this one's next slot as the
            // new share says, not as the old one did.
            let spacing = self.spacing(replicas);
            state.next_slot = state.next_slot.max(Instant::now() + spacing);
        }
        state.replicas = replicas;
        state.others_used = others_used_today;
        if let Some(left) = paused_until.and_then(|until| (until - Utc::now()).to_std().ok())
            && !left.is_zero()
        {
            let until = Instant::now() + left;
            if state.paused_until.is_none_or(|p| p < until) {
                state.paused_until = Some(until);
                state.next_slot = state.next_slot.max(until);
                self.metrics.paused.set(1);
            }
        }
    }

    /// The same budget, taking over what the store kept (today's count, a
    /// pause still in force) and keeping the store up to date from now on.
    pub fn persisted(mut self, store: Store, saved: Option<BudgetUse>) -> Self {
        if let Some(saved) = saved {
            let mut state = self.lock();
            if saved.day == state.day {
                state.used_today = state.used_today.max(saved.used);
            }
            let remaining = saved
                .paused_until
                .and_then(|until| (until - Utc::now()).to_std().ok())
                .filter(|d| !d.is_zero());
            if let Some(remaining) = remaining {
                let until = Instant::now() + remaining;
                state.paused_until = Some(until);
                state.next_slot = state.next_slot.max(until);
                self.metrics.paused.set(1);
            }
            tracing::info!(
                used_today = state.used_today,
                limit = self.daily_limit,
                paused_for_s = remaining.map(|d| d.as_secs()),
                "Zoom budget taken over from the store"
            );
        }
        self.store = Some(store);
        self
    }

    /// Writes the day's count and the pause to the store, if there is one.
    fn save(&self, state: &State) {
        if let Some((store, record)) = self.record(state) {
            store.write(record);
        }
    }

    /// The store's record of `state`, if there is a store.
    fn record(&self, state: &State) -> Option<(&Store, Write)> {
        let store = self.store.as_ref()?;
        let paused_until = state
            .paused_until
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .map(|left| Utc::now() + left);
        Some((
            store,
            Write::Budget(BudgetUse {
                day: state.day,
                used: state.used_today,
                paused_until,
            }),
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain numbers; the numbers are still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a request slot. Returns an error, without waiting, when the
    /// daily quota is used up; the caller waits `reset_in` (cancellably).
    ///
    /// Slots are reserved in arrival order (first come, first served), so
    /// no watcher starves while others poll.
    pub async fn acquire(&self) -> Result<(), BudgetError> {
        loop {
            let slot = {
                let mut state = self.lock();
                self.roll_over(&mut state);
                if state
                    .used_today
                    .saturating_add(state.others_used)
                    .saturating_add(state.reserved)
                    >= self.daily_limit
                {
                    if !state.exhausted_logged {
                        state.exhausted_logged = true;
                        tracing::error!(
                            limit = self.daily_limit,
                            "daily Zoom request quota used up: polling pauses until 00:00 UTC"
                        );
                    }
                    return Err(BudgetError::DailyQuotaExhausted {
                        limit: self.daily_limit,
                        reset_in: self
                            .clock
                            .to_real(until_next_utc_midnight(self.clock.now())),
                    });
                }
                let now = Instant::now();
                let mut earliest = now;
                match state.paused_until {
                    Some(paused_until) if paused_until > now => earliest = paused_until,
                    Some(_) => {
                        state.paused_until = None;
                        self.metrics.paused.set(0);
                    }
                    None => {}
                }
                // A slot freed by a cancelled caller comes first, if it is
                // still ahead (a past one would crowd the schedule).
                while state
                    .freed
                    .peek()
                    .is_some_and(|Reverse(freed)| *freed < earliest)
                {
                    state.freed.pop();
                }
                let slot = match state.freed.pop() {
                    Some(Reverse(freed)) => freed,
                    None => {
                        let slot = state.next_slot.max(earliest);
                        state.next_slot = slot + self.spacing(state.replicas);
                        slot
                    }
                };
                state.reserved += 1;
                slot
            };
            let mut reservation = Reservation {
                budget: self,
                slot,
                used: false,
            };
            tokio::time::sleep_until(slot).await;
            let record = {
                let mut state = self.lock();
                reservation.used = true;
                state.reserved = state.reserved.saturating_sub(1);
                // A pause that began while we waited wins over our
                // reservation: queue again behind it.
                if state
                    .paused_until
                    .is_some_and(|paused_until| paused_until > Instant::now())
                {
                    continue;
                }
                state.used_today += 1;
                if state.used_today == self.daily_limit / 10 * 8 && !state.exhausted_logged {
                    tracing::warn!(
                        used = state.used_today,
                        limit = self.daily_limit,
                        "80% of today's Zoom request quota used"
                    );
                }
                self.record(&state)
            };
            self.metrics.requests.inc();
            // The request counts once it is on disk: a crash right after it
            // went out cannot hand the next start a lower count.
            if let Some((store, record)) = record
                && let Err(error) = store.write_durably(record).await
            {
                tracing::warn!(%error, "today's Zoom request count not saved");
            }
            return Ok(());
        }
    }

    /// Zoom answered 429. Pauses every watcher for `retry_after`, or for an
    /// exponential back-off with jitter when Zoom gave no `Retry-After`.
    /// Returns the pause applied.
    pub fn rate_limited(&self, retry_after: Option<Duration>) -> Duration {
        self.metrics.rate_limited.inc();
        let mut state = self.lock();
        let pause = match retry_after {
            Some(pause) => {
                state.rate_limited_in_a_row = 0;
                pause
            }
            None => {
                state.rate_limited_in_a_row = state.rate_limited_in_a_row.saturating_add(1);
                RATE_LIMIT_BACKOFF.delay(state.rate_limited_in_a_row)
            }
        };
        let until = Instant::now() + pause;
        let until = state.paused_until.map_or(until, |p| p.max(until));
        state.paused_until = Some(until);
        // Reservations taken from now on line up after the pause.
        state.next_slot = state.next_slot.max(until);
        self.metrics.paused.set(1);
        self.save(&state);
        pause
    }

    /// Zoom said the account's daily quota is used up (`X-RateLimit-Type:
    /// Daily-limit`): no request until the next 00:00 UTC, whatever our own
    /// count says (other apps share the quota).
    pub fn daily_limit_reached(&self) {
        let mut state = self.lock();
        state.day = self.clock.now().date_naive();
        state.used_today = state.used_today.max(self.daily_limit);
        self.save(&state);
    }

    /// A request went through without a 429.
    pub fn succeeded(&self) {
        self.lock().rate_limited_in_a_row = 0;
    }

    /// Requests counted against today's quota so far.
    pub fn used_today(&self) -> u32 {
        self.lock().used_today
    }

    /// Remaining pause, if every watcher is waiting out a 429.
    pub fn paused_for(&self) -> Option<Duration> {
        let state = self.lock();
        state
            .paused_until
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }
}

/// A reserved slot; given back when its caller is cancelled before using it.
struct Reservation<'a> {
    budget: &'a Budget,
    slot: Instant,
    used: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.used {
            return;
        }
        let mut state = self.budget.lock();
        state.reserved = state.reserved.saturating_sub(1);
        if self.slot > Instant::now() {
            state.freed.push(Reverse(self.slot));
        }
    }
}

/// The pause after a 429 that came without `Retry-After`, by 429s in a row.
const RATE_LIMIT_BACKOFF: Backoff = Backoff {
    initial: Duration::from_secs(1),
    max: Duration::from_secs(60),
};

/// Time from `now` until the next 00:00 UTC.
pub fn until_next_utc_midnight(now: DateTime<Utc>) -> Duration {
    let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
    let midnight = tomorrow.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    midnight
        .and_then(|m| (m - now).to_std().ok())
        .unwrap_or(Duration::from_secs(60))
}

/// Parses Zoom's `Retry-After`: an ISO-8601 timestamp (Zoom's usual form)
/// or a number of seconds (the HTTP standard's). Returns the wait from `now`,
/// never longer than until the next daily reset plus an hour: no limit of
/// Zoom's lasts longer, and a nonsense value must not stop polling for good.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let longest = until_next_utc_midnight(now) + Duration::from_secs(3600);
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(longest));
    }
    let at = DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| DateTime::parse_from_rfc2822(value).map(|t| t.with_timezone(&Utc)))
        .ok()?;
    // A time in the past means "now"; keep a small floor so a burst of
    // watchers does not hammer Zoom on a clock skew.
    Some(
        (at - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_millis(100))
            .min(longest),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn budget(rate: u32, daily: u32) -> Budget {
        Budget::new(rate, daily, &mut Registry::default())
    }

    #[tokio::test(start_paused = true)]
    async fn an_accelerated_quota_clock_runs_the_day_faster_and_renews_the_count() {
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 2, 23, 59, 0).unwrap();
        let clock = QuotaClock::Accelerated {
            at,
            since: Instant::now(),
            speed: 10,
        };
        let budget = budget(100, 3).with_clock(clock);
        let quota = budget.quota();
        // One quota minute to midnight is six real seconds at 10x.
        assert_eq!(quota.until_reset, Duration::from_secs(6));
        assert_eq!((quota.allowance, quota.used_today), (3, 0));
        assert!((quota.rate - 100.0 / 1.025).abs() < 1e-9);
        for _ in 0..3 {
            budget.acquire().await.expect("quota left");
        }
        match budget.acquire().await {
            Err(BudgetError::DailyQuotaExhausted { reset_in, .. }) => {
                assert!(reset_in <= Duration::from_secs(6) && reset_in > Duration::from_secs(5));
            }
            other => panic!("{other:?}"),
        }
        tokio::time::advance(Duration::from_secs(7)).await;
        assert_eq!(budget.quota().used_today, 0, "a new quota day");
        budget.acquire().await.expect("renewed");
        assert_eq!(
            QuotaClock::Wall.to_real(Duration::from_secs(5)),
            Duration::from_secs(5)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn zoom_s_remaining_counts_for_today_only() {
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 2, 23, 59, 0).unwrap();
        let clock = QuotaClock::Accelerated {
            at,
            since: Instant::now(),
            speed: 60,
        };
        let budget = budget(10, 1000).with_clock(clock);
        assert_eq!(budget.quota().zoom_remaining, None);
        budget.observe_zoom_remaining(420);
        assert_eq!(budget.quota().zoom_remaining, Some(420));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(budget.quota().zoom_remaining, None, "yesterday's figure");
    }

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_by_the_rate() {
        let budget = budget(4, 1000);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..9 {
            budget.acquire().await.expect("quota left");
            times.push(Instant::now() - start);
        }
        assert_eq!(times[0], Duration::ZERO);
        // 1 s / 4 plus the 2.5 % margin.
        assert_eq!(times[8], Duration::from_micros(8 * 256_250));
        // No one-second window holds more than 4 requests.
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .filter(|u| **u - *t < Duration::from_secs(1))
                .count();
            assert!(in_window <= 4, "window from {t:?} holds {in_window}");
        }
    }

    /// The times of `n` requests from one budget, from the first.
    async fn request_times(budget: &Budget, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..n {
            budget.acquire().await.expect("quota left");
            times.push(Instant::now() - start);
        }
        times
    }

    #[tokio::test(start_paused = true)]
    async fn replicas_sharing_the_rate_never_crowd_one_second_together() {
        // Three replicas share 10 a second: each takes 3 a second (floor),
        // spaced so no one-second window of its own holds more than 3, so
        // the three together stay at 9 whatever their phases.
        let budget = budget(10, 1000);
        budget.share(3, 0, None);
        let quota = budget.quota();
        assert!((quota.share - 1.0 / 3.0).abs() < 1e-9);
        assert!((quota.rate - 3.0 / 1.025).abs() < 1e-6, "{}", quota.rate);
        let times = request_times(&budget, 10).await;
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .filter(|u| **u - *t < Duration::from_secs(1))
                .count();
            assert!(in_window <= 3, "window from {t:?} holds {in_window}");
        }
        // 1.025 s / 3, to the paused clock's millisecond.
        let gap = times[1] - times[0];
        assert!(
            gap.abs_diff(Duration::from_nanos(341_666_666)) <= Duration::from_millis(1),
            "{gap:?}"
        );
        // Alone again: the whole rate.
        budget.share(1, 0, None);
        let alone = request_times(&budget, 3).await;
        let gap = alone[2] - alone[1];
        assert!(
            gap.abs_diff(Duration::from_micros(102_500)) <= Duration::from_millis(1),
            "{gap:?}"
        );
        // Fewer requests than replicas: N / rate apart on average.
        let slow = super::tests::budget(2, 1000);
        slow.share(4, 0, None);
        let times = request_times(&slow, 3).await;
        let gap = times[2] - times[1];
        assert!(
            gap.abs_diff(Duration::from_millis(2_050)) <= Duration::from_millis(1),
            "{gap:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_other_replicas_use_counts_against_the_day() {
        let budget = budget(100, 10);
        budget.share(2, 8, None);
        assert_eq!(
            budget.quota().used_today,
            8,
            "the account's use, all replicas"
        );
        budget.acquire().await.expect("9th");
        budget.acquire().await.expect("10th");
        assert!(matches!(
            budget.acquire().await,
            Err(BudgetError::DailyQuotaExhausted { limit: 10, .. })
        ));
        assert_eq!(budget.used_today(), 2, "this replica's own count");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_another_replica_recorded_holds_here() {
        let budget = budget(100, 1000);
        budget.share(2, 0, Some(Utc::now() + chrono::Duration::seconds(5)));
        assert!(budget.paused_for().is_some());
        let times = request_times(&budget, 1).await;
        assert!(times[0] >= Duration::from_millis(4_900), "{:?}", times[0]);
        // A pause that is over changes nothing.
        budget.share(2, 0, Some(Utc::now() - chrono::Duration::seconds(1)));
        assert_eq!(budget.paused_for(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_callers_cannot_overshoot_the_daily_limit_together() {
        let budget = Arc::new(budget(2, 5));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let budget = budget.clone();
            tasks.push(tokio::spawn(async move { budget.acquire().await.is_ok() }));
        }
        let mut granted = 0;
        for task in tasks {
            granted += usize::from(task.await.expect("task"));
        }
        assert_eq!(
            granted, 5,
            "every waiting reservation counts against the day"
        );
        assert_eq!(budget.used_today(), 5);
        // A caller that gave its slot back frees the day's place too.
        let budget = Arc::new(budget_with_one_left());
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.acquire().await })
        };
        tokio::task::yield_now().await;
        waiting.abort();
        let _ = waiting.await;
        budget
            .acquire()
            .await
            .expect("the aborted caller's place is free");
    }

    /// A budget of 1 a second and 2 a day with one request already used.
    fn budget_with_one_left() -> Budget {
        let budget = budget(1, 2);
        budget.lock().used_today = 1;
        // The next slot is a second away, so a caller waits for it.
        budget.lock().next_slot = Instant::now() + Duration::from_secs(1);
        budget
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_watchers_share_one_rate() {
        let budget = Arc::new(budget(5, 1000));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let budget = budget.clone();
            tasks.push(tokio::spawn(async move {
                budget.acquire().await.expect("quota left");
                Instant::now() - start
            }));
        }
        let mut times = Vec::new();
        for task in tasks {
            times.push(task.await.expect("task"));
        }
        times.sort();
        assert_eq!(times[19], Duration::from_millis(19 * 205));
        assert_eq!(budget.used_today(), 20);
    }

    #[tokio::test(start_paused = true)]
    async fn slots_go_to_whoever_asked_first() {
        // A watcher whose slot is due but who has not run yet keeps it; a
        // newcomer queues behind. (Without reservations a busy runtime let
        // newcomers take every freed slot and starved some watchers.)
        let budget = Arc::new(budget(5, 1000));
        let start = Instant::now();
        budget.acquire().await.expect("first slot");
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move {
                budget.acquire().await.expect("second slot");
                Instant::now() - start
            })
        };
        tokio::task::yield_now().await;
        // Move the clock without running the waiter.
        tokio::time::advance(Duration::from_millis(205)).await;
        let newcomer = {
            budget.acquire().await.expect("third slot");
            Instant::now() - start
        };
        assert_eq!(waiter.await.expect("task"), Duration::from_millis(205));
        assert_eq!(newcomer, Duration::from_millis(410));
    }

    #[tokio::test(start_paused = true)]
    async fn slots_of_cancelled_callers_are_given_to_the_next() {
        let budget = Arc::new(budget(5, 1000));
        let start = Instant::now();
        budget.acquire().await.expect("first slot");
        // Four watchers queue (slots 1..4), then three of them are cancelled.
        let mut waiters = Vec::new();
        for _ in 0..4 {
            let budget = budget.clone();
            waiters.push(tokio::spawn(async move {
                budget.acquire().await.expect("slot");
                Instant::now() - start
            }));
            tokio::task::yield_now().await;
        }
        let last = waiters.pop().expect("four waiters");
        for waiter in &waiters {
            waiter.abort();
        }
        for waiter in waiters {
            assert!(waiter.await.is_err(), "cancelled");
        }
        // A newcomer takes the earliest freed slot instead of queueing
        // behind the cancelled ones; the last waiter keeps its own.
        budget.acquire().await.expect("freed slot");
        assert_eq!(Instant::now() - start, Duration::from_millis(205));
        assert_eq!(last.await.expect("task"), Duration::from_millis(4 * 205));
        assert_eq!(budget.used_today(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_everyone_for_retry_after() {
        let budget = budget(10, 1000);
        budget.acquire().await.expect("quota left");
        budget.rate_limited(Some(Duration::from_secs(7)));
        let start = Instant::now();
        budget.acquire().await.expect("quota left");
        assert_eq!(Instant::now() - start, Duration::from_secs(7));
        assert_eq!(budget.paused_for(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_that_starts_while_waiting_still_holds() {
        let budget = Arc::new(budget(1, 1000));
        budget.acquire().await.expect("first");
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move {
                let start = Instant::now();
                budget.acquire().await.expect("second");
                Instant::now() - start
            })
        };
        tokio::task::yield_now().await;
        budget.rate_limited(Some(Duration::from_secs(5)));
        assert_eq!(waiter.await.expect("task"), Duration::from_secs(5));
    }

    /// What Prometheus scrapes for the pause gauge.
    fn paused_gauge(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).expect("encode");
        text.lines()
            .find(|l| l.starts_with("qoswatch_zoom_paused "))
            .expect("gauge registered")
            .to_owned()
    }

    /// Queues `n` watchers behind the current schedule and cancels them, as
    /// when participants leave while their poll waits for a slot.
    async fn queue_and_cancel(budget: &Arc<Budget>, n: usize) {
        let mut waiters = Vec::new();
        for _ in 0..n {
            let budget = budget.clone();
            waiters.push(tokio::spawn(async move {
                budget.acquire().await.expect("slot");
            }));
            tokio::task::yield_now().await;
        }
        for waiter in waiters {
            waiter.abort();
            assert!(waiter.await.is_err(), "cancelled");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pause_holds_even_when_cancelled_callers_freed_slots() {
        // Freed slots lie inside the pause: none of them may be used, or we
        // would send inside Zoom's Retry-After window.
        let budget = Arc::new(budget(5, 1000));
        let start = Instant::now();
        budget.acquire().await.expect("first");
        queue_and_cancel(&budget, 3).await;
        budget.rate_limited(Some(Duration::from_secs(7)));
        assert_eq!(budget.paused_for(), Some(Duration::from_secs(7)));
        budget.acquire().await.expect("after the pause");
        assert_eq!(Instant::now() - start, Duration::from_secs(7));
        assert_eq!(budget.used_today(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_pause_is_reported_while_it_lasts_and_cleared_after() {
        let mut registry = Registry::default();
        let budget = Arc::new(Budget::new(5, 1000, &mut registry));
        assert_eq!(paused_gauge(&registry), "qoswatch_zoom_paused 0");
        budget.rate_limited(Some(Duration::from_secs(7)));
        assert_eq!(paused_gauge(&registry), "qoswatch_zoom_paused 1");
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.acquire().await.expect("after the pause") })
        };
        tokio::task::yield_now().await;
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(budget.paused_for(), Some(Duration::from_secs(4)));
        assert_eq!(paused_gauge(&registry), "qoswatch_zoom_paused 1");
        waiter.await.expect("task");
        // The next request after the pause (here at its very end) clears it.
        budget.acquire().await.expect("next");
        assert_eq!(budget.paused_for(), None);
        assert_eq!(paused_gauge(&registry), "qoswatch_zoom_paused 0");
        // Later requests find it cleared too.
        tokio::time::advance(Duration::from_secs(60)).await;
        budget.acquire().await.expect("much later");
        assert_eq!(paused_gauge(&registry), "qoswatch_zoom_paused 0");
    }

    #[tokio::test(start_paused = true)]
    async fn freed_slots_in_the_past_do_not_make_a_burst() {
        // Watchers cancelled long ago left slots that are now in the past:
        // handing those out would send several requests at once, above the
        // per-second rate.
        let budget = Arc::new(budget(5, 1000));
        let start = Instant::now();
        budget.acquire().await.expect("first");
        queue_and_cancel(&budget, 3).await;
        tokio::time::advance(Duration::from_millis(700)).await;
        let mut times = vec![Duration::ZERO];
        for _ in 0..8 {
            budget.acquire().await.expect("quota left");
            times.push(Instant::now() - start);
        }
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .filter(|u| **u - *t < Duration::from_secs(1))
                .count();
            assert!(
                in_window <= 5,
                "window from {t:?} holds {in_window}: {times:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_backoff() {
        let budget = budget(10, 1000);
        for _ in 0..4 {
            budget.rate_limited(None);
        }
        budget.succeeded();
        // Back to the first step (1 s with jitter), not the fifth (16 s).
        let pause = budget.rate_limited(None);
        assert!(
            pause >= Duration::from_millis(500) && pause <= Duration::from_secs(1),
            "{pause:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_resets_the_backoff() {
        let budget = budget(10, 1000);
        for _ in 0..4 {
            budget.rate_limited(None);
        }
        budget.rate_limited(Some(Duration::from_secs(2)));
        let pause = budget.rate_limited(None);
        assert!(
            pause >= Duration::from_millis(500) && pause <= Duration::from_secs(1),
            "{pause:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_grows_without_retry_after() {
        let budget = budget(10, 1000);
        let first = budget.rate_limited(None);
        let second = budget.rate_limited(None);
        let third = budget.rate_limited(None);
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
        assert!(second >= Duration::from_secs(1) && second <= Duration::from_secs(2));
        assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn daily_quota_stops_requests() {
        let budget = budget(100, 3);
        for _ in 0..3 {
            budget.acquire().await.expect("quota left");
        }
        let err = budget.acquire().await.unwrap_err();
        let BudgetError::DailyQuotaExhausted { limit, reset_in } = err;
        assert_eq!(limit, 3);
        assert!(reset_in <= Duration::from_secs(86_400));
    }

    #[tokio::test(start_paused = true)]
    async fn zoom_saying_daily_limit_stops_requests_until_midnight() {
        let budget = budget(10, 1000);
        budget.acquire().await.expect("quota left");
        budget.daily_limit_reached();
        assert!(matches!(
            budget.acquire().await,
            Err(BudgetError::DailyQuotaExhausted { .. })
        ));
    }

    /// Log lines, captured for the current thread.
    #[derive(Clone, Default)]
    struct Logs(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Logs {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("logs").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Logs {
        fn capture(&self) -> tracing::subscriber::DefaultGuard {
            let writer = self.clone();
            tracing::subscriber::set_default(
                tracing_subscriber::fmt()
                    .with_ansi(false)
                    .with_writer(move || writer.clone())
                    .finish(),
            )
        }

        fn count(&self, needle: &str) -> usize {
            String::from_utf8_lossy(&self.0.lock().expect("logs"))
                .lines()
                .filter(|l| l.contains(needle))
                .count()
        }
    }

    const WARNING: &str = "WARN qoswatch::quota::budget: 80% of today's Zoom request quota used";
    const EXHAUSTED: &str = "ERROR qoswatch::quota::budget: daily Zoom request quota used up";

    #[tokio::test(start_paused = true)]
    async fn operators_are_warned_once_at_80_percent_of_the_quota() {
        let logs = Logs::default();
        let _guard = logs.capture();
        let budget = budget(100, 10);
        for _ in 0..7 {
            budget.acquire().await.expect("quota left");
        }
        assert_eq!(logs.count(WARNING), 0, "not before the 8th of 10");
        budget.acquire().await.expect("quota left");
        assert_eq!(logs.count(WARNING), 1, "at the 8th of 10");
        for _ in 0..2 {
            budget.acquire().await.expect("quota left");
        }
        assert_eq!(logs.count(WARNING), 1, "only once");
    }

    #[tokio::test(start_paused = true)]
    async fn a_used_up_quota_is_logged_once_not_on_every_poll() {
        let logs = Logs::default();
        let _guard = logs.capture();
        let budget = budget(100, 2);
        for _ in 0..2 {
            budget.acquire().await.expect("quota left");
        }
        assert_eq!(logs.count(EXHAUSTED), 0);
        for _ in 0..5 {
            assert!(budget.acquire().await.is_err());
        }
        assert_eq!(logs.count(EXHAUSTED), 1);
    }

    #[test]
    fn retry_after_in_both_forms() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("30", now), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after("2026-11-25T10:00:12Z", now),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            parse_retry_after("2026-11-26T00:00:00Z", now),
            Some(Duration::from_secs(14 * 3600))
        );
        assert_eq!(
            parse_retry_after("2026-11-25T09:00:00Z", now),
            Some(Duration::from_millis(100))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        // Nonsense is capped at the next reset plus an hour (15 h here).
        let cap = Some(Duration::from_secs(15 * 3600));
        assert_eq!(parse_retry_after("18446744073709551615", now), cap);
        assert_eq!(parse_retry_after("2099-01-01T00:00:00Z", now), cap);
    }

    #[test]
    fn midnight_is_computed_in_utc() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T23:59:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(until_next_utc_midnight(now), Duration::from_secs(60));
    }
}
