//! The Zoom quota over a working day, at accelerated time: the same
//! scenario against the simulator twice, once with `polling.mode: fixed`
//! (one request per participant per minute: qoswatch before batching) and
//! once `adaptive` (the list endpoint where cheaper, adaptive intervals, the
//! daily plan), with the same daily quota at the simulator and in qoswatch.
//!
//! The scenario (sizes drawn from a fixed seed): `--small` meetings of 2-5
//! people, `--medium` of 10-50, `--large` of 100-150, or `--sizes` as
//! given; everybody joins at 08:00 and stays for `--minutes` simulated
//! minutes. `--degraded` participants, spread over everybody, get bad Wi-Fi
//! (audio latency over the rules' 150 ms for 2 samples) twice: from 20 % to
//! 30 % of the run and from 60 % to 70 %. One simulated minute passes every
//! `--minute-ms` of real time; qoswatch's intervals and its quota clock are
//! scaled to match (`polling.interval` one minute, `max_interval` five,
//! `max_staleness` fifteen).
//!
//! Per run:
//! - Zoom requests, of them list pages, and 429s (at the simulator);
//! - participant-hours watched: samples evaluated / 60 (a participant-minute
//!   is one sample), and requests per participant-minute watched;
//! - staleness, healthy and degraded: the age of a participant's newest
//!   sample just before a newer one arrives (simulated minutes), max and
//!   p99; degraded counts the arrivals of an episode after its first bad
//!   sample reached qoswatch (the wait for that one is the detection delay);
//! - detection delay: from an episode's first bad sample to the FIRING
//!   message at the console channel (simulated minutes), against the
//!   fastest interval plus the rule's 2-sample sustain.
//!
//! ```text
//! cargo run --release --example quota_day
//! cargo run --release --example quota_day -- --sizes 50 --minutes 60 --degraded 0
//! ```

#[path = "support/mod.rs"]
mod support;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use clap::Parser;
use qoswatch::config::PollingMode;
use qoswatch::quota::budget::QuotaClock;
use qoswatch::watch::{SampleSink, StopReason, WatchObserver, WatchSubject};
use qoswatch_core::qos::QosSample;
use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{Degradation, MeetingSpec, ParticipantSpec, SimConfig, SimHandle, Target};
use rand::{Rng, SeedableRng};
use secrecy::SecretString;
use support::{InProcess, PollingPlan, ServiceOptions, StoreChoice};
use tokio::time::Instant;

#[derive(Debug, Parser)]
struct Args {
    /// Simulated minutes to run, from 08:00 UTC.
    #[arg(long, default_value_t = 600)]
    minutes: u32,
    /// Real milliseconds per simulated minute.
    #[arg(long, default_value_t = 200)]
    minute_ms: u64,
    #[arg(long, default_value_t = 200)]
    small: usize,
    #[arg(long, default_value_t = 12)]
    medium: usize,
    #[arg(long, default_value_t = 1)]
    large: usize,
    /// Meeting sizes instead of the mix, e.g. `50` or `3,3,40`.
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<usize>,
    #[arg(long, default_value_t = 12)]
    degraded: usize,
    /// The account's daily quota, at the simulator and in qoswatch.
    #[arg(long, default_value_t = 30_000)]
    quota: u32,
    /// Only one mode (fixed or adaptive); both by default.
    #[arg(long)]
    only: Option<String>,
}

const RULES: &str = "rules:\n  - name: audio-latency\n    metric: audio_input.latency\n    above: 150ms\n    for: 2 samples\n    clear: { for: 2 samples }\n";

/// A console line and the simulated time it arrived at.
type TimedLine = (DateTime<Utc>, String);

/// The simulator, once it runs: the clock of the taps below.
type SimClock = Arc<Mutex<Option<SimHandle>>>;

fn sim_now(clock: &SimClock) -> DateTime<Utc> {
    clock
        .lock()
        .expect("clock")
        .as_ref()
        .map_or_else(Utc::now, SimHandle::sim_now)
}

/// The console channel's lines, with the simulated time each arrived at.
#[derive(Clone, Default)]
struct Console {
    partial: Arc<Mutex<Vec<u8>>>,
    lines: Arc<Mutex<Vec<TimedLine>>>,
    clock: SimClock,
}

impl Write for Console {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut partial = self.partial.lock().expect("console");
        partial.extend_from_slice(buf);
        while let Some(end) = partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            let now = sim_now(&self.clock);
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

/// Staleness in simulated minutes, per class.
#[derive(Debug, Default)]
struct Staleness {
    healthy: Vec<f64>,
    degraded: Vec<f64>,
}

/// Records, at every new sample, how old the participant's newest sample
/// was just before (simulated minutes).
#[derive(Debug, Clone)]
struct StalenessTap {
    clock: SimClock,
    /// Degraded user ids and the episodes' sample-time windows.
    degraded: Arc<HashSet<String>>,
    episodes: Arc<Vec<(DateTime<Utc>, DateTime<Utc>)>>,
    seen: Arc<Mutex<Staleness>>,
}

struct StalenessObserver {
    tap: StalenessTap,
    newest: Option<DateTime<Utc>>,
    /// The episode whose bad samples qoswatch has seen (from then on, the
    /// participant counts as degraded until the episode ends).
    known_bad: Option<usize>,
    /// When the last answer's samples arrived: one answer is one arrival.
    last_arrival: Option<DateTime<Utc>>,
}

impl SampleSink for StalenessTap {
    fn open(
        &self,
        _: &WatchSubject,
        _: Option<qoswatch_core::rules::SavedState>,
    ) -> Box<dyn WatchObserver> {
        Box::new(StalenessObserver {
            tap: self.clone(),
            newest: None,
            known_bad: None,
            last_arrival: None,
        })
    }
}

impl WatchObserver for StalenessObserver {
    fn sample(&mut self, subject: &WatchSubject, sample: &QosSample, _: DateTime<Utc>) {
        let now = sim_now(&self.tap.clock);
        let episode = self
            .tap
            .episodes
            .iter()
            .position(|(from, to)| sample.at > *from && sample.at <= *to)
            .filter(|_| self.tap.degraded.contains(&subject.key.user_id));
        // The later samples of one answer arrive with the first.
        let same_answer = self
            .last_arrival
            .is_some_and(|last| now - last < TimeDelta::seconds(1));
        self.last_arrival = Some(now);
        if let Some(newest) = self.newest.filter(|_| !same_answer) {
            let age = (now - newest).num_milliseconds() as f64 / 60_000.0;
            let mut seen = self.tap.seen.lock().expect("staleness");
            // Degraded: a bad sample of this episode was seen before this
            // one arrived (the wait for the first is the detection delay).
            if episode.is_some() && self.known_bad == episode {
                seen.degraded.push(age);
            } else {
                seen.healthy.push(age);
            }
        }
        if episode.is_some() {
            self.known_bad = episode;
        }
        self.newest = Some(self.newest.map_or(sample.at, |n| n.max(sample.at)));
    }
    fn idle(&mut self, _: &WatchSubject, _: DateTime<Utc>) {}
    fn finished(&mut self, _: &WatchSubject, _: StopReason, _: DateTime<Utc>) {}
}

struct Report {
    mode: &'static str,
    participants: usize,
    requests: u64,
    list_requests: u64,
    rate_limited: u64,
    samples: f64,
    staleness: Staleness,
    detection_min: Vec<f64>,
    episodes_expected: usize,
    wall: Duration,
}

fn sizes(args: &Args) -> Vec<usize> {
    if !args.sizes.is_empty() {
        return args.sizes.clone();
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut sizes = Vec::new();
    sizes.extend((0..args.small).map(|_| rng.random_range(2..=5)));
    sizes.extend((0..args.medium).map(|_| rng.random_range(10..=50)));
    sizes.extend((0..args.large).map(|_| rng.random_range(100..=150)));
    sizes
}

fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn run(args: &Args, mode: PollingMode) -> anyhow::Result<Report> {
    let minute = Duration::from_millis(args.minute_ms);
    let speed = u32::try_from(60_000 / args.minute_ms.max(1)).unwrap_or(1);
    let start: DateTime<Utc> = "2026-03-02T08:00:00Z".parse()?;
    let rules =
        std::env::temp_dir().join(format!("qoswatch-quota-day-{}.yaml", std::process::id()));
    std::fs::write(&rules, RULES)?;
    let clock = SimClock::default();
    let console = Console {
        clock: clock.clone(),
        ..Console::default()
    };
    // Episodes by sample index (sample k covers minute k+1 after the join).
    let episode = |from: f64, to: f64| {
        let at = |share: f64| (f64::from(args.minutes) * share) as u32;
        at(from)..at(to)
    };
    let episodes = [episode(0.2, 0.3), episode(0.6, 0.7)];
    let episode_times: Vec<(DateTime<Utc>, DateTime<Utc>)> = episodes
        .iter()
        .map(|range| {
            let time = |index: u32| start + TimeDelta::minutes(i64::from(index) + 1);
            (time(range.start) - TimeDelta::minutes(1), time(range.end))
        })
        .collect();
    let quota = args.quota;
    let sim_config = SimConfig {
        sample_period: minute,
        clock_start: Some(start),
        daily_limit: Some(quota),
        log_capacity: 1,
        ..SimConfig::default()
    };
    let staleness = Arc::new(Mutex::new(Staleness::default()));
    let mut degraded_ids = HashSet::new();
    let mut participants = Vec::new();
    let mut next_user = 0usize;
    for (i, size) in sizes(args).into_iter().enumerate() {
        let meeting = MeetingSpec::new(
            format!("qUoTaDaY{i:04}AAAAAAAAAAAA=="),
            85_000_000_000 + i as u64,
            format!("Meeting {i}"),
        );
        for _ in 0..size {
            let who = ParticipantSpec::new(
                format!("{}", 17_000_000 + next_user),
                format!("Person {next_user}"),
            );
            next_user += 1;
            participants.push((meeting.clone(), who));
        }
    }
    let step = (participants.len() / args.degraded.max(1)).max(1);
    for (_, who) in participants.iter().step_by(step).take(args.degraded) {
        degraded_ids.insert(who.user_id.clone());
    }
    let tap = StalenessTap {
        clock: clock.clone(),
        degraded: Arc::new(degraded_ids.clone()),
        episodes: Arc::new(episode_times.clone()),
        seen: staleness.clone(),
    };
    let options = ServiceOptions {
        rules_file: Some(rules),
        console: Some(Box::new(console.clone())),
        group_window: Some(Duration::ZERO),
        taps: vec![Arc::new(tap)],
        tweak: Some(Box::new(move |settings| {
            settings.polling.mode = mode;
            settings.polling.max_interval = minute * 5;
            settings.polling.max_staleness = minute * 15;
            settings.polling.stale_after = minute * 10;
            settings.polling.max_backoff = minute * 5;
            settings.polling.max_watch_age = minute * 24 * 60;
            settings.zoom.daily_limit = quota;
            settings.zoom.daily_share = 1.0;
            // Zoom's 10 a second (Pro), in simulated time.
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
    let wall = Instant::now();
    let app = InProcess::start_with(sim_config, plan, StoreChoice::Memory, options).await?;
    *clock.lock().expect("clock") = Some(app.sim.clone());
    let sender = WebhookSender::new(
        &app.webhook_url(),
        SecretString::from(support::IN_PROCESS_SECRET.to_owned()),
    )?;
    let mut added = HashSet::new();
    for (meeting, who) in &participants {
        if added.insert(meeting.uuid.clone()) {
            app.sim.add_meeting(meeting.clone())?;
        }
        app.sim.add_participant(&meeting.uuid, who.clone())?;
    }
    for id in &degraded_ids {
        for range in &episodes {
            app.sim.add_degradation(Degradation::bad_wifi(
                Target::participant(id.clone()),
                range.clone(),
            ));
        }
    }
    for (meeting, who) in &participants {
        let now = app.sim.sim_now();
        sender
            .participant_joined(meeting, now, who, now)
            .await
            .context("participant_joined")?;
    }
    let started = Instant::now();
    tokio::time::sleep_until(started + minute * args.minutes).await;
    let http = reqwest::Client::new();
    let text = app.metrics(&http).await?;
    let counts = app.sim.request_counts();
    // The first FIRING per participant and episode: from the first bad
    // sample's time (`started_at`) to the simulated time the console had it.
    let mut detection_min = Vec::new();
    let mut seen: HashMap<String, DateTime<Utc>> = HashMap::new();
    for (arrived, line) in console.lines.lock().expect("lines").iter() {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        for alert in json["alerts"].as_array().into_iter().flatten() {
            if alert["status"].as_str() != Some("firing") {
                continue;
            }
            let who = alert["participant"]["user_id"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            let Some(started) = alert["started_at"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
            else {
                continue;
            };
            if seen.get(&who).is_some_and(|s| *s == started) {
                continue;
            }
            seen.insert(who, started);
            detection_min.push((*arrived - started).num_milliseconds() as f64 / 60_000.0);
        }
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
        staleness: std::mem::take(&mut *staleness.lock().expect("staleness")),
        detection_min,
        episodes_expected: degraded_ids.len() * episodes.len(),
        wall: wall.elapsed(),
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
        "scenario: {} meetings (sizes {}), {} participants, {} degraded in two episodes; {} simulated minutes from 08:00 UTC at {} ms each; daily quota {}",
        sizes.len(),
        if args.sizes.is_empty() {
            format!(
                "{} of 2-5, {} of 10-50, {} of 100-150",
                args.small, args.medium, args.large
            )
        } else {
            format!("{:?}", args.sizes)
        },
        sizes.iter().sum::<usize>(),
        args.degraded,
        args.minutes,
        args.minute_ms,
        args.quota
    );
    println!(
        "| mode | Zoom requests (list pages) | participant-hours watched | requests per participant-minute | staleness healthy max / p99 | staleness degraded max / p99 | detection delay median / max (alerts) | 429s | wall |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for mode in modes {
        let r = run(&args, mode).await?;
        let per_minute = r.requests as f64 / r.samples.max(1.0);
        let mut detection = r.detection_min.clone();
        detection.sort_by(f64::total_cmp);
        println!(
            "| {} ({} participants) | {} ({}) | {:.0} | {:.3} | {:.1} / {:.1} min | {:.1} / {:.1} min | {:.1} / {:.1} min ({} of {}) | {} | {:.0} s |",
            r.mode,
            r.participants,
            r.requests,
            r.list_requests,
            r.samples / 60.0,
            per_minute,
            percentile(&r.staleness.healthy, 1.0),
            percentile(&r.staleness.healthy, 0.99),
            percentile(&r.staleness.degraded, 1.0),
            percentile(&r.staleness.degraded, 0.99),
            percentile(&detection, 0.5),
            percentile(&detection, 1.0),
            detection.len(),
            r.episodes_expected,
            r.rate_limited,
            r.wall.as_secs_f64(),
        );
    }
    Ok(())
}
