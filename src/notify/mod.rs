//! From alert events to people: routing by channel name, grouping per
//! meeting, a per-channel outbox with retries, and the channel kinds
//! (Slack, e-mail, console, Teams, PagerDuty, a signed webhook, Alertmanager).
//!
//! ```text
//! DispatchHandle::send ──unbounded──▶ router ── group window ──▶ worker per channel
//!   (dispatch.rs)                    (router.rs)                  │ Outbox, retries, pacing
//!                                                                 ▼ (worker.rs)
//!                                   dyn Deliver::deliver → Ok | Transient | Permanent
//!                                   (channel.rs: the seam and the registry;
//!                                    slack.rs, email.rs, console.rs: one kind each)
//! ```
//!
//! Producers never wait: `send` pushes into an unbounded channel. Each channel
//! has its own worker and queue, so a slow or failing Slack webhook never
//! delays e-mail. Logs carry alert keys and channel names, never webhook URLs,
//! SMTP passwords or participant e-mail addresses.

// Channel kinds: one file each, registered in `channel.rs`.
pub mod alertmanager;
mod console;
pub mod email;
pub mod pagerduty;
pub mod slack;
pub mod teams;
pub mod webhook;

mod channel;
mod dispatch;
pub mod grouping;
mod http;
mod message;
mod metrics;
mod outbox;
mod router;
mod worker;

use std::time::Duration;

use serde::Deserialize;

pub use console::render as render_console;
pub use dispatch::{
    Adopted, ChannelHealth, DeliveryFailure, DispatchHandle, Dispatcher, DispatcherSetup,
    NotDrained, Restored,
};
pub use message::{Notification, Phase, SharedCause, meeting_name, truncate_chars};
pub use metrics::{ChannelKind, NotifyMetrics};
pub use outbox::{MemoryOutbox, MessageId, Outbox, Pending};

/// Errors found while building channels. Messages name variables and
/// channels, never secret values or addresses.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("channel `{channel}`: environment variable `{variable}` ({key}) is not set")]
    MissingSecretEnv {
        channel: String,
        /// The rules file's key that names the variable (`webhook_url_env`, `routing_key_env`, …).
        key: String,
        variable: String,
    },
    #[error("channel `{channel}`: environment variable `{variable}` ({key}) {reason}")]
    InvalidSecret {
        channel: String,
        key: String,
        variable: String,
        /// What is wrong, never the value.
        reason: String,
    },
    #[error("environment variable `{variable}` does not hold a valid http(s) webhook URL")]
    InvalidWebhookUrl { variable: String },
    #[error("channel `{channel}` sends e-mail, but no `smtp:` settings are configured")]
    MissingSmtp { channel: String },
    #[error("channel `{channel}`: {reason}")]
    InvalidChannel { channel: String, reason: String },
    #[error("channel `{channel}` is defined twice")]
    DuplicateChannel { channel: String },
    #[error("invalid smtp settings: {0}")]
    InvalidSmtp(String),
    #[error("building the HTTP client for the channels failed")]
    HttpClient,
    #[error("the dispatcher has stopped")]
    Stopped,
}

/// Outcome of one failed delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// Worth trying again, not before `retry_after` when the server said so.
    Transient {
        retry_after: Option<Duration>,
        reason: String,
    },
    /// Sending the same message again cannot succeed.
    Permanent { reason: String },
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum SmtpTls {
    /// TLS from the first byte (SMTPS, usually port 465).
    #[serde(rename = "implicit")]
    Implicit,
    /// Plain connection upgraded with STARTTLS, which is required (usually port 587).
    #[default]
    #[serde(rename = "starttls")]
    StartTls,
    /// No encryption: only for a relay on localhost or a trusted network.
    #[serde(rename = "none")]
    None,
}

/// The SMTP relay, from the server configuration (`smtp:`).
///
/// ```yaml
/// smtp:
///   host: smtp.example.com
///   port: 587
///   tls: starttls        # implicit | starttls (default) | none
///   username: qoswatch   # optional; together with password
///   password: ...        # better from the environment, never committed
///   from: "qoswatch <qoswatch@example.com>"
///   timeout: 10s         # humantime string, default 10s
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<secrecy::SecretString>,
    /// Sender mailbox, `qoswatch <qoswatch@example.com>` or a bare address.
    pub from: String,
    #[serde(
        default = "default_smtp_timeout",
        deserialize_with = "qoswatch_core::duration::deserialize"
    )]
    pub timeout: Duration,
}

fn default_smtp_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Dispatch policy. Durations are humantime strings (`"30s"`, `"5m"`); every
/// field has a default, unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// Alerts of one meeting arriving within this window go out as one
    /// message. Zero disables grouping.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub group_window: Duration,
    /// Delivery attempts per message before giving up.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub initial_backoff: Duration,
    /// Longest retry delay.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub max_backoff: Duration,
    /// A message older than this is given up on instead of retried.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub max_age: Duration,
    /// Least time between two messages to one Slack webhook (Slack allows
    /// about one a second).
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub slack_min_interval: Duration,
    /// Timeout of one Slack request.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub http_timeout: Duration,
    /// After cancellation, how long workers keep delivering what is queued.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub shutdown_grace: Duration,
    /// The status page's address as people reach it
    /// (`https://qoswatch.example.com/`): the link in PagerDuty incidents,
    /// Alertmanager's `generatorURL` and the signed webhook's `page_url`.
    /// Unset: those links are left out. An http(s) address with a host.
    #[serde(deserialize_with = "page_url")]
    pub page_url: Option<String>,
}

/// `page_url`: an absolute http(s) address, or a clear error at start (a
/// bad link would make PagerDuty or Alertmanager refuse every message).
fn page_url<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value: Option<String> = Option::deserialize(deserializer)?;
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => match reqwest::Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Ok(Some(text.to_owned()))
            }
            _ => Err(serde::de::Error::custom(
                "page_url: expected an http(s) address such as https://qoswatch.example.com/",
            )),
        },
    }
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            group_window: Duration::from_secs(30),
            max_attempts: 8,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            max_age: Duration::from_secs(3600),
            slack_min_interval: Duration::from_secs(1),
            http_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            page_url: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_settings_parse_and_reject_unknown_keys() {
        let settings: SmtpSettings = serde_json::from_str(
            r#"{"host":"smtp.example.com","port":465,"tls":"implicit","username":"u","password":"p","from":"qoswatch <q@example.com>","timeout":"5s"}"#,
        )
        .unwrap();
        assert_eq!(settings.tls, SmtpTls::Implicit);
        assert_eq!(settings.timeout, Duration::from_secs(5));
        assert!(!format!("{settings:?}").contains("\"p\""));
        let error = serde_json::from_str::<SmtpSettings>(
            r#"{"host":"h","port":25,"from":"a@b.c","tsl":"none"}"#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("tsl"));
        let error = serde_json::from_str::<SmtpSettings>(
            r#"{"host":"h","port":25,"from":"a@b.c","timeout":"soon"}"#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("bad duration `soon`"), "{error}");
    }

    #[test]
    fn the_page_url_is_an_http_address() {
        let settings: NotifySettings =
            serde_json::from_str(r#"{"page_url":"https://qoswatch.example.com/"}"#).unwrap();
        assert_eq!(
            settings.page_url.as_deref(),
            Some("https://qoswatch.example.com/")
        );
        for bad in ["qoswatch.example.com", "ftp://x/", "https://"] {
            let error =
                serde_json::from_str::<NotifySettings>(&format!(r#"{{"page_url":"{bad}"}}"#))
                    .unwrap_err();
            assert!(error.to_string().contains("page_url"), "{bad}: {error}");
        }
    }

    #[test]
    fn notify_settings_default_and_partial() {
        let settings: NotifySettings =
            serde_json::from_str(r#"{"group_window":"0s","max_attempts":3}"#).unwrap();
        assert_eq!(settings.group_window, Duration::ZERO);
        assert_eq!(settings.max_attempts, 3);
        assert_eq!(settings.max_backoff, NotifySettings::default().max_backoff);
    }
}
