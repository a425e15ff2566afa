//! `route:` (per rule and under `defaults:`): which channels get an alert of
//! each severity, how often it repeats, and whether its end is sent.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::alert::{Channel, Route, Severity};
use crate::rules::diag::suggestion;
use crate::rules::yaml::Node;

use super::DEFAULT_CHANNEL;
use super::fields::{Ctx, Fields, boolean, duration, strings};

const ROUTE_KEYS: &[&str] = &["channels", "warning", "critical", "repeat", "send_resolved"];

/// Route settings as written; unset fields fall back to the defaults.
#[derive(Debug, Clone, Default)]
pub(super) struct RouteSpec {
    channels: Option<Vec<String>>,
    warning: Option<Vec<String>>,
    critical: Option<Vec<String>>,
    repeat: Option<Option<Duration>>,
    send_resolved: Option<bool>,
}

impl RouteSpec {
    pub(super) fn over(self, base: &RouteSpec) -> RouteSpec {
        RouteSpec {
            channels: self.channels.or_else(|| base.channels.clone()),
            warning: self.warning.or_else(|| base.warning.clone()),
            critical: self.critical.or_else(|| base.critical.clone()),
            repeat: self.repeat.or(base.repeat),
            send_resolved: self.send_resolved.or(base.send_resolved),
        }
    }

    pub(super) fn build(&self, severity: Severity) -> Route {
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

pub(super) fn route_spec(
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
