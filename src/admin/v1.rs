//! `/api/v1/…`: qoswatch's own JSON API (shapes in `docs/API.md`) and the
//! page's live feed.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use futures_util::Stream;
use serde::Deserialize;

use super::views::{self, AlertQuery, SilenceView, status_view};
use super::{AdminState, ApiError, silences};
use qoswatch_core::silence::{Silence, SilenceRequest, parse_filter};

/// The live feed sends the whole status at most this often...
const THROTTLE: Duration = Duration::from_millis(250);
/// ...and at least this often (the budget and the channels change without
/// telling).
const REFRESH: Duration = Duration::from_secs(5);

/// The routes of `/api/v1`.
pub(super) fn routes() -> Router<AdminState> {
    Router::new()
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
        .route("/api/v1/budgets", get(get_budgets))
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

/// `?account=NAME`: one Zoom account's only; nothing else is taken.
fn account_query(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let mut account = None;
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "account" => account = Some(value.into_owned()),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown parameter `{}`: expected `account`",
                    other.chars().take(40).collect::<String>()
                )));
            }
        }
    }
    Ok(account)
}

async fn get_watches(
    State(state): State<AdminState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let account = account_query(raw.as_deref())?;
    let mut meetings = state.status.read(views::meetings);
    if let Some(account) = account {
        meetings.retain(|m| m.meeting.account == account);
    }
    Ok(Json(meetings).into_response())
}

async fn get_history(
    State(state): State<AdminState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let account = account_query(raw.as_deref())?;
    let mut history = state.status.read(|board, _| views::history(board));
    if let Some(account) = account {
        history.retain(|h| h.meeting.account == account);
    }
    Ok(Json(history).into_response())
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

async fn get_silence(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let silence = state
        .status
        .silence(&id)
        .ok_or_else(|| silences::unknown(&id))?;
    Ok(Json(SilenceView::of(&silence, Utc::now())).into_response())
}

/// JSON only: a form or `text/plain` post from another site's page would
/// otherwise reach this endpoint without a CORS preflight.
pub(super) fn is_json(headers: &HeaderMap) -> bool {
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
    let now = Utc::now();
    let silence: Silence = request
        .into_silence(silences::new_id(), now)
        .map_err(ApiError::BadRequest)?;
    let view = SilenceView::of(&silence, now);
    silences::create(&state, silence).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn delete_silence(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let silence = silences::end(&state, &id, now).await?;
    Ok(Json(SilenceView::of(&silence, now)).into_response())
}

/// `?account=NAME`: that account's budget; none: the first account's
/// (the only one's in a single-account deployment).
#[derive(Debug, Deserialize)]
struct BudgetQuery {
    account: Option<String>,
}

async fn get_budget(
    State(state): State<AdminState>,
    Query(query): Query<BudgetQuery>,
) -> Result<Response, ApiError> {
    let budgets = &state.sources.budgets;
    let budget = match &query.account {
        Some(name) => budgets
            .iter()
            .find(|b| b.budget.account().as_str() == name)
            .ok_or_else(|| ApiError::NotFound("no such account".into()))?,
        None => budgets
            .first()
            .ok_or_else(|| ApiError::NotFound("no Zoom budget in this process".into()))?,
    };
    Ok(Json(crate::quota::view::budget_view(budget)).into_response())
}

/// Every account's budget and plan.
async fn get_budgets(State(state): State<AdminState>) -> Response {
    let views: Vec<_> = state
        .sources
        .budgets
        .iter()
        .map(crate::quota::view::budget_view)
        .collect();
    Json(views).into_response()
}
