//! What the channels render: one notification = one or more alert events of
//! one meeting that went out together, plus what they have in common.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use qoswatch_core::alert::{AlertEvent, AlertStatus, CallKind, MeetingInfo, ParticipantInfo};

/// Whether a notification reports problems or their end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// `Firing` and `Repeat` events.
    Problem,
    /// `Resolved` events.
    Resolved,
}

impl Phase {
    pub fn of(status: AlertStatus) -> Phase {
        match status {
            AlertStatus::Firing | AlertStatus::Repeat => Phase::Problem,
            AlertStatus::Resolved => Phase::Resolved,
        }
    }
}

/// A likely common cause of several participants degrading together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedCause {
    /// All affected participants are at the same location (office network).
    Location(String),
    /// All affected participants use the same network type (e.g. `Wifi`).
    NetworkType(String),
    /// All affected participants use the same kind of device.
    Device(String),
    /// Nothing in common that qoswatch knows of: the meeting itself, the
    /// host's connection or Zoom are likelier than each participant's network.
    Meeting,
}

impl SharedCause {
    /// Finds what the affected participants have in common. `None` unless at
    /// least two distinct participants are affected.
    pub fn detect(events: &[AlertEvent]) -> Option<SharedCause> {
        let mut seen = BTreeSet::new();
        let participants: Vec<&ParticipantInfo> = events
            .iter()
            .filter_map(|event| event.participant.as_ref())
            .filter(|participant| seen.insert(participant.user_id.as_str()))
            .collect();
        if participants.len() < 2 {
            return None;
        }
        let common = |get: fn(&ParticipantInfo) -> Option<&String>| -> Option<String> {
            let first = get(participants[0])?.trim();
            if first.is_empty() {
                return None;
            }
            participants
                .iter()
                .all(|participant| {
                    get(participant).is_some_and(|value| value.trim().eq_ignore_ascii_case(first))
                })
                .then(|| first.to_string())
        };
        if let Some(location) = common(|p| p.location.as_ref()) {
            return Some(SharedCause::Location(location));
        }
        if let Some(network) = common(|p| p.network_type.as_ref()) {
            return Some(SharedCause::NetworkType(network));
        }
        if let Some(device) = common(|p| p.device.as_ref()) {
            return Some(SharedCause::Device(device));
        }
        Some(SharedCause::Meeting)
    }

    /// A sentence for people, without markup.
    pub fn describe(&self, participants: usize) -> String {
        match self {
            SharedCause::Location(location) => format!(
                "{participants} participants degraded together, all at location \"{location}\": \
                 likely a shared cause in that office network."
            ),
            SharedCause::NetworkType(network) => format!(
                "{participants} participants degraded together, all on network type \"{network}\": \
                 likely a shared cause in that kind of network."
            ),
            SharedCause::Device(device) => format!(
                "{participants} participants degraded together, all on device \"{device}\": \
                 likely a shared cause in that device class."
            ),
            SharedCause::Meeting => format!(
                "{participants} participants degraded together with no location, network or device \
                 in common: likely a shared cause such as the host's connection or Zoom itself."
            ),
        }
    }
}

/// One message to deliver: events of one meeting and one phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub meeting: MeetingInfo,
    pub phase: Phase,
    /// At least one event, ordered by time then key.
    pub events: Vec<AlertEvent>,
    /// Set when several participants are affected.
    pub shared_cause: Option<SharedCause>,
}

impl Notification {
    /// Builds a notification from events of one meeting and phase.
    /// Returns `None` for an empty list.
    pub fn new(mut events: Vec<AlertEvent>) -> Option<Notification> {
        let first = events.first()?;
        let meeting = first.meeting.clone();
        let phase = Phase::of(first.status);
        events.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.key.cmp(&b.key)));
        let shared_cause = match phase {
            Phase::Problem => SharedCause::detect(&events),
            Phase::Resolved => None,
        };
        Some(Notification {
            meeting,
            phase,
            events,
            shared_cause,
        })
    }

    /// The first event (there is always one).
    pub fn first(&self) -> &AlertEvent {
        &self.events[0]
    }

    /// Number of distinct participants affected.
    pub fn participant_count(&self) -> usize {
        self.events
            .iter()
            .filter_map(|event| event.participant.as_ref())
            .map(|participant| participant.user_id.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Upper-case tag: `FIRING`, `STILL FIRING` (reminders only) or `RESOLVED`.
    pub fn tag(&self) -> &'static str {
        match self.phase {
            Phase::Resolved => AlertStatus::Resolved.tag(),
            Phase::Problem => {
                if self
                    .events
                    .iter()
                    .all(|event| event.status == AlertStatus::Repeat)
                {
                    AlertStatus::Repeat.tag()
                } else {
                    AlertStatus::Firing.tag()
                }
            }
        }
    }

    /// The meeting as people know it: topic, else the meeting number, else the UUID.
    pub fn meeting_name(&self) -> String {
        meeting_name(&self.meeting)
    }

    /// A short line that reads well in a phone notification or a mail subject:
    /// `[FIRING] High audio latency — Jill Chill — Weekly sync`.
    pub fn headline(&self) -> String {
        let tag = self.tag();
        let meeting = self.meeting_name();
        if self.events.len() == 1 {
            let event = self.first();
            return format!(
                "[{tag}] {} — {} — {meeting}",
                one_line(&event.summary),
                who(event.participant.as_ref())
            );
        }
        let people = self.participant_count();
        let alerts = self.events.len();
        match &self.shared_cause {
            Some(_) if people > 1 => {
                format!("[{tag}] {people} participants degraded together — {meeting}")
            }
            _ => format!("[{tag}] {alerts} alerts — {meeting}"),
        }
    }
}

/// The meeting as people know it: its topic, else its number, else its
/// UUID. A webinar says so: "Town hall (webinar)", "webinar 123". With
/// several Zoom accounts, the account's name comes first: "acme · Weekly
/// sync" (one channel may get several customers' alerts).
pub fn meeting_name(meeting: &MeetingInfo) -> String {
    let kind = meeting.kind.as_str();
    let name = match (&meeting.topic, &meeting.id) {
        (Some(topic), _) if !topic.trim().is_empty() => match meeting.kind {
            CallKind::Meeting => one_line(topic),
            CallKind::Webinar => format!("{} (webinar)", one_line(topic)),
        },
        (_, Some(id)) => format!("{kind} {id}"),
        _ => format!("{kind} {}", meeting.uuid),
    };
    if meeting.account.is_default() {
        name
    } else {
        format!("{} · {name}", meeting.account)
    }
}

/// Who an event is about.
pub fn who(participant: Option<&ParticipantInfo>) -> String {
    match participant {
        Some(participant) => one_line(&participant.display_name()),
        None => "whole meeting".to_string(),
    }
}

/// "Weekly sync (id 123 456 789)" style meeting description with id when
/// known; "Town hall (webinar 123)" for a webinar.
pub fn meeting_with_id(meeting: &MeetingInfo) -> String {
    let has_topic = meeting
        .topic
        .as_deref()
        .is_some_and(|t| !t.trim().is_empty());
    match (&meeting.id, meeting.kind) {
        (Some(id), CallKind::Meeting) if has_topic => {
            format!("{} (id {id})", meeting_name(meeting))
        }
        (Some(id), CallKind::Webinar) if has_topic => {
            format!(
                "{} (webinar {id})",
                one_line(meeting.topic.as_deref().unwrap_or_default())
            )
        }
        _ => meeting_name(meeting),
    }
}

/// "Meeting" or "Webinar": the label of the field that names it.
pub fn call_label(meeting: &MeetingInfo) -> &'static str {
    match meeting.kind {
        CallKind::Meeting => "Meeting",
        CallKind::Webinar => "Webinar",
    }
}

/// Collapses line breaks and runs of whitespace: header values and
/// notification titles must stay on one line.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Cuts `text` to at most `max` characters (not bytes), marking the cut with
/// an ellipsis. Never splits a character.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// `2026-11-25 18:12 UTC`.
pub fn format_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// How long something lasted, in words: `4 min 20 s`.
pub fn format_duration(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let seconds = (to - from).num_seconds().max(0);
    let (hours, minutes, secs) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    let mut out = String::new();
    if hours > 0 {
        let _ = write!(out, "{hours} h ");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(out, "{minutes} min ");
    }
    let _ = write!(out, "{secs} s");
    out
}

/// Metric and stream as one label: `audio_input.jitter (audio input)`.
pub fn metric_label(event: &AlertEvent) -> String {
    match &event.stream {
        Some(stream) if !event.metric.contains(stream.as_str()) => {
            format!("{} ({stream})", event.metric)
        }
        _ => event.metric.clone(),
    }
}

/// Who, with the e-mail address only when the channel allows it.
pub fn participant_text(event: &AlertEvent, show_email: bool) -> String {
    let name = who(event.participant.as_ref());
    match event.participant.as_ref().and_then(|p| p.email.as_deref()) {
        Some(email) if show_email && !email.trim().is_empty() => {
            format!("{name} ({})", one_line(email))
        }
        _ => name,
    }
}

/// The facts of one event as (label, plain text), the same in every chat
/// channel: metric, value, threshold, since or how long, participant and
/// meeting (unless a group's heading names them), severity, location,
/// device and network.
pub fn facts(
    event: &AlertEvent,
    phase: Phase,
    show_email: bool,
    with_meeting: bool,
) -> Vec<(&'static str, String)> {
    let mut facts = vec![("Metric", metric_label(event))];
    if let Some(value) = &event.value {
        let label = match phase {
            Phase::Problem => "Value",
            Phase::Resolved => "Last value",
        };
        facts.push((label, value.clone()));
    }
    if let Some(threshold) = &event.threshold {
        facts.push(("Threshold", threshold.clone()));
    }
    match phase {
        Phase::Problem => facts.push(("Since", format_time(event.started_at))),
        Phase::Resolved => facts.push((
            "Lasted",
            format!(
                "{} (from {})",
                format_duration(event.started_at, event.at),
                format_time(event.started_at)
            ),
        )),
    }
    if with_meeting {
        match &event.participant {
            Some(_) => facts.push(("Participant", participant_text(event, show_email))),
            None => facts.push(("Scope", "whole meeting (reported by Zoom)".to_string())),
        }
        facts.push((call_label(&event.meeting), meeting_with_id(&event.meeting)));
    }
    facts.push(("Severity", event.severity.as_str().to_string()));
    if let Some(participant) = &event.participant {
        if let Some(location) = participant
            .location
            .as_deref()
            .filter(|l| !l.trim().is_empty())
        {
            facts.push(("Location", location.to_string()));
        }
        let device = match (&participant.device, &participant.network_type) {
            (Some(device), Some(network)) => Some(format!("{device}, {network}")),
            (Some(device), None) => Some(device.clone()),
            (None, Some(network)) => Some(network.clone()),
            (None, None) => None,
        };
        if let Some(device) = device {
            facts.push(("Device / network", device));
        }
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn event(user: &str, location: Option<&str>, network: Option<&str>) -> AlertEvent {
        let mut event = crate::test_support::example_event(user, AlertStatus::Firing);
        if let Some(participant) = event.participant.as_mut() {
            participant.location = location.map(String::from);
            participant.network_type = network.map(String::from);
        }
        event
    }

    #[test]
    fn a_meeting_of_another_account_than_the_single_one_names_its_account() {
        let mut meeting = event("1", None, None).meeting;
        meeting.topic = Some("Weekly sync".into());
        assert_eq!(meeting_name(&meeting), "Weekly sync");
        meeting.account = qoswatch_core::alert::Account::new("acme");
        assert_eq!(meeting_name(&meeting), "acme · Weekly sync");
        meeting.topic = None;
        meeting.id = Some("84712639219".into());
        assert_eq!(meeting_name(&meeting), "acme · meeting 84712639219");
    }

    #[test]
    fn shared_location_wins_over_network() {
        let events = vec![
            event("1", Some("Amsterdam"), Some("Wifi")),
            event("2", Some("amsterdam"), Some("Wifi")),
        ];
        assert_eq!(
            SharedCause::detect(&events),
            Some(SharedCause::Location("Amsterdam".into()))
        );
    }

    #[test]
    fn shared_network_when_locations_differ() {
        let events = vec![
            event("1", Some("Amsterdam"), Some("Wifi")),
            event("2", Some("Berlin"), Some("Wifi")),
            event("3", None, Some("Wifi")),
        ];
        assert_eq!(
            SharedCause::detect(&events),
            Some(SharedCause::NetworkType("Wifi".into()))
        );
    }

    #[test]
    fn nothing_in_common_points_at_the_meeting() {
        let events = vec![event("1", Some("A"), None), event("2", Some("B"), None)];
        assert_eq!(SharedCause::detect(&events), Some(SharedCause::Meeting));
    }

    #[test]
    fn one_participant_with_two_alerts_is_no_shared_cause() {
        let events = vec![event("1", Some("A"), None), event("1", Some("A"), None)];
        assert_eq!(SharedCause::detect(&events), None);
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate_chars("héllo wörld", 5), "héll…");
        assert_eq!(truncate_chars("short", 5), "short");
        assert_eq!(truncate_chars("🎉🎉🎉", 2), "🎉…");
        assert_eq!(truncate_chars("abc", 0), "");
    }

    #[test]
    fn durations_read_like_words() {
        let from = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 1, 1, 11, 4, 20).unwrap();
        assert_eq!(format_duration(from, to), "1 h 4 min 20 s");
        assert_eq!(format_duration(to, from), "0 s");
    }

    #[test]
    fn one_line_collapses_breaks() {
        assert_eq!(one_line(" a\r\n b\tc "), "a b c");
    }
}
