//! The polling loop of one watch: ask Zoom for the participant's QoS at
//! the polling interval, hand every sample newer than the last one seen
//! (deduplicated by Zoom's `date_time`) to the watch's observer, and back
//! off on failures. It ends on a stop condition or on cancellation and
//! returns how it ended; what that means for other watches (a meeting that
//! is over, an account without the Dashboard) is the registry's business.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use qoswatch_core::qos::{ParseReport, ParticipantQos};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::metrics::WatchMetrics;
use super::registry::Resume;
use super::sink::WatchObserver;
use super::subject::{StopReason, WatchSubject};
use crate::backoff::Backoff;
use crate::config::PollingSettings;
use crate::logging::LogEvery;
use crate::store::{Store, Write};
use crate::zoom::budget::BudgetError;
use crate::zoom::client::{ZoomClient, ZoomError};

/// What every watch's loop shares.
#[derive(Debug)]
pub(super) struct PollContext {
    pub(super) client: Arc<ZoomClient>,
    pub(super) settings: PollingSettings,
    pub(super) metrics: WatchMetrics,
    /// "More samples than taken", once a minute for every watch together.
    pub(super) samples_dropped_log: LogEvery,
}

/// A request to stop one watch: the first reason given wins, and the
/// watch's token is cancelled.
#[derive(Debug)]
pub(super) struct StopRequest {
    cancel: CancellationToken,
    reason: Mutex<Option<StopReason>>,
}

impl StopRequest {
    pub(super) fn new(cancel: CancellationToken) -> Self {
        Self {
            cancel,
            reason: Mutex::new(None),
        }
    }

    pub(super) fn request(&self, reason: StopReason) {
        let mut slot = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(reason);
        }
        drop(slot);
        self.cancel.cancel();
    }

    /// Why the watch was cancelled: the requested reason, or a shutdown
    /// when the parent token was cancelled without a request.
    fn reason(&self) -> StopReason {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or(StopReason::Shutdown)
    }
}

/// How a watch's polling ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PollEnd {
    /// This watch ends; nothing follows for the others.
    Stopped(StopReason),
    /// Zoom answered for this participant before and now says the meeting
    /// is not live: it is over, and its other watches would hear the same.
    MeetingOver,
    /// Zoom says the account cannot use the Dashboard API (code 200).
    NotEntitled { message: String },
}

impl PollEnd {
    pub(super) fn reason(&self) -> StopReason {
        match self {
            PollEnd::Stopped(reason) => *reason,
            PollEnd::MeetingOver => StopReason::NotLive,
            PollEnd::NotEntitled { .. } => StopReason::NotEntitled,
        }
    }
}

/// What the loop decided after one answer.
enum Step {
    PollAt(Instant),
    End(PollEnd),
}

/// The loop's memory between polls.
struct PollState {
    started: Instant,
    last_new_sample: Instant,
    last_seen: Option<DateTime<Utc>>,
    failures: u32,
    answered_before: bool,
}

/// Polls until a stop condition or `stop` is requested; returns how it ended.
pub(super) async fn poll_until_stopped(
    ctx: &PollContext,
    store: &Store,
    subject: &mut WatchSubject,
    observer: &mut dyn WatchObserver,
    stop: &StopRequest,
    resume: Resume,
) -> PollEnd {
    let now = Instant::now();
    let mut state = PollState {
        started: now.checked_sub(resume.age).unwrap_or(now),
        last_new_sample: now,
        last_seen: resume.last_seen,
        failures: 0,
        answered_before: false,
    };
    let mut next_poll = now;
    loop {
        tokio::select! {
            biased;
            () = stop.cancel.cancelled() => return PollEnd::Stopped(stop.reason()),
            () = tokio::time::sleep_until(next_poll) => {}
        }
        if state.started.elapsed() >= ctx.settings.max_watch_age {
            return PollEnd::Stopped(StopReason::MaxAge);
        }
        let answer = tokio::select! {
            biased;
            () = stop.cancel.cancelled() => return PollEnd::Stopped(stop.reason()),
            answer = ctx.client.participant_qos(&subject.meeting.uuid, &subject.participant.user_id) => answer,
        };
        let now = Utc::now();
        tracing::trace!(ok = answer.is_ok(), "polled Zoom");
        let step = match answer {
            Ok((qos, report)) => {
                let seen = state.last_seen;
                let step = state.answered(ctx, subject, observer, qos, &report, now);
                if state.last_seen != seen {
                    // Samples are deduplicated by time across a restart too.
                    store.write(Write::WatchProgress {
                        key: subject.key.clone(),
                        last_seen: state.last_seen,
                        alert_state: None,
                        events: Vec::new(),
                    });
                }
                step
            }
            Err(error) => state.failed(ctx, subject, observer, error, now),
        };
        match step {
            Step::PollAt(at) => next_poll = at,
            Step::End(end) => return end,
        }
    }
}

impl PollState {
    /// Zoom answered: new samples to the observer, then the stop conditions
    /// an answer can carry (`leave_time`, staleness).
    fn answered(
        &mut self,
        ctx: &PollContext,
        subject: &mut WatchSubject,
        observer: &mut dyn WatchObserver,
        qos: ParticipantQos,
        report: &ParseReport,
        now: DateTime<Utc>,
    ) -> Step {
        self.failures = 0;
        self.answered_before = true;
        count_bad_values(ctx, report);
        subject.merge_details(&qos.details);
        let mut samples = qos.samples;
        samples.sort_by_key(|s| s.at);
        let mut any_new = false;
        for sample in samples {
            if self.last_seen.is_some_and(|seen| sample.at <= seen) {
                continue;
            }
            self.last_seen = Some(sample.at);
            any_new = true;
            tracing::debug!(at = %sample.at, "new QoS sample");
            ctx.metrics.samples.inc();
            observer.sample(subject, &sample, now);
        }
        if any_new {
            self.last_new_sample = Instant::now();
        } else {
            observer.idle(subject, now);
        }
        if qos.details.leave_time.is_some() {
            return Step::End(PollEnd::Stopped(StopReason::LeaveTime));
        }
        if self.last_new_sample.elapsed() >= ctx.settings.stale_after {
            return Step::End(PollEnd::Stopped(StopReason::Stale));
        }
        Step::PollAt(Instant::now() + ctx.settings.interval)
    }

    /// Zoom did not answer with QoS: one policy per kind of failure.
    fn failed(
        &mut self,
        ctx: &PollContext,
        subject: &WatchSubject,
        observer: &mut dyn WatchObserver,
        error: ZoomError,
        now: DateTime<Utc>,
    ) -> Step {
        match error {
            ZoomError::RateLimited { .. } => {
                // The budget already holds every watcher; ask again and the
                // next slot comes after the pause.
                observer.idle(subject, now);
                Step::PollAt(Instant::now())
            }
            ZoomError::Quota(BudgetError::DailyQuotaExhausted { reset_in, .. }) => {
                observer.idle(subject, now);
                Step::PollAt(Instant::now() + reset_in)
            }
            ZoomError::NotLive if self.answered_before => Step::End(PollEnd::MeetingOver),
            ZoomError::NotLive => {
                // Never answered for this participant: a wrong or stale id
                // says nothing about the others.
                tracing::info!("Zoom knows no live meeting for this participant");
                Step::End(PollEnd::Stopped(StopReason::NotLive))
            }
            ZoomError::NotEntitled { message } => Step::End(PollEnd::NotEntitled { message }),
            error @ ZoomError::Rejected { .. } => {
                tracing::error!(%error, "Zoom refused the QoS request for this participant");
                Step::End(PollEnd::Stopped(StopReason::Rejected))
            }
            ZoomError::AnswerTooLarge { .. } => {
                // A failed poll like a 5xx; the client logs it once a minute,
                // so as not to log it once per watch and poll.
                let wait = self.retry_delay(&ctx.settings);
                ctx.metrics.poll_errors.inc();
                tracing::debug!(
                    retry_in_ms = wait.as_millis() as u64,
                    "Zoom answer too large"
                );
                observer.idle(subject, now);
                Step::PollAt(Instant::now() + wait)
            }
            error => {
                let wait = self.retry_delay(&ctx.settings);
                ctx.metrics.poll_errors.inc();
                if matches!(error, ZoomError::BadCredentials { .. }) {
                    tracing::error!(%error, "check ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET");
                } else {
                    tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, "poll failed");
                }
                observer.idle(subject, now);
                Step::PollAt(Instant::now() + wait)
            }
        }
    }

    /// The wait after one more failed poll: from the polling interval (at
    /// most 5 s) up to `max_backoff` (at least the interval).
    fn retry_delay(&mut self, settings: &PollingSettings) -> Duration {
        self.failures = self.failures.saturating_add(1);
        Backoff::new(
            settings.interval.min(Duration::from_secs(5)),
            settings.max_backoff.max(settings.interval),
        )
        .delay(self.failures)
    }
}

fn count_bad_values(ctx: &PollContext, report: &ParseReport) {
    if report.samples_dropped > 0 {
        ctx.metrics
            .samples_dropped
            .inc_by(report.samples_dropped as u64);
        if let Some(unlogged) = ctx.samples_dropped_log.occurred(Instant::now()) {
            tracing::warn!(
                dropped = report.samples_dropped,
                kept = crate::zoom::client::MAX_SAMPLES_PER_ANSWER,
                answers_not_logged_since = unlogged,
                "Zoom answered more samples than are taken from one answer: the oldest were left out"
            );
        }
    }
    if report.bad_value_count == 0 {
        return;
    }
    ctx.metrics.bad_values.inc_by(report.bad_value_count as u64);
    tracing::warn!(
        count = report.bad_value_count,
        fields = ?report.bad_values.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        "unreadable QoS values treated as no data"
    );
}
