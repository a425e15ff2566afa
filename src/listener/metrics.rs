//! The listener's Prometheus series. Nothing here names a client: no
//! address, no header, no byte of what a client sent.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

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
    pub(super) tls_handshake_failures: Counter,
}

impl ListenerMetrics {
    pub(super) fn register(registry: &mut Registry, prefix: &str) -> Self {
        let metrics = Self::default();
        registry.register(
            format!("{prefix}_connections_accepted"),
            "Connections taken from the listen queue (refused ones included)",
            metrics.accepted.clone(),
        );
        registry.register(
            format!("{prefix}_connections_open"),
            "Connections being served",
            metrics.open.clone(),
        );
        registry.register(
            format!("{prefix}_connections_limit"),
            "Most connections served at once: server.max_connections, or less when the open-file limit leaves less room",
            metrics.limit.clone(),
        );
        registry.register(
            format!("{prefix}_connections_refused"),
            "New connections answered 503 and closed at once: every slot held by a request in progress",
            metrics.refused.clone(),
        );
        registry.register(
            format!("{prefix}_connections_evicted"),
            "Open connections closed to make room for a new one at the connection limit",
            metrics.evicted.clone(),
        );
        registry.register(
            format!("{prefix}_connections_timed_out"),
            "Connections closed by a timeout: header (no complete request head within server.header_read_timeout), handshake (no complete TLS handshake within it) or idle (no byte either way for server.idle_timeout, no request in progress)",
            metrics.timed_out.clone(),
        );
        registry.register(
            format!("{prefix}_accept_errors"),
            "Failed accepts (out of file descriptors, aborted handshakes...)",
            metrics.accept_errors.clone(),
        );
        registry.register(
            format!("{prefix}_tls_handshake_failures"),
            "TLS handshakes that failed (plain HTTP to the HTTPS listener, TLS 1.1 or older, no common cipher, a client refusing the certificate); timeouts count under connections_timed_out{phase=\"handshake\"}",
            metrics.tls_handshake_failures.clone(),
        );
        metrics
    }

    pub(super) fn timed_out(&self, phase: &'static str) {
        self.timed_out.get_or_create(&PhaseLabel { phase }).inc();
    }
}
