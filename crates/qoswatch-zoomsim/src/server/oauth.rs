//! `POST /oauth/token`: Server-to-Server OAuth (`account_credentials`).
//! Checks the client's Basic credentials (one of the accounts' apps), the
//! grant and that the account id is that app's account, then issues a
//! bearer token of that account that expires after
//! [`SimConfig::token_lifetime`](crate::SimConfig::token_lifetime).

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde_json::json;

use super::answers::oauth_error;
use super::request::{form_pairs, form_value};
use crate::state::Shared;

const SCOPE: &str = "dashboard_meetings:read:admin dashboard:read:meeting_participant_qos:admin dashboard:read:list_meeting_participants_qos:admin";

/// The token request, and the number of the account a token was issued
/// to. The grant may come in the form body or, as Zoom's docs show it, in
/// the query.
pub(super) fn token(
    shared: &Shared,
    headers: &HeaderMap,
    raw_query: Option<&str>,
    body: &[u8],
) -> (Response, Option<usize>) {
    let mut pairs = form_pairs(&String::from_utf8_lossy(body));
    pairs.extend(form_pairs(raw_query.unwrap_or("")));
    let checked = check_client(shared, headers)
        .and_then(|account| check_grant(shared, account, &pairs).map(|()| account));
    match checked {
        Ok(account) => (issue_token(shared, account), Some(account)),
        Err(refusal) => (
            oauth_error(refusal.status, refusal.error, refusal.reason),
            None,
        ),
    }
}

/// Why a token request is refused: an OAuth error answer.
struct Refusal {
    status: StatusCode,
    error: &'static str,
    reason: &'static str,
}

const fn refusal(status: StatusCode, error: &'static str, reason: &'static str) -> Refusal {
    Refusal {
        status,
        error,
        reason,
    }
}

/// The Basic credentials must be one account's client id and that app's
/// secret: the number of that account.
fn check_client(shared: &Shared, headers: &HeaderMap) -> Result<usize, Refusal> {
    let (client_id, client_secret) = basic_credentials(headers).ok_or(refusal(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "Invalid client_id or client_secret",
    ))?;
    shared
        .accounts
        .iter()
        .position(|account| {
            let credentials = &account.credentials;
            client_id == credentials.client_id
                && client_secret == credentials.client_secret.expose_secret()
        })
        .ok_or(refusal(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Invalid client_id or client_secret",
        ))
}

/// `grant_type=account_credentials` and the `account_id` of the app's own
/// account (an app asking for another account's token is refused).
fn check_grant(shared: &Shared, account: usize, pairs: &[(String, String)]) -> Result<(), Refusal> {
    match form_value(pairs, "grant_type") {
        Some("account_credentials") => {}
        Some(_) => {
            return Err(refusal(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant type",
            ));
        }
        None => {
            return Err(refusal(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing grant type",
            ));
        }
    }
    if form_value(pairs, "account_id") != Some(shared.account_id(account)) {
        return Err(refusal(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid account_id",
        ));
    }
    Ok(())
}

/// A fresh token of account number `account`, remembered with its expiry,
/// in Zoom's answer shape.
fn issue_token(shared: &Shared, account: usize) -> Response {
    let (access_token, lifetime_secs) = shared.mint_token(account);
    axum::Json(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": lifetime_secs,
        "scope": SCOPE,
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
}
