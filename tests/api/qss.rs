//! Zoom's QSS push events as a second source of samples, end to end: the
//! simulator's QSS events (signed by its own sender) feed watches with no
//! Dashboard request, polling takes over when they stop and stops when
//! they resume, a sample from both sources is evaluated once, and bad QSS
//! bodies are refused or counted.

use std::time::Duration;

use chrono::{DateTime, Utc};
use qoswatch::config::Settings;
use qoswatch::startup::Extras;
use qoswatch_testkit::Buffer;
use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{Degradation, MeetingSpec, ParticipantSpec, SimConfig, Target};
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::*;

const MEETING: &str = "qSsMeEtInGAAAAAAAAAAAA==";
const JILL: &str = "16778240";
const WAIT: Duration = Duration::from_secs(15);

const RULES: &str = r#"
channels:
  console:
    type: console
defaults:
  route:
    channels: [console]
rules:
  - name: audio-latency
    metric: audio_input.latency
    above: 150ms
    for: 2 samples
"#;

/// One simulated minute is a second: three minutes of silence are three
/// seconds, scaled like the rest of the test's clock.
fn qss_settings(settings: &mut Settings) {
    settings.qss.fallback_after = Duration::from_secs(3);
}

fn weekly() -> MeetingSpec {
    MeetingSpec::new(MEETING, 84_712_639_219, "Weekly sync")
}

fn jill() -> ParticipantSpec {
    ParticipantSpec::new(JILL, "Jill Chill")
}

fn sender(app: &TestApp) -> WebhookSender {
    WebhookSender::new(
        &app.url("/webhooks/zoom"),
        SecretString::from(SECRET.to_owned()),
    )
    .expect("sender")
}

fn dashboard_requests(app: &TestApp) -> u64 {
    let counts = app.sim.request_counts();
    counts.participant_qos + counts.list_qos
}

/// Plays Zoom's QSS for Jill: each new simulated minute, one event with
/// that minute's sample, until `until` says stop (checked after each
/// event). Returns the last minute sent.
async fn push_minutes(
    app: &TestApp,
    zoom: &WebhookSender,
    mut last: Option<DateTime<Utc>>,
    mut until: impl FnMut() -> bool,
) -> Option<DateTime<Utc>> {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        let newest = app.sim.qss_samples(MEETING, JILL, 1);
        let minute = newest
            .first()
            .and_then(|s| s["date_time"].as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        if minute.is_some() && minute != last {
            let sent = zoom
                .participant_qos(&weekly(), &jill(), &newest)
                .await
                .expect("QSS event sent");
            assert_eq!(sent.status, 200, "{}", sent.body);
            last = minute;
            if until() {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the condition never held while pushing");
}

#[tokio::test]
async fn a_degraded_participant_alerts_from_qss_events_alone_with_no_dashboard_request() {
    let rules = rules_file("qss-alone", RULES);
    let console = Buffer::default();
    let extras = Extras {
        console: Box::new(console.clone()),
        ..Extras::default()
    };
    let app = spawn_app_with_extras(
        SimConfig::default(),
        |settings| {
            qss_settings(settings);
            settings.rules.file = Some(rules.clone());
            settings.alerts.dispatch.group_window = Duration::ZERO;
        },
        extras,
    )
    .await;
    app.sim.add_meeting(weekly()).expect("meeting");
    app.sim
        .add_degradation(Degradation::bad_wifi(Target::participant(JILL), 1..30));
    app.sim.add_participant(MEETING, jill()).expect("jill");
    let zoom = sender(&app);
    // No participant_joined: the first QSS event starts the watch.
    push_minutes(&app, &zoom, None, || !console.json_lines().is_empty()).await;
    let firing = console.text();
    assert!(firing.contains("audio-latency"), "{firing}");
    assert!(app.monitor.active() == 1);
    assert_eq!(dashboard_requests(&app), 0, "fed by QSS: never polled");
    assert_eq!(
        app.metric("qoswatch_qss_switches_total{to=\"push\"}").await,
        Some(1.0)
    );
    let pushed = app
        .metric("qoswatch_samples_by_source_total{source=\"push\"}")
        .await
        .unwrap_or(0.0);
    assert!(pushed >= 2.0, "{pushed}");
    app.stop().await;
}

#[tokio::test]
async fn polling_takes_over_when_events_stop_and_stops_when_they_resume() {
    let app = spawn_app_with(SimConfig::default(), qss_settings).await;
    app.sim.add_meeting(weekly()).expect("meeting");
    app.sim.add_participant(MEETING, jill()).expect("jill");
    let zoom = sender(&app);
    let joined = zoom
        .participant_joined(&weekly(), app.sim.sim_now(), &jill(), app.sim.sim_now())
        .await
        .expect("joined");
    assert_eq!(joined.status, 200);
    // Polled until the first event; then events arrive: polling stops (a
    // poll already on its way may still land).
    let first = push_minutes(&app, &zoom, None, || true).await;
    let at_first_push = dashboard_requests(&app);
    let mut pushes = 0;
    let last = push_minutes(&app, &zoom, first, || {
        pushes += 1;
        pushes >= 2
    })
    .await;
    let polled_while_fed = dashboard_requests(&app);
    assert!(
        polled_while_fed <= at_first_push + 1,
        "{polled_while_fed} polls while fed, {at_first_push} at the first event"
    );

    // Events stop: within qss.fallback_after (3 s), polling takes over.
    assert!(
        eventually(Duration::from_secs(10), || dashboard_requests(&app)
            > polled_while_fed)
        .await,
        "polling resumed"
    );
    assert_eq!(
        app.metric_becomes("qoswatch_qss_switches_total{to=\"poll\"}", 1.0)
            .await,
        Some(1.0)
    );
    assert!(app.wait_for_polls(JILL, 2).await, "polled on");
    // Switched once, not again at every poll that follows.
    assert_eq!(
        app.metric("qoswatch_qss_switches_total{to=\"poll\"}").await,
        Some(1.0),
        "one switch to polling while the events stay away"
    );

    // Events resume: polling stops again (a poll already on its way may
    // still land).
    let last = push_minutes(&app, &zoom, last, || true).await;
    assert_eq!(
        app.metric_becomes("qoswatch_qss_switches_total{to=\"push\"}", 2.0)
            .await,
        Some(2.0)
    );
    let after_resume = dashboard_requests(&app);
    let mut more = 0;
    push_minutes(&app, &zoom, last, || {
        more += 1;
        more >= 3
    })
    .await;
    assert!(
        dashboard_requests(&app) <= after_resume + 1,
        "{} polls after the events resumed (were {after_resume})",
        dashboard_requests(&app)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_sample_from_both_sources_is_evaluated_once() {
    let app = spawn_app_with(SimConfig::default(), qss_settings).await;
    app.start_meeting(MEETING, "Weekly sync");
    app.join(MEETING, JILL, "Jill Chill").await;
    // Polled until three samples were taken from the Dashboard.
    let polled = app
        .metric_reaches("qoswatch_samples_by_source_total{source=\"poll\"}", 3.0)
        .await
        .unwrap_or(0.0);
    assert!(polled >= 3.0, "{polled}");
    let taken = app.metric("qoswatch_samples_total").await.unwrap_or(0.0);
    // The same minutes, pushed: each one already seen.
    let seen = app.sim.qss_samples(MEETING, JILL, 2);
    assert_eq!(seen.len(), 2);
    let zoom = sender(&app);
    let sent = zoom
        .participant_qos(&weekly(), &jill(), &seen)
        .await
        .expect("sent");
    assert_eq!(sent.status, 200);
    assert_eq!(
        app.metric_becomes("qoswatch_samples_repeated_total{source=\"push\"}", 2.0)
            .await,
        Some(2.0),
        "both pushed samples were repeats"
    );
    assert_eq!(
        app.metric("qoswatch_samples_by_source_total{source=\"push\"}")
            .await
            .unwrap_or(0.0),
        0.0
    );
    let now_taken = app.metric("qoswatch_samples_total").await.unwrap_or(0.0);
    let polled_since = app
        .metric("qoswatch_samples_by_source_total{source=\"poll\"}")
        .await
        .unwrap_or(0.0)
        - polled;
    assert_eq!(
        now_taken - taken,
        polled_since,
        "every sample taken since came from polling, none twice"
    );
    app.stop().await;
}

fn qos_body(event: &str, uuid: &str, qos: serde_json::Value) -> String {
    json!({
        "event": event,
        "event_ts": 1_626_230_691_572_i64,
        "payload": {
            "account_id": "AAAAAABBBB",
            "object": {
                "uuid": uuid,
                "participant": {
                    "user_id": "1234567890",
                    "participant_user_id": "rstuvwxyza789-cde",
                    "email": "user@example.com",
                    "qos": qos,
                }
            }
        }
    })
    .to_string()
}

#[tokio::test]
async fn malformed_and_unknown_qss_bodies_are_refused_or_counted() {
    let app = spawn_app_with(SimConfig::default(), qss_settings).await;
    // Not Zoom's shape: 400, naming nothing of the body.
    for bad in [
        qos_body("meeting.participant_qos", MEETING, json!("not a list")),
        qos_body("meeting.participant_qos", "bad uuid with spaces", json!([])),
        r#"{"event":"webinar.participant_qos","payload":{"object":{"uuid":"x=="}}}"#.to_owned(),
    ] {
        let response = app.post_webhook(&bad).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
    // Shaped right, nothing readable: accepted, counted, no watch.
    let unknown = qos_body(
        "meeting.participant_qos",
        MEETING,
        json!([
            {"date_time": "2026-12-06T10:00:00Z", "type": "hologram", "details": {"latency": "1 ms"}},
            {"type": "audio_input"},
        ]),
    );
    assert_eq!(app.post_webhook(&unknown).await.status(), 200);
    assert_eq!(
        app.metric("qoswatch_qss_ignored_total{reason=\"unknown_type\"}")
            .await,
        Some(1.0)
    );
    assert_eq!(
        app.metric("qoswatch_qss_ignored_total{reason=\"unreadable_entry\"}")
            .await,
        Some(1.0)
    );
    assert_eq!(
        app.metric(
            "qoswatch_webhooks_total{event=\"meeting.participant_qos\",outcome=\"no_samples\"}"
        )
        .await,
        Some(1.0)
    );
    // Summary and data events: accepted and counted.
    for event in [
        "meeting.participant_qos_summary",
        "webinar.participant_data",
        "meeting.participant_data_summary",
    ] {
        let body = qos_body(event, MEETING, json!([]));
        assert_eq!(app.post_webhook(&body).await.status(), 200, "{event}");
        assert_eq!(
            app.metric(&format!(
                "qoswatch_webhooks_total{{event=\"{event}\",outcome=\"counted\"}}"
            ))
            .await,
            Some(1.0),
            "{event}"
        );
    }
    assert_eq!(app.monitor.active(), 0);

    // A late QSS event for a call that ended starts nothing.
    app.start_meeting(MEETING, "Weekly sync");
    app.join(MEETING, "1234567890", "Late Larry").await;
    assert_eq!(app.post_webhook(&ended_body(MEETING)).await.status(), 200);
    assert!(eventually(WAIT, || app.monitor.active() == 0).await);
    let late = qos_body(
        "meeting.participant_qos",
        MEETING,
        json!([{"date_time": "2026-12-06T10:00:00Z", "type": "audio_input",
                "details": {"latency": "100 ms"}}]),
    );
    assert_eq!(app.post_webhook(&late).await.status(), 200);
    assert_eq!(app.monitor.active(), 0, "remembered as ended");
    assert_eq!(
        app.metric(
            "qoswatch_webhooks_total{event=\"meeting.participant_qos\",outcome=\"already_ended\"}"
        )
        .await,
        Some(1.0)
    );
    app.stop().await;
}
