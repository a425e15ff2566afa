//! The PagerDuty channel kind (`type: pagerduty`): Events API v2
//! (<https://developer.pagerduty.com/docs/events-api-v2/trigger-events/>).
//! A FIRING (or STILL FIRING) alert is a `trigger`, a RESOLVED one a
//! `resolve`, both with the alert's stable `dedup_key`, so a reminder, a
//! retry or a restart adds to the open incident instead of opening another.
//! One event per alert: a grouped message sends each of its alerts.
//! PagerDuty answers 202; 429 and 5xx are retried, 400 (an invalid event)
//! is permanent (`http::post_json` classifies).

use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::channel::{Context, Deliver};
use super::http::{WebhookUrl, post_json};
use super::message::{Notification, Phase, meeting_with_id, metric_label, one_line, who};
use super::metrics::ChannelKind;
use super::{DeliveryError, NotifyError};
use qoswatch_core::alert::{AlertEvent, Severity};

/// The label of PagerDuty channels in metrics.
pub const KIND: ChannelKind = ChannelKind::new("pagerduty");

/// PagerDuty's events endpoint (US service region; the EU one is
/// `https://events.eu.pagerduty.com/v2/enqueue`, set with `url:`).
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Events API v2 limits: `payload.summary` is cut at 1024 characters,
/// `dedup_key` at 255.
pub const MAX_SUMMARY: usize = 1024;
pub const MAX_DEDUP_KEY: usize = 255;

/// The alert's `dedup_key`: `qoswatch/` and its key (rule, meeting UUID,
/// participant), or, when that is longer than PagerDuty allows, the
/// SHA-256 of it. The same alert always has the same one.
pub fn dedup_key(event: &AlertEvent) -> String {
    let plain = format!("qoswatch/{}", event.key.as_str());
    if plain.len() <= MAX_DEDUP_KEY {
        plain
    } else {
        let digest = Sha256::digest(event.key.as_str().as_bytes());
        format!("qoswatch/sha256:{}", hex::encode(digest))
    }
}

fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
    }
}

/// `custom_details`: the same facts as the Slack message.
fn details(event: &AlertEvent, show_email: bool) -> Value {
    let mut details = Map::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            details.insert(key.to_owned(), Value::String(one_line(&value)));
        }
    };
    put("metric", Some(metric_label(event)));
    put("value", event.value.clone());
    put("threshold", event.threshold.clone());
    put("since", Some(event.started_at.to_rfc3339()));
    put("meeting", Some(meeting_with_id(&event.meeting)));
    put("meeting_uuid", Some(event.meeting.uuid.clone()));
    put("kind", Some(event.meeting.kind.as_str().to_owned()));
    put("account", Some(event.meeting.account.as_str().to_owned()));
    put("rule", Some(event.rule.clone()));
    put("runbook", event.runbook.clone());
    if let Some(previous) = event.previous_severity.filter(|p| *p != event.severity) {
        put("previous_severity", Some(previous.as_str().to_owned()));
    }
    match &event.participant {
        Some(participant) => {
            put("participant", Some(participant.display_name()));
            put("location", participant.location.clone());
            put("device", participant.device.clone());
            put("network", participant.network_type.clone());
            if show_email {
                put("email", participant.email.clone());
            }
        }
        None => put("scope", Some("whole meeting (reported by Zoom)".to_owned())),
    }
    Value::Object(details)
}

/// The Events API v2 body of one alert of `notification`.
pub fn render(
    event: &AlertEvent,
    phase: Phase,
    routing_key: &str,
    show_email: bool,
    page_url: Option<&str>,
) -> Value {
    let mut body = json!({
        "routing_key": routing_key,
        "dedup_key": dedup_key(event),
    });
    if phase == Phase::Resolved {
        body["event_action"] = json!("resolve");
        return body;
    }
    body["event_action"] = json!("trigger");
    let summary = format!(
        "{} — {} — {}",
        one_line(&event.summary),
        who(event.participant.as_ref()),
        meeting_with_id(&event.meeting)
    );
    body["payload"] = json!({
        "summary": super::message::truncate_chars(&summary, MAX_SUMMARY),
        "source": "qoswatch",
        "severity": severity(event.severity),
        "timestamp": event.at.to_rfc3339(),
        "component": who(event.participant.as_ref()),
        "group": meeting_with_id(&event.meeting),
        "class": event.metric,
        "custom_details": details(event, show_email),
    });
    body["client"] = json!("qoswatch");
    let mut links = Vec::new();
    if let Some(page) = page_url {
        body["client_url"] = json!(page);
        links.push(json!({"href": page, "text": "qoswatch status page"}));
    }
    if let Some(runbook) = event
        .runbook
        .as_deref()
        .map(str::trim)
        .filter(|r| r.starts_with("https://") || r.starts_with("http://"))
    {
        links.push(json!({"href": runbook, "text": "Runbook"}));
    }
    if !links.is_empty() {
        body["links"] = Value::Array(links);
    }
    body
}

/// Delivers to one PagerDuty service integration.
#[derive(Debug)]
pub struct PagerDutyChannel {
    url: WebhookUrl,
    routing_key: SecretString,
    show_email: bool,
    page_url: Option<String>,
    client: reqwest::Client,
}

/// `type: pagerduty`: the routing key from environment variable
/// `routing_key_env`, the endpoint from `url` (default [`DEFAULT_URL`]).
pub(super) fn build(
    context: &Context<'_>,
    routing_key_env: &str,
    url: Option<&str>,
    show_email: bool,
) -> Result<Box<dyn Deliver>, NotifyError> {
    let routing_key = context.secret_env("routing_key_env", routing_key_env)?;
    let routing_key = routing_key.trim();
    // Integration keys are 32 characters of [0-9a-z]; anything with space
    // or control characters is a pasting accident.
    if routing_key.len() > 128 || !routing_key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(context.invalid_secret(
            "routing_key_env",
            routing_key_env,
            "is not a PagerDuty integration key (letters and digits)",
        ));
    }
    let url = WebhookUrl::setting(context.channel, "url", url.unwrap_or(DEFAULT_URL))?;
    Ok(Box::new(PagerDutyChannel {
        url,
        routing_key: SecretString::from(routing_key.to_owned()),
        show_email,
        page_url: context.clients.settings.page_url.clone(),
        client: context.clients.http.clone(),
    }))
}

impl Deliver for PagerDutyChannel {
    fn kind(&self) -> ChannelKind {
        KIND
    }

    fn deliver<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            // A retry sends every alert again: PagerDuty merges events with
            // the same dedup_key, so none is counted twice.
            for event in &notification.events {
                let body = render(
                    event,
                    notification.phase,
                    self.routing_key.expose_secret(),
                    self.show_email,
                    self.page_url.as_deref(),
                );
                post_json(&self.client, &self.url, &body).await?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qoswatch_core::alert::AlertKey;

    #[test]
    fn dedup_keys_are_stable_and_within_the_limit() {
        let mut event =
            crate::test_support::example_event("1", qoswatch_core::alert::AlertStatus::Firing);
        assert_eq!(dedup_key(&event), format!("qoswatch/{}", event.key));
        event.key = AlertKey::in_account(&Default::default(), &"r".repeat(300), "m==", Some("1"));
        let long = dedup_key(&event);
        assert!(long.len() <= MAX_DEDUP_KEY, "{long}");
        assert_eq!(long, dedup_key(&event.clone()));
        event.key = AlertKey::in_account(&Default::default(), &"r".repeat(300), "m==", Some("2"));
        assert_ne!(long, dedup_key(&event));
    }

    #[test]
    fn resolve_carries_only_the_key_and_trigger_the_payload() {
        let event =
            crate::test_support::example_event("1", qoswatch_core::alert::AlertStatus::Firing);
        let body = render(&event, Phase::Resolved, "k", false, None);
        assert_eq!(
            body,
            json!({"routing_key": "k", "dedup_key": dedup_key(&event), "event_action": "resolve"})
        );
        let body = render(&event, Phase::Problem, "k", false, Some("https://q.test/"));
        assert_eq!(body["event_action"], "trigger");
        assert_eq!(body["links"][0]["href"], "https://q.test/");
        assert_eq!(body["payload"]["severity"], event.severity.as_str());
    }
}
