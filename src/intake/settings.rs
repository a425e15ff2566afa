//! Webhook intake settings (`webhook:` in the settings file).

use std::time::Duration;

use qoswatch_core::invalid::Invalid;
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

impl WebhookSettings {
    /// A replay window Zoom's own webhooks pass and replays do not.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.replay_window < Duration::from_secs(1)
            || self.replay_window > Duration::from_secs(3600)
        {
            return Invalid::err(
                "webhook.replay_window",
                "must be between 1s and 1h: shorter rejects Zoom's own webhooks, longer disables replay protection",
            );
        }
        Ok(())
    }
}
