//! Where samples reach a member's observer, whatever their [`Source`]:
//! an answer of the poll ([`MeetingPoller::answered`]) and samples another
//! source delivered ([`MeetingPoller::delivered`]) both go through
//! [`MeetingPoller::take_samples`], the one deduplication by `date_time`.

use chrono::{DateTime, Utc};
use qoswatch_core::qos::{ParticipantQos, QosSample};
use qoswatch_core::subject::StopReason;
use tokio::time::Instant;

use super::MeetingPoller;
use crate::store::Write;
use crate::watch::sink::SharedSubject;
use crate::watch::source::Source;

impl MeetingPoller<'_> {
    /// Zoom answered for member `index`: new samples to its observer, then
    /// the stop conditions an answer can carry (`leave_time`, staleness).
    pub(super) fn answered(&mut self, index: usize, qos: ParticipantQos, now: DateTime<Utc>) {
        let stale_after = self.settings().stale_after;
        if self.members[index].ending.is_some() {
            return;
        }
        let instant = Instant::now();
        let member = &mut self.members[index];
        if let Some(previous) = member.last_refresh {
            self.ctx.planner.refreshed(instant - previous);
        }
        member.last_refresh = Some(instant);
        member.due_from = instant;
        member.retry_at = None;
        member.failures = 0;
        member.answered_before = true;
        if member.subject.changed_by(&qos.details) {
            SharedSubject::make_mut(&mut member.subject).merge_details(&qos.details);
        }
        let any_new = self.take_samples(index, qos.samples, Source::Poll, now, instant) > 0;
        let member = &mut self.members[index];
        if !any_new {
            member.observer.idle(&member.subject, now);
        }
        if qos.details.leave_time.is_some() {
            member.ending = Some(StopReason::LeaveTime);
        } else if member.last_new_sample.elapsed() >= stale_after {
            member.ending = Some(StopReason::Stale);
        }
    }

    /// Another source delivered samples for the member whose registry id
    /// is `id`: the same path as polled samples. A duplicate of what came
    /// before (from any source) is dropped, and no poll bookkeeping moves:
    /// the interval, retries and `idle` stay the poll's. Returns how many
    /// were new; `None` when no running member has this id (it ended, or
    /// is ending).
    pub(super) fn delivered(
        &mut self,
        id: u64,
        samples: Vec<QosSample>,
        source: Source,
        now: DateTime<Utc>,
    ) -> Option<usize> {
        let Some(index) = self
            .members
            .iter()
            .position(|m| m.id == id && m.ending.is_none())
        else {
            self.ctx.metrics.not_watched(source, samples.len());
            return None;
        };
        let instant = Instant::now();
        let new = self.take_samples(index, samples, source, now, instant);
        if source == Source::Push {
            // Events arrive, new or repeats of what a poll took first.
            self.pushed(index, instant);
        }
        Some(new)
    }

    /// The one deduplication: sorted by time, each sample newer than the
    /// member's last (`last_seen`, Zoom's `date_time`) to its observer once;
    /// the new `last_seen` to the store. Returns how many were new.
    pub(super) fn take_samples(
        &mut self,
        index: usize,
        mut samples: Vec<QosSample>,
        source: Source,
        now: DateTime<Utc>,
        instant: Instant,
    ) -> usize {
        let metrics = &self.ctx.metrics;
        let member = &mut self.members[index];
        samples.sort_by_key(|s| s.at);
        let seen = member.last_seen;
        let mut new = 0usize;
        for sample in samples {
            if member.last_seen.is_some_and(|seen| sample.at <= seen) {
                metrics.repeated(source);
                continue;
            }
            member.last_seen = Some(sample.at);
            new += 1;
            tracing::debug!(participant = %member.subject.key.user_id, at = %sample.at, %source, "new QoS sample");
            metrics.samples.inc();
            member.observer.sample(&member.subject, &sample, now);
        }
        metrics.taken(source, new);
        if new > 0 {
            member.last_new_sample = instant;
            member.observer.answered(&member.subject);
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
        new
    }
}
