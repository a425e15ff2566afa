//! The pure CPU cost of the webhook path per request: signature
//! verification (one secret, and three during a rotation with the matching
//! one last) and event parsing, on Zoom's documented `participant_joined`
//! body (`tests/fixtures/meeting.participant_joined.json`), and a QSS
//! `meeting.participant_qos` of 3–5 kB: one minute of every stream (the
//! simulator's sample with camera and screen share on, Wi-Fi, CPU, and the
//! device streams to and from Zoom's CRC and RWG), as Zoom's QSS pushes
//! about once a minute per participant.
//!
//! `cargo bench --bench webhook -- --measurement-time 3 --warm-up-time 1`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qoswatch::zoom::event::{self, Event};
use qoswatch::zoom::signature::Verifier;
use qoswatch_zoomsim::protocol::webhook_signature;
use qoswatch_zoomsim::samples::sample_json;
use qoswatch_zoomsim::webhooks::participant_qos_event;
use qoswatch_zoomsim::{MeetingSpec, ParticipantSpec, Profile};
use secrecy::SecretString;

const SECRET: &str = "dOL1a7aQTa2ZsXZ5FFwCAg";
const TIMESTAMP: &str = "1700000000";
const NOW: i64 = 1_700_000_030;

fn body() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/meeting.participant_joined.json"
    ))
    .expect("fixture")
}

/// A realistic QSS event: the simulator's own sample of one minute, every
/// stream flowing, with the device streams newer accounts get.
fn qss_body() -> Vec<u8> {
    let meeting = MeetingSpec::new("4444AAAiAAAAAiAiAiiAii==", 1_234_567_890, "My Meeting");
    let participant = ParticipantSpec::new("16778240", "Jill Chill");
    let profile = Profile {
        screen_share: true,
        ..Profile::healthy(7)
    };
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let mut sample = sample_json(&profile, 3, at, &[]);
    if let Some(fields) = sample.as_object_mut() {
        for (device, from) in [
            ("audio_device_from_crc", "audio_input"),
            ("audio_device_to_crc", "audio_output"),
            ("video_device_from_crc", "video_input"),
            ("video_device_to_crc", "video_output"),
            ("audio_device_from_rwg", "audio_input"),
            ("audio_device_to_rwg", "audio_output"),
            ("video_device_from_rwg", "video_input"),
            ("video_device_to_rwg", "video_output"),
        ] {
            let copy = fields.get(from).cloned().unwrap_or_default();
            fields.insert(device.to_owned(), copy);
        }
    }
    participant_qos_event("AAAAAABBBB", &meeting, &participant, &[sample], 1)
        .to_string()
        .into_bytes()
}

fn verifier(secrets: &[&str]) -> Verifier {
    Verifier::new(
        secrets
            .iter()
            .map(|s| SecretString::from((*s).to_owned()))
            .collect(),
        Duration::from_secs(300),
    )
}

fn webhook(c: &mut Criterion) {
    let body = body();
    let signature = webhook_signature(SECRET.as_bytes(), TIMESTAMP, &body);
    let one = verifier(&[SECRET]);
    let three = verifier(&["rotated-in-secret-0001", "rotated-in-secret-0002", SECRET]);
    // The bench must measure the success path: fail loudly if it does not.
    for v in [&one, &three] {
        v.verify(Some(&signature), Some(TIMESTAMP), &body, NOW)
            .expect("the fixture verifies");
    }
    assert!(matches!(
        event::parse(&body).expect("the fixture parses"),
        Event::ParticipantJoined(_)
    ));

    let mut group = c.benchmark_group("webhook");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("verify, 1 secret", |b| {
        b.iter(|| {
            one.verify(
                black_box(Some(signature.as_str())),
                black_box(Some(TIMESTAMP)),
                black_box(&body),
                NOW,
            )
            .is_ok()
        })
    });
    group.bench_function("verify, 3 secrets (match last)", |b| {
        b.iter(|| {
            three
                .verify(
                    black_box(Some(signature.as_str())),
                    black_box(Some(TIMESTAMP)),
                    black_box(&body),
                    NOW,
                )
                .is_ok()
        })
    });
    group.bench_function("parse participant_joined", |b| {
        b.iter(|| event::parse(black_box(&body)).is_ok())
    });
    group.bench_function("verify (1 secret) + parse", |b| {
        b.iter(|| {
            let verified = one
                .verify(
                    black_box(Some(signature.as_str())),
                    black_box(Some(TIMESTAMP)),
                    black_box(&body),
                    NOW,
                )
                .expect("verifies");
            event::parse(verified.body()).is_ok()
        })
    });
    group.finish();
    qss(c, &one);
}

/// The QSS event against `participant_joined`: verify and parse, per request.
fn qss(c: &mut Criterion, one: &Verifier) {
    let body = qss_body();
    assert!(
        (3_000..=5_000).contains(&body.len()),
        "a realistic QSS body is 3-5 kB, this one {} bytes",
        body.len()
    );
    let signature = webhook_signature(SECRET.as_bytes(), TIMESTAMP, &body);
    let Event::ParticipantQos(push) = event::parse(&body).expect("the QSS body parses") else {
        panic!("not a QSS push")
    };
    assert_eq!(push.samples.len(), 1);
    assert_eq!(push.report.unknown_types, 0);
    assert_eq!(push.report.parse.bad_value_count, 0);
    let mut group = c.benchmark_group("webhook_qss");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function(format!("parse participant_qos ({} B)", body.len()), |b| {
        b.iter(|| event::parse(black_box(&body)).is_ok())
    });
    group.bench_function("verify (1 secret) + parse participant_qos", |b| {
        b.iter(|| {
            let verified = one
                .verify(
                    black_box(Some(signature.as_str())),
                    black_box(Some(TIMESTAMP)),
                    black_box(&body),
                    NOW,
                )
                .expect("verifies");
            event::parse(verified.body()).is_ok()
        })
    });
    group.finish();
}

criterion_group!(benches, webhook);
criterion_main!(benches);
