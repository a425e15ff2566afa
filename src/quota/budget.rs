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
use prometheus_client::registry::Registry;
use qoswatch_core::alert::Account;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::store::{BudgetUse, Store, Write};
pub use metrics::BudgetFamilies;
use metrics::BudgetMetrics;

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
    /// Requests per second the budget spaces requests at, or is about to
    /// (this replica's part of the rate, with several: a larger part
    /// granted counts from its grant; without any part yet, an even one).
    /// The plan spends this; requests wait in the budget meanwhile.
    pub rate: f64,
    /// This replica's part of what is left today: 1 alone, 1/N with N
    /// replicas sharing the database.
    pub share: f64,
}

/// The shared limiter. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Budget {
    /// Whose quota this is.
    account: Account,
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
    /// This replica's share of the cluster's work, once the heartbeat said
    /// (`share.rs`): its part of the day; else `1 / replicas`.
    work_share: Option<f64>,
    /// What the other replicas counted today, as of their last heartbeat.
    others_used: u32,
    /// This replica's part of the per-second rate (`share.rs`).
    rate: RatePart,
    exhausted_logged: bool,
    /// Reserved slots still in the future whose callers were cancelled
    /// (participant left while waiting): handed to the next callers so
    /// cancellations do not leave the budget idle.
    freed: BinaryHeap<Reverse<Instant>>,
}

/// Why `acquire` did not hand out a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// The daily quota is used up until the next 00:00 UTC.
    #[error("daily Zoom quota of {limit} requests used up; resets at 00:00 UTC in {reset_in:?}")]
    DailyQuotaExhausted { limit: u32, reset_in: Duration },
}

impl Budget {
    /// The single account's budget, its metrics registered in `registry`.
    pub fn new(requests_per_second: u32, daily_limit: u32, registry: &mut Registry) -> Self {
        let families = BudgetFamilies::register(registry);
        Self::of_account(
            Account::default(),
            requests_per_second,
            daily_limit,
            &families,
        )
    }

    /// `account`'s budget, its series in `families`.
    pub fn of_account(
        account: Account,
        requests_per_second: u32,
        daily_limit: u32,
        families: &BudgetFamilies,
    ) -> Self {
        let metrics = families.of(&account);
        let budget = Self {
            account,
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
                work_share: None,
                others_used: 0,
                rate: RatePart::default(),
                exhausted_logged: false,
                freed: BinaryHeap::new(),
            }),
            metrics,
            store: None,
        };
        budget.rate_now(&mut budget.lock());
        budget
    }

    /// Whose quota this is.
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The requests a second this process may send (all replicas together).
    pub fn per_second(&self) -> u32 {
        self.per_second
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
            rate: self.rate_now(&mut state),
            share: share_of(&state),
        }
    }

    /// The quota clock's time now.
    pub fn clock_now(&self) -> DateTime<Utc> {
        self.clock.now()
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
            let spacing = self.spacing(1.0 / f64::from(replicas));
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
                account: self.account.clone(),
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
            let mut reservation = self.reserve()?;
            // A larger part of the rate coming in force before the slot:
            // reserve again then, at the new pace.
            let raise = reservation.raise_at.filter(|at| *at < reservation.slot);
            tokio::time::sleep_until(raise.unwrap_or(reservation.slot)).await;
            if raise.is_some() {
                continue;
            }
            // A pause that began while we waited wins over the
            // reservation: queue again behind it.
            let Some(record) = self.use_slot(&mut reservation) else {
                continue;
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

    /// The first step of `acquire`: today's quota checked, then a slot
    /// reserved (counted in `reserved` until used or dropped).
    fn reserve(&self) -> Result<Reservation<'_>, BudgetError> {
        let mut state = self.lock();
        self.roll_over(&mut state);
        self.check_daily(&mut state)?;
        let earliest = self.earliest_start(&mut state, Instant::now());
        let (slot, spaced) = self.take_slot(&mut state, earliest);
        state.reserved += 1;
        Ok(Reservation {
            budget: self,
            slot,
            used: false,
            epoch: state.rate.epoch,
            spaced,
            raise_at: state.rate.raise_at(),
        })
    }

    /// An error when today's requests (this process's, the other replicas'
    /// and those reserved) reach the daily limit; said once a day.
    fn check_daily(&self, state: &mut State) -> Result<(), BudgetError> {
        if state
            .used_today
            .saturating_add(state.others_used)
            .saturating_add(state.reserved)
            < self.daily_limit
        {
            return Ok(());
        }
        if !state.exhausted_logged {
            state.exhausted_logged = true;
            tracing::error!(
                limit = self.daily_limit,
                "daily Zoom request quota used up: polling pauses until 00:00 UTC"
            );
        }
        Err(BudgetError::DailyQuotaExhausted {
            limit: self.daily_limit,
            reset_in: self
                .clock
                .to_real(until_next_utc_midnight(self.clock.now())),
        })
    }

    /// The earliest a request may go out: now, or the end of a 429 pause
    /// (a pause that is over is cleared).
    fn earliest_start(&self, state: &mut State, now: Instant) -> Instant {
        match state.paused_until {
            Some(paused_until) if paused_until > now => paused_until,
            Some(_) => {
                state.paused_until = None;
                self.metrics.paused.set(0);
                now
            }
            None => now,
        }
    }

    /// A slot no earlier than `earliest`: one a cancelled caller freed, if
    /// it is still ahead (a past one would crowd the schedule), else the
    /// next in the schedule, which moves one spacing on. Without a part of
    /// the rate, a time to look again, not a slot (`false`).
    fn take_slot(&self, state: &mut State, earliest: Instant) -> (Instant, bool) {
        while state
            .freed
            .peek()
            .is_some_and(|Reverse(freed)| *freed < earliest)
        {
            state.freed.pop();
        }
        let part = self.rate_part(state, Instant::now());
        if part < MIN_PART {
            // No part of the rate granted (yet): look again shortly.
            return (earliest + NO_PART_WAIT, false);
        }
        match state.freed.pop() {
            Some(Reverse(freed)) => (freed, true),
            None => {
                let slot = state.next_slot.max(earliest);
                state.next_slot = slot + self.spacing(part);
                (slot, true)
            }
        }
    }

    /// The reserved slot has come: counts the request (and warns at 80 %
    /// of the day), returning what to save; `None` when a pause began
    /// meanwhile and the caller must queue again.
    fn use_slot(&self, reservation: &mut Reservation<'_>) -> Option<Option<(&Store, Write)>> {
        let mut state = self.lock();
        reservation.used = true;
        state.reserved = state.reserved.saturating_sub(1);
        let now = Instant::now();
        if state
            .paused_until
            .is_some_and(|paused_until| paused_until > now)
            || reservation.epoch != state.rate.epoch
            || !reservation.spaced
        {
            return None;
        }
        state.used_today += 1;
        if state.used_today == self.daily_limit / 10 * 8 && !state.exhausted_logged {
            tracing::warn!(
                used = state.used_today,
                limit = self.daily_limit,
                "80% of today's Zoom request quota used"
            );
        }
        Some(self.record(&state))
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
    /// The rate part's epoch it was reserved in: a slot of an older, faster
    /// pace is not used.
    epoch: u64,
    /// A slot of the schedule; `false`: only a time to look again (there
    /// was no part of the rate).
    spaced: bool,
    /// When a larger part of the rate waiting at the reservation comes in
    /// force.
    raise_at: Option<Instant>,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.used {
            return;
        }
        let mut state = self.budget.lock();
        state.reserved = state.reserved.saturating_sub(1);
        if self.spaced && self.slot > Instant::now() && self.epoch == state.rate.epoch {
            state.freed.push(Reverse(self.slot));
        }
    }
}

/// The pause after a 429 that came without `Retry-After`, by 429s in a row.
const RATE_LIMIT_BACKOFF: Backoff = Backoff {
    initial: Duration::from_secs(1),
    max: Duration::from_secs(60),
};

mod clock;
mod metrics;
pub use clock::{QuotaClock, parse_retry_after, until_next_utc_midnight};
mod share;
pub use share::work_share;
use share::{MIN_PART, NO_PART_WAIT, RatePart, share_of};

#[cfg(test)]
mod tests;
