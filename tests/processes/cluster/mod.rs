//! Several replicas on one PostgreSQL database: `qoswatch serve` processes
//! sharing a real PostgreSQL server (started by `scripts/test-postgres.sh`,
//! which `.ci/run` runs), Zoom played by the simulator, Slack by a loopback
//! receiver. Each test has a database of its own.

mod accounts;
mod leases;
mod rate;
mod rebalance;
mod self_monitoring;
mod signals;
mod silence_ids;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{
    Degradation, MeetingSpec, ParticipantSpec, SimConfig, SimHandle, Simulator, Target,
};
use secrecy::SecretString;
use sqlx::Connection;

use qoswatch_testkit::{FakeSlack, Process, eventually};

use crate::setup::{SECRET, environment, start};

/// The variable `scripts/test-postgres.sh` writes; without it these tests
/// fail and say how to get a server, rather than pass having tested nothing.
const DATABASE_VAR: &str = "QOSWATCH_TEST_DATABASE_URL";
const PG_CTL_VAR: &str = "QOSWATCH_TEST_PG_CTL";

fn server_url() -> String {
    std::env::var(DATABASE_VAR).unwrap_or_else(|_| {
        panic!(
            "these tests need a PostgreSQL server and {DATABASE_VAR} is not set. Start one with \
             `eval \"$(scripts/test-postgres.sh start)\"` (needs Debian's postgresql package), \
             or run .ci/run, which does both"
        )
    })
}

/// A fresh database on the test server; its URL.
async fn fresh_database() -> String {
    let server = server_url();
    let name = format!("qw_{:016x}", rand::random::<u64>());
    let mut admin = sqlx::PgConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {DATABASE_VAR}: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create database");
    let (base, _) = server.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

/// One sample a second, so that sustain and clear take seconds.
const RULES: &str = r#"
channels:
  it-slack:
    type: slack
    webhook_url_env: QOSWATCH_TEST_SLACK_URL
    send_resolved: true
defaults:
  route:
    channels: [it-slack]
    send_resolved: true
rules:
  - name: audio-latency
    metric: audio_input.latency
    above: 150ms
    clear: { below: 120ms, for: 2 samples }
    for: 2 samples
    summary: "{participant} has {value} audio latency in {meeting}"
"#;

struct Cluster {
    dir: tempfile::TempDir,
    sim: SimHandle,
    database: String,
    slack: FakeSlack,
}

const TTL: Duration = Duration::from_secs(3);
const INTERVAL: Duration = Duration::from_secs(1);

impl Cluster {
    async fn new(sim_config: SimConfig) -> Cluster {
        let database = fresh_database().await;
        let sim = Simulator::start(sim_config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("simulator");
        let slack = FakeSlack::failing().await;
        slack.recover();
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("rules.yaml"), RULES).expect("rules");
        Cluster {
            dir,
            sim,
            database,
            slack,
        }
    }

    /// A replica's config; `rate` is the account's requests per second,
    /// all of it for qoswatch.
    fn config(&self, name: &str, ttl: Duration, rate: u32) -> PathBuf {
        let text = format!(
            "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  shutdown_grace: 15s\n\
             zoom:\n  api_base: {api}\n  token_url: {token}\n  request_timeout: 2s\n  daily_limit: 50000000\n  requests_per_second: {rate}\n  rate_share: 1.0\n\
             polling:\n  mode: fixed\n  interval: {interval}ms\n  max_backoff: 1s\n\
             rules:\n  file: {rules}\n\
             store:\n  lease_ttl: {ttl}ms\n  replica_name: {name}\n\
             alerts:\n  dispatch:\n    group_window: 0s\n    initial_backoff: 200ms\n    max_backoff: 1s\n    shutdown_grace: 2s\n",
            api = self.sim.api_base(),
            token = self.sim.token_url(),
            rules = self.dir.path().join("rules.yaml").display(),
            interval = INTERVAL.as_millis(),
            ttl = ttl.as_millis(),
        );
        let path = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, text).expect("config");
        path
    }

    /// Starts a replica; waits for its listeners.
    async fn replica(&self, name: &str, ttl: Duration, rate: u32) -> Replica {
        let config = self.config(name, ttl, rate);
        self.launch(&config).await
    }

    /// Starts a replica on `config`; waits for its listeners.
    async fn launch(&self, config: &std::path::Path) -> Replica {
        let env = environment(
            &self.sim,
            &[
                ("QOSWATCH_TEST_SLACK_URL", self.slack.url("T1/B1/hook")),
                ("QOSWATCH_DATABASE_URL", self.database.clone()),
            ],
        );
        let service = start(config, &env, &[]);
        let address = service.address().await;
        let admin = service.admin_address().await;
        Replica {
            service,
            address,
            admin,
        }
    }

    fn meeting(&self, index: usize) -> MeetingSpec {
        let meeting = MeetingSpec::new(
            format!("cLuStEr{index:02}MeEtInGuUiD0=="),
            84712639200 + index as u64,
            format!("Meeting {index}"),
        );
        self.sim.add_meeting(meeting.clone()).expect("meeting");
        meeting
    }

    /// A participant joins at the simulator and Zoom tells `address`.
    async fn join(&self, meeting: &MeetingSpec, user_id: &str, address: SocketAddr) {
        let participant = ParticipantSpec::new(user_id, format!("Person {user_id}"));
        self.sim
            .add_participant(&meeting.uuid, participant.clone())
            .expect("participant");
        let sender = sender(address);
        let now = self.sim.sim_now();
        let answer = sender
            .participant_joined(meeting, now, &participant, now)
            .await
            .expect("webhook sent");
        assert_eq!(answer.status, 200, "{answer:?}");
    }

    /// QoS requests per participant: (arrival, bearer token) in order.
    fn polls(&self) -> BTreeMap<String, Vec<(Instant, String)>> {
        let mut polls: BTreeMap<String, Vec<(Instant, String)>> = BTreeMap::new();
        for request in self.sim.qos_requests() {
            let Some(user) = request.raw_path.rsplit('/').nth(1) else {
                continue;
            };
            polls.entry(user.to_owned()).or_default().push((
                request.arrived_at.into_std(),
                request.bearer_token.clone().unwrap_or_default(),
            ));
        }
        polls
    }

    /// Slack messages answered 200 whose text starts with `phase`.
    fn delivered(&self, phase: &str) -> usize {
        self.slack
            .requests()
            .iter()
            .filter(|r| r.answered == 200 && r.text.starts_with(phase))
            .count()
    }
}

fn sender(address: SocketAddr) -> WebhookSender {
    WebhookSender::new(
        &format!("http://{address}/webhooks/zoom"),
        SecretString::from(SECRET.to_owned()),
    )
    .expect("sender")
}

struct Replica {
    service: Process,
    address: SocketAddr,
    admin: SocketAddr,
}

impl Replica {
    async fn ready(&self) -> (u16, serde_json::Value) {
        let answer = reqwest::get(format!("http://{}/readyz", self.admin))
            .await
            .expect("readyz");
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or_default())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_participants_on_three_replicas_are_each_polled_by_one_within_the_rate() {
    // The account allows 10 requests a second; 30 participants polled every
    // second want 30: the budget, shared by three replicas, is what holds.
    let sim_config = SimConfig {
        qps_limit: Some(10),
        ..SimConfig::default()
    };
    let cluster = Cluster::new(sim_config).await;
    let mut replicas = Vec::new();
    for name in ["r1", "r2", "r3"] {
        replicas.push(cluster.replica(name, TTL, 10).await);
    }
    // Six meetings of five; the webhooks of each meeting's members arrive
    // at different replicas.
    let mut users = Vec::new();
    for m in 0..6 {
        let meeting = cluster.meeting(m);
        for p in 0..5 {
            let user = format!("{}", 16_800_000 + m * 10 + p);
            let replica = &replicas[(m + p) % 3];
            cluster.join(&meeting, &user, replica.address).await;
            users.push(user);
        }
    }
    // Every participant is polled.
    assert!(
        eventually(Duration::from_secs(40), || {
            let polls = cluster.polls();
            users
                .iter()
                .all(|u| polls.get(u).is_some_and(|p| p.len() >= 3))
        })
        .await,
        "not every participant polled three times: {:?}",
        cluster
            .polls()
            .iter()
            .map(|(u, p)| (u.clone(), p.len()))
            .collect::<Vec<_>>()
    );
    // Never by two replicas: one bearer token per participant (each replica
    // has its own OAuth token), and every replica polls some meeting.
    let polls = cluster.polls();
    let mut tokens = BTreeSet::new();
    for user in &users {
        let by: BTreeSet<&String> = polls[user].iter().map(|(_, token)| token).collect();
        assert_eq!(
            by.len(),
            1,
            "participant {user} polled by {} replicas",
            by.len()
        );
        tokens.extend(by.into_iter().cloned());
    }
    assert_eq!(
        tokens.len(),
        3,
        "every replica polls a share of the meetings"
    );
    // Together within the account's rate, counted as Zoom counts it: the
    // simulator answers 429 to an 11th request in one of its seconds, and
    // answered none. (A sliding window over arrival times is stricter than
    // Zoom and measured this machine's scheduling: under load, requests sent
    // in two seconds arrive bunched into one.) On average, too: three
    // replicas each using the whole rate would poll at 30 a second.
    let counts = cluster.sim.request_counts();
    assert_eq!(counts.rate_limited, 0, "{counts:?}");
    let mut times: Vec<Instant> = polls.values().flatten().map(|(at, _)| *at).collect();
    times.sort();
    let span = times[times.len() - 1]
        .duration_since(times[0])
        .as_secs_f64();
    let mean_rate = (times.len() - 1) as f64 / span;
    assert!(
        mean_rate <= 10.0,
        "{mean_rate:.1} requests a second on average from three replicas sharing 10/s"
    );
    for (replica, name) in replicas.iter().zip(["r1-", "r2-", "r3-"]) {
        let (status, body) = replica.ready().await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body["replica"]
                .as_str()
                .is_some_and(|r| r.starts_with(name)),
            "{body}"
        );
        assert!(body["meetings"].as_u64().is_some_and(|m| m >= 1), "{body}");
    }
}

/// A participant whose audio latency is bad from the third sample to the
/// `until`th.
fn degrade(cluster: &Cluster, user: &str, until: u32) {
    cluster
        .sim
        .add_degradation(Degradation::bad_wifi(Target::participant(user), 2..until));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_s_meetings_and_pending_alert_are_taken_over_once() {
    let cluster = Cluster::new(SimConfig::default()).await;
    let owner = cluster.replica("owner", TTL, 40).await;
    let other = cluster.replica("other", TTL, 40).await;
    let meeting = cluster.meeting(1);
    let (jill, jack) = ("16778240", "16778241");
    degrade(&cluster, jill, 600);
    // Slack fails, so the FIRING waits in the owner's outbox.
    cluster.slack.fail();
    cluster.join(&meeting, jill, owner.address).await;
    cluster.join(&meeting, jack, other.address).await;
    assert!(
        eventually(Duration::from_secs(30), || cluster
            .slack
            .requests()
            .iter()
            .any(|r| r.text.starts_with("[FIRING]")))
        .await,
        "the owner never tried to send the FIRING:\n{}",
        owner.service.logs()
    );
    let owner_token = cluster.polls()[jill].last().unwrap().1.clone();
    assert!(
        cluster.polls()[jack].iter().all(|(_, t)| *t == owner_token),
        "the lease holder polls the member whose webhook another replica took"
    );
    let killed = Instant::now();
    owner.service.kill();
    cluster.slack.recover();
    // Polled again by the other replica within TTL + a heartbeat + an
    // interval, for both members.
    let bound = TTL + TTL / 3 + INTERVAL + Duration::from_secs(2);
    assert!(
        eventually(bound + Duration::from_secs(10), || {
            let polls = cluster.polls();
            [jill, jack].iter().all(|u| {
                polls[*u]
                    .iter()
                    .any(|(at, token)| *at > killed && *token != owner_token)
            })
        })
        .await,
        "not taken over:\n{}",
        other.service.logs()
    );
    let taken = cluster
        .polls()
        .values()
        .flatten()
        .filter(|(at, token)| *at > killed && *token != owner_token)
        .map(|(at, _)| at.duration_since(killed))
        .min()
        .unwrap();
    assert!(taken <= bound, "first poll after the kill took {taken:?}");
    // The pending FIRING is delivered once, by the survivor, and the
    // takeover (with Jill's alert state) sends no second one.
    assert!(
        eventually(Duration::from_secs(20), || cluster.delivered("[FIRING]")
            >= 1)
        .await,
        "pending FIRING never delivered:\n{}",
        other.service.logs()
    );
    let polls_now = cluster.polls()[jill].len();
    assert!(
        eventually(Duration::from_secs(20), || cluster.polls()[jill].len()
            >= polls_now + 4)
        .await
    );
    assert_eq!(
        cluster.delivered("[FIRING]"),
        1,
        "{:?}",
        cluster.slack.requests()
    );
    assert!(other.service.logs().contains("taken over"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_the_meetings_over_before_the_ttl() {
    let cluster = Cluster::new(SimConfig::default()).await;
    // A long lease: only the hand-back can make the takeover quick.
    let ttl = Duration::from_secs(30);
    let leaving = cluster.replica("leaving", ttl, 40).await;
    let staying = cluster.replica("staying", ttl, 40).await;
    let meeting = cluster.meeting(2);
    let user = "16778250";
    cluster.join(&meeting, user, leaving.address).await;
    assert!(
        eventually(Duration::from_secs(20), || cluster
            .polls()
            .get(user)
            .is_some_and(|p| p.len() >= 2))
        .await
    );
    let leaving_token = cluster.polls()[user][0].1.clone();
    let stopped = Instant::now();
    let (status, logs) = leaving.service.terminate(Duration::from_secs(30));
    assert!(status.success(), "{logs}");
    assert!(logs.contains("handed back"), "{logs}");
    assert!(
        eventually(ttl, || cluster.polls()[user]
            .iter()
            .any(|(at, token)| *at > stopped && *token != leaving_token))
        .await,
        "no takeover within the lease's TTL:\n{}",
        staying.service.logs()
    );
    let taken = stopped.elapsed();
    assert!(
        taken < ttl / 2,
        "the takeover took {taken:?}, as if waiting for the TTL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_loses_no_alert() {
    let pg_ctl = std::env::var(PG_CTL_VAR).unwrap_or_else(|_| {
        panic!("{PG_CTL_VAR} is not set: start the server with scripts/test-postgres.sh")
    });
    let cluster = Cluster::new(SimConfig::default()).await;
    let a = cluster.replica("a", TTL, 40).await;
    let b = cluster.replica("b", TTL, 40).await;
    let meeting = cluster.meeting(3);
    let (jill, jack) = ("16778260", "16778261");
    // Bad from the third sample to the twelfth: FIRING, then RESOLVED.
    degrade(&cluster, jill, 12);
    cluster.join(&meeting, jill, a.address).await;
    cluster.join(&meeting, jack, b.address).await;
    assert!(
        eventually(Duration::from_secs(20), || cluster
            .polls()
            .get(jill)
            .is_some_and(|p| p.len() >= 2))
        .await
    );
    // Restart the server under load.
    let mut words = pg_ctl.split_whitespace();
    let program = words.next().expect("command");
    let restarted = std::process::Command::new(program)
        .args(words)
        .args(["restart", "-m", "fast", "-w"])
        .output()
        .expect("pg_ctl runs");
    assert!(
        restarted.status.success(),
        "{}",
        String::from_utf8_lossy(&restarted.stderr)
    );
    // Both replicas answer ready again, and the alert's two messages arrive,
    // once each.
    for replica in [&a, &b] {
        let mut ready = false;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if replica.ready().await.0 == 200 {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            ready,
            "not ready after the restart:\n{}",
            replica.service.logs()
        );
    }
    assert!(
        eventually(Duration::from_secs(40), || cluster.delivered("[RESOLVED]")
            >= 1)
        .await,
        "no RESOLVED after the restart: {:?}\n{}",
        cluster.slack.requests(),
        a.service.logs()
    );
    assert_eq!(
        cluster.delivered("[FIRING]"),
        1,
        "{:?}",
        cluster.slack.requests()
    );
    assert_eq!(
        cluster.delivered("[RESOLVED]"),
        1,
        "{:?}",
        cluster.slack.requests()
    );
    // Polling went on after the restart.
    let after = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || cluster.polls()[jack]
            .iter()
            .any(|(at, _)| *at > after))
        .await
    );
}
