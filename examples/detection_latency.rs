//! Detection latency: from the moment the simulator's first degraded
//! sample of a participant exists to the moment the alert's message
//! reaches a Slack receiver on loopback, over `--trials` participants.
//!
//! The simulator and a real qoswatch run in this process (`support`), on
//! 127.0.0.1; qoswatch's Slack channel posts to an axum receiver here that
//! notes when each message arrived. Every trial is a participant alone in
//! a meeting of its own (so no grouping joins two trials into one message),
//! joined through a signed `participant_joined`; from its `--degrade-at`th
//! sample on it has bad Wi-Fi (audio latency 420 ms) against one rule:
//! `audio_input.latency above 150 ms for --sustain samples`. A sample tap
//! notes the `date_time` of the first bad sample qoswatch got (Zoom's time
//! of the sample = the simulated time it became available), the receiver
//! the simulated time the message arrived; the difference, in wall time, is
//! the detection latency. Trials start `--concurrency` at a time (default
//! one: qoswatch sends at most one Slack message a second per channel,
//! `slack_min_interval`, so concurrent trials would measure that queue),
//! each a fraction of a period after the last, so the poll falls anywhere
//! in the period.
//!
//! What bounds it: the wait for the next poll (up to `--poll-interval`)
//! plus `--sustain - 1` more samples, then dispatch (group window 0) and
//! the POST. Short intervals stand in for Zoom's minute: the figures scale
//! with the period, the overheads do not.
//!
//! ```sh
//! cargo run --release --example detection_latency -- --trials 50 --sample-period 500ms --poll-interval 500ms
//! ```

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use chrono::{DateTime, Utc};
use clap::Parser;
use qoswatch::watch::{SampleSink, SharedSubject, StopReason, WatchObserver};
use qoswatch_core::qos::{MetricId, QosSample};
use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{Degradation, MeetingSpec, ParticipantSpec, SimConfig, Target};
use secrecy::SecretString;
use support::{InProcess, Latency, PollingPlan, ServiceOptions, StoreChoice};

#[derive(Debug, Parser)]
#[command(about = "Time from a degraded sample to the Slack message (loopback only)")]
struct Args {
    /// Participants degraded, one alert each.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    trials: u32,
    /// Trials running at the same time.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=200))]
    concurrency: u32,
    /// Real time per simulated minute (one sample per participant).
    #[arg(long, default_value = "1s", value_parser = qoswatch_core::duration::parse)]
    sample_period: Duration,
    /// qoswatch's `polling.interval` (fixed mode: every participant alone).
    #[arg(long, default_value = "1s", value_parser = qoswatch_core::duration::parse)]
    poll_interval: Duration,
    /// The rule's `for: N samples`.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=10))]
    sustain: u32,
    /// The first degraded sample (0 is the first sample after the join).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=60))]
    degrade_at: u32,
}

/// Messages at the Slack receiver: their text and the simulated time each arrived.
type Inbox = Arc<Mutex<Vec<(DateTime<Utc>, String)>>>;

/// The first sample above the threshold per participant: its `date_time`.
#[derive(Debug, Default)]
struct FirstBad(Mutex<HashMap<String, DateTime<Utc>>>);

struct FirstBadObserver(Arc<FirstBad>);

impl WatchObserver for FirstBadObserver {
    fn sample(&mut self, subject: &SharedSubject, sample: &QosSample, _: DateTime<Utc>) {
        let latency = MetricId::parse("audio_input.latency").and_then(|m| sample.get(m));
        if latency.is_some_and(|ms| ms > 150.0) {
            let mut first = self.0.0.lock().expect("first bad");
            first
                .entry(subject.key.user_id.clone())
                .or_insert(sample.at);
        }
    }
    fn idle(&mut self, _: &SharedSubject, _: DateTime<Utc>) {}
    fn finished(&mut self, _: &SharedSubject, _: StopReason, _: DateTime<Utc>) {}
}

#[derive(Debug)]
struct FirstBadSink(Arc<FirstBad>);

impl SampleSink for FirstBadSink {
    fn open(
        &self,
        _: &SharedSubject,
        _: Option<qoswatch_core::rules::SavedState>,
    ) -> Box<dyn WatchObserver> {
        Box::new(FirstBadObserver(self.0.clone()))
    }
}

fn trial_meeting(i: u32) -> MeetingSpec {
    MeetingSpec::new(
        format!("detect{i:04}MtgAAAAAAAAAAA=="),
        85_000_000_000 + u64::from(i),
        format!("Detection trial {i}"),
    )
}

fn trial_participant(i: u32) -> ParticipantSpec {
    ParticipantSpec::new(
        format!("{}", 17_000_000 + i),
        format!("Trial-{i:04}-person"),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    support::init_logging();
    let args = Args::parse();
    if args.sample_period < Duration::from_millis(100) || args.poll_interval.is_zero() {
        bail!("--sample-period must be at least 100ms and --poll-interval above 0");
    }

    // The Slack receiver: notes the simulated time of each message.
    let inbox: Inbox = Arc::default();
    let sim_clock: Arc<Mutex<Option<qoswatch_zoomsim::SimHandle>>> = Arc::default();
    let receiver = Router::new()
        .route(
            "/hook",
            post(
                |State((inbox, clock)): State<(
                    Inbox,
                    Arc<Mutex<Option<qoswatch_zoomsim::SimHandle>>>,
                )>,
                 body: Bytes| async move {
                    let now = clock
                        .lock()
                        .expect("clock")
                        .as_ref()
                        .map(|sim| sim.sim_now());
                    if let Some(now) = now {
                        let text = String::from_utf8_lossy(&body).into_owned();
                        inbox.lock().expect("inbox").push((now, text));
                    }
                    "ok"
                },
            ),
        )
        .with_state((inbox.clone(), sim_clock.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let slack_url = format!("http://{}/hook", listener.local_addr()?);
    let receiver_task = tokio::spawn(async move { axum::serve(listener, receiver).await });

    let dir = tempfile::tempdir()?;
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "channels:\n  bench-slack:\n    type: slack\n    webhook_url_env: QOSWATCH_BENCH_SLACK_URL\n\
             defaults:\n  route:\n    channels: [bench-slack]\n\
             rules:\n  - name: audio-latency\n    metric: audio_input.latency\n    above: 150ms\n    for: {} samples\n    summary: \"{{participant}} has {{value}} audio latency\"\n",
            args.sustain
        ),
    )?;
    let first_bad = Arc::new(FirstBad::default());
    let env_slack_url = slack_url.clone();
    let options = ServiceOptions {
        rules_file: Some(rules),
        group_window: Some(Duration::ZERO),
        env: Some(Arc::new(move |name: &str| {
            (name == "QOSWATCH_BENCH_SLACK_URL").then(|| env_slack_url.clone())
        })),
        taps: vec![Arc::new(FirstBadSink(first_bad.clone()))],
        tweak: Some(Box::new(|settings| {
            settings.polling.mode = qoswatch::config::PollingMode::Fixed;
        })),
        ..ServiceOptions::default()
    };
    let sim_config = SimConfig {
        sample_period: args.sample_period,
        ..SimConfig::default()
    };
    let plan = PollingPlan {
        interval: args.poll_interval,
        requests_per_second: 400,
    };
    let app = InProcess::start_with(sim_config, plan, StoreChoice::Memory, options).await?;
    *sim_clock.lock().expect("clock") = Some(app.sim.clone());
    let sender = WebhookSender::new(
        &app.webhook_url(),
        SecretString::from(support::IN_PROCESS_SECRET.to_owned()),
    )?;
    println!(
        "detection latency: {} trials, {} at a time; sample period {}, poll interval {} (fixed mode), rule `above 150ms for {} samples`, group window 0, degraded from sample {}",
        args.trials,
        args.concurrency,
        qoswatch_core::duration::display(args.sample_period),
        qoswatch_core::duration::display(args.poll_interval),
        args.sustain,
        args.degrade_at,
    );

    let mut latencies = Vec::new();
    let mut missed = 0;
    let trials: Vec<u32> = (0..args.trials).collect();
    for batch in trials.chunks(args.concurrency as usize) {
        for i in batch {
            // Spread the joins over the sample period: trial i joins i/7 of
            // a period after the last, so the first poll falls anywhere in it.
            tokio::time::sleep(args.sample_period.mul_f64(f64::from(i % 7) / 7.0)).await;
            let meeting = trial_meeting(*i);
            let who = trial_participant(*i);
            app.sim.add_meeting(meeting.clone())?;
            support::sim_join(&app.sim, &meeting, &who)?;
            app.sim.add_degradation(Degradation::bad_wifi(
                Target::participant(who.user_id.clone()),
                args.degrade_at..args.degrade_at + 1000,
            ));
            let now = Utc::now();
            let answer = sender
                .participant_joined(&meeting, now, &who, now)
                .await
                .context("sending participant_joined")?;
            if answer.status != 200 {
                bail!("participant_joined answered {}", answer.status);
            }
        }
        // Wait for each trial's message, bounded.
        let bound = args.sample_period * (args.degrade_at + args.sustain + 3)
            + args.poll_interval * 2
            + Duration::from_secs(5);
        let deadline = tokio::time::Instant::now() + bound;
        let mut pending: Vec<u32> = batch.to_vec();
        while !pending.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            pending.retain(|i| {
                let who = trial_participant(*i);
                let Some(bad_at) = first_bad
                    .0
                    .lock()
                    .expect("first bad")
                    .get(&who.user_id)
                    .copied()
                else {
                    return true;
                };
                let arrived = inbox
                    .lock()
                    .expect("inbox")
                    .iter()
                    .find(|(_, text)| text.contains(&who.user_name))
                    .map(|(at, _)| *at);
                match arrived {
                    Some(at) => {
                        // Simulated time back to wall time: one period per minute.
                        let sim_ms = (at - bad_at).num_milliseconds().max(0) as f64;
                        latencies.push(args.sample_period.mul_f64(sim_ms / 60_000.0));
                        false
                    }
                    None => true,
                }
            });
        }
        missed += pending.len();
        for i in batch {
            let meeting = trial_meeting(*i);
            let _ = app.sim.end_meeting(&meeting.uuid);
            let _ = sender.meeting_ended(&meeting, Utc::now(), Utc::now()).await;
        }
    }

    let bound = args.poll_interval + args.sample_period * (args.sustain - 1);
    let within = latencies.iter().filter(|l| **l <= bound).count();
    match Latency::of(&mut latencies) {
        Some(stats) => println!("detection latency: {stats}"),
        None => println!("detection latency: no alert arrived"),
    }
    println!(
        "bound poll interval + (sustain - 1) x sample period = {} ms; {within} of {} within it; {missed} trials without a message",
        bound.as_millis(),
        args.trials,
    );
    app.stop().await?;
    receiver_task.abort();
    if missed > 0 {
        bail!("{missed} trials got no message");
    }
    Ok(())
}
