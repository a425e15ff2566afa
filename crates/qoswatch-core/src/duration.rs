//! The one way qoswatch reads a duration written by a person: `30s`, `5m`,
//! `1h 30m`, `250ms` (humantime's syntax), in settings, environment
//! variables, rule files, test files and command-line flags alike.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Why a text is not a duration. Shows the text: durations are never secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad duration `{text}`: expected a duration such as `30s`, `5m` or `1h`")]
pub struct DurationError {
    pub text: String,
}

/// Parses `30s`, `5m`, `1h 30m`, `250ms`; surrounding white space is ignored.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    humantime::parse_duration(text.trim()).map_err(|_| DurationError {
        text: text.trim().to_owned(),
    })
}

/// Serde glue: `#[serde(deserialize_with = "qoswatch_core::duration::deserialize")]`.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// Shows a duration the way [`parse`] reads it (`1h 30m`, `250ms`).
pub fn display(duration: Duration) -> impl fmt::Display {
    humantime::format_duration(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_people_write() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse(" 5m "), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn a_bare_number_or_word_is_refused_with_the_text() {
        for text in ["60", "often", "", "5 parsecs"] {
            let error = parse(text).expect_err(text);
            assert_eq!(error.text, text.trim());
            assert!(error.to_string().contains("`30s`"), "{error}");
        }
    }

    #[test]
    fn display_round_trips() {
        for d in [Duration::from_millis(250), Duration::from_secs(5400)] {
            assert_eq!(parse(&display(d).to_string()), Ok(d));
        }
    }
}
