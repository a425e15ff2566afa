//! The admin listener's router: the status page, its live feed and the
//! JSON API (`/api/v1/…`, shapes in `docs/API.md`), plus `/metrics` and the
//! probes from `http`. A request the API refuses changes nothing and gets a
//! 4xx whose message names the problem.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use futures_util::Stream;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::auth::{self, AdminAuth};
use super::silence::{Silence, SilenceRequest, parse_filter};
use super::views::{self, AlertQuery, SilenceView, Sources, status_view};
use super::{Status, page, send_all, store_silence};
use crate::store::Store;

/// Largest API request body (a silence is well under 10 kB).
const MAX_BODY_BYTES: usize = 64 * 1024;
/// The live feed sends the whole status at most this often...
const THROTTLE: Duration = Duration::from_millis(250);
/// ...and at least this often (the budget and the channels change without
/// telling).
const REFRESH: Duration = Duration::from_secs(5);

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
        (status, Json(json!({ "error": message }))).into_response()
    }
}

/// The admin router. `probes` (`/healthz`, `/readyz`) stay open; the rest
/// needs `auth` when it is configured.
pub fn admin_router(state: AdminState, auth: AdminAuth, metrics: Router, probes: Router) -> Router {
    let guarded = Router::new()
        .route("/", get(page::index))
        .route("/static/app.js", get(page::script))
        .route("/static/style.css", get(page::style))
        .route("/api/v1/status", get(get_status))
        .route("/api/v1/status/stream", get(stream_status))
        .route("/api/v1/watches", get(get_watches))
        .route("/api/v1/alerts", get(get_alerts))
        .route("/api/v1/history", get(get_history))
        .route("/api/v1/silences", get(get_silences).post(post_silence))
        .route(
            "/api/v1/silences/{id}",
            get(get_silence).delete(delete_silence),
        )
        .route("/api/v1/budget", get(get_budget))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
        .merge(metrics);
    let guarded = if auth.is_required() {
        guarded
    } else {
        guarded.layer(axum::middleware::from_fn(refuse_rebound_changes))
    };
    let guarded = guarded.layer(axum::middleware::from_fn_with_state(auth, auth::require));
    probes.merge(guarded)
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

async fn get_status(State(state): State<AdminState>) -> Response {
    Json(status_view(&state.status, &state.sources)).into_response()
}

/// `GET /api/v1/status/stream`: the whole status as a server-sent event
/// (`event: status`) at once, then after every change (at most every
/// 250 ms) and every 5 s; ends at shutdown.
async fn stream_status(
    State(state): State<AdminState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    struct Feed {
        state: AdminState,
        changes: tokio::sync::watch::Receiver<u64>,
        first: bool,
    }
    let feed = Feed {
        changes: state.status.subscribe(),
        state,
        first: true,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        if !feed.first {
            tokio::select! {
                () = feed.state.shutdown.cancelled() => return None,
                () = tokio::time::sleep(REFRESH) => {}
                changed = feed.changes.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    tokio::select! {
                        () = feed.state.shutdown.cancelled() => return None,
                        () = tokio::time::sleep(THROTTLE) => {}
                    }
                    feed.changes.borrow_and_update();
                }
            }
        }
        feed.first = false;
        let view = status_view(&feed.state.status, &feed.state.sources);
        let event = Event::default()
            .event("status")
            .json_data(&view)
            .unwrap_or_else(|_| Event::default().comment("status not encoded"));
        Some((Ok(event), feed))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn get_watches(State(state): State<AdminState>) -> Response {
    let meetings = state.status.read(views::meetings);
    Json(meetings).into_response()
}

async fn get_history(State(state): State<AdminState>) -> Response {
    Json(state.status.read(|board, _| views::history(board))).into_response()
}

/// `?active=`, `?silenced=` (true/false) and any number of
/// `?filter=name="value"` / `?filter=name=~"regex"`.
fn alert_query(raw: Option<&str>) -> Result<AlertQuery, ApiError> {
    let mut query = AlertQuery::default();
    let flag = |name: &str, value: &str| match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::BadRequest(format!(
            "{name}: expected true or false"
        ))),
    };
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "active" => query.active = Some(flag("active", &value)?),
            "silenced" => query.silenced = Some(flag("silenced", &value)?),
            "filter" => query
                .filter
                .push(parse_filter(&value).map_err(ApiError::BadRequest)?),
            other => {
                let other: String = other.chars().take(64).collect();
                return Err(ApiError::BadRequest(format!(
                    "unknown query parameter `{other}`; one of active, silenced, filter"
                )));
            }
        }
    }
    Ok(query)
}

async fn get_alerts(
    State(state): State<AdminState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = alert_query(raw.as_deref())?;
    let now = Utc::now();
    let alerts = state
        .status
        .read(|board, _| views::alerts(board, &query, now));
    Ok(Json(alerts).into_response())
}

async fn get_silences(State(state): State<AdminState>) -> Response {
    let now = Utc::now();
    let silences: Vec<SilenceView> = state.status.read(|board, _| {
        board
            .silences()
            .into_iter()
            .map(|s| SilenceView::of(s, now))
            .collect()
    });
    Json(silences).into_response()
}

fn unknown_silence(id: &str) -> ApiError {
    let id: String = id.chars().take(64).collect();
    ApiError::NotFound(format!("no silence with id `{id}`"))
}

async fn get_silence(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let silence = state
        .status
        .silence(&id)
        .ok_or_else(|| unknown_silence(&id))?;
    Ok(Json(SilenceView::of(&silence, Utc::now())).into_response())
}

/// JSON only: a form or `text/plain` post from another site's page would
/// otherwise reach this endpoint without a CORS preflight.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

async fn post_silence(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !is_json(&headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let request: SilenceRequest = serde_json::from_slice(&body)
        .map_err(|error| ApiError::BadRequest(format!("body: {error}")))?;
    let id = format!("{:016x}", rand::random::<u64>());
    let now = Utc::now();
    let silence: Silence = request
        .into_silence(id, now)
        .map_err(ApiError::BadRequest)?;
    store_silence(&state.store, &silence)
        .await
        .map_err(|error| ApiError::Unavailable(format!("silence not stored: {error}")))?;
    tracing::info!(
        silence = %silence.id,
        matchers = silence.matchers.len(),
        ends_at = %silence.ends_at,
        "silence created"
    );
    let view = SilenceView::of(&silence, now);
    state.status.add_silence(silence);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn delete_silence(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let Some(mut ended) = state.status.silence(&id) else {
        return Err(unknown_silence(&id));
    };
    let now = Utc::now();
    ended.remove(now);
    // Its end is handled right below, with this request.
    ended.end_announced = true;
    store_silence(&state.store, &ended)
        .await
        .map_err(|error| ApiError::Unavailable(format!("silence not removed: {error}")))?;
    let (silence, due) = state
        .status
        .remove_silence(&id, now)
        .map_err(|_| unknown_silence(&id))?;
    tracing::info!(silence = %silence.id, "silence removed");
    send_all(state.sources.dispatch.as_ref(), due);
    Ok(Json(SilenceView::of(&silence, now)).into_response())
}

async fn get_budget(State(state): State<AdminState>) -> Result<Response, ApiError> {
    let budget = state
        .sources
        .budget
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("no Zoom budget in this process".into()))?;
    Ok(Json(super::budget::budget_view(budget)).into_response())
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
