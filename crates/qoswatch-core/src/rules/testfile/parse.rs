//! Reading a test file's `tests:`: cases, participants with their sample
//! series (`100ms x3, 450ms x5, _ x2`), and the alerts expected to fire.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::alert::{MeetingInfo, ParticipantInfo, Severity};
use crate::qos::{MetricId, StreamMetric};
use crate::rules::compile::fields::{Ctx, Fields, duration, string};
use crate::rules::compile::units::quantity;
use crate::rules::diag::Pos;
use crate::rules::yaml::{Node, Value};

const TEST_KEYS: &[&str] = &["name", "interval", "meeting", "participants", "expect"];
const MEETING_KEYS: &[&str] = &["topic", "id", "uuid", "kind", "account"];
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

#[derive(Debug)]
pub(super) struct Participant {
    pub(super) info: ParticipantInfo,
    /// One entry per sample; a metric missing from an entry is "no data".
    pub(super) samples: Vec<BTreeMap<MetricId, f64>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct ExpectedAlert {
    pub(super) rule: String,
    pub(super) severity: Option<Severity>,
    pub(super) participant: Option<String>,
    pub(super) stream: Option<String>,
}

#[derive(Debug)]
pub(super) struct Expectation {
    pub(super) at: Duration,
    pub(super) rule: Option<String>,
    pub(super) firing: Vec<ExpectedAlert>,
    pub(super) pos: Pos,
}

#[derive(Debug)]
pub(super) struct Case {
    pub(super) name: String,
    pub(super) interval: Duration,
    pub(super) meeting: MeetingInfo,
    pub(super) participants: Vec<Participant>,
    pub(super) expect: Vec<Expectation>,
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

pub(super) fn case(
    ctx: &mut Ctx,
    node: &Node,
    index: usize,
    default_interval: Duration,
) -> Option<Case> {
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
        if let Some(account) = optional_text(ctx, &m, "account") {
            if crate::alert::Account::valid_name(&account) {
                meeting.account = crate::alert::Account::new(account);
            } else if let Some(n) = m.get("account") {
                ctx.error(
                    n.pos,
                    "`meeting.account` is an account's short name: a-z, 0-9 and '-', starting with a letter",
                );
            }
        }
        match optional_text(ctx, &m, "kind").as_deref() {
            None | Some("meeting") => {}
            Some("webinar") => meeting.kind = crate::alert::CallKind::Webinar,
            Some(_) => {
                if let Some(n) = m.get("kind") {
                    ctx.error(n.pos, "`meeting.kind` is `meeting` or `webinar`");
                }
            }
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
            expect.extend(items.iter().filter_map(|item| expectation(ctx, item)));
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

/// One entry of `expect:`: when, optionally which rule, and what fires.
fn expectation(ctx: &mut Ctx, node: &Node) -> Option<Expectation> {
    let e = Fields::read(ctx, node, "an expectation", EXPECT_KEYS)?;
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
            ctx.error(
                e.pos,
                "an expectation needs `firing`: the alerts firing at that time (`[]` for none)",
            );
            Vec::new()
        }
    };
    Some(Expectation {
        at: at?,
        rule,
        firing,
        pos: e.pos,
    })
}
