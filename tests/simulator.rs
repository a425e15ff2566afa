//! The Zoom simulator over real HTTP on loopback, as qoswatch's client and
//! integration tests will use it.

#[path = "simulator/samples.rs"]
mod samples;

use std::time::Duration;

use qoswatch::zoom::encode_meeting_uuid;
use qoswatch_core::qos::{MetricId, parse_participant_qos};
use qoswatch_zoomsim::{
    Degradation, Fault, LeftParticipant, MeetingSpec, ParticipantSpec, RetryAfter, SimConfig,
    SimHandle, Simulator, Target,
};
use secrecy::ExposeSecret;
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

async fn token(sim: &SimHandle, http: &reqwest::Client) -> String {
    let credentials = sim.credentials();
    let response = http
        .post(sim.token_url())
        .basic_auth(
            &credentials.client_id,
            Some(credentials.client_secret.expose_secret()),
        )
        .form(&[
            ("grant_type", "account_credentials"),
            ("account_id", credentials.account_id.as_str()),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200);
    let body: Json = response.json().await.expect("token json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
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
async fn token_flow_accepts_the_right_credentials_only() {
    let sim = start(SimConfig {
        token_lifetime: Duration::from_secs(7),
        ..SimConfig::default()
    })
    .await;
    let http = http();
    let credentials = sim.credentials().clone();
    let first = token(&sim, &http).await;
    let second = token(&sim, &http).await;
    assert_ne!(first, second, "a fresh token every time");

    let response = http
        .post(sim.token_url())
        .basic_auth(
            &credentials.client_id,
            Some(credentials.client_secret.expose_secret()),
        )
        .query(&[
            ("grant_type", "account_credentials"),
            ("account_id", credentials.account_id.as_str()),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        200,
        "grant in the query, as Zoom's docs show it"
    );
    let body: Json = response.json().await.expect("json");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 7);
    assert!(body["scope"].as_str().expect("scope").contains("dashboard"));

    let wrong_secret = http
        .post(sim.token_url())
        .basic_auth(&credentials.client_id, Some("not-the-secret"))
        .form(&[
            ("grant_type", "account_credentials"),
            ("account_id", credentials.account_id.as_str()),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_secret.status(), 400);
    let body: Json = wrong_secret.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!({"reason":"Invalid client_id or client_secret","error":"invalid_client"})
    );

    let no_auth = http
        .post(sim.token_url())
        .form(&[("grant_type", "account_credentials")])
        .send()
        .await
        .expect("request");
    assert_eq!(no_auth.status(), 401);

    let wrong_account = http
        .post(sim.token_url())
        .basic_auth(
            &credentials.client_id,
            Some(credentials.client_secret.expose_secret()),
        )
        .form(&[
            ("grant_type", "account_credentials"),
            ("account_id", "other"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_account.status(), 400);

    let wrong_grant = http
        .post(sim.token_url())
        .basic_auth(
            &credentials.client_id,
            Some(credentials.client_secret.expose_secret()),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            ("account_id", credentials.account_id.as_str()),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_grant.status(), 400);

    assert_eq!(sim.token_requests(), 7);
    sim.shutdown().await;
}

#[tokio::test]
async fn qos_parses_and_carries_the_scripted_degradation_at_the_right_samples() {
    let sim = start(SimConfig {
        sample_period: Duration::from_millis(100),
        ..SimConfig::default()
    })
    .await;
    let http = http();
    let token = token(&sim, &http).await;
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

#[tokio::test(start_paused = true)]
async fn date_time_advances_one_minute_per_period_under_paused_time() {
    let start = chrono::DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let sim = start_paused_sim(start).await;
    let http = http();
    let token = token(&sim, &http).await;
    sim.add_meeting(meeting(PLAIN_UUID)).expect("meeting");
    sim.add_participant(PLAIN_UUID, ParticipantSpec::new("1", "Ann"))
        .expect("join");
    let url = qos_url(&sim, &encode_meeting_uuid(PLAIN_UUID), "1");

    let (_, _, body) = get(&http, &url, &token).await;
    assert_eq!(
        body["user_qos"],
        serde_json::json!([]),
        "no full minute yet"
    );
    assert_eq!(body["join_time"], "2026-03-02T10:00:00Z");

    tokio::time::advance(Duration::from_secs(3 * 60)).await;
    let (_, _, body) = get(&http, &url, &token).await;
    let times: Vec<&str> = body["user_qos"]
        .as_array()
        .expect("samples")
        .iter()
        .map(|s| s["date_time"].as_str().expect("date_time"))
        .collect();
    assert_eq!(
        times,
        [
            "2026-03-02T10:01:00Z",
            "2026-03-02T10:02:00Z",
            "2026-03-02T10:03:00Z"
        ]
    );
    assert_eq!(sim.sim_now().to_rfc3339(), "2026-03-02T10:03:00+00:00");

    // The live window keeps the last 30 minutes only.
    tokio::time::advance(Duration::from_secs(40 * 60)).await;
    let (_, _, body) = get(&http, &url, &token).await;
    let samples = body["user_qos"].as_array().expect("samples");
    assert_eq!(samples.len(), 30);
    assert_eq!(samples[29]["date_time"], "2026-03-02T10:43:00Z");
    assert_eq!(samples[0]["date_time"], "2026-03-02T10:14:00Z");
    sim.shutdown().await;
}

async fn start_paused_sim(start_at: chrono::DateTime<chrono::Utc>) -> SimHandle {
    start(SimConfig {
        sample_period: Duration::from_secs(60),
        clock_start: Some(start_at),
        ..SimConfig::default()
    })
    .await
}

#[tokio::test]
async fn a_uuid_that_needs_double_encoding_must_be_double_encoded() {
    let sim = start(SimConfig::default()).await;
    let http = http();
    let token = token(&sim, &http).await;
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
    assert_eq!(status, 404);
    assert_eq!(body, fixture("error.3001.json"));

    let twice = encode_meeting_uuid(GUEST_UUID);
    assert_eq!(twice, "%252Fgsqg0HKxTQ2Tx%252F%252FSVAxE9%252B0w%253D%253D");
    let (status, _, body) = get(&http, &qos_url(&sim, &twice, "16790528"), &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], "16790528");

    // Unencoded: the slashes split the path.
    let (status, _, body) = get(&http, &qos_url(&sim, GUEST_UUID, "16790528"), &token).await;
    assert_eq!((status, body), (404, fixture("error.3001.json")));

    // A plain UUID encoded once works; so does the meeting number.
    let (status, _, _) = get(
        &http,
        &qos_url(&sim, &encode_meeting_uuid(PLAIN_UUID), "16778240"),
        &token,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = get(&http, &qos_url(&sim, "1234567890", "16778240"), &token).await;
    assert_eq!(status, 200);

    // Unknown meeting and unknown participant.
    let (status, _, body) = get(&http, &qos_url(&sim, "bm9wZQ%3D%3D", "16778240"), &token).await;
    assert_eq!((status, body), (404, fixture("error.3001.json")));
    let (status, _, body) = get(&http, &qos_url(&sim, &twice, "999"), &token).await;
    assert_eq!((status, body), (404, fixture("error.3001.json")));

    // The log has the raw path as sent.
    let raw_paths: Vec<String> = sim
        .qos_requests()
        .iter()
        .map(|r| r.raw_path.clone())
        .collect();
    assert!(raw_paths.contains(&format!(
        "/v2/metrics/meetings/{twice}/participants/16790528/qos"
    )));
    // The unencoded request split the path: it hit no QoS endpoint.
    assert_eq!(sim.qos_requests_for("16790528"), 2);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn leaving_and_ending_are_visible_in_the_answers() {
    let start_at = chrono::DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let sim = start_paused_sim(start_at).await;
    let http = http();
    let token = token(&sim, &http).await;
    sim.add_meeting(meeting(PLAIN_UUID)).expect("meeting");
    sim.add_participant(PLAIN_UUID, ParticipantSpec::new("1", "Ann"))
        .expect("join");
    sim.add_participant(PLAIN_UUID, ParticipantSpec::new("2", "Bob"))
        .expect("join");
    let segment = encode_meeting_uuid(PLAIN_UUID);

    tokio::time::advance(Duration::from_secs(2 * 60 + 30)).await;
    let left_at = sim.participant_leaves(PLAIN_UUID, "1").expect("leaves");
    assert_eq!(left_at.to_rfc3339(), "2026-03-02T10:02:30+00:00");
    tokio::time::advance(Duration::from_secs(5 * 60)).await;
    let (status, _, body) = get(&http, &qos_url(&sim, &segment, "1"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["leave_time"], "2026-03-02T10:02:30Z");
    assert_eq!(
        body["user_qos"].as_array().expect("samples").len(),
        2,
        "no samples after leaving"
    );
    let (_, _, body) = get(&http, &qos_url(&sim, &segment, "2"), &token).await;
    assert_eq!(body["leave_time"], "");
    assert_eq!(body["user_qos"].as_array().expect("samples").len(), 7);

    sim.end_meeting(PLAIN_UUID).expect("ends");
    let (status, _, body) = get(&http, &qos_url(&sim, &segment, "2"), &token).await;
    assert_eq!((status, body), (404, fixture("error.3001.json")));
    assert!(
        sim.add_participant(PLAIN_UUID, ParticipantSpec::new("3", "Cy"))
            .is_err()
    );
    sim.shutdown().await;

    // The other choice for a participant who left.
    let sim = start(SimConfig {
        left_participant: LeftParticipant::NotFound,
        ..SimConfig::default()
    })
    .await;
    let token = self::token(&sim, &http).await;
    sim.add_meeting(meeting(PLAIN_UUID)).expect("meeting");
    sim.add_participant(PLAIN_UUID, ParticipantSpec::new("1", "Ann"))
        .expect("join");
    sim.participant_leaves(PLAIN_UUID, "1").expect("leaves");
    let (status, _, _) = get(&http, &qos_url(&sim, &segment, "1"), &token).await;
    assert_eq!(status, 404);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn tokens_are_required_and_expire() {
    let sim = start(SimConfig {
        token_lifetime: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await;
    let http = http();
    sim.add_meeting(meeting(PLAIN_UUID)).expect("meeting");
    sim.add_participant(PLAIN_UUID, ParticipantSpec::new("1", "Ann"))
        .expect("join");
    let url = qos_url(&sim, &encode_meeting_uuid(PLAIN_UUID), "1");
    let invalid = serde_json::json!({"code":124,"message":"Invalid access token."});

    let response = http.get(&url).send().await.expect("request");
    assert_eq!(response.status(), 401);
    assert_eq!(response.json::<Json>().await.expect("json"), invalid);
    let (status, _, body) = get(&http, &url, "made-up-token").await;
    assert_eq!((status, body), (401, invalid.clone()));

    let token = token(&sim, &http).await;
    assert_eq!(get(&http, &url, &token).await.0, 200);
    tokio::time::advance(Duration::from_secs(2)).await;
    let (status, _, body) = get(&http, &url, &token).await;
    assert_eq!((status, body), (401, invalid.clone()), "expired");

    let token = self::token(&sim, &http).await;
    assert_eq!(get(&http, &url, &token).await.0, 200);
    sim.revoke_tokens();
    assert_eq!(get(&http, &url, &token).await.0, 401, "revoked");

    let log = sim.log();
    let bearers: Vec<Option<String>> = log.requests().map(|r| r.bearer_token.clone()).collect();
    assert!(bearers.contains(&Some("made-up-token".to_owned())));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn each_fault_kind_is_answered_once_then_service_resumes() {
    let sim = start(SimConfig::default()).await;
    let http = http();
    let token = token(&sim, &http).await;
    sim.add_meeting(meeting(PLAIN_UUID)).expect("meeting");
    sim.add_participant(PLAIN_UUID, ParticipantSpec::new("1", "Ann"))
        .expect("join");
    let url = qos_url(&sim, &encode_meeting_uuid(PLAIN_UUID), "1");

    sim.push_faults([
        Fault::rate_limited_seconds(7),
        Fault::daily_limit_until(Duration::from_secs(3600)),
        Fault::rate_limited_bare(),
        Fault::MeetingNotFound,
        Fault::NotEntitled,
        Fault::ServerError { status: 503 },
    ]);
    assert_eq!(sim.pending_faults(), 6);

    let (status, headers, body) = get(&http, &url, &token).await;
    assert_eq!(status, 429);
    assert_eq!(body["code"], 429);
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(headers["x-ratelimit-type"], "QPS");
    assert_eq!(headers["x-ratelimit-category"], "Heavy");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert!(headers.contains_key("x-ratelimit-limit"));

    let before = chrono::Utc::now();
    let (status, headers, _) = get(&http, &url, &token).await;
    assert_eq!(status, 429);
    assert_eq!(headers["x-ratelimit-type"], "Daily-limit");
    let retry_at =
        chrono::DateTime::parse_from_rfc3339(headers["retry-after"].to_str().expect("ascii"))
            .expect("ISO-8601 Retry-After");
    let ahead = retry_at.with_timezone(&chrono::Utc) - before;
    assert!(
        (3599..=3602).contains(&ahead.num_seconds()),
        "{ahead:?} ahead"
    );

    let (status, headers, _) = get(&http, &url, &token).await;
    assert_eq!(status, 429);
    assert!(!headers.contains_key("retry-after"));
    assert!(!headers.contains_key("x-ratelimit-type"));

    let (status, _, body) = get(&http, &url, &token).await;
    assert_eq!((status, body), (404, fixture("error.3001.json")));
    let (status, _, body) = get(&http, &url, &token).await;
    assert_eq!((status, body), (400, fixture("error.not_entitled.json")));
    let (status, _, _) = get(&http, &url, &token).await;
    assert_eq!(status, 503);

    assert_eq!(sim.pending_faults(), 0);
    assert_eq!(get(&http, &url, &token).await.0, 200, "faults are one-shot");

    // 401 revokes every token, so the next call fails too until a new token.
    sim.push_fault(Fault::InvalidToken);
    assert_eq!(get(&http, &url, &token).await.0, 401);
    assert_eq!(get(&http, &url, &token).await.0, 401);
    let fresh = self::token(&sim, &http).await;
    assert_eq!(get(&http, &url, &fresh).await.0, 200);

    // A slow answer takes its delay (tokio time), then answers normally.
    sim.push_fault(Fault::Slow(Duration::from_secs(9)));
    let started = tokio::time::Instant::now();
    assert_eq!(get(&http, &url, &fresh).await.0, 200);
    assert!(started.elapsed() >= Duration::from_secs(9));

    // A custom Retry-After form.
    sim.push_fault(Fault::RateLimited {
        retry_after: RetryAfter::Seconds(1),
        headers: None,
    });
    let (status, headers, _) = get(&http, &url, &fresh).await;
    assert_eq!(
        (status, headers["retry-after"].to_str().expect("ascii")),
        (429, "1")
    );

    // Only type=live is served.
    let past = url.replace("type=live", "type=past");
    let (status, _, body) = get(&http, &past, &fresh).await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, serde_json::json!(300))
    );

    let log = sim.log();
    assert_eq!(log.with_status(429), 4);
    assert!(log.requests().all(|r| r.status != 0));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn qps_limit_answers_429_with_an_iso_retry_after_within_the_second() {
    let sim = start(SimConfig {
        qps_limit: Some(2),
        ..SimConfig::default()
    })
    .await;
    let http = http();
    let token = token(&sim, &http).await;
    sim.add_meeting(meeting(PLAIN_UUID)).expect("meeting");
    sim.add_participant(PLAIN_UUID, ParticipantSpec::new("1", "Ann"))
        .expect("join");
    let url = qos_url(&sim, &encode_meeting_uuid(PLAIN_UUID), "1");

    assert_eq!(get(&http, &url, &token).await.0, 200);
    assert_eq!(get(&http, &url, &token).await.0, 200);
    let (status, headers, _) = get(&http, &url, &token).await;
    assert_eq!(status, 429);
    assert_eq!(headers["x-ratelimit-type"], "QPS");
    assert_eq!(headers["x-ratelimit-limit"], "2");
    let retry_after = headers["retry-after"].to_str().expect("ascii");
    assert!(
        chrono::DateTime::parse_from_rfc3339(retry_after).is_ok(),
        "{retry_after}"
    );

    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        get(&http, &url, &token).await.0,
        200,
        "a new second, a new bucket"
    );
    sim.set_qps_limit(None);
    for _ in 0..5 {
        assert_eq!(get(&http, &url, &token).await.0, 200);
    }
    sim.set_random_429(1.0);
    assert_eq!(get(&http, &url, &token).await.0, 429);
    sim.shutdown().await;
}

#[tokio::test]
async fn list_endpoint_pages_with_tokens() {
    let sim = start(SimConfig::default()).await;
    let http = http();
    let token = token(&sim, &http).await;
    sim.add_meeting(MeetingSpec::new(GUEST_UUID, 84_712_639_219, "All hands"))
        .expect("meeting");
    for n in 0..23 {
        sim.add_participant(
            GUEST_UUID,
            ParticipantSpec::new(format!("{}", 1000 + n), format!("P{n}")),
        )
        .expect("join");
    }
    let base = format!(
        "{}/metrics/meetings/{}/participants/qos?type=live",
        sim.api_base(),
        encode_meeting_uuid(GUEST_UUID)
    );
    let mut seen = Vec::new();
    let mut page_sizes = Vec::new();
    let mut next = String::new();
    loop {
        let url = if next.is_empty() {
            format!("{base}&page_size=10")
        } else {
            format!("{base}&page_size=10&next_page_token={next}")
        };
        let (status, _, body) = get(&http, &url, &token).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["page_size"], 10);
        assert_eq!(body["total_records"], 23);
        assert_eq!(body["page_count"], 3);
        let participants = body["participants"].as_array().expect("participants");
        page_sizes.push(participants.len());
        for participant in participants {
            let raw = serde_json::to_vec(participant).expect("json");
            let (parsed, _) = parse_participant_qos(&raw).expect("parses");
            seen.push(parsed.details.user_id.expect("user_id"));
        }
        next = body["next_page_token"].as_str().expect("token").to_owned();
        if next.is_empty() {
            break;
        }
    }
    assert_eq!(page_sizes, [10, 10, 3]);
    let expected: Vec<String> = (0..23).map(|n| format!("{}", 1000 + n)).collect();
    assert_eq!(seen, expected);

    // Default and capped page sizes, bad sizes and bad tokens.
    let (_, _, body) = get(&http, &base, &token).await;
    assert_eq!(body["participants"].as_array().expect("list").len(), 10);
    let (_, _, body) = get(&http, &format!("{base}&page_size=300"), &token).await;
    assert_eq!(body["page_size"], 10);
    let (_, _, body) = get(&http, &format!("{base}&page_size=3"), &token).await;
    assert_eq!(body["participants"].as_array().expect("list").len(), 3);
    let (status, _, body) = get(&http, &format!("{base}&page_size=0"), &token).await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, serde_json::json!(300))
    );
    let (status, _, body) = get(&http, &format!("{base}&next_page_token=bogus"), &token).await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, serde_json::json!(300))
    );

    // Single-encoded guest UUID: 3001 on the list endpoint too.
    let wrong = format!(
        "{}/metrics/meetings/{}/participants/qos?type=live",
        sim.api_base(),
        qoswatch::zoom::encode_path_segment(GUEST_UUID)
    );
    let (status, _, body) = get(&http, &wrong, &token).await;
    assert_eq!((status, body), (404, fixture("error.3001.json")));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn wait_until_polls_until_true_or_the_deadline() {
    let sim = start(SimConfig::default()).await;
    let never = sim
        .wait_until(|log| log.token_requests() > 0, Duration::from_secs(5))
        .await;
    assert!(!never);
    let http = http();
    let waiter = {
        let sim = sim.clone();
        tokio::spawn(async move {
            sim.wait_until(|log| log.token_requests() >= 1, Duration::from_secs(30))
                .await
        })
    };
    token(&sim, &http).await;
    assert!(waiter.await.expect("joins"));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_simulator_stops_with_its_cancellation_token() {
    let tracker = tokio_util::task::TaskTracker::new();
    let cancel = tokio_util::sync::CancellationToken::new();
    let sim = Simulator::start_with(
        SimConfig::default(),
        "127.0.0.1:0".parse().expect("addr"),
        &tracker,
        &cancel,
    )
    .await
    .expect("starts");
    let http = http();
    token(&sim, &http).await;
    cancel.cancel();
    tracker.close();
    tokio::time::timeout(Duration::from_secs(5), tracker.wait())
        .await
        .expect("server task ends on cancellation");
    assert!(
        http.post(sim.token_url()).send().await.is_err(),
        "no longer listening"
    );
}

/// The lead's client against the simulator: the two halves agree on paths,
/// tokens and error codes.
#[tokio::test]
async fn qoswatch_zoom_client_works_against_the_simulator() {
    use qoswatch::zoom::budget::Budget;
    use qoswatch::zoom::client::{ClientSettings, Credentials, ZoomClient, ZoomError};
    use secrecy::SecretString;
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
        },
        Credentials {
            account_id: SecretString::from(credentials.account_id.clone()),
            client_id: SecretString::from(credentials.client_id.clone()),
            client_secret: credentials.client_secret.clone(),
        },
        budget,
        &mut registry,
    )
    .expect("client");

    let (qos, _) = client
        .participant_qos(GUEST_UUID, "16790528")
        .await
        .expect("qos of a double-encoded UUID");
    assert_eq!(qos.details.user_id.as_deref(), Some("16790528"));
    assert_eq!(sim.token_requests(), 1);

    // A revoked token is renewed once and the call succeeds.
    sim.push_fault(Fault::InvalidToken);
    client
        .participant_qos(GUEST_UUID, "16790528")
        .await
        .expect("renews the token");
    assert_eq!(sim.token_requests(), 2);

    sim.push_fault(Fault::NotEntitled);
    assert!(matches!(
        client.participant_qos(GUEST_UUID, "16790528").await,
        Err(ZoomError::NotEntitled { .. })
    ));
    sim.end_meeting(GUEST_UUID).expect("ends");
    assert_eq!(
        client.participant_qos(GUEST_UUID, "16790528").await.err(),
        Some(ZoomError::NotLive)
    );
    sim.shutdown().await;
}

/// What the tiny receiver saw.
#[derive(Debug)]
struct Received {
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

/// A receiver that verifies like qoswatch does and answers url_validation.
async fn start_receiver(
    secret: &str,
) -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<Received>,
    tokio_util::sync::CancellationToken,
) {
    use axum::extract::State;
    use axum::http::HeaderMap;
    use qoswatch::zoom::signature::Verifier;
    use secrecy::SecretString;

    #[derive(Clone)]
    struct App {
        verifier: Verifier,
        seen: tokio::sync::mpsc::UnboundedSender<Received>,
    }
    async fn hook(
        State(app): State<App>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> (axum::http::StatusCode, String) {
        let _ = app.seen.send(Received {
            headers: headers.clone(),
            body: body.to_vec(),
        });
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let verified = match app.verifier.verify(
            header("x-zm-signature"),
            header("x-zm-request-timestamp"),
            &body,
            chrono::Utc::now().timestamp(),
        ) {
            Ok(verified) => verified,
            Err(error) => return (axum::http::StatusCode::UNAUTHORIZED, error.to_string()),
        };
        let event: Json = serde_json::from_slice(verified.body()).unwrap_or_default();
        if event["event"] == "endpoint.url_validation" {
            let plain = event["payload"]["plainToken"].as_str().unwrap_or_default();
            let answer = serde_json::json!({
                "plainToken": plain,
                "encryptedToken": verified.url_validation_token(plain),
            });
            return (axum::http::StatusCode::OK, answer.to_string());
        }
        (axum::http::StatusCode::OK, String::new())
    }

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = App {
        verifier: Verifier::new(
            vec![SecretString::from(secret.to_owned())],
            Duration::from_secs(300),
        ),
        seen: tx,
    };
    let router = axum::Router::new()
        .route("/webhooks/zoom", axum::routing::post(hook))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/webhooks/zoom",
        listener.local_addr().expect("addr")
    );
    let cancel = tokio_util::sync::CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .expect("receiver");
    });
    (url, rx, cancel)
}

#[tokio::test]
async fn webhook_sender_signs_events_that_verify() {
    use qoswatch_zoomsim::webhooks::WebhookSender;
    use secrecy::SecretString;

    let secret = "dOL1a7aQTa2ZsXZ5FFwCAg";
    let (url, mut seen, stop) = start_receiver(secret).await;
    let sender = WebhookSender::new(&url, SecretString::from(secret.to_owned())).expect("sender");
    let meeting = MeetingSpec::new(GUEST_UUID, 84_712_639_219, "Weekly sync");
    let guest = ParticipantSpec::new("16790528", "Guest Caller").as_guest();
    let start = chrono::Utc::now();

    // Checked with the simulator's own HMAC, then against the openssl vector.
    let answer = sender
        .check_url_validation("qgg8vlvZRS6UYooatFL8Aw")
        .await
        .expect("qoswatch's verifier answers url_validation right");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body: Json = serde_json::from_str(&answer.body).expect("json");
    assert_eq!(
        body["encryptedToken"],
        // openssl dgst -sha256 -hmac dOL1a7aQTa2ZsXZ5FFwCAg of the token
        "0eb6ba256e1a730ddef2e57cc08d0986cf80a08acdf01a1077ec58fb9a0a7429"
    );

    let answers = [
        sender.meeting_started(&meeting, start).await.expect("sent"),
        sender
            .participant_joined(&meeting, start, &guest, start)
            .await
            .expect("sent"),
        sender
            .participant_left(
                &meeting,
                start,
                &guest,
                start,
                "Guest Caller left the meeting.",
            )
            .await
            .expect("sent"),
        sender
            .meeting_alert(&meeting, start, &["Unstable audio quality".to_owned()])
            .await
            .expect("sent"),
        sender
            .meeting_ended(&meeting, start, start)
            .await
            .expect("sent"),
    ];
    for answer in &answers {
        assert_eq!(answer.status, 200, "signature verified: {}", answer.body);
    }

    let mut events = Vec::new();
    for _ in 0..6 {
        let received = tokio::time::timeout(Duration::from_secs(5), seen.recv())
            .await
            .expect("in time")
            .expect("received");
        assert_eq!(
            received.headers["content-type"],
            "application/json; charset=utf-8"
        );
        assert_eq!(received.headers["user-agent"], "Zoom Marketplace/1.0a");
        assert!(received.headers.contains_key("x-zm-trackingid"));
        let timestamp: i64 = received.headers["x-zm-request-timestamp"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("unix seconds");
        assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
        events.push(serde_json::from_slice::<Json>(&received.body).expect("json"));
    }
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().expect("event"))
        .collect();
    assert_eq!(
        names,
        [
            "endpoint.url_validation",
            "meeting.started",
            "meeting.participant_joined",
            "meeting.participant_left",
            "meeting.alert",
            "meeting.ended"
        ]
    );
    assert!(events[1]["payload"]["object"]["id"].is_number());
    assert!(events[2]["payload"]["object"]["id"].is_string());
    assert_eq!(events[2]["payload"]["object"]["uuid"], GUEST_UUID);
    assert_eq!(
        events[2]["payload"]["object"]["participant"]["user_id"],
        "16790528"
    );
    assert_eq!(
        events[3]["payload"]["object"]["participant"]["leave_reason"],
        "Guest Caller left the meeting."
    );

    // A sender with the wrong secret is refused by the receiver.
    let wrong = WebhookSender::new(&url, SecretString::from("other".to_owned())).expect("sender");
    let refused = wrong.meeting_started(&meeting, start).await.expect("sent");
    assert_eq!(refused.status, 401);
    stop.cancel();
}

#[tokio::test]
async fn the_demo_scenario_drives_the_fake_and_the_webhook_endpoint() {
    use qoswatch_zoomsim::scenario::{DEMO_MEETING_UUID, Scenario};
    use qoswatch_zoomsim::webhooks::WebhookSender;
    use secrecy::SecretString;

    let secret = "demo-secret-token";
    let (url, mut seen, stop) = start_receiver(secret).await;
    let sender = WebhookSender::new(&url, SecretString::from(secret.to_owned())).expect("sender");
    let sim = start(SimConfig {
        sample_period: Duration::from_millis(100),
        ..SimConfig::default()
    })
    .await;
    let http = http();
    let token = token(&sim, &http).await;
    // 100 ms per minute: ten samples at 1 s, the meeting ends at 1.8 s.
    let cancel = tokio_util::sync::CancellationToken::new();
    let demo = Scenario::demo();

    // Watch Ana (bad Wi-Fi on samples 4..9) while the story runs.
    let runner = {
        let sim = sim.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move { demo.run(&sim, Some(&sender), &cancel).await })
    };
    let ana_url = qos_url(&sim, &encode_meeting_uuid(DEMO_MEETING_UUID), "16778301");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let ana = loop {
        let (status, _, body) = get(&http, &ana_url, &token).await;
        if status == 200 && body["user_qos"].as_array().map_or(0, Vec::len) >= 10 {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never saw ten samples: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let report = runner.await.expect("joins").expect("runs");
    assert_eq!(report.webhook_failures, 0);
    assert!(!report.cancelled);

    let raw = serde_json::to_vec(&ana).expect("json");
    let (ana, _) = parse_participant_qos(&raw).expect("parses");
    let latency = MetricId::parse("audio_input.latency").expect("metric");
    let degraded: Vec<bool> = ana.samples[..10]
        .iter()
        .map(|s| s.get(latency).expect("latency") >= 400.0)
        .collect();
    assert_eq!(
        degraded,
        [
            false, false, false, false, true, true, true, true, true, false
        ]
    );

    // 1 started, 7 joined, 1 alert, Dana leaves, 6 leave at the end, 1 ended.
    let mut names = Vec::new();
    while let Ok(received) = seen.try_recv() {
        let event: Json = serde_json::from_slice(&received.body).expect("json");
        names.push(event["event"].as_str().expect("event").to_owned());
    }
    let count = |name: &str| names.iter().filter(|n| *n == name).count();
    assert_eq!(names.len(), report.webhooks_sent);
    assert_eq!(names.first().map(String::as_str), Some("meeting.started"));
    assert_eq!(names.last().map(String::as_str), Some("meeting.ended"));
    assert_eq!(count("meeting.participant_joined"), 7);
    assert_eq!(count("meeting.participant_left"), 7);
    assert_eq!(count("meeting.alert"), 1);

    // The meeting is over; the injected 429 was consumed or is still queued.
    let (status, _, _) = get(&http, &ana_url, &token).await;
    assert!(status == 404 || status == 429, "{status}");
    stop.cancel();
    sim.shutdown().await;
}

/// qoswatch itself, fed by the simulator's webhooks, polls the simulator's
/// QoS API for the joined participant and stops when the meeting ends.
#[tokio::test]
async fn qoswatch_end_to_end_polls_what_the_simulator_announces() {
    use qoswatch::config::Settings;
    use qoswatch::startup::Application;
    use qoswatch_zoomsim::webhooks::WebhookSender;
    use secrecy::SecretString;

    let sim = start(SimConfig {
        sample_period: Duration::from_millis(100),
        ..SimConfig::default()
    })
    .await;
    let webhook_secret = "e2e-webhook-secret";
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".parse().expect("addr");
    settings.zoom.api_base = sim.api_base();
    settings.zoom.token_url = sim.token_url();
    settings.zoom.requests_per_second = 40;
    settings.polling.interval = Duration::from_millis(100);
    let credentials = sim.credentials();
    settings.secrets.webhook_secret_tokens = vec![SecretString::from(webhook_secret.to_owned())];
    settings.secrets.account_id = Some(SecretString::from(credentials.account_id.clone()));
    settings.secrets.client_id = Some(SecretString::from(credentials.client_id.clone()));
    settings.secrets.client_secret = Some(credentials.client_secret.clone());
    let app = Application::build(settings).await.expect("qoswatch builds");
    let url = format!("http://{}/webhooks/zoom", app.address());
    let stop = app.shutdown_token();
    let running = tokio::spawn(app.run_until_stopped());

    let sender =
        WebhookSender::new(&url, SecretString::from(webhook_secret.to_owned())).expect("sender");
    sender
        .check_url_validation("e2eToken")
        .await
        .expect("qoswatch answers url_validation right");
    let meeting = MeetingSpec::new(GUEST_UUID, 84_712_639_219, "Weekly sync");
    sim.add_meeting(meeting.clone()).expect("meeting");
    let start_time = sim.sim_now();
    assert_eq!(
        sender
            .meeting_started(&meeting, start_time)
            .await
            .expect("sent")
            .status,
        200
    );
    let guest = ParticipantSpec::new("16790528", "Guest Caller").as_guest();
    let joined = sim
        .add_participant(GUEST_UUID, guest.clone())
        .expect("join");
    let answer = sender
        .participant_joined(&meeting, start_time, &guest, joined)
        .await
        .expect("sent");
    assert_eq!(answer.status, 200, "{}", answer.body);

    assert!(
        sim.wait_until(
            |log| log.qos_requests_for("16790528") >= 3,
            Duration::from_secs(10)
        )
        .await,
        "qoswatch polls the participant: {:?}",
        sim.log()
            .requests()
            .map(|r| (&r.raw_path, r.status))
            .collect::<Vec<_>>()
    );
    let polled = sim.qos_requests();
    assert!(
        polled
            .iter()
            .all(|r| r.raw_path.contains("%252Fgsqg0HKxTQ2Tx%252F%252F"))
    );
    assert!(polled.iter().all(|r| r.bearer_token.is_some()));

    // The meeting ends: qoswatch gets 3001 and stops polling.
    let ended = sim.end_meeting(GUEST_UUID).expect("ends");
    sender
        .meeting_ended(&meeting, start_time, ended)
        .await
        .expect("sent");
    let before = sim.qos_requests_for("16790528");
    // At most one poll may have been under way when the meeting ended.
    let grew = sim
        .wait_until(
            |log| log.qos_requests_for("16790528") > before + 1,
            Duration::from_millis(600),
        )
        .await;
    assert!(!grew, "qoswatch kept polling an ended meeting");

    stop.cancel();
    running.await.expect("joins").expect("clean stop");
    sim.shutdown().await;
}
