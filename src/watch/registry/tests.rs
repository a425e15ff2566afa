//! The registry's decisions against a running simulator: idempotent start
//! and stop keyed by `ParticipantKey`, the memory of who left and which
//! meetings ended, what a meeting's `PollEnd` means for the other watches,
//! and the hand-overs between replicas.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use qoswatch_core::alert::ParticipantKey;
use qoswatch_core::subject::StopReason;
use qoswatch_zoomsim::SimConfig;

use super::StartOutcome;
use crate::store::{SavedWatch, Snapshot};
use crate::watch::meeting::PollEnd;
use crate::watch::settings::PollingSettings;
use crate::watch::test_kit::{Kit, eventually, fast_settings, subject};

const WAIT: Duration = Duration::from_secs(10);

async fn kit() -> Kit {
    Kit::start(SimConfig::default(), fast_settings()).await
}

/// Whether the observer of `user_id` heard that its watch ended for `reason`.
fn finished(kit: &Kit, user_id: &str, reason: StopReason) -> bool {
    kit.sink
        .heard()
        .finished
        .contains(&(user_id.to_owned(), reason))
}

#[tokio::test]
async fn start_and_stop_are_idempotent_per_participant_key() {
    let kit = kit().await;
    let a = kit.join("m1", "100");
    let b = kit.join("m1", "200");
    assert_eq!(kit.watch(&a).await, StartOutcome::Started);
    assert_eq!(kit.watch(&a).await, StartOutcome::AlreadyWatching);
    assert_eq!(kit.watch(&b).await, StartOutcome::Started);
    assert_eq!(kit.monitor.active(), 2);
    assert_eq!(kit.monitor.meetings_polled(), 1, "one task per meeting");
    assert_eq!(
        kit.metric("qoswatch_watch_duplicate_starts_total"),
        Some(1.0)
    );

    assert!(kit.monitor.stop_watch(&a, StopReason::Left).await);
    assert!(eventually(WAIT, || !kit.monitor.is_watching(&a)).await);
    assert!(kit.monitor.is_watching(&b), "the other member goes on");
    assert!(
        !kit.monitor.stop_watch(&a, StopReason::Left).await,
        "a second stop finds nothing"
    );
    assert_eq!(
        kit.watch(&a).await,
        StartOutcome::AlreadyEnded,
        "a late retry of participant_joined"
    );
    let never = ParticipantKey::new("m1", "300");
    assert!(
        !kit.monitor.stop_watch(&never, StopReason::Left).await,
        "a left before its joined"
    );
    assert_eq!(kit.watch(&never).await, StartOutcome::AlreadyEnded);
    assert!(finished(&kit, "100", StopReason::Left));
    kit.stop().await;
}

#[tokio::test]
async fn a_stopped_meeting_is_remembered_and_only_that_meeting() {
    let kit = kit().await;
    let a = kit.join("m1", "100");
    let other = kit.join("m2", "100");
    assert_eq!(kit.watch(&a).await, StartOutcome::Started);
    assert_eq!(kit.watch(&other).await, StartOutcome::Started);
    assert_eq!(kit.monitor.meetings_polled(), 2);
    assert_eq!(
        kit.monitor
            .stop_meeting(&meeting("m1"), StopReason::MeetingEnded)
            .await,
        1
    );
    assert!(eventually(WAIT, || kit.monitor.meetings_polled() == 1).await);
    assert!(finished(&kit, "100", StopReason::MeetingEnded));
    let late = kit.join("m1", "200");
    assert_eq!(kit.watch(&late).await, StartOutcome::AlreadyEnded);
    assert!(kit.monitor.is_watching(&other));
    kit.stop().await;
}

#[tokio::test]
async fn a_meeting_over_stops_its_other_watches_and_is_remembered() {
    let kit = kit().await;
    let a = kit.join("m1", "100");
    let b = kit.join("m1", "200");
    let elsewhere = kit.join("m2", "300");
    for key in [&a, &b, &elsewhere] {
        assert_eq!(kit.watch(key).await, StartOutcome::Started);
    }
    kit.monitor.act_on(&meeting("m2"), &PollEnd::Done);
    assert!(
        kit.monitor.is_watching(&elsewhere),
        "Done means nothing more"
    );

    kit.monitor.act_on(&meeting("m1"), &PollEnd::MeetingOver);
    assert!(eventually(WAIT, || kit.monitor.active() == 1).await);
    assert!(finished(&kit, "100", StopReason::NotLive));
    assert!(finished(&kit, "200", StopReason::NotLive));
    assert!(kit.monitor.is_watching(&elsewhere));
    assert_eq!(
        kit.watch(&kit.join("m1", "400")).await,
        StartOutcome::AlreadyEnded
    );
    kit.stop().await;
}

#[tokio::test]
async fn not_entitled_stops_every_watch_and_refuses_new_ones() {
    let kit = kit().await;
    let a = kit.join("m1", "100");
    let b = kit.join("m2", "200");
    assert_eq!(kit.watch(&a).await, StartOutcome::Started);
    assert_eq!(kit.watch(&b).await, StartOutcome::Started);
    let end = PollEnd::NotEntitled {
        message: "no Dashboard".into(),
    };
    kit.monitor.act_on(&meeting("m1"), &end);
    assert!(kit.monitor.polling_disabled());
    assert!(eventually(WAIT, || kit.monitor.active() == 0).await);
    assert!(finished(&kit, "100", StopReason::NotEntitled));
    assert!(finished(&kit, "200", StopReason::NotEntitled));
    assert_eq!(
        kit.watch(&kit.join("m3", "300")).await,
        StartOutcome::PollingDisabled
    );
    assert_eq!(kit.metric("qoswatch_polling_disabled"), Some(1.0));
    kit.stop().await;
}

#[tokio::test]
async fn capacity_and_shutdown_refuse_a_start() {
    let settings = PollingSettings {
        max_watchers: 1,
        ..fast_settings()
    };
    let kit = Kit::start(SimConfig::default(), settings).await;
    assert_eq!(
        kit.watch(&kit.join("m1", "100")).await,
        StartOutcome::Started
    );
    let second = kit.join("m1", "200");
    assert_eq!(kit.watch(&second).await, StartOutcome::AtCapacity);
    assert!(!kit.monitor.is_watching(&second));
    kit.shut_down();
    assert_eq!(
        kit.watch(&kit.join("m2", "300")).await,
        StartOutcome::ShuttingDown
    );
    kit.stop().await;
}

#[tokio::test]
async fn a_handed_over_meeting_stops_here_and_an_adopted_watch_starts() {
    let kit = kit().await;
    let a = kit.join("m1", "100");
    assert_eq!(kit.watch(&a).await, StartOutcome::Started);
    assert_eq!(kit.monitor.hand_over(&meeting("elsewhere")), 0);
    assert_eq!(kit.monitor.hand_over(&meeting("m1")), 1);
    assert!(eventually(WAIT, || kit.monitor.meetings_polled() == 0).await);
    assert!(finished(&kit, "100", StopReason::HandedOver));
    assert!(
        kit.monitor.adopt(SavedWatch {
            subject: subject("m1", "100"),
            started_at: Utc::now(),
            last_seen: None,
            alert_state: None,
        }),
        "taken back: a handed-over participant did not leave"
    );
    assert!(kit.monitor.is_watching(&a));
    kit.monitor.ended_elsewhere(&[(a.clone(), Utc::now())], &[]);
    assert!(eventually(WAIT, || !kit.monitor.is_watching(&a)).await);
    assert!(finished(&kit, "100", StopReason::Left));
    assert!(
        !kit.monitor.adopt(SavedWatch {
            subject: subject("m1", "100"),
            started_at: Utc::now(),
            last_seen: None,
            alert_state: None,
        }),
        "ended elsewhere: not adopted"
    );
    kit.stop().await;
}

#[tokio::test]
async fn resume_takes_back_running_watches_and_the_ended_memory() {
    let kit = kit().await;
    let running = kit.join("m1", "100");
    let left = kit.join("m1", "200");
    let now = Utc::now();
    let saved = |user_id: &str| SavedWatch {
        subject: subject("m1", user_id),
        started_at: now - TimeDelta::minutes(5),
        last_seen: None,
        alert_state: None,
    };
    let mut snapshot = Snapshot {
        watches: vec![saved("100"), saved("200")],
        ended_participants: vec![(left.clone(), now - TimeDelta::minutes(1))],
        ended_meetings: vec![(meeting("m9"), now - TimeDelta::minutes(2))],
        ..Snapshot::default()
    };
    assert_eq!(kit.monitor.resume(&mut snapshot), 1, "the one still there");
    assert!(snapshot.watches.is_empty() && snapshot.ended_participants.is_empty());
    assert!(kit.monitor.is_watching(&running));
    assert!(!kit.monitor.is_watching(&left));
    assert_eq!(kit.watch(&left).await, StartOutcome::AlreadyEnded);
    assert_eq!(
        kit.watch(&kit.join("m9", "300")).await,
        StartOutcome::AlreadyEnded
    );
    assert!(
        eventually(WAIT, || !kit.sink.heard().times("100").is_empty()).await,
        "a resumed watch polls"
    );
    kit.stop().await;
}

/// A meeting of the single account.
fn meeting(uuid: &str) -> qoswatch_core::alert::MeetingKey {
    qoswatch_core::alert::MeetingKey::new(Default::default(), uuid)
}
