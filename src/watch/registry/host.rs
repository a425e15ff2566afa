//! The registry as a meeting task's host, and the guard that frees its entries.

use qoswatch_core::alert::MeetingKey;
use qoswatch_core::subject::{StopReason, WatchSubject};
use tokio::sync::mpsc;

use super::Monitor;
use crate::watch::meeting::{Command, MeetingHost};

/// The registry as one meeting task's host.
pub(super) struct Host {
    pub(super) monitor: Monitor,
    pub(super) meeting: u64,
    pub(super) key: MeetingKey,
}

impl MeetingHost for Host {
    fn member_finished(&self, subject: &WatchSubject, id: u64, reason: StopReason) {
        self.monitor.finish_watch(subject, id, reason);
    }

    fn retire(&self, commands: &mpsc::UnboundedReceiver<Command>) -> bool {
        let mut books = self.monitor.books();
        let waiting =
            !commands.is_empty() || books.watches.values().any(|w| w.meeting == self.meeting);
        if waiting {
            return false;
        }
        if books
            .meetings
            .get(&self.key)
            .is_some_and(|task| task.id == self.meeting)
        {
            books.meetings.remove(&self.key);
        }
        true
    }
}

/// Frees a meeting task's registry entries (its watches, itself) when the
/// task ends in any way.
pub(super) struct EntryGuard {
    pub(super) monitor: Monitor,
    pub(super) meeting: u64,
    pub(super) key: MeetingKey,
}

impl Drop for EntryGuard {
    fn drop(&mut self) {
        let mut books = self.monitor.books();
        let before = books.watches.len();
        books
            .watches
            .retain(|_, watch| watch.meeting != self.meeting);
        // A meeting task's watches are all of its meeting's account.
        let freed = (before - books.watches.len()) as i64;
        self.monitor
            .metrics()
            .account_watchers(&self.key.account)
            .dec_by(freed);
        if books
            .meetings
            .get(&self.key)
            .is_some_and(|task| task.id == self.meeting)
        {
            books.meetings.remove(&self.key);
        }
        self.monitor
            .metrics()
            .active
            .set(books.watches.len() as i64);
        drop(books);
        self.monitor.inner.tasks_ended.notify_waiters();
    }
}
