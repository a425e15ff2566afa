//! Stopping watches, and what a meeting's end means for the others.

use chrono::Utc;
use qoswatch_core::alert::{Account, MeetingKey, ParticipantKey};
use qoswatch_core::subject::{StopReason, WatchSubject};
use tokio::time::Instant;

use super::{Monitor, NOT_ENTITLED_COOL_OFF};
use crate::store::Write;
use crate::watch::meeting::{Command, PollEnd};
use crate::watch::metrics::ENDED_MEETINGS;

impl Monitor {
    /// What a meeting's end means for the other watches.
    pub(super) fn act_on(&self, meeting: &MeetingKey, end: &PollEnd) {
        match end {
            PollEnd::Done => {}
            PollEnd::MeetingOver => {
                let others = self.stop_meeting_now(meeting, StopReason::NotLive);
                self.inner.store.write(Write::MeetingEnded {
                    meeting: meeting.clone(),
                    at: Utc::now(),
                });
                tracing::info!(watchers = others, "Zoom says the meeting is not live");
            }
            PollEnd::NotEntitled { message } => self.disable_polling(&meeting.account, message),
        }
    }

    /// Stops one watcher. Harmless when there is none (a `left` before its
    /// `joined`, or twice). Returns once the store remembers that the
    /// participant left.
    pub async fn stop_watch(&self, key: &ParticipantKey, reason: StopReason) -> bool {
        let remembered = reason
            .participant_gone()
            .then(|| self.remember_ended_participant(key));
        let stopped = {
            let books = self.books();
            let task = books
                .watches
                .get(key)
                .and_then(|watch| Some((watch.id, books.meetings.get(&key.meeting())?)));
            match task {
                Some((id, task)) => {
                    let _ = task.commands.send(Command::Leave { id, reason });
                    true
                }
                None => false,
            }
        };
        if let Some(write) = remembered {
            self.save(write).await;
        }
        stopped
    }

    /// Stops every watcher of a meeting. Returns how many were stopped, once
    /// the store remembers that the meeting ended.
    pub async fn stop_meeting(&self, meeting: &MeetingKey, reason: StopReason) -> usize {
        let stopped = self.stop_meeting_now(meeting, reason);
        self.save(Write::MeetingEnded {
            meeting: meeting.clone(),
            at: Utc::now(),
        })
        .await;
        stopped
    }

    pub(super) fn stop_meeting_now(&self, meeting: &MeetingKey, reason: StopReason) -> usize {
        let forgotten = {
            let now = Instant::now();
            let mut ended = self.ended();
            let inserted = ended.meetings.insert(meeting.clone(), now, now);
            self.metrics().remembered_ended(&ended);
            inserted.forgotten
        };
        self.forgot_early(ENDED_MEETINGS, forgotten);
        let books = self.books();
        let Some(task) = books.meetings.get(meeting) else {
            return 0;
        };
        task.stop.request(reason);
        books
            .watches
            .values()
            .filter(|watch| watch.meeting == task.id)
            .count()
    }

    pub(super) async fn save(&self, write: Write) {
        if let Err(error) = self.inner.store.write_durably(write).await {
            tracing::warn!(%error, "not saved: it will not survive a restart");
        }
    }

    /// Stops every watcher, for example when Zoom says the account is not entitled.
    pub fn stop_all(&self, reason: StopReason) -> usize {
        let books = self.books();
        for task in books.meetings.values() {
            task.stop.request(reason);
        }
        books.watches.len()
    }

    /// Stops every watcher of `account`'s meetings.
    pub fn stop_account(&self, account: &Account, reason: StopReason) -> usize {
        let books = self.books();
        let mut stopped = 0;
        for (key, task) in &books.meetings {
            if key.account == *account {
                task.stop.request(reason);
                stopped += books
                    .watches
                    .values()
                    .filter(|watch| watch.meeting == task.id)
                    .count();
            }
        }
        stopped
    }

    pub(super) fn finish_watch(&self, subject: &WatchSubject, id: u64, reason: StopReason) {
        let ours = self.release_entry(&subject.key, id);
        self.remember_leave(subject, reason);
        if reason.participant_gone() {
            let write = self.remember_ended_participant(&subject.key);
            self.inner.store.write(write);
        }
        self.metrics().stopped(reason);
        // A watch stopped by a shutdown is still running as far as the
        // store knows: the next start resumes it.
        if ours && !reason.watch_goes_on() {
            self.inner.store.write(Write::WatchEnded {
                key: subject.key.clone(),
                reason,
                at: Utc::now(),
            });
        }
        tracing::info!(%reason, "stopped watching participant");
    }

    /// Removes the registry entry of watch `id`; false when it was already
    /// gone or belongs to a newer watch of the same key.
    pub(super) fn release_entry(&self, key: &ParticipantKey, id: u64) -> bool {
        let mut books = self.books();
        let ours = books.watches.get(key).is_some_and(|w| w.id == id);
        if ours {
            books.watches.remove(key);
            self.metrics().account_watchers(&key.account).dec();
        }
        self.metrics().active.set(books.watches.len() as i64);
        ours
    }

    pub(super) fn disable_polling(&self, account: &Account, message: &str) {
        {
            let mut until = self
                .inner
                .polling_disabled_until
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            until.insert(account.clone(), Instant::now() + NOT_ENTITLED_COOL_OFF);
        }
        self.metrics().polling_disabled.set(1);
        let stopped = self.stop_account(account, StopReason::NotEntitled);
        tracing::error!(
            %account,
            zoom_message = message,
            stopped_watchers = stopped,
            retry_in_s = NOT_ENTITLED_COOL_OFF.as_secs(),
            "Zoom says this account cannot use the Dashboard API (code 200): it needs a \
             Business plan or higher with the Dashboard enabled, and the app needs the \
             dashboard_meetings:read:admin scope. All polling of the account is stopped."
        );
    }
}
