//! The polling loop of one meeting: its watched participants (members)
//! join and leave by command; each round it asks Zoom for the members that
//! are due, one by one or through the list endpoint (paged), whichever the
//! plan says is cheaper ([`crate::quota::plan::best_split`]), hands every
//! sample newer than a member's last one (deduplicated by Zoom's
//! `date_time`) to that member's observer, and backs off on failures. Alert
//! state stays per member, in its observer.
//!
//! Samples from another source (the sample-source seam, `super::source`)
//! arrive as [`Command::Samples`] on the same channel as joins and leaves,
//! and take the same path as polled ones: one task owns each observer, so
//! a sample seen by both sources is evaluated once.
//!
//! It ends when its last member is gone, on a stop of the whole meeting, or
//! on cancellation. What a meeting's end means for the others (an account
//! without the Dashboard) is the registry's business, reached through
//! [`MeetingHost`]: this file never calls the registry itself.
//!
//! - `member`: one watched participant and what the loop keeps of it;
//! - `schedule`: which members are due, one by one or listed;
//! - `singles`, `list`: a round of single requests, a round of list pages;
//! - `samples`: the one path from a sample to the observer (dedup, store);
//! - `failures`: what a failed poll does, per kind of failure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::metrics::WatchMetrics;
use super::settings::{PollingSettings, QssSettings};
use super::sink::{SampleSink, SharedSubject};
use super::source::Source;
use crate::logging::LogEvery;
use crate::quota::Planner;
use crate::store::Store;
use crate::zoom::client::{Call, ZoomClient};
use qoswatch_core::alert::CallKind;
use qoswatch_core::qos::QosSample;
use qoswatch_core::rules::SavedState;
use qoswatch_core::subject::{StopReason, WatchSubject};

/// What every meeting's loop shares.
#[derive(Debug)]
pub(super) struct PollContext {
    pub(super) client: Arc<ZoomClient>,
    pub(super) planner: Arc<Planner>,
    pub(super) settings: PollingSettings,
    pub(super) qss: QssSettings,
    pub(super) metrics: WatchMetrics,
    /// "More samples than taken", once a minute for every meeting together.
    pub(super) samples_dropped_log: LogEvery,
    /// "Zoom refused a participant id: listing instead", once a minute.
    pub(super) fallback_log: LogEvery,
}

/// Where a watch starts from: nothing, or what the store kept of it.
#[derive(Debug, Default)]
pub(super) struct Resume {
    pub(super) last_seen: Option<DateTime<Utc>>,
    pub(super) alert_state: Option<SavedState>,
    /// How long the watch had already run before the restart.
    pub(super) age: Duration,
    /// Poll at once (a resumed watch) instead of one interval after joining.
    pub(super) poll_now: bool,
}

/// A participant to watch in this meeting.
#[derive(Debug)]
pub(super) struct Joining {
    pub(super) subject: WatchSubject,
    pub(super) id: u64,
    pub(super) resume: Resume,
    /// An early signal (a rejoin) makes the member urgent this long.
    pub(super) urgent_for: Option<Duration>,
}

/// What the registry tells a meeting's loop.
#[derive(Debug)]
pub(super) enum Command {
    Join(Box<Joining>),
    /// Stop watching one member (its registry id, so a newer watch of the
    /// same participant is not the one stopped).
    Leave {
        id: u64,
        reason: StopReason,
    },
    /// Samples of one member (its registry id) from a source other than
    /// this loop's polls: the same path as polled ones (see `samples.rs`).
    Samples {
        id: u64,
        samples: Vec<QosSample>,
        source: Source,
    },
    /// An early signal for the whole meeting (Zoom's `meeting.alert`):
    /// every member urgent for `urgent_for`, and due at the fastest pace.
    Hurry {
        urgent_for: Duration,
    },
}

/// A request to stop a whole meeting: the first reason given wins, and the
/// meeting's token is cancelled.
#[derive(Debug)]
pub(super) struct StopRequest {
    cancel: CancellationToken,
    reason: Mutex<Option<StopReason>>,
}

impl StopRequest {
    pub(super) fn new(cancel: CancellationToken) -> Self {
        Self {
            cancel,
            reason: Mutex::new(None),
        }
    }

    pub(super) fn request(&self, reason: StopReason) {
        let mut slot = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(reason);
        }
        drop(slot);
        self.cancel.cancel();
    }

    /// Why the meeting was cancelled: the requested reason, or a shutdown
    /// when the parent token was cancelled without a request.
    fn reason(&self) -> StopReason {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or(StopReason::Shutdown)
    }
}

/// How a meeting's polling ended, beyond its members' own ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PollEnd {
    /// Its members are gone (or it was stopped); nothing follows.
    Done,
    /// Zoom answered for this meeting before and now says it is not live.
    MeetingOver,
    /// Zoom says the account cannot use the Dashboard API (code 200).
    NotEntitled { message: String },
}

/// What the loop needs from the registry.
pub(super) trait MeetingHost: Send + Sync {
    /// A member's watch ended (its observer already heard).
    fn member_finished(&self, subject: &WatchSubject, id: u64, reason: StopReason);
    /// The loop has no member left: true when the registry let it end (no
    /// join is on its way), false when commands are waiting.
    fn retire(&self, commands: &mpsc::UnboundedReceiver<Command>) -> bool;
}

mod failures;
mod list;
mod member;
mod push;
mod samples;
mod schedule;
mod singles;

use member::Member;

/// The meeting's loop.
pub(super) struct MeetingPoller<'a> {
    ctx: &'a PollContext,
    store: &'a Store,
    host: &'a dyn MeetingHost,
    /// Opens a joining member's observer.
    sink: &'a dyn SampleSink,
    /// Identifies this meeting to the planner.
    planner_id: u64,
    uuid: String,
    /// A meeting or a webinar: which of Zoom's endpoints it is polled at
    /// (from its members' subjects; a meeting until the first joins).
    kind: CallKind,
    members: Vec<Member>,
    /// Participants in the whole listing, as Zoom last counted them.
    total_records: Option<u64>,
    /// The page size Zoom last applied.
    page_size: Option<u64>,
    /// The page size asked for, once a page came back larger than
    /// `zoom.max_answer_bytes` (halved each time, down to one).
    ask_page_size: Option<u32>,
    /// Zoom refused a participant id: this meeting is listed only.
    list_only: bool,
}

impl<'a> MeetingPoller<'a> {
    pub(super) fn new(
        ctx: &'a PollContext,
        store: &'a Store,
        host: &'a dyn MeetingHost,
        sink: &'a dyn SampleSink,
        planner_id: u64,
        uuid: String,
    ) -> Self {
        Self {
            ctx,
            store,
            host,
            sink,
            planner_id,
            uuid,
            kind: CallKind::Meeting,
            members: Vec::new(),
            total_records: None,
            page_size: None,
            ask_page_size: None,
            list_only: false,
        }
    }

    fn settings(&self) -> &PollingSettings {
        &self.ctx.settings
    }

    /// The call Zoom is asked about.
    fn call(&self) -> Call<'_> {
        Call {
            kind: self.kind,
            uuid: &self.uuid,
        }
    }

    /// Polls until no member is left, the meeting is stopped, or Zoom says
    /// it is over; every member has finished when this returns.
    pub(super) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        stop: &StopRequest,
    ) -> PollEnd {
        let end = self.poll(&mut commands, stop).await;
        let reason = match &end {
            PollEnd::Done => stop.reason(),
            PollEnd::MeetingOver => StopReason::NotLive,
            PollEnd::NotEntitled { .. } => StopReason::NotEntitled,
        };
        for index in 0..self.members.len() {
            self.members[index].ending.get_or_insert(reason);
        }
        self.finish_ending();
        // Joins that raced the end: they never started polling. Samples
        // that raced it: their watch is over.
        while let Ok(command) = commands.try_recv() {
            match command {
                Command::Join(joining) => {
                    let subject = SharedSubject::new(joining.subject);
                    let mut observer = self.sink.open(&subject, joining.resume.alert_state);
                    observer.finished(&subject, reason, Utc::now());
                    self.host.member_finished(&subject, joining.id, reason);
                }
                Command::Samples {
                    samples, source, ..
                } => self.ctx.metrics.not_watched(source, samples.len()),
                Command::Leave { .. } | Command::Hurry { .. } => {}
            }
        }
        self.ctx.planner.withdraw(self.planner_id);
        end
    }

    async fn poll(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<Command>,
        stop: &StopRequest,
    ) -> PollEnd {
        // A wake computed under stretched floors is looked at again when
        // the pressure eases (meetings ended, the day's quota reset, a
        // larger share of the rate): freshness first, not at the old wake.
        let mut eased = self.ctx.planner.eased();
        loop {
            while let Ok(command) = commands.try_recv() {
                self.apply(command);
            }
            self.finish_ending();
            if self.members.is_empty() {
                if self.host.retire(commands) {
                    return PollEnd::Done;
                }
                // A join is on its way: wait for it rather than spin.
                tokio::select! {
                    biased;
                    () = stop.cancel.cancelled() => return PollEnd::Done,
                    command = commands.recv() => match command {
                        Some(command) => self.apply(command),
                        None => return PollEnd::Done,
                    },
                }
                continue;
            }
            self.publish();
            // Seen: the plan this schedule is made under (publishing may
            // have just replanned).
            eased.borrow_and_update();
            let schedule = self.schedule(Instant::now());
            tokio::select! {
                biased;
                () = stop.cancel.cancelled() => return PollEnd::Done,
                command = commands.recv() => match command {
                    Some(command) => {
                        self.apply(command);
                        continue;
                    }
                    None => return PollEnd::Done,
                },
                Ok(()) = eased.changed() => continue,
                () = tokio::time::sleep_until(schedule.wake) => {}
            }
            self.check_age();
            self.check_pushes(Instant::now());
            let schedule = self.schedule(Instant::now());
            let round = async {
                if let Some(listed) = schedule.list_due {
                    self.list_round(&listed).await
                } else {
                    self.singles_round(&schedule.singles_due).await
                }
            };
            let outcome = tokio::select! {
                biased;
                () = stop.cancel.cancelled() => return PollEnd::Done,
                outcome = round => outcome,
            };
            if let Some(end) = outcome {
                return end;
            }
        }
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Join(joining) => {
                let Joining {
                    subject,
                    id,
                    mut resume,
                    urgent_for,
                } = *joining;
                let subject = SharedSubject::new(subject);
                let observer = self.sink.open(&subject, resume.alert_state.take());
                let now = Instant::now();
                // A new joiner's first sample exists one sample minute after
                // the join: poll then, at the fastest interval, not at a
                // stretched one. A resumed watch polls at once.
                let first_poll = if resume.poll_now {
                    now.checked_sub(self.settings().interval).unwrap_or(now)
                } else {
                    now
                };
                tracing::info!(
                    participant = %subject.key.user_id,
                    kind = %subject.meeting.kind,
                    "watching participant"
                );
                // One UUID is one call, of one kind.
                self.kind = subject.meeting.kind;
                // Members are most of a meeting's memory (about 0.2 KB
                // each): grown by a quarter, not doubled, a meeting of ten
                // holds room for ten, not sixteen.
                if self.members.len() == self.members.capacity() {
                    self.members.reserve_exact((self.members.len() / 4).max(4));
                }
                let joined = Member::new(id, subject, &resume, urgent_for, observer, first_poll);
                self.members.push(joined);
            }
            Command::Leave { id, reason } => {
                if let Some(member) = self.members.iter_mut().find(|m| m.id == id) {
                    member.ending.get_or_insert(reason);
                }
            }
            Command::Samples {
                id,
                samples,
                source,
            } => {
                let offered = samples.len();
                let new = self.delivered(id, samples, source, Utc::now());
                tracing::trace!(%source, offered, new, "samples delivered");
            }
            Command::Hurry { urgent_for } => self.hurry(urgent_for),
        }
    }

    /// Ends the watches marked as ending: the observer's last call, then
    /// the registry's.
    fn finish_ending(&mut self) {
        let mut index = 0;
        while index < self.members.len() {
            let Some(reason) = self.members[index].ending else {
                index += 1;
                continue;
            };
            let mut member = self.members.swap_remove(index);
            member
                .observer
                .finished(&member.subject, reason, Utc::now());
            self.host
                .member_finished(&member.subject, member.id, reason);
        }
    }

    fn check_age(&mut self) {
        let max_age = self.settings().max_watch_age;
        for member in &mut self.members {
            if member.started.elapsed() >= max_age {
                member.ending.get_or_insert(StopReason::MaxAge);
            }
        }
        self.finish_ending();
    }
}
#[cfg(test)]
mod tests;
