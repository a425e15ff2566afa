//! Tests of the QoS vocabulary and of parsing Zoom's answers.

use super::*;

const FIXTURE: &str = include_str!("../../../../tests/fixtures/qos.participant.json");

#[test]
fn values_with_units_parse() {
    assert_eq!(parse_value("126 ms", Unit::Millis), Ok(Some(126.0)));
    assert_eq!(parse_value("0.3%", Unit::Percent), Ok(Some(0.3)));
    assert_eq!(parse_value("1055 kbps", Unit::Kbps), Ok(Some(1055.0)));
    assert_eq!(parse_value("1.5 Mbps", Unit::Kbps), Ok(Some(1500.0)));
    assert_eq!(parse_value("12 fps", Unit::Fps), Ok(Some(12.0)));
    assert_eq!(parse_value("-61 dBm", Unit::Dbm), Ok(Some(-61.0)));
    assert_eq!(parse_value("40", Unit::Percent), Ok(Some(40.0)));
}

#[test]
fn empty_is_no_data_not_zero() {
    assert_eq!(parse_value("", Unit::Millis), Ok(None));
    assert_eq!(parse_value("  ", Unit::Fps), Ok(None));
    assert_eq!(parse_resolution(""), Ok(None));
    assert_eq!(parse_resolution("0*0"), Ok(None));
}

#[test]
fn seconds_and_bits_per_second_convert_to_rule_units() {
    // Rules compare milliseconds and kbps: "1.2 s" is a 1200 ms latency.
    assert_eq!(parse_value("1.2 s", Unit::Millis), Ok(Some(1200.0)));
    assert_eq!(parse_value("2s", Unit::Millis), Ok(Some(2000.0)));
    assert_eq!(parse_value("23000 bps", Unit::Kbps), Ok(Some(23.0)));
    assert_eq!(parse_value("500 bps", Unit::Kbps), Ok(Some(0.5)));
    // Units of another family are still errors.
    assert_eq!(parse_value("2 s", Unit::Kbps), Err(BadValue));
    assert_eq!(parse_value("500 bps", Unit::Millis), Err(BadValue));
}

#[test]
fn answers_in_seconds_and_bps_reach_the_sample_converted() {
    let body = r#"{"user_qos":[{"date_time":"2021-06-24T20:01:00Z",
        "audio_input":{"latency":"1.2 s","bitrate":"23000 bps"}}]}"#;
    let (qos, report) = parse_participant_qos(body.as_bytes()).expect("parses");
    assert!(report.bad_values.is_empty(), "{report:?}");
    let get = |name: &str| qos.samples[0].get(MetricId::parse(name).expect(name));
    assert_eq!(get("audio_input.latency"), Some(1200.0));
    assert_eq!(get("audio_input.bitrate"), Some(23.0));
}

#[test]
fn pixels_parse_with_or_without_their_unit() {
    assert_eq!(parse_value("720p", Unit::Pixels), Ok(Some(720.0)));
    assert_eq!(parse_value("360 px", Unit::Pixels), Ok(Some(360.0)));
    assert_eq!(parse_value("1080", Unit::Pixels), Ok(Some(1080.0)));
    assert_eq!(parse_value("720 ms", Unit::Pixels), Err(BadValue));
}

#[test]
fn only_a_zero_by_zero_resolution_is_no_data() {
    // "0*0" is Zoom's "no video"; one zero dimension is a reading
    // (a 0-pixel-high picture is as bad as it gets), not missing data.
    assert_eq!(parse_resolution("0*0"), Ok(None));
    assert_eq!(
        parse_resolution("1280*0"),
        Ok(Some(Resolution {
            width: 1280,
            height: 0
        }))
    );
    assert_eq!(
        parse_resolution("0*720"),
        Ok(Some(Resolution {
            width: 0,
            height: 720
        }))
    );
    let body = r#"{"user_qos":[{"date_time":"2021-06-24T20:01:00Z",
        "video_input":{"resolution":"0*0","frame_rate":"12 fps"},
        "video_output":{"resolution":"640*0"}}]}"#;
    let (qos, _) = parse_participant_qos(body.as_bytes()).expect("parses");
    let get = |name: &str| qos.samples[0].get(MetricId::parse(name).expect(name));
    assert_eq!(get("video_input.resolution"), None);
    assert_eq!(get("video_input.frame_rate"), Some(12.0));
    assert_eq!(get("video_output.resolution"), Some(0.0));
}

#[test]
fn a_null_resolution_is_no_data_and_a_non_string_one_is_reported() {
    let body = r#"{"user_qos":[{"date_time":"2021-06-24T20:01:00Z",
        "video_input":{"resolution":null,"frame_rate":"12 fps"},
        "video_output":{"resolution":720,"frame_rate":"20 fps"}}]}"#;
    let (qos, report) = parse_participant_qos(body.as_bytes()).expect("parses");
    let get = |name: &str| qos.samples[0].get(MetricId::parse(name).expect(name));
    assert_eq!(get("video_input.resolution"), None);
    assert_eq!(get("video_output.resolution"), None);
    assert_eq!(
        report.bad_values,
        [("video_output.resolution".to_owned(), "720".to_owned())]
    );
}

#[test]
fn wrong_or_garbage_units_are_errors() {
    assert_eq!(parse_value("126 fps", Unit::Millis), Err(BadValue));
    assert_eq!(parse_value("abc", Unit::Millis), Err(BadValue));
    assert_eq!(parse_value("NaN", Unit::Millis), Err(BadValue));
    assert_eq!(parse_resolution("1280"), Err(BadValue));
}

#[test]
fn resolution_parses_both_separators() {
    assert_eq!(
        parse_resolution("1280*720"),
        Ok(Some(Resolution {
            width: 1280,
            height: 720
        }))
    );
    assert_eq!(
        parse_resolution("640x360"),
        Ok(Some(Resolution {
            width: 640,
            height: 360
        }))
    );
}

#[test]
fn fixture_parses_every_stream() {
    let (qos, report) = parse_participant_qos(FIXTURE.as_bytes()).expect("fixture parses");
    assert!(report.bad_values.is_empty(), "{report:?}");
    assert_eq!(qos.details.user_id.as_deref(), Some("1670000000"));
    assert_eq!(qos.details.device.as_deref(), Some("Android"));
    assert_eq!(qos.details.location.as_deref(), Some("San Jose (US)"));
    assert!(qos.details.leave_time.is_some());
    assert_eq!(qos.samples.len(), 1);
    let sample = &qos.samples[0];
    assert_eq!(sample.at.to_rfc3339(), "2021-06-24T20:00:00+00:00");
    let get = |name: &str| sample.get(MetricId::parse(name).expect(name));
    assert_eq!(get("audio_input.bitrate"), Some(23.0));
    assert_eq!(get("audio_input.latency"), Some(126.0));
    assert_eq!(get("audio_input.avg_loss"), Some(0.3));
    assert_eq!(get("audio_input.max_loss"), Some(1.9));
    assert_eq!(get("audio_output.latency"), Some(134.0));
    assert_eq!(get("video_input.resolution"), Some(720.0));
    assert_eq!(get("video_input.frame_rate"), Some(12.0));
    assert_eq!(get("video_output.frame_rate"), Some(22.0));
    assert_eq!(get("video_output.bitrate"), Some(673.0));
    assert_eq!(get("as_input.jitter"), Some(8.0));
    // "0*0" and "" are no data, not zero.
    assert_eq!(get("as_input.resolution"), None);
    assert_eq!(get("as_output.frame_rate"), None);
    assert_eq!(get("cpu_usage.zoom_min_cpu_usage"), Some(8.0));
    assert_eq!(get("cpu_usage.zoom_avg_cpu_usage"), Some(12.0));
    assert_eq!(get("cpu_usage.zoom_max_cpu_usage"), Some(18.0));
    assert_eq!(get("cpu_usage.system_max_cpu_usage"), Some(40.0));
    assert_eq!(get("wifi_rssi.avg_rssi"), None);
}

#[test]
fn bad_values_become_no_data_and_are_reported() {
    let body = r#"{"user_id":"1","user_qos":[{"date_time":"2021-06-24T20:01:00Z",
        "audio_input":{"latency":"fast","jitter":"7 ms","avg_loss":"","future_field":"x"},
        "audio_output":"",
        "brand_new_stream":{"latency":"1 ms"},
        "wifi_rssi":{"avg_rssi":"-61","max_rssi":"-50 dBm","min_rssi":"-70","rssi_unit":"dBm"},
        "audio_device_from_crc":{"latency":"88 ms"}},
        {"date_time":"not a time"}]}"#;
    let (qos, report) = parse_participant_qos(body.as_bytes()).expect("parses");
    assert_eq!(qos.samples.len(), 1, "a sample without a time is dropped");
    let sample = &qos.samples[0];
    let get = |name: &str| sample.get(MetricId::parse(name).expect(name));
    assert_eq!(get("audio_input.latency"), None);
    assert_eq!(get("audio_input.jitter"), Some(7.0));
    assert_eq!(get("audio_output.latency"), None);
    assert_eq!(get("wifi_rssi.avg_rssi"), Some(-61.0));
    assert_eq!(get("wifi_rssi.max_rssi"), Some(-50.0));
    assert_eq!(get("audio_device_from_crc.latency"), Some(88.0));
    // Times are read first (to choose the newest samples), values after.
    let paths: Vec<&str> = report.bad_values.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["user_qos[1].date_time", "audio_input.latency"]);
    assert_eq!(report.bad_value_count, 2);
}

#[test]
fn metric_names_round_trip() {
    for metric in MetricId::all() {
        assert_eq!(MetricId::parse(&metric.name()), Some(metric), "{metric}");
    }
    assert_eq!(MetricId::parse("audio_input.latncy"), None);
    assert_eq!(MetricId::parse("latency"), None);
}

#[test]
fn every_metric_is_known_for_suggestions() {
    // 6 classic + 12 device streams with 7 figures each, 4 CPU, 3 Wi-Fi.
    let all = MetricId::all();
    assert_eq!(all.len(), 18 * 7 + 4 + 3);
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "no metric twice");
    for name in [
        "audio_input.latency",
        "as_output.resolution",
        "video_device_to_rwg.frame_rate",
        "cpu_usage.system_max_cpu_usage",
        "wifi_rssi.min_rssi",
    ] {
        let metric = MetricId::parse(name).expect(name);
        assert!(all.contains(&metric), "{name}");
    }
}

#[test]
fn names_print_as_rule_files_write_them() {
    let metric = MetricId::Stream(Stream::AudioInput, StreamMetric::Latency);
    assert_eq!(metric.to_string(), "audio_input.latency");
    assert_eq!(
        MetricId::Cpu(CpuMetric::ZoomMax).to_string(),
        "cpu_usage.zoom_max_cpu_usage"
    );
    assert_eq!(Stream::ShareOutput.to_string(), "as_output");
    let device = Stream::Device {
        media: Media::Audio,
        direction: DeviceDirection::From,
        peer: DevicePeer::Crc,
    };
    assert_eq!(device.to_string(), "audio_device_from_crc");
    let resolution = Resolution {
        width: 1280,
        height: 720,
    };
    assert_eq!(resolution.to_string(), "1280x720");
}

#[test]
fn a_sample_with_any_single_figure_is_not_empty() {
    let latency = MetricId::Stream(Stream::AudioInput, StreamMetric::Latency);
    assert!(QosSample::default().is_empty());
    assert_eq!(QosSample::default().quantity(latency), None);
    let mut stream_only = QosSample::default();
    stream_only.streams.insert(
        Stream::AudioInput,
        StreamQos {
            latency_ms: Some(126.0),
            ..StreamQos::default()
        },
    );
    assert!(!stream_only.is_empty());
    assert_eq!(
        stream_only.quantity(latency),
        Some(Quantity::new(126.0, Unit::Millis))
    );
    let cpu_only = QosSample {
        cpu: CpuUsage {
            system_max_pct: Some(40.0),
            ..CpuUsage::default()
        },
        ..QosSample::default()
    };
    assert!(!cpu_only.is_empty());
    let wifi_only = QosSample {
        wifi: WifiRssi {
            min_dbm: Some(-70.0),
            ..WifiRssi::default()
        },
        ..QosSample::default()
    };
    assert!(!wifi_only.is_empty());
    // A stream of "" figures is no stream at all.
    assert!(StreamQos::default().is_empty());
    let body = r#"{"user_qos":[{"date_time":"2021-06-24T20:01:00Z",
        "audio_input":{"latency":"","jitter":"","resolution":""}}]}"#;
    let (qos, _) = parse_participant_qos(body.as_bytes()).expect("parses");
    assert!(qos.samples[0].streams.is_empty());
    assert!(qos.samples[0].is_empty());
}

#[test]
fn quantities_print_readably() {
    assert_eq!(Quantity::new(126.0, Unit::Millis).to_string(), "126 ms");
    assert_eq!(Quantity::new(5.5, Unit::Percent).to_string(), "5.5%");
    assert_eq!(Quantity::new(7.0, Unit::Fps).to_string(), "7 fps");
}

#[test]
fn non_object_is_an_error() {
    assert!(parse_participant_qos(b"[1,2]").is_err());
    assert!(parse_participant_qos(b"not json").is_err());
}

/// An answer with one minimal sample per given minute, in this order.
fn answer_with_minutes(minutes: &[u32]) -> String {
    let entries: Vec<String> = minutes
        .iter()
        .map(|m| {
            format!(
                r#"{{"date_time":"2021-06-24T20:{m:02}:00Z","audio_input":{{"latency":"{m} ms"}}}}"#
            )
        })
        .collect();
    format!(r#"{{"user_id":"1","user_qos":[{}]}}"#, entries.join(","))
}

fn minutes_of(qos: &ParticipantQos) -> Vec<u32> {
    use chrono::Timelike;
    qos.samples.iter().map(|s| s.at.minute()).collect()
}

#[test]
fn only_the_newest_samples_are_taken_in_zoom_order() {
    let body = answer_with_minutes(&[5, 1, 9, 3, 7, 2]);
    let (qos, report) = parse_participant_qos_newest(body.as_bytes(), 3).expect("parses");
    assert_eq!(minutes_of(&qos), [5, 9, 7]);
    assert_eq!(report.samples_dropped, 3);
    // The values belong to their own sample, not to a neighbour.
    let latency = MetricId::parse("audio_input.latency").expect("metric");
    let values: Vec<Option<f64>> = qos.samples.iter().map(|s| s.get(latency)).collect();
    assert_eq!(values, [Some(5.0), Some(9.0), Some(7.0)]);

    let (all, report) = parse_participant_qos_newest(body.as_bytes(), 6).expect("parses");
    assert_eq!(minutes_of(&all), [5, 1, 9, 3, 7, 2]);
    assert_eq!(report.samples_dropped, 0);
    let (none, report) = parse_participant_qos_newest(body.as_bytes(), 0).expect("parses");
    assert!(none.samples.is_empty());
    assert_eq!(report.samples_dropped, 6);
    assert_eq!(
        none.details.user_id.as_deref(),
        Some("1"),
        "details still read"
    );
}

#[test]
fn of_samples_with_the_same_time_the_later_ones_win_a_tie_at_the_bound() {
    let body = answer_with_minutes(&[4, 4, 4]);
    let (qos, report) = parse_participant_qos_newest(body.as_bytes(), 2).expect("parses");
    assert_eq!(minutes_of(&qos), [4, 4]);
    assert_eq!(report.samples_dropped, 1);
}

#[test]
fn entries_without_a_time_neither_count_against_the_bound_nor_are_kept() {
    let body = r#"{"user_qos":[{"date_time":"2021-06-24T20:01:00Z"},{"audio_input":{}},
        7,{"date_time":12},{"date_time":"soon"},{"date_time":"2021-06-24T20:02:00Z"}]}"#;
    let (qos, report) = parse_participant_qos_newest(body.as_bytes(), 2).expect("parses");
    assert_eq!(minutes_of(&qos), [1, 2]);
    assert_eq!(report.samples_dropped, 0);
    assert_eq!(
        report.bad_values,
        [
            ("user_qos[1].date_time".to_owned(), String::new()),
            ("user_qos[2].date_time".to_owned(), String::new()),
            ("user_qos[3].date_time".to_owned(), String::new()),
            ("user_qos[4].date_time".to_owned(), "soon".to_owned()),
        ]
    );
}

#[test]
fn a_repeated_key_counts_once_the_last_one_winning() {
    // As serde_json's own maps do: the last `date_time` and `user_id` win.
    let body = r#"{"user_id":"1","user_id":"2","user_qos":[
        {"date_time":"not a time","date_time":"2021-06-24T20:03:00Z"}]}"#;
    let (qos, report) = parse_participant_qos(body.as_bytes()).expect("parses");
    assert_eq!(qos.details.user_id.as_deref(), Some("2"));
    assert_eq!(minutes_of(&qos), [3]);
    assert_eq!(report.bad_value_count, 0, "{report:?}");
}

#[test]
fn a_user_qos_that_is_not_an_array_is_no_samples() {
    for user_qos in [r#""""#, "{}", "null", "12"] {
        let body = format!(r#"{{"user_id":"1","user_qos":{user_qos}}}"#);
        let (qos, _) = parse_participant_qos(body.as_bytes()).expect("parses");
        assert!(qos.samples.is_empty(), "{user_qos}");
        assert_eq!(qos.details.user_id.as_deref(), Some("1"));
    }
}

#[test]
fn a_report_names_a_bounded_number_of_bad_values_and_counts_them_all() {
    let entries: Vec<String> = (0..1000)
        .map(|i| format!(r#"{{"date_time":"bad {i}"}}"#))
        .collect();
    let body = format!(r#"{{"user_qos":[{}]}}"#, entries.join(","));
    let (qos, report) = parse_participant_qos(body.as_bytes()).expect("parses");
    assert!(qos.samples.is_empty());
    assert_eq!(report.bad_value_count, 1000);
    assert_eq!(report.bad_values.len(), MAX_REPORTED_BAD_VALUES);
    assert_eq!(report.bad_values[0].1, "bad 0");
}

#[test]
fn a_long_bad_value_is_cut_between_characters() {
    // One byte, then two-byte characters: byte 40 falls inside one of them.
    let value = format!("a{}", "é".repeat(30));
    let body = format!(
        r#"{{"user_qos":[{{"date_time":"2021-06-24T20:01:00Z","audio_input":{{"latency":"{value}"}}}}]}}"#
    );
    let (_, report) = parse_participant_qos(body.as_bytes()).expect("parses without panicking");
    assert_eq!(
        report.bad_values[0].1, value,
        "31 characters are kept whole"
    );
    let long = format!("a{}", "é".repeat(50));
    let body = body.replace(&value, &long);
    let (_, report) = parse_participant_qos(body.as_bytes()).expect("parses");
    assert_eq!(report.bad_values[0].1.chars().count(), 40);
}

#[test]
fn escaped_keys_and_times_are_read_like_plain_ones() {
    let body =
        r#"{"user_\u0069d":"1","user_qos":[{"date\u005ftime":"2021-06-24T20:0\u0035:00Z"}]}"#;
    let (qos, report) = parse_participant_qos(body.as_bytes()).expect("parses");
    assert_eq!(qos.details.user_id.as_deref(), Some("1"));
    assert_eq!(minutes_of(&qos), [5], "{report:?}");
}

#[test]
fn a_participant_object_of_the_list_endpoint_parses_like_an_answer() {
    let json: serde_json::Value = serde_json::from_str(
        r#"{"user_id":"16778240","user_name":"","device":"Mac","location":"",
            "join_time":"2021-06-24T20:00:00Z","leave_time":"",
            "user_qos":[{"date_time":"2021-06-24T20:01:00Z","audio_input":{"latency":"126 ms"}},
                        {"date_time":"2021-06-24T20:02:00Z"}]}"#,
    )
    .expect("json");
    let mut report = ParseReport::default();
    let qos = participant_from_json(&json, &mut report);
    assert_eq!(qos.details.user_id.as_deref(), Some("16778240"));
    assert_eq!(qos.details.device.as_deref(), Some("Mac"));
    assert_eq!(qos.details.user_name, None, "an empty text is no text");
    assert_eq!(qos.details.location, None);
    assert_eq!(qos.details.leave_time, None);
    assert!(qos.details.join_time.is_some());
    assert_eq!(qos.samples.len(), 2);
    assert_eq!(
        qos.samples[0].get(MetricId::parse("audio_input.latency").expect("metric")),
        Some(126.0)
    );
    assert_eq!(report.bad_value_count, 0);
}

fn minute(m: u32) -> chrono::DateTime<chrono::Utc> {
    format!("2021-06-24T20:{m:02}:00Z").parse().expect("time")
}

#[test]
fn samples_at_or_before_the_last_seen_are_skipped_and_not_counted_as_dropped() {
    let body = answer_with_minutes(&[1, 2, 3, 4, 5]);
    let (qos, report) =
        parse_participant_qos_since(body.as_bytes(), 10, Some(minute(3))).expect("parses");
    assert_eq!(minutes_of(&qos), [4, 5], "strictly after the last seen");
    assert_eq!(report.samples_dropped, 0);
    let (qos, _) = parse_participant_qos_since(body.as_bytes(), 10, None).expect("parses");
    assert_eq!(minutes_of(&qos), [1, 2, 3, 4, 5]);
    let (qos, _) =
        parse_participant_qos_since(body.as_bytes(), 10, Some(minute(5))).expect("parses");
    assert!(qos.samples.is_empty(), "nothing new");
    // The bound applies to what is new: of 4 and 5, only the newest.
    let (qos, report) =
        parse_participant_qos_since(body.as_bytes(), 1, Some(minute(3))).expect("parses");
    assert_eq!(minutes_of(&qos), [5]);
    assert_eq!(report.samples_dropped, 1);
}

#[test]
fn a_skipped_sample_is_not_read_so_its_bad_values_are_not_reported() {
    let body = r#"{"user_id":"1","user_qos":[
        {"date_time":"2021-06-24T20:01:00Z","audio_input":{"latency":"banana"}},
        {"date_time":"2021-06-24T20:02:00Z","audio_input":{"latency":"80 ms"}}]}"#;
    let (qos, report) =
        parse_participant_qos_since(body.as_bytes(), 10, Some(minute(1))).expect("parses");
    assert_eq!(minutes_of(&qos), [2]);
    assert_eq!(report.bad_value_count, 0);
    let (_, report) = parse_participant_qos_since(body.as_bytes(), 10, None).expect("parses");
    assert_eq!(report.bad_value_count, 1);
}

/// A list page in Zoom's shape with the given participants' bodies.
fn list_page(participants: &[String], next_page_token: &str) -> String {
    format!(
        r#"{{"page_count":3,"page_size":10,"total_records":25,"next_page_token":"{next_page_token}","participants":[{}]}}"#,
        participants.join(",")
    )
}

fn participant_with_minutes(user_id: &str, minutes: &[u32]) -> String {
    answer_with_minutes(minutes).replacen(
        r#""user_id":"1""#,
        &format!(r#""user_id":"{user_id}""#),
        1,
    )
}

#[test]
fn a_list_page_gives_each_participant_its_own_new_samples() {
    let body = list_page(
        &[
            participant_with_minutes("a", &[1, 2, 3]),
            participant_with_minutes("b", &[1, 2, 3]),
            participant_with_minutes("c", &[2, 3]),
        ],
        "tok",
    );
    let seen = |user_id: &str| match user_id {
        "a" => Some(minute(2)),
        "b" => Some(minute(3)),
        _ => None,
    };
    let (page, report) = parse_meeting_qos_page(body.as_bytes(), 100, seen).expect("parses");
    let ids: Vec<_> = page
        .participants
        .iter()
        .map(|p| p.details.user_id.clone().unwrap_or_default())
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(minutes_of(&page.participants[0]), [3]);
    assert!(page.participants[1].samples.is_empty());
    assert_eq!(minutes_of(&page.participants[2]), [2, 3]);
    assert_eq!(page.next_page_token.as_deref(), Some("tok"));
    assert_eq!(page.total_records, Some(25));
    assert_eq!(page.page_size, Some(10));
    assert_eq!(report.bad_value_count, 0);
}

#[test]
fn the_last_page_has_no_token_and_broken_entries_are_reported_not_fatal() {
    let body = list_page(&["7".to_owned(), participant_with_minutes("a", &[1])], "");
    let (page, report) = parse_meeting_qos_page(body.as_bytes(), 100, |_| None).expect("parses");
    assert_eq!(page.next_page_token, None);
    assert_eq!(page.participants.len(), 1);
    assert_eq!(report.bad_value_count, 1);
    assert_eq!(report.bad_values[0].0, "participants[0]");
    // The bound holds per participant, and dropped samples add up.
    let body = list_page(
        &[
            participant_with_minutes("a", &[1, 2, 3]),
            participant_with_minutes("b", &[1, 2, 3]),
        ],
        "",
    );
    let (page, report) = parse_meeting_qos_page(body.as_bytes(), 1, |_| None).expect("parses");
    assert_eq!(minutes_of(&page.participants[1]), [3]);
    assert_eq!(report.samples_dropped, 4);
    assert!(parse_meeting_qos_page(b"[]", 1, |_| None).is_err());
    let (empty, _) = parse_meeting_qos_page(b"{}", 1, |_| None).expect("an empty object");
    assert!(empty.participants.is_empty());
}
