//! The `QOSWATCH_*` overlay: one declarative table (`env_settings!`) of
//! the variables that override settings, with the parser of each; README's
//! settings table is tested against it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{LogFormat, PollingMode, Settings};

/// One environment variable that overrides one setting.
#[derive(Debug)]
pub struct EnvSetting {
    /// The variable.
    pub name: &'static str,
    /// The setting it overrides, spelled as in the settings file.
    pub setting: &'static str,
    /// What the setting does, in one line.
    pub description: &'static str,
    pub(super) apply: fn(&mut Settings, &str) -> Result<(), String>,
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
    "QOSWATCH_TLS_CERT_FILE" => server.tls.cert_file: optional_path, "HTTPS on the public listener: PEM certificate chain; empty for plain HTTP";
    "QOSWATCH_TLS_KEY_FILE" => server.tls.key_file: optional_path, "HTTPS on the public listener: PEM private key of the certificate";
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
    "QOSWATCH_ZOOM_MAX_REQUESTS_IN_FLIGHT" => zoom.max_requests_in_flight: number, "most QoS requests of an account in flight at once (answers held in memory)";
    "QOSWATCH_POLL_MODE" => polling.mode: polling_mode, "adaptive or fixed";
    "QOSWATCH_POLL_INTERVAL" => polling.interval: duration, "fastest interval between two polls of one participant";
    "QOSWATCH_POLL_MAX_INTERVAL" => polling.max_interval: duration, "under quota pressure, how far a calm participant stretches first";
    "QOSWATCH_POLL_MAX_STALENESS" => polling.max_staleness: duration, "under quota pressure, how far intervals stretch before all do";
    "QOSWATCH_POLL_PAGE_SIZE" => polling.page_size: number, "participants asked for per page of the list endpoint";
    "QOSWATCH_STALE_AFTER" => polling.stale_after: duration, "stop a watch with no new sample for this long";
    "QOSWATCH_MAX_WATCH_AGE" => polling.max_watch_age: duration, "stop a watch after this long in any case";
    "QOSWATCH_MAX_BACKOFF" => polling.max_backoff: duration, "cap of the back-off between failed polls";
    "QOSWATCH_MAX_WATCHERS" => polling.max_watchers: number, "most participants watched at once";
    "QOSWATCH_MAX_REMEMBERED_ENDED" => polling.max_remembered_ended: number, "most ended participants (and meetings) remembered";
    "QOSWATCH_QSS_FALLBACK_AFTER" => qss.fallback_after: duration, "poll a QSS-fed participant whose events stopped this long";
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
