//! Rules file (a YAML node tree) → compiled [`Rule`]s and channels, with
//! every problem collected as a diagnostic instead of stopping at the first.
//!
//! - [`fields`]: the YAML field reader ([`Ctx`], [`Fields`], typed scalars);
//! - [`units`]: quantities with units, thresholds, `metric:` selectors;
//! - [`template`]: `{placeholder}` templates;
//! - [`matcher`]: `scope:` / `exclude:` patterns;
//! - [`route`] and [`channel`]: where alerts go;
//! - [`rule`]: one entry of `rules:`;
//! - this file: the top level (`channels`, `defaults`, `rules`).

mod channel;
pub(super) mod fields;
mod matcher;
mod route;
mod rule;
mod template;
pub(super) mod units;

use std::collections::HashMap;

use crate::alert::Channel;
use crate::rules::diag::Diagnostic;
use crate::rules::model::{Rule, Sustain};
use crate::rules::yaml::{Node, Value};

use channel::channels;
use fields::{Ctx, Fields, sustain};
use route::{RouteSpec, route_spec};
use rule::rule;

/// The name of the console channel that exists even when the file does not
/// define it, and that routes use by default.
pub const DEFAULT_CHANNEL: &str = "console";

const TOP_KEYS: &[&str] = &["channels", "defaults", "rules"];
const DEFAULTS_KEYS: &[&str] = &["for", "route"];

struct Defaults {
    sustain: Sustain,
    route: RouteSpec,
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
