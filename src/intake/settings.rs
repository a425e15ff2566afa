//! Webhook intake settings (`webhook:` in the settings file).

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// Largest accepted distance between `x-zm-request-timestamp` and now.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub replay_window: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            replay_window: Duration::from_secs(5 * 60),
        }
    }
}
