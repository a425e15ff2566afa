//! `qoswatch demo`: the whole pipeline on one machine, no Zoom account.
//!
//! The embedded simulator plays Zoom (API and signed webhooks) on loopback;
//! the real qoswatch server receives those webhooks on its real endpoint,
//! polls the simulator, evaluates the shipped rules and sends alerts to the
//! console channel (and to Slack / e-mail when the user set them up). The
//! terminal tells the story: who joins and leaves, everyone's quality at a
//! glance, alerts firing and resolving, grouped alerts for a shared cause.

mod record;
mod story;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{EnvLookup, Secrets, Settings};
use crate::notify::DispatchHandle;
use crate::quota::budget::QuotaClock;
use crate::startup::{Application, Extras};
use crate::watch::Monitor;
use qoswatch_core::alert::{Channel, ChannelSpec};
use qoswatch_zoomsim::scenario::{Scenario, ScenarioReport, wall_time};
use qoswatch_zoomsim::webhooks::{BadAnswer, WebhookError, WebhookSender};
use qoswatch_zoomsim::{SimConfig, SimHandle, Simulator};
use story::{ConsoleTap, DemoEvent, Printer, Tap};

pub use story::SharedOutput;

/// The rules the demo uses when `rules.example.yaml` is not in the current
/// directory (an installed binary, the container).
const EMBEDDED_RULES: &str = include_str!("../../rules.example.yaml");

/// Arguments of `qoswatch demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Real time per simulated minute (one QoS sample per participant).
    #[arg(long, default_value = "2s", value_parser = qoswatch_core::duration::parse)]
    pub sample_period: Duration,
    /// Rules file; default `rules.example.yaml` here, else the copy built into qoswatch.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// NAME of the environment variable holding a Slack incoming-webhook URL;
    /// when it is set, alerts also go to Slack.
    #[arg(long, default_value = "QOSWATCH_SLACK_WEBHOOK_URL")]
    pub slack_webhook_env: String,
    /// E-mail recipients (comma-separated); alerts also go there through the
    /// relay set by QOSWATCH_SMTP_HOST, QOSWATCH_SMTP_FROM, … .
    #[arg(long, env = "QOSWATCH_DEMO_EMAIL_TO")]
    pub email_to: Option<String>,
    /// Also print every console notification as its raw JSON line.
    #[arg(long)]
    pub json: bool,
    /// Play Zoom's QSS: participants' samples arrive as pushed events, and
    /// the meeting is watched without Dashboard requests.
    #[arg(long)]
    pub qss: bool,
    /// Save the demo's meeting as a backtest recording (gzip JSON Lines) for
    /// `qoswatch backtest RULES --input FILE`; never overwrites a file.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self {
            sample_period: Duration::from_secs(2),
            rules: None,
            slack_webhook_env: "QOSWATCH_SLACK_WEBHOOK_URL".into(),
            email_to: None,
            json: false,
            qss: false,
            record: None,
        }
    }
}

/// One alert transition the demo saw on the console channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenAlert {
    /// `firing`, `repeat` or `resolved`.
    pub status: String,
    pub rule: String,
    pub severity: String,
    /// Display name; `None` for meeting-level alerts.
    pub participant: Option<String>,
    pub summary: String,
    /// What the notification said several participants share, if anything.
    pub shared_cause: Option<String>,
}

/// What the demo saw and sent.
#[derive(Debug, Clone, Default)]
pub struct DemoSummary {
    pub participants: Vec<String>,
    pub samples: u64,
    pub webhooks_sent: usize,
    pub webhook_failures: usize,
    /// Every alert transition, in the order the console channel printed them.
    pub alerts: Vec<SeenAlert>,
    /// Notifications (possibly grouping several alerts) on the console.
    pub notifications: usize,
    pub zoom_requests: usize,
    pub zoom_rate_limited: usize,
    pub slack_messages: u64,
    pub emails: u64,
    pub cancelled: bool,
}

/// Runs the demo to its end (or until `cancel`), writing the story to `out`.
pub async fn run(
    args: DemoArgs,
    env: EnvLookup<'_>,
    out: Box<dyn Write + Send>,
    cancel: CancellationToken,
) -> anyhow::Result<DemoSummary> {
    let period = args.sample_period.max(Duration::from_millis(100));
    let sim = start_simulator(period).await?;
    let rules_path = rules_path(&args)?;
    let secret = SecretString::from(format!("demo-{}", qoswatch_zoomsim::random_token(24)));
    let mut settings = demo_settings(&sim, period, &rules_path, &secret)?;
    with_qss(&mut settings, period, args.qss);
    let destinations = add_user_channels(&args, env, &mut settings)?;
    settings.validate().context("demo settings")?;
    let record_to = record::prepare(args.record.as_deref(), &settings)?;

    let (events, mut story) = mpsc::unbounded_channel();
    let mut extras = demo_extras(&args, env, events, destinations.extra_channels);
    extras.quota_clock = accelerated_day(&sim, period);
    let app = Application::build_with(settings, extras)
        .await
        .context("starting qoswatch")?;
    let address = app.address();
    let admin_address = app.admin_address();
    let app_stop = app.shutdown_token();
    let monitor = app.monitor();
    let dispatch = app.dispatch();
    // Every task of the demo is owned here and awaited before it returns.
    let tasks = tokio_util::task::TaskTracker::new();
    let server = tasks.spawn(app.run_until_stopped());

    let mut printer = Printer::new(out, args.json, period, env);
    let scenario = demo_scenario(args.qss);
    printer.banner(
        &rules_path,
        &destinations.names,
        wall_time(&scenario, period),
        address,
        admin_address,
    );
    announce_qss(&mut printer, args.qss);
    let sender = WebhookSender::new(&format!("http://{address}/webhooks/zoom"), secret)?;
    validate_endpoint(&sender, &mut printer).await;

    let scenario_cancel = cancel.child_token();
    let run_sim = sim.clone();
    let scenario_task = tasks.spawn({
        let cancel = scenario_cancel.clone();
        async move { scenario.run(&run_sim, Some(&sender), &cancel).await }
    });
    let report = tell_story(
        &mut printer,
        &mut story,
        scenario_task,
        &scenario_cancel,
        &monitor,
        period,
        &cancel,
    )
    .await;
    let metrics = wind_down(dispatch.as_ref(), &mut story, &mut printer, admin_address).await;
    app_stop.cancel();
    let _ = server.await;
    tasks.close();
    tasks.wait().await;
    print_pending(&mut story, &mut printer);
    let summary = summarize(&printer, &sim, &metrics, report, cancel.is_cancelled());
    printer.board();
    printer.print_summary(&summary);
    let recorded = record::after_story(record_to, &cancel).await;
    sim.shutdown().await;
    record::tell(recorded?, &rules_path, &mut printer);
    Ok(summary)
}

/// The simulated Zoom on a free loopback port, one sample per `period`.
async fn start_simulator(period: Duration) -> anyhow::Result<SimHandle> {
    Simulator::start(
        SimConfig {
            sample_period: period,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse()?,
    )
    .await
    .context("starting the Zoom simulator")
}

/// The quota's day at the simulator's pace (one minute per sample period),
/// so the daily plan sees the day the simulated Zoom would.
fn accelerated_day(sim: &SimHandle, period: Duration) -> QuotaClock {
    QuotaClock::Accelerated {
        at: sim.sim_now(),
        since: tokio::time::Instant::now(),
        speed: u32::try_from(60_000 / period.as_millis().max(1))
            .unwrap_or(1)
            .max(1),
    }
}

/// Lets the dispatcher deliver what is queued, prints what the console
/// printed meanwhile, and reads the metrics before the server stops.
async fn wind_down(
    dispatch: Option<&DispatchHandle>,
    story: &mut mpsc::UnboundedReceiver<DemoEvent>,
    printer: &mut Printer,
    admin_address: std::net::SocketAddr,
) -> String {
    if let Some(dispatch) = dispatch {
        let _ = dispatch.drain(Duration::from_secs(5)).await;
    }
    print_pending(story, printer);
    fetch_metrics(admin_address).await.unwrap_or_default()
}

fn print_pending(story: &mut mpsc::UnboundedReceiver<DemoEvent>, printer: &mut Printer) {
    while let Ok(event) = story.try_recv() {
        printer.event(event);
    }
}

/// `--rules`, else `rules.example.yaml` here, else the copy built into the
/// binary, written to a temporary directory.
fn rules_path(args: &DemoArgs) -> anyhow::Result<PathBuf> {
    if let Some(path) = &args.rules {
        return Ok(path.clone());
    }
    if std::path::Path::new("rules.example.yaml").is_file() {
        return Ok(PathBuf::from("rules.example.yaml"));
    }
    let dir = std::env::temp_dir().join(format!("qoswatch-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("creating a temporary directory")?;
    let path = dir.join("rules.example.yaml");
    std::fs::write(&path, EMBEDDED_RULES).context("writing the demo rules")?;
    Ok(path)
}

/// The server's settings for the demo: the simulator as Zoom, its
/// credentials, a polling pace and grouping window sized to the story.
/// The demo's story, with QSS events when asked.
fn demo_scenario(qss: bool) -> Scenario {
    let scenario = Scenario::demo();
    if qss { scenario.with_qss() } else { scenario }
}

/// Says where the samples come from when QSS is on.
fn announce_qss(printer: &mut Printer, qss: bool) {
    if qss {
        printer.line(QSS_LINE);
    }
}

/// What the demo says when QSS is on.
const QSS_LINE: &str = "- QSS on: Zoom pushes every participant's samples (meeting.participant_qos); \
                        qoswatch asks the Dashboard for nothing while they arrive.";

/// `demo --qss`: a joiner's first poll waits for its first QSS event (one
/// sample minute after the join), so it is fed from the start, never polled.
fn with_qss(settings: &mut Settings, period: Duration, qss: bool) {
    if !qss {
        return;
    }
    settings.polling.interval = period * 2;
    settings.polling.max_interval = settings.polling.max_interval.max(period * 2);
    settings.qss.fallback_after = period * 3;
}

fn demo_settings(
    sim: &SimHandle,
    period: Duration,
    rules_path: &Path,
    secret: &SecretString,
) -> anyhow::Result<Settings> {
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".parse()?;
    settings.server.admin_listen = "127.0.0.1:0".parse()?;
    // The demo is one story from start to end: nothing to keep.
    settings.store.data_dir = None;
    settings.server.shutdown_grace = Duration::from_secs(8);
    settings.zoom.api_base = sim.api_base();
    settings.zoom.token_url = sim.token_url();
    settings.zoom.request_timeout = Duration::from_secs(5);
    // Business+ accounts get 40 requests a second and 60,000 a day for the
    // QoS endpoints.
    settings.zoom.requests_per_second = 40;
    settings.zoom.daily_limit = 60_000;
    settings.polling.interval = period / 2;
    // The story is minutes long, in seconds each: a calm participant
    // stretches to two sample minutes, not to five real ones.
    settings.polling.max_interval = period * 2;
    settings.polling.max_staleness = period * 10;
    settings.polling.stale_after = period * 10;
    settings.polling.max_backoff = period * 2;
    settings.rules.file = Some(rules_path.to_owned());
    settings.alerts.dispatch.group_window = period;
    settings.alerts.dispatch.shutdown_grace = Duration::from_secs(5);
    settings.alerts.zoom_meeting_alerts.enabled = true;
    settings.secrets.webhook_secret_tokens = vec![secret.clone()];
    let credentials = sim.credentials();
    settings.secrets.account_id = Some(SecretString::from(credentials.account_id.clone()));
    settings.secrets.client_id = Some(SecretString::from(credentials.client_id.clone()));
    settings.secrets.client_secret = Some(SecretString::from(
        credentials.client_secret.expose_secret().to_owned(),
    ));
    Ok(settings)
}

/// Where the demo's alerts go besides the console.
struct Destinations {
    /// For the banner: "the console", "Slack", "e-mail".
    names: Vec<String>,
    extra_channels: Vec<Channel>,
}

/// Slack when its variable is set, e-mail when `--email-to` is given (with
/// the SMTP relay from the environment, which then lands in `settings`).
fn add_user_channels(
    args: &DemoArgs,
    env: EnvLookup<'_>,
    settings: &mut Settings,
) -> anyhow::Result<Destinations> {
    let mut destinations = Destinations {
        names: vec!["the console".to_owned()],
        extra_channels: Vec::new(),
    };
    if env(&args.slack_webhook_env).is_some_and(|url| !url.trim().is_empty()) {
        destinations.extra_channels.push(Channel {
            name: "demo-slack".into(),
            spec: ChannelSpec::Slack {
                webhook_url_env: args.slack_webhook_env.clone(),
                show_email: false,
                send_resolved: true,
            },
        });
        destinations.names.push("Slack".into());
    }
    if let Some(to) = args.email_to.as_deref().filter(|t| !t.trim().is_empty()) {
        let mut smtp_only = Settings::default();
        smtp_only.apply_env(env)?;
        let mut smtp = smtp_only.alerts.smtp.context(
            "--email-to needs an SMTP relay: set QOSWATCH_SMTP_HOST and QOSWATCH_SMTP_FROM",
        )?;
        smtp.password = Secrets::from_env(env)?.smtp_password;
        settings.alerts.smtp = Some(smtp);
        destinations.extra_channels.push(Channel {
            name: "demo-email".into(),
            spec: ChannelSpec::Email {
                to: to.split(',').map(|s| s.trim().to_owned()).collect(),
                show_email: false,
                send_resolved: true,
            },
        });
        destinations.names.push("e-mail".into());
    }
    Ok(destinations)
}

/// The taps that feed the story, and the one environment variable the
/// server may read (the Slack URL, when the user set it).
fn demo_extras(
    args: &DemoArgs,
    env: EnvLookup<'_>,
    events: mpsc::UnboundedSender<DemoEvent>,
    extra_channels: Vec<Channel>,
) -> Extras {
    let slack_env_name = args.slack_webhook_env.clone();
    let slack_url = env(&slack_env_name);
    Extras {
        env: Arc::new(move |name: &str| {
            if name == slack_env_name {
                slack_url.clone()
            } else {
                None
            }
        }),
        console: Box::new(ConsoleTap::new(events.clone())),
        sample_taps: vec![Arc::new(Tap::new(events))],
        extra_channels,
        ..Extras::default()
    }
}

/// Checked as Zoom checks it: a wrong encryptedToken is reported.
async fn validate_endpoint(sender: &WebhookSender, printer: &mut Printer) {
    match sender.check_url_validation("demoPlainToken0001").await {
        Ok(_) => printer.line("Zoom validated the webhook endpoint (url_validation answered)"),
        Err(WebhookError::BadUrlValidation(BadAnswer::Status(status))) => {
            printer.line(&format!("url_validation answered {status}"))
        }
        Err(error) => printer.line(&format!("url_validation failed: {error}")),
    }
}

/// Tells the story until the scenario is over and every watch has ended
/// (or `cancel`); returns the scenario's report when it finished.
async fn tell_story(
    printer: &mut Printer,
    story: &mut mpsc::UnboundedReceiver<DemoEvent>,
    scenario_task: tokio::task::JoinHandle<anyhow::Result<ScenarioReport>>,
    scenario_cancel: &CancellationToken,
    monitor: &Monitor,
    period: Duration,
    cancel: &CancellationToken,
) -> Option<ScenarioReport> {
    let mut scenario_task = Some(scenario_task);
    let mut report = None;
    let mut board = tokio::time::interval(period * 3);
    board.tick().await;
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            event = story.recv() => match event {
                Some(event) => printer.event(event),
                None => break,
            },
            _ = board.tick() => printer.board(),
            finished = async { scenario_task.as_mut().expect("checked below").await }, if scenario_task.is_some() => {
                scenario_task = None;
                report = finished.ok().and_then(Result::ok);
            }
        }
        if scenario_task.is_none() && monitor.active() == 0 {
            break;
        }
    }
    scenario_cancel.cancel();
    if let Some(task) = scenario_task.take() {
        let _ = task.await;
    }
    report
}

/// The figures of the summary: the story's own, the simulator's request
/// log and the server's delivery counters.
fn summarize(
    printer: &Printer,
    sim: &SimHandle,
    metrics: &str,
    report: Option<ScenarioReport>,
    cancelled: bool,
) -> DemoSummary {
    let log = sim.log();
    let mut summary = printer.summary.clone();
    summary.cancelled = cancelled;
    summary.zoom_requests = usize::try_from(sim.request_counts().qos()).unwrap_or(usize::MAX);
    summary.zoom_rate_limited = log.with_status(429);
    summary.slack_messages = metric_value(
        metrics,
        "qoswatch_notify_messages_sent_total{kind=\"slack\"}",
    );
    summary.emails = metric_value(
        metrics,
        "qoswatch_notify_messages_sent_total{kind=\"email\"}",
    );
    if let Some(report) = report {
        summary.webhooks_sent = report.webhooks_sent;
        summary.webhook_failures = report.webhook_failures;
    }
    summary
}

async fn fetch_metrics(address: std::net::SocketAddr) -> anyhow::Result<String> {
    Ok(reqwest::get(format!("http://{address}/metrics"))
        .await?
        .text()
        .await?)
}

fn metric_value(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}
