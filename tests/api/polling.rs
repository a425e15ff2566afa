//! Participant lifecycle and polling Zoom, against the simulator.

use std::time::Duration;

use qoswatch_zoomsim::{Endpoint, Fault, RateLimitKind, RetryAfter, SimConfig};

use crate::helpers::*;

const MEETING: &str = "4444AAAiAAAAAiAiAiiAii==";
const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn joined_starts_polling_and_duplicates_start_nothing_more() {
    let app = spawn_app().await;
    app.start_meeting(MEETING, "Weekly sync");
    app.join(MEETING, "16778240", "Jill Chill").await;
    // Zoom retries deliveries: the same event twice more.
    for _ in 0..2 {
        let response = app
            .post_webhook(&joined_body(MEETING, "16778240", "Jill Chill"))
            .await;
        assert_eq!(response.status(), 200);
    }
    assert!(app.wait_for_polls("16778240", 6).await, "watcher polls");
    assert_eq!(app.monitor.active(), 1);
    let (_, ready) = app.readyz().await;
    assert_eq!(ready["watchers"], 1);

    // One watcher polls once per interval: no two requests for this
    // participant closer together than half an interval.
    let mut arrivals: Vec<_> = app
        .sim
        .qos_requests()
        .into_iter()
        .map(|r| r.arrived_at)
        .collect();
    arrivals.sort();
    for pair in arrivals.windows(2) {
        assert!(
            pair[1] - pair[0] >= app.poll_interval / 2,
            "two requests {:?} apart: more than one watcher",
            pair[1] - pair[0]
        );
    }
    let duplicates = app
        .metric(
            "qoswatch_webhooks_total{event=\"meeting.participant_joined\",outcome=\"duplicate\"}",
        )
        .await;
    assert_eq!(duplicates, Some(2.0));
    app.stop().await;
}

#[tokio::test]
async fn samples_flow_and_are_deduplicated_by_time() {
    let app = spawn_app().await;
    app.start_meeting(MEETING, "Weekly sync");
    app.join(MEETING, "16778240", "Jill Chill").await;
    // The simulator makes one sample a second; the watcher polls five times
    // a second and sees the whole series each time.
    assert!(app.wait_for_polls("16778240", 12).await);
    let polls = app.sim.qos_requests_for("16778240") as f64;
    let samples = app.metric("qoswatch_samples_total").await.unwrap_or(0.0);
    assert!(samples >= 1.0, "samples reach the sink");
    assert!(
        samples < polls / 2.0,
        "{samples} samples from {polls} polls: samples are not deduplicated"
    );
    app.stop().await;
}

#[tokio::test]
async fn left_stops_polling_and_a_second_left_is_harmless() {
    let app = spawn_app().await;
    app.start_meeting(MEETING, "Weekly sync");
    app.join(MEETING, "16778240", "Jill Chill").await;
    app.join(MEETING, "16779999", "Stays On").await;
    assert!(app.wait_for_polls("16778240", 2).await);

    // A left for someone never watched is harmless.
    assert_eq!(
        app.post_webhook(&left_body(MEETING, "404040"))
            .await
            .status(),
        200
    );
    for _ in 0..2 {
        let response = app.post_webhook(&left_body(MEETING, "16778240")).await;
        assert_eq!(response.status(), 200);
    }
    assert!(eventually(WAIT, || app.monitor.active() == 1).await);
    let polls_when_stopped = app.sim.qos_requests_for("16778240");
    // Let the other watcher poll three more times (more than two intervals).
    assert!(app.wait_for_polls("16779999", 3).await);
    assert_eq!(app.sim.qos_requests_for("16778240"), polls_when_stopped);
    app.stop().await;
}

#[tokio::test]
async fn meeting_ended_stops_every_watcher_of_that_meeting_only() {
    let app = spawn_app().await;
    app.start_meeting(MEETING, "Weekly sync");
    app.start_meeting("otherMeeting00000000A==", "Other");
    for user in ["1001", "1002", "1003"] {
        app.join(MEETING, user, "Someone").await;
    }
    app.join("otherMeeting00000000A==", "2001", "Elsewhere")
        .await;
    assert!(eventually(WAIT, || app.monitor.active() == 4).await);
    assert!(app.wait_for_polls("1003", 1).await);

    assert_eq!(app.post_webhook(&ended_body(MEETING)).await.status(), 200);
    assert!(eventually(WAIT, || app.monitor.active() == 1).await);
    let counts: Vec<usize> = ["1001", "1002", "1003"]
        .iter()
        .map(|u| app.sim.qos_requests_for(u))
        .collect();
    assert!(app.wait_for_polls("2001", 3).await);
    let after: Vec<usize> = ["1001", "1002", "1003"]
        .iter()
        .map(|u| app.sim.qos_requests_for(u))
        .collect();
    assert_eq!(counts, after);
    app.stop().await;
}

#[tokio::test]
async fn the_double_encoded_uuid_is_on_the_wire_as_zoom_expects() {
    let app = spawn_app().await;
    let uuid = "/gsqg0HKxTQ2Tx//SVAxE9+0w==";
    app.start_meeting(uuid, "Weekly sync");
    let guest = fixture("meeting.participant_joined.guest.json");
    app.sim
        .add_participant(
            uuid,
            qoswatch_zoomsim::ParticipantSpec::new("16790528", "Guest Caller").as_guest(),
        )
        .expect("participant");
    assert_eq!(app.post_webhook(&guest).await.status(), 200);
    assert!(app.wait_for_polls("16790528", 2).await);
    let request = app
        .sim
        .qos_requests()
        .into_iter()
        .find(|r| matches!(&r.endpoint, Endpoint::ParticipantQos { participant_id, .. } if participant_id == "16790528"))
        .expect("a QoS request");
    assert_eq!(
        request.raw_path,
        "/v2/metrics/meetings/%252Fgsqg0HKxTQ2Tx%252F%252FSVAxE9%252B0w%253D%253D/participants/16790528/qos"
    );
    assert_eq!(request.raw_query.as_deref(), Some("type=live"));
    assert_eq!(request.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn one_token_for_many_watchers_renewed_once_on_401() {
    let app = spawn_app().await;
    app.start_meeting(MEETING, "Weekly sync");
    let users: Vec<String> = (0..12).map(|i| format!("5{i:04}")).collect();
    for user in &users {
        app.join(MEETING, user, "Someone").await;
    }
    for user in &users {
        assert!(app.wait_for_polls(user, 1).await, "{user} polled");
    }
    assert_eq!(app.sim.token_requests(), 1, "one token for everyone");

    // Zoom invalidates the token: code 124 on the next request.
    app.sim.push_fault(Fault::InvalidToken);
    let mark = app.sim.qos_requests().len();
    assert!(
        app.sim
            .wait_until(|log| log.qos_requests().len() >= mark + 24, WAIT)
            .await
    );
    assert_eq!(app.sim.token_requests(), 2, "exactly one renewal");
    let unauthorized = app.sim.log().with_status(401);
    assert!(unauthorized >= 1);
    assert_eq!(app.monitor.active(), 12, "no watcher died of the 401");
    app.stop().await;
}

#[tokio::test]
async fn a_429_with_an_iso_retry_after_pauses_every_watcher() {
    let app = spawn_app().await;
    app.start_meeting(MEETING, "Weekly sync");
    for user in ["1", "2", "3"] {
        app.join(MEETING, user, "Someone").await;
    }
    for user in ["1", "2", "3"] {
        assert!(app.wait_for_polls(user, 1).await);
    }
    app.sim.push_fault(Fault::RateLimited {
        retry_after: RetryAfter::At(Duration::from_secs(3)),
        headers: Some(RateLimitKind::Qps),
    });
    assert!(
        app.sim
            .wait_until(|log| log.with_status(429) == 1, WAIT)
            .await
    );
    let limited_at = app
        .sim
        .qos_requests()
        .into_iter()
        .find(|r| r.status == 429)
        .expect("the 429")
        .arrived_at;
    // Every watcher resumes, and none before Zoom's time. The ISO time has
    // whole seconds, so the wait is between 2 and 4 seconds.
    for user in ["1", "2", "3"] {
        assert!(app.wait_for_polls(user, 1).await);
    }
    let next = app
        .sim
        .qos_requests()
        .into_iter()
        .filter(|r| r.arrived_at > limited_at)
        .map(|r| r.arrived_at)
        .min()
        .expect("requests after the 429");
    let paused = next - limited_at;
    assert!(paused >= Duration::from_secs(2), "resumed after {paused:?}");
    assert_eq!(app.monitor.active(), 3);
    app.stop().await;
}

#[tokio::test]
async fn a_429_with_retry_after_in_seconds_pauses_too() {
    let app = spawn_app().await;
    app.start_meeting(MEETING, "Weekly sync");
    app.join(MEETING, "1", "Someone").await;
    app.join(MEETING, "2", "Someone Else").await;
    assert!(app.wait_for_polls("2", 1).await);
    app.sim.push_fault(Fault::rate_limited_seconds(2));
    assert!(
        app.sim
            .wait_until(|log| log.with_status(429) == 1, WAIT)
            .await
    );
    let requests = app.sim.qos_requests();
    let limited_at = requests
        .iter()
        .find(|r| r.status == 429)
        .expect("429")
        .arrived_at;
    assert!(app.wait_for_polls("1", 1).await && app.wait_for_polls("2", 1).await);
    let next = app
        .sim
        .qos_requests()
        .into_iter()
        .filter(|r| r.arrived_at > limited_at)
        .map(|r| r.arrived_at)
        .min()
        .expect("requests after the 429");
    assert!(
        next - limited_at >= Duration::from_secs(2),
        "{:?}",
        next - limited_at
    );
    app.stop().await;
}

#[tokio::test]
async fn server_errors_and_timeouts_are_retried_and_nobody_dies() {
    let app = spawn_app().await;
    app.start_meeting(MEETING, "Weekly sync");
    app.join(MEETING, "1", "Someone").await;
    assert!(app.wait_for_polls("1", 1).await);
    app.sim.push_faults([
        Fault::ServerError { status: 502 },
        Fault::ServerError { status: 503 },
        Fault::Slow(Duration::from_secs(2)),
        Fault::ServerError { status: 500 },
    ]);
    assert!(eventually(WAIT, || app.sim.pending_faults() == 0).await);
    let ok_before = app.sim.log().with_status(200);
    assert!(
        app.sim
            .wait_until(move |log| log.with_status(200) >= ok_before + 2, WAIT)
            .await,
        "polling recovers"
    );
    assert_eq!(app.monitor.active(), 1);
    let errors = app
        .metric("qoswatch_poll_errors_total")
        .await
        .unwrap_or(0.0);
    assert!(errors >= 4.0, "{errors} poll errors counted");
    app.stop().await;
}

#[tokio::test]
async fn zoom_3001_stops_the_whole_meeting() {
    let app = spawn_app().await;
    app.start_meeting(MEETING, "Weekly sync");
    for user in ["1", "2"] {
        app.join(MEETING, user, "Someone").await;
    }
    assert!(app.wait_for_polls("2", 1).await);
    // The meeting ends but the webhook never comes.
    app.sim.end_meeting(MEETING).expect("ended");
    assert!(eventually(WAIT, || app.monitor.active() == 0).await);
    let stopped = app
        .metric("qoswatch_watchers_stopped_total{reason=\"not_live\"}")
        .await;
    assert_eq!(stopped, Some(2.0));
    app.stop().await;
}

#[tokio::test]
async fn leave_time_in_the_answer_stops_the_watch() {
    let app = spawn_app().await;
    app.start_meeting(MEETING, "Weekly sync");
    app.join(MEETING, "1", "Leaver").await;
    app.join(MEETING, "2", "Stayer").await;
    assert!(app.wait_for_polls("1", 1).await);
    app.sim.participant_leaves(MEETING, "1").expect("left");
    assert!(eventually(WAIT, || app.monitor.active() == 1).await);
    let stopped = app
        .metric("qoswatch_watchers_stopped_total{reason=\"leave_time\"}")
        .await;
    assert_eq!(stopped, Some(1.0));
    app.stop().await;
}

#[tokio::test]
async fn not_entitled_stops_all_polling_and_says_so() {
    let app = spawn_app().await;
    app.start_meeting(MEETING, "Weekly sync");
    for user in ["1", "2", "3"] {
        app.join(MEETING, user, "Someone").await;
    }
    assert!(app.wait_for_polls("3", 1).await);
    app.sim.push_fault(Fault::NotEntitled);
    assert!(eventually(WAIT, || app.monitor.active() == 0).await);
    // Still ready for webhooks, but the operator can see why nothing polls.
    let (status, body) = app.readyz().await;
    assert_eq!(status, 200);
    assert!(
        body["polling"]
            .as_str()
            .unwrap_or("")
            .starts_with("disabled"),
        "{body}"
    );
    assert_eq!(app.metric("qoswatch_polling_disabled").await, Some(1.0));
    // New joins are not polled while Zoom says no.
    app.join(MEETING, "4", "Late").await;
    assert_eq!(app.monitor.active(), 0);
    app.stop().await;
}

#[tokio::test]
async fn stale_watches_end_by_themselves() {
    let app = spawn_app_with(
        SimConfig {
            // One sample per minute: nothing new during this test.
            sample_period: Duration::from_secs(60),
            ..SimConfig::default()
        },
        |settings| settings.polling.stale_after = Duration::from_millis(600),
    )
    .await;
    app.start_meeting(MEETING, "Weekly sync");
    app.join(MEETING, "1", "Quiet").await;
    assert!(app.wait_for_polls("1", 1).await, "the watch started");
    assert!(eventually(WAIT, || app.monitor.active() == 0).await);
    let stopped = app
        .metric("qoswatch_watchers_stopped_total{reason=\"stale\"}")
        .await;
    assert_eq!(stopped, Some(1.0));
    app.stop().await;
}

#[tokio::test]
async fn shutdown_cancels_watchers_and_returns() {
    let app = spawn_app().await;
    app.start_meeting(MEETING, "Weekly sync");
    for user in ["1", "2", "3"] {
        app.join(MEETING, user, "Someone").await;
    }
    assert!(app.wait_for_polls("3", 1).await);
    let monitor = app.monitor.clone();
    app.stop().await;
    assert_eq!(monitor.active(), 0);
}

#[tokio::test]
async fn the_token_is_renewed_before_it_expires() {
    let app = spawn_app_with(
        SimConfig {
            token_lifetime: Duration::from_secs(2),
            ..SimConfig::default()
        },
        |_| {},
    )
    .await;
    app.start_meeting(MEETING, "Weekly sync");
    app.join(MEETING, "1", "Someone").await;
    // Renewal at half-life (1 s) for so short a token: within 4 s, at least
    // two renewals, and Zoom never had to refuse a token.
    assert!(
        app.sim
            .wait_until(|log| log.token_requests() >= 3, WAIT)
            .await
    );
    assert_eq!(app.sim.log().with_status(401), 0);
    assert_eq!(app.monitor.active(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_watch_ends_at_its_maximum_age() {
    let app = spawn_app_with(SimConfig::default(), |settings| {
        settings.polling.max_watch_age = Duration::from_millis(700);
    })
    .await;
    app.start_meeting(MEETING, "Weekly sync");
    app.join(MEETING, "1", "Marathon").await;
    assert!(app.wait_for_polls("1", 2).await);
    assert!(eventually(WAIT, || app.monitor.active() == 0).await);
    let stopped = app
        .metric("qoswatch_watchers_stopped_total{reason=\"max_age\"}")
        .await;
    assert_eq!(stopped, Some(1.0));
    app.stop().await;
}

#[tokio::test]
async fn a_late_joined_retry_after_left_watches_nobody_and_stops_nobody() {
    let app = spawn_app().await;
    app.start_meeting(MEETING, "Weekly sync");
    app.join(MEETING, "1", "Leaver").await;
    app.join(MEETING, "2", "Stayer").await;
    assert!(app.wait_for_polls("1", 1).await);
    // Jill leaves; Zoom's retry of her join arrives afterwards.
    app.sim.participant_leaves(MEETING, "1").expect("left");
    assert_eq!(
        app.post_webhook(&left_body(MEETING, "1")).await.status(),
        200
    );
    assert!(eventually(WAIT, || !app.monitor.is_watching(&key("1"))).await);
    let polls = app.sim.qos_requests_for("1");
    assert_eq!(
        app.post_webhook(&joined_body(MEETING, "1", "Leaver"))
            .await
            .status(),
        200
    );
    // A left before its joined is remembered too.
    assert_eq!(
        app.post_webhook(&left_body(MEETING, "3")).await.status(),
        200
    );
    assert_eq!(
        app.post_webhook(&joined_body(MEETING, "3", "Out of order"))
            .await
            .status(),
        200
    );
    assert!(
        app.wait_for_polls("2", 3).await,
        "the others are still watched"
    );
    assert_eq!(
        app.sim.qos_requests_for("1"),
        polls,
        "no new watch for a leaver"
    );
    assert_eq!(app.sim.qos_requests_for("3"), 0);
    assert!(app.monitor.is_watching(&key("2")));
    let ignored = app
        .metric("qoswatch_webhooks_total{event=\"meeting.participant_joined\",outcome=\"already_ended\"}")
        .await;
    assert_eq!(ignored, Some(2.0));
    app.stop().await;
}

#[tokio::test]
async fn a_404_for_a_never_answered_participant_stops_only_that_watch() {
    let app = spawn_app().await;
    app.start_meeting(MEETING, "Weekly sync");
    app.join(MEETING, "1", "Known").await;
    assert!(app.wait_for_polls("1", 1).await);
    // Zoom does not know this participant id (a wrong or stale id).
    let response = app
        .post_webhook(&joined_body(MEETING, "777", "Unknown"))
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        app.sim
            .wait_until(|log| log.qos_requests_for("777") >= 1, WAIT)
            .await
    );
    assert!(eventually(WAIT, || !app.monitor.is_watching(&key("777"))).await);
    assert!(app.wait_for_polls("1", 3).await);
    assert!(app.monitor.is_watching(&key("1")));
    app.stop().await;
}

#[tokio::test]
async fn joins_beyond_capacity_get_503_so_zoom_retries() {
    let app = spawn_app_with(SimConfig::default(), |settings| {
        settings.polling.max_watchers = 1;
    })
    .await;
    app.start_meeting(MEETING, "Weekly sync");
    app.join(MEETING, "1", "First").await;
    let response = app.post_webhook(&joined_body(MEETING, "2", "Second")).await;
    assert_eq!(
        response.status(),
        503,
        "at capacity: Zoom should retry later"
    );
    app.stop().await;
}

fn key(user_id: &str) -> qoswatch_core::alert::ParticipantKey {
    qoswatch_core::alert::ParticipantKey::new(MEETING, user_id)
}

#[tokio::test]
async fn bad_credentials_cost_one_token_request_not_one_per_watcher() {
    let app = spawn_app_with(SimConfig::default(), |settings| {
        settings.secrets.client_secret = Some(secrecy::SecretString::from("wrong".to_owned()));
    })
    .await;
    app.start_meeting(MEETING, "Weekly sync");
    for user in ["1", "2", "3", "4", "5"] {
        app.join(MEETING, user, "Someone").await;
    }
    let mut errors = 0.0;
    for _ in 0..250 {
        errors = app
            .metric("qoswatch_poll_errors_total")
            .await
            .unwrap_or(0.0);
        if errors >= 5.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(errors >= 5.0, "every watcher tried: {errors}");
    assert_eq!(
        app.sim.token_requests(),
        1,
        "the failure is shared for a while"
    );
    assert_eq!(app.monitor.active(), 5, "nobody gives up");
    app.stop().await;
}
