//! Reading a QoS answer from its end: the new samples of a series that Zoom
//! repeats from the join on, without touching the old ones.
//!
//! Zoom's answers put `user_qos` last in a participant object (the list
//! endpoint: `participants` last in the page) and the samples in ascending
//! `date_time`. Read from the closing `]` backwards, the new samples come
//! first, and the first one at or before the newest already seen ends the
//! read: what lies before it is never tokenized. Everything that is read
//! is checked (each entry is parsed by serde, the structure around it by
//! the scanner below); as soon as the answer is not in that shape (another
//! member last, an entry that is not a dated object, samples out of order,
//! broken JSON, a list whose participants do not end at their array's
//! first `]`) the caller reads the whole answer instead, which gives the
//! same samples and reports.
//!
//! What this cannot see: the skipped part. A sample placed *before* one at
//! or before the newest seen but newer than it (against Zoom's order) is not
//! read, and neither is an unreadable entry there (the whole read reports
//! it, in every answer); `parse.rs`'s tests pin both.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A `user_qos` entry read from the end: its time and its raw text.
pub(super) type TailEntry<'a> = (DateTime<Utc>, &'a RawValue);

/// The members of the object whose `{` is at `start`, read forward up to
/// the key `stop` (its value is not read), and where that value starts.
/// `None` when the object ends before `stop` or is broken. A repeated key:
/// the last one before `stop` wins.
pub(super) fn members_until<'a>(
    body: &'a [u8],
    start: usize,
    stop: &str,
) -> Option<(BTreeMap<String, &'a RawValue>, usize)> {
    let mut at = skip_ws(body, start);
    if body.get(at) != Some(&b'{') {
        return None;
    }
    at += 1;
    let mut fields = BTreeMap::new();
    loop {
        let (key, after_key) = read_one::<String>(body, skip_ws(body, at))?;
        let colon = skip_ws(body, after_key);
        if body.get(colon) != Some(&b':') {
            return None;
        }
        let value_at = skip_ws(body, colon + 1);
        if key == stop {
            return Some((fields, value_at));
        }
        let (value, after_value) = read_one::<&'a RawValue>(body, value_at)?;
        fields.insert(key, value);
        at = skip_ws(body, after_value);
        if body.get(at) != Some(&b',') {
            return None;
        }
        at += 1;
    }
}

/// One JSON value at `at`, and the offset just after it.
fn read_one<'a, T: Deserialize<'a>>(body: &'a [u8], at: usize) -> Option<(T, usize)> {
    let mut stream = serde_json::Deserializer::from_slice(body.get(at..)?).into_iter::<T>();
    let value = stream.next()?.ok()?;
    Some((value, at + stream.byte_offset()))
}

/// The entries of the array from `open` (its `[`) to `close` (its `]`)
/// that are newer than `after` (all of them without), read from the end,
/// in Zoom's order. `None`: not in Zoom's shape, read the whole answer.
pub(super) fn newest_entries<'a>(
    body: &'a [u8],
    open: usize,
    close: usize,
    after: Option<DateTime<Utc>>,
) -> Option<Vec<TailEntry<'a>>> {
    if body.get(open) != Some(&b'[') || body.get(close) != Some(&b']') {
        return None;
    }
    let mut newest_first: Vec<TailEntry<'a>> = Vec::new();
    let mut end = trim_back(body, close);
    if end == open + 1 {
        return Some(newest_first);
    }
    loop {
        let start = value_start(body, end).filter(|start| *start > open)?;
        let raw: &RawValue = serde_json::from_slice(&body[start..end]).ok()?;
        // An entry without a readable time is reported by the whole read.
        let at = super::newest::entry_time(raw).ok()?;
        if after.is_some_and(|after| at <= after) {
            break;
        }
        if newest_first.last().is_some_and(|(later, _)| at > *later) {
            return None;
        }
        newest_first.push((at, raw));
        let before = trim_back(body, start);
        match body.get(before.checked_sub(1)?) {
            Some(b',') => end = trim_back(body, before - 1),
            Some(b'[') if before - 1 == open => break,
            _ => return None,
        }
    }
    newest_first.reverse();
    Some(newest_first)
}

/// The `]` that ends the last member of the object or array whose closing
/// bracket is at `close`, if that last member is an array.
pub(super) fn last_array_close(body: &[u8], close: usize) -> Option<usize> {
    let end = trim_back(body, close);
    (body.get(end.checked_sub(1)?) == Some(&b']')).then(|| end - 1)
}

/// The `]` that closes the `user_qos` array whose `[` is at `open`, and
/// where the next participant object starts (`None` for the last one,
/// whose object ends just before `list_close`, the `]` of `participants`).
///
/// The array's end is the first `]` after `open`: Zoom's samples are
/// objects of objects and strings without brackets, so one `memchr` finds
/// it without tokenizing the old samples (about half the cost of searching
/// for the next participant's key). It must be followed by the end of the
/// participant object and a `,` and `{`, or the end of the list. `None`
/// (read the whole answer) otherwise: an array inside a sample, or a `]`
/// inside a string, ends the search too early, and what follows it is not
/// a participant's head, which `members_until` then refuses.
pub(super) fn participant_end(
    body: &[u8],
    open: usize,
    list_close: usize,
) -> Option<(usize, Option<usize>)> {
    let from = open.checked_add(1)?;
    let close = from + memchr::memchr(b']', body.get(from..list_close)?)?;
    let object_end = skip_ws(body, close + 1);
    if body.get(object_end) != Some(&b'}') {
        return None;
    }
    let after = skip_ws(body, object_end + 1);
    if after == list_close {
        return Some((close, None));
    }
    if body.get(after) != Some(&b',') {
        return None;
    }
    let next = skip_ws(body, after + 1);
    // (`list_close` holds a `]`, so a `{` is before it.)
    (body.get(next) == Some(&b'{')).then_some((close, Some(next)))
}

/// Where the JSON value that ends just before `end` starts.
pub(super) fn value_start(body: &[u8], end: usize) -> Option<usize> {
    let last = end.checked_sub(1)?;
    match *body.get(last)? {
        b'"' => string_start(body, last),
        b'}' | b']' => container_start(body, last),
        _ => {
            let start = body[..end]
                .iter()
                .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
                .map_or(0, |i| i + 1);
            (start < end).then_some(start)
        }
    }
}

/// The opening `"` of the string whose closing `"` is at `close`: the
/// nearest `"` before it that is not escaped (an even number of
/// backslashes before it).
fn string_start(body: &[u8], close: usize) -> Option<usize> {
    let mut end = close;
    loop {
        let quote = memchr::memrchr(b'"', &body[..end])?;
        let backslashes = body[..quote]
            .iter()
            .rev()
            .take_while(|b| **b == b'\\')
            .count();
        if backslashes % 2 == 0 {
            return Some(quote);
        }
        end = quote;
    }
}

/// The `{` or `[` that opens the container whose closing bracket is at
/// `close`, strings skipped whole.
fn container_start(body: &[u8], close: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut at = close + 1;
    while at > 0 {
        at -= 1;
        match body[at] {
            b'"' => at = string_start(body, at)?,
            b'}' | b']' => depth += 1,
            b'{' | b'[' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(at);
                }
            }
            _ => {}
        }
    }
    None
}

fn is_ws(byte: u8) -> bool {
    matches!(byte, b' ' | b'\n' | b'\r' | b'\t')
}

/// The first offset at or after `at` that is not JSON whitespace.
pub(super) fn skip_ws(body: &[u8], at: usize) -> usize {
    at + body
        .get(at..)
        .map_or(0, |rest| rest.iter().take_while(|b| is_ws(**b)).count())
}

/// The end of the text before `end` with JSON whitespace trimmed off.
pub(super) fn trim_back(body: &[u8], end: usize) -> usize {
    let end = end.min(body.len());
    end - body[..end].iter().rev().take_while(|b| is_ws(**b)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_found_from_its_end_whatever_it_holds() {
        let cases = [
            r#""plain""#,
            r#""with \"quotes\" and \\""#,
            r#""\\""#,
            r#"{"a":[1,{"b":"]}"}],"c":"{"}"#,
            "[[],[[]]]",
            "-12.5e+3",
            "true",
        ];
        for value in cases {
            let text = format!(r#"[1, "x", {value}"#);
            let start = value_start(text.as_bytes(), text.len()).expect(value);
            assert_eq!(&text[start..], value);
        }
        assert_eq!(value_start(b"]", 1), None, "unbalanced");
        assert_eq!(value_start(b"\"", 1), None, "no opening quote");
        assert_eq!(value_start(b"", 0), None);
        assert_eq!(value_start(b"[1,", 3), None, "no value before the end");
    }

    #[test]
    fn members_are_read_up_to_the_key_asked_for() {
        let body = br#" { "a" : 1 , "b":"x", "user_qos" : [ ] } "#;
        let (fields, at) = members_until(body, 0, "user_qos").expect("found");
        assert_eq!(fields.len(), 2);
        assert_eq!(fields["b"].get(), r#""x""#);
        assert_eq!(body[at], b'[');
        assert!(members_until(br#"{"a":1}"#, 0, "user_qos").is_none());
        assert!(members_until(br#"{"a" 1,"user_qos":[]}"#, 0, "user_qos").is_none());
        assert!(members_until(br#"{"a":1 "user_qos":[]}"#, 0, "user_qos").is_none());
        assert!(members_until(b"[]", 0, "user_qos").is_none());
    }

    #[test]
    fn a_participant_ends_at_its_arrays_first_bracket() {
        // `list_close` is the `]` of `participants`.
        let body = br#"[{"a":1,"user_qos":[{"x":"1"},{"y":2}] } , {"b":2,"user_qos":[]}]"#;
        let list_close = body.len() - 1;
        let first = 19;
        assert_eq!(body[first], b'[');
        let (close, next) = participant_end(body, first, list_close).expect("ends");
        assert_eq!(&body[close..close + 1], b"]");
        assert_eq!(close, 37);
        let next = next.expect("a next participant");
        assert_eq!(&body[next..next + 5], br#"{"b":"#);
        let second = body.len() - 4;
        assert_eq!(body[second], b'[');
        assert_eq!(
            participant_end(body, second, list_close),
            Some((second + 1, None)),
            "the last one"
        );
        // What follows the first `]` is not the end of a participant.
        // An array inside a sample ends the search early; the "next
        // participant" found is a sample, and its head is refused.
        let inner = br#"[{"user_qos":[{"x":[1]},{"y":2}]}]"#;
        let (_, next) = participant_end(inner, 13, inner.len() - 1).expect("a candidate");
        let next = next.expect("a next candidate");
        assert_eq!(&inner[next..next + 5], br#"{"y":"#);
        assert!(members_until(inner, next, "user_qos").is_none());
        for body in [
            &br#"[{"user_qos":[{"x":"]"}]}]"#[..],
            br#"[{"user_qos":[] , "z":1}]"#,
            br#"[{"user_qos":[]} {"user_qos":[]}]"#,
            br#"[{"user_qos":[]},7]"#,
            br#"[{"user_qos":[]},]"#,
            br#"[{"user_qos":[{"x":1}"#,
        ] {
            let open = 13;
            assert_eq!(body[open], b'[', "{}", String::from_utf8_lossy(body));
            let list_close = body.len() - 1;
            assert_eq!(
                participant_end(body, open, list_close),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(participant_end(b"[", usize::MAX, 1), None);
    }

    fn dated(minute: u32) -> String {
        format!(r#"{{"date_time":"2021-06-24T20:{minute:02}:00Z"}}"#)
    }

    fn at(minute: u32) -> DateTime<Utc> {
        format!("2021-06-24T20:{minute:02}:00Z")
            .parse()
            .expect("time")
    }

    /// The minutes `newest_entries` reads from the array that is `body`.
    fn read(body: &str, after: Option<u32>) -> Option<Vec<u32>> {
        use chrono::Timelike;
        let close = body.rfind(']').expect("a ]");
        let open = body.find('[').expect("a [");
        newest_entries(body.as_bytes(), open, close, after.map(at))
            .map(|entries| entries.iter().map(|(t, _)| t.minute()).collect())
    }

    #[test]
    fn the_array_is_read_from_its_end_down_to_the_newest_seen() {
        let body = format!("[ {} , {},{} ]", dated(1), dated(2), dated(3));
        assert_eq!(read(&body, Some(1)), Some(vec![2, 3]));
        assert_eq!(read(&body, Some(3)), Some(vec![]));
        assert_eq!(read(&body, None), Some(vec![1, 2, 3]), "down to the [");
        assert_eq!(read("[ ]", Some(1)), Some(vec![]), "empty");
        assert_eq!(read("[]", None), Some(vec![]), "empty");
        // Equal times among the new ones are in order; a newer one before
        // an older one is not.
        let ties = format!("[{},{},{}]", dated(1), dated(2), dated(2));
        assert_eq!(read(&ties, Some(1)), Some(vec![2, 2]));
        let disorder = format!("[{},{},{}]", dated(1), dated(3), dated(2));
        assert_eq!(read(&disorder, Some(1)), None);
        let disorder = format!("[{},{}]", dated(3), dated(2));
        assert_eq!(read(&disorder, None), None);
    }

    #[test]
    fn anything_but_dated_objects_up_to_the_bracket_is_not_zooms_shape() {
        let two = format!("{},{}", dated(1), dated(2));
        // The entries run into another `[` than the array's.
        let nested = format!("[[{two}]");
        let open = 0;
        let close = nested.len() - 1;
        assert!(newest_entries(nested.as_bytes(), open, close, None).is_none());
        assert!(newest_entries(nested.as_bytes(), 1, close, None).is_some());
        // Not an array at either end.
        let body = format!("[{two}]");
        assert!(newest_entries(body.as_bytes(), 1, body.len() - 1, None).is_none());
        assert!(newest_entries(body.as_bytes(), 0, body.len() - 2, None).is_none());
        assert!(
            newest_entries(b"x ]", 0, 2, None).is_none(),
            "not even empty"
        );
        assert!(
            newest_entries(b"[ x", 0, 2, None).is_none(),
            "not even empty"
        );
        for entries in [
            format!("[{two},{{\"date_time\":\"soon\"}}]"),
            format!("[{two},7]"),
            format!("[{two};{}]", dated(3)),
            format!("[{two},{{\"date_time\":}}]"),
        ] {
            assert_eq!(read(&entries, Some(1)), None, "{entries}");
        }
    }

    #[test]
    fn whitespace_is_skipped_both_ways() {
        assert_eq!(skip_ws(b" \n\t\rx", 0), 4);
        assert_eq!(skip_ws(b"x", 5), 5);
        assert_eq!(trim_back(b"x \n\t\r", 5), 1);
        assert_eq!(trim_back(b"x", 9), 1);
        assert_eq!(last_array_close(b"{\"a\":[1] \n}", 10), Some(7));
        assert_eq!(last_array_close(b"{\"a\":1}", 6), None);
    }
}
