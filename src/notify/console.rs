//! The console channel kind (`type: console`): one JSON line per
//! notification on a writer (standard output in production, a buffer in
//! tests).

use std::io::Write;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::channel::{Context, Deliver};
use super::message::{Notification, Phase, SharedCause};
use super::metrics::ChannelKind;
use super::{DeliveryError, NotifyError};
use qoswatch_core::alert::AlertEvent;

/// The writer shared by all console channels.
pub type ConsoleWriter = Arc<Mutex<Box<dyn Write + Send>>>;

fn status(event: &AlertEvent) -> &'static str {
    match event.status {
        qoswatch_core::alert::AlertStatus::Firing => "firing",
        qoswatch_core::alert::AlertStatus::Repeat => "repeat",
        qoswatch_core::alert::AlertStatus::Resolved => "resolved",
    }
}

fn cause(cause: &SharedCause) -> Value {
    match cause {
        SharedCause::Location(location) => json!({"kind": "location", "value": location}),
        SharedCause::NetworkType(network) => json!({"kind": "network_type", "value": network}),
        SharedCause::Device(device) => json!({"kind": "device", "value": device}),
        SharedCause::Meeting => json!({"kind": "meeting"}),
    }
}

/// The JSON object of one notification. Participant e-mail addresses are
/// left out: standard output usually ends up in log storage.
pub fn render(notification: &Notification, channel: &str) -> Value {
    let alerts: Vec<Value> = notification
        .events
        .iter()
        .map(|event| {
            json!({
                "key": event.key.as_str(),
                "status": status(event),
                "severity": event.severity.as_str(),
                "previous_severity": event.previous_severity.map(|s| s.as_str()),
                "rule": event.rule,
                "summary": event.summary,
                "metric": event.metric,
                "stream": event.stream,
                "value": event.value,
                "threshold": event.threshold,
                "started_at": event.started_at.to_rfc3339(),
                "at": event.at.to_rfc3339(),
                "runbook": event.runbook,
                "participant": event.participant.as_ref().map(|p| json!({
                    "user_id": p.user_id,
                    "name": p.display_name(),
                    "device": p.device,
                    "location": p.location,
                    "network_type": p.network_type,
                })),
            })
        })
        .collect();
    json!({
        "channel": channel,
        "phase": match notification.phase { Phase::Problem => "problem", Phase::Resolved => "resolved" },
        "text": notification.headline(),
        "meeting": {
            "uuid": notification.meeting.uuid,
            "account": notification.meeting.account.as_str(),
            "id": notification.meeting.id,
            "topic": notification.meeting.topic,
        },
        "shared_cause": notification.shared_cause.as_ref().map(cause),
        "alerts": alerts,
    })
}

/// The label of console channels in metrics.
pub const KIND: ChannelKind = ChannelKind::new("console");

/// Writes to the shared console writer.
#[derive(Clone)]
pub struct ConsoleChannel {
    name: String,
    writer: ConsoleWriter,
}

impl std::fmt::Debug for ConsoleChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleChannel")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// `type: console`: one JSON line per message on the shared writer.
pub(super) fn build(context: &Context<'_>) -> Result<Box<dyn Deliver>, NotifyError> {
    Ok(Box::new(ConsoleChannel {
        name: context.channel.to_owned(),
        writer: context.clients.console.clone(),
    }))
}

impl ConsoleChannel {
    fn write(&self, notification: &Notification) -> Result<(), DeliveryError> {
        let mut line = render(notification, &self.name).to_string();
        line.push('\n');
        // The lock is held for one write, never across an await.
        let mut writer = self.writer.lock().map_err(|_| DeliveryError::Permanent {
            reason: "console writer poisoned".into(),
        })?;
        writer
            .write_all(line.as_bytes())
            .and_then(|()| writer.flush())
            .map_err(|error| DeliveryError::Transient {
                retry_after: None,
                reason: format!("console write failed: {}", error.kind()),
            })
    }
}

impl Deliver for ConsoleChannel {
    fn kind(&self) -> ChannelKind {
        KIND
    }

    fn deliver<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        let written = self.write(notification);
        Box::pin(std::future::ready(written))
    }
}
