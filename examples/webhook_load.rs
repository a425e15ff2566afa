//! Load generator for qoswatch's webhook endpoint: a real HTTP client
//! (reqwest, keep-alive) sending signed Zoom webhooks from `--concurrency`
//! clients, measuring each request's latency.
//!
//! By default it starts the Zoom simulator and a real qoswatch in this
//! process on 127.0.0.1 (free ports), so every `participant_joined` starts a
//! watcher that polls the simulator while the load goes on. With `--target`
//! it aims at an already running qoswatch instead (loopback only), signing
//! with the secret in `ZOOM_WEBHOOK_SECRET_TOKEN` (or `_FILE`).
//!
//! Two phases:
//! 1. burst: `--requests` webhooks, a mix of 10% `endpoint.url_validation`,
//!    50% `participant_joined` (distinct participants, `--meeting-size` per
//!    meeting), 20% `participant_left` (of participants joined earlier) and
//!    20% events qoswatch ignores, as fast as `--concurrency` clients go;
//! 2. probe: for `--probe-secs`, one client sends `--probe-rate` webhooks per
//!    second while the watchers started in phase 1 keep polling: does the
//!    endpoint still answer within milliseconds?
//!
//! Both phases are bounded in count and time (`--max-duration`).
//!
//! ```sh
//! cargo run --release --example webhook_load -- --requests 2000 --concurrency 16
//! ```

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{MeetingSpec, ParticipantSpec, SimConfig};
use secrecy::SecretString;
use support::{InProcess, Latency, PollingPlan};
use tokio::time::{Instant, MissedTickBehavior};

#[derive(Debug, Parser)]
#[command(about = "Signed-webhook load against qoswatch (loopback only)")]
struct Args {
    /// Webhooks to send in the burst phase.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    requests: u32,
    /// Concurrent clients in the burst phase (one keep-alive connection each).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    concurrency: u16,
    /// Upper bound of the whole run; the burst stops early when it is reached.
    #[arg(long, default_value = "60s", value_parser = qoswatch_core::duration::parse)]
    max_duration: Duration,
    /// An already running qoswatch's webhook URL (loopback only); its secret
    /// comes from ZOOM_WEBHOOK_SECRET_TOKEN or ZOOM_WEBHOOK_SECRET_TOKEN_FILE.
    #[arg(long)]
    target: Option<String>,
    /// In-process qoswatch: polling interval of every watcher.
    #[arg(long, default_value = "1s", value_parser = qoswatch_core::duration::parse)]
    poll_interval: Duration,
    /// In-process qoswatch: where it keeps its state.
    #[arg(long, value_enum, default_value = "full")]
    store: support::StoreChoice,
    /// In-process qoswatch: Zoom requests per second (zoom.requests_per_second).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    rate: u32,
    /// Participants per meeting.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    meeting_size: u32,
    /// Length of the probe phase (0 skips it).
    #[arg(long, default_value = "5s", value_parser = qoswatch_core::duration::parse)]
    probe_secs: Duration,
    /// Webhooks per second in the probe phase.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    probe_rate: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    UrlValidation,
    Joined,
    Left,
    Unknown,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::UrlValidation => "endpoint.url_validation",
            Kind::Joined => "meeting.participant_joined",
            Kind::Left => "meeting.participant_left",
            Kind::Unknown => "other (ignored)",
        }
    }
}

/// Request `i` of the burst: its kind and, for participant events, which
/// participant (the k-th `joined` joins participant k, the k-th `left`
/// takes participant k out again, by then long joined).
#[derive(Debug, Clone, Copy)]
struct Planned {
    kind: Kind,
    participant: usize,
}

fn plan(requests: usize) -> Vec<Planned> {
    let (mut joined, mut left) = (0, 0);
    (0..requests)
        .map(|i| {
            let kind = match i % 10 {
                0 => Kind::UrlValidation,
                1 | 2 | 3 | 5 | 6 => Kind::Joined,
                4 | 8 => Kind::Left,
                _ => Kind::Unknown,
            };
            let participant = match kind {
                Kind::Joined => {
                    joined += 1;
                    joined - 1
                }
                Kind::Left => {
                    left += 1;
                    left - 1
                }
                _ => i,
            };
            Planned { kind, participant }
        })
        .collect()
}

#[derive(Debug)]
struct Outcome {
    kind: Kind,
    status: Option<u16>,
    ok: bool,
    latency: Duration,
}

/// The participants and meetings of the run.
struct Cast {
    meetings: Vec<MeetingSpec>,
    people: Vec<ParticipantSpec>,
    meeting_size: usize,
}

impl Cast {
    fn new(participants: usize, meeting_size: usize) -> Self {
        let meetings = participants.div_ceil(meeting_size).max(1);
        Self {
            meetings: (0..meetings).map(support::meeting).collect(),
            people: (0..participants).map(support::participant).collect(),
            meeting_size,
        }
    }

    fn of(&self, participant: usize) -> (&MeetingSpec, &ParticipantSpec) {
        (
            &self.meetings[participant / self.meeting_size],
            &self.people[participant],
        )
    }
}

fn body_for(item: Planned, index: usize, cast: &Cast) -> Vec<u8> {
    match item.kind {
        Kind::UrlValidation => support::url_validation_body(index),
        Kind::Joined => {
            let (meeting, who) = cast.of(item.participant);
            support::joined_body(meeting, who)
        }
        Kind::Left => {
            let (meeting, who) = cast.of(item.participant);
            support::left_body(meeting, who)
        }
        Kind::Unknown => support::unknown_body(index),
    }
}

fn check(kind: Kind, status: u16, body: &str) -> bool {
    status == 200 && (kind != Kind::UrlValidation || body.contains("\"encryptedToken\""))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    support::init_logging();
    let args = Args::parse();
    let started = Instant::now();
    let deadline = started + args.max_duration;
    let plan = Arc::new(plan(args.requests as usize));
    let joins = plan.iter().filter(|p| p.kind == Kind::Joined).count();
    let cast = Arc::new(Cast::new(joins, args.meeting_size as usize));

    let (app, url, secret) = match &args.target {
        Some(target) => {
            let url = support::loopback_url(target)?;
            let env = |name: &str| std::env::var(name).ok();
            let secret =
                qoswatch::config::secret_value(&env, qoswatch::config::ENV_WEBHOOK_SECRET)?
                    .context(
                        "set ZOOM_WEBHOOK_SECRET_TOKEN (or _FILE) to the target's webhook secret",
                    )?;
            (None, url.to_string(), secret)
        }
        None => {
            let app = InProcess::start(
                SimConfig::default(),
                PollingPlan {
                    interval: args.poll_interval,
                    requests_per_second: args.rate,
                },
                args.store,
            )
            .await?;
            for meeting in &cast.meetings {
                app.sim.add_meeting(meeting.clone())?;
            }
            for p in 0..joins {
                let (meeting, who) = cast.of(p);
                support::sim_join(&app.sim, meeting, who)?;
            }
            let url = app.webhook_url();
            (Some(app), url, support::IN_PROCESS_SECRET.to_owned())
        }
    };
    let sender = WebhookSender::new(&url, SecretString::from(secret))?;
    let rss_before = support::rss_kib()?;
    println!(
        "webhook_load: {} requests, {} clients, {} participants in {} meetings, target {}",
        args.requests,
        args.concurrency,
        joins,
        cast.meetings.len(),
        if app.is_some() {
            "in-process qoswatch + simulator"
        } else {
            "external"
        }
    );
    if app.is_some() {
        println!(
            "qoswatch: polling every {:?}, {} Zoom requests/s, store {:?}; simulator sample period 1 s",
            args.poll_interval, args.rate, args.store
        );
    }

    // Phase 1: the burst.
    let next = Arc::new(AtomicUsize::new(0));
    let sim = app.as_ref().map(|a| a.sim.clone());
    let burst_start = Instant::now();
    let cpu_before = support::cpu_time()?;
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (next, plan, cast, sender, sim) = (
            next.clone(),
            plan.clone(),
            cast.clone(),
            sender.clone(),
            sim.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= plan.len() || Instant::now() >= deadline {
                    break;
                }
                let item = plan[i];
                if item.kind == Kind::Left
                    && let Some(sim) = &sim
                {
                    let (meeting, who) = cast.of(item.participant);
                    // Zoom knows of the leave before it sends the webhook.
                    let _ = sim.participant_leaves(&meeting.uuid, &who.user_id);
                }
                let body = body_for(item, i, &cast);
                let t = Instant::now();
                let answer = sender.send_raw(body, chrono::Utc::now().timestamp()).await;
                let latency = t.elapsed();
                outcomes.push(match answer {
                    Ok(r) => Outcome {
                        kind: item.kind,
                        status: Some(r.status),
                        ok: check(item.kind, r.status, &r.body),
                        latency,
                    },
                    Err(_) => Outcome {
                        kind: item.kind,
                        status: None,
                        ok: false,
                        latency,
                    },
                });
            }
            outcomes
        }));
    }
    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.extend(worker.await.context("load worker")?);
    }
    let burst = burst_start.elapsed();
    let burst_cpu = support::cpu_time()?.saturating_sub(cpu_before);

    println!();
    println!("== burst ==");
    report(&outcomes, burst);
    println!(
        "process CPU during the burst: {:.2} s ({:.0}% of one core; client, server and simulator share the process)",
        burst_cpu.as_secs_f64(),
        100.0 * burst_cpu.as_secs_f64() / burst.as_secs_f64()
    );
    if let Some(app) = &app {
        let http = reqwest::Client::new();
        let metrics = app.metrics(&http).await?;
        let started_watchers =
            support::metric(&metrics, "qoswatch_watchers_started_total").unwrap_or(0.0);
        println!(
            "watchers: {} started, {} active after the burst",
            started_watchers,
            app.monitor.active()
        );
        for line in support::nonzero_series(&metrics, &["qoswatch_webhooks"]) {
            println!("  {line}");
        }
    }

    // Phase 2: the probe, while the watchers poll.
    let mut probe = Vec::new();
    if !args.probe_secs.is_zero() && Instant::now() < deadline {
        let probe_end = (Instant::now() + args.probe_secs).min(deadline);
        let qos_before = sim.as_ref().map(|s| s.qos_requests().len());
        let active_before = app.as_ref().map(|a| a.monitor.active());
        let cpu_before = support::cpu_time()?;
        let probe_start = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1) / args.probe_rate);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut i = 0;
        while Instant::now() < probe_end {
            tick.tick().await;
            let kind = if i % 2 == 0 {
                Kind::UrlValidation
            } else {
                Kind::Unknown
            };
            let body = body_for(
                Planned {
                    kind,
                    participant: 0,
                },
                i,
                &cast,
            );
            let t = Instant::now();
            let answer = sender.send_raw(body, chrono::Utc::now().timestamp()).await;
            let latency = t.elapsed();
            probe.push(match answer {
                Ok(r) => Outcome {
                    kind,
                    status: Some(r.status),
                    ok: check(kind, r.status, &r.body),
                    latency,
                },
                Err(_) => Outcome {
                    kind,
                    status: None,
                    ok: false,
                    latency,
                },
            });
            i += 1;
        }
        let elapsed = probe_start.elapsed();
        let cpu = support::cpu_time()?.saturating_sub(cpu_before);
        println!();
        println!(
            "== probe: 1 client at {}/s for {:.1} s ==",
            args.probe_rate,
            elapsed.as_secs_f64()
        );
        report(&probe, elapsed);
        if let (Some(app), Some(qos_before), Some(active_before)) =
            (&app, qos_before, active_before)
        {
            let polls = app.sim.qos_requests().len().saturating_sub(qos_before);
            println!(
                "meanwhile: {} → {} watchers active, {} QoS requests at the simulator ({:.1}/s), {} samples delivered in total",
                active_before,
                app.monitor.active(),
                polls,
                polls as f64 / elapsed.as_secs_f64(),
                app.tap.samples.load(Ordering::Relaxed)
            );
        }
        println!(
            "process CPU during the probe: {:.2} s ({:.0}% of one core)",
            cpu.as_secs_f64(),
            100.0 * cpu.as_secs_f64() / elapsed.as_secs_f64()
        );
    }

    let rss_after = support::rss_kib()?;
    println!();
    println!(
        "RSS: {} KiB before the load, {} KiB after; run took {:.1} s",
        rss_before,
        rss_after,
        started.elapsed().as_secs_f64()
    );
    let failed = outcomes.iter().chain(&probe).filter(|o| !o.ok).count();
    if let Some(app) = app {
        app.stop().await?;
    }
    if failed > 0 {
        bail!("{failed} webhook(s) did not get the expected answer");
    }
    Ok(())
}

fn report(outcomes: &[Outcome], elapsed: Duration) {
    let ok = outcomes.iter().filter(|o| o.ok).count();
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for o in outcomes {
        let key = o.status.map_or("error".to_owned(), |s| s.to_string());
        *statuses.entry(key).or_default() += 1;
    }
    println!(
        "{} requests in {:.3} s: {:.0} requests/s; {} answered as expected; statuses {:?}",
        outcomes.len(),
        elapsed.as_secs_f64(),
        outcomes.len() as f64 / elapsed.as_secs_f64(),
        ok,
        statuses
    );
    let mut all: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
    if let Some(latency) = Latency::of(&mut all) {
        println!("  {:<28} {latency}", "all");
    }
    let mut kinds: Vec<Kind> = outcomes.iter().map(|o| o.kind).collect();
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        let mut of_kind: Vec<Duration> = outcomes
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| o.latency)
            .collect();
        if let Some(latency) = Latency::of(&mut of_kind) {
            println!("  {:<28} {latency}", kind.name());
        }
    }
}
