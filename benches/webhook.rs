//! The pure CPU cost of the webhook path per request: signature
//! verification (one secret, and three during a rotation with the matching
//! one last) and event parsing, on Zoom's documented `participant_joined`
//! body (`tests/fixtures/meeting.participant_joined.json`).
//!
//! `cargo bench --bench webhook -- --measurement-time 3 --warm-up-time 1`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qoswatch::zoom::event::{self, Event};
use qoswatch::zoom::signature::Verifier;
use qoswatch_zoomsim::protocol::webhook_signature;
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
}

criterion_group!(benches, webhook);
criterion_main!(benches);
