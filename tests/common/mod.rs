//! Test doubles shared by the integration test binaries: a fake Slack
//! incoming-webhook server on 127.0.0.1:0 that records what it receives and
//! answers from a script.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<u64>,
    pub body: &'static str,
}

impl Reply {
    pub fn ok() -> Reply {
        Reply {
            status: 200,
            retry_after: None,
            body: "ok",
        }
    }
    pub fn status(status: u16, body: &'static str) -> Reply {
        Reply {
            status,
            retry_after: None,
            body,
        }
    }
}

#[derive(Debug)]
pub struct Recorded {
    pub hook: String,
    pub arrived: std::time::Instant,
    pub body: Value,
}

#[derive(Clone)]
struct FakeSlackState {
    script: Arc<Mutex<VecDeque<Reply>>>,
    requests: mpsc::UnboundedSender<Recorded>,
}

pub struct FakeSlack {
    addr: SocketAddr,
    requests: mpsc::UnboundedReceiver<Recorded>,
    cancel: CancellationToken,
}

impl FakeSlack {
    /// Starts the fake; it answers from `script` in order, then 200 `ok`.
    pub async fn start(script: Vec<Reply>) -> FakeSlack {
        let (sender, requests) = mpsc::unbounded_channel();
        let state = FakeSlackState {
            script: Arc::new(Mutex::new(script.into())),
            requests: sender,
        };
        async fn hook(
            State(state): State<FakeSlackState>,
            Path(hook): Path<String>,
            headers: HeaderMap,
            body: String,
        ) -> Response {
            assert_eq!(
                headers.get("content-type").unwrap().to_str().unwrap(),
                "application/json"
            );
            let _ = state.requests.send(Recorded {
                hook,
                arrived: std::time::Instant::now(),
                body: serde_json::from_str(&body).expect("Slack payload is JSON"),
            });
            let reply = state
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(Reply::ok);
            let mut response =
                (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
            if let Some(seconds) = reply.retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", seconds.to_string().parse().unwrap());
            }
            response
        }
        let app = Router::new()
            .route("/services/{*hook}", post(hook))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
                .unwrap();
        });
        FakeSlack {
            addr,
            requests,
            cancel,
        }
    }

    pub fn url(&self, hook: &str) -> String {
        format!("http://{}/services/{hook}", self.addr)
    }

    pub async fn next(&mut self) -> Recorded {
        tokio::time::timeout(Duration::from_secs(10), self.requests.recv())
            .await
            .expect("a request reaches fake Slack in time")
            .expect("fake Slack is running")
    }

    /// Every request received so far and not yet taken, without waiting.
    pub fn received(&mut self) -> Vec<Recorded> {
        let mut received = Vec::new();
        while let Ok(request) = self.requests.try_recv() {
            received.push(request);
        }
        received
    }

    pub fn no_more(&mut self) {
        if let Ok(extra) = self.requests.try_recv() {
            panic!("unexpected extra Slack request: {}", extra.body);
        }
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A cloneable in-memory writer (the console channel's output in tests).
#[derive(Clone, Default)]
pub struct Buffer(pub Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
    pub fn json_lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}
