//! qoswatch's Zoom client against answers larger than `zoom.max_answer_bytes`
//! (the simulator's `Fault::OversizedAnswer` streams them, valid JSON to the
//! last byte): refused or cut, counted, and the next request goes on.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use qoswatch::quota::budget::Budget;
use qoswatch::zoom::client::{ClientSettings, ZoomClient, ZoomError};
use qoswatch_zoomsim::{Fault, MeetingSpec, ParticipantSpec, SimConfig, SimHandle};

use super::{PLAIN_UUID, start};

const CAP: usize = 1024 * 1024;
const FIFTY_MB: u64 = 50 * 1000 * 1000;

async fn client_with_cap(sim: &SimHandle, max_answer_bytes: usize) -> (ZoomClient, Registry) {
    let mut registry = Registry::default();
    let budget = Arc::new(Budget::new(40, 60_000, &mut registry));
    let credentials = sim.credentials();
    let client = ZoomClient::new(
        ClientSettings {
            api_base: sim.api_base(),
            token_url: sim.token_url(),
            request_timeout: Duration::from_secs(20),
            token_refresh_margin: Duration::from_secs(60),
            max_answer_bytes,
            max_requests_in_flight: qoswatch::zoom::settings::DEFAULT_MAX_REQUESTS_IN_FLIGHT,
        },
        super::client_credentials(credentials),
        budget,
        &mut registry,
    )
    .expect("client");
    (client, registry)
}

fn too_large_count(registry: &Registry, answer: &str) -> f64 {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encodes");
    let series = format!("qoswatch_zoom_answers_too_large_total{{answer=\"{answer}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn sim_with_jill() -> SimHandle {
    let sim = start(SimConfig::default()).await;
    sim.add_meeting(MeetingSpec::new(PLAIN_UUID, 84_712_639_219, "Weekly sync"))
        .expect("meeting");
    sim.add_participant(PLAIN_UUID, ParticipantSpec::new("16778240", "Jill Chill"))
        .expect("join");
    sim
}

#[tokio::test]
async fn a_qos_answer_over_the_cap_is_refused_or_cut_and_the_next_one_is_read() {
    let sim = sim_with_jill().await;
    let (client, registry) = client_with_cap(&sim, CAP).await;
    for announce_length in [true, false] {
        sim.push_fault(Fault::OversizedAnswer {
            bytes: FIFTY_MB,
            announce_length,
        });
        let answer = client.participant_qos(PLAIN_UUID, "16778240", None).await;
        assert_eq!(
            answer.err(),
            Some(ZoomError::AnswerTooLarge { limit: CAP }),
            "announce_length: {announce_length}"
        );
    }
    assert_eq!(too_large_count(&registry, "qos"), 2.0);
    let (qos, _) = client
        .participant_qos(PLAIN_UUID, "16778240", None)
        .await
        .expect("the next answer is read");
    assert_eq!(qos.details.user_id.as_deref(), Some("16778240"));
    sim.shutdown().await;
}

#[tokio::test]
async fn an_answer_just_under_the_cap_is_read_and_its_newest_samples_taken() {
    let sim = sim_with_jill().await;
    let (client, _registry) = client_with_cap(&sim, CAP).await;
    sim.push_fault(Fault::OversizedAnswer {
        bytes: CAP as u64,
        announce_length: false,
    });
    let (qos, report) = client
        .participant_qos(PLAIN_UUID, "16778240", None)
        .await
        .expect("an answer of exactly the cap is read");
    // Thousands of entries, all but two at the same minute: the newest
    // 1,440 are taken, the rest only counted.
    assert_eq!(
        qos.samples.len(),
        qoswatch::zoom::client::MAX_SAMPLES_PER_ANSWER
    );
    assert!(report.samples_dropped > 1000, "{}", report.samples_dropped);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_token_answer_over_the_cap_fails_the_request_without_a_token() {
    let sim = sim_with_jill().await;
    let (client, registry) = client_with_cap(&sim, CAP).await;
    sim.push_token_fault(Fault::OversizedAnswer {
        bytes: FIFTY_MB,
        announce_length: false,
    });
    let answer = client.participant_qos(PLAIN_UUID, "16778240", None).await;
    assert_eq!(answer.err(), Some(ZoomError::AnswerTooLarge { limit: CAP }));
    assert_eq!(too_large_count(&registry, "token"), 1.0);
    assert!(
        sim.qos_requests().is_empty(),
        "no QoS request goes out without a token"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_error_answer_over_the_cap_is_classified_by_its_status_alone() {
    let sim = sim_with_jill().await;
    let (client, registry) = client_with_cap(&sim, CAP).await;
    sim.push_fault(Fault::Refusal {
        status: 400,
        code: 300,
        message: "x".repeat(2 * CAP),
    });
    match client.participant_qos(PLAIN_UUID, "16778240", None).await {
        Err(ZoomError::Rejected {
            status: 400,
            code: None,
            message,
        }) => assert!(message.is_empty()),
        other => panic!("expected a rejection without Zoom's body, got {other:?}"),
    }
    assert_eq!(too_large_count(&registry, "error"), 1.0);
    sim.shutdown().await;
}
