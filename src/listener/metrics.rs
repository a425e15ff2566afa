//! The listener's Prometheus series, and the gate that keeps its log lines
//! to one per period under attack. Nothing here names a client: no address,
//! no header, no byte of what a client sent.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::time::Instant;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct PhaseLabel {
    pub(super) phase: &'static str,
}

/// Cheap to clone: every series is shared.
#[derive(Debug, Clone, Default)]
pub(super) struct ListenerMetrics {
    pub(super) accepted: Counter,
    pub(super) open: Gauge,
    pub(super) limit: Gauge,
    pub(super) refused: Counter,
    pub(super) evicted: Counter,
    pub(super) timed_out: Family<PhaseLabel, Counter>,
    pub(super) accept_errors: Counter,
}

impl ListenerMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "qoswatch_http_connections_accepted",
            "Connections taken from the listen queue (refused ones included)",
            metrics.accepted.clone(),
        );
        registry.register(
            "qoswatch_http_connections_open",
            "Connections being served",
            metrics.open.clone(),
        );
        registry.register(
            "qoswatch_http_connections_limit",
            "Most connections served at once: server.max_connections, or less when the open-file limit leaves less room",
            metrics.limit.clone(),
        );
        registry.register(
            "qoswatch_http_connections_refused",
            "New connections answered 503 and closed at once: every slot held by a request in progress",
            metrics.refused.clone(),
        );
        registry.register(
            "qoswatch_http_connections_evicted",
            "Open connections closed to make room for a new one at the connection limit",
            metrics.evicted.clone(),
        );
        registry.register(
            "qoswatch_http_connections_timed_out",
            "Connections closed by a timeout: header (no complete request head within server.header_read_timeout) or idle (no byte either way for server.idle_timeout, no request in progress)",
            metrics.timed_out.clone(),
        );
        registry.register(
            "qoswatch_http_accept_errors",
            "Failed accepts (out of file descriptors, aborted handshakes...)",
            metrics.accept_errors.clone(),
        );
        metrics
    }

    pub(super) fn timed_out(&self, phase: &'static str) {
        self.timed_out.get_or_create(&PhaseLabel { phase }).inc();
    }
}

/// Lets one log line through per `period`, and counts the events it held
/// back so the next line can say how many there were. A flood of hostile
/// connections then costs one line per period and kind, not one each.
#[derive(Debug)]
pub(super) struct LogGate {
    period: Duration,
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    last_line: Option<Instant>,
    held_back: u64,
}

impl LogGate {
    pub(super) fn new(period: Duration) -> Self {
        Self {
            period,
            state: Mutex::new(GateState::default()),
        }
    }

    /// `Some(n)` when a line may be written now, `n` being the events since
    /// the last line (this one included); `None` when it is held back.
    pub(super) fn pass(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.held_back += 1;
        let due = state
            .last_line
            .is_none_or(|last| now.duration_since(last) >= self.period);
        if !due {
            return None;
        }
        state.last_line = Some(now);
        Some(std::mem::take(&mut state.held_back))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_and_the_count_of_what_was_held_back() {
        let gate = LogGate::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(gate.pass(start), Some(1), "the first event is logged");
        for ms in [1, 500, 9_999] {
            assert_eq!(gate.pass(start + Duration::from_millis(ms)), None);
        }
        assert_eq!(
            gate.pass(start + Duration::from_secs(10)),
            Some(4),
            "three held back, plus this one"
        );
        assert_eq!(gate.pass(start + Duration::from_secs(11)), None);
        assert_eq!(gate.pass(start + Duration::from_secs(25)), Some(2));
    }
}
