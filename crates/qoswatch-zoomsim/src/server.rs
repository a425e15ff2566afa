//! The simulator's HTTP side. One fallback handler routes on the RAW path,
//! because the meeting id's percent-encoding is exactly what is under test
//! (axum's `Path` would decode it).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use percent_encoding::percent_decode_str;
use rand::Rng;
use serde_json::{Value as Json, json};
use tokio::time::Instant;

use super::log::{Endpoint, RecordedRequest};
use super::samples::{Degradation, sample_json};
use super::{
    Fault, LeftParticipant, PageCursor, Participant, RateLimitKind, RetryAfter, Shared,
    State as SimState, random_token,
};
use crate::protocol::uuid_is_double_encoded;

/// Token request bodies are tiny; anything bigger is not a token request.
const MAX_BODY: usize = 16 * 1024;
/// Zoom's page tokens are valid for 15 minutes.
const PAGE_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
const DEFAULT_PAGE_SIZE: usize = 10;
const MAX_PAGE_SIZE: usize = 10;
const MEETING_NOT_FOUND: &str = "This meeting's details info is not available or ID is not valid.";

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let arrived_at = Instant::now();
    let method = request.method().clone();
    let raw_path = request.uri().path().to_owned();
    let raw_query = request.uri().query().map(str::to_owned);
    let bearer_token = bearer(request.headers());
    let endpoint = classify(&method, &raw_path);
    let response = match &endpoint {
        Endpoint::Token => {
            let headers = request.headers().clone();
            match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
                Ok(body) => token(&shared, &headers, raw_query.as_deref(), &body),
                Err(_) => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Request body too large or unreadable",
                ),
            }
        }
        Endpoint::ParticipantQos { .. } | Endpoint::ListQos { .. } => {
            qos(
                &shared,
                &endpoint,
                raw_query.as_deref(),
                bearer_token.as_deref(),
            )
            .await
        }
        Endpoint::Other => unknown_route(&method, &raw_path),
    };
    let status = response.status().as_u16();
    shared.lock().log.push(RecordedRequest {
        method: method.to_string(),
        raw_path,
        raw_query,
        endpoint,
        bearer_token,
        status,
        arrived_at,
    });
    response
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Which endpoint a raw path names. Segments are split on the raw `/`, so a
/// `%2F` inside the meeting id stays inside its segment, as on Zoom.
fn classify(method: &Method, raw_path: &str) -> Endpoint {
    if raw_path == "/oauth/token" && method == Method::POST {
        return Endpoint::Token;
    }
    if method != Method::GET {
        return Endpoint::Other;
    }
    let Some(rest) = raw_path.strip_prefix("/v2/metrics/meetings/") else {
        return Endpoint::Other;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        [meeting, "participants", "qos"] => Endpoint::ListQos {
            raw_meeting_id: (*meeting).to_owned(),
        },
        [meeting, "participants", participant, "qos"] => Endpoint::ParticipantQos {
            raw_meeting_id: (*meeting).to_owned(),
            participant_id: percent_decode_str(participant)
                .decode_utf8_lossy()
                .into_owned(),
        },
        _ => Endpoint::Other,
    }
}

fn unknown_route(method: &Method, raw_path: &str) -> Response {
    if raw_path.starts_with("/v2/metrics/meetings/") {
        if method != Method::GET {
            return zoom_error(StatusCode::METHOD_NOT_ALLOWED, 405, "Method not allowed.");
        }
        // A UUID with an unencoded `/` splits into extra segments: Zoom
        // answers that with "meeting not found".
        return zoom_error(StatusCode::NOT_FOUND, 3001, MEETING_NOT_FOUND);
    }
    zoom_error(StatusCode::NOT_FOUND, 404, "Not Found")
}

fn zoom_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message})),
    )
        .into_response()
}

fn oauth_error(status: StatusCode, error: &str, reason: &str) -> Response {
    (
        status,
        axum::Json(json!({"reason": reason, "error": error})),
    )
        .into_response()
}

/// Parses `a=1&b=two+words` (query strings and form bodies).
fn form_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(name), decode(value))
        })
        .collect()
}

fn form_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// `POST /oauth/token`: Server-to-Server OAuth (`account_credentials`). The
/// grant may come in the form body or, as Zoom's docs show it, in the query.
fn token(shared: &Shared, headers: &HeaderMap, raw_query: Option<&str>, body: &[u8]) -> Response {
    let credentials = &shared.config.credentials;
    let Some((client_id, client_secret)) = basic_credentials(headers) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client_id or client_secret",
        );
    };
    use secrecy::ExposeSecret;
    if client_id != credentials.client_id
        || client_secret != credentials.client_secret.expose_secret()
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Invalid client_id or client_secret",
        );
    }
    let mut pairs = form_pairs(&String::from_utf8_lossy(body));
    pairs.extend(form_pairs(raw_query.unwrap_or("")));
    match form_value(&pairs, "grant_type") {
        Some("account_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant type",
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing grant type",
            );
        }
    }
    if form_value(&pairs, "account_id") != Some(credentials.account_id.as_str()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid account_id",
        );
    }
    let access_token = format!("sim.{}", random_token(40));
    let lifetime_secs = shared.config.token_lifetime.as_secs().max(1);
    shared.lock().tokens.insert(
        access_token.clone(),
        Instant::now() + Duration::from_secs(lifetime_secs),
    );
    axum::Json(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": lifetime_secs,
        "scope": "dashboard_meetings:read:admin dashboard:read:meeting_participant_qos:admin dashboard:read:list_meeting_participants_qos:admin",
    }))
    .into_response()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Standard base64 with optional padding (RFC 4648 §4): all Basic auth needs.
fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let input = input.trim_end_matches('=');
    let mut output = Vec::with_capacity(input.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in input.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            output.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    // A single leftover character cannot encode a byte.
    (bits < 6).then_some(output)
}

/// Both QoS endpoints: faults, auth, rate limits, then the answer.
async fn qos(
    shared: &Shared,
    endpoint: &Endpoint,
    raw_query: Option<&str>,
    bearer_token: Option<&str>,
) -> Response {
    let fault = shared.lock().faults.pop_front();
    if let Some(fault) = fault
        && let Some(response) = apply_fault(shared, fault).await
    {
        return response;
    }
    let now = Instant::now();
    let mut state = shared.lock();
    let token_valid = bearer_token
        .and_then(|token| state.tokens.get(token))
        .is_some_and(|expires_at| now < *expires_at);
    if !token_valid {
        return zoom_error(StatusCode::UNAUTHORIZED, 124, "Invalid access token.");
    }
    if let Some(limit) = state.qps_limit {
        let second = now.saturating_duration_since(shared.epoch).as_secs();
        if state.qps_window.0 != second {
            state.qps_window = (second, 0);
        }
        state.qps_window.1 += 1;
        if state.qps_window.1 > limit {
            let next_second = shared.epoch + Duration::from_secs(second + 1);
            let wait = next_second.saturating_duration_since(now);
            return rate_limited(RetryAfter::At(wait), Some((RateLimitKind::Qps, limit)));
        }
    }
    if state.random_429 > 0.0 {
        let probability = state.random_429;
        if state.rng.random_bool(probability) {
            return rate_limited(
                RetryAfter::At(Duration::from_secs(1)),
                Some((RateLimitKind::Qps, state.qps_limit.unwrap_or(40))),
            );
        }
    }
    let pairs = form_pairs(raw_query.unwrap_or(""));
    // Zoom's default `type` for these endpoints is `live`.
    if form_value(&pairs, "type").is_some_and(|kind| kind != "live") {
        return zoom_error(
            StatusCode::BAD_REQUEST,
            300,
            "The simulator serves only type=live.",
        );
    }
    match endpoint {
        Endpoint::ParticipantQos {
            raw_meeting_id,
            participant_id,
        } => single_participant(shared, &mut state, raw_meeting_id, participant_id, now),
        Endpoint::ListQos { raw_meeting_id } => {
            list_participants(shared, &mut state, raw_meeting_id, &pairs, now)
        }
        Endpoint::Token | Endpoint::Other => zoom_error(StatusCode::NOT_FOUND, 404, "Not Found"),
    }
}

/// The answer an injected fault forces, or `None` when the request goes on
/// to its normal answer (after a delay, for [`Fault::Slow`]).
async fn apply_fault(shared: &Shared, fault: Fault) -> Option<Response> {
    let response = match fault {
        Fault::RateLimited {
            retry_after,
            headers,
        } => {
            let limit = shared.lock().qps_limit.unwrap_or(40);
            let headers = headers.map(|kind| match kind {
                RateLimitKind::Qps => (kind, limit),
                RateLimitKind::Daily => (kind, 60_000),
            });
            rate_limited(retry_after, headers)
        }
        Fault::InvalidToken => {
            shared.lock().tokens.clear();
            zoom_error(StatusCode::UNAUTHORIZED, 124, "Invalid access token.")
        }
        Fault::MeetingNotFound => zoom_error(StatusCode::NOT_FOUND, 3001, MEETING_NOT_FOUND),
        Fault::NotEntitled => zoom_error(
            StatusCode::BAD_REQUEST,
            200,
            "Only available for paid account and enabled Dashboard feature.",
        ),
        Fault::ServerError { status } => {
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
        Fault::Slow(delay) => {
            tokio::time::sleep(delay).await;
            return None;
        }
    };
    Some(response)
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

/// Finds the live meeting a raw `{meetingId}` segment names; its index.
///
/// Decoded once, the segment must be a known UUID that does not need double
/// encoding, or the meeting number. Otherwise it must decode twice to a
/// known UUID (what Zoom requires for UUIDs that start with `/` or contain
/// `//`; accepted for the others too). A UUID that needs double encoding
/// but came encoded once finds nothing: Zoom answers that with code 3001.
fn resolve_meeting(state: &SimState, raw_meeting_id: &str) -> Option<usize> {
    let live = |uuid: &str| {
        state
            .meetings
            .iter()
            .position(|m| m.spec.uuid == uuid && m.ended_at.is_none())
    };
    let once = percent_decode_str(raw_meeting_id).decode_utf8().ok()?;
    if !uuid_is_double_encoded(&once)
        && let Some(meeting) = live(&once)
    {
        return Some(meeting);
    }
    if !once.is_empty() && once.bytes().all(|b| b.is_ascii_digit()) {
        return state
            .meetings
            .iter()
            .rposition(|m| m.spec.id.to_string() == *once && m.ended_at.is_none());
    }
    // A correctly double-encoded UUID has no raw `/` after one decoding.
    if once.contains('/') {
        return None;
    }
    let twice = percent_decode_str(&once).decode_utf8().ok()?;
    if twice == once {
        return None;
    }
    live(&twice)
}

/// A JSON body built from pre-serialized parts.
fn json_body(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn single_participant(
    shared: &Shared,
    state: &mut SimState,
    raw_meeting_id: &str,
    participant_id: &str,
    now: Instant,
) -> Response {
    let Some(index) = resolve_meeting(state, raw_meeting_id) else {
        return zoom_error(StatusCode::NOT_FOUND, 3001, MEETING_NOT_FOUND);
    };
    let SimState {
        meetings,
        degradations,
        degradations_version,
        ..
    } = state;
    let Some(participant) = meetings[index]
        .participants
        .iter_mut()
        .find(|p| p.spec.user_id == participant_id)
    else {
        return zoom_error(StatusCode::NOT_FOUND, 3001, MEETING_NOT_FOUND);
    };
    if participant.left_at.is_some() && shared.config.left_participant == LeftParticipant::NotFound
    {
        return zoom_error(StatusCode::NOT_FOUND, 3001, MEETING_NOT_FOUND);
    }
    json_body(participant_json(
        shared,
        degradations,
        *degradations_version,
        participant,
        now,
    ))
}

fn list_participants(
    shared: &Shared,
    state: &mut SimState,
    raw_meeting_id: &str,
    pairs: &[(String, String)],
    now: Instant,
) -> Response {
    let Some(index) = resolve_meeting(state, raw_meeting_id) else {
        return zoom_error(StatusCode::NOT_FOUND, 3001, MEETING_NOT_FOUND);
    };
    let meeting_uuid = state.meetings[index].spec.uuid.clone();
    let page_size = match form_value(pairs, "page_size") {
        None | Some("") => DEFAULT_PAGE_SIZE,
        Some(raw) => match raw.parse::<usize>() {
            // Zoom caps an oversized page rather than failing.
            Ok(size) if size >= 1 => size.min(MAX_PAGE_SIZE),
            _ => {
                return zoom_error(StatusCode::BAD_REQUEST, 300, "Invalid field: page_size.");
            }
        },
    };
    state
        .page_tokens
        .retain(|_, cursor| cursor.expires_at > now);
    let offset = match form_value(pairs, "next_page_token") {
        None | Some("") => 0,
        Some(token) => match state.page_tokens.get(token) {
            Some(cursor) if cursor.meeting_uuid == meeting_uuid => cursor.offset,
            _ => {
                return zoom_error(
                    StatusCode::BAD_REQUEST,
                    300,
                    "The next page token is invalid or expired.",
                );
            }
        },
    };
    let SimState {
        meetings,
        degradations,
        degradations_version,
        page_tokens,
        ..
    } = state;
    let meeting = &mut meetings[index];
    let total_records = meeting.participants.len();
    let participants: Vec<String> = meeting
        .participants
        .iter_mut()
        .skip(offset)
        .take(page_size)
        .map(|p| participant_json(shared, degradations, *degradations_version, p, now))
        .collect();
    let next_offset = offset + participants.len();
    let next_page_token = if next_offset < total_records {
        let token = random_token(32);
        page_tokens.insert(
            token.clone(),
            PageCursor {
                meeting_uuid,
                offset: next_offset,
                expires_at: now + PAGE_TOKEN_LIFETIME,
            },
        );
        token
    } else {
        String::new()
    };
    let head = json!({
        "page_count": total_records.div_ceil(page_size),
        "page_size": page_size,
        "total_records": total_records,
        "next_page_token": next_page_token,
    });
    json_body(splice_array(&head, "participants", &participants))
}

/// `object` (a JSON object) with `key: [items…]` appended, `items` being
/// serialized JSON values. Lets cached samples go out without re-serializing.
fn splice_array(object: &Json, key: &str, items: &[String]) -> String {
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

/// One participant object in Zoom's shape, with the live samples up to now,
/// serialized. Samples are generated once per degradation version and kept
/// (the live window's worth), so polling costs a string copy, not a rebuild.
fn participant_json(
    shared: &Shared,
    degradations: &[Degradation],
    degradations_version: u64,
    participant: &mut Participant,
    now: Instant,
) -> String {
    let end = participant.left_at.map_or(now, |left| left.min(now));
    let join_minute = shared.sim_minute(participant.joined_at);
    let available = shared.sim_minute(end).saturating_sub(join_minute);
    let first = available.saturating_sub(u64::from(shared.config.live_window));
    if participant.samples_version != degradations_version {
        participant.samples.clear();
        participant.samples_version = degradations_version;
    }
    let first_index = u32::try_from(first).unwrap_or(u32::MAX);
    participant.samples = participant.samples.split_off(&first_index);
    let spec = &participant.spec;
    let mut samples = Vec::new();
    for index in first..available {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let sample = participant.samples.entry(index).or_insert_with(|| {
            let applying: Vec<&Degradation> = degradations
                .iter()
                .filter(|d| d.applies(&spec.user_id, &spec.location, index))
                .collect();
            let date_time = shared.minute_utc(join_minute + u64::from(index) + 1);
            sample_json(&spec.profile, index, date_time, &applying).to_string()
        });
        samples.push(sample.clone());
    }
    let time = |t: Instant| shared.sim_utc(t).to_rfc3339_opts(SecondsFormat::Secs, true);
    // The fields of Zoom's own typings (zoom/rivet-javascript,
    // `DashboardsGetMeetingParticipantQoSResponse`), no more: qoswatch must
    // not come to rely on fields the real answer lacks.
    let head = json!({
        "id": spec.id,
        "user_id": spec.user_id,
        "user_name": spec.user_name,
        "device": spec.device,
        "ip_address": participant.ip_address,
        "internal_ip_addresses": [participant.internal_ip_address],
        "location": spec.location,
        "join_time": time(participant.joined_at),
        "leave_time": participant.left_at.map(time).unwrap_or_default(),
        "pc_name": format!("{}'s PC", spec.user_name),
        "domain": "",
        "mac_addr": "",
        "harddisk_id": "",
        "version": "6.2.11.50000",
    });
    splice_array(&head, "user_qos", &samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_basic_credentials() {
        assert_eq!(
            base64_decode("Y2xpZW50OnNlY3JldA==").as_deref(),
            Some(&b"client:secret"[..])
        );
        assert_eq!(base64_decode("YQ").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode("YWI=").as_deref(), Some(&b"ab"[..]));
        assert_eq!(base64_decode("not base64!"), None);
        assert_eq!(base64_decode("Y"), None);
    }

    #[test]
    fn raw_path_keeps_encoded_slashes_in_the_meeting_segment() {
        assert_eq!(
            classify(
                &Method::GET,
                "/v2/metrics/meetings/%252Fab%252F%252Fc%253D%253D/participants/16778240/qos"
            ),
            Endpoint::ParticipantQos {
                raw_meeting_id: "%252Fab%252F%252Fc%253D%253D".into(),
                participant_id: "16778240".into(),
            }
        );
        assert_eq!(
            classify(
                &Method::GET,
                "/v2/metrics/meetings/abc%3D%3D/participants/qos"
            ),
            Endpoint::ListQos {
                raw_meeting_id: "abc%3D%3D".into()
            }
        );
        assert_eq!(
            classify(
                &Method::GET,
                "/v2/metrics/meetings//ab//c==/participants/1/qos"
            ),
            Endpoint::Other
        );
        assert_eq!(classify(&Method::POST, "/oauth/token"), Endpoint::Token);
        assert_eq!(classify(&Method::GET, "/oauth/token"), Endpoint::Other);
    }

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

    #[test]
    fn form_pairs_decode_plus_and_percent() {
        let pairs = form_pairs("grant_type=account_credentials&account_id=a%2Bb&x=two+words&flag");
        assert_eq!(form_value(&pairs, "account_id"), Some("a+b"));
        assert_eq!(form_value(&pairs, "x"), Some("two words"));
        assert_eq!(form_value(&pairs, "flag"), Some(""));
        assert_eq!(form_value(&pairs, "missing"), None);
    }
}
