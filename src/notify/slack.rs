//! The Slack channel kind (`type: slack`): Block Kit rendering within
//! Slack's limits, delivery to an incoming webhook (`http::post_json`
//! classifies Slack's answers into transient and permanent), and pacing.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::channel::{Context, Deliver};
use super::http::{WebhookUrl, post_json};
use super::message::{
    Notification, Phase, facts, meeting_with_id, one_line, participant_text, truncate_chars,
};
use super::metrics::ChannelKind;
use super::{DeliveryError, NotifyError};
use qoswatch_core::alert::AlertEvent;

/// Block Kit limits (<https://api.slack.com/reference/block-kit>).
pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION_TEXT: usize = 3000;
pub const MAX_HEADER_TEXT: usize = 150;
pub const MAX_FIELDS: usize = 10;
pub const MAX_FIELD_TEXT: usize = 2000;
/// The top-level `text` is what phones show; Slack truncates long ones anyway.
pub const MAX_TOP_TEXT: usize = 300;

/// Escapes the three characters Slack's mrkdwn treats as control characters.
pub fn escape_mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A link in mrkdwn, or the escaped text when the target is not http(s).
fn link(url: &str, label: &str) -> String {
    let url = url.trim();
    if (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains(['<', '>', '|', ' '])
    {
        format!("<{}|{}>", url.replace('&', "&amp;"), escape_mrkdwn(label))
    } else {
        escape_mrkdwn(url)
    }
}

fn plain_header(text: &str) -> Value {
    json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate_chars(&one_line(text), MAX_HEADER_TEXT), "emoji": true}
    })
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate_chars(text, MAX_SECTION_TEXT)}})
}

fn field(label: &str, value: &str) -> Value {
    let text = format!("*{label}*\n{}", escape_mrkdwn(value));
    json!({"type": "mrkdwn", "text": truncate_chars(&text, MAX_FIELD_TEXT)})
}

fn context(text: &str) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate_chars(text, MAX_FIELD_TEXT)}]})
}

/// The fields of one event, at most [`MAX_FIELDS`].
fn event_fields(
    event: &AlertEvent,
    phase: Phase,
    show_email: bool,
    with_meeting: bool,
) -> Vec<Value> {
    facts(event, phase, show_email, with_meeting)
        .iter()
        .take(MAX_FIELDS)
        .map(|(label, value)| field(label, value))
        .collect()
}

fn runbook_line(event: &AlertEvent) -> Option<String> {
    event
        .runbook
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .map(|runbook| format!(":book: {}", link(runbook, "Runbook")))
}

/// Renders a notification as a Slack webhook payload.
pub fn render(notification: &Notification, show_email: bool) -> Value {
    let text = truncate_chars(&notification.headline(), MAX_TOP_TEXT);
    let blocks = if notification.events.len() == 1 {
        render_single(notification, show_email)
    } else {
        render_group(notification, show_email)
    };
    json!({"text": text, "blocks": blocks})
}

fn icon(notification: &Notification) -> &'static str {
    match notification.phase {
        Phase::Resolved => "✅",
        Phase::Problem => match notification.events.iter().map(|e| e.severity).max() {
            Some(qoswatch_core::alert::Severity::Critical) => "🔴",
            _ => "🟠",
        },
    }
}

fn render_single(notification: &Notification, show_email: bool) -> Vec<Value> {
    let event = notification.first();
    let mut blocks = vec![plain_header(&format!(
        "{} {}: {}",
        icon(notification),
        notification.tag(),
        event.summary
    ))];
    let meeting = escape_mrkdwn(&meeting_with_id(&event.meeting));
    let mut intro = match (notification.phase, &event.participant) {
        (Phase::Problem, Some(_)) => format!(
            "*{}* in *{meeting}*",
            escape_mrkdwn(&participant_text(event, show_email))
        ),
        (Phase::Resolved, Some(_)) => format!(
            "Cleared for *{}* in *{meeting}*",
            escape_mrkdwn(&participant_text(event, show_email))
        ),
        (Phase::Problem, None) => {
            format!("*{meeting}*: reported by Zoom for the meeting as a whole.")
        }
        (Phase::Resolved, None) => {
            format!("Cleared for *{meeting}* (reported by Zoom for the meeting as a whole).")
        }
    };
    if let Some(previous) = event.previous_severity.filter(|p| *p != event.severity) {
        intro.push_str(&format!(
            " (severity {} → {})",
            previous.as_str(),
            event.severity.as_str()
        ));
    }
    blocks.push(json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate_chars(&intro, MAX_SECTION_TEXT)},
        "fields": event_fields(event, notification.phase, show_email, true),
    }));
    if let Some(runbook) = runbook_line(event) {
        blocks.push(section(&runbook));
    }
    blocks.push(context(&format!(
        "qoswatch · rule `{}` · meeting UUID `{}`",
        escape_mrkdwn(&one_line(&event.rule)),
        escape_mrkdwn(&event.meeting.uuid)
    )));
    blocks
}

fn render_group(notification: &Notification, show_email: bool) -> Vec<Value> {
    let meeting = meeting_with_id(&notification.meeting);
    let people = notification.participant_count();
    let header = match notification.phase {
        Phase::Problem if notification.shared_cause.is_some() && people > 1 => format!(
            "{} {}: {people} participants degraded together in {}",
            icon(notification),
            notification.tag(),
            notification.meeting_name()
        ),
        Phase::Problem => format!(
            "{} {}: {} alerts in {}",
            icon(notification),
            notification.tag(),
            notification.events.len(),
            notification.meeting_name()
        ),
        Phase::Resolved => format!(
            "{} {}: {} alerts cleared in {}",
            icon(notification),
            notification.tag(),
            notification.events.len(),
            notification.meeting_name()
        ),
    };
    let mut blocks = vec![plain_header(&header)];
    let mut intro = format!("*Meeting:* {}", escape_mrkdwn(&meeting));
    if let Some(cause) = &notification.shared_cause {
        intro.push_str(&format!(
            "\n:link: *Likely shared cause:* {}",
            escape_mrkdwn(&cause.describe(notification.participant_count()))
        ));
    }
    blocks.push(section(&intro));
    blocks.push(json!({"type": "divider"}));
    // Header, intro, divider and the closing context take four blocks.
    let room = MAX_BLOCKS - 4;
    let shown = if notification.events.len() > room {
        room - 1
    } else {
        notification.events.len()
    };
    for event in &notification.events[..shown] {
        let mut text = format!(
            "*{}* — {}",
            escape_mrkdwn(&one_line(&event.summary)),
            escape_mrkdwn(&participant_text(event, show_email))
        );
        if let Some(runbook) = runbook_line(event) {
            text.push_str(&format!("\n{runbook}"));
        }
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate_chars(&text, MAX_SECTION_TEXT)},
            "fields": event_fields(event, notification.phase, show_email, false),
        }));
    }
    if shown < notification.events.len() {
        blocks.push(section(&format!(
            "… and {} more alerts in this meeting.",
            notification.events.len() - shown
        )));
    }
    blocks.push(context(&format!(
        "qoswatch · meeting UUID `{}`",
        escape_mrkdwn(&notification.meeting.uuid)
    )));
    blocks
}

/// The label of Slack channels in metrics.
pub const KIND: ChannelKind = ChannelKind::new("slack");

/// Delivers to one Slack incoming webhook.
#[derive(Debug, Clone)]
pub struct SlackChannel {
    url: WebhookUrl,
    show_email: bool,
    client: reqwest::Client,
    /// Least time between two messages (Slack allows about one a second).
    min_interval: Duration,
}

/// `type: slack`: the webhook URL from environment variable
/// `webhook_url_env` (errors name the variable, never the value).
pub(super) fn build(
    context: &Context<'_>,
    webhook_url_env: &str,
    show_email: bool,
) -> Result<Box<dyn Deliver>, NotifyError> {
    let value = context.secret_env("webhook_url_env", webhook_url_env)?;
    let url = WebhookUrl::parse(webhook_url_env, &value)?;
    Ok(Box::new(SlackChannel {
        url,
        show_email,
        client: context.clients.http.clone(),
        min_interval: context.clients.settings.slack_min_interval,
    }))
}

impl Deliver for SlackChannel {
    fn kind(&self) -> ChannelKind {
        KIND
    }

    fn min_interval(&self) -> Option<Duration> {
        Some(self.min_interval)
    }

    fn deliver<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let payload = render(notification, self.show_email);
            post_json(&self.client, &self.url, &payload).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_mrkdwn_control_characters() {
        assert_eq!(escape_mrkdwn("a<b>&c"), "a&lt;b&gt;&amp;c");
    }

    #[test]
    fn links_only_http_urls() {
        assert_eq!(
            link("https://x.test/a", "Runbook"),
            "<https://x.test/a|Runbook>"
        );
        assert_eq!(
            link("javascript:alert(1)", "Runbook"),
            "javascript:alert(1)"
        );
        assert_eq!(link("https://x.test/<b>", "R"), "https://x.test/&lt;b&gt;");
    }
}
