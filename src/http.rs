//! The HTTP surface: Zoom's webhook endpoint, health, readiness, metrics.
//! Handlers are thin: verify, parse, hand over, answer. Nothing slow happens
//! before the answer (Zoom gives up on endpoints slower than 3 s).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::watch::{Monitor, StartOutcome, StopReason};
use crate::zoom::event::{self, Event, Meeting};
use crate::zoom::signature::Verifier;

/// Receives Zoom's meeting-level alerts (`meeting.alert`). Must not block.
pub trait MeetingAlertSink: Send + Sync + std::fmt::Debug {
    fn meeting_alert(&self, meeting: &Meeting, issues: &[String]);
}

/// Everything the handlers need. Built by `startup`.
#[derive(Debug, Clone)]
pub struct AppState {
    pub verifier: Arc<Verifier>,
    pub monitor: Monitor,
    pub meeting_alerts: Option<Arc<dyn MeetingAlertSink>>,
    pub metrics: Arc<Registry>,
    pub webhook_metrics: WebhookMetrics,
    pub shutdown: CancellationToken,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    event: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    reason: &'static str,
}

/// Counters of the webhook endpoint.
#[derive(Debug, Clone, Default)]
pub struct WebhookMetrics {
    handled: Family<WebhookLabels, Counter>,
    rejected: Family<RejectLabels, Counter>,
}

impl WebhookMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "qoswatch_webhooks",
            "Verified webhooks by event and outcome (handled, ignored)",
            metrics.handled.clone(),
        );
        registry.register(
            "qoswatch_webhooks_rejected",
            "Webhooks refused, by reason",
            metrics.rejected.clone(),
        );
        metrics
    }

    fn handled(&self, event: &str, outcome: &'static str) {
        self.handled
            .get_or_create(&WebhookLabels {
                event: event.to_owned(),
                outcome,
            })
            .inc();
    }

    fn rejected(&self, reason: &'static str) {
        self.rejected.get_or_create(&RejectLabels { reason }).inc();
    }
}

/// How long one request may take, body included: Zoom itself gives up
/// after 3 s, and a slow sender must not hold a connection and a task.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn bounded(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("request timed out");
            error(StatusCode::REQUEST_TIMEOUT, "request timed out")
        }
    }
}

/// Refuses a body announced larger than `max` before reading any of it.
/// (The body limit alone would read up to the limit first; a sender that
/// announces more and trickles would hold the request until the timeout.)
async fn refuse_oversized(
    max: usize,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|length| length > max as u64) {
        tracing::warn!(announced, max, "webhook body too large: refused unread");
        return error(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
    }
    next.run(request).await
}

/// The router. `max_body_bytes` bounds webhook bodies (413 beyond).
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route(
            "/webhooks/zoom",
            post(zoom_webhook)
                .layer(DefaultBodyLimit::max(max_body_bytes))
                .layer(axum::middleware::from_fn(move |request, next| {
                    refuse_oversized(max_body_bytes, request, next)
                }))
                .layer(axum::middleware::from_fn(bounded)),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// `x-zm-trackingid`, trimmed to something safe to log.
fn tracking_id(headers: &HeaderMap) -> String {
    headers
        .get("x-zm-trackingid")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.chars()
                .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
                .take(64)
                .collect()
        })
        .unwrap_or_default()
}

async fn zoom_webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let tracking = tracking_id(&headers);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let verified = match state.verifier.verify(
        header("x-zm-signature"),
        header("x-zm-request-timestamp"),
        &body,
        chrono::Utc::now().timestamp(),
    ) {
        Ok(verified) => verified,
        Err(reason) => {
            state.webhook_metrics.rejected("signature");
            tracing::warn!(%reason, tracking_id = %tracking, "webhook rejected");
            return error(StatusCode::UNAUTHORIZED, "invalid signature");
        }
    };
    let event = match event::parse(verified.body()) {
        Ok(event) => event,
        Err(reason) => {
            state.webhook_metrics.rejected("payload");
            // Only the kind of problem: serde's messages can quote values.
            let kind = match &reason {
                event::EventError::NotJson(_) => "body is not JSON".to_owned(),
                event::EventError::NoEventName => "no event name".to_owned(),
                event::EventError::BadPayload { event, .. } => {
                    format!("unexpected payload for {event}")
                }
            };
            tracing::warn!(problem = %kind, tracking_id = %tracking, "verified webhook unreadable");
            return error(StatusCode::BAD_REQUEST, &kind);
        }
    };
    let name = event.name().to_owned();
    match event {
        Event::UrlValidation { plain_token } => {
            state.webhook_metrics.handled(&name, "handled");
            tracing::info!(tracking_id = %tracking, "answered Zoom's URL validation");
            let encrypted = verified.url_validation_token(&plain_token);
            (
                StatusCode::OK,
                Json(json!({ "plainToken": plain_token, "encryptedToken": encrypted })),
            )
                .into_response()
        }
        Event::ParticipantJoined(joined) => {
            let outcome = state
                .monitor
                .start_watch(joined.meeting.info(), joined.participant_info());
            let label = match outcome {
                StartOutcome::Started => "handled",
                StartOutcome::AlreadyWatching => "duplicate",
                StartOutcome::AlreadyEnded => "already_ended",
                StartOutcome::PollingDisabled => "dropped",
                StartOutcome::AtCapacity | StartOutcome::ShuttingDown => "retry_later",
            };
            state.webhook_metrics.handled(&name, label);
            match outcome {
                StartOutcome::Started | StartOutcome::AlreadyWatching => accepted(),
                StartOutcome::AlreadyEnded => {
                    tracing::info!(
                        meeting = %joined.meeting.uuid,
                        participant = %joined.participant.user_id,
                        tracking_id = %tracking,
                        "late participant_joined for a participant who already left: ignored"
                    );
                    accepted()
                }
                StartOutcome::PollingDisabled => {
                    tracing::warn!(
                        meeting = %joined.meeting.uuid,
                        participant = %joined.participant.user_id,
                        tracking_id = %tracking,
                        "participant_joined not acted on: Zoom says the account cannot use the Dashboard API"
                    );
                    accepted()
                }
                StartOutcome::AtCapacity | StartOutcome::ShuttingDown => {
                    // Not accepted: Zoom retries in about 5 minutes, by then
                    // at a new instance or with a free slot.
                    tracing::warn!(
                        meeting = %joined.meeting.uuid,
                        participant = %joined.participant.user_id,
                        tracking_id = %tracking,
                        ?outcome,
                        "participant_joined refused with 503 so that Zoom retries"
                    );
                    error(StatusCode::SERVICE_UNAVAILABLE, "try again later")
                }
            }
        }
        Event::ParticipantLeft(left) => {
            let stopped = state.monitor.stop_watch(&left.key(), StopReason::Left);
            state
                .webhook_metrics
                .handled(&name, if stopped { "handled" } else { "no_watch" });
            accepted()
        }
        Event::MeetingEnded(meeting) => {
            let stopped = state
                .monitor
                .stop_meeting(&meeting.uuid, StopReason::MeetingEnded);
            tracing::info!(meeting = %meeting.uuid, watchers = stopped, "meeting ended");
            state.webhook_metrics.handled(&name, "handled");
            accepted()
        }
        Event::MeetingAlert { meeting, issues } => match &state.meeting_alerts {
            Some(sink) => {
                sink.meeting_alert(&meeting, &issues);
                state.webhook_metrics.handled(&name, "handled");
                accepted()
            }
            None => {
                state.webhook_metrics.handled(&name, "ignored");
                accepted()
            }
        },
        Event::MeetingStarted(_) | Event::Other { .. } => {
            state.webhook_metrics.handled(&name, "ignored");
            tracing::debug!(event = %name, "webhook ignored");
            accepted()
        }
    }
}

fn accepted() -> Response {
    (StatusCode::OK, Json(json!({ "status": "accepted" }))).into_response()
}

async fn healthz() -> Response {
    (StatusCode::OK, Json(json!({ "status": "ok" }))).into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.shutdown.is_cancelled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "shutting down" })),
        )
            .into_response();
    }
    // Still ready while Zoom refuses the Dashboard API: webhooks must keep
    // arriving (and URL re-validation must keep passing) meanwhile.
    let polling = if state.monitor.polling_disabled() {
        "disabled: Zoom says the account cannot use the Dashboard API (code 200)"
    } else {
        "enabled"
    };
    (
        StatusCode::OK,
        Json(json!({
            "status": "ready",
            "watchers": state.monitor.active(),
            "polling": polling,
        })),
    )
        .into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &state.metrics).is_err() {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "metrics encoding failed");
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
