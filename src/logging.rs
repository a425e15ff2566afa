//! How qoswatch writes logs, beyond `tracing`'s defaults: the `pretty`
//! format's field formatter, which escapes control characters, and
//! [`LogEvery`], for warnings that could otherwise fire on every request.
//!
//! Logged values can come from outside: a signed webhook's event name, the
//! message in a Zoom error answer. The JSON format escapes control
//! characters (it is JSON); `tracing-subscriber`'s default text format
//! writes field values as they are (since 0.3.20 it escapes ESC and a few
//! others in the message only, never CR or LF), so a value holding
//! `"\r\n"` could forge a whole log line and one holding `"\x1b[31m"` could
//! drive the terminal. [`escaped_fields`] formats every field, span fields
//! included, and escapes every control character the way Rust's
//! `escape_debug` does (`\r`, `\n`, `\u{1b}`).

use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use tracing::field::Field;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{Writer, debug_fn};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for containers.
    Json,
    /// Human-readable lines, for terminals.
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `qoswatch=debug,info`. `RUST_LOG` wins when set.
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            filter: "info".into(),
        }
    }
}

/// The field formatter of the `pretty` log format: `name=value` pairs
/// separated by spaces, the message without its name, every control
/// character escaped.
pub fn escaped_fields() -> impl for<'writer> FormatFields<'writer> + Send + Sync + 'static {
    debug_fn(write_field).delimited(" ")
}

fn write_field(writer: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
    let text = format!("{value:?}");
    let text = escape_control_characters(&text);
    if field.name() == "message" {
        writer.write_str(&text)
    } else {
        write!(writer, "{}={text}", field.name())
    }
}

/// `text` with every control character (C0, DEL, C1) written as Rust
/// escapes it: `\r`, `\n`, `\t`, `\u{1b}`. Borrowed when there is none.
pub fn escape_control_characters(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_control() {
            escaped.extend(c.escape_debug());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// A warning that may fire on every request, written at most once a
/// `period`: the first occurrence is logged, the next ones within the
/// period are counted, and the next log line says how many were not logged.
#[derive(Debug)]
pub struct LogEvery {
    period: Duration,
    state: Mutex<LogState>,
}

#[derive(Debug, Default)]
struct LogState {
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl LogState {
    fn occurred(&mut self, period: Duration, now: Instant) -> Option<u64> {
        let due = self
            .last_logged
            .is_none_or(|last| now.saturating_duration_since(last) >= period);
        if !due {
            self.unlogged += 1;
            return None;
        }
        self.last_logged = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

impl LogEvery {
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            state: Mutex::new(LogState::default()),
        }
    }

    /// An occurrence at `now`: `Some(n)` when it is to be logged, `n` being
    /// how many occurrences since the last logged one were not; `None` when
    /// it is only counted.
    pub fn occurred(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.occurred(self.period, now)
    }
}

/// [`LogEvery`] for each of a fixed set of reasons (a `&'static str` or a
/// small enum: never anything a client chose, or the set would grow
/// without bound): each reason is logged at most once a `period`, with
/// the count of its own occurrences since its last line.
#[derive(Debug)]
pub struct LogEveryPer<K> {
    period: Duration,
    states: Mutex<HashMap<K, LogState>>,
}

impl<K: Eq + Hash> LogEveryPer<K> {
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            states: Mutex::new(HashMap::new()),
        }
    }

    /// An occurrence of `reason` at `now`: as [`LogEvery::occurred`], for
    /// that reason alone.
    pub fn occurred(&self, reason: K, now: Instant) -> Option<u64> {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        states.entry(reason).or_default().occurred(self.period, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::Arc;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            escape_control_characters("a\r\nb\x1b[31mc\td\u{85}e\u{7f}"),
            "a\\r\\nb\\u{1b}[31mc\\td\\u{85}e\\u{7f}"
        );
        let plain = "Jill Chill — 東京 /ab//c+d== \"quoted\" \\";
        assert!(matches!(
            escape_control_characters(plain),
            Cow::Borrowed(text) if text == plain
        ));
    }

    /// Captures what a subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn pretty_output(log: impl FnOnce()) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .fmt_fields(escaped_fields())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).expect("UTF-8")
    }

    #[test]
    fn no_field_value_can_start_a_line_or_reach_the_terminal() {
        let forged = "x\r\n2026-01-01T00:00:00Z  INFO qoswatch: forged\x1b[31m";
        let output = pretty_output(|| {
            let span = tracing::info_span!("watch", meeting = %forged);
            let _entered = span.enter();
            tracing::warn!(
                event = %forged,
                reason = forged,
                detail = ?forged,
                "refused {}", forged
            );
        });
        assert_eq!(output.lines().count(), 1, "one event, one line: {output:?}");
        assert!(!output.contains('\x1b'), "{output:?}");
        assert!(!output.contains('\r'), "{output:?}");
        assert!(
            output.contains("event=x\\r\\n2026-01-01T00:00:00Z  INFO qoswatch: forged\\u{1b}[31m"),
            "{output:?}"
        );
        assert!(output.contains("watch{meeting=x\\r\\n"), "{output:?}");
        assert!(output.contains("refused x\\r\\n"), "{output:?}");
    }

    #[test]
    fn ordinary_fields_read_as_with_the_default_format() {
        let output = pretty_output(|| {
            tracing::info!(watchers = 3, address = %"127.0.0.1:8080", kind = "QPS", "qoswatch listening");
        });
        assert!(
            output.contains("qoswatch listening watchers=3 address=127.0.0.1:8080 kind=\"QPS\""),
            "{output:?}"
        );
    }

    #[test]
    fn a_warning_is_logged_once_a_period_with_the_count_of_the_others() {
        let every = LogEvery::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(every.occurred(t0), Some(0), "the first is logged");
        assert_eq!(every.occurred(t0 + Duration::from_secs(1)), None);
        assert_eq!(every.occurred(t0 + Duration::from_secs(59)), None);
        assert_eq!(
            every.occurred(t0 + Duration::from_secs(60)),
            Some(2),
            "due again after the period, saying how many were not logged"
        );
        assert_eq!(every.occurred(t0 + Duration::from_secs(61)), None);
        assert_eq!(every.occurred(t0 + Duration::from_secs(200)), Some(1));
    }

    #[test]
    fn each_reason_is_logged_once_a_period_with_its_own_count() {
        let every = LogEveryPer::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        assert_eq!(every.occurred("signature", at(0)), Some(0));
        assert_eq!(every.occurred("signature", at(1)), None);
        assert_eq!(
            every.occurred("too_large", at(2)),
            Some(0),
            "another reason has a line of its own"
        );
        assert_eq!(every.occurred("signature", at(3)), None);
        assert_eq!(every.occurred("too_large", at(61)), None);
        assert_eq!(every.occurred("signature", at(60)), Some(2));
        assert_eq!(every.occurred("too_large", at(62)), Some(1));
    }
}
