//! `spawn_app()`: qoswatch on 127.0.0.1:0 with every outside service pointed
//! at a loopback server.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;

use qoswatch::config::Settings;
use qoswatch::startup::{Application, Extras};
use qoswatch::watch::Monitor;
use qoswatch_testkit::{Webhooks, metric_value};
use qoswatch_zoomsim::{MeetingSpec, ParticipantSpec, SimConfig, SimHandle, Simulator};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The webhook secret token of test apps. The url_validation vector below
/// was computed with it by openssl, independently of qoswatch.
pub const SECRET: &str = "dOL1a7aQTa2ZsXZ5FFwCAg";

pub struct TestApp {
    pub address: SocketAddr,
    /// The admin listener: status page, API, metrics, probes.
    pub admin_address: SocketAddr,
    pub admin_router: axum::Router,
    pub dispatch: Option<qoswatch::notify::DispatchHandle>,
    pub http: reqwest::Client,
    pub sim: SimHandle,
    pub monitor: Monitor,
    pub shutdown: CancellationToken,
    pub server: JoinHandle<anyhow::Result<()>>,
    pub poll_interval: Duration,
}

/// Settings for a test app talking to `sim`.
pub fn test_settings(sim: &SimHandle) -> Settings {
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".parse().expect("address");
    settings.server.admin_listen = "127.0.0.1:0".parse().expect("address");
    // In memory: these tests are about the API; tests/processes/restart runs the
    // service on a data directory and kills it.
    settings.store.data_dir = None;
    settings.server.shutdown_grace = Duration::from_secs(5);
    settings.alerts.dispatch.shutdown_grace = Duration::from_secs(3);
    settings.zoom.api_base = sim.api_base();
    settings.zoom.token_url = sim.token_url();
    settings.zoom.request_timeout = Duration::from_millis(800);
    settings.zoom.requests_per_second = 50;
    // A day's allowance no hour of the day can stretch: these tests are not
    // about the daily plan (batching.rs sets its own day).
    settings.zoom.daily_limit = 50_000_000;
    settings.zoom.daily_share = 1.0;
    settings.polling.interval = Duration::from_millis(200);
    // These tests are about each watch's polling, counted per participant at
    // the simulator: one request per participant and interval. Listing,
    // adaptive intervals and the daily plan are tested in `batching.rs`.
    settings.polling.mode = qoswatch::config::PollingMode::Fixed;
    settings.polling.max_backoff = Duration::from_millis(400);
    let credentials = sim.credentials();
    settings.secrets.webhook_secret_tokens = vec![SecretString::from(SECRET.to_owned())];
    settings.secrets.account_id = Some(SecretString::from(credentials.account_id.clone()));
    settings.secrets.client_id = Some(SecretString::from(credentials.client_id.clone()));
    settings.secrets.client_secret = Some(SecretString::from(
        credentials.client_secret.expose_secret().to_owned(),
    ));
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(SimConfig::default(), |_| {}).await
}

pub async fn spawn_app_with(sim_config: SimConfig, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with_extras(sim_config, tweak, Extras::default()).await
}

pub async fn spawn_app_with_extras(
    sim_config: SimConfig,
    tweak: impl FnOnce(&mut Settings),
    extras: Extras,
) -> TestApp {
    let sim = Simulator::start(sim_config, "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("simulator starts");
    let mut settings = test_settings(&sim);
    tweak(&mut settings);
    settings.validate().expect("test settings are valid");
    let poll_interval = settings.polling.interval;
    let app = Application::build_with(settings, extras)
        .await
        .expect("app builds");
    let address = app.address();
    let admin_address = app.admin_address();
    let admin_router = app.admin_router();
    let dispatch = app.dispatch();
    let monitor = app.monitor();
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        admin_address,
        admin_router,
        dispatch,
        http: reqwest::Client::new(),
        sim,
        monitor,
        shutdown,
        server,
        poll_interval,
    }
}

pub use qoswatch_testkit::eventually;
pub use qoswatch_testkit::webhook::now_unix;

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// A URL on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_address)
    }

    /// A request through the admin router (no socket): status and JSON body.
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = Request::builder().method(method).uri(path);
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .admin_router
            .clone()
            .oneshot(request.body(body).expect("request"))
            .await
            .expect("answered");
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    /// POSTs a body signed with `secret` at `timestamp`.
    pub async fn post_signed(&self, body: &str, secret: &str, timestamp: i64) -> reqwest::Response {
        Webhooks::new(self.url("/webhooks/zoom"), SECRET)
            .with_tracking_id("v=2.0;clid=test;rid=1")
            .post_signed(&self.http, body, secret, timestamp)
            .await
    }

    /// POSTs a correctly signed webhook now.
    pub async fn post_webhook(&self, body: &str) -> reqwest::Response {
        self.post_signed(body, SECRET, now_unix()).await
    }

    /// Adds a meeting to the simulator.
    pub fn start_meeting(&self, uuid: &str, topic: &str) {
        self.sim
            .add_meeting(MeetingSpec::new(uuid, 84712639219, topic))
            .expect("meeting added");
    }

    /// The participant joins in the simulator and Zoom sends `participant_joined`.
    pub async fn join(&self, meeting_uuid: &str, user_id: &str, name: &str) {
        self.sim
            .add_participant(meeting_uuid, ParticipantSpec::new(user_id, name))
            .expect("participant added");
        let response = self
            .post_webhook(&joined_body(meeting_uuid, user_id, name))
            .await;
        assert_eq!(response.status(), 200);
    }

    pub async fn readyz(&self) -> (u16, Value) {
        let response = self
            .http
            .get(self.admin_url("/readyz"))
            .send()
            .await
            .expect("readyz");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    pub async fn metrics(&self) -> String {
        qoswatch_testkit::scrape(&self.http, &self.admin_url("/metrics")).await
    }

    /// The value of one metric line (name with labels, exactly as exported).
    pub async fn metric(&self, series: &str) -> Option<f64> {
        metric_value(&self.metrics().await, series)
    }

    /// Polls `/metrics` until `series` has `value` or 5 s pass; returns the last value.
    pub async fn metric_becomes(&self, series: &str, value: f64) -> Option<f64> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let current = self.metric(series).await;
            if current == Some(value) || tokio::time::Instant::now() >= deadline {
                return current;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `user_id` has been polled `n` more times than now.
    pub async fn wait_for_polls(&self, user_id: &str, n: usize) -> bool {
        let target = self.sim.qos_requests_for(user_id) + n;
        let user = user_id.to_owned();
        self.sim
            .wait_until(
                move |log| log.qos_requests_for(&user) >= target,
                Duration::from_secs(10),
            )
            .await
    }

    /// Waits until the meeting listing has been asked for `n` more pages
    /// (of any meeting) than now.
    pub async fn wait_for_lists(&self, n: u64) -> bool {
        let target = self.sim.request_counts().list_qos + n;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while tokio::time::Instant::now() < deadline {
            if self.sim.request_counts().list_qos >= target {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Polls `/metrics` until `series` reaches at least `value` or 10 s
    /// pass; returns the last value.
    pub async fn metric_reaches(&self, series: &str, value: f64) -> Option<f64> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let current = self.metric(series).await;
            if current.is_some_and(|c| c >= value) || tokio::time::Instant::now() >= deadline {
                return current;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .expect("server stops within the bound")
            .expect("server task");
        result.expect("server ends cleanly");
        self.sim.shutdown().await;
    }
}

pub fn joined_body(meeting_uuid: &str, user_id: &str, name: &str) -> String {
    json!({
        "event": "meeting.participant_joined",
        "event_ts": 1_700_000_000_123_i64,
        "payload": {
            "account_id": "simAccount0000000000001",
            "object": {
                "id": 84712639219_i64,
                "uuid": meeting_uuid,
                "host_id": "8lzIwvZTSOqjndWPbPqzuA",
                "topic": "Weekly sync",
                "type": 2,
                "participant": {
                    "user_id": user_id,
                    "user_name": name,
                    "id": "",
                    "participant_uuid": format!("SIM-{user_id}"),
                    "join_time": "2023-11-14T22:13:20Z",
                    "email": ""
                }
            }
        }
    })
    .to_string()
}

pub fn left_body(meeting_uuid: &str, user_id: &str) -> String {
    json!({
        "event": "meeting.participant_left",
        "event_ts": 1_700_000_000_456_i64,
        "payload": {
            "account_id": "simAccount0000000000001",
            "object": {
                "id": "84712639219",
                "uuid": meeting_uuid,
                "topic": "Weekly sync",
                "participant": {
                    "user_id": user_id,
                    "user_name": "someone",
                    "leave_time": "2023-11-14T22:43:20Z",
                    "leave_reason": "left the meeting",
                    "email": ""
                }
            }
        }
    })
    .to_string()
}

pub fn ended_body(meeting_uuid: &str) -> String {
    json!({
        "event": "meeting.ended",
        "event_ts": 1_700_000_000_789_i64,
        "payload": {
            "account_id": "simAccount0000000000001",
            "object": {
                "id": "84712639219",
                "uuid": meeting_uuid,
                "topic": "Weekly sync",
                "end_time": "2023-11-14T23:00:00Z"
            }
        }
    })
    .to_string()
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

/// qoswatch's router, built like `spawn_app`'s but never served: tests hand
/// it requests with `tower::ServiceExt::oneshot`, no socket in between.
pub struct RouterApp {
    pub router: axum::Router,
    pub sim: SimHandle,
    pub shutdown: CancellationToken,
}

pub async fn router_app() -> RouterApp {
    let sim = Simulator::start(
        SimConfig::default(),
        "127.0.0.1:0".parse().expect("address"),
    )
    .await
    .expect("simulator starts");
    let settings = test_settings(&sim);
    settings.validate().expect("test settings are valid");
    let app = Application::build(settings).await.expect("app builds");
    RouterApp {
        router: app.router(),
        sim,
        shutdown: app.shutdown_token(),
    }
}

/// A `POST /webhooks/zoom` of `body`, signed by the simulator's independent
/// implementation of Zoom's signature with `secret` at `timestamp`.
pub fn signed_request(body: &str, secret: &str, timestamp: i64) -> Request<Body> {
    let timestamp = timestamp.to_string();
    let signature = qoswatch_testkit::webhook::signature(secret, &timestamp, body.as_bytes());
    Request::post("/webhooks/zoom")
        .header("content-type", "application/json; charset=utf-8")
        .header("x-zm-signature", signature)
        .header("x-zm-request-timestamp", timestamp)
        .body(Body::from(body.to_owned()))
        .expect("request")
}

impl RouterApp {
    /// Sends one request through the router; the status and the body.
    pub async fn call(&self, request: Request<Body>) -> (StatusCode, String) {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (
            status,
            String::from_utf8(bytes.to_vec()).expect("UTF-8 body"),
        )
    }

    /// A correctly signed webhook, now: the status and the JSON body.
    pub async fn webhook(&self, body: &str) -> (StatusCode, Value) {
        let (status, text) = self.call(signed_request(body, SECRET, now_unix())).await;
        (status, serde_json::from_str(&text).expect("JSON body"))
    }

    pub async fn metrics(&self) -> String {
        let request = Request::get("/metrics")
            .body(Body::empty())
            .expect("request");
        let (status, text) = self.call(request).await;
        assert_eq!(status, StatusCode::OK);
        text
    }

    /// The value of one `/metrics` series (name with labels, as exported).
    pub async fn metric(&self, series: &str) -> Option<f64> {
        metric_value(&self.metrics().await, series)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.sim.shutdown().await;
    }
}

/// One latency rule routed to a Slack channel whose URL comes from
/// `QOSWATCH_TEST_SLACK_URL`: the rules of the status and browser tests.
pub const SLACK_LATENCY_RULES: &str = r#"
channels:
  it-slack:
    type: slack
    webhook_url_env: QOSWATCH_TEST_SLACK_URL
    send_resolved: true
defaults:
  route:
    channels: [it-slack]
    send_resolved: true
rules:
  - name: audio-latency
    metric: audio_input.latency
    above: { warning: 150ms, critical: 400ms }
    clear: { below: 120ms, for: 2 samples }
    for: 2 samples
    summary: "{participant} has {value} audio latency in {meeting}"
"#;

/// Writes `text` as `rules.yaml` in a temporary directory of its own
/// (per test process and `name`); returns its path.
/// An app with no rules that relays Zoom's meeting alerts to a console
/// channel, at once; its console, for what was relayed.
pub async fn spawn_relaying_app(name: &str) -> (TestApp, qoswatch_testkit::Buffer) {
    let rules = rules_file(
        name,
        "channels:\n  console:\n    type: console\nrules: []\n",
    );
    let console = qoswatch_testkit::Buffer::default();
    let extras = Extras {
        console: Box::new(console.clone()),
        ..Extras::default()
    };
    let app = spawn_app_with_extras(
        SimConfig::default(),
        |settings| {
            settings.rules.file = Some(rules.clone());
            settings.alerts.dispatch.group_window = Duration::ZERO;
            settings.alerts.zoom_meeting_alerts.enabled = true;
        },
        extras,
    )
    .await;
    (app, console)
}

pub fn rules_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("qoswatch-api-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("rules.yaml");
    std::fs::write(&path, text).expect("write rules");
    path
}
