//! A Slack incoming webhook that fails (500) until told to recover, and
//! records every request with the answer it got.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Request {
    pub text: String,
    pub answered: u16,
}

#[derive(Clone, Default)]
struct Shared {
    healthy: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<Request>>>,
}

pub struct FlakySlack {
    pub url: String,
    shared: Shared,
}

impl FlakySlack {
    /// Starts failing.
    pub async fn start() -> FlakySlack {
        let shared = Shared::default();
        async fn hook(State(shared): State<Shared>, body: String) -> StatusCode {
            let text = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["text"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let status = if shared.healthy.load(Ordering::SeqCst) {
                StatusCode::OK
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            shared.requests.lock().unwrap().push(Request {
                text,
                answered: status.as_u16(),
            });
            status
        }
        let app = Router::new()
            .route("/services/T1/B1/hook", post(hook))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/services/T1/B1/hook",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        FlakySlack { url, shared }
    }

    /// Fails again from now on (the cluster tests).
    #[allow(dead_code)]
    pub fn fail(&self) {
        self.shared.healthy.store(false, Ordering::SeqCst);
    }

    pub fn recover(&self) {
        self.shared.healthy.store(true, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Texts of the messages Slack accepted, in order.
    pub fn delivered(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.answered == 200)
            .map(|r| r.text)
            .collect()
    }
}
