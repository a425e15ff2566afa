//! The rules file and the delivery of alerts (`rules:` and `alerts:` in the
//! settings file).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RulesSettings {
    /// The rules file. Without one, samples are only logged and counted.
    pub file: Option<PathBuf>,
}

/// Delivery of alerts: the SMTP relay for e-mail channels, the dispatch
/// policy, and Zoom's own meeting alerts. The channels themselves are defined
/// by name in the rules file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// The SMTP relay; needed when the rules file defines an e-mail channel.
    /// Its password comes from `QOSWATCH_SMTP_PASSWORD` only.
    pub smtp: Option<crate::notify::SmtpSettings>,
    /// Grouping window, retries and pacing of deliveries.
    pub dispatch: crate::notify::NotifySettings,
    /// Zoom's `meeting.alert` webhooks ("Unstable audio quality", ...).
    pub zoom_meeting_alerts: ZoomMeetingAlerts,
}

/// Turning Zoom's `meeting.alert` webhooks into meeting-level alerts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZoomMeetingAlerts {
    pub enabled: bool,
    /// Channel names from the rules file.
    pub channels: Vec<String>,
    pub severity: qoswatch_core::alert::Severity,
    /// The same issue of the same meeting is not announced again within this time.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub repeat_after: Duration,
}

impl Default for ZoomMeetingAlerts {
    fn default() -> Self {
        Self {
            enabled: false,
            channels: vec!["console".into()],
            severity: qoswatch_core::alert::Severity::Warning,
            repeat_after: Duration::from_secs(15 * 60),
        }
    }
}
