//! The watcher registry: one owned task per participant, started and
//! stopped by webhooks (idempotently, keyed by [`ParticipantKey`]), and the
//! consequences a watch's end has for the others.

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

use super::ended::Ended;
use super::metrics::{ENDED_MEETINGS, ENDED_PARTICIPANTS, WatchMetrics};
use super::poll::{PollContext, PollEnd, StopRequest, poll_until_stopped};
use super::sink::SampleSink;
use super::subject::{StopReason, WatchSubject};
use crate::config::PollingSettings;
use crate::logging::LogEvery;
use crate::store::{SavedWatch, Snapshot, Store, Write};
use crate::zoom::client::ZoomClient;
use qoswatch_core::rules::SavedState;

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
}

/// A running watch, as the registry sees it.
#[derive(Debug)]
struct Watch {
    id: u64,
    stop: Arc<StopRequest>,
}

#[derive(Debug)]
struct Inner {
    watches: Mutex<HashMap<ParticipantKey, Watch>>,
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
}

use crate::store::REMEMBER_ENDED;

/// Where a watch starts from: nothing, or what the store kept of it.
#[derive(Debug, Default)]
pub(super) struct Resume {
    pub(super) last_seen: Option<DateTime<Utc>>,
    pub(super) alert_state: Option<SavedState>,
    /// How long the watch had already run before the restart.
    pub(super) age: Duration,
}

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

impl Monitor {
    pub fn new(
        client: Arc<ZoomClient>,
        sink: Arc<dyn SampleSink>,
        store: Store,
        settings: PollingSettings,
        tracker: TaskTracker,
        cancel: CancellationToken,
        registry: &mut Registry,
    ) -> Self {
        let metrics = WatchMetrics::register(registry);
        let ended = Ended::new(REMEMBER_ENDED, settings.max_remembered_ended);
        Self {
            inner: Arc::new(Inner {
                watches: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                tracker,
                cancel,
                poll: PollContext {
                    client,
                    settings,
                    metrics,
                    samples_dropped_log: LogEvery::new(Duration::from_secs(60)),
                },
                sink,
                store,
                polling_disabled_until: Mutex::new(None),
                ended: Mutex::new(ended),
                forgotten_log: LogEvery::new(Duration::from_secs(60)),
            }),
        }
    }

    fn metrics(&self) -> &WatchMetrics {
        &self.inner.poll.metrics
    }

    fn watches(&self) -> MutexGuard<'_, HashMap<ParticipantKey, Watch>> {
        self.inner.watches.lock().unwrap_or_else(|e| e.into_inner())
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
            let (id, stop) = match self.register(&subject.key) {
                Ok(registered) => registered,
                Err(StartOutcome::AlreadyEnded) => {
                    // The participant left, but the end of the watch was
                    // not saved: close it now.
                    self.inner.store.write(Write::WatchEnded {
                        key: subject.key.clone(),
                        reason: StopReason::Left,
                        at: Utc::now(),
                    });
                    continue;
                }
                Err(refused) => {
                    tracing::warn!(outcome = ?refused, "saved watch not resumed");
                    continue;
                }
            };
            let resume = Resume {
                last_seen,
                alert_state,
                age: (Utc::now() - started_at).to_std().unwrap_or_default(),
            };
            self.spawn_watch(subject, id, stop, resume);
            resumed += 1;
        }
        if resumed > 0 {
            tracing::info!(watches = resumed, "watches resumed from the store");
        }
        resumed
    }

    /// Number of running watchers.
    pub fn active(&self) -> usize {
        self.watches().len()
    }

    /// Whether a participant is being watched.
    pub fn is_watching(&self, key: &ParticipantKey) -> bool {
        self.watches().contains_key(key)
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
        meeting: MeetingInfo,
        participant: ParticipantInfo,
    ) -> StartOutcome {
        let key = ParticipantKey {
            meeting_uuid: meeting.uuid.clone(),
            user_id: participant.user_id.clone(),
        };
        let (id, stop) = match self.register(&key) {
            Ok(registered) => registered,
            Err(refused) => return refused,
        };
        let subject = WatchSubject {
            key,
            meeting,
            participant,
        };
        let written = self.inner.store.write_durably(Write::WatchStarted {
            subject: Box::new(subject.clone()),
            at: Utc::now(),
        });
        self.spawn_watch(subject, id, stop, Resume::default());
        if let Err(error) = written.await {
            tracing::warn!(%error, "watch started but not saved: it will not survive a restart");
        }
        StartOutcome::Started
    }

    /// Takes a registry slot for `key`, or says why not.
    fn register(&self, key: &ParticipantKey) -> Result<(u64, Arc<StopRequest>), StartOutcome> {
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
        let mut watches = self.watches();
        if watches.contains_key(key) {
            metrics.duplicates.inc();
            return Err(StartOutcome::AlreadyWatching);
        }
        let max_watchers = self.inner.poll.settings.max_watchers;
        if watches.len() >= max_watchers {
            metrics.refused.inc();
            tracing::warn!(
                max_watchers,
                "watcher limit reached: participant not watched"
            );
            return Err(StartOutcome::AtCapacity);
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let stop = Arc::new(StopRequest::new(self.inner.cancel.child_token()));
        watches.insert(
            key.clone(),
            Watch {
                id,
                stop: stop.clone(),
            },
        );
        metrics.active.set(watches.len() as i64);
        drop(watches);
        metrics.started.inc();
        Ok((id, stop))
    }

    /// Runs one watch on the application's tracker, in a `watch` span.
    fn spawn_watch(
        &self,
        mut subject: WatchSubject,
        id: u64,
        stop: Arc<StopRequest>,
        resume: Resume,
    ) {
        let span = tracing::info_span!(
            "watch",
            meeting = %subject.key.meeting_uuid,
            participant = %subject.key.user_id,
        );
        let monitor = self.clone();
        self.inner.tracker.spawn(
            async move {
                // Frees the registry entry however the task ends, a panic
                // included, so the key never stays "already watching".
                let _entry = EntryGuard {
                    monitor: monitor.clone(),
                    key: subject.key.clone(),
                    id,
                };
                tracing::info!("watching participant");
                let mut observer = monitor
                    .inner
                    .sink
                    .open(&subject, resume.alert_state.clone());
                let end = poll_until_stopped(
                    &monitor.inner.poll,
                    &monitor.inner.store,
                    &mut subject,
                    observer.as_mut(),
                    &stop,
                    resume,
                )
                .await;
                monitor.act_on(&subject, &end);
                observer.finished(&subject, end.reason(), Utc::now());
                monitor.finish_watch(&subject, id, end.reason());
            }
            .instrument(span),
        );
    }

    /// What a watch's end means for the other watches.
    fn act_on(&self, subject: &WatchSubject, end: &PollEnd) {
        match end {
            PollEnd::Stopped(_) => {}
            PollEnd::MeetingOver => {
                let others = self.stop_meeting_now(&subject.meeting.uuid, StopReason::NotLive);
                self.inner.store.write(Write::MeetingEnded {
                    uuid: subject.meeting.uuid.clone(),
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
        let stopped = match self.watches().get(key) {
            Some(watch) => {
                watch.stop.request(reason);
                true
            }
            None => false,
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
        let watches = self.watches();
        let mut stopped = 0;
        for (key, watch) in watches.iter() {
            if key.meeting_uuid == meeting_uuid {
                watch.stop.request(reason);
                stopped += 1;
            }
        }
        stopped
    }

    async fn save(&self, write: Write) {
        if let Err(error) = self.inner.store.write_durably(write).await {
            tracing::warn!(%error, "not saved: it will not survive a restart");
        }
    }

    /// Stops every watcher, for example when Zoom says the account is not entitled.
    pub fn stop_all(&self, reason: StopReason) -> usize {
        let watches = self.watches();
        for watch in watches.values() {
            watch.stop.request(reason);
        }
        watches.len()
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
        if ours && reason != StopReason::Shutdown {
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
        let mut watches = self.watches();
        let ours = watches.get(key).is_some_and(|w| w.id == id);
        if ours {
            watches.remove(key);
        }
        self.metrics().active.set(watches.len() as i64);
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

/// Frees a watch's registry entry when its task ends in any way.
struct EntryGuard {
    monitor: Monitor,
    key: ParticipantKey,
    id: u64,
}

impl Drop for EntryGuard {
    fn drop(&mut self) {
        self.monitor.release_entry(&self.key, self.id);
    }
}
