//! One JSON line per notification on a writer (standard output in
//! production, a buffer in tests).

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::DeliveryError;
use super::message::{Notification, Phase, SharedCause};
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
            "id": notification.meeting.id,
            "topic": notification.meeting.topic,
        },
        "shared_cause": notification.shared_cause.as_ref().map(cause),
        "alerts": alerts,
    })
}

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

impl ConsoleChannel {
    pub fn new(name: &str, writer: ConsoleWriter) -> Self {
        ConsoleChannel {
            name: name.to_string(),
            writer,
        }
    }

    pub fn deliver(&self, notification: &Notification) -> Result<(), DeliveryError> {
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
