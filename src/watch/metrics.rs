//! The watchers' Prometheus series. Never labelled by meeting or
//! participant: the only label is the stop reason, a fixed set.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::subject::StopReason;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Cheap to clone: every series is shared.
#[derive(Debug, Clone, Default)]
pub(super) struct WatchMetrics {
    pub(super) active: Gauge,
    pub(super) started: Counter,
    pub(super) duplicates: Counter,
    pub(super) refused: Counter,
    stopped: Family<ReasonLabel, Counter>,
    pub(super) samples: Counter,
    pub(super) samples_dropped: Counter,
    pub(super) bad_values: Counter,
    pub(super) poll_errors: Counter,
    pub(super) polling_disabled: Gauge,
}

impl WatchMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "qoswatch_watchers_active",
            "Participants being watched",
            metrics.active.clone(),
        );
        registry.register(
            "qoswatch_watchers_started",
            "Watches started",
            metrics.started.clone(),
        );
        registry.register(
            "qoswatch_watch_duplicate_starts",
            "participant_joined for an already watched participant",
            metrics.duplicates.clone(),
        );
        registry.register(
            "qoswatch_watch_refused",
            "Watches not started (capacity, polling disabled, shutdown)",
            metrics.refused.clone(),
        );
        registry.register(
            "qoswatch_watchers_stopped",
            "Watches ended, by reason",
            metrics.stopped.clone(),
        );
        registry.register(
            "qoswatch_samples",
            "New QoS samples handed to the rules",
            metrics.samples.clone(),
        );
        registry.register(
            "qoswatch_samples_dropped",
            "QoS samples left out because one answer held more than are taken from it (the oldest)",
            metrics.samples_dropped.clone(),
        );
        registry.register(
            "qoswatch_qos_bad_values",
            "QoS values that could not be parsed (treated as no data)",
            metrics.bad_values.clone(),
        );
        registry.register(
            "qoswatch_polling_disabled",
            "1 while Zoom says the account cannot use the Dashboard API (code 200)",
            metrics.polling_disabled.clone(),
        );
        registry.register(
            "qoswatch_poll_errors",
            "Failed polls (retried with back-off)",
            metrics.poll_errors.clone(),
        );
        metrics
    }

    pub(super) fn stopped(&self, reason: StopReason) {
        self.stopped
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .inc();
    }
}
