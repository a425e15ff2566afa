//! The webhook endpoint's Prometheus series, and the throttle of its
//! rejection log: every rejection is counted, and logged at most once a
//! minute per kind of problem.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::time::Instant;

use crate::logging::LogEveryPer;
use qoswatch_core::alert::Account;

/// At most one log line per kind of rejection in this period; each line
/// counts the rejections of its kind since the last.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// `event` is [`Event::metric_label`]: a fixed set, whatever names signed
/// webhooks carry.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    event: &'static str,
    outcome: &'static str,
}

/// `account`: the configured account the webhook came for; empty (no
/// label) for an account not configured. A bounded set.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    account: String,
    reason: &'static str,
}

/// Why parts of a QSS event were not read.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QssIgnoredLabels {
    reason: &'static str,
}

/// Every `reason` label of `qoswatch_qss_ignored`.
const QSS_IGNORED_REASONS: [&str; 3] = ["unknown_type", "unreadable_entry", "bad_value"];

/// Every `reason` label of `qoswatch_webhooks_rejected`.
pub(super) const REJECT_REASONS: [&str; 7] = [
    "signature",
    "account",
    "invalid_field",
    "payload",
    "too_large",
    "unread",
    "timeout",
];

/// Counters of the webhook endpoint.
#[derive(Debug, Clone)]
pub struct WebhookMetrics {
    handled: Family<WebhookLabels, Counter>,
    rejected: Family<RejectLabels, Counter>,
    qss_ignored: Family<QssIgnoredLabels, Counter>,
    /// Keyed by the kind of problem (finer than the metric's `reason`:
    /// a stale timestamp and a wrong signature have lines of their own).
    rejection_log: Arc<LogEveryPer<&'static str>>,
}

impl Default for WebhookMetrics {
    fn default() -> Self {
        Self {
            handled: Family::default(),
            rejected: Family::default(),
            qss_ignored: Family::default(),
            rejection_log: Arc::new(LogEveryPer::new(LOG_EVERY)),
        }
    }
}

impl WebhookMetrics {
    /// The metrics of the webhooks for `accounts` (the configured names).
    pub fn new(registry: &mut Registry, accounts: &[Account]) -> Self {
        let metrics = Self::default();
        // Every reason of every account scraped from the start, at 0: an
        // alert on `increase(qoswatch_webhooks_rejected_total[…])` then
        // sees the first refusals too.
        for reason in QSS_IGNORED_REASONS {
            metrics
                .qss_ignored
                .get_or_create(&QssIgnoredLabels { reason })
                .inc_by(0);
        }
        for account in accounts {
            for reason in REJECT_REASONS {
                metrics
                    .rejected
                    .get_or_create(&RejectLabels {
                        account: account.as_str().to_owned(),
                        reason,
                    })
                    .inc_by(0);
            }
        }
        registry.register(
            "qoswatch_webhooks",
            "Verified webhooks by event and outcome (handled, ignored)",
            metrics.handled.clone(),
        );
        registry.register(
            "qoswatch_webhooks_rejected",
            "Webhooks refused, by account (none: an account not configured) and reason: signature (401), account (404 for an account not configured, 400 for an event of another account), payload or invalid_field (400, signed but unreadable), too_large (413), unread (400, the body could not be read), timeout (408)",
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
        let [unknown, unreadable, bad] = QSS_IGNORED_REASONS;
        for (reason, count) in [
            (unknown, report.unknown_types),
            (unreadable, report.unreadable_entries),
            (bad, report.parse.bad_value_count),
        ] {
            if count > 0 {
                self.qss_ignored
                    .get_or_create(&QssIgnoredLabels { reason })
                    .inc_by(count as u64);
            }
        }
    }

    /// Counts a rejection under the metric's `reason`; returns whether to
    /// log it (`Some(n)`: `n` rejections of this `problem` went unlogged
    /// since its last line).
    pub(super) fn rejected(
        &self,
        account: Option<&Account>,
        reason: &'static str,
        problem: &'static str,
    ) -> Option<u64> {
        // A reason missing from the list would be invisible until its first
        // rejection (and `increase()` would miss that one).
        debug_assert!(REJECT_REASONS.contains(&reason), "unlisted reason {reason}");
        let account = account.map(|a| a.as_str().to_owned()).unwrap_or_default();
        self.rejected
            .get_or_create(&RejectLabels { account, reason })
            .inc();
        self.rejection_log.occurred(problem, Instant::now())
    }
}
