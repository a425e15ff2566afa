//! Several Zoom accounts against one (issue 27): the same number of
//! participants watched by one `qoswatch serve` process, once as one account
//! (configured as before accounts existed: `zoom:` and `ZOOM_*`) and once
//! spread over `--accounts` accounts (`accounts:`, a token, budget and plan
//! each, webhooks at `/webhooks/zoom/{account}`).
//!
//! The Zoom simulator runs in this process and plays every account;
//! qoswatch is the release binary as a child process (in-memory store, no
//! rules, `polling.mode: fixed`, one poll per participant per `--interval`,
//! logs at `warn`). Every participant joins a meeting of ten through a
//! signed webhook; each has been in the meeting `--history` minutes already
//! (answers of that many samples, one new per `--interval`). After
//! `--warmup` (the first polls read the whole series), over `--window`:
//! qoswatch's CPU (utime + stime of `/proc/PID/stat`) as % of one core, its
//! RSS at the end and its peak (`VmHWM`, which includes the first polls),
//! and the Zoom requests the simulator counted per participant-minute
//! (`request_counts_of` each account, which never drops).
//!
//! ```sh
//! cargo build --release --bin qoswatch --example accounts_load
//! target/release/examples/accounts_load                         # 20 x 500 against 1 x 10,000
//! target/release/examples/accounts_load --participants 1000 --history 0 --warmup 65s --window 30s
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use qoswatch_testkit::{
    Process, Spawn, ZoomAccount, zoom_accounts_env, zoom_accounts_yaml, zoom_env,
};
use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{MeetingSpec, ParticipantSpec, SimAccount, SimConfig, SimHandle, Simulator};
use secrecy::SecretString;

#[derive(Debug, Parser)]
#[command(about = "CPU, memory and Zoom requests: several accounts against one")]
struct Args {
    /// The qoswatch binary.
    #[arg(long, default_value = "target/release/qoswatch")]
    bin: PathBuf,
    /// Participants in all, the same in both runs.
    #[arg(long, default_value_t = 10_000)]
    participants: usize,
    /// Accounts of the second run (the participants split evenly).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(2..=100))]
    accounts: u32,
    /// Minutes every participant has been in the meeting already.
    #[arg(long, default_value_t = 120)]
    history: u32,
    /// The poll interval and the simulator's sample period (Zoom's minute).
    #[arg(long, default_value = "60s", value_parser = qoswatch_core::duration::parse)]
    interval: Duration,
    /// From the last join to the start of the measurement.
    #[arg(long, default_value = "180s", value_parser = qoswatch_core::duration::parse)]
    warmup: Duration,
    /// How long to measure.
    #[arg(long, default_value = "60s", value_parser = qoswatch_core::duration::parse)]
    window: Duration,
    /// Pairs of runs (one account, then several), one after the other.
    #[arg(long, default_value_t = 1)]
    rounds: u32,
}

/// One account of a run: its short name in qoswatch, its simulator
/// account id, its webhook secret.
struct RunAccount {
    name: String,
    account_id: String,
    secret: String,
}

impl RunAccount {
    fn zoom(&self) -> ZoomAccount<'_> {
        ZoomAccount {
            name: &self.name,
            account_id: &self.account_id,
            webhook_secret: &self.secret,
        }
    }
}

/// What one run measured.
struct Row {
    accounts: u32,
    participants: usize,
    joins: Duration,
    rss_before: u64,
    rss_end: u64,
    rss_peak: u64,
    cpu_warmup: f64,
    cpu_window: f64,
    requests: u64,
    tokens: u64,
    refused: u64,
    window: Duration,
    /// Zoom's minute here: the sample period.
    minute: Duration,
    load: String,
}

impl Row {
    /// Requests per participant per sample period (Zoom's minute).
    fn per_participant_minute(&self) -> f64 {
        let minutes = self.window.as_secs_f64() / self.minute.as_secs_f64();
        self.requests as f64 / (self.participants as f64 * minutes)
    }
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
    if args.participants % (args.accounts as usize * 10) != 0 {
        bail!("--participants must split into meetings of ten in every account");
    }
    println!(
        "accounts_load: {} participants in meetings of 10, one poll each per {:?}, {} min of \
         history; 1 account against {}; warm-up {:?}, window {:?}",
        args.participants, args.interval, args.history, args.accounts, args.warmup, args.window
    );
    println!("load average at start: {}", load_average());
    let mut rows = Vec::new();
    for round in 1..=args.rounds {
        for accounts in [1, args.accounts] {
            let row = run(&args, accounts).await?;
            print_row(round, &row);
            rows.push(row);
        }
    }
    println!();
    println!(
        "| accounts x participants | RSS before the joins | RSS at the end | peak RSS | CPU, joins + first polls (% core) | CPU, steady (% core) | Zoom requests in the window | per participant-minute | token requests | 429s | load average (1/5/15) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for row in &rows {
        println!(
            "| {} x {} | {} MiB | {} MiB | {} MiB | {:.1} % | {:.1} % | {} | {:.3} | {} | {} | {} |",
            row.accounts,
            row.participants / row.accounts as usize,
            row.rss_before >> 20,
            row.rss_end >> 20,
            row.rss_peak >> 20,
            row.cpu_warmup,
            row.cpu_window,
            row.requests,
            row.per_participant_minute(),
            row.tokens,
            row.refused,
            row.load,
        );
    }
    for pair in rows.chunks(2) {
        if let [one, many] = pair {
            println!(
                "{} accounts / 1: steady CPU {:.2}, RSS at the end {:.2}, peak RSS {:.2}, requests per participant-minute {:.3}",
                many.accounts,
                many.cpu_window / one.cpu_window.max(f64::EPSILON),
                many.rss_end as f64 / one.rss_end.max(1) as f64,
                many.rss_peak as f64 / one.rss_peak.max(1) as f64,
                many.per_participant_minute() / one.per_participant_minute().max(f64::EPSILON),
            );
        }
    }
    println!("load average at the end: {}", load_average());
    Ok(())
}

fn print_row(round: u32, row: &Row) {
    println!(
        "round {round}, {} account(s): joins {:.1} s; RSS {} -> {} MiB (peak {} MiB); CPU {:.1} % \
         through the warm-up, {:.1} % steady; {} Zoom requests in {:?} ({:.3} per \
         participant-minute), {} token requests, {} answered 429; load {}",
        row.accounts,
        row.joins.as_secs_f64(),
        row.rss_before >> 20,
        row.rss_end >> 20,
        row.rss_peak >> 20,
        row.cpu_warmup,
        row.cpu_window,
        row.requests,
        row.window,
        row.per_participant_minute(),
        row.tokens,
        row.refused,
        row.load,
    );
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" / ")
        })
        .unwrap_or_default()
}

/// The simulator playing `count` accounts, every participant `history`
/// minutes into the meeting.
async fn simulator(args: &Args, count: u32) -> anyhow::Result<SimHandle> {
    let config = SimConfig {
        sample_period: args.interval,
        history_minutes: args.history,
        live_window: args.history.max(30),
        extra_accounts: (2..=count).map(SimAccount::numbered).collect(),
        ..SimConfig::default()
    };
    Simulator::start(config, "127.0.0.1:0".parse()?)
        .await
        .context("starting the simulator")
}

/// The run's accounts: the simulator's, named `acct01`… (one: `default`,
/// the single account configured as before accounts existed).
fn run_accounts(sim: &SimHandle, count: u32) -> Vec<RunAccount> {
    sim.accounts()
        .iter()
        .take(count as usize)
        .enumerate()
        .map(|(i, account)| RunAccount {
            name: if count == 1 {
                "default".to_owned()
            } else {
                format!("acct{:02}", i + 1)
            },
            account_id: account.credentials.account_id.clone(),
            secret: format!("accounts-load-webhook-secret-{i:02}"),
        })
        .collect()
}

/// Writes the settings and starts `qoswatch serve`; waits for its listener.
async fn start_qoswatch(
    args: &Args,
    dir: &Path,
    sim: &SimHandle,
    accounts: &[RunAccount],
) -> anyhow::Result<(Process, std::net::SocketAddr)> {
    let zoom: Vec<ZoomAccount<'_>> = accounts.iter().map(RunAccount::zoom).collect();
    let (env, accounts_yaml) = if accounts.len() == 1 {
        (zoom_env(sim, &accounts[0].secret), String::new())
    } else {
        (
            zoom_accounts_env(sim, &zoom),
            zoom_accounts_yaml(sim, &zoom),
        )
    };
    let config = dir.join("qoswatch.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n\
             zoom:\n  api_base: {api}\n  token_url: {token}\n  request_timeout: 10s\n  \
             daily_limit: 100000000\n  requests_per_second: 1000\n  rate_share: 1.0\n  daily_share: 1.0\n\
             polling:\n  mode: fixed\n  interval: {interval}ms\n  max_watchers: {max}\n\
             {accounts_yaml}",
            api = sim.api_base(),
            token = sim.token_url(),
            interval = args.interval.as_millis(),
            max = args.participants + 100,
        ),
    )?;
    let mut process = Spawn::serve(&args.bin, &env)
        .env("QOSWATCH_LOG_FILTER", "warn,qoswatch::startup=info")
        .env("QOSWATCH_DATA_DIR", "")
        .env("QOSWATCH_RULES_FILE", "")
        .arg("--config")
        .arg(&config)
        .try_start()?;
    let address = process
        .try_address("qoswatch listening", Duration::from_secs(30))
        .await
        .map_err(anyhow::Error::msg)?;
    Ok((process, address))
}

/// Every participant joins at the simulator and through a signed webhook
/// to their account's URL, in meetings of ten.
async fn join_all(
    sim: &SimHandle,
    address: std::net::SocketAddr,
    accounts: &[RunAccount],
    each: usize,
) -> anyhow::Result<()> {
    for account in accounts {
        let path = if accounts.len() == 1 {
            "/webhooks/zoom".to_owned()
        } else {
            format!("/webhooks/zoom/{}", account.name)
        };
        let sender = WebhookSender::new(
            &format!("http://{address}{path}"),
            SecretString::from(account.secret.clone()),
        )?
        .with_account_id(&account.account_id);
        for m in 0..each / 10 {
            // The same meeting UUIDs and user ids in every account.
            let meeting = MeetingSpec::new(
                format!("aCcLoAd{m:05}MeEtInGuUiD=="),
                84_000_000_000 + m as u64,
                format!("Load meeting {m}"),
            )
            .in_account(&account.account_id);
            sim.add_meeting(meeting.clone())?;
            for p in 0..10 {
                let person = ParticipantSpec::new(
                    format!("{}", 20_000_000 + m * 10 + p),
                    format!("Load Person {m}-{p}"),
                );
                sim.add_participant_in(&account.account_id, &meeting.uuid, person.clone())?;
                let now = sim.sim_now();
                let answer = sender
                    .participant_joined(&meeting, now, &person, now)
                    .await?;
                if answer.status != 200 {
                    bail!("participant_joined answered {}", answer.status);
                }
            }
        }
    }
    Ok(())
}

/// Zoom's counts over the run's accounts: (QoS requests, token requests, 429s).
fn counts(sim: &SimHandle, accounts: &[RunAccount]) -> anyhow::Result<(u64, u64, u64)> {
    let mut total = (0, 0, 0);
    for account in accounts {
        let counts = sim.request_counts_of(&account.account_id)?;
        total.0 += counts.qos();
        total.1 += counts.token;
        total.2 += counts.rate_limited;
    }
    Ok(total)
}

async fn run(args: &Args, count: u32) -> anyhow::Result<Row> {
    let sim = simulator(args, count).await?;
    let accounts = run_accounts(&sim, count);
    let dir = tempfile::tempdir()?;
    let (process, address) = start_qoswatch(args, dir.path(), &sim, &accounts).await?;
    let rss_before = process.rss();
    let cpu_start = process.cpu_time();
    let joining = Instant::now();
    join_all(&sim, address, &accounts, args.participants / count as usize).await?;
    let joins = joining.elapsed();
    tokio::time::sleep(args.warmup).await;
    let warmed = joining.elapsed();
    let polled = counts(&sim, &accounts)?.0;
    if (polled as usize) < args.participants {
        bail!(
            "only {polled} polls for {} participants after the warm-up:\n{}",
            args.participants,
            process.logs()
        );
    }
    let cpu_before = process.cpu_time();
    let before = counts(&sim, &accounts)?;
    tokio::time::sleep(args.window).await;
    let cpu_after = process.cpu_time();
    let after = counts(&sim, &accounts)?;
    let row = Row {
        accounts: count,
        participants: args.participants,
        joins,
        rss_before,
        rss_end: process.rss(),
        rss_peak: process.peak_rss(),
        cpu_warmup: 100.0 * (cpu_before - cpu_start).as_secs_f64() / warmed.as_secs_f64(),
        cpu_window: 100.0 * (cpu_after - cpu_before).as_secs_f64() / args.window.as_secs_f64(),
        requests: after.0 - before.0,
        tokens: after.1,
        refused: after.2,
        window: args.window,
        minute: args.interval,
        load: load_average(),
    };
    drop(process);
    sim.shutdown().await;
    Ok(row)
}
