//! The cost of one Zoom QoS answer against the length of the series it
//! repeats: answers carry every sample since the join (the simulator's do;
//! whether Zoom's do is unsettled), and each poll has one new sample.
//!
//! For series of 1, 30, 120 and 600 samples (a two-hour meeting is 120),
//! in the fixture's shape (`tests/fixtures/qos.participant.json`: all six
//! streams and CPU, ~1 kB a sample):
//! - `participant/N`: the single-participant answer, newest seen = the
//!   sample before the last;
//! - `list/N`: a page of the list endpoint with 10 such participants.
//!
//! `cargo bench --bench qos -- --measurement-time 3 --warm-up-time 1`

use std::hint::black_box;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qoswatch_core::qos::{parse_meeting_qos_page, parse_participant_qos_since};

const LENGTHS: [usize; 4] = [1, 30, 120, 600];
const PAGE: usize = 10;

fn start() -> DateTime<Utc> {
    "2021-06-24T20:00:00Z".parse().expect("time")
}

fn at(minute: usize) -> DateTime<Utc> {
    start() + Duration::minutes(minute as i64 + 1)
}

/// One sample in the fixture's shape, compact, at `minute`.
fn sample(minute: usize) -> String {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../tests/fixtures/qos.participant.json"))
            .expect("fixture");
    let mut entry = fixture["user_qos"][0].clone();
    entry["date_time"] = at(minute).to_rfc3339_opts(SecondsFormat::Secs, true).into();
    entry.to_string()
}

/// A participant object (Zoom's fields, `user_qos` last) with `len` samples.
fn participant(user_id: &str, len: usize) -> String {
    let samples: Vec<String> = (0..len).map(sample).collect();
    format!(
        r#"{{"id":"","user_id":"{user_id}","user_name":"User {user_id}","device":"Mac","ip_address":"192.0.2.1","internal_ip_addresses":["10.0.0.1"],"location":"San Jose (US)","join_time":"2021-06-24T20:00:00Z","leave_time":"","pc_name":"PC","domain":"","mac_addr":"","harddisk_id":"","version":"6.2.11.50000","user_qos":[{}]}}"#,
        samples.join(",")
    )
}

fn page(len: usize) -> String {
    let participants: Vec<String> = (0..PAGE)
        .map(|p| participant(&format!("1678{p:04}"), len))
        .collect();
    format!(
        r#"{{"page_count":3,"page_size":{PAGE},"total_records":25,"next_page_token":"tok","participants":[{}]}}"#,
        participants.join(",")
    )
}

fn qos(c: &mut Criterion) {
    let mut group = c.benchmark_group("qos answer, one new sample");
    for len in LENGTHS {
        let body = participant("16780000", len);
        // The newest seen: the sample before the last (none for a series of 1).
        let seen = len.checked_sub(2).map(at);
        let (found, _) = parse_participant_qos_since(body.as_bytes(), 1440, seen).expect("parses");
        assert_eq!(found.samples.len(), 1, "one new sample");
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("participant", len), &body, |b, body| {
            b.iter(|| parse_participant_qos_since(black_box(body.as_bytes()), 1440, seen).is_ok())
        });
    }
    for len in LENGTHS {
        let body = page(len);
        let seen = len.checked_sub(2).map(at);
        let (found, _) = parse_meeting_qos_page(body.as_bytes(), 1440, |_| seen).expect("parses");
        assert_eq!(found.participants.len(), PAGE);
        assert!(found.participants.iter().all(|p| p.samples.len() == 1));
        group.throughput(Throughput::Elements(PAGE as u64));
        group.bench_with_input(BenchmarkId::new("list", len), &body, |b, body| {
            b.iter(|| parse_meeting_qos_page(black_box(body.as_bytes()), 1440, |_| seen).is_ok())
        });
    }
    group.finish();
}

criterion_group!(benches, qos);
criterion_main!(benches);
