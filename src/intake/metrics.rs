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

/// Every `reason` label of `qoswatch_webhooks_rejected`.
pub(super) const REJECT_REASONS: [&str; 3] = ["signature", "invalid_field", "payload"];

/// Counters of the webhook endpoint.
#[derive(Debug, Clone, Default)]
pub struct WebhookMetrics {
    handled: Family<WebhookLabels, Counter>,
    rejected: Family<RejectLabels, Counter>,
}

impl WebhookMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        // Every reason scraped from the start, at 0: an alert on
        // `increase(qoswatch_webhooks_rejected_total[…])` then sees the
        // first refusals too.
        for reason in REJECT_REASONS {
            metrics.rejected.get_or_create(&RejectLabels { reason }).inc_by(0);
        }
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

    pub(super) fn rejected(&self, reason: &'static str) {
        self.rejected.get_or_create(&RejectLabels { reason }).inc();
    }
}
