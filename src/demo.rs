//! `qoswatch demo`: the whole pipeline on one machine, no Zoom account.
//!
//! The embedded simulator plays Zoom (API and signed webhooks) on loopback;
//! the real qoswatch server receives those webhooks on its real endpoint,
//! polls the simulator, evaluates the shipped rules and sends alerts to the
//! console channel (and to Slack / e-mail when the user set them up). The
//! terminal tells the story: who joins and leaves, everyone's quality at a
//! glance, alerts firing and resolving, grouped alerts for a shared cause.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{EnvLookup, Secrets, Settings};
use crate::startup::{Application, Extras};
use crate::watch::{SampleSink, StopReason, WatchObserver, WatchSubject};
use qoswatch_core::alert::{Channel, ChannelSpec};
use qoswatch_core::qos::{CpuMetric, MetricId, QosSample, Stream, StreamMetric};
use qoswatch_zoomsim::scenario::{Scenario, wall_time};
use qoswatch_zoomsim::webhooks::{BadAnswer, WebhookError, WebhookSender};
use qoswatch_zoomsim::{SimConfig, Simulator};

/// The rules the demo uses when `rules.example.yaml` is not in the current
/// directory (an installed binary, the container).
const EMBEDDED_RULES: &str = include_str!("../rules.example.yaml");

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
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self {
            sample_period: Duration::from_secs(2),
            rules: None,
            slack_webhook_env: "QOSWATCH_SLACK_WEBHOOK_URL".into(),
            email_to: None,
            json: false,
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

enum DemoEvent {
    Joined(WatchSubject),
    Sample(WatchSubject, Box<QosSample>),
    Left(WatchSubject, StopReason),
    Notification(Value),
}

/// Watches every participant for the terminal (next to the rules).
#[derive(Debug, Clone)]
struct Tap {
    events: mpsc::UnboundedSender<DemoEvent>,
}

impl SampleSink for Tap {
    fn open(&self, subject: &WatchSubject) -> Box<dyn WatchObserver> {
        let _ = self.events.send(DemoEvent::Joined(subject.clone()));
        Box::new(self.clone())
    }
}

impl WatchObserver for Tap {
    fn sample(&mut self, subject: &WatchSubject, sample: &QosSample, _now: DateTime<Utc>) {
        let _ = self
            .events
            .send(DemoEvent::Sample(subject.clone(), Box::new(sample.clone())));
    }

    fn idle(&mut self, _subject: &WatchSubject, _now: DateTime<Utc>) {}

    fn finished(&mut self, subject: &WatchSubject, reason: StopReason, _now: DateTime<Utc>) {
        let _ = self.events.send(DemoEvent::Left(subject.clone(), reason));
    }
}

/// The console channel's writer: each JSON line becomes a story event.
struct ConsoleTap {
    events: mpsc::UnboundedSender<DemoEvent>,
    pending: Vec<u8>,
}

impl Write for ConsoleTap {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(data);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            if let Ok(value) = serde_json::from_slice::<Value>(&line) {
                let _ = self.events.send(DemoEvent::Notification(value));
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the demo to its end (or until `cancel`), writing the story to `out`.
pub async fn run(
    args: DemoArgs,
    env: EnvLookup<'_>,
    out: Box<dyn Write + Send>,
    cancel: CancellationToken,
) -> anyhow::Result<DemoSummary> {
    let period = args.sample_period.max(Duration::from_millis(100));
    let sim = Simulator::start(
        SimConfig {
            sample_period: period,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse()?,
    )
    .await
    .context("starting the Zoom simulator")?;

    let rules_path = match &args.rules {
        Some(path) => path.clone(),
        None if std::path::Path::new("rules.example.yaml").is_file() => {
            PathBuf::from("rules.example.yaml")
        }
        None => {
            let dir = std::env::temp_dir().join(format!("qoswatch-demo-{}", std::process::id()));
            std::fs::create_dir_all(&dir).context("creating a temporary directory")?;
            let path = dir.join("rules.example.yaml");
            std::fs::write(&path, EMBEDDED_RULES).context("writing the demo rules")?;
            path
        }
    };

    let secret = SecretString::from(format!("demo-{}", qoswatch_zoomsim::random_token(24)));
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".parse()?;
    settings.server.shutdown_grace = Duration::from_secs(8);
    settings.zoom.api_base = sim.api_base();
    settings.zoom.token_url = sim.token_url();
    settings.zoom.request_timeout = Duration::from_secs(5);
    // Business+ accounts get 40 requests a second for the QoS endpoints.
    settings.zoom.requests_per_second = 40;
    settings.polling.interval = period / 2;
    settings.polling.stale_after = period * 10;
    settings.polling.max_backoff = period * 2;
    settings.rules.file = Some(rules_path.clone());
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

    let mut extra_channels = Vec::new();
    let mut destinations = vec!["the console".to_owned()];
    if env(&args.slack_webhook_env).is_some_and(|url| !url.trim().is_empty()) {
        extra_channels.push(Channel {
            name: "demo-slack".into(),
            spec: ChannelSpec::Slack {
                webhook_url_env: args.slack_webhook_env.clone(),
                show_email: false,
                send_resolved: true,
            },
        });
        destinations.push("Slack".into());
    }
    if let Some(to) = args.email_to.as_deref().filter(|t| !t.trim().is_empty()) {
        let mut smtp_only = Settings::default();
        smtp_only.apply_env(env)?;
        let mut smtp = smtp_only.alerts.smtp.context(
            "--email-to needs an SMTP relay: set QOSWATCH_SMTP_HOST and QOSWATCH_SMTP_FROM",
        )?;
        smtp.password = Secrets::from_env(env)?.smtp_password;
        settings.alerts.smtp = Some(smtp);
        extra_channels.push(Channel {
            name: "demo-email".into(),
            spec: ChannelSpec::Email {
                to: to.split(',').map(|s| s.trim().to_owned()).collect(),
                show_email: false,
                send_resolved: true,
            },
        });
        destinations.push("e-mail".into());
    }
    settings.validate().context("demo settings")?;

    let (events, mut story) = mpsc::unbounded_channel();
    let slack_env_name = args.slack_webhook_env.clone();
    let slack_url = env(&slack_env_name);
    let extras = Extras {
        env: Arc::new(move |name: &str| {
            if name == slack_env_name {
                slack_url.clone()
            } else {
                None
            }
        }),
        console: Box::new(ConsoleTap {
            events: events.clone(),
            pending: Vec::new(),
        }),
        sample_taps: vec![Arc::new(Tap {
            events: events.clone(),
        })],
        extra_channels,
    };
    drop(events);
    let app = Application::build_with(settings, extras)
        .await
        .context("starting qoswatch")?;
    let address = app.address();
    let app_stop = app.shutdown_token();
    let monitor = app.monitor();
    let dispatch = app.dispatch();
    // Every task of the demo is owned here and awaited before it returns.
    let tasks = tokio_util::task::TaskTracker::new();
    let server = tasks.spawn(app.run_until_stopped());

    let mut printer = Printer::new(out, args.json, period, env);
    let scenario = Scenario::demo();
    printer.banner(
        &rules_path,
        &destinations,
        wall_time(&scenario, period),
        address,
    );

    let sender = WebhookSender::new(&format!("http://{address}/webhooks/zoom"), secret)?;
    // Checked as Zoom checks it: a wrong encryptedToken is reported.
    match sender.check_url_validation("demoPlainToken0001").await {
        Ok(_) => printer.line("Zoom validated the webhook endpoint (url_validation answered)"),
        Err(WebhookError::BadUrlValidation(BadAnswer::Status(status))) => {
            printer.line(&format!("url_validation answered {status}"))
        }
        Err(error) => printer.line(&format!("url_validation failed: {error}")),
    }

    let scenario_cancel = cancel.child_token();
    let run_sim = sim.clone();
    let scenario_task = tasks.spawn({
        let cancel = scenario_cancel.clone();
        async move { scenario.run(&run_sim, Some(&sender), &cancel).await }
    });

    // Tell the story until the scenario is over and every watch has ended.
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
    if let Some(dispatch) = &dispatch {
        let _ = dispatch.drain(Duration::from_secs(5)).await;
    }
    // Whatever the console printed while draining.
    while let Ok(event) = story.try_recv() {
        printer.event(event);
    }
    let metrics = fetch_metrics(address).await.unwrap_or_default();
    app_stop.cancel();
    let _ = server.await;
    tasks.close();
    tasks.wait().await;
    while let Ok(event) = story.try_recv() {
        printer.event(event);
    }
    let log = sim.log();
    let mut summary = printer.summary.clone();
    summary.cancelled = cancel.is_cancelled();
    summary.zoom_requests = log.qos_requests().len();
    summary.zoom_rate_limited = log.with_status(429);
    summary.slack_messages = metric_value(
        &metrics,
        "qoswatch_notify_messages_sent_total{kind=\"slack\"}",
    );
    summary.emails = metric_value(
        &metrics,
        "qoswatch_notify_messages_sent_total{kind=\"email\"}",
    );
    if let Some(report) = report {
        summary.webhooks_sent = report.webhooks_sent;
        summary.webhook_failures = report.webhook_failures;
    }
    printer.board();
    printer.print_summary(&summary);
    sim.shutdown().await;
    Ok(summary)
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

/// One participant as the terminal shows it.
#[derive(Debug, Clone, Default)]
struct Row {
    name: String,
    location: String,
    device: String,
    latency: Option<f64>,
    jitter: Option<f64>,
    loss: Option<f64>,
    fps: Option<f64>,
    cpu: Option<f64>,
    alerts: BTreeMap<String, String>,
    gone: Option<String>,
}

struct Printer {
    out: Box<dyn Write + Send>,
    color: bool,
    json: bool,
    period: Duration,
    started: tokio::time::Instant,
    rows: BTreeMap<String, Row>,
    summary: DemoSummary,
}

impl Printer {
    fn new(out: Box<dyn Write + Send>, json: bool, period: Duration, env: EnvLookup<'_>) -> Self {
        Self {
            out,
            color: std::io::stdout().is_terminal() && env("NO_COLOR").is_none(),
            json,
            period,
            started: tokio::time::Instant::now(),
            rows: BTreeMap::new(),
            summary: DemoSummary::default(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Simulated minutes since the start, as the story's clock.
    fn clock(&self) -> String {
        let minutes = self.started.elapsed().as_secs_f64() / self.period.as_secs_f64();
        format!("[min {minutes:>4.1}]")
    }

    fn line(&mut self, text: &str) {
        let clock = self.paint("2", &self.clock());
        let _ = writeln!(self.out, "{clock} {text}");
    }

    fn banner(
        &mut self,
        rules: &std::path::Path,
        destinations: &[String],
        length: Duration,
        address: std::net::SocketAddr,
    ) {
        let title = self.paint("1", "qoswatch demo");
        let _ = writeln!(
            self.out,
            "{title}: a simulated Zoom meeting, watched by the real qoswatch.\n\
             - Zoom is simulated on loopback: its QoS API and its signed webhooks.\n\
             - qoswatch listens on http://{address}, rules from {}, alerts to {}.\n\
             - One simulated minute every {:?}; the story takes about {:?}. Ctrl-C ends it early.\n",
            rules.display(),
            destinations.join(", "),
            self.period,
            length,
        );
    }

    fn event(&mut self, event: DemoEvent) {
        match event {
            DemoEvent::Joined(subject) => {
                let name = subject.participant.display_name();
                self.summary.participants.push(name.clone());
                self.rows.insert(
                    subject.key.user_id.clone(),
                    Row {
                        name: name.clone(),
                        ..Row::default()
                    },
                );
                let arrow = self.paint("32", "→");
                self.line(&format!("{arrow} {name} joined; qoswatch starts watching"));
            }
            DemoEvent::Sample(subject, sample) => {
                self.summary.samples += 1;
                let row = self.rows.entry(subject.key.user_id.clone()).or_default();
                row.name = subject.participant.display_name();
                row.location = subject.participant.location.clone().unwrap_or_default();
                row.device = subject.participant.device.clone().unwrap_or_default();
                let worst = |metric: StreamMetric, streams: &[Stream]| {
                    streams
                        .iter()
                        .filter_map(|s| sample.get(MetricId::Stream(*s, metric)))
                        .reduce(f64::max)
                };
                let audio = [Stream::AudioInput, Stream::AudioOutput];
                row.latency = worst(StreamMetric::Latency, &audio);
                row.jitter = worst(StreamMetric::Jitter, &audio);
                row.loss = worst(StreamMetric::AvgLoss, &audio);
                row.fps = sample.get(MetricId::Stream(
                    Stream::VideoOutput,
                    StreamMetric::FrameRate,
                ));
                row.cpu = sample.get(MetricId::Cpu(CpuMetric::ZoomMax));
            }
            DemoEvent::Left(subject, reason) => {
                let name = subject.participant.display_name();
                if let Some(row) = self.rows.get_mut(&subject.key.user_id) {
                    row.gone = Some(reason.to_string());
                }
                let arrow = self.paint("33", "←");
                self.line(&format!("{arrow} {name}: watch ended ({reason})"));
            }
            DemoEvent::Notification(value) => self.notification(value),
        }
    }

    fn notification(&mut self, value: Value) {
        self.summary.notifications += 1;
        if self.json {
            let raw = value.to_string();
            let _ = writeln!(self.out, "{}", self.paint("2", &raw));
        }
        let cause = match value["shared_cause"]["kind"].as_str() {
            Some("location") => Some(format!(
                "same location: {}",
                value["shared_cause"]["value"].as_str().unwrap_or("?")
            )),
            Some("network_type") => Some(format!(
                "same network type: {}",
                value["shared_cause"]["value"].as_str().unwrap_or("?")
            )),
            Some("device") => Some(format!(
                "same device: {}",
                value["shared_cause"]["value"].as_str().unwrap_or("?")
            )),
            Some("meeting") => Some("nothing in common: the meeting, host or Zoom".into()),
            _ => None,
        };
        let alerts = value["alerts"].as_array().cloned().unwrap_or_default();
        if alerts.len() > 1 {
            let header = format!(
                "{} alerts in one message for \"{}\"{}",
                alerts.len(),
                value["meeting"]["topic"].as_str().unwrap_or("the meeting"),
                cause
                    .as_ref()
                    .map(|c| format!(" — likely shared cause ({c})"))
                    .unwrap_or_default()
            );
            let header = self.paint("1;35", &header);
            self.line(&header);
        }
        for alert in alerts {
            let status = alert["status"].as_str().unwrap_or("?").to_owned();
            let severity = alert["severity"].as_str().unwrap_or("?").to_owned();
            let rule = alert["rule"].as_str().unwrap_or("?").to_owned();
            let participant = alert["participant"]["name"].as_str().map(str::to_owned);
            let summary = alert["summary"].as_str().unwrap_or("").to_owned();
            let user_id = alert["participant"]["user_id"].as_str().unwrap_or("");
            if let Some(row) = self.rows.get_mut(user_id) {
                if status == "resolved" {
                    row.alerts.remove(&rule);
                } else {
                    row.alerts.insert(rule.clone(), severity.clone());
                }
            }
            let tag = match (status.as_str(), severity.as_str()) {
                ("resolved", _) => self.paint("32", "RESOLVED"),
                (_, "critical") => self.paint("1;31", "CRITICAL"),
                ("repeat", _) => self.paint("33", "STILL   "),
                _ => self.paint("33", "WARNING "),
            };
            let indent = if value["alerts"].as_array().is_some_and(|a| a.len() > 1) {
                "  "
            } else {
                ""
            };
            self.line(&format!("{indent}{tag} {summary}  [{rule}]"));
            self.summary.alerts.push(SeenAlert {
                status,
                rule,
                severity,
                participant,
                summary,
                shared_cause: cause.clone(),
            });
        }
    }

    fn board(&mut self) {
        if self.rows.is_empty() {
            return;
        }
        let fmt = |v: Option<f64>, unit: &str| {
            v.map(|v| format!("{v:.0}{unit}"))
                .unwrap_or_else(|| "—".into())
        };
        let mut text = format!(
            "{:<14} {:<15} {:>8} {:>7} {:>6} {:>6} {:>5}  {}\n",
            "participant", "location", "latency", "jitter", "loss", "video", "cpu", "state"
        );
        for row in self.rows.values() {
            let state = if let Some(gone) = &row.gone {
                format!("gone ({gone})")
            } else if row.alerts.is_empty() {
                "ok".into()
            } else {
                row.alerts
                    .iter()
                    .map(|(rule, severity)| format!("{rule}:{severity}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let state = if row.gone.is_some() {
                self.paint("2", &state)
            } else if row.alerts.values().any(|s| s == "critical") {
                self.paint("31", &state)
            } else if !row.alerts.is_empty() {
                self.paint("33", &state)
            } else {
                self.paint("32", &state)
            };
            let loss = row
                .loss
                .map(|v| format!("{v:.1}%"))
                .unwrap_or_else(|| "—".into());
            text.push_str(&format!(
                "{:<14} {:<15} {:>8} {:>7} {:>6} {:>6} {:>5}  {}\n",
                truncate(&row.name, 14),
                truncate(&row.location, 15),
                fmt(row.latency, " ms"),
                fmt(row.jitter, " ms"),
                loss,
                fmt(row.fps, "fps"),
                fmt(row.cpu, "%"),
                state
            ));
        }
        let clock = self.clock();
        let _ = writeln!(
            self.out,
            "\n{} quality at a glance\n{text}",
            self.paint("1", &clock)
        );
    }

    fn print_summary(&mut self, summary: &DemoSummary) {
        let fired = summary
            .alerts
            .iter()
            .filter(|a| a.status == "firing")
            .count();
        let resolved = summary
            .alerts
            .iter()
            .filter(|a| a.status == "resolved")
            .count();
        let mut by_rule: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for alert in summary.alerts.iter().filter(|a| a.status == "firing") {
            by_rule.entry(alert.rule.as_str()).or_default().push(
                alert
                    .participant
                    .clone()
                    .unwrap_or_else(|| "whole meeting".into()),
            );
        }
        let title = self.paint("1", "Summary");
        let _ = writeln!(
            self.out,
            "{title}{}\n- participants watched: {}\n- QoS samples evaluated: {}\n- webhooks sent by simulated Zoom: {} ({} failed)\n- Zoom API requests: {} ({} answered 429)\n- alert transitions: {fired} firing, {resolved} resolved, in {} console messages",
            if summary.cancelled {
                " (stopped early)"
            } else {
                ""
            },
            summary.participants.len(),
            summary.samples,
            summary.webhooks_sent,
            summary.webhook_failures,
            summary.zoom_requests,
            summary.zoom_rate_limited,
            summary.notifications,
        );
        for (rule, people) in by_rule {
            let mut people = people;
            people.sort();
            people.dedup();
            let _ = writeln!(self.out, "  - {rule}: {}", people.join(", "));
        }
        if summary.slack_messages > 0 || summary.emails > 0 {
            let _ = writeln!(
                self.out,
                "- also sent: {} Slack messages, {} e-mails",
                summary.slack_messages, summary.emails
            );
        }
        let _ = self.out.flush();
    }
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(width - 1).collect();
        cut.push('…');
        cut
    }
}

/// Shared output buffer, for tests that run the demo and read its story.
#[derive(Debug, Clone, Default)]
pub struct SharedOutput(pub Arc<Mutex<Vec<u8>>>);

impl Write for SharedOutput {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedOutput {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}
