//! A loopback HTTP receiver for the channel tests (Teams, PagerDuty, the
//! signed webhook): an axum app on 127.0.0.1:0 that records every request
//! with its headers and exact bytes, and answers from a script, then with
//! the receiver's usual success status.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use tokio::sync::mpsc;

/// One scripted answer: status and `Retry-After` seconds.
pub type Answer = (u16, Option<u64>);

#[derive(Debug, Clone)]
pub struct Request {
    pub arrived: Instant,
    pub headers: HeaderMap,
    pub raw: Bytes,
    pub body: Value,
    pub answered: u16,
}

impl Request {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("header {name} missing"))
            .to_str()
            .unwrap()
            .to_owned()
    }
}

#[derive(Clone)]
struct Shared {
    script: Arc<Mutex<VecDeque<Answer>>>,
    success: u16,
    sender: mpsc::UnboundedSender<Request>,
}

pub struct Receiver {
    pub url: String,
    script: Arc<Mutex<VecDeque<Answer>>>,
    requests: mpsc::UnboundedReceiver<Request>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Answers `script` in order, then `success` (202 for Teams' Workflows
    /// and PagerDuty, 200 or 204 for a webhook).
    pub async fn start(success: u16, script: Vec<Answer>) -> Receiver {
        let (sender, requests) = mpsc::unbounded_channel();
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let shared = Shared {
            script: script.clone(),
            success,
            sender,
        };
        async fn take(State(shared): State<Shared>, headers: HeaderMap, raw: Bytes) -> Response {
            let (status, retry_after) = shared
                .script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or((shared.success, None));
            let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
            let _ = shared.sender.send(Request {
                arrived: Instant::now(),
                headers,
                raw,
                body,
                answered: status,
            });
            let mut response = StatusCode::from_u16(status).unwrap().into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", seconds.to_string().parse().unwrap());
            }
            response
        }
        let app = Router::new()
            .route("/{*path}", post(take))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook/secret-path", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            url,
            script,
            requests,
            task,
        }
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.script.lock().unwrap().extend(answers);
    }

    /// The next request, waiting up to 10 s.
    pub async fn next(&mut self) -> Request {
        tokio::time::timeout(Duration::from_secs(10), self.requests.recv())
            .await
            .expect("a request reaches the receiver in time")
            .expect("receiver running")
    }

    pub fn no_more(&mut self) {
        if let Ok(extra) = self.requests.try_recv() {
            panic!("unexpected extra request: {}", extra.body);
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
