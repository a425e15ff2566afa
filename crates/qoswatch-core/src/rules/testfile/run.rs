//! Running one test case: the series are fed through the rules one step
//! per interval, and the alerts firing are compared with the expected ones.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use crate::alert::Severity;
use crate::qos::{MetricId, QosSample, StreamMetric, StreamQos};
use crate::rules::{ParticipantState, RuleSet, Subject};

use super::parse::{Case, Expectation, ExpectedAlert, Participant};

/// Start of every simulated series; the time itself does not matter.
fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A firing alert as the simulation saw it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct GotAlert {
    rule: String,
    severity: Severity,
    participant: String,
    stream: Option<String>,
}

impl ExpectedAlert {
    fn matches(&self, got: &GotAlert) -> bool {
        self.rule == got.rule
            && self.severity.is_none_or(|s| s == got.severity)
            && self
                .participant
                .as_ref()
                .is_none_or(|p| *p == got.participant)
            && self
                .stream
                .as_ref()
                .is_none_or(|s| got.stream.as_ref() == Some(s))
    }

    fn describe(&self) -> String {
        let mut out = self.rule.clone();
        if let Some(severity) = self.severity {
            let _ = write!(out, " {severity}");
        }
        if let Some(participant) = &self.participant {
            let _ = write!(out, " for {participant}");
        }
        if let Some(stream) = &self.stream {
            let _ = write!(out, " on {stream}");
        }
        out
    }
}

impl GotAlert {
    fn describe(&self) -> String {
        let mut out = format!("{} {} for {}", self.rule, self.severity, self.participant);
        if let Some(stream) = &self.stream {
            let _ = write!(out, " on {stream}");
        }
        out
    }
}

fn sample_at(at: DateTime<Utc>, values: &BTreeMap<MetricId, f64>) -> QosSample {
    let mut sample = QosSample {
        at,
        ..QosSample::default()
    };
    for (metric, value) in values {
        match *metric {
            MetricId::Stream(stream, m) => {
                let qos: &mut StreamQos = sample.streams.entry(stream).or_default();
                match m {
                    StreamMetric::Bitrate => qos.bitrate_kbps = Some(*value),
                    StreamMetric::Latency => qos.latency_ms = Some(*value),
                    StreamMetric::Jitter => qos.jitter_ms = Some(*value),
                    StreamMetric::AvgLoss => qos.avg_loss_pct = Some(*value),
                    StreamMetric::MaxLoss => qos.max_loss_pct = Some(*value),
                    StreamMetric::FrameRate => qos.frame_rate_fps = Some(*value),
                    StreamMetric::Resolution => {
                        let height = value.clamp(0.0, f64::from(u32::MAX)) as u32;
                        qos.resolution = Some(crate::qos::Resolution {
                            width: height * 16 / 9,
                            height,
                        });
                    }
                }
            }
            MetricId::Cpu(m) => match m {
                crate::qos::CpuMetric::ZoomMin => sample.cpu.zoom_min_pct = Some(*value),
                crate::qos::CpuMetric::ZoomAvg => sample.cpu.zoom_avg_pct = Some(*value),
                crate::qos::CpuMetric::ZoomMax => sample.cpu.zoom_max_pct = Some(*value),
                crate::qos::CpuMetric::SystemMax => sample.cpu.system_max_pct = Some(*value),
            },
            MetricId::Wifi(m) => match m {
                crate::qos::WifiMetric::Avg => sample.wifi.avg_dbm = Some(*value),
                crate::qos::WifiMetric::Max => sample.wifi.max_dbm = Some(*value),
                crate::qos::WifiMetric::Min => sample.wifi.min_dbm = Some(*value),
            },
        }
    }
    sample
}

fn steps(duration: Duration, interval: Duration) -> usize {
    let interval = interval.as_nanos().max(1);
    usize::try_from(duration.as_nanos() / interval).unwrap_or(usize::MAX)
}

/// Runs one case; returns failure descriptions.
pub(super) fn run_case(rules: &RuleSet, case: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    let subjects: Vec<Subject> = case
        .participants
        .iter()
        .map(|p| Subject {
            meeting: case.meeting.clone(),
            participant: p.info.clone(),
        })
        .collect();
    let mut states: Vec<ParticipantState> = vec![ParticipantState::default(); subjects.len()];
    let series_len = case
        .participants
        .iter()
        .map(|p| p.samples.len())
        .max()
        .unwrap_or(0);
    let last_expect = case
        .expect
        .iter()
        .map(|e| steps(e.at, case.interval))
        .max()
        .unwrap_or(0);
    let horizon = series_len.saturating_sub(1).max(last_expect).min(1_000_000);
    let Ok(interval) = chrono::Duration::from_std(case.interval) else {
        return vec!["the interval is too long".into()];
    };
    let mut step_time = epoch();
    for step in 0..=horizon {
        for ((participant, subject), state) in case
            .participants
            .iter()
            .zip(&subjects)
            .zip(states.iter_mut())
        {
            match participant.samples.get(step) {
                Some(values) => {
                    rules.evaluate(state, subject, &sample_at(step_time, values), step_time);
                }
                None => {
                    rules.tick(state, subject, step_time);
                }
            }
        }
        for expectation in case
            .expect
            .iter()
            .filter(|e| steps(e.at, case.interval) == step)
        {
            failures.extend(compare(expectation, &case.participants, &states));
        }
        match step_time.checked_add_signed(interval) {
            Some(next) => step_time = next,
            None => break,
        }
    }
    failures
}

/// Compares the alerts firing for `participants` with an expectation; the
/// failure report when they differ.
fn compare(
    expectation: &Expectation,
    participants: &[Participant],
    states: &[ParticipantState],
) -> Option<String> {
    let mut got: Vec<GotAlert> = Vec::new();
    for (participant, state) in participants.iter().zip(states) {
        for (rule, severity) in state.firing() {
            got.push(GotAlert {
                stream: state.firing_stream(&rule),
                rule,
                severity,
                participant: participant.info.display_name(),
            });
        }
    }
    got.retain(|g| expectation.rule.as_ref().is_none_or(|r| *r == g.rule));
    got.sort();
    let missing: Vec<&ExpectedAlert> = expectation
        .firing
        .iter()
        .filter(|e| !got.iter().any(|g| e.matches(g)))
        .collect();
    let unexpected: Vec<&GotAlert> = got
        .iter()
        .filter(|g| !expectation.firing.iter().any(|e| e.matches(g)))
        .collect();
    if missing.is_empty() && unexpected.is_empty() {
        return None;
    }
    let mut text = format!(
        "at {} (line {}){}:\n  expected firing:\n",
        crate::duration::display(expectation.at),
        expectation.pos.line,
        expectation
            .rule
            .as_ref()
            .map(|r| format!(", rule `{r}`"))
            .unwrap_or_default()
    );
    if expectation.firing.is_empty() {
        text.push_str("    (nothing)\n");
    }
    for e in &expectation.firing {
        let mark = if missing.contains(&e) { "-" } else { " " };
        let _ = writeln!(text, "  {mark} {}", e.describe());
    }
    text.push_str("  got firing:\n");
    if got.is_empty() {
        text.push_str("    (nothing)\n");
    }
    for g in &got {
        let mark = if unexpected.contains(&g) { "+" } else { " " };
        let _ = writeln!(text, "  {mark} {}", g.describe());
    }
    Some(text)
}
