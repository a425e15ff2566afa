//! qoswatch's webhook side against the simulator's sender: its verifier
//! accepts what the simulator signs and answers url_validation as the
//! simulator checks it; the whole service polls what the simulator announces.

use std::time::Duration;

use qoswatch_zoomsim::{MeetingSpec, ParticipantSpec, SimConfig};
use serde_json::Value as Json;

use super::{GUEST_UUID, start};

/// A receiver that verifies with qoswatch's `Verifier` and answers
/// url_validation with its token; it passes on every body it receives.
async fn start_receiver(
    secret: &str,
) -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    tokio_util::sync::CancellationToken,
) {
    use axum::extract::State;
    use axum::http::HeaderMap;
    use qoswatch::zoom::signature::Verifier;
    use secrecy::SecretString;

    #[derive(Clone)]
    struct App {
        verifier: Verifier,
        seen: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    }
    async fn hook(
        State(app): State<App>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> (axum::http::StatusCode, String) {
        let _ = app.seen.send(body.to_vec());
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
    // Every event the simulator signs passes qoswatch's verifier, and
    // qoswatch's url_validation answer passes the simulator's check.
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

    let answers = sender
        .one_of_each(&meeting, &guest, start)
        .await
        .expect("sent");
    for answer in &answers {
        assert_eq!(answer.status, 200, "signature verified: {}", answer.body);
    }

    let mut events = Vec::new();
    for _ in 0..6 {
        let received = tokio::time::timeout(Duration::from_secs(5), seen.recv())
            .await
            .expect("in time")
            .expect("received");
        events.push(serde_json::from_slice::<Json>(&received).expect("json"));
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
    // Headers and payload shapes: crates/qoswatch-zoomsim/tests/webhooks.rs.

    // A sender with the wrong secret is refused by the receiver.
    let wrong = WebhookSender::new(&url, SecretString::from("other".to_owned())).expect("sender");
    let refused = wrong.meeting_started(&meeting, start).await.expect("sent");
    assert_eq!(refused.status, 401);
    stop.cancel();
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
    settings.server.admin_listen = "127.0.0.1:0".parse().expect("addr");
    settings.store.data_dir = None;
    settings.zoom.api_base = sim.api_base();
    settings.zoom.token_url = sim.token_url();
    settings.zoom.requests_per_second = 40;
    // No hour of the day stretches polling under the daily plan.
    settings.zoom.daily_limit = 50_000_000;
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
