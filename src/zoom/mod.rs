//! Everything that speaks Zoom: webhook signatures and events, the
//! Dashboard API client and the shared request budget.

pub mod budget;
pub mod client;
pub mod event;
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
pub fn encode_meeting_uuid(uuid: &str) -> String {
    let once = utf8_percent_encode(uuid, PATH_SEGMENT).to_string();
    if needs_double_encoding(uuid) {
        utf8_percent_encode(&once, PATH_SEGMENT).to_string()
    } else {
        once
    }
}

/// Whether Zoom expects this UUID double-encoded.
fn needs_double_encoding(uuid: &str) -> bool {
    uuid.starts_with('/') || uuid.contains("//")
}

/// Encodes any other path segment (participant ids).
pub fn encode_path_segment(segment: &str) -> String {
    utf8_percent_encode(segment, PATH_SEGMENT).to_string()
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
    fn participant_ids_are_encoded_once() {
        assert_eq!(encode_path_segment("16778240"), "16778240");
        // Guest ids look like UUIDs but are never double-encoded.
        assert_eq!(encode_path_segment("/aB//c+d=="), "%2FaB%2F%2Fc%2Bd%3D%3D");
        assert_eq!(encode_path_segment("a-b.c_d~e"), "a-b.c_d~e");
    }
}
