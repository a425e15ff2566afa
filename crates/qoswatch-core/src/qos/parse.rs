//! Zoom's QoS answers into typed samples. Lenient per value, strict per
//! type: an unknown field is ignored, an unreadable value becomes "no data"
//! and is reported in [`ParseReport`], and the sample goes on.
//!
//! An answer costs memory in proportion to what is kept, not to what was
//! sent: [`parse_participant_qos_newest`] reads the body in place (entries
//! are borrowed slices of it until chosen), keeps the newest samples only,
//! and reports at most [`MAX_REPORTED_BAD_VALUES`] unreadable values.
//!
//! An answer costs CPU in proportion to what is new in it: with the newest
//! sample already seen, [`parse_participant_qos_since`] and
//! [`parse_meeting_qos_page`] read each `user_qos` from its end (`tail.rs`)
//! and stop at the first sample already seen; answers not in Zoom's shape
//! are read whole, with the same result (`skip_tests.rs`).

use std::cmp::Reverse;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::de::Deserializer;
use serde_json::Value as Json;
use serde_json::value::RawValue;

use super::newest::{DatedEntry, NewestEntries, NewestVisitor};
use super::tail;
use super::{
    CpuMetric, CpuUsage, ParticipantDetails, ParticipantQos, QosSample, Resolution, Stream,
    StreamMetric, StreamQos, Unit, WifiMetric, WifiRssi,
};

/// How many unreadable values a report names; the rest are only counted.
/// A hostile or broken answer can hold a million of them.
pub const MAX_REPORTED_BAD_VALUES: usize = 20;

/// How many characters of an unreadable value a report keeps.
const REPORTED_VALUE_CHARS: usize = 40;

/// Values that could not be parsed, for counting and a debug log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseReport {
    /// `(field path, offending value)` of the first
    /// [`MAX_REPORTED_BAD_VALUES`]; the value is never personal data.
    pub bad_values: Vec<(String, String)>,
    /// Every unreadable value, named in `bad_values` or not.
    pub bad_value_count: usize,
    /// Samples left out because the answer held more than asked for
    /// (the oldest ones).
    pub samples_dropped: usize,
}

impl ParseReport {
    pub(super) fn bad(&mut self, path: String, value: &str) {
        self.bad_value_count += 1;
        if self.bad_values.len() < MAX_REPORTED_BAD_VALUES {
            let value = value.chars().take(REPORTED_VALUE_CHARS).collect();
            self.bad_values.push((path, value));
        }
    }
}

/// Parses one participant's QoS answer, every sample of it. Fails only when
/// the document is not a JSON object; bad values inside become "no data"
/// and land in the report.
pub fn parse_participant_qos(body: &[u8]) -> Result<(ParticipantQos, ParseReport), ParseError> {
    parse_participant_qos_newest(body, usize::MAX)
}

/// Like [`parse_participant_qos`], keeping only the `max_samples` newest
/// samples (by `date_time`; in Zoom's order among themselves). The others
/// are counted in [`ParseReport::samples_dropped`], never built: memory
/// stays in proportion to `max_samples`, whatever the answer holds.
pub fn parse_participant_qos_newest(
    body: &[u8],
    max_samples: usize,
) -> Result<(ParticipantQos, ParseReport), ParseError> {
    parse_participant_qos_since(body, max_samples, None)
}

/// Like [`parse_participant_qos_newest`], also skipping every sample at or
/// before `after` (the newest one already seen) without reading it: an
/// answer that repeats the whole series since the join costs what is new
/// in it. The answer is read from its end (`tail.rs`) while it is in
/// Zoom's shape (`user_qos` last, samples in ascending time); otherwise
/// whole, with the same samples.
pub fn parse_participant_qos_since(
    body: &[u8],
    max_samples: usize,
    after: Option<DateTime<Utc>>,
) -> Result<(ParticipantQos, ParseReport), ParseError> {
    if let Some(after) = after
        && let Some(found) = participant_from_tail(body, max_samples, after)
    {
        return Ok(found);
    }
    participant_whole(body, max_samples, after)
}

/// The single endpoint's answer read whole (every entry's time, the new
/// entries built).
pub(super) fn participant_whole(
    body: &[u8],
    max_samples: usize,
    after: Option<DateTime<Utc>>,
) -> Result<(ParticipantQos, ParseReport), ParseError> {
    // Top-level fields as borrowed slices of the body: an unknown field's
    // value is skipped, never built. A repeated key: the last one wins.
    let fields: BTreeMap<String, &RawValue> =
        serde_json::from_slice(body).map_err(|e| ParseError(e.to_string()))?;
    let mut report = ParseReport::default();
    let qos = participant_from_fields(&fields, max_samples, |_| after, &mut report);
    Ok((qos, report))
}

/// The single endpoint's answer read from its end: `None` when it is not
/// in the shape that allows it.
fn participant_from_tail(
    body: &[u8],
    max_samples: usize,
    after: DateTime<Utc>,
) -> Option<(ParticipantQos, ParseReport)> {
    let (fields, open) = tail::members_until(body, 0, "user_qos")?;
    let end = tail::trim_back(body, body.len());
    if body.get(end.checked_sub(1)?) != Some(&b'}') {
        return None;
    }
    let close = tail::last_array_close(body, end - 1)?;
    let entries = tail::newest_entries(body, open, close, Some(after))?;
    let mut report = ParseReport::default();
    let details = details_from(|key| text_field(&fields, key), &mut report);
    let qos = participant_from_entries(details, entries, max_samples, &mut report);
    Some((qos, report))
}

/// One page of *List meeting participants QoS*: the participants on it and
/// where the next page starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeetingQosPage {
    /// The participants on this page, in Zoom's order, each with only its
    /// samples after the time asked for.
    pub participants: Vec<ParticipantQos>,
    /// The token of the next page; `None` on the last page.
    pub next_page_token: Option<String>,
    /// Participants in the whole listing, as Zoom counts them.
    pub total_records: Option<u64>,
    /// The page size Zoom applied (it caps what was asked for).
    pub page_size: Option<u64>,
}

/// Parses one page of the list endpoint. `after(user_id)` gives, per
/// participant, the newest sample time already seen: older samples are
/// skipped unbuilt, as in [`parse_participant_qos_since`]. A participant
/// entry that is not an object is skipped and reported; the page fails only
/// when the document is not a JSON object.
pub fn parse_meeting_qos_page(
    body: &[u8],
    max_samples: usize,
    after: impl Fn(&str) -> Option<DateTime<Utc>>,
) -> Result<(MeetingQosPage, ParseReport), ParseError> {
    if let Some(found) = page_from_tails(body, max_samples, &after) {
        return Ok(found);
    }
    page_whole(body, max_samples, after)
}

/// A page of the list endpoint read whole.
pub(super) fn page_whole(
    body: &[u8],
    max_samples: usize,
    after: impl Fn(&str) -> Option<DateTime<Utc>>,
) -> Result<(MeetingQosPage, ParseReport), ParseError> {
    let fields: BTreeMap<String, &RawValue> =
        serde_json::from_slice(body).map_err(|e| ParseError(e.to_string()))?;
    let mut report = ParseReport::default();
    let mut page = page_head(&fields);
    let entries: Vec<&RawValue> = fields
        .get("participants")
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or_default();
    for (index, raw) in entries.into_iter().enumerate() {
        let Ok(participant) = serde_json::from_str::<BTreeMap<String, &RawValue>>(raw.get()) else {
            report.bad(format!("participants[{index}]"), "");
            continue;
        };
        let qos = participant_from_fields(
            &participant,
            max_samples,
            |user_id| user_id.and_then(&after),
            &mut report,
        );
        page.participants.push(qos);
    }
    Ok((page, report))
}

/// A page read participant by participant, each `user_qos` from its end:
/// each array's end is its first `]` (one `memchr` over the old samples,
/// nothing tokenized), and the next participant starts right after it.
/// `None` when the page is not in the shape that allows it.
fn page_from_tails(
    body: &[u8],
    max_samples: usize,
    after: &impl Fn(&str) -> Option<DateTime<Utc>>,
) -> Option<(MeetingQosPage, ParseReport)> {
    let (fields, open) = tail::members_until(body, 0, "participants")?;
    let end = tail::trim_back(body, body.len());
    if body.get(end.checked_sub(1)?) != Some(&b'}') {
        return None;
    }
    let list_close = tail::last_array_close(body, end - 1)?;
    if body.get(open) != Some(&b'[') {
        return None;
    }
    let mut report = ParseReport::default();
    let mut page = page_head(&fields);
    let mut at = tail::skip_ws(body, open + 1);
    if at == list_close {
        return Some((page, report));
    }
    loop {
        let (members, qos_open) = tail::members_until(body, at, "user_qos")?;
        let details = details_from(|key| text_field(&members, key), &mut report);
        let seen = details.user_id.as_deref().and_then(after);
        let (qos_close, next) = tail::participant_end(body, qos_open, list_close)?;
        let entries = tail::newest_entries(body, qos_open, qos_close, seen)?;
        let qos = participant_from_entries(details, entries, max_samples, &mut report);
        page.participants.push(qos);
        match next {
            Some(next) => at = next,
            None => return Some((page, report)),
        }
    }
}

/// The page's own fields: where the next page starts, how many there are.
fn page_head(fields: &BTreeMap<String, &RawValue>) -> MeetingQosPage {
    let number = |key: &str| {
        fields
            .get(key)
            .and_then(|raw| serde_json::from_str::<u64>(raw.get()).ok())
    };
    let next_page_token = fields
        .get("next_page_token")
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        .filter(|token| !token.is_empty());
    MeetingQosPage {
        participants: Vec::new(),
        next_page_token,
        total_records: number("total_records"),
        page_size: number("page_size"),
    }
}

/// A non-empty text member of an object read into borrowed slices.
fn text_field(fields: &BTreeMap<String, &RawValue>, key: &str) -> Option<String> {
    fields
        .get(key)
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        .filter(|s| !s.is_empty())
}

/// One participant object whose top-level members are borrowed slices:
/// details, then the newest `max_samples` samples after `after(user_id)`.
fn participant_from_fields(
    fields: &BTreeMap<String, &RawValue>,
    max_samples: usize,
    after: impl FnOnce(Option<&str>) -> Option<DateTime<Utc>>,
    report: &mut ParseReport,
) -> ParticipantQos {
    let details = details_from(|key| text_field(fields, key), report);
    let after = after(details.user_id.as_deref());
    let mut newest = NewestEntries::new(max_samples);
    if let Some(raw) = fields.get("user_qos").copied() {
        let mut deserializer = serde_json::Deserializer::from_str(raw.get());
        // Not an array, or broken half-way: the entries read so far count.
        let _ = deserializer.deserialize_seq(NewestVisitor {
            newest: &mut newest,
            report,
            after,
        });
    }
    build_participant(details, newest, report)
}

/// The participant from entries read from the end of its `user_qos`
/// (dated, in Zoom's order, all after the newest seen).
fn participant_from_entries(
    details: ParticipantDetails,
    entries: Vec<tail::TailEntry<'_>>,
    max_samples: usize,
    report: &mut ParseReport,
) -> ParticipantQos {
    let mut newest = NewestEntries::new(max_samples);
    for (index, (at, raw)) in entries.into_iter().enumerate() {
        newest.offer(DatedEntry { at, index, raw });
    }
    build_participant(details, newest, report)
}

/// The chosen entries built into samples, in Zoom's order.
fn build_participant(
    details: ParticipantDetails,
    newest: NewestEntries<'_>,
    report: &mut ParseReport,
) -> ParticipantQos {
    report.samples_dropped += newest.dropped;
    let mut chosen = newest.kept.into_vec();
    chosen.sort_by_key(|entry| entry.0.index);
    let samples = chosen
        .into_iter()
        .filter_map(|Reverse(entry)| {
            let json: Json = serde_json::from_str(entry.raw.get()).ok()?;
            sample_from_json(entry.index, &json, report)
        })
        .collect();
    ParticipantQos { details, samples }
}

/// Parses one participant object (as in the single and the list endpoint).
pub fn participant_from_json(json: &Json, report: &mut ParseReport) -> ParticipantQos {
    let text = |key: &str| {
        json.get(key)
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let details = details_from(text, report);
    let samples = json
        .get("user_qos")
        .and_then(Json::as_array)
        .map(|entries| {
            entries
                .iter()
                .enumerate()
                .filter_map(|(index, entry)| sample_from_json(index, entry, report))
                .collect()
        })
        .unwrap_or_default();
    ParticipantQos { details, samples }
}

/// The participant's details, from a lookup of its non-empty text fields.
fn details_from(
    text: impl Fn(&str) -> Option<String>,
    report: &mut ParseReport,
) -> ParticipantDetails {
    let mut time = |key: &str| {
        let raw = text(key)?;
        match DateTime::parse_from_rfc3339(&raw) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                report.bad(key.to_owned(), &raw);
                None
            }
        }
    };
    ParticipantDetails {
        user_id: text("user_id"),
        user_name: text("user_name"),
        device: text("device"),
        location: text("location"),
        network_type: text("network_type"),
        data_center: text("data_center"),
        version: text("version"),
        join_time: time("join_time"),
        leave_time: time("leave_time"),
    }
}

pub(super) fn sample_from_json(
    index: usize,
    entry: &Json,
    report: &mut ParseReport,
) -> Option<QosSample> {
    let raw_time = entry.get("date_time").and_then(Json::as_str);
    let at = match raw_time.map(DateTime::parse_from_rfc3339) {
        Some(Ok(t)) => t.with_timezone(&Utc),
        _ => {
            // A sample without a time cannot be ordered or deduplicated.
            report.bad(
                format!("user_qos[{index}].date_time"),
                raw_time.unwrap_or(""),
            );
            return None;
        }
    };
    let mut sample = QosSample {
        at,
        ..QosSample::default()
    };
    for stream in Stream::all() {
        let key = stream.name();
        let Some(object) = entry.get(&key).and_then(Json::as_object) else {
            continue;
        };
        let resolution = object.get("resolution").and_then(|raw| {
            let path = format!("{key}.resolution");
            parse_resolution_field(raw, &path, report)
        });
        let mut field = |metric: StreamMetric| {
            let raw = object.get(metric.name())?;
            let path = format!("{key}.{}", metric.name());
            parse_number_field(raw, metric.unit(), &path, report)
        };
        let qos = StreamQos {
            bitrate_kbps: field(StreamMetric::Bitrate),
            latency_ms: field(StreamMetric::Latency),
            jitter_ms: field(StreamMetric::Jitter),
            avg_loss_pct: field(StreamMetric::AvgLoss),
            max_loss_pct: field(StreamMetric::MaxLoss),
            resolution,
            frame_rate_fps: field(StreamMetric::FrameRate),
        };
        if !qos.is_empty() {
            sample.streams.insert(stream, qos);
        }
    }
    if let Some(cpu) = entry.get("cpu_usage").and_then(Json::as_object) {
        let mut field = |metric: CpuMetric| {
            let raw = cpu.get(metric.name())?;
            let path = format!("cpu_usage.{}", metric.name());
            parse_number_field(raw, Unit::Percent, &path, report)
        };
        sample.cpu = CpuUsage {
            zoom_min_pct: field(CpuMetric::ZoomMin),
            zoom_avg_pct: field(CpuMetric::ZoomAvg),
            zoom_max_pct: field(CpuMetric::ZoomMax),
            system_max_pct: field(CpuMetric::SystemMax),
        };
    }
    if let Some(wifi) = entry.get("wifi_rssi").and_then(Json::as_object) {
        let mut field = |metric: WifiMetric| {
            let raw = wifi.get(metric.name())?;
            let path = format!("wifi_rssi.{}", metric.name());
            parse_number_field(raw, Unit::Dbm, &path, report)
        };
        sample.wifi = WifiRssi {
            avg_dbm: field(WifiMetric::Avg),
            max_dbm: field(WifiMetric::Max),
            min_dbm: field(WifiMetric::Min),
        };
    }
    Some(sample)
}

fn parse_number_field(raw: &Json, unit: Unit, path: &str, report: &mut ParseReport) -> Option<f64> {
    match raw {
        Json::Number(n) => n.as_f64().filter(|v| v.is_finite()),
        Json::String(s) => match parse_value(s, unit) {
            Ok(value) => value,
            Err(BadValue) => {
                report.bad(path.to_owned(), s);
                None
            }
        },
        Json::Null => None,
        other => {
            report.bad(path.to_owned(), &other.to_string());
            None
        }
    }
}

fn parse_resolution_field(raw: &Json, path: &str, report: &mut ParseReport) -> Option<Resolution> {
    let Json::String(s) = raw else {
        if !raw.is_null() {
            report.bad(path.to_owned(), &raw.to_string());
        }
        return None;
    };
    match parse_resolution(s) {
        Ok(value) => value,
        Err(BadValue) => {
            report.bad(path.to_owned(), s);
            None
        }
    }
}

/// Parses one of Zoom's value strings into a number in `unit`.
///
/// `Ok(None)` is "no data" (`""`); `Err(BadValue)` is a value qoswatch cannot read
/// (the caller counts it). A unit that belongs to another family is an error;
/// a missing unit is accepted, as Zoom sometimes sends bare numbers.
pub fn parse_value(raw: &str, unit: Unit) -> Result<Option<f64>, BadValue> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed == "-" {
        return Ok(None);
    }
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(trimmed.len());
    let (number, suffix) = trimmed.split_at(split);
    let amount: f64 = number.parse().map_err(|_| BadValue)?;
    if !amount.is_finite() {
        return Err(BadValue);
    }
    let suffix = suffix.trim().to_ascii_lowercase();
    let amount = match (unit, suffix.as_str()) {
        (_, "") => amount,
        (Unit::Millis, "ms") => amount,
        (Unit::Millis, "s") => amount * 1000.0,
        (Unit::Percent, "%") => amount,
        (Unit::Kbps, "kbps") => amount,
        (Unit::Kbps, "mbps") => amount * 1000.0,
        (Unit::Kbps, "bps") => amount / 1000.0,
        (Unit::Fps, "fps") => amount,
        (Unit::Pixels, "p" | "px") => amount,
        (Unit::Dbm, "dbm") => amount,
        _ => return Err(BadValue),
    };
    Ok(Some(amount))
}

/// Parses `"1280*720"` (also `1280x720`). `"0*0"` and `""` are no data.
pub fn parse_resolution(raw: &str) -> Result<Option<Resolution>, BadValue> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let (width, height) = trimmed.split_once(['*', 'x', 'X']).ok_or(BadValue)?;
    let width: u32 = width.trim().parse().map_err(|_| BadValue)?;
    let height: u32 = height.trim().parse().map_err(|_| BadValue)?;
    if width == 0 && height == 0 {
        return Ok(None);
    }
    Ok(Some(Resolution { width, height }))
}

/// A value string qoswatch cannot read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unreadable QoS value")]
pub struct BadValue;

/// The QoS answer was not a JSON object at all.
#[derive(Debug, Clone, thiserror::Error)]
#[error("QoS answer is not a JSON object: {0}")]
pub struct ParseError(String);

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(minute: u32, index: usize, raw: &RawValue) -> DatedEntry<'_> {
        let at = format!("2021-06-24T20:{minute:02}:00Z")
            .parse::<DateTime<Utc>>()
            .expect("time");
        DatedEntry { at, index, raw }
    }

    #[test]
    fn entries_are_equal_exactly_when_they_order_equal() {
        let raw: Box<RawValue> = RawValue::from_string("{}".to_owned()).expect("raw");
        let other: Box<RawValue> = RawValue::from_string("[]".to_owned()).expect("raw");
        // Same time and index: equal, whatever the text (an index names one entry).
        assert!(entry(1, 0, &raw) == entry(1, 0, &other));
        assert!(entry(1, 0, &raw) != entry(1, 1, &raw));
        assert!(entry(1, 0, &raw) != entry(2, 0, &raw));
        assert!(entry(1, 5, &raw) < entry(2, 0, &raw), "time first");
        assert!(entry(2, 0, &raw) < entry(2, 1, &raw), "then Zoom's order");
    }
}
