//! The vocabulary shared by the rules engine (which produces alert events)
//! and the notifiers (which deliver them): who is being watched, and what
//! happened to an alert.
//!
//! Pure data, no behaviour beyond formatting: `rules` and `notify` both
//! depend on this module and on nothing of each other.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A meeting as qoswatch knows it from webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct MeetingInfo {
    /// The meeting instance UUID (`payload.object.uuid`): the identity.
    pub uuid: String,
    /// The meeting number people type in (`payload.object.id`), when known.
    pub id: Option<String>,
    pub topic: Option<String>,
    /// A meeting or a webinar: which of Zoom's endpoints and events it
    /// takes, and what people call it. Absent in what older versions kept:
    /// a meeting.
    #[serde(default, skip_serializing_if = "CallKind::is_meeting")]
    pub kind: CallKind,
    /// The Zoom account the call belongs to (the deployment's short name
    /// for it). Absent in what older versions kept and in a single-account
    /// deployment: [`Account::default`].
    #[serde(default, skip_serializing_if = "Account::is_default")]
    pub account: Account,
}

/// The name of the one account of a deployment that configures no
/// `accounts:` list (today's settings): rows kept before accounts existed
/// belong to it.
pub const DEFAULT_ACCOUNT: &str = "default";

/// Which of the deployment's Zoom accounts something belongs to: the short
/// name the settings give it (`accounts[].name`), used in URLs, labels,
/// the store's keys and the page. Zoom's own `account_id` is in the
/// settings, not here.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Account(String);

impl Account {
    /// An account name as the settings checked it
    /// ([`Account::valid_name`]).
    pub fn new(name: impl Into<String>) -> Self {
        Account(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The single account of a deployment without `accounts:`.
    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT_ACCOUNT
    }

    /// Whether `name` may name an account: 1 to 32 of `a-z`, `0-9` and
    /// `-`, starting with a letter (it goes into URLs, label values and
    /// environment variable names unchanged).
    pub fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        name.len() <= 32
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }
}

impl Default for Account {
    fn default() -> Self {
        Account(DEFAULT_ACCOUNT.into())
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of Zoom call a watch is about. Zoom has the same Dashboard
/// calls and lifecycle webhooks for both, under `meetings` and `webinars`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum CallKind {
    #[default]
    Meeting,
    Webinar,
}

impl CallKind {
    /// `meeting` or `webinar`: the word people read, the `kind` of the
    /// API and of the rules' scope.
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Meeting => "meeting",
            CallKind::Webinar => "webinar",
        }
    }

    /// The path segment of Zoom's Dashboard API: `meetings` or `webinars`.
    pub fn path(self) -> &'static str {
        match self {
            CallKind::Meeting => "meetings",
            CallKind::Webinar => "webinars",
        }
    }

    pub fn is_meeting(&self) -> bool {
        *self == CallKind::Meeting
    }
}

impl fmt::Display for CallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A participant as qoswatch knows it from webhooks and QoS answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct ParticipantInfo {
    /// Meeting-scoped `user_id`: the Dashboard API's participant id.
    pub user_id: String,
    pub name: Option<String>,
    /// Personal data: shown in alerts only where a channel allows it, never logged.
    pub email: Option<String>,
    pub device: Option<String>,
    pub location: Option<String>,
    pub network_type: Option<String>,
}

impl ParticipantInfo {
    /// The name to show people: the display name, else `participant <id>`.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(name) if !name.trim().is_empty() => name.clone(),
            _ => format!("participant {}", self.user_id),
        }
    }
}

/// Identity of one watch: a participant in one meeting instance.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ParticipantKey {
    /// Two accounts may have the same meeting and participant ids.
    #[serde(default, skip_serializing_if = "Account::is_default")]
    pub account: Account,
    pub meeting_uuid: String,
    pub user_id: String,
}

impl ParticipantKey {
    /// A participant of the single account's meeting.
    pub fn new(meeting_uuid: impl Into<String>, user_id: impl Into<String>) -> Self {
        Self::in_account(Account::default(), meeting_uuid, user_id)
    }

    pub fn in_account(
        account: Account,
        meeting_uuid: impl Into<String>,
        user_id: impl Into<String>,
    ) -> Self {
        Self {
            account,
            meeting_uuid: meeting_uuid.into(),
            user_id: user_id.into(),
        }
    }

    /// The meeting this participant is in.
    pub fn meeting(&self) -> MeetingKey {
        MeetingKey::new(self.account.clone(), self.meeting_uuid.clone())
    }
}

/// Identity of one meeting (or webinar) instance: its UUID in its account.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct MeetingKey {
    #[serde(default, skip_serializing_if = "Account::is_default")]
    pub account: Account,
    pub uuid: String,
}

impl MeetingKey {
    pub fn new(account: Account, uuid: impl Into<String>) -> Self {
        Self {
            account,
            uuid: uuid.into(),
        }
    }
}

impl fmt::Display for MeetingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.account.is_default() {
            write!(f, "{}:", self.account)?;
        }
        f.write_str(&self.uuid)
    }
}

impl MeetingInfo {
    /// The meeting's identity.
    pub fn key(&self) -> MeetingKey {
        MeetingKey::new(self.account.clone(), self.uuid.clone())
    }
}

impl fmt::Display for ParticipantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.account.is_default() {
            write!(f, "{}:", self.account)?;
        }
        write!(f, "{}/{}", self.meeting_uuid, self.user_id)
    }
}

/// Alert severity. Ordered: `Critical > Warning`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to an alert instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The problem started, or its severity changed while it lasts.
    Firing,
    /// The problem still lasts; a reminder on the repeat schedule.
    Repeat,
    /// The problem cleared.
    Resolved,
}

impl AlertStatus {
    /// Upper-case tag used at the front of messages: `FIRING`, `RESOLVED`.
    pub fn tag(self) -> &'static str {
        match self {
            AlertStatus::Firing => "FIRING",
            AlertStatus::Repeat => "STILL FIRING",
            AlertStatus::Resolved => "RESOLVED",
        }
    }
}

/// Stable identity of one alert instance: (rule, meeting, participant).
/// Downstream code uses it as a deduplication and threading key.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct AlertKey(pub String);

impl AlertKey {
    /// Builds the key of rule `rule` for one participant (or the whole
    /// meeting when `user_id` is `None`) of `meeting`'s account. The single
    /// account's keys are what they were before accounts existed (open
    /// alerts kept across the upgrade keep their keys).
    pub fn new(rule: &str, meeting: &MeetingInfo, user_id: Option<&str>) -> Self {
        Self::in_account(&meeting.account, rule, &meeting.uuid, user_id)
    }

    /// [`AlertKey::new`] from the parts.
    pub fn in_account(
        account: &Account,
        rule: &str,
        meeting_uuid: &str,
        user_id: Option<&str>,
    ) -> Self {
        let user = user_id.unwrap_or("*");
        if account.is_default() {
            AlertKey(format!("{rule}|{meeting_uuid}|{user}"))
        } else {
            AlertKey(format!("{rule}|{account}:{meeting_uuid}|{user}"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AlertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an alert goes: named channels and the repeat policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Route {
    /// Names of notification channels (defined in the rules file).
    pub channels: Vec<String>,
    /// Reminder interval while firing; `None` means no reminders.
    pub repeat_interval: Option<Duration>,
    /// Whether a resolved message is sent when the alert clears.
    pub send_resolved: bool,
}

/// One alert transition, ready to be routed and rendered.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertEvent {
    pub key: AlertKey,
    pub status: AlertStatus,
    pub severity: Severity,
    /// Severity before this transition, when it changed (escalation / de-escalation).
    pub previous_severity: Option<Severity>,
    /// Rule name, as written in the rules file.
    pub rule: String,
    /// Rendered summary line (templating already applied).
    pub summary: String,
    pub runbook: Option<String>,
    /// Metric name as in rule files (`audio_input.jitter`), or a label for
    /// meeting-level alerts from Zoom.
    pub metric: String,
    /// Stream that triggered, for rules over several streams.
    pub stream: Option<String>,
    /// Observed value with unit (`"420 ms"`), when there is one.
    pub value: Option<String>,
    /// Threshold crossed, with unit and direction (`"> 400 ms"`).
    pub threshold: Option<String>,
    /// When the problem started (first sample over the threshold).
    pub started_at: DateTime<Utc>,
    /// When this transition happened (sample time).
    pub at: DateTime<Utc>,
    pub meeting: MeetingInfo,
    /// `None` for meeting-level alerts (Zoom's `meeting.alert`).
    pub participant: Option<ParticipantInfo>,
    pub route: Route,
}

/// A notification channel as defined in the rules file. Secrets are named by
/// environment variable and resolved by `notify` at start-up, never stored here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelSpec {
    /// A Slack incoming webhook whose URL is in environment variable `webhook_url_env`.
    Slack {
        webhook_url_env: String,
        show_email: bool,
        send_resolved: bool,
    },
    /// E-mail to fixed recipients over the SMTP relay configured for the server.
    Email {
        to: Vec<String>,
        show_email: bool,
        send_resolved: bool,
    },
    /// One JSON line per notification on standard output.
    Console { send_resolved: bool },
    /// A Microsoft Teams Workflows webhook ("When a Teams webhook request is
    /// received") whose URL is in environment variable `webhook_url_env`.
    Teams {
        webhook_url_env: String,
        show_email: bool,
        send_resolved: bool,
    },
    /// PagerDuty Events API v2; the integration's routing key is in
    /// environment variable `routing_key_env`. `url` overrides the events
    /// endpoint (the EU service region, a proxy).
    PagerDuty {
        routing_key_env: String,
        url: Option<String>,
        show_email: bool,
        send_resolved: bool,
    },
    /// qoswatch's alert JSON to any URL (in environment variable `url_env`),
    /// signed the Standard Webhooks way with the secret in `secret_env`.
    Webhook {
        url_env: String,
        secret_env: String,
        show_email: bool,
        send_resolved: bool,
    },
    /// An existing Prometheus Alertmanager at `url` (`POST /api/v2/alerts`).
    /// It gets every RESOLVED ([`ChannelSpec::needs_resolved`]).
    Alertmanager { url: String, send_resolved: bool },
}

impl ChannelSpec {
    pub fn send_resolved(&self) -> bool {
        match self {
            ChannelSpec::Slack { send_resolved, .. }
            | ChannelSpec::Email { send_resolved, .. }
            | ChannelSpec::Console { send_resolved }
            | ChannelSpec::Teams { send_resolved, .. }
            | ChannelSpec::PagerDuty { send_resolved, .. }
            | ChannelSpec::Webhook { send_resolved, .. }
            | ChannelSpec::Alertmanager { send_resolved, .. } => *send_resolved,
        }
    }

    /// Whether the channel must get every RESOLVED, whatever the rule says:
    /// an Alertmanager keeps an alert it is not told has ended (qoswatch
    /// sends it again while it fires).
    pub fn needs_resolved(&self) -> bool {
        matches!(self, ChannelSpec::Alertmanager { .. })
    }
}

/// A named channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub name: String,
    pub spec: ChannelSpec,
}

/// Masks an e-mail address for logs: `jchill@example.com` → `j***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_email() {
        assert_eq!(mask_email("jchill@example.com"), "j***@example.com");
        assert_eq!(mask_email("nonsense"), "***");
    }

    #[test]
    fn alert_key_is_stable_and_distinguishes_meeting_level() {
        let single = Account::default();
        let a = AlertKey::in_account(&single, "high-latency", "abc==", Some("16778240"));
        assert_eq!(a.as_str(), "high-latency|abc==|16778240");
        assert_eq!(
            AlertKey::in_account(&single, "zoom", "abc==", None).as_str(),
            "zoom|abc==|*"
        );
    }

    #[test]
    fn two_accounts_with_the_same_ids_have_different_keys() {
        let meeting = |account: &str| MeetingInfo {
            uuid: "abc==".into(),
            account: Account::new(account),
            ..MeetingInfo::default()
        };
        let acme = AlertKey::new("latency", &meeting("acme"), Some("1"));
        let globex = AlertKey::new("latency", &meeting("globex"), Some("1"));
        assert_ne!(acme, globex);
        assert_eq!(acme.as_str(), "latency|acme:abc==|1");
        assert_eq!(
            AlertKey::new("latency", &meeting(DEFAULT_ACCOUNT), Some("1")).as_str(),
            "latency|abc==|1",
            "the single account keeps the keys of before"
        );
    }

    #[test]
    fn the_single_account_is_not_written_and_older_records_read_as_it() {
        let key = ParticipantKey::new("m==", "7");
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(json, r#"{"meeting_uuid":"m==","user_id":"7"}"#);
        let back: ParticipantKey = serde_json::from_str(&json).unwrap();
        assert!(back.account.is_default());
        let other = ParticipantKey::in_account(Account::new("acme"), "m==", "7");
        let back: ParticipantKey =
            serde_json::from_str(&serde_json::to_string(&other).unwrap()).unwrap();
        assert_eq!(back, other);
        assert_ne!(back, key);
        assert_eq!(other.to_string(), "acme:m==/7");
    }

    #[test]
    fn account_names_fit_urls_labels_and_variable_names() {
        for good in ["acme", "eu-west-2", "a", "x1"] {
            assert!(Account::valid_name(good), "{good}");
        }
        for bad in [
            "",
            "Acme",
            "1acme",
            "-a",
            "a_b",
            "a.b",
            "a/b",
            &"a".repeat(33),
        ] {
            assert!(!Account::valid_name(bad), "{bad}");
        }
        assert!(Account::valid_name(&"a".repeat(32)));
    }

    #[test]
    fn display_name_falls_back_to_id() {
        let p = ParticipantInfo {
            user_id: "42".into(),
            ..Default::default()
        };
        assert_eq!(p.display_name(), "participant 42");
    }
}
