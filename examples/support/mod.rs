//! Shared parts of the load examples (`webhook_load`, `poll_load`,
//! `store_day`): the
//! in-process simulator + qoswatch pair, signed webhook bodies, latency
//! statistics and process readings from `/proc/self`.
//!
//! Not an example of its own: Cargo only builds `examples/*.rs` and
//! `examples/*/main.rs`; the examples include this file with `#[path]`.

#![allow(dead_code)] // each example uses a different subset

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use qoswatch::config::Settings;
use qoswatch::startup::{Application, Extras};
use qoswatch::watch::{Monitor, SampleSink, SharedSubject, StopReason, WatchObserver};
use qoswatch_core::qos::QosSample;
use qoswatch_zoomsim::{MeetingSpec, ParticipantSpec, SimConfig, SimHandle, Simulator};
use secrecy::{ExposeSecret, SecretString};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The webhook secret of the in-process qoswatch (not a real one).
pub const IN_PROCESS_SECRET: &str = "load-test-webhook-secret-0001";

/// Counts the samples every watch hands to its observers.
#[derive(Debug, Default)]
pub struct CountingTap {
    pub samples: AtomicU64,
}

struct CountingObserver(Arc<CountingTap>);

impl WatchObserver for CountingObserver {
    fn sample(&mut self, _: &SharedSubject, _: &QosSample, _: DateTime<Utc>) {
        self.0.samples.fetch_add(1, Ordering::Relaxed);
    }
    fn idle(&mut self, _: &SharedSubject, _: DateTime<Utc>) {}
    fn finished(&mut self, _: &SharedSubject, _: StopReason, _: DateTime<Utc>) {}
}

/// Wrapper so the tap (an `Arc`) can be a `SampleSink` and still be read.
#[derive(Debug)]
struct TapSink(Arc<CountingTap>);

impl SampleSink for TapSink {
    fn open(
        &self,
        _: &SharedSubject,
        _: Option<qoswatch_core::rules::SavedState>,
    ) -> Box<dyn WatchObserver> {
        Box::new(CountingObserver(self.0.clone()))
    }
}

/// The simulator and a real qoswatch `Application` pointed at it, both on
/// 127.0.0.1 with a free port.
pub struct InProcess {
    pub sim: SimHandle,
    pub address: SocketAddr,
    pub monitor: Monitor,
    pub tap: Arc<CountingTap>,
    /// The data directory, removed when this ends.
    data: Option<tempfile::TempDir>,
    shutdown: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
}

/// What the in-process qoswatch does beyond polling: by default no rules
/// (samples are only counted) and the console channel on standard output.
#[derive(Default)]
pub struct ServiceOptions {
    /// The rules file (`rules.file`).
    pub rules_file: Option<PathBuf>,
    /// Where the console channel writes its JSON lines instead of standard output.
    pub console: Option<Box<dyn Write + Send>>,
    /// `alerts.dispatch.group_window`, when not the default.
    pub group_window: Option<Duration>,
    /// Relay Zoom's `meeting.alert` webhooks (`alerts.zoom_meeting_alerts.enabled`).
    pub zoom_meeting_alerts: bool,
    /// Further changes to the settings, applied last.
    pub tweak: Option<SettingsTweak>,
    /// The daily quota's clock (an accelerated day).
    pub quota_clock: Option<qoswatch::quota::budget::QuotaClock>,
    /// More observers of every watch, beside the counting tap.
    pub taps: Vec<Arc<dyn SampleSink>>,
    /// The environment qoswatch reads (a Slack URL named in the rules
    /// file), instead of the process's.
    pub env: Option<qoswatch::startup::EnvFn>,
}

/// A change to the in-process qoswatch's settings.
pub type SettingsTweak = Box<dyn FnOnce(&mut Settings)>;

/// How the in-process qoswatch polls.
#[derive(Debug, Clone, Copy)]
pub struct PollingPlan {
    pub interval: Duration,
    pub requests_per_second: u32,
}

/// Where the in-process qoswatch keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreChoice {
    /// SQLite in memory: nothing survives.
    Memory,
    /// SQLite on disk in a temporary directory, `synchronous = full` (the default).
    Full,
    /// SQLite on disk in a temporary directory, `synchronous = normal`.
    Normal,
    /// PostgreSQL at `QOSWATCH_BENCH_DATABASE_URL` (a fresh database per
    /// run is the caller's business), as one of several replicas.
    Postgres,
}

impl InProcess {
    pub async fn start(
        sim_config: SimConfig,
        plan: PollingPlan,
        store: StoreChoice,
    ) -> anyhow::Result<Self> {
        Self::start_with(sim_config, plan, store, ServiceOptions::default()).await
    }

    /// [`InProcess::start`] with rules, a console writer and the other
    /// [`ServiceOptions`].
    pub async fn start_with(
        sim_config: SimConfig,
        plan: PollingPlan,
        store: StoreChoice,
        options: ServiceOptions,
    ) -> anyhow::Result<Self> {
        let sim = Simulator::start(sim_config, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("starting the Zoom simulator")?;
        let mut settings = Settings::default();
        settings.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        settings.server.admin_listen = SocketAddr::from(([127, 0, 0, 1], 0));
        settings.server.shutdown_grace = Duration::from_secs(10);
        settings.alerts.dispatch.shutdown_grace = Duration::from_secs(5);
        settings.zoom.api_base = sim.api_base();
        settings.zoom.token_url = sim.token_url();
        settings.zoom.request_timeout = Duration::from_secs(5);
        settings.zoom.requests_per_second = plan.requests_per_second;
        // Load runs are not about the daily plan: no hour stretches them.
        settings.zoom.daily_limit = 50_000_000;
        settings.zoom.daily_share = 1.0;
        settings.zoom.rate_share = 1.0;
        settings.polling.interval = plan.interval;
        settings.polling.max_backoff = plan.interval.max(Duration::from_secs(5));
        let data = match store {
            StoreChoice::Memory => None,
            StoreChoice::Full | StoreChoice::Normal => Some(tempfile::tempdir()?),
            StoreChoice::Postgres => None,
        };
        settings.store.data_dir = data.as_ref().map(|d| d.path().to_owned());
        if store == StoreChoice::Normal {
            settings.store.synchronous = qoswatch::store::Synchronous::Normal;
        }
        if store == StoreChoice::Postgres {
            let url = std::env::var("QOSWATCH_BENCH_DATABASE_URL")
                .context("--store postgres needs QOSWATCH_BENCH_DATABASE_URL")?;
            settings.store.data_dir = None;
            settings.secrets.database_url = Some(SecretString::from(url));
        }
        let credentials = sim.credentials();
        settings.secrets.webhook_secret_tokens =
            vec![SecretString::from(IN_PROCESS_SECRET.to_owned())];
        settings.secrets.account_id = Some(SecretString::from(credentials.account_id.clone()));
        settings.secrets.client_id = Some(SecretString::from(credentials.client_id.clone()));
        settings.secrets.client_secret = Some(SecretString::from(
            credentials.client_secret.expose_secret().to_owned(),
        ));
        settings.rules.file = options.rules_file;
        if let Some(window) = options.group_window {
            settings.alerts.dispatch.group_window = window;
        }
        settings.alerts.zoom_meeting_alerts.enabled = options.zoom_meeting_alerts;
        if let Some(tweak) = options.tweak {
            tweak(&mut settings);
        }
        settings.validate().context("load-test settings")?;
        let tap = Arc::new(CountingTap::default());
        let mut extras = Extras {
            sample_taps: vec![Arc::new(TapSink(tap.clone()))],
            ..Extras::default()
        };
        if let Some(console) = options.console {
            extras.console = console;
        }
        if let Some(clock) = options.quota_clock {
            extras.quota_clock = clock;
        }
        extras.sample_taps.extend(options.taps);
        if let Some(env) = options.env {
            extras.env = env;
        }
        let app = Application::build_with(settings, extras)
            .await
            .context("building qoswatch")?;
        let address = app.address();
        let monitor = app.monitor();
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        Ok(Self {
            sim,
            address,
            monitor,
            tap,
            data,
            shutdown,
            server,
        })
    }

    pub fn webhook_url(&self) -> String {
        format!("http://{}/webhooks/zoom", self.address)
    }

    /// The text of `GET /metrics`.
    pub async fn metrics(&self, http: &reqwest::Client) -> anyhow::Result<String> {
        let text = http
            .get(format!("http://{}/metrics", self.address))
            .send()
            .await
            .context("GET /metrics")?
            .error_for_status()
            .context("GET /metrics")?
            .text()
            .await
            .context("reading /metrics")?;
        Ok(text)
    }

    /// The data directory (holding `qoswatch.db`), when the store is on disk.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data.as_ref().map(|d| d.path())
    }

    /// Stops qoswatch (gracefully, bounded) and the simulator.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop_keeping_data().await.map(drop)
    }

    /// Stops as [`InProcess::stop`] does, and hands back the data directory
    /// (removed when the returned value is dropped) so the closed database
    /// can be read.
    pub async fn stop_keeping_data(self) -> anyhow::Result<Option<tempfile::TempDir>> {
        self.shutdown.cancel();
        match tokio::time::timeout(Duration::from_secs(15), self.server).await {
            Ok(joined) => joined.context("qoswatch task")??,
            Err(_) => bail!("qoswatch did not stop within 15 s"),
        }
        self.sim.shutdown().await;
        Ok(self.data)
    }
}

/// The value of one exported series (name with labels, exactly as
/// exported): the test kit's parser.
#[allow(unused_imports)] // not every example reads a series
pub use qoswatch_testkit::metric_value as metric;

/// The `qoswatch_*` lines of a metrics text that carry a non-zero value.
pub fn nonzero_series<'a>(text: &'a str, prefixes: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| prefixes.iter().any(|p| line.starts_with(p)))
        .filter(|line| {
            line.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|v| v != 0.0)
        })
        .collect()
}

/// Meeting `i` of a load run (distinct UUIDs, some with `/` that need double encoding).
pub fn meeting(i: usize) -> MeetingSpec {
    let uuid = if i % 4 == 3 {
        format!("/load{i:04}Mtg//AAAAAAAAAA==")
    } else {
        format!("load{i:04}MtgAAAAAAAAAAAA==")
    };
    MeetingSpec::new(uuid, 84_000_000_000 + i as u64, format!("Load meeting {i}"))
}

/// Participant `j` of a load run: a distinct meeting-scoped user id.
pub fn participant(j: usize) -> ParticipantSpec {
    ParticipantSpec::new(format!("{}", 16_000_000 + j), format!("Load Person {j}"))
}

/// `participant_joined` as Zoom would send it.
pub fn joined_body(meeting: &MeetingSpec, who: &ParticipantSpec) -> Vec<u8> {
    let now = Utc::now();
    qoswatch_zoomsim::webhooks::participant_joined_event(
        "simAccount0000000000001",
        meeting,
        now,
        who,
        now,
        now.timestamp_millis(),
    )
    .to_string()
    .into_bytes()
}

/// `participant_left` as Zoom would send it.
pub fn left_body(meeting: &MeetingSpec, who: &ParticipantSpec) -> Vec<u8> {
    let now = Utc::now();
    qoswatch_zoomsim::webhooks::participant_left_event(
        "simAccount0000000000001",
        meeting,
        now,
        who,
        now,
        "left the meeting",
        now.timestamp_millis(),
    )
    .to_string()
    .into_bytes()
}

/// `endpoint.url_validation` with a fresh plain token.
pub fn url_validation_body(i: usize) -> Vec<u8> {
    qoswatch_zoomsim::webhooks::url_validation_event(
        &format!("plainToken{i:012}"),
        Utc::now().timestamp_millis(),
    )
    .to_string()
    .into_bytes()
}

/// A well-formed event qoswatch does not act on (few distinct names, as on Zoom).
pub fn unknown_body(i: usize) -> Vec<u8> {
    const NAMES: [&str; 3] = [
        "meeting.sharing_started",
        "recording.completed",
        "meeting.chat_message_sent",
    ];
    serde_json::json!({
        "event": NAMES[i % NAMES.len()],
        "event_ts": Utc::now().timestamp_millis(),
        "payload": {"account_id": "simAccount0000000000001", "object": {"id": i, "uuid": "x"}},
    })
    .to_string()
    .into_bytes()
}

/// Joins `who` into `meeting` in the simulator (Zoom knows them before the webhook).
pub fn sim_join(
    sim: &SimHandle,
    meeting: &MeetingSpec,
    who: &ParticipantSpec,
) -> anyhow::Result<()> {
    sim.add_participant(&meeting.uuid, who.clone())
        .with_context(|| format!("adding participant {} to the simulator", who.user_id))?;
    Ok(())
}

/// Accepts only loopback targets: a load generator must not aim elsewhere.
pub fn loopback_url(target: &str) -> anyhow::Result<reqwest::Url> {
    let url = reqwest::Url::parse(target).context("--target is not a URL")?;
    if url.scheme() != "http" && url.scheme() != "https" {
        bail!("--target must be an http(s) URL");
    }
    let host = url.host_str().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("--target must be a loopback address (127.0.0.0/8, ::1 or localhost)");
    }
    Ok(url)
}

/// Latency statistics over a set of measurements.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub count: usize,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub mean: Duration,
}

impl Latency {
    pub fn of(samples: &mut [Duration]) -> Option<Latency> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let pick = |q: f64| {
            // Nearest-rank percentile.
            let rank = (q * samples.len() as f64).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1]
        };
        let total: Duration = samples.iter().sum();
        Some(Latency {
            count: samples.len(),
            p50: pick(0.50),
            p90: pick(0.90),
            p99: pick(0.99),
            max: samples[samples.len() - 1],
            mean: total / samples.len() as u32,
        })
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "n={:<6} p50 {:>7.3} ms  p90 {:>7.3} ms  p99 {:>7.3} ms  max {:>8.3} ms  mean {:>7.3} ms",
            self.count,
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max),
            ms(self.mean)
        )
    }
}

/// Resident set size of this process in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kib() -> anyhow::Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line in /proc/self/status")
}

/// CPU time (user + system) this process used so far, from `/proc/self/stat`
/// (clock ticks of `USER_HZ`, 100 on Linux).
pub fn cpu_time() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc/self/stat format")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `state` is field 3; utime and stime are fields 14 and 15 (1-based).
    let ticks = |index: usize| -> anyhow::Result<u64> {
        fields
            .get(index - 3)
            .and_then(|v| v.parse().ok())
            .context("unexpected /proc/self/stat format")
    };
    let total = ticks(14)? + ticks(15)?;
    Ok(Duration::from_millis(total * 10))
}

/// Installs a log subscriber only when `RUST_LOG` asks for logs: the load
/// examples print their own report, and per-request logs would distort it.
pub fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
}
