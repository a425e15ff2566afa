//! The watcher registry: watches started and stopped by webhooks
//! (idempotently, keyed by [`ParticipantKey`]), one owned polling task per
//! meeting with watched participants (its members join and leave by
//! command), and the consequences a meeting's end has for the others.
//!
//! - this file: the books (watches and meeting tasks, under one lock) and
//!   what the registry tells about them;
//! - `start`: the checks before a watch, its entry, the meeting's task;
//! - `stop`: stopping watches, and what a `PollEnd` means for the others;
//! - `remember`: the memory of participants who left and meetings that ended;
//! - `resume`: taking back what the store kept, once, before serving;
//! - `handover`: several replicas (hand over, adopt, ends seen elsewhere);
//! - `delivery`: the sample-source seam's entry ([`Monitor::deliver`]);
//! - `signals`: early signals (a meeting alert, a rejoin) to the tasks;
//! - `host`: the registry as a meeting task's `MeetingHost`.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::registry::Registry;
use qoswatch_core::alert::{Account, MeetingKey, ParticipantKey};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use tokio::sync::mpsc;

use super::ended::{Ended, Memory};
use super::meeting::{Command, PollContext, StopRequest};
use super::metrics::WatchMetrics;
use super::settings::{PollingSettings, QssSettings};
use super::signals::{Person, URGENT_INTERVALS};
use super::sink::SampleSink;
use crate::logging::LogEvery;
use crate::quota::Planner;
use crate::store::Store;
use crate::store::leases::Leases;
use crate::zoom::client::ZoomClient;

/// What `start_watch` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    Started,
    /// A watcher for this key already runs (a duplicate delivery).
    AlreadyWatching,
    /// This participant already left, or the meeting ended: a late retry of
    /// `participant_joined` (Zoom retries up to 85 minutes later).
    AlreadyEnded,
    /// `polling.max_watchers` reached.
    AtCapacity,
    /// The watch names an account the settings do not configure (a watch
    /// kept from before the account was removed).
    UnknownAccount,
    /// Zoom said the account cannot use the Dashboard API; retried later.
    PollingDisabled,
    ShuttingDown,
    /// The shared database did not take the watch (several replicas): Zoom
    /// should deliver the webhook again.
    StoreUnavailable,
}

/// A running watch, as the registry sees it.
#[derive(Debug)]
struct Watch {
    id: u64,
    /// The id of the meeting task polling it.
    meeting: u64,
}

/// A meeting's polling task, as the registry sees it.
#[derive(Debug)]
struct MeetingTask {
    id: u64,
    commands: mpsc::UnboundedSender<Command>,
    stop: Arc<StopRequest>,
}

/// The watches and the meeting tasks polling them, changed together under
/// one lock: a join and a meeting task's retirement never cross.
#[derive(Debug, Default)]
struct Books {
    watches: HashMap<ParticipantKey, Watch>,
    meetings: HashMap<MeetingKey, MeetingTask>,
}

#[derive(Debug)]
struct Inner {
    books: Mutex<Books>,
    next_id: AtomicU64,
    tracker: TaskTracker,
    cancel: CancellationToken,
    /// Each account's polling context (its client and plan): Zoom's
    /// limits are per account.
    polls: HashMap<Account, Arc<PollContext>>,
    settings: PollingSettings,
    metrics: WatchMetrics,
    sink: Arc<dyn SampleSink>,
    store: Store,
    /// Set after Zoom's code 200 for an account: no polling of its
    /// meetings until then.
    polling_disabled_until: Mutex<HashMap<Account, Instant>>,
    /// Participants and meetings whose watch ended recently, so that a late
    /// retry of `participant_joined` does not watch someone who is gone.
    ended: Mutex<Ended>,
    /// "Forgotten early because the memory is full", once a minute.
    forgotten_log: LogEvery,
    /// Who left a meeting recently, for the rejoin signal
    /// (`crate::watch::signals`).
    left_recently: Mutex<Memory<Person>>,
    /// Woken whenever a meeting task has ended (its registry entries freed).
    tasks_ended: tokio::sync::Notify,
    /// With a shared database: the leases that say which replica polls a
    /// meeting. Without: this process polls every meeting.
    leases: Option<Arc<Leases>>,
}

use crate::store::REMEMBER_ENDED;

/// The `Instant` that was `at` on the wall clock (now, if `at` is in the future).
fn instant_of(at: DateTime<Utc>) -> Instant {
    let ago = (Utc::now() - at).to_std().unwrap_or_default();
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

/// How long polling stays off after Zoom says the account is not entitled.
const NOT_ENTITLED_COOL_OFF: Duration = Duration::from_secs(15 * 60);

/// The watcher registry. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Monitor {
    inner: Arc<Inner>,
}

/// One account's way to Zoom: its client (token, budget) and its plan.
#[derive(Debug, Clone)]
pub struct AccountPolling {
    pub account: Account,
    pub client: Arc<ZoomClient>,
    pub planner: Arc<Planner>,
}

/// What a [`Monitor`] is built from.
#[derive(Debug)]
pub struct MonitorParts {
    /// Every configured account (at least one).
    pub accounts: Vec<AccountPolling>,
    /// Where every watch's samples go.
    pub sink: Arc<dyn SampleSink>,
    pub store: Store,
    pub settings: PollingSettings,
    /// QSS push as a source of samples: when polling takes over.
    pub qss: QssSettings,
    /// With a shared database: the leases that say which replica polls a
    /// meeting (a webhook claims its meeting's lease).
    pub leases: Option<Arc<Leases>>,
}

mod delivery;
mod handover;
mod host;
mod remember;
mod resume;
mod signals;
mod start;
mod stop;

impl Monitor {
    /// The registry, and the planner's task on `tracker`.
    pub fn new(
        parts: MonitorParts,
        tracker: TaskTracker,
        cancel: CancellationToken,
        registry: &mut Registry,
    ) -> Self {
        let MonitorParts {
            accounts,
            sink,
            store,
            settings,
            qss,
            leases,
        } = parts;
        let metrics = WatchMetrics::register(registry);
        let ended = Ended::new(REMEMBER_ENDED, settings.max_remembered_ended);
        let left_recently = Memory::new(
            settings.interval * URGENT_INTERVALS,
            settings.max_remembered_ended,
        );
        assert!(!accounts.is_empty(), "a monitor needs an account");
        for polling in &accounts {
            metrics.account_watchers(&polling.account).set(0);
        }
        let polls = accounts
            .into_iter()
            .map(
                |AccountPolling {
                     account,
                     client,
                     planner,
                 }| {
                    tracker.spawn(planner.clone().run(cancel.child_token()));
                    let poll = PollContext {
                        client,
                        planner,
                        settings: settings.clone(),
                        qss: qss.clone(),
                        metrics: metrics.clone(),
                        samples_dropped_log: LogEvery::new(Duration::from_secs(60)),
                        fallback_log: LogEvery::new(Duration::from_secs(60)),
                    };
                    (account, Arc::new(poll))
                },
            )
            .collect();
        Self {
            inner: Arc::new(Inner {
                books: Mutex::new(Books::default()),
                next_id: AtomicU64::new(1),
                tracker,
                cancel,
                polls,
                settings,
                metrics,
                sink,
                store,
                polling_disabled_until: Mutex::new(HashMap::new()),
                ended: Mutex::new(ended),
                forgotten_log: LogEvery::new(Duration::from_secs(60)),
                left_recently: Mutex::new(left_recently),
                tasks_ended: tokio::sync::Notify::new(),
                leases,
            }),
        }
    }

    fn metrics(&self) -> &WatchMetrics {
        &self.inner.metrics
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        self.inner.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Each account's planner, by account name.
    pub fn planners(&self) -> Vec<(Account, Arc<Planner>)> {
        let mut planners: Vec<_> = self
            .inner
            .polls
            .iter()
            .map(|(account, poll)| (account.clone(), poll.planner.clone()))
            .collect();
        planners.sort_by(|a, b| a.0.cmp(&b.0));
        planners
    }

    /// Whether `account` is one this monitor polls for.
    pub fn knows(&self, account: &Account) -> bool {
        self.inner.polls.contains_key(account)
    }

    fn left_recently(&self) -> MutexGuard<'_, Memory<Person>> {
        self.inner
            .left_recently
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn ended(&self) -> MutexGuard<'_, Ended> {
        self.inner.ended.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of running watchers.
    pub fn active(&self) -> usize {
        self.books().watches.len()
    }

    /// Whether a participant is being watched.
    pub fn is_watching(&self, key: &ParticipantKey) -> bool {
        self.books().watches.contains_key(key)
    }

    /// Number of meetings being polled.
    pub fn meetings_polled(&self) -> usize {
        self.books().meetings.len()
    }

    /// Whether Zoom said an account cannot use the Dashboard API (recently).
    pub fn polling_disabled(&self) -> bool {
        let accounts: Vec<Account> = self.inner.polls.keys().cloned().collect();
        accounts.iter().any(|a| self.polling_disabled_for(a))
    }

    /// Whether Zoom said `account` cannot use the Dashboard API (recently).
    pub fn polling_disabled_for(&self, account: &Account) -> bool {
        let mut until = self
            .inner
            .polling_disabled_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match until.get(account) {
            Some(t) if Instant::now() < *t => true,
            Some(_) => {
                until.remove(account);
                if until.is_empty() {
                    self.metrics().polling_disabled.set(0);
                }
                false
            }
            None => false,
        }
    }

    /// The meetings this process polls now.
    pub fn meetings(&self) -> Vec<MeetingKey> {
        self.books().meetings.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests;
