//! The replay: past samples through the rule engine and the dispatcher's
//! grouping, as the server would have run them, on the samples' clock.
//! Pure: no IO, no clock.
//!
//! What the server does, and what the replay does instead:
//!
//! - the server evaluates each new sample once, in `date_time` order,
//!   deduplicated by time: so does the replay;
//! - sustain and clear use the samples' time in both;
//! - repeats and missing-data alerts use the server's wall clock, and the
//!   server calls the engine at every poll without a new sample: the
//!   replay's clock is the samples' time, and it ticks the engine once a
//!   [`TICK`] (Zoom's sample period) where there is no sample, from the
//!   participant's join to the leave;
//! - the watch ends when the participant leaves: the replay ends it at
//!   Zoom's `leave_time` (else the last sample) and resolves what is still
//!   firing, as a leave does on the server;
//! - the grouping window (`alerts.dispatch.group_window`) opens at an
//!   event's sample time instead of its arrival, and events join a window
//!   up to and including its deadline, as the router's biased `select!`
//!   takes a command before its timer;
//! - silences are not applied: they belong to the live board.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value as Json;

use qoswatch_core::alert::{AlertEvent, AlertStatus, MeetingInfo, ParticipantInfo, Severity};
use qoswatch_core::qos::{ParseReport, QosSample, participant_from_json};
use qoswatch_core::rules::{ParticipantState, RuleSet, Subject};

use crate::notify::Notification;
use crate::notify::grouping::{self, GroupKey, Groups, Target};
use crate::zoom::client::PastMeeting;

/// The engine's tick where there is no sample: Zoom's sample period.
pub const TICK: TimeDelta = TimeDelta::minutes(1);

/// One meeting as fetched or recorded: the meeting and its participants'
/// objects in Zoom's shape (reduced to the fields the rules read).
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingData {
    pub meeting: PastMeeting,
    pub participants: Vec<Json>,
}

/// A message the server would have sent: the channel, when (the end of
/// its grouping window, sample time) and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub channel: String,
    pub at: DateTime<Utc>,
    pub notification: Notification,
}

/// One alert from FIRING to RESOLVED.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub rule: String,
    pub meeting: MeetingInfo,
    pub participant: ParticipantInfo,
    /// The first FIRING.
    pub fired_at: DateTime<Utc>,
    /// The RESOLVED; `None` when it never came (cannot happen once a
    /// participant's replay ended, kept for robustness).
    pub resolved_at: Option<DateTime<Utc>>,
    /// The highest severity it reached.
    pub severity: Severity,
}

impl Alert {
    /// How long it was firing.
    pub fn firing_for(&self) -> Duration {
        self.resolved_at
            .map(|end| (end - self.fired_at).to_std().unwrap_or_default())
            .unwrap_or_default()
    }
}

/// One meeting's replay.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayedMeeting {
    pub meeting: MeetingInfo,
    pub start_time: Option<DateTime<Utc>>,
    /// Participants replayed (with a `user_id`).
    pub participants: usize,
    /// Samples evaluated.
    pub samples: usize,
    /// Every transition, in the order the server would have produced them.
    pub events: Vec<AlertEvent>,
    pub alerts: Vec<Alert>,
    /// The messages, in the order they would have gone out.
    pub messages: Vec<Message>,
}

/// The whole replay.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Replay {
    pub meetings: Vec<ReplayedMeeting>,
    /// Participant objects without a `user_id`: not replayed.
    pub participants_without_id: usize,
    /// Values the parser could not read (treated as no data, as live).
    pub bad_values: usize,
}

/// Replays meetings one at a time as they come (fetched or read), so
/// that only their results stay in memory, not their samples.
#[derive(Debug)]
pub struct Replayer<'a> {
    rules: &'a RuleSet,
    group_window: Duration,
    replay: Replay,
}

impl<'a> Replayer<'a> {
    /// Replays through `rules`, grouping messages within `group_window`.
    pub fn new(rules: &'a RuleSet, group_window: Duration) -> Self {
        Self {
            rules,
            group_window,
            replay: Replay::default(),
        }
    }

    pub fn meeting(&mut self, data: &MeetingData) {
        let replayed = replay_meeting(data, self.rules, self.group_window, &mut self.replay);
        self.replay.meetings.push(replayed);
    }

    pub fn finish(self) -> Replay {
        self.replay
    }
}

/// Replays `data` through `rules`, grouping messages within `group_window`.
pub fn replay(data: &[MeetingData], rules: &RuleSet, group_window: Duration) -> Replay {
    let mut replayer = Replayer::new(rules, group_window);
    for meeting in data {
        replayer.meeting(meeting);
    }
    replayer.finish()
}

/// A participant as the replay sees it: who, samples in order, the leave.
struct Participant {
    subject: Subject,
    samples: Vec<QosSample>,
    join: Option<DateTime<Utc>>,
    leave: Option<DateTime<Utc>>,
}

fn replay_meeting(
    data: &MeetingData,
    rules: &RuleSet,
    group_window: Duration,
    totals: &mut Replay,
) -> ReplayedMeeting {
    let meeting = MeetingInfo {
        account: data.meeting.account.clone(),
        uuid: data.meeting.uuid.clone(),
        id: data.meeting.id.clone(),
        topic: data.meeting.topic.clone(),
        kind: data.meeting.kind,
    };
    let participants = participants_of(data, &meeting, totals);
    let mut events: Vec<AlertEvent> = Vec::new();
    let mut samples = 0;
    for participant in &participants {
        samples += participant.samples.len();
        events.extend(replay_participant(rules, participant));
    }
    // The server sees each participant's events as they happen: in time
    // order across participants (stable: same time, Zoom's order).
    events.sort_by_key(|event| event.at);
    let alerts = alerts_of(&events);
    let messages = messages_of(&events, rules, group_window);
    ReplayedMeeting {
        meeting,
        start_time: data.meeting.start_time,
        participants: participants.len(),
        samples,
        events,
        alerts,
        messages,
    }
}

/// The meeting's participants by `user_id`, in Zoom's order; one listed
/// twice (on two pages) has its samples merged.
fn participants_of(
    data: &MeetingData,
    meeting: &MeetingInfo,
    totals: &mut Replay,
) -> Vec<Participant> {
    let mut participants: Vec<Participant> = Vec::new();
    for object in &data.participants {
        let mut report = ParseReport::default();
        let qos = participant_from_json(object, &mut report);
        totals.bad_values += report.bad_value_count;
        let details = qos.details;
        let Some(user_id) = details.user_id.clone() else {
            totals.participants_without_id += 1;
            continue;
        };
        if let Some(known) = participants
            .iter_mut()
            .find(|p| p.subject.participant.user_id == user_id)
        {
            known.samples.extend(qos.samples);
            known.leave = known.leave.max(details.leave_time);
            continue;
        }
        participants.push(Participant {
            subject: Subject {
                meeting: meeting.clone(),
                participant: ParticipantInfo {
                    user_id,
                    name: details.user_name.clone(),
                    email: None,
                    device: details.device.clone(),
                    location: details.location.clone(),
                    network_type: details.network_type.clone(),
                },
            },
            samples: qos.samples,
            join: details.join_time,
            leave: details.leave_time,
        });
    }
    for participant in &mut participants {
        participant.samples.sort_by_key(|sample| sample.at);
        participant.samples.dedup_by_key(|sample| sample.at);
    }
    participants
}

/// One participant's transitions: the engine ticked from the join, each
/// sample evaluated at its time, ticks where samples are missing, the end
/// at the leave.
fn replay_participant(rules: &RuleSet, participant: &Participant) -> Vec<AlertEvent> {
    let Some(first) = participant.samples.first().map(|s| s.at) else {
        return Vec::new();
    };
    let subject = &participant.subject;
    let mut state = ParticipantState::default();
    let mut events = Vec::new();
    let start = participant.join.map_or(first, |join| join.min(first));
    events.extend(rules.tick(&mut state, subject, start));
    let mut clock = start;
    for sample in &participant.samples {
        events.extend(ticks_between(rules, &mut state, subject, clock, sample.at));
        events.extend(rules.evaluate(&mut state, subject, sample, sample.at));
        clock = sample.at;
    }
    let end = participant.leave.map_or(clock, |leave| leave.max(clock));
    events.extend(ticks_between(rules, &mut state, subject, clock, end));
    events.extend(rules.finish(&mut state, subject, end));
    events
}

/// Ticks at `from + TICK`, `from + 2 TICK`, … strictly before `to`.
fn ticks_between(
    rules: &RuleSet,
    state: &mut ParticipantState,
    subject: &Subject,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<AlertEvent> {
    let mut events = Vec::new();
    let mut at = from + TICK;
    while at < to {
        events.extend(rules.tick(state, subject, at));
        at += TICK;
    }
    events
}

/// The alerts (FIRING to RESOLVED) the events describe.
fn alerts_of(events: &[AlertEvent]) -> Vec<Alert> {
    let mut open: BTreeMap<&str, usize> = BTreeMap::new();
    let mut alerts: Vec<Alert> = Vec::new();
    for event in events {
        let Some(participant) = &event.participant else {
            continue;
        };
        match (event.status, open.get(event.key.as_str())) {
            (AlertStatus::Firing, None) => {
                open.insert(event.key.as_str(), alerts.len());
                alerts.push(Alert {
                    rule: event.rule.clone(),
                    meeting: event.meeting.clone(),
                    participant: participant.clone(),
                    fired_at: event.at,
                    resolved_at: None,
                    severity: event.severity,
                });
            }
            (AlertStatus::Firing | AlertStatus::Repeat, Some(&index)) => {
                let alert = &mut alerts[index];
                alert.severity = alert.severity.max(event.severity);
            }
            (AlertStatus::Resolved, Some(&index)) => {
                alerts[index].resolved_at = Some(event.at);
                open.remove(event.key.as_str());
            }
            (AlertStatus::Repeat | AlertStatus::Resolved, None) => {}
        }
    }
    alerts
}

/// The messages the dispatcher would send for `events` (one meeting's, in
/// time order): the same targets, the same grouping window on sample time.
fn messages_of(events: &[AlertEvent], rules: &RuleSet, group_window: Duration) -> Vec<Message> {
    let channels: BTreeMap<&str, bool> = rules
        .channels()
        .iter()
        .map(|channel| (channel.name.as_str(), channel.spec.send_resolved()))
        .collect();
    let window = TimeDelta::from_std(group_window).unwrap_or(TimeDelta::MAX);
    let mut groups: Groups<DateTime<Utc>, AlertEvent> = Groups::default();
    let mut messages = Vec::new();
    let mut send = |channel: String, at: DateTime<Utc>, run: Vec<AlertEvent>| {
        if let Some(notification) = Notification::new(run) {
            messages.push(Message {
                channel,
                at,
                notification,
            });
        }
    };
    for event in events {
        // Windows that closed before this event (one closing at its very
        // time still takes it, as the router does).
        let before = event.at - TimeDelta::nanoseconds(1);
        for due in groups.take_due(Some(before), grouping::event_phase) {
            for run in due.runs {
                send(due.key.channel.clone(), due.deadline, run);
            }
        }
        for target in grouping::targets(event, |name| channels.get(name).copied()) {
            let Target::Send(channel) = target else {
                continue;
            };
            if group_window.is_zero() {
                send(channel.to_owned(), event.at, vec![event.clone()]);
                continue;
            }
            let key = GroupKey {
                channel: channel.to_owned(),
                meeting: event.meeting.key(),
            };
            let deadline = event.at.checked_add_signed(window).unwrap_or(event.at);
            groups.add(key, deadline, event.clone());
        }
    }
    for due in groups.take_due(None, grouping::event_phase) {
        for run in due.runs {
            send(due.key.channel.clone(), due.deadline, run);
        }
    }
    messages.sort_by_key(|message| message.at);
    messages
}

#[cfg(test)]
mod tests;
