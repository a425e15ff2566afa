//! The database side of sharing, in process: two or three "replicas" are
//! stores opened on one fresh PostgreSQL database, each with its `Leases`.
//! Fast (no child process), so the lease rules are pinned here one by one.

use std::time::Duration;

use chrono::Utc;
use qoswatch::cluster::{Beat, Leases};
use qoswatch::store::{BudgetUse, Store, StoreSettings, Write};
use qoswatch::watch::WatchSubject;
use qoswatch_core::alert::{Account, MeetingKey, ParticipantKey};
use qoswatch_core::rules::SavedState;
use secrecy::SecretString;

use super::fresh_database;

pub(super) struct Replica {
    pub(super) store: Store,
    pub(super) leases: Leases,
}

/// A store on the shared database and its leases, in this process.
pub(super) async fn replica(database: &str, name: &str, ttl: Duration) -> Replica {
    let settings = StoreSettings {
        data_dir: None,
        lease_ttl: ttl,
        replica_name: Some(name.into()),
        ..StoreSettings::default()
    };
    let url = SecretString::from(database.to_owned());
    let (store, _) = Store::open_postgres(
        &settings,
        &url,
        None,
        &mut prometheus_client::registry::Registry::default(),
    )
    .await
    .expect("store");
    let leases = Leases::new(store.shared().expect("shared").clone(), ttl);
    Replica { store, leases }
}

impl Replica {
    pub(super) async fn write(&self, write: Write) {
        self.store.write_durably(write).await.expect("committed");
    }

    pub(super) async fn beat(&self) -> Beat {
        self.leases
            .beat(0, Utc::now().date_naive(), &rates(10))
            .await
            .expect("heartbeat")
    }
}

fn subject(meeting: &str, user: &str) -> WatchSubject {
    WatchSubject::of_key(key(meeting, user))
}

pub(super) fn key(meeting: &str, user: &str) -> ParticipantKey {
    ParticipantKey::new(meeting, user)
}

/// The single account's requests a second, to share.
pub(super) fn rates(per_second: u32) -> std::collections::BTreeMap<Account, u32> {
    [(Account::default(), per_second)].into()
}

/// A meeting of the single account.
pub(super) fn mk(uuid: &str) -> MeetingKey {
    MeetingKey::new(Account::default(), uuid)
}

pub(super) fn started(meeting: &str, user: &str) -> Write {
    Write::WatchStarted {
        subject: Box::new(subject(meeting, user)),
        at: Utc::now(),
    }
}

pub(super) const LONG: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_free_meeting_is_claimed_by_one_replica_only() {
    let database = fresh_database().await;
    let a = replica(&database, "a", LONG).await;
    let b = replica(&database, "b", LONG).await;
    a.write(started("m1", "1")).await;
    assert!(a.leases.claim(&mk("m1")).await.unwrap(), "free: claimed");
    assert!(
        !b.leases.claim(&mk("m1")).await.unwrap(),
        "held by a live replica"
    );
    assert!(a.leases.claim(&mk("m1")).await.unwrap(), "ours already");
    let (beat_a, beat_b) = (a.beat().await, b.beat().await);
    assert!(beat_a.held.contains(&mk("m1")));
    assert!(!beat_b.held.contains(&mk("m1")), "{:?}", beat_b.held);
    assert_eq!(beat_a.watches.len(), 1);
    assert!(beat_b.watches.is_empty(), "b does not poll a's meeting");
    assert_eq!(beat_b.live_replicas, 2);
}

#[tokio::test]
async fn an_expired_lease_moves_with_the_watch_and_its_alert_state() {
    let database = fresh_database().await;
    // a never beats again after opening: its lease lapses after 1 s.
    let a = replica(&database, "a", Duration::from_secs(1)).await;
    let b = replica(&database, "b", LONG).await;
    a.write(started("m1", "1")).await;
    assert!(a.leases.claim(&mk("m1")).await.unwrap());
    let seen = Utc::now();
    a.write(Write::WatchProgress {
        key: key("m1", "1"),
        last_seen: Some(seen),
        alert_state: Some(SavedState::default()),
        events: Vec::new(),
    })
    .await;
    assert!(b.beat().await.held.is_empty(), "not before the TTL");
    // Beat until b holds it: the TTL is 1 s, allow 10.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let beat = loop {
        let beat = b.beat().await;
        if beat.held.contains(&mk("m1")) {
            break beat;
        }
        assert!(std::time::Instant::now() < deadline, "never taken over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(beat.taken_over, 1, "counted as a takeover");
    assert_eq!(beat.live_replicas, 1, "a is no longer alive");
    let watch = &beat.watches[0];
    assert_eq!(watch.subject.key, key("m1", "1"));
    assert_eq!(watch.alert_state, Some(SavedState::default()));
    assert_eq!(
        watch.last_seen.map(|t| t.timestamp_millis()),
        Some(seen.timestamp_millis())
    );
    // The lapsed replica learns it at its next beat, and does not hold m1.
    let back = a.beat().await;
    assert!(back.lapsed);
    assert!(!back.held.contains(&mk("m1")));
}

#[tokio::test]
async fn a_duplicate_join_on_another_replica_keeps_the_running_watch_s_state() {
    let database = fresh_database().await;
    let a = replica(&database, "a", LONG).await;
    let b = replica(&database, "b", LONG).await;
    a.write(started("m1", "1")).await;
    assert!(a.leases.claim(&mk("m1")).await.unwrap());
    a.write(Write::WatchProgress {
        key: key("m1", "1"),
        last_seen: Some(Utc::now()),
        alert_state: Some(SavedState::default()),
        events: Vec::new(),
    })
    .await;
    // Zoom delivers the same participant_joined again, to b.
    b.write(started("m1", "1")).await;
    let beat = a.beat().await;
    assert_eq!(beat.watches.len(), 1);
    assert!(beat.watches[0].alert_state.is_some(), "state kept");
    assert!(beat.watches[0].last_seen.is_some(), "last sample kept");
    // An ended watch does start again.
    a.write(Write::WatchEnded {
        key: key("m1", "1"),
        reason: qoswatch::watch::StopReason::Left,
        at: Utc::now(),
    })
    .await;
    b.write(started("m1", "1")).await;
    let beat = a.beat().await;
    assert_eq!(beat.watches.len(), 1);
    assert!(beat.watches[0].alert_state.is_none(), "a new watch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handed_back_messages_are_adopted_once_and_leases_freed_at_once() {
    let database = fresh_database().await;
    let a = replica(&database, "a", LONG).await;
    let b = replica(&database, "b", LONG).await;
    let c = replica(&database, "c", LONG).await;
    a.write(started("m1", "1")).await;
    assert!(a.leases.claim(&mk("m1")).await.unwrap());
    for id in [a.store.next_id(), a.store.next_id()] {
        a.write(Write::Queued {
            id,
            channel: "it-slack".into(),
            events: Vec::new(),
            grouped: Vec::new(),
            at: Utc::now(),
        })
        .await;
    }
    // Nothing of a live replica's is adopted.
    let (beat_b, beat_c) = tokio::join!(b.beat(), c.beat());
    assert!(beat_b.outbox.is_empty() && beat_c.outbox.is_empty());
    assert!(!beat_b.held.contains(&mk("m1")) && !beat_c.held.contains(&mk("m1")));
    a.write(Write::HandBack).await;
    let (beat_b, beat_c) = tokio::join!(b.beat(), c.beat());
    let adopted: Vec<i64> = beat_b
        .outbox
        .iter()
        .chain(&beat_c.outbox)
        .map(|m| m.id)
        .collect();
    assert_eq!(adopted.len(), 2, "each message adopted once: {adopted:?}");
    assert_eq!(
        usize::from(beat_b.held.contains(&mk("m1"))) + usize::from(beat_c.held.contains(&mk("m1"))),
        1,
        "the meeting taken by one of them, without waiting for the TTL"
    );
    assert_eq!(beat_b.live_replicas, 2, "a left");
    // Adopted rows are the adopter's now: nobody adopts them again.
    let (again_b, again_c) = tokio::join!(b.beat(), c.beat());
    assert!(again_b.outbox.is_empty() && again_c.outbox.is_empty());
}

#[tokio::test]
async fn the_budget_counts_every_replica_s_use_and_shares_a_pause() {
    let database = fresh_database().await;
    let a = replica(&database, "a", LONG).await;
    let b = replica(&database, "b", LONG).await;
    let day = Utc::now().date_naive();
    let pause = Utc::now() + chrono::Duration::seconds(30);
    a.write(Write::Budget(BudgetUse {
        account: Account::default(),
        day,
        used: 5,
        paused_until: Some(pause),
    }))
    .await;
    b.write(Write::Budget(BudgetUse {
        account: Account::default(),
        day,
        used: 7,
        paused_until: None,
    }))
    .await;
    // A lower count written late (a retry) never lowers the day's use.
    a.write(Write::Budget(BudgetUse {
        account: Account::default(),
        day,
        used: 4,
        paused_until: None,
    }))
    .await;
    let seen_by_b = b.beat().await;
    let single = Account::default();
    assert_eq!(seen_by_b.others_used_today.get(&single), Some(&5));
    assert_eq!(seen_by_b.live_replicas, 2);
    assert_eq!(
        seen_by_b
            .paused_until
            .get(&single)
            .map(|t| t.timestamp_millis()),
        Some(pause.timestamp_millis())
    );
    assert_eq!(a.beat().await.others_used_today.get(&single), Some(&7));
}

#[tokio::test]
async fn ends_recorded_by_one_replica_reach_the_others() {
    let database = fresh_database().await;
    let a = replica(&database, "a", LONG).await;
    let b = replica(&database, "b", LONG).await;
    a.write(Write::ParticipantEnded {
        key: key("m1", "1"),
        at: Utc::now(),
    })
    .await;
    a.write(Write::MeetingEnded {
        meeting: mk("m2"),
        at: Utc::now(),
    })
    .await;
    let beat = b.beat().await;
    assert_eq!(beat.ended_participants.len(), 1);
    assert_eq!(beat.ended_participants[0].0, key("m1", "1"));
    assert_eq!(beat.ended_meetings[0].0, mk("m2"));
    assert!(beat.ended_mark > 0);
    // Past the mark (and its second of overlap) nothing comes again.
    let later = b
        .leases
        .beat(beat.ended_mark + 2_000, day_today(), &rates(10))
        .await
        .unwrap();
    assert!(later.ended_participants.is_empty() && later.ended_meetings.is_empty());
}

fn day_today() -> chrono::NaiveDate {
    Utc::now().date_naive()
}

#[tokio::test]
async fn free_meetings_are_shared_fairly_between_live_replicas() {
    let database = fresh_database().await;
    let a = replica(&database, "a", LONG).await;
    let b = replica(&database, "b", LONG).await;
    // Six meetings whose replica died before claiming them (no lease row).
    for m in 0..6 {
        a.write(started(&format!("m{m}"), "1")).await;
    }
    let first = a.beat().await;
    assert_eq!(
        first.held.len(),
        3,
        "half of six for two replicas: {:?}",
        first.held
    );
    // Holding its share, a takes no more at its next beat: the rest is b's.
    let again = a.beat().await;
    assert_eq!(again.held, first.held);
    let second = b.beat().await;
    assert_eq!(second.held.len(), 3);
    assert!(first.held.is_disjoint(&second.held));
}

#[tokio::test]
async fn unreachable_or_tls_refusing_databases_are_clear_errors_without_the_password() {
    let database = fresh_database().await;
    let settings = StoreSettings {
        data_dir: None,
        ..StoreSettings::default()
    };
    let open = |url: String| {
        let settings = settings.clone();
        async move {
            Store::open_postgres(
                &settings,
                &SecretString::from(url),
                Some(&SecretString::from("s3cret-password".to_owned())),
                &mut prometheus_client::registry::Registry::default(),
            )
            .await
            .map(|_| ())
            .expect_err("must not open")
            .to_string()
        }
    };
    // The test server speaks no TLS: `sslmode=require` must refuse it.
    let tls = open(format!("{database}?sslmode=require")).await;
    assert!(tls.contains("TLS"), "{tls}");
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = open(format!("postgres://qoswatch@127.0.0.1:{port}/qw")).await;
    assert!(unreachable.contains("cannot reach"), "{unreachable}");
    for text in [&tls, &unreachable] {
        assert!(!text.contains("s3cret"), "{text}");
    }
}

/// The same meeting UUID and user id in two accounts: two leases, two
/// watches, ends and budgets kept apart.
#[tokio::test]
async fn two_accounts_with_the_same_ids_are_leased_and_ended_apart() {
    let database = fresh_database().await;
    let a = replica(&database, "a", LONG).await;
    let b = replica(&database, "b", LONG).await;
    let in_account = |account: &str| {
        let mut subject = subject("m1", "7");
        subject.set_account(Account::new(account));
        subject
    };
    for account in ["acme", "globex"] {
        a.write(Write::WatchStarted {
            subject: Box::new(in_account(account)),
            at: Utc::now(),
        })
        .await;
    }
    let acme = MeetingKey::new(Account::new("acme"), "m1");
    let globex = MeetingKey::new(Account::new("globex"), "m1");
    assert!(a.leases.claim(&acme).await.unwrap());
    assert!(
        b.leases.claim(&globex).await.unwrap(),
        "the other account's meeting of the same UUID is another lease"
    );
    assert!(!b.leases.claim(&acme).await.unwrap(), "held by a");
    let (beat_a, beat_b) = (a.beat().await, b.beat().await);
    assert_eq!(beat_a.held.iter().collect::<Vec<_>>(), [&acme]);
    assert_eq!(beat_b.held.iter().collect::<Vec<_>>(), [&globex]);
    assert_eq!(beat_a.watches.len(), 1);
    assert_eq!(beat_a.watches[0].subject.key.account.as_str(), "acme");
    assert_eq!(beat_b.watches[0].subject.key.account.as_str(), "globex");
    let per_account = |beat: &Beat| {
        beat.all_watches
            .iter()
            .map(|(account, n)| (account.as_str().to_owned(), *n))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        per_account(&beat_a),
        [("acme".to_owned(), 1), ("globex".to_owned(), 1)]
    );

    // Acme's meeting ends: globex's, of the same UUID, goes on.
    b.write(Write::MeetingEnded {
        meeting: acme.clone(),
        at: Utc::now(),
    })
    .await;
    b.write(Write::WatchEnded {
        key: in_account("acme").key,
        reason: qoswatch::watch::StopReason::MeetingEnded,
        at: Utc::now(),
    })
    .await;
    let beat = a.beat().await;
    assert_eq!(
        beat.ended_meetings
            .iter()
            .map(|(m, _)| m)
            .collect::<Vec<_>>(),
        [&acme]
    );
    assert!(
        beat.held.is_empty(),
        "acme's lease is given back: {:?}",
        beat.held
    );
    assert_eq!(b.beat().await.held.iter().collect::<Vec<_>>(), [&globex]);

    // Each account's day is counted and paused on its own.
    let day = Utc::now().date_naive();
    let pause = Utc::now() + chrono::Duration::seconds(30);
    a.write(Write::Budget(BudgetUse {
        account: Account::new("acme"),
        day,
        used: 11,
        paused_until: Some(pause),
    }))
    .await;
    a.write(Write::Budget(BudgetUse {
        account: Account::new("globex"),
        day,
        used: 5,
        paused_until: None,
    }))
    .await;
    let seen = b.beat().await;
    assert_eq!(seen.others_used_today.get(&Account::new("acme")), Some(&11));
    assert_eq!(
        seen.others_used_today.get(&Account::new("globex")),
        Some(&5)
    );
    assert!(seen.paused_until.contains_key(&Account::new("acme")));
    assert!(
        !seen.paused_until.contains_key(&Account::new("globex")),
        "acme's 429 pause does not pause globex"
    );
}

/// A database the release before accounts left (migrations 1 and 2, the
/// same SQL as shipped) with a running watch, its lease, the day's count
/// and a pause: after the upgrade they are the single account's.
#[tokio::test]
async fn a_database_from_before_accounts_keeps_its_rows_in_the_single_account() {
    use sqlx::Connection;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let database = fresh_database().await;
    let older = Migrator::with_migrations(
        [
            (
                1,
                "initial",
                include_str!("../../../src/store/migrations/postgres/0001_initial.sql"),
            ),
            (
                2,
                "silence uuids",
                include_str!("../../../src/store/migrations/postgres/0002_silence_uuids.sql"),
            ),
        ]
        .into_iter()
        .map(|(version, name, sql)| {
            Migration::new(
                version,
                name.into(),
                MigrationType::Simple,
                sqlx::SqlStr::from_static(sql),
                false,
            )
        })
        .collect(),
    );
    let mut old = sqlx::PgConnection::connect(&database)
        .await
        .expect("connect");
    older.run(&mut old).await.expect("the older schema");
    let saved = serde_json::to_string(&subject("m1", "7")).expect("json");
    let today = Utc::now().date_naive().to_string();
    let pause = (Utc::now() + chrono::Duration::seconds(60)).timestamp_millis();
    for (sql, text) in [
        (
            "INSERT INTO watches (meeting_uuid, user_id, subject, started_at) VALUES ('m1', '7', $1, 1000)",
            saved.as_str(),
        ),
        (
            "INSERT INTO leases (meeting_uuid, owner, expires_at) VALUES ($1, NULL, now())",
            "m1",
        ),
        (
            "INSERT INTO zoom_budget_use (replica, day, used) VALUES ('gone', $1, 17)",
            today.as_str(),
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(text)
            .execute(&mut old)
            .await
            .expect(sql);
    }
    sqlx::query("INSERT INTO zoom_pause (id, paused_until) VALUES (1, $1)")
        .bind(pause)
        .execute(&mut old)
        .await
        .expect("pause");
    old.close().await.expect("close");

    // The new release opens it: migration 3 moves everything to `default`.
    let a = replica(&database, "a", LONG).await;
    let beat = a.beat().await;
    assert_eq!(
        beat.held.iter().collect::<Vec<_>>(),
        [&mk("m1")],
        "the old lease, claimed"
    );
    assert_eq!(beat.watches.len(), 1);
    assert_eq!(beat.watches[0].subject.key, key("m1", "7"));
    let single = Account::default();
    assert_eq!(beat.others_used_today.get(&single), Some(&17));
    assert!(
        beat.paused_until.contains_key(&single),
        "the pause is the single account's"
    );
    // Another account's meeting of the same UUID is another lease.
    let mut other = subject("m1", "7");
    other.set_account(Account::new("acme"));
    a.write(Write::WatchStarted {
        subject: Box::new(other),
        at: Utc::now(),
    })
    .await;
    assert!(
        a.leases
            .claim(&MeetingKey::new(Account::new("acme"), "m1"))
            .await
            .unwrap()
    );
    assert_eq!(a.beat().await.held.len(), 2);
}
