//! Delivery to an HTTP endpoint that takes JSON (a Slack incoming webhook
//! today; Teams, PagerDuty or a generic webhook tomorrow): the endpoint's
//! URL as a secret, one POST, and the answer classified into transient
//! (with the server's `Retry-After`) and permanent.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::message::{one_line, truncate_chars};
use super::{DeliveryError, NotifyError};

/// A webhook URL: a secret, never shown in `Debug`, logs or errors.
#[derive(Clone)]
pub struct WebhookUrl(SecretString);

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookUrl(<redacted>)")
    }
}

impl WebhookUrl {
    /// A plain address from the rules file (`url:` of a channel: not a
    /// secret, so errors may name the key).
    pub fn setting(channel: &str, key: &str, value: &str) -> Result<WebhookUrl, NotifyError> {
        WebhookUrl::parse(key, value).map_err(|_| NotifyError::InvalidChannel {
            channel: channel.to_owned(),
            reason: format!("`{key}` is not a valid http(s) address"),
        })
    }

    /// Checks the value read from environment variable `variable`. Errors name
    /// the variable, never the value.
    pub fn parse(variable: &str, value: &str) -> Result<WebhookUrl, NotifyError> {
        let value = value.trim();
        match reqwest::Url::parse(value) {
            Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => {
                Ok(WebhookUrl(SecretString::from(value.to_string())))
            }
            _ => Err(NotifyError::InvalidWebhookUrl {
                variable: variable.to_string(),
            }),
        }
    }
}

/// POSTs `payload` to `url`; a 2xx answer is delivered, anything else is
/// classified by [`classify`]. Errors never carry the URL.
pub async fn post_json(
    client: &reqwest::Client,
    url: &WebhookUrl,
    payload: &Value,
) -> Result<(), DeliveryError> {
    post_body(client, url, payload.to_string().into_bytes(), Vec::new()).await
}

/// POSTs `body` (JSON, already serialised: a signature covers these exact
/// bytes) with extra `headers`; answers as [`post_json`].
pub async fn post_body(
    client: &reqwest::Client,
    url: &WebhookUrl,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
) -> Result<(), DeliveryError> {
    let mut request = client
        .post(url.0.expose_secret())
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|error| DeliveryError::Transient {
            retry_after: None,
            reason: describe_reqwest_error(&error),
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(retry_after_secs);
    // Slack answers with a short error code such as `channel_not_found`;
    // keep it short and single-line so it is safe to log.
    let body = response.text().await.unwrap_or_default();
    let code = truncate_chars(&one_line(&body), 80);
    Err(classify(status, retry_after, code))
}

/// The longest `Retry-After` that qoswatch honours.
const MAX_RETRY_AFTER_SECS: u64 = 15 * 60;

/// A `Retry-After` header in seconds. A nonsense value must not stall the
/// channel for days (or overflow a deadline): real waits are seconds.
fn retry_after_secs(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .map(|seconds| Duration::from_secs(seconds.min(MAX_RETRY_AFTER_SECS)))
}

/// The server's answer → what to do with the message.
pub fn classify(status: StatusCode, retry_after: Option<Duration>, code: String) -> DeliveryError {
    let reason = if code.is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        format!("HTTP {} {code}", status.as_u16())
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        DeliveryError::Transient {
            retry_after: Some(retry_after.unwrap_or(Duration::from_secs(1))),
            reason,
        }
    } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        DeliveryError::Transient {
            retry_after,
            reason,
        }
    } else {
        // invalid_payload, channel_not_found, channel_is_archived, no_service,
        // action_prohibited, … : sending the same message again cannot help.
        DeliveryError::Permanent { reason }
    }
}

/// A reqwest error without its URL (the URL is the secret).
fn describe_reqwest_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".to_string()
    } else if error.is_connect() {
        "connection failed".to_string()
    } else if error.is_body() || error.is_decode() {
        "reading the answer failed".to_string()
    } else {
        "request failed".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_slack_answers() {
        let c = |status: u16, retry: Option<u64>| {
            classify(
                StatusCode::from_u16(status).unwrap(),
                retry.map(Duration::from_secs),
                "x".into(),
            )
        };
        assert!(matches!(
            c(429, Some(7)),
            DeliveryError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(7)
        ));
        assert!(matches!(c(500, None), DeliveryError::Transient { .. }));
        assert!(matches!(c(503, None), DeliveryError::Transient { .. }));
        assert!(matches!(c(404, None), DeliveryError::Permanent { .. }));
        assert!(matches!(c(400, None), DeliveryError::Permanent { .. }));
        assert!(matches!(c(410, None), DeliveryError::Permanent { .. }));
    }

    #[test]
    fn a_429_without_retry_after_waits_a_second_and_reasons_carry_the_code() {
        let error = classify(StatusCode::TOO_MANY_REQUESTS, None, String::new());
        assert_eq!(
            error,
            DeliveryError::Transient {
                retry_after: Some(Duration::from_secs(1)),
                reason: "HTTP 429".into()
            }
        );
        let error = classify(StatusCode::REQUEST_TIMEOUT, None, "slow".into());
        assert_eq!(
            error,
            DeliveryError::Transient {
                retry_after: None,
                reason: "HTTP 408 slow".into()
            }
        );
    }

    #[test]
    fn retry_after_is_seconds_capped_at_fifteen_minutes() {
        assert_eq!(retry_after_secs(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(retry_after_secs("900"), Some(Duration::from_secs(900)));
        assert_eq!(retry_after_secs("901"), Some(Duration::from_secs(900)));
        assert_eq!(
            retry_after_secs("99999999999"),
            Some(Duration::from_secs(900))
        );
        assert_eq!(retry_after_secs("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(retry_after_secs("-1"), None);
    }

    #[test]
    fn webhook_url_errors_name_the_variable_only() {
        let error = WebhookUrl::parse("SLACK_URL", "not a url secret-123").unwrap_err();
        let text = error.to_string();
        assert!(text.contains("SLACK_URL"));
        assert!(!text.contains("secret-123"));
        let url = WebhookUrl::parse("SLACK_URL", "https://hooks.slack.test/T/B/secret").unwrap();
        assert!(!format!("{url:?}").contains("secret"));
        assert!(WebhookUrl::parse("V", "ftp://host/x").is_err());
        assert!(WebhookUrl::parse("V", "https://").is_err());
    }
}
