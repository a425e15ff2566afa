//! Webinars end to end: Zoom's `webinar.*` webhooks (sent by the
//! simulator's own sender) start and stop watches, polling goes to the
//! webinars' Dashboard endpoints (one by one and listed), and alerts, the
//! API and the relay of `webinar.alert` name the call a webinar.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use qoswatch::config::PollingMode;
use qoswatch::startup::Extras;
use qoswatch_testkit::{Buffer, FakeSlack};
use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{Degradation, Endpoint, MeetingSpec, ParticipantSpec, SimConfig, Target};
use secrecy::SecretString;

use crate::helpers::*;

const WEBINAR: &str = "wEbInArAAAAAAAAAAAAAAA==";
const WEBINAR_ID: u64 = 91_234_567_890;
const JILL: &str = "16778240";
const WAIT: Duration = Duration::from_secs(15);

const RULES: &str = r#"
channels:
  console:
    type: console
  it-slack:
    type: slack
    webhook_url_env: QOSWATCH_TEST_SLACK_URL
    send_resolved: true
defaults:
  route:
    channels: [console, it-slack]
    send_resolved: true
rules:
  - name: webinar-audio-latency
    metric: audio_input.latency
    above: 150ms
    clear: { below: 120ms, for: 2 samples }
    for: 2 samples
    scope: { kind: webinar }
    summary: "{participant} has {value} audio latency in {meeting}"
  - name: meeting-audio-latency
    metric: audio_input.latency
    above: 150ms
    scope: { kind: meeting }
"#;

fn town_hall() -> MeetingSpec {
    MeetingSpec::new(WEBINAR, WEBINAR_ID, "Town hall").as_webinar()
}

fn sender(app: &TestApp) -> WebhookSender {
    WebhookSender::new(
        &app.url("/webhooks/zoom"),
        SecretString::from(SECRET.to_owned()),
    )
    .expect("sender")
}

/// Every QoS request went to the webinars' endpoints, none to the meetings'.
fn assert_webinar_paths(app: &TestApp) {
    let requests = app.sim.qos_requests();
    assert!(!requests.is_empty(), "no QoS request at all");
    for request in &requests {
        assert!(
            request.raw_path.starts_with("/v2/metrics/webinars/"),
            "{}",
            request.raw_path
        );
        assert_eq!(request.status, 200, "{}", request.raw_path);
    }
}

#[tokio::test]
async fn a_webinar_is_watched_end_to_end_and_named_a_webinar() {
    let mut slack = FakeSlack::start(Vec::new()).await;
    let rules = rules_file("webinar", RULES);
    let env: HashMap<String, String> = HashMap::from([(
        "QOSWATCH_TEST_SLACK_URL".to_owned(),
        slack.url("T000/B000/webinar"),
    )]);
    let extras = Extras {
        env: Arc::new(move |name: &str| env.get(name).cloned()),
        console: Box::new(Buffer::default()),
        ..Extras::default()
    };
    let app = spawn_app_with_extras(
        SimConfig::default(),
        |settings| {
            settings.rules.file = Some(rules.clone());
            settings.alerts.dispatch.group_window = Duration::ZERO;
        },
        extras,
    )
    .await;
    let webinar = town_hall();
    app.sim.add_meeting(webinar.clone()).expect("webinar");
    app.sim
        .add_degradation(Degradation::bad_wifi(Target::participant(JILL), 2..7));
    let jill = ParticipantSpec::new(JILL, "Jill Chill");
    app.sim
        .add_participant(WEBINAR, jill.clone())
        .expect("attendee");
    let zoom = sender(&app);
    let start = app.sim.sim_now();
    let joined = zoom
        .participant_joined(&webinar, start, &jill, start)
        .await
        .expect("joined sent");
    assert_eq!(joined.status, 200);
    assert!(eventually(WAIT, || app.monitor.active() == 1).await);

    // The API names it a webinar while it is watched.
    let (status, watches) = app.admin("GET", "/api/v1/status", None).await;
    assert_eq!(status, 200);
    let meetings = watches["meetings"].as_array().cloned().unwrap_or_default();
    assert_eq!(meetings.len(), 1, "{watches}");
    assert_eq!(meetings[0]["kind"], "webinar", "{watches}");

    let firing = slack.next().await;
    let text = firing.body["text"].as_str().unwrap_or_default().to_owned();
    assert!(text.starts_with("[FIRING]"), "{text}");
    assert!(text.contains("Town hall (webinar)"), "{text}");
    let blocks = firing.body["blocks"].to_string();
    assert!(
        blocks.contains("webinar-audio-latency"),
        "the webinar's rule fired: {blocks}"
    );
    assert!(
        !blocks.contains("meeting-audio-latency"),
        "a rule scoped to meetings stays quiet: {blocks}"
    );
    assert!(
        blocks.contains(&format!("Town hall (webinar {WEBINAR_ID})")),
        "{blocks}"
    );
    let (_, alerts) = app.admin("GET", "/api/v1/alerts", None).await;
    assert!(
        alerts.to_string().contains("\"kind\":\"webinar\""),
        "{alerts}"
    );

    loop {
        let next = slack.next().await;
        let text = next.body["text"].as_str().unwrap_or_default().to_owned();
        if text.starts_with("[RESOLVED]") {
            assert!(text.contains("Town hall (webinar)"), "{text}");
            break;
        }
    }
    assert_webinar_paths(&app);

    let end = app.sim.end_meeting(WEBINAR).expect("ended");
    let ended = zoom
        .meeting_ended(&webinar, start, end)
        .await
        .expect("ended sent");
    assert_eq!(ended.status, 200);
    assert!(eventually(WAIT, || app.monitor.active() == 0).await);
    assert_eq!(
        app.metric("qoswatch_webhooks_total{event=\"webinar.ended\",outcome=\"handled\"}")
            .await,
        Some(1.0)
    );
    assert_eq!(
        app.metric(
            "qoswatch_webhooks_total{event=\"webinar.participant_joined\",outcome=\"handled\"}"
        )
        .await,
        Some(1.0)
    );
    // A late retry of the join does not start the ended webinar again.
    let retried = zoom
        .participant_joined(&webinar, start, &jill, start)
        .await
        .expect("retry sent");
    assert_eq!(retried.status, 200);
    assert_eq!(app.monitor.active(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_webinar_attendee_who_leaves_stops_being_polled() {
    let app = spawn_app().await;
    let webinar = town_hall();
    app.sim.add_meeting(webinar.clone()).expect("webinar");
    let jill = ParticipantSpec::new(JILL, "Jill Chill");
    app.sim
        .add_participant(WEBINAR, jill.clone())
        .expect("attendee");
    let zoom = sender(&app);
    let start = app.sim.sim_now();
    zoom.participant_joined(&webinar, start, &jill, start)
        .await
        .expect("joined");
    assert!(
        app.wait_for_polls(JILL, 2).await,
        "polled at the webinar's endpoint"
    );
    assert_webinar_paths(&app);
    let left = zoom
        .participant_left(&webinar, start, &jill, start, "left the webinar")
        .await
        .expect("left");
    assert_eq!(left.status, 200);
    assert!(eventually(WAIT, || app.monitor.active() == 0).await);
    assert_eq!(
        app.metric(
            "qoswatch_webhooks_total{event=\"webinar.participant_left\",outcome=\"handled\"}"
        )
        .await,
        Some(1.0)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_webinar_of_fifty_is_listed_at_the_webinars_list_endpoint() {
    let app = spawn_app_with(SimConfig::default(), |settings| {
        settings.polling.mode = PollingMode::Adaptive;
        settings.polling.interval = Duration::from_millis(200);
        settings.polling.max_interval = Duration::from_millis(1600);
        settings.polling.max_staleness = Duration::from_secs(4);
    })
    .await;
    let webinar = town_hall();
    app.sim.add_meeting(webinar.clone()).expect("webinar");
    let zoom = sender(&app);
    let start = app.sim.sim_now();
    for n in 0..50 {
        let attendee = ParticipantSpec::new(format!("{}", 2000 + n), format!("Attendee {n}"));
        app.sim
            .add_participant(WEBINAR, attendee.clone())
            .expect("attendee");
        let joined = zoom
            .participant_joined(&webinar, start, &attendee, start)
            .await
            .expect("joined");
        assert_eq!(joined.status, 200);
    }
    assert!(eventually(WAIT, || app.monitor.active() == 50).await);
    // Five pages of ten a round; two rounds at least.
    assert!(app.wait_for_lists(10).await, "listed");
    let samples = app
        .metric_reaches("qoswatch_samples_total", 50.0)
        .await
        .unwrap_or(0.0);
    assert!(samples >= 50.0, "{samples} samples");
    let counts = app.sim.request_counts();
    assert_eq!(counts.participant_qos, 0, "nobody asked for alone");
    for request in app.sim.qos_requests() {
        assert!(
            matches!(request.endpoint, Endpoint::ListQos { .. }),
            "{:?}",
            request.endpoint
        );
        assert!(
            request.raw_path.starts_with(&format!(
                "/v2/metrics/webinars/{}",
                WEBINAR.replace('=', "%3D")
            )),
            "{}",
            request.raw_path
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_webinar_alert_is_relayed_naming_the_webinar() {
    let (app, console) = spawn_relaying_app("webinar-alert").await;
    let zoom = sender(&app);
    let issues = ["Unstable video quality".to_owned()];
    let relayed = zoom
        .meeting_alert(&town_hall(), app.sim.sim_now(), &issues)
        .await
        .expect("alert sent");
    assert_eq!(relayed.status, 200);
    assert!(eventually(WAIT, || !console.json_lines().is_empty()).await);
    let text = console.text();
    assert!(text.contains("Unstable video quality"), "{text}");
    assert!(text.contains("webinar Town hall"), "{text}");
    assert!(text.contains("zoom.webinar_alert"), "{text}");
    assert_eq!(
        app.metric("qoswatch_webhooks_total{event=\"webinar.alert\",outcome=\"handled\"}")
            .await,
        Some(1.0)
    );
    app.stop().await;
}
