//! The Alertmanager channel kind (`type: alertmanager`): alerts forwarded to
//! an existing Prometheus Alertmanager (`POST <url>/api/v2/alerts`, the
//! `postableAlerts` of its OpenAPI document), so the team's own routing,
//! inhibition, silences and receivers apply.
//!
//! Alertmanager expects its clients to send a firing alert again and again
//! (it resolves what it has not heard of by `endsAt`): a FIRING alert is
//! kept here and sent again every [`RESEND_EVERY`] with `endsAt`
//! [`VALID_FOR`] ahead (as Prometheus does); RESOLVED sends `endsAt` = the
//! time it cleared and forgets it. After a restart, the alerts still firing
//! on the restored board are taken up (`Deliver::resume`) and sent at once. A severity change is another label set,
//! so the alert under the old severity is ended at once.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};
use tracing::warn;

use super::channel::{Context, Deliver};
use super::http::{WebhookUrl, post_json};
use super::message::{Notification, Phase, meeting_name, metric_label, one_line};
use super::metrics::ChannelKind;
use super::{DeliveryError, NotifyError};
use qoswatch_core::alert::AlertEvent;

/// The label of Alertmanager channels in metrics.
pub const KIND: ChannelKind = ChannelKind::new("alertmanager");

/// How often firing alerts are sent again (Prometheus' `resend-delay`).
pub const RESEND_EVERY: Duration = Duration::from_secs(60);
/// How far ahead a firing alert's `endsAt` is set (four re-sends).
pub const VALID_FOR: Duration = Duration::from_secs(4 * 60);

/// An alert's labels, the same here and in qoswatch's own Alertmanager API
/// v2 (`admin::v2`): `alertname` (the rule), `severity`, `source`,
/// `meeting` (its number, else its UUID), `meeting_uuid`, `kind`
/// (`meeting` or `webinar`), `account` (the Zoom account's short name), `topic`,
/// `participant` (display name, as silences match it), `participant_id`,
/// `location`; a label qoswatch does not know is left out.
pub fn labels(event: &AlertEvent) -> Map<String, Value> {
    let mut labels = Map::new();
    let mut put = |name: &str, value: Option<&str>| {
        if let Some(value) = value.map(one_line).filter(|v| !v.is_empty()) {
            labels.insert(name.to_owned(), Value::String(value));
        }
    };
    put("alertname", Some(&event.rule));
    put("severity", Some(event.severity.as_str()));
    put("source", Some("qoswatch"));
    put(
        "meeting",
        Some(event.meeting.id.as_deref().unwrap_or(&event.meeting.uuid)),
    );
    put("meeting_uuid", Some(&event.meeting.uuid));
    put("kind", Some(event.meeting.kind.as_str()));
    put("account", Some(event.meeting.account.as_str()));
    put("topic", event.meeting.topic.as_deref());
    if let Some(participant) = &event.participant {
        put("participant", participant.name.as_deref());
        put("participant_id", Some(&participant.user_id));
        put("location", participant.location.as_deref());
    }
    labels
}

/// An alert's annotations: `summary`, `description`, `value`,
/// `threshold`, `runbook` (and `runbook_url`, the usual name).
pub fn annotations(event: &AlertEvent) -> Map<String, Value> {
    let mut annotations = Map::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            annotations.insert(name.to_owned(), Value::String(value));
        }
    };
    put("summary", Some(one_line(&event.summary)));
    put(
        "description",
        Some(format!(
            "{} in {}: {}",
            event
                .participant
                .as_ref()
                .map_or("The whole meeting".to_owned(), |p| p.display_name()),
            meeting_name(&event.meeting),
            metric_label(event)
        )),
    );
    put("value", event.value.clone());
    put("threshold", event.threshold.clone());
    put("runbook", event.runbook.clone());
    put("runbook_url", event.runbook.clone());
    annotations
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One `postableAlert`; `ends_at` is the end (resolved) or how long it is
/// valid (firing).
pub fn postable(event: &AlertEvent, ends_at: DateTime<Utc>, page_url: Option<&str>) -> Value {
    let mut alert = json!({
        "labels": labels(event),
        "annotations": annotations(event),
        "startsAt": time(event.started_at),
        "endsAt": time(ends_at),
    });
    if let Some(page) = page_url {
        alert["generatorURL"] = json!(page);
    }
    alert
}

/// Forwards to one Alertmanager.
#[derive(Debug)]
pub struct AlertmanagerChannel {
    channel: String,
    url: WebhookUrl,
    page_url: Option<String>,
    client: reqwest::Client,
    /// The alerts firing here, by alert key: sent again until they end.
    firing: Mutex<BTreeMap<String, AlertEvent>>,
}

/// `type: alertmanager`: `url` is the Alertmanager's address
/// (`http://alertmanager:9093`, with a path prefix if it has one).
pub(super) fn build(context: &Context<'_>, url: &str) -> Result<Box<dyn Deliver>, NotifyError> {
    let endpoint = format!("{}/api/v2/alerts", url.trim().trim_end_matches('/'));
    Ok(Box::new(AlertmanagerChannel {
        channel: context.channel.to_owned(),
        url: WebhookUrl::setting(context.channel, "url", &endpoint)?,
        page_url: context.clients.settings.page_url.clone(),
        client: context.clients.http.clone(),
        firing: Mutex::new(BTreeMap::new()),
    }))
}

impl AlertmanagerChannel {
    /// What one message sends: each alert, and for a firing alert whose
    /// severity changed, the end of the one under the old severity.
    /// Remembers the firing ones.
    fn alerts_of(&self, notification: &Notification, now: DateTime<Utc>) -> Vec<Value> {
        let page = self.page_url.as_deref();
        let valid_until = now + VALID_FOR;
        let mut firing = self.firing.lock().expect("firing alerts");
        let mut alerts = Vec::new();
        for event in &notification.events {
            let key = event.key.as_str().to_owned();
            match notification.phase {
                Phase::Problem => {
                    if let Some(before) = firing.get(&key)
                        && labels(before) != labels(event)
                    {
                        alerts.push(postable(before, event.at.min(now), page));
                    }
                    alerts.push(postable(event, valid_until, page));
                    firing.insert(key, event.clone());
                }
                Phase::Resolved => {
                    firing.remove(&key);
                    alerts.push(postable(event, event.at.min(now), page));
                }
            }
        }
        alerts
    }
}

impl Deliver for AlertmanagerChannel {
    fn kind(&self) -> ChannelKind {
        KIND
    }

    fn deliver<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let alerts = self.alerts_of(notification, Utc::now());
            post_json(&self.client, &self.url, &Value::Array(alerts)).await
        })
    }

    fn resume(&self, firing: &[AlertEvent]) {
        let mut kept = self.firing.lock().expect("firing alerts");
        for event in firing {
            kept.insert(event.key.as_str().to_owned(), event.clone());
        }
    }

    fn refresh_every(&self) -> Option<Duration> {
        Some(RESEND_EVERY)
    }

    fn refresh(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let valid_until = Utc::now() + VALID_FOR;
            let alerts: Vec<Value> = self
                .firing
                .lock()
                .expect("firing alerts")
                .values()
                .map(|event| postable(event, valid_until, self.page_url.as_deref()))
                .collect();
            if alerts.is_empty() {
                return;
            }
            if let Err(error) = post_json(&self.client, &self.url, &Value::Array(alerts)).await {
                // The next round tries again; each firing alert is valid for
                // four rounds.
                warn!(channel = %self.channel, error = ?error, "re-sending firing alerts to Alertmanager failed");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qoswatch_core::alert::{AlertStatus, Severity};

    #[test]
    fn labels_name_rule_participant_and_meeting_and_skip_unknowns() {
        let mut event = crate::test_support::example_event("1", AlertStatus::Firing);
        event.meeting.topic = None;
        let labels = labels(&event);
        assert_eq!(labels["alertname"], event.rule.as_str());
        assert_eq!(labels["source"], "qoswatch");
        assert_eq!(labels["participant_id"], "1");
        assert!(!labels.contains_key("topic"));
        let names: Vec<&String> = labels.keys().collect();
        for name in names {
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{name}"
            );
        }
    }

    #[test]
    fn a_severity_change_ends_the_old_label_set() {
        let context_http = reqwest::Client::new();
        let channel = AlertmanagerChannel {
            channel: "am".into(),
            url: WebhookUrl::parse("U", "http://127.0.0.1:9/api/v2/alerts").unwrap(),
            page_url: None,
            client: context_http,
            firing: Mutex::new(BTreeMap::new()),
        };
        let warning = crate::test_support::example_event("1", AlertStatus::Firing);
        let now = warning.at;
        let first = channel.alerts_of(&Notification::new(vec![warning.clone()]).unwrap(), now);
        assert_eq!(first.len(), 1);
        let critical = AlertEvent {
            severity: Severity::Critical,
            previous_severity: Some(warning.severity),
            ..warning.clone()
        };
        let second = channel.alerts_of(&Notification::new(vec![critical.clone()]).unwrap(), now);
        assert_eq!(second.len(), 2);
        assert_eq!(second[0]["labels"]["severity"], warning.severity.as_str());
        assert_eq!(second[0]["endsAt"], time(now));
        assert_eq!(second[1]["labels"]["severity"], "critical");
        let resolved = AlertEvent {
            status: AlertStatus::Resolved,
            ..critical
        };
        let third = channel.alerts_of(&Notification::new(vec![resolved]).unwrap(), now);
        assert_eq!(third.len(), 1);
        assert!(channel.firing.lock().unwrap().is_empty());
    }
}
