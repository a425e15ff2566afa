//! The replay's decisions on hand-made meetings: the sample clock, the
//! ticks, the leave, duplicates, and the grouping of messages.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value as Json, json};

use super::*;

const LATENCY: &str = r#"
channels:
  chat: { type: console }
  quiet: { type: console, send_resolved: false }
rules:
  - name: latency
    metric: audio_input.latency
    above: { warning: 150ms, critical: 400ms }
    for: 2 samples
    route: { channels: [chat] }
"#;

fn rules(text: &str) -> RuleSet {
    RuleSet::from_str("rules.yaml", text).expect("valid rules")
}

fn minute(n: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
        + TimeDelta::minutes(n)
}

fn time(n: i64) -> String {
    minute(n).to_rfc3339()
}

/// A participant with latency samples at the given minutes (`None`: a
/// sample without audio).
fn participant(user_id: &str, location: &str, samples: &[(i64, Option<u32>)]) -> Json {
    let user_qos: Vec<Json> = samples
        .iter()
        .map(|(at, latency)| match latency {
            Some(ms) => {
                json!({"date_time": time(*at), "audio_input": {"latency": format!("{ms} ms")}})
            }
            None => json!({"date_time": time(*at), "audio_input": {"latency": ""}}),
        })
        .collect();
    json!({
        "user_id": user_id,
        "user_name": format!("User {user_id}"),
        "location": location,
        "join_time": time(0),
        "user_qos": user_qos,
    })
}

fn meeting(participants: Vec<Json>) -> MeetingData {
    MeetingData {
        meeting: PastMeeting {
            account: Default::default(),
            uuid: "m1==".into(),
            id: Some("123".into()),
            topic: Some("Weekly sync".into()),
            start_time: Some(minute(0)),
            end_time: Some(minute(30)),
            kind: Default::default(),
        },
        participants,
    }
}

fn series(values: &[u32]) -> Vec<(i64, Option<u32>)> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64 + 1, Some(*v)))
        .collect()
}

/// (minute, status, severity) of every event.
fn transitions(meeting: &ReplayedMeeting) -> Vec<(i64, &'static str, Severity)> {
    meeting
        .events
        .iter()
        .map(|e| ((e.at - minute(0)).num_minutes(), e.status.tag(), e.severity))
        .collect()
}

#[test]
fn samples_are_judged_on_their_own_time_with_sustain_escalation_and_clear() {
    let data = [meeting(vec![participant(
        "1",
        "Berlin",
        &series(&[100, 200, 200, 450, 450, 100, 100]),
    )])];
    let replay = replay(&data, &rules(LATENCY), Duration::ZERO);
    let meeting = &replay.meetings[0];
    assert_eq!(
        transitions(meeting),
        [
            (3, "FIRING", Severity::Warning),
            (5, "FIRING", Severity::Critical),
            (6, "RESOLVED", Severity::Critical),
        ]
    );
    assert_eq!((meeting.participants, meeting.samples), (1, 7));
    let alert = &meeting.alerts[0];
    assert_eq!(
        (alert.fired_at, alert.resolved_at),
        (minute(3), Some(minute(6)))
    );
    assert_eq!(alert.severity, Severity::Critical);
    assert_eq!(alert.firing_for(), Duration::from_secs(180));
    assert_eq!(alert.participant.name.as_deref(), Some("User 1"));
    assert_eq!(alert.participant.email, None);
    assert_eq!(alert.meeting.topic.as_deref(), Some("Weekly sync"));
}

#[test]
fn a_participant_listed_twice_is_one_participant_with_each_sample_once() {
    let once = [meeting(vec![participant(
        "1",
        "x",
        &series(&[200, 200, 100]),
    )])];
    let first_page = participant("1", "x", &series(&[200, 200]));
    let second_page = participant("1", "x", &[(2, Some(200)), (3, Some(100))]);
    let twice = [meeting(vec![second_page, first_page])];
    let rules = rules(LATENCY);
    let (once, twice) = (
        replay(&once, &rules, Duration::ZERO),
        replay(&twice, &rules, Duration::ZERO),
    );
    assert_eq!(once.meetings[0].events, twice.meetings[0].events);
    assert_eq!(twice.meetings[0].samples, 3);
    assert_eq!(twice.meetings[0].participants, 1);
    assert_eq!(transitions(&twice.meetings[0]).len(), 2);
}

#[test]
fn an_alert_still_firing_at_the_leave_resolves_at_the_leave_time() {
    let mut object = participant("1", "x", &series(&[200, 200, 200]));
    object["leave_time"] = json!(time(7));
    let replay = replay(&[meeting(vec![object])], &rules(LATENCY), Duration::ZERO);
    assert_eq!(
        transitions(&replay.meetings[0]),
        [
            (2, "FIRING", Severity::Warning),
            (7, "RESOLVED", Severity::Warning)
        ]
    );
    // Without a leave time: at the last sample.
    let object = participant("1", "x", &series(&[200, 200, 200]));
    let replay = super::replay(&[meeting(vec![object])], &rules(LATENCY), Duration::ZERO);
    assert_eq!(
        transitions(&replay.meetings[0])[1],
        (3, "RESOLVED", Severity::Warning)
    );
}

#[test]
fn missing_data_and_repeats_run_on_ticks_of_the_sample_clock() {
    let text = r#"
rules:
  - name: silent
    metric: audio_input.latency
    above: 150ms
    missing_data: { after: 3m, severity: warning }
  - name: slow
    metric: audio_input.jitter
    above: 30ms
    route: { repeat: 2m }
"#;
    // Latency at minute 1, then nothing until minute 10.
    let mut object = participant("1", "x", &[(1, Some(100)), (10, Some(100))]);
    // Jitter bad on every sample at minutes 1 and 10: the repeat comes from
    // the ticks in between.
    for sample in object["user_qos"].as_array_mut().expect("samples") {
        sample["audio_input"]["jitter"] = json!("50 ms");
    }
    let replay = replay(&[meeting(vec![object])], &rules(text), Duration::ZERO);
    let got: Vec<(i64, &str, &str)> = replay.meetings[0]
        .events
        .iter()
        .map(|e| {
            (
                (e.at - minute(0)).num_minutes(),
                e.rule.as_str(),
                e.status.tag(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, "slow", "FIRING"),
            (3, "slow", "STILL FIRING"),
            (4, "silent", "FIRING"),
            (5, "slow", "STILL FIRING"),
            (7, "slow", "STILL FIRING"),
            (9, "slow", "STILL FIRING"),
            (10, "silent", "RESOLVED"),
            (10, "slow", "RESOLVED"),
        ]
    );
}

#[test]
fn the_clock_starts_at_the_join_when_it_is_before_the_first_sample() {
    let text = r#"
rules:
  - name: silent
    metric: audio_input.latency
    above: 150ms
    missing_data: { after: 3m, severity: warning }
"#;
    let object = participant("1", "x", &[(5, Some(100))]);
    let replay = replay(&[meeting(vec![object])], &rules(text), Duration::ZERO);
    assert_eq!(
        transitions(&replay.meetings[0]),
        [
            (3, "FIRING", Severity::Warning),
            (5, "RESOLVED", Severity::Warning)
        ]
    );
}

#[test]
fn participants_without_an_id_or_samples_are_not_replayed() {
    let mut anonymous = participant("1", "x", &series(&[200, 200]));
    anonymous.as_object_mut().expect("object").remove("user_id");
    let silent = participant("2", "x", &[]);
    let mut bad = participant("3", "x", &series(&[200]));
    bad["user_qos"][0]["audio_input"]["latency"] = json!("lots");
    let replay = replay(
        &[meeting(vec![anonymous, silent, bad])],
        &rules(LATENCY),
        Duration::ZERO,
    );
    assert_eq!(replay.participants_without_id, 1);
    assert_eq!(replay.bad_values, 1);
    assert_eq!(replay.meetings[0].participants, 2);
    assert!(replay.meetings[0].events.is_empty());
}

/// (channel, minute sent, user ids in it, tag) of every message.
fn sent(meeting: &ReplayedMeeting) -> Vec<(String, i64, Vec<String>, &'static str)> {
    meeting
        .messages
        .iter()
        .map(|m| {
            let who = m
                .notification
                .events
                .iter()
                .map(|e| {
                    e.participant
                        .as_ref()
                        .map(|p| p.user_id.clone())
                        .unwrap_or_default()
                })
                .collect();
            let at = (m.at - minute(0)).num_seconds();
            (m.channel.clone(), at, who, m.notification.tag())
        })
        .collect()
}

#[test]
fn events_within_the_window_of_the_first_go_out_together_with_their_shared_cause() {
    // Ann fires at minute 2, Bob at 3, Cy at 6; Ann and Bob resolve at 7,
    // Cy at 8.
    let data = [meeting(vec![
        participant("1", "Berlin", &series(&[200, 200, 200, 200, 200, 200, 100])),
        participant("2", "Berlin", &series(&[100, 200, 200, 200, 200, 200, 100])),
        participant(
            "3",
            "Berlin",
            &series(&[100, 100, 100, 100, 200, 200, 200, 100]),
        ),
    ])];
    let rules = rules(LATENCY);
    let minute_window = replay(&data, &rules, Duration::from_secs(60));
    assert_eq!(
        sent(&minute_window.meetings[0]),
        [
            // The window opened at 2 min takes the event at exactly 3 min;
            // the one Cy opens at 6 min takes the recoveries at 7 min, sent
            // after Cy's FIRING as a message of their own.
            (
                "chat".to_owned(),
                180,
                vec!["1".to_owned(), "2".to_owned()],
                "FIRING"
            ),
            ("chat".to_owned(), 420, vec!["3".to_owned()], "FIRING"),
            (
                "chat".to_owned(),
                420,
                vec!["1".to_owned(), "2".to_owned()],
                "RESOLVED"
            ),
            ("chat".to_owned(), 540, vec!["3".to_owned()], "RESOLVED"),
        ]
    );
    let first = &minute_window.meetings[0].messages[0].notification;
    assert_eq!(
        first.shared_cause,
        Some(crate::notify::SharedCause::Location("Berlin".into()))
    );
    let no_window = replay(&data, &rules, Duration::ZERO);
    assert_eq!(no_window.meetings[0].messages.len(), 6);
    let wide = replay(&data, &rules, Duration::from_secs(600));
    assert_eq!(
        sent(&wide.meetings[0]),
        [
            (
                "chat".to_owned(),
                720,
                vec!["1".to_owned(), "2".to_owned(), "3".to_owned()],
                "FIRING"
            ),
            (
                "chat".to_owned(),
                720,
                vec!["1".to_owned(), "2".to_owned(), "3".to_owned()],
                "RESOLVED"
            ),
        ]
    );
}

#[test]
fn a_channel_without_resolved_messages_gets_none_and_unknown_ones_nothing() {
    let text = LATENCY.replace("channels: [chat]", "channels: [quiet]");
    let data = [meeting(vec![participant(
        "1",
        "x",
        &series(&[200, 200, 100]),
    )])];
    let replay = replay(&data, &rules(&text), Duration::ZERO);
    let tags: Vec<&str> = replay.meetings[0]
        .messages
        .iter()
        .map(|m| m.notification.tag())
        .collect();
    assert_eq!(tags, ["FIRING"]);
    assert_eq!(replay.meetings[0].events.len(), 2);
}

#[test]
fn data_back_at_the_very_minute_missing_data_would_fire_raises_nothing() {
    // As on the server: a poll that brings a sample evaluates it, it does
    // not tick first.
    let text = r#"
rules:
  - name: silent
    metric: audio_input.latency
    above: 150ms
    missing_data: { after: 3m, severity: warning }
"#;
    let object = participant("1", "x", &[(0, Some(100)), (3, Some(100))]);
    let replay = replay(&[meeting(vec![object])], &rules(text), Duration::ZERO);
    assert_eq!(transitions(&replay.meetings[0]), []);
}

#[test]
fn a_leave_time_on_any_listing_of_a_participant_ends_its_replay() {
    let first_page = participant("1", "x", &series(&[200, 200]));
    let mut second_page = participant("1", "x", &[(3, Some(200))]);
    second_page["leave_time"] = json!(time(9));
    for pages in [
        vec![first_page.clone(), second_page.clone()],
        vec![second_page, first_page],
    ] {
        let replay = replay(&[meeting(pages)], &rules(LATENCY), Duration::ZERO);
        assert_eq!(
            transitions(&replay.meetings[0]),
            [
                (2, "FIRING", Severity::Warning),
                (9, "RESOLVED", Severity::Warning)
            ]
        );
    }
}
