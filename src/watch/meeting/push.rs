//! The QSS switch: a member whose samples Zoom pushes (QSS events through
//! the sample-source seam) is not polled; when its pushes stop for
//! `qss.fallback_after` while it is still watched, polling takes over,
//! and stops again when they resume. Each switch is logged once and
//! counted (`qoswatch_qss_switches`).

use tokio::time::Instant;

use super::MeetingPoller;
use super::member::Member;
use crate::watch::source::Source;

impl MeetingPoller<'_> {
    /// Until when member `m` needs no poll: its last push plus
    /// `qss.fallback_after`, while it is fed by pushes.
    pub(super) fn fed_until(&self, m: &Member) -> Option<Instant> {
        if !m.fed {
            return None;
        }
        m.pushed_at.map(|at| at + self.ctx.qss.fallback_after)
    }

    /// A push came for member `index`: fed from now on.
    pub(super) fn pushed(&mut self, index: usize, at: Instant) {
        let member = &mut self.members[index];
        member.pushed_at = Some(at);
        if member.fed {
            return;
        }
        member.fed = true;
        // Polling's own timers restart when the pushes stop.
        member.retry_at = None;
        member.failures = 0;
        self.ctx.metrics.switched(Source::Push);
        tracing::info!(
            participant = %member.subject.key.user_id,
            "QSS events arrive: participant not polled"
        );
    }

    /// Members whose pushes stopped for `qss.fallback_after`: polled again
    /// from now.
    pub(super) fn check_pushes(&mut self, now: Instant) {
        let fallback_after = self.ctx.qss.fallback_after;
        for member in &mut self.members {
            let stopped = member.fed
                && member
                    .pushed_at
                    .is_some_and(|at| now.saturating_duration_since(at) >= fallback_after);
            if !stopped {
                continue;
            }
            member.fed = false;
            member.retry_at = Some(now);
            self.ctx.metrics.switched(Source::Poll);
            tracing::info!(
                participant = %member.subject.key.user_id,
                silent_s = fallback_after.as_secs(),
                "QSS events stopped: participant polled again"
            );
        }
    }
}
