//! Starting a watch: the checks, the registry entry, the meeting's task.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::Utc;
use qoswatch_core::alert::{MeetingInfo, MeetingKey, ParticipantInfo, ParticipantKey};
use qoswatch_core::subject::WatchSubject;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use super::host::{EntryGuard, Host};
use super::{MeetingTask, Monitor, StartOutcome, Watch};
use crate::store::Write;
use crate::store::leases::Leases;
use crate::watch::meeting::{Command, Joining, MeetingPoller, Resume, StopRequest};

impl Monitor {
    /// Starts watching a participant, unless already watched, and returns
    /// once the store has the watch on disk (or failed to write it: the
    /// watch runs anyway, and the failure is logged and counted by the
    /// store). The caller is the webhook handler, which answers 200 after.
    pub async fn start_watch(
        &self,
        key: &ParticipantKey,
        meeting: MeetingInfo,
        participant: ParticipantInfo,
    ) -> StartOutcome {
        debug_assert!(key.meeting_uuid == meeting.uuid && key.user_id == participant.user_id);
        // Zoom's retries and duplicates end here, before the subject and
        // its record are built (`join` checks again under its lock).
        if let Err(refused) = self.may_start(key) {
            return refused;
        }
        if self.is_watching(key) {
            self.metrics().duplicates.inc();
            return StartOutcome::AlreadyWatching;
        }
        let subject = WatchSubject {
            key: key.clone(),
            meeting,
            participant,
        };
        let record = Write::WatchStarted {
            subject: Box::new(subject.clone()),
            at: Utc::now(),
        };
        if let Some(leases) = &self.inner.leases {
            // Boxed: the database's futures are kilobytes, and inline they
            // would make every webhook's future (moved into a box per
            // request by axum) that large.
            return Box::pin(self.start_shared(leases, subject, record)).await;
        }
        if let Err(refused) = self.join(subject, Resume::default()) {
            return refused;
        }
        let written = self.inner.store.write_durably(record);
        if let Err(error) = written.await {
            tracing::warn!(%error, "watch started but not saved: it will not survive a restart");
        }
        StartOutcome::Started
    }

    /// `start_watch` with a shared database, once `may_start` let the
    /// subject through and it is not watched here: the watch is written first (so
    /// whichever replica holds the meeting finds it), then this replica
    /// claims the meeting's lease. Holding it, it polls; otherwise the
    /// holder takes the new member on at its next heartbeat.
    pub(super) async fn start_shared(
        &self,
        leases: &Leases,
        subject: WatchSubject,
        record: Write,
    ) -> StartOutcome {
        if let Err(error) = self.inner.store.write_durably(record).await {
            tracing::warn!(%error, "watch not saved to the shared database: not started");
            return StartOutcome::StoreUnavailable;
        }
        match leases.claim(&subject.key.meeting()).await {
            Ok(true) => match self.join(subject, Resume::default()) {
                Ok(()) | Err(StartOutcome::AlreadyWatching) => StartOutcome::Started,
                Err(refused) => refused,
            },
            // Another replica polls this meeting; the watch is saved.
            Ok(false) => StartOutcome::Started,
            Err(error) => {
                // Saved but unclaimed: a heartbeat (this replica's or
                // another's) claims it once the database answers.
                tracing::warn!(%error, "meeting lease not claimed; a heartbeat will");
                StartOutcome::Started
            }
        }
    }

    /// The checks before a watch starts that need no registry entry.
    pub(super) fn may_start(&self, key: &ParticipantKey) -> Result<(), StartOutcome> {
        let metrics = self.metrics();
        if self.inner.cancel.is_cancelled() {
            metrics.refused.inc();
            return Err(StartOutcome::ShuttingDown);
        }
        if !self.knows(&key.account) {
            metrics.refused.inc();
            return Err(StartOutcome::UnknownAccount);
        }
        if self.polling_disabled_for(&key.account) {
            metrics.refused.inc();
            return Err(StartOutcome::PollingDisabled);
        }
        if self.ended().contains(key, Instant::now()) {
            metrics.duplicates.inc();
            return Err(StartOutcome::AlreadyEnded);
        }
        Ok(())
    }

    /// Takes a registry entry for the subject's key and hands the watch to
    /// its meeting's task (started if there is none), or says why not.
    pub(super) fn join(&self, subject: WatchSubject, resume: Resume) -> Result<(), StartOutcome> {
        self.may_start(&subject.key)?;
        let metrics = self.metrics();
        let mut books = self.books();
        if books.watches.contains_key(&subject.key) {
            metrics.duplicates.inc();
            return Err(StartOutcome::AlreadyWatching);
        }
        let max_watchers = self.inner.settings.max_watchers;
        if books.watches.len() >= max_watchers {
            metrics.refused.inc();
            tracing::warn!(
                max_watchers,
                "watcher limit reached: participant not watched"
            );
            return Err(StartOutcome::AtCapacity);
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let meeting_key = subject.key.meeting();
        // A task that has just ended (stopped, not yet cleaned up) cannot
        // take the watch: a new one does.
        let alive = books
            .meetings
            .get(&meeting_key)
            .is_some_and(|task| !task.commands.is_closed());
        if !alive {
            let task = self.spawn_meeting(meeting_key.clone());
            books.meetings.insert(meeting_key.clone(), task);
        }
        let urgent_for = self.rejoined(&subject).then(|| self.urgency());
        let task = &books.meetings[&meeting_key];
        let meeting = task.id;
        let key = subject.key.clone();
        // A task retires under this lock, and only with no command waiting
        // and no watch of its own: it is alive to read this one.
        let _ = task.commands.send(Command::Join(Box::new(Joining {
            subject,
            id,
            resume,
            urgent_for,
        })));
        metrics.account_watchers(&key.account).inc();
        books.watches.insert(key, Watch { id, meeting });
        metrics.active.set(books.watches.len() as i64);
        drop(books);
        metrics.started.inc();
        Ok(())
    }

    /// Starts the polling task of a meeting on the application's tracker,
    /// in a `meeting` span.
    pub(super) fn spawn_meeting(&self, key: MeetingKey) -> MeetingTask {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (commands, receiver) = mpsc::unbounded_channel();
        let stop = Arc::new(StopRequest::new(self.inner.cancel.child_token()));
        let span = tracing::info_span!("meeting", meeting = %key);
        // `may_start` let only configured accounts through.
        let poll = self.inner.polls[&key.account].clone();
        let host = Host {
            monitor: self.clone(),
            meeting: id,
            key,
        };
        let task_stop = stop.clone();
        self.inner.tracker.spawn(
            async move {
                // Frees the registry entries however the task ends, a panic
                // included, so no key stays "already watching".
                let _entries = EntryGuard {
                    monitor: host.monitor.clone(),
                    meeting: id,
                    key: host.key.clone(),
                };
                let inner = &host.monitor.inner;
                let poller = MeetingPoller::new(
                    &poll,
                    &inner.store,
                    &host,
                    inner.sink.as_ref(),
                    id,
                    host.key.uuid.clone(),
                );
                let end = poller.run(receiver, &task_stop).await;
                host.monitor.act_on(&host.key, &end);
            }
            .instrument(span),
        );
        MeetingTask { id, commands, stop }
    }
}
