//! The QoS endpoints (single participant and list): sample timing under
//! paused time, Zoom's UUID encoding rule, leaving and ending, paging.

#[path = "qos/accounts.rs"]
mod accounts;
mod common;

use std::time::Duration;

use common::{
    GUEST_ONCE, GUEST_TWICE, GUEST_UUID, PLAIN_SEGMENT, PLAIN_UUID, ann_in_a_meeting, fixture, get,
    http, meeting, number, qos_url, sample_times, start, start_paused_sim, token,
};
use qoswatch_zoomsim::{
    Degradation, LeftParticipant, MeetingSpec, ParticipantSpec, SimConfig, Target,
};

#[tokio::test(start_paused = true)]
async fn date_time_advances_one_minute_per_period_under_paused_time() {
    let start = chrono::DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let sim = start_paused_sim(start).await;
    let http = http();
    let token = token(&sim, &http).await;
    let url = ann_in_a_meeting(&sim);

    let (_, _, body) = get(&http, &url, &token).await;
    assert_eq!(
        body["user_qos"],
        serde_json::json!([]),
        "no full minute yet"
    );
    assert_eq!(body["join_time"], "2026-03-02T10:00:00Z");

    tokio::time::advance(Duration::from_secs(3 * 60)).await;
    let (_, _, body) = get(&http, &url, &token).await;
    let times = sample_times(&body);
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

    // Encoded once: 3001, as Zoom answers.
    let (status, _, body) = get(&http, &qos_url(&sim, GUEST_ONCE, "16790528"), &token).await;
    assert_eq!(status, 404);
    assert_eq!(body, fixture("error.3001.json"));

    let twice = GUEST_TWICE;
    let (status, _, body) = get(&http, &qos_url(&sim, twice, "16790528"), &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], "16790528");

    // Unencoded: the slashes split the path.
    let (status, _, body) = get(&http, &qos_url(&sim, GUEST_UUID, "16790528"), &token).await;
    assert_eq!((status, body), (404, fixture("error.3001.json")));

    // A plain UUID encoded once works; so does the meeting number.
    let (status, _, _) = get(&http, &qos_url(&sim, PLAIN_SEGMENT, "16778240"), &token).await;
    assert_eq!(status, 200);
    let (status, _, _) = get(&http, &qos_url(&sim, "1234567890", "16778240"), &token).await;
    assert_eq!(status, 200);

    // Unknown meeting and unknown participant.
    let (status, _, body) = get(&http, &qos_url(&sim, "bm9wZQ%3D%3D", "16778240"), &token).await;
    assert_eq!((status, body), (404, fixture("error.3001.json")));
    let (status, _, body) = get(&http, &qos_url(&sim, twice, "999"), &token).await;
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
    let segment = PLAIN_SEGMENT;

    tokio::time::advance(Duration::from_secs(2 * 60 + 30)).await;
    let left_at = sim.participant_leaves(PLAIN_UUID, "1").expect("leaves");
    assert_eq!(left_at.to_rfc3339(), "2026-03-02T10:02:30+00:00");
    tokio::time::advance(Duration::from_secs(5 * 60)).await;
    let (status, _, body) = get(&http, &qos_url(&sim, segment, "1"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["leave_time"], "2026-03-02T10:02:30Z");
    assert_eq!(
        body["user_qos"].as_array().expect("samples").len(),
        2,
        "no samples after leaving"
    );
    let (_, _, body) = get(&http, &qos_url(&sim, segment, "2"), &token).await;
    assert_eq!(body["leave_time"], "");
    assert_eq!(body["user_qos"].as_array().expect("samples").len(), 7);

    sim.end_meeting(PLAIN_UUID).expect("ends");
    let (status, _, body) = get(&http, &qos_url(&sim, segment, "2"), &token).await;
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
    let (status, _, _) = get(&http, &qos_url(&sim, segment, "1"), &token).await;
    assert_eq!(status, 404);
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
        GUEST_TWICE
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
            let user_id = participant["user_id"].as_str().expect("user_id");
            assert!(participant["user_qos"].is_array(), "{participant}");
            seen.push(user_id.to_owned());
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
        GUEST_ONCE
    );
    let (status, _, body) = get(&http, &wrong, &token).await;
    assert_eq!((status, body), (404, fixture("error.3001.json")));
    sim.shutdown().await;
}

/// The simulator's side of the service's
/// `qos_parses_and_carries_the_scripted_degradation_at_the_right_samples`:
/// the same story read from the JSON itself, without qoswatch's parser.
#[tokio::test]
async fn a_degradation_hits_its_samples_and_its_participant_only() {
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
    let url = qos_url(&sim, PLAIN_SEGMENT, "16778240");

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
    assert_eq!(body["user_id"], "16778240");
    assert_eq!(body["user_name"], "Jill Chill");
    assert_eq!(body["location"], "Berlin (DE)");
    let ip = body["ip_address"].as_str().expect("ip");
    assert!(ip.starts_with("192.0.2."), "documentation address: {ip}");
    assert!(body["join_time"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(body["leave_time"], "");

    let samples = body["user_qos"].as_array().expect("samples");
    for (index, sample) in samples.iter().enumerate().take(6) {
        let latency = number(&sample["audio_input"]["latency"]);
        if (2..4).contains(&index) {
            assert_eq!(latency, 420.0, "sample {index} is degraded");
            assert_eq!(sample["wifi_rssi"]["avg_rssi"], -82);
        } else {
            assert!(latency < 150.0, "sample {index} is healthy: {latency}");
        }
    }
    // Consecutive samples are one minute apart.
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = samples
        .iter()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s["date_time"].as_str().expect("date_time"))
                .expect("RFC 3339")
        })
        .collect();
    for pair in times.windows(2) {
        assert_eq!((pair[1] - pair[0]).num_seconds(), 60);
    }

    // The other participant is not hit.
    let (_, _, other) = get(&http, &qos_url(&sim, PLAIN_SEGMENT, "16778241"), &token).await;
    let other = other["user_qos"].as_array().expect("samples");
    assert!(other.len() >= 4);
    assert!(
        other
            .iter()
            .all(|s| number(&s["audio_input"]["latency"]) < 150.0)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn requests_are_counted_by_endpoint_and_never_dropped_like_the_log() {
    let sim = start(SimConfig {
        log_capacity: 2,
        ..SimConfig::default()
    })
    .await;
    let http = http();
    let token = token(&sim, &http).await;
    let url = ann_in_a_meeting(&sim);
    let list = format!(
        "{}/metrics/meetings/{}/participants/qos?type=live",
        sim.api_base(),
        common::PLAIN_SEGMENT
    );
    for _ in 0..3 {
        assert_eq!(get(&http, &url, &token).await.0, 200);
    }
    assert_eq!(get(&http, &list, &token).await.0, 200);
    sim.set_qps_limit(Some(0));
    assert_eq!(get(&http, &list, &token).await.0, 429);
    let counts = sim.request_counts();
    assert_eq!(counts.token, 1);
    assert_eq!(counts.participant_qos, 3);
    assert_eq!(counts.list_qos, 2);
    assert_eq!(counts.qos(), 5);
    assert_eq!(counts.rate_limited, 1);
    assert_eq!(sim.log().len(), 2, "the log dropped the oldest");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_daily_quota_is_reported_in_headers_and_refused_with_a_daily_429() {
    let sim = start(SimConfig {
        daily_limit: Some(5),
        ..SimConfig::default()
    })
    .await;
    let http = http();
    let token = token(&sim, &http).await;
    let url = ann_in_a_meeting(&sim);
    let (status, headers, _) = get(&http, &url, &token).await;
    assert_eq!(status, 200);
    let header = |headers: &reqwest::header::HeaderMap, name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header(&headers, "x-ratelimit-limit").as_deref(), Some("5"));
    assert_eq!(
        header(&headers, "x-ratelimit-remaining").as_deref(),
        Some("4")
    );
    // Other apps on the account spend the same quota.
    sim.consume_daily(3);
    let (_, headers, _) = get(&http, &url, &token).await;
    assert_eq!(
        header(&headers, "x-ratelimit-remaining").as_deref(),
        Some("0")
    );
    assert_eq!(sim.daily_used(), 5);
    let (status, headers, body) = get(&http, &url, &token).await;
    assert_eq!(status, 429);
    assert_eq!(
        header(&headers, "x-ratelimit-type").as_deref(),
        Some("Daily-limit")
    );
    assert!(header(&headers, "retry-after").is_some());
    assert_eq!(body["code"], 429);
    sim.reset_daily();
    assert_eq!(get(&http, &url, &token).await.0, 200);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn with_a_history_a_participant_joins_with_a_series_already() {
    let start = chrono::DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let sim = common::start(SimConfig {
        sample_period: Duration::from_secs(60),
        clock_start: Some(start),
        history_minutes: 5,
        live_window: 4,
        ..SimConfig::default()
    })
    .await;
    let http = http();
    let token = token(&sim, &http).await;
    let url = ann_in_a_meeting(&sim);
    // The clock reads the start; Ann joined five minutes before it, and the
    // live window shows the newest four of her five samples.
    assert_eq!(sim.sim_now(), start);
    let (_, _, body) = get(&http, &url, &token).await;
    assert_eq!(body["join_time"], "2026-03-02T09:55:00Z");
    let times = sample_times(&body);
    assert_eq!(
        times,
        [
            "2026-03-02T09:57:00Z",
            "2026-03-02T09:58:00Z",
            "2026-03-02T09:59:00Z",
            "2026-03-02T10:00:00Z"
        ]
    );
    sim.shutdown().await;
}
