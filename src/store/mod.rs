//! What qoswatch must not forget on a restart, kept in an embedded SQLite
//! database (or, for several replicas, a shared PostgreSQL one): running watches with their alert state, recently ended
//! participants and meetings, alert events and the per-channel outbox, and
//! the day's Zoom request count.
//!
//! The rest of the service sees a [`Store`] handle: writes are records
//! ([`Write`]) sent to one writer task, which commits them in batches (group
//! commit). A caller that must know its write is on disk before it goes on
//! (a webhook about to answer 200, a message about to be sent) awaits
//! [`Store::write_durably`]; the others send and carry on. Everything is read
//! once, at start, as a [`Snapshot`].
//!
//! The database sits behind [`Backend`] (`apply` a batch, `load`, `prune`):
//! PostgreSQL ([`PgBackend`], several replicas sharing one database)
//! implements the same operations.

pub mod leases;
mod metrics;
mod postgres;
pub mod signals;
mod sqlite;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use prometheus_client::registry::Registry;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot, watch};

use qoswatch_core::alert::{Account, AlertEvent, MeetingKey, ParticipantKey};
use qoswatch_core::rules::SavedState;
use qoswatch_core::silence::Silence;
use qoswatch_core::subject::{StopReason, WatchSubject};

pub use metrics::StoreMetrics;
pub use postgres::{PgBackend, SharedDb, reason_of as database_error_text};
pub use sqlite::SqliteBackend;

/// Identity of an alert event or an outbox message: one sequence for both,
/// so queue order survives a restart.
pub type RecordId = i64;

/// How the database is kept.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// Directory of the database file (`qoswatch.db`). Empty: keep
    /// everything in memory, lost on restart (the demo, tests).
    pub data_dir: Option<PathBuf>,
    /// SQLite's `synchronous` level: `full` (each commit reaches the disk
    /// before the webhook is answered) or `normal` (survives a crash of
    /// qoswatch, not a power loss). See BENCHMARKS.md for the cost.
    pub synchronous: Synchronous,
    /// How long finished watches, delivered or failed messages and alert
    /// events are kept.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub retention: Duration,
    /// Largest size of the database file in bytes; writes beyond it fail as
    /// on a full disk. Empty: no limit but the disk.
    pub max_size_bytes: Option<u64>,
    /// A `postgres://` URL: share one PostgreSQL database between several
    /// replicas instead of the SQLite file. `QOSWATCH_DATABASE_URL` (or
    /// `_FILE`) wins over it; keep the password out of it and in
    /// `QOSWATCH_DATABASE_PASSWORD` (or `_FILE`).
    pub url: Option<String>,
    /// How long a replica's claim on a meeting lasts without a heartbeat:
    /// after `kill -9`, its meetings wait this long for another replica.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub lease_ttl: Duration,
    /// This replica's name in the database (a suffix makes every process
    /// unique). Empty: the host name.
    pub replica_name: Option<String>,
    /// Connections to PostgreSQL per replica.
    pub max_connections: u32,
    /// How long writes nobody waits for may wait for more before they are
    /// committed together (the writer's `LINGER`). Not read from the
    /// settings file; tests change it.
    #[serde(skip)]
    pub linger: Duration,
}

impl StoreSettings {
    /// Time between two heartbeats: a third of the lease, so one lost
    /// heartbeat never loses a lease.
    pub fn heartbeat(&self) -> Duration {
        (self.lease_ttl / 3).max(Duration::from_millis(100))
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            data_dir: Some(PathBuf::from("data")),
            synchronous: Synchronous::Full,
            retention: Duration::from_secs(7 * 24 * 3600),
            max_size_bytes: None,
            url: None,
            lease_ttl: Duration::from_secs(15),
            replica_name: None,
            max_connections: 4,
            linger: writer::LINGER,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Full,
    Normal,
}

impl std::str::FromStr for Synchronous {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        match value.trim() {
            "full" => Ok(Self::Full),
            "normal" => Ok(Self::Normal),
            _ => Err("expected full or normal".into()),
        }
    }
}

/// One change to the durable state.
#[derive(Debug, Clone)]
pub enum Write {
    /// A watch began (or began again for the same participant).
    WatchStarted {
        subject: Box<WatchSubject>,
        at: DateTime<Utc>,
    },
    /// What a watch learned: the newest sample time, its alert state and the
    /// alert events that state change produced, in one transaction.
    WatchProgress {
        key: ParticipantKey,
        last_seen: Option<DateTime<Utc>>,
        alert_state: Option<SavedState>,
        events: Vec<(RecordId, AlertEvent)>,
    },
    WatchEnded {
        key: ParticipantKey,
        reason: StopReason,
        at: DateTime<Utc>,
    },
    /// A participant left (watched or not).
    ParticipantEnded {
        key: ParticipantKey,
        at: DateTime<Utc>,
    },
    MeetingEnded {
        meeting: MeetingKey,
        at: DateTime<Utc>,
    },
    /// An alert event that no watch state goes with (Zoom's meeting alerts).
    Event {
        id: RecordId,
        event: Box<AlertEvent>,
    },
    /// The dispatcher routed event `id` to `channels` (waiting in their
    /// grouping windows).
    EventRouted {
        id: RecordId,
        channels: Vec<String>,
    },
    /// A message for `channel`, made of `grouped` events, enters its outbox.
    Queued {
        id: RecordId,
        channel: String,
        events: Vec<AlertEvent>,
        grouped: Vec<RecordId>,
        at: DateTime<Utc>,
    },
    Delivered {
        id: RecordId,
        at: DateTime<Utc>,
    },
    /// Given up on (permanent failure, retries exhausted, channel removed).
    Failed {
        id: RecordId,
        at: DateTime<Utc>,
    },
    /// Failed for now; due again at `due`.
    Retry {
        id: RecordId,
        attempts: u32,
        due: DateTime<Utc>,
    },
    /// The Zoom budget's day count and pause.
    Budget(BudgetUse),
    /// A silence created, or ended early (the whole silence, replaced).
    Silence(Box<Silence>),
    /// A replica stopping gives back its meetings and its queued messages,
    /// after everything it wrote before (PostgreSQL only; nothing to do on
    /// SQLite, where the next start takes everything back).
    HandBack,
    /// A replica above its fair share gives back these meetings' leases,
    /// after their tasks stopped and wrote their state (PostgreSQL only).
    Release {
        meetings: Vec<MeetingKey>,
    },
    /// An early signal for the replica that polls `meeting`, sent to every
    /// replica (PostgreSQL only: `store::signals`; nothing to do on SQLite,
    /// where one process polls every meeting).
    Signal {
        meeting: MeetingKey,
        kind: signals::SharedKind,
    },
}

/// One account's Zoom budget as it is persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetUse {
    pub account: Account,
    pub day: NaiveDate,
    pub used: u32,
    pub paused_until: Option<DateTime<Utc>>,
}

/// A running watch read back at start.
#[derive(Debug, Clone)]
pub struct SavedWatch {
    pub subject: WatchSubject,
    pub started_at: DateTime<Utc>,
    pub last_seen: Option<DateTime<Utc>>,
    pub alert_state: Option<SavedState>,
}

/// A message still queued, read back at start.
#[derive(Debug, Clone)]
pub struct SavedMessage {
    pub id: RecordId,
    pub channel: String,
    pub events: Vec<AlertEvent>,
    pub queued_at: DateTime<Utc>,
    pub attempts: u32,
}

/// An event waiting in a channel's grouping window, read back at start.
#[derive(Debug, Clone)]
pub struct SavedGrouped {
    pub id: RecordId,
    pub channel: String,
    pub event: AlertEvent,
}

/// Everything read back at start.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub watches: Vec<SavedWatch>,
    pub ended_participants: Vec<(ParticipantKey, DateTime<Utc>)>,
    pub ended_meetings: Vec<(MeetingKey, DateTime<Utc>)>,
    /// Events not yet routed to channels, in order.
    pub unrouted: Vec<(RecordId, AlertEvent)>,
    /// Events waiting in grouping windows, in order.
    pub grouped: Vec<SavedGrouped>,
    /// Queued messages, in order.
    pub outbox: Vec<SavedMessage>,
    /// Each account's Zoom budget, as last persisted.
    pub budgets: Vec<BudgetUse>,
    /// Every silence kept (active and ended within the retention).
    pub silences: Vec<Silence>,
    /// The newest event of every alert of a running watch whose last word
    /// was not RESOLVED: what fires now, for the status page.
    pub open_alerts: Vec<AlertEvent>,
    /// The highest record id in use.
    pub last_id: RecordId,
    /// When each watch in the store (within the retention, all replicas')
    /// ran, `(started, ended or last seen)`: the daily plan's history of
    /// demand (`crate::quota::forecast`).
    pub watched: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// What the demand history reads of the watches (both backends).
pub(crate) const WATCHED_SPANS: &str =
    "SELECT started_at, COALESCE(ended_at, last_seen, started_at) FROM watches";

/// Why the store could not be opened or written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("data directory {path}: {reason}")]
    DataDir { path: String, reason: String },
    #[error(
        "database {path} is in use by another qoswatch process (lock file {lock} is held); \
         stop it or give this one another data directory"
    )]
    Locked { path: String, lock: String },
    #[error("database {path} cannot be opened: {reason}")]
    Open { path: String, reason: String },
    #[error("database {path}: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("database write failed: {0}")]
    Write(String),
    #[error("the store has stopped")]
    Stopped,
}

/// A database behind the store: what a second engine has to provide.
pub trait Backend: Send + 'static {
    /// Applies `batch` in one transaction, in order.
    fn apply(&mut self, batch: &[Write]) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Deletes what finished before `before`, and ended participants and
    /// meetings remembered since before `ended_before`. Returns rows deleted.
    fn prune(
        &mut self,
        before: DateTime<Utc>,
        ended_before: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Size of the database in bytes, for the metrics.
    fn size(&mut self) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Flushes and closes.
    fn close(self) -> impl Future<Output = ()> + Send;
}

enum Op {
    Write(Write, Option<oneshot::Sender<Result<(), StoreError>>>),
    Close(oneshot::Sender<()>),
}

/// The handle to the store. Cheap to clone; never blocks.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    ops: mpsc::UnboundedSender<Op>,
    next_id: AtomicI64,
    durable: bool,
    /// `Some(reason)` while writes fail.
    health: watch::Receiver<Option<String>>,
    location: String,
    shared: Option<SharedDb>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.inner.location)
            .field("durable", &self.inner.durable)
            .finish_non_exhaustive()
    }
}

/// How long ended participants and meetings are remembered: longer than
/// Zoom's last webhook retry (about 85 minutes after the first attempt).
pub const REMEMBER_ENDED: Duration = Duration::from_secs(2 * 3600);

impl Store {
    /// Opens (creating if needed) the database of `settings`, applies the
    /// migrations, reads the snapshot and starts the writer task.
    pub async fn open(
        settings: &StoreSettings,
        registry: &mut Registry,
    ) -> Result<(Store, Snapshot), StoreError> {
        let (mut backend, location) = SqliteBackend::open(settings).await?;
        let snapshot = backend.load().await?;
        let durable = settings.data_dir.is_some();
        Ok(Self::start(
            backend, snapshot, settings, location, durable, None, registry,
        ))
    }

    /// Opens the shared PostgreSQL database at `url` as a new replica:
    /// migrations, this replica's row, the silences. Watches and queued
    /// messages come later, through `crate::cluster`.
    pub async fn open_postgres(
        settings: &StoreSettings,
        url: &secrecy::SecretString,
        password: Option<&secrecy::SecretString>,
        registry: &mut Registry,
    ) -> Result<(Store, Snapshot), StoreError> {
        let (mut backend, location) = PgBackend::open(settings, url, password).await?;
        let snapshot = backend.load().await?;
        let shared = backend.shared();
        Ok(Self::start(
            backend,
            snapshot,
            settings,
            location,
            true,
            Some(shared),
            registry,
        ))
    }

    fn start<B: Backend>(
        backend: B,
        snapshot: Snapshot,
        settings: &StoreSettings,
        location: String,
        durable: bool,
        shared: Option<SharedDb>,
        registry: &mut Registry,
    ) -> (Store, Snapshot) {
        let metrics = StoreMetrics::register(registry);
        let (ops, receiver) = mpsc::unbounded_channel();
        let (health_sender, health) = watch::channel(None);
        let store = Store {
            inner: Arc::new(Inner {
                ops,
                next_id: AtomicI64::new(snapshot.last_id),
                durable,
                health,
                location: location.clone(),
                shared,
            }),
        };
        writer::spawn(
            backend,
            receiver,
            health_sender,
            metrics,
            settings.retention,
            settings.linger,
        );
        tracing::info!(
            database = %location,
            durable,
            watches = snapshot.watches.len(),
            queued_messages = snapshot.outbox.len(),
            "store opened"
        );
        (store, snapshot)
    }

    /// The shared database, when this is one replica of several.
    pub fn shared(&self) -> Option<&SharedDb> {
        self.inner.shared.as_ref()
    }

    /// An in-memory store (nothing survives the process), for tests and
    /// embedders that want none.
    pub async fn in_memory(registry: &mut Registry) -> Result<Store, StoreError> {
        let settings = StoreSettings {
            data_dir: None,
            ..StoreSettings::default()
        };
        Ok(Self::open(&settings, registry).await?.0)
    }

    /// A fresh id for an alert event or a message.
    pub fn next_id(&self) -> RecordId {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Queues a write; it is committed with the next batch.
    pub fn write(&self, write: Write) {
        // After close the writes have nowhere to go; the caller is shutting
        // down and its state stays as last committed.
        let _ = self.inner.ops.send(Op::Write(write, None));
    }

    /// Queues a write and waits until its batch is committed. An in-memory
    /// store has no disk to wait for: it only queues.
    pub async fn write_durably(&self, write: Write) -> Result<(), StoreError> {
        if !self.inner.durable {
            self.write(write);
            return Ok(());
        }
        let (done, committed) = oneshot::channel();
        self.inner
            .ops
            .send(Op::Write(write, Some(done)))
            .map_err(|_| StoreError::Stopped)?;
        committed.await.map_err(|_| StoreError::Stopped)?
    }

    /// Whether the state survives a restart (a data directory is set).
    pub fn is_durable(&self) -> bool {
        self.inner.durable
    }

    /// Why writes are failing, while they are.
    pub fn failing(&self) -> Option<String> {
        self.inner.health.borrow().clone()
    }

    /// Commits what is queued and closes the database. Later writes are lost.
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.inner.ops.send(Op::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }
}

pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests;
