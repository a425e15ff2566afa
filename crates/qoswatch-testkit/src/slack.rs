//! The one fake Slack: an incoming-webhook server on `127.0.0.1:0` (an axum
//! app in the test's process) that records every request with the answer it
//! got, and answers from a script (429 with `Retry-After`, 500, ...), then
//! 200 `ok`; or fails with 500 until told to recover.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// One scripted answer.
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

/// One request fake Slack received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The path after `/services/` (`T1/B1/hook`).
    pub hook: String,
    pub arrived: std::time::Instant,
    pub body: Value,
    /// The payload's `text` ("" without one).
    pub text: String,
    /// The status fake Slack answered.
    pub answered: u16,
}

#[derive(Clone)]
struct Shared {
    script: Arc<Mutex<VecDeque<Reply>>>,
    failing: Arc<AtomicBool>,
    all: Arc<Mutex<Vec<Recorded>>>,
    untaken: mpsc::UnboundedSender<Recorded>,
}

#[derive(Debug)]
pub struct FakeSlack {
    addr: SocketAddr,
    shared_script: Arc<Mutex<VecDeque<Reply>>>,
    failing: Arc<AtomicBool>,
    all: Arc<Mutex<Vec<Recorded>>>,
    untaken: mpsc::UnboundedReceiver<Recorded>,
    cancel: CancellationToken,
}

impl FakeSlack {
    /// Starts the fake; it answers from `script` in order, then 200 `ok`.
    pub async fn start(script: Vec<Reply>) -> FakeSlack {
        FakeSlack::serve(script, false).await
    }

    /// Starts failing: 500 to everything until [`FakeSlack::recover`].
    pub async fn failing() -> FakeSlack {
        FakeSlack::serve(Vec::new(), true).await
    }

    async fn serve(script: Vec<Reply>, failing: bool) -> FakeSlack {
        let (sender, untaken) = mpsc::unbounded_channel();
        let shared = Shared {
            script: Arc::new(Mutex::new(script.into())),
            failing: Arc::new(AtomicBool::new(failing)),
            all: Arc::default(),
            untaken: sender,
        };
        async fn hook(
            State(shared): State<Shared>,
            Path(hook): Path<String>,
            headers: HeaderMap,
            body: String,
        ) -> Response {
            assert_eq!(
                headers.get("content-type").unwrap().to_str().unwrap(),
                "application/json"
            );
            let body: Value = serde_json::from_str(&body).expect("Slack payload is JSON");
            let scripted = shared.script.lock().unwrap().pop_front();
            let reply = scripted.unwrap_or_else(|| {
                if shared.failing.load(Ordering::SeqCst) {
                    Reply::status(500, "")
                } else {
                    Reply::ok()
                }
            });
            let recorded = Recorded {
                hook,
                arrived: std::time::Instant::now(),
                text: body["text"].as_str().unwrap_or_default().to_owned(),
                body,
                answered: reply.status,
            };
            shared.all.lock().unwrap().push(recorded.clone());
            let _ = shared.untaken.send(recorded);
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
            .with_state(shared.clone());
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
            shared_script: shared.script,
            failing: shared.failing,
            all: shared.all,
            untaken,
            cancel,
        }
    }

    /// The incoming-webhook URL of `hook` (`T1/B1/hook`).
    pub fn url(&self, hook: &str) -> String {
        format!("http://{}/services/{hook}", self.addr)
    }

    /// Appends answers to the script.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared_script.lock().unwrap().extend(replies);
    }

    /// Fails (500) from now on, after any scripted answers.
    pub fn fail(&self) {
        self.failing.store(true, Ordering::SeqCst);
    }

    /// Answers 200 from now on, after any scripted answers.
    pub fn recover(&self) {
        self.failing.store(false, Ordering::SeqCst);
    }

    /// The next request not yet taken, waiting up to 10 s for it.
    pub async fn next(&mut self) -> Recorded {
        tokio::time::timeout(Duration::from_secs(10), self.untaken.recv())
            .await
            .expect("a request reaches fake Slack in time")
            .expect("fake Slack is running")
    }

    /// Every request received so far and not yet taken, without waiting.
    pub fn received(&mut self) -> Vec<Recorded> {
        let mut received = Vec::new();
        while let Ok(request) = self.untaken.try_recv() {
            received.push(request);
        }
        received
    }

    /// Fails the test if a request arrived that was not taken.
    pub fn no_more(&mut self) {
        if let Ok(extra) = self.untaken.try_recv() {
            panic!("unexpected extra Slack request: {}", extra.body);
        }
    }

    /// Every request so far (taken or not), in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.all.lock().unwrap().clone()
    }

    /// Texts of the messages Slack accepted (200), in order.
    pub fn delivered(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.answered == 200)
            .map(|r| r.text)
            .collect()
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
