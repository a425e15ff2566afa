//! How the demo tells its story on the terminal: taps that turn what the
//! real server does (joins, samples, leaves, console notifications) into
//! events, and the printer that shows them with a board of everyone's
//! latest quality and a summary at the end.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{DemoSummary, SeenAlert};
use crate::config::EnvLookup;
use crate::watch::{SampleSink, SharedSubject, StopReason, WatchObserver};
use qoswatch_core::qos::{CpuMetric, MetricId, QosSample, Stream, StreamMetric};

pub(super) enum DemoEvent {
    Joined(SharedSubject),
    Sample(SharedSubject, Box<QosSample>),
    Left(SharedSubject, StopReason),
    Notification(Value),
}

/// Watches every participant for the terminal (next to the rules).
#[derive(Debug, Clone)]
/// Sees every watch's joins, samples and ends (a sample sink beside the rules).
pub(super) struct Tap {
    events: mpsc::UnboundedSender<DemoEvent>,
}

impl Tap {
    pub(super) fn new(events: mpsc::UnboundedSender<DemoEvent>) -> Self {
        Self { events }
    }
}

impl SampleSink for Tap {
    fn open(
        &self,
        subject: &SharedSubject,
        _restored: Option<qoswatch_core::rules::SavedState>,
    ) -> Box<dyn WatchObserver> {
        let _ = self.events.send(DemoEvent::Joined(subject.clone()));
        Box::new(self.clone())
    }
}

impl WatchObserver for Tap {
    fn sample(&mut self, subject: &SharedSubject, sample: &QosSample, _now: DateTime<Utc>) {
        let _ = self
            .events
            .send(DemoEvent::Sample(subject.clone(), Box::new(sample.clone())));
    }

    fn idle(&mut self, _subject: &SharedSubject, _now: DateTime<Utc>) {}

    fn finished(&mut self, subject: &SharedSubject, reason: StopReason, _now: DateTime<Utc>) {
        let _ = self.events.send(DemoEvent::Left(subject.clone(), reason));
    }
}

/// The console channel's writer: each JSON line becomes a story event.
/// The console channel's output: one JSON line per notification.
pub(super) struct ConsoleTap {
    events: mpsc::UnboundedSender<DemoEvent>,
    pending: Vec<u8>,
}

impl ConsoleTap {
    pub(super) fn new(events: mpsc::UnboundedSender<DemoEvent>) -> Self {
        Self {
            events,
            pending: Vec::new(),
        }
    }
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

pub(super) struct Printer {
    out: Box<dyn Write + Send>,
    color: bool,
    json: bool,
    period: Duration,
    started: tokio::time::Instant,
    rows: BTreeMap<String, Row>,
    pub(super) summary: DemoSummary,
}

impl Printer {
    pub(super) fn new(
        out: Box<dyn Write + Send>,
        json: bool,
        period: Duration,
        env: EnvLookup<'_>,
    ) -> Self {
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

    pub(super) fn line(&mut self, text: &str) {
        let clock = self.paint("2", &self.clock());
        let _ = writeln!(self.out, "{clock} {text}");
    }

    pub(super) fn banner(
        &mut self,
        rules: &std::path::Path,
        destinations: &[String],
        length: Duration,
        address: std::net::SocketAddr,
        page: std::net::SocketAddr,
    ) {
        let title = self.paint("1", "qoswatch demo");
        let _ = writeln!(
            self.out,
            "{title}: a simulated Zoom meeting, watched by the real qoswatch.\n\
             - Zoom is simulated on loopback: its QoS API and its signed webhooks.\n\
             - qoswatch listens on http://{address}, rules from {}, alerts to {}.\n\
             - Watch it live in a browser: http://{page}/ (the status page).\n\
             - One simulated minute every {:?}; the story takes about {:?}. Ctrl-C ends it early.\n",
            rules.display(),
            destinations.join(", "),
            self.period,
            length,
        );
    }

    pub(super) fn event(&mut self, event: DemoEvent) {
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

    pub(super) fn board(&mut self) {
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

    pub(super) fn print_summary(&mut self, summary: &DemoSummary) {
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
            "{title}{}\n- participants watched: {}\n- QoS samples evaluated: {}\n- webhooks sent by simulated Zoom: {} ({} failed)\n- Zoom API requests: {} ({} answered 429), {} per participant-minute watched\n- alert transitions: {fired} firing, {resolved} resolved, in {} console messages",
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
            // Zoom makes one sample per participant and minute: the samples
            // evaluated are the participant-minutes watched.
            if summary.samples == 0 {
                "-".to_owned()
            } else {
                format!(
                    "{:.2}",
                    summary.zoom_requests as f64 / summary.samples as f64
                )
            },
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
