//! The two JSON answers every endpoint of both listeners gives outside its
//! own shapes: a fixed body written once, and `{"error": …}`.

use axum::Json;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A fixed JSON answer, written once: no `Value` built per request.
pub fn static_json(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::from_static(body.as_bytes()),
    )
        .into_response()
}

/// `{"error": message}` with `status`.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}
