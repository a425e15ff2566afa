//! Webhook intake: Zoom's webhook endpoint on the public listener. Verify,
//! parse, route the event (to the watches, or to the meeting-alert relay),
//! answer. Nothing slow happens before the answer (Zoom gives up on
//! endpoints slower than 3 s). The probes and metrics are the admin
//! surface's (`crate::admin::probes`).

mod accounts;
mod metrics;
mod qss;
pub mod settings;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use crate::listener::answer::{json_error, static_json};
use crate::watch::{Monitor, StartOutcome, StopReason};
use crate::zoom::event::{self, Event, EventError, Meeting, ParticipantEvent};
use crate::zoom::signature::{Verified, VerifyError};

/// Receives Zoom's meeting-level alerts (`meeting.alert`). Must not block.
pub trait MeetingAlertSink: Send + Sync + std::fmt::Debug {
    fn meeting_alert(&self, meeting: &Meeting, issues: &[String]);
}

/// Everything the handlers need. Built by `startup`.
#[derive(Debug, Clone)]
pub struct IntakeState {
    pub accounts: Arc<WebhookAccounts>,
    pub monitor: Monitor,
    pub meeting_alerts: Option<Arc<dyn MeetingAlertSink>>,
    pub webhook_metrics: WebhookMetrics,
}

use accounts::check_account;
pub use accounts::{WebhookAccount, WebhookAccounts};
pub use metrics::WebhookMetrics;

/// How long one request may take, body included: Zoom itself gives up
/// after 3 s, and a slow sender must not hold a connection and a task.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Ends every rejection's log line: a client can send thousands a second,
/// so each kind of problem is logged at most once a minute (the counts are
/// in `qoswatch_webhooks_rejected`).
const ONCE: &str = "(one line per minute per problem at most; `rejected` counts since the last)";

/// `POST /webhooks/zoom` within its limits, in the handler rather than in
/// middleware layers (each of those boxes the request's future again):
/// - a body announced larger than `max` is refused unread with 413 (a body
///   limit alone would read up to the limit first, and a sender that
///   announces more and trickles would hold the request until the timeout);
/// - a body sent larger than `max` is 413 too, an unreadable one 400;
/// - the whole request, body included, has [`REQUEST_TIMEOUT`] (408).
async fn guarded_webhook(
    state: IntakeState,
    max: usize,
    account: Option<String>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Some(webhook_account) = state.account(account.as_deref()) else {
        return json_error(StatusCode::NOT_FOUND, "no such account");
    };
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|length| length > max as u64) {
        state.reject(
            Some(webhook_account),
            "too_large",
            "too_large_announced",
            |rejected| {
                tracing::warn!(
                    announced,
                    max,
                    rejected,
                    "webhook body too large: refused unread {ONCE}"
                );
            },
        );
        return json_error(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
    }
    let handled = async {
        let body = match axum::body::to_bytes(body, max).await {
            Ok(body) => body,
            Err(problem) => {
                let too_large = std::error::Error::source(&problem)
                    .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
                return if too_large {
                    state.reject(
                        Some(webhook_account),
                        "too_large",
                        "too_large",
                        |rejected| {
                            tracing::warn!(max, rejected, "webhook body too large {ONCE}");
                        },
                    );
                    json_error(StatusCode::PAYLOAD_TOO_LARGE, "body too large")
                } else {
                    state.reject(Some(webhook_account), "unread", "unread", |rejected| {
                        tracing::debug!(%problem, rejected, "webhook body not read {ONCE}");
                    });
                    json_error(StatusCode::BAD_REQUEST, "body not read")
                };
            }
        };
        match zoom_webhook(&state, webhook_account, &parts.headers, &body).await {
            Ok(response) => response,
            Err(refused) => refused.into_response(),
        }
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, handled).await {
        Ok(response) => response,
        Err(_) => {
            state.reject(Some(webhook_account), "timeout", "timeout", |rejected| {
                tracing::warn!(rejected, "webhook request timed out {ONCE}");
            });
            json_error(StatusCode::REQUEST_TIMEOUT, "request timed out")
        }
    }
}

/// The public router: `POST /webhooks/zoom/{account}` for each account,
/// and `POST /webhooks/zoom` for the only one. `max_body_bytes` bounds
/// webhook bodies (413 beyond).
pub fn router(state: IntakeState, max_body_bytes: usize) -> Router {
    Router::new()
        .route(
            "/webhooks/zoom",
            post(
                move |State(state): State<IntakeState>, request: axum::extract::Request| {
                    guarded_webhook(state, max_body_bytes, None, request)
                },
            ),
        )
        .route(
            "/webhooks/zoom/{account}",
            post(
                move |State(state): State<IntakeState>,
                      Path(account): Path<String>,
                      request: axum::extract::Request| {
                    guarded_webhook(state, max_body_bytes, Some(account), request)
                },
            ),
        )
        .with_state(state)
}

/// `x-zm-trackingid`, trimmed to something safe to log: letters, digits
/// and `-_.`, at most 64 of them. Written only when a line is logged, so
/// a webhook that logs nothing allocates nothing for it.
#[derive(Clone, Copy)]
struct TrackingId<'a>(&'a str);

impl<'a> TrackingId<'a> {
    fn of(headers: &'a HeaderMap) -> Self {
        Self(
            headers
                .get("x-zm-trackingid")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
        )
    }
}

impl std::fmt::Display for TrackingId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        self.0
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .take(64)
            .try_for_each(|c| f.write_char(c))
    }
}

/// Why the webhook endpoint answers without a 2xx. The `Display` text is
/// the short public message of the JSON error body; the reasons stay
/// inside (logged where they are detected, never sent back).
#[derive(Debug, thiserror::Error)]
enum WebhookError {
    /// 401: no valid signature within the replay window.
    #[error("invalid signature")]
    Signature(#[source] VerifyError),
    /// 400: signed by Zoom, but not an event qoswatch can read.
    #[error("{}", unreadable(.0))]
    Unreadable(#[source] EventError),
    /// 400: signed with the account's secret, but the payload names
    /// another Zoom account (or none).
    #[error("the event is for another account")]
    OtherAccount,
    /// 503: not acted on now; Zoom retries in about 5 minutes, by then at
    /// a new instance or with a free slot.
    #[error("try again later")]
    RetryLater,
}

/// The kind of problem only: serde's messages can quote values of the body.
/// (An invalid field's message names the field, never its value.)
fn unreadable(reason: &EventError) -> String {
    match reason {
        EventError::NotJson(_) => "body is not JSON".to_owned(),
        EventError::NoEventName => "no event name".to_owned(),
        EventError::BadPayload { event, .. } => format!("unexpected payload for {event}"),
        EventError::Invalid { .. } => reason.to_string(),
    }
}

impl WebhookError {
    fn status(&self) -> StatusCode {
        match self {
            WebhookError::Signature(_) => StatusCode::UNAUTHORIZED,
            WebhookError::Unreadable(_) | WebhookError::OtherAccount => StatusCode::BAD_REQUEST,
            WebhookError::RetryLater => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `reason` label of `qoswatch_webhooks_rejected`. A verified
    /// webhook answered with 503 is not rejected: it counts under
    /// `qoswatch_webhooks{outcome="retry_later"}`.
    fn rejected_reason(&self) -> Option<&'static str> {
        match self {
            WebhookError::Signature(_) => Some("signature"),
            WebhookError::Unreadable(EventError::Invalid { .. }) => Some("invalid_field"),
            WebhookError::Unreadable(_) => Some("payload"),
            WebhookError::OtherAccount => Some("account"),
            WebhookError::RetryLater => None,
        }
    }
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        json_error(self.status(), &self.to_string())
    }
}

impl IntakeState {
    /// Counts a rejection under the metric's `reason`, and calls `log` with
    /// the count since the last line when this `problem` is due a line
    /// (at most once a minute).
    fn reject(
        &self,
        account: Option<&WebhookAccount>,
        reason: &'static str,
        problem: &'static str,
        log: impl FnOnce(u64),
    ) {
        let account = account.map(|a| &a.account);
        if let Some(unlogged) = self.webhook_metrics.rejected(account, reason, problem) {
            log(unlogged + 1);
        }
    }
}

/// The kind of a signature problem: each has its log line of its own, so a
/// flood of forged requests cannot hide Zoom's being refused for a clock
/// or a secret out of date.
fn signature_problem(reason: &VerifyError) -> &'static str {
    match reason {
        VerifyError::MissingSignature => "missing_signature",
        VerifyError::MissingTimestamp => "missing_timestamp",
        VerifyError::MalformedSignature => "malformed_signature",
        VerifyError::MalformedTimestamp => "malformed_timestamp",
        VerifyError::Stale { .. } => "stale",
        VerifyError::Mismatch => "mismatch",
    }
}

/// What a verified webhook led to: the `outcome` label of `qoswatch_webhooks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WebhookOutcome {
    Handled,
    Duplicate,
    AlreadyEnded,
    /// Not acted on: Zoom refuses the Dashboard API to this account.
    Dropped,
    /// Answered 503 so that Zoom sends it again.
    RetryLater,
    /// `participant_left` for a participant not watched; samples pushed for
    /// a participant whose watch another replica runs.
    NoWatch,
    /// A QSS event qoswatch accepts and counts only (`*_qos_summary`,
    /// `*_data`).
    Counted,
    /// A QSS push that held no sample qoswatch could read.
    NoSamples,
    Ignored,
}

impl WebhookOutcome {
    fn label(self) -> &'static str {
        match self {
            WebhookOutcome::Handled => "handled",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::AlreadyEnded => "already_ended",
            WebhookOutcome::Dropped => "dropped",
            WebhookOutcome::RetryLater => "retry_later",
            WebhookOutcome::NoWatch => "no_watch",
            WebhookOutcome::Counted => "counted",
            WebhookOutcome::NoSamples => "no_samples",
            WebhookOutcome::Ignored => "ignored",
        }
    }
}

impl From<StartOutcome> for WebhookOutcome {
    fn from(outcome: StartOutcome) -> Self {
        match outcome {
            StartOutcome::Started => WebhookOutcome::Handled,
            StartOutcome::AlreadyWatching => WebhookOutcome::Duplicate,
            StartOutcome::AlreadyEnded => WebhookOutcome::AlreadyEnded,
            StartOutcome::PollingDisabled | StartOutcome::UnknownAccount => WebhookOutcome::Dropped,
            StartOutcome::AtCapacity
            | StartOutcome::ShuttingDown
            | StartOutcome::StoreUnavailable => WebhookOutcome::RetryLater,
        }
    }
}

/// Verifies the signature, then parses the verified body: the only way to
/// an [`Event`]. A refused webhook is counted here, and logged at most
/// once a minute per kind of problem.
fn read_webhook<'a>(
    state: &IntakeState,
    account: &'a WebhookAccount,
    headers: &HeaderMap,
    body: &'a [u8],
    tracking: TrackingId<'_>,
) -> Result<(Verified<'a>, Event), WebhookError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let verified = match account.verifier.verify(
        header("x-zm-signature"),
        header("x-zm-request-timestamp"),
        body,
        chrono::Utc::now().timestamp(),
    ) {
        Ok(verified) => verified,
        Err(reason) => {
            state.reject(
                Some(account),
                "signature",
                signature_problem(&reason),
                |rejected| {
                    tracing::warn!(
                        %reason,
                        account = %account.account,
                        rejected,
                        tracking_id = %tracking,
                        "webhook rejected {ONCE}"
                    );
                },
            );
            return Err(WebhookError::Signature(reason));
        }
    };
    match event::parse_in(verified.body(), &account.account) {
        Ok(parsed) => {
            check_account(state, account, &parsed, tracking)?;
            Ok((verified, parsed.event))
        }
        Err(reason) => {
            let refused = WebhookError::Unreadable(reason);
            if let Some(reason) = refused.rejected_reason() {
                state.reject(Some(account), reason, reason, |rejected| {
                    tracing::warn!(
                        problem = %refused,
                        rejected,
                        tracking_id = %tracking,
                        "verified webhook unreadable {ONCE}"
                    );
                });
            }
            Err(refused)
        }
    }
}

/// `POST /webhooks/zoom[/{account}]`: verify, parse, hand over, answer;
/// then count the outcome under the event's name.
async fn zoom_webhook(
    state: &IntakeState,
    account: &WebhookAccount,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, WebhookError> {
    let tracking = TrackingId::of(headers);
    let (verified, event) = read_webhook(state, account, headers, body, tracking)?;
    let name = event.metric_label();
    let outcome = match event {
        Event::UrlValidation { plain_token } => {
            state.webhook_metrics.handled(name, WebhookOutcome::Handled);
            tracing::info!(tracking_id = %tracking, "answered Zoom's URL validation");
            let encrypted = verified.url_validation_token(&plain_token);
            let answer = json!({ "plainToken": plain_token, "encryptedToken": encrypted });
            return Ok((StatusCode::OK, Json(answer)).into_response());
        }
        Event::ParticipantJoined(joined) => {
            participant_joined(&state.monitor, joined, tracking).await
        }
        Event::ParticipantLeft(left) => {
            let key = left.key();
            let (_, participant) = left.into_infos();
            if state.monitor.participant_left(&key, &participant).await {
                WebhookOutcome::Handled
            } else {
                WebhookOutcome::NoWatch
            }
        }
        Event::MeetingEnded(meeting) => {
            let stopped = state
                .monitor
                .stop_meeting(&meeting.info().key(), StopReason::MeetingEnded)
                .await;
            tracing::info!(meeting = %meeting.uuid, watchers = stopped, "meeting ended");
            WebhookOutcome::Handled
        }
        Event::MeetingAlert { meeting, issues } => {
            // An early signal for the watches (issue 24), whether or not
            // the alert is relayed to people.
            let polled_here = state.monitor.meeting_alert(&meeting.info().key());
            match &state.meeting_alerts {
                Some(sink) => {
                    sink.meeting_alert(&meeting, &issues);
                    WebhookOutcome::Handled
                }
                None if polled_here => WebhookOutcome::Handled,
                None => WebhookOutcome::Ignored,
            }
        }
        Event::ParticipantQos(push) => qss::participant_qos(state, *push, tracking).await,
        Event::QssCounted { .. } => WebhookOutcome::Counted,
        Event::MeetingStarted(_) => {
            tracing::debug!(event = name, "webhook ignored");
            WebhookOutcome::Ignored
        }
        Event::Other { event } => {
            // Any name a signed sender chose: cut, and escaped by the log format.
            let event: String = event.chars().take(64).collect();
            tracing::debug!(%event, "webhook ignored");
            WebhookOutcome::Ignored
        }
    };
    state.webhook_metrics.handled(name, outcome);
    match outcome {
        WebhookOutcome::RetryLater => Err(WebhookError::RetryLater),
        _ => Ok(accepted()),
    }
}

/// Starts a watch and says why when it did not.
async fn participant_joined(
    monitor: &Monitor,
    joined: ParticipantEvent,
    tracking: TrackingId<'_>,
) -> WebhookOutcome {
    let key = joined.key();
    let (meeting, participant) = joined.into_infos();
    let started = monitor.start_watch(&key, meeting, participant).await;
    let meeting = &key.meeting_uuid;
    let participant = &key.user_id;
    match started {
        StartOutcome::Started | StartOutcome::AlreadyWatching => {}
        StartOutcome::AlreadyEnded => tracing::info!(
            %meeting,
            %participant,
            tracking_id = %tracking,
            "late participant_joined for a participant who already left: ignored"
        ),
        StartOutcome::UnknownAccount => {}
        StartOutcome::PollingDisabled => tracing::warn!(
            %meeting,
            %participant,
            tracking_id = %tracking,
            "participant_joined not acted on: Zoom says the account cannot use the Dashboard API"
        ),
        StartOutcome::AtCapacity | StartOutcome::ShuttingDown | StartOutcome::StoreUnavailable => {
            tracing::warn!(
                %meeting,
                %participant,
                tracking_id = %tracking,
                outcome = ?started,
                "participant_joined refused with 503 so that Zoom retries"
            )
        }
    }
    WebhookOutcome::from(started)
}

fn accepted() -> Response {
    static_json(StatusCode::OK, r#"{"status":"accepted"}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future an async function of four arguments returns.
    fn future_size<A, B, C, D, F: Future>(_: impl Fn(A, B, C, D) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    #[test]
    fn the_webhook_future_stays_small() {
        // axum moves each request's handler future into a box: a future of
        // kilobytes (a database call inlined in a rare branch) is copied in
        // full on every webhook. It was about 7 kB in a debug build (2.3 kB
        // now), 17,000 instructions of copying a request in a release build,
        // before the shared-database branch was boxed.
        let size = future_size(guarded_webhook);
        assert!(size <= 4096, "the webhook handler's future is {size} bytes");
    }

    #[test]
    fn every_rejection_reason_is_scraped_from_the_start() {
        // The reasons are created at 0 when the server starts (see
        // `metrics::REJECT_REASONS`); one missing there would make alerts
        // on its first refusals blind.
        let errors = [
            WebhookError::Signature(VerifyError::MissingSignature),
            WebhookError::Unreadable(EventError::NoEventName),
            WebhookError::Unreadable(EventError::Invalid {
                event: "meeting.participant_joined",
                field: "payload.object.uuid",
                expected: "a meeting UUID",
            }),
        ];
        for error in &errors {
            let reason = error.rejected_reason().expect("a rejection");
            assert!(metrics::REJECT_REASONS.contains(&reason), "{reason}");
        }
        assert_eq!(WebhookError::RetryLater.rejected_reason(), None);
    }

    #[test]
    fn a_tracking_id_is_logged_trimmed_to_safe_characters() {
        let mut headers = HeaderMap::new();
        assert_eq!(TrackingId::of(&headers).to_string(), "");
        headers.insert(
            "x-zm-trackingid",
            axum::http::HeaderValue::from_static("v=2.0; clid=us_1.a-b"),
        );
        assert_eq!(TrackingId::of(&headers).to_string(), "v2.0clidus_1.a-b");
        headers.insert("x-zm-trackingid", "x".repeat(100).parse().expect("header"));
        assert_eq!(TrackingId::of(&headers).to_string(), "x".repeat(64));
    }
}
