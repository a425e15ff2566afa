//! What an answer for a member does: new samples to its observer.

use chrono::{DateTime, Utc};
use qoswatch_core::qos::ParticipantQos;
use qoswatch_core::subject::StopReason;
use tokio::time::Instant;

use super::MeetingPoller;
use crate::store::Write;

impl MeetingPoller<'_> {
    /// Zoom answered for member `index`: new samples to its observer, then
    /// the stop conditions an answer can carry (`leave_time`, staleness).
    pub(super) fn answered(&mut self, index: usize, qos: ParticipantQos, now: DateTime<Utc>) {
        let planner = &self.ctx.planner;
        let metrics = &self.ctx.metrics;
        let stale_after = self.settings().stale_after;
        let member = &mut self.members[index];
        if member.ending.is_some() {
            return;
        }
        let instant = Instant::now();
        if let Some(previous) = member.last_refresh {
            planner.refreshed(instant - previous);
        }
        member.last_refresh = Some(instant);
        member.due_from = instant;
        member.retry_at = None;
        member.failures = 0;
        member.answered_before = true;
        member.subject.merge_details(&qos.details);
        let mut samples = qos.samples;
        samples.sort_by_key(|s| s.at);
        let seen = member.last_seen;
        let mut any_new = false;
        for sample in samples {
            if member.last_seen.is_some_and(|seen| sample.at <= seen) {
                continue;
            }
            member.last_seen = Some(sample.at);
            any_new = true;
            tracing::debug!(participant = %member.subject.key.user_id, at = %sample.at, "new QoS sample");
            metrics.samples.inc();
            member.observer.sample(&member.subject, &sample, now);
        }
        if any_new {
            member.last_new_sample = instant;
        } else {
            member.observer.idle(&member.subject, now);
        }
        if member.last_seen != seen {
            // Samples are deduplicated by time across a restart too.
            self.store.write(Write::WatchProgress {
                key: member.subject.key.clone(),
                last_seen: member.last_seen,
                alert_state: None,
                events: Vec::new(),
            });
        }
        member.calm_answers = if member.urgent() {
            0
        } else if any_new {
            member.calm_answers.saturating_add(1)
        } else {
            member.calm_answers
        };
        if qos.details.leave_time.is_some() {
            member.ending = Some(StopReason::LeaveTime);
        } else if member.last_new_sample.elapsed() >= stale_after {
            member.ending = Some(StopReason::Stale);
        }
    }
}
