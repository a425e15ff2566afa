//! Sends Zoom's webhooks, signed as Zoom signs them, so simulated meetings
//! drive qoswatch through its real `POST /webhooks/zoom` endpoint.
//!
//! Payloads follow the shapes of `tests/fixtures/` (Zoom's own examples).
//! As on Zoom, the meeting number `id` is a JSON number in
//! `meeting.started` and `meeting.alert` and a string in
//! `meeting.participant_joined`, `meeting.participant_left` and
//! `meeting.ended`. The event bodies are built in `events` (re-exported
//! here); this file signs and sends them and checks qoswatch's answers.

mod events;

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value as Json;

pub use self::events::{
    meeting_alert_event, meeting_ended_event, meeting_started_event, participant_joined_event,
    participant_left_event, participant_qos_event, url_validation_event,
};
use crate::protocol::{url_validation_token, webhook_signature};
use crate::{MeetingSpec, ParticipantSpec};

/// The status and body qoswatch answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    pub status: u16,
    pub body: String,
}

/// Why a webhook could not be delivered. Never carries the secret.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook target is not a valid http(s) URL")]
    BadUrl,
    #[error("building the HTTP client failed")]
    Client(#[source] reqwest::Error),
    #[error("sending the webhook failed")]
    Send(#[source] reqwest::Error),
    #[error("the url_validation answer is wrong: {0}")]
    BadUrlValidation(BadAnswer),
}

/// How an `endpoint.url_validation` answer differs from what Zoom expects.
/// Never carries the secret or the expected token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadAnswer {
    #[error("status {0}, not 200")]
    Status(u16),
    #[error("the body is not a JSON object with string plainToken and encryptedToken")]
    NotJson,
    #[error("plainToken is not the one sent")]
    WrongPlainToken,
    #[error("encryptedToken is not hex(HMAC-SHA256(secret, plainToken))")]
    WrongEncryptedToken,
}

/// Checks an answer to `endpoint.url_validation` as Zoom does: 200 with
/// `{"plainToken": <the one sent>, "encryptedToken": hex(HMAC-SHA256(secret,
/// plainToken))}`, computed with the simulator's own HMAC
/// ([`url_validation_token`]), not qoswatch's.
pub fn check_url_validation_answer(
    secret: &SecretString,
    plain_token: &str,
    answer: &WebhookResponse,
) -> Result<(), BadAnswer> {
    if answer.status != 200 {
        return Err(BadAnswer::Status(answer.status));
    }
    let body: Json = serde_json::from_str(&answer.body).map_err(|_| BadAnswer::NotJson)?;
    let field = |name: &str| body.get(name).and_then(Json::as_str);
    let (Some(plain), Some(encrypted)) = (field("plainToken"), field("encryptedToken")) else {
        return Err(BadAnswer::NotJson);
    };
    if plain != plain_token {
        return Err(BadAnswer::WrongPlainToken);
    }
    let expected = url_validation_token(secret.expose_secret().as_bytes(), plain_token);
    // Lower-case hex, as Zoom's sample computes it. Whether Zoom accepts
    // upper case is undocumented: the simulator is strict.
    if encrypted != expected {
        return Err(BadAnswer::WrongEncryptedToken);
    }
    Ok(())
}

/// Posts signed Zoom events to one endpoint.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    http: reqwest::Client,
    target_url: reqwest::Url,
    secret: SecretString,
    account_id: String,
}

impl WebhookSender {
    /// `target_url` is qoswatch's webhook endpoint; `secret` the app's Webhook Secret Token.
    pub fn new(target_url: &str, secret: SecretString) -> Result<Self, WebhookError> {
        let target_url = reqwest::Url::parse(target_url).map_err(|_| WebhookError::BadUrl)?;
        if !matches!(target_url.scheme(), "http" | "https") {
            return Err(WebhookError::BadUrl);
        }
        // Zoom gives up after 3 s; so does the sender, with a margin.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent("Zoom Marketplace/1.0a")
            .build()
            .map_err(WebhookError::Client)?;
        Ok(Self {
            http,
            target_url,
            secret,
            account_id: "simAccount0000000000001".into(),
        })
    }

    /// The `payload.account_id` of the events (default: the simulator's
    /// first account). A sender plays one account's app: give it that
    /// account's id here and its Webhook Secret Token to [`new`](Self::new).
    pub fn with_account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = account_id.into();
        self
    }

    /// The `payload.account_id` its events carry.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// `endpoint.url_validation` with this `plainToken`; the answer is not
    /// checked (see [`WebhookSender::check_url_validation`]).
    pub async fn url_validation(&self, plain_token: &str) -> Result<WebhookResponse, WebhookError> {
        self.send(&url_validation_event(plain_token, now_millis()))
            .await
    }

    /// `endpoint.url_validation` with this `plainToken`, and the answer
    /// checked as Zoom checks it ([`check_url_validation_answer`]): a wrong
    /// answer is [`WebhookError::BadUrlValidation`].
    pub async fn check_url_validation(
        &self,
        plain_token: &str,
    ) -> Result<WebhookResponse, WebhookError> {
        let answer = self.url_validation(plain_token).await?;
        check_url_validation_answer(&self.secret, plain_token, &answer)
            .map_err(WebhookError::BadUrlValidation)?;
        Ok(answer)
    }

    pub async fn meeting_started(
        &self,
        meeting: &MeetingSpec,
        start_time: DateTime<Utc>,
    ) -> Result<WebhookResponse, WebhookError> {
        self.send(&meeting_started_event(
            &self.account_id,
            meeting,
            start_time,
            now_millis(),
        ))
        .await
    }

    pub async fn participant_joined(
        &self,
        meeting: &MeetingSpec,
        start_time: DateTime<Utc>,
        participant: &ParticipantSpec,
        join_time: DateTime<Utc>,
    ) -> Result<WebhookResponse, WebhookError> {
        self.send(&participant_joined_event(
            &self.account_id,
            meeting,
            start_time,
            participant,
            join_time,
            now_millis(),
        ))
        .await
    }

    pub async fn participant_left(
        &self,
        meeting: &MeetingSpec,
        start_time: DateTime<Utc>,
        participant: &ParticipantSpec,
        leave_time: DateTime<Utc>,
        leave_reason: &str,
    ) -> Result<WebhookResponse, WebhookError> {
        self.send(&participant_left_event(
            &self.account_id,
            meeting,
            start_time,
            participant,
            leave_time,
            leave_reason,
            now_millis(),
        ))
        .await
    }

    pub async fn meeting_ended(
        &self,
        meeting: &MeetingSpec,
        start_time: DateTime<Utc>,
        end_time: DateTime<Utc>,
    ) -> Result<WebhookResponse, WebhookError> {
        self.send(&meeting_ended_event(
            &self.account_id,
            meeting,
            start_time,
            end_time,
            now_millis(),
        ))
        .await
    }

    /// One meeting's life in one event of each kind, in order: started,
    /// `participant` joined and left, a `meeting.alert`, ended; all at `at`.
    /// For tests that check every event passes (or is shaped right).
    pub async fn one_of_each(
        &self,
        meeting: &MeetingSpec,
        participant: &ParticipantSpec,
        at: DateTime<Utc>,
    ) -> Result<Vec<WebhookResponse>, WebhookError> {
        let left = format!("{} left the meeting.", participant.user_name);
        let issues = ["Unstable audio quality".to_owned()];
        Ok(vec![
            self.meeting_started(meeting, at).await?,
            self.participant_joined(meeting, at, participant, at)
                .await?,
            self.participant_left(meeting, at, participant, at, &left)
                .await?,
            self.meeting_alert(meeting, at, &issues).await?,
            self.meeting_ended(meeting, at, at).await?,
        ])
    }

    /// `meeting.alert` with Zoom's issue strings, e.g. `"Unstable audio quality"`.
    pub async fn meeting_alert(
        &self,
        meeting: &MeetingSpec,
        start_time: DateTime<Utc>,
        issues: &[String],
    ) -> Result<WebhookResponse, WebhookError> {
        self.send(&meeting_alert_event(
            &self.account_id,
            meeting,
            start_time,
            issues,
            now_millis(),
        ))
        .await
    }

    /// A QSS `meeting.participant_qos` (`webinar.participant_qos` for a
    /// webinar) with `samples`, Dashboard-shaped entries such as
    /// [`SimHandle::qss_samples`](crate::SimHandle::qss_samples) gives.
    pub async fn participant_qos(
        &self,
        meeting: &MeetingSpec,
        participant: &ParticipantSpec,
        samples: &[Json],
    ) -> Result<WebhookResponse, WebhookError> {
        self.send(&participant_qos_event(
            &self.account_id,
            meeting,
            participant,
            samples,
            now_millis(),
        ))
        .await
    }

    /// Signs and posts any event body, with Zoom's headers and the current time.
    pub async fn send(&self, event: &Json) -> Result<WebhookResponse, WebhookError> {
        self.send_raw(event.to_string().into_bytes(), Utc::now().timestamp())
            .await
    }

    /// Signs `body` with `timestamp` (unix seconds) and posts it: tests use
    /// it for stale timestamps and exact bytes.
    pub async fn send_raw(
        &self,
        body: Vec<u8>,
        timestamp: i64,
    ) -> Result<WebhookResponse, WebhookError> {
        let timestamp = timestamp.to_string();
        let signature =
            webhook_signature(self.secret.expose_secret().as_bytes(), &timestamp, &body);
        let response = self
            .http
            .post(self.target_url.clone())
            .header("content-type", "application/json; charset=utf-8")
            .header("x-zm-signature", signature)
            .header("x-zm-request-timestamp", &timestamp)
            .header("x-zm-trackingid", tracking_id())
            .body(body)
            .send()
            .await
            .map_err(|e| WebhookError::Send(e.without_url()))?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|e| WebhookError::Send(e.without_url()))?;
        Ok(WebhookResponse { status, body })
    }
}

fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

/// Zoom's tracking id format: `v=2.0;clid=…;rid=WEB_<hex>`.
fn tracking_id() -> String {
    let rid: u128 = rand::rng().random();
    format!("v=2.0;clid=aw1;rid=WEB_{rid:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_validation_answers_are_checked() {
        let secret = SecretString::from("secret".to_owned());
        let answer = |status: u16, body: &str| WebhookResponse {
            status,
            body: body.to_owned(),
        };
        // The vector of protocol::tests, computed with openssl.
        let right = r#"{"plainToken":"plainTokenExample","encryptedToken":"f0aecc05eedd81aa9393250d6dd9cd54d824f0fb3d6dae528571d4585d271218"}"#;
        let check = |response: &WebhookResponse| {
            check_url_validation_answer(&secret, "plainTokenExample", response)
        };
        assert_eq!(check(&answer(200, right)), Ok(()));
        assert_eq!(check(&answer(401, right)), Err(BadAnswer::Status(401)));
        assert_eq!(check(&answer(200, "")), Err(BadAnswer::NotJson));
        assert_eq!(
            check(&answer(200, r#"{"plainToken":"plainTokenExample"}"#)),
            Err(BadAnswer::NotJson)
        );
        assert_eq!(
            check(&answer(200, &right.replace("plainTokenExample", "other"))),
            Err(BadAnswer::WrongPlainToken)
        );
        assert_eq!(
            check(&answer(200, &right.replace("f0aecc05", "00000000"))),
            Err(BadAnswer::WrongEncryptedToken)
        );
        // Upper-case hex is not what Zoom expects.
        assert_eq!(
            check(&answer(200, &right.replace("f0aecc05", "F0AECC05"))),
            Err(BadAnswer::WrongEncryptedToken)
        );
        let other_secret = SecretString::from("other".to_owned());
        assert_eq!(
            check_url_validation_answer(&other_secret, "plainTokenExample", &answer(200, right)),
            Err(BadAnswer::WrongEncryptedToken)
        );
    }

    #[test]
    fn a_bad_target_url_is_refused() {
        let secret = SecretString::from("s".to_owned());
        assert!(matches!(
            WebhookSender::new("not a url", secret.clone()),
            Err(WebhookError::BadUrl)
        ));
        assert!(matches!(
            WebhookSender::new("ftp://example.com/x", secret),
            Err(WebhookError::BadUrl)
        ));
    }
}
