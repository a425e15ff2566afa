//! Early signals (`crate::watch::signals`) reaching the meeting tasks, here
//! or, with a shared database, at the replica that polls the meeting
//! (`crate::store::signals`).

use std::time::Duration;

use qoswatch_core::alert::{MeetingKey, ParticipantInfo, ParticipantKey};
use qoswatch_core::subject::{StopReason, WatchSubject};
use tokio::time::Instant;

use super::Monitor;
use crate::store::Write;
use crate::store::signals::{SharedKind, SharedSignal};
use crate::watch::meeting::Command;
use crate::watch::signals::{Person, Signal, URGENT_INTERVALS};

impl Monitor {
    /// How long an early signal keeps its participants urgent.
    pub(super) fn urgency(&self) -> Duration {
        self.inner.settings.interval * URGENT_INTERVALS
    }

    /// Zoom's `meeting.alert` for `meeting`: if this replica polls the
    /// meeting, its watched participants become urgent and are polled at
    /// once; with a shared database and another replica polling it, the
    /// alert goes to that replica. Returns whether it polls the meeting
    /// here. Never blocks.
    pub fn meeting_alert(&self, meeting: &MeetingKey) -> bool {
        let polled_here = self.hurry(meeting, self.urgency());
        if !polled_here && self.inner.leases.is_some() {
            self.inner.store.write(Write::Signal {
                meeting: meeting.clone(),
                kind: SharedKind::MeetingAlert,
            });
        }
        polled_here
    }

    /// Makes a meeting polled here urgent for `urgent_for` and polls it at
    /// once (counted); false when no task here polls it.
    fn hurry(&self, meeting: &MeetingKey, urgent_for: Duration) -> bool {
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

    /// Zoom's `participant_left`: stops the watch (`stop_watch`) and, with
    /// a shared database, tells every replica who left (only the person's
    /// hash), since the rejoin may be watched at any of them (this one
    /// included, which remembers it at once). The signal is
    /// queued before the leave's own record, so both commit together
    /// before the webhook is answered.
    pub async fn participant_left(
        &self,
        key: &ParticipantKey,
        participant: &ParticipantInfo,
    ) -> bool {
        if self.inner.leases.is_some()
            && let Some(person) = Person::in_meeting(key.meeting(), participant)
        {
            self.inner.store.write(Write::Signal {
                meeting: key.meeting(),
                kind: SharedKind::Left { who: person.hash() },
            });
            // Here too, watched here or not: this replica may be the one
            // that claims the meeting when the rejoin comes.
            let now = Instant::now();
            self.left_recently().insert(person, now, now);
        }
        self.stop_watch(key, StopReason::Left).await
    }

    /// A signal another replica sent (`crate::cluster` hears it, once):
    /// a meeting alert hurries the meeting if it is polled here, for what
    /// is left of its urgency; a leave is remembered for the rejoin
    /// window, from when it happened. Returns whether it was acted on.
    pub fn signal_from_elsewhere(&self, signal: &SharedSignal) -> bool {
        match signal.kind {
            SharedKind::MeetingAlert => self
                .urgency()
                .checked_sub(signal.age)
                .filter(|left| !left.is_zero())
                .is_some_and(|left| self.hurry(&signal.meeting, left)),
            SharedKind::Left { who } => {
                let now = Instant::now();
                let Some(at) = now
                    .checked_sub(signal.age)
                    .filter(|_| signal.age < self.urgency())
                else {
                    return false;
                };
                let person = Person::from_hash(signal.meeting.clone(), who);
                self.left_recently().insert(person, at, now);
                true
            }
        }
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
