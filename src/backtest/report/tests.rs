//! The report's figures and the comparison, on hand-made alerts.

use chrono::TimeDelta;

use qoswatch_core::alert::{MeetingInfo, ParticipantInfo};

use super::*;
use crate::backtest::replay::{ReplayedMeeting, replay as run_replay};

fn minute(n: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
        + TimeDelta::minutes(n)
}

fn alert(rule: &str, meeting: &str, user: &str, from: i64, to: Option<i64>) -> Alert {
    Alert {
        rule: rule.into(),
        meeting: MeetingInfo {
            account: Default::default(),
            uuid: meeting.into(),
            id: None,
            topic: Some(format!("Topic {meeting}")),
            kind: Default::default(),
        },
        participant: ParticipantInfo {
            user_id: user.into(),
            name: Some(format!("User {user}")),
            ..ParticipantInfo::default()
        },
        fired_at: minute(from),
        resolved_at: to.map(minute),
        severity: Severity::Warning,
    }
}

fn replay_of(alerts: Vec<Alert>) -> Replay {
    Replay {
        meetings: vec![ReplayedMeeting {
            meeting: MeetingInfo::default(),
            start_time: None,
            participants: 0,
            samples: 0,
            events: Vec::new(),
            alerts,
            messages: Vec::new(),
        }],
        ..Replay::default()
    }
}

#[test]
fn a_rule_counts_alerts_people_meetings_minutes_and_the_first_longest() {
    let alerts = [
        alert("latency", "m1", "1", 10, Some(12)),
        alert("latency", "m1", "1", 0, Some(5)),
        alert("latency", "m1", "2", 20, Some(25)),
        alert("latency", "m2", "1", 0, Some(3)),
        alert("jitter", "m2", "1", 0, Some(60)),
    ];
    let refs: Vec<&Alert> = alerts.iter().collect();
    let summary = summarize("latency", &refs);
    assert_eq!(
        (summary.alerts, summary.participants, summary.meetings),
        (4, 3, 2)
    );
    assert_eq!(summary.firing_minutes, 15.0);
    let longest = summary.longest.expect("a longest");
    assert_eq!(longest.minutes, 5.0);
    assert_eq!(longest.participant, "User 1");
    assert_eq!(longest.fired_at, minute(0), "the first of equals");
    let none = summarize("cpu", &refs);
    assert_eq!(
        (none.alerts, none.firing_minutes, none.longest),
        (0, 0.0, None)
    );
    assert_eq!(minutes(Duration::from_secs(90)), 1.5);
    assert_eq!(minutes(Duration::from_secs(100)), 1.7);
}

#[test]
fn alerts_match_across_files_by_rule_meeting_participant_and_overlap() {
    let a = alert("latency", "m1", "1", 10, Some(20));
    assert!(
        same_alert(&a, &alert("latency", "m1", "1", 5, Some(10))),
        "touching"
    );
    assert!(
        same_alert(&a, &alert("latency", "m1", "1", 20, None)),
        "touching, open"
    );
    assert!(
        same_alert(&a, &alert("latency", "m1", "1", 12, Some(15))),
        "inside"
    );
    assert!(
        !same_alert(&a, &alert("latency", "m1", "1", 21, Some(30))),
        "after"
    );
    assert!(
        !same_alert(&a, &alert("latency", "m1", "1", 0, Some(9))),
        "before"
    );
    assert!(!same_alert(&a, &alert("jitter", "m1", "1", 10, Some(20))));
    assert!(!same_alert(&a, &alert("latency", "m2", "1", 10, Some(20))));
    assert!(!same_alert(&a, &alert("latency", "m1", "2", 10, Some(20))));

    let strict = replay_of(vec![
        alert("latency", "m1", "1", 10, Some(20)),
        alert("latency", "m1", "2", 10, Some(20)),
        alert("latency", "m1", "3", 40, Some(45)),
    ]);
    let loose = replay_of(vec![
        alert("latency", "m1", "1", 12, Some(18)),
        alert("latency", "m1", "4", 0, Some(1)),
    ]);
    let comparison = compare(&strict, &loose);
    assert_eq!(comparison.in_both, 1);
    let users = |lines: &[AlertLine]| lines.iter().map(|l| l.user_id.clone()).collect::<Vec<_>>();
    assert_eq!(users(&comparison.only_in_rules), ["2", "3"]);
    assert_eq!(users(&comparison.only_in_compare), ["4"]);
}

const RULES: &str = r#"
rules:
  - name: latency
    metric: audio_input.latency
    above: 150ms
    for: 2 samples
"#;

#[test]
fn the_text_report_has_the_rule_table_the_timeline_and_the_problems() {
    let rules = RuleSet::from_str("rules.yaml", RULES).expect("rules");
    let samples: Vec<serde_json::Value> = [200, 200, 200, 100]
        .iter()
        .enumerate()
        .map(|(i, ms)| {
            serde_json::json!({
                "date_time": minute(i as i64 + 1).to_rfc3339(),
                "audio_input": {"latency": format!("{ms} ms")},
            })
        })
        .collect();
    let data = [crate::backtest::replay::MeetingData {
        meeting: crate::zoom::client::PastMeeting {
            account: Default::default(),
            uuid: "m1==".into(),
            id: Some("123".into()),
            topic: Some("Weekly sync".into()),
            start_time: Some(minute(0)),
            end_time: None,
            kind: Default::default(),
        },
        participants: vec![serde_json::json!({
            "user_id": "1", "user_name": "Ann", "user_qos": samples,
        })],
    }];
    let replayed = run_replay(&data, &rules, Duration::ZERO);
    let problems = [Problem {
        what: "meeting 42".into(),
        reason: "unknown".into(),
    }];
    let report = report(("rules.yaml", &rules, &replayed), None, &problems);
    assert!(!report.complete);
    assert_eq!(
        (report.meetings, report.participants, report.samples),
        (1, 1, 4)
    );
    let text = text(&report);
    let expected = "\
Backtest: 1 meeting, 1 participant, 4 samples, 2026-03-02 10:00 UTC

rules.yaml
  rule     alerts  people  meetings    firing   longest
  latency       1       1         1     2 min     2 min
  messages: console 2

  Weekly sync — 2026-03-02 10:00 UTC, 1 participant
    10:02  FIRING       latency warning — Ann  200 ms (> 150 ms)
    10:04  RESOLVED     latency warning — Ann  100 ms

Incomplete: 1 not fetched
  meeting 42: unknown
";
    assert_eq!(text, expected);
    assert_eq!(human(0.5), "30 s");
    assert_eq!(human(65.0), "1 h 05 min");
    assert_eq!(plural(2, "sample"), "2 samples");
}
