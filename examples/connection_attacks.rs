//! Replays issue 10's connection attacks (slow, idle and half-open clients;
//! `examples/attacks.rs` has the input attacks) against a `qoswatch serve` binary
//! and measures what they cost it: the binary's peak RSS (`VmHWM`), how
//! fast signed webhooks are answered during the attack, and, for the
//! half-open attack, how long SIGTERM takes.
//!
//! It starts the Zoom simulator in this process and the binary given by
//! `--bin` as a child (under `prlimit --nofile=N` with `--nofile N`), on
//! 127.0.0.1 with a temporary data directory and default settings, so two
//! builds (before and after a change) can be compared in one session:
//!
//! ```sh
//! cargo build --release --bin qoswatch
//! cargo run --release --example connection_attacks -- --bin target/release/qoswatch --attack slowloris
//! cargo run --release --example connection_attacks -- --bin target/release/qoswatch --attack idle-flood --connections 1100 --nofile 1024
//! cargo run --release --example connection_attacks -- --bin target/release/qoswatch --attack half-open
//! ```
//!
//! - `slowloris`: `--connections` clients send a request line, then one
//!   header line every `--every`, and open a new connection whenever the
//!   server closes theirs;
//! - `idle-flood`: `--connections` clients connect and send nothing (with
//!   `--reconnect`, they connect again when closed);
//! - `half-open`: one client sends `GET /healthz HTTP/1.1\r\n` and stops;
//!   after `--duration` the binary gets SIGTERM, and the time to exit is
//!   measured (SIGKILL after `--exit-wait`).
//!
//! Meanwhile a signed `participant_joined` (a new participant each time) is
//! sent on a new connection every `--probe-every`, with a 5 s timeout.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Parser, ValueEnum};
use qoswatch_testkit::{Process, Spawn, zoom_env};
use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{MeetingSpec, ParticipantSpec, SimConfig, Simulator};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

const SECRET: &str = "attack-example-webhook-secret";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Attack {
    Slowloris,
    IdleFlood,
    HalfOpen,
}

#[derive(Debug, Parser)]
#[command(about = "Connection attacks against a qoswatch binary (loopback only)")]
struct Args {
    /// The qoswatch binary to attack.
    #[arg(long)]
    bin: PathBuf,
    #[arg(long, value_enum)]
    attack: Attack,
    /// Attacking connections held at once.
    #[arg(long, default_value_t = 500)]
    connections: usize,
    /// Slowloris: time between two header lines.
    #[arg(long, default_value = "5s", value_parser = qoswatch_core::duration::parse)]
    every: Duration,
    /// How long the attack lasts (before SIGTERM, for half-open).
    #[arg(long, default_value = "30s", value_parser = qoswatch_core::duration::parse)]
    duration: Duration,
    /// Idle flood: connect again when the server closes a connection.
    #[arg(long)]
    reconnect: bool,
    /// Open-file limit of the binary (soft and hard), through prlimit.
    #[arg(long)]
    nofile: Option<u64>,
    /// Time between two signed webhooks.
    #[arg(long, default_value = "500ms", value_parser = qoswatch_core::duration::parse)]
    probe_every: Duration,
    /// Connects in flight at once (a flood ramps up; all at once, the
    /// system's listen queue decides who gets in).
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Extra environment for the binary, as NAME=VALUE (repeatable), e.g.
    /// QOSWATCH_HEADER_READ_TIMEOUT=60s.
    #[arg(long = "env", value_parser = name_value)]
    envs: Vec<(String, String)>,
    /// Half-open: how long to wait for the exit after SIGTERM before SIGKILL.
    #[arg(long, default_value = "40s", value_parser = qoswatch_core::duration::parse)]
    exit_wait: Duration,
}

fn name_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .ok_or_else(|| "expected NAME=VALUE".to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Thousands of sockets on this side too.
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("cannot raise this process's open-file limit: {error}");
    }
    let sim = Simulator::start(SimConfig::default(), "127.0.0.1:0".parse()?).await?;
    let data = tempfile::tempdir()?;
    let mut target = Target::start(&args, &sim, data.path())?;
    let address = target.address(Duration::from_secs(30)).await?;
    let count = match args.attack {
        Attack::HalfOpen => 1,
        _ => args.connections,
    };
    println!(
        "attack {:?} on {address} (pid {}), {count} connections{}",
        args.attack,
        target.process.pid(),
        args.nofile
            .map(|n| format!(", open-file limit {n}"))
            .unwrap_or_default()
    );
    let baseline_kib = target.peak_rss_kib()?;

    let stats = Arc::new(Stats::default());
    let attack_ends = Instant::now() + args.duration;
    let mut attackers = JoinSet::new();
    let connecting = Arc::new(tokio::sync::Semaphore::new(args.connect_concurrency.max(1)));
    for _ in 0..count {
        let plan = Plan {
            attack: args.attack,
            every: args.every,
            reconnect: args.reconnect || args.attack == Attack::Slowloris,
            until: attack_ends,
        };
        attackers.spawn(attacker(address, plan, stats.clone(), connecting.clone()));
    }
    let probes = probe(address, args.probe_every, attack_ends).await;
    let peak_kib = target.peak_rss_kib()?;
    let listener_series = listener_metrics(address).await;
    let exit = if args.attack == Attack::HalfOpen {
        Some(target.terminate(args.exit_wait).await?)
    } else {
        None
    };
    attackers.abort_all();

    println!(
        "peak RSS: {:.1} MiB (at start {:.1} MiB)",
        peak_kib as f64 / 1024.0,
        baseline_kib as f64 / 1024.0
    );
    println!(
        "attacking connections: {} opened, {} closed by the server, {} connects failed",
        stats.opened.load(Ordering::Relaxed),
        stats.closed.load(Ordering::Relaxed),
        stats.connect_failed.load(Ordering::Relaxed)
    );
    println!("{}", probes.summary());
    if let Some((took, status)) = exit {
        println!("SIGTERM to exit: {took:.2?} ({status})");
    }
    if !listener_series.is_empty() {
        println!("listener metrics: {}", listener_series.join(", "));
    }
    let warnings = target.warnings();
    println!("warnings and errors logged: {}", warnings.len());
    for line in warnings.iter().take(10) {
        println!("  {line}");
    }
    target.stop();
    Ok(())
}

/// The `qoswatch_http_*` series of `/metrics` (none before the listener
/// existed), read right after the attack.
async fn listener_metrics(address: SocketAddr) -> Vec<String> {
    let Ok(Ok(answer)) = tokio::time::timeout(
        Duration::from_secs(5),
        reqwest::get(format!("http://{address}/metrics")),
    )
    .await
    else {
        return vec!["(/metrics did not answer)".into()];
    };
    let text = answer.text().await.unwrap_or_default();
    text.lines()
        .filter(|line| line.starts_with("qoswatch_http_"))
        .map(str::to_owned)
        .collect()
}

/// The binary under attack (the test kit's process harness).
struct Target {
    process: Process,
}

impl Target {
    fn start(
        args: &Args,
        sim: &qoswatch_zoomsim::SimHandle,
        data: &std::path::Path,
    ) -> anyhow::Result<Target> {
        let mut spawn = Spawn::serve(&args.bin, &zoom_env(sim, SECRET))
            .env_remove("QOSWATCH_LOG_FILTER")
            .free_ports()
            .env("QOSWATCH_DATA_DIR", data.join("db").display().to_string())
            .env("QOSWATCH_ZOOM_API_BASE", sim.api_base())
            .env("QOSWATCH_ZOOM_TOKEN_URL", sim.token_url())
            .envs(args.envs.iter().cloned());
        let limit = args.nofile.map(|n| format!("--nofile={n}:{n}"));
        if let Some(limit) = &limit {
            spawn = spawn.through(&["prlimit", limit]);
        }
        let process = spawn.try_start().context("starting the binary")?;
        Ok(Target { process })
    }

    async fn address(&mut self, within: Duration) -> anyhow::Result<SocketAddr> {
        self.process
            .try_address("qoswatch listening", within)
            .await
            .map_err(|e| anyhow::anyhow!("the binary {e}"))
    }

    /// The log lines at WARN or ERROR level.
    fn warnings(&self) -> Vec<String> {
        self.process
            .logs()
            .lines()
            .filter(|line| {
                line.contains("\"level\":\"WARN\"") || line.contains("\"level\":\"ERROR\"")
            })
            .map(str::to_owned)
            .collect()
    }

    /// `VmHWM` (peak resident set) of the binary, in KiB.
    fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        match self.process.peak_rss() / 1024 {
            0 => bail!("no VmHWM line in the binary's /proc status"),
            kib => Ok(kib),
        }
    }

    /// SIGTERM, then the time to exit (SIGKILL after `wait`).
    async fn terminate(&mut self, wait: Duration) -> anyhow::Result<(Duration, String)> {
        if !self.process.signal("-TERM") {
            bail!("kill -TERM failed");
        }
        let started = Instant::now();
        match self.process.exit_within(wait).await {
            Some(status) => Ok((started.elapsed(), status.to_string())),
            None => {
                self.process.sigkill();
                Ok((
                    started.elapsed(),
                    "still running: killed with SIGKILL".into(),
                ))
            }
        }
    }

    fn stop(self) {
        drop(self.process);
    }
}

#[derive(Debug, Default)]
struct Stats {
    opened: AtomicUsize,
    closed: AtomicUsize,
    connect_failed: AtomicUsize,
}

#[derive(Debug, Clone, Copy)]
struct Plan {
    attack: Attack,
    every: Duration,
    reconnect: bool,
    until: Instant,
}

/// One attacking client: holds a connection as the plan says, until the
/// attack ends; opens another when the server closes it (if it reconnects).
async fn attacker(
    address: SocketAddr,
    plan: Plan,
    stats: Arc<Stats>,
    connecting: Arc<tokio::sync::Semaphore>,
) {
    while Instant::now() < plan.until {
        let Ok(permit) = connecting.acquire().await else {
            return;
        };
        let connected =
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(address)).await;
        drop(permit);
        let Ok(Ok(mut stream)) = connected else {
            stats.connect_failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        stats.opened.fetch_add(1, Ordering::Relaxed);
        let first: &[u8] = match plan.attack {
            Attack::Slowloris => b"POST /webhooks/zoom HTTP/1.1\r\n",
            Attack::HalfOpen => b"GET /healthz HTTP/1.1\r\n",
            Attack::IdleFlood => b"",
        };
        if stream.write_all(first).await.is_err() {
            stats.closed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let mut trickle = tokio::time::interval_at(Instant::now() + plan.every, plan.every);
        let mut buf = [0u8; 512];
        let closed_by_server = loop {
            tokio::select! {
                () = tokio::time::sleep_until(plan.until) => break false,
                read = stream.read(&mut buf) => match read {
                    Ok(0) | Err(_) => break true,
                    Ok(_) => {}
                },
                _ = trickle.tick(), if plan.attack == Attack::Slowloris => {
                    if stream.write_all(b"x-slow: loris\r\n").await.is_err() {
                        break true;
                    }
                }
            }
        };
        if !closed_by_server {
            // The attack is over: keep the connection open for the
            // half-open SIGTERM, which comes next.
            if plan.attack == Attack::HalfOpen {
                let _ = stream.read(&mut buf).await;
            }
            return;
        }
        stats.closed.fetch_add(1, Ordering::Relaxed);
        if !plan.reconnect {
            return;
        }
    }
}

/// What the signed webhooks got during the attack.
#[derive(Debug, Default)]
struct Probes {
    answered: Vec<Duration>,
    failed: Vec<String>,
}

impl Probes {
    fn summary(&self) -> String {
        let mut answered = self.answered.clone();
        answered.sort();
        let total = answered.len() + self.failed.len();
        let at = |q: f64| {
            answered
                .get(((answered.len() as f64 - 1.0) * q).round() as usize)
                .map(|d| format!("{:.1} ms", d.as_secs_f64() * 1000.0))
                .unwrap_or_else(|| "-".into())
        };
        let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
        for failure in &self.failed {
            *kinds.entry(failure.as_str()).or_default() += 1;
        }
        let failures: Vec<String> = kinds
            .iter()
            .map(|(kind, count)| format!("{count} × {kind}"))
            .collect();
        format!(
            "signed webhooks: {} of {total} answered 200; p50 {}, p99 {}, max {}{}",
            answered.len(),
            at(0.5),
            at(0.99),
            at(1.0),
            if failures.is_empty() {
                String::new()
            } else {
                format!("; failures: {}", failures.join(", "))
            }
        )
    }
}

/// A signed join on a new connection every `every` until `until`.
async fn probe(address: SocketAddr, every: Duration, until: Instant) -> Probes {
    static NEXT: AtomicU64 = AtomicU64::new(16_778_240);
    let meeting = MeetingSpec::new("AtTaCk0MeEtInG0uUiD0000==", 84_712_639_230, "Attack");
    let mut probes = Probes::default();
    let mut ticks = tokio::time::interval(every);
    while Instant::now() < until {
        ticks.tick().await;
        let Ok(sender) = WebhookSender::new(
            &format!("http://{address}/webhooks/zoom"),
            SecretString::from(SECRET.to_owned()),
        ) else {
            probes.failed.push("client".into());
            continue;
        };
        let participant =
            ParticipantSpec::new(NEXT.fetch_add(1, Ordering::Relaxed).to_string(), "Probe");
        let now = Utc::now();
        let started = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            sender.participant_joined(&meeting, now, &participant, now),
        )
        .await;
        match answer {
            Ok(Ok(answer)) if answer.status == 200 => probes.answered.push(started.elapsed()),
            Ok(Ok(answer)) => probes.failed.push(format!("status {}", answer.status)),
            Ok(Err(error)) => probes
                .failed
                .push(format!("{:#}", anyhow::Error::new(error))),
            Err(_) => probes.failed.push("no answer in 5 s".into()),
        }
    }
    probes
}
