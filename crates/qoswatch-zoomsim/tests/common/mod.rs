//! Helpers shared by the simulator's integration tests: a simulator on
//! 127.0.0.1:0, a plain HTTP client speaking to it as a Zoom API client
//! would, and a webhook receiver that records what it gets.
//!
//! Meeting path segments are written out literally, from Zoom's rule in
//! `docs/ZOOM.md`, so that these tests depend on no encoder of their own.

#![allow(dead_code)]

use std::time::Duration;

use qoswatch_zoomsim::{MeetingSpec, ParticipantSpec, SimConfig, SimHandle, Simulator};
use secrecy::ExposeSecret;
use serde_json::Value as Json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A UUID that needs no double encoding…
pub const PLAIN_UUID: &str = "4444AAAiAAAAAiAiAiiAii==";
/// …encoded once as a path segment.
pub const PLAIN_SEGMENT: &str = "4444AAAiAAAAAiAiAiiAii%3D%3D";
/// A UUID that starts with `/` and contains `//`: Zoom wants it encoded twice…
pub const GUEST_UUID: &str = "/gsqg0HKxTQ2Tx//SVAxE9+0w==";
/// …like this…
pub const GUEST_TWICE: &str = "%252Fgsqg0HKxTQ2Tx%252F%252FSVAxE9%252B0w%253D%253D";
/// …and answers 3001 when it is encoded once.
pub const GUEST_ONCE: &str = "%2Fgsqg0HKxTQ2Tx%2F%2FSVAxE9%2B0w%3D%3D";

pub fn fixture(name: &str) -> Json {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture json")
}

pub async fn start(config: SimConfig) -> SimHandle {
    Simulator::start(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator starts")
}

/// A simulator with one-minute periods starting at `start_at`, for paused time.
pub async fn start_paused_sim(start_at: chrono::DateTime<chrono::Utc>) -> SimHandle {
    start(SimConfig {
        sample_period: Duration::from_secs(60),
        clock_start: Some(start_at),
        ..SimConfig::default()
    })
    .await
}

/// No pooled connections: an idle pool keeps a timer, and paused-time tests
/// must not have tokio's clock jump to it.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// A fresh access token with the simulator's (first account's) credentials.
pub async fn token(sim: &SimHandle, http: &reqwest::Client) -> String {
    token_with(sim, http, sim.credentials()).await
}

/// A fresh access token of the account whose app `credentials` are.
pub async fn token_with(
    sim: &SimHandle,
    http: &reqwest::Client,
    credentials: &qoswatch_zoomsim::SimCredentials,
) -> String {
    let response = http
        .post(sim.token_url())
        .basic_auth(
            &credentials.client_id,
            Some(credentials.client_secret.expose_secret()),
        )
        .form(&[
            ("grant_type", "account_credentials"),
            ("account_id", credentials.account_id.as_str()),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200);
    let body: Json = response.json().await.expect("token json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

pub fn qos_url(sim: &SimHandle, meeting_segment: &str, user_id: &str) -> String {
    format!(
        "{}/metrics/meetings/{meeting_segment}/participants/{user_id}/qos?type=live",
        sim.api_base()
    )
}

/// GET with a bearer token: status, headers and the body as JSON (or as a
/// JSON string when it is not JSON).
pub async fn get(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> (u16, reqwest::header::HeaderMap, Json) {
    let response = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Json::String(text));
    (status, headers, body)
}

/// Ann (user id `1`) in a live meeting with [`PLAIN_UUID`]; the URL of her
/// QoS. The most common starting point.
pub fn ann_in_a_meeting(sim: &SimHandle) -> String {
    sim.add_meeting(meeting(PLAIN_UUID)).expect("meeting");
    sim.add_participant(PLAIN_UUID, ParticipantSpec::new("1", "Ann"))
        .expect("join");
    qos_url(sim, PLAIN_SEGMENT, "1")
}

/// The `date_time` of each sample of a participant object.
pub fn sample_times(participant: &Json) -> Vec<&str> {
    participant["user_qos"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|s| s["date_time"].as_str().expect("date_time"))
        .collect()
}

pub fn meeting(uuid: &str) -> MeetingSpec {
    MeetingSpec::new(uuid, 1_234_567_890, "Weekly sync")
}

/// The number a QoS figure shows in Zoom's string formats: `"420 ms"`,
/// `"12.5%"`, `"1055 kbps"`.
pub fn number(figure: &Json) -> f64 {
    let text = figure.as_str().expect("a string figure");
    let digits: String = text
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits.parse().expect("a number")
}

/// What the receiver saw.
#[derive(Debug)]
pub struct Received {
    /// The path posted to: `/webhooks/zoom` or `/webhooks/zoom/{account}`.
    pub path: String,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

/// A webhook receiver on 127.0.0.1:0 that records every request to
/// `/webhooks/zoom` (and `/webhooks/zoom/{account}`) and answers `status`
/// with `body`. Returns the URL of `/webhooks/zoom`, the recorded requests
/// and the token that stops it.
pub async fn start_receiver(
    status: u16,
    body: &'static str,
) -> (String, mpsc::UnboundedReceiver<Received>, CancellationToken) {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};

    type Reply = (StatusCode, &'static str);
    async fn hook(
        State((seen, reply)): State<(mpsc::UnboundedSender<Received>, Reply)>,
        uri: axum::http::Uri,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> Reply {
        let _ = seen.send(Received {
            path: uri.path().to_owned(),
            headers,
            body: body.to_vec(),
        });
        reply
    }

    let (tx, rx) = mpsc::unbounded_channel();
    let reply = (StatusCode::from_u16(status).expect("status"), body);
    let router = axum::Router::new()
        .route("/webhooks/zoom", axum::routing::post(hook))
        .route("/webhooks/zoom/{account}", axum::routing::post(hook))
        .with_state((tx, reply));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/webhooks/zoom",
        listener.local_addr().expect("addr")
    );
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .expect("receiver");
    });
    (url, rx, cancel)
}
