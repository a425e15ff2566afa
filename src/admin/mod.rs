//! The admin surface on the admin listener: the status page, its live feed
//! and the JSON API (`/api/v1/…`, shapes in `docs/API.md`), plus
//! `/metrics` and the probes. It shows the state that lives elsewhere
//! (`crate::status`, the quota, the rules, the channels) and changes only
//! silences. A request the API refuses changes nothing and gets a 4xx
//! whose message names the problem.
//!
//! Each API is one module with its routes (`v1`; `v2`, Alertmanager's API
//! v2); [`router`] mounts them side by side behind the same authentication.
//! Both create and end silences through `silences`: one store.

pub mod auth;
mod page;
pub mod probes;
mod silences;
mod v1;
mod v2;
pub mod views;

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::listener::answer::json_error;
use crate::status::Status;
use crate::store::Store;
use views::Sources;

pub use auth::AdminAuth;
pub use probes::ProbeState;

/// Largest API request body (a silence is well under 10 kB).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the admin handlers need.
#[derive(Debug, Clone)]
pub struct AdminState {
    pub status: Status,
    pub sources: Sources,
    pub store: Store,
    pub shutdown: CancellationToken,
}

/// A refused API request.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    UnsupportedMediaType,
    /// The store refused the write: nothing changed.
    Unavailable(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            ApiError::NotFound(message) => (StatusCode::NOT_FOUND, message),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send JSON with Content-Type: application/json".to_owned(),
            ),
            ApiError::Unavailable(message) => (StatusCode::SERVICE_UNAVAILABLE, message),
        };
        json_error(status, &message)
    }
}

/// The admin router: the probes (`/healthz`, `/readyz`) stay open; the
/// page, the APIs and `/metrics` need `auth` when it is configured.
pub fn router(state: AdminState, auth: AdminAuth, probes: ProbeState) -> Router {
    let guarded = Router::new()
        .route("/", get(page::index))
        .route("/static/app.js", get(page::script))
        .route("/static/style.css", get(page::style))
        .merge(v1::routes())
        .merge(v2::routes(chrono::Utc::now()))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
        .merge(probes::metrics_route(probes.clone()));
    let guarded = if auth.is_required() {
        guarded
    } else {
        guarded.layer(axum::middleware::from_fn(refuse_rebound_changes))
    };
    let guarded = guarded.layer(axum::middleware::from_fn_with_state(auth, auth::require));
    probes::probes(probes).merge(guarded)
}

/// Without a token, a page on the internet could still reach a loopback
/// admin listener through DNS rebinding (its own name made to resolve to
/// 127.0.0.1); such requests carry that name in `Host`. So, without a
/// token, changes (anything but GET and HEAD) are taken only when `Host` is
/// an IP address or `localhost`.
async fn refuse_rebound_changes(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    if safe || host.is_none_or(is_local_host) {
        return next.run(request).await;
    }
    (
        StatusCode::FORBIDDEN,
        Json(json!({
            "error": "without QOSWATCH_ADMIN_TOKEN, changes are taken only with Host: an IP address or localhost (set a token to use a name)"
        })),
    )
        .into_response()
}

/// `127.0.0.1:9180`, `[::1]:9180`, `localhost:9180`, with or without the port.
fn is_local_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see docs/API.md".into())
}

#[cfg(test)]
mod tests {
    use super::is_local_host;

    #[test]
    fn local_hosts_are_addresses_and_localhost() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:9180",
            "10.1.2.3:80",
            "[::1]:9180",
            "[::1]",
            "::1",
            "localhost",
            "LOCALHOST:9180",
        ] {
            assert!(is_local_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:9180",
            "127.0.0.1.evil.example",
            "localhost.evil.example:9180",
            "",
            "[::1]:x",
        ] {
            assert!(!is_local_host(host), "{host}");
        }
    }
}
