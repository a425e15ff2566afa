//! The polling loop of one meeting: its watched participants (members)
//! join and leave by command; each round it asks Zoom for the members that
//! are due, one by one or through the list endpoint (paged), whichever the
//! plan says is cheaper ([`plan::best_split`]), hands every sample newer
//! than a member's last one (deduplicated by Zoom's `date_time`) to that
//! member's observer, and backs off on failures. Alert state stays per
//! member, in its observer.
//!
//! It ends when its last member is gone, on a stop of the whole meeting, or
//! on cancellation. What a meeting's end means for the others (an account
//! without the Dashboard) is the registry's business, reached through
//! [`MeetingHost`]: this file never calls the registry itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use qoswatch_core::qos::{ParseReport, ParticipantQos};
use qoswatch_core::rules::Attention;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::metrics::WatchMetrics;
use super::settings::PollingSettings;
use super::sink::{SampleSink, WatchObserver};
use crate::backoff::Backoff;
use crate::logging::LogEvery;
use crate::quota::Planner;
use crate::quota::budget::BudgetError;
use crate::quota::plan::{self, MeetingDemand};
use crate::store::{Store, Write};
use crate::zoom::client::{ZoomClient, ZoomError};
use qoswatch_core::rules::SavedState;
use qoswatch_core::subject::{StopReason, WatchSubject};

/// What every meeting's loop shares.
#[derive(Debug)]
pub(super) struct PollContext {
    pub(super) client: Arc<ZoomClient>,
    pub(super) planner: Arc<Planner>,
    pub(super) settings: PollingSettings,
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

/// One watched participant of the meeting.
struct Member {
    id: u64,
    subject: WatchSubject,
    observer: Box<dyn WatchObserver>,
    started: Instant,
    last_seen: Option<DateTime<Utc>>,
    last_new_sample: Instant,
    /// The last successful answer that held this member.
    last_refresh: Option<Instant>,
    /// Intervals count from here: the last answer, or the join.
    due_from: Instant,
    /// After a failure, not before this.
    retry_at: Option<Instant>,
    failures: u32,
    answered_before: bool,
    /// Calm answers with new samples in a row (the interval doubles each).
    calm_answers: u32,
    /// Set when the member's watch ends during a round.
    ending: Option<StopReason>,
}

impl Member {
    fn new(joining: Joining, observer: Box<dyn WatchObserver>, first_poll: Instant) -> Self {
        let now = Instant::now();
        Self {
            id: joining.id,
            subject: joining.subject,
            observer,
            started: now.checked_sub(joining.resume.age).unwrap_or(now),
            last_seen: joining.resume.last_seen,
            last_new_sample: now,
            last_refresh: None,
            due_from: first_poll,
            retry_at: None,
            failures: 0,
            answered_before: false,
            calm_answers: 0,
            ending: None,
        }
    }

    /// Whether the member needs the fastest interval: something fires, is
    /// pending or near a threshold, or no sample has come yet.
    fn urgent(&self) -> bool {
        self.last_seen.is_none() || self.observer.attention() >= Attention::Near
    }
}

/// When and how the next round polls.
#[derive(Debug, Clone, PartialEq)]
struct Schedule {
    /// When something is due next.
    wake: Instant,
    /// Members (by index) due for a request of their own.
    singles_due: Vec<usize>,
    /// Members (by index) covered by a listing, if the listing is due.
    list_due: Option<Vec<usize>>,
}

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
        // Joins that raced the end: they never started polling.
        while let Ok(command) = commands.try_recv() {
            if let Command::Join(joining) = command {
                let mut observer = self.sink.open(&joining.subject, joining.resume.alert_state);
                observer.finished(&joining.subject, reason, Utc::now());
                self.host
                    .member_finished(&joining.subject, joining.id, reason);
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
                () = tokio::time::sleep_until(schedule.wake) => {}
            }
            self.check_age();
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
                let observer = self
                    .sink
                    .open(&joining.subject, joining.resume.alert_state.clone());
                let now = Instant::now();
                // A new joiner's first sample exists one sample minute after
                // the join: poll then, at the fastest interval, not at a
                // stretched one. A resumed watch polls at once.
                let first_poll = if joining.resume.poll_now {
                    now.checked_sub(self.settings().interval).unwrap_or(now)
                } else {
                    now
                };
                tracing::info!(
                    participant = %joining.subject.key.user_id,
                    "watching participant"
                );
                self.members
                    .push(Member::new(*joining, observer, first_poll));
            }
            Command::Leave { id, reason } => {
                if let Some(member) = self.members.iter_mut().find(|m| m.id == id) {
                    member.ending.get_or_insert(reason);
                }
            }
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

    /// Requests one listing of the meeting costs, if it may be listed.
    fn pages(&self) -> Option<u32> {
        if !self.ctx.planner.adaptive() {
            return None;
        }
        let size = self
            .page_size
            .unwrap_or(u64::from(self.settings().page_size))
            .max(1);
        let participants = self
            .total_records
            .unwrap_or(0)
            .max(self.members.len() as u64);
        Some(
            u32::try_from(participants.div_ceil(size))
                .unwrap_or(u32::MAX)
                .max(1),
        )
    }

    /// Each member's `(desired interval, urgent)`.
    fn wishes(&self) -> Vec<(Duration, bool)> {
        self.members
            .iter()
            .map(|m| {
                let urgent = m.urgent();
                (self.ctx.planner.desired(urgent, m.calm_answers), urgent)
            })
            .collect()
    }

    /// Tells the planner what this meeting wants.
    fn publish(&self) {
        let demand = MeetingDemand {
            members: self
                .wishes()
                .into_iter()
                .map(|(desired, urgent)| (desired.as_secs_f64(), urgent))
                .collect(),
            pages: self.pages(),
        };
        let oldest = self
            .members
            .iter()
            .map(|m| m.last_refresh.unwrap_or(m.started))
            .min()
            .unwrap_or_else(Instant::now);
        self.ctx.planner.publish(self.planner_id, demand, oldest);
    }

    /// Which members are polled how, and when the next of them is due.
    fn schedule(&self, now: Instant) -> Schedule {
        let intervals: Vec<Duration> = self
            .wishes()
            .into_iter()
            .map(|(desired, urgent)| self.ctx.planner.interval(desired, urgent))
            .collect();
        let due: Vec<Instant> = self
            .members
            .iter()
            .zip(&intervals)
            .map(|(m, interval)| m.retry_at.unwrap_or(m.due_from + *interval))
            .collect();
        // The cheapest split: the `singles` shortest intervals on their own.
        let seconds: Vec<f64> = intervals.iter().map(Duration::as_secs_f64).collect();
        let (singles, _) = plan::best_split(&seconds, self.pages());
        let singles = if self.list_only { 0 } else { singles };
        let mut order: Vec<usize> = (0..self.members.len()).collect();
        order.sort_by(|a, b| intervals[*a].cmp(&intervals[*b]).then(a.cmp(b)));
        let (alone, listed) = order.split_at(singles);
        let list_due = listed.iter().map(|i| due[*i]).min();
        let singles_due: Vec<usize> = alone.iter().copied().filter(|i| due[*i] <= now).collect();
        let wake = alone
            .iter()
            .map(|i| due[*i])
            .chain(list_due)
            .min()
            .unwrap_or(now);
        Schedule {
            wake,
            singles_due,
            list_due: list_due.filter(|at| *at <= now).map(|_| listed.to_vec()),
        }
    }

    /// One request per due member. `Some` when the meeting's polling ends.
    async fn singles_round(&mut self, due: &[usize]) -> Option<PollEnd> {
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
                .participant_qos(&self.uuid, &user_id, last_seen)
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

    /// One listing, page after page, until every due member was found or
    /// the pages end. `Some` when the meeting's polling ends.
    async fn list_round(&mut self, listed: &[usize]) -> Option<PollEnd> {
        let now = Instant::now();
        let mut wanted: Vec<usize> = listed.to_vec();
        // Members due on their own are refreshed by the listing too.
        wanted.extend(
            self.schedule(now)
                .singles_due
                .into_iter()
                .filter(|i| !listed.contains(i)),
        );
        let mut found = vec![false; self.members.len()];
        let mut token: Option<String> = None;
        let mut restarted = false;
        let mut page_size = self.ask_page_size.unwrap_or(self.settings().page_size);
        loop {
            let answer = {
                // Borrowed ids and times only: an observer is not `Sync`, so
                // no member may be borrowed across the request.
                let seen: HashMap<&str, DateTime<Utc>> = self
                    .members
                    .iter()
                    .filter_map(|m| Some((m.subject.key.user_id.as_str(), m.last_seen?)))
                    .collect();
                let after = |user_id: &str| seen.get(user_id).copied();
                self.ctx
                    .client
                    .meeting_qos_page(&self.uuid, page_size, token.as_deref(), after)
                    .await
            };
            let now = Utc::now();
            tracing::trace!(ok = answer.is_ok(), "listed a page of the meeting");
            match answer {
                Ok((page, report)) => {
                    self.count_report(&report);
                    self.total_records = page.total_records.or(self.total_records);
                    self.page_size = page.page_size.filter(|s| *s > 0).or(self.page_size);
                    for qos in page.participants {
                        let Some(user_id) = qos.details.user_id.as_deref() else {
                            continue;
                        };
                        let Some(index) = self
                            .members
                            .iter()
                            .position(|m| m.subject.key.user_id == user_id)
                        else {
                            continue;
                        };
                        found[index] = true;
                        self.answered(index, qos, now);
                    }
                    let all_found = wanted.iter().all(|i| found[*i]);
                    token = page.next_page_token;
                    if token.is_none() || all_found {
                        break;
                    }
                }
                Err(ZoomError::Rejected {
                    code: Some(300), ..
                }) if token.is_some() => {
                    if restarted {
                        // Refused again right after a fresh first page: a
                        // failed poll like a 5xx, not a reason to stop.
                        let missing: Vec<usize> =
                            wanted.iter().copied().filter(|i| !found[*i]).collect();
                        return self.failed(
                            &missing,
                            ZoomError::Transient("page token refused twice".to_owned()),
                            now,
                        );
                    }
                    // An expired or refused page token: list again from the top.
                    tracing::debug!("page token refused: listing again from the first page");
                    restarted = true;
                    token = None;
                }
                Err(ZoomError::AnswerTooLarge { limit }) if page_size > 1 => {
                    // A long meeting's series outgrew the cap at this page
                    // size: ask for pages half as big from now on, and list
                    // again from the top (a token belongs to its page size).
                    let applied = self
                        .page_size
                        .and_then(|s| u32::try_from(s).ok())
                        .unwrap_or(page_size);
                    page_size = (page_size.min(applied) / 2).max(1);
                    self.ask_page_size = Some(page_size);
                    self.page_size = Some(u64::from(page_size));
                    tracing::info!(
                        page_size,
                        limit_bytes = limit,
                        "a page of this meeting was larger than zoom.max_answer_bytes: asking for smaller pages"
                    );
                    token = None;
                    self.publish();
                }
                Err(ZoomError::NotLive) => {
                    if self.members.iter().any(|m| m.answered_before) {
                        return Some(PollEnd::MeetingOver);
                    }
                    tracing::info!("Zoom knows no live meeting by this id");
                    for member in &mut self.members {
                        member.ending.get_or_insert(StopReason::NotLive);
                    }
                    return None;
                }
                Err(error) => {
                    let missing: Vec<usize> =
                        wanted.iter().copied().filter(|i| !found[*i]).collect();
                    return self.failed(&missing, error, now);
                }
            }
        }
        // Due but not on any page: the watch stays until a stop condition
        // says otherwise (stale, max age, a webhook); the next try is one
        // interval away, not at once.
        let stale_after = self.settings().stale_after;
        let now_utc = Utc::now();
        let instant = Instant::now();
        for index in wanted {
            if found[index] {
                continue;
            }
            let member = &mut self.members[index];
            member.due_from = instant;
            member.retry_at = None;
            member.observer.idle(&member.subject, now_utc);
            if member.last_new_sample.elapsed() >= stale_after {
                member.ending.get_or_insert(StopReason::Stale);
            }
        }
        None
    }

    /// Zoom answered for member `index`: new samples to its observer, then
    /// the stop conditions an answer can carry (`leave_time`, staleness).
    fn answered(&mut self, index: usize, qos: ParticipantQos, now: DateTime<Utc>) {
        let planner = &self.ctx.planner;
        let metrics = &self.ctx.metrics;
        let stale_after = self.settings().stale_after;
        let member = &mut self.members[index];
        if member.ending.is_some() {
            return;
        }
        let instant = Instant::now();
        if let Some(previous) = member.last_refresh {
            planner.refreshed(instant - previous);
        }
        member.last_refresh = Some(instant);
        member.due_from = instant;
        member.retry_at = None;
        member.failures = 0;
        member.answered_before = true;
        member.subject.merge_details(&qos.details);
        let mut samples = qos.samples;
        samples.sort_by_key(|s| s.at);
        let seen = member.last_seen;
        let mut any_new = false;
        for sample in samples {
            if member.last_seen.is_some_and(|seen| sample.at <= seen) {
                continue;
            }
            member.last_seen = Some(sample.at);
            any_new = true;
            tracing::debug!(participant = %member.subject.key.user_id, at = %sample.at, "new QoS sample");
            metrics.samples.inc();
            member.observer.sample(&member.subject, &sample, now);
        }
        if any_new {
            member.last_new_sample = instant;
        } else {
            member.observer.idle(&member.subject, now);
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
        member.calm_answers = if member.urgent() {
            0
        } else if any_new {
            member.calm_answers.saturating_add(1)
        } else {
            member.calm_answers
        };
        if qos.details.leave_time.is_some() {
            member.ending = Some(StopReason::LeaveTime);
        } else if member.last_new_sample.elapsed() >= stale_after {
            member.ending = Some(StopReason::Stale);
        }
    }

    /// Zoom did not answer with QoS for `members`: one policy per kind of
    /// failure. `Some` when the meeting's polling ends.
    fn failed(
        &mut self,
        members: &[usize],
        error: ZoomError,
        now: DateTime<Utc>,
    ) -> Option<PollEnd> {
        let instant = Instant::now();
        let settings = self.settings().clone();
        match error {
            ZoomError::RateLimited { .. } => {
                // The budget already holds every meeting; ask again and the
                // next slot comes after the pause.
                self.idle(members, now);
            }
            ZoomError::Quota(BudgetError::DailyQuotaExhausted { reset_in, .. }) => {
                for member in &mut self.members {
                    member.retry_at = Some(instant + reset_in);
                }
                let all: Vec<usize> = (0..self.members.len()).collect();
                self.idle(&all, now);
            }
            ZoomError::NotEntitled { message } => return Some(PollEnd::NotEntitled { message }),
            ZoomError::NotLive => return Some(PollEnd::MeetingOver),
            error @ ZoomError::Rejected { .. } => {
                tracing::error!(%error, "Zoom refused the QoS request for this meeting");
                for &index in members {
                    self.members[index].ending = Some(StopReason::Rejected);
                }
            }
            error => {
                self.ctx.metrics.poll_errors.inc();
                let mut longest = Duration::ZERO;
                for &index in members {
                    let member = &mut self.members[index];
                    member.failures = member.failures.saturating_add(1);
                    let wait = retry_delay(&settings, member.failures);
                    longest = longest.max(wait);
                    member.retry_at = Some(instant + wait);
                }
                match error {
                    ZoomError::AnswerTooLarge { .. } => {
                        // The client logs it once a minute, not per poll.
                        tracing::debug!(
                            retry_in_ms = longest.as_millis() as u64,
                            "Zoom answer too large"
                        );
                    }
                    ZoomError::BadCredentials { .. } => {
                        tracing::error!(%error, "check ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET");
                    }
                    error => {
                        tracing::warn!(%error, retry_in_ms = longest.as_millis() as u64, "poll failed");
                    }
                }
                self.idle(members, now);
            }
        }
        None
    }

    /// Time passes for `members` without data (repeats, missing-data alerts).
    fn idle(&mut self, members: &[usize], now: DateTime<Utc>) {
        for &index in members {
            let member = &mut self.members[index];
            member.observer.idle(&member.subject, now);
        }
    }

    fn count_report(&self, report: &ParseReport) {
        let ctx = self.ctx;
        if report.samples_dropped > 0 {
            ctx.metrics
                .samples_dropped
                .inc_by(report.samples_dropped as u64);
            if let Some(unlogged) = ctx.samples_dropped_log.occurred(Instant::now()) {
                tracing::warn!(
                    dropped = report.samples_dropped,
                    kept = crate::zoom::client::MAX_SAMPLES_PER_ANSWER,
                    answers_not_logged_since = unlogged,
                    "Zoom answered more samples than are taken from one answer: the oldest were left out"
                );
            }
        }
        if report.bad_value_count == 0 {
            return;
        }
        ctx.metrics.bad_values.inc_by(report.bad_value_count as u64);
        tracing::warn!(
            count = report.bad_value_count,
            fields = ?report.bad_values.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
            "unreadable QoS values treated as no data"
        );
    }
}

/// The wait after one more failed poll: from the polling interval (at most
/// 5 s) up to `max_backoff` (at least the interval).
fn retry_delay(settings: &PollingSettings, failures: u32) -> Duration {
    Backoff::new(
        settings.interval.min(Duration::from_secs(5)),
        settings.max_backoff.max(settings.interval),
    )
    .delay(failures)
}
