//! Rules file (a YAML node tree) → compiled [`Rule`]s and channels, with
//! every problem collected as a diagnostic instead of stopping at the first.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use regex::Regex;

use crate::alert::{Channel, ChannelSpec, Route, Severity};
use crate::qos::{Media, MetricId, Stream, StreamMetric, Unit};

use super::diag::{Diagnostic, Pos, suggestion};
use super::model::{
    Direction, Matcher, MissingData, Piece, Rule, Scope, ScopeField, Sustain, Template, Var,
};
use super::yaml::{Node, Value};

/// The name of the console channel that exists even when the file does not
/// define it, and that routes use by default.
pub const DEFAULT_CHANNEL: &str = "console";

const TOP_KEYS: &[&str] = &["channels", "defaults", "rules"];
const DEFAULTS_KEYS: &[&str] = &["for", "route"];
const RULE_KEYS: &[&str] = &[
    "name",
    "enabled",
    "metric",
    "above",
    "below",
    "for",
    "clear",
    "scope",
    "exclude",
    "summary",
    "runbook",
    "route",
    "missing_data",
];
const LEVEL_KEYS: &[&str] = &["warning", "critical"];
const CLEAR_KEYS: &[&str] = &["above", "below", "for"];
const ROUTE_KEYS: &[&str] = &["channels", "warning", "critical", "repeat", "send_resolved"];
const MISSING_KEYS: &[&str] = &["after", "severity"];
const CHANNEL_TYPES: &[&str] = &["console", "slack", "email"];

/// The default summary line.
pub const DEFAULT_SUMMARY: &str = "{participant}: {metric} {value} ({threshold}) in {meeting}";

/// Collects diagnostics while walking the tree.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    pub errors: Vec<Diagnostic>,
}

impl Ctx {
    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.errors.push(Diagnostic::new(pos, message));
    }
}

/// The entries of a mapping whose keys were checked against a schema.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    pub pos: Pos,
    entries: Vec<(String, &'a Node, &'a Node)>,
}

impl<'a> Fields<'a> {
    /// Reads a mapping; reports a non-mapping and every key not in `known`.
    pub fn read(ctx: &mut Ctx, node: &'a Node, what: &str, known: &[&str]) -> Option<Self> {
        let Value::Map(entries) = &node.value else {
            ctx.error(
                node.pos,
                format!(
                    "{what} must be a mapping of keys ({}), found {}",
                    known.join(", "),
                    node.value.kind()
                ),
            );
            return None;
        };
        let mut fields = Fields {
            pos: node.pos,
            entries: Vec::new(),
        };
        for (key, value) in entries {
            let Value::Str(name) = &key.value else {
                ctx.error(
                    key.pos,
                    format!("{what} keys must be strings, found {}", key.value.kind()),
                );
                continue;
            };
            if !known.contains(&name.as_str()) {
                ctx.error(
                    key.pos,
                    format!(
                        "unknown key `{name}` in {what}{}; expected one of: {}",
                        suggestion(name, known.iter().copied()),
                        known.join(", ")
                    ),
                );
                continue;
            }
            fields.entries.push((name.clone(), key, value));
        }
        Some(fields)
    }

    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(name, _, _)| name == key)
            .map(|(_, _, value)| *value)
    }

    pub fn key_pos(&self, key: &str) -> Option<Pos> {
        self.entries
            .iter()
            .find(|(name, _, _)| name == key)
            .map(|(_, key, _)| key.pos)
    }
}

/// A non-empty string scalar.
pub(crate) fn string(ctx: &mut Ctx, node: &Node, what: &str) -> Option<String> {
    match &node.value {
        Value::Str(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Str(_) => {
            ctx.error(node.pos, format!("{what} must not be empty"));
            None
        }
        other => {
            ctx.error(
                node.pos,
                format!("{what} must be a string, found {}", other.kind()),
            );
            None
        }
    }
}

pub(crate) fn boolean(ctx: &mut Ctx, node: &Node, what: &str) -> Option<bool> {
    match &node.value {
        Value::Bool(b) => Some(*b),
        other => {
            ctx.error(
                node.pos,
                format!("{what} must be true or false, found {}", other.kind()),
            );
            None
        }
    }
}

/// A string or a list of strings.
pub(crate) fn strings(ctx: &mut Ctx, node: &Node, what: &str) -> Option<Vec<(String, Pos)>> {
    match &node.value {
        Value::Seq(items) => {
            let mut out = Vec::new();
            for item in items {
                if let Some(s) = string(ctx, item, what) {
                    out.push((s, item.pos));
                }
            }
            Some(out)
        }
        Value::Str(_) => string(ctx, node, what).map(|s| vec![(s, node.pos)]),
        other => {
            ctx.error(
                node.pos,
                format!(
                    "{what} must be a string or a list of strings, found {}",
                    other.kind()
                ),
            );
            None
        }
    }
}

/// `5m`, `90s`, `1h 30m` (humantime). Zero is allowed only when `allow_zero`.
pub(crate) fn duration(
    ctx: &mut Ctx,
    node: &Node,
    what: &str,
    allow_zero: bool,
) -> Option<Duration> {
    let Some(text) = node.as_text() else {
        ctx.error(
            node.pos,
            format!(
                "{what} must be a duration such as `5m` or `90s`, found {}",
                node.value.kind()
            ),
        );
        return None;
    };
    match crate::duration::parse(&text) {
        Ok(d) if d.is_zero() && !allow_zero => {
            ctx.error(node.pos, format!("{what} must be longer than zero"));
            None
        }
        Ok(d) => Some(d),
        Err(_) => {
            ctx.error(
                node.pos,
                format!("bad duration `{text}` for {what}; expected a number and a unit such as `30s`, `5m` or `1h`"),
            );
            None
        }
    }
}

/// `for:` — a duration (`3m`) or a count of consecutive samples (`3 samples`).
pub(crate) fn sustain(ctx: &mut Ctx, node: &Node, what: &str) -> Option<Sustain> {
    let Some(text) = node.as_text() else {
        ctx.error(
            node.pos,
            format!(
                "{what} must be a duration (`3m`) or a sample count (`3 samples`), found {}",
                node.value.kind()
            ),
        );
        return None;
    };
    let trimmed = text.trim();
    let count = trimmed
        .strip_suffix("samples")
        .or_else(|| trimmed.strip_suffix("sample"))
        .map(str::trim);
    if let Some(count) = count {
        return match count.parse::<u32>() {
            Ok(n) if n >= 1 => Some(Sustain::Samples(n)),
            _ => {
                ctx.error(node.pos, format!("bad sample count `{trimmed}` for {what}; expected a whole number of at least 1, such as `3 samples`"));
                None
            }
        };
    }
    if let Value::Int(_) = node.value {
        ctx.error(node.pos, format!("`{trimmed}` for {what} has no unit; write a duration such as `{trimmed}m` or a count such as `{trimmed} samples`"));
        return None;
    }
    match crate::duration::parse(trimmed) {
        Ok(d) if d.is_zero() => Some(Sustain::IMMEDIATELY),
        Ok(d) => Some(Sustain::For(d)),
        Err(_) => {
            ctx.error(node.pos, format!("bad duration `{trimmed}` for {what}; expected a duration such as `3m` or a sample count such as `3 samples`"));
            None
        }
    }
}

/// Unit suffixes accepted in thresholds: (suffix, unit, factor to the metric's unit).
const UNIT_SUFFIXES: &[(&str, Unit, f64)] = &[
    ("ms", Unit::Millis, 1.0),
    ("s", Unit::Millis, 1000.0),
    ("%", Unit::Percent, 1.0),
    ("kbps", Unit::Kbps, 1.0),
    ("mbps", Unit::Kbps, 1000.0),
    ("bps", Unit::Kbps, 0.001),
    ("fps", Unit::Fps, 1.0),
    ("p", Unit::Pixels, 1.0),
    ("px", Unit::Pixels, 1.0),
    ("dbm", Unit::Dbm, 1.0),
];

/// A quantity with a unit: `300ms`, `5%`, `7fps`, `200kbps`, `360p`, `-70dBm`.
/// Returns the amount in the unit's base (`0.4s` → 400 ms).
pub(crate) fn quantity(text: &str) -> Result<(f64, Unit), String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(trimmed.len());
    let (number, suffix) = trimmed.split_at(split);
    let amount: f64 = number
        .parse()
        .ok()
        .filter(|a: &f64| a.is_finite())
        .ok_or_else(|| format!("`{trimmed}` is not a number with a unit; expected e.g. `300ms`, `5%`, `7fps`, `200kbps`, `360p`, `-70dBm`"))?;
    let suffix = suffix.trim().to_ascii_lowercase();
    if suffix.is_empty() {
        return Err(format!(
            "`{trimmed}` has no unit; expected one of ms, s, %, kbps, Mbps, fps, p, dBm"
        ));
    }
    UNIT_SUFFIXES
        .iter()
        .find(|(s, _, _)| *s == suffix)
        .map(|(_, unit, factor)| (amount * factor, *unit))
        .ok_or_else(|| {
            format!("unknown unit `{suffix}` in `{trimmed}`; expected one of ms, s, %, kbps, Mbps, fps, p, dBm")
        })
}

/// A threshold for a metric of `unit`.
fn threshold(
    ctx: &mut Ctx,
    node: &Node,
    unit: Option<Unit>,
    metric: &str,
    what: &str,
) -> Option<f64> {
    let Some(text) = node
        .as_text()
        .filter(|_| !matches!(node.value, Value::Bool(_)))
    else {
        ctx.error(
            node.pos,
            format!(
                "the {what} must be a value with a unit such as `300ms`, found {}",
                node.value.kind()
            ),
        );
        return None;
    };
    match quantity(&text) {
        Ok((amount, found)) => match unit {
            Some(expected) if expected != found => {
                ctx.error(
                    node.pos,
                    format!(
                        "wrong unit for the {what}: `{}` is measured in {} but `{text}` is in {}",
                        metric,
                        expected.suffix(),
                        found.suffix()
                    ),
                );
                None
            }
            _ => Some(amount),
        },
        Err(message) => {
            ctx.error(node.pos, format!("bad {what}: {message}"));
            None
        }
    }
}

/// Every name accepted for `metric:`, for suggestions.
fn metric_names() -> Vec<String> {
    let mut names: Vec<String> = MetricId::all().iter().map(|m| m.name()).collect();
    for group in ["any", "any_audio", "any_video", "any_share"] {
        for metric in StreamMetric::ALL {
            names.push(format!("{group}.{}", metric.name()));
        }
    }
    names
}

/// `audio_input.latency`, or `any.jitter` / `any_audio.jitter` /
/// `any_video.frame_rate` / `any_share.bitrate` for every stream of a kind.
pub(crate) fn metric_selector(name: &str) -> Option<Vec<MetricId>> {
    if let Some(metric) = MetricId::parse(name) {
        return Some(vec![metric]);
    }
    let (group, field) = name.split_once('.')?;
    let media = match group {
        "any" => None,
        "any_audio" => Some(Media::Audio),
        "any_video" => Some(Media::Video),
        "any_share" => Some(Media::Share),
        _ => return None,
    };
    let metric = StreamMetric::from_name(field)?;
    Some(
        Stream::all()
            .into_iter()
            .filter(|s| media.is_none_or(|m| s.media() == m))
            .map(|s| MetricId::Stream(s, metric))
            .collect(),
    )
}

fn metrics(ctx: &mut Ctx, node: &Node) -> Option<(Vec<MetricId>, Unit, String)> {
    let names = strings(ctx, node, "`metric`")?;
    if names.is_empty() {
        ctx.error(
            node.pos,
            "`metric` must name at least one metric, such as `audio_input.latency`",
        );
        return None;
    }
    let mut all = Vec::new();
    let mut unit: Option<(Unit, String)> = None;
    let mut ok = true;
    for (name, pos) in &names {
        let Some(selected) = metric_selector(name) else {
            let candidates = metric_names();
            ctx.error(
                *pos,
                format!(
                    "unknown metric `{name}`{}; expected `stream.field` such as `audio_input.latency`, `cpu_usage.zoom_max_cpu_usage`, `wifi_rssi.avg_rssi`, or `any_audio.jitter` for every audio stream",
                    suggestion(name, candidates.iter().map(String::as_str))
                ),
            );
            ok = false;
            continue;
        };
        let this_unit = selected[0].unit();
        match &unit {
            Some((first, first_name)) if *first != this_unit => {
                ctx.error(*pos, format!("`{name}` is measured in {} but `{first_name}` in {}; the metrics of one rule must share a unit", this_unit.suffix(), first.suffix()));
                ok = false;
            }
            Some(_) => {}
            None => unit = Some((this_unit, name.clone())),
        }
        for metric in selected {
            if !all.contains(&metric) {
                all.push(metric);
            }
        }
    }
    let label = names
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    match (ok, unit) {
        (true, Some((unit, _))) => Some((all, unit, label)),
        _ => None,
    }
}

/// Parses a `{placeholder}` template; `{{` and `}}` are literal braces.
pub(crate) fn template(ctx: &mut Ctx, node: &Node, what: &str) -> Option<Template> {
    let text = string(ctx, node, what)?;
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    let mut ok = true;
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                let name = name.trim();
                if !closed {
                    ctx.error(
                        node.pos,
                        format!("unclosed `{{` in {what}; write `{{{{` for a literal brace"),
                    );
                    ok = false;
                    break;
                }
                match Var::ALL.iter().find(|(_, n)| *n == name) {
                    Some((var, _)) => {
                        if !literal.is_empty() {
                            pieces.push(Piece::Text(std::mem::take(&mut literal)));
                        }
                        pieces.push(Piece::Var(*var));
                    }
                    None => {
                        ctx.error(
                            node.pos,
                            format!(
                                "unknown placeholder `{{{name}}}` in {what}{}; expected one of: {}",
                                suggestion(name, Var::ALL.iter().map(|(_, n)| *n)),
                                Var::ALL
                                    .iter()
                                    .map(|(_, n)| format!("{{{n}}}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                        ok = false;
                    }
                }
            }
            '}' => {
                ctx.error(
                    node.pos,
                    format!("unmatched `}}` in {what}; write `}}}}` for a literal brace"),
                );
                ok = false;
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    ok.then_some(Template(pieces))
}

/// Glob (`*`, `?`) or `/regex/`, always matched against the whole value,
/// case-insensitively.
fn pattern_regex(pattern: &str) -> Result<String, String> {
    if let Some(inner) = pattern
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix('/'))
        .filter(|p| !p.is_empty())
    {
        Regex::new(inner).map_err(|e| {
            // The pattern itself is not repeated: it may be an e-mail address.
            let first = e.to_string();
            let last = first.lines().last().unwrap_or("").trim();
            let last = last.strip_prefix("error: ").unwrap_or(last).to_owned();
            format!("bad regular expression in a pattern: {last}")
        })?;
        return Ok(format!("(?:{inner})"));
    }
    let mut out = String::from("(?:");
    for c in pattern.chars() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push(')');
    Ok(out)
}

fn matchers(ctx: &mut Ctx, node: &Node, what: &str) -> Vec<Matcher> {
    let known: Vec<&str> = ScopeField::ALL.iter().map(|(_, n)| *n).collect();
    let Some(fields) = Fields::read(ctx, node, what, &known) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (field, name) in ScopeField::ALL {
        let Some(value) = fields.get(name) else {
            continue;
        };
        let Some(patterns) = strings(ctx, value, &format!("`{what}.{name}`")) else {
            continue;
        };
        let mut alternatives = Vec::new();
        for (pattern, pos) in &patterns {
            match pattern_regex(pattern) {
                Ok(regex) => alternatives.push(regex),
                Err(message) => ctx.error(*pos, message),
            }
        }
        if alternatives.len() != patterns.len() || alternatives.is_empty() {
            if patterns.is_empty() {
                ctx.error(
                    value.pos,
                    format!("`{what}.{name}` needs at least one pattern"),
                );
            }
            continue;
        }
        let source = format!("(?i)^(?:{})$", alternatives.join("|"));
        match Regex::new(&source) {
            Ok(regex) => out.push(Matcher { field, regex }),
            Err(error) => ctx.error(
                value.pos,
                format!("patterns of `{what}.{name}` are too large: {error}"),
            ),
        }
    }
    out
}

/// Route settings as written; unset fields fall back to the defaults.
#[derive(Debug, Clone, Default)]
struct RouteSpec {
    channels: Option<Vec<String>>,
    warning: Option<Vec<String>>,
    critical: Option<Vec<String>>,
    repeat: Option<Option<Duration>>,
    send_resolved: Option<bool>,
}

impl RouteSpec {
    fn over(self, base: &RouteSpec) -> RouteSpec {
        RouteSpec {
            channels: self.channels.or_else(|| base.channels.clone()),
            warning: self.warning.or_else(|| base.warning.clone()),
            critical: self.critical.or_else(|| base.critical.clone()),
            repeat: self.repeat.or(base.repeat),
            send_resolved: self.send_resolved.or(base.send_resolved),
        }
    }

    fn build(&self, severity: Severity) -> Route {
        let specific = match severity {
            Severity::Warning => &self.warning,
            Severity::Critical => &self.critical,
        };
        let channels = specific
            .clone()
            .or_else(|| self.channels.clone())
            .unwrap_or_else(|| vec![DEFAULT_CHANNEL.to_owned()]);
        Route {
            channels,
            repeat_interval: self.repeat.flatten(),
            send_resolved: self.send_resolved.unwrap_or(true),
        }
    }
}

fn channel_list(
    ctx: &mut Ctx,
    node: &Node,
    what: &str,
    channels: &BTreeMap<String, Channel>,
) -> Option<Vec<String>> {
    let names = strings(ctx, node, what)?;
    let mut out = Vec::new();
    for (name, pos) in names {
        if channels.contains_key(&name) {
            if !out.contains(&name) {
                out.push(name);
            }
        } else {
            ctx.error(
                pos,
                format!(
                    "unknown channel `{name}`{}; defined channels: {}",
                    suggestion(&name, channels.keys().map(String::as_str)),
                    channels
                        .keys()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    Some(out)
}

fn route_spec(
    ctx: &mut Ctx,
    node: &Node,
    what: &str,
    channels: &BTreeMap<String, Channel>,
) -> RouteSpec {
    let Some(fields) = Fields::read(ctx, node, what, ROUTE_KEYS) else {
        return RouteSpec::default();
    };
    let mut spec = RouteSpec::default();
    for (key, slot) in [
        ("channels", &mut spec.channels),
        ("warning", &mut spec.warning),
        ("critical", &mut spec.critical),
    ] {
        if let Some(node) = fields.get(key) {
            *slot = channel_list(ctx, node, &format!("`{what}.{key}`"), channels);
        }
    }
    if let Some(node) = fields.get("repeat") {
        spec.repeat = match node.as_text().as_deref().map(str::trim) {
            Some("never" | "off" | "false") => Some(None),
            _ => duration(ctx, node, &format!("`{what}.repeat`"), false).map(Some),
        };
    }
    if let Some(node) = fields.get("send_resolved") {
        spec.send_resolved = boolean(ctx, node, &format!("`{what}.send_resolved`"));
    }
    spec
}

fn env_name(ctx: &mut Ctx, node: &Node, what: &str) -> Option<String> {
    let name = string(ctx, node, what)?;
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        // Never echo the value: it may be the secret itself.
        ctx.error(
            node.pos,
            format!("{what} must be the NAME of an environment variable (such as `QOSWATCH_SLACK_WEBHOOK_URL`) that holds the secret, never the secret itself"),
        );
        return None;
    }
    Some(name)
}

fn channel(ctx: &mut Ctx, name: &str, node: &Node) -> Option<ChannelSpec> {
    let what = format!("channel `{name}`");
    let Value::Map(entries) = &node.value else {
        ctx.error(
            node.pos,
            format!(
                "{what} must be a mapping with `type:` ({})",
                CHANNEL_TYPES.join(", ")
            ),
        );
        return None;
    };
    let type_node = entries
        .iter()
        .find(|(k, _)| k.value == Value::Str("type".into()))
        .map(|(_, v)| v);
    let Some(type_node) = type_node else {
        ctx.error(
            node.pos,
            format!(
                "{what} has no `type`; expected one of: {}",
                CHANNEL_TYPES.join(", ")
            ),
        );
        return None;
    };
    let kind = string(ctx, type_node, &format!("`type` of {what}"))?;
    let known: &[&str] = match kind.as_str() {
        "console" => &["type", "send_resolved"],
        "slack" => &["type", "webhook_url_env", "show_email", "send_resolved"],
        "email" => &["type", "to", "show_email", "send_resolved"],
        other => {
            ctx.error(
                type_node.pos,
                format!(
                    "unknown channel type `{other}`{}; expected one of: {}",
                    suggestion(other, CHANNEL_TYPES.iter().copied()),
                    CHANNEL_TYPES.join(", ")
                ),
            );
            return None;
        }
    };
    let fields = Fields::read(ctx, node, &what, known)?;
    let send_resolved = fields
        .get("send_resolved")
        .and_then(|n| boolean(ctx, n, "`send_resolved`"))
        .unwrap_or(true);
    let show_email = fields
        .get("show_email")
        .and_then(|n| boolean(ctx, n, "`show_email`"))
        .unwrap_or(false);
    match kind.as_str() {
        "console" => Some(ChannelSpec::Console { send_resolved }),
        "slack" => {
            let Some(env) = fields.get("webhook_url_env") else {
                ctx.error(node.pos, format!("{what} needs `webhook_url_env`: the name of the environment variable holding the Slack webhook URL"));
                return None;
            };
            let webhook_url_env = env_name(ctx, env, "`webhook_url_env`")?;
            Some(ChannelSpec::Slack {
                webhook_url_env,
                show_email,
                send_resolved,
            })
        }
        _ => {
            let Some(to) = fields.get("to") else {
                ctx.error(
                    node.pos,
                    format!("{what} needs `to`: a list of recipient addresses"),
                );
                return None;
            };
            let recipients = strings(ctx, to, "`to`")?;
            let mut ok = !recipients.is_empty();
            if recipients.is_empty() {
                ctx.error(to.pos, "`to` needs at least one recipient address");
            }
            for (address, pos) in &recipients {
                let valid = address.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty()
                        && domain.contains('.')
                        && !address.contains(char::is_whitespace)
                });
                if !valid {
                    ctx.error(
                        *pos,
                        "bad e-mail address in `to`; expected `name@example.com`",
                    );
                    ok = false;
                }
            }
            ok.then(|| ChannelSpec::Email {
                to: recipients.into_iter().map(|(a, _)| a).collect(),
                show_email,
                send_resolved,
            })
        }
    }
}

fn channels(ctx: &mut Ctx, node: Option<&Node>) -> BTreeMap<String, Channel> {
    let mut out = BTreeMap::new();
    if let Some(node) = node {
        match &node.value {
            Value::Map(entries) => {
                for (key, value) in entries {
                    let Some(name) = string(ctx, key, "a channel name") else {
                        continue;
                    };
                    // Keep the name even when the definition is broken, so
                    // routes naming it are not reported a second time.
                    let spec = channel(ctx, &name, value).unwrap_or(ChannelSpec::Console {
                        send_resolved: false,
                    });
                    out.insert(name.clone(), Channel { name, spec });
                }
            }
            Value::Null => {}
            other => ctx.error(
                node.pos,
                format!(
                    "`channels` must be a mapping of channel names to definitions, found {}",
                    other.kind()
                ),
            ),
        }
    }
    out.entry(DEFAULT_CHANNEL.to_owned())
        .or_insert_with(|| Channel {
            name: DEFAULT_CHANNEL.to_owned(),
            spec: ChannelSpec::Console {
                send_resolved: true,
            },
        });
    out
}

fn valid_rule_name(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

struct Defaults {
    sustain: Sustain,
    route: RouteSpec,
}

fn severity(ctx: &mut Ctx, node: &Node, what: &str) -> Option<Severity> {
    match node.as_text().as_deref() {
        Some("warning") => Some(Severity::Warning),
        Some("critical") => Some(Severity::Critical),
        _ => {
            ctx.error(node.pos, format!("{what} must be `warning` or `critical`"));
            None
        }
    }
}

/// Compiles one rule; `None` when it has errors (all reported).
fn rule(
    ctx: &mut Ctx,
    node: &Node,
    index: usize,
    defaults: &Defaults,
    channels: &BTreeMap<String, Channel>,
    names: &mut HashMap<String, Pos>,
) -> Option<(Rule, bool)> {
    // Name the rule in messages as soon as possible, even before its keys are checked.
    let written_name = match &node.value {
        Value::Map(entries) => entries
            .iter()
            .find_map(|(k, v)| match (&k.value, &v.value) {
                (Value::Str(k), Value::Str(name)) if k == "name" => Some(name.clone()),
                _ => None,
            }),
        _ => None,
    };
    let what =
        written_name.map_or_else(|| format!("rule #{}", index + 1), |n| format!("rule `{n}`"));
    let fields = Fields::read(ctx, node, &what, RULE_KEYS)?;
    let errors_before = ctx.errors.len();
    let name = match fields.get("name") {
        Some(n) => string(ctx, n, "`name`").and_then(|name| {
            if !valid_rule_name(&name) {
                ctx.error(
                    n.pos,
                    format!("bad rule name `{name}`; use letters, digits, `-`, `_` and `.` only"),
                );
                return None;
            }
            if let Some(first) = names.get(&name) {
                ctx.error(
                    n.pos,
                    format!(
                        "duplicate rule name `{name}`; first defined at line {}, column {}",
                        first.line, first.column
                    ),
                );
                return None;
            }
            names.insert(name.clone(), n.pos);
            Some(name)
        }),
        None => {
            ctx.error(fields.pos, format!("{what} has no `name`"));
            None
        }
    };
    let what = name.as_ref().map_or(what, |n| format!("rule `{n}`"));
    let enabled = fields
        .get("enabled")
        .and_then(|n| boolean(ctx, n, "`enabled`"))
        .unwrap_or(true);
    let metrics = match fields.get("metric") {
        Some(n) => metrics(ctx, n),
        None => {
            ctx.error(
                fields.pos,
                format!("{what} has no `metric`; expected e.g. `metric: audio_input.latency`"),
            );
            None
        }
    };
    let unit = metrics.as_ref().map(|(_, unit, _)| *unit);
    let metric_label = metrics
        .as_ref()
        .map_or_else(String::new, |(_, _, label)| label.clone());
    let direction = match (fields.get("above"), fields.get("below")) {
        (Some(node), None) => Some((Direction::Above, node)),
        (None, Some(node)) => Some((Direction::Below, node)),
        (Some(_), Some(_)) => {
            ctx.error(fields.key_pos("below").unwrap_or(fields.pos), format!("{what} has both `above` and `below`; a rule watches one direction (write two rules for both)"));
            None
        }
        (None, None) => {
            ctx.error(fields.pos, format!("{what} has no `above` or `below` thresholds; expected e.g. `above: {{ warning: 150ms, critical: 400ms }}`"));
            None
        }
    };
    let mut warning = None;
    let mut critical = None;
    if let Some((direction, node)) = direction {
        let dir = direction.as_str();
        if let Value::Map(_) = node.value {
            if let Some(levels) = Fields::read(ctx, node, &format!("`{dir}`"), LEVEL_KEYS) {
                warning = levels
                    .get("warning")
                    .and_then(|n| threshold(ctx, n, unit, &metric_label, "warning threshold"));
                critical = levels
                    .get("critical")
                    .and_then(|n| threshold(ctx, n, unit, &metric_label, "critical threshold"));
                if levels.get("warning").is_none() && levels.get("critical").is_none() {
                    ctx.error(
                        node.pos,
                        format!("`{dir}` needs a `warning` and/or a `critical` threshold"),
                    );
                }
            }
        } else {
            // `above: 150ms` is shorthand for a warning threshold.
            warning = threshold(ctx, node, unit, &metric_label, "warning threshold");
        }
        if let (Some(w), Some(c)) = (warning, critical)
            && (direction.worse(w, c) || w == c)
        {
            ctx.error(
                node.pos,
                format!(
                    "the critical threshold must be {} the warning threshold for a rule `{dir}`",
                    if direction == Direction::Above {
                        "higher than"
                    } else {
                        "lower than"
                    }
                ),
            );
        }
    }
    let sustain_value = match fields.get("for") {
        Some(n) => sustain(ctx, n, "`for`"),
        None => Some(defaults.sustain),
    };
    let mut clear_threshold = None;
    let mut clear_for = Sustain::IMMEDIATELY;
    if let Some(node) = fields.get("clear")
        && let Some(clear) = Fields::read(ctx, node, "`clear`", CLEAR_KEYS)
    {
        if let Some((direction, _)) = direction {
            let (right, wrong) = match direction {
                Direction::Above => ("below", "above"),
                Direction::Below => ("above", "below"),
            };
            if let Some(pos) = clear.key_pos(wrong) {
                ctx.error(pos, format!("the rule fires `{}` its threshold, so it clears `{right}` a value: write `clear: {{ {right}: ... }}`", direction.as_str()));
            }
            if let Some(n) = clear.get(right) {
                clear_threshold = threshold(ctx, n, unit, &metric_label, "clear threshold");
                let entry = warning.or(critical);
                if let (Some(c), Some(e)) = (clear_threshold, entry)
                    && direction.breaches(c, e)
                {
                    ctx.error(n.pos, format!("the clear threshold must be on the good side of the lowest threshold (`{right}` it or equal)"));
                }
            }
        }
        if let Some(n) = clear.get("for") {
            clear_for = sustain(ctx, n, "`clear.for`").unwrap_or(Sustain::IMMEDIATELY);
        }
    }
    let mut scope = Scope::default();
    if let Some(n) = fields.get("scope") {
        scope.include = matchers(ctx, n, "scope");
    }
    if let Some(n) = fields.get("exclude") {
        scope.exclude = matchers(ctx, n, "exclude");
    }
    let summary = match fields.get("summary") {
        Some(n) => template(ctx, n, "`summary`"),
        None => template(
            &mut Ctx::default(),
            &Node {
                value: Value::Str(DEFAULT_SUMMARY.into()),
                pos: fields.pos,
            },
            "",
        ),
    };
    let runbook = fields.get("runbook").map(|n| template(ctx, n, "`runbook`"));
    let route = fields
        .get("route")
        .map(|n| route_spec(ctx, n, "route", channels))
        .unwrap_or_default()
        .over(&defaults.route);
    let missing_data = fields.get("missing_data").and_then(|node| {
        let missing = Fields::read(ctx, node, "`missing_data`", MISSING_KEYS)?;
        let after = match missing.get("after") {
            Some(n) => duration(ctx, n, "`missing_data.after`", false),
            None => {
                ctx.error(node.pos, "`missing_data` needs `after`: how long data may be missing before the alert fires, e.g. `after: 5m`");
                None
            }
        };
        let severity = missing
            .get("severity")
            .map_or(Some(Severity::Warning), |n| severity(ctx, n, "`missing_data.severity`"));
        Some(MissingData { after: after?, severity: severity? })
    });
    if ctx.errors.len() > errors_before {
        return None;
    }
    let (metrics, unit, _) = metrics?;
    let (direction, _) = direction?;
    let mut rule = Rule {
        name: name?,
        metrics,
        unit,
        direction,
        warning,
        critical,
        sustain: sustain_value?,
        clear_threshold,
        clear_for,
        scope,
        summary: summary?,
        runbook: match runbook {
            Some(r) => Some(r?),
            None => None,
        },
        warning_route: route.build(Severity::Warning),
        critical_route: route.build(Severity::Critical),
        missing_data,
        fingerprint: 0,
    };
    let mut hasher = DefaultHasher::new();
    format!("{rule:?}").hash(&mut hasher);
    rule.fingerprint = hasher.finish();
    Some((rule, enabled))
}

/// The compiled content of a file: enabled rules and every channel.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub rules: Vec<Rule>,
    pub channels: Vec<Channel>,
}

/// Compiles a parsed rules file.
pub(crate) fn compile(root: &Node) -> Result<Compiled, Vec<Diagnostic>> {
    let mut ctx = Ctx::default();
    let fields = match &root.value {
        Value::Null => {
            ctx.error(root.pos, "the rules file is empty; expected `rules:` (and optionally `channels:` and `defaults:`)");
            return Err(ctx.errors);
        }
        _ => Fields::read(&mut ctx, root, "the rules file", TOP_KEYS),
    };
    let Some(fields) = fields else {
        return Err(ctx.errors);
    };
    let channels = channels(&mut ctx, fields.get("channels"));
    let mut defaults = Defaults {
        sustain: Sustain::IMMEDIATELY,
        route: RouteSpec::default(),
    };
    if let Some(node) = fields.get("defaults")
        && let Some(d) = Fields::read(&mut ctx, node, "`defaults`", DEFAULTS_KEYS)
    {
        if let Some(n) = d.get("for")
            && let Some(s) = sustain(&mut ctx, n, "`defaults.for`")
        {
            defaults.sustain = s;
        }
        if let Some(n) = d.get("route") {
            defaults.route = route_spec(&mut ctx, n, "defaults.route", &channels);
        }
    }
    let mut rules = Vec::new();
    let mut names = HashMap::new();
    match fields.get("rules") {
        Some(Node {
            value: Value::Seq(items),
            ..
        }) => {
            for (index, item) in items.iter().enumerate() {
                if let Some((rule, enabled)) =
                    rule(&mut ctx, item, index, &defaults, &channels, &mut names)
                    && enabled
                {
                    rules.push(rule);
                }
            }
        }
        Some(Node {
            value: Value::Null, ..
        }) => {}
        Some(node) => ctx.error(
            node.pos,
            format!(
                "`rules` must be a list of rules, found {}",
                node.value.kind()
            ),
        ),
        None => ctx.error(root.pos, "the rules file has no `rules:` list"),
    }
    if ctx.errors.is_empty() {
        Ok(Compiled {
            rules,
            channels: channels.into_values().collect(),
        })
    } else {
        Err(ctx.errors)
    }
}
