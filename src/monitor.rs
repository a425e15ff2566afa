//! The registry of watchers: one owned task per participant, polling Zoom
//! for QoS until the participant leaves, and handing every new sample to a
//! [`SampleSink`].
//!
//! Start and stop are idempotent and keyed by [`ParticipantKey`]: Zoom
//! delivers webhooks at least once, out of order, sometimes never.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::config::PollingSettings;
use crate::store::WatchStore;
use crate::zoom::budget::backoff_with_jitter;
use crate::zoom::client::{ZoomClient, ZoomError};
use qoswatch_core::alert::{MeetingInfo, ParticipantInfo, ParticipantKey};
use qoswatch_core::qos::{ParticipantDetails, QosSample};

/// Who a watch is about. The participant details grow as Zoom's answers
/// tell more (device, location).
#[derive(Debug, Clone, PartialEq)]
pub struct WatchSubject {
    pub key: ParticipantKey,
    pub meeting: MeetingInfo,
    pub participant: ParticipantInfo,
}

/// Why a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// `meeting.participant_left` arrived.
    Left,
    /// `meeting.ended` arrived.
    MeetingEnded,
    /// Zoom's QoS answer carried a `leave_time`.
    LeaveTime,
    /// Zoom answered 404 / code 3001: the meeting is not live.
    NotLive,
    /// Zoom answered 400 / code 200: the account cannot use the Dashboard API.
    NotEntitled,
    /// Zoom refused the request for good (another 4xx).
    Rejected,
    /// No new sample for `polling.stale_after`.
    Stale,
    /// The watch reached `polling.max_watch_age`.
    MaxAge,
    /// qoswatch is shutting down.
    Shutdown,
}

impl StopReason {
    /// Short snake_case name, for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Left => "left",
            StopReason::MeetingEnded => "meeting_ended",
            StopReason::LeaveTime => "leave_time",
            StopReason::NotLive => "not_live",
            StopReason::NotEntitled => "not_entitled",
            StopReason::Rejected => "rejected",
            StopReason::Stale => "stale",
            StopReason::MaxAge => "max_age",
            StopReason::Shutdown => "shutdown",
        }
    }
}

impl EncodeLabelValue for StopReason {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), fmt::Error> {
        fmt::Write::write_str(encoder, self.as_str())
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            StopReason::Left => "participant left",
            StopReason::MeetingEnded => "meeting ended",
            StopReason::LeaveTime => "Zoom reports the participant left",
            StopReason::NotLive => "meeting not live",
            StopReason::NotEntitled => "account not entitled to the Dashboard API",
            StopReason::Rejected => "Zoom refused the request",
            StopReason::Stale => "no new sample",
            StopReason::MaxAge => "maximum watch age reached",
            StopReason::Shutdown => "shutdown",
        };
        f.write_str(text)
    }
}

/// Receives what one watch observes. Owned by the watcher task, so it may
/// keep per-participant state (the rules engine's alert state) without locks.
pub trait WatchObserver: Send {
    /// A sample newer than any seen before in this watch.
    fn sample(&mut self, subject: &WatchSubject, sample: &QosSample, now: DateTime<Utc>);
    /// A poll brought nothing new (or failed); time passes.
    fn idle(&mut self, subject: &WatchSubject, now: DateTime<Utc>);
    /// The watch ended; the last call.
    fn finished(&mut self, subject: &WatchSubject, reason: StopReason, now: DateTime<Utc>);
}

/// The seam through which samples leave the watchers: one observer per watch.
pub trait SampleSink: Send + Sync + fmt::Debug {
    fn open(&self, subject: &WatchSubject) -> Box<dyn WatchObserver>;
}

/// A sink that logs every sample at debug level and counts it. Used when no
/// rules file is configured.
#[derive(Debug, Clone)]
pub struct LoggingSink {
    samples: Counter,
}

impl LoggingSink {
    pub fn new(registry: &mut Registry) -> Self {
        let samples = Counter::default();
        registry.register(
            "qoswatch_samples_logged",
            "QoS samples logged without rules",
            samples.clone(),
        );
        Self { samples }
    }
}

impl SampleSink for LoggingSink {
    fn open(&self, _subject: &WatchSubject) -> Box<dyn WatchObserver> {
        Box::new(self.clone())
    }
}

impl WatchObserver for LoggingSink {
    fn sample(&mut self, subject: &WatchSubject, sample: &QosSample, _now: DateTime<Utc>) {
        self.samples.inc();
        tracing::debug!(
            meeting = %subject.key.meeting_uuid,
            participant = %subject.key.user_id,
            at = %sample.at,
            streams = sample.streams.len(),
            "QoS sample"
        );
    }

    fn idle(&mut self, _subject: &WatchSubject, _now: DateTime<Utc>) {}

    fn finished(&mut self, _subject: &WatchSubject, _reason: StopReason, _now: DateTime<Utc>) {}
}

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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: StopReason,
}

#[derive(Debug, Clone, Default)]
struct MonitorMetrics {
    active: Gauge,
    started: Counter,
    duplicates: Counter,
    refused: Counter,
    stopped: Family<ReasonLabel, Counter>,
    samples: Counter,
    bad_values: Counter,
    poll_errors: Counter,
    polling_disabled: Gauge,
}

#[derive(Debug)]
struct Watch {
    id: u64,
    cancel: CancellationToken,
    reason: Arc<Mutex<Option<StopReason>>>,
}

#[derive(Debug)]
struct Inner {
    watches: Mutex<HashMap<ParticipantKey, Watch>>,
    next_id: AtomicU64,
    tracker: TaskTracker,
    cancel: CancellationToken,
    client: Arc<ZoomClient>,
    sink: Arc<dyn SampleSink>,
    store: Arc<dyn WatchStore>,
    settings: PollingSettings,
    /// Set after Zoom's code 200: no polling until then.
    polling_disabled_until: Mutex<Option<Instant>>,
    /// Participants and meetings whose watch ended recently, so that a late
    /// retry of `participant_joined` does not watch someone who is gone.
    ended: Mutex<Ended>,
    metrics: MonitorMetrics,
}

/// How long ended participants and meetings are remembered: longer than
/// Zoom's last webhook retry (about 85 minutes after the first attempt).
const REMEMBER_ENDED: Duration = Duration::from_secs(2 * 3600);

/// Recently ended watches and meetings, forgotten after [`REMEMBER_ENDED`].
#[derive(Debug, Default)]
struct Ended {
    participants: HashMap<ParticipantKey, Instant>,
    meetings: HashMap<String, Instant>,
}

impl Ended {
    fn prune(&mut self, now: Instant) {
        self.participants
            .retain(|_, at| now.duration_since(*at) < REMEMBER_ENDED);
        self.meetings
            .retain(|_, at| now.duration_since(*at) < REMEMBER_ENDED);
    }

    fn contains(&self, key: &ParticipantKey) -> bool {
        self.participants.contains_key(key) || self.meetings.contains_key(&key.meeting_uuid)
    }
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
        store: Arc<dyn WatchStore>,
        settings: PollingSettings,
        tracker: TaskTracker,
        cancel: CancellationToken,
        registry: &mut Registry,
    ) -> Self {
        let metrics = MonitorMetrics::default();
        registry.register(
            "qoswatch_watchers_active",
            "Participants being watched",
            metrics.active.clone(),
        );
        registry.register(
            "qoswatch_watchers_started",
            "Watches started",
            metrics.started.clone(),
        );
        registry.register(
            "qoswatch_watch_duplicate_starts",
            "participant_joined for an already watched participant",
            metrics.duplicates.clone(),
        );
        registry.register(
            "qoswatch_watch_refused",
            "Watches not started (capacity, polling disabled, shutdown)",
            metrics.refused.clone(),
        );
        registry.register(
            "qoswatch_watchers_stopped",
            "Watches ended, by reason",
            metrics.stopped.clone(),
        );
        registry.register(
            "qoswatch_samples",
            "New QoS samples handed to the rules",
            metrics.samples.clone(),
        );
        registry.register(
            "qoswatch_qos_bad_values",
            "QoS values that could not be parsed (treated as no data)",
            metrics.bad_values.clone(),
        );
        registry.register(
            "qoswatch_polling_disabled",
            "1 while Zoom says the account cannot use the Dashboard API (code 200)",
            metrics.polling_disabled.clone(),
        );
        registry.register(
            "qoswatch_poll_errors",
            "Failed polls (retried with back-off)",
            metrics.poll_errors.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                watches: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                tracker,
                cancel,
                client,
                sink,
                store,
                settings,
                polling_disabled_until: Mutex::new(None),
                ended: Mutex::new(Ended::default()),
                metrics,
            }),
        }
    }

    fn watches(&self) -> std::sync::MutexGuard<'_, HashMap<ParticipantKey, Watch>> {
        self.inner.watches.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ended(&self) -> std::sync::MutexGuard<'_, Ended> {
        self.inner.ended.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers that a participant left (even one never watched: a `left`
    /// can arrive before its `joined`).
    fn remember_ended_participant(&self, key: &ParticipantKey) {
        let now = Instant::now();
        let mut ended = self.ended();
        ended.prune(now);
        ended.participants.insert(key.clone(), now);
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
                self.inner.metrics.polling_disabled.set(0);
                false
            }
            None => false,
        }
    }

    /// Starts watching a participant, unless already watched. Never blocks:
    /// the caller is the webhook handler.
    pub fn start_watch(&self, meeting: MeetingInfo, participant: ParticipantInfo) -> StartOutcome {
        let metrics = &self.inner.metrics;
        if self.inner.cancel.is_cancelled() {
            metrics.refused.inc();
            return StartOutcome::ShuttingDown;
        }
        if self.polling_disabled() {
            metrics.refused.inc();
            return StartOutcome::PollingDisabled;
        }
        let key = ParticipantKey {
            meeting_uuid: meeting.uuid.clone(),
            user_id: participant.user_id.clone(),
        };
        if self.ended().contains(&key) {
            metrics.duplicates.inc();
            return StartOutcome::AlreadyEnded;
        }
        let mut watches = self.watches();
        if watches.contains_key(&key) {
            metrics.duplicates.inc();
            return StartOutcome::AlreadyWatching;
        }
        if watches.len() >= self.inner.settings.max_watchers {
            metrics.refused.inc();
            tracing::warn!(
                max_watchers = self.inner.settings.max_watchers,
                "watcher limit reached: participant not watched"
            );
            return StartOutcome::AtCapacity;
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let cancel = self.inner.cancel.child_token();
        let reason = Arc::new(Mutex::new(None));
        watches.insert(
            key.clone(),
            Watch {
                id,
                cancel: cancel.clone(),
                reason: reason.clone(),
            },
        );
        metrics.active.set(watches.len() as i64);
        drop(watches);
        metrics.started.inc();

        let subject = WatchSubject {
            key: key.clone(),
            meeting,
            participant,
        };
        self.inner.store.watch_started(&subject);
        let span = tracing::info_span!(
            "watch",
            meeting = %key.meeting_uuid,
            participant = %key.user_id,
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
                let stop = monitor.run_watch(subject.clone(), cancel, reason).await;
                monitor.finish_watch(&subject, id, stop);
            }
            .instrument(span),
        );
        StartOutcome::Started
    }

    /// Stops one watcher. Harmless when there is none (a `left` before its
    /// `joined`, or twice).
    pub fn stop_watch(&self, key: &ParticipantKey, reason: StopReason) -> bool {
        if reason != StopReason::Shutdown {
            self.remember_ended_participant(key);
        }
        let watches = self.watches();
        match watches.get(key) {
            Some(watch) => {
                signal_stop(watch, reason);
                true
            }
            None => false,
        }
    }

    /// Stops every watcher of a meeting. Returns how many were stopped.
    pub fn stop_meeting(&self, meeting_uuid: &str, reason: StopReason) -> usize {
        {
            let now = Instant::now();
            let mut ended = self.ended();
            ended.prune(now);
            ended.meetings.insert(meeting_uuid.to_owned(), now);
        }
        let watches = self.watches();
        let mut stopped = 0;
        for (key, watch) in watches.iter() {
            if key.meeting_uuid == meeting_uuid {
                signal_stop(watch, reason);
                stopped += 1;
            }
        }
        stopped
    }

    /// Stops every watcher, for example when Zoom says the account is not entitled.
    pub fn stop_all(&self, reason: StopReason) -> usize {
        let watches = self.watches();
        for watch in watches.values() {
            signal_stop(watch, reason);
        }
        watches.len()
    }

    fn finish_watch(&self, subject: &WatchSubject, id: u64, reason: StopReason) {
        let ours = self.release_entry(&subject.key, id);
        if reason != StopReason::Shutdown {
            self.remember_ended_participant(&subject.key);
        }
        self.inner
            .metrics
            .stopped
            .get_or_create(&ReasonLabel { reason })
            .inc();
        if ours {
            self.inner.store.watch_ended(&subject.key, reason);
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
        self.inner.metrics.active.set(watches.len() as i64);
        ours
    }

    /// The polling loop of one watch. Returns why it ended.
    async fn run_watch(
        &self,
        mut subject: WatchSubject,
        cancel: CancellationToken,
        reason: Arc<Mutex<Option<StopReason>>>,
    ) -> StopReason {
        let settings = &self.inner.settings;
        let client = &self.inner.client;
        let mut observer = self.inner.sink.open(&subject);
        let started = Instant::now();
        let mut last_new_sample = started;
        let mut last_seen: Option<DateTime<Utc>> = None;
        let mut failures: u32 = 0;
        let mut answered_before = false;
        let mut next_poll = started;

        let stop = 'watch: loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break 'watch stop_reason(&reason),
                () = tokio::time::sleep_until(next_poll) => {}
            }
            if started.elapsed() >= settings.max_watch_age {
                break 'watch StopReason::MaxAge;
            }
            let answer = tokio::select! {
                biased;
                () = cancel.cancelled() => break 'watch stop_reason(&reason),
                answer = client.participant_qos(&subject.meeting.uuid, &subject.participant.user_id) => answer,
            };
            let now = Utc::now();
            tracing::trace!(ok = answer.is_ok(), "polled Zoom");
            match answer {
                Ok((qos, report)) => {
                    failures = 0;
                    answered_before = true;
                    if !report.bad_values.is_empty() {
                        self.inner
                            .metrics
                            .bad_values
                            .inc_by(report.bad_values.len() as u64);
                        tracing::warn!(
                            count = report.bad_values.len(),
                            fields = ?report.bad_values.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
                            "unreadable QoS values treated as no data"
                        );
                    }
                    merge_details(&mut subject.participant, &qos.details);
                    let mut samples = qos.samples;
                    samples.sort_by_key(|s| s.at);
                    let mut any_new = false;
                    for sample in samples {
                        if last_seen.is_some_and(|seen| sample.at <= seen) {
                            continue;
                        }
                        last_seen = Some(sample.at);
                        any_new = true;
                        tracing::debug!(at = %sample.at, "new QoS sample");
                        self.inner.metrics.samples.inc();
                        observer.sample(&subject, &sample, now);
                    }
                    if any_new {
                        last_new_sample = Instant::now();
                    } else {
                        observer.idle(&subject, now);
                    }
                    if qos.details.leave_time.is_some() {
                        break 'watch StopReason::LeaveTime;
                    }
                    if last_new_sample.elapsed() >= settings.stale_after {
                        break 'watch StopReason::Stale;
                    }
                    next_poll = Instant::now() + settings.interval;
                }
                Err(ZoomError::RateLimited { .. }) => {
                    // The budget already holds every watcher; ask again and
                    // the next slot comes after the pause.
                    observer.idle(&subject, now);
                    next_poll = Instant::now();
                }
                Err(ZoomError::Quota(quota)) => {
                    let crate::zoom::budget::BudgetError::DailyQuotaExhausted { reset_in, .. } =
                        quota;
                    observer.idle(&subject, now);
                    next_poll = Instant::now() + reset_in;
                }
                Err(ZoomError::NotLive) => {
                    if answered_before {
                        // Zoom answered for this participant before and now
                        // says the meeting is not live: it is over, and its
                        // other watchers would hear the same.
                        let others = self.stop_meeting(&subject.meeting.uuid, StopReason::NotLive);
                        tracing::info!(watchers = others, "Zoom says the meeting is not live");
                    } else {
                        // Never answered for this participant: a wrong or
                        // stale id says nothing about the others.
                        tracing::info!("Zoom knows no live meeting for this participant");
                    }
                    break 'watch StopReason::NotLive;
                }
                Err(ZoomError::NotEntitled { message }) => {
                    self.disable_polling(&message);
                    break 'watch StopReason::NotEntitled;
                }
                Err(error @ ZoomError::Rejected { .. }) => {
                    tracing::error!(%error, "Zoom refused the QoS request for this participant");
                    break 'watch StopReason::Rejected;
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    self.inner.metrics.poll_errors.inc();
                    let wait = backoff_with_jitter(
                        failures,
                        settings.interval.min(Duration::from_secs(5)),
                        settings.max_backoff.max(settings.interval),
                    );
                    if matches!(error, ZoomError::BadCredentials { .. }) {
                        tracing::error!(%error, "check ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET");
                    } else {
                        tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, "poll failed");
                    }
                    observer.idle(&subject, now);
                    next_poll = Instant::now() + wait;
                }
            }
        };
        observer.finished(&subject, stop, Utc::now());
        stop
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
        self.inner.metrics.polling_disabled.set(1);
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

fn signal_stop(watch: &Watch, reason: StopReason) {
    let mut slot = watch.reason.lock().unwrap_or_else(|e| e.into_inner());
    if slot.is_none() {
        *slot = Some(reason);
    }
    drop(slot);
    watch.cancel.cancel();
}

fn stop_reason(reason: &Mutex<Option<StopReason>>) -> StopReason {
    reason
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or(StopReason::Shutdown)
}

/// Adds what Zoom's answer says about the participant to what webhooks said.
fn merge_details(participant: &mut ParticipantInfo, details: &ParticipantDetails) {
    if participant.name.is_none() {
        participant.name.clone_from(&details.user_name);
    }
    if details.device.is_some() {
        participant.device.clone_from(&details.device);
    }
    if details.location.is_some() {
        participant.location.clone_from(&details.location);
    }
    if details.network_type.is_some() {
        participant.network_type.clone_from(&details.network_type);
    }
}
