//! The plan's metrics: one family per figure, registered once and
//! labelled by account; each account's planner shows its own series.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use qoswatch_core::alert::Account;

use super::PlanStatus;
use crate::quota::AccountLabel;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabel {
    account: String,
    class: &'static str,
}

/// One account's series of the plan's metrics.
#[derive(Debug, Clone)]
pub(super) struct PlanMetrics {
    account: String,
    used_today: Gauge,
    allowance: Gauge,
    forecast: Gauge,
    zoom_remaining: Gauge,
    demand: Gauge<f64, AtomicU64>,
    planned: Gauge<f64, AtomicU64>,
    staleness_max: Gauge<f64, AtomicU64>,
    staleness_bound: Gauge<f64, AtomicU64>,
    day_pace: Gauge<f64, AtomicU64>,
    interval: Family<ClassLabel, Gauge<f64, AtomicU64>>,
    pub(super) staleness: Histogram,
}

impl PlanMetrics {
    /// The interval gauge of `class` (`urgent`, `calm`).
    fn interval(&self, class: &'static str) -> Gauge<f64, AtomicU64> {
        self.interval
            .get_or_create(&ClassLabel {
                account: self.account.clone(),
                class,
            })
            .clone()
    }

    /// The gauges, from the same figures the status page shows.
    pub(super) fn show(&self, status: &PlanStatus) {
        self.used_today.set(i64::from(status.used_today));
        self.allowance.set(i64::from(status.allowance_today));
        self.forecast.set(status.forecast_today as i64);
        self.zoom_remaining
            .set(status.zoom_remaining.map_or(-1, i64::from));
        self.demand.set(status.demand_per_s);
        self.planned.set(status.planned_per_s);
        self.interval("urgent").set(status.urgent_interval_s);
        self.interval("calm").set(status.calm_interval_s);
        self.staleness_max.set(status.staleness_max_s);
        self.staleness_bound.set(status.staleness_bound_s);
        self.day_pace.set(status.day_pace);
    }
}

type StalenessFamily = Family<AccountLabel, Histogram, fn() -> Histogram>;

fn staleness_histogram() -> Histogram {
    Histogram::new([
        30.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
    ])
}

/// The plan's metric families, registered once and labelled by account
/// (each account has its own plan).
#[derive(Debug, Clone)]
pub struct PlanFamilies {
    used_today: Family<AccountLabel, Gauge>,
    allowance: Family<AccountLabel, Gauge>,
    forecast: Family<AccountLabel, Gauge>,
    zoom_remaining: Family<AccountLabel, Gauge>,
    demand: Family<AccountLabel, Gauge<f64, AtomicU64>>,
    planned: Family<AccountLabel, Gauge<f64, AtomicU64>>,
    staleness_max: Family<AccountLabel, Gauge<f64, AtomicU64>>,
    staleness_bound: Family<AccountLabel, Gauge<f64, AtomicU64>>,
    day_pace: Family<AccountLabel, Gauge<f64, AtomicU64>>,
    interval: Family<ClassLabel, Gauge<f64, AtomicU64>>,
    staleness: StalenessFamily,
}

impl PlanFamilies {
    pub fn register(registry: &mut Registry) -> Self {
        let families = Self {
            used_today: Family::default(),
            allowance: Family::default(),
            forecast: Family::default(),
            zoom_remaining: Family::default(),
            demand: Family::default(),
            planned: Family::default(),
            staleness_max: Family::default(),
            staleness_bound: Family::default(),
            day_pace: Family::default(),
            interval: Family::default(),
            staleness: Family::new_with_constructor(staleness_histogram),
        };
        registry.register(
            "qoswatch_zoom_budget_day_pace",
            "How much faster than an even spread of what is left until 00:00 UTC the plan spends now, from the day's forecast demand (1: flat or no history)",
            families.day_pace.clone(),
        );
        registry.register(
            "qoswatch_zoom_budget_used_today",
            "QoS requests counted against today's quota (UTC day)",
            families.used_today.clone(),
        );
        registry.register(
            "qoswatch_zoom_budget_allowance_today",
            "QoS requests qoswatch may make today (zoom.daily_limit x zoom.daily_share)",
            families.allowance.clone(),
        );
        registry.register(
            "qoswatch_zoom_budget_forecast_today",
            "QoS requests today by 00:00 UTC if the current plan holds",
            families.forecast.clone(),
        );
        registry.register(
            "qoswatch_zoom_budget_zoom_remaining",
            "What Zoom last said is left of the account's daily quota (X-RateLimit-Remaining); -1 when it has not said",
            families.zoom_remaining.clone(),
        );
        registry.register(
            "qoswatch_poll_demand_requests_per_second",
            "QoS requests per second every watched meeting would make without the plan's floors",
            families.demand.clone(),
        );
        registry.register(
            "qoswatch_poll_planned_requests_per_second",
            "QoS requests per second under the plan",
            families.planned.clone(),
        );
        registry.register(
            "qoswatch_poll_interval_seconds",
            "Effective polling interval: urgent (alert firing or pending, value near a threshold, new joiner) and calm (stable and healthy)",
            families.interval.clone(),
        );
        registry.register(
            "qoswatch_poll_staleness_max_seconds",
            "Longest time any watched participant has gone without a successful poll",
            families.staleness_max.clone(),
        );
        registry.register(
            "qoswatch_poll_staleness_bound_seconds",
            "The plan's bound on the time between two polls of any participant",
            families.staleness_bound.clone(),
        );
        registry.register(
            "qoswatch_poll_staleness_seconds",
            "Time between two successful polls of a participant",
            families.staleness.clone(),
        );
        families
    }

    /// One account's series, created at 0.
    pub(super) fn of(&self, account: &Account) -> PlanMetrics {
        let label = AccountLabel::of(account);
        PlanMetrics {
            account: label.account.clone(),
            used_today: self.used_today.get_or_create(&label).clone(),
            allowance: self.allowance.get_or_create(&label).clone(),
            forecast: self.forecast.get_or_create(&label).clone(),
            zoom_remaining: self.zoom_remaining.get_or_create(&label).clone(),
            demand: self.demand.get_or_create(&label).clone(),
            planned: self.planned.get_or_create(&label).clone(),
            staleness_max: self.staleness_max.get_or_create(&label).clone(),
            staleness_bound: self.staleness_bound.get_or_create(&label).clone(),
            day_pace: self.day_pace.get_or_create(&label).clone(),
            interval: self.interval.clone(),
            staleness: self.staleness.get_or_create(&label).clone(),
        }
    }
}
