//! The webhook endpoint's Prometheus series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// `event` is [`Event::metric_label`]: a fixed set, whatever names signed
/// webhooks carry.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    event: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    reason: &'static str,
}

/// Why parts of a QSS event were not read.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QssIgnoredLabels {
    reason: &'static str,
}

/// Counters of the webhook endpoint.
#[derive(Debug, Clone, Default)]
pub struct WebhookMetrics {
    handled: Family<WebhookLabels, Counter>,
    rejected: Family<RejectLabels, Counter>,
    qss_ignored: Family<QssIgnoredLabels, Counter>,
}

impl WebhookMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "qoswatch_webhooks",
            "Verified webhooks by event and outcome (handled, ignored)",
            metrics.handled.clone(),
        );
        registry.register(
            "qoswatch_webhooks_rejected",
            "Webhooks refused, by reason",
            metrics.rejected.clone(),
        );
        registry.register(
            "qoswatch_qss_ignored",
            "Parts of QSS events not read, by reason (unknown_type: a qos[].type Zoom does not document; unreadable_entry: no date_time, type or details; bad_value: a value without a readable number)",
            metrics.qss_ignored.clone(),
        );
        metrics
    }

    pub(super) fn handled(&self, event: &'static str, outcome: super::WebhookOutcome) {
        self.handled
            .get_or_create(&WebhookLabels {
                event,
                outcome: outcome.label(),
            })
            .inc();
    }

    /// Counts what a QSS event's entries held that was not read.
    pub(super) fn qss_report(&self, report: &qoswatch_core::qos::QssReport) {
        for (reason, count) in [
            ("unknown_type", report.unknown_types),
            ("unreadable_entry", report.unreadable_entries),
            ("bad_value", report.parse.bad_value_count),
        ] {
            if count > 0 {
                self.qss_ignored
                    .get_or_create(&QssIgnoredLabels { reason })
                    .inc_by(count as u64);
            }
        }
    }

    pub(super) fn rejected(&self, reason: &'static str) {
        self.rejected.get_or_create(&RejectLabels { reason }).inc();
    }
}
