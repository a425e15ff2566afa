//! The daily plan, live: every meeting's poller publishes what it wants
//! (its participants' desired intervals and its page count); every few
//! seconds the planner turns that, and what the budget has left until
//! 00:00 UTC, into interval floors ([`plan::solve`]) that the pollers read
//! when they schedule. It also keeps the figures of `/metrics` and says
//! them in words every five minutes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use chrono::{DateTime, Utc};

mod metrics;

pub use metrics::PlanFamilies;
use metrics::PlanMetrics;

use super::forecast::{self, DemandHistory};
use super::plan::{self, Floors, Limits, MeetingDemand, Plan};
use super::{PlanSettings, PollingMode};
use crate::quota::budget::{Budget, QuotaView};

/// How often the plan is made again.
const REPLAN_EVERY: Duration = Duration::from_secs(2);
/// How often the plan is said in the log.
const LOG_EVERY: Duration = Duration::from_secs(5 * 60);
/// The share of the per-second rate the plan fills: the rest absorbs
/// bursts (a listing's pages go out back to back) without queueing.
const RATE_HEADROOM: f64 = 0.9;

/// What one meeting's poller last said it wants.
#[derive(Debug, Clone)]
struct Published {
    demand: MeetingDemand,
    /// When the participant polled longest ago was last refreshed.
    oldest_refresh: Instant,
}

/// The history of demand and the last tally of it.
#[derive(Debug, Default)]
struct Tally {
    history: DemandHistory,
    /// The quota clock's time and the participants watched at the last
    /// replan: the minutes since then go to the history.
    last: Option<(DateTime<Utc>, f64)>,
}

#[derive(Debug, Clone, Copy)]
struct Current {
    plan: Plan,
    /// How much faster than the flat pace the day's shape lets the plan
    /// spend now ([`DemandHistory::pace`]).
    pace: f64,
    quota: Option<QuotaView>,
    /// When the plan was made.
    at: Option<Instant>,
    /// When the participant polled longest ago was last refreshed.
    oldest_refresh: Option<Instant>,
    meetings: usize,
    participants: usize,
}

/// The plan and the day's figures, for people (the status page, the API).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PlanStatus {
    /// Requests counted against today's quota (UTC day).
    pub used_today: u32,
    /// What qoswatch may use today (`zoom.daily_limit x zoom.daily_share`).
    pub allowance_today: u32,
    /// What Zoom last said is left of the account's quota today.
    pub zoom_remaining: Option<u32>,
    /// Requests by 00:00 UTC if the plan holds.
    pub forecast_today: u64,
    /// The interval of a participant that needs attention, and of a
    /// settled healthy one, in seconds.
    pub urgent_interval_s: f64,
    pub calm_interval_s: f64,
    /// Requests per second wanted, and planned.
    pub demand_per_s: f64,
    pub planned_per_s: f64,
    /// The plan's bound on the time between two polls of anybody, and the
    /// longest anybody has waited now, in seconds.
    pub staleness_bound_s: f64,
    pub staleness_max_s: f64,
    pub meetings: usize,
    pub participants: usize,
    /// How much faster than an even spread of what is left until 00:00 UTC
    /// the plan spends now, from the forecast of the day's demand (1: flat,
    /// or no history yet).
    pub day_pace: f64,
}

/// A meeting that publishes a new demand replans at most this often (the
/// periodic replan covers the rest): a burst of joins is planned for within
/// a second, not after the next tick.
const REPLAN_ON_CHANGE_EVERY: Duration = Duration::from_secs(1);

/// The shared planner. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Planner {
    settings: PlanSettings,
    daily_share: f64,
    budget: Arc<Budget>,
    meetings: Mutex<HashMap<u64, Published>>,
    current: Mutex<Current>,
    tally: Mutex<Tally>,
    metrics: PlanMetrics,
    /// Marked changed when a replan lowers a floor: a meeting sleeping on a
    /// stretched interval may be due sooner (`watch::meeting` wakes on it).
    eased: tokio::sync::watch::Sender<()>,
}

impl Planner {
    pub fn new(
        settings: PlanSettings,
        daily_share: f64,
        budget: Arc<Budget>,
        registry: &mut Registry,
    ) -> Self {
        let families = PlanFamilies::register(registry);
        Self::of_account(settings, daily_share, budget, &families)
    }

    /// The plan of `budget`'s account, its series in `families`.
    pub fn of_account(
        settings: PlanSettings,
        daily_share: f64,
        budget: Arc<Budget>,
        families: &PlanFamilies,
    ) -> Self {
        let metrics = families.of(budget.account());
        let fastest = settings.interval.as_secs_f64();
        Self {
            settings,
            daily_share,
            budget,
            meetings: Mutex::new(HashMap::new()),
            current: Mutex::new(Current {
                plan: Plan {
                    floors: Floors::NONE,
                    demand: 0.0,
                    planned: 0.0,
                    staleness_bound: fastest,
                },
                pace: 1.0,
                quota: None,
                at: None,
                oldest_refresh: None,
                meetings: 0,
                participants: 0,
            }),
            tally: Mutex::new(Tally::default()),
            metrics,
            eased: tokio::sync::watch::Sender::new(()),
        }
    }

    /// The plan follows the day's shape from `history` (the store's
    /// watches, `crate::store::Snapshot::watched`, kept for `window`) and
    /// from what it watches itself from now on.
    pub fn with_history(
        self,
        watched: &[(DateTime<Utc>, DateTime<Utc>)],
        window: Duration,
    ) -> Self {
        let mut history = DemandHistory::new(window);
        for (from, to) in watched {
            history.add(*from, *to);
        }
        self.tally().history = history;
        self
    }

    fn tally(&self) -> MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds the minutes watched since the last replan to the history and
    /// says how fast the day's shape lets the plan spend now.
    /// `participants` is the whole cluster's estimate (this replica's over
    /// its part of the work), like the history read from the store.
    fn day_pace(&self, participants: f64) -> f64 {
        let now = self.budget.clock_now();
        let mut tally = self.tally();
        if let Some((then, watched)) = tally.last {
            tally.history.add_participants(then, now, watched);
            if then.timestamp().div_euclid(3600) != now.timestamp().div_euclid(3600) {
                tally.history.expire(now);
            }
        }
        tally.last = Some((now, participants));
        tally.history.pace(now, forecast::next_reset(now))
    }

    fn meetings(&self) -> MutexGuard<'_, HashMap<u64, Published>> {
        self.meetings.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn current(&self) -> MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether meetings may be listed and intervals adapt.
    pub(crate) fn adaptive(&self) -> bool {
        self.settings.mode == PollingMode::Adaptive
    }

    /// The interval every participant wants before any floor: the fastest
    /// (`polling.interval`, Zoom's sample minute). Freshness first: only
    /// the plan's floors stretch anybody, and only under pressure.
    pub(crate) fn fastest(&self) -> Duration {
        self.settings.interval
    }

    /// The interval a participant gets now: `desired` under the plan's floor.
    pub(crate) fn interval(&self, desired: Duration, urgent: bool) -> Duration {
        let floors = self.current().plan.floors;
        let seconds = floors.apply(desired.as_secs_f64(), urgent);
        // An infinite floor (nothing left today) waits a day at most; the
        // budget answers with the reset time before that.
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::from_secs(24 * 3600))
    }

    /// A meeting's poller says what it wants now.
    pub(crate) fn publish(&self, meeting: u64, demand: MeetingDemand, oldest_refresh: Instant) {
        let changed = {
            let mut meetings = self.meetings();
            let changed = meetings.get(&meeting).is_none_or(|p| p.demand != demand);
            meetings.insert(
                meeting,
                Published {
                    demand,
                    oldest_refresh,
                },
            );
            changed
        };
        if changed && self.replan_due() {
            self.replan();
        }
    }

    /// A meeting's poller ended: replanned at once like a changed demand
    /// (at most once a second), so that the others feel the relief.
    pub(crate) fn withdraw(&self, meeting: u64) {
        let removed = self.meetings().remove(&meeting).is_some();
        if removed && self.replan_due() {
            self.replan();
        }
    }

    /// Whether a changed demand may replan now.
    fn replan_due(&self) -> bool {
        self.current()
            .at
            .is_none_or(|at| at.elapsed() >= REPLAN_ON_CHANGE_EVERY)
    }

    /// A participant was polled successfully `gap` after the previous time.
    pub(crate) fn refreshed(&self, gap: Duration) {
        self.metrics.staleness.observe(gap.as_secs_f64());
    }

    /// Changes when a replan lowered a floor (pressure eased): whoever
    /// sleeps on an interval the old floors stretched looks again.
    pub(crate) fn eased(&self) -> tokio::sync::watch::Receiver<()> {
        self.eased.subscribe()
    }

    /// The plan in force.
    pub fn plan(&self) -> Plan {
        self.current().plan
    }

    /// The requests per second the budget can afford now: what is left
    /// until 00:00 UTC, spread evenly and then shaped by the day's `pace`.
    fn affordable(&self, quota: &QuotaView, pace: f64) -> f64 {
        let own = quota.allowance.saturating_sub(quota.used_today);
        let left = match quota.zoom_remaining {
            // Never more than our share of what the account has left.
            Some(zoom) => f64::from(own).min(f64::from(zoom) * self.daily_share),
            None => f64::from(own),
        };
        let seconds = quota.until_reset.as_secs_f64().max(1.0);
        (quota.rate * RATE_HEADROOM).min(left / seconds * quota.share * pace)
    }

    /// Makes the plan again from what the meetings and the budget say.
    pub fn replan(&self) -> Plan {
        let (demands, oldest) = {
            let meetings = self.meetings();
            let oldest = meetings.values().map(|m| m.oldest_refresh).min();
            let demands: Vec<MeetingDemand> = meetings.values().map(|m| m.demand.clone()).collect();
            (demands, oldest)
        };
        let participants: usize = demands.iter().map(|d| d.members.len()).sum();
        let quota = self.budget.quota();
        // The store's history counts every replica's watches: so does the
        // tally, estimated from this replica's part of the work.
        let pace = self.day_pace(participants as f64 / quota.share.max(0.01));
        let plan = if self.adaptive() {
            plan::solve(
                &demands,
                Limits {
                    rate: self.affordable(&quota, pace),
                    fastest: self.settings.interval.as_secs_f64(),
                    max_calm: self.settings.max_interval.as_secs_f64(),
                    max_staleness: self.settings.max_staleness.as_secs_f64(),
                },
            )
        } else {
            // Fixed: no floors, whatever the day holds.
            let demand = plan::demand(&demands, Floors::NONE);
            Plan {
                floors: Floors::NONE,
                demand,
                planned: demand,
                staleness_bound: self.settings.interval.as_secs_f64(),
            }
        };
        let before = std::mem::replace(
            &mut *self.current(),
            Current {
                plan,
                pace,
                quota: Some(quota),
                at: Some(Instant::now()),
                oldest_refresh: oldest,
                meetings: demands.len(),
                participants,
            },
        )
        .plan
        .floors;
        self.metrics.show(&self.status());
        // After the new floors are in force, so that those woken see them.
        if plan.floors.eased_from(before) {
            self.eased.send_replace(());
        }
        plan
    }

    /// The interval of an urgent and of a settled calm participant.
    fn effective_intervals(&self, plan: &Plan) -> (f64, f64) {
        let urgent = plan
            .floors
            .apply(self.settings.interval.as_secs_f64(), true);
        let settled = self.fastest().as_secs_f64();
        (
            urgent.min(86_400.0),
            plan.floors.apply(settled, false).min(86_400.0),
        )
    }

    /// The plan and the day's figures as of the last replan.
    pub fn status(&self) -> PlanStatus {
        let current = *self.current();
        let quota = current.quota.unwrap_or_else(|| self.budget.quota());
        let plan = current.plan;
        let (urgent, calm) = self.effective_intervals(&plan);
        PlanStatus {
            used_today: quota.used_today,
            allowance_today: quota.allowance,
            zoom_remaining: quota.zoom_remaining,
            forecast_today: forecast(&plan, &quota, current.pace) as u64,
            urgent_interval_s: urgent,
            calm_interval_s: calm,
            demand_per_s: plan.demand,
            planned_per_s: plan.planned,
            staleness_bound_s: plan.staleness_bound.min(86_400.0),
            staleness_max_s: current
                .oldest_refresh
                .map_or(0.0, |t| t.elapsed().as_secs_f64()),
            meetings: current.meetings,
            participants: current.participants,
            day_pace: current.pace,
        }
    }

    /// The status line's words.
    fn log_plan(&self) {
        if self.current().quota.is_none() {
            return;
        }
        let PlanStatus {
            used_today,
            allowance_today,
            zoom_remaining,
            forecast_today,
            urgent_interval_s,
            calm_interval_s,
            demand_per_s,
            planned_per_s,
            staleness_bound_s,
            meetings,
            participants,
            ..
        } = self.status();
        let (urgent, calm) = (
            urgent_interval_s.round() as u64,
            calm_interval_s.round() as u64,
        );
        tracing::info!(
            used_today,
            allowance = allowance_today,
            zoom_remaining,
            forecast_by_midnight = forecast_today,
            meetings,
            participants,
            demand_per_min = format!("{:.1}", demand_per_s * 60.0),
            planned_per_min = format!("{:.1}", planned_per_s * 60.0),
            urgent_interval_s = urgent,
            calm_interval_s = calm,
            staleness_bound_s = staleness_bound_s.round() as u64,
            "Zoom budget: {used_today} of {allowance_today} requests used today, \
             {forecast_today} by 00:00 UTC at this pace; {participants} participants in \
             {meetings} meetings polled every {urgent}s (urgent) to {calm}s (calm)",
        );
    }

    /// Replans every couple of seconds and logs the plan every five minutes,
    /// until cancelled.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let mut replan = tokio::time::interval(REPLAN_EVERY);
        replan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_log = Instant::now() + LOG_EVERY;
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = replan.tick() => {}
            }
            self.replan();
            if Instant::now() >= next_log {
                next_log = Instant::now() + LOG_EVERY;
                self.log_plan();
            }
        }
    }
}

/// Requests counted by 00:00 UTC if the plan holds: the planned rate over
/// the rest of the day, unshaped by the current hour's `pace` (a busy hour
/// spends faster than the day's average, a quiet one slower).
fn forecast(plan: &Plan, quota: &QuotaView, pace: f64) -> f64 {
    let pace = if pace > 0.0 { pace } else { 1.0 };
    f64::from(quota.used_today) + plan.planned / pace * quota.until_reset.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planner(settings: PlanSettings, daily_share: f64) -> Planner {
        let mut registry = Registry::default();
        let budget = Arc::new(Budget::new(10, 1000, &mut registry));
        Planner::new(settings, daily_share, budget, &mut registry)
    }

    pub(crate) fn settings() -> PlanSettings {
        PlanSettings {
            mode: PollingMode::Adaptive,
            interval: Duration::from_secs(60),
            max_interval: Duration::from_secs(300),
            max_staleness: Duration::from_secs(900),
        }
    }

    fn quota(used: u32, zoom_remaining: Option<u32>, until_reset: u64, rate: f64) -> QuotaView {
        QuotaView {
            used_today: used,
            allowance: 1000,
            zoom_remaining,
            until_reset: Duration::from_secs(until_reset),
            rate,
            share: 1.0,
        }
    }

    /// A budget of 10 a second and `daily` a day whose quota clock reads
    /// `at` now and runs `speed` times real time.
    fn budget_at(
        at: DateTime<Utc>,
        speed: u32,
        daily: u32,
        registry: &mut Registry,
    ) -> Arc<Budget> {
        let clock = crate::quota::budget::QuotaClock::Accelerated {
            at,
            since: Instant::now(),
            speed,
        };
        Arc::new(Budget::new(10, daily, registry).with_clock(clock))
    }

    /// A planner with 1000 requests for the day, at 08:00 UTC.
    fn morning_planner() -> Planner {
        let mut registry = Registry::default();
        let at = "2026-03-02T08:00:00Z".parse().expect("time");
        let budget = budget_at(at, 1, 1000, &mut registry);
        Planner::new(settings(), 1.0, budget, &mut registry)
    }

    #[test]
    fn everybody_wants_the_fastest_interval_and_gets_it_while_the_day_affords_it() {
        let mut registry = Registry::default();
        // Plenty for the day at any hour.
        let budget = Arc::new(Budget::new(10, 1_000_000, &mut registry));
        let planner = Planner::new(settings(), 1.0, budget, &mut registry);
        assert_eq!(planner.fastest(), Duration::from_secs(60));
        for meeting in 0..10 {
            planner.publish(
                meeting,
                MeetingDemand {
                    members: vec![(60.0, false); 3],
                    pages: Some(1),
                },
                Instant::now(),
            );
        }
        let plan = planner.replan();
        assert_eq!(plan.floors, Floors::NONE, "no pressure, no stretch");
        assert_eq!(
            planner.interval(planner.fastest(), false),
            Duration::from_secs(60),
            "a calm participant is polled every interval"
        );
        let status = planner.status();
        assert_eq!(
            (status.urgent_interval_s, status.calm_interval_s),
            (60.0, 60.0)
        );
        assert_eq!(status.staleness_bound_s, 60.0);
    }

    #[test]
    fn the_affordable_rate_spreads_what_is_left_over_the_day_within_the_rate() {
        let planner = planner(settings(), 0.5);
        // 600 left over 600 s: 1 a second, under 90 % of 10.
        assert!((planner.affordable(&quota(400, None, 600, 10.0), 1.0) - 1.0).abs() < 1e-9);
        // The per-second share binds: 90 % of 2.
        assert!((planner.affordable(&quota(0, None, 10, 2.0), 1.0) - 1.8).abs() < 1e-9);
        // Zoom says the account has 400 left: half of it is ours.
        assert!((planner.affordable(&quota(0, Some(400), 100, 10.0), 1.0) - 2.0).abs() < 1e-9);
        // Zoom's figure is larger than ours: ours binds.
        assert!((planner.affordable(&quota(900, Some(5000), 100, 10.0), 1.0) - 1.0).abs() < 1e-9);
        // Used up: nothing.
        assert_eq!(planner.affordable(&quota(1000, None, 100, 10.0), 1.0), 0.0);
        // A busy hour ahead of a quiet rest of the day: three times the
        // flat pace, still within the per-second share.
        assert!((planner.affordable(&quota(400, None, 600, 10.0), 3.0) - 3.0).abs() < 1e-9);
        assert!((planner.affordable(&quota(400, None, 600, 10.0), 20.0) - 9.0).abs() < 1e-9);
        // Less than a second to midnight counts as one second.
        assert!((planner.affordable(&quota(999, None, 0, 10.0), 1.0) - 1.0).abs() < 1e-9);
        // One replica of four: a quarter of what is left, all replicas'
        // use counted.
        let shared = QuotaView {
            share: 0.25,
            ..quota(400, None, 600, 10.0)
        };
        assert!((planner.affordable(&shared, 1.0) - 0.25).abs() < 1e-9);
    }

    #[test]
    fn the_forecast_adds_the_planned_rate_until_midnight() {
        let plan = Plan {
            floors: Floors::NONE,
            demand: 3.0,
            planned: 0.5,
            staleness_bound: 900.0,
        };
        assert_eq!(forecast(&plan, &quota(100, None, 600, 10.0), 1.0), 400.0);
    }

    #[test]
    fn a_changed_demand_replans_at_once_and_floors_reach_the_intervals() {
        let planner = morning_planner();
        assert_eq!(planner.plan().floors, Floors::NONE);
        // 10 one-person meetings at 60 s want 10/60 a second; the day has
        // 1000 requests from 08:00, 1/57.6 a second: the calm stretch to
        // max_interval (300 s), then on to 576 s, under the 900 s cap; with
        // nobody urgent the urgent floor stays at the fastest.
        let start = Instant::now();
        for meeting in 0..10 {
            planner.publish(
                meeting,
                MeetingDemand {
                    members: vec![(60.0, false)],
                    pages: Some(1),
                },
                start,
            );
        }
        // The first publish replanned at once; the others within the same
        // second wait for the periodic replan.
        assert!((planner.plan().demand - 1.0 / 60.0).abs() < 1e-9);
        planner.replan();
        let plan = planner.plan();
        assert!((plan.demand - 10.0 / 60.0).abs() < 1e-9);
        assert!((plan.floors.calm - 576.0).abs() < 1.0, "{plan:?}");
        assert!(plan.floors.urgent <= 60.0, "{plan:?}");
        assert!(planner.interval(Duration::from_secs(60), false) > Duration::from_secs(60));
        assert_eq!(
            planner.interval(Duration::from_secs(60), true),
            Duration::from_secs(60),
            "the urgent keep their pace while the calm can stretch"
        );
        let status = planner.status();
        assert_eq!((status.meetings, status.participants), (10, 10));
        assert_eq!(status.allowance_today, 1000);
        assert_eq!(status.urgent_interval_s, 60.0);
        assert!((status.calm_interval_s - 576.0).abs() < 1.0, "{status:?}");
        assert!(status.forecast_today <= 1000, "{status:?}");
        assert!((status.demand_per_s - 10.0 / 60.0).abs() < 1e-9);
        assert!(status.planned_per_s <= 1.0 / 57.6 + 1e-9);
        assert!(status.staleness_max_s >= 0.0 && status.staleness_bound_s >= 576.0);
        planner.withdraw(7);
        assert_eq!(planner.meetings().len(), 9);
    }

    #[tokio::test(start_paused = true)]
    async fn a_replan_that_lowers_a_floor_tells_the_sleepers_and_one_that_raises_it_not() {
        let planner = morning_planner();
        let mut eased = planner.eased();
        let calm = MeetingDemand {
            members: vec![(60.0, false)],
            pages: Some(1),
        };
        // Ten calm one-person meetings: the calm stretch (1000 requests
        // left for the day).
        for meeting in 0..10 {
            planner.publish(meeting, calm.clone(), Instant::now());
        }
        let stretched = planner.replan().floors;
        assert!(stretched.calm > 60.0, "{stretched:?}");
        assert!(
            !eased.has_changed().expect("open"),
            "a stretch wakes nobody"
        );
        // Nine end: the first end replans at once, and the sleepers are told.
        tokio::time::advance(REPLAN_ON_CHANGE_EVERY).await;
        for meeting in 1..10 {
            planner.withdraw(meeting);
        }
        let first_end = planner.plan().floors;
        assert!(first_end.calm < stretched.calm, "{first_end:?}");
        assert!(
            first_end.calm > 60.0,
            "planned once, for nine, in the second: {first_end:?}"
        );
        assert!(eased.has_changed().expect("open"), "the sleepers are told");
        // A meeting unknown to the plan changes nothing: no replan.
        tokio::time::advance(REPLAN_ON_CHANGE_EVERY).await;
        let planned_at = planner.current().at;
        planner.withdraw(99);
        assert_eq!(planner.current().at, planned_at);
        // One calm person alone is polled at the fastest pace.
        assert_eq!(planner.replan().floors, Floors::NONE);
        eased.borrow_and_update();
        // The same plan again tells nobody.
        planner.replan();
        assert!(!eased.has_changed().expect("open"));
        // Pressure again: raised floors wake nobody.
        for meeting in 1..10 {
            planner.publish(meeting, calm.clone(), Instant::now());
        }
        assert!(planner.replan().floors.calm > 60.0);
        assert!(!eased.has_changed().expect("open"));
    }

    #[test]
    fn the_stored_history_lets_a_busy_hour_spend_more_than_the_flat_pace() {
        let today: DateTime<Utc> = "2026-11-25T10:00:00Z".parse().expect("time");
        let week_ago = today - chrono::TimeDelta::days(7);
        let spans = vec![(week_ago, week_ago + chrono::TimeDelta::hours(1)); 100];
        let plan_for = |history: Option<&[(DateTime<Utc>, DateTime<Utc>)]>| {
            let mut registry = Registry::default();
            let budget = budget_at(today, 1, 14_000, &mut registry);
            let mut planner = Planner::new(settings(), 1.0, budget, &mut registry);
            if let Some(history) = history {
                planner = planner.with_history(history, Duration::from_secs(8 * 86_400));
            }
            for meeting in 0..30 {
                planner.publish(
                    meeting,
                    MeetingDemand {
                        members: vec![(60.0, false)],
                        pages: Some(1),
                    },
                    Instant::now(),
                );
            }
            (planner.replan(), planner.status())
        };
        // Flat: 14,000 over the 14 h left, 0.28 a second for 30 people who
        // want 0.5: the calm stretch to 108 s.
        let (flat, status) = plan_for(None);
        assert!((flat.floors.calm - 108.0).abs() < 0.5, "{flat:?}");
        assert_eq!(status.day_pace, 1.0);
        // Shaped: this hour was the day's only demand a week ago: 13.9 times
        // the flat pace, enough for everybody at the fastest interval.
        let (shaped, status) = plan_for(Some(&spans));
        assert_eq!(shaped.floors, Floors::NONE, "{shaped:?}");
        assert!((status.day_pace - 13.9).abs() < 0.1, "{status:?}");
        // The forecast by midnight stays within the day.
        assert!(status.forecast_today <= 14_000, "{status:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_planner_tallies_what_the_cluster_watches_into_the_history() {
        let mut registry = Registry::default();
        // One quota-clock hour per real minute.
        let budget = budget_at(
            "2026-11-25T09:00:00Z".parse().expect("time"),
            60,
            1_000_000,
            &mut registry,
        );
        // One of two replicas, with half the work: it counts for both.
        budget.share(2, 0, None);
        budget.follow_work(0.5);
        let planner = Planner::new(settings(), 1.0, budget, &mut registry);
        planner.publish(
            1,
            MeetingDemand {
                members: vec![(60.0, false); 10],
                pages: Some(1),
            },
            Instant::now(),
        );
        planner.replan();
        assert_eq!(planner.tally().history.total_minutes(), 0.0);
        tokio::time::advance(Duration::from_secs(30)).await;
        planner.replan();
        // Half an hour of 10 participants here, 20 in the cluster.
        let minutes = planner.tally().history.total_minutes();
        assert!((minutes - 600.0).abs() < 1.0, "{minutes}");
    }

    /// The registry's text exposition.
    fn exposition(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).expect("encodes");
        text
    }

    #[tokio::test(start_paused = true)]
    async fn a_changed_demand_replans_once_a_second_at_most_and_an_unchanged_one_not() {
        let planner = planner(settings(), 1.0);
        let demand = |n: usize| MeetingDemand {
            members: vec![(60.0, false); n],
            pages: None,
        };
        planner.publish(1, demand(1), Instant::now());
        assert!((planner.plan().demand - 1.0 / 60.0).abs() < 1e-9);
        // Within the second: no replan.
        planner.publish(1, demand(2), Instant::now());
        assert!((planner.plan().demand - 1.0 / 60.0).abs() < 1e-9);
        tokio::time::advance(Duration::from_secs(2)).await;
        planner.publish(1, demand(3), Instant::now());
        assert!(
            (planner.plan().demand - 3.0 / 60.0).abs() < 1e-9,
            "changed: replanned"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        // Unchanged, even a second later: the plan stays as it was made.
        planner.meetings().insert(
            2,
            Published {
                demand: demand(1),
                oldest_refresh: Instant::now(),
            },
        );
        planner.publish(1, demand(3), Instant::now());
        assert!(
            (planner.plan().demand - 3.0 / 60.0).abs() < 1e-9,
            "not replanned"
        );
    }

    #[test]
    fn an_infinite_floor_waits_a_day_at_most() {
        let planner = planner(settings(), 1.0);
        planner.current().plan.floors = Floors {
            urgent: f64::INFINITY,
            calm: f64::INFINITY,
        };
        assert_eq!(
            planner.interval(Duration::from_secs(60), true),
            Duration::from_secs(24 * 3600)
        );
    }

    #[test]
    fn the_metrics_say_what_the_plan_and_the_day_are() {
        let mut registry = Registry::default();
        // Plenty for the day at any hour: no floor.
        let budget = Arc::new(Budget::new(10, 1_000_000, &mut registry));
        let planner = Planner::new(settings(), 1.0, budget.clone(), &mut registry);
        planner.refreshed(Duration::from_secs(45));
        planner.publish(
            1,
            MeetingDemand {
                members: vec![(60.0, true)],
                pages: None,
            },
            Instant::now(),
        );
        let text = exposition(&registry);
        let line = |series: &str| {
            text.lines()
                .find(|l| l.starts_with(series))
                .unwrap_or_else(|| panic!("{series} missing:\n{text}"))
                .to_owned()
        };
        assert_eq!(
            line("qoswatch_poll_staleness_seconds_count{account=\"default\"}"),
            "qoswatch_poll_staleness_seconds_count{account=\"default\"} 1"
        );
        assert_eq!(
            line("qoswatch_zoom_budget_allowance_today{account=\"default\"}"),
            "qoswatch_zoom_budget_allowance_today{account=\"default\"} 1000000"
        );
        assert_eq!(
            line("qoswatch_zoom_budget_zoom_remaining{account=\"default\"}"),
            "qoswatch_zoom_budget_zoom_remaining{account=\"default\"} -1"
        );
        assert!(
            line("qoswatch_poll_interval_seconds{account=\"default\",class=\"urgent\"}")
                .ends_with(" 60.0")
        );
        assert!(
            line("qoswatch_poll_interval_seconds{account=\"default\",class=\"calm\"}")
                .ends_with(" 60.0")
        );
        assert!(
            line("qoswatch_poll_demand_requests_per_second{account=\"default\"}").starts_with(
                "qoswatch_poll_demand_requests_per_second{account=\"default\"} 0.01666"
            )
        );
        budget.observe_zoom_remaining(1234);
        planner.replan();
        let text = exposition(&registry);
        assert!(
            text.contains("qoswatch_zoom_budget_zoom_remaining{account=\"default\"} 1234"),
            "{text}"
        );
    }
}
