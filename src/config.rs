//! Typed settings: a YAML file, overlaid by environment variables, then
//! validated. This is the only module that reads the environment (through
//! the `env` function it is handed, so tests pass a map).
//!
//! Secrets come only from the environment, never from the file: the Zoom
//! webhook secret token(s) and the Server-to-Server OAuth credentials. Each
//! secret `NAME` may also be given as `NAME_FILE` (a path whose contents are
//! the secret), the Docker / Kubernetes secrets convention.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

// Each part owns its settings type; this module composes them (and the
// environment overlay, the secrets and the checks across parts).
pub use crate::alerting::settings::{AlertSettings, RulesSettings, ZoomMeetingAlerts};
pub use crate::intake::settings::WebhookSettings;
pub use crate::listener::settings::{DEFAULT_ADMIN_PORT, ServerSettings};
pub use crate::logging::{LogFormat, LogSettings};
pub use crate::quota::PollingMode;
pub use crate::watch::settings::{DEFAULT_MAX_REMEMBERED_ENDED, PollingSettings};
pub use crate::zoom::settings::{DEFAULT_MAX_ANSWER_BYTES, ZoomSettings};

/// Where an environment variable is looked up. `std::env::var` in `main`
/// (or [`process_env`]), a map in tests.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// All settings of `qoswatch serve`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub webhook: WebhookSettings,
    pub zoom: ZoomSettings,
    pub polling: PollingSettings,
    pub rules: RulesSettings,
    pub alerts: AlertSettings,
    pub log: LogSettings,
    /// The durable store (SQLite in the data directory).
    pub store: crate::store::StoreSettings,
    /// Secrets, filled from the environment only.
    #[serde(skip)]
    pub secrets: Secrets,
}

/// Secrets from the environment. `Debug` never prints them.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// One or more webhook secret tokens (several while rotating).
    pub webhook_secret_tokens: Vec<SecretString>,
    pub account_id: Option<SecretString>,
    pub client_id: Option<SecretString>,
    pub client_secret: Option<SecretString>,
    /// Password of the SMTP relay, if it needs one.
    pub smtp_password: Option<SecretString>,
    /// The admin listener's token (bearer, or basic-auth password); none:
    /// the admin listener is open to whoever can reach it.
    pub admin_token: Option<SecretString>,
    /// `QOSWATCH_DATABASE_URL`: the shared PostgreSQL database.
    pub database_url: Option<SecretString>,
    /// `QOSWATCH_DATABASE_PASSWORD`: its password, if not in the URL.
    pub database_password: Option<SecretString>,
}

/// A problem with the configuration, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("missing secret: set environment variable {name} (or {name}_FILE)")]
    MissingSecret { name: &'static str },
    #[error("invalid setting {name}: {message}")]
    Invalid { name: String, message: String },
}

/// Names of the secret variables, as Zoom's documentation spells them.
pub const ENV_WEBHOOK_SECRET: &str = "ZOOM_WEBHOOK_SECRET_TOKEN";
pub const ENV_ACCOUNT_ID: &str = "ZOOM_ACCOUNT_ID";
pub const ENV_CLIENT_ID: &str = "ZOOM_CLIENT_ID";
pub const ENV_CLIENT_SECRET: &str = "ZOOM_CLIENT_SECRET";
pub const ENV_SMTP_PASSWORD: &str = "QOSWATCH_SMTP_PASSWORD";
pub const ENV_ADMIN_TOKEN: &str = "QOSWATCH_ADMIN_TOKEN";
/// A `postgres://` URL (a secret: it may carry a password); wins over
/// `store.url`.
pub const ENV_DATABASE_URL: &str = "QOSWATCH_DATABASE_URL";
/// The PostgreSQL password, kept out of the URL.
pub const ENV_DATABASE_PASSWORD: &str = "QOSWATCH_DATABASE_PASSWORD";

/// One environment variable that overrides one setting.
#[derive(Debug)]
pub struct EnvSetting {
    /// The variable.
    pub name: &'static str,
    /// The setting it overrides, spelled as in the settings file.
    pub setting: &'static str,
    /// What the setting does, in one line.
    pub description: &'static str,
    apply: fn(&mut Settings, &str) -> Result<(), String>,
}

/// The field of [`Settings`] that a path names. The SMTP relay is optional
/// in the file; a variable that sets one of its fields creates it.
macro_rules! setting_mut {
    ($settings:ident, alerts.smtp.$field:ident) => {
        smtp_mut($settings).$field
    };
    ($settings:ident, $($field:ident).+) => {
        $settings.$($field).+
    };
}

/// Declares [`ENV_SETTINGS`] from lines of
/// `"VARIABLE" => settings.path: parser, "description";`
/// where `parser` turns the variable's text into the field's type.
macro_rules! env_settings {
    ($($name:literal => $first:ident $(.$rest:ident)*: $parse:expr, $description:literal;)+) => {
        /// Every non-secret setting that the environment can override, in
        /// the order they are applied. README's configuration table lists
        /// the same variables (a test checks it).
        pub const ENV_SETTINGS: &[EnvSetting] = &[$(
            EnvSetting {
                name: $name,
                setting: concat!(stringify!($first) $(, ".", stringify!($rest))*),
                description: $description,
                apply: |settings, value| {
                    setting_mut!(settings, $first $(.$rest)*) = ($parse)(value)?;
                    Ok(())
                },
            },
        )+];
    };
}

env_settings! {
    "QOSWATCH_LISTEN" => server.listen: socket_address, "listen address";
    "QOSWATCH_ADMIN_LISTEN" => server.admin_listen: socket_address, "admin listener: status page, API, metrics, probes";
    "QOSWATCH_LEGACY_PUBLIC_ENDPOINTS" => server.legacy_public_endpoints: boolean, "also serve /metrics and the probes on the public listener (deprecated)";
    "QOSWATCH_MAX_BODY_BYTES" => server.max_body_bytes: number, "largest webhook body accepted, in bytes";
    "QOSWATCH_SHUTDOWN_GRACE" => server.shutdown_grace: duration, "how long shutdown waits for running tasks";
    "QOSWATCH_MAX_CONNECTIONS" => server.max_connections: number, "most client connections served at once";
    "QOSWATCH_HEADER_READ_TIMEOUT" => server.header_read_timeout: duration, "time for a request head to arrive in full";
    "QOSWATCH_IDLE_TIMEOUT" => server.idle_timeout: duration, "close a connection with no byte either way for this long";
    "QOSWATCH_REPLAY_WINDOW" => webhook.replay_window: duration, "largest distance of x-zm-request-timestamp from now";
    "QOSWATCH_ZOOM_API_BASE" => zoom.api_base: text, "base URL of Zoom's REST API";
    "QOSWATCH_ZOOM_TOKEN_URL" => zoom.token_url: text, "Server-to-Server OAuth token endpoint";
    "QOSWATCH_ZOOM_REQUEST_TIMEOUT" => zoom.request_timeout: duration, "timeout of one request to Zoom";
    "QOSWATCH_ZOOM_REQUESTS_PER_SECOND" => zoom.requests_per_second: number, "the account's QoS requests per second (Heavy label)";
    "QOSWATCH_ZOOM_DAILY_LIMIT" => zoom.daily_limit: number, "the account's QoS requests per UTC day";
    "QOSWATCH_ZOOM_RATE_SHARE" => zoom.rate_share: fraction, "share of the per-second limit qoswatch may use";
    "QOSWATCH_ZOOM_DAILY_SHARE" => zoom.daily_share: fraction, "share of the daily quota qoswatch may use";
    "QOSWATCH_ZOOM_TOKEN_REFRESH_MARGIN" => zoom.token_refresh_margin: duration, "renew the OAuth token this long before it expires";
    "QOSWATCH_ZOOM_MAX_ANSWER_BYTES" => zoom.max_answer_bytes: number, "most bytes read of one answer from Zoom";
    "QOSWATCH_POLL_MODE" => polling.mode: polling_mode, "adaptive or fixed";
    "QOSWATCH_POLL_INTERVAL" => polling.interval: duration, "fastest interval between two polls of one participant";
    "QOSWATCH_POLL_MAX_INTERVAL" => polling.max_interval: duration, "interval a stable, healthy participant stretches to";
    "QOSWATCH_POLL_MAX_STALENESS" => polling.max_staleness: duration, "under quota pressure, how far intervals stretch before all do";
    "QOSWATCH_POLL_PAGE_SIZE" => polling.page_size: number, "participants asked for per page of the list endpoint";
    "QOSWATCH_STALE_AFTER" => polling.stale_after: duration, "stop a watch with no new sample for this long";
    "QOSWATCH_MAX_WATCH_AGE" => polling.max_watch_age: duration, "stop a watch after this long in any case";
    "QOSWATCH_MAX_BACKOFF" => polling.max_backoff: duration, "cap of the back-off between failed polls";
    "QOSWATCH_MAX_WATCHERS" => polling.max_watchers: number, "most participants watched at once";
    "QOSWATCH_MAX_REMEMBERED_ENDED" => polling.max_remembered_ended: number, "most ended participants (and meetings) remembered";
    "QOSWATCH_RULES_FILE" => rules.file: optional_path, "the rules file; empty for none";
    "QOSWATCH_SMTP_HOST" => alerts.smtp.host: text, "SMTP relay for e-mail channels";
    "QOSWATCH_SMTP_PORT" => alerts.smtp.port: number, "SMTP relay port";
    "QOSWATCH_SMTP_TLS" => alerts.smtp.tls: smtp_tls, "implicit, starttls or none";
    "QOSWATCH_SMTP_USERNAME" => alerts.smtp.username: optional_text, "SMTP user; empty for none";
    "QOSWATCH_SMTP_FROM" => alerts.smtp.from: text, "sender mailbox";
    "QOSWATCH_ALERT_GROUP_WINDOW" => alerts.dispatch.group_window: duration, "one message for a meeting's alerts within this window";
    "QOSWATCH_ZOOM_MEETING_ALERTS" => alerts.zoom_meeting_alerts.enabled: boolean, "relay Zoom's meeting.alert webhooks";
    "QOSWATCH_DATA_DIR" => store.data_dir: optional_path, "directory of the database; empty keeps state in memory only";
    "QOSWATCH_STORE_SYNCHRONOUS" => store.synchronous: synchronous, "full or normal: SQLite's durability level";
    "QOSWATCH_STORE_RETENTION" => store.retention: duration, "how long finished watches, sent messages and alert history are kept";
    "QOSWATCH_LEASE_TTL" => store.lease_ttl: duration, "several replicas: how long a meeting's lease outlives its replica's last heartbeat";
    "QOSWATCH_REPLICA_NAME" => store.replica_name: optional_text, "several replicas: this replica's name in the database (default: the host name)";
    "QOSWATCH_LOG_FORMAT" => log.format: log_format, "json or pretty";
    "QOSWATCH_LOG_FILTER" => log.filter: text, "tracing filter; RUST_LOG wins";
}

fn duration(value: &str) -> Result<Duration, String> {
    qoswatch_core::duration::parse(value).map_err(|e| e.to_string())
}

fn number<T: std::str::FromStr>(value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| "expected a whole number".to_string())
}

fn fraction(value: &str) -> Result<f64, String> {
    value
        .trim()
        .parse()
        .map_err(|_| "expected a number such as 0.8".to_string())
}

fn polling_mode(value: &str) -> Result<PollingMode, String> {
    match value.trim() {
        "adaptive" => Ok(PollingMode::Adaptive),
        "fixed" => Ok(PollingMode::Fixed),
        _ => Err("expected adaptive or fixed".into()),
    }
}

fn socket_address(value: &str) -> Result<SocketAddr, String> {
    value
        .trim()
        .parse()
        .map_err(|_| "expected an address such as 0.0.0.0:8080".to_string())
}

fn synchronous(value: &str) -> Result<crate::store::Synchronous, String> {
    value.parse()
}

fn text(value: &str) -> Result<String, String> {
    Ok(value.trim().to_owned())
}

/// Empty means none.
fn optional_text(value: &str) -> Result<Option<String>, String> {
    Ok(Some(value.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned))
}

/// Empty means none.
fn optional_path(value: &str) -> Result<Option<PathBuf>, String> {
    Ok(optional_text(value)?.map(PathBuf::from))
}

fn boolean(value: &str) -> Result<bool, String> {
    match value.trim() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn smtp_tls(value: &str) -> Result<crate::notify::SmtpTls, String> {
    match value.trim() {
        "implicit" => Ok(crate::notify::SmtpTls::Implicit),
        "starttls" => Ok(crate::notify::SmtpTls::StartTls),
        "none" => Ok(crate::notify::SmtpTls::None),
        _ => Err("expected implicit, starttls or none".into()),
    }
}

fn log_format(value: &str) -> Result<LogFormat, String> {
    match value.trim() {
        "json" => Ok(LogFormat::Json),
        "pretty" => Ok(LogFormat::Pretty),
        _ => Err("expected json or pretty".into()),
    }
}

/// The SMTP settings, created with defaults when the environment names a
/// relay that the file does not.
fn smtp_mut(settings: &mut Settings) -> &mut crate::notify::SmtpSettings {
    settings
        .alerts
        .smtp
        .get_or_insert_with(|| crate::notify::SmtpSettings {
            host: String::new(),
            port: 587,
            tls: crate::notify::SmtpTls::StartTls,
            username: None,
            password: None,
            from: String::new(),
            timeout: Duration::from_secs(10),
        })
}

/// Names of every environment variable qoswatch reads for settings.
pub fn overlay_names() -> impl Iterator<Item = &'static str> {
    ENV_SETTINGS.iter().map(|setting| setting.name)
}

/// The process environment as a lookup: the one place that reads it. The
/// CLI (`main.rs`) and `startup::Extras::default` pass it on; everything
/// else is handed a lookup, so tests can bring their own.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Settings {
    /// Reads the file (if any), applies the environment, loads secrets and
    /// validates. This is what `qoswatch serve` runs.
    /// The file (if any), the environment's overlay and the secrets, not
    /// yet validated: what `load` and `load_without_secrets` share.
    fn read(path: Option<&Path>, env: EnvLookup<'_>) -> Result<Settings, ConfigError> {
        let mut settings = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                Settings::from_yaml(&path.display().to_string(), &text)?
            }
            None => Settings::default(),
        };
        settings.apply_env(env)?;
        settings.secrets = Secrets::from_env(env)?;
        Ok(settings)
    }

    pub fn load(path: Option<&Path>, env: EnvLookup<'_>) -> Result<Settings, ConfigError> {
        let mut settings = Settings::read(path, env)?;
        settings.validate()?;
        if let Some(smtp) = settings.alerts.smtp.as_mut() {
            smtp.password = settings.secrets.smtp_password.clone();
        }
        Ok(settings)
    }

    /// Parses a settings file. Unknown keys are rejected by name.
    pub fn from_yaml(path: &str, text: &str) -> Result<Settings, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Settings::default());
        }
        serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Applies `QOSWATCH_*` environment overrides.
    pub fn apply_env(&mut self, env: EnvLookup<'_>) -> Result<(), ConfigError> {
        for setting in ENV_SETTINGS {
            if let Some(value) = env(setting.name) {
                (setting.apply)(self, &value).map_err(|message| ConfigError::Env {
                    name: setting.name.to_owned(),
                    message,
                })?;
            }
        }
        Ok(())
    }

    /// Checks what types cannot: ranges, URLs, required secrets.
    /// The shared database's URL, when several replicas share PostgreSQL:
    /// `QOSWATCH_DATABASE_URL` (or `_FILE`), else `store.url`.
    pub fn database_url(&self) -> Option<SecretString> {
        self.secrets.database_url.clone().or_else(|| {
            self.store
                .url
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(|u| SecretString::from(u.to_owned()))
        })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_values()?;
        if self.secrets.webhook_secret_tokens.is_empty() {
            return Err(ConfigError::MissingSecret {
                name: ENV_WEBHOOK_SECRET,
            });
        }
        for (name, value) in [
            (ENV_ACCOUNT_ID, &self.secrets.account_id),
            (ENV_CLIENT_ID, &self.secrets.client_id),
            (ENV_CLIENT_SECRET, &self.secrets.client_secret),
        ] {
            if value.is_none() {
                return Err(ConfigError::MissingSecret { name });
            }
        }
        Ok(())
    }

    /// Reads the file (if any), applies the environment and loads secrets
    /// as [`Settings::load`] does, but requires none of them: `qoswatch
    /// backtest` needs Zoom's credentials only when it asks Zoom, and the
    /// webhook secret never.
    pub fn load_without_secrets(
        path: Option<&Path>,
        env: EnvLookup<'_>,
    ) -> Result<Settings, ConfigError> {
        let settings = Settings::read(path, env)?;
        settings.validate_values()?;
        Ok(settings)
    }

    /// Every check of [`Settings::validate`] but the secrets'.
    fn validate_values(&self) -> Result<(), ConfigError> {
        let invalid = |name: &str, message: &str| {
            Err(ConfigError::Invalid {
                name: name.to_owned(),
                message: message.to_owned(),
            })
        };
        for (name, url) in [
            ("zoom.api_base", &self.zoom.api_base),
            ("zoom.token_url", &self.zoom.token_url),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return invalid(name, "expected an http(s) URL");
            }
        }
        if let Some(url) = self.database_url() {
            let url = url.expose_secret();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                // Never the value: it may carry a password.
                return invalid(
                    "store.url (or QOSWATCH_DATABASE_URL)",
                    "expected a postgres:// or postgresql:// URL",
                );
            }
        }
        if self.store.lease_ttl < Duration::from_secs(1) {
            return invalid("store.lease_ttl", "must be at least 1s");
        }
        if self.zoom.requests_per_second == 0 {
            return invalid("zoom.requests_per_second", "must be at least 1");
        }
        if self.zoom.daily_limit == 0 {
            return invalid("zoom.daily_limit", "must be at least 1");
        }
        for (name, share) in [
            ("zoom.rate_share", self.zoom.rate_share),
            ("zoom.daily_share", self.zoom.daily_share),
        ] {
            if !(share > 0.0 && share <= 1.0) {
                return invalid(
                    name,
                    "must be more than 0 and at most 1 (a share such as 0.8)",
                );
            }
        }
        if self.polling.interval.is_zero() {
            return invalid("polling.interval", "must be longer than 0s");
        }
        if self.polling.max_interval < self.polling.interval {
            return invalid("polling.max_interval", "must be at least polling.interval");
        }
        if self.polling.max_staleness < self.polling.max_interval {
            return invalid(
                "polling.max_staleness",
                "must be at least polling.max_interval",
            );
        }
        if !(1..=300).contains(&self.polling.page_size) {
            return invalid("polling.page_size", "must be between 1 and 300");
        }
        if self.polling.stale_after < self.polling.interval {
            return invalid(
                "polling.stale_after",
                "must be at least polling.interval, or every watch ends after one poll",
            );
        }
        if self.webhook.replay_window < Duration::from_secs(1)
            || self.webhook.replay_window > Duration::from_secs(3600)
        {
            return invalid(
                "webhook.replay_window",
                "must be between 1s and 1h: shorter rejects Zoom's own webhooks, longer disables replay protection",
            );
        }
        if self.polling.max_watchers == 0 {
            return invalid("polling.max_watchers", "must be at least 1");
        }
        if self.polling.max_remembered_ended == 0 {
            return invalid(
                "polling.max_remembered_ended",
                "must be at least 1; late participant_joined retries would start watches of people who left",
            );
        }
        if self.zoom.max_answer_bytes < 16 * 1024 {
            return invalid(
                "zoom.max_answer_bytes",
                "must be at least 16384: smaller refuses Zoom's ordinary answers",
            );
        }
        if self.server.shutdown_grace <= self.alerts.dispatch.shutdown_grace {
            return invalid(
                "server.shutdown_grace",
                "must be longer than alerts.dispatch.shutdown_grace, so queued alerts are delivered or reported before exit",
            );
        }
        if self.server.admin_listen == self.server.listen && self.server.listen.port() != 0 {
            return invalid(
                "server.admin_listen",
                "must differ from server.listen: the admin listener serves what the internet must not reach",
            );
        }
        if self.server.max_body_bytes < 1024 {
            return invalid("server.max_body_bytes", "must be at least 1024");
        }
        if self.server.max_connections == 0 {
            return invalid("server.max_connections", "must be at least 1");
        }
        for (name, timeout) in [
            (
                "server.header_read_timeout",
                self.server.header_read_timeout,
            ),
            ("server.idle_timeout", self.server.idle_timeout),
        ] {
            if timeout.is_zero() {
                return invalid(name, "must be longer than 0s");
            }
        }
        if let Some(smtp) = &self.alerts.smtp {
            if smtp.password.is_some() {
                return invalid(
                    "alerts.smtp.password",
                    "secrets are not read from the settings file; set QOSWATCH_SMTP_PASSWORD",
                );
            }
            if smtp.host.trim().is_empty() {
                return invalid("alerts.smtp.host", "must name the SMTP relay");
            }
            if smtp.from.trim().is_empty() {
                return invalid("alerts.smtp.from", "must be the sender address");
            }
        }
        Ok(())
    }
}

impl Secrets {
    /// The Server-to-Server OAuth app's credentials, all three required.
    pub fn zoom_credentials(&self) -> anyhow::Result<crate::zoom::client::Credentials> {
        use anyhow::Context;
        Ok(crate::zoom::client::Credentials {
            account_id: self
                .account_id
                .clone()
                .context("ZOOM_ACCOUNT_ID is not set")?,
            client_id: self
                .client_id
                .clone()
                .context("ZOOM_CLIENT_ID is not set")?,
            client_secret: self
                .client_secret
                .clone()
                .context("ZOOM_CLIENT_SECRET is not set")?,
        })
    }

    /// Reads every secret from `NAME` or `NAME_FILE`. A missing one is left
    /// empty here; [`Settings::validate`] names it.
    pub fn from_env(env: EnvLookup<'_>) -> Result<Secrets, ConfigError> {
        let tokens = secret_value(env, ENV_WEBHOOK_SECRET)?
            .map(|raw| {
                // Several tokens, comma-separated, while one is rotated out.
                raw.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(|t| SecretString::from(t.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Secrets {
            webhook_secret_tokens: tokens,
            account_id: secret_value(env, ENV_ACCOUNT_ID)?.map(SecretString::from),
            client_id: secret_value(env, ENV_CLIENT_ID)?.map(SecretString::from),
            client_secret: secret_value(env, ENV_CLIENT_SECRET)?.map(SecretString::from),
            smtp_password: secret_value(env, ENV_SMTP_PASSWORD)?.map(SecretString::from),
            admin_token: secret_value(env, ENV_ADMIN_TOKEN)?.map(SecretString::from),
            database_url: secret_value(env, ENV_DATABASE_URL)?.map(SecretString::from),
            database_password: secret_value(env, ENV_DATABASE_PASSWORD)?.map(SecretString::from),
        })
    }
}

/// `NAME` or the contents of the file named by `NAME_FILE`, trimmed.
pub fn secret_value(env: EnvLookup<'_>, name: &str) -> Result<Option<String>, ConfigError> {
    if let Some(value) = env(name).filter(|v| !v.trim().is_empty()) {
        return Ok(Some(value.trim().to_owned()));
    }
    let file_var = format!("{name}_FILE");
    let Some(path) = env(&file_var).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let contents = std::fs::read_to_string(path.trim()).map_err(|e| ConfigError::Env {
        name: file_var.clone(),
        // The path is not secret; the contents are never shown.
        message: format!("cannot read {}: {e}", path.trim()),
    })?;
    let contents = contents.trim();
    if contents.is_empty() {
        return Err(ConfigError::Env {
            name: file_var,
            message: "the file is empty".into(),
        });
    }
    Ok(Some(contents.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::{BTreeMap, HashMap};

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const SECRETS: &[(&str, &str)] = &[
        ("ZOOM_WEBHOOK_SECRET_TOKEN", "whsec-7Qx9"),
        ("ZOOM_ACCOUNT_ID", "acct-3Lp2"),
        ("ZOOM_CLIENT_ID", "cid-8Vn4"),
        ("ZOOM_CLIENT_SECRET", "csec-1Zr6"),
    ];

    #[test]
    fn the_shipped_example_parses() {
        let text = include_str!("../config/qoswatch.example.yaml");
        let settings = Settings::from_yaml("qoswatch.example.yaml", text).expect("parses");
        assert_eq!(settings.polling.interval, Duration::from_secs(60));
        assert_eq!(settings.webhook.replay_window, Duration::from_secs(300));
        let defaults = ServerSettings::default();
        assert_eq!(settings.server.max_connections, defaults.max_connections);
        assert_eq!(
            settings.server.header_read_timeout,
            defaults.header_read_timeout
        );
        assert_eq!(settings.server.idle_timeout, defaults.idle_timeout);
    }

    #[test]
    fn durations_read_like_humans_write_them() {
        let s = Settings::from_yaml(
            "t.yaml",
            "polling:\n  interval: 1s\n  stale_after: 5m\n  max_watch_age: 24h\n",
        )
        .expect("parses");
        assert_eq!(s.polling.interval, Duration::from_secs(1));
        assert_eq!(s.polling.stale_after, Duration::from_secs(300));
        assert_eq!(s.polling.max_watch_age, Duration::from_secs(86_400));
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let err = Settings::from_yaml("t.yaml", "polling:\n  intervall: 1s\n").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("intervall"), "{message}");
        assert!(message.starts_with("t.yaml"), "{message}");
    }

    #[test]
    fn bad_duration_says_what_was_expected() {
        let err = Settings::from_yaml("t.yaml", "polling:\n  interval: soon\n").unwrap_err();
        assert!(err.to_string().contains("expected a duration"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut pairs = SECRETS.to_vec();
        pairs.push(("QOSWATCH_POLL_INTERVAL", "2s"));
        pairs.push(("QOSWATCH_ZOOM_API_BASE", "http://127.0.0.1:9/v2"));
        pairs.push(("QOSWATCH_LISTEN", "127.0.0.1:0"));
        let env = env_of(&pairs);
        let mut s = Settings::from_yaml("t.yaml", "polling:\n  interval: 30s\n").expect("parses");
        s.apply_env(&env).expect("applies");
        assert_eq!(s.polling.interval, Duration::from_secs(2));
        assert_eq!(s.zoom.api_base, "http://127.0.0.1:9/v2");
        assert_eq!(s.server.listen.port(), 0);
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let env = env_of(&[("QOSWATCH_ZOOM_REQUESTS_PER_SECOND", "lots")]);
        let err = Settings::default().apply_env(&env).unwrap_err();
        assert!(
            err.to_string()
                .contains("QOSWATCH_ZOOM_REQUESTS_PER_SECOND"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_secret_names_the_variable() {
        for missing in [
            ENV_WEBHOOK_SECRET,
            ENV_ACCOUNT_ID,
            ENV_CLIENT_ID,
            ENV_CLIENT_SECRET,
        ] {
            let pairs: Vec<_> = SECRETS
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let env = env_of(&pairs);
            let err = Settings::load(None, &env).unwrap_err();
            assert!(err.to_string().contains(missing), "{err}");
        }
    }

    #[test]
    fn several_webhook_tokens_for_rotation_and_file_secrets() {
        let dir = std::env::temp_dir().join(format!("qoswatch-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let secret_file = dir.join("client_secret");
        std::fs::write(&secret_file, "from-file\n").expect("write");
        let path = secret_file.display().to_string();
        let env = env_of(&[
            ("ZOOM_WEBHOOK_SECRET_TOKEN", "new-token, old-token"),
            ("ZOOM_ACCOUNT_ID", "acc"),
            ("ZOOM_CLIENT_ID", "cid"),
            ("ZOOM_CLIENT_SECRET_FILE", &path),
        ]);
        let s = Settings::load(None, &env).expect("loads");
        let tokens: Vec<&str> = s
            .secrets
            .webhook_secret_tokens
            .iter()
            .map(|t| t.expose_secret())
            .collect();
        assert_eq!(tokens, ["new-token", "old-token"]);
        assert_eq!(
            s.secrets.client_secret.as_ref().map(|s| s.expose_secret()),
            Some("from-file")
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_admin_token_comes_from_the_environment_or_a_file_and_is_optional() {
        let without = Settings::load(None, &env_of(SECRETS)).expect("loads");
        assert!(without.secrets.admin_token.is_none());
        let mut pairs = SECRETS.to_vec();
        pairs.push(("QOSWATCH_ADMIN_TOKEN", " adm1n-T0ken "));
        let with = Settings::load(None, &env_of(&pairs)).expect("loads");
        assert_eq!(
            with.secrets.admin_token.as_ref().map(|t| t.expose_secret()),
            Some("adm1n-T0ken")
        );
        assert!(!format!("{with:?}").contains("adm1n"));
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("admin_token");
        std::fs::write(&file, "from-file\n").expect("write");
        let path = file.display().to_string();
        let mut pairs = SECRETS.to_vec();
        pairs.push(("QOSWATCH_ADMIN_TOKEN_FILE", &path));
        let from_file = Settings::load(None, &env_of(&pairs)).expect("loads");
        assert_eq!(
            from_file
                .secrets
                .admin_token
                .as_ref()
                .map(|t| t.expose_secret()),
            Some("from-file")
        );
    }

    #[test]
    fn the_admin_listener_is_loopback_by_default_and_never_the_public_address() {
        let defaults = ServerSettings::default();
        assert!(defaults.admin_listen.ip().is_loopback());
        assert_ne!(defaults.admin_listen, defaults.listen);
        assert!(defaults.legacy_public_endpoints, "for this release");
        let mut pairs = SECRETS.to_vec();
        pairs.push(("QOSWATCH_LISTEN", "0.0.0.0:8080"));
        pairs.push(("QOSWATCH_ADMIN_LISTEN", "0.0.0.0:8080"));
        let error = Settings::load(None, &env_of(&pairs)).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("invalid setting server.admin_listen"),
            "{error}"
        );
        // Port 0 on both (tests) picks two ports.
        pairs.pop();
        pairs.pop();
        pairs.push(("QOSWATCH_LISTEN", "127.0.0.1:0"));
        pairs.push(("QOSWATCH_ADMIN_LISTEN", "127.0.0.1:0"));
        assert!(Settings::load(None, &env_of(&pairs)).is_ok());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let env = env_of(SECRETS);
        let s = Settings::load(None, &env).expect("loads");
        let debug = format!("{s:?}");
        for (_, value) in SECRETS {
            assert!(!debug.contains(value), "{value} leaked: {debug}");
        }
    }

    #[test]
    fn smtp_comes_from_file_and_environment_but_its_password_only_from_environment() {
        let mut pairs = SECRETS.to_vec();
        pairs.push(("QOSWATCH_SMTP_HOST", "smtp.example.com"));
        pairs.push(("QOSWATCH_SMTP_FROM", "qoswatch@example.com"));
        pairs.push(("QOSWATCH_SMTP_PASSWORD", "smtp-pass-4Kd"));
        let env = env_of(&pairs);
        let s = Settings::load(None, &env).expect("loads");
        let smtp = s.alerts.smtp.as_ref().expect("smtp from env");
        assert_eq!(smtp.host, "smtp.example.com");
        assert_eq!(smtp.port, 587);
        assert_eq!(
            smtp.password.as_ref().map(|p| p.expose_secret()),
            Some("smtp-pass-4Kd")
        );
        assert!(!format!("{s:?}").contains("smtp-pass-4Kd"));

        let mut in_file = Settings::from_yaml(
            "t.yaml",
            "alerts:\n  smtp:\n    host: relay\n    port: 25\n    from: a@b.c\n    password: oops\n",
        )
        .expect("parses");
        in_file.secrets = Secrets::from_env(&env_of(SECRETS)).expect("secrets");
        let err = in_file.validate().unwrap_err().to_string();
        assert!(err.contains("QOSWATCH_SMTP_PASSWORD"), "{err}");
    }

    #[test]
    fn zoom_meeting_alerts_settings() {
        let s = Settings::from_yaml(
            "t.yaml",
            "alerts:\n  zoom_meeting_alerts:\n    enabled: true\n    channels: [it-slack]\n    severity: critical\n",
        )
        .expect("parses");
        assert!(s.alerts.zoom_meeting_alerts.enabled);
        assert_eq!(s.alerts.zoom_meeting_alerts.channels, ["it-slack"]);
        assert_eq!(
            s.alerts.zoom_meeting_alerts.severity,
            qoswatch_core::alert::Severity::Critical
        );
    }

    #[test]
    fn validation_names_the_setting() {
        let env = env_of(SECRETS);
        for (yaml, name) in [
            (
                "webhook:\n  replay_window: 500ms\n",
                "webhook.replay_window",
            ),
            ("webhook:\n  replay_window: 2h\n", "webhook.replay_window"),
            ("polling:\n  max_watchers: 0\n", "polling.max_watchers"),
            (
                "polling:\n  max_remembered_ended: 0\n",
                "polling.max_remembered_ended",
            ),
            ("zoom:\n  max_answer_bytes: 1000\n", "zoom.max_answer_bytes"),
            ("server:\n  shutdown_grace: 5s\n", "server.shutdown_grace"),
            ("server:\n  max_connections: 0\n", "server.max_connections"),
            (
                "server:\n  header_read_timeout: 0s\n",
                "server.header_read_timeout",
            ),
            ("server:\n  idle_timeout: 0s\n", "server.idle_timeout"),
        ] {
            let mut s = Settings::from_yaml("t.yaml", yaml).expect("parses");
            s.secrets = Secrets::from_env(&env).expect("secrets");
            let err = s.validate().unwrap_err().to_string();
            assert!(err.contains(name), "{yaml}: {err}");
        }
    }

    #[test]
    fn validation_catches_nonsense() {
        let env = env_of(SECRETS);
        let mut s =
            Settings::from_yaml("t.yaml", "zoom:\n  requests_per_second: 0\n").expect("parses");
        s.secrets = Secrets::from_env(&env).expect("secrets");
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("requests_per_second")
        );
    }

    /// `variable → setting` of README's configuration table (the one whose
    /// header starts `| setting | environment variable |`); `—` rows have
    /// no variable.
    fn readme_environment_table(readme: &str) -> BTreeMap<String, String> {
        let mut lines = readme
            .lines()
            .skip_while(|line| !line.starts_with("| setting | environment variable |"))
            .skip(2); // the header and its |---| line
        let mut table = BTreeMap::new();
        for line in lines.by_ref().take_while(|line| line.starts_with('|')) {
            let cells: Vec<&str> = line
                .split('|')
                .map(|cell| cell.trim().trim_matches('`'))
                .collect();
            let (setting, variable) = (cells[1], cells[2]);
            if variable != "—" {
                table.insert(variable.to_owned(), setting.to_owned());
            }
        }
        table
    }

    #[test]
    fn the_database_url_comes_from_the_environment_first_and_is_never_shown() {
        let mut settings = Settings::default();
        assert!(settings.database_url().is_none(), "SQLite by default");
        settings.store.url = Some("postgres://db.internal/qoswatch".into());
        assert_eq!(
            settings.database_url().unwrap().expose_secret(),
            "postgres://db.internal/qoswatch"
        );
        let secrets = Secrets::from_env(&env_of(&[
            (
                "QOSWATCH_DATABASE_URL",
                "postgresql://qoswatch@db.prod:5432/qw?sslmode=verify-full",
            ),
            ("QOSWATCH_DATABASE_PASSWORD", "hunter2"),
        ]))
        .expect("secrets");
        settings.secrets = secrets;
        assert_eq!(
            settings.database_url().unwrap().expose_secret(),
            "postgresql://qoswatch@db.prod:5432/qw?sslmode=verify-full",
            "the environment wins over store.url"
        );
        assert_eq!(
            settings
                .secrets
                .database_password
                .as_ref()
                .unwrap()
                .expose_secret(),
            "hunter2"
        );
        settings.secrets.database_url = Some(SecretString::from(
            "mysql://root:s3cret@db/qoswatch".to_owned(),
        ));
        let error = settings.validate().expect_err("not PostgreSQL").to_string();
        assert!(error.contains("postgres://"), "{error}");
        assert!(
            !error.contains("s3cret") && !error.contains("mysql"),
            "{error}"
        );
    }

    #[test]
    fn readme_lists_exactly_the_environment_variables_of_the_table() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README.md");
        let documented = readme_environment_table(&readme);
        let read: BTreeMap<String, String> = ENV_SETTINGS
            .iter()
            .map(|e| (e.name.to_owned(), e.setting.to_owned()))
            .collect();
        let undocumented: Vec<&String> = read
            .keys()
            .filter(|v| !documented.contains_key(*v))
            .collect();
        let not_read: Vec<&String> = documented
            .keys()
            .filter(|v| !read.contains_key(*v))
            .collect();
        assert!(
            undocumented.is_empty() && not_read.is_empty(),
            "README.md's configuration table and config::ENV_SETTINGS disagree\n\
             read by qoswatch but not in README: {undocumented:?}\n\
             in README but not read by qoswatch: {not_read:?}"
        );
        for (variable, setting) in &read {
            assert_eq!(
                &documented[variable], setting,
                "README.md pairs {variable} with another setting than config::ENV_SETTINGS"
            );
        }
    }

    #[test]
    fn every_variable_of_the_table_sets_its_setting() {
        let pairs = [
            ("QOSWATCH_LISTEN", "127.0.0.1:9"),
            ("QOSWATCH_ADMIN_LISTEN", "127.0.0.1:19"),
            ("QOSWATCH_LEGACY_PUBLIC_ENDPOINTS", "no"),
            ("QOSWATCH_MAX_BODY_BYTES", "2048"),
            ("QOSWATCH_SHUTDOWN_GRACE", "21s"),
            ("QOSWATCH_MAX_CONNECTIONS", "64"),
            ("QOSWATCH_HEADER_READ_TIMEOUT", "4s"),
            ("QOSWATCH_IDLE_TIMEOUT", "2m"),
            ("QOSWATCH_REPLAY_WINDOW", "2m"),
            ("QOSWATCH_ZOOM_API_BASE", " http://zoom.test/v2 "),
            ("QOSWATCH_ZOOM_TOKEN_URL", "http://zoom.test/oauth/token"),
            ("QOSWATCH_ZOOM_REQUEST_TIMEOUT", "3s"),
            ("QOSWATCH_ZOOM_REQUESTS_PER_SECOND", "7"),
            ("QOSWATCH_ZOOM_DAILY_LIMIT", "900"),
            ("QOSWATCH_ZOOM_RATE_SHARE", "0.5"),
            ("QOSWATCH_ZOOM_DAILY_SHARE", " 0.25 "),
            ("QOSWATCH_ZOOM_TOKEN_REFRESH_MARGIN", "1m"),
            ("QOSWATCH_ZOOM_MAX_ANSWER_BYTES", "1048576"),
            ("QOSWATCH_POLL_MODE", "fixed"),
            ("QOSWATCH_POLL_INTERVAL", "30s"),
            ("QOSWATCH_POLL_MAX_INTERVAL", "3m"),
            ("QOSWATCH_POLL_MAX_STALENESS", "20m"),
            ("QOSWATCH_POLL_PAGE_SIZE", "30"),
            ("QOSWATCH_STALE_AFTER", "4m"),
            ("QOSWATCH_MAX_WATCH_AGE", "2h"),
            ("QOSWATCH_MAX_BACKOFF", "90s"),
            ("QOSWATCH_MAX_WATCHERS", "12"),
            ("QOSWATCH_MAX_REMEMBERED_ENDED", "5000"),
            ("QOSWATCH_RULES_FILE", "rules.yaml"),
            ("QOSWATCH_SMTP_HOST", "relay.test"),
            ("QOSWATCH_SMTP_PORT", "2525"),
            ("QOSWATCH_SMTP_TLS", "implicit"),
            ("QOSWATCH_SMTP_USERNAME", "mailer"),
            ("QOSWATCH_SMTP_FROM", "qoswatch@example.com"),
            ("QOSWATCH_ALERT_GROUP_WINDOW", "0s"),
            ("QOSWATCH_ZOOM_MEETING_ALERTS", "yes"),
            ("QOSWATCH_DATA_DIR", "/srv/qoswatch"),
            ("QOSWATCH_STORE_SYNCHRONOUS", "normal"),
            ("QOSWATCH_STORE_RETENTION", "3d"),
            ("QOSWATCH_LEASE_TTL", "20s"),
            ("QOSWATCH_REPLICA_NAME", " qoswatch-b "),
            ("QOSWATCH_LOG_FORMAT", "pretty"),
            ("QOSWATCH_LOG_FILTER", "qoswatch=debug"),
        ];
        assert_eq!(
            pairs.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
            overlay_names().collect::<Vec<_>>(),
            "this test covers every variable of ENV_SETTINGS, in order"
        );
        let mut s = Settings::default();
        s.apply_env(&env_of(&pairs)).expect("applies");
        assert_eq!(s.server.listen, "127.0.0.1:9".parse().expect("address"));
        assert_eq!(
            s.server.admin_listen,
            "127.0.0.1:19".parse().expect("address")
        );
        assert!(!s.server.legacy_public_endpoints);
        assert_eq!(s.server.max_body_bytes, 2048);
        assert_eq!(s.server.shutdown_grace, Duration::from_secs(21));
        assert_eq!(s.server.max_connections, 64);
        assert_eq!(s.server.header_read_timeout, Duration::from_secs(4));
        assert_eq!(s.server.idle_timeout, Duration::from_secs(120));
        assert_eq!(s.webhook.replay_window, Duration::from_secs(120));
        assert_eq!(s.zoom.api_base, "http://zoom.test/v2");
        assert_eq!(s.zoom.token_url, "http://zoom.test/oauth/token");
        assert_eq!(s.zoom.request_timeout, Duration::from_secs(3));
        assert_eq!(s.zoom.requests_per_second, 7);
        assert_eq!(s.zoom.daily_limit, 900);
        assert_eq!(s.zoom.rate_share, 0.5);
        assert_eq!(s.zoom.daily_share, 0.25);
        assert_eq!(s.zoom.token_refresh_margin, Duration::from_secs(60));
        assert_eq!(s.zoom.max_answer_bytes, 1_048_576);
        assert_eq!(s.polling.mode, PollingMode::Fixed);
        assert_eq!(s.polling.interval, Duration::from_secs(30));
        assert_eq!(s.polling.max_interval, Duration::from_secs(180));
        assert_eq!(s.polling.max_staleness, Duration::from_secs(1200));
        assert_eq!(s.polling.page_size, 30);
        assert_eq!(s.polling.stale_after, Duration::from_secs(240));
        assert_eq!(s.polling.max_watch_age, Duration::from_secs(7200));
        assert_eq!(s.polling.max_backoff, Duration::from_secs(90));
        assert_eq!(s.polling.max_watchers, 12);
        assert_eq!(s.polling.max_remembered_ended, 5000);
        assert_eq!(s.rules.file, Some(PathBuf::from("rules.yaml")));
        let smtp = s.alerts.smtp.as_ref().expect("smtp from the environment");
        assert_eq!(smtp.host, "relay.test");
        assert_eq!(smtp.port, 2525);
        assert_eq!(smtp.tls, crate::notify::SmtpTls::Implicit);
        assert_eq!(smtp.username.as_deref(), Some("mailer"));
        assert_eq!(smtp.from, "qoswatch@example.com");
        assert_eq!(s.alerts.dispatch.group_window, Duration::ZERO);
        assert!(s.alerts.zoom_meeting_alerts.enabled);
        assert_eq!(s.store.data_dir, Some(PathBuf::from("/srv/qoswatch")));
        assert_eq!(s.store.synchronous, crate::store::Synchronous::Normal);
        assert_eq!(s.store.retention, Duration::from_secs(3 * 86400));
        assert_eq!(s.store.lease_ttl, Duration::from_secs(20));
        assert_eq!(s.store.heartbeat(), Duration::from_secs(20) / 3);
        assert_eq!(s.store.replica_name.as_deref(), Some("qoswatch-b"));
        assert_eq!(s.log.format, LogFormat::Pretty);
        assert_eq!(s.log.filter, "qoswatch=debug");

        // Empty means none for the optional ones.
        let mut s = Settings::default();
        s.rules.file = Some(PathBuf::from("from-the-file.yaml"));
        let empty = env_of(&[
            ("QOSWATCH_RULES_FILE", " "),
            ("QOSWATCH_SMTP_USERNAME", ""),
            ("QOSWATCH_DATA_DIR", ""),
        ]);
        s.apply_env(&empty).expect("applies");
        assert_eq!(s.rules.file, None);
        assert_eq!(s.store.data_dir, None);
        assert_eq!(
            s.alerts
                .smtp
                .as_ref()
                .and_then(|smtp| smtp.username.clone()),
            None
        );
    }
}
