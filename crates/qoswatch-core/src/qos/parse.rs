//! Zoom's QoS answers into typed samples. Lenient per value, strict per
//! type: an unknown field is ignored, an unreadable value becomes "no data"
//! and is reported in [`ParseReport`], and the sample goes on.

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::{
    CpuMetric, CpuUsage, ParticipantDetails, ParticipantQos, QosSample, Resolution, Stream,
    StreamMetric, StreamQos, Unit, WifiMetric, WifiRssi,
};

/// Values that could not be parsed, for counting and a debug log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseReport {
    /// `(field path, offending value)`; the value is never personal data.
    pub bad_values: Vec<(String, String)>,
}

impl ParseReport {
    fn bad(&mut self, path: String, value: &str) {
        let mut value = value.to_owned();
        value.truncate(40);
        self.bad_values.push((path, value));
    }
}

/// Parses one participant's QoS answer. Fails only when the document is not
/// a JSON object; bad values inside become "no data" and land in the report.
pub fn parse_participant_qos(body: &[u8]) -> Result<(ParticipantQos, ParseReport), ParseError> {
    let json: Json = serde_json::from_slice(body).map_err(|e| ParseError(e.to_string()))?;
    let Json::Object(_) = json else {
        return Err(ParseError("expected a JSON object".into()));
    };
    let mut report = ParseReport::default();
    let parsed = participant_from_json(&json, &mut report);
    Ok((parsed, report))
}

/// Parses one participant object (as in the single and the list endpoint).
pub fn participant_from_json(json: &Json, report: &mut ParseReport) -> ParticipantQos {
    let text = |key: &str| {
        json.get(key)
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
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
    let details = ParticipantDetails {
        user_id: text("user_id"),
        user_name: text("user_name"),
        device: text("device"),
        location: text("location"),
        network_type: text("network_type"),
        data_center: text("data_center"),
        version: text("version"),
        join_time: time("join_time"),
        leave_time: time("leave_time"),
    };
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

fn sample_from_json(index: usize, entry: &Json, report: &mut ParseReport) -> Option<QosSample> {
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
