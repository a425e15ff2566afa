//! The SQLite backend on a real file: what is written comes back at start,
//! in order; pruning keeps what a restart still needs.

use chrono::{DateTime, Duration as Days, NaiveDate, TimeZone, Utc};
use prometheus_client::registry::Registry;

use super::*;
use crate::test_support::example_event;
use qoswatch_core::alert::{AlertStatus, MeetingInfo, ParticipantInfo};

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap() + Days::minutes(minute)
}

fn key(user: &str) -> ParticipantKey {
    ParticipantKey::new("m1", user)
}

fn subject(user: &str) -> Box<WatchSubject> {
    Box::new(WatchSubject {
        key: key(user),
        meeting: MeetingInfo {
            account: Default::default(),
            uuid: "m1".into(),
            id: Some("85012345678".into()),
            topic: Some("Weekly sync".into()),
            kind: Default::default(),
        },
        participant: ParticipantInfo {
            user_id: user.into(),
            name: Some(format!("Person {user}")),
            ..ParticipantInfo::default()
        },
    })
}

fn settings(dir: &tempfile::TempDir) -> StoreSettings {
    StoreSettings {
        data_dir: Some(dir.path().join("data")),
        ..StoreSettings::default()
    }
}

async fn backend(dir: &tempfile::TempDir) -> SqliteBackend {
    SqliteBackend::open(&settings(dir)).await.expect("opens").0
}

async fn reopened(dir: &tempfile::TempDir, backend: SqliteBackend) -> Snapshot {
    backend.close().await;
    super::sqlite::SqliteBackend::open(&settings(dir))
        .await
        .expect("reopens")
        .0
        .load()
        .await
        .expect("loads")
}

#[tokio::test]
async fn watches_come_back_with_their_progress_until_they_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = backend(&dir).await;
    let state = SavedState::default();
    db.apply(&[
        Write::WatchStarted {
            subject: subject("1"),
            at: at(0),
        },
        Write::WatchStarted {
            subject: subject("2"),
            at: at(1),
        },
        Write::WatchProgress {
            key: key("1"),
            last_seen: Some(at(3)),
            alert_state: Some(state.clone()),
            events: vec![],
        },
        // A later write without a sample time keeps the one before.
        Write::WatchProgress {
            key: key("1"),
            last_seen: None,
            alert_state: None,
            events: vec![],
        },
        Write::WatchEnded {
            key: key("2"),
            reason: StopReason::Left,
            at: at(4),
        },
    ])
    .await
    .unwrap();
    let snapshot = reopened(&dir, db).await;
    let watches: Vec<_> = snapshot
        .watches
        .iter()
        .map(|w| {
            (
                w.subject.key.user_id.as_str(),
                w.started_at,
                w.last_seen,
                w.alert_state.clone(),
            )
        })
        .collect();
    assert_eq!(watches, [("1", at(0), Some(at(3)), Some(state))]);
    assert_eq!(snapshot.watches[0].subject, *subject("1"));
}

#[tokio::test]
async fn a_watch_started_again_starts_from_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = backend(&dir).await;
    db.apply(&[
        Write::WatchStarted {
            subject: subject("1"),
            at: at(0),
        },
        Write::WatchProgress {
            key: key("1"),
            last_seen: Some(at(3)),
            alert_state: Some(SavedState::default()),
            events: vec![],
        },
        Write::WatchEnded {
            key: key("1"),
            reason: StopReason::MaxAge,
            at: at(5),
        },
        Write::WatchStarted {
            subject: subject("1"),
            at: at(9),
        },
    ])
    .await
    .unwrap();
    let snapshot = reopened(&dir, db).await;
    assert_eq!(snapshot.watches.len(), 1);
    let watch = &snapshot.watches[0];
    assert_eq!(
        (
            watch.started_at,
            watch.last_seen,
            watch.alert_state.is_none()
        ),
        (at(9), None, true)
    );
}

#[tokio::test]
async fn events_move_from_unrouted_to_grouped_to_the_outbox_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = backend(&dir).await;
    let firing = example_event("1", AlertStatus::Firing);
    let resolved = example_event("1", AlertStatus::Resolved);
    let other = example_event("2", AlertStatus::Firing);
    db.apply(&[
        Write::WatchStarted {
            subject: subject("1"),
            at: at(0),
        },
        Write::WatchProgress {
            key: key("1"),
            last_seen: Some(at(1)),
            alert_state: None,
            events: vec![(1, firing.clone()), (2, resolved.clone())],
        },
        Write::Event {
            id: 3,
            event: Box::new(other.clone()),
        },
        Write::EventRouted {
            id: 1,
            channels: vec!["slack".into(), "mail".into()],
        },
        Write::EventRouted {
            id: 2,
            channels: vec!["slack".into()],
        },
        // Slack's group of event 1 became message 4; mail's still waits.
        Write::Queued {
            id: 4,
            channel: "slack".into(),
            events: vec![firing.clone()],
            grouped: vec![1],
            at: at(2),
        },
        Write::Queued {
            id: 5,
            channel: "slack".into(),
            events: vec![resolved.clone()],
            grouped: vec![2],
            at: at(2),
        },
        Write::Retry {
            id: 4,
            attempts: 3,
            due: at(3),
        },
    ])
    .await
    .unwrap();
    let snapshot = reopened(&dir, db).await;
    assert_eq!(snapshot.unrouted, [(3, other)]);
    let grouped: Vec<_> = snapshot
        .grouped
        .iter()
        .map(|g| (g.id, g.channel.as_str(), g.event.clone()))
        .collect();
    assert_eq!(grouped, [(1, "mail", firing.clone())]);
    let outbox: Vec<_> = snapshot
        .outbox
        .iter()
        .map(|m| {
            (
                m.id,
                m.channel.as_str(),
                m.events.clone(),
                m.attempts,
                m.queued_at,
            )
        })
        .collect();
    assert_eq!(
        outbox,
        [
            (4, "slack", vec![firing], 3, at(2)),
            (5, "slack", vec![resolved], 0, at(2)),
        ]
    );
    assert_eq!(snapshot.last_id, 5);
}

#[tokio::test]
async fn delivered_and_failed_messages_leave_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = backend(&dir).await;
    let event = example_event("1", AlertStatus::Firing);
    let queued = |id| Write::Queued {
        id,
        channel: "slack".into(),
        events: vec![event.clone()],
        grouped: vec![],
        at: at(0),
    };
    db.apply(&[
        queued(7),
        queued(8),
        queued(9),
        Write::Delivered { id: 7, at: at(1) },
        Write::Failed { id: 9, at: at(1) },
    ])
    .await
    .unwrap();
    let snapshot = reopened(&dir, db).await;
    let ids: Vec<RecordId> = snapshot.outbox.iter().map(|m| m.id).collect();
    assert_eq!(ids, [8]);
    assert_eq!(snapshot.last_id, 9, "ids of finished messages stay used");
}

#[tokio::test]
async fn ended_participants_meetings_and_the_budget_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = backend(&dir).await;
    let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    db.apply(&[
        Write::ParticipantEnded {
            key: key("1"),
            at: at(1),
        },
        Write::ParticipantEnded {
            key: key("1"),
            at: at(2),
        },
        Write::MeetingEnded {
            meeting: MeetingKey::new(Account::default(), "m9"),
            at: at(3),
        },
        Write::Budget(BudgetUse {
            account: Default::default(),
            day,
            used: 41,
            paused_until: None,
        }),
        Write::Budget(BudgetUse {
            account: Default::default(),
            day,
            used: 42,
            paused_until: Some(at(5)),
        }),
    ])
    .await
    .unwrap();
    let snapshot = reopened(&dir, db).await;
    assert_eq!(snapshot.ended_participants, [(key("1"), at(2))]);
    assert_eq!(
        snapshot.ended_meetings,
        [(MeetingKey::new(Account::default(), "m9"), at(3))]
    );
    assert_eq!(
        snapshot.budgets.first(),
        Some(&BudgetUse {
            account: Default::default(),
            day,
            used: 42,
            paused_until: Some(at(5)),
        })
    );
}

#[tokio::test]
async fn pruning_keeps_what_a_restart_needs() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = backend(&dir).await;
    let event = example_event("1", AlertStatus::Firing);
    db.apply(&[
        Write::WatchStarted {
            subject: subject("old"),
            at: at(0),
        },
        Write::WatchEnded {
            key: key("old"),
            reason: StopReason::Left,
            at: at(1),
        },
        Write::WatchStarted {
            subject: subject("running"),
            at: at(0),
        },
        Write::WatchStarted {
            subject: subject("recent"),
            at: at(0),
        },
        Write::WatchEnded {
            key: key("recent"),
            reason: StopReason::Left,
            at: at(100),
        },
        // Events 1 (routed, sent) and 2 (waiting in a group), both old.
        Write::Event {
            id: 1,
            event: Box::new(event.clone()),
        },
        Write::Event {
            id: 2,
            event: Box::new(event.clone()),
        },
        Write::EventRouted {
            id: 1,
            channels: vec!["slack".into()],
        },
        Write::EventRouted {
            id: 2,
            channels: vec!["slack".into()],
        },
        Write::Queued {
            id: 3,
            channel: "slack".into(),
            events: vec![event.clone()],
            grouped: vec![1],
            at: at(0),
        },
        Write::Delivered { id: 3, at: at(1) },
        Write::Queued {
            id: 4,
            channel: "slack".into(),
            events: vec![event.clone()],
            grouped: vec![],
            at: at(0),
        },
        Write::ParticipantEnded {
            key: key("gone"),
            at: at(1),
        },
        Write::ParticipantEnded {
            key: key("left-late"),
            at: at(100),
        },
        Write::MeetingEnded {
            meeting: MeetingKey::new(Account::default(), "m-old"),
            at: at(1),
        },
    ])
    .await
    .unwrap();
    let deleted = db.prune(at(50), at(50)).await.unwrap();
    // old watch, delivered message 3, event 1, one participant, one meeting.
    assert_eq!(deleted, 5);
    let snapshot = reopened(&dir, db).await;
    let running: Vec<_> = snapshot
        .watches
        .iter()
        .map(|w| w.subject.key.user_id.as_str())
        .collect();
    assert_eq!(running, ["running"]);
    assert_eq!(snapshot.grouped.len(), 1, "a grouped event is never pruned");
    assert_eq!(
        snapshot.outbox.iter().map(|m| m.id).collect::<Vec<_>>(),
        [4],
        "a queued message is never pruned"
    );
    assert_eq!(snapshot.ended_participants, [(key("left-late"), at(100))]);
    assert!(snapshot.ended_meetings.is_empty());
}

#[tokio::test]
async fn the_store_commits_durable_writes_and_refuses_a_second_opener() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    let (store, snapshot) = Store::open(&settings(&dir), &mut registry).await.unwrap();
    assert!(store.is_durable());
    assert_eq!(snapshot.last_id, 0);
    assert_eq!((store.next_id(), store.next_id()), (1, 2));
    store
        .write_durably(Write::WatchStarted {
            subject: subject("1"),
            at: at(0),
        })
        .await
        .unwrap();
    let second = Store::open(&settings(&dir), &mut Registry::default()).await;
    assert!(
        matches!(second, Err(StoreError::Locked { .. })),
        "{second:?}"
    );
    assert!(store.failing().is_none());
    store.close().await;
    let (again, snapshot) = Store::open(&settings(&dir), &mut Registry::default())
        .await
        .unwrap();
    assert_eq!(snapshot.watches.len(), 1);
    // Ids go on after the highest one in use.
    again
        .write_durably(Write::Event {
            id: again.next_id(),
            event: Box::new(example_event("1", AlertStatus::Firing)),
        })
        .await
        .unwrap();
    again.close().await;
    let (third, snapshot) = Store::open(&settings(&dir), &mut Registry::default())
        .await
        .unwrap();
    assert_eq!(snapshot.last_id, 1);
    assert_eq!(third.next_id(), 2);
}

#[tokio::test]
async fn a_full_database_fails_writes_and_says_so_until_they_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let settings = StoreSettings {
        max_size_bytes: Some(160_000),
        ..settings(&dir)
    };
    let mut registry = Registry::default();
    let (store, _) = Store::open(&settings, &mut registry).await.unwrap();
    let mut failed = None;
    for n in 0..200 {
        let mut big = subject(&n.to_string());
        big.participant.name = Some("x".repeat(4000));
        if let Err(error) = store
            .write_durably(Write::WatchStarted {
                subject: big,
                at: at(0),
            })
            .await
        {
            failed = Some(error);
            break;
        }
    }
    let error = failed.expect("the cap is reached");
    assert!(error.to_string().contains("full"), "{error}");
    assert!(store.failing().is_some_and(|why| why.contains("full")));
    // Small writes fit again in the pages left: the store recovers.
    store
        .write_durably(Write::ParticipantEnded {
            key: key("1"),
            at: at(1),
        })
        .await
        .unwrap();
    assert!(store.failing().is_none());
    store.close().await;
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_named_as_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("qoswatch.db"), vec![0x5a; 8192]).unwrap();
    let error = SqliteBackend::open(&settings(&dir)).await.unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    assert!(error.to_string().contains("qoswatch.db"), "{error}");
}

#[tokio::test]
async fn a_data_directory_that_is_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data"), "a file").unwrap();
    let error = SqliteBackend::open(&settings(&dir)).await.unwrap_err();
    assert!(matches!(error, StoreError::DataDir { .. }), "{error:?}");
}

#[test]
fn synchronous_levels_are_read_by_name() {
    assert_eq!(" full ".parse::<Synchronous>(), Ok(Synchronous::Full));
    assert_eq!("normal".parse::<Synchronous>(), Ok(Synchronous::Normal));
    assert!("off".parse::<Synchronous>().is_err());
}

#[test]
fn ended_participants_are_remembered_past_zooms_last_retry() {
    // Zoom retries a webhook for about 85 minutes (docs/ZOOM.md).
    assert!(REMEMBER_ENDED >= std::time::Duration::from_secs(85 * 60));
    assert!(REMEMBER_ENDED <= std::time::Duration::from_secs(6 * 3600));
}

#[tokio::test]
async fn an_in_memory_store_is_not_durable_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = std::env::current_dir().unwrap();
    let store = Store::in_memory(&mut Registry::default()).await.unwrap();
    assert!(!store.is_durable());
    store
        .write_durably(Write::MeetingEnded {
            meeting: MeetingKey::new(Account::default(), "m1"),
            at: at(0),
        })
        .await
        .unwrap();
    store.close().await;
    assert!(!cwd.join("data").join("qoswatch.db").exists());
    let on_disk = Store::open(&settings(&dir), &mut Registry::default())
        .await
        .unwrap()
        .0;
    assert!(on_disk.is_durable());
    on_disk.close().await;
}

fn silence_until(id: &str, end: DateTime<Utc>) -> qoswatch_core::silence::Silence {
    let mut silence = qoswatch_core::silence::SilenceRequest {
        matchers: vec![qoswatch_core::silence::MatcherSpec {
            name: "location".into(),
            value: "Berlin.*".into(),
            is_regex: true,
        }],
        duration: "1m".into(),
        created_by: "ana".into(),
        comment: "link being fixed".into(),
    }
    .into_silence(id.into(), at(0))
    .expect("valid");
    silence.ends_at = end;
    silence
}

#[tokio::test]
async fn silences_come_back_replaced_by_their_last_write_and_are_pruned_after_their_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = backend(&dir).await;
    let mut removed = silence_until("removed", at(60));
    let kept = silence_until("kept", at(60));
    let old = silence_until("old", at(10));
    db.apply(&[
        Write::Silence(Box::new(removed.clone())),
        Write::Silence(Box::new(kept.clone())),
        Write::Silence(Box::new(old)),
    ])
    .await
    .unwrap();
    removed.remove(at(30));
    db.apply(&[Write::Silence(Box::new(removed.clone()))])
        .await
        .unwrap();
    // Ended before minute 20: `old` only (`removed` ended at 30).
    assert_eq!(db.prune(at(20), at(0)).await.unwrap(), 1);
    let snapshot = reopened(&dir, db).await;
    assert_eq!(snapshot.silences, [removed, kept], "by end, removal kept");
    assert!(
        snapshot.silences[1].matches(&qoswatch_core::silence::Labels {
            location: "Berlin (DE)".into(),
            ..Default::default()
        })
    );
}

#[tokio::test]
async fn open_alerts_of_running_watches_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = backend(&dir).await;
    let firing = |user: &str| {
        let mut event = example_event(user, AlertStatus::Firing);
        event.meeting.uuid = "m1".into();
        event
    };
    let resolved = |user: &str| {
        let mut event = firing(user);
        event.status = AlertStatus::Resolved;
        event
    };
    let mut repeat = firing("still");
    repeat.status = AlertStatus::Repeat;
    db.apply(&[
        Write::WatchStarted {
            subject: subject("still"),
            at: at(0),
        },
        Write::WatchStarted {
            subject: subject("better"),
            at: at(0),
        },
        Write::WatchStarted {
            subject: subject("gone"),
            at: at(0),
        },
        Write::Event {
            id: 1,
            event: Box::new(firing("still")),
        },
        Write::Event {
            id: 2,
            event: Box::new(repeat.clone()),
        },
        Write::Event {
            id: 3,
            event: Box::new(firing("better")),
        },
        Write::Event {
            id: 4,
            event: Box::new(resolved("better")),
        },
        Write::Event {
            id: 5,
            event: Box::new(firing("gone")),
        },
        Write::WatchEnded {
            key: key("gone"),
            reason: StopReason::MaxAge,
            at: at(2),
        },
        Write::Event {
            id: 6,
            event: Box::new(firing("never-watched")),
        },
    ])
    .await
    .unwrap();
    let snapshot = reopened(&dir, db).await;
    assert_eq!(
        snapshot.open_alerts,
        [repeat],
        "the newest event of each alert that still fires for a running watch"
    );
}

/// `(commits, writes)` so far, from the store's metrics.
fn commits_and_writes(registry: &Registry) -> (u64, u64) {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encodes");
    let value = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0)
    };
    (
        value("qoswatch_store_commit_seconds_count"),
        value("qoswatch_store_writes_total"),
    )
}

fn progress(user: &str, minute: i64) -> Write {
    Write::WatchProgress {
        key: key(user),
        last_seen: Some(at(minute)),
        alert_state: None,
        events: Vec::new(),
    }
}

#[tokio::test]
async fn a_write_nobody_waits_for_waits_for_company() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    let settings = StoreSettings {
        linger: Duration::from_secs(10),
        ..settings(&dir)
    };
    let (store, _) = Store::open(&settings, &mut registry).await.unwrap();
    // Virtual time: the writer's linger and the waits below are timers only.
    tokio::time::pause();
    store.write(Write::WatchStarted {
        subject: subject("1"),
        at: at(0),
    });
    // Halfway through the linger, a durable write comes: one commit for
    // both (without the linger, the first would have had its own).
    tokio::time::sleep(Duration::from_secs(5)).await;
    store.write_durably(progress("1", 1)).await.unwrap();
    assert_eq!(commits_and_writes(&registry), (1, 2));
    tokio::time::resume();
    store.close().await;
}

#[tokio::test]
async fn a_write_nobody_waits_for_is_committed_once_the_linger_is_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    let settings = StoreSettings {
        linger: Duration::from_millis(50),
        ..settings(&dir)
    };
    let (store, _) = Store::open(&settings, &mut registry).await.unwrap();
    store.write(Write::WatchStarted {
        subject: subject("1"),
        at: at(0),
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while commits_and_writes(&registry).1 < 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(commits_and_writes(&registry), (1, 1), "never committed");
    store.close().await;
}

#[tokio::test]
async fn a_durable_write_does_not_wait_and_takes_the_queue_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    // A linger no test outlives: only the durable write can end it.
    let settings = StoreSettings {
        linger: Duration::from_secs(24 * 3600),
        ..settings(&dir)
    };
    let (store, _) = Store::open(&settings, &mut registry).await.unwrap();
    store.write(Write::WatchStarted {
        subject: subject("1"),
        at: at(0),
    });
    store.write(progress("1", 1));
    let durable = store.write_durably(Write::WatchEnded {
        key: key("1"),
        reason: StopReason::Left,
        at: at(2),
    });
    tokio::time::timeout(Duration::from_secs(30), durable)
        .await
        .expect("the durable write waited for the linger")
        .unwrap();
    let (commits, writes) = commits_and_writes(&registry);
    assert_eq!(writes, 3);
    assert!(commits <= 2, "{commits} commits");
    store.close().await;
    let (_, snapshot) = Store::open(&settings, &mut Registry::default())
        .await
        .unwrap();
    assert!(snapshot.watches.is_empty(), "the end came after the start");
}

/// Silences made before ids were UUIDs come back with their id in a UUID's
/// shape (every hex digit kept), in the row and in the stored JSON.
#[tokio::test]
async fn sixteen_hex_silence_ids_become_uuids_once() {
    use sqlx::{Connection, SqliteConnection};
    let dir = tempfile::tempdir().unwrap();
    backend(&dir).await.close().await;
    // The database as a release before this migration left it: a
    // silence with a 16-hex-digit id, migration 3 not yet applied.
    let path = settings(&dir)
        .data_dir
        .unwrap()
        .join(super::sqlite::DATABASE_FILE);
    let mut raw = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let legacy = silence_until("0123456789abcdef", at(60));
    let uuid_already = silence_until("6f1c4e0a-0000-4000-8000-000000000000", at(60));
    for silence in [&legacy, &uuid_already] {
        sqlx::query("INSERT INTO silences (id, silence, ends_at) VALUES (?, ?, ?)")
            .bind(&silence.id)
            .bind(serde_json::to_string(silence).unwrap())
            .bind(silence.ends_at.timestamp_millis())
            .execute(&mut raw)
            .await
            .unwrap();
    }
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 3")
        .execute(&mut raw)
        .await
        .unwrap();
    raw.close().await.unwrap();

    let snapshot = reopened(&dir, backend(&dir).await).await;
    let mut ids: Vec<&str> = snapshot.silences.iter().map(|s| s.id.as_str()).collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "01234567-89ab-4cde-8f00-000000000000",
            "6f1c4e0a-0000-4000-8000-000000000000"
        ]
    );
    for id in ids {
        uuid::Uuid::parse_str(id).expect("a UUID");
    }
    let migrated = snapshot
        .silences
        .iter()
        .find(|s| s.id.starts_with("01234567"))
        .unwrap();
    assert_eq!(migrated.comment, legacy.comment);
    assert_eq!(migrated.ends_at, legacy.ends_at);
}

#[tokio::test]
async fn a_database_from_before_accounts_keeps_its_rows_in_the_single_account() {
    use sqlx::Connection;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // The database as the release before accounts left it (migrations 1-3).
    let options = SqliteConnectOptions::new()
        .filename(data.join(super::sqlite::DATABASE_FILE))
        .create_if_missing(true);
    let mut old = SqliteConnection::connect_with(&options).await.unwrap();
    super::sqlite::migrator_until(3)
        .run(&mut old)
        .await
        .unwrap();
    let today = Utc::now().date_naive();
    let subject_json = serde_json::to_string(&subject("7")).unwrap();
    assert!(!subject_json.contains("account"), "{subject_json}");
    for (sql, text) in [
        (
            "INSERT INTO watches (meeting_uuid, user_id, subject, started_at) VALUES ('m1', '7', ?, 1000)",
            subject_json,
        ),
        (
            "INSERT INTO ended_meetings (meeting_uuid, at) VALUES ('m9', ?)",
            "2000".to_owned(),
        ),
        (
            "INSERT INTO zoom_budget (id, day, used, paused_until) VALUES (1, ?, 17, NULL)",
            today.to_string(),
        ),
    ] {
        sqlx::query(sql).bind(text).execute(&mut old).await.unwrap();
    }
    old.close().await.unwrap();

    let first = backend(&dir).await;
    let snapshot = reopened(&dir, first).await;
    assert_eq!(snapshot.watches.len(), 1);
    let kept = &snapshot.watches[0].subject;
    assert_eq!(kept.key, key("7"));
    assert!(kept.meeting.account.is_default());
    assert_eq!(
        snapshot.ended_meetings.first().map(|(m, _)| m.clone()),
        Some(MeetingKey::new(Account::default(), "m9"))
    );
    let budget = snapshot.budgets.first().expect("the day's count kept");
    assert!(budget.account.is_default());
    assert_eq!((budget.day, budget.used), (today, 17));

    // The same meeting and participant ids in another account are another
    // watch, kept apart; so is its budget.
    let mut db = backend(&dir).await;
    let mut other = subject("7");
    other.set_account(Account::new("acme"));
    db.apply(&[
        Write::WatchStarted {
            subject: other.clone(),
            at: at(0),
        },
        Write::Budget(BudgetUse {
            account: Account::new("acme"),
            day: today,
            used: 3,
            paused_until: None,
        }),
        Write::WatchEnded {
            key: key("7"),
            reason: StopReason::Left,
            at: at(1),
        },
    ])
    .await
    .unwrap();
    let snapshot = reopened(&dir, db).await;
    let keys: Vec<_> = snapshot
        .watches
        .iter()
        .map(|w| w.subject.key.clone())
        .collect();
    assert_eq!(
        keys,
        [other.key.clone()],
        "only the single account's watch ended"
    );
    assert_eq!(snapshot.watches[0].subject.meeting.account.as_str(), "acme");
    let used: Vec<_> = snapshot
        .budgets
        .iter()
        .map(|b| (b.account.as_str().to_owned(), b.used))
        .collect();
    assert_eq!(used, [("acme".to_owned(), 3), ("default".to_owned(), 17)]);
}
