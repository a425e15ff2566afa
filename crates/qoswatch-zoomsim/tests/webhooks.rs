//! The webhook sender and the scenario runner against a recording receiver
//! on loopback: Zoom's headers, event order and shapes, the url_validation
//! check, and the demo story's timing. (qoswatch's own verifier checks the
//! same sender in the service's `tests/api/simulator`.)

mod common;

use std::time::Duration;

use common::{GUEST_UUID, get, http, number, qos_url, start, start_receiver, token};
use qoswatch_zoomsim::protocol::{url_validation_token, webhook_signature};
use qoswatch_zoomsim::scenario::Scenario;
use qoswatch_zoomsim::webhooks::{BadAnswer, WebhookError, WebhookSender};
use qoswatch_zoomsim::{MeetingSpec, ParticipantSpec, SimConfig};
use secrecy::SecretString;
use serde_json::Value as Json;

/// `scenario::DEMO_MEETING_UUID` (`/dEmoQ3pLan//Hq8aZw+Bx==`) encoded twice.
const DEMO_TWICE: &str = "%252FdEmoQ3pLan%252F%252FHq8aZw%252BBx%253D%253D";

#[tokio::test]
async fn webhook_sender_sends_zoom_headers_and_event_shapes() {
    let secret = "dOL1a7aQTa2ZsXZ5FFwCAg";
    let (url, mut seen, stop) = start_receiver(200, "").await;
    let sender = WebhookSender::new(&url, SecretString::from(secret.to_owned())).expect("sender");
    let meeting = MeetingSpec::new(GUEST_UUID, 84_712_639_219, "Weekly sync");
    let guest = ParticipantSpec::new("16790528", "Guest Caller").as_guest();
    let start = chrono::Utc::now();

    let mut answers = vec![
        sender
            .url_validation("qgg8vlvZRS6UYooatFL8Aw")
            .await
            .expect("sent"),
    ];
    answers.extend(
        sender
            .one_of_each(&meeting, &guest, start)
            .await
            .expect("sent"),
    );
    for answer in &answers {
        assert_eq!((answer.status, answer.body.as_str()), (200, ""));
    }

    let mut events = Vec::new();
    for _ in 0..6 {
        let received = tokio::time::timeout(Duration::from_secs(5), seen.recv())
            .await
            .expect("in time")
            .expect("received");
        let header = |name: &str| received.headers[name].to_str().expect("ascii").to_owned();
        assert_eq!(header("content-type"), "application/json; charset=utf-8");
        assert_eq!(header("user-agent"), "Zoom Marketplace/1.0a");
        assert!(header("x-zm-trackingid").starts_with("v=2.0;"));
        let timestamp = header("x-zm-request-timestamp");
        let seconds: i64 = timestamp.parse().expect("unix seconds");
        assert!((chrono::Utc::now().timestamp() - seconds).abs() < 60);
        // Signed over the exact bytes that arrived, with the header's timestamp.
        assert_eq!(
            header("x-zm-signature"),
            webhook_signature(secret.as_bytes(), &timestamp, &received.body)
        );
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
    assert_eq!(events[0]["payload"]["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
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
    assert!(events[4]["payload"]["object"]["id"].is_number());
    stop.cancel();
}

/// `check_url_validation` accepts the right answer only; the receiver here
/// answers fixed bodies, so the check is the simulator's alone.
#[tokio::test]
async fn check_url_validation_reports_a_wrong_answer() {
    let secret = || SecretString::from("secret".to_owned());
    // hex(HMAC-SHA256("secret", "plainTokenExample")), computed with openssl.
    let right = r#"{"plainToken":"plainTokenExample","encryptedToken":"f0aecc05eedd81aa9393250d6dd9cd54d824f0fb3d6dae528571d4585d271218"}"#;
    let wrong = r#"{"plainToken":"plainTokenExample","encryptedToken":"0000000000000000000000000000000000000000000000000000000000000000"}"#;

    let (url, _seen, stop_right) = start_receiver(200, right).await;
    let sender = WebhookSender::new(&url, secret()).expect("sender");
    let answer = sender
        .check_url_validation("plainTokenExample")
        .await
        .expect("the right answer passes");
    assert_eq!(answer.body, right);
    // The same answer to another token, or for another secret, is wrong.
    assert!(matches!(
        sender.check_url_validation("anotherToken").await,
        Err(WebhookError::BadUrlValidation(BadAnswer::WrongPlainToken))
    ));
    let other = WebhookSender::new(&url, SecretString::from("other".to_owned())).expect("sender");
    assert!(matches!(
        other.check_url_validation("plainTokenExample").await,
        Err(WebhookError::BadUrlValidation(
            BadAnswer::WrongEncryptedToken
        ))
    ));
    stop_right.cancel();

    let (url, _seen, stop_wrong) = start_receiver(200, wrong).await;
    let distinct = "s3cr3tNeverPrinted";
    let error = WebhookSender::new(&url, SecretString::from(distinct.to_owned()))
        .expect("sender")
        .check_url_validation("plainTokenExample")
        .await
        .expect_err("a wrong encryptedToken is reported");
    assert!(matches!(
        error,
        WebhookError::BadUrlValidation(BadAnswer::WrongEncryptedToken)
    ));
    // Neither the secret nor the expected answer shows in the error.
    let message = format!("{error} {error:?}");
    assert!(!message.contains(distinct), "{message}");
    let expected = url_validation_token(distinct.as_bytes(), "plainTokenExample");
    assert!(!message.contains(&expected), "{message}");
    stop_wrong.cancel();

    let (url, _seen, stop_refused) = start_receiver(401, "invalid signature").await;
    assert!(matches!(
        WebhookSender::new(&url, secret())
            .expect("sender")
            .check_url_validation("plainTokenExample")
            .await,
        Err(WebhookError::BadUrlValidation(BadAnswer::Status(401)))
    ));
    stop_refused.cancel();
}

#[tokio::test]
async fn the_demo_scenario_drives_the_fake_and_the_webhook_endpoint() {
    let secret = "demo-secret-token";
    let (url, mut seen, stop) = start_receiver(200, "").await;
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
    let ana_url = qos_url(&sim, DEMO_TWICE, "16778301");
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

    let degraded: Vec<bool> = ana["user_qos"].as_array().expect("samples")[..10]
        .iter()
        .map(|s| number(&s["audio_input"]["latency"]) >= 400.0)
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
        let timestamp = received.headers["x-zm-request-timestamp"]
            .to_str()
            .expect("ascii");
        assert_eq!(
            received.headers["x-zm-signature"],
            webhook_signature(secret.as_bytes(), timestamp, &received.body).as_str()
        );
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

/// A sender plays one account's app: events for account B carry B's
/// `payload.account_id` and are signed with B's secret, never A's.
/// `endpoint.url_validation` has no `account_id` on Zoom
/// (`tests/fixtures/url_validation.json`): it is told apart by its secret.
#[tokio::test]
async fn a_sender_for_another_account_names_it_and_signs_with_its_secret() {
    let (secret_a, secret_b) = ("secretOfAccountA", "secretOfAccountB");
    let account_b = "simAccount0000000000002";
    let (url, mut seen, stop) = start_receiver(200, "").await;
    let sender = WebhookSender::new(&url, SecretString::from(secret_b.to_owned()))
        .expect("sender")
        .with_account_id(account_b);
    assert_eq!(sender.account_id(), account_b);
    let meeting = MeetingSpec::new(GUEST_UUID, 84_712_639_219, "B's sync").in_account(account_b);
    let bea = ParticipantSpec::new("16790528", "Bea");
    let sample = serde_json::json!({"date_time": "2026-03-02T10:01:00Z"});
    sender.url_validation("plainB").await.expect("sent");
    sender
        .one_of_each(&meeting, &bea, chrono::Utc::now())
        .await
        .expect("sent");
    sender
        .participant_qos(&meeting, &bea, &[sample])
        .await
        .expect("sent");
    let mut names = Vec::new();
    for _ in 0..7 {
        let received = tokio::time::timeout(Duration::from_secs(5), seen.recv())
            .await
            .expect("in time")
            .expect("received");
        let header = |name: &str| received.headers[name].to_str().expect("ascii").to_owned();
        let timestamp = header("x-zm-request-timestamp");
        let signature = header("x-zm-signature");
        assert_eq!(
            signature,
            webhook_signature(secret_b.as_bytes(), &timestamp, &received.body)
        );
        assert_ne!(
            signature,
            webhook_signature(secret_a.as_bytes(), &timestamp, &received.body)
        );
        let event: Json = serde_json::from_slice(&received.body).expect("json");
        let name = event["event"].as_str().expect("event").to_owned();
        if name == "endpoint.url_validation" {
            assert!(event["payload"].get("account_id").is_none(), "{event}");
        } else {
            assert_eq!(event["payload"]["account_id"], account_b, "{event}");
        }
        names.push(name);
    }
    assert!(names.contains(&"meeting.alert".to_owned()), "{names:?}");
    assert!(
        names.contains(&"meeting.participant_qos".to_owned()),
        "{names:?}"
    );
    stop.cancel();
}

/// `qoswatch simulate --accounts 2 --webhook-url …/webhooks/zoom` plays the
/// story in both accounts and sends each account's events to
/// `…/webhooks/zoom/<name>`, signed with that account's secret and naming
/// that account.
#[tokio::test]
async fn simulate_with_two_accounts_sends_each_accounts_webhooks_to_its_own_url() {
    use clap::Parser;
    use qoswatch_zoomsim::cli::SimulateArgs;
    use tokio_util::sync::CancellationToken;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimulateArgs,
    }
    let (url, mut seen, stop) = start_receiver(200, "").await;
    let args = Cli::try_parse_from([
        "simulate",
        "--accounts",
        "2",
        "--webhook-url",
        &url,
        "--scenario",
        "load",
        "--meetings",
        "1",
        "--participants",
        "1",
        "--sample-period",
        "50ms",
    ])
    .expect("parses")
    .args;
    let secret_of = |path: &str| match path {
        "/webhooks/zoom/acct1" => "secretOne",
        "/webhooks/zoom/acct2" => "secretTwo",
        other => panic!("a webhook to {other}"),
    };
    let secrets = |name: &str| {
        Ok(match name {
            "ZOOM_ACCT1_WEBHOOK_SECRET_TOKEN" => Some("secretOne".to_owned()),
            "ZOOM_ACCT2_WEBHOOK_SECRET_TOKEN" => Some("secretTwo".to_owned()),
            _ => None,
        })
    };
    let cancel = CancellationToken::new();
    let stop_simulator = cancel.clone();
    let simulator =
        tokio::spawn(
            async move { qoswatch_zoomsim::cli::run(args, stop_simulator, &secrets).await },
        );

    // Each account: url_validation, meeting.started, participant_joined.
    let mut by_path: std::collections::BTreeMap<String, Vec<Json>> = Default::default();
    while by_path.values().map(Vec::len).sum::<usize>() < 6 {
        let received = tokio::time::timeout(Duration::from_secs(10), seen.recv())
            .await
            .expect("in time")
            .expect("received");
        let header = |name: &str| received.headers[name].to_str().expect("ascii").to_owned();
        assert_eq!(
            header("x-zm-signature"),
            webhook_signature(
                secret_of(&received.path).as_bytes(),
                &header("x-zm-request-timestamp"),
                &received.body
            ),
            "{} signed with its account's secret",
            received.path
        );
        let event: Json = serde_json::from_slice(&received.body).expect("json");
        by_path.entry(received.path).or_default().push(event);
    }
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), simulator)
        .await
        .expect("stops")
        .expect("joins")
        .expect("clean exit");
    stop.cancel();

    for (path, account_id) in [
        ("/webhooks/zoom/acct1", "simAccount0000000000001"),
        ("/webhooks/zoom/acct2", "simAccount0000000000002"),
    ] {
        let events = &by_path[path];
        let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
        assert_eq!(
            names,
            [
                "endpoint.url_validation",
                "meeting.started",
                "meeting.participant_joined"
            ],
            "{path}"
        );
        for event in &events[1..] {
            assert_eq!(event["payload"]["account_id"], account_id, "{path}");
        }
    }
}
