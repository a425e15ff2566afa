//! The Zoom budget as the page and `/api/v1/budget` show it. One struct
//! and one function, so that what the budget learns to tell (a forecast,
//! the effective polling interval) is added here and shows up everywhere.

use serde::Serialize;

use crate::zoom::budget::Budget;

/// What the budget says now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetView {
    /// Requests counted against today's quota (UTC day).
    pub used_today: u32,
    /// `zoom.daily_limit`.
    pub daily_limit: u32,
    /// `zoom.requests_per_second`, shared by every watcher.
    pub requests_per_second: u32,
    /// Seconds left of an account-wide pause after a 429, if one is in force.
    pub paused_for_s: Option<f64>,
}

/// The budget's figures and the limits it works under.
#[derive(Debug, Clone)]
pub struct BudgetSource {
    pub budget: std::sync::Arc<Budget>,
    pub daily_limit: u32,
    pub requests_per_second: u32,
}

/// The one place that reads the budget for display.
pub fn budget_view(source: &BudgetSource) -> BudgetView {
    BudgetView {
        used_today: source.budget.used_today(),
        daily_limit: source.daily_limit,
        requests_per_second: source.requests_per_second,
        paused_for_s: source.budget.paused_for().map(|d| d.as_secs_f64()),
    }
}
