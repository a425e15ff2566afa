//! The webhook endpoint: verification, challenge, limits, bad input.

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
        .metric("qoswatch_webhooks_rejected_total{reason=\"signature\"}")
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
    let ignored = app
        .metric("qoswatch_webhooks_total{event=\"recording.completed\",outcome=\"ignored\"}")
        .await;
    assert_eq!(ignored, Some(2.0));
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let mut stream = tokio::net::TcpStream::connect(app.address)
        .await
        .expect("connect");
    // Announce 10 MB and send none of it: the answer must not wait for it.
    stream
        .write_all(
            b"POST /webhooks/zoom HTTP/1.1\r\nhost: qoswatch\r\ncontent-type: application/json\r\n\
              content-length: 10000000\r\n\r\n",
        )
        .await
        .expect("write");
    let mut answer = vec![0u8; 512];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered without the body")
        .expect("read");
    let head = String::from_utf8_lossy(&answer[..read]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    app.stop().await;
}
