//! Checks of what the channels send against the receivers' published
//! formats, written from their documents (not from qoswatch's code):
//! - Microsoft Teams: a Workflows webhook message whose one attachment is an
//!   Adaptive Card, schema 1.x (<https://adaptivecards.io/explorer/>: the
//!   elements, their required properties and enumerations), under 28 KB;
//! - PagerDuty Events API v2 (<https://developer.pagerduty.com/docs/events-api-v2/trigger-events/>):
//!   required fields, enumerations and limits;
//! - Standard Webhooks: verified by Python's `standardwebhooks` package.

use std::io::Write as _;

use serde_json::Value;

/// Teams refuses messages over 28 KB.
pub const TEAMS_MAX_BYTES: usize = 28 * 1024;

fn check_keys(element: &Value, allowed: &[&str], what: &str) {
    for key in element.as_object().expect("an object").keys() {
        assert!(
            allowed.contains(&key.as_str()),
            "{what}: property `{key}` is not in the Adaptive Card 1.x schema"
        );
    }
}

fn one_of(value: &Value, allowed: &[&str], what: &str) {
    if !value.is_null() {
        let text = value
            .as_str()
            .unwrap_or_else(|| panic!("{what} is a string"));
        assert!(
            allowed.contains(&text),
            "{what} `{text}` not in {allowed:?}"
        );
    }
}

fn element(element: &Value) {
    let kind = element["type"].as_str().expect("element type");
    match kind {
        "TextBlock" => {
            check_keys(
                element,
                &[
                    "type",
                    "text",
                    "color",
                    "fontType",
                    "horizontalAlignment",
                    "isSubtle",
                    "maxLines",
                    "size",
                    "weight",
                    "wrap",
                    "style",
                    "id",
                    "spacing",
                    "separator",
                    "isVisible",
                    "height",
                ],
                "TextBlock",
            );
            assert!(element["text"].is_string(), "TextBlock.text is required");
            one_of(
                &element["color"],
                &[
                    "Default",
                    "Dark",
                    "Light",
                    "Accent",
                    "Good",
                    "Warning",
                    "Attention",
                ],
                "TextBlock.color",
            );
            one_of(
                &element["size"],
                &["Default", "Small", "Medium", "Large", "ExtraLarge"],
                "TextBlock.size",
            );
            one_of(
                &element["weight"],
                &["Default", "Lighter", "Bolder"],
                "TextBlock.weight",
            );
            for flag in ["wrap", "isSubtle", "separator"] {
                assert!(
                    element[flag].is_null() || element[flag].is_boolean(),
                    "{flag}"
                );
            }
        }
        "FactSet" => {
            check_keys(
                element,
                &["type", "facts", "id", "spacing", "separator"],
                "FactSet",
            );
            let facts = element["facts"]
                .as_array()
                .expect("FactSet.facts is required");
            for fact in facts {
                check_keys(fact, &["title", "value"], "Fact");
                assert!(
                    fact["title"].is_string() && fact["value"].is_string(),
                    "{fact}"
                );
            }
        }
        "Container" => {
            check_keys(
                element,
                &[
                    "type",
                    "items",
                    "style",
                    "separator",
                    "spacing",
                    "id",
                    "bleed",
                ],
                "Container",
            );
            for item in element["items"]
                .as_array()
                .expect("Container.items is required")
            {
                self::element(item);
            }
        }
        other => panic!("element type `{other}` not expected"),
    }
}

/// A Workflows webhook message with one Adaptive Card 1.x attachment.
pub fn teams_message(raw: &[u8], message: &Value) {
    assert!(raw.len() < TEAMS_MAX_BYTES, "{} bytes", raw.len());
    assert_eq!(message["type"], "message");
    let attachments = message["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 1);
    let attachment = &attachments[0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    let version = card["version"]
        .as_str()
        .expect("AdaptiveCard.version is required");
    let (major, minor) = version.split_once('.').expect("version is major.minor");
    assert_eq!(major, "1");
    // Teams renders up to 1.5.
    assert!(minor.parse::<u32>().unwrap() <= 5, "{version}");
    check_keys(
        card,
        &[
            "type",
            "version",
            "$schema",
            "body",
            "actions",
            "msteams",
            "fallbackText",
            "lang",
        ],
        "AdaptiveCard",
    );
    for item in card["body"].as_array().expect("body") {
        element(item);
    }
    for action in card["actions"].as_array().into_iter().flatten() {
        assert_eq!(action["type"], "Action.OpenUrl");
        check_keys(
            action,
            &["type", "title", "url", "id", "style"],
            "Action.OpenUrl",
        );
        let url = action["url"]
            .as_str()
            .expect("Action.OpenUrl.url is required");
        assert!(
            url.starts_with("https://") || url.starts_with("http://"),
            "{url}"
        );
    }
}

/// One Events API v2 event.
pub fn pagerduty_event(event: &Value, routing_key: &str) {
    assert_eq!(event["routing_key"], routing_key);
    let action = event["event_action"].as_str().expect("event_action");
    assert!(
        ["trigger", "acknowledge", "resolve"].contains(&action),
        "{action}"
    );
    let dedup_key = event["dedup_key"].as_str().expect("dedup_key");
    assert!(
        !dedup_key.is_empty() && dedup_key.len() <= 255,
        "{dedup_key}"
    );
    if action != "trigger" {
        return;
    }
    let payload = &event["payload"];
    let summary = payload["summary"]
        .as_str()
        .expect("payload.summary is required");
    assert!(!summary.is_empty() && summary.chars().count() <= 1024);
    assert!(
        !payload["source"]
            .as_str()
            .expect("payload.source")
            .is_empty()
    );
    one_of(
        &payload["severity"],
        &["critical", "error", "warning", "info"],
        "payload.severity",
    );
    assert!(
        payload["severity"].is_string(),
        "payload.severity is required"
    );
    if let Some(timestamp) = payload["timestamp"].as_str() {
        chrono::DateTime::parse_from_rfc3339(timestamp).expect("ISO 8601 timestamp");
    }
    for key in ["component", "group", "class"] {
        assert!(payload[key].is_null() || payload[key].is_string(), "{key}");
    }
    assert!(payload["custom_details"].is_object() || payload["custom_details"].is_null());
    for link in event["links"].as_array().into_iter().flatten() {
        assert!(link["href"].is_string(), "links[].href is required");
    }
    assert!(
        event.to_string().len() < 512 * 1024,
        "PagerDuty takes up to 512 KB"
    );
}

/// Verifies a Standard Webhooks signature with Python's `standardwebhooks`
/// package (an implementation that shares nothing with qoswatch's).
/// Returns Python's verdict: `Ok` or its error.
pub fn standard_webhooks_verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
) -> Result<(), String> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(body).unwrap();
    let script = r#"
import os, sys
from standardwebhooks.webhooks import Webhook
body = open(sys.argv[1], "rb").read()
headers = {"webhook-id": os.environ["ID"], "webhook-timestamp": os.environ["TS"],
           "webhook-signature": os.environ["SIG"]}
try:
    Webhook(os.environ["SECRET"]).verify(body, headers)
except Exception as error:
    print(type(error).__name__, error)
    sys.exit(3)
"#;
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(file.path())
        .env("SECRET", secret)
        .env("ID", id)
        .env("TS", timestamp)
        .env("SIG", signature)
        .output()
        .expect("python3 runs (.ci/run installs it)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "Python's standardwebhooks is missing: `python3 -m pip install standardwebhooks` (.ci/run does)"
    );
    match output.status.code() {
        Some(0) => Ok(()),
        Some(3) => Err(String::from_utf8_lossy(&output.stdout).into_owned()),
        _ => panic!("python3 failed: {stderr}"),
    }
}
