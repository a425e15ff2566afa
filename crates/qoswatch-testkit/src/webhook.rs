//! Signed webhooks as Zoom sends them, signed by the simulator's own
//! implementation of Zoom's signature (`qoswatch_zoomsim::protocol`), never
//! by qoswatch's.

use qoswatch_zoomsim::protocol::webhook_signature;

/// Now, in Unix seconds (the `x-zm-request-timestamp` of a fresh webhook).
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `x-zm-signature` of `body` signed with `secret` at `timestamp`.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    webhook_signature(secret.as_bytes(), timestamp, body)
}

/// A webhook endpoint and the secret its webhooks are signed with.
#[derive(Debug, Clone)]
pub struct Webhooks {
    pub url: String,
    pub secret: String,
    /// An `x-zm-trackingid` to send, as Zoom does (`None`: no header).
    pub tracking_id: Option<String>,
}

impl Webhooks {
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> Webhooks {
        Webhooks {
            url: url.into(),
            secret: secret.into(),
            tracking_id: None,
        }
    }

    /// Sends `x-zm-trackingid: id` with every webhook.
    pub fn with_tracking_id(mut self, id: &str) -> Webhooks {
        self.tracking_id = Some(id.to_owned());
        self
    }

    /// The request of `body` signed with `secret` at `timestamp` (Unix
    /// seconds), ready to send.
    pub fn request_signed(
        &self,
        http: &reqwest::Client,
        body: &str,
        secret: &str,
        timestamp: i64,
    ) -> reqwest::RequestBuilder {
        let timestamp = timestamp.to_string();
        let signature = signature(secret, &timestamp, body.as_bytes());
        let mut request = http
            .post(&self.url)
            .header("content-type", "application/json; charset=utf-8")
            .header("x-zm-signature", signature)
            .header("x-zm-request-timestamp", timestamp);
        if let Some(id) = &self.tracking_id {
            request = request.header("x-zm-trackingid", id);
        }
        request.body(body.to_owned())
    }

    /// POSTs `body` signed with `secret` at `timestamp` (a wrong secret or an
    /// old timestamp for the refusal tests).
    pub async fn post_signed(
        &self,
        http: &reqwest::Client,
        body: &str,
        secret: &str,
        timestamp: i64,
    ) -> reqwest::Response {
        self.request_signed(http, body, secret, timestamp)
            .send()
            .await
            .expect("request sent")
    }

    /// POSTs `body` correctly signed, now.
    pub async fn post(&self, http: &reqwest::Client, body: &str) -> reqwest::Response {
        self.post_signed(http, body, &self.secret, now_unix()).await
    }
}
