//! What is happening now: the watched participants and their quality, the
//! alerts firing and their history, and the silences in force. The admin
//! surface (`crate::admin`) shows it; the dispatcher records every event
//! it routes here.
//!
//! ```text
//! watchers ──StatusTap (a sample tap)──▶ Watches ─┐
//! dispatcher router ──Status::record──▶ Board ────┼─▶ admin views ─▶ /api/v1/…, SSE, page
//! admin API ──silences──▶ Board ◀── silence keeper (alerting) ─┘
//! ```
//!
//! [`Status`] is one shared handle: the dispatcher asks it, for every event
//! it routes, whether a silence covers it; the silence keeper
//! (`crate::alerting::silences`) wakes when a silence ends and hands the
//! messages that end calls for to the dispatcher.

pub mod board;
pub mod watches;

/// Silences are defined in the core (pure matching); re-exported here
/// where the board enforces them.
pub use qoswatch_core::silence;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::store::{Store, Write};
use board::{Board, UnknownSilence};
use qoswatch_core::alert::AlertEvent;
use silence::Silence;
use watches::Watches;

pub use watches::StatusTap;

/// The shared state behind the page and the API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Status {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    board: Mutex<Board>,
    watches: Mutex<Watches>,
    /// Bumped on every change, for the live page and the keeper.
    changes: watch::Sender<u64>,
}

impl Default for Status {
    fn default() -> Self {
        Self::restore(Vec::new(), Vec::new())
    }
}

impl Status {
    /// The state after a (re)start: the stored silences and the alerts
    /// that were firing.
    pub fn restore(silences: Vec<Silence>, open_alerts: Vec<AlertEvent>) -> Self {
        let (changes, _) = watch::channel(0);
        Status {
            inner: Arc::new(Inner {
                board: Mutex::new(Board::restore(silences, open_alerts, Utc::now())),
                watches: Mutex::new(Watches::default()),
                changes,
            }),
        }
    }

    fn board(&self) -> MutexGuard<'_, Board> {
        self.inner.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn watches(&self) -> MutexGuard<'_, Watches> {
        self.inner.watches.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self) {
        self.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Called by the dispatcher for every event it routes: tracks it and
    /// says whether a silence covers it (then it is not sent).
    pub fn record(&self, event: &AlertEvent) -> bool {
        let silenced = self.board().record(event, Utc::now());
        self.changed();
        silenced
    }

    pub(crate) fn update_watches(&self, change: impl FnOnce(&mut Watches)) {
        change(&mut self.watches());
        self.changed();
    }

    /// Runs `read` on the board and the watches (in that order, never the
    /// other way round).
    pub fn read<T>(&self, read: impl FnOnce(&Board, &Watches) -> T) -> T {
        let board = self.board();
        let watches = self.watches();
        read(&board, &watches)
    }

    /// Adds a silence (already stored).
    pub fn add_silence(&self, silence: Silence) {
        self.board().add(silence, Utc::now());
        self.changed();
    }

    /// Ends a silence now; returns it and the messages its end calls for.
    pub fn remove_silence(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(Silence, Vec<AlertEvent>), UnknownSilence> {
        let removed = self.board().remove(id, now);
        self.changed();
        removed
    }

    /// Whether silence `id` exists, and a copy of it.
    pub fn silence(&self, id: &str) -> Option<Silence> {
        self.board().silence(id).cloned()
    }

    /// The messages due because silences ended by now, the silences whose
    /// end that handled, and when the next one ends.
    pub fn expire(&self, retention: Duration) -> Expired {
        let now = Utc::now();
        let mut board = self.board();
        let due = board.expire(now);
        let ended = board.announced();
        let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        board.prune(now.checked_sub_signed(retention).unwrap_or_default());
        let next = board.next_end();
        drop(board);
        if !ended.is_empty() {
            self.changed();
        }
        Expired { due, ended, next }
    }
}

/// What [`Status::expire`] found.
#[derive(Debug)]
pub struct Expired {
    /// The messages the ended silences call for.
    pub due: Vec<AlertEvent>,
    /// The silences that ended.
    pub ended: Vec<Silence>,
    /// When the next silence ends.
    pub next: Option<DateTime<Utc>>,
}

/// Stores a silence (created or ended), durably: the API answers after.
pub async fn store_silence(
    store: &Store,
    silence: &Silence,
) -> Result<(), crate::store::StoreError> {
    store
        .write_durably(Write::Silence(Box::new(silence.clone())))
        .await
}
