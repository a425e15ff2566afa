//! `/api/v2/…`: Alertmanager's API v2 (its `api/v2/openapi.yaml`) over
//! qoswatch's own alerts, silences and channels, so `amtool`, Grafana's
//! Alertmanager data source and karma work against qoswatch unchanged.
//! Every field a client requires is present (`mutedBy`, `routeLabels`,
//! `annotations` of silences), empty where qoswatch has nothing to say.
//! Errors are what Alertmanager answers: a JSON string with 400 or 404.
//! What is filled from what: docs/API.md, "Alertmanager's API v2".

mod alerts;
mod matchers;
mod silences;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{AdminState, silences as shared};
use alerts::Query;

/// The Alertmanager release whose `api/v2/openapi.yaml` these shapes
/// follow, as `versionInfo.version`: clients choose how to read an
/// Alertmanager by its version (karma needs 0.17 or later), so qoswatch's
/// own version goes in `revision`.
const API_VERSION: &str = "0.34.0";

/// RFC 3339 with milliseconds, as Alertmanager writes times.
fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An error as Alertmanager answers one: the message as a JSON string.
fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(Value::String(message.into()))).into_response()
}

fn api_error(error: super::ApiError) -> Response {
    match error {
        super::ApiError::BadRequest(message) => refuse(StatusCode::BAD_REQUEST, message),
        super::ApiError::NotFound(message) => refuse(StatusCode::NOT_FOUND, message),
        other => other.into_response(),
    }
}

/// The routes of `/api/v2`; `started` is the process's start (`uptime`).
pub(super) fn routes(started: DateTime<Utc>) -> Router<AdminState> {
    Router::new()
        .route(
            "/api/v2/status",
            get(move |state: State<AdminState>| get_status(state, started)),
        )
        .route("/api/v2/receivers", get(get_receivers))
        .route("/api/v2/alerts", get(get_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route(
            "/api/v2/silence/{id}",
            get(get_silence).delete(delete_silence),
        )
}

/// The channels of the rules in force (`console` without rules).
fn channel_names(state: &AdminState) -> Vec<String> {
    match &state.sources.rules {
        Some(rules) => rules
            .current()
            .channels()
            .iter()
            .map(|c| c.name.clone())
            .collect(),
        None => vec!["console".to_owned()],
    }
}

/// `GET /api/v2/status`: one instance, no cluster; the "configuration" is
/// a sketch of qoswatch's routing in Alertmanager's terms (its receivers
/// are the rules file's channels).
async fn get_status(State(state): State<AdminState>, started: DateTime<Utc>) -> Response {
    let mut original = String::from(
        "# qoswatch: alerts are routed by its rules file; these are its channels\nroute:\n  receiver: console\nreceivers:\n",
    );
    for name in channel_names(&state) {
        original.push_str(&format!("  - name: {}\n", json!(name)));
    }
    Json(json!({
        "cluster": { "name": "", "status": "disabled", "peers": [] },
        "versionInfo": {
            "version": API_VERSION,
            "revision": concat!("qoswatch ", env!("CARGO_PKG_VERSION")),
            "branch": "qoswatch",
            "buildUser": "qoswatch",
            "buildDate": "",
            "goVersion": "",
        },
        "config": { "original": original },
        "uptime": time(started),
    }))
    .into_response()
}

async fn get_receivers(State(state): State<AdminState>) -> Response {
    let receivers: Vec<Value> = channel_names(&state)
        .into_iter()
        .map(|name| json!({ "name": name }))
        .collect();
    Json(receivers).into_response()
}

/// The board's firing alerts through `view` (a list, or groups) under the
/// query string's filters.
fn alert_view(
    state: &AdminState,
    raw: Option<&str>,
    view: fn(&crate::status::board::Board, &Query, DateTime<Utc>) -> Vec<Value>,
) -> Response {
    match Query::parse(raw) {
        Ok(query) => {
            let now = Utc::now();
            Json(state.status.read(|board, _| view(board, &query, now))).into_response()
        }
        Err(error) => api_error(error),
    }
}

async fn get_alerts(State(state): State<AdminState>, RawQuery(raw): RawQuery) -> Response {
    alert_view(&state, raw.as_deref(), alerts::alerts)
}

async fn get_groups(State(state): State<AdminState>, RawQuery(raw): RawQuery) -> Response {
    alert_view(&state, raw.as_deref(), alerts::groups)
}

async fn get_silences(State(state): State<AdminState>, RawQuery(raw): RawQuery) -> Response {
    let now = Utc::now();
    match state
        .status
        .read(|board, _| silences::list(board.silences(), raw.as_deref(), now))
    {
        Ok(list) => Json(list).into_response(),
        Err(error) => api_error(error),
    }
}

/// Only UUIDs name silences; anything else is not one of them (404).
fn checked_id(id: &str) -> Result<(), super::ApiError> {
    match uuid::Uuid::parse_str(id) {
        Ok(_) => Ok(()),
        Err(_) => Err(shared::unknown(id)),
    }
}

async fn get_silence(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    if let Err(refused) = checked_id(&id) {
        return api_error(refused);
    }
    match state.status.silence(&id) {
        Some(silence) => Json(silences::gettable(&silence, Utc::now())).into_response(),
        None => api_error(shared::unknown(&id)),
    }
}

/// `POST /api/v2/silences`: a new silence; with the `id` of an existing
/// one, its replacement (the new one is in force before the old one ends,
/// so nothing both cover is sent in between). Answers `{"silenceID"}`.
async fn post_silence(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !super::v1::is_json(&headers) {
        return super::ApiError::UnsupportedMediaType.into_response();
    }
    let postable: silences::Postable = match serde_json::from_slice(&body) {
        Ok(postable) => postable,
        Err(error) => return refuse(StatusCode::BAD_REQUEST, format!("body: {error}")),
    };
    let replaces = postable.id.clone().filter(|id| !id.is_empty());
    if let Some(old) = &replaces
        && state.status.silence(old).is_none()
    {
        return api_error(shared::unknown(old));
    }
    let now = Utc::now();
    let silence = match postable.into_silence(shared::new_id(), now) {
        Ok(silence) => silence,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message),
    };
    let id = silence.id.clone();
    if let Err(error) = shared::create(&state, silence).await {
        return api_error(error);
    }
    if let Some(old) = replaces
        && let Err(error) = shared::end(&state, &old, now).await
    {
        return api_error(error);
    }
    Json(json!({ "silenceID": id })).into_response()
}

async fn delete_silence(State(state): State<AdminState>, Path(id): Path<String>) -> Response {
    if let Err(refused) = checked_id(&id) {
        return api_error(refused);
    }
    match shared::end(&state, &id, Utc::now()).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(error) => api_error(error),
    }
}
