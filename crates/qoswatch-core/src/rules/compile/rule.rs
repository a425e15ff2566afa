//! One entry of `rules:` → a compiled [`Rule`]: name, metric, thresholds,
//! `for`, `clear`, scope, templates, route and `missing_data`.

use std::collections::{BTreeMap, HashMap};

use crate::alert::{Channel, Severity};
use crate::qos::{MetricId, Unit};
use crate::rules::diag::Pos;
use crate::rules::fingerprint;
use crate::rules::model::{Direction, MissingData, Rule, Sustain, Template};
use crate::rules::yaml::{Node, Value};

use super::Defaults;
use super::fields::{Ctx, Fields, boolean, duration, severity, string, sustain};
use super::matcher::scope;
use super::route::route_spec;
use super::template::template;
use super::units::{metrics, threshold};

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
const MISSING_KEYS: &[&str] = &["after", "severity"];

/// The default summary line.
pub const DEFAULT_SUMMARY: &str = "{participant}: {metric} {value} ({threshold}) in {meeting}";

fn valid_rule_name(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Compiles one rule; `None` when it has errors (all reported).
pub(super) fn rule(
    ctx: &mut Ctx,
    node: &Node,
    index: usize,
    defaults: &Defaults,
    channels: &BTreeMap<String, Channel>,
    names: &mut HashMap<String, Pos>,
) -> Option<(Rule, bool)> {
    let what = label(node, index);
    let fields = Fields::read(ctx, node, &what, RULE_KEYS)?;
    let errors_before = ctx.errors.len();
    let name = name(ctx, &fields, &what, names);
    let what = name.as_ref().map_or(what, |n| format!("rule `{n}`"));
    let enabled = fields
        .get("enabled")
        .and_then(|n| boolean(ctx, n, "`enabled`"))
        .unwrap_or(true);
    let metrics = metric(ctx, &fields, &what);
    let unit = metrics.as_ref().map(|(_, unit, _)| *unit);
    let metric_label = metrics
        .as_ref()
        .map_or_else(String::new, |(_, _, label)| label.clone());
    let direction = direction(ctx, &fields, &what);
    let (warning, critical) = match direction {
        Some((direction, node)) => levels(ctx, direction, node, unit, &metric_label),
        None => (None, None),
    };
    let sustain_value = match fields.get("for") {
        Some(n) => sustain(ctx, n, "`for`"),
        None => Some(defaults.sustain),
    };
    let entry = warning.or(critical);
    let direction_only = direction.map(|(direction, _)| direction);
    let (clear_threshold, clear_for) =
        clear(ctx, &fields, direction_only, unit, &metric_label, entry);
    let scope = scope(ctx, &fields);
    let summary = summary(ctx, &fields);
    let runbook = fields.get("runbook").map(|n| template(ctx, n, "`runbook`"));
    let route = fields
        .get("route")
        .map(|n| route_spec(ctx, n, "route", channels))
        .unwrap_or_default()
        .over(&defaults.route);
    let missing_data = fields
        .get("missing_data")
        .and_then(|node| missing_data(ctx, node));
    if ctx.errors.len() > errors_before {
        return None;
    }
    let (metrics, unit, _) = metrics?;
    let mut rule = Rule {
        name: name?,
        metrics,
        unit,
        direction: direction_only?,
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
    rule.fingerprint = fingerprint::of(&rule);
    Some((rule, enabled))
}

/// How messages name the rule: by its `name:` as soon as it is written,
/// even before its keys are checked, else by its position.
fn label(node: &Node, index: usize) -> String {
    let written_name = match &node.value {
        Value::Map(entries) => entries
            .iter()
            .find_map(|(k, v)| match (&k.value, &v.value) {
                (Value::Str(k), Value::Str(name)) if k == "name" => Some(name.clone()),
                _ => None,
            }),
        _ => None,
    };
    written_name.map_or_else(|| format!("rule #{}", index + 1), |n| format!("rule `{n}`"))
}

/// `name:`: present, well-formed and not used by an earlier rule.
fn name(
    ctx: &mut Ctx,
    fields: &Fields<'_>,
    what: &str,
    names: &mut HashMap<String, Pos>,
) -> Option<String> {
    let Some(n) = fields.get("name") else {
        ctx.error(fields.pos, format!("{what} has no `name`"));
        return None;
    };
    let name = string(ctx, n, "`name`")?;
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
}

/// `metric:`, which every rule needs: the metrics, their unit and how the
/// file wrote them.
fn metric(ctx: &mut Ctx, fields: &Fields<'_>, what: &str) -> Option<(Vec<MetricId>, Unit, String)> {
    match fields.get("metric") {
        Some(n) => metrics(ctx, n),
        None => {
            ctx.error(
                fields.pos,
                format!("{what} has no `metric`; expected e.g. `metric: audio_input.latency`"),
            );
            None
        }
    }
}

/// `above:` or `below:` (exactly one of them), with the node of its thresholds.
fn direction<'a>(ctx: &mut Ctx, fields: &Fields<'a>, what: &str) -> Option<(Direction, &'a Node)> {
    match (fields.get("above"), fields.get("below")) {
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
    }
}

/// The warning and critical thresholds under `above:` / `below:`; a bare
/// value (`above: 150ms`) is shorthand for a warning threshold.
fn levels(
    ctx: &mut Ctx,
    direction: Direction,
    node: &Node,
    unit: Option<Unit>,
    metric_label: &str,
) -> (Option<f64>, Option<f64>) {
    let dir = direction.as_str();
    let mut warning = None;
    let mut critical = None;
    if let Value::Map(_) = node.value {
        if let Some(levels) = Fields::read(ctx, node, &format!("`{dir}`"), LEVEL_KEYS) {
            warning = levels
                .get("warning")
                .and_then(|n| threshold(ctx, n, unit, metric_label, "warning threshold"));
            critical = levels
                .get("critical")
                .and_then(|n| threshold(ctx, n, unit, metric_label, "critical threshold"));
            if levels.get("warning").is_none() && levels.get("critical").is_none() {
                ctx.error(
                    node.pos,
                    format!("`{dir}` needs a `warning` and/or a `critical` threshold"),
                );
            }
        }
    } else {
        warning = threshold(ctx, node, unit, metric_label, "warning threshold");
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
    (warning, critical)
}

/// `clear:`: the clear threshold (on the good side of `entry`, the lowest
/// threshold) and how long the value must stay there.
fn clear(
    ctx: &mut Ctx,
    fields: &Fields<'_>,
    direction: Option<Direction>,
    unit: Option<Unit>,
    metric_label: &str,
    entry: Option<f64>,
) -> (Option<f64>, Sustain) {
    let mut clear_threshold = None;
    let mut clear_for = Sustain::IMMEDIATELY;
    let Some(node) = fields.get("clear") else {
        return (clear_threshold, clear_for);
    };
    let Some(clear) = Fields::read(ctx, node, "`clear`", CLEAR_KEYS) else {
        return (clear_threshold, clear_for);
    };
    if let Some(direction) = direction {
        let (right, wrong) = match direction {
            Direction::Above => ("below", "above"),
            Direction::Below => ("above", "below"),
        };
        if let Some(pos) = clear.key_pos(wrong) {
            ctx.error(pos, format!("the rule fires `{}` its threshold, so it clears `{right}` a value: write `clear: {{ {right}: ... }}`", direction.as_str()));
        }
        if let Some(n) = clear.get(right) {
            clear_threshold = threshold(ctx, n, unit, metric_label, "clear threshold");
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
    (clear_threshold, clear_for)
}

/// `summary:`, or the default summary line.
fn summary(ctx: &mut Ctx, fields: &Fields<'_>) -> Option<Template> {
    match fields.get("summary") {
        Some(n) => template(ctx, n, "`summary`"),
        None => template(
            &mut Ctx::default(),
            &Node {
                value: Value::Str(DEFAULT_SUMMARY.into()),
                pos: fields.pos,
            },
            "",
        ),
    }
}

/// `missing_data:`: how long data may be missing before the alert fires.
fn missing_data(ctx: &mut Ctx, node: &Node) -> Option<MissingData> {
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
        .map_or(Some(Severity::Warning), |n| {
            severity(ctx, n, "`missing_data.severity`")
        });
    Some(MissingData {
        after: after?,
        severity: severity?,
    })
}
