//! The Zoom quota on a working stretch, at accelerated time: the same
//! scenario against the simulator twice, once with `polling.mode: fixed`
//! (one request per participant per minute, qoswatch before batching) and
//! once `adaptive` (list endpoint where cheaper, adaptive intervals, the
//! daily plan), and the figures side by side.
//!
//! The scenario: `--small` meetings of 2-5 people, `--medium` of 10-50,
//! `--large` of 100-150 (sizes drawn from a fixed seed), all joining at the
//! start; `--degraded` participants spread over the meetings get bad Wi-Fi
//! (audio latency over the rules' 150 ms) from minute 20 to minute 40. One
//! simulated minute passes every `--minute-ms` of real time, qoswatch's
//! intervals and its quota clock are scaled to match, and a rules file
//! with one latency rule alerts to the console, read back in-process.
//!
//! Per run it prints Zoom requests per participant-minute watched (a
//! participant-minute is one sample evaluated), the participant-hours a
//! 30,000-request day covers at that rate, staleness (the longest time a
//! participant went without a successful poll, read from `/metrics` every
//! simulated minute), the detection delay of the degradations (from the first bad
//! sample's time to the alert at the console, in simulated minutes), and
//! the 429s.
//!
//! ```text
//! cargo run --release --example quota_day -- --minutes 60
//! ```

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Parser;
use qoswatch::config::PollingMode;
use qoswatch::zoom::budget::QuotaClock;
use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{Degradation, MeetingSpec, ParticipantSpec, SimConfig, Target};
use rand::{Rng, SeedableRng};
use secrecy::SecretString;
use support::{InProcess, PollingPlan, ServiceOptions, StoreChoice};
use tokio::time::Instant;

#[derive(Debug, Parser)]
struct Args {
    /// Simulated minutes to run.
    #[arg(long, default_value_t = 60)]
    minutes: u32,
    /// Real milliseconds per simulated minute.
    #[arg(long, default_value_t = 500)]
    minute_ms: u64,
    #[arg(long, default_value_t = 30)]
    small: usize,
    #[arg(long, default_value_t = 4)]
    medium: usize,
    #[arg(long, default_value_t = 1)]
    large: usize,
    #[arg(long, default_value_t = 6)]
    degraded: usize,
    /// Only one mode (fixed or adaptive); both by default.
    #[arg(long)]
    only: Option<String>,
}

const RULES: &str = "rules:\n  - name: audio-latency\n    metric: audio_input.latency\n    above: 150ms\n    for: 2 samples\n    clear: { for: 2 samples }\n";

/// A console line and the simulated time it arrived at.
type TimedLine = (DateTime<Utc>, String);

/// The console channel's lines, with the simulated time each arrived at.
#[derive(Clone, Default)]
struct Console {
    partial: Arc<Mutex<Vec<u8>>>,
    lines: Arc<Mutex<Vec<TimedLine>>>,
    clock: Arc<Mutex<Option<qoswatch_zoomsim::SimHandle>>>,
}

impl Write for Console {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut partial = self.partial.lock().expect("console");
        partial.extend_from_slice(buf);
        while let Some(end) = partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            let now = self
                .clock
                .lock()
                .expect("clock")
                .as_ref()
                .map_or_else(Utc::now, |sim| sim.sim_now());
            self.lines
                .lock()
                .expect("lines")
                .push((now, String::from_utf8_lossy(&line).into_owned()));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Report {
    mode: &'static str,
    participants: usize,
    requests: u64,
    list_requests: u64,
    rate_limited: u64,
    samples: f64,
    staleness_max_min: f64,
    detection_min: Vec<f64>,
}

fn sizes(args: &Args) -> Vec<usize> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut sizes = Vec::new();
    sizes.extend((0..args.small).map(|_| rng.random_range(2..=5)));
    sizes.extend((0..args.medium).map(|_| rng.random_range(10..=50)));
    sizes.extend((0..args.large).map(|_| rng.random_range(100..=150)));
    sizes
}

async fn run(args: &Args, mode: PollingMode) -> anyhow::Result<Report> {
    let minute = Duration::from_millis(args.minute_ms);
    let speed = u32::try_from(60_000 / args.minute_ms.max(1)).unwrap_or(1);
    let start: DateTime<Utc> = "2026-03-02T08:00:00Z".parse()?;
    let rules =
        std::env::temp_dir().join(format!("qoswatch-quota-day-{}.yaml", std::process::id()));
    std::fs::write(&rules, RULES)?;
    let console = Console::default();
    let sim_config = SimConfig {
        sample_period: minute,
        clock_start: Some(start),
        live_window: 30,
        daily_limit: Some(30_000),
        log_capacity: 1,
        ..SimConfig::default()
    };
    let options = ServiceOptions {
        rules_file: Some(rules),
        console: Some(Box::new(console.clone())),
        group_window: Some(Duration::ZERO),
        tweak: Some(Box::new(move |settings| {
            settings.polling.mode = mode;
            settings.polling.max_interval = minute * 5;
            settings.polling.max_staleness = minute * 15;
            settings.polling.stale_after = minute * 10;
            settings.polling.max_backoff = minute * 5;
            settings.zoom.daily_limit = 30_000;
            settings.zoom.daily_share = 1.0;
            // Zoom's 10 a second in simulated time.
            settings.zoom.requests_per_second = 10 * speed;
            settings.zoom.rate_share = 1.0;
        })),
        quota_clock: Some(QuotaClock::Accelerated {
            at: start,
            since: Instant::now(),
            speed,
        }),
        ..ServiceOptions::default()
    };
    let plan = PollingPlan {
        interval: minute,
        requests_per_second: 10 * speed,
    };
    let app = InProcess::start_with(sim_config, plan, StoreChoice::Memory, options).await?;
    *console.clock.lock().expect("clock") = Some(app.sim.clone());
    let sender = WebhookSender::new(
        &app.webhook_url(),
        SecretString::from(support::IN_PROCESS_SECRET.to_owned()),
    )?;
    let mut participants = Vec::new();
    let mut next_user = 0usize;
    for (i, size) in sizes(args).into_iter().enumerate() {
        let meeting = MeetingSpec::new(
            format!("qUoTaDaY{i:04}AAAAAAAAAAAA=="),
            85_000_000_000 + i as u64,
            format!("Meeting {i}"),
        );
        app.sim.add_meeting(meeting.clone())?;
        for _ in 0..size {
            let who = ParticipantSpec::new(
                format!("{}", 17_000_000 + next_user),
                format!("Person {next_user}"),
            );
            next_user += 1;
            app.sim.add_participant(&meeting.uuid, who.clone())?;
            participants.push((meeting.clone(), who));
        }
    }
    // Degraded participants spread evenly over everybody.
    let step = (participants.len() / args.degraded.max(1)).max(1);
    for (_, who) in participants.iter().step_by(step).take(args.degraded) {
        app.sim.add_degradation(Degradation::bad_wifi(
            Target::participant(who.user_id.clone()),
            20..40,
        ));
    }
    for (meeting, who) in &participants {
        let now = app.sim.sim_now();
        sender
            .participant_joined(meeting, now, who, now)
            .await
            .context("participant_joined")?;
    }
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut staleness_max: f64 = 0.0;
    while started.elapsed() < minute * args.minutes {
        tokio::time::sleep(minute).await;
        let text = app.metrics(&http).await?;
        staleness_max = staleness_max
            .max(support::metric(&text, "qoswatch_poll_staleness_max_seconds").unwrap_or(0.0));
    }
    let text = app.metrics(&http).await?;
    let counts = app.sim.request_counts();
    let seconds_per_minute = minute.as_secs_f64();
    // The first FIRING per participant: from its first bad sample's time
    // (`started_at`) to the simulated time the console had it.
    let mut detection_min = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (arrived, line) in console.lines.lock().expect("lines").iter() {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let text = json.to_string();
        let firing = text.contains("\"firing\"") || text.contains("FIRING");
        let who = json["participant"]["user_id"]
            .as_str()
            .or_else(|| json["alerts"][0]["participant"]["user_id"].as_str())
            .unwrap_or("")
            .to_owned();
        let started = json["started_at"]
            .as_str()
            .or_else(|| json["alerts"][0]["started_at"].as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        let Some(started) = started else { continue };
        if !firing || !seen.insert(who) {
            continue;
        }
        detection_min.push((*arrived - started.with_timezone(&Utc)).num_seconds() as f64 / 60.0);
    }
    let report = Report {
        mode: match mode {
            PollingMode::Fixed => "fixed",
            PollingMode::Adaptive => "adaptive",
        },
        participants: participants.len(),
        requests: counts.qos(),
        list_requests: counts.list_qos,
        rate_limited: counts.rate_limited,
        samples: support::metric(&text, "qoswatch_samples_total").unwrap_or(0.0),
        staleness_max_min: staleness_max / seconds_per_minute,
        detection_min,
    };
    app.stop().await?;
    Ok(report)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let modes: Vec<PollingMode> = match args.only.as_deref() {
        Some("fixed") => vec![PollingMode::Fixed],
        Some("adaptive") => vec![PollingMode::Adaptive],
        _ => vec![PollingMode::Fixed, PollingMode::Adaptive],
    };
    let sizes = sizes(&args);
    println!(
        "scenario: {} meetings ({} of 2-5, {} of 10-50, {} of 100-150), {} participants, {} degraded from minute 20 to 40; {} simulated minutes at {} ms each",
        sizes.len(),
        args.small,
        args.medium,
        args.large,
        sizes.iter().sum::<usize>(),
        args.degraded,
        args.minutes,
        args.minute_ms
    );
    println!(
        "| mode | requests | of which list pages | requests per participant-minute | participant-hours per 30,000 requests | staleness max | detection delay (min, median / max) | 429s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for mode in modes {
        let r = run(&args, mode).await?;
        let per_minute = r.requests as f64 / r.samples.max(1.0);
        let hours = 30_000.0 / per_minute / 60.0;
        let mut detection = r.detection_min.clone();
        detection.sort_by(f64::total_cmp);
        let median = detection
            .get(detection.len() / 2)
            .copied()
            .unwrap_or(f64::NAN);
        let max = detection.last().copied().unwrap_or(f64::NAN);
        println!(
            "| {} ({} participants) | {} | {} | {:.3} | {:.0} | {:.1} min | {:.1} / {:.1} ({} alerts) | {} |",
            r.mode,
            r.participants,
            r.requests,
            r.list_requests,
            per_minute,
            hours,
            r.staleness_max_min,
            median,
            max,
            detection.len(),
            r.rate_limited
        );
    }
    Ok(())
}
