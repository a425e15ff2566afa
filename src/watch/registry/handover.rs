//! Several replicas: meetings handed over, watches adopted, ends seen elsewhere.

use chrono::{DateTime, Utc};
use qoswatch_core::alert::{MeetingKey, ParticipantKey};
use qoswatch_core::subject::StopReason;
use tokio::time::Instant;

use super::{Monitor, instant_of};
use crate::store::SavedWatch;
use crate::watch::meeting::{Command, Resume};

impl Monitor {
    /// Stops polling a meeting whose lease another replica holds now. Its
    /// watches stay running in the store and keep their alert state.
    /// Returns 1 if a task was stopped.
    pub fn hand_over(&self, meeting: &MeetingKey) -> usize {
        let books = self.books();
        match books.meetings.get(meeting) {
            Some(task) => {
                task.stop.request(StopReason::HandedOver);
                1
            }
            None => 0,
        }
    }

    /// Hands `meetings` over to be claimed by another replica (this one
    /// holds more than its fair share): stops their tasks, waits until they
    /// have ended (their last state is queued for the store), then queues
    /// the release of their leases behind it, so the next holder reads the
    /// state the last poll left. Waits at most `within` for the tasks.
    pub async fn release(&self, meetings: Vec<MeetingKey>, within: std::time::Duration) {
        let deadline = Instant::now() + within;
        loop {
            let ended = self.inner.tasks_ended.notified();
            let running = {
                let books = self.books();
                let mut running = false;
                for meeting in &meetings {
                    if let Some(task) = books.meetings.get(meeting) {
                        task.stop.request(StopReason::HandedOver);
                        running = true;
                    }
                }
                running
            };
            if !running {
                break;
            }
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                tracing::warn!("meetings handed over still stopping: released anyway");
                break;
            }
        }
        self.inner
            .store
            .write(crate::store::Write::Release { meetings });
    }

    /// Stops polling every meeting (the leases expired without a heartbeat).
    pub fn hand_over_all(&self) -> usize {
        let books = self.books();
        for task in books.meetings.values() {
            task.stop.request(StopReason::HandedOver);
        }
        books.meetings.len()
    }

    /// Takes on a running watch from the shared database (a member of a
    /// meeting this replica now holds), with its alert state. False when
    /// it was refused (ended, at capacity, shutting down).
    pub fn adopt(&self, saved: SavedWatch) -> bool {
        let SavedWatch {
            subject,
            started_at,
            last_seen,
            alert_state,
        } = saved;
        let resume = Resume {
            // Polled before, by another replica: poll at once. Never polled
            // (joined through another replica a moment ago): one interval
            // after the join, as a new joiner.
            poll_now: last_seen.is_some(),
            last_seen,
            alert_state,
            age: (Utc::now() - started_at).to_std().unwrap_or_default(),
        };
        self.join(subject, resume).is_ok()
    }

    /// Participants and meetings that ended through webhooks another
    /// replica took (or this one: harmless): remembered against late
    /// retries, and their watches here stopped.
    pub fn ended_elsewhere(
        &self,
        participants: &[(ParticipantKey, DateTime<Utc>)],
        meetings: &[(MeetingKey, DateTime<Utc>)],
    ) {
        let now = Instant::now();
        {
            let mut ended = self.ended();
            for (key, at) in participants {
                if !ended.participants.contains(key, now) {
                    ended.participants.insert(key.clone(), instant_of(*at), now);
                }
            }
            for (meeting, at) in meetings {
                if !ended.meetings.contains(meeting, now) {
                    ended.meetings.insert(meeting.clone(), instant_of(*at), now);
                }
            }
            self.metrics().remembered_ended(&ended);
        }
        let books = self.books();
        for (key, _) in participants {
            if let (Some(watch), Some(task)) =
                (books.watches.get(key), books.meetings.get(&key.meeting()))
            {
                let _ = task.commands.send(Command::Leave {
                    id: watch.id,
                    reason: StopReason::Left,
                });
            }
        }
        for (meeting, _) in meetings {
            if let Some(task) = books.meetings.get(meeting) {
                task.stop.request(StopReason::MeetingEnded);
            }
        }
    }
}
