//! Rule evaluation throughput: (samples × rules) per second.
//!
//! `cargo bench --bench rules -- --measurement-time 3 --warm-up-time 1`

use std::hint::black_box;

use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qoswatch_core::alert::{MeetingInfo, ParticipantInfo};
use qoswatch_core::qos::{CpuUsage, QosSample, Stream, StreamQos};
use qoswatch_core::rules::{ParticipantState, RuleSet, Subject};

const SAMPLES: usize = 600;

/// The shipped example plus scoped and multi-stream rules, 20 in all.
fn rule_file() -> String {
    let mut text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.example.yaml"))
            .expect("example rules");
    for i in 0..15 {
        let (metric, threshold) = match i % 5 {
            0 => (
                "any_audio.jitter",
                "above: { warning: 40ms, critical: 80ms }",
            ),
            1 => ("any_video.frame_rate", "below: { warning: 5fps }"),
            2 => (
                "[audio_input.max_loss, audio_output.max_loss]",
                "above: { warning: 8%, critical: 20% }",
            ),
            3 => ("video_input.resolution", "below: { warning: 360p }"),
            _ => ("cpu_usage.system_max_cpu_usage", "above: { warning: 90% }"),
        };
        text.push_str(&format!(
            "  - name: extra-{i}\n    metric: {metric}\n    {threshold}\n    for: 2m\n    clear: {{ for: 2 samples }}\n    scope: {{ meeting_topic: '*', participant: ['*@example.com', 'Room *'] }}\n    exclude: {{ device: [Android] }}\n"
        ));
    }
    text
}

fn samples() -> Vec<QosSample> {
    let start = Utc
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("time");
    (0..SAMPLES)
        .map(|i| {
            // A slowly drifting series that crosses thresholds both ways.
            let wave = ((i as f64) / 7.0).sin();
            let stream = |base: f64| StreamQos {
                bitrate_kbps: Some(500.0 + 300.0 * wave),
                latency_ms: Some(base + 250.0 * wave),
                jitter_ms: Some(25.0 + 30.0 * wave),
                avg_loss_pct: Some(4.0 + 5.0 * wave),
                max_loss_pct: Some(8.0 + 10.0 * wave),
                resolution: None,
                frame_rate_fps: Some(12.0 + 8.0 * wave),
            };
            let mut sample = QosSample {
                at: start + Duration::minutes(i as i64),
                cpu: CpuUsage {
                    zoom_min_pct: Some(20.0),
                    zoom_avg_pct: Some(50.0 + 30.0 * wave),
                    zoom_max_pct: Some(70.0 + 25.0 * wave),
                    system_max_pct: Some(80.0 + 15.0 * wave),
                },
                ..QosSample::default()
            };
            for s in Stream::CLASSIC {
                sample.streams.insert(s, stream(200.0));
            }
            sample
        })
        .collect()
}

fn evaluate(c: &mut Criterion) {
    let rules = RuleSet::from_str("bench.yaml", &rule_file()).expect("valid rules");
    let samples = samples();
    let subject = Subject {
        meeting: MeetingInfo {
            account: Default::default(),
            uuid: "bench==".into(),
            id: Some("85012345678".into()),
            topic: Some("Weekly sync".into()),
            kind: Default::default(),
        },
        participant: ParticipantInfo {
            user_id: "16778240".into(),
            name: Some("Ann Lee".into()),
            email: Some("ann@example.com".into()),
            device: Some("Windows".into()),
            ..ParticipantInfo::default()
        },
    };
    let mut group = c.benchmark_group("rules");
    group.throughput(Throughput::Elements((samples.len() * rules.len()) as u64));
    group.bench_function(
        format!("evaluate {SAMPLES} samples x {} rules", rules.len()),
        |b| {
            b.iter(|| {
                let mut state = ParticipantState::default();
                let mut events = 0;
                for sample in &samples {
                    events += rules
                        .evaluate(
                            &mut state,
                            black_box(&subject),
                            black_box(sample),
                            sample.at,
                        )
                        .len();
                }
                black_box(events)
            })
        },
    );
    group.finish();
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
