//! The simulator's HTTP side. One fallback handler routes on the RAW path,
//! because the meeting id's percent-encoding is exactly what is under test
//! (axum's `Path` would decode it), and logs every request with its answer.
//!
//! - `request`: endpoint, bearer token and form pairs of a raw request;
//! - `oauth`: `POST /oauth/token`;
//! - `qos`: the QoS endpoints' checks, meeting lookup and participant objects;
//! - `paging`: the list endpoint's pages and page tokens;
//! - `past`: the Dashboard's meetings list and a meeting's details (`type=past`);
//! - `limits`: injected faults, rate limits and 429s;
//! - `oversized`: the streamed body of [`Fault::OversizedAnswer`](crate::Fault::OversizedAnswer);
//! - `answers`: Zoom-shaped errors and spliced JSON bodies.

mod answers;
mod limits;
mod oauth;
mod oversized;
mod paging;
mod past;
mod qos;
mod request;

pub(crate) use qos::live_samples;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use tokio::time::Instant;

use self::answers::{meeting_not_found, oauth_error, zoom_error};
use self::request::{bearer, classify, names_webinars};
use crate::log::{Endpoint, RecordedRequest};
use crate::state::Shared;

/// Token request bodies are tiny; anything bigger is not a token request.
const MAX_BODY: usize = 16 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let arrived_at = Instant::now();
    let method = request.method().clone();
    let raw_path = request.uri().path().to_owned();
    let raw_query = request.uri().query().map(str::to_owned);
    let bearer_token = bearer(request.headers());
    let endpoint = classify(&method, &raw_path);
    let (response, account) = match &endpoint {
        Endpoint::Token => {
            let fault = shared.lock().token_faults.pop_front();
            let forced = match fault {
                Some(fault) => limits::apply_fault(&shared, None, fault).await,
                None => None,
            };
            match forced {
                Some(response) => (response, None),
                None => token_request(&shared, request, raw_query.as_deref()).await,
            }
        }
        Endpoint::ParticipantQos { .. }
        | Endpoint::ListQos { .. }
        | Endpoint::Meetings
        | Endpoint::Meeting { .. } => {
            let account = shared.lock().token_account(bearer_token.as_deref());
            let response = qos::qos(
                &shared,
                &endpoint,
                names_webinars(&raw_path),
                raw_query.as_deref(),
                bearer_token.as_deref(),
            )
            .await;
            (response, account)
        }
        Endpoint::Other => (unknown_route(&method, &raw_path), None),
    };
    let status = response.status().as_u16();
    let mut state = shared.lock();
    state.counts.count(&endpoint, status);
    if let Some(account) = account {
        state.accounts[account].counts.count(&endpoint, status);
    }
    state.log.push(RecordedRequest {
        method: method.to_string(),
        raw_path,
        raw_query,
        endpoint,
        bearer_token,
        account_id: account.map(|account| shared.account_id(account).to_owned()),
        status,
        arrived_at,
    });
    response
}

/// `POST /oauth/token`, its small body read first; with the number of the
/// account a token was issued to.
async fn token_request(
    shared: &Shared,
    request: Request,
    raw_query: Option<&str>,
) -> (Response, Option<usize>) {
    let headers = request.headers().clone();
    match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => oauth::token(shared, &headers, raw_query, &body),
        Err(_) => (
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Request body too large or unreadable",
            ),
            None,
        ),
    }
}

fn unknown_route(method: &Method, raw_path: &str) -> Response {
    if raw_path.starts_with("/v2/metrics/meetings/") || names_webinars(raw_path) {
        if method != Method::GET {
            return zoom_error(StatusCode::METHOD_NOT_ALLOWED, 405, "Method not allowed.");
        }
        // A UUID with an unencoded `/` splits into extra segments: Zoom
        // answers that with "meeting not found".
        return meeting_not_found();
    }
    zoom_error(StatusCode::NOT_FOUND, 404, "Not Found")
}
