//! The writer task: the only user of the database connection. It takes
//! every write queued since its last commit and commits them in one
//! transaction (group commit), so a burst of webhooks costs one `fsync`,
//! not one each; writes nobody waits for wait up to [`LINGER`] for company.
//! It also prunes old rows once in a while.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::metrics::StoreMetrics;
use super::{Backend, Op, REMEMBER_ENDED, StoreError, Write};

/// Most writes in one transaction.
const MAX_BATCH: usize = 1024;
/// How long a batch that nobody waits for (a watch's progress, a routed
/// event) waits for more writes before it is committed. Polls are spread
/// evenly over the interval, so without it each one was a transaction of
/// its own: 167 commits a second at 10,000 watchers, each a round trip to
/// the database's thread (and an `fsync` on disk). A durable write
/// ([`Store::write_durably`](super::Store::write_durably)) ends the wait at
/// once and commits everything queued before it. What a crash can lose
/// grows from the commit in flight to this much of un-awaited writes.
pub(super) const LINGER: Duration = Duration::from_millis(100);
/// Time between two prunes.
const PRUNE_EVERY: Duration = Duration::from_secs(10 * 60);
/// Time between two readings of the database's size (a cheap pragma).
const SIZE_EVERY: Duration = Duration::from_secs(60);
/// While writes fail, at most one error line per this period.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(60);

type Ack = Option<oneshot::Sender<Result<(), StoreError>>>;

pub(super) fn spawn<B: Backend>(
    backend: B,
    ops: mpsc::UnboundedReceiver<Op>,
    health: watch::Sender<Option<String>>,
    metrics: StoreMetrics,
    retention: Duration,
    linger: Duration,
) {
    let writer = Writer {
        backend,
        health,
        metrics,
        retention,
        linger,
        last_error_log: None,
    };
    tokio::spawn(writer.run(ops));
}

struct Writer<B> {
    backend: B,
    health: watch::Sender<Option<String>>,
    metrics: StoreMetrics,
    retention: Duration,
    /// [`LINGER`], unless a test says otherwise.
    linger: Duration,
    last_error_log: Option<Instant>,
}

impl<B: Backend> Writer<B> {
    async fn run(mut self, mut ops: mpsc::UnboundedReceiver<Op>) {
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut size = tokio::time::interval(SIZE_EVERY);
        size.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch: Vec<Write> = Vec::new();
        let mut acks: Vec<Ack> = Vec::new();
        loop {
            let op = tokio::select! {
                op = ops.recv() => op,
                _ = prune.tick() => {
                    self.prune().await;
                    continue;
                }
                _ = size.tick() => {
                    self.measure().await;
                    continue;
                }
            };
            let mut close = None;
            let mut next = op;
            let first = Instant::now();
            loop {
                match next.take() {
                    None => {}
                    Some(Op::Write(write, ack)) => {
                        batch.push(write);
                        acks.push(ack);
                    }
                    Some(Op::Close(done)) => {
                        close = Some(done);
                        break;
                    }
                }
                if batch.len() >= MAX_BATCH {
                    break;
                }
                match ops.try_recv() {
                    Ok(op) => {
                        next = Some(op);
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => break,
                    Err(TryRecvError::Empty) => {}
                }
                // Nothing more queued: commit now if a caller waits for it,
                // else let the batch wait for company (see `LINGER`).
                if batch.is_empty() || acks.iter().any(Option::is_some) {
                    break;
                }
                tokio::select! {
                    op = ops.recv() => match op {
                        Some(op) => next = Some(op),
                        None => break,
                    },
                    () = tokio::time::sleep_until(first + self.linger) => break,
                }
            }
            if !batch.is_empty() {
                self.commit(&mut batch, &mut acks).await;
            }
            if let Some(done) = close {
                self.backend.close().await;
                let _ = done.send(());
                return;
            }
            if ops.is_closed() && ops.is_empty() {
                self.backend.close().await;
                return;
            }
        }
    }

    async fn commit(&mut self, batch: &mut Vec<Write>, acks: &mut Vec<Ack>) {
        let started = Instant::now();
        let result = self.backend.apply(batch).await;
        self.metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        match &result {
            Ok(()) => {
                self.metrics.writes.inc_by(batch.len() as u64);
                if self.health.borrow().is_some() {
                    tracing::info!("database writes succeed again");
                    self.health.send_replace(None);
                    self.metrics.failing.set(0);
                }
            }
            Err(error) => {
                self.metrics.errors.inc();
                self.metrics.failing.set(1);
                let quiet = self
                    .last_error_log
                    .is_some_and(|at| at.elapsed() < ERROR_LOG_EVERY);
                if !quiet {
                    self.last_error_log = Some(Instant::now());
                    tracing::error!(
                        %error,
                        writes_lost = batch.len(),
                        "database write failed: this state will not survive a restart \
                         (full disk? see qoswatch_store_errors)"
                    );
                }
                self.health.send_replace(Some(error.to_string()));
            }
        }
        batch.clear();
        for ack in acks.drain(..).flatten() {
            let _ = ack.send(result.clone());
        }
    }

    async fn prune(&mut self) {
        let now = Utc::now();
        let retention = chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::MAX);
        let ended = chrono::Duration::from_std(REMEMBER_ENDED).unwrap_or_default();
        let before = now.checked_sub_signed(retention).unwrap_or_default();
        match self.backend.prune(before, now - ended).await {
            Ok(deleted) => {
                self.metrics.pruned.inc_by(deleted);
                if deleted > 0 {
                    tracing::debug!(deleted, "old rows pruned");
                }
            }
            Err(error) => {
                self.metrics.errors.inc();
                tracing::warn!(%error, "pruning old rows failed");
            }
        }
        self.measure().await;
    }

    async fn measure(&mut self) {
        if let Ok(size) = self.backend.size().await {
            self.metrics
                .size_bytes
                .set(i64::try_from(size).unwrap_or(i64::MAX));
        }
    }
}
