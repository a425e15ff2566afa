//! The Microsoft Teams channel kind (`type: teams`): a Workflows webhook
//! ("When a Teams webhook request is received"; the Office 365 connectors
//! are retired) takes a message with one Adaptive Card attachment
//! (<https://adaptivecards.io/explorer/>, schema 1.4, what Teams renders).
//! The title's colour is the severity (`Attention` critical, `Warning`
//! warning, `Good` resolved), the facts are the Slack message's, the
//! runbook and the status page are buttons. A message stays under Teams'
//! 28 KB limit (a big group shows its first alerts and counts the rest) and
//! the channel is paced under Teams' rate (four requests a second per
//! webhook) at one message a second.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::channel::{Context, Deliver};
use super::http::{WebhookUrl, post_json};
use super::message::{
    Notification, Phase, call_label, facts, meeting_with_id, one_line, participant_text,
    truncate_chars,
};
use super::metrics::ChannelKind;
use super::{DeliveryError, NotifyError};
use qoswatch_core::alert::{AlertEvent, Severity};

/// The label of Teams channels in metrics.
pub const KIND: ChannelKind = ChannelKind::new("teams");

/// Teams refuses messages over 28 KB; keep a margin for what Power Automate adds.
pub const MAX_MESSAGE_BYTES: usize = 27 * 1024;
/// Longest text of one block or fact: a single alert always fits.
pub const MAX_TEXT: usize = 2000;
/// Least time between two messages to one webhook.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

fn text_block(text: &str) -> Value {
    json!({"type": "TextBlock", "text": truncate_chars(text, MAX_TEXT), "wrap": true})
}

fn fact_set(event: &AlertEvent, phase: Phase, show_email: bool, with_meeting: bool) -> Value {
    let facts: Vec<Value> = facts(event, phase, show_email, with_meeting)
        .into_iter()
        .map(|(title, value)| json!({"title": title, "value": truncate_chars(&one_line(&value), MAX_TEXT)}))
        .collect();
    json!({"type": "FactSet", "facts": facts})
}

/// The title's colour: the severity, or `Good` once cleared.
fn colour(notification: &Notification) -> &'static str {
    match notification.phase {
        Phase::Resolved => "Good",
        Phase::Problem => match notification.events.iter().map(|e| e.severity).max() {
            Some(Severity::Critical) => "Attention",
            _ => "Warning",
        },
    }
}

fn title(notification: &Notification) -> String {
    let headline = if notification.events.len() == 1 {
        format!(
            "{}: {}",
            notification.tag(),
            one_line(&notification.first().summary)
        )
    } else {
        notification.headline()
    };
    json_title(&headline)
}

fn json_title(text: &str) -> String {
    truncate_chars(&one_line(text), 300)
}

fn http_link(url: Option<&str>) -> Option<&str> {
    url.map(str::trim)
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

/// The card's body for `shown` alerts of the notification.
fn body(notification: &Notification, show_email: bool, shown: usize) -> Vec<Value> {
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": title(notification),
        "weight": "Bolder",
        "size": "Medium",
        "color": colour(notification),
        "wrap": true,
    })];
    let event = notification.first();
    if notification.events.len() == 1 {
        let intro = match notification.phase {
            Phase::Problem => format!(
                "{} in {}",
                participant_text(event, show_email),
                meeting_with_id(&event.meeting)
            ),
            Phase::Resolved => format!(
                "Cleared for {} in {}",
                participant_text(event, show_email),
                meeting_with_id(&event.meeting)
            ),
        };
        body.push(text_block(&intro));
        body.push(fact_set(event, notification.phase, show_email, true));
    } else {
        let mut intro = format!(
            "{}: {}",
            call_label(&notification.meeting),
            meeting_with_id(&notification.meeting)
        );
        if let Some(cause) = &notification.shared_cause {
            intro.push_str(&format!(
                "\n\nLikely shared cause: {}",
                cause.describe(notification.participant_count())
            ));
        }
        body.push(text_block(&intro));
        for event in notification.events.iter().take(shown) {
            body.push(json!({
                "type": "Container",
                "separator": true,
                "items": [
                    {"type": "TextBlock", "weight": "Bolder", "wrap": true, "text": truncate_chars(
                        &format!("{} — {}", one_line(&event.summary), participant_text(event, show_email)),
                        MAX_TEXT)},
                    fact_set(event, notification.phase, show_email, false),
                ],
            }));
        }
        if shown < notification.events.len() {
            body.push(text_block(&format!(
                "… and {} more alerts in this meeting.",
                notification.events.len() - shown
            )));
        }
    }
    body.push(json!({
        "type": "TextBlock",
        "text": truncate_chars(&format!("qoswatch · meeting UUID {}", notification.meeting.uuid), MAX_TEXT),
        "isSubtle": true,
        "size": "Small",
        "wrap": true,
    }));
    body
}

fn actions(notification: &Notification, page_url: Option<&str>) -> Vec<Value> {
    let mut actions = Vec::new();
    let runbook = notification
        .events
        .iter()
        .find_map(|event| http_link(event.runbook.as_deref()));
    if let Some(runbook) = runbook {
        actions.push(json!({"type": "Action.OpenUrl", "title": "Runbook", "url": runbook}));
    }
    if let Some(page) = http_link(page_url) {
        actions.push(json!({"type": "Action.OpenUrl", "title": "Status page", "url": page}));
    }
    actions
}

fn message(card_body: Vec<Value>, actions: Vec<Value>) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": card_body,
                "actions": actions,
            },
        }],
    })
}

/// Renders a notification as a Workflows webhook message under
/// [`MAX_MESSAGE_BYTES`]: as many of a group's alerts as fit.
pub fn render(notification: &Notification, show_email: bool, page_url: Option<&str>) -> Value {
    let actions = actions(notification, page_url);
    let mut shown = notification.events.len();
    loop {
        let rendered = message(body(notification, show_email, shown), actions.clone());
        if shown == 0 || rendered.to_string().len() <= MAX_MESSAGE_BYTES {
            return rendered;
        }
        shown = shown * 3 / 4;
    }
}

/// Delivers to one Teams Workflows webhook.
#[derive(Debug)]
pub struct TeamsChannel {
    url: WebhookUrl,
    show_email: bool,
    page_url: Option<String>,
    client: reqwest::Client,
}

/// `type: teams`: the webhook URL from environment variable `webhook_url_env`.
pub(super) fn build(
    context: &Context<'_>,
    webhook_url_env: &str,
    show_email: bool,
) -> Result<Box<dyn Deliver>, NotifyError> {
    let value = context.secret_env("webhook_url_env", webhook_url_env)?;
    Ok(Box::new(TeamsChannel {
        url: WebhookUrl::parse(webhook_url_env, &value)?,
        show_email,
        page_url: context.clients.settings.page_url.clone(),
        client: context.clients.http.clone(),
    }))
}

impl Deliver for TeamsChannel {
    fn kind(&self) -> ChannelKind {
        KIND
    }

    fn min_interval(&self) -> Option<Duration> {
        Some(MIN_INTERVAL)
    }

    fn deliver<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let payload = render(notification, self.show_email, self.page_url.as_deref());
            post_json(&self.client, &self.url, &payload).await
        })
    }
}
