//! Delivery metrics, labelled by channel kind only (never by meeting or
//! participant: that would be personal data and unbounded cardinality).

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The kind of a channel, as its metrics label (`slack`, `email`,
/// `console`). Each channel kind's file declares its own constant, so a new
/// kind needs no edit here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelKind(&'static str);

impl ChannelKind {
    /// A kind labelled `label`: lower case, fixed, never personal data.
    pub const fn new(label: &'static str) -> Self {
        ChannelKind(label)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl EncodeLabelValue for ChannelKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: ChannelKind,
}

/// Counters of the notification pipeline.
#[derive(Debug, Clone, Default)]
pub struct NotifyMetrics {
    /// Messages delivered.
    pub sent: Family<KindLabels, Counter>,
    /// Messages given up on (permanent error, attempts or age exhausted, shutdown).
    pub failed: Family<KindLabels, Counter>,
    /// Delivery attempts that failed transiently and were scheduled again.
    pub retried: Family<KindLabels, Counter>,
    /// Alert events routed to a channel name that is not defined.
    pub unknown_channel: Counter,
    /// Alert events that arrived after the dispatcher stopped.
    pub dropped_after_shutdown: Counter,
    /// Alert notifications (one per event and channel) accepted and not yet
    /// delivered or given up on: the depth of the outbox and grouping windows.
    pub pending: Gauge,
    /// Alert events not sent because a silence covered them.
    pub silenced: Counter,
}

impl NotifyMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = NotifyMetrics::default();
        let registry = registry.sub_registry_with_prefix("qoswatch_notify");
        registry.register(
            "messages_sent",
            "Notification messages delivered, by channel kind",
            metrics.sent.clone(),
        );
        registry.register(
            "messages_failed",
            "Notification messages given up on, by channel kind",
            metrics.failed.clone(),
        );
        registry.register(
            "messages_retried",
            "Delivery attempts that failed transiently and were retried, by channel kind",
            metrics.retried.clone(),
        );
        registry.register(
            "unknown_channel",
            "Alert events routed to a channel name that is not defined",
            metrics.unknown_channel.clone(),
        );
        registry.register(
            "dropped_after_shutdown",
            "Alert events received after the dispatcher stopped",
            metrics.dropped_after_shutdown.clone(),
        );
        registry.register(
            "pending",
            "Alert notifications (per event and channel) waiting in grouping windows or the outbox",
            metrics.pending.clone(),
        );
        registry.register(
            "silenced",
            "Alert events tracked but not sent because a silence covered them",
            metrics.silenced.clone(),
        );
        metrics
    }

    /// Creates the per-kind series at 0 for a channel that exists, so that
    /// they are scraped before the first message: `increase()` and
    /// `rate()` then see the first failure too, not only the second.
    pub fn announce(&self, kind: ChannelKind) {
        let labels = KindLabels { kind };
        self.sent.get_or_create(&labels).inc_by(0);
        self.failed.get_or_create(&labels).inc_by(0);
        self.retried.get_or_create(&labels).inc_by(0);
    }

    pub fn sent(&self, kind: ChannelKind) {
        self.sent.get_or_create(&KindLabels { kind }).inc();
    }

    pub fn failed(&self, kind: ChannelKind) {
        self.failed.get_or_create(&KindLabels { kind }).inc();
    }

    pub fn retried(&self, kind: ChannelKind) {
        self.retried.get_or_create(&KindLabels { kind }).inc();
    }
}
