//! Issue 24's early signals across replicas: Zoom's webhooks reach any
//! replica, the replica holding a meeting's lease polls it. A
//! `meeting.alert` taken by another replica, and a `participant_left`
//! taken anywhere, reach the holder by PostgreSQL's `NOTIFY` (the
//! heartbeat reads what a listener missed).

use std::net::SocketAddr;
use std::time::Duration;

use qoswatch::cluster::Leases;
use qoswatch::store::Write;
use qoswatch::store::signals::{SharedKind, SharedSignal};
use qoswatch_core::alert::{Account, MeetingKey};
use qoswatch_testkit::eventually;
use qoswatch_testkit::metrics::Scraper;
use qoswatch_zoomsim::{Endpoint, MeetingSpec, ParticipantSpec, SimConfig};
use tokio::time::Instant;

use super::{Cluster, Replica, sender};

/// Long enough that a heartbeat (a third of it) cannot pass for the
/// notification: what the holder does at once, it heard by `NOTIFY`.
const SLOW_TTL: Duration = Duration::from_secs(15);

impl Cluster {
    /// A replica polling adaptively: under pressure (its share of
    /// `rate` requests a second) the calm stretch, up to 16 intervals.
    async fn adaptive_replica(&self, name: &str, ttl: Duration, rate: u32) -> Replica {
        let config = self.config(name, ttl, rate);
        let text = std::fs::read_to_string(&config).expect("config");
        let fixed = "polling:\n  mode: fixed\n";
        assert!(
            text.contains(fixed),
            "the cluster's config changed:\n{text}"
        );
        let text = text.replace(
            fixed,
            "polling:\n  mode: adaptive\n  max_interval: 16s\n  max_staleness: 32s\n",
        );
        std::fs::write(&config, text).expect("config");
        self.launch(&config).await
    }

    /// `participant` joins `meeting` at the simulator and Zoom tells `address`.
    /// Zoom's `meeting.alert` for `meeting`, sent to the replica at `to`.
    async fn meeting_alert(&self, meeting: &MeetingSpec, to: SocketAddr) {
        let issues = ["Unstable audio quality".to_owned()];
        let answer = sender(to)
            .meeting_alert(meeting, self.sim.sim_now(), &issues)
            .await
            .expect("webhook sent");
        assert_eq!(answer.status, 200, "{answer:?}");
    }

    async fn join_as(&self, meeting: &MeetingSpec, participant: &ParticipantSpec, to: SocketAddr) {
        self.sim
            .add_participant(&meeting.uuid, participant.clone())
            .expect("participant");
        let now = self.sim.sim_now();
        let answer = sender(to)
            .participant_joined(meeting, now, participant, now)
            .await
            .expect("webhook sent");
        assert_eq!(answer.status, 200, "{answer:?}");
    }

    /// When each listing of the meeting whose UUID starts with `prefix`
    /// arrived at the simulator.
    fn listings_of(&self, prefix: &str) -> Vec<Instant> {
        self.sim
            .qos_requests()
            .into_iter()
            .filter(|r| matches!(&r.endpoint, Endpoint::ListQos { raw_meeting_id } if raw_meeting_id.starts_with(prefix)))
            .map(|r| r.arrived_at)
            .collect()
    }
}

/// A metric's value at a replica (0 when absent).
async fn metric(replica: &Replica, series: &str) -> f64 {
    Scraper::new(replica.admin)
        .value(series)
        .await
        .unwrap_or(0.0)
}

const CALM: &str = "qoswatch_poll_interval_seconds{account=\"default\",class=\"calm\"}";
const ALERTS_ACTED: &str = "qoswatch_poll_early_signals_total{signal=\"meeting_alert\"}";
const POLL: Duration = Duration::from_millis(50);
const REJOINS: &str = "qoswatch_poll_early_signals_total{signal=\"rejoin\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_alert_taken_by_another_replica_polls_the_meeting_at_once_where_it_is_held() {
    let cluster = Cluster::new(SimConfig::default()).await;
    // Two requests a second for the account: one each. The holder's six
    // meetings want six a second at the 1 s interval, so its calm stretch
    // to about 6.7 s; the other holds four.
    let holder = cluster.adaptive_replica("holder", SLOW_TTL, 2).await;
    let other = cluster.adaptive_replica("other", SLOW_TTL, 2).await;
    let meeting = cluster.meeting(40);
    for user in ["16940001", "16940002", "16940003"] {
        let person = ParticipantSpec::new(user, format!("Person {user}"));
        cluster.join_as(&meeting, &person, holder.address).await;
    }
    for m in 0..9 {
        let filler = cluster.meeting(41 + m);
        let to = if m < 5 { &holder } else { &other };
        let user = format!("{}", 16_941_000 + m);
        cluster.join(&filler, &user, to.address).await;
    }
    // Both replicas hold their part of the rate (granted by their
    // heartbeats, a few seconds after they start): the steady state.
    const RATE: &str = "qoswatch_zoom_rate_per_second{account=\"default\"}";
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while metric(&holder, RATE).await <= 0.0 || metric(&other, RATE).await <= 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no part of the rate granted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while metric(&holder, CALM).await < 6.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the holder's calm never stretched: {} s",
            metric(&holder, CALM).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Right after one of the meeting's listings, Zoom's alert for it
    // reaches the replica that does not poll it.
    let prefix = "cLuStEr40";
    let before = cluster.listings_of(prefix).len();
    assert!(
        eventually(Duration::from_secs(20), || cluster
            .listings_of(prefix)
            .len()
            > before)
        .await,
        "the meeting is not listed"
    );
    let alerted = Instant::now();
    cluster.meeting_alert(&meeting, other.address).await;
    // The holder lists it at the fastest pace (one interval after the
    // last listing, plus the wait for a request slot at one a second: up
    // to 2 s measured), not a calm stretch (6 s or more) later.
    assert!(
        eventually(Duration::from_secs(20), || cluster
            .listings_of(prefix)
            .len()
            > before + 1)
        .await,
        "never listed again"
    );
    let next = cluster.listings_of(prefix)[before + 1];
    let waited = next.saturating_duration_since(alerted);
    let calm = metric(&holder, CALM).await;
    eprintln!("listed {waited:?} after the meeting alert (calm interval {calm} s)");
    assert!(
        waited <= Duration::from_secs(4),
        "listed {waited:?} after Zoom's meeting alert (calm interval {calm} s)\n{}",
        holder.service.logs()
    );
    // Acted on once, where the meeting is polled, heard by notification.
    assert_eq!(metric(&holder, ALERTS_ACTED).await, 1.0);
    assert_eq!(metric(&other, ALERTS_ACTED).await, 0.0);
    assert_eq!(
        metric(
            &holder,
            "qoswatch_cluster_early_signals_heard_total{signal=\"meeting_alert\",via=\"notify\"}"
        )
        .await,
        1.0
    );
    assert_eq!(cluster.sim.request_counts().rate_limited, 0);
    // Zoom's alert reaching the holder itself is acted on there and sent
    // nowhere: once a later durable write of the holder's (a leave) has
    // committed, the only alert in the table is the other replica's.
    cluster.meeting_alert(&meeting, holder.address).await;
    assert_eq!(metric(&holder, ALERTS_ACTED).await, 2.0);
    let leaver = ParticipantSpec::new("16940003", "Person 16940003");
    let now = cluster.sim.sim_now();
    let answer = sender(holder.address)
        .participant_left(&meeting, now, &leaver, now, "left the meeting")
        .await
        .expect("webhook sent");
    assert_eq!(answer.status, 200, "{answer:?}");
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&cluster.database)
        .await
        .expect("database");
    let alerts: Vec<String> =
        sqlx::query_scalar("SELECT replica FROM early_signals WHERE kind = 'meeting_alert'")
            .fetch_all(&mut db)
            .await
            .expect("signals");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].starts_with("other-"), "{alerts:?}");
    // The holder's next heartbeat reads the other's alert again and leaves
    // it: it was acted on once, by notification.
    let beats = "qoswatch_cluster_heartbeat_seconds_count";
    let seen = metric(&holder, beats).await;
    let scraper = Scraper::new(holder.admin);
    assert!(
        scraper
            .until(beats, SLOW_TTL, POLL, |v| v > seen)
            .await
            .is_some_and(|v| v > seen),
        "no heartbeat"
    );
    assert_eq!(metric(&holder, ALERTS_ACTED).await, 2.0);
    assert_eq!(
        metric(
            &holder,
            "qoswatch_cluster_early_signals_heard_total{signal=\"meeting_alert\",via=\"heartbeat\"}"
        )
        .await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_alert_for_a_dead_holder_s_meeting_hurries_it_where_it_is_taken_over() {
    let cluster = Cluster::new(SimConfig::default()).await;
    let holder = cluster.replica("holder", super::TTL, 40).await;
    let other = cluster.replica("other", super::TTL, 40).await;
    let meeting = cluster.meeting(60);
    for user in ["16960001", "16960002"] {
        let person = ParticipantSpec::new(user, format!("Person {user}"));
        cluster.join_as(&meeting, &person, holder.address).await;
    }
    assert!(
        eventually(Duration::from_secs(20), || cluster.polls().len() >= 2).await,
        "the meeting is not polled"
    );
    // The holder dies; Zoom's alert reaches the other replica while the
    // dead one's lease still holds: nobody polls the meeting to hurry.
    holder.service.kill();
    cluster.meeting_alert(&meeting, other.address).await;
    assert_eq!(
        metric(&other, ALERTS_ACTED).await,
        0.0,
        "not polled there yet"
    );
    // After the TTL the other takes the meeting over, and its heartbeat
    // finds the alert it wrote: the meeting is urgent there.
    let scraper = Scraper::new(other.admin);
    assert!(
        scraper
            .until(ALERTS_ACTED, super::TTL * 4, POLL, |v| v >= 1.0)
            .await
            .is_some_and(|v| v >= 1.0),
        "the alert was lost with the holder:\n{}",
        other.service.logs()
    );
    assert_eq!(
        metric(
            &other,
            "qoswatch_cluster_early_signals_heard_total{signal=\"meeting_alert\",via=\"heartbeat\"}"
        )
        .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leave_taken_by_one_replica_makes_the_rejoin_urgent_at_the_replica_that_watches_it() {
    rejoin_across_replicas(RejoinThrough::Holder).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejoin_taken_on_at_the_holder_s_heartbeat_is_recognised_by_a_leave_taken_elsewhere() {
    rejoin_across_replicas(RejoinThrough::Other).await;
}

/// Which replica Zoom's `participant_joined` of the rejoin reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RejoinThrough {
    /// The one polling the meeting: it starts the watch at once.
    Holder,
    /// The one the leave reached: it saves the watch, and the holder
    /// takes it on at its next heartbeat.
    Other,
}

/// A participant's leave reaches the replica that does not poll the
/// meeting; the rejoin reaches `through`.
async fn rejoin_across_replicas(through: RejoinThrough) {
    let cluster = Cluster::new(SimConfig::default()).await;
    let left_at = cluster.replica("left-at", SLOW_TTL, 40).await;
    let holder = cluster.replica("holder", SLOW_TTL, 40).await;
    let meeting = cluster.meeting(50);
    let dee = ParticipantSpec {
        email: "dee@example.com".into(),
        ..ParticipantSpec::new("16950001", "Dropped Dee")
    };
    let bo = ParticipantSpec::new("16950002", "Bo");
    cluster.join_as(&meeting, &dee, holder.address).await;
    cluster.join_as(&meeting, &bo, holder.address).await;
    assert!(
        eventually(Duration::from_secs(20), || {
            let polls = cluster.polls();
            polls.contains_key(&dee.user_id) && polls.contains_key(&bo.user_id)
        })
        .await,
        "the meeting is not polled"
    );
    // Dee's call drops: the leave reaches the replica that does not poll
    // the meeting.
    let now = cluster.sim.sim_now();
    let answer = sender(left_at.address)
        .participant_left(&meeting, now, &dee, now, "left the meeting")
        .await
        .expect("webhook sent");
    assert_eq!(answer.status, 200, "{answer:?}");
    let heard = "qoswatch_cluster_early_signals_heard_total{signal=\"left\",via=\"notify\"}";
    let scraper = Scraper::new(holder.admin);
    assert!(
        scraper
            .until(heard, Duration::from_secs(10), POLL, |v| v >= 1.0)
            .await
            .is_some_and(|v| v >= 1.0),
        "the holder never heard of the leave:\n{}",
        left_at.service.logs()
    );
    // She is back at once, with a new user_id (the holder's heartbeat,
    // seconds away, has not told it of the leave).
    let again = ParticipantSpec {
        email: "Dee@Example.com".into(),
        ..ParticipantSpec::new("16950003", "Dee (phone)")
    };
    let to = match through {
        RejoinThrough::Holder => &holder,
        RejoinThrough::Other => &left_at,
    };
    cluster.join_as(&meeting, &again, to.address).await;
    assert!(
        scraper
            .until(REJOINS, SLOW_TTL, POLL, |v| v >= 1.0)
            .await
            .is_some_and(|v| v >= 1.0),
        "the rejoin was not recognised where it is watched:\n{}",
        holder.service.logs()
    );
    assert_eq!(metric(&left_at, REJOINS).await, 0.0);
    // What travelled is the person's hash, never the e-mail or the name:
    // not in the table, nor in either replica's logs.
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&cluster.database)
        .await
        .expect("database");
    let rows: Vec<(String, Option<i64>)> = sqlx::query_as("SELECT kind, who FROM early_signals")
        .fetch_all(&mut db)
        .await
        .expect("signals");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "left");
    assert!(rows[0].1.is_some());
    let row_text =
        sqlx::query_scalar::<_, String>("SELECT row_to_json(s)::text FROM early_signals s")
            .fetch_one(&mut db)
            .await
            .expect("row");
    for secret in ["dee@example.com", "Dropped Dee"] {
        assert!(!row_text.contains(secret), "{secret} in {row_text}");
    }
    for replica in [&left_at, &holder] {
        let logs = replica.service.logs().to_lowercase();
        assert!(!logs.contains("dee@example.com"), "an e-mail logged");
    }
}

async fn signals_at_beat(leases: &Leases) -> Vec<SharedSignal> {
    leases
        .beat(
            0,
            chrono::Utc::now().date_naive(),
            &super::leases::rates(10),
        )
        .await
        .expect("heartbeat")
        .signals
}

#[tokio::test]
async fn a_signal_is_heard_at_once_by_listeners_and_read_by_heartbeats_for_two_lease_ttls() {
    let database = super::fresh_database().await;
    let ttl = Duration::from_secs(2);
    let sending = super::leases::replica(&database, "sender", ttl).await;
    let receiving = super::leases::replica(&database, "receiver", ttl).await;
    let (sender_store, sender, receiver) = (&sending.store, &sending.leases, &receiving.leases);
    let mut listener = receiver.listen().await.expect("listening");
    let meeting = MeetingKey::new(Account::new("globex"), "a/b+c==");
    let who = 0xa000_0000_0000_0001;
    sender_store
        .write_durably(Write::Signal {
            meeting: meeting.clone(),
            kind: SharedKind::Left { who },
        })
        .await
        .expect("committed");
    // At once, by notification, parsed from what PostgreSQL built.
    let heard = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("notified")
        .expect("reachable")
        .expect("a signal");
    assert_eq!(heard.meeting, meeting);
    assert_eq!(heard.kind, SharedKind::Left { who });
    assert!(heard.from.starts_with("sender-"), "{}", heard.from);
    // A listener that was not listening then (reconnecting) missed it; the
    // heartbeat has it, with the same id, and never the sender's own.
    let read = signals_at_beat(receiver).await;
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(read[0].id, heard.id);
    assert_eq!(read[0].kind, heard.kind);
    assert_eq!(read[0].meeting, meeting);
    assert!(read[0].age < ttl, "{:?}", read[0].age);
    // The sender's own leave is not (it remembered it when it wrote it).
    assert!(signals_at_beat(sender).await.is_empty(), "its own");
    // After two lease TTLs no heartbeat reads it; after four it is deleted.
    let deadline = std::time::Instant::now() + ttl * 4;
    while !signals_at_beat(receiver).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "read for too long");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&database)
        .await
        .expect("database");
    let count = || sqlx::query_scalar::<_, i64>("SELECT count(*) FROM early_signals");
    assert_eq!(count().fetch_one(&mut db).await.expect("count"), 1);
    let deadline = std::time::Instant::now() + ttl * 6;
    loop {
        signals_at_beat(receiver).await;
        if count().fetch_one(&mut db).await.expect("count") == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never pruned");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
