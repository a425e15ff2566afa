//! Zoom's QSS push events (`meeting.participant_qos`,
//! `webinar.participant_qos`) into samples.
//!
//! A QSS event carries `payload.object.participant.qos[]`: one entry per
//! stream and minute, `{date_time, type, details}`, where `type` names what
//! the Dashboard answer has as a field of a `user_qos[]` entry
//! (`audio_input`, `video_output`, `cpu_usage`, `audio_device_from_rwg`,
//! `wifi_rssi`, …) and `details` holds the same strings with units. So
//! entries are grouped by `date_time` into Dashboard-shaped entries and read
//! by the Dashboard's own parser: the same lenient reading of values, the
//! same samples. Types qoswatch does not read (`audio_quality`,
//! `video_quality`, `as_quality`, `notification`) are kept out; types not
//! in Zoom's documented list are counted, never an error.
//!
//! Wi-Fi: the changelog (2023-08-26) put `min_rssi`/`avg_rssi`/`max_rssi`
//! into the streams' `details` (Zoom's example has them in `audio_input`);
//! the type list has `wifi_rssi` too. Both are read; a `wifi_rssi` entry
//! wins.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value as Json};

use super::QosSample;
use super::parse::{ParseReport, sample_from_json};

/// One entry of a QSS event's `qos[]`, read leniently: a missing or odd
/// field makes the entry count as unreadable, never the event.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QssEntry {
    #[serde(default)]
    pub date_time: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub details: Json,
}

/// What reading a QSS event's entries found besides samples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QssReport {
    /// Values that could not be read (as for the Dashboard's answers).
    pub parse: ParseReport,
    /// Entries of a `type` not in Zoom's documented list: ignored.
    pub unknown_types: usize,
    /// Entries without a `date_time`, a `type` or a `details` object.
    pub unreadable_entries: usize,
}

/// Zoom's documented `type`s (the enum of `qos[].type` in the QSS
/// webhooks reference) whose `details` qoswatch reads: the Dashboard's
/// fields of a `user_qos[]` entry.
const READ_TYPES: &[&str] = &[
    "audio_input",
    "audio_output",
    "video_input",
    "video_output",
    "as_input",
    "as_output",
    "cpu_usage",
    "audio_device_from_crc",
    "audio_device_to_crc",
    "video_device_from_crc",
    "video_device_to_crc",
    "as_device_from_crc",
    "as_device_to_crc",
    "audio_device_from_rwg",
    "audio_device_to_rwg",
    "video_device_from_rwg",
    "video_device_to_rwg",
    "as_device_from_rwg",
    "as_device_to_rwg",
    "wifi_rssi",
];

/// Documented types qoswatch does not turn into sample values: Zoom's own
/// quality grades and notifications.
const NOT_READ: &[&str] = &[
    "audio_quality",
    "video_quality",
    "as_quality",
    "notification",
];

/// The samples of a QSS event's `qos[]`, oldest first, one per
/// `date_time`.
pub fn samples_from_qss(entries: Vec<QssEntry>) -> (Vec<QosSample>, QssReport) {
    let mut report = QssReport::default();
    // Zoom's `date_time` is RFC 3339 in UTC (`2021-07-13T21:44:51Z`): as
    // text it sorts by time; the parser checks it.
    let mut minutes: BTreeMap<String, Map<String, Json>> = BTreeMap::new();
    for entry in entries {
        let (Some(date_time), Some(kind), Json::Object(details)) =
            (entry.date_time, entry.kind, entry.details)
        else {
            report.unreadable_entries += 1;
            continue;
        };
        if NOT_READ.contains(&kind.as_str()) {
            continue;
        }
        if !READ_TYPES.contains(&kind.as_str()) {
            report.unknown_types += 1;
            continue;
        }
        let minute = minutes.entry(date_time).or_default();
        if !minute.contains_key("wifi_rssi")
            && kind != "wifi_rssi"
            && let Some(wifi) = wifi_of(&details)
        {
            minute.insert("wifi_rssi".to_owned(), wifi);
        }
        minute.insert(kind, Json::Object(details));
    }
    let samples = minutes
        .into_iter()
        .enumerate()
        .filter_map(|(index, (date_time, mut fields))| {
            fields.insert("date_time".to_owned(), Json::String(date_time));
            sample_from_json(index, &Json::Object(fields), &mut report.parse)
        })
        .collect();
    (samples, report)
}

/// The Wi-Fi fields a stream's `details` may carry, as a `wifi_rssi` object.
fn wifi_of(details: &Map<String, Json>) -> Option<Json> {
    let mut wifi = Map::new();
    for key in ["min_rssi", "avg_rssi", "max_rssi", "rssi_unit"] {
        if let Some(value) = details.get(key) {
            wifi.insert(key.to_owned(), value.clone());
        }
    }
    (!wifi.is_empty()).then_some(Json::Object(wifi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qos::Stream;

    fn entries(json: &str) -> Vec<QssEntry> {
        serde_json::from_str(json).expect("entries")
    }

    /// `payload.object.participant.qos` of Zoom's documented example of
    /// `meeting.participant_qos` (QSS webhooks reference, OpenAPI 3.1.0,
    /// "JSON example"), as published.
    const ZOOM_EXAMPLE: &str = r#"[
          {
            "date_time": "2021-07-13T21:44:51Z",
            "type": "audio_input",
            "details": {
              "bitrate": "63 kbps",
              "latency": "134 ms",
              "jitter": "6 ms",
              "avg_loss": "0.0%",
              "max_loss": "0.0%",
              "quality": "good",
              "quality_score": "3.65",
              "min_rssi": "-56",
              "avg_rssi": "-50",
              "max_rssi": "-44",
              "rssi_unit": "dBm"
            }
          }
        ]"#;

    #[test]
    fn every_type_read_is_a_field_the_dashboard_parser_knows() {
        for kind in READ_TYPES {
            let known =
                matches!(*kind, "cpu_usage" | "wifi_rssi") || Stream::from_name(kind).is_some();
            assert!(known, "{kind}");
        }
        assert_eq!(
            Stream::all().len() + 2,
            READ_TYPES.len(),
            "every stream of the Dashboard is a QSS type"
        );
    }

    #[test]
    fn zooms_documented_example_is_one_sample() {
        let (samples, report) = samples_from_qss(entries(ZOOM_EXAMPLE));
        assert_eq!(report, QssReport::default());
        assert_eq!(samples.len(), 1);
        let sample = &samples[0];
        assert_eq!(sample.at.to_rfc3339(), "2021-07-13T21:44:51+00:00");
        let audio = sample.streams[&Stream::AudioInput];
        assert_eq!(audio.bitrate_kbps, Some(63.0));
        assert_eq!(audio.latency_ms, Some(134.0));
        assert_eq!(audio.jitter_ms, Some(6.0));
        assert_eq!(audio.avg_loss_pct, Some(0.0));
        assert_eq!(audio.max_loss_pct, Some(0.0));
        assert_eq!(sample.wifi.avg_dbm, Some(-50.0));
        assert_eq!(sample.wifi.min_dbm, Some(-56.0));
        assert_eq!(sample.wifi.max_dbm, Some(-44.0));
    }

    #[test]
    fn entries_of_one_minute_make_one_sample_and_minutes_come_in_order() {
        let (samples, report) = samples_from_qss(entries(
            r#"[
              {"date_time": "2026-12-06T10:01:00Z", "type": "audio_output",
               "details": {"latency": "420 ms", "avg_loss": "12.5%"}},
              {"date_time": "2026-12-06T10:00:00Z", "type": "video_input",
               "details": {"resolution": "1280*720", "frame_rate": "12 fps", "bitrate": ""}},
              {"date_time": "2026-12-06T10:01:00Z", "type": "cpu_usage",
               "details": {"zoom_avg_cpu_usage": "35%", "system_max_cpu_usage": "91%"}},
              {"date_time": "2026-12-06T10:01:00Z", "type": "audio_device_from_rwg",
               "details": {"latency": "88 ms"}},
              {"date_time": "2026-12-06T10:01:00Z", "type": "video_quality",
               "details": {"quality": "poor", "quality_score": "1.2"}}
            ]"#,
        ));
        assert_eq!(report, QssReport::default());
        assert_eq!(samples.len(), 2);
        assert!(samples[0].at < samples[1].at);
        let video = samples[0].streams[&Stream::VideoInput];
        assert_eq!(video.frame_rate_fps, Some(12.0));
        assert_eq!(video.bitrate_kbps, None, "\"\" is no data, not zero");
        assert_eq!(video.resolution.map(|r| r.height), Some(720));
        let later = &samples[1];
        let audio_out = later.streams[&Stream::AudioOutput];
        assert_eq!(audio_out.latency_ms, Some(420.0));
        assert_eq!(audio_out.avg_loss_pct, Some(12.5));
        assert_eq!(later.cpu.zoom_avg_pct, Some(35.0));
        assert_eq!(later.cpu.system_max_pct, Some(91.0));
        assert_eq!(
            later
                .streams
                .iter()
                .filter(|(stream, _)| stream.name() == "audio_device_from_rwg")
                .count(),
            1
        );
    }

    #[test]
    fn unknown_types_odd_entries_and_bad_values_are_counted_not_fatal() {
        let (samples, report) = samples_from_qss(entries(
            r#"[
              {"date_time": "2026-12-06T10:00:00Z", "type": "hologram_input",
               "details": {"latency": "1 ms"}},
              {"date_time": "2026-12-06T10:00:00Z", "type": "audio_input"},
              {"type": "audio_input", "details": {"latency": "1 ms"}},
              {"date_time": "2026-12-06T10:00:00Z", "type": "audio_input",
               "details": {"latency": "fast", "jitter": "3 ms"}},
              {"date_time": "yesterday", "type": "audio_input",
               "details": {"latency": "10 ms"}}
            ]"#,
        ));
        assert_eq!(report.unknown_types, 1);
        assert_eq!(report.unreadable_entries, 2);
        assert_eq!(report.parse.bad_value_count, 2, "{report:?}");
        assert_eq!(samples.len(), 1, "the minute without a time is dropped");
        let audio = samples[0].streams[&Stream::AudioInput];
        assert_eq!(audio.latency_ms, None);
        assert_eq!(audio.jitter_ms, Some(3.0));
    }

    #[test]
    fn a_wifi_rssi_entry_wins_over_the_streams_copies() {
        let (samples, _) = samples_from_qss(entries(
            r#"[
              {"date_time": "2026-12-06T10:00:00Z", "type": "audio_input",
               "details": {"latency": "10 ms", "avg_rssi": "-50"}},
              {"date_time": "2026-12-06T10:00:00Z", "type": "wifi_rssi",
               "details": {"avg_rssi": "-71 dBm", "min_rssi": "-80", "max_rssi": "-60"}}
            ]"#,
        ));
        assert_eq!(samples[0].wifi.avg_dbm, Some(-71.0));
        assert_eq!(samples[0].wifi.min_dbm, Some(-80.0));
    }
}
