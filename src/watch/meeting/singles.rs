//! A round of one request per due member.

use chrono::Utc;
use qoswatch_core::subject::StopReason;
use tokio::time::Instant;

use super::{MeetingPoller, PollEnd};
use crate::zoom::client::ZoomError;

impl MeetingPoller<'_> {
    /// One request per due member. `Some` when the meeting's polling ends.
    pub(super) async fn singles_round(&mut self, due: &[usize]) -> Option<PollEnd> {
        for &index in due {
            if self.members[index].ending.is_some() {
                continue;
            }
            let (user_id, last_seen) = {
                let member = &self.members[index];
                (member.subject.key.user_id.clone(), member.last_seen)
            };
            let answer = self
                .ctx
                .client
                .participant_qos(self.call(), &user_id, last_seen)
                .await;
            let now = Utc::now();
            tracing::trace!(ok = answer.is_ok(), "polled Zoom for one participant");
            match answer {
                Ok((qos, report)) => {
                    self.count_report(&report);
                    self.answered(index, qos, now);
                }
                Err(ZoomError::NotLive) if self.members[index].answered_before => {
                    return Some(PollEnd::MeetingOver);
                }
                Err(ZoomError::NotLive) => {
                    // Never answered for this participant: a wrong or stale
                    // id says nothing about the others.
                    tracing::info!(participant = %user_id, "Zoom knows no live meeting for this participant");
                    self.members[index].ending = Some(StopReason::NotLive);
                }
                Err(error @ ZoomError::Rejected { .. }) if self.ctx.planner.adaptive() => {
                    // docs/ZOOM.md: the list endpoint needs no participant
                    // id; it is the fallback when Zoom refuses ours.
                    self.list_only = true;
                    self.members[index].retry_at = Some(Instant::now());
                    if let Some(unlogged) = self.ctx.fallback_log.occurred(Instant::now()) {
                        tracing::warn!(%error, not_logged_since = unlogged,
                            "Zoom refused a participant id: this meeting is polled through the list endpoint");
                    }
                    return None;
                }
                Err(error) => return self.failed(&[index], error, now),
            }
        }
        None
    }
}
