//! `zoom.max_requests_in_flight`: a burst of QoS requests (the first polls
//! of many meetings at once) keeps at most that many in flight, so at most
//! that many answers are held in memory; the rest wait for a slot, none is
//! lost. Zoom is a loopback server that holds each request until the test
//! lets it answer (the simulator for the token).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use prometheus_client::registry::Registry;
use qoswatch::quota::budget::Budget;
use qoswatch::zoom::client::{ClientSettings, ZoomClient};
use qoswatch_testkit::wait_for;
use qoswatch_zoomsim::SimConfig;
use tokio::sync::Semaphore;

use super::{PLAIN_UUID, start};

/// A Zoom whose QoS answers wait for the test: `arrived` requests so far,
/// each answered (the fixture) once `answer` has a permit for it.
#[derive(Clone)]
struct HeldZoom {
    arrived: Arc<AtomicUsize>,
    answer: Arc<Semaphore>,
    body: Arc<String>,
}

async fn held(State(zoom): State<HeldZoom>) -> ([(&'static str, &'static str); 1], String) {
    zoom.arrived.fetch_add(1, Ordering::SeqCst);
    zoom.answer.acquire().await.expect("open").forget();
    ([("content-type", "application/json")], (*zoom.body).clone())
}

#[tokio::test]
async fn a_burst_of_qos_requests_keeps_at_most_the_limit_in_flight_and_answers_all() {
    const LIMIT: usize = 2;
    const BURST: usize = 6;
    let sim = start(SimConfig::default()).await;
    let zoom = HeldZoom {
        arrived: Arc::default(),
        answer: Arc::new(Semaphore::new(0)),
        body: Arc::new(
            std::fs::read_to_string(format!(
                "{}/tests/fixtures/qos.participant.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .expect("fixture"),
        ),
    };
    let app = axum::Router::new()
        .route(
            "/metrics/meetings/{meeting}/participants/{user}/qos",
            axum::routing::get(held),
        )
        .with_state(zoom.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api_base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut registry = Registry::default();
    // The rate is no limit here: only the slots are.
    let budget = Arc::new(Budget::new(1000, 60_000, &mut registry));
    let credentials = sim.credentials();
    let client = Arc::new(
        ZoomClient::new(
            ClientSettings {
                api_base,
                token_url: sim.token_url(),
                request_timeout: Duration::from_secs(30),
                token_refresh_margin: Duration::from_secs(60),
                max_answer_bytes: qoswatch::config::DEFAULT_MAX_ANSWER_BYTES,
                max_requests_in_flight: LIMIT,
            },
            super::client_credentials(credentials),
            budget,
            &mut registry,
        )
        .expect("client"),
    );
    let calls: Vec<_> = (0..BURST)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .participant_qos(PLAIN_UUID, &format!("1670000{i:03}"), None)
                    .await
            })
        })
        .collect();
    // Released one at a time: each answer lets exactly one more request
    // out, never more than LIMIT at Zoom at once.
    for released in 0..BURST {
        let expected = (released + LIMIT).min(BURST);
        wait_for(
            &format!("{expected} requests at Zoom after {released} answers"),
            Duration::from_secs(10),
            || zoom.arrived.load(Ordering::SeqCst) == expected,
        )
        .await;
        zoom.answer.add_permits(1);
    }
    for call in calls {
        let (qos, _) = call.await.expect("joins").expect("answered");
        assert_eq!(qos.details.user_id.as_deref(), Some("1670000000"));
    }
    assert_eq!(zoom.arrived.load(Ordering::SeqCst), BURST);
}
