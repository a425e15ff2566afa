//! Several replicas on one PostgreSQL: takeover times and database load.
//!
//! Starts the Zoom simulator in this process and `qoswatch serve` replicas
//! as child processes (the release binary), all on loopback, each run on a
//! fresh database of the server at `QOSWATCH_BENCH_DATABASE_URL`
//! (`scripts/test-postgres.sh start` gives one).
//!
//! - `takeover`: two replicas; `--participants` join through replica A in
//!   meetings of ten, so A holds every lease; A is killed (`kill -9`) or
//!   stopped (SIGTERM), and the time until B has polled each participant is
//!   measured, `--trials` times each.
//! - `load`: two replicas, `--participants` (1,000) in meetings of ten,
//!   webhooks spread over both, polled every `--interval`; once all are
//!   polled, the database's own counters (`pg_stat_database`) over
//!   `--window`, and the replicas' heartbeat latency from `/metrics`.
//! - `balance`: three replicas, `--participants` (60) in meetings of ten
//!   all joined through replica A (A claims every meeting); the leases each
//!   replica holds (`qoswatch_cluster_leases_held`) are read every 250 ms
//!   until the set is even, and the heartbeats that took are counted. Zoom's
//!   per-second rate (`--rate`) is the account's, fixed polling every
//!   `--interval` asks for more than it: the QoS requests a second the
//!   cluster makes while skewed (A alone polls, with its third of the rate)
//!   and once balanced, against one replica alone at the same rate.
//!
//! ```sh
//! eval "$(scripts/test-postgres.sh start)"
//! export QOSWATCH_BENCH_DATABASE_URL=$QOSWATCH_TEST_DATABASE_URL
//! cargo build --release --bin qoswatch --example replicas
//! target/release/examples/replicas takeover --trials 5
//! target/release/examples/replicas load --participants 1000
//! target/release/examples/replicas balance --trials 3
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use qoswatch_testkit::{Process, Spawn, eventually, zoom_env};
use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{MeetingSpec, ParticipantSpec, SimConfig, SimHandle, Simulator};
use secrecy::SecretString;
use sqlx::{Connection, Row};

const SECRET: &str = "replicas-bench-webhook-secret";

#[derive(Debug, Parser)]
#[command(about = "Takeover times and database load of several qoswatch replicas")]
struct Args {
    /// The qoswatch binary the replicas run.
    #[arg(long, default_value = "target/release/qoswatch")]
    bin: PathBuf,
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    Takeover {
        #[arg(long, default_value_t = 5)]
        trials: u32,
        #[arg(long, default_value_t = 50)]
        participants: usize,
        /// `store.lease_ttl`.
        #[arg(long, default_value = "15s", value_parser = qoswatch_core::duration::parse)]
        ttl: Duration,
        /// `polling.interval` (fixed mode).
        #[arg(long, default_value = "5s", value_parser = qoswatch_core::duration::parse)]
        interval: Duration,
    },
    Load {
        #[arg(long, default_value_t = 1000)]
        participants: usize,
        #[arg(long, default_value = "60s", value_parser = qoswatch_core::duration::parse)]
        interval: Duration,
        #[arg(long, default_value = "120s", value_parser = qoswatch_core::duration::parse)]
        window: Duration,
    },
    Balance {
        #[arg(long, default_value_t = 3)]
        trials: u32,
        #[arg(long, default_value_t = 60)]
        participants: usize,
        /// Zoom's per-second rate for the account (`zoom.requests_per_second`).
        #[arg(long, default_value_t = 10)]
        rate: u32,
        /// `polling.interval` (fixed mode): short, so the rate binds.
        #[arg(long, default_value = "1s", value_parser = qoswatch_core::duration::parse)]
        interval: Duration,
        /// `store.lease_ttl` (heartbeat: a third of it).
        #[arg(long, default_value = "30s", value_parser = qoswatch_core::duration::parse)]
        ttl: Duration,
        /// How long the balanced (and the single replica's) rate is measured.
        #[arg(long, default_value = "20s", value_parser = qoswatch_core::duration::parse)]
        window: Duration,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.bin.exists() {
        bail!(
            "{} not found: cargo build --release --bin qoswatch",
            args.bin.display()
        );
    }
    let server = std::env::var("QOSWATCH_BENCH_DATABASE_URL")
        .context("set QOSWATCH_BENCH_DATABASE_URL (scripts/test-postgres.sh start)")?;
    match args.what {
        What::Takeover {
            trials,
            participants,
            ttl,
            interval,
        } => takeover(&args.bin, &server, trials, participants, ttl, interval).await,
        What::Load {
            participants,
            interval,
            window,
        } => load(&args.bin, &server, participants, interval, window).await,
        What::Balance {
            trials,
            participants,
            rate,
            interval,
            ttl,
            window,
        } => {
            let how = Balance {
                participants,
                rate,
                interval,
                ttl,
                window,
            };
            balance(&args.bin, &server, trials, &how).await
        }
    }
}

async fn fresh_database(server: &str) -> anyhow::Result<String> {
    let name = format!("qw_bench_{:012x}", rand::random::<u64>() >> 16);
    let mut admin = sqlx::PgConnection::connect(server).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let (base, _) = server.rsplit_once('/').context("a URL with a database")?;
    Ok(format!("{base}/{name}"))
}

struct Replica {
    /// The test kit's process harness.
    process: Process,
    address: SocketAddr,
    admin: SocketAddr,
}

impl Replica {
    async fn start(
        bin: &Path,
        dir: &Path,
        sim: &SimHandle,
        database: &str,
        name: &str,
        yaml: &str,
    ) -> anyhow::Result<Replica> {
        Self::start_at_rate(bin, dir, sim, database, name, yaml, 40).await
    }

    /// [`Replica::start`] with Zoom's per-second rate for the account.
    async fn start_at_rate(
        bin: &Path,
        dir: &Path,
        sim: &SimHandle,
        database: &str,
        name: &str,
        yaml: &str,
        rate: u32,
    ) -> anyhow::Result<Replica> {
        let config = dir.join(format!("{name}.yaml"));
        std::fs::write(
            &config,
            format!(
                "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n\
                 zoom:\n  api_base: {}\n  token_url: {}\n  daily_limit: 50000000\n  requests_per_second: {rate}\n  rate_share: 1.0\n\
                 store:\n  replica_name: {name}\n{yaml}",
                sim.api_base(),
                sim.token_url()
            ),
        )?;
        let mut process = Spawn::serve(bin, &zoom_env(sim, SECRET))
            .env_remove("QOSWATCH_LOG_FILTER")
            .arg("--config")
            .arg(&config)
            .env("QOSWATCH_DATABASE_URL", database)
            .try_start()?;
        let within = Duration::from_secs(30);
        let address = process
            .try_address("qoswatch listening", within)
            .await
            .map_err(anyhow::Error::msg)?;
        let admin = process
            .try_address("admin listener: status page", within)
            .await
            .map_err(anyhow::Error::msg)?;
        Ok(Replica {
            process,
            address,
            admin,
        })
    }

    fn signal(&self, signal: &str) {
        self.process.signal(signal);
    }
}

/// `participants` join in meetings of ten; `to(i)` picks the replica told.
async fn join_all(
    sim: &SimHandle,
    participants: usize,
    to: impl Fn(usize) -> SocketAddr,
) -> anyhow::Result<Vec<String>> {
    let mut users = Vec::new();
    let mut meeting = None;
    for i in 0..participants {
        if i % 10 == 0 {
            let spec = MeetingSpec::new(
                format!("bEnChMeEtInG{:08}uUiD==", i / 10),
                84_000_000_000 + (i / 10) as u64,
                "Bench",
            );
            sim.add_meeting(spec.clone())?;
            meeting = Some(spec);
        }
        let meeting = meeting.as_ref().context("meeting")?;
        let user = format!("{}", 17_000_000 + i);
        let person = ParticipantSpec::new(&user, format!("Person {i}"));
        sim.add_participant(&meeting.uuid, person.clone())?;
        let sender = WebhookSender::new(
            &format!("http://{}/webhooks/zoom", to(i)),
            SecretString::from(SECRET.to_owned()),
        )?;
        let now = sim.sim_now();
        let answer = sender
            .participant_joined(meeting, now, &person, now)
            .await?;
        if answer.status != 200 {
            bail!("join answered {}", answer.status);
        }
        users.push(user);
    }
    Ok(users)
}

/// Per participant, (arrival, token) of every QoS request so far.
fn polls(sim: &SimHandle) -> BTreeMap<String, Vec<(Instant, String)>> {
    let mut polls: BTreeMap<String, Vec<(Instant, String)>> = BTreeMap::new();
    for request in sim.qos_requests() {
        if let Some(user) = request.raw_path.rsplit('/').nth(1) {
            polls.entry(user.to_owned()).or_default().push((
                request.arrived_at.into_std(),
                request.bearer_token.clone().unwrap_or_default(),
            ));
        }
    }
    polls
}

async fn takeover(
    bin: &Path,
    server: &str,
    trials: u32,
    participants: usize,
    ttl: Duration,
    interval: Duration,
) -> anyhow::Result<()> {
    let yaml = format!(
        "  lease_ttl: {}ms\npolling:\n  mode: fixed\n  interval: {}ms\n",
        ttl.as_millis(),
        interval.as_millis()
    );
    println!(
        "takeover: {participants} participants in meetings of 10, lease_ttl {ttl:?} \
         (heartbeat {:?}), fixed polling every {interval:?}",
        ttl / 3
    );
    println!(
        "| how A stops | trial | first participant polled by B | last participant polled by B |"
    );
    println!("|---|---:|---:|---:|");
    for how in ["SIGKILL", "SIGTERM"] {
        for trial in 1..=trials {
            let dir = tempfile::tempdir()?;
            let sim = Simulator::start(SimConfig::default(), "127.0.0.1:0".parse()?).await?;
            let database = fresh_database(server).await?;
            let a = Replica::start(bin, dir.path(), &sim, &database, "a", &yaml).await?;
            let b = Replica::start(bin, dir.path(), &sim, &database, "b", &yaml).await?;
            let users = join_all(&sim, participants, |_| a.address).await?;
            let polled = eventually(interval * 3 + Duration::from_secs(10), || {
                let polls = polls(&sim);
                users.iter().all(|u| polls.contains_key(u))
            })
            .await;
            if !polled {
                bail!("not every participant polled before the stop");
            }
            let a_tokens: BTreeSet<String> = polls(&sim)
                .values()
                .flatten()
                .map(|(_, t)| t.clone())
                .collect();
            let stopped = Instant::now();
            a.signal(if how == "SIGKILL" { "-KILL" } else { "-TERM" });
            let taken = |polls: &BTreeMap<String, Vec<(Instant, String)>>, user: &String| {
                polls.get(user).and_then(|p| {
                    p.iter()
                        .find(|(at, token)| *at > stopped && !a_tokens.contains(token))
                        .map(|(at, _)| at.duration_since(stopped))
                })
            };
            let all = eventually(ttl * 2 + interval + Duration::from_secs(10), || {
                let polls = polls(&sim);
                users.iter().all(|u| taken(&polls, u).is_some())
            })
            .await;
            if !all {
                bail!("B did not take everyone over:\n{}", b.process.logs());
            }
            let polls = polls(&sim);
            let times: Vec<Duration> = users.iter().filter_map(|u| taken(&polls, u)).collect();
            let first = times.iter().min().copied().unwrap_or_default();
            let last = times.iter().max().copied().unwrap_or_default();
            println!(
                "| {how} | {trial} | {:.2} s | {:.2} s |",
                first.as_secs_f64(),
                last.as_secs_f64()
            );
            drop(b);
            drop(a);
        }
    }
    Ok(())
}

async fn db_counters(url: &str) -> anyhow::Result<[i64; 6]> {
    let mut connection = sqlx::PgConnection::connect(url).await?;
    let row = sqlx::query(
        "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted, tup_returned, tup_fetched \
         FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut connection)
    .await?;
    Ok([
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
    ])
}

/// `qoswatch_cluster_heartbeat_seconds` sum and count from `/metrics`.
async fn heartbeat_metric(admin: SocketAddr) -> anyhow::Result<(f64, f64)> {
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await?
        .text()
        .await?;
    let value = |name: &str| {
        text.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok((
        value("qoswatch_cluster_heartbeat_seconds_sum"),
        value("qoswatch_cluster_heartbeat_seconds_count"),
    ))
}

async fn load(
    bin: &Path,
    server: &str,
    participants: usize,
    interval: Duration,
    window: Duration,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let sim = Simulator::start(SimConfig::default(), "127.0.0.1:0".parse()?).await?;
    let database = fresh_database(server).await?;
    let yaml = format!(
        "polling:\n  mode: fixed\n  interval: {}ms\n  max_watchers: 100000\n",
        interval.as_millis()
    );
    let a = Replica::start(bin, dir.path(), &sim, &database, "a", &yaml).await?;
    let b = Replica::start(bin, dir.path(), &sim, &database, "b", &yaml).await?;
    let addresses = [a.address, b.address];
    let users = join_all(&sim, participants, |i| addresses[i % 2]).await?;
    let polled = eventually(interval * 2 + Duration::from_secs(60), || {
        let polls = polls(&sim);
        users.iter().all(|u| polls.contains_key(u))
    })
    .await;
    if !polled {
        bail!("not every participant polled");
    }
    let before = db_counters(&database).await?;
    let beats_before = [
        heartbeat_metric(a.admin).await?,
        heartbeat_metric(b.admin).await?,
    ];
    let requests_before = sim.request_counts().qos();
    tokio::time::sleep(window).await;
    let after = db_counters(&database).await?;
    let beats_after = [
        heartbeat_metric(a.admin).await?,
        heartbeat_metric(b.admin).await?,
    ];
    let requests = sim.request_counts().qos() - requests_before;
    let seconds = window.as_secs_f64();
    let per_1000 = 1000.0 / participants as f64;
    let names = [
        "commits",
        "rows inserted",
        "rows updated",
        "rows deleted",
        "rows returned (scans)",
        "rows fetched (index)",
    ];
    println!(
        "load: {participants} watches in meetings of 10 on 2 replicas, fixed polling every \
         {interval:?}; {requests} Zoom requests in {seconds:.0} s ({:.1}/s)",
        requests as f64 / seconds
    );
    println!("| database counter | per second | per second per 1,000 watches |");
    println!("|---|---:|---:|");
    for (i, name) in names.iter().enumerate() {
        let rate = (after[i] - before[i]) as f64 / seconds;
        println!("| {name} | {rate:.1} | {:.1} |", rate * per_1000);
    }
    for (name, (before, after)) in ["a", "b"].iter().zip(beats_before.iter().zip(&beats_after)) {
        let count = after.1 - before.1;
        let mean = if count > 0.0 {
            (after.0 - before.0) / count * 1000.0
        } else {
            0.0
        };
        println!("replica {name}: {count:.0} heartbeats, mean {mean:.2} ms each");
    }
    Ok(())
}

struct Balance {
    participants: usize,
    rate: u32,
    interval: Duration,
    ttl: Duration,
    window: Duration,
}

/// A gauge or counter of a replica's `/metrics` (0 when absent).
async fn metric_of(admin: SocketAddr, name: &str) -> anyhow::Result<f64> {
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await?
        .text()
        .await?;
    Ok(qoswatch_testkit::metric_value(&text, name).unwrap_or(0.0))
}

/// QoS requests a second at the simulator over `window`, from now.
async fn request_rate(sim: &SimHandle, window: Duration) -> f64 {
    request_rates(sim, window).await.0
}

/// QoS requests a second at the simulator over `window`, from now: in all,
/// and per replica (by OAuth token; each replica has its own), largest
/// first.
async fn request_rates(sim: &SimHandle, window: Duration) -> (f64, Vec<f64>) {
    let from = tokio::time::Instant::now();
    let before = sim.request_counts().qos();
    tokio::time::sleep(window).await;
    let total = (sim.request_counts().qos() - before) as f64 / window.as_secs_f64();
    let mut by_token: BTreeMap<String, f64> = BTreeMap::new();
    for request in sim.qos_requests() {
        if request.arrived_at >= from {
            *by_token
                .entry(request.bearer_token.clone().unwrap_or_default())
                .or_default() += 1.0 / window.as_secs_f64();
        }
    }
    let mut rates: Vec<f64> = by_token.into_values().collect();
    rates.sort_by(|a, b| b.total_cmp(a));
    (total, rates)
}

async fn balance(bin: &Path, server: &str, trials: u32, how: &Balance) -> anyhow::Result<()> {
    let yaml = format!(
        "  lease_ttl: {}ms\npolling:\n  mode: fixed\n  interval: {}ms\n",
        how.ttl.as_millis(),
        how.interval.as_millis()
    );
    let meetings = how.participants.div_ceil(10);
    let heartbeat = how.ttl / 3;
    println!(
        "balance: {} participants in {meetings} meetings of 10, all joined through replica A of 3; \
         Zoom rate {}/s for the account, fixed polling every {:?} (asks for {:.0}/s); \
         lease_ttl {:?}, heartbeat {heartbeat:?}",
        how.participants,
        how.rate,
        how.interval,
        how.participants as f64 / how.interval.as_secs_f64(),
        how.ttl,
    );
    // One replica alone at the same rate: the capacity to compare with.
    let single = {
        let dir = tempfile::tempdir()?;
        let sim = Simulator::start(SimConfig::default(), "127.0.0.1:0".parse()?).await?;
        let database = fresh_database(server).await?;
        let one = Replica::start_at_rate(bin, dir.path(), &sim, &database, "solo", &yaml, how.rate)
            .await?;
        join_all(&sim, how.participants, |_| one.address).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let rate = request_rate(&sim, how.window).await;
        drop(one);
        rate
    };
    println!("one replica alone: {single:.2} QoS requests/s");
    println!(
        "| trial | leases held A/B/C after the joins | first shed after | within ceil(m/3)+1 after (heartbeats) | even after (heartbeats) | leases held at the end | requests/s skewed (window) | requests/s after | after / skewed | after / one replica |"
    );
    println!("|---:|---|---:|---:|---:|---|---:|---:|---:|---:|");
    for trial in 1..=trials {
        let dir = tempfile::tempdir()?;
        let sim = Simulator::start(SimConfig::default(), "127.0.0.1:0".parse()?).await?;
        let database = fresh_database(server).await?;
        let mut replicas = Vec::new();
        for name in ["a", "b", "c"] {
            replicas.push(
                Replica::start_at_rate(bin, dir.path(), &sim, &database, name, &yaml, how.rate)
                    .await?,
            );
        }
        // Every replica has seen the other two before the joins.
        for replica in &replicas {
            let admin = replica.admin;
            let deadline = Instant::now() + how.ttl * 2;
            while metric_of(admin, "qoswatch_cluster_replicas").await? < 3.0 {
                if Instant::now() > deadline {
                    bail!("the replicas did not see each other");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let a = replicas[0].address;
        join_all(&sim, how.participants, |_| a).await?;
        let joined = Instant::now();
        // Unexpired leases per replica, from the shared database (the
        // replicas' own gauge is only set at their heartbeats).
        let mut db = sqlx::PgConnection::connect(&database).await?;
        let mut held = async || {
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "SELECT owner, count(*) FROM leases WHERE owner IS NOT NULL \
                 AND expires_at > now() GROUP BY owner",
            )
            .fetch_all(&mut db)
            .await?;
            let count = |name: &str| {
                rows.iter()
                    .find(|(owner, _)| owner.starts_with(&format!("{name}-")))
                    .map_or(0, |(_, n)| *n as usize)
            };
            anyhow::Ok(vec![count("a"), count("b"), count("c")])
        };
        let at_join = held().await?;
        let fair = meetings.div_ceil(3);
        let (mut first_shed, mut even) = (None, None);
        let mut skewed = None;
        // From one interval after the joins (the first polls), while A
        // holds everything.
        let ramp = how.interval + Duration::from_millis(500);
        let mut ramped: Option<(Instant, u64)> = None;
        let deadline = joined + heartbeat * 6;
        let mut timeline: Vec<(Duration, Vec<usize>)> = Vec::new();
        let mut bounded = None;
        while even.is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = held().await?;
            if ramped.is_none() && joined.elapsed() >= ramp {
                ramped = Some((Instant::now(), sim.request_counts().qos()));
            }
            if first_shed.is_none() && now[0] < meetings {
                first_shed = Some(joined.elapsed());
                skewed = ramped.map(|(from, count)| {
                    let secs = from.elapsed().as_secs_f64();
                    ((sim.request_counts().qos() - count) as f64 / secs, secs)
                });
            }
            if timeline.last().is_none_or(|(_, last)| *last != now) {
                timeline.push((joined.elapsed(), now.clone()));
            }
            // The issue's bound: nobody above ceil(meetings / replicas) + 1.
            if bounded.is_none()
                && now.iter().all(|h| *h <= fair + 1)
                && now.iter().sum::<usize>() == meetings
            {
                bounded = Some(joined.elapsed());
            }
            if now.iter().all(|h| *h <= fair) && now.iter().sum::<usize>() == meetings {
                even = Some(joined.elapsed());
            }
        }
        let shape = timeline
            .iter()
            .map(|(at, held)| {
                let held: Vec<String> = held.iter().map(usize::to_string).collect();
                format!("{:.1} s {}", at.as_secs_f64(), held.join("/"))
            })
            .collect::<Vec<_>>()
            .join(", ");
        println!("trial {trial}: leases held A/B/C over time: {shape}");
        let Some(bounded) = bounded else {
            bail!("not within ceil(meetings / 3) + 1 each within ten heartbeats");
        };
        let even = even.unwrap_or(bounded);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (balanced, per_replica) = request_rates(&sim, how.window).await;
        // All the work on one replica: what that replica's part of the
        // rate allows (each replica has floor(rate / 3)), as measured here
        // at the busiest one.
        let one_part = per_replica.first().copied().unwrap_or(f64::NAN);
        println!(
            "trial {trial}: requests/s per replica after: {}; the cluster against its busiest replica alone (the skewed cluster's capacity): {:.2}",
            per_replica
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
            balanced / one_part
        );
        let (skew_rate, skew_secs) = skewed.unwrap_or((f64::NAN, 0.0));
        println!(
            "| {trial} | {} | {:.1} s | {:.1} s ({:.1}) | {} | {} | {skew_rate:.2} ({skew_secs:.1} s) | {balanced:.2} | {:.2} | {:.2} |",
            at_join
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("/"),
            first_shed.unwrap_or_default().as_secs_f64(),
            bounded.as_secs_f64(),
            bounded.as_secs_f64() / heartbeat.as_secs_f64(),
            if even == bounded
                && timeline
                    .last()
                    .is_some_and(|(_, h)| h.iter().any(|h| *h > fair))
            {
                "never".to_owned()
            } else {
                format!(
                    "{:.1} s ({:.1})",
                    even.as_secs_f64(),
                    even.as_secs_f64() / heartbeat.as_secs_f64()
                )
            },
            timeline
                .last()
                .map(|(_, h)| h.iter().map(usize::to_string).collect::<Vec<_>>().join("/"))
                .unwrap_or_default(),
            balanced / skew_rate,
            balanced / single,
        );
        drop(replicas);
    }
    Ok(())
}
