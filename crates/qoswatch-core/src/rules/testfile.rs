//! `test-rules`: unit tests for rule files, in the spirit of
//! `promtool test rules`. A test file names a rules file, gives sample
//! series per participant in a compact notation and the alerts expected to
//! be firing at given times.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use crate::alert::{MeetingInfo, ParticipantInfo, Severity};
use crate::qos::{MetricId, QosSample, StreamMetric, StreamQos};

use super::compile::fields::{Ctx, Fields, duration, string};
use super::compile::units::quantity;
use super::diag::{Diagnostics, Pos};
use super::yaml::{self, Node, Value};
use super::{ParticipantState, RuleSet, Subject};

const TOP_KEYS: &[&str] = &["rules", "interval", "tests"];
const TEST_KEYS: &[&str] = &["name", "interval", "meeting", "participants", "expect"];
const MEETING_KEYS: &[&str] = &["topic", "id", "uuid"];
const PARTICIPANT_KEYS: &[&str] = &[
    "name",
    "email",
    "device",
    "location",
    "network_type",
    "series",
];
const EXPECT_KEYS: &[&str] = &["at", "rule", "firing"];
const ALERT_KEYS: &[&str] = &["rule", "severity", "participant", "stream"];

/// Start of every simulated series; the time itself does not matter.
fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

#[derive(Debug)]
struct Participant {
    info: ParticipantInfo,
    /// One entry per sample; a metric missing from an entry is "no data".
    samples: Vec<BTreeMap<MetricId, f64>>,
}

#[derive(Debug, Clone, PartialEq)]
struct ExpectedAlert {
    rule: String,
    severity: Option<Severity>,
    participant: Option<String>,
    stream: Option<String>,
}

#[derive(Debug)]
struct Expectation {
    at: Duration,
    rule: Option<String>,
    firing: Vec<ExpectedAlert>,
    pos: Pos,
}

#[derive(Debug)]
struct Case {
    name: String,
    interval: Duration,
    meeting: MeetingInfo,
    participants: Vec<Participant>,
    expect: Vec<Expectation>,
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

/// `100ms x3, 450ms x5, _ x2` for one metric.
fn series(ctx: &mut Ctx, node: &Node, metric: MetricId) -> Vec<Option<f64>> {
    let Some(text) = node.as_text() else {
        ctx.error(
            node.pos,
            format!("the series of `{metric}` must be a string such as `100ms x3, 450ms x5, _ x2`"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (value, count) = match part.rsplit_once(|c: char| c.is_whitespace()) {
            Some((value, count)) if count.starts_with('x') => (value.trim(), &count[1..]),
            _ => (part, "1"),
        };
        let Ok(count) = count.parse::<usize>() else {
            ctx.error(
                node.pos,
                format!("bad repeat count in `{part}`; expected `VALUE xN` such as `450ms x5`"),
            );
            continue;
        };
        if count > 100_000 {
            ctx.error(
                node.pos,
                format!("repeat count in `{part}` is too large (at most 100000)"),
            );
            continue;
        }
        let value = if value == "_" || value == "none" {
            None
        } else {
            let parsed = if metric == MetricId::Stream(stream_of(metric), StreamMetric::Resolution)
            {
                value
                    .split_once(['*', 'x'])
                    .and_then(|(_, h)| h.parse::<f64>().ok())
                    .map(|h| (h, metric.unit()))
                    .ok_or(())
            } else {
                Err(())
            };
            match parsed.or_else(|()| quantity(value)) {
                Ok((amount, unit)) if unit == metric.unit() => Some(amount),
                Ok((_, unit)) => {
                    ctx.error(
                        node.pos,
                        format!(
                            "`{value}` is in {} but `{metric}` is measured in {}",
                            unit.suffix(),
                            metric.unit().suffix()
                        ),
                    );
                    continue;
                }
                Err(message) => {
                    ctx.error(
                        node.pos,
                        format!(
                            "bad value in the series of `{metric}`: {message}; `_` means no data"
                        ),
                    );
                    continue;
                }
            }
        };
        out.extend(std::iter::repeat_n(value, count));
    }
    out
}

fn stream_of(metric: MetricId) -> crate::qos::Stream {
    match metric {
        MetricId::Stream(stream, _) => stream,
        _ => crate::qos::Stream::AudioInput,
    }
}

fn optional_text(ctx: &mut Ctx, fields: &Fields<'_>, key: &str) -> Option<String> {
    fields
        .get(key)
        .and_then(|n| string(ctx, n, &format!("`{key}`")))
}

fn participant(ctx: &mut Ctx, node: &Node, index: usize) -> Option<Participant> {
    let fields = Fields::read(ctx, node, "a participant", PARTICIPANT_KEYS)?;
    let name = optional_text(ctx, &fields, "name");
    let info = ParticipantInfo {
        user_id: format!("{}", 16_778_240 + index),
        name,
        email: optional_text(ctx, &fields, "email"),
        device: optional_text(ctx, &fields, "device"),
        location: optional_text(ctx, &fields, "location"),
        network_type: optional_text(ctx, &fields, "network_type"),
    };
    let mut samples: Vec<BTreeMap<MetricId, f64>> = Vec::new();
    match fields.get("series").map(|n| (&n.value, n)) {
        Some((Value::Map(entries), _)) => {
            for (key, value) in entries {
                let Some(name) = string(ctx, key, "a metric name") else {
                    continue;
                };
                let Some(metric) = MetricId::parse(&name) else {
                    ctx.error(key.pos, format!("unknown metric `{name}` in `series`; expected a metric such as `audio_input.latency`"));
                    continue;
                };
                for (i, v) in series(ctx, value, metric).into_iter().enumerate() {
                    if samples.len() <= i {
                        samples.resize_with(i + 1, BTreeMap::new);
                    }
                    if let Some(v) = v {
                        samples[i].insert(metric, v);
                    }
                }
            }
        }
        Some((_, n)) => ctx.error(
            n.pos,
            "`series` must map metric names to series such as `100ms x3, 450ms x5`",
        ),
        None => ctx.error(fields.pos, "a participant needs `series`"),
    }
    Some(Participant { info, samples })
}

fn expected_alert(ctx: &mut Ctx, node: &Node) -> Option<ExpectedAlert> {
    if let Value::Str(rule) = &node.value {
        return Some(ExpectedAlert {
            rule: rule.clone(),
            severity: None,
            participant: None,
            stream: None,
        });
    }
    let fields = Fields::read(ctx, node, "an expected alert", ALERT_KEYS)?;
    let rule = match fields.get("rule") {
        Some(n) => string(ctx, n, "`rule`")?,
        None => {
            ctx.error(fields.pos, "an expected alert needs `rule`");
            return None;
        }
    };
    let severity = match fields.get("severity") {
        Some(n) => match n.as_text().as_deref() {
            Some("warning") => Some(Severity::Warning),
            Some("critical") => Some(Severity::Critical),
            _ => {
                ctx.error(n.pos, "`severity` must be `warning` or `critical`");
                return None;
            }
        },
        None => None,
    };
    Some(ExpectedAlert {
        rule,
        severity,
        participant: optional_text(ctx, &fields, "participant"),
        stream: optional_text(ctx, &fields, "stream"),
    })
}

fn case(ctx: &mut Ctx, node: &Node, index: usize, default_interval: Duration) -> Option<Case> {
    let fields = Fields::read(ctx, node, "a test", TEST_KEYS)?;
    let name =
        optional_text(ctx, &fields, "name").unwrap_or_else(|| format!("test #{}", index + 1));
    let interval = fields
        .get("interval")
        .and_then(|n| duration(ctx, n, "`interval`", false))
        .unwrap_or(default_interval);
    let mut meeting = MeetingInfo {
        uuid: format!("test-meeting-{}==", index + 1),
        ..MeetingInfo::default()
    };
    if let Some(n) = fields.get("meeting")
        && let Some(m) = Fields::read(ctx, n, "`meeting`", MEETING_KEYS)
    {
        meeting.topic = optional_text(ctx, &m, "topic");
        meeting.id = optional_text(ctx, &m, "id");
        if let Some(uuid) = optional_text(ctx, &m, "uuid") {
            meeting.uuid = uuid;
        }
    }
    let mut participants = Vec::new();
    match fields.get("participants") {
        Some(Node {
            value: Value::Seq(items),
            ..
        }) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(p) = participant(ctx, item, i) {
                    participants.push(p);
                }
            }
        }
        Some(n) => ctx.error(n.pos, "`participants` must be a list"),
        None => ctx.error(fields.pos, format!("test `{name}` has no `participants`")),
    }
    let mut expect = Vec::new();
    match fields.get("expect") {
        Some(Node {
            value: Value::Seq(items),
            ..
        }) => {
            for item in items {
                let Some(e) = Fields::read(ctx, item, "an expectation", EXPECT_KEYS) else {
                    continue;
                };
                let at = match e.get("at") {
                    Some(n) => duration(ctx, n, "`at`", true),
                    None => {
                        ctx.error(e.pos, "an expectation needs `at`, e.g. `at: 5m`");
                        None
                    }
                };
                let rule = optional_text(ctx, &e, "rule");
                let firing = match e.get("firing") {
                    Some(Node {
                        value: Value::Seq(alerts),
                        ..
                    }) => alerts
                        .iter()
                        .filter_map(|a| expected_alert(ctx, a))
                        .collect(),
                    Some(Node {
                        value: Value::Null, ..
                    }) => Vec::new(),
                    Some(n) => {
                        ctx.error(
                            n.pos,
                            "`firing` must be a list of expected alerts (`[]` for none)",
                        );
                        Vec::new()
                    }
                    None => {
                        ctx.error(e.pos, "an expectation needs `firing`: the alerts firing at that time (`[]` for none)");
                        Vec::new()
                    }
                };
                if let Some(at) = at {
                    expect.push(Expectation {
                        at,
                        rule,
                        firing,
                        pos: e.pos,
                    });
                }
            }
        }
        Some(n) => ctx.error(n.pos, "`expect` must be a list"),
        None => ctx.error(fields.pos, format!("test `{name}` has no `expect`")),
    }
    Some(Case {
        name,
        interval,
        meeting,
        participants,
        expect,
    })
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
fn run_case(rules: &RuleSet, case: &Case) -> Vec<String> {
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
            let mut got: Vec<GotAlert> = Vec::new();
            for (participant, state) in case.participants.iter().zip(&states) {
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
                continue;
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
            failures.push(text);
        }
        match step_time.checked_add_signed(interval) {
            Some(next) => step_time = next,
            None => break,
        }
    }
    failures
}

/// Runs a test file; returns (all passed, report).
pub(crate) fn run(path: &Path) -> (bool, String) {
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => run_bytes(&name, &bytes, path.parent().unwrap_or(Path::new(""))),
        Err(error) => (
            false,
            Diagnostics::whole_file(&name, format!("cannot read the test file: {error}"))
                .to_string(),
        ),
    }
}

/// Runs a test file's content; the rules file is looked up from `base`.
pub(crate) fn run_bytes(name: &str, bytes: &[u8], base: &Path) -> (bool, String) {
    let root = match yaml::parse(bytes) {
        Ok(root) => root,
        Err(items) => return (false, Diagnostics::new(name, items).to_string()),
    };
    let mut ctx = Ctx::default();
    let Some(fields) = Fields::read(&mut ctx, &root, "the test file", TOP_KEYS) else {
        return (false, Diagnostics::new(name, ctx.errors).to_string());
    };
    let rules_path = match fields.get("rules") {
        Some(n) => string(&mut ctx, n, "`rules`"),
        None => {
            ctx.error(
                fields.pos,
                "the test file needs `rules`: the rules file to test, relative to this file",
            );
            None
        }
    };
    let interval = fields
        .get("interval")
        .and_then(|n| duration(&mut ctx, n, "`interval`", false))
        .unwrap_or(Duration::from_secs(60));
    let mut cases = Vec::new();
    match fields.get("tests") {
        Some(Node {
            value: Value::Seq(items),
            ..
        }) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(c) = case(&mut ctx, item, i, interval) {
                    cases.push(c);
                }
            }
        }
        Some(n) => ctx.error(n.pos, "`tests` must be a list"),
        None => ctx.error(fields.pos, "the test file has no `tests`"),
    }
    if !ctx.errors.is_empty() {
        return (false, Diagnostics::new(name, ctx.errors).to_string());
    }
    let Some(rules_path) = rules_path else {
        return (false, String::new());
    };
    let rules_path = base.join(rules_path);
    let rules = match RuleSet::load(&rules_path) {
        Ok(rules) => rules,
        Err(diagnostics) => return (false, diagnostics.to_string()),
    };
    let mut report = String::new();
    let mut passed = 0;
    for case in &cases {
        let failures = run_case(&rules, case);
        if failures.is_empty() {
            passed += 1;
            let _ = writeln!(report, "ok   {}", case.name);
        } else {
            let _ = writeln!(report, "FAIL {}", case.name);
            for failure in failures {
                for line in failure.lines() {
                    let _ = writeln!(report, "     {line}");
                }
            }
        }
    }
    let all = passed == cases.len();
    let _ = writeln!(
        report,
        "{}: {passed} of {} tests passed",
        if all { "PASS" } else { "FAIL" },
        cases.len()
    );
    (all, report)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const EXAMPLE: &str = include_str!("../../../../rules.example.test.yaml");

    /// The repository root, where the example files live.
    fn base() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
    }

    #[test]
    fn example_runs_from_text() {
        let (passed, report) = run_bytes("example.test.yaml", EXAMPLE.as_bytes(), base());
        assert!(passed, "{report}");
    }

    proptest! {
        #[test]
        fn test_files_never_panic(at in 0..EXAMPLE.len(), cut in 0..30usize, insert in "[ -~\n]{0,12}") {
            let mut text = EXAMPLE.as_bytes().to_vec();
            let end = (at + cut).min(text.len());
            text.splice(at..end, insert.bytes());
            let _ = run_bytes("fuzz.test.yaml", &text, base());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = run_bytes("fuzz.test.yaml", &bytes, base());
        }
    }
}
