//! The control side of the simulator: injected faults, the QPS limit and
//! random 429s, the request log's `wait_until`, and stopping.

mod common;

use std::time::Duration;

use common::{ann_in_a_meeting, fixture, get, http, start, token};
use qoswatch_zoomsim::{Fault, RetryAfter, SimConfig, Simulator};

#[tokio::test(start_paused = true)]
async fn each_fault_kind_is_answered_once_then_service_resumes() {
    let sim = start(SimConfig::default()).await;
    let http = http();
    let token = token(&sim, &http).await;
    let url = ann_in_a_meeting(&sim);

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

    // type=live and type=past are served, nothing else.
    let other = url.replace("type=live", "type=pastOne");
    let (status, _, body) = get(&http, &other, &fresh).await;
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
    let url = ann_in_a_meeting(&sim);

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
