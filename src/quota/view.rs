//! The Zoom budget as the page and `/api/v1/budget` show it. One struct
//! and one function: what the budget and the daily plan tell is added here
//! and shows up everywhere.

use std::sync::Arc;

use serde::Serialize;

use crate::quota::Planner;
use crate::quota::budget::Budget;

/// What the budget and the plan say now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetView {
    /// The account whose quota this is.
    pub account: String,
    /// Requests counted against today's quota (UTC day).
    pub used_today: u32,
    /// What qoswatch may use today: `zoom.daily_limit x zoom.daily_share`.
    pub allowance_today: u32,
    /// `zoom.daily_limit`: the account's quota, shared with other apps.
    pub daily_limit: u32,
    /// `zoom.requests_per_second`: the account's per-second limit.
    pub requests_per_second: u32,
    /// Seconds left of an account-wide pause after a 429, if one is in force.
    pub paused_for_s: Option<f64>,
    /// What Zoom last said is left of the account's quota today.
    pub zoom_remaining: Option<u32>,
    /// Requests by 00:00 UTC if the plan holds.
    pub forecast_today: u64,
    /// The polling interval of a participant that needs attention, and of
    /// a settled healthy one, in seconds.
    pub urgent_interval_s: f64,
    pub calm_interval_s: f64,
    /// Requests a minute the watched meetings want, and the plan allows.
    pub demand_per_min: f64,
    pub planned_per_min: f64,
    /// The plan's bound on the time between two polls of anybody, and the
    /// longest anybody has waited now, in seconds.
    pub staleness_bound_s: f64,
    pub staleness_max_s: f64,
}

/// The budget, the plan, and the limits they work under.
#[derive(Debug, Clone)]
pub struct BudgetSource {
    pub budget: Arc<Budget>,
    pub planner: Arc<Planner>,
    pub daily_limit: u32,
    pub requests_per_second: u32,
}

/// The one place that reads the budget and the plan for display.
pub fn budget_view(source: &BudgetSource) -> BudgetView {
    let plan = source.planner.status();
    BudgetView {
        account: source.budget.account().as_str().to_owned(),
        used_today: source.budget.used_today(),
        allowance_today: plan.allowance_today,
        daily_limit: source.daily_limit,
        requests_per_second: source.requests_per_second,
        paused_for_s: source.budget.paused_for().map(|d| d.as_secs_f64()),
        zoom_remaining: plan.zoom_remaining,
        forecast_today: plan.forecast_today,
        urgent_interval_s: plan.urgent_interval_s,
        calm_interval_s: plan.calm_interval_s,
        demand_per_min: plan.demand_per_s * 60.0,
        planned_per_min: plan.planned_per_s * 60.0,
        staleness_bound_s: plan.staleness_bound_s,
        staleness_max_s: plan.staleness_max_s,
    }
}
