//! The watcher registry: watches started and stopped by webhooks
//! (idempotently, keyed by [`ParticipantKey`]), one owned polling task per
//! meeting with watched participants (its members join and leave by
//! command), and the consequences a meeting's end has for the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::registry::Registry;
use qoswatch_core::alert::{MeetingInfo, ParticipantInfo, ParticipantKey};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use tokio::sync::mpsc;

use super::ended::Ended;
use super::meeting::{
    Command, Joining, MeetingHost, MeetingPoller, PollContext, PollEnd, Resume, StopRequest,
};
use super::metrics::{ENDED_MEETINGS, ENDED_PARTICIPANTS, WatchMetrics};
use super::settings::PollingSettings;
use super::sink::SampleSink;
use crate::logging::LogEvery;
use crate::quota::Planner;
use crate::store::leases::Leases;
use crate::store::{SavedWatch, Snapshot, Store, Write};
use crate::zoom::client::ZoomClient;
use qoswatch_core::subject::{StopReason, WatchSubject};

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
    meetings: HashMap<String, MeetingTask>,
}

#[derive(Debug)]
struct Inner {
    books: Mutex<Books>,
    next_id: AtomicU64,
    tracker: TaskTracker,
    cancel: CancellationToken,
    poll: PollContext,
    sink: Arc<dyn SampleSink>,
    store: Store,
    /// Set after Zoom's code 200: no polling until then.
    polling_disabled_until: Mutex<Option<Instant>>,
    /// Participants and meetings whose watch ended recently, so that a late
    /// retry of `participant_joined` does not watch someone who is gone.
    ended: Mutex<Ended>,
    /// "Forgotten early because the memory is full", once a minute.
    forgotten_log: LogEvery,
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

/// What a [`Monitor`] is built from.
#[derive(Debug)]
pub struct MonitorParts {
    pub client: Arc<ZoomClient>,
    /// Where every watch's samples go.
    pub sink: Arc<dyn SampleSink>,
    pub store: Store,
    pub planner: Arc<Planner>,
    pub settings: PollingSettings,
    /// With a shared database: the leases that say which replica polls a
    /// meeting (a webhook claims its meeting's lease).
    pub leases: Option<Arc<Leases>>,
}

impl Monitor {
    /// The registry, and the planner's task on `tracker`.
    pub fn new(
        parts: MonitorParts,
        tracker: TaskTracker,
        cancel: CancellationToken,
        registry: &mut Registry,
    ) -> Self {
        let MonitorParts {
            client,
            sink,
            store,
            planner,
            settings,
            leases,
        } = parts;
        let metrics = WatchMetrics::register(registry);
        let ended = Ended::new(REMEMBER_ENDED, settings.max_remembered_ended);
        tracker.spawn(planner.clone().run(cancel.child_token()));
        Self {
            inner: Arc::new(Inner {
                books: Mutex::new(Books::default()),
                next_id: AtomicU64::new(1),
                tracker,
                cancel,
                poll: PollContext {
                    client,
                    planner,
                    settings,
                    metrics,
                    samples_dropped_log: LogEvery::new(Duration::from_secs(60)),
                    fallback_log: LogEvery::new(Duration::from_secs(60)),
                },
                sink,
                store,
                polling_disabled_until: Mutex::new(None),
                ended: Mutex::new(ended),
                forgotten_log: LogEvery::new(Duration::from_secs(60)),
                leases,
            }),
        }
    }

    fn metrics(&self) -> &WatchMetrics {
        &self.inner.poll.metrics
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        self.inner.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The planner of the polling intervals.
    pub fn planner(&self) -> &Arc<Planner> {
        &self.inner.poll.planner
    }

    fn ended(&self) -> MutexGuard<'_, Ended> {
        self.inner.ended.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers that a participant left (even one never watched: a `left`
    /// can arrive before its `joined`). Returns the store's write.
    fn remember_ended_participant(&self, key: &ParticipantKey) -> Write {
        let now = Instant::now();
        let forgotten = {
            let mut ended = self.ended();
            let inserted = ended.participants.insert(key.clone(), now, now);
            self.metrics().remembered_ended(&ended);
            inserted.forgotten
        };
        self.forgot_early(ENDED_PARTICIPANTS, forgotten);
        Write::ParticipantEnded {
            key: key.clone(),
            at: Utc::now(),
        }
    }

    /// Counts entries forgotten before their time because the memory of
    /// ended participants or meetings was full, and says so once a minute.
    fn forgot_early(&self, kind: &'static str, forgotten: usize) {
        if forgotten == 0 {
            return;
        }
        self.metrics().forgotten_early(kind, forgotten);
        if let Some(unlogged) = self.inner.forgotten_log.occurred(Instant::now()) {
            tracing::warn!(
                kind,
                max_remembered_ended = self.inner.poll.settings.max_remembered_ended,
                not_logged_since = unlogged,
                "memory of ended participants or meetings is full: the oldest is forgotten \
                 early (a late participant_joined retry for it would start a watch)"
            );
        }
    }

    /// Takes back what the store kept: the recently ended participants and
    /// meetings, then every running watch, which polls again at once (Zoom's
    /// answer ends those that are over). Call once, before serving.
    pub fn resume(&self, snapshot: &mut Snapshot) -> usize {
        {
            // Each entry takes its place by time, whatever the order the
            // store gives them in; past the bound the oldest are forgotten.
            let now = Instant::now();
            let mut ended = self.ended();
            let mut forgotten = (0, 0);
            for (key, at) in snapshot.ended_participants.drain(..) {
                forgotten.0 += ended
                    .participants
                    .insert(key, instant_of(at), now)
                    .forgotten;
            }
            for (uuid, at) in snapshot.ended_meetings.drain(..) {
                forgotten.1 += ended.meetings.insert(uuid, instant_of(at), now).forgotten;
            }
            self.metrics().remembered_ended(&ended);
            drop(ended);
            self.forgot_early(ENDED_PARTICIPANTS, forgotten.0);
            self.forgot_early(ENDED_MEETINGS, forgotten.1);
        }
        let mut resumed = 0;
        for saved in snapshot.watches.drain(..) {
            let SavedWatch {
                subject,
                started_at,
                last_seen,
                alert_state,
            } = saved;
            let key = subject.key.clone();
            let resume = Resume {
                last_seen,
                alert_state,
                age: (Utc::now() - started_at).to_std().unwrap_or_default(),
                poll_now: true,
            };
            match self.join(subject, resume) {
                Ok(()) => resumed += 1,
                Err(StartOutcome::AlreadyEnded) => {
                    // The participant left, but the end of the watch was
                    // not saved: close it now.
                    self.inner.store.write(Write::WatchEnded {
                        key,
                        reason: StopReason::Left,
                        at: Utc::now(),
                    });
                }
                Err(refused) => {
                    tracing::warn!(outcome = ?refused, "saved watch not resumed");
                }
            }
        }
        if resumed > 0 {
            tracing::info!(watches = resumed, "watches resumed from the store");
        }
        resumed
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

    /// Whether Zoom said the account cannot use the Dashboard API (recently).
    pub fn polling_disabled(&self) -> bool {
        let mut until = self
            .inner
            .polling_disabled_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match *until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *until = None;
                self.metrics().polling_disabled.set(0);
                false
            }
            None => false,
        }
    }

    /// Starts watching a participant, unless already watched, and returns
    /// once the store has the watch on disk (or failed to write it: the
    /// watch runs anyway, and the failure is logged and counted by the
    /// store). The caller is the webhook handler, which answers 200 after.
    pub async fn start_watch(
        &self,
        key: &ParticipantKey,
        meeting: MeetingInfo,
        participant: ParticipantInfo,
    ) -> StartOutcome {
        debug_assert!(key.meeting_uuid == meeting.uuid && key.user_id == participant.user_id);
        // Zoom's retries and duplicates end here, before the subject and
        // its record are built (`join` checks again under its lock).
        if let Err(refused) = self.may_start(key) {
            return refused;
        }
        if self.is_watching(key) {
            self.metrics().duplicates.inc();
            return StartOutcome::AlreadyWatching;
        }
        let subject = WatchSubject {
            key: key.clone(),
            meeting,
            participant,
        };
        let record = Write::WatchStarted {
            subject: Box::new(subject.clone()),
            at: Utc::now(),
        };
        if let Some(leases) = &self.inner.leases {
            // Boxed: the database's futures are kilobytes, and inline they
            // would make every webhook's future (moved into a box per
            // request by axum) that large.
            return Box::pin(self.start_shared(leases, subject, record)).await;
        }
        if let Err(refused) = self.join(subject, Resume::default()) {
            return refused;
        }
        let written = self.inner.store.write_durably(record);
        if let Err(error) = written.await {
            tracing::warn!(%error, "watch started but not saved: it will not survive a restart");
        }
        StartOutcome::Started
    }

    /// `start_watch` with a shared database, once `may_start` let the
    /// subject through and it is not watched here: the watch is written first (so
    /// whichever replica holds the meeting finds it), then this replica
    /// claims the meeting's lease. Holding it, it polls; otherwise the
    /// holder takes the new member on at its next heartbeat.
    async fn start_shared(
        &self,
        leases: &Leases,
        subject: WatchSubject,
        record: Write,
    ) -> StartOutcome {
        if let Err(error) = self.inner.store.write_durably(record).await {
            tracing::warn!(%error, "watch not saved to the shared database: not started");
            return StartOutcome::StoreUnavailable;
        }
        match leases.claim(&subject.key.meeting_uuid).await {
            Ok(true) => match self.join(subject, Resume::default()) {
                Ok(()) | Err(StartOutcome::AlreadyWatching) => StartOutcome::Started,
                Err(refused) => refused,
            },
            // Another replica polls this meeting; the watch is saved.
            Ok(false) => StartOutcome::Started,
            Err(error) => {
                // Saved but unclaimed: a heartbeat (this replica's or
                // another's) claims it once the database answers.
                tracing::warn!(%error, "meeting lease not claimed; a heartbeat will");
                StartOutcome::Started
            }
        }
    }

    /// The checks before a watch starts that need no registry entry.
    fn may_start(&self, key: &ParticipantKey) -> Result<(), StartOutcome> {
        let metrics = self.metrics();
        if self.inner.cancel.is_cancelled() {
            metrics.refused.inc();
            return Err(StartOutcome::ShuttingDown);
        }
        if self.polling_disabled() {
            metrics.refused.inc();
            return Err(StartOutcome::PollingDisabled);
        }
        if self.ended().contains(key, Instant::now()) {
            metrics.duplicates.inc();
            return Err(StartOutcome::AlreadyEnded);
        }
        Ok(())
    }

    /// The meetings this process polls now.
    pub fn meeting_uuids(&self) -> Vec<String> {
        self.books().meetings.keys().cloned().collect()
    }

    /// Stops polling a meeting whose lease another replica holds now. Its
    /// watches stay running in the store and keep their alert state.
    /// Returns 1 if a task was stopped.
    pub fn hand_over(&self, meeting_uuid: &str) -> usize {
        let books = self.books();
        match books.meetings.get(meeting_uuid) {
            Some(task) => {
                task.stop.request(StopReason::HandedOver);
                1
            }
            None => 0,
        }
    }

    /// Stops polling every meeting (the leases expired without a heartbeat).
    pub fn hand_over_all(&self) -> usize {
        let books = self.books();
        for task in books.meetings.values() {
            task.stop.request(StopReason::HandedOver);
        }
        books.meetings.len()
    }

    /// Takes on a running watch from the shared database (a member of a
    /// meeting this replica now holds), with its alert state. False when
    /// it was refused (ended, at capacity, shutting down).
    pub fn adopt(&self, saved: SavedWatch) -> bool {
        let SavedWatch {
            subject,
            started_at,
            last_seen,
            alert_state,
        } = saved;
        let resume = Resume {
            // Polled before, by another replica: poll at once. Never polled
            // (joined through another replica a moment ago): one interval
            // after the join, as a new joiner.
            poll_now: last_seen.is_some(),
            last_seen,
            alert_state,
            age: (Utc::now() - started_at).to_std().unwrap_or_default(),
        };
        self.join(subject, resume).is_ok()
    }

    /// Participants and meetings that ended through webhooks another
    /// replica took (or this one: harmless): remembered against late
    /// retries, and their watches here stopped.
    pub fn ended_elsewhere(
        &self,
        participants: &[(ParticipantKey, DateTime<Utc>)],
        meetings: &[(String, DateTime<Utc>)],
    ) {
        let now = Instant::now();
        {
            let mut ended = self.ended();
            for (key, at) in participants {
                if !ended.participants.contains(key, now) {
                    ended.participants.insert(key.clone(), instant_of(*at), now);
                }
            }
            for (uuid, at) in meetings {
                if !ended.meetings.contains(uuid, now) {
                    ended.meetings.insert(uuid.clone(), instant_of(*at), now);
                }
            }
            self.metrics().remembered_ended(&ended);
        }
        let books = self.books();
        for (key, _) in participants {
            if let (Some(watch), Some(task)) = (
                books.watches.get(key),
                books.meetings.get(&key.meeting_uuid),
            ) {
                let _ = task.commands.send(Command::Leave {
                    id: watch.id,
                    reason: StopReason::Left,
                });
            }
        }
        for (uuid, _) in meetings {
            if let Some(task) = books.meetings.get(uuid) {
                task.stop.request(StopReason::MeetingEnded);
            }
        }
    }

    /// Takes a registry entry for the subject's key and hands the watch to
    /// its meeting's task (started if there is none), or says why not.
    fn join(&self, subject: WatchSubject, resume: Resume) -> Result<(), StartOutcome> {
        self.may_start(&subject.key)?;
        let metrics = self.metrics();
        let mut books = self.books();
        if books.watches.contains_key(&subject.key) {
            metrics.duplicates.inc();
            return Err(StartOutcome::AlreadyWatching);
        }
        let max_watchers = self.inner.poll.settings.max_watchers;
        if books.watches.len() >= max_watchers {
            metrics.refused.inc();
            tracing::warn!(
                max_watchers,
                "watcher limit reached: participant not watched"
            );
            return Err(StartOutcome::AtCapacity);
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let uuid = subject.key.meeting_uuid.clone();
        // A task that has just ended (stopped, not yet cleaned up) cannot
        // take the watch: a new one does.
        let alive = books
            .meetings
            .get(&uuid)
            .is_some_and(|task| !task.commands.is_closed());
        if !alive {
            let task = self.spawn_meeting(uuid.clone());
            books.meetings.insert(uuid.clone(), task);
        }
        let task = &books.meetings[&uuid];
        let meeting = task.id;
        let key = subject.key.clone();
        // A task retires under this lock, and only with no command waiting
        // and no watch of its own: it is alive to read this one.
        let _ = task.commands.send(Command::Join(Box::new(Joining {
            subject,
            id,
            resume,
        })));
        books.watches.insert(key, Watch { id, meeting });
        metrics.active.set(books.watches.len() as i64);
        drop(books);
        metrics.started.inc();
        Ok(())
    }

    /// Starts the polling task of a meeting on the application's tracker,
    /// in a `meeting` span.
    fn spawn_meeting(&self, uuid: String) -> MeetingTask {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (commands, receiver) = mpsc::unbounded_channel();
        let stop = Arc::new(StopRequest::new(self.inner.cancel.child_token()));
        let span = tracing::info_span!("meeting", meeting = %uuid);
        let host = Host {
            monitor: self.clone(),
            meeting: id,
            uuid,
        };
        let task_stop = stop.clone();
        self.inner.tracker.spawn(
            async move {
                // Frees the registry entries however the task ends, a panic
                // included, so no key stays "already watching".
                let _entries = EntryGuard {
                    monitor: host.monitor.clone(),
                    meeting: id,
                    uuid: host.uuid.clone(),
                };
                let inner = &host.monitor.inner;
                let poller = MeetingPoller::new(
                    &inner.poll,
                    &inner.store,
                    &host,
                    inner.sink.as_ref(),
                    id,
                    host.uuid.clone(),
                );
                let end = poller.run(receiver, &task_stop).await;
                host.monitor.act_on(&host.uuid, &end);
            }
            .instrument(span),
        );
        MeetingTask { id, commands, stop }
    }

    /// What a meeting's end means for the other watches.
    fn act_on(&self, meeting_uuid: &str, end: &PollEnd) {
        match end {
            PollEnd::Done => {}
            PollEnd::MeetingOver => {
                let others = self.stop_meeting_now(meeting_uuid, StopReason::NotLive);
                self.inner.store.write(Write::MeetingEnded {
                    uuid: meeting_uuid.to_owned(),
                    at: Utc::now(),
                });
                tracing::info!(watchers = others, "Zoom says the meeting is not live");
            }
            PollEnd::NotEntitled { message } => self.disable_polling(message),
        }
    }

    /// Stops one watcher. Harmless when there is none (a `left` before its
    /// `joined`, or twice). Returns once the store remembers that the
    /// participant left.
    pub async fn stop_watch(&self, key: &ParticipantKey, reason: StopReason) -> bool {
        let remembered = reason
            .participant_gone()
            .then(|| self.remember_ended_participant(key));
        let stopped = {
            let books = self.books();
            let task = books
                .watches
                .get(key)
                .and_then(|watch| Some((watch.id, books.meetings.get(&key.meeting_uuid)?)));
            match task {
                Some((id, task)) => {
                    let _ = task.commands.send(Command::Leave { id, reason });
                    true
                }
                None => false,
            }
        };
        if let Some(write) = remembered {
            self.save(write).await;
        }
        stopped
    }

    /// Stops every watcher of a meeting. Returns how many were stopped, once
    /// the store remembers that the meeting ended.
    pub async fn stop_meeting(&self, meeting_uuid: &str, reason: StopReason) -> usize {
        let stopped = self.stop_meeting_now(meeting_uuid, reason);
        self.save(Write::MeetingEnded {
            uuid: meeting_uuid.to_owned(),
            at: Utc::now(),
        })
        .await;
        stopped
    }

    fn stop_meeting_now(&self, meeting_uuid: &str, reason: StopReason) -> usize {
        let forgotten = {
            let now = Instant::now();
            let mut ended = self.ended();
            let inserted = ended.meetings.insert(meeting_uuid.to_owned(), now, now);
            self.metrics().remembered_ended(&ended);
            inserted.forgotten
        };
        self.forgot_early(ENDED_MEETINGS, forgotten);
        let books = self.books();
        let Some(task) = books.meetings.get(meeting_uuid) else {
            return 0;
        };
        task.stop.request(reason);
        books
            .watches
            .values()
            .filter(|watch| watch.meeting == task.id)
            .count()
    }

    async fn save(&self, write: Write) {
        if let Err(error) = self.inner.store.write_durably(write).await {
            tracing::warn!(%error, "not saved: it will not survive a restart");
        }
    }

    /// Stops every watcher, for example when Zoom says the account is not entitled.
    pub fn stop_all(&self, reason: StopReason) -> usize {
        let books = self.books();
        for task in books.meetings.values() {
            task.stop.request(reason);
        }
        books.watches.len()
    }

    fn finish_watch(&self, subject: &WatchSubject, id: u64, reason: StopReason) {
        let ours = self.release_entry(&subject.key, id);
        if reason.participant_gone() {
            let write = self.remember_ended_participant(&subject.key);
            self.inner.store.write(write);
        }
        self.metrics().stopped(reason);
        // A watch stopped by a shutdown is still running as far as the
        // store knows: the next start resumes it.
        if ours && !reason.watch_goes_on() {
            self.inner.store.write(Write::WatchEnded {
                key: subject.key.clone(),
                reason,
                at: Utc::now(),
            });
        }
        tracing::info!(%reason, "stopped watching participant");
    }

    /// Removes the registry entry of watch `id`; false when it was already
    /// gone or belongs to a newer watch of the same key.
    fn release_entry(&self, key: &ParticipantKey, id: u64) -> bool {
        let mut books = self.books();
        let ours = books.watches.get(key).is_some_and(|w| w.id == id);
        if ours {
            books.watches.remove(key);
        }
        self.metrics().active.set(books.watches.len() as i64);
        ours
    }

    fn disable_polling(&self, message: &str) {
        {
            let mut until = self
                .inner
                .polling_disabled_until
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *until = Some(Instant::now() + NOT_ENTITLED_COOL_OFF);
        }
        self.metrics().polling_disabled.set(1);
        let stopped = self.stop_all(StopReason::NotEntitled);
        tracing::error!(
            zoom_message = message,
            stopped_watchers = stopped,
            retry_in_s = NOT_ENTITLED_COOL_OFF.as_secs(),
            "Zoom says this account cannot use the Dashboard API (code 200): it needs a \
             Business plan or higher with the Dashboard enabled, and the app needs the \
             dashboard_meetings:read:admin scope. All polling is stopped."
        );
    }
}

/// The registry as one meeting task's host.
struct Host {
    monitor: Monitor,
    meeting: u64,
    uuid: String,
}

impl MeetingHost for Host {
    fn member_finished(&self, subject: &WatchSubject, id: u64, reason: StopReason) {
        self.monitor.finish_watch(subject, id, reason);
    }

    fn retire(&self, commands: &mpsc::UnboundedReceiver<Command>) -> bool {
        let mut books = self.monitor.books();
        let waiting =
            !commands.is_empty() || books.watches.values().any(|w| w.meeting == self.meeting);
        if waiting {
            return false;
        }
        if books
            .meetings
            .get(&self.uuid)
            .is_some_and(|task| task.id == self.meeting)
        {
            books.meetings.remove(&self.uuid);
        }
        true
    }
}

/// Frees a meeting task's registry entries (its watches, itself) when the
/// task ends in any way.
struct EntryGuard {
    monitor: Monitor,
    meeting: u64,
    uuid: String,
}

impl Drop for EntryGuard {
    fn drop(&mut self) {
        let mut books = self.monitor.books();
        books
            .watches
            .retain(|_, watch| watch.meeting != self.meeting);
        if books
            .meetings
            .get(&self.uuid)
            .is_some_and(|task| task.id == self.meeting)
        {
            books.meetings.remove(&self.uuid);
        }
        self.monitor
            .metrics()
            .active
            .set(books.watches.len() as i64);
    }
}
