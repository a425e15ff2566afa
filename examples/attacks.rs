//! The attacks of issue 10 against a `qoswatch` binary, at full size, with
//! what they cost: peak RSS of the qoswatch process (`VmHWM`), its CPU time,
//! and the time to answer a signed webhook sent every 50 ms meanwhile.
//! BENCHMARKS.md ("Hostile inputs") has the numbers, before and after.
//!
//! ```sh
//! cargo build --release --bin qoswatch
//! cargo run --release --example attacks -- --bin target/release/qoswatch
//! cargo run --release --example attacks -- --bin OLD_BUILD --attack flood
//! ```
//!
//! The simulator plays Zoom in this process; qoswatch runs as a child
//! process with the service's defaults except: loopback, 200 ms polls,
//! 40 requests/s. The attacks and the measurement code are those of
//! `tests/adversarial/` (shared through `#[path]`).

#[path = "../tests/adversarial/harness.rs"]
mod harness;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use qoswatch_zoomsim::{Endpoint, MeetingSpec, ParticipantSpec};

use harness::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Attack {
    Huge,
    Dots,
    Names,
    Logs,
    LongIds,
    Flood,
    All,
}

#[derive(Debug, Parser)]
struct Args {
    /// The qoswatch binary to attack.
    #[arg(long, default_value = "target/release/qoswatch")]
    bin: PathBuf,
    #[arg(long, value_enum, default_value = "all")]
    attack: Attack,
    /// `participant_left` webhooks in the flood.
    #[arg(long, default_value_t = 200_000)]
    lefts: usize,
    /// 50 MB answers in the huge-answer attack.
    #[arg(long, default_value_t = 20)]
    answers: usize,
    /// More variables for qoswatch, `NAME=VALUE` (repeatable).
    #[arg(long = "env", value_parser = name_value)]
    env: Vec<(String, String)>,
}

fn name_value(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or("expected NAME=VALUE")?;
    Ok((name.to_owned(), value.to_owned()))
}

impl Args {
    fn env(&self) -> Vec<(&str, String)> {
        self.env
            .iter()
            .map(|(name, value)| (name.as_str(), value.clone()))
            .collect()
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    println!("binary: {}", args.bin.display());
    let run = |attack| args.attack == Attack::All || args.attack == attack;
    if run(Attack::Huge) {
        huge(&args).await;
    }
    if run(Attack::Dots) {
        dots(&args).await;
    }
    if run(Attack::Names) {
        names(&args).await;
    }
    if run(Attack::Logs) {
        logs(&args).await;
    }
    if run(Attack::LongIds) {
        long_ids(&args).await;
    }
    if run(Attack::Flood) {
        flood(&args).await;
    }
}

/// 300 signed joins with 120 kB user ids (Zoom's are 8 to 10 digits).
async fn long_ids(args: &Args) {
    let sim = simulator().await;
    sim.add_meeting(MeetingSpec::new(MEETING, 84_712_639_219, "Weekly sync"))
        .expect("meeting");
    let service = Service::start(&args.bin, &sim, StoreKind::Disk, &args.env()).await;
    let baseline_rss = service.peak_rss();
    let log_before = service.stderr_bytes().len();
    let started = tokio::time::Instant::now();
    let probe = Probe::start(&service);
    let bodies = (0..300)
        .map(|i| joined_body(MEETING, &format!("{i:03}{}", "1".repeat(120_000)), "Long"))
        .collect();
    let statuses = send_all(&service, bodies, 8).await;
    // Let the watchers poll a few times (Zoom answers 404 for unknown ids).
    let watched = service.metric("qoswatch_watchers_active").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log_bytes = service.stderr_bytes().len() - log_before;
    let outcome = Outcome {
        baseline_rss,
        peak_rss: service.peak_rss(),
        probe: probe.finish().await,
        cpu: service.cpu_time(),
        elapsed: started.elapsed(),
    };
    let refused = statuses.iter().filter(|s| **s == 400).count();
    report(
        "300 joins with 120 kB user ids",
        &outcome,
        &format!(
            "answered 400: {refused}, watchers right after: {watched:?}, log bytes: {log_bytes}"
        ),
    );
    service.stop().await;
    sim.shutdown().await;
}

fn report(name: &str, outcome: &Outcome, extra: &str) {
    println!(
        "| {name} | {:.1} MiB | {:.1} MiB | {} | {:.1} s CPU in {:.1} s | {extra} |",
        mib(outcome.baseline_rss),
        mib(outcome.peak_rss),
        outcome.probe.summary(),
        outcome.cpu.as_secs_f64(),
        outcome.elapsed.as_secs_f64(),
    );
}

/// Four watchers while Zoom answers `answers` polls with 50 MB each.
async fn huge(args: &Args) {
    let sim = simulator().await;
    let service = Service::start(&args.bin, &sim, StoreKind::Disk, &args.env()).await;
    let outcome = huge_answers(&service, &sim, 4, args.answers).await;
    let too_large = service
        .metric("qoswatch_zoom_answers_too_large_total{answer=\"qos\"}")
        .await;
    let active = service.metric("qoswatch_watchers_active").await;
    report(
        &format!("{} answers of 50 MB, 4 watchers", args.answers),
        &outcome,
        &format!("too large: {too_large:?}, watchers still active: {active:?}"),
    );
    service.stop().await;
    sim.shutdown().await;
}

/// Joins with `.` and `..` ids; where the requests went.
async fn dots(args: &Args) {
    let sim = simulator().await;
    sim.add_meeting(MeetingSpec::new("..", 84_712_639_219, "Dots"))
        .expect("meeting");
    sim.add_participant("..", ParticipantSpec::new("16778240", "Jill"))
        .expect("participant");
    let service = Service::start(&args.bin, &sim, StoreKind::Disk, &args.env()).await;
    let baseline_rss = service.peak_rss();
    let started = tokio::time::Instant::now();
    let probe = Probe::start(&service);
    for (meeting, user) in [
        ("..", "16778240"),
        (MEETING, ".."),
        (".", "."),
        ("..", ".."),
    ] {
        service
            .post_signed(&joined_body(meeting, user, "Dot"))
            .await;
    }
    sim.wait_until(|log| log.len() >= 6, Duration::from_secs(10))
        .await;
    let log = sim.log();
    let elsewhere: Vec<String> = log
        .requests()
        .filter(|r| r.endpoint == Endpoint::Other)
        .map(|r| r.raw_path.clone())
        .collect();
    let outcome = Outcome {
        baseline_rss,
        peak_rss: service.peak_rss(),
        probe: probe.finish().await,
        cpu: service.cpu_time(),
        elapsed: started.elapsed(),
    };
    let mut paths: Vec<&str> = elsewhere.iter().map(String::as_str).collect();
    paths.sort();
    paths.dedup();
    report(
        "4 joins with . and .. ids",
        &outcome,
        &format!("requests off the QoS path: {} ({paths:?})", elsewhere.len()),
    );
    service.stop().await;
    sim.shutdown().await;
}

/// 2,000 made-up event names, every 100th 200 kB long.
async fn names(args: &Args) {
    let sim = simulator().await;
    let service = Service::start(&args.bin, &sim, StoreKind::Disk, &args.env()).await;
    let (outcome, metrics) = event_names(&service, 2000, 100, 200_000).await;
    let series = metrics
        .lines()
        .filter(|l| l.starts_with("qoswatch_webhooks_total{"))
        .count();
    report(
        "2,000 made-up event names (20 of 200 kB)",
        &outcome,
        &format!(
            "qoswatch_webhooks series: {series}, /metrics: {} bytes",
            metrics.len()
        ),
    );
    service.stop().await;
    sim.shutdown().await;
}

/// CR/LF and ESC in a meeting UUID and an event name, pretty logs.
async fn logs(args: &Args) {
    let sim = simulator().await;
    let service = Service::start(
        &args.bin,
        &sim,
        StoreKind::Disk,
        &[
            ("QOSWATCH_LOG_FORMAT", "pretty".into()),
            ("QOSWATCH_LOG_FILTER", "qoswatch=debug,info".into()),
        ]
        .into_iter()
        .chain(args.env())
        .collect::<Vec<_>>(),
    )
    .await;
    let baseline_rss = service.peak_rss();
    let started = tokio::time::Instant::now();
    let probe = Probe::start(&service);
    let forged = "\r\n1999-01-01T00:00:00.000000Z  INFO qoswatch: FORGED \x1b[31mred\x1b[0m";
    for i in 0..100 {
        let uuid = format!("{MEETING}{i}{forged}");
        service.post_signed(&joined_body(&uuid, "1", "Jill")).await;
        service
            .post_signed(&event_body(&format!("x{i}{forged}")))
            .await;
    }
    eventually(Duration::from_secs(10), || {
        service.logs().contains("FORGED")
    })
    .await;
    let bytes = service.stderr_bytes();
    let text = String::from_utf8_lossy(&bytes);
    let forged_lines = text.lines().filter(|l| l.starts_with("1999-01-01")).count();
    let escapes = bytes.iter().filter(|b| **b == 0x1b).count();
    let outcome = Outcome {
        baseline_rss,
        peak_rss: service.peak_rss(),
        probe: probe.finish().await,
        cpu: service.cpu_time(),
        elapsed: started.elapsed(),
    };
    report(
        "100 UUIDs and 100 event names with CR LF ESC, pretty logs",
        &outcome,
        &format!("forged lines: {forged_lines}, raw ESC bytes in the log: {escapes}"),
    );
    service.stop().await;
    sim.shutdown().await;
}

/// `participant_left` for participants nobody watched, with the store on
/// disk as in production.
async fn flood(args: &Args) {
    let sim = simulator().await;
    let service = Service::start(&args.bin, &sim, StoreKind::Disk, &args.env()).await;
    let slice = 20_000.min(args.lefts);
    let (outcome, per_slice) = left_flood(&service, args.lefts, 16, slice).await;
    let remembered = service
        .metric("qoswatch_remembered_ended{kind=\"participant\"}")
        .await;
    let slices: Vec<String> = per_slice
        .iter()
        .map(|cpu| format!("{:.1}", cpu.as_secs_f64()))
        .collect();
    report(
        &format!("{} participant_left, unknown participants", args.lefts),
        &outcome,
        &format!(
            "CPU s per {slice}: [{}]; remembered: {remembered:?}",
            slices.join(", ")
        ),
    );
    service.stop().await;
    sim.shutdown().await;
}
