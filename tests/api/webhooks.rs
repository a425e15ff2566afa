//! The webhook endpoint: verification, challenge, limits, bad input.

use axum::http::StatusCode;
use qoswatch_zoomsim::protocol::url_validation_token;
use qoswatch_zoomsim::{MeetingSpec, ParticipantSpec};
use serde_json::{Value, json};

use crate::helpers::*;

// Computed independently:
//   printf '%s' qgg8vlvZRS6UYooatFL8Aw | openssl dgst -sha256 -hmac dOL1a7aQTa2ZsXZ5FFwCAg
const ENCRYPTED_TOKEN: &str = "0eb6ba256e1a730ddef2e57cc08d0986cf80a08acdf01a1077ec58fb9a0a7429";

#[tokio::test]
async fn url_validation_answers_with_the_openssl_vector() {
    let app = spawn_app().await;
    let response = app.post_webhook(&fixture("url_validation.json")).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(body["encryptedToken"], ENCRYPTED_TOKEN);
    app.stop().await;
}

#[tokio::test]
async fn signatures_bad_missing_stale_and_wrong_secret_get_401() {
    let app = spawn_app().await;
    let body = fixture("meeting.started.json");

    let good = app.post_webhook(&body).await;
    assert_eq!(good.status(), 200);

    let wrong_secret = app.post_signed(&body, "not-the-secret", now_unix()).await;
    assert_eq!(wrong_secret.status(), 401);
    let json: serde_json::Value = wrong_secret.json().await.expect("json error body");
    assert_eq!(json["error"], "invalid signature");

    let stale = app.post_signed(&body, SECRET, now_unix() - 6 * 60).await;
    assert_eq!(stale.status(), 401);
    let future = app.post_signed(&body, SECRET, now_unix() + 6 * 60).await;
    assert_eq!(future.status(), 401);

    let missing = app
        .http
        .post(app.url("/webhooks/zoom"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), 401);

    // A signature over other bytes: the body was altered in transit.
    let timestamp = now_unix().to_string();
    let signature = qoswatch_zoomsim::protocol::webhook_signature(
        SECRET.as_bytes(),
        &timestamp,
        body.as_bytes(),
    );
    let tampered = app
        .http
        .post(app.url("/webhooks/zoom"))
        .header("x-zm-signature", signature)
        .header("x-zm-request-timestamp", timestamp)
        .body(body.replace("My Personal Meeting Room", "Something else"))
        .send()
        .await
        .expect("sent");
    assert_eq!(tampered.status(), 401);

    let rejected = app
        .metric("qoswatch_webhooks_rejected_total{account=\"default\",reason=\"signature\"}")
        .await;
    assert_eq!(rejected, Some(5.0));
    app.stop().await;
}

#[tokio::test]
async fn a_rotated_secret_is_accepted_alongside_the_new_one() {
    let app = spawn_app_with(Default::default(), |settings| {
        settings.secrets.webhook_secret_tokens = vec![
            secrecy::SecretString::from("brand-new-token".to_owned()),
            secrecy::SecretString::from(SECRET.to_owned()),
        ];
    })
    .await;
    let body = fixture("meeting.started.json");
    assert_eq!(
        app.post_signed(&body, "brand-new-token", now_unix())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post_signed(&body, SECRET, now_unix()).await.status(),
        200
    );
    assert_eq!(
        app.post_signed(&body, "retired-token", now_unix())
            .await
            .status(),
        401
    );
    // The challenge is answered with the secret that signed it.
    let response = app
        .post_signed(&fixture("url_validation.json"), SECRET, now_unix())
        .await;
    let json: serde_json::Value = response.json().await.expect("json");
    assert_eq!(json["encryptedToken"], ENCRYPTED_TOKEN);
    app.stop().await;
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let app = spawn_app().await;
    let padding = "x".repeat(300 * 1024);
    let body = format!(r#"{{"event":"meeting.started","padding":"{padding}"}}"#);
    let response = app.post_webhook(&body).await;
    assert_eq!(response.status(), 413);
    app.stop().await;
}

/// A raw connection to the app with a webhook request's head sent, its
/// body framed by `framing` (a `content-length` or `transfer-encoding`
/// line) and none of it sent yet.
async fn raw_webhook_head(app: &TestApp, framing: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(app.address)
        .await
        .expect("connect");
    let head = format!(
        "POST /webhooks/zoom HTTP/1.1\r\nhost: qoswatch\r\ncontent-type: application/json\r\n{framing}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream
}

/// The first bytes of the answer on `stream`, waiting 5 s at most.
async fn answer_head(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = vec![0u8; 512];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered")
        .expect("read");
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

#[tokio::test]
async fn an_oversized_chunked_body_gets_413_once_the_limit_is_read() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app().await;
    // No content-length to refuse early: the limit is found while reading.
    let mut stream = raw_webhook_head(&app, "transfer-encoding: chunked").await;
    let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
    for _ in 0..5 {
        // The server may answer and close before every chunk is sent.
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let head = answer_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    app.stop().await;
}

#[tokio::test]
async fn signed_garbage_gets_400_and_wrong_shapes_too() {
    let app = spawn_app().await;
    let response = app.post_webhook("this is not json").await;
    assert_eq!(response.status(), 400);
    let response = app
        .post_webhook(
            r#"{"event":"meeting.participant_joined","payload":{"object":{"uuid":"u=="}}}"#,
        )
        .await;
    assert_eq!(response.status(), 400);
    let json: serde_json::Value = response.json().await.expect("json");
    assert_eq!(
        json["error"],
        "unexpected payload for meeting.participant_joined"
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_events_are_acknowledged_and_counted() {
    let app = spawn_app().await;
    let body = r#"{"event":"recording.completed","event_ts":1,"payload":{"object":{}}}"#;
    assert_eq!(app.post_webhook(body).await.status(), 200);
    assert_eq!(app.post_webhook(body).await.status(), 200);
    // Events qoswatch does not know count under `other`: the label set is
    // fixed, whatever names signed webhooks carry.
    let ignored = app
        .metric("qoswatch_webhooks_total{event=\"other\",outcome=\"ignored\"}")
        .await;
    assert_eq!(ignored, Some(2.0));
    assert!(!app.metrics().await.contains("recording.completed"));
    app.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let (status, body) = app.readyz().await;
    assert_eq!(status, 200);
    assert_eq!(body["watchers"], 0);
    app.stop().await;
}

#[tokio::test]
async fn an_oversized_content_length_is_refused_before_the_body_is_sent() {
    let app = spawn_app().await;
    // Announce 10 MB and send none of it: the answer must not wait for it.
    let mut stream = raw_webhook_head(&app, "content-length: 10000000").await;
    let head = answer_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    app.stop().await;
}

// The same endpoint through `Router::oneshot`: no socket, the handler's
// mapping of each case to a status, a body and a metric label.

#[tokio::test]
async fn router_a_bad_signature_gets_401_and_counts_as_rejected() {
    let app = router_app().await;
    let body = fixture("meeting.started.json");
    let (status, text) = app
        .call(signed_request(&body, "not-the-secret", now_unix()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let json: Value = serde_json::from_str(&text).expect("JSON error body");
    assert_eq!(json, json!({ "error": "invalid signature" }));
    let rejected = app
        .metric("qoswatch_webhooks_rejected_total{account=\"default\",reason=\"signature\"}")
        .await;
    assert_eq!(rejected, Some(1.0));
    app.stop().await;
}

#[tokio::test]
async fn router_a_stale_timestamp_gets_401_though_correctly_signed() {
    let app = router_app().await;
    let body = fixture("meeting.started.json");
    let (fresh, _) = app.call(signed_request(&body, SECRET, now_unix())).await;
    assert_eq!(fresh, StatusCode::OK);
    let (stale, text) = app
        .call(signed_request(&body, SECRET, now_unix() - 6 * 60))
        .await;
    assert_eq!(stale, StatusCode::UNAUTHORIZED, "{text}");
    app.stop().await;
}

#[tokio::test]
async fn router_a_signed_but_unreadable_body_gets_400_naming_only_the_kind_of_problem() {
    let app = router_app().await;
    let (status, json) = app.webhook("this is not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json, json!({ "error": "body is not JSON" }));
    let (status, json) = app.webhook(r#"{"payload":{"object":{}}}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json, json!({ "error": "no event name" }));
    let secret_looking = r#"{"event":"meeting.participant_joined","payload":{"object":{"uuid":42,"topic":"hunter2"}}}"#;
    let (status, json) = app.webhook(secret_looking).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        json,
        json!({ "error": "unexpected payload for meeting.participant_joined" })
    );
    let rejected = app
        .metric("qoswatch_webhooks_rejected_total{account=\"default\",reason=\"payload\"}")
        .await;
    assert_eq!(rejected, Some(3.0));
    app.stop().await;
}

#[tokio::test]
async fn router_url_validation_answers_with_the_independently_computed_token() {
    let app = router_app().await;
    let body = json!({
        "event": "endpoint.url_validation",
        "event_ts": 1_700_000_000_000_i64,
        "payload": { "plainToken": "router-test-plain-token" }
    })
    .to_string();
    let (status, json) = app.webhook(&body).await;
    assert_eq!(status, StatusCode::OK);
    let expected = url_validation_token(SECRET.as_bytes(), "router-test-plain-token");
    assert_eq!(
        json,
        json!({ "plainToken": "router-test-plain-token", "encryptedToken": expected })
    );
    let handled = app
        .metric("qoswatch_webhooks_total{event=\"endpoint.url_validation\",outcome=\"handled\"}")
        .await;
    assert_eq!(handled, Some(1.0));
    app.stop().await;
}

#[tokio::test]
async fn router_joins_are_accepted_and_counted_under_their_outcome() {
    let app = router_app().await;
    app.sim
        .add_meeting(MeetingSpec::new(
            "router-meeting==",
            84712639219,
            "Weekly sync",
        ))
        .expect("meeting added");
    app.sim
        .add_participant("router-meeting==", ParticipantSpec::new("16778240", "Ada"))
        .expect("participant added");
    let joined = joined_body("router-meeting==", "16778240", "Ada");
    let series = |outcome: &str| {
        format!(
            "qoswatch_webhooks_total{{event=\"meeting.participant_joined\",outcome=\"{outcome}\"}}"
        )
    };

    let (status, json) = app.webhook(&joined).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json, json!({ "status": "accepted" }));
    assert_eq!(app.metric(&series("handled")).await, Some(1.0));

    // Zoom delivers the same webhook twice now and then.
    let (status, _) = app.webhook(&joined).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.metric(&series("duplicate")).await, Some(1.0));

    let (status, _) = app
        .webhook(&left_body("router-meeting==", "16778240"))
        .await;
    assert_eq!(status, StatusCode::OK);
    // A `left` for someone never watched (e.g. it overtook its `joined`).
    let (status, _) = app.webhook(&left_body("router-meeting==", "nobody")).await;
    assert_eq!(status, StatusCode::OK);
    let left = |outcome: &str| {
        format!(
            "qoswatch_webhooks_total{{event=\"meeting.participant_left\",outcome=\"{outcome}\"}}"
        )
    };
    assert_eq!(app.metric(&left("handled")).await, Some(1.0));
    assert_eq!(app.metric(&left("no_watch")).await, Some(1.0));

    // A late retry of the join, after the participant left.
    let (status, _) = app.webhook(&joined).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.metric(&series("already_ended")).await, Some(1.0));
    app.stop().await;
}

#[tokio::test]
async fn router_a_join_while_shutting_down_gets_503_without_internals() {
    let app = router_app().await;
    app.shutdown.cancel();
    let (status, json) = app
        .webhook(&joined_body("router-meeting==", "16778240", "Ada"))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json, json!({ "error": "try again later" }));
    let retry = app
        .metric(
            "qoswatch_webhooks_total{event=\"meeting.participant_joined\",outcome=\"retry_later\"}",
        )
        .await;
    assert_eq!(retry, Some(1.0));
    // Every reason's series exists from the start, at 0; a 503 adds to none.
    let metrics = app.metrics().await;
    let rejected: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("qoswatch_webhooks_rejected_total{"))
        .collect();
    assert!(!rejected.is_empty(), "{metrics}");
    assert!(
        rejected.iter().all(|line| line.ends_with(" 0")),
        "a 503 is not a rejected webhook: {rejected:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn signed_ids_zoom_never_sends_get_400_naming_the_field_not_the_value() {
    let app = spawn_app().await;
    let forged = "4444AAAiAAAAAiAiAiiAii==\r\n2026-01-01T00:00:00Z INFO forged";
    let response = app
        .post_webhook(&joined_body(forged, "16778240", "Jill"))
        .await;
    assert_eq!(response.status(), 400);
    let json: Value = response.json().await.expect("json");
    let message = json["error"].as_str().expect("error text");
    assert_eq!(
        message,
        "meeting.participant_joined: payload.object.uuid is not what Zoom sends \
         (1 to 64 letters, digits or + / = - _ . ~)"
    );
    let long_id = "1".repeat(120_000);
    let response = app
        .post_webhook(&joined_body("4444AAAiAAAAAiAiAiiAii==", &long_id, "Jill"))
        .await;
    assert_eq!(response.status(), 400);
    let json: Value = response.json().await.expect("json");
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.contains("participant.user_id") && !e.contains("111")),
        "{json}"
    );
    assert_eq!(
        app.metric(
            "qoswatch_webhooks_rejected_total{account=\"default\",reason=\"invalid_field\"}"
        )
        .await,
        Some(2.0)
    );
    assert_eq!(app.monitor.active(), 0, "nothing was watched");
    app.stop().await;
}
