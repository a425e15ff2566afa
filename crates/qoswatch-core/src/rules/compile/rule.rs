//! One entry of `rules:` → a compiled [`Rule`]: name, metric, thresholds,
//! `for`, `clear`, scope, templates, route and `missing_data`.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use crate::alert::{Channel, Severity};
use crate::rules::diag::Pos;
use crate::rules::model::{Direction, MissingData, Rule, Scope, Sustain};
use crate::rules::yaml::{Node, Value};

use super::Defaults;
use super::fields::{Ctx, Fields, boolean, duration, severity, string, sustain};
use super::matcher::matchers;
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
