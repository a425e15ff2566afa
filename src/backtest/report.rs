//! What a backtest prints: per rule (alerts, participants, meetings,
//! minutes firing, the longest alert), per meeting a FIRING/RESOLVED
//! timeline, the messages per channel, and with `--compare` the alerts each
//! rules file has and the other lacks. The same [`Report`] renders as text
//! (compact, aligned, for a terminal or a phone) or as JSON for scripts.
//! Pure: no IO, no clock.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use qoswatch_core::alert::{AlertEvent, Severity};
use qoswatch_core::rules::RuleSet;

use super::fetch::Problem;
use super::replay::{Alert, Replay};
use crate::notify::meeting_name as message_meeting_name;

/// Per rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSummary {
    pub rule: String,
    pub alerts: usize,
    pub participants: usize,
    pub meetings: usize,
    /// Total minutes firing, over every alert.
    pub firing_minutes: f64,
    /// The longest alert.
    pub longest: Option<Longest>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Longest {
    pub minutes: f64,
    pub participant: String,
    pub meeting: String,
    pub fired_at: DateTime<Utc>,
}

/// One line of a meeting's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// `FIRING`, `STILL FIRING` or `RESOLVED`.
    pub status: &'static str,
    pub rule: String,
    pub severity: Severity,
    pub participant: String,
    pub user_id: String,
    pub value: Option<String>,
    pub threshold: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeetingReport {
    pub uuid: String,
    pub id: Option<String>,
    pub name: String,
    pub start_time: Option<DateTime<Utc>>,
    pub participants: usize,
    pub samples: usize,
    pub timeline: Vec<TimelineEntry>,
    /// Messages the server would have sent, by channel.
    pub messages: BTreeMap<String, usize>,
}

/// An alert, as the comparison lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertLine {
    pub rule: String,
    pub meeting: String,
    pub participant: String,
    pub user_id: String,
    pub severity: Severity,
    pub fired_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// What one rules file said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileReport {
    pub rules_file: String,
    pub rules: Vec<RuleSummary>,
    pub meetings: Vec<MeetingReport>,
    pub messages: BTreeMap<String, usize>,
}

/// `--compare`: alerts matched by rule name, meeting and participant when
/// they overlap in time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub only_in_rules: Vec<AlertLine>,
    pub only_in_compare: Vec<AlertLine>,
    pub in_both: usize,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// False when something asked for could not be fetched (see `problems`).
    pub complete: bool,
    pub problems: Vec<Problem>,
    pub meetings: usize,
    pub participants: usize,
    pub samples: usize,
    pub first_meeting: Option<DateTime<Utc>>,
    pub last_meeting: Option<DateTime<Utc>>,
    pub rules: FileReport,
    pub compare: Option<FileReport>,
    pub comparison: Option<Comparison>,
}

/// The report of `replay` (by `rules`, from `rules_file`), and of `other`
/// when comparing.
pub fn report(
    (rules_file, rules, replay): (&str, &RuleSet, &Replay),
    other: Option<(&str, &RuleSet, &Replay)>,
    problems: &[Problem],
) -> Report {
    let starts = replay.meetings.iter().filter_map(|m| m.start_time);
    Report {
        complete: problems.is_empty(),
        problems: problems.to_vec(),
        meetings: replay.meetings.len(),
        participants: replay.meetings.iter().map(|m| m.participants).sum(),
        samples: replay.meetings.iter().map(|m| m.samples).sum(),
        first_meeting: starts.clone().min(),
        last_meeting: starts.max(),
        rules: file_report(rules_file, rules, replay),
        compare: other.map(|(file, rules, replay)| file_report(file, rules, replay)),
        comparison: other.map(|(_, _, other)| compare(replay, other)),
    }
}

fn file_report(rules_file: &str, rules: &RuleSet, replay: &Replay) -> FileReport {
    let alerts: Vec<&Alert> = replay.meetings.iter().flat_map(|m| &m.alerts).collect();
    let summaries = rules
        .rules()
        .map(|rule| summarize(&rule.name, &alerts))
        .collect();
    let mut messages: BTreeMap<String, usize> = BTreeMap::new();
    let meetings = replay
        .meetings
        .iter()
        .map(|meeting| {
            let mut per_channel: BTreeMap<String, usize> = BTreeMap::new();
            for message in &meeting.messages {
                *per_channel.entry(message.channel.clone()).or_default() += 1;
                *messages.entry(message.channel.clone()).or_default() += 1;
            }
            MeetingReport {
                uuid: meeting.meeting.uuid.clone(),
                id: meeting.meeting.id.clone(),
                name: message_meeting_name(&meeting.meeting),
                start_time: meeting.start_time,
                participants: meeting.participants,
                samples: meeting.samples,
                timeline: meeting.events.iter().map(timeline_entry).collect(),
                messages: per_channel,
            }
        })
        .collect();
    FileReport {
        rules_file: rules_file.to_owned(),
        rules: summaries,
        meetings,
        messages,
    }
}

fn minutes(duration: Duration) -> f64 {
    (duration.as_secs_f64() / 6.0).round() / 10.0
}

/// One rule's figures over `alerts`.
pub fn summarize(rule: &str, alerts: &[&Alert]) -> RuleSummary {
    let mine: Vec<&&Alert> = alerts.iter().filter(|a| a.rule == rule).collect();
    let participants: BTreeSet<(&str, &str)> = mine
        .iter()
        .map(|a| (a.meeting.uuid.as_str(), a.participant.user_id.as_str()))
        .collect();
    let meetings: BTreeSet<&str> = mine.iter().map(|a| a.meeting.uuid.as_str()).collect();
    let total: Duration = mine.iter().map(|a| a.firing_for()).sum();
    // The first of the longest, in time order.
    let longest = mine
        .iter()
        .copied()
        .fold(None::<&Alert>, |best, alert| match best {
            Some(best) if best.firing_for() >= alert.firing_for() => Some(best),
            _ => Some(alert),
        })
        .map(|alert| Longest {
            minutes: minutes(alert.firing_for()),
            participant: alert.participant.display_name(),
            meeting: message_meeting_name(&alert.meeting),
            fired_at: alert.fired_at,
        });
    RuleSummary {
        rule: rule.to_owned(),
        alerts: mine.len(),
        participants: participants.len(),
        meetings: meetings.len(),
        firing_minutes: minutes(total),
        longest,
    }
}

fn timeline_entry(event: &AlertEvent) -> TimelineEntry {
    let participant = event.participant.clone().unwrap_or_default();
    TimelineEntry {
        at: event.at,
        status: event.status.tag(),
        rule: event.rule.clone(),
        severity: event.severity,
        participant: participant.display_name(),
        user_id: participant.user_id,
        value: event.value.clone(),
        threshold: event.threshold.clone(),
    }
}

fn alert_line(alert: &Alert) -> AlertLine {
    AlertLine {
        rule: alert.rule.clone(),
        meeting: message_meeting_name(&alert.meeting),
        participant: alert.participant.display_name(),
        user_id: alert.participant.user_id.clone(),
        severity: alert.severity,
        fired_at: alert.fired_at,
        resolved_at: alert.resolved_at,
    }
}

/// Whether two alerts are the same problem: same rule name, meeting and
/// participant, and their firing times overlap (an alert still open at the
/// end overlaps everything after its start).
pub fn same_alert(a: &Alert, b: &Alert) -> bool {
    let overlaps = |x: &Alert, y: &Alert| y.resolved_at.is_none_or(|end| x.fired_at <= end);
    a.rule == b.rule
        && a.meeting.uuid == b.meeting.uuid
        && a.participant.user_id == b.participant.user_id
        && overlaps(a, b)
        && overlaps(b, a)
}

/// The alerts each replay has and the other lacks.
pub fn compare(rules: &Replay, other: &Replay) -> Comparison {
    let left: Vec<&Alert> = rules.meetings.iter().flat_map(|m| &m.alerts).collect();
    let right: Vec<&Alert> = other.meetings.iter().flat_map(|m| &m.alerts).collect();
    let unmatched = |from: &[&Alert], against: &[&Alert]| -> Vec<AlertLine> {
        from.iter()
            .filter(|alert| !against.iter().any(|other| same_alert(alert, other)))
            .map(|alert| alert_line(alert))
            .collect()
    };
    let only_in_rules = unmatched(&left, &right);
    Comparison {
        in_both: left.len() - only_in_rules.len(),
        only_in_compare: unmatched(&right, &left),
        only_in_rules,
    }
}

/// `1 meeting`, `2 meetings`.
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// `1 h 05 min`, `7 min`, `30 s`.
fn human(minutes_firing: f64) -> String {
    let seconds = (minutes_firing * 60.0).round() as u64;
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s => format!("{} h {:02} min", s / 3600, s / 60 % 60),
    }
}

fn day_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The report as text.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let span = match (report.first_meeting, report.last_meeting) {
        (Some(first), Some(last)) if first != last => {
            format!(", {} to {}", day_time(first), day_time(last))
        }
        (Some(first), _) => format!(", {}", day_time(first)),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "Backtest: {}, {}, {}{span}",
        plural(report.meetings, "meeting"),
        plural(report.participants, "participant"),
        plural(report.samples, "sample")
    );
    file_text(&mut out, &report.rules);
    if let Some(other) = &report.compare {
        file_text(&mut out, other);
    }
    if let (Some(comparison), Some(other)) = (&report.comparison, &report.compare) {
        comparison_text(
            &mut out,
            comparison,
            &report.rules.rules_file,
            &other.rules_file,
        );
    }
    if !report.problems.is_empty() {
        let _ = writeln!(out, "\nIncomplete: {} not fetched", report.problems.len());
        for problem in &report.problems {
            let _ = writeln!(out, "  {}: {}", problem.what, problem.reason);
        }
    }
    out
}

fn file_text(out: &mut String, file: &FileReport) {
    let _ = writeln!(out, "\n{}", file.rules_file);
    let width = file
        .rules
        .iter()
        .map(|r| r.rule.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "  {:<width$}  alerts  people  meetings    firing   longest",
        "rule"
    );
    for rule in &file.rules {
        let longest = rule
            .longest
            .as_ref()
            .map_or_else(|| "-".to_owned(), |l| human(l.minutes));
        let firing = if rule.alerts == 0 {
            "-".to_owned()
        } else {
            human(rule.firing_minutes)
        };
        let _ = writeln!(
            out,
            "  {:<width$}  {:>6}  {:>6}  {:>8}  {:>8}  {:>8}",
            rule.rule, rule.alerts, rule.participants, rule.meetings, firing, longest
        );
    }
    if !file.messages.is_empty() {
        let channels: Vec<String> = file
            .messages
            .iter()
            .map(|(channel, count)| format!("{channel} {count}"))
            .collect();
        let _ = writeln!(out, "  messages: {}", channels.join(", "));
    }
    for meeting in file.meetings.iter().filter(|m| !m.timeline.is_empty()) {
        let start = meeting.start_time.map(day_time).unwrap_or_default();
        let _ = writeln!(
            out,
            "\n  {} — {start}, {}",
            meeting.name,
            plural(meeting.participants, "participant")
        );
        for entry in &meeting.timeline {
            // A recovery's value is the good one: its threshold says nothing.
            let threshold = entry
                .threshold
                .as_ref()
                .filter(|_| entry.status != "RESOLVED");
            let value = match (&entry.value, threshold) {
                (Some(value), Some(threshold)) => format!("  {value} ({threshold})"),
                (Some(value), None) => format!("  {value}"),
                (None, Some(threshold)) => format!("  ({threshold})"),
                (None, None) => String::new(),
            };
            let _ = writeln!(
                out,
                "    {}  {:<12} {} {} — {}{value}",
                entry.at.format("%H:%M"),
                entry.status,
                entry.rule,
                entry.severity,
                entry.participant
            );
        }
    }
}

fn comparison_text(out: &mut String, comparison: &Comparison, rules: &str, other: &str) {
    let _ = writeln!(
        out,
        "\nCompared: {} in both, {} only in {rules}, {} only in {other}",
        plural(comparison.in_both, "alert"),
        comparison.only_in_rules.len(),
        comparison.only_in_compare.len()
    );
    for (title, alerts) in [
        (rules, &comparison.only_in_rules),
        (other, &comparison.only_in_compare),
    ] {
        if alerts.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  only in {title}:");
        for alert in alerts {
            let _ = writeln!(
                out,
                "    {}  {} {} — {} in {}",
                alert.fired_at.format("%m-%d %H:%M"),
                alert.rule,
                alert.severity,
                alert.participant,
                alert.meeting
            );
        }
    }
}

#[cfg(test)]
mod tests;
