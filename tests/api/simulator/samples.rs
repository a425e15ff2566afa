//! qoswatch's QoS parser against the simulator's samples: the simulator
//! writes Zoom's JSON with its own field names (`qoswatch_zoomsim::fields`),
//! so a key qoswatch reads wrongly shows up here as a missing value.

use chrono::{DateTime, Utc};
use qoswatch_core::qos::{
    MetricId, ParseReport, QosSample, Stream, StreamMetric, participant_from_json,
};
use qoswatch_zoomsim::samples::{Degradation, Profile, Target, sample_json};
use serde_json::{Value as Json, json};

fn at(minute: u32) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-05T09:00:00Z")
        .expect("valid")
        .with_timezone(&Utc)
        + chrono::Duration::minutes(i64::from(minute))
}

/// Parses entries with the production parser; no value may be refused.
fn parse(entries: Vec<Json>) -> Vec<QosSample> {
    let mut report = ParseReport::default();
    let parsed = participant_from_json(&json!({ "user_qos": entries }), &mut report);
    assert!(report.bad_values.is_empty(), "{report:?}");
    parsed.samples
}

fn metric(name: &str) -> MetricId {
    MetricId::parse(name).expect(name)
}

#[test]
fn healthy_baseline_stays_within_good_call_quality() {
    let profile = Profile::healthy(42);
    let samples = parse(
        (0..200)
            .map(|i| sample_json(&profile, i, at(i), &[]))
            .collect(),
    );
    assert_eq!(samples.len(), 200);
    for sample in &samples {
        for stream in [Stream::AudioInput, Stream::AudioOutput, Stream::VideoInput] {
            let latency = sample
                .get(MetricId::Stream(stream, StreamMetric::Latency))
                .expect("latency present");
            assert!((30.0..150.0).contains(&latency), "{latency}");
            let jitter = sample
                .get(MetricId::Stream(stream, StreamMetric::Jitter))
                .expect("jitter");
            assert!(jitter < 30.0, "{jitter}");
            let loss = sample
                .get(MetricId::Stream(stream, StreamMetric::AvgLoss))
                .expect("loss");
            assert!(loss < 1.0, "{loss}");
            let max_loss = sample
                .get(MetricId::Stream(stream, StreamMetric::MaxLoss))
                .expect("max loss");
            assert!(max_loss >= loss, "{max_loss} < {loss}");
        }
        assert_eq!(sample.get(metric("video_input.resolution")), Some(720.0));
        let fps = sample.get(metric("video_input.frame_rate")).expect("fps");
        assert!(fps >= 20.0, "{fps}");
        let cpu = sample
            .get(metric("cpu_usage.system_max_cpu_usage"))
            .expect("cpu");
        assert!(cpu < 70.0, "{cpu}");
        let rssi = sample.get(metric("wifi_rssi.avg_rssi")).expect("rssi");
        assert!((-65.0..-45.0).contains(&rssi), "{rssi}");
    }
    // Noise, not a constant.
    let latencies: std::collections::BTreeSet<i64> = samples
        .iter()
        .filter_map(|s| s.get(metric("audio_input.latency")))
        .map(|v| v as i64)
        .collect();
    assert!(latencies.len() > 5, "{latencies:?}");
}

#[test]
fn unused_streams_are_empty_strings_not_zero() {
    let profile = Profile::healthy(1).without_video().wired();
    let entry = sample_json(&profile, 0, at(0), &[]);
    assert_eq!(entry["video_input"], json!(""));
    let sample = &parse(vec![entry])[0];
    assert_eq!(sample.get(metric("video_input.bitrate")), None);
    assert_eq!(sample.get(metric("as_output.latency")), None);
    assert_eq!(sample.get(metric("wifi_rssi.avg_rssi")), None);
    assert!(sample.get(metric("audio_output.bitrate")).is_some());
}

#[test]
fn every_figure_of_a_sharing_sample_is_read() {
    let profile = Profile::healthy(3).sharing_screen();
    let sample = &parse(vec![sample_json(&profile, 0, at(0), &[])])[0];
    for name in [
        "audio_input.bitrate",
        "audio_output.latency",
        "video_input.jitter",
        "video_output.avg_loss",
        "as_input.max_loss",
        "as_output.resolution",
        "as_input.frame_rate",
        "cpu_usage.zoom_min_cpu_usage",
        "cpu_usage.zoom_avg_cpu_usage",
        "cpu_usage.zoom_max_cpu_usage",
        "cpu_usage.system_max_cpu_usage",
        "wifi_rssi.avg_rssi",
        "wifi_rssi.max_rssi",
        "wifi_rssi.min_rssi",
    ] {
        assert!(sample.get(metric(name)).is_some(), "{name} not read");
    }
}

#[test]
fn degradations_override_exactly_their_metrics() {
    let profile = Profile::healthy(9);
    let wifi = Degradation::bad_wifi(Target::participant("16778240"), 3..6);
    let entry = sample_json(&profile, 4, at(4), &[&wifi]);
    let sample = &parse(vec![entry])[0];
    assert_eq!(sample.get(metric("audio_input.latency")), Some(420.0));
    assert_eq!(sample.get(metric("video_output.jitter")), Some(65.0));
    assert_eq!(sample.get(metric("audio_output.avg_loss")), Some(12.5));
    assert_eq!(sample.get(metric("video_input.max_loss")), Some(31.0));
    assert_eq!(sample.get(metric("wifi_rssi.avg_rssi")), Some(-82.0));
    // Untouched metrics keep their baseline.
    let healthy = &parse(vec![sample_json(&profile, 4, at(4), &[])])[0];
    assert_eq!(
        sample.get(metric("audio_input.bitrate")),
        healthy.get(metric("audio_input.bitrate"))
    );
    assert_eq!(
        sample.get(metric("cpu_usage.zoom_avg_cpu_usage")),
        healthy.get(metric("cpu_usage.zoom_avg_cpu_usage"))
    );
}

#[test]
fn packet_loss_raises_max_loss_with_it_and_cpu_peg_hits_cpu_and_fps() {
    let profile = Profile::healthy(11);
    let loss = Degradation::packet_loss(Target::Everyone, 0..1, 9.0);
    let cpu = Degradation::cpu_pegged(Target::Everyone, 0..1);
    let sample = &parse(vec![sample_json(&profile, 0, at(0), &[&loss, &cpu])])[0];
    assert_eq!(sample.get(metric("audio_input.avg_loss")), Some(9.0));
    assert_eq!(sample.get(metric("audio_input.max_loss")), Some(18.0));
    assert_eq!(
        sample.get(metric("cpu_usage.zoom_max_cpu_usage")),
        Some(97.0)
    );
    assert_eq!(
        sample.get(metric("cpu_usage.system_max_cpu_usage")),
        Some(100.0)
    );
    assert_eq!(sample.get(metric("video_input.frame_rate")), Some(4.0));
}

#[test]
fn overrides_never_invent_data_for_unused_streams() {
    let profile = Profile::healthy(5).without_video().wired();
    let wifi = Degradation::bad_wifi(Target::Everyone, 0..1);
    let sample = &parse(vec![sample_json(&profile, 0, at(0), &[&wifi])])[0];
    assert_eq!(sample.get(metric("video_input.latency")), None);
    assert_eq!(sample.get(metric("wifi_rssi.avg_rssi")), None);
    assert_eq!(sample.get(metric("audio_input.latency")), Some(420.0));
}
