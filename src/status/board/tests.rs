use super::*;
use crate::test_support::example_event;
use chrono::TimeZone;
use qoswatch_core::silence::{MatcherSpec, SilenceRequest};

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, minute, 0)
        .single()
        .expect("time")
}

fn event(user: &str, status: AlertStatus, minute: u32) -> AlertEvent {
    let mut event = example_event(user, status);
    event.at = at(minute);
    event.started_at = at(1);
    event
}

/// A silence of rule `latency` for participant `user` (by id: the example
/// events have no names, so the participant label is empty; the location
/// is used to tell them apart).
fn silence_of(id: &str, rule: &str, minutes: &str, now: DateTime<Utc>) -> Silence {
    SilenceRequest {
        matchers: vec![MatcherSpec {
            name: "rule".into(),
            value: rule.into(),
            is_regex: false,
        }],
        duration: minutes.into(),
        created_by: "ana".into(),
        comment: "known".into(),
    }
    .into_silence(id.into(), now)
    .expect("valid")
}

fn located(user: &str, status: AlertStatus, minute: u32, location: &str) -> AlertEvent {
    let mut event = event(user, status, minute);
    if let Some(p) = event.participant.as_mut() {
        p.location = Some(location.into());
    }
    event
}

fn silence_location(id: &str, location: &str, minutes: &str, now: DateTime<Utc>) -> Silence {
    SilenceRequest {
        matchers: vec![MatcherSpec {
            name: "location".into(),
            value: location.into(),
            is_regex: false,
        }],
        duration: minutes.into(),
        created_by: "ana".into(),
        comment: "known".into(),
    }
    .into_silence(id.into(), now)
    .expect("valid")
}

#[test]
fn firing_and_resolved_are_tracked_with_history() {
    let mut board = Board::default();
    assert!(!board.record(&event("u1", AlertStatus::Firing, 2), at(2)));
    assert_eq!(board.firing().count(), 1);
    let firing = board.firing().next().expect("firing");
    assert_eq!(firing.since, at(2), "when qoswatch raised it");
    assert_eq!(board.history().next().expect("line").at, at(2));
    assert!(firing.notified);
    // A repeat is no new line of history.
    assert!(!board.record(&event("u1", AlertStatus::Repeat, 3), at(3)));
    assert_eq!(board.history().count(), 1);
    assert_eq!(board.firing().next().expect("firing").event.at, at(3));
    // An escalation is.
    let mut critical = event("u1", AlertStatus::Firing, 4);
    critical.severity = Severity::Critical;
    board.record(&critical, at(4));
    assert_eq!(board.history().count(), 2);
    assert_eq!(
        board.firing().next().expect("firing").event.severity,
        Severity::Critical
    );
    board.record(&event("u1", AlertStatus::Resolved, 5), at(5));
    assert_eq!(board.firing().count(), 0);
    let history: Vec<AlertStatus> = board.history().map(|t| t.status).collect();
    assert_eq!(
        history,
        [
            AlertStatus::Resolved,
            AlertStatus::Firing,
            AlertStatus::Firing
        ],
        "newest first"
    );
    // A RESOLVED for an alert not firing is no line of history.
    board.record(&event("u2", AlertStatus::Resolved, 6), at(6));
    assert_eq!(board.history().count(), 3);
}

#[test]
fn the_history_is_bounded() {
    let mut board = Board::default();
    for i in 0..(HISTORY + 5) {
        let user = format!("u{i}");
        board.record(&event(&user, AlertStatus::Firing, 2), at(2));
    }
    assert_eq!(board.history().count(), HISTORY);
    assert_eq!(
        board
            .history()
            .last()
            .and_then(|t| t.event.participant.as_ref())
            .map(|p| p.user_id.clone()),
        Some("u5".to_owned()),
        "the oldest go first"
    );
}

#[test]
fn meeting_level_alerts_are_history_only() {
    let mut board = Board::default();
    let mut zoom = event("u1", AlertStatus::Firing, 2);
    zoom.participant = None;
    board.record(&zoom, at(2));
    assert_eq!(board.firing().count(), 0);
    assert_eq!(board.history().count(), 1);
}

#[test]
fn a_silenced_alert_is_tracked_but_not_sent() {
    let mut board = Board::default();
    board.add(silence_of("s1", "latency", "30m", at(0)), at(0));
    assert!(board.record(&event("u1", AlertStatus::Firing, 2), at(2)));
    let firing = board.firing().next().expect("still shown as firing");
    assert!(!firing.notified);
    assert!(board.history().next().expect("history").silenced);
    assert!(board.record(&event("u1", AlertStatus::Repeat, 3), at(3)));
    assert!(board.record(&event("u1", AlertStatus::Resolved, 4), at(4)));
    assert_eq!(board.firing().count(), 0);
    // Another rule is not covered.
    let mut other = event("u1", AlertStatus::Firing, 5);
    other.rule = "jitter".into();
    other.key = AlertKey::in_account(&Default::default(), "jitter", "m1", Some("u1"));
    assert!(!board.record(&other, at(5)));
    // After the end, nothing is silenced.
    assert!(!board.record(&event("u2", AlertStatus::Firing, 30), at(30)));
}

#[test]
fn a_silence_that_expires_on_a_firing_alert_sends_it_once() {
    let mut board = Board::default();
    board.add(silence_of("s1", "latency", "30m", at(0)), at(0));
    board.record(&event("u1", AlertStatus::Firing, 2), at(2));
    assert_eq!(board.next_end(), Some(at(30)));
    assert!(board.expire(at(29)).is_empty(), "not yet");
    let due = board.expire(at(30));
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].status, AlertStatus::Firing, "nothing was sent yet");
    assert_eq!(due[0].at, at(30));
    assert!(due[0].summary.ends_with("(silence ended)"));
    assert!(board.expire(at(31)).is_empty(), "once");
    assert_eq!(board.next_end(), None);
}

#[test]
fn an_alert_announced_before_the_silence_is_still_firing_after_it() {
    let mut board = Board::default();
    board.record(&event("u1", AlertStatus::Firing, 2), at(2));
    board.add(silence_of("s1", "latency", "10m", at(3)), at(3));
    // A repeat under the silence is not sent, and leaves it announced.
    assert!(board.record(&event("u1", AlertStatus::Repeat, 5), at(5)));
    assert!(board.firing().next().expect("firing").notified);
    let due = board.expire(at(13));
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].status, AlertStatus::Repeat);
}

#[test]
fn removing_a_silence_sends_at_once_and_unknown_ids_are_refused() {
    let mut board = Board::default();
    board.add(silence_of("s1", "latency", "30m", at(0)), at(0));
    board.record(&event("u1", AlertStatus::Firing, 2), at(2));
    assert_eq!(
        board.remove("nope", at(5)).unwrap_err(),
        UnknownSilence("nope".into())
    );
    assert!(board.silence("s1").expect("s1").is_active(at(5)));
    let (silence, due) = board.remove("s1", at(5)).expect("removed");
    assert_eq!(silence.ends_at, at(5));
    assert_eq!(due.len(), 1);
    assert!(board.expire(at(30)).is_empty(), "not again at the old end");
}

#[test]
fn resolved_alerts_and_alerts_still_covered_are_not_sent() {
    let mut board = Board::default();
    board.add(silence_of("s1", "latency", "10m", at(0)), at(0));
    board.add(silence_location("s2", "Berlin", "20m", at(0)), at(0));
    board.record(&located("u1", AlertStatus::Firing, 2, "Berlin"), at(2));
    board.record(&located("u2", AlertStatus::Firing, 2, "Paris"), at(2));
    board.record(&located("u3", AlertStatus::Firing, 2, "Rome"), at(2));
    board.record(&located("u3", AlertStatus::Resolved, 3, "Rome"), at(3));
    assert_eq!(board.next_end(), Some(at(10)), "the sooner of the two");
    // s1 ends: u1 is still under s2; u2 goes out; u3 resolved.
    let due = board.expire(at(10));
    let users: Vec<String> = due
        .iter()
        .filter_map(|e| e.participant.as_ref().map(|p| p.user_id.clone()))
        .collect();
    assert_eq!(users, ["u2"]);
    assert_eq!(board.next_end(), Some(at(20)));
    let due = board.expire(at(20));
    assert_eq!(due.len(), 1);
    assert_eq!(
        due[0].participant.as_ref().map(|p| p.user_id.as_str()),
        Some("u1")
    );
}

#[test]
fn alerts_a_silence_never_covered_are_not_sent_when_it_ends() {
    let mut board = Board::default();
    board.record(&located("u1", AlertStatus::Firing, 2, "Paris"), at(2));
    board.add(silence_location("s1", "Berlin", "10m", at(0)), at(0));
    assert!(board.expire(at(10)).is_empty());
}

#[test]
fn restored_state_counts_as_notified_and_expires_as_usual() {
    let open = vec![event("u1", AlertStatus::Firing, 2)];
    let mut ended = silence_of("old", "latency", "5m", at(0));
    ended.end_announced = true;
    let board_now = at(6);
    let mut board = Board::restore(
        vec![silence_of("s1", "latency", "30m", at(0)), ended],
        open,
        board_now,
    );
    assert_eq!(board.firing().count(), 1);
    assert!(board.firing().next().expect("firing").notified);
    assert_eq!(board.silences().len(), 2);
    assert_eq!(board.next_end(), Some(at(30)));
    // The silence that had ended before the restart sends nothing.
    assert!(board.expire(at(7)).is_empty());
    let due = board.expire(at(30));
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].status, AlertStatus::Repeat);
}

#[test]
fn silences_are_listed_newest_first_and_pruned_by_age() {
    let mut board = Board::default();
    board.add(silence_of("a", "latency", "5m", at(0)), at(0));
    board.add(silence_of("b", "latency", "5m", at(10)), at(10));
    board.add(silence_of("c", "latency", "5m", at(10)), at(10));
    let ids: Vec<&str> = board.silences().iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["b", "c", "a"], "newest first, then by id");
    assert_eq!(
        board.silenced_by(&Labels::of(&event("u1", AlertStatus::Firing, 11)), at(11)),
        ["b", "c"]
    );
    board.prune(at(5));
    assert_eq!(
        board.silences().len(),
        3,
        "a ended exactly at the cut: kept"
    );
    board.prune(at(6));
    let ids: Vec<&str> = board.silences().iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["b", "c"]);
}

#[test]
fn a_silence_that_ended_while_qoswatch_was_down_is_handled_at_start_once() {
    let open = vec![event("u1", AlertStatus::Firing, 2)];
    let ended_while_down = silence_of("down", "latency", "5m", at(0));
    let mut handled_before = silence_of("before", "latency", "5m", at(0));
    handled_before.end_announced = true;
    let mut board = Board::restore(vec![ended_while_down, handled_before], open, at(30));
    assert_eq!(board.next_end(), Some(at(5)), "due at once");
    let due = board.expire(at(30));
    assert_eq!(due.len(), 1, "the end of `down` sends the alert once");
    let announced = board.announced();
    assert_eq!(
        announced.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["down"]
    );
    assert!(announced[0].end_announced, "stored as handled");
    assert!(board.announced().is_empty(), "taken once");
    assert!(board.expire(at(31)).is_empty());
    assert!(board.silence("down").expect("kept").end_announced);
}

#[test]
fn ends_are_announced_by_expiry_and_by_removal() {
    let mut board = Board::default();
    board.add(silence_of("a", "latency", "5m", at(0)), at(0));
    board.add(silence_of("b", "latency", "50m", at(0)), at(0));
    assert!(board.announced().is_empty());
    board.expire(at(4));
    assert!(board.announced().is_empty(), "nothing ended yet");
    board.expire(at(5));
    assert_eq!(board.announced().len(), 1);
    board.remove("b", at(6)).expect("removed");
    let announced = board.announced();
    assert_eq!(announced.len(), 1);
    assert_eq!(announced[0].id, "b");
    assert_eq!(announced[0].removed_at, Some(at(6)));
}

#[test]
fn an_alert_sent_when_a_silence_ended_counts_as_announced_for_the_next() {
    let mut board = Board::default();
    board.add(silence_of("s1", "latency", "5m", at(0)), at(0));
    assert!(board.record(&event("u1", AlertStatus::Firing, 2), at(2)));
    let due = board.expire(at(5));
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].status, AlertStatus::Firing);
    // The dispatcher routes it: not silenced any more, so it is sent.
    assert!(!board.record(&due[0], at(5)));
    assert!(board.firing().next().expect("firing").notified);
    assert_eq!(board.history().count(), 1, "no new line: it was firing");
    board.add(silence_of("s2", "latency", "5m", at(6)), at(6));
    let due = board.expire(at(11));
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].status, AlertStatus::Repeat);
}
