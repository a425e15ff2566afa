//! Alertmanager's matcher expressions, as its clients send them in
//! `filter=` (`alertname="x"`, `severity!="warning"`, `topic=~"Weekly.*"`,
//! `location!~"Berlin.*"`, or several in braces: `{a="1",b=~"2"}`), and
//! their match against an alert's labels (a missing label is empty, a
//! regex is anchored at both ends, as in Alertmanager).

use regex::Regex;
use serde_json::{Map, Value};

/// Longest expression read; a regex compiles to at most 64 KiB.
const MAX_EXPRESSION: usize = 1024;
const REGEX_SIZE_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

#[derive(Debug, Clone)]
pub struct LabelMatcher {
    pub name: String,
    pub op: Op,
    pub value: String,
    regex: Option<Regex>,
}

impl LabelMatcher {
    pub fn new(name: &str, op: Op, value: &str) -> Result<LabelMatcher, String> {
        let regex = match op {
            Op::Regex | Op::NotRegex => Some(
                regex::RegexBuilder::new(&format!("^(?:{value})$"))
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| {
                        format!("filter: `{name}`: not a valid regular expression ({e})")
                    })?,
            ),
            Op::Equal | Op::NotEqual => None,
        };
        Ok(LabelMatcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
        })
    }

    /// Whether a label value (empty when missing) satisfies the matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (Op::Equal, _) => value == self.value,
            (Op::NotEqual, _) => value != self.value,
            (Op::Regex, Some(regex)) => regex.is_match(value),
            (Op::NotRegex, Some(regex)) => !regex.is_match(value),
            (_, None) => false,
        }
    }

    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        let value = labels
            .get(&self.name)
            .and_then(Value::as_str)
            .unwrap_or_default();
        self.matches_value(value)
    }
}

fn shown(text: &str) -> String {
    text.chars().take(64).collect()
}

/// Reads one `filter` value: one matcher, or several in braces.
pub fn parse(text: &str) -> Result<Vec<LabelMatcher>, String> {
    if text.len() > MAX_EXPRESSION {
        return Err(format!("filter: longer than {MAX_EXPRESSION} bytes"));
    }
    let text = text.trim();
    let inner = match text.strip_prefix('{') {
        Some(rest) => rest
            .strip_suffix('}')
            .ok_or_else(|| format!("filter: `{}` opens a brace it does not close", shown(text)))?,
        None => text,
    };
    let mut rest = inner.trim_start();
    let mut matchers = Vec::new();
    while !rest.is_empty() {
        let (matcher, after) =
            one(rest).map_err(|why| format!("filter: `{}`: {why}", shown(text)))?;
        matchers.push(matcher);
        rest = after.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
        } else if !rest.is_empty() {
            return Err(format!(
                "filter: `{}`: expected `,` between matchers",
                shown(text)
            ));
        }
    }
    if matchers.is_empty() {
        return Err("filter: empty".to_owned());
    }
    Ok(matchers)
}

/// One `name op value` at the start of `text`; the rest after it.
fn one(text: &str) -> Result<(LabelMatcher, &str), String> {
    let name_end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    let name = &text[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("expected a label name".into());
    }
    let after_name = text[name_end..].trim_start();
    let (op, after_op) = [
        ("=~", Op::Regex),
        ("!~", Op::NotRegex),
        ("!=", Op::NotEqual),
        ("=", Op::Equal),
    ]
    .into_iter()
    .find_map(|(token, op)| after_name.strip_prefix(token).map(|rest| (op, rest)))
    .ok_or("expected =, !=, =~ or !~ after the name")?;
    let after_op = after_op.trim_start();
    let (value, rest) = match after_op.strip_prefix('"') {
        Some(quoted) => quoted_value(quoted)?,
        None => {
            let end = after_op.find([',', '}']).unwrap_or(after_op.len());
            (after_op[..end].trim().to_owned(), &after_op[end..])
        }
    };
    Ok((LabelMatcher::new(name, op, &value)?, rest))
}

/// The value of a double-quoted string (`\"`, `\\`, `\n` escapes) and what
/// follows its closing quote.
fn quoted_value(text: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, other)) => value.push(other),
                None => break,
            },
            other => value.push(other),
        }
    }
    Err("a quoted value is not closed".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels() -> Map<String, Value> {
        json!({"alertname": "audio-latency", "severity": "critical", "location": "Berlin (DE)"})
            .as_object()
            .unwrap()
            .clone()
    }

    fn all(text: &str) -> bool {
        let matchers = parse(text).unwrap();
        matchers.iter().all(|m| m.matches(&labels()))
    }

    #[test]
    fn reads_what_amtool_and_grafana_send() {
        assert!(all(r#"alertname="audio-latency""#));
        assert!(all("alertname=audio-latency"));
        assert!(!all(r#"alertname="audio""#));
        assert!(all(r#"severity!="warning""#));
        assert!(!all(r#"severity!="critical""#));
        assert!(all(r#"location=~"Berlin.*""#));
        assert!(!all(r#"location=~"erlin""#), "anchored");
        assert!(all(r#"location!~"Paris.*""#));
        assert!(all(r#"{alertname="audio-latency", severity=~"crit.*"}"#));
        assert!(!all(r#"{alertname="audio-latency",severity="warning"}"#));
        assert!(all(r#"topic="""#), "a missing label is empty");
        assert!(all(r#"topic!~".+""#));
    }

    #[test]
    fn escapes_in_quoted_values() {
        let matcher = &parse(r#"x="a\"b\\c""#).unwrap()[0];
        assert_eq!(matcher.value, r#"a"b\c"#);
        assert_eq!(matcher.op, Op::Equal);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in [
            "",
            "alertname",
            r#"="x""#,
            r#"1a="x""#,
            r#"a=~"(""#,
            r#"a="x"#,
            r#"{a="x""#,
            r#"a="x" b="y""#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
