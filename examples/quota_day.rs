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
//! cargo run --release --example quota_day -- --workday --history   # issue 24's working day
//! ```

#[path = "support/mod.rs"]
mod support;
#[path = "support/workday.rs"]
mod workday;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use clap::Parser;
use qoswatch::config::PollingMode;
use qoswatch::quota::budget::QuotaClock;
use qoswatch::watch::{SampleSink, SharedSubject, StopReason, WatchObserver, WatchSubject};
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
    /// A working day instead: the rooms (meeting sizes above) hold
    /// meetings between 08:00 and 18:00 local time in four time zones,
    /// one UTC day from 00:00 (`--minutes` is ignored); every
    /// `--degrade-every`-th meeting of 37 minutes or more has one calm
    /// participant degraded from their 25th to 35th sample. The store is
    /// SQLite on disk.
    #[arg(long)]
    workday: bool,
    #[arg(long, default_value_t = 10)]
    degrade_every: usize,
    /// With `--workday`: the store holds the same day's watches of a week
    /// before (the plan's forecast of the day's shape).
    #[arg(long)]
    history: bool,
    /// With `--workday` and no `--history`: SQLite in memory instead of on
    /// disk (no fsync: at 300x, 10 ms of a disk's flush is 3 s of the day).
    #[arg(long)]
    memory_store: bool,
    /// Without `--workday`: meeting i of n joins i/n of a minute after the
    /// start instead of all at once, so that polls (one interval after the
    /// join) fall at every phase of Zoom's sample minute, the worst (just
    /// before a sample appears) included.
    #[arg(long)]
    spread_joins: bool,
}

const RULES: &str = "rules:\n  - name: audio-latency\n    metric: audio_input.latency\n    above: 150ms\n    for: 2 samples\n    clear: { for: 2 samples }\n";

/// A console line and the simulated time it arrived at.
type TimedLine = (DateTime<Utc>, String);

/// Per degraded user id, the sample-time windows of their episodes.
type Episodes = HashMap<String, Vec<(DateTime<Utc>, DateTime<Utc>)>>;

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
    /// Degraded user ids and their episodes' sample-time windows.
    episodes: Arc<Episodes>,
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
        _: &SharedSubject,
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
    fn sample(&mut self, subject: &SharedSubject, sample: &QosSample, _: DateTime<Utc>) {
        let now = sim_now(&self.tap.clock);
        let episode = self
            .tap
            .episodes
            .get(&subject.key.user_id)
            .and_then(|windows| {
                windows
                    .iter()
                    .position(|(from, to)| sample.at > *from && sample.at <= *to)
            });
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
    fn idle(&mut self, _: &SharedSubject, _: DateTime<Utc>) {}
    fn finished(&mut self, _: &SharedSubject, _: StopReason, _: DateTime<Utc>) {}
}

struct Report {
    mode: &'static str,
    /// Participant-hours in meetings (the demand), when scheduled.
    scheduled_hours: Option<f64>,
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

/// The first FIRING per participant and episode: from the first bad
/// sample's time (`started_at`) to the simulated time the console had it,
/// in simulated minutes.
fn detections(console: &Console) -> Vec<f64> {
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
    detection_min
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
        episodes: Arc::new(
            degraded_ids
                .iter()
                .map(|id| (id.clone(), episode_times.clone()))
                .collect(),
        ),
        seen: staleness.clone(),
    };
    let options = ServiceOptions {
        rules_file: Some(rules),
        console: Some(Box::new(console.clone())),
        group_window: Some(Duration::ZERO),
        taps: vec![Arc::new(tap)],
        tweak: Some(Box::new(move |settings| {
            day_settings(settings, mode, minute, quota, speed);
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
    let joins_from = Instant::now();
    let meetings = participants
        .iter()
        .map(|(m, _)| m.uuid.clone())
        .collect::<HashSet<_>>()
        .len()
        .max(1);
    let mut phase = HashMap::new();
    for (meeting, who) in &participants {
        if args.spread_joins {
            let next = phase.len();
            let index = *phase.entry(meeting.uuid.clone()).or_insert(next);
            let offset = minute.mul_f64(index as f64 / meetings as f64);
            tokio::time::sleep_until(joins_from + offset).await;
        }
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
    let detection_min = detections(&console);
    let report = Report {
        mode: match mode {
            PollingMode::Fixed => "fixed",
            PollingMode::Adaptive => "adaptive",
        },
        scheduled_hours: None,
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

/// The same day's watches a week before `day`, written to a SQLite store
/// in `dir`: the history the plan forecasts the day's shape from.
async fn seed_history(
    dir: &std::path::Path,
    day: DateTime<Utc>,
    sessions: &[workday::Session],
) -> anyhow::Result<()> {
    use qoswatch::store::{Store, StoreSettings, Write};
    use qoswatch_core::alert::{MeetingKey, ParticipantKey};
    let settings = StoreSettings {
        data_dir: Some(dir.to_owned()),
        retention: Duration::from_secs(3650 * 86_400),
        ..StoreSettings::default()
    };
    let mut registry = prometheus_client::registry::Registry::default();
    let (store, _) = Store::open(&settings, &mut registry).await?;
    let week_ago = day - TimeDelta::days(7);
    for (i, session) in sessions.iter().enumerate() {
        for n in 0..session.size {
            let key = ParticipantKey::new(
                format!("hIsToRy{i:05}AAAAAAAAAAA=="),
                format!("{}", 90_000_000 + i * 200 + n),
            );
            let subject = WatchSubject::of_key(key.clone());
            let minutes = |m: u32| week_ago + TimeDelta::minutes(i64::from(m));
            store.write(Write::WatchStarted {
                subject: Box::new(subject),
                at: minutes(session.start),
            });
            store.write(Write::WatchEnded {
                key,
                reason: StopReason::Left,
                at: minutes(session.end),
            });
        }
    }
    store
        .write_durably(Write::MeetingEnded {
            meeting: MeetingKey::new(Default::default(), "hIsToRy-last"),
            at: week_ago,
        })
        .await?;
    store.close().await;
    Ok(())
}

/// One meeting of the working day: joins at its start, leaves at its end
/// (unless the day ends first), on the simulator and by webhook.
async fn play_session(
    sim: SimHandle,
    sender: Arc<WebhookSender>,
    meeting: MeetingSpec,
    people: Vec<ParticipantSpec>,
    (join_at, leave_at): (Instant, Option<Instant>),
) -> anyhow::Result<()> {
    tokio::time::sleep_until(join_at).await;
    sim.add_meeting(meeting.clone())?;
    let start = sim.sim_now();
    let joins = people.iter().map(|who| {
        let (sim, sender, meeting) = (&sim, &sender, &meeting);
        async move {
            let at = sim.add_participant(&meeting.uuid, who.clone())?;
            sender
                .participant_joined(meeting, start, who, at)
                .await
                .context("participant_joined")?;
            anyhow::Ok(())
        }
    });
    futures_util::future::try_join_all(joins).await?;
    let Some(leave_at) = leave_at else {
        return Ok(());
    };
    tokio::time::sleep_until(leave_at).await;
    let leaves = people.iter().map(|who| {
        let (sim, sender, meeting) = (&sim, &sender, &meeting);
        async move {
            let at = sim.participant_leaves(&meeting.uuid, &who.user_id)?;
            sender
                .participant_left(meeting, start, who, at, "left the meeting")
                .await
                .context("participant_left")?;
            anyhow::Ok(())
        }
    });
    futures_util::future::try_join_all(leaves).await?;
    let end = sim.end_meeting(&meeting.uuid)?;
    sender
        .meeting_ended(&meeting, start, end)
        .await
        .context("meeting_ended")?;
    Ok(())
}

/// The working day (`--workday`): one UTC day from 00:00, meetings as
/// [`workday::schedule`] has them, SQLite on disk.
async fn run_workday(args: &Args, mode: PollingMode) -> anyhow::Result<(Report, f64)> {
    let minute = Duration::from_millis(args.minute_ms);
    let speed = u32::try_from(60_000 / args.minute_ms.max(1)).unwrap_or(1);
    let day: DateTime<Utc> = "2026-03-02T00:00:00Z".parse()?;
    let sessions = workday::schedule(&sizes(args), args.degrade_every, 11);
    let rules = std::env::temp_dir().join(format!("qoswatch-workday-{}.yaml", std::process::id()));
    std::fs::write(&rules, RULES)?;
    let data = tempfile::tempdir()?;
    if args.history {
        seed_history(data.path(), day, &sessions).await?;
    }
    let clock = SimClock::default();
    let console = Console {
        clock: clock.clone(),
        ..Console::default()
    };
    // Meetings, people and the degraded ones' sample windows (sample k at
    // join + k + 1 minutes; half a minute of slack for the join's jitter).
    let mut plays = Vec::new();
    let mut episodes = Episodes::new();
    let mut next_user = 0usize;
    for (i, session) in sessions.iter().enumerate() {
        let meeting = MeetingSpec::new(
            format!("wOrKdAy{i:05}AAAAAAAAAAA=="),
            86_000_000_000 + i as u64,
            format!("Room {} meeting {i}", session.room),
        );
        let mut people = Vec::new();
        for n in 0..session.size {
            let who = ParticipantSpec::new(
                format!("{}", 20_000_000 + next_user),
                format!("Person {next_user}"),
            );
            next_user += 1;
            if session.degraded == Some(n) {
                let joined = day + TimeDelta::minutes(i64::from(session.start));
                let at = |k: u32| joined + TimeDelta::seconds(i64::from(k) * 60 + 30);
                episodes.insert(
                    who.user_id.clone(),
                    vec![(
                        at(workday::DEGRADED_SAMPLES.start),
                        at(workday::DEGRADED_SAMPLES.end),
                    )],
                );
            }
            people.push(who);
        }
        plays.push((meeting, people, session.start, session.end));
    }
    let staleness = Arc::new(Mutex::new(Staleness::default()));
    let tap = StalenessTap {
        clock: clock.clone(),
        episodes: Arc::new(episodes.clone()),
        seen: staleness.clone(),
    };
    let quota = args.quota;
    let data_dir = data.path().to_owned();
    let memory_store = args.memory_store && !args.history;
    let options = ServiceOptions {
        rules_file: Some(rules),
        console: Some(Box::new(console.clone())),
        group_window: Some(Duration::ZERO),
        taps: vec![Arc::new(tap)],
        tweak: Some(Box::new(move |settings| {
            day_settings(settings, mode, minute, quota, speed);
            settings.store.data_dir = Some(data_dir).filter(|_| !memory_store);
            // The history is older than the wall clock's week: keep it.
            settings.store.retention = Duration::from_secs(3650 * 86_400);
        })),
        quota_clock: Some(QuotaClock::Accelerated {
            at: day,
            since: Instant::now(),
            speed,
        }),
        ..ServiceOptions::default()
    };
    let sim_config = SimConfig {
        sample_period: minute,
        clock_start: Some(day),
        daily_limit: Some(quota),
        log_capacity: 1,
        ..SimConfig::default()
    };
    let plan = PollingPlan {
        interval: minute,
        requests_per_second: 10 * speed,
    };
    let wall = Instant::now();
    let app = InProcess::start_with(sim_config, plan, StoreChoice::Memory, options).await?;
    *clock.lock().expect("clock") = Some(app.sim.clone());
    // Simulated 00:00 is now (the simulator's clock started at `day`).
    let since_day = (app.sim.sim_now() - day).to_std().unwrap_or_default();
    let t0 = Instant::now() - since_day / speed.max(1);
    let sender = Arc::new(WebhookSender::new(
        &app.webhook_url(),
        SecretString::from(support::IN_PROCESS_SECRET.to_owned()),
    )?);
    for id in episodes.keys() {
        app.sim.add_degradation(Degradation::bad_wifi(
            Target::participant(id.clone()),
            workday::DEGRADED_SAMPLES,
        ));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (meeting, people, start, end) in plays {
        let leave = (end < 1440).then(|| t0 + minute * end);
        tasks.spawn(play_session(
            app.sim.clone(),
            sender.clone(),
            meeting,
            people,
            (t0 + minute * start, leave),
        ));
    }
    let day_end = t0 + minute * 1440;
    // Just before 00:00: what the day used (the run ends with the day).
    tokio::time::sleep_until(day_end - minute / 4).await;
    let counts = app.sim.request_counts();
    let text = app.metrics(&reqwest::Client::new()).await?;
    tasks.abort_all();
    while let Some(done) = tasks.join_next().await {
        if let Ok(Err(e)) = done {
            eprintln!("a meeting's script failed: {e:#}");
        }
    }
    let hours = workday::demand_by_hour(&sessions);
    let report = Report {
        mode: match mode {
            PollingMode::Fixed => "fixed",
            PollingMode::Adaptive => "adaptive",
        },
        scheduled_hours: Some(hours.iter().sum::<f64>() / 60.0),
        participants: next_user,
        requests: counts.qos(),
        list_requests: counts.list_qos,
        rate_limited: counts.rate_limited,
        samples: support::metric(&text, "qoswatch_samples_total").unwrap_or(0.0),
        staleness: std::mem::take(&mut *staleness.lock().expect("staleness")),
        detection_min: detections(&console),
        episodes_expected: episodes.len(),
        wall: wall.elapsed(),
    };
    let left = f64::from(quota) - counts.qos() as f64;
    app.stop().await?;
    drop(data);
    Ok((report, left.max(0.0) / f64::from(quota)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let modes: Vec<PollingMode> = match args.only.as_deref() {
        Some("fixed") => vec![PollingMode::Fixed],
        Some("adaptive") => vec![PollingMode::Adaptive],
        _ => vec![PollingMode::Fixed, PollingMode::Adaptive],
    };
    if args.workday {
        return workday_main(&args, modes).await;
    }
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
        "| mode | Zoom requests (list pages) | participant-hours watched | requests per participant-minute | staleness healthy max / p99 | staleness degraded max / p99 | detection delay p50 / p99 / max (alerts) | the same less the rule's sustain (1 min) | 429s | wall |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for mode in modes {
        let r = run(&args, mode).await?;
        let per_minute = r.requests as f64 / r.samples.max(1.0);
        let detection = r.detection_min.clone();
        let after: Vec<f64> = detection.iter().map(|d| d - 1.0).collect();
        println!(
            "| {} ({} participants) | {} ({}) | {:.0} | {:.3} | {:.1} / {:.1} min | {:.1} / {:.1} min | {:.2} / {:.2} / {:.2} min ({} of {}) | {:.2} / {:.2} / {:.2} min | {} | {:.0} s |",
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
            percentile(&detection, 0.99),
            percentile(&detection, 1.0),
            detection.len(),
            r.episodes_expected,
            percentile(&after, 0.5),
            percentile(&after, 0.99),
            percentile(&after, 1.0),
            r.rate_limited,
            r.wall.as_secs_f64(),
        );
    }
    Ok(())
}

async fn workday_main(args: &Args, modes: Vec<PollingMode>) -> anyhow::Result<()> {
    let sizes = sizes(args);
    let sessions = workday::schedule(&sizes, args.degrade_every, 11);
    let hours = workday::demand_by_hour(&sessions);
    println!(
        "working day: {} rooms ({} seats), {} meetings of {} people, {} participant-hours in meetings, {} degradations of calm participants (samples {:?}); zones {}; daily quota {}; {} ms a simulated minute; history of a week before: {}; store: {}",
        sizes.len(),
        sizes.iter().sum::<usize>(),
        sessions.len(),
        sessions.iter().map(|s| s.size).sum::<usize>(),
        (hours.iter().sum::<f64>() / 60.0).round(),
        sessions.iter().filter(|s| s.degraded.is_some()).count(),
        workday::DEGRADED_SAMPLES,
        workday::ZONES
            .iter()
            .map(|(_, share, name)| format!("{name} {:.0} %", share * 100.0))
            .collect::<Vec<_>>()
            .join(", "),
        args.quota,
        args.minute_ms,
        args.history,
        if args.memory_store && !args.history {
            "SQLite in memory"
        } else {
            "SQLite on disk"
        },
    );
    println!(
        "participants in meetings by UTC hour (average): {}",
        hours
            .iter()
            .map(|m| format!("{:.0}", m / 60.0))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "| mode | Zoom requests (list pages) | participant-hours watched (in meetings) | requests per participant-minute | quota left at 00:00 UTC | staleness healthy max / p99 | detection delay p50 / p99 / max (alerts) | the same less the rule's sustain (1 min) | 429s | wall |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for mode in modes {
        let (r, left) = run_workday(args, mode).await?;
        let per_minute = r.requests as f64 / r.samples.max(1.0);
        let detection = r.detection_min.clone();
        let after: Vec<f64> = detection.iter().map(|d| d - 1.0).collect();
        println!(
            "| {} | {} ({}) | {:.0} ({:.0}) | {:.3} | {:.1} % | {:.1} / {:.1} min | {:.2} / {:.2} / {:.2} min ({} of {}) | {:.2} / {:.2} / {:.2} min | {} | {:.0} s |",
            r.mode,
            r.requests,
            r.list_requests,
            r.samples / 60.0,
            r.scheduled_hours.unwrap_or(f64::NAN),
            per_minute,
            left * 100.0,
            percentile(&r.staleness.healthy, 1.0),
            percentile(&r.staleness.healthy, 0.99),
            percentile(&detection, 0.5),
            percentile(&detection, 0.99),
            percentile(&detection, 1.0),
            detection.len(),
            r.episodes_expected,
            percentile(&after, 0.5),
            percentile(&after, 0.99),
            percentile(&after, 1.0),
            r.rate_limited,
            r.wall.as_secs_f64(),
        );
    }
    Ok(())
}

/// The polling and Zoom settings of a simulated day: intervals in simulated
/// minutes, the day's `quota`, and Zoom's 10 a second (Pro) at `speed`.
fn day_settings(
    settings: &mut qoswatch::config::Settings,
    mode: PollingMode,
    minute: Duration,
    quota: u32,
    speed: u32,
) {
    settings.polling.mode = mode;
    settings.polling.max_interval = minute * 5;
    settings.polling.max_staleness = minute * 15;
    settings.polling.stale_after = minute * 10;
    settings.polling.max_backoff = minute * 5;
    settings.polling.max_watch_age = minute * 24 * 60;
    settings.zoom.daily_limit = quota;
    settings.zoom.daily_share = 1.0;
    settings.zoom.requests_per_second = 10 * speed;
    settings.zoom.rate_share = 1.0;
}
