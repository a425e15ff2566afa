//! Early signals (`crate::watch::signals`) reaching the meeting tasks.

use qoswatch_core::alert::MeetingKey;
use qoswatch_core::subject::{StopReason, WatchSubject};
use tokio::time::Instant;

use super::Monitor;
use crate::watch::meeting::Command;
use crate::watch::signals::{Person, Signal, URGENT_INTERVALS};

impl Monitor {
    /// How long an early signal keeps its participants urgent.
    pub(super) fn urgency(&self) -> std::time::Duration {
        self.inner.settings.interval * URGENT_INTERVALS
    }

    /// Zoom's `meeting.alert` for `meeting`: if this replica polls the
    /// meeting, its watched participants become urgent and are polled at
    /// once. Returns whether it polls the meeting. Never blocks.
    pub fn meeting_alert(&self, meeting: &MeetingKey) -> bool {
        let urgent_for = self.urgency();
        let sent = self
            .books()
            .meetings
            .get(meeting)
            .is_some_and(|task| task.commands.send(Command::Hurry { urgent_for }).is_ok());
        if sent {
            self.metrics().early_signal(Signal::MeetingAlert);
            tracing::info!(%meeting, "Zoom's meeting alert: polling the meeting's participants at once");
        }
        sent
    }

    /// A watch ended: a participant who left is remembered (by who they
    /// are, not their `user_id`) for the rejoin window.
    pub(super) fn remember_leave(&self, subject: &WatchSubject, reason: StopReason) {
        if !matches!(reason, StopReason::Left | StopReason::LeaveTime) {
            return;
        }
        let Some(person) = Person::of(subject) else {
            return;
        };
        let now = Instant::now();
        self.left_recently().insert(person, now, now);
    }

    /// Whether the subject left this meeting within the rejoin window (a
    /// dropped call); counted when it did.
    pub(super) fn rejoined(&self, subject: &WatchSubject) -> bool {
        let Some(person) = Person::of(subject) else {
            return false;
        };
        let rejoined = self.left_recently().contains(&person, Instant::now());
        if rejoined {
            self.metrics().early_signal(Signal::Rejoin);
            tracing::info!(
                participant = %subject.key.user_id,
                "participant rejoined shortly after leaving: polled as urgent"
            );
        }
        rejoined
    }
}
