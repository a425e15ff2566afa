//! `/healthz`, `/readyz` and `/metrics`: open on the admin listener, for
//! probes and scrapers (and, deprecated, on the public one).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::listener::answer::{json_error, static_json};
use crate::store::Store;
use crate::watch::Monitor;

/// What the probes and the scrape read.
#[derive(Debug, Clone)]
pub struct ProbeState {
    pub monitor: Monitor,
    pub store: Store,
    /// With a shared database: this replica's heartbeat, for `/readyz`.
    pub cluster: Option<Arc<Cluster>>,
    pub metrics: Arc<Registry>,
    pub shutdown: CancellationToken,
}

/// The probes and `/metrics` as the public listener served them before
/// the admin listener existed (`server.legacy_public_endpoints`,
/// deprecated): answered with a `Deprecation` header.
pub fn legacy_public(state: ProbeState) -> Router {
    probes(state.clone())
        .merge(metrics_route(state))
        .layer(axum::middleware::map_response(deprecated))
}

/// Marks an answer of an endpoint that moved to the admin listener.
async fn deprecated(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("deprecation", axum::http::HeaderValue::from_static("true"));
    response
}

/// `/healthz` and `/readyz`: open on the admin listener, for probes.
pub fn probes(state: ProbeState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// `/metrics`.
pub fn metrics_route(state: ProbeState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz() -> Response {
    static_json(StatusCode::OK, r#"{"status":"ok"}"#)
}

async fn readyz(State(state): State<ProbeState>) -> Response {
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
    // Still ready while the database refuses writes (a full disk): webhooks
    // are answered and watched in memory; the field says what is at risk.
    let (status, store) = match state.store.failing() {
        Some(reason) => (
            "degraded",
            format!("failing: {reason}; state written since will not survive a restart"),
        ),
        None if state.store.is_durable() => ("ready", "ok".to_owned()),
        None => ("ready", "in memory: lost on restart".to_owned()),
    };
    // Several replicas: without the shared database this one can neither
    // save a watch nor know which meetings are its own, so it steps out of
    // the load balancer until the database answers again.
    if let Some(cluster) = &state.cluster {
        let replica = cluster.replica().to_owned();
        if let Err(reason) = cluster.readiness() {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "database unreachable",
                    "replica": replica,
                    "watchers": state.monitor.active(),
                    "store": reason,
                })),
            )
                .into_response();
        }
        return (
            StatusCode::OK,
            Json(json!({
                "status": status,
                "replica": replica,
                "watchers": state.monitor.active(),
                "meetings": state.monitor.meetings_polled(),
                "polling": polling,
                "store": store,
            })),
        )
            .into_response();
    }
    (
        StatusCode::OK,
        Json(json!({
            "status": status,
            "watchers": state.monitor.active(),
            "polling": polling,
            "store": store,
        })),
    )
        .into_response()
}

async fn metrics(State(state): State<ProbeState>) -> Response {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &state.metrics).is_err() {
        return json_error(StatusCode::INTERNAL_SERVER_ERROR, "metrics encoding failed");
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
