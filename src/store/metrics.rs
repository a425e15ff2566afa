//! The store's metrics: commit latency, writes, errors, size.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone)]
pub struct StoreMetrics {
    pub commit_seconds: Histogram,
    pub writes: Counter,
    pub errors: Counter,
    pub failing: Gauge,
    pub size_bytes: Gauge,
    pub pruned: Counter,
}

impl StoreMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            // 100 µs .. ~1.6 s
            commit_seconds: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 15),
            ),
            writes: Counter::default(),
            errors: Counter::default(),
            failing: Gauge::default(),
            size_bytes: Gauge::default(),
            pruned: Counter::default(),
        };
        registry.register(
            "qoswatch_store_commit_seconds",
            "Time to commit one batch of writes to the database",
            metrics.commit_seconds.clone(),
        );
        registry.register(
            "qoswatch_store_writes",
            "Writes committed to the database",
            metrics.writes.clone(),
        );
        registry.register(
            "qoswatch_store_errors",
            "Batches of writes the database refused (full disk, I/O error)",
            metrics.errors.clone(),
        );
        registry.register(
            "qoswatch_store_failing",
            "1 while the last write to the database failed",
            metrics.failing.clone(),
        );
        registry.register(
            "qoswatch_store_size_bytes",
            "Size of the database",
            metrics.size_bytes.clone(),
        );
        registry.register(
            "qoswatch_store_pruned_rows",
            "Rows deleted after the retention period",
            metrics.pruned.clone(),
        );
        metrics
    }
}
