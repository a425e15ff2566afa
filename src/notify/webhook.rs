//! The signed webhook channel kind (`type: webhook`): qoswatch's alert JSON
//! (documented in docs/API.md, versioned by `data.version`) POSTed to any
//! URL and signed the Standard Webhooks way
//! (<https://www.standardwebhooks.com/>, `spec/standard-webhooks.md`), so a
//! receiver verifies it with an off-the-shelf library:
//!
//! - `webhook-id`: the message's id, the same for every attempt of one
//!   message (receivers deduplicate on it);
//! - `webhook-timestamp`: seconds since the epoch of this attempt;
//! - `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of
//!   `{id}.{timestamp}.{body}` under the secret, which is `whsec_` and
//!   base64 (the secret's bytes are the decoded base64).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use futures_util::future::BoxFuture;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::channel::{Context, Deliver};
use super::http::{WebhookUrl, post_body};
use super::message::{Notification, Phase};
use super::metrics::ChannelKind;
use super::{DeliveryError, NotifyError};
use qoswatch_core::alert::{AlertEvent, AlertStatus};

/// The label of signed-webhook channels in metrics.
pub const KIND: ChannelKind = ChannelKind::new("webhook");

/// The version of the JSON in `data` (`data.version`): raised only when a
/// field changes meaning or goes away; new fields may appear in any version.
pub const PAYLOAD_VERSION: u32 = 1;

/// The spec's advice: secrets of 24 to 64 random bytes.
pub const MIN_SECRET_BYTES: usize = 24;

/// A Standard Webhooks signing secret (the bytes, decoded).
pub struct SigningKey(SecretSlice<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// Reads `whsec_<base64>` (the prefix is optional, as in the reference
    /// libraries). The error says what is wrong, never the value.
    pub fn parse(value: &str) -> Result<SigningKey, &'static str> {
        let value = value.trim();
        let encoded = value.strip_prefix("whsec_").unwrap_or(value);
        let bytes = BASE64
            .decode(encoded)
            .map_err(|_| "is not a Standard Webhooks secret (`whsec_` and base64)")?;
        if bytes.len() < MIN_SECRET_BYTES {
            return Err("is too short: a secret needs at least 24 random bytes (base64)");
        }
        Ok(SigningKey(bytes.into()))
    }

    /// The `webhook-signature` value of `body` sent as message `id` at
    /// `timestamp` (seconds since the epoch).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

/// The message id: derived from the body, so every attempt of one message
/// carries the same id and two different messages never share one.
pub fn message_id(body: &[u8]) -> String {
    format!("msg_{}", &hex::encode(Sha256::digest(body))[..32])
}

fn status(status: AlertStatus) -> &'static str {
    match status {
        AlertStatus::Firing => "firing",
        AlertStatus::Repeat => "repeat",
        AlertStatus::Resolved => "resolved",
    }
}

fn alert(event: &AlertEvent, show_email: bool) -> Value {
    let participant = event.participant.as_ref().map(|p| {
        json!({
            "user_id": p.user_id,
            "name": p.name,
            "email": if show_email { p.email.clone() } else { None },
            "device": p.device,
            "location": p.location,
            "network_type": p.network_type,
        })
    });
    json!({
        "key": event.key.as_str(),
        "status": status(event.status),
        "severity": event.severity.as_str(),
        "previous_severity": event.previous_severity.map(|s| s.as_str()),
        "rule": event.rule,
        "summary": event.summary,
        "runbook": event.runbook,
        "metric": event.metric,
        "stream": event.stream,
        "value": event.value,
        "threshold": event.threshold,
        "started_at": event.started_at.to_rfc3339(),
        "at": event.at.to_rfc3339(),
        "participant": participant,
    })
}

/// The message body (docs/API.md, "Signed webhook"): Standard Webhooks'
/// recommended envelope `{type, timestamp, data}`.
pub fn render(notification: &Notification, show_email: bool, page_url: Option<&str>) -> Value {
    let kind = match notification.phase {
        Phase::Problem => "qoswatch.alert.firing",
        Phase::Resolved => "qoswatch.alert.resolved",
    };
    let at = notification
        .events
        .iter()
        .map(|event| event.at)
        .max()
        .unwrap_or(notification.first().at);
    json!({
        "type": kind,
        "timestamp": at.to_rfc3339(),
        "data": {
            "version": PAYLOAD_VERSION,
            "status": notification.tag(),
            "headline": notification.headline(),
            "meeting": {
                "uuid": notification.meeting.uuid,
                "id": notification.meeting.id,
                "kind": notification.meeting.kind.as_str(),
                "account": notification.meeting.account.as_str(),
                "topic": notification.meeting.topic,
            },
            "shared_cause": notification
                .shared_cause
                .as_ref()
                .map(|cause| cause.describe(notification.participant_count())),
            "page_url": page_url,
            "alerts": notification.events.iter().map(|e| alert(e, show_email)).collect::<Vec<_>>(),
        }
    })
}

/// Delivers to one URL, signed.
#[derive(Debug)]
pub struct WebhookChannel {
    url: WebhookUrl,
    key: SigningKey,
    show_email: bool,
    page_url: Option<String>,
    client: reqwest::Client,
}

/// `type: webhook`: the URL from environment variable `url_env`, the
/// signing secret from `secret_env`.
pub(super) fn build(
    context: &Context<'_>,
    url_env: &str,
    secret_env: &str,
    show_email: bool,
) -> Result<Box<dyn Deliver>, NotifyError> {
    let url = WebhookUrl::parse(url_env, &context.secret_env("url_env", url_env)?)?;
    let key = SigningKey::parse(&context.secret_env("secret_env", secret_env)?)
        .map_err(|reason| context.invalid_secret("secret_env", secret_env, reason))?;
    Ok(Box::new(WebhookChannel {
        url,
        key,
        show_email,
        page_url: context.clients.settings.page_url.clone(),
        client: context.clients.http.clone(),
    }))
}

impl Deliver for WebhookChannel {
    fn kind(&self) -> ChannelKind {
        KIND
    }

    fn deliver<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let body = render(notification, self.show_email, self.page_url.as_deref())
                .to_string()
                .into_bytes();
            let id = message_id(&body);
            let timestamp = Utc::now().timestamp();
            let signature = self.key.sign(&id, timestamp, &body);
            let headers = vec![
                ("webhook-id", id),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature),
            ];
            post_body(&self.client, &self.url, body, headers).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries' tests and
    /// documentation (secret, id, timestamp, body → signature).
    #[test]
    fn signs_the_published_example() {
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            key.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        // Without the prefix: the same key.
        let bare = SigningKey::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            bare.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn each_part_of_the_signed_content_matters() {
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let base = key.sign("msg_1", 1614265330, b"{}");
        assert_ne!(base, key.sign("msg_2", 1614265330, b"{}"));
        assert_ne!(base, key.sign("msg_1", 1614265331, b"{}"));
        assert_ne!(base, key.sign("msg_1", 1614265330, b"{ }"));
        // "msg_1" "." "1614265330" is not "msg_1." "1614265330".
        assert_ne!(base, key.sign("msg_1.", 1614265330, b"{}"));
    }

    #[test]
    fn secrets_must_be_base64_and_long_enough_and_never_shown() {
        assert!(SigningKey::parse("whsec_not base64!").is_err());
        // 18 bytes: too short.
        assert!(SigningKey::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAA").is_err());
        // 24 bytes: enough.
        assert!(SigningKey::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").is_ok());
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(format!("{key:?}"), "SigningKey(<redacted>)");
    }

    #[test]
    fn message_ids_follow_the_body() {
        assert_eq!(message_id(b"a"), message_id(b"a"));
        assert_ne!(message_id(b"a"), message_id(b"b"));
        assert_eq!(message_id(b"a").len(), 4 + 32);
    }
}
