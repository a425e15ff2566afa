//! Polling load: `--participants` participants join through real signed
//! webhooks, qoswatch polls each of them through the shared request budget,
//! and the Zoom simulator's request log shows what Zoom would see.
//!
//! Reports, for a fixed `--duration` after every watcher started: QoS
//! requests per second at the simulator and the most requests in any
//! sliding 1-second window (which must never exceed `--rate`, qoswatch's
//! `zoom.requests_per_second`), token requests (expected: 1), polls per
//! participant (fairness), samples delivered, process CPU and RSS per
//! watcher. With `--sim-qps-limit` below `--rate`, the simulator answers
//! 429 like Zoom does and the report shows how qoswatch backs off.
//!
//! ```sh
//! cargo run --release --example poll_load -- --participants 200 --duration 20s
//! cargo run --release --example poll_load -- --participants 200 --duration 20s --sim-qps-limit 30
//! ```

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{Endpoint, RecordedRequest, SimConfig};
use secrecy::SecretString;
use support::{InProcess, PollingPlan};
use tokio::time::Instant;

#[derive(Debug, Parser)]
#[command(about = "Polling load: qoswatch watchers against the Zoom simulator")]
struct Args {
    /// Participants to join (one watcher each).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=5000))]
    participants: u32,
    /// How long to measure once every watcher runs (at most 10 minutes).
    #[arg(long, default_value = "20s", value_parser = qoswatch_core::duration::parse)]
    duration: Duration,
    /// qoswatch's Zoom requests per second (zoom.requests_per_second).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    rate: u32,
    /// qoswatch's polling interval per watcher.
    #[arg(long, default_value = "1s", value_parser = qoswatch_core::duration::parse)]
    poll_interval: Duration,
    /// The simulator's real time per simulated minute (one sample per period).
    #[arg(long, default_value = "1s", value_parser = qoswatch_core::duration::parse)]
    sample_period: Duration,
    /// Make the simulator answer 429 beyond this many QoS requests per second.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    sim_qps_limit: Option<u32>,
    /// Participants per meeting.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    meeting_size: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    support::init_logging();
    let args = Args::parse();
    if args.duration.is_zero() || args.duration > Duration::from_secs(600) {
        bail!("--duration must be between 1s and 10m");
    }
    if args.sample_period.is_zero() {
        bail!("--sample-period must be longer than 0s");
    }
    let n = args.participants as usize;
    let size = args.meeting_size as usize;
    let sim_config = SimConfig {
        sample_period: args.sample_period,
        qps_limit: args.sim_qps_limit,
        ..SimConfig::default()
    };
    let app = InProcess::start(
        sim_config,
        PollingPlan {
            interval: args.poll_interval,
            requests_per_second: args.rate,
        },
        support::StoreChoice::Full,
    )
    .await?;
    let meetings: Vec<_> = (0..n.div_ceil(size)).map(support::meeting).collect();
    for meeting in &meetings {
        app.sim.add_meeting(meeting.clone())?;
    }
    let people: Vec<_> = (0..n).map(support::participant).collect();
    let http = reqwest::Client::new();
    let rss_idle = support::rss_kib()?;
    println!(
        "poll_load: {n} participants in {} meetings; qoswatch polls every {:?} at most {} requests/s; \
         simulator sample period {:?}, QPS limit {}",
        meetings.len(),
        args.poll_interval,
        args.rate,
        args.sample_period,
        args.sim_qps_limit
            .map_or("none".to_owned(), |l| format!("{l}/s"))
    );

    // Join everyone through the real webhook endpoint.
    let sender = WebhookSender::new(
        &app.webhook_url(),
        SecretString::from(support::IN_PROCESS_SECRET.to_owned()),
    )?;
    let join_start = Instant::now();
    for (j, who) in people.iter().enumerate() {
        let meeting = &meetings[j / size];
        support::sim_join(&app.sim, meeting, who)?;
        let answer = sender
            .send_raw(
                support::joined_body(meeting, who),
                chrono::Utc::now().timestamp(),
            )
            .await
            .context("posting participant_joined")?;
        if answer.status != 200 {
            bail!("participant_joined answered {}", answer.status);
        }
    }
    let joined_in = join_start.elapsed();
    let all_running = wait_for(Duration::from_secs(10), || app.monitor.active() == n).await;
    if !all_running {
        bail!("only {} of {n} watchers are running", app.monitor.active());
    }
    println!(
        "{n} webhooks accepted and {n} watchers running after {:.0} ms",
        joined_in.as_secs_f64() * 1000.0
    );

    // The measured run.
    let samples_before = app.tap.samples.load(Ordering::Relaxed);
    let cpu_before = support::cpu_time()?;
    let t0 = Instant::now();
    tokio::time::sleep(args.duration).await;
    let t1 = Instant::now();
    let cpu = support::cpu_time()?.saturating_sub(cpu_before);
    let samples = app.tap.samples.load(Ordering::Relaxed) - samples_before;
    let rss_end = support::rss_kib()?;
    let active_end = app.monitor.active();
    let log = app.sim.log();
    let metrics = app.metrics(&http).await?;
    app.stop().await?;

    let span = (t1 - t0).as_secs_f64();
    let mut all_qos: Vec<&RecordedRequest> =
        log.requests().filter(|r| r.endpoint.is_qos()).collect();
    all_qos.sort_by_key(|r| r.arrived_at);
    let in_run: Vec<&RecordedRequest> = all_qos
        .iter()
        .copied()
        .filter(|r| r.arrived_at >= t0 && r.arrived_at < t1)
        .collect();
    let times: Vec<Instant> = all_qos.iter().map(|r| r.arrived_at).collect();
    let (max_window, window_start) = max_in_window(&times, Duration::from_secs(1));
    let answered_200 = in_run.iter().filter(|r| r.status == 200).count();

    println!();
    println!("== {span:.1} s with {n} watchers ==");
    println!(
        "QoS requests at the simulator: {} ({:.1}/s), {} answered 200",
        in_run.len(),
        in_run.len() as f64 / span,
        answered_200
    );
    let within = max_window <= args.rate as usize;
    println!(
        "most QoS requests in any sliding 1 s window (whole run, joins included): {max_window} \
         (configured rate {}/s): {}",
        args.rate,
        if within {
            "within the rate"
        } else {
            "EXCEEDS the rate"
        }
    );
    if let Some(start) = window_start {
        let seconds = (start.saturating_duration_since(join_start)).as_secs_f64();
        println!("  (that window starts {seconds:.3} s after the first join)");
    }
    let per_second: Vec<usize> = (0..args.duration.as_secs())
        .map(|k| {
            let from = t0 + Duration::from_secs(k);
            let to = from + Duration::from_secs(1);
            in_run
                .iter()
                .filter(|r| r.arrived_at >= from && r.arrived_at < to)
                .count()
        })
        .collect();
    println!("QoS requests per wall-clock second of the run: {per_second:?}");
    println!("token requests: {} (expected 1)", log.token_requests());

    let mut polls: HashMap<&str, usize> = people.iter().map(|p| (p.user_id.as_str(), 0)).collect();
    for r in &in_run {
        if let Endpoint::ParticipantQos { participant_id, .. } = &r.endpoint
            && let Some(count) = polls.get_mut(participant_id.as_str())
        {
            *count += 1;
        }
    }
    let mut counts: Vec<usize> = polls.into_values().collect();
    counts.sort_unstable();
    println!(
        "polls per participant in the run: min {} / median {} / max {} (ideal {:.1} each)",
        counts.first().copied().unwrap_or(0),
        counts.get(counts.len() / 2).copied().unwrap_or(0),
        counts.last().copied().unwrap_or(0),
        (span / args.poll_interval.as_secs_f64()).min(args.rate as f64 * span / n as f64)
    );
    let expected_samples = n as f64 * span / args.sample_period.as_secs_f64();
    println!(
        "samples delivered in the run: {samples} ({:.1}/s; the simulator produced about {:.0})",
        samples as f64 / span,
        expected_samples
    );

    let rate_limited: Vec<&&RecordedRequest> = all_qos.iter().filter(|r| r.status == 429).collect();
    if args.sim_qps_limit.is_some() || !rate_limited.is_empty() {
        // After each 429, how long until the next QoS request reached Zoom.
        let mut gaps = Vec::new();
        for r in &rate_limited {
            if let Some(next) = all_qos.iter().find(|n| n.arrived_at > r.arrived_at) {
                gaps.push(next.arrived_at - r.arrived_at);
            }
        }
        println!(
            "429 answers: {} in the whole run, {} in the measured {span:.1} s",
            rate_limited.len(),
            in_run.iter().filter(|r| r.status == 429).count()
        );
        if let Some(gap) = support::Latency::of(&mut gaps) {
            println!("  gap from a 429 to the next QoS request: {gap}");
        }
        for name in [
            "qoswatch_zoom_rate_limited_total{account=\"default\"}",
            "qoswatch_poll_errors_total",
        ] {
            if let Some(value) = support::metric(&metrics, name) {
                println!("  {name} {value}");
            }
        }
    }
    for line in support::nonzero_series(&metrics, &["qoswatch_watchers_stopped"]) {
        println!("  {line}");
    }
    println!(
        "watchers still active at the end: {active_end} of {n}; process CPU {:.2} s ({:.0}% of one core)",
        cpu.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / span
    );
    println!(
        "RSS: {rss_idle} KiB before the joins, {rss_end} KiB at the end: {:.1} KiB per watcher",
        (rss_end.saturating_sub(rss_idle)) as f64 / n as f64
    );
    if !within {
        bail!(
            "the simulator saw {max_window} QoS requests within one second; the configured rate is {}",
            args.rate
        );
    }
    Ok(())
}

/// The largest number of `times` (sorted) inside any half-open window
/// `[t, t + width)`, and where the first such window starts.
fn max_in_window(times: &[Instant], width: Duration) -> (usize, Option<Instant>) {
    let mut best = (0, None);
    let mut start = 0;
    for (end, &t) in times.iter().enumerate() {
        while t - times[start] >= width {
            start += 1;
        }
        if end + 1 - start > best.0 {
            best = (end + 1 - start, Some(times[start]));
        }
    }
    best
}

/// Polls `condition` every 10 ms until it holds or `within` passes.
async fn wait_for(within: Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while !condition() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}
