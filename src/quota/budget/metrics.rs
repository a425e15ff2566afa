//! The budget's metrics: one family each, labelled by account.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use qoswatch_core::alert::Account;
use std::sync::atomic::AtomicU64;

use crate::quota::AccountLabel;

#[derive(Debug, Clone, Default)]
pub(super) struct BudgetMetrics {
    pub(super) requests: Counter,
    pub(super) rate_limited: Counter,
    pub(super) paused: Gauge,
    pub(super) rate: Gauge<f64, AtomicU64>,
}

/// The budget's metric families, registered once and labelled by account
/// (each account has its own budget: Zoom's limits are per account).
#[derive(Debug, Clone, Default)]
pub struct BudgetFamilies {
    requests: Family<AccountLabel, Counter>,
    rate_limited: Family<AccountLabel, Counter>,
    paused: Family<AccountLabel, Gauge>,
    rate: Family<AccountLabel, Gauge<f64, AtomicU64>>,
}

impl BudgetFamilies {
    pub fn register(registry: &mut Registry) -> Self {
        let families = Self::default();
        registry.register(
            "qoswatch_zoom_requests",
            "Requests sent to Zoom's QoS endpoints",
            families.requests.clone(),
        );
        registry.register(
            "qoswatch_zoom_rate_limited",
            "429 answers from Zoom",
            families.rate_limited.clone(),
        );
        registry.register(
            "qoswatch_zoom_paused",
            "1 while every watcher of the account waits out a Zoom rate limit",
            families.paused.clone(),
        );
        registry.register(
            "qoswatch_zoom_rate_per_second",
            "Requests a second this replica spaces the account's Zoom requests at: its part of the rate (with replicas, granted by the heartbeat in proportion to the watches each holds)",
            families.rate.clone(),
        );
        families
    }

    /// One account's series, created at 0.
    pub(super) fn of(&self, account: &Account) -> BudgetMetrics {
        let label = AccountLabel::of(account);
        BudgetMetrics {
            requests: self.requests.get_or_create(&label).clone(),
            rate_limited: self.rate_limited.get_or_create(&label).clone(),
            paused: self.paused.get_or_create(&label).clone(),
            rate: self.rate.get_or_create(&label).clone(),
        }
    }
}
