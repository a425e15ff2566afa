//! What stands between a QoS request and its answer besides the token:
//! injected [`Fault`]s (the simulator's, whichever account asks), the
//! token's account's per-second limit and daily quota, random 429s, and the
//! 429 in Zoom's shape (`Retry-After` as seconds or an ISO-8601 time, and
//! the `X-RateLimit-*` headers).

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use serde_json::json;
use tokio::time::Instant;

use super::answers::{invalid_token, meeting_not_found, zoom_error};
use crate::state::{AccountState, Shared, State};
use crate::{Fault, RateLimitKind, RetryAfter};

/// The limit the rate-limit headers report when none is set.
const DEFAULT_QPS_LIMIT: u32 = 40;
/// The daily quota a daily-limit 429 reports.
const DAILY_LIMIT: u32 = 60_000;

/// The answer an injected fault forces, or `None` when the request goes on
/// to its normal answer (after a delay, for [`Fault::Slow`]). A 429's
/// headers report the limit of `account` (the token's; the first account's
/// when there is none).
pub(super) async fn apply_fault(
    shared: &Shared,
    account: Option<usize>,
    fault: Fault,
) -> Option<Response> {
    let response = match fault {
        Fault::RateLimited {
            retry_after,
            headers,
        } => {
            let limit = shared.lock().accounts[account.unwrap_or(0)]
                .qps_limit
                .unwrap_or(DEFAULT_QPS_LIMIT);
            let headers = headers.map(|kind| match kind {
                RateLimitKind::Qps => (kind, limit),
                RateLimitKind::Daily => (kind, DAILY_LIMIT),
            });
            rate_limited(retry_after, headers)
        }
        Fault::InvalidToken => {
            let mut state = shared.lock();
            match account {
                Some(account) => state.tokens.retain(|_, issued| issued.account != account),
                None => state.tokens.clear(),
            }
            invalid_token()
        }
        Fault::MeetingNotFound => meeting_not_found(),
        Fault::NotEntitled => zoom_error(
            StatusCode::BAD_REQUEST,
            200,
            "Only available for paid account and enabled Dashboard feature.",
        ),
        Fault::ServerError { status } => gateway_error(status),
        Fault::Slow(delay) => {
            tokio::time::sleep(delay).await;
            return None;
        }
        Fault::OversizedAnswer {
            bytes,
            announce_length,
        } => super::oversized::answer(bytes, announce_length),
        Fault::Refusal {
            status,
            code,
            message,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            (
                status,
                axum::Json(json!({"code": code, "message": message})),
            )
                .into_response()
        }
    };
    Some(response)
}

/// A 5xx (500 unless `status` is one) with a gateway's HTML body.
fn gateway_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(StatusCode::is_server_error)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = format!(
        "<html><body><h1>{} {}</h1></body></html>",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Server Error")
    );
    (status, [(header::CONTENT_TYPE, "text/html")], body).into_response()
}

/// Counts the request in its account's second since the epoch; over the
/// account's per-second limit (when one is set) it is answered 429 until
/// the next second.
pub(super) fn over_qps_limit(
    shared: &Shared,
    state: &mut AccountState,
    now: Instant,
) -> Option<Response> {
    let limit = state.qps_limit?;
    let second = now.saturating_duration_since(shared.epoch).as_secs();
    if state.qps_window.0 != second {
        state.qps_window = (second, 0);
    }
    state.qps_window.1 += 1;
    if state.qps_window.1 <= limit {
        return None;
    }
    let next_second = shared.epoch + Duration::from_secs(second + 1);
    let wait = next_second.saturating_duration_since(now);
    Some(rate_limited(
        RetryAfter::At(wait),
        Some((RateLimitKind::Qps, limit)),
    ))
}

/// Counts the request against its account's daily limit
/// ([`SimConfig::daily_limit`](crate::SimConfig::daily_limit) for the
/// first), if there is one: `Ok(Some((limit, remaining)))` for the
/// answer's headers, or the 429 `Daily-limit` (until the next 00:00 UTC on
/// the wall clock) once the quota is used up.
pub(super) fn count_daily(state: &mut AccountState) -> Result<Option<(u32, u32)>, Box<Response>> {
    let Some(limit) = state.daily_limit else {
        return Ok(None);
    };
    if state.daily_used >= limit {
        let now = Utc::now();
        let midnight = (now.date_naive() + chrono::Days::new(1))
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or(now);
        let wait = (midnight - now).to_std().unwrap_or_default();
        return Err(Box::new(rate_limited(
            RetryAfter::At(wait),
            Some((RateLimitKind::Daily, limit)),
        )));
    }
    state.daily_used += 1;
    Ok(Some((limit, limit - state.daily_used)))
}

/// Zoom's rate-limit headers on an answer that was not refused: the daily
/// quota and what is left of it.
pub(super) fn with_daily_headers(mut response: Response, daily: Option<(u32, u32)>) -> Response {
    if let Some((limit, remaining)) = daily {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-category", HeaderValue::from_static("Heavy"));
        headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    }
    response
}

/// A 429 with [`SimConfig::random_429`](crate::SimConfig::random_429)'s
/// probability, drawn from the simulator's seeded RNG; its headers report
/// the limit of account number `account`.
pub(super) fn random_429(state: &mut State, account: usize) -> Option<Response> {
    if state.random_429 <= 0.0 {
        return None;
    }
    let probability = state.random_429;
    state.rng.random_bool(probability).then(|| {
        rate_limited(
            RetryAfter::At(Duration::from_secs(1)),
            Some((
                RateLimitKind::Qps,
                state.accounts[account]
                    .qps_limit
                    .unwrap_or(DEFAULT_QPS_LIMIT),
            )),
        )
    })
}

/// A 429 with `Retry-After` and, when `headers` is set, Zoom's rate-limit headers.
fn rate_limited(retry_after: RetryAfter, headers: Option<(RateLimitKind, u32)>) -> Response {
    let message = match headers {
        Some((RateLimitKind::Daily, limit)) => format!(
            "You have exceeded the daily rate limit ({limit}) of Heavy API requests permitted for this particular account. Try again later."
        ),
        _ => "You have reached the maximum per-second rate limit for this API. Try again later."
            .to_owned(),
    };
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({"code": 429, "message": message})),
    )
        .into_response();
    let response_headers = response.headers_mut();
    let retry_after = match retry_after {
        RetryAfter::At(after) => Some(iso_after(after)),
        RetryAfter::Seconds(seconds) => Some(seconds.to_string()),
        RetryAfter::Absent => None,
    };
    if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response_headers.insert(header::RETRY_AFTER, value);
    }
    if let Some((kind, limit)) = headers {
        let kind = match kind {
            RateLimitKind::Qps => "QPS",
            RateLimitKind::Daily => "Daily-limit",
        };
        response_headers.insert("x-ratelimit-type", HeaderValue::from_static(kind));
        response_headers.insert("x-ratelimit-category", HeaderValue::from_static("Heavy"));
        response_headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
        response_headers.insert("x-ratelimit-remaining", HeaderValue::from(0));
    }
    response
}

/// Wall-clock now plus `after`, rounded up to the second, as ISO-8601 UTC.
/// Wall clock, not the simulated one: a client compares it with its own clock.
fn iso_after(after: Duration) -> String {
    let millis = i64::try_from(after.as_millis()).unwrap_or(i64::MAX / 2);
    let at = Utc::now() + chrono::TimeDelta::milliseconds(millis);
    let at = if at.timestamp_subsec_nanos() > 0 {
        at + chrono::TimeDelta::seconds(1)
    } else {
        at
    };
    let whole = DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at);
    whole.to_rfc3339_opts(SecondsFormat::Secs, true)
}
