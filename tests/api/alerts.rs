//! End to end: degrading QoS at the fake Zoom → rules → a loopback Slack
//! receiver and a real SMTP server (mailcrab), then recovery.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use qoswatch::notify::{SmtpSettings, SmtpTls};
use qoswatch::startup::Extras;
use qoswatch_zoomsim::{Degradation, ParticipantSpec, SimConfig, Target};
use serde_json::Value;

use crate::helpers::*;
use qoswatch_testkit::{Buffer, FakeSlack};

const MEETING: &str = "4444AAAiAAAAAiAiAiiAii==";
const JILL: &str = "16778240";
const BOB: &str = "16778999";

/// Sustain and clear by sample count: the simulator makes one sample a second.
const RULES: &str = r#"
channels:
  console:
    type: console
  it-slack:
    type: slack
    webhook_url_env: QOSWATCH_TEST_SLACK_URL
    send_resolved: true
  it-email:
    type: email
    to: [it-oncall@example.com]
defaults:
  route:
    channels: [console, it-slack, it-email]
    repeat: 30m
    send_resolved: true
rules:
  - name: audio-latency
    metric: audio_input.latency
    above: { warning: 150ms, critical: 400ms }
    clear: { below: 120ms, for: 2 samples }
    for: 2 samples
    summary: "{participant} has {value} audio latency ({threshold}) in {meeting}"
    runbook: https://wiki.example.com/qoswatch/audio-latency
"#;

fn slack_text(body: &Value) -> String {
    body["text"].as_str().unwrap_or_default().to_owned()
}

fn header(mail: &Value, name: &str) -> String {
    mail["headers"]
        .as_object()
        .and_then(|headers| {
            headers
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
        })
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[tokio::test]
async fn degraded_audio_reaches_slack_and_email_once_then_resolves() {
    let mut slack = FakeSlack::start(Vec::new()).await;
    let smtp_port = qoswatch_testkit::free_port();
    let mut mail = mailcrab::development_mail_server([127, 0, 0, 1], smtp_port).await;
    let rules = rules_file("e2e", RULES);
    let env: HashMap<String, String> = HashMap::from([(
        "QOSWATCH_TEST_SLACK_URL".to_owned(),
        slack.url("T000/B000/secretpart"),
    )]);
    let console = Buffer::default();
    let extras = Extras {
        env: Arc::new(move |name: &str| env.get(name).cloned()),
        console: Box::new(console.clone()),
        sample_taps: Vec::new(),
        extra_channels: Vec::new(),
        ..Extras::default()
    };
    let app = spawn_app_with_extras(
        SimConfig::default(),
        |settings| {
            settings.rules.file = Some(rules.clone());
            settings.alerts.dispatch.group_window = Duration::ZERO;
            settings.alerts.dispatch.initial_backoff = Duration::from_millis(100);
            settings.alerts.smtp = Some(SmtpSettings {
                host: "127.0.0.1".into(),
                port: smtp_port,
                tls: SmtpTls::None,
                username: None,
                password: None,
                from: "qoswatch <qoswatch@alerts.example.org>".into(),
                timeout: Duration::from_secs(5),
            });
        },
        extras,
    )
    .await;

    app.start_meeting(MEETING, "Weekly sync");
    // Jill's Wi-Fi is bad from her third sample to her seventh; Bob is fine.
    app.sim
        .add_degradation(Degradation::bad_wifi(Target::participant(JILL), 2..7));
    app.sim
        .add_participant(MEETING, ParticipantSpec::new(JILL, "Jill Chill"))
        .expect("jill");
    app.sim
        .add_participant(MEETING, ParticipantSpec::new(BOB, "Bob Fine"))
        .expect("bob");
    for (user, name) in [(JILL, "Jill Chill"), (BOB, "Bob Fine")] {
        let response = app.post_webhook(&joined_body(MEETING, user, name)).await;
        assert_eq!(response.status(), 200);
    }

    if !eventually(Duration::from_secs(12), || !console.json_lines().is_empty()).await {
        panic!(
            "no alert on the console; metrics:\n{}\nqos requests: {:?}",
            app.metrics().await,
            app.sim
                .qos_requests()
                .iter()
                .map(|r| r.status)
                .collect::<Vec<_>>()
        );
    }
    let firing = slack.next().await;
    let text = slack_text(&firing.body);
    assert!(text.starts_with("[FIRING]"), "{text}");
    assert!(text.contains("Jill Chill"), "{text}");
    assert!(text.contains("Weekly sync"), "{text}");
    assert_eq!(firing.hook, "T000/B000/secretpart");
    let blocks = firing.body["blocks"].to_string();
    assert!(blocks.contains("420 ms"), "the value is shown: {blocks}");
    assert!(
        blocks.contains("audio-latency"),
        "the runbook link is shown: {blocks}"
    );

    // Escalation to critical may come as its own FIRING message (420 ms is
    // over 400 ms); what must not come is a storm or anything about Bob.
    let mut messages = vec![firing.body.clone()];
    loop {
        let next = slack.next().await;
        let text = slack_text(&next.body);
        messages.push(next.body.clone());
        if text.starts_with("[RESOLVED]") {
            assert!(text.contains("Jill Chill"), "{text}");
            break;
        }
        assert!(
            messages.len() <= 3,
            "too many messages while degraded: {messages:#?}"
        );
    }
    for message in &messages {
        assert!(
            !message.to_string().contains("Bob Fine"),
            "healthy Bob alerted"
        );
        assert!(!message.to_string().contains("secretpart"));
    }

    // The same story by e-mail, threaded.
    let first = tokio::time::timeout(Duration::from_secs(10), mail.rx.recv())
        .await
        .expect("firing mail in time")
        .expect("mail");
    let first = serde_json::to_value(&first).expect("json");
    assert!(
        first["subject"]
            .as_str()
            .unwrap_or_default()
            .starts_with("[FIRING]")
    );
    assert!(
        first["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Jill Chill")
    );
    assert!(
        first["html"]
            .as_str()
            .unwrap_or_default()
            .contains("Jill Chill")
    );
    assert_eq!(header(&first, "Auto-Submitted"), "auto-generated");
    let root = header(&first, "Message-ID");
    let mut last = first.clone();
    while !last["subject"]
        .as_str()
        .unwrap_or_default()
        .starts_with("[RESOLVED]")
    {
        let next = tokio::time::timeout(Duration::from_secs(15), mail.rx.recv())
            .await
            .expect("resolved mail in time")
            .expect("mail");
        last = serde_json::to_value(&next).expect("json");
    }
    assert_eq!(header(&last, "In-Reply-To"), root);
    assert!(header(&last, "References").contains(&root));

    // The console channel saw the same transitions as JSON lines.
    let lines = console.json_lines();
    assert!(lines.len() >= 2, "{lines:?}");
    assert!(!console.text().contains("Bob Fine"));

    mail.token.cancel();
    app.stop().await;
}

#[tokio::test]
async fn zoom_meeting_alerts_are_relayed_once_when_enabled() {
    let (app, console) = spawn_relaying_app("zoom").await;
    let body = fixture("meeting.alert.json");
    assert_eq!(app.post_webhook(&body).await.status(), 200);
    assert_eq!(app.post_webhook(&body).await.status(), 200);
    assert!(eventually(Duration::from_secs(10), || !console.json_lines().is_empty()).await);
    assert!(
        console.text().contains("Unstable audio quality"),
        "{}",
        console.text()
    );
    assert!(console.text().contains("My Meeting"));
    let suppressed = app
        .metric("qoswatch_zoom_meeting_alerts_suppressed_total")
        .await;
    assert_eq!(suppressed, Some(1.0));
    app.stop().await;
    assert_eq!(console.json_lines().len(), 1, "{}", console.text());
}

#[tokio::test]
async fn the_running_server_reloads_rules_and_keeps_the_last_good_ones() {
    let rules = rules_file(
        "reload",
        "rules:\n  - name: audio-latency\n    metric: audio_input.latency\n    above: 150ms\n",
    );
    let app = spawn_app_with_extras(
        SimConfig::default(),
        |settings| settings.rules.file = Some(rules.clone()),
        Extras {
            console: Box::new(Buffer::default()),
            ..Extras::default()
        },
    )
    .await;
    assert_eq!(app.metric("qoswatch_rules_loaded").await, Some(1.0));

    // An editor saves by writing a temporary file and renaming it.
    let write_by_rename = |text: &str| {
        let temp = rules.with_extension("yaml.tmp");
        std::fs::write(&temp, text).expect("write");
        std::fs::rename(&temp, &rules).expect("rename");
    };
    write_by_rename(
        "rules:\n  - name: audio-latency\n    metric: audio_input.latency\n    above: 150ms\n  - name: jitter\n    metric: any_audio.jitter\n    above: 30ms\n",
    );
    assert_eq!(
        app.metric_becomes("qoswatch_rules_loaded", 2.0).await,
        Some(2.0),
        "the new file is in force"
    );

    // A broken file is rejected; the two rules stay.
    write_by_rename("rules:\n  - name: jitter\n    metric: any_audio.jittr\n    above: 30ms\n");
    assert_eq!(
        app.metric_becomes("qoswatch_rules_reload_failures_total", 1.0)
            .await,
        Some(1.0),
        "the failure is counted"
    );
    assert_eq!(app.metric("qoswatch_rules_loaded").await, Some(2.0));
    app.stop().await;
}

#[tokio::test]
async fn a_watch_that_merely_stops_closes_its_alerts_without_claiming_recovery() {
    // Every healthy sample breaches 1 ms, so the alert fires at once.
    let rules = rules_file(
        "maxage",
        "rules:\n  - name: any-latency\n    metric: audio_input.latency\n    above: 1ms\n",
    );
    let console = Buffer::default();
    let app = spawn_app_with_extras(
        SimConfig::default(),
        |settings| {
            settings.rules.file = Some(rules.clone());
            settings.alerts.dispatch.group_window = Duration::ZERO;
            settings.polling.max_watch_age = Duration::from_millis(1500);
        },
        Extras {
            console: Box::new(console.clone()),
            ..Extras::default()
        },
    )
    .await;
    app.start_meeting(MEETING, "Weekly sync");
    app.join(MEETING, JILL, "Jill Chill").await;
    assert!(
        eventually(Duration::from_secs(10), || {
            console
                .json_lines()
                .iter()
                .any(|line| line["phase"] == "resolved")
        })
        .await,
        "{}",
        console.text()
    );
    let lines = console.json_lines();
    assert_eq!(lines[0]["phase"], "problem");
    let resolved = lines
        .iter()
        .find(|line| line["phase"] == "resolved")
        .expect("resolved line");
    assert!(
        resolved.to_string().contains("this is not a recovery"),
        "{resolved}"
    );
    app.stop().await;
}
