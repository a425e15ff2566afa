//! Integration tests of `qoswatch::notify` over real sockets: an axum app on
//! 127.0.0.1:0 as fake Slack, mailcrab as a real SMTP server, and a captured
//! console writer.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use prometheus_client::registry::Registry;
use qoswatch::notify::{
    self, DispatchHandle, Dispatcher, DispatcherSetup, Notification, NotifyError, NotifySettings,
    Restored, SmtpSettings, SmtpTls,
};
use qoswatch::store::Store;
use qoswatch_core::alert::{
    AlertEvent, AlertKey, AlertStatus, Channel, ChannelSpec, MeetingInfo, ParticipantInfo, Route,
    Severity,
};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

// ---------------------------------------------------------------- fixtures

pub(super) fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, h, m, s).unwrap()
}

pub(super) fn weekly_sync() -> MeetingInfo {
    MeetingInfo {
        account: Default::default(),
        uuid: "4444AAAiAAAAAiAiAiiAii==".into(),
        id: Some("1234567890".into()),
        topic: Some("Weekly sync".into()),
        kind: Default::default(),
    }
}

pub(super) fn jill() -> ParticipantInfo {
    ParticipantInfo {
        user_id: "16778240".into(),
        name: Some("Jill Chill".into()),
        email: Some("jill.chill@example.com".into()),
        device: Some("Mac".into()),
        location: Some("Amsterdam (NL)".into()),
        network_type: Some("Wifi".into()),
    }
}

pub(super) fn person(user_id: &str, name: &str, location: &str, network: &str) -> ParticipantInfo {
    ParticipantInfo {
        user_id: user_id.into(),
        name: Some(name.into()),
        email: Some(format!(
            "{}@example.com",
            name.to_lowercase().replace(' ', ".")
        )),
        device: Some("Windows".into()),
        location: Some(location.into()),
        network_type: Some(network.into()),
    }
}

pub(super) fn firing(participant: Option<ParticipantInfo>, channels: &[&str]) -> AlertEvent {
    let meeting = weekly_sync();
    AlertEvent {
        key: AlertKey::new(
            "high-audio-latency",
            &meeting,
            participant.as_ref().map(|p| p.user_id.as_str()),
        ),
        status: AlertStatus::Firing,
        severity: Severity::Warning,
        previous_severity: None,
        rule: "high-audio-latency".into(),
        summary: "High audio latency".into(),
        runbook: Some("https://wiki.example.com/runbooks/audio-latency?a=1&b=2".into()),
        metric: "audio_input.latency".into(),
        stream: Some("audio input".into()),
        value: Some("420 ms".into()),
        threshold: Some("> 300 ms".into()),
        started_at: t(10, 0, 0),
        at: t(10, 2, 0),
        meeting,
        participant,
        route: Route {
            channels: channels.iter().map(|c| c.to_string()).collect(),
            repeat_interval: None,
            send_resolved: true,
        },
    }
}

pub(super) fn resolved(event: &AlertEvent) -> AlertEvent {
    AlertEvent {
        status: AlertStatus::Resolved,
        value: Some("120 ms".into()),
        at: t(10, 6, 20),
        ..event.clone()
    }
}

fn zoom_meeting_alert(channels: &[&str]) -> AlertEvent {
    let meeting = weekly_sync();
    AlertEvent {
        key: AlertKey::new("zoom-meeting-alert", &meeting, None),
        status: AlertStatus::Firing,
        severity: Severity::Critical,
        previous_severity: None,
        rule: "zoom-meeting-alert".into(),
        summary: "Unstable audio quality".into(),
        runbook: None,
        metric: "zoom.meeting_alert".into(),
        stream: None,
        value: None,
        threshold: None,
        started_at: t(10, 1, 0),
        at: t(10, 1, 0),
        meeting,
        participant: None,
        route: Route {
            channels: channels.iter().map(|c| c.to_string()).collect(),
            repeat_interval: None,
            send_resolved: true,
        },
    }
}

fn slack_channel(name: &str, env: &str, show_email: bool, send_resolved: bool) -> Channel {
    Channel {
        name: name.into(),
        spec: ChannelSpec::Slack {
            webhook_url_env: env.into(),
            show_email,
            send_resolved,
        },
    }
}

fn console_channel(name: &str, send_resolved: bool) -> Channel {
    Channel {
        name: name.into(),
        spec: ChannelSpec::Console { send_resolved },
    }
}

fn email_channel(name: &str) -> Channel {
    Channel {
        name: name.into(),
        spec: ChannelSpec::Email {
            to: vec!["it-oncall@example.com".into()],
            show_email: false,
            send_resolved: true,
        },
    }
}

pub(super) fn fast_settings() -> NotifySettings {
    NotifySettings {
        group_window: Duration::ZERO,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        slack_min_interval: Duration::from_millis(10),
        http_timeout: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(2),
        ..NotifySettings::default()
    }
}

/// A writer tests can read back (console output, logs).
/// The running dispatcher and what a test needs around it.
pub(super) struct Running {
    pub(super) handle: DispatchHandle,
    registry: Registry,
    console: Buffer,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Running {
    pub(super) async fn start(
        channels: &[Channel],
        smtp: Option<SmtpSettings>,
        settings: NotifySettings,
        env: &HashMap<String, String>,
    ) -> Running {
        let mut registry = Registry::default();
        let console = Buffer::default();
        let tracker = TaskTracker::new();
        let cancel = CancellationToken::new();
        let handle = Dispatcher::start(
            DispatcherSetup {
                channels,
                smtp,
                settings,
                env: &|name| env.get(name).cloned(),
                console: Box::new(console.clone()),
                store: Store::in_memory(&mut Registry::default())
                    .await
                    .expect("store"),
                restored: Restored::default(),
            },
            &mut registry,
            &tracker,
            cancel.clone(),
        )
        .expect("dispatcher starts");
        Running {
            handle,
            registry,
            console,
            tracker,
            cancel,
        }
    }

    /// The value of one counter sample, e.g. `messages_sent_total{kind="slack"}`.
    pub(super) fn counter(&self, sample: &str) -> u64 {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).unwrap();
        let wanted = format!("qoswatch_notify_{sample} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&wanted))
            .map(|value| value.trim().parse::<f64>().unwrap() as u64)
            .unwrap_or(0)
    }

    pub(super) async fn shutdown(self) {
        self.cancel.cancel();
        self.tracker.close();
        tokio::time::timeout(Duration::from_secs(10), self.tracker.wait())
            .await
            .expect("dispatcher tasks stop");
    }
}

/// Polls `condition` until it holds, failing after `within`.
async fn wait_until(within: Duration, what: &str, condition: impl FnMut() -> bool) {
    qoswatch_testkit::wait_for(what, within, condition).await;
}

// ---------------------------------------------------------------- fake Slack

use qoswatch_testkit::{Buffer, FakeSlack, Reply};

pub(super) fn env(pairs: &[(&str, String)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect()
}

fn all_text(body: &Value) -> String {
    body.to_string()
}

// ---------------------------------------------------------------- Slack

#[tokio::test]
async fn slack_firing_and_resolved_carry_the_facts_and_respect_show_email() {
    let mut slack = FakeSlack::start(vec![]).await;
    let env = env(&[
        ("SLACK_PRIVATE", slack.url("private")),
        ("SLACK_TEAM", slack.url("team")),
    ]);
    let running = Running::start(
        &[
            slack_channel("it-team", "SLACK_TEAM", true, true),
            slack_channel("everyone", "SLACK_PRIVATE", false, true),
        ],
        None,
        fast_settings(),
        &env,
    )
    .await;
    let event = firing(Some(jill()), &["it-team", "everyone"]);
    running.handle.send(event.clone());

    let mut firing_by_hook = HashMap::new();
    for _ in 0..2 {
        let request = slack.next().await;
        firing_by_hook.insert(request.hook.clone(), request.body);
    }
    for body in firing_by_hook.values() {
        assert_eq!(
            body["text"],
            "[FIRING] High audio latency — Jill Chill — Weekly sync"
        );
        assert_eq!(body["blocks"][0]["type"], "header");
        let text = all_text(body);
        for fact in [
            "audio_input.latency",
            "420 ms",
            "&gt; 300 ms",
            "2026-11-25 10:00 UTC",
            "Jill Chill",
            "Weekly sync (id 1234567890)",
            "Amsterdam (NL)",
            "Mac, Wifi",
            "<https://wiki.example.com/runbooks/audio-latency?a=1&amp;b=2|Runbook>",
        ] {
            assert!(text.contains(fact), "missing {fact} in {text}");
        }
    }
    assert!(all_text(&firing_by_hook["team"]).contains("jill.chill@example.com"));
    assert!(!all_text(&firing_by_hook["private"]).contains("jill.chill@example.com"));

    running.handle.send(resolved(&event));
    for _ in 0..2 {
        let request = slack.next().await;
        assert_eq!(
            request.body["text"],
            "[RESOLVED] High audio latency — Jill Chill — Weekly sync"
        );
        let text = all_text(&request.body);
        assert!(text.contains("RESOLVED"));
        assert!(text.contains("Lasted"));
        assert!(text.contains("6 min 20 s"));
        assert!(text.contains("120 ms"));
    }
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    slack.no_more();
    assert_eq!(running.counter("messages_sent_total{kind=\"slack\"}"), 4);
    running.shutdown().await;
}

#[tokio::test]
async fn slack_groups_three_participants_of_one_meeting_and_names_the_shared_cause() {
    let mut slack = FakeSlack::start(vec![]).await;
    let env = env(&[("SLACK_URL", slack.url("ops"))]);
    let settings = NotifySettings {
        group_window: Duration::from_millis(300),
        ..fast_settings()
    };
    let running = Running::start(
        &[slack_channel("ops", "SLACK_URL", false, true)],
        None,
        settings,
        &env,
    )
    .await;
    let people = [
        person("1", "Ann Lee", "Berlin office", "Wired"),
        person("2", "Bob Ray", "Berlin office", "Wifi"),
        person("3", "Cy Dee", "Berlin office", "Wifi"),
    ];
    for participant in &people {
        running
            .handle
            .send(firing(Some(participant.clone()), &["ops"]));
    }
    let request = slack.next().await;
    let text = all_text(&request.body);
    assert_eq!(
        request.body["text"],
        "[FIRING] 3 participants degraded together — Weekly sync"
    );
    assert!(text.contains("Likely shared cause"), "{text}");
    assert!(text.contains("Berlin office"), "{text}");
    for participant in &people {
        assert!(text.contains(participant.name.as_deref().unwrap()));
    }
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    slack.no_more();
    assert_eq!(running.counter("messages_sent_total{kind=\"slack\"}"), 1);
    running.shutdown().await;
}

#[tokio::test]
async fn slack_500_then_200_is_delivered_exactly_once() {
    let mut slack = FakeSlack::start(vec![Reply::status(500, "internal_error")]).await;
    let env = env(&[("SLACK_URL", slack.url("ops"))]);
    let running = Running::start(
        &[slack_channel("ops", "SLACK_URL", false, true)],
        None,
        fast_settings(),
        &env,
    )
    .await;
    running.handle.send(firing(Some(jill()), &["ops"]));
    let first = slack.next().await;
    let second = slack.next().await;
    assert_eq!(first.body, second.body, "the retry sends the same message");
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    slack.no_more();
    assert_eq!(running.counter("messages_sent_total{kind=\"slack\"}"), 1);
    assert_eq!(running.counter("messages_retried_total{kind=\"slack\"}"), 1);
    assert_eq!(running.counter("messages_failed_total{kind=\"slack\"}"), 0);
    running.shutdown().await;
}

#[tokio::test]
async fn slack_429_retry_after_is_honoured() {
    let mut slack = FakeSlack::start(vec![Reply {
        status: 429,
        retry_after: Some(2),
        body: "rate_limited",
    }])
    .await;
    let env = env(&[("SLACK_URL", slack.url("ops"))]);
    let running = Running::start(
        &[slack_channel("ops", "SLACK_URL", false, true)],
        None,
        fast_settings(),
        &env,
    )
    .await;
    running.handle.send(firing(Some(jill()), &["ops"]));
    let first = slack.next().await;
    let second = slack.next().await;
    let gap = second.arrived - first.arrived;
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
    assert!(gap < Duration::from_secs(4), "retried after {gap:?}");
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    assert_eq!(running.counter("messages_sent_total{kind=\"slack\"}"), 1);
    running.shutdown().await;
}

#[tokio::test]
async fn slack_channel_not_found_is_permanent_counted_and_not_retried() {
    let mut slack = FakeSlack::start(vec![Reply::status(404, "channel_not_found")]).await;
    let env = env(&[("SLACK_URL", slack.url("ops"))]);
    let running = Running::start(
        &[slack_channel("ops", "SLACK_URL", false, true)],
        None,
        fast_settings(),
        &env,
    )
    .await;
    running.handle.send(firing(Some(jill()), &["ops"]));
    slack.next().await;
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    assert_eq!(running.counter("messages_failed_total{kind=\"slack\"}"), 1);
    assert_eq!(running.counter("messages_retried_total{kind=\"slack\"}"), 0);
    assert_eq!(running.counter("messages_sent_total{kind=\"slack\"}"), 0);
    // A later message still goes out: the failure was about one message.
    running.handle.send(zoom_meeting_alert(&["ops"]));
    let next = slack.next().await;
    assert!(
        next.body["text"]
            .as_str()
            .unwrap()
            .contains("Unstable audio quality")
    );
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    slack.no_more();
    running.shutdown().await;
}

#[tokio::test]
async fn slack_webhook_is_paced_at_one_message_a_second() {
    let mut slack = FakeSlack::start(vec![]).await;
    let env = env(&[("SLACK_URL", slack.url("ops"))]);
    let settings = NotifySettings {
        slack_min_interval: Duration::from_secs(1),
        ..fast_settings()
    };
    let running = Running::start(
        &[slack_channel("ops", "SLACK_URL", false, true)],
        None,
        settings,
        &env,
    )
    .await;
    let mut other = zoom_meeting_alert(&["ops"]);
    other.meeting.uuid = "other==".into();
    running.handle.send(firing(Some(jill()), &["ops"]));
    running.handle.send(other);
    let first = slack.next().await;
    let second = slack.next().await;
    let gap = second.arrived - first.arrived;
    assert!(
        gap >= Duration::from_secs(1),
        "second message after {gap:?}"
    );
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    running.shutdown().await;
}

#[tokio::test]
async fn shutdown_gives_up_within_the_grace_period_and_counts_what_is_left() {
    let closed = format!(
        "http://127.0.0.1:{}/services/x",
        qoswatch_testkit::free_port()
    );
    let env = env(&[("SLACK_URL", closed)]);
    let settings = NotifySettings {
        initial_backoff: Duration::from_secs(30),
        max_backoff: Duration::from_secs(30),
        shutdown_grace: Duration::from_millis(300),
        ..fast_settings()
    };
    let running = Running::start(
        &[slack_channel("ops", "SLACK_URL", false, true)],
        None,
        settings,
        &env,
    )
    .await;
    running.handle.send(firing(Some(jill()), &["ops"]));
    wait_until(Duration::from_secs(10), "a failed Slack attempt", || {
        running.counter("messages_retried_total{kind=\"slack\"}") >= 1
    })
    .await;
    assert_eq!(
        running.handle.drain(Duration::from_millis(50)).await,
        Err(notify::NotDrained { pending: 1 })
    );
    running.cancel.cancel();
    running.tracker.close();
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), running.tracker.wait())
        .await
        .expect("tasks stop within the grace period");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(running.counter("messages_failed_total{kind=\"slack\"}"), 1);
    assert_eq!(running.handle.pending(), 0);
    // After shutdown, events are counted as dropped, not silently lost.
    running.handle.send(firing(Some(jill()), &["ops"]));
    assert_eq!(running.counter("dropped_after_shutdown_total"), 1);
}

// ---------------------------------------------------------------- console, routing

#[tokio::test]
async fn console_writes_one_json_line_per_notification_and_skips_unknown_channels() {
    let running = Running::start(
        &[console_channel("stdout", true)],
        None,
        fast_settings(),
        &HashMap::new(),
    )
    .await;
    running
        .handle
        .send(firing(Some(jill()), &["stdout", "no-such-channel"]));
    running.handle.send(zoom_meeting_alert(&["stdout"]));
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    let lines = running.console.json_lines();
    assert_eq!(lines.len(), 2, "{}", running.console.text());
    assert_eq!(
        lines[0]["text"],
        "[FIRING] High audio latency — Jill Chill — Weekly sync"
    );
    assert_eq!(lines[0]["alerts"][0]["participant"]["name"], "Jill Chill");
    assert_eq!(lines[0]["alerts"][0]["value"], "420 ms");
    assert_eq!(
        lines[1]["text"],
        "[FIRING] Unstable audio quality — whole meeting — Weekly sync"
    );
    assert!(lines[1]["alerts"][0]["participant"].is_null());
    assert!(!running.console.text().contains("jill.chill@example.com"));
    assert_eq!(running.counter("unknown_channel_total"), 1);
    assert_eq!(running.counter("messages_sent_total{kind=\"console\"}"), 2);
    running.shutdown().await;
}

#[tokio::test]
async fn resolved_is_suppressed_per_channel_and_per_rule() {
    let running = Running::start(
        &[
            console_channel("quiet", false),
            console_channel("chatty", true),
        ],
        None,
        fast_settings(),
        &HashMap::new(),
    )
    .await;
    let event = firing(Some(jill()), &["quiet", "chatty"]);
    running.handle.send(event.clone());
    running.handle.send(resolved(&event));
    let mut no_resolved_rule = firing(Some(person("2", "Bob Ray", "x", "y")), &["chatty"]);
    no_resolved_rule.route.send_resolved = false;
    running.handle.send(no_resolved_rule.clone());
    running.handle.send(resolved(&no_resolved_rule));
    running.handle.drain(Duration::from_secs(5)).await.unwrap();

    let lines = running.console.json_lines();
    let summary: Vec<(String, String)> = lines
        .iter()
        .map(|line| {
            (
                line["channel"].as_str().unwrap().to_string(),
                line["phase"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let count = |channel: &str, phase: &str| {
        summary
            .iter()
            .filter(|(c, p)| c == channel && p == phase)
            .count()
    };
    assert_eq!(count("quiet", "problem"), 1);
    assert_eq!(count("quiet", "resolved"), 0);
    assert_eq!(count("chatty", "problem"), 2);
    assert_eq!(
        count("chatty", "resolved"),
        1,
        "only Jill's rule sends resolved"
    );
    running.shutdown().await;
}

/// The console channel alone (`stdout`, resolved sent), events grouped
/// for `window`.
async fn console_with_window(window: Duration) -> Running {
    let settings = NotifySettings {
        group_window: window,
        ..fast_settings()
    };
    Running::start(
        &[console_channel("stdout", true)],
        None,
        settings,
        &HashMap::new(),
    )
    .await
}

#[tokio::test(start_paused = true)]
async fn messages_keep_the_order_of_what_happened_within_a_window() {
    let running = console_with_window(Duration::from_secs(30)).await;
    // Ann's alert ends: a resolved group opens (sent at 30 s).
    let ann = firing(Some(person("1", "Ann Lee", "A", "Wifi")), &["stdout"]);
    running.handle.send(resolved(&ann));
    tokio::time::sleep(Duration::from_secs(10)).await;
    // Bob's alert fires and clears within the window (a burst of samples
    // after a pause).
    let mut bob = firing(Some(person("2", "Bob Ray", "B", "Wifi")), &["stdout"]);
    bob.key = qoswatch_core::alert::AlertKey::in_account(
        &Default::default(),
        "audio-latency",
        "m==",
        Some("2"),
    );
    running.handle.send(bob.clone());
    running.handle.send(resolved(&bob));
    // Bob fires again before the window ends: he must end up shown firing.
    running.handle.send(bob.clone());
    tokio::time::sleep(Duration::from_secs(21)).await;
    let lines = running.console.json_lines();
    let phases: Vec<&str> = lines.iter().map(|l| l["phase"].as_str().unwrap()).collect();
    assert_eq!(
        phases,
        ["resolved", "problem", "resolved", "problem"],
        "{lines:#?}"
    );
    assert!(lines[1].to_string().contains("Bob Ray"));
    assert!(lines[2].to_string().contains("Bob Ray"));
    assert!(lines[3].to_string().contains("Bob Ray"));
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn grouping_window_collects_one_meeting_and_zero_disables_it() {
    let running = console_with_window(Duration::from_secs(30)).await;
    let mut other_meeting = firing(Some(jill()), &["stdout"]);
    other_meeting.meeting.uuid = "other==".into();
    other_meeting.meeting.topic = Some("Board meeting".into());

    running.handle.send(firing(
        Some(person("1", "Ann Lee", "A", "Wifi")),
        &["stdout"],
    ));
    running.handle.send(other_meeting);
    tokio::time::sleep(Duration::from_secs(10)).await;
    running.handle.send(firing(
        Some(person("2", "Bob Ray", "B", "Wifi")),
        &["stdout"],
    ));
    tokio::time::sleep(Duration::from_secs(19)).await;
    assert_eq!(running.console.text(), "", "nothing before the window ends");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let lines = running.console.json_lines();
    assert_eq!(lines.len(), 2, "one message per meeting");
    let weekly = lines
        .iter()
        .find(|line| line["meeting"]["topic"] == "Weekly sync")
        .unwrap();
    assert_eq!(weekly["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(weekly["shared_cause"]["kind"], "network_type");
    assert_eq!(weekly["shared_cause"]["value"], "Wifi");
    // A new event after the window starts a new group.
    running.handle.send(firing(Some(jill()), &["stdout"]));
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(running.console.json_lines().len(), 3);
    running.shutdown().await;

    let running = Running::start(
        &[console_channel("stdout", true)],
        None,
        fast_settings(),
        &HashMap::new(),
    )
    .await;
    for id in ["1", "2", "3"] {
        running.handle.send(firing(
            Some(person(id, "Someone", "A", "Wifi")),
            &["stdout"],
        ));
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(
        running.console.json_lines().len(),
        3,
        "window 0 = no grouping"
    );
    running.shutdown().await;
}

/// Two accounts may have the same meeting UUID (issue 27): their alerts
/// on one channel in one window are two messages, each under its own
/// account's meeting.
#[tokio::test(start_paused = true)]
async fn grouping_window_keeps_two_accounts_meetings_of_one_uuid_apart() {
    let running = console_with_window(Duration::from_secs(30)).await;
    let acme = firing(Some(person("1", "Ann Acme", "A", "Wifi")), &["stdout"]);
    let mut globex = firing(Some(person("1", "Gus Globex", "B", "Wifi")), &["stdout"]);
    globex.meeting.account = qoswatch_core::alert::Account::new("globex");
    globex.meeting.topic = Some("Globex weekly".into());
    globex.key = AlertKey::new("high-audio-latency", &globex.meeting, Some("1"));
    assert_eq!(acme.meeting.uuid, globex.meeting.uuid);
    running.handle.send(acme);
    running.handle.send(globex);
    tokio::time::sleep(Duration::from_secs(31)).await;
    let lines = running.console.json_lines();
    let mut seen: Vec<(String, Vec<String>)> = lines
        .iter()
        .map(|line| {
            let topic = line["meeting"]["topic"].as_str().unwrap_or_default();
            let names = line["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["participant"]["name"].as_str().unwrap_or_default().into())
                .collect();
            (topic.to_owned(), names)
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("Globex weekly".to_owned(), vec!["Gus Globex".to_owned()]),
            ("Weekly sync".to_owned(), vec!["Ann Acme".to_owned()]),
        ],
        "one message per account's meeting: {lines:#?}"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn reconfigure_adds_channels_and_keeps_working() {
    let running = Running::start(
        &[console_channel("a", true)],
        None,
        fast_settings(),
        &HashMap::new(),
    )
    .await;
    running.handle.send(firing(Some(jill()), &["b"]));
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    assert_eq!(running.counter("unknown_channel_total"), 1);
    running
        .handle
        .reconfigure(
            &[console_channel("a", true), console_channel("b", true)],
            &|_| None,
        )
        .unwrap();
    let error = running
        .handle
        .reconfigure(&[slack_channel("s", "SLACK_NEW", false, true)], &|_| None)
        .unwrap_err();
    assert!(error.to_string().contains("SLACK_NEW"));
    running.handle.send(firing(Some(jill()), &["b"]));
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    let lines = running.console.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["channel"], "b");
    running.shutdown().await;
}

#[tokio::test]
async fn start_rejects_missing_secrets_and_smtp_with_clear_errors() {
    let store = Store::in_memory(&mut Registry::default())
        .await
        .expect("store");
    let start = |channels: &[Channel], env: &HashMap<String, String>| {
        Dispatcher::start(
            DispatcherSetup {
                channels,
                smtp: None,
                settings: NotifySettings::default(),
                env: &|name| env.get(name).cloned(),
                console: Box::new(std::io::sink()),
                store: store.clone(),
                restored: Restored::default(),
            },
            &mut Registry::default(),
            &TaskTracker::new(),
            CancellationToken::new(),
        )
    };
    let error = start(
        &[slack_channel("ops", "SLACK_OPS_URL", false, true)],
        &HashMap::new(),
    )
    .unwrap_err();
    assert!(matches!(error, NotifyError::MissingSecretEnv { .. }));
    assert!(error.to_string().contains("SLACK_OPS_URL"));
    assert!(error.to_string().contains("ops"));

    let secret = "https//hooks.slack.com/services/T0/B0/not-a-url-SECRET";
    let error = start(
        &[slack_channel("ops", "SLACK_OPS_URL", false, true)],
        &env(&[("SLACK_OPS_URL", secret.to_string())]),
    )
    .unwrap_err();
    assert!(error.to_string().contains("SLACK_OPS_URL"));
    assert!(!error.to_string().contains("SECRET"));

    let error = start(&[email_channel("mail")], &HashMap::new()).unwrap_err();
    assert!(matches!(error, NotifyError::MissingSmtp { .. }));
    assert!(error.to_string().contains("mail"));
}

// ---------------------------------------------------------------- e-mail

fn smtp_settings(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::None,
        username: None,
        password: None,
        from: "qoswatch <qoswatch@alerts.example.org>".into(),
        timeout: Duration::from_secs(5),
    }
}

/// A header of a mail received by mailcrab, looked up case-insensitively.
fn header(mail: &Value, name: &str) -> String {
    mail["headers"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str().unwrap().trim().to_string())
        .unwrap_or_else(|| panic!("no {name} header in {mail}"))
}

#[tokio::test]
async fn email_is_delivered_once_the_smtp_server_comes_up_and_threads() {
    let port = qoswatch_testkit::free_port();
    let settings = NotifySettings {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(300),
        ..fast_settings()
    };
    let running = Running::start(
        &[email_channel("mail")],
        Some(smtp_settings(port)),
        settings,
        &HashMap::new(),
    )
    .await;
    let event = firing(Some(jill()), &["mail"]);
    running.handle.send(event.clone());
    // The relay is down: the first attempt fails and is scheduled again.
    wait_until(Duration::from_secs(10), "a failed SMTP attempt", || {
        running.counter("messages_retried_total{kind=\"email\"}") >= 1
    })
    .await;
    assert_eq!(running.counter("messages_sent_total{kind=\"email\"}"), 0);

    let mut server = mailcrab::development_mail_server([127, 0, 0, 1], port).await;
    let first = tokio::time::timeout(Duration::from_secs(10), server.rx.recv())
        .await
        .expect("firing mail arrives")
        .unwrap();
    running.handle.send(resolved(&event));
    let second = tokio::time::timeout(Duration::from_secs(10), server.rx.recv())
        .await
        .expect("resolved mail arrives")
        .unwrap();
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    assert_eq!(running.counter("messages_sent_total{kind=\"email\"}"), 2);

    let first = serde_json::to_value(&first).unwrap();
    let second = serde_json::to_value(&second).unwrap();
    assert_eq!(
        first["subject"],
        "[FIRING] High audio latency — Jill Chill — Weekly sync"
    );
    assert_eq!(
        second["subject"],
        "[RESOLVED] High audio latency — Jill Chill — Weekly sync"
    );
    for mail in [&first, &second] {
        assert!(mail["text"].as_str().unwrap().contains("Jill Chill"));
        assert!(mail["html"].as_str().unwrap().contains("<table>"));
        assert!(
            mail["html"]
                .as_str()
                .unwrap()
                .contains("audio-latency?a=1&amp;b=2"),
            "HTML escapes the runbook URL"
        );
        assert!(!mail["text"].as_str().unwrap().contains("jill.chill@"));
        assert_eq!(header(mail, "Auto-Submitted"), "auto-generated");
        assert!(header(mail, "Content-Type").starts_with("multipart/alternative"));
    }
    let root = header(&first, "Message-ID");
    assert!(root.ends_with("@qoswatch.alerts.example.org>"), "{root}");
    assert_ne!(header(&second, "Message-ID"), root);
    assert_eq!(header(&second, "In-Reply-To"), root);
    assert_eq!(header(&second, "References"), root);
    assert_eq!(first["envelope_recipients"][0], "it-oncall@example.com");
    server.token.cancel();
    running.shutdown().await;
}

// ---------------------------------------------------------------- logs

#[tokio::test]
async fn logs_never_carry_webhook_urls_passwords_or_participant_emails() {
    let logs = Buffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut slack = FakeSlack::start(vec![Reply::status(404, "channel_not_found")]).await;
    let env = env(&[("SLACK_URL", slack.url("T0SECRETHOOK"))]);
    let closed_port = qoswatch_testkit::free_port();
    let smtp = SmtpSettings {
        username: Some("qoswatch".into()),
        password: Some("hunter2-smtp-password".to_string().into()),
        ..smtp_settings(closed_port)
    };
    let settings = NotifySettings {
        max_attempts: 2,
        ..fast_settings()
    };
    let running = Running::start(
        &[
            slack_channel("ops", "SLACK_URL", true, true),
            email_channel("mail"),
        ],
        Some(smtp),
        settings,
        &env,
    )
    .await;
    let event = firing(Some(jill()), &["ops", "mail", "undefined"]);
    running.handle.send(event.clone());
    slack.next().await;
    running.handle.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(running.counter("messages_failed_total{kind=\"slack\"}"), 1);
    assert_eq!(running.counter("messages_failed_total{kind=\"email\"}"), 1);
    running.shutdown().await;

    let text = logs.text();
    assert!(text.contains(event.key.as_str()), "logs name the alert key");
    assert!(text.contains("channel_not_found"));
    assert!(text.contains("retries exhausted"));
    for secret in [
        "T0SECRETHOOK",
        "hunter2-smtp-password",
        "jill.chill@example.com",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into logs:\n{text}");
    }
}

// ---------------------------------------------------------------- snapshots

fn grouped_notification() -> Notification {
    Notification::new(vec![
        firing(Some(person("1", "Ann Lee", "Berlin office", "Wired")), &[]),
        firing(Some(person("2", "Bob Ray", "Berlin office", "Wifi")), &[]),
        firing(Some(person("3", "Cy Dee", "Berlin office", "Wifi")), &[]),
    ])
    .unwrap()
}

#[test]
fn snapshot_slack_firing() {
    let notification = Notification::new(vec![firing(Some(jill()), &[])]).unwrap();
    insta::assert_json_snapshot!(notify::slack::render(&notification, true));
}

#[test]
fn snapshot_slack_resolved() {
    let notification = Notification::new(vec![resolved(&firing(Some(jill()), &[]))]).unwrap();
    insta::assert_json_snapshot!(notify::slack::render(&notification, false));
}

#[test]
fn snapshot_slack_grouped() {
    insta::assert_json_snapshot!(notify::slack::render(&grouped_notification(), false));
}

#[test]
fn snapshot_slack_meeting_level() {
    let notification = Notification::new(vec![zoom_meeting_alert(&[])]).unwrap();
    insta::assert_json_snapshot!(notify::slack::render(&notification, false));
}

#[test]
fn snapshot_email_firing_bodies() {
    let mut event = firing(Some(jill()), &[]);
    event.summary = "High <b>audio</b> latency & \"jitter\"".into();
    let notification = Notification::new(vec![event]).unwrap();
    insta::assert_snapshot!(
        "email_firing_text",
        notify::email::render_text(&notification, true)
    );
    insta::assert_snapshot!(
        "email_firing_html",
        notify::email::render_html(&notification, true)
    );
}

#[test]
fn snapshot_email_grouped_firing_text() {
    insta::assert_snapshot!(
        "email_grouped_firing_text",
        notify::email::render_text(&grouped_notification(), false)
    );
}

#[test]
fn snapshot_email_grouped_resolved_bodies() {
    let events = grouped_notification()
        .events
        .iter()
        .map(resolved)
        .collect::<Vec<_>>();
    let notification = Notification::new(events).unwrap();
    insta::assert_snapshot!(
        "email_resolved_text",
        notify::email::render_text(&notification, false)
    );
    insta::assert_snapshot!(
        "email_resolved_html",
        notify::email::render_html(&notification, false)
    );
}

#[test]
fn slack_payload_stays_within_block_kit_limits() {
    let long = "é".repeat(5000);
    let mut events = Vec::new();
    for index in 0..80 {
        let mut participant = person(&index.to_string(), &long, &long, &long);
        participant.email = Some(format!("{long}@example.com"));
        let mut event = firing(Some(participant), &[]);
        event.summary = long.clone();
        event.value = Some(long.clone());
        event.key = AlertKey::in_account(&Default::default(), "r", "m", Some(&index.to_string()));
        events.push(event);
    }
    for notification in [
        Notification::new(events.clone()).unwrap(),
        Notification::new(vec![events[0].clone()]).unwrap(),
    ] {
        let payload = notify::slack::render(&notification, true);
        let blocks = payload["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50, "{} blocks", blocks.len());
        for block in blocks {
            match block["type"].as_str().unwrap() {
                "header" => {
                    assert!(block["text"]["text"].as_str().unwrap().chars().count() <= 150)
                }
                "section" => {
                    if let Some(text) = block["text"]["text"].as_str() {
                        assert!(text.chars().count() <= 3000);
                    }
                    if let Some(fields) = block["fields"].as_array() {
                        assert!(fields.len() <= 10);
                        for field in fields {
                            assert!(field["text"].as_str().unwrap().chars().count() <= 2000);
                        }
                    }
                }
                _ => {}
            }
        }
        assert!(payload["text"].as_str().unwrap().chars().count() <= 300);
    }
}
