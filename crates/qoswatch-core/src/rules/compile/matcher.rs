//! `scope:` and `exclude:` matchers: globs or `/regex/` patterns on the
//! meeting topic or id, the participant's name or e-mail, device, location
//! and network type, compiled into one anchored case-insensitive regex per
//! field.

use regex::Regex;

use crate::rules::model::{Matcher, Scope, ScopeField};
use crate::rules::yaml::Node;

use super::fields::{Ctx, Fields, strings};

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
            if field == ScopeField::Kind && !is_call_kind(pattern) {
                ctx.error(
                    *pos,
                    format!("`{what}.kind` is `meeting` or `webinar`, not `{pattern}`"),
                );
                continue;
            }
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

/// The values of `kind:`: Zoom's two kinds of call, nothing else (a typo
/// such as `webinars` would otherwise match nobody, silently).
fn is_call_kind(pattern: &str) -> bool {
    pattern.eq_ignore_ascii_case("meeting") || pattern.eq_ignore_ascii_case("webinar")
}

/// `scope:` and `exclude:` of a rule.
pub(super) fn scope(ctx: &mut Ctx, fields: &Fields<'_>) -> Scope {
    let mut scope = Scope::default();
    if let Some(n) = fields.get("scope") {
        scope.include = matchers(ctx, n, "scope");
    }
    if let Some(n) = fields.get("exclude") {
        scope.exclude = matchers(ctx, n, "exclude");
    }
    scope
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_regexes_become_groups_of_one_regex() {
        assert_eq!(pattern_regex("a*b?.c"), Ok(r"(?:a.*b.\.c)".to_owned()));
        assert_eq!(pattern_regex("/a.*/"), Ok("(?:a.*)".to_owned()));
        // A lone slash is a glob, not an empty regex.
        assert_eq!(pattern_regex("/"), Ok("(?:/)".to_owned()));
        let error = pattern_regex("/[/").unwrap_err();
        assert!(
            error.starts_with("bad regular expression in a pattern: "),
            "{error}"
        );
    }
}
