//! qoswatch against the Zoom simulator over real HTTP on loopback: qoswatch's
//! parser, UUID encoding, Zoom client, webhook verifier and the whole service
//! checked against the simulator, which is written from Zoom's documentation
//! independently of them. Tests of the simulator alone live in
//! `crates/qoswatch-zoomsim/tests/`.

mod answers;
mod in_flight;
mod samples;
mod webhooks;

use std::time::Duration;

use qoswatch::zoom::encode_meeting_uuid;
use qoswatch_core::qos::{MetricId, parse_participant_qos};
use qoswatch_zoomsim::{
    Degradation, Fault, MeetingSpec, ParticipantSpec, SimConfig, SimHandle, Simulator, Target,
};
use serde_json::Value as Json;

const PLAIN_UUID: &str = "4444AAAiAAAAAiAiAiiAii==";
const GUEST_UUID: &str = "/gsqg0HKxTQ2Tx//SVAxE9+0w==";

fn fixture(name: &str) -> Json {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture json")
}

async fn start(config: SimConfig) -> SimHandle {
    Simulator::start(config, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator starts")
}

/// No pooled connections: an idle pool keeps a timer, and paused-time tests
/// must not have tokio's clock jump to it.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

fn qos_url(sim: &SimHandle, meeting_segment: &str, user_id: &str) -> String {
    format!(
        "{}/metrics/meetings/{meeting_segment}/participants/{user_id}/qos?type=live",
        sim.api_base()
    )
}

async fn get(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> (u16, reqwest::header::HeaderMap, Json) {
    let response = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Json::String(text));
    (status, headers, body)
}

fn meeting(uuid: &str) -> MeetingSpec {
    MeetingSpec::new(uuid, 1_234_567_890, "Weekly sync")
}

#[tokio::test]
async fn qos_parses_and_carries_the_scripted_degradation_at_the_right_samples() {
    let sim = start(SimConfig {
        sample_period: Duration::from_millis(100),
        ..SimConfig::default()
    })
    .await;
    let http = http();
    let token = sim.grant_token();
    sim.add_meeting(meeting(PLAIN_UUID)).expect("meeting");
    sim.add_degradation(Degradation::bad_wifi(Target::participant("16778240"), 2..4));
    sim.add_participant(
        PLAIN_UUID,
        ParticipantSpec::new("16778240", "Jill Chill").with_location("Berlin (DE)"),
    )
    .expect("join");
    sim.add_participant(PLAIN_UUID, ParticipantSpec::new("16778241", "Healthy Hal"))
        .expect("join");
    let url = qos_url(&sim, &encode_meeting_uuid(PLAIN_UUID), "16778240");

    // Poll until six samples exist (no fixed sleep).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (status, _, body) = get(&http, &url, &token).await;
        assert_eq!(status, 200, "{body}");
        if body["user_qos"].as_array().map_or(0, Vec::len) >= 6 {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "samples never reached six"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ip = body["ip_address"].as_str().expect("ip");
    assert!(ip.starts_with("192.0.2."), "documentation address: {ip}");
    assert_eq!(body["location"], "Berlin (DE)");

    let raw = serde_json::to_vec(&body).expect("json");
    let (qos, report) = parse_participant_qos(&raw).expect("parses");
    assert!(report.bad_values.is_empty(), "{report:?}");
    assert_eq!(qos.details.user_id.as_deref(), Some("16778240"));
    assert_eq!(qos.details.user_name.as_deref(), Some("Jill Chill"));
    assert!(qos.details.join_time.is_some());
    assert!(qos.details.leave_time.is_none());
    let latency = MetricId::parse("audio_input.latency").expect("metric");
    let rssi = MetricId::parse("wifi_rssi.avg_rssi").expect("metric");
    for (index, sample) in qos.samples.iter().enumerate().take(6) {
        let value = sample.get(latency).expect("latency");
        if (2..4).contains(&index) {
            assert_eq!(value, 420.0, "sample {index} is degraded");
            assert_eq!(sample.get(rssi), Some(-82.0));
        } else {
            assert!(value < 150.0, "sample {index} is healthy: {value}");
        }
    }
    // Consecutive samples are one minute apart.
    for pair in qos.samples.windows(2) {
        assert_eq!((pair[1].at - pair[0].at).num_seconds(), 60);
    }

    // The other participant is not hit.
    let (_, _, other) = get(
        &http,
        &qos_url(&sim, &encode_meeting_uuid(PLAIN_UUID), "16778241"),
        &token,
    )
    .await;
    let raw = serde_json::to_vec(&other).expect("json");
    let (other, _) = parse_participant_qos(&raw).expect("parses");
    assert!(other.samples.len() >= 4);
    assert!(
        other
            .samples
            .iter()
            .all(|s| s.get(latency).expect("latency") < 150.0)
    );
    sim.shutdown().await;
}

/// qoswatch's encoder gives the segments Zoom's rule asks for: the
/// simulator refuses a double-encoding UUID encoded once and serves it
/// encoded twice, and serves a plain UUID encoded once.
#[tokio::test]
async fn qoswatch_encodes_uuids_the_way_the_simulator_requires() {
    let sim = start(SimConfig::default()).await;
    let http = http();
    let token = sim.grant_token();
    sim.add_meeting(MeetingSpec::new(GUEST_UUID, 84_712_639_219, "Weekly sync"))
        .expect("meeting");
    sim.add_meeting(meeting(PLAIN_UUID)).expect("meeting");
    sim.add_participant(
        GUEST_UUID,
        ParticipantSpec::new("16790528", "Guest Caller").as_guest(),
    )
    .expect("join");
    sim.add_participant(PLAIN_UUID, ParticipantSpec::new("16778240", "Jill Chill"))
        .expect("join");

    let once = qoswatch::zoom::encode_path_segment(GUEST_UUID);
    assert_eq!(once, "%2Fgsqg0HKxTQ2Tx%2F%2FSVAxE9%2B0w%3D%3D");
    let (status, _, body) = get(&http, &qos_url(&sim, &once, "16790528"), &token).await;
    assert_eq!((status, body), (404, fixture("error.3001.json")));

    let twice = encode_meeting_uuid(GUEST_UUID);
    assert_eq!(twice, "%252Fgsqg0HKxTQ2Tx%252F%252FSVAxE9%252B0w%253D%253D");
    let (status, _, body) = get(&http, &qos_url(&sim, &twice, "16790528"), &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], "16790528");

    let plain = encode_meeting_uuid(PLAIN_UUID);
    assert_eq!(plain, "4444AAAiAAAAAiAiAiiAii%3D%3D");
    let (status, _, body) = get(&http, &qos_url(&sim, &plain, "16778240"), &token).await;
    assert_eq!(status, 200, "{body}");
    sim.shutdown().await;
}

/// The lead's client against the simulator: the two halves agree on paths,
/// tokens and error codes.
#[tokio::test]
async fn qoswatch_zoom_client_works_against_the_simulator() {
    use qoswatch::quota::budget::Budget;
    use qoswatch::zoom::client::{ClientSettings, ZoomClient, ZoomError};
    use std::sync::Arc;

    let sim = start(SimConfig::default()).await;
    sim.add_meeting(MeetingSpec::new(GUEST_UUID, 84_712_639_219, "Weekly sync"))
        .expect("meeting");
    sim.add_participant(
        GUEST_UUID,
        ParticipantSpec::new("16790528", "Guest Caller").as_guest(),
    )
    .expect("join");
    let mut registry = prometheus_client::registry::Registry::default();
    let budget = Arc::new(Budget::new(40, 60_000, &mut registry));
    let credentials = sim.credentials();
    let client = ZoomClient::new(
        ClientSettings {
            api_base: sim.api_base(),
            token_url: sim.token_url(),
            request_timeout: Duration::from_secs(5),
            token_refresh_margin: Duration::from_secs(60),
            max_answer_bytes: qoswatch::config::DEFAULT_MAX_ANSWER_BYTES,
            max_requests_in_flight: qoswatch::zoom::settings::DEFAULT_MAX_REQUESTS_IN_FLIGHT,
        },
        client_credentials(credentials),
        budget,
        &mut registry,
    )
    .expect("client");

    let (qos, _) = client
        .participant_qos(GUEST_UUID, "16790528", None)
        .await
        .expect("qos of a double-encoded UUID");
    assert_eq!(qos.details.user_id.as_deref(), Some("16790528"));
    assert_eq!(sim.token_requests(), 1);

    // A revoked token is renewed once and the call succeeds.
    sim.push_fault(Fault::InvalidToken);
    client
        .participant_qos(GUEST_UUID, "16790528", None)
        .await
        .expect("renews the token");
    assert_eq!(sim.token_requests(), 2);

    sim.push_fault(Fault::NotEntitled);
    assert!(matches!(
        client.participant_qos(GUEST_UUID, "16790528", None).await,
        Err(ZoomError::NotEntitled { .. })
    ));
    sim.end_meeting(GUEST_UUID).expect("ends");
    assert_eq!(
        client
            .participant_qos(GUEST_UUID, "16790528", None)
            .await
            .err(),
        Some(ZoomError::NotLive)
    );
    sim.shutdown().await;
}

/// The simulator's OAuth credentials as qoswatch's client takes them.
pub(super) fn client_credentials(
    credentials: &qoswatch_zoomsim::SimCredentials,
) -> qoswatch::zoom::client::Credentials {
    qoswatch::zoom::client::Credentials {
        account_id: secrecy::SecretString::from(credentials.account_id.clone()),
        client_id: secrecy::SecretString::from(credentials.client_id.clone()),
        client_secret: credentials.client_secret.clone(),
    }
}
