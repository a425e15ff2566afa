//! Reading a request as Zoom would: which endpoint its RAW path names (the
//! meeting id's percent-encoding is what is under test), its bearer token,
//! and `a=1&b=two+words` pairs from query strings and form bodies.

use axum::http::{HeaderMap, Method, header};
use percent_encoding::percent_decode_str;

use crate::log::Endpoint;

pub(super) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Which endpoint a raw path names. Segments are split on the raw `/`, so a
/// `%2F` inside the meeting id stays inside its segment, as on Zoom.
pub(super) fn classify(method: &Method, raw_path: &str) -> Endpoint {
    if raw_path == "/oauth/token" && method == Method::POST {
        return Endpoint::Token;
    }
    if method != Method::GET {
        return Endpoint::Other;
    }
    if raw_path == "/v2/metrics/meetings" || raw_path == "/v2/metrics/webinars" {
        return Endpoint::Meetings;
    }
    let Some(rest) = raw_path
        .strip_prefix("/v2/metrics/meetings/")
        .or_else(|| raw_path.strip_prefix("/v2/metrics/webinars/"))
    else {
        return Endpoint::Other;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        [meeting] if !meeting.is_empty() => Endpoint::Meeting {
            raw_meeting_id: (*meeting).to_owned(),
        },
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

/// Whether a raw path is one of the webinars' Dashboard endpoints
/// (`/v2/metrics/webinars…`): the same shapes as the meetings', for
/// webinars only.
pub(super) fn names_webinars(raw_path: &str) -> bool {
    raw_path == "/v2/metrics/webinars" || raw_path.starts_with("/v2/metrics/webinars/")
}

/// Parses `a=1&b=two+words` (query strings and form bodies).
pub(super) fn form_pairs(raw: &str) -> Vec<(String, String)> {
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

pub(super) fn form_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            classify(
                &Method::GET,
                "/v2/metrics/webinars/abc%3D%3D/participants/qos"
            ),
            Endpoint::ListQos {
                raw_meeting_id: "abc%3D%3D".into()
            }
        );
        assert!(names_webinars("/v2/metrics/webinars/abc/participants/qos"));
        assert!(names_webinars("/v2/metrics/webinars"));
        assert!(!names_webinars("/v2/metrics/webinarsx"));
        assert!(!names_webinars("/v2/metrics/meetings/abc/participants/qos"));
        assert_eq!(classify(&Method::POST, "/oauth/token"), Endpoint::Token);
        assert_eq!(classify(&Method::GET, "/oauth/token"), Endpoint::Other);
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
