//! Silences: alerts that match a set of matchers are tracked and shown but
//! not sent, until the silence ends. Pure: no clock (`now` is passed in),
//! no IO. The API turns requests into [`Silence`]s here, so every check of
//! what a client sent lives in one place and names the field it refuses.

use std::time::Duration;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::alert::AlertEvent;

/// The longest silence: a longer one is a mistake (a unit typo) or a rule
/// that should be changed instead.
pub const MAX_SILENCE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Most matchers of one silence.
pub const MAX_MATCHERS: usize = 16;
/// Longest matcher value, author and comment (characters).
pub const MAX_VALUE_CHARS: usize = 256;
pub const MAX_AUTHOR_CHARS: usize = 100;
pub const MAX_COMMENT_CHARS: usize = 1000;
/// A regular expression compiles to at most this much memory.
const REGEX_SIZE_LIMIT: usize = 64 * 1024;

/// What a matcher compares: one label of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    /// The meeting's topic.
    Topic,
    /// The participant's display name.
    Participant,
    /// The participant's location as Zoom reports it.
    Location,
    /// The rule's name.
    Rule,
    /// `warning` or `critical`.
    Severity,
    /// The Zoom account's short name.
    Account,
}

impl Field {
    pub const ALL: [(Field, &'static str); 6] = [
        (Field::Topic, "topic"),
        (Field::Participant, "participant"),
        (Field::Location, "location"),
        (Field::Rule, "rule"),
        (Field::Severity, "severity"),
        (Field::Account, "account"),
    ];

    pub fn parse(name: &str) -> Option<Field> {
        Self::ALL
            .iter()
            .find(|(_, known)| *known == name)
            .map(|(field, _)| *field)
    }

    fn names() -> String {
        Self::ALL.map(|(_, name)| name).join(", ")
    }
}

/// The labels of one alert that silences and filters match. Missing
/// values (no topic, no location) are empty strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels {
    pub topic: String,
    pub participant: String,
    pub location: String,
    pub rule: String,
    pub severity: String,
    pub account: String,
}

impl Labels {
    pub fn of(event: &AlertEvent) -> Self {
        let participant = event.participant.as_ref();
        Labels {
            topic: event.meeting.topic.clone().unwrap_or_default(),
            participant: participant.and_then(|p| p.name.clone()).unwrap_or_default(),
            location: participant
                .and_then(|p| p.location.clone())
                .unwrap_or_default(),
            rule: event.rule.clone(),
            severity: event.severity.to_string(),
            account: event.meeting.account.as_str().to_owned(),
        }
    }

    fn get(&self, field: Field) -> &str {
        match field {
            Field::Topic => &self.topic,
            Field::Participant => &self.participant,
            Field::Location => &self.location,
            Field::Rule => &self.rule,
            Field::Severity => &self.severity,
            Field::Account => &self.account,
        }
    }
}

/// A matcher as clients send it and the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MatcherSpec {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub is_regex: bool,
}

/// A checked matcher: a known field, and the regular expression compiled.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub field: Field,
    pub value: String,
    /// Anchored at both ends, as in Alertmanager: `Berlin.*`, not `.*Berlin.*`.
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field
            && self.value == other.value
            && self.regex.is_some() == other.regex.is_some()
    }
}

impl Matcher {
    /// Checks one matcher; the message names what is wrong, `at` says where
    /// (`matchers[2]`, `filter`).
    pub fn compile(spec: &MatcherSpec, at: &str) -> Result<Matcher, String> {
        let field = Field::parse(spec.name.trim()).ok_or_else(|| {
            format!(
                "{at}.name: unknown field `{}`; one of {}",
                shown(&spec.name),
                Field::names()
            )
        })?;
        if spec.value.chars().count() > MAX_VALUE_CHARS {
            return Err(format!(
                "{at}.value: longer than {MAX_VALUE_CHARS} characters"
            ));
        }
        let regex = if spec.is_regex {
            let anchored = format!("^(?:{})$", spec.value);
            let regex = regex::RegexBuilder::new(&anchored)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|error| format!("{at}.value: not a valid regular expression ({error})"))?;
            Some(regex)
        } else {
            if field == Field::Severity && !["warning", "critical"].contains(&spec.value.as_str()) {
                return Err(format!(
                    "{at}.value: severity is `warning` or `critical`, not `{}`",
                    shown(&spec.value)
                ));
            }
            None
        };
        Ok(Matcher {
            field,
            value: spec.value.clone(),
            regex,
        })
    }

    pub fn spec(&self) -> MatcherSpec {
        MatcherSpec {
            name: Field::ALL[self.field as usize].1.to_owned(),
            value: self.value.clone(),
            is_regex: self.regex.is_some(),
        }
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        let label = labels.get(self.field);
        match &self.regex {
            Some(regex) => regex.is_match(label),
            None => label == self.value,
        }
    }
}

/// At most 64 characters of a client's text, for an error message.
fn shown(text: &str) -> String {
    text.chars().take(64).collect()
}

/// A silence. Removing one ends it now (`ends_at` moves to the removal
/// time); ended silences are kept for the history until the store's
/// retention prunes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    pub id: String,
    #[serde(with = "matchers_as_specs")]
    pub matchers: Vec<Matcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    /// When it was removed before its end, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<DateTime<Utc>>,
    /// Its end was handled: the alerts it covered were sent again. Stored,
    /// so that a silence that ends while qoswatch is down is handled at
    /// the next start, and one handled before is not handled twice.
    #[serde(default)]
    pub end_announced: bool,
}

mod matchers_as_specs {
    use super::{Matcher, MatcherSpec};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(matchers: &[Matcher], s: S) -> Result<S::Ok, S::Error> {
        let specs: Vec<MatcherSpec> = matchers.iter().map(Matcher::spec).collect();
        specs.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Matcher>, D::Error> {
        let specs = Vec::<MatcherSpec>::deserialize(d)?;
        specs
            .iter()
            .enumerate()
            .map(|(i, spec)| Matcher::compile(spec, &format!("matchers[{i}]")))
            .collect::<Result<_, _>>()
            .map_err(serde::de::Error::custom)
    }
}

impl Silence {
    /// In force at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        now < self.ends_at
    }

    /// Every matcher matches.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|matcher| matcher.matches(labels))
    }

    /// Ends it at `now` (no later than it would have ended anyway).
    pub fn remove(&mut self, now: DateTime<Utc>) {
        if self.is_active(now) {
            self.ends_at = now;
            self.removed_at = Some(now);
        }
    }
}

/// `POST /api/v1/silences`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SilenceRequest {
    pub matchers: Vec<MatcherSpec>,
    /// `30m`, `2h`, `1d`.
    pub duration: String,
    pub created_by: String,
    pub comment: String,
}

impl SilenceRequest {
    /// The silence this request asks for, starting at `now`, or what is
    /// wrong with it.
    pub fn into_silence(self, id: String, now: DateTime<Utc>) -> Result<Silence, String> {
        if self.matchers.is_empty() {
            return Err("matchers: at least one matcher is needed".into());
        }
        if self.matchers.len() > MAX_MATCHERS {
            return Err(format!("matchers: at most {MAX_MATCHERS}"));
        }
        let matchers = self
            .matchers
            .iter()
            .enumerate()
            .map(|(i, spec)| Matcher::compile(spec, &format!("matchers[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let duration = silence_duration(&self.duration)?;
        let created_by = one_line("createdBy", &self.created_by, MAX_AUTHOR_CHARS)?;
        let comment = required_text("comment", &self.comment, MAX_COMMENT_CHARS)?;
        let length =
            chrono::Duration::from_std(duration).map_err(|_| "duration: too long".to_owned())?;
        Ok(Silence {
            id,
            matchers,
            starts_at: now,
            ends_at: now + length,
            created_by,
            comment,
            removed_at: None,
            end_announced: false,
        })
    }
}

/// A duration between 1 s and [`MAX_SILENCE`].
pub fn silence_duration(text: &str) -> Result<Duration, String> {
    let duration = crate::duration::parse(text).map_err(|_| {
        format!(
            "duration: `{}` is not a duration such as 30m, 2h or 1d (no sign)",
            shown(text.trim())
        )
    })?;
    if duration < Duration::from_secs(1) {
        return Err("duration: must be at least 1s".into());
    }
    if duration > MAX_SILENCE {
        return Err(format!(
            "duration: at most {}",
            crate::duration::display(MAX_SILENCE)
        ));
    }
    Ok(duration)
}

fn required_text(name: &str, text: &str, max: usize) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("{name}: must not be empty"));
    }
    if text.chars().count() > max {
        return Err(format!("{name}: longer than {max} characters"));
    }
    Ok(text.to_owned())
}

fn one_line(name: &str, text: &str, max: usize) -> Result<String, String> {
    let text = required_text(name, text, max)?;
    if text.chars().any(char::is_control) {
        return Err(format!("{name}: must be one line"));
    }
    Ok(text)
}

/// One `filter` of `GET /api/v1/alerts`: `name="value"` (exact) or
/// `name=~"regex"`; the quotes are optional.
pub fn parse_filter(text: &str) -> Result<Matcher, String> {
    let text = text.trim();
    let Some((name, rest)) = text.split_once('=') else {
        return Err(format!(
            "filter: `{}` is not name=\"value\" or name=~\"regex\"",
            shown(text)
        ));
    };
    let (is_regex, value) = match rest.strip_prefix('~') {
        Some(value) => (true, value),
        None => (false, rest),
    };
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    Matcher::compile(
        &MatcherSpec {
            name: name.trim().to_owned(),
            value: value.to_owned(),
            is_regex,
        },
        "filter",
    )
}

#[cfg(test)]
mod tests;
