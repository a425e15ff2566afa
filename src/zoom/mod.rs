//! Everything that speaks Zoom: webhook signatures and events, the
//! Dashboard API client and the shared request budget.

pub mod client;
pub mod event;
pub mod settings;
pub mod signature;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters kept as they are in a path segment: RFC 3986 "unreserved".
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Encodes a meeting UUID as the `{meetingId}` path segment of the Dashboard
/// API. Zoom wants it percent-encoded, and encoded *twice* when it starts
/// with `/` or contains `//` (`/ab//c==` → `%252Fab%252F%252Fc%253D%253D`).
/// A UUID that is `.` or `..` is encoded twice too (see [`encode_path_segment`]);
/// Zoom decodes a double-encoded UUID twice, so it still names that meeting.
pub fn encode_meeting_uuid(uuid: &str) -> String {
    let once = encode_once(uuid);
    if needs_double_encoding(uuid) {
        utf8_percent_encode(&once, PATH_SEGMENT).to_string()
    } else {
        once
    }
}

/// Whether Zoom expects this UUID double-encoded (or a URL parser would
/// otherwise take it for a dot segment).
fn needs_double_encoding(uuid: &str) -> bool {
    uuid.starts_with('/') || uuid.contains("//") || is_dot_segment(uuid)
}

/// Encodes any other path segment (participant ids): percent-encoded once,
/// so that `/`, `?`, `#`, `%` and the rest stay inside the segment.
///
/// `.` and `..` cannot be sent as themselves: every URL parser (WHATWG's,
/// and the `url` crate under reqwest) reads `.`, `..` and their encodings
/// `%2E`, `%2E%2E`, `.%2E` as dot segments and removes them, which would
/// send the request, with the bearer token, to another path
/// (`/metrics/meetings/../participants/../qos` is `/metrics/qos`). They are
/// encoded twice (`%252E%252E`): one segment, which Zoom decodes to
/// `%2E%2E`, an id it does not know (404). Zoom's ids are never dots; what
/// matters is where the token goes.
pub fn encode_path_segment(segment: &str) -> String {
    let once = encode_once(segment);
    if is_dot_segment(segment) {
        utf8_percent_encode(&once, PATH_SEGMENT).to_string()
    } else {
        once
    }
}

/// Percent-encoded once, the dots of a dot segment included.
fn encode_once(segment: &str) -> String {
    if is_dot_segment(segment) {
        "%2E".repeat(segment.len())
    } else {
        utf8_percent_encode(segment, PATH_SEGMENT).to_string()
    }
}

/// `.` or `..`: a path segment that URL parsers resolve instead of keeping.
fn is_dot_segment(segment: &str) -> bool {
    matches!(segment, "." | "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_uuid_is_encoded_once() {
        assert_eq!(
            encode_meeting_uuid("4444AAAiAAAAAiAiAiiAii=="),
            "4444AAAiAAAAAiAiAiiAii%3D%3D"
        );
        assert_eq!(
            encode_meeting_uuid("mOG8pEaFQqeDm6Vd/3xopA=="),
            "mOG8pEaFQqeDm6Vd%2F3xopA%3D%3D"
        );
        assert_eq!(encode_meeting_uuid("a+b"), "a%2Bb");
    }

    #[test]
    fn leading_slash_or_double_slash_is_encoded_twice() {
        // Zoom's documented example: /ajXp112QmuoKj4854875== →
        // %252FajXp112QmuoKj4854875%253D%253D
        assert_eq!(
            encode_meeting_uuid("/ajXp112QmuoKj4854875=="),
            "%252FajXp112QmuoKj4854875%253D%253D"
        );
        assert_eq!(
            encode_meeting_uuid("/gsqg0HKxTQ2Tx//SVAxE9+0w=="),
            "%252Fgsqg0HKxTQ2Tx%252F%252FSVAxE9%252B0w%253D%253D"
        );
        // `//` anywhere is enough, without a leading `/`.
        assert_eq!(
            encode_meeting_uuid("Kj4//854875AiAiAii=="),
            "Kj4%252F%252F854875AiAiAii%253D%253D"
        );
    }

    #[test]
    fn dot_segments_are_encoded_twice_and_other_dots_kept() {
        assert_eq!(encode_meeting_uuid(".."), "%252E%252E");
        assert_eq!(encode_meeting_uuid("."), "%252E");
        assert_eq!(encode_path_segment(".."), "%252E%252E");
        assert_eq!(encode_path_segment("."), "%252E");
        // Only a whole `.` or `..` is a dot segment.
        assert_eq!(encode_path_segment("..."), "...");
        assert_eq!(encode_path_segment("a..b"), "a..b");
        assert_eq!(encode_meeting_uuid("..a="), "..a%3D");
        assert_eq!(encode_meeting_uuid("../x"), "..%2Fx");
    }

    /// The URL reqwest would send, parsed the way reqwest parses it.
    fn sent_path(meeting_uuid: &str, user_id: &str) -> String {
        let url = format!(
            "https://api.zoom.us/v2/metrics/meetings/{}/participants/{}/qos",
            encode_meeting_uuid(meeting_uuid),
            encode_path_segment(user_id)
        );
        reqwest::Url::parse(&url).expect("a URL").path().to_owned()
    }

    #[test]
    fn every_id_stays_one_segment_of_the_path_reqwest_sends() {
        let ids = [
            ".",
            "..",
            "...",
            "/",
            "//",
            "./",
            "/..",
            "a/../b",
            "%2E%2E",
            "%2e.",
            "?x=1",
            "#frag",
            "\\..\\",
            ";",
            "a b",
            "é",
            "",
            "4444AAAiAAAAAiAiAiiAii==",
            "/gsqg0HKxTQ2Tx//SVAxE9+0w==",
        ];
        for meeting in ids {
            for user in ids {
                let path = sent_path(meeting, user);
                let segments: Vec<&str> = path.split('/').collect();
                assert_eq!(segments.len(), 8, "{meeting:?} / {user:?} gave {path:?}");
                assert_eq!(
                    [
                        segments[1],
                        segments[2],
                        segments[3],
                        segments[5],
                        segments[7]
                    ],
                    ["v2", "metrics", "meetings", "participants", "qos"],
                    "{meeting:?} / {user:?} gave {path:?}"
                );
            }
        }
    }

    #[test]
    fn participant_ids_are_encoded_once() {
        assert_eq!(encode_path_segment("16778240"), "16778240");
        // Guest ids look like UUIDs but are never double-encoded.
        assert_eq!(encode_path_segment("/aB//c+d=="), "%2FaB%2F%2Fc%2Bd%3D%3D");
        assert_eq!(encode_path_segment("a-b.c_d~e"), "a-b.c_d~e");
    }
}
