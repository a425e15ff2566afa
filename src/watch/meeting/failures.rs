//! What a failed poll does, per kind of failure.

use std::time::Duration;

use chrono::{DateTime, Utc};
use qoswatch_core::qos::ParseReport;
use qoswatch_core::subject::StopReason;
use tokio::time::Instant;

use super::{MeetingPoller, PollEnd};
use crate::backoff::Backoff;
use crate::quota::budget::BudgetError;
use crate::watch::settings::PollingSettings;
use crate::zoom::client::ZoomError;

impl MeetingPoller<'_> {
    /// Zoom did not answer with QoS for `members`: one policy per kind of
    /// failure. `Some` when the meeting's polling ends.
    pub(super) fn failed(
        &mut self,
        members: &[usize],
        error: ZoomError,
        now: DateTime<Utc>,
    ) -> Option<PollEnd> {
        let instant = Instant::now();
        let settings = self.settings().clone();
        match error {
            ZoomError::RateLimited { .. } => {
                // The budget already holds every meeting; ask again and the
                // next slot comes after the pause.
                self.idle(members, now);
            }
            ZoomError::Quota(BudgetError::DailyQuotaExhausted { reset_in, .. }) => {
                for member in &mut self.members {
                    member.retry_at = Some(instant + reset_in);
                }
                let all: Vec<usize> = (0..self.members.len()).collect();
                self.idle(&all, now);
            }
            ZoomError::NotEntitled { message } => return Some(PollEnd::NotEntitled { message }),
            ZoomError::NotLive => return Some(PollEnd::MeetingOver),
            error @ ZoomError::Rejected { .. } => {
                tracing::error!(%error, "Zoom refused the QoS request for this meeting");
                for &index in members {
                    self.members[index].ending = Some(StopReason::Rejected);
                }
            }
            error => {
                self.ctx.metrics.poll_errors.inc();
                let mut longest = Duration::ZERO;
                for &index in members {
                    let member = &mut self.members[index];
                    member.failures = member.failures.saturating_add(1);
                    let wait = retry_delay(&settings, member.failures);
                    longest = longest.max(wait);
                    member.retry_at = Some(instant + wait);
                }
                match error {
                    ZoomError::AnswerTooLarge { .. } => {
                        // The client logs it once a minute, not per poll.
                        tracing::debug!(
                            retry_in_ms = longest.as_millis() as u64,
                            "Zoom answer too large"
                        );
                    }
                    ZoomError::BadCredentials { .. } => {
                        tracing::error!(%error, "check ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET");
                    }
                    error => {
                        tracing::warn!(%error, retry_in_ms = longest.as_millis() as u64, "poll failed");
                    }
                }
                self.idle(members, now);
            }
        }
        None
    }

    /// Time passes for `members` without data (repeats, missing-data alerts).
    pub(super) fn idle(&mut self, members: &[usize], now: DateTime<Utc>) {
        for &index in members {
            let member = &mut self.members[index];
            member.observer.idle(&member.subject, now);
        }
    }

    pub(super) fn count_report(&self, report: &ParseReport) {
        let ctx = self.ctx;
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
}

/// The wait after one more failed poll: from the polling interval (at most
/// 5 s) up to `max_backoff` (at least the interval).
pub(super) fn retry_delay(settings: &PollingSettings, failures: u32) -> Duration {
    Backoff::new(
        settings.interval.min(Duration::from_secs(5)),
        settings.max_backoff.max(settings.interval),
    )
    .delay(failures)
}
