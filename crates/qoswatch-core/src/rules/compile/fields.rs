//! The general YAML field reader every part of the compiler uses: a
//! diagnostics collector ([`Ctx`]), schema-checked mappings ([`Fields`]) and
//! typed scalars (strings, booleans, durations, `for:` sustains, severities).
//! The rules test file reads its own schema with them too.

use std::time::Duration;

use crate::alert::Severity;

use crate::rules::diag::{Diagnostic, Pos, suggestion};
use crate::rules::model::Sustain;
use crate::rules::yaml::{Node, Value};

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

/// `warning` or `critical`.
pub(crate) fn severity(ctx: &mut Ctx, node: &Node, what: &str) -> Option<Severity> {
    match node.as_text().as_deref() {
        Some("warning") => Some(Severity::Warning),
        Some("critical") => Some(Severity::Critical),
        _ => {
            ctx.error(node.pos, format!("{what} must be `warning` or `critical`"));
            None
        }
    }
}
