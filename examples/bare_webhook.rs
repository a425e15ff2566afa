//! The bare minimum a Zoom webhook endpoint must do, as the yardstick for
//! qoswatch's `POST /webhooks/zoom` (issue 12): HMAC-SHA256 `v0` verification
//! in constant time, the replay window, a typed serde_json parse of
//! `participant_joined`, and `{}` as the answer. No metrics, no logs, no
//! store, no watchers, `axum::serve` with no limits: nothing qoswatch keeps
//! for its invariants. `benches/run.sh` measures both side by side.
//!
//! ```sh
//! ZOOM_WEBHOOK_SECRET_TOKEN=... cargo run --release --example bare_webhook -- 127.0.0.1:18081
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

#[derive(Deserialize)]
struct Webhook {
    event: String,
    payload: Payload,
}

#[derive(Deserialize)]
struct Payload {
    object: Object,
}

#[derive(Deserialize)]
struct Object {
    uuid: String,
    participant: Participant,
}

#[derive(Deserialize)]
struct Participant {
    user_id: String,
    #[serde(default)]
    user_name: Option<String>,
}

struct Secret(Vec<u8>);

async fn webhook(State(secret): State<Arc<Secret>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp)) =
        (header("x-zm-signature"), header("x-zm-request-timestamp"))
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Some(expected) = signature
        .strip_prefix("v0=")
        .and_then(|digits| hex::decode(digits).ok())
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|sent| (chrono::Utc::now().timestamp() - sent).abs() <= 300);
    if !fresh {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&secret.0) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(&body);
    if mac.verify_slice(&expected).is_err() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match serde_json::from_slice::<Webhook>(&body) {
        Ok(parsed) => {
            std::hint::black_box((
                parsed.event,
                parsed.payload.object.uuid,
                parsed.payload.object.participant.user_id,
                parsed.payload.object.participant.user_name,
            ));
            ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
        }
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".to_owned())
        .parse()
        .context("the first argument is the address to listen on")?;
    anyhow::ensure!(addr.ip().is_loopback(), "loopback only");
    let secret = std::env::var("ZOOM_WEBHOOK_SECRET_TOKEN")
        .context("ZOOM_WEBHOOK_SECRET_TOKEN must hold the webhook secret")?;
    let app = Router::new()
        .route("/webhooks/zoom", post(webhook))
        .with_state(Arc::new(Secret(secret.into_bytes())));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("bare webhook handler on http://{addr}/webhooks/zoom");
    axum::serve(listener, app).await?;
    Ok(())
}
