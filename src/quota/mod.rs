//! Zoom's quota and how qoswatch spends it: one room for the whole concern.
//!
//! - [`budget`]: the one shared limiter of Zoom requests (even spacing at
//!   N/s, the daily cap on the [`QuotaClock`](budget::QuotaClock), the
//!   account-wide pause on 429, `Retry-After`), and the durable count of
//!   today's use (with several replicas, the use summed over them).
//! - [`plan`] (pure) and [`planner`]: the daily plan, interval floors that
//!   make every meeting's demand fit what the budget has left until
//!   00:00 UTC, and which participants a meeting lists.
//! - [`forecast`] (pure): the day's shape, from the history of demand per
//!   hour of the week; the planner spends in proportion to it.
//! - [`view`]: the budget and the plan as the page and the API show them.

pub mod budget;
pub mod forecast;
pub mod plan;
pub mod planner;
pub mod view;

use std::time::Duration;

use serde::Deserialize;

pub use budget::{Budget, BudgetError, QuotaClock, QuotaView};
pub use planner::{PlanStatus, Planner};

/// The `account` label of the quota's metrics: one of the configured
/// accounts' names (a bounded set).
#[derive(Debug, Clone, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct AccountLabel {
    pub account: String,
}

impl AccountLabel {
    pub fn of(account: &qoswatch_core::alert::Account) -> Self {
        Self {
            account: account.as_str().to_owned(),
        }
    }
}

/// How watches are polled: see `crate::watch::PollingSettings::mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PollingMode {
    #[default]
    Adaptive,
    Fixed,
}

/// What the daily plan needs of `polling:` (the watches' settings,
/// `crate::watch::PollingSettings::plan`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanSettings {
    pub mode: PollingMode,
    /// The fastest interval (urgent participants).
    pub interval: Duration,
    /// Under pressure, how far a calm participant stretches first.
    pub max_interval: Duration,
    /// How far intervals stretch under pressure before everybody stretches.
    pub max_staleness: Duration,
}
