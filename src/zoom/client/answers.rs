//! Reading Zoom's answers: bodies under a cap, refusals and rate limits
//! classified into `ZoomError`s, errors without URLs.

use chrono::Utc;
use prometheus_client::encoding::EncodeLabelSet;
use reqwest::StatusCode;
use serde::Deserialize;
use tokio::time::Instant;

use super::{ZoomClient, ZoomError};
use crate::quota::budget::parse_retry_after;

/// Which answer was too large: the `answer` label.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct AnswerLabel {
    answer: &'static str,
}

/// The kinds of answers read, for the metric label and the log.
pub(super) const QOS_ANSWER: &str = "qos";
pub(super) const TOKEN_ANSWER: &str = "token";
pub(super) const ERROR_ANSWER: &str = "error";

/// Why an answer's body was not read.
#[derive(Debug)]
pub(super) enum BodyError {
    /// Larger than the cap (announced, or found while reading).
    TooLarge,
    /// The connection failed while reading.
    Read(reqwest::Error),
}

/// Reads an answer's body, at most `max` bytes. An answer that announces
/// more (`Content-Length`) is refused unread; one that sends more than it
/// announced, or announces nothing (chunked), is read until it passes `max`
/// and then dropped, which closes the connection.
pub(super) async fn read_capped(
    mut answer: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    let announced = answer.content_length();
    if announced.is_some_and(|length| length > max as u64) {
        return Err(BodyError::TooLarge);
    }
    // Never more than the cap up front, whatever the announcement.
    let mut body = Vec::with_capacity(announced.map_or(8 * 1024, |n| n as usize).min(max));
    while let Some(chunk) = answer.chunk().await.map_err(BodyError::Read)? {
        if chunk.len() > max - body.len() {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Deserialize)]
pub(super) struct ZoomErrorBody {
    pub(super) code: Option<i64>,
    pub(super) message: Option<String>,
}

impl ZoomClient {
    /// Reads an answer's body under `zoom.max_answer_bytes`; a larger one
    /// is counted, logged (once a minute: no URL, no body) and an error.
    pub(super) async fn read_body(
        &self,
        answer: reqwest::Response,
        kind: &'static str,
    ) -> Result<Vec<u8>, ZoomError> {
        let limit = self.settings.max_answer_bytes;
        match read_capped(answer, limit).await {
            Ok(body) => Ok(body),
            Err(BodyError::Read(error)) => Err(ZoomError::Transient(without_url(&error))),
            Err(BodyError::TooLarge) => {
                self.metrics
                    .too_large
                    .get_or_create(&AnswerLabel { answer: kind })
                    .inc();
                if let Some(unlogged) = self.too_large_log.occurred(Instant::now()) {
                    tracing::warn!(
                        answer = kind,
                        limit_bytes = limit,
                        not_logged_since = unlogged,
                        "Zoom answer larger than zoom.max_answer_bytes: dropped unread, \
                         the request counts as failed"
                    );
                }
                Err(ZoomError::AnswerTooLarge { limit })
            }
        }
    }

    /// A refusal's body, if it is readable JSON within the cap.
    pub(super) async fn error_body<T: serde::de::DeserializeOwned>(
        &self,
        answer: reqwest::Response,
    ) -> Option<T> {
        let body = self.read_body(answer, ERROR_ANSWER).await.ok()?;
        serde_json::from_slice(&body).ok()
    }

    /// Zoom answered 429: pause the shared budget (by `Retry-After`, or a
    /// back-off when it is missing), note a daily limit, and say so once.
    pub(super) fn rate_limited(&self, headers: &reqwest::header::HeaderMap) -> ZoomError {
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let limit_type = headers
            .get("x-ratelimit-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown");
        let pause = self.budget.rate_limited(retry_after);
        if limit_type.eq_ignore_ascii_case("daily-limit") {
            self.budget.daily_limit_reached();
        }
        tracing::warn!(
            limit_type,
            pause_ms = pause.as_millis() as u64,
            retry_after_given = retry_after.is_some(),
            "Zoom rate limit hit: pausing every watcher"
        );
        ZoomError::RateLimited { pause }
    }
}

/// `X-RateLimit-Remaining` of the daily quota, from an answer's headers:
/// Zoom sends it with `X-RateLimit-Limit` on ordinary answers; an answer
/// whose `X-RateLimit-Type` is `QPS` speaks of the per-second limit instead.
pub(super) fn daily_remaining(headers: &reqwest::header::HeaderMap) -> Option<u32> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if text("x-ratelimit-type").is_some_and(|kind| kind.eq_ignore_ascii_case("qps")) {
        return None;
    }
    text("x-ratelimit-remaining")?.trim().parse().ok()
}

/// A reqwest error's text without its URL (URLs carry meeting ids, and the
/// token URL's query could one day carry more).
pub(super) fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_decode() {
        "answer could not be decoded"
    } else if error.is_body() {
        "answer body failed"
    } else {
        "request failed"
    };
    match error.status() {
        Some(status) => format!("{kind} ({status})"),
        None => kind.to_owned(),
    }
}

/// A refusal other than 401 and 429, by HTTP status and Zoom's `code`.
/// Zoom's message is kept (cut to 200 characters): it names no person.
pub(super) fn classify_refusal(status: StatusCode, body: Option<ZoomErrorBody>) -> ZoomError {
    let code = body.as_ref().and_then(|b| b.code);
    let message = body
        .and_then(|b| b.message)
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect::<String>();
    match (status.as_u16(), code) {
        (404, _) | (_, Some(3001)) => ZoomError::NotLive,
        (400, Some(200)) => ZoomError::NotEntitled { message },
        (status, _) if status >= 500 => ZoomError::Transient(format!("Zoom answered {status}")),
        (status, code) => ZoomError::Rejected {
            status,
            code,
            message,
        },
    }
}
