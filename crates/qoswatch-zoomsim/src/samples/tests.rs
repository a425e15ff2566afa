//! The sample generator's tests: determinism, a healthy baseline, Zoom's
//! formats and keys, and what degradations change.

use super::*;

fn at(minute: u32) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-05T09:00:00Z")
        .expect("valid")
        .with_timezone(&Utc)
        + chrono::Duration::minutes(i64::from(minute))
}

/// The number a figure of `entry` shows, read from Zoom's formats
/// (`"126 ms"`, `"0.3%"`, `"1280*720"` gives its height, `-58`);
/// `None` when the block or the figure is absent.
fn figure(entry: &Json, path: &str) -> Option<f64> {
    let (block, name) = path.split_once('.').expect("block.figure");
    let value = entry.get(block)?.get(name)?;
    if let Some(number) = value.as_f64() {
        return Some(number);
    }
    let text = value.as_str()?;
    let text = text.split_once('*').map_or(text, |(_, height)| height);
    let number: String = text
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
        .collect();
    Some(number.parse().expect("a number"))
}

#[test]
fn same_seed_and_index_give_the_same_sample() {
    let profile = Profile::healthy(7);
    let a = sample_json(&profile, 3, at(3), &[]);
    let b = sample_json(&profile, 3, at(3), &[]);
    assert_eq!(a, b);
    let other_index = sample_json(&profile, 4, at(3), &[]);
    let other_seed = sample_json(&Profile::healthy(8), 3, at(3), &[]);
    assert_ne!(a, other_index);
    assert_ne!(a, other_seed);
}

#[test]
fn healthy_baseline_stays_within_good_call_quality() {
    let profile = Profile::healthy(42);
    let entries: Vec<Json> = (0..200)
        .map(|i| sample_json(&profile, i, at(i), &[]))
        .collect();
    for entry in &entries {
        for stream in ["audio_input", "audio_output", "video_input"] {
            let get = |name: &str| figure(entry, &format!("{stream}.{name}")).expect(name);
            let latency = get("latency");
            assert!((30.0..150.0).contains(&latency), "{latency}");
            let jitter = get("jitter");
            assert!(jitter < 30.0, "{jitter}");
            let loss = get("avg_loss");
            assert!(loss < 1.0, "{loss}");
            let max_loss = get("max_loss");
            assert!(max_loss >= loss, "{max_loss} < {loss}");
        }
        assert_eq!(figure(entry, "video_input.resolution"), Some(720.0));
        let fps = figure(entry, "video_input.frame_rate").expect("fps");
        assert!(fps >= 20.0, "{fps}");
        let cpu = figure(entry, "cpu_usage.system_max_cpu_usage").expect("cpu");
        assert!(cpu < 70.0, "{cpu}");
        let rssi = figure(entry, "wifi_rssi.avg_rssi").expect("rssi");
        assert!((-65.0..-45.0).contains(&rssi), "{rssi}");
    }
    // Noise, not a constant.
    let latencies: std::collections::BTreeSet<i64> = entries
        .iter()
        .filter_map(|e| figure(e, "audio_input.latency"))
        .map(|v| v as i64)
        .collect();
    assert!(latencies.len() > 5, "{latencies:?}");
}

#[test]
fn unused_streams_are_empty_strings_not_zero() {
    let profile = Profile::healthy(1).without_video().wired();
    let entry = sample_json(&profile, 0, at(0), &[]);
    assert_eq!(entry["video_input"], json!(""));
    assert_eq!(entry["video_output"], json!(""));
    assert_eq!(entry["as_input"], json!(""));
    assert_eq!(entry["as_output"], json!(""));
    assert!(entry.get("wifi_rssi").is_none());
    assert!(entry["audio_input"]["latency"].as_str().is_some());
    assert!(entry["audio_output"]["bitrate"].as_str().is_some());
}

#[test]
fn values_use_zoom_string_formats() {
    let profile = Profile::healthy(3).sharing_screen();
    let entry = sample_json(&profile, 0, at(0), &[]);
    let unit_re = |value: &Json, pattern: &str| {
        let text = value.as_str().expect("string value");
        assert!(
            regex::Regex::new(pattern).expect("regex").is_match(text),
            "{text} !~ {pattern}"
        );
    };
    unit_re(&entry["audio_input"]["latency"], r"^\d+ ms$");
    unit_re(&entry["audio_input"]["avg_loss"], r"^\d+\.\d%$");
    unit_re(&entry["video_input"]["bitrate"], r"^\d+ kbps$");
    unit_re(&entry["video_input"]["resolution"], r"^1280\*720$");
    unit_re(&entry["video_output"]["resolution"], r"^640\*360$");
    unit_re(&entry["as_input"]["resolution"], r"^1920\*1080$");
    unit_re(&entry["video_input"]["frame_rate"], r"^\d+ fps$");
    unit_re(&entry["cpu_usage"]["zoom_avg_cpu_usage"], r"^\d+%$");
    // Numbers, not strings, in Zoom's typings.
    assert!(
        entry["wifi_rssi"]["avg_rssi"]
            .as_i64()
            .is_some_and(|v| v < 0)
    );
    assert_eq!(entry["wifi_rssi"]["rssi_unit"], json!("dBm"));
    assert_eq!(entry["date_time"], json!("2026-01-05T09:00:00Z"));
}

/// A sharing participant's sample has exactly the blocks and figures of
/// Zoom's example (`tests/fixtures/qos.participant.json`), plus the
/// `wifi_rssi` block of Zoom's typings.
#[test]
fn a_sample_has_the_fixtures_keys() {
    let path = format!(
        "{}/../../tests/fixtures/qos.participant.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let fixture: Json =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let keys = |entry: &Json| -> Vec<String> {
        let mut keys = Vec::new();
        for (block, value) in entry.as_object().expect("object") {
            keys.push(block.clone());
            if let Some(figures) = value.as_object() {
                keys.extend(figures.keys().map(|figure| format!("{block}.{figure}")));
            }
        }
        keys.sort();
        keys
    };
    let ours = sample_json(&Profile::healthy(3).sharing_screen().wired(), 0, at(0), &[]);
    assert_eq!(keys(&ours), keys(&fixture["user_qos"][0]));
    let wifi = sample_json(&Profile::healthy(3), 0, at(0), &[]);
    let wifi_keys: Vec<String> = keys(&wifi)
        .into_iter()
        .filter(|k| k.starts_with("wifi_rssi"))
        .collect();
    assert_eq!(
        wifi_keys,
        [
            "wifi_rssi",
            "wifi_rssi.avg_rssi",
            "wifi_rssi.max_rssi",
            "wifi_rssi.min_rssi",
            "wifi_rssi.rssi_unit"
        ]
    );
}

#[test]
fn degradations_override_exactly_their_metrics() {
    let profile = Profile::healthy(9);
    let wifi = Degradation::bad_wifi(Target::participant("16778240"), 3..6);
    let entry = sample_json(&profile, 4, at(4), &[&wifi]);
    assert_eq!(entry["audio_input"]["latency"], json!("420 ms"));
    assert_eq!(entry["video_output"]["jitter"], json!("65 ms"));
    assert_eq!(entry["audio_output"]["avg_loss"], json!("12.5%"));
    assert_eq!(entry["video_input"]["max_loss"], json!("31.0%"));
    assert_eq!(entry["wifi_rssi"]["avg_rssi"], json!(-82));
    // Untouched figures keep their baseline.
    let healthy = sample_json(&profile, 4, at(4), &[]);
    assert_eq!(
        entry["audio_input"]["bitrate"],
        healthy["audio_input"]["bitrate"]
    );
    assert_eq!(entry["cpu_usage"], healthy["cpu_usage"]);
    assert_eq!(entry["date_time"], healthy["date_time"]);
}

#[test]
fn packet_loss_raises_max_loss_with_it_and_cpu_peg_hits_cpu_and_fps() {
    let profile = Profile::healthy(11);
    let loss = Degradation::packet_loss(Target::Everyone, 0..1, 9.0);
    let cpu = Degradation::cpu_pegged(Target::Everyone, 0..1);
    let entry = sample_json(&profile, 0, at(0), &[&loss, &cpu]);
    assert_eq!(figure(&entry, "audio_input.avg_loss"), Some(9.0));
    assert_eq!(figure(&entry, "audio_input.max_loss"), Some(18.0));
    assert_eq!(figure(&entry, "cpu_usage.zoom_max_cpu_usage"), Some(97.0));
    assert_eq!(
        figure(&entry, "cpu_usage.system_max_cpu_usage"),
        Some(100.0)
    );
    assert_eq!(figure(&entry, "video_input.frame_rate"), Some(4.0));
    assert_eq!(entry["video_output"]["frame_rate"], json!("5 fps"));
}

#[test]
fn overrides_never_invent_data_for_unused_streams() {
    let profile = Profile::healthy(5).without_video().wired();
    let wifi = Degradation::bad_wifi(Target::Everyone, 0..1);
    let entry = sample_json(&profile, 0, at(0), &[&wifi]);
    assert_eq!(entry["video_input"], json!(""));
    assert!(entry.get("wifi_rssi").is_none());
    assert_eq!(figure(&entry, "audio_input.latency"), Some(420.0));
}
