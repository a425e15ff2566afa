//! Zoom-shaped answers: the `{"code", "message"}` errors of the API, the
//! `{"reason", "error"}` errors of OAuth, and JSON bodies spliced from
//! pre-serialized parts (so cached samples go out without re-serializing).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};

const MEETING_NOT_FOUND: &str = "This meeting's details info is not available or ID is not valid.";

pub(super) fn zoom_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message})),
    )
        .into_response()
}

/// 404 / code 3001: an unknown, ended or wrongly encoded meeting, or an
/// unknown participant.
pub(super) fn meeting_not_found() -> Response {
    zoom_error(StatusCode::NOT_FOUND, 3001, MEETING_NOT_FOUND)
}

/// 401 / code 124.
pub(super) fn invalid_token() -> Response {
    zoom_error(StatusCode::UNAUTHORIZED, 124, "Invalid access token.")
}

pub(super) fn oauth_error(status: StatusCode, error: &str, reason: &str) -> Response {
    (
        status,
        axum::Json(json!({"reason": reason, "error": error})),
    )
        .into_response()
}

/// A JSON body built from pre-serialized parts.
pub(super) fn json_body(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `object` (a JSON object) with `key: [items…]` appended, `items` being
/// serialized JSON values. Lets cached samples go out without re-serializing.
pub(super) fn splice_array(object: &Json, key: &str, items: &[String]) -> String {
    let head = object.to_string();
    let head = head.strip_suffix('}').unwrap_or(&head);
    let items_len: usize = items.iter().map(|item| item.len() + 1).sum();
    let mut body = String::with_capacity(head.len() + key.len() + items_len + 8);
    body.push_str(head);
    if head.len() > 1 {
        body.push(',');
    }
    body.push('"');
    body.push_str(key);
    body.push_str("\":[");
    for (position, item) in items.iter().enumerate() {
        if position > 0 {
            body.push(',');
        }
        body.push_str(item);
    }
    body.push_str("]}");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spliced_arrays_are_valid_json() {
        let items = vec!["{\"a\":1}".to_owned(), "2".to_owned()];
        let body = splice_array(&json!({"x": "y"}), "list", &items);
        let parsed: Json = serde_json::from_str(&body).expect("valid json");
        assert_eq!(parsed, json!({"x": "y", "list": [{"a": 1}, 2]}));
        let empty = splice_array(&json!({}), "list", &[]);
        assert_eq!(
            serde_json::from_str::<Json>(&empty).expect("valid"),
            json!({"list": []})
        );
    }
}
