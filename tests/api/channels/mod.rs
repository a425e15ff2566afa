//! The Teams, PagerDuty and signed-webhook channels over real sockets: the
//! dispatcher delivers to loopback receivers that check every payload
//! against the receiver's published format (`schemas.rs`), and answer 429
//! with `Retry-After`, 500 then success, or a permanent 400 as scripted.

mod alertmanager;
mod receiver;
mod schemas;

use std::collections::HashMap;
use std::time::Duration;

use qoswatch_core::alert::{AlertEvent, AlertStatus, Channel, ChannelSpec, Severity};
use serde_json::Value;

use super::notify::{Running, env, fast_settings, firing, jill, person, resolved};
use receiver::Receiver;

const ROUTING_KEY: &str = "R0UT1NGKEY0123456789abcdefghijkl";
/// A Standard Webhooks secret: `whsec_` and 32 random bytes in base64.
const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn teams() -> Channel {
    Channel {
        name: "teams".into(),
        spec: ChannelSpec::Teams {
            webhook_url_env: "TEAMS_URL".into(),
            show_email: false,
            send_resolved: true,
        },
    }
}

fn pagerduty() -> Channel {
    Channel {
        name: "pd".into(),
        spec: ChannelSpec::PagerDuty {
            routing_key_env: "PD_ROUTING_KEY".into(),
            url: None,
            show_email: false,
            send_resolved: true,
        },
    }
}

fn webhook() -> Channel {
    Channel {
        name: "hook".into(),
        spec: ChannelSpec::Webhook {
            url_env: "HOOK_URL".into(),
            secret_env: "HOOK_SECRET".into(),
            show_email: false,
            send_resolved: true,
        },
    }
}

/// The dispatcher with one channel whose URL is the receiver's.
async fn start(channel: Channel, receiver: &Receiver) -> Running {
    start_grouping(channel, receiver, Duration::ZERO).await
}

async fn start_grouping(channel: Channel, receiver: &Receiver, window: Duration) -> Running {
    let mut settings = fast_settings();
    settings.group_window = window;
    settings.page_url = Some("https://qoswatch.example.com/".into());
    let mut channel = channel;
    if let ChannelSpec::PagerDuty { url, .. } = &mut channel.spec {
        *url = Some(receiver.url.clone());
    }
    let vars: HashMap<String, String> = env(&[
        ("TEAMS_URL", receiver.url.clone()),
        ("PD_ROUTING_KEY", ROUTING_KEY.to_owned()),
        ("HOOK_URL", receiver.url.clone()),
        ("HOOK_SECRET", SECRET.to_owned()),
    ]);
    Running::start(&[channel], None, settings, &vars).await
}

fn counter(running: &Running, what: &str, kind: &str) -> u64 {
    running.counter(&format!("messages_{what}_total{{kind=\"{kind}\"}}"))
}

// ---------------------------------------------------------------- PagerDuty

#[tokio::test]
async fn pagerduty_triggers_reminds_and_resolves_one_incident_per_alert() {
    let mut pd = Receiver::start(202, vec![]).await;
    let running = start(pagerduty(), &pd).await;
    let event = firing(Some(jill()), &["pd"]);
    running.handle.send(event.clone());
    let trigger = pd.next().await;
    schemas::pagerduty_event(&trigger.body, ROUTING_KEY);
    assert_eq!(trigger.body["event_action"], "trigger");
    let payload = &trigger.body["payload"];
    assert_eq!(payload["severity"], "warning");
    assert_eq!(payload["source"], "qoswatch");
    assert_eq!(payload["component"], "Jill Chill");
    assert_eq!(payload["group"], "Weekly sync (id 1234567890)");
    assert_eq!(
        payload["summary"],
        "High audio latency — Jill Chill — Weekly sync (id 1234567890)"
    );
    assert_eq!(payload["custom_details"]["value"], "420 ms");
    assert_eq!(payload["custom_details"]["threshold"], "> 300 ms");
    assert_eq!(payload["custom_details"]["location"], "Amsterdam (NL)");
    assert!(!trigger.body.to_string().contains("jill.chill@example.com"));
    assert_eq!(
        trigger.body["links"][0]["href"],
        "https://qoswatch.example.com/"
    );

    // A reminder is another trigger of the same incident.
    let reminder = AlertEvent {
        status: AlertStatus::Repeat,
        at: event.at + chrono::Duration::minutes(15),
        ..event.clone()
    };
    running.handle.send(reminder);
    let again = pd.next().await;
    schemas::pagerduty_event(&again.body, ROUTING_KEY);
    assert_eq!(again.body["event_action"], "trigger");
    assert_eq!(again.body["dedup_key"], trigger.body["dedup_key"]);

    running.handle.send(resolved(&event));
    let resolve = pd.next().await;
    schemas::pagerduty_event(&resolve.body, ROUTING_KEY);
    assert_eq!(resolve.body["event_action"], "resolve");
    assert_eq!(resolve.body["dedup_key"], trigger.body["dedup_key"]);

    // Another participant is another incident.
    running.handle.send(firing(
        Some(person("2", "Ann Lee", "Berlin", "Wifi")),
        &["pd"],
    ));
    let other = pd.next().await;
    assert_ne!(other.body["dedup_key"], trigger.body["dedup_key"]);
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    pd.no_more();
    assert_eq!(counter(&running, "sent", "pagerduty"), 4);
    running.shutdown().await;
}

#[tokio::test]
async fn pagerduty_sends_each_alert_of_a_group_as_its_own_event() {
    let mut pd = Receiver::start(202, vec![]).await;
    let mut settings_channel = pagerduty();
    if let ChannelSpec::PagerDuty { show_email, .. } = &mut settings_channel.spec {
        *show_email = true;
    }
    let running = start_grouping(settings_channel, &pd, Duration::from_millis(300)).await;
    let people = [
        person("1", "Ann Lee", "Berlin office", "Wifi"),
        person("2", "Bob Ray", "Berlin office", "Wifi"),
    ];
    let mut events: Vec<AlertEvent> = people
        .iter()
        .map(|p| firing(Some(p.clone()), &["pd"]))
        .collect();
    events[1].severity = Severity::Critical;
    // With a group window both go out as one message.
    running.handle.send(events[0].clone());
    running.handle.send(events[1].clone());
    let mut keys = Vec::new();
    for _ in 0..2 {
        let request = pd.next().await;
        schemas::pagerduty_event(&request.body, ROUTING_KEY);
        keys.push(request.body["dedup_key"].as_str().unwrap().to_owned());
        assert!(
            request.body["payload"]["custom_details"]["email"]
                .as_str()
                .unwrap()
                .ends_with("@example.com")
        );
    }
    keys.dedup();
    assert_eq!(keys.len(), 2);
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    pd.no_more();
    // One message of two alerts.
    assert_eq!(counter(&running, "sent", "pagerduty"), 1);
    running.shutdown().await;
}

// ---------------------------------------------------------------- signed webhook

#[tokio::test]
async fn the_signed_webhook_verifies_with_standard_webhooks_and_keeps_its_id_across_retries() {
    let mut hook = Receiver::start(204, vec![(500, None)]).await;
    let running = start(webhook(), &hook).await;
    let event = firing(Some(jill()), &["hook"]);
    running.handle.send(event.clone());
    let first = hook.next().await;
    let retry = hook.next().await;
    for request in [&first, &retry] {
        let verdict = schemas::standard_webhooks_verify(
            SECRET,
            &request.header("webhook-id"),
            &request.header("webhook-timestamp"),
            &request.header("webhook-signature"),
            &request.raw,
        );
        assert_eq!(verdict, Ok(()));
        assert_eq!(request.header("content-type"), "application/json");
    }
    assert_eq!(first.header("webhook-id"), retry.header("webhook-id"));
    assert_eq!(first.raw, retry.raw);

    // The independent implementation refuses what was not signed.
    let mut tampered = first.raw.to_vec();
    tampered.extend_from_slice(b" ");
    let verdict = schemas::standard_webhooks_verify(
        SECRET,
        &first.header("webhook-id"),
        &first.header("webhook-timestamp"),
        &first.header("webhook-signature"),
        &tampered,
    );
    assert!(verdict.is_err());
    let verdict = schemas::standard_webhooks_verify(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        &first.header("webhook-id"),
        &first.header("webhook-timestamp"),
        &first.header("webhook-signature"),
        &first.raw,
    );
    assert!(verdict.is_err());

    // The documented body (docs/API.md, "Signed webhook").
    let body = &first.body;
    assert_eq!(body["type"], "qoswatch.alert.firing");
    assert_eq!(body["data"]["version"], 1);
    assert_eq!(body["data"]["status"], "FIRING");
    assert_eq!(body["data"]["page_url"], "https://qoswatch.example.com/");
    assert_eq!(body["data"]["meeting"]["uuid"], event.meeting.uuid);
    let alert = &body["data"]["alerts"][0];
    assert_eq!(alert["key"], event.key.as_str());
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["value"], "420 ms");
    assert_eq!(alert["participant"]["name"], "Jill Chill");
    assert_eq!(alert["participant"]["email"], Value::Null);

    running.handle.send(resolved(&event));
    let resolved = hook.next().await;
    assert_eq!(resolved.body["type"], "qoswatch.alert.resolved");
    assert_ne!(resolved.header("webhook-id"), first.header("webhook-id"));
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    hook.no_more();
    assert_eq!(counter(&running, "sent", "webhook"), 2);
    assert_eq!(counter(&running, "retried", "webhook"), 1);
    running.shutdown().await;
}

// ---------------------------------------------------------------- Teams

#[tokio::test]
async fn teams_gets_an_adaptive_card_with_the_facts_colour_and_runbook() {
    let mut teams_hook = Receiver::start(202, vec![]).await;
    let running = start(teams(), &teams_hook).await;
    let mut event = firing(Some(jill()), &["teams"]);
    event.severity = Severity::Critical;
    running.handle.send(event.clone());
    let request = teams_hook.next().await;
    schemas::teams_message(&request.raw, &request.body);
    let card = &request.body["attachments"][0]["content"];
    assert_eq!(card["body"][0]["color"], "Attention");
    assert_eq!(card["body"][0]["text"], "FIRING: High audio latency");
    let text = request.body.to_string();
    for fact in [
        "audio_input.latency",
        "420 ms",
        "> 300 ms",
        "2026-11-25 10:00 UTC",
        "Jill Chill",
        "Weekly sync (id 1234567890)",
        "Amsterdam (NL)",
        "Mac, Wifi",
    ] {
        assert!(text.contains(fact), "missing {fact} in {text}");
    }
    assert!(!text.contains("jill.chill@example.com"));
    assert_eq!(card["actions"][0]["title"], "Runbook");
    assert_eq!(
        card["actions"][0]["url"],
        "https://wiki.example.com/runbooks/audio-latency?a=1&b=2"
    );
    assert_eq!(card["actions"][1]["url"], "https://qoswatch.example.com/");

    running.handle.send(resolved(&event));
    let request = teams_hook.next().await;
    schemas::teams_message(&request.raw, &request.body);
    let card = &request.body["attachments"][0]["content"];
    assert_eq!(card["body"][0]["color"], "Good");
    assert!(request.body.to_string().contains("6 min 20 s"));
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    running.shutdown().await;
}

#[tokio::test]
async fn a_big_teams_group_stays_under_28_kb_and_counts_what_it_leaves_out() {
    let mut teams_hook = Receiver::start(202, vec![]).await;
    let mut settings = fast_settings();
    settings.group_window = Duration::from_millis(300);
    let vars = env(&[("TEAMS_URL", teams_hook.url.clone())]);
    let running = Running::start(&[teams()], None, settings, &vars).await;
    for n in 0..120 {
        let mut event = firing(
            Some(person(
                &n.to_string(),
                &format!("Person {n} {}", "x".repeat(40)),
                "Berlin office",
                "Wifi",
            )),
            &["teams"],
        );
        event.summary = format!("High audio latency {}", "y".repeat(150));
        running.handle.send(event);
    }
    let request = teams_hook.next().await;
    schemas::teams_message(&request.raw, &request.body);
    let text = request.body.to_string();
    assert!(text.contains("more alerts in this meeting"), "{text}");
    assert!(text.contains("Person 0 "));
    running.handle.drain(Duration::from_secs(5)).await.unwrap();
    teams_hook.no_more();
    running.shutdown().await;
}

// ---------------------------------------------------------------- failures, every kind

/// 429 with `Retry-After: 2` waits at least that long (longer than Teams'
/// pacing and the back-off), 500 then success is
/// delivered once, 400 is given up on at once: the same for each kind.
#[tokio::test]
async fn each_http_kind_honours_retry_after_retries_500_and_gives_up_on_400() {
    for (channel, kind, success) in [
        (teams(), "teams", 202),
        (pagerduty(), "pagerduty", 202),
        (webhook(), "webhook", 200),
    ] {
        let mut receiver = Receiver::start(success, vec![(429, Some(2))]).await;
        let running = start(channel.clone(), &receiver).await;
        let name = channel.name.as_str();
        running.handle.send(firing(Some(jill()), &[name]));
        let first = receiver.next().await;
        let second = receiver.next().await;
        let gap = second.arrived - first.arrived;
        assert!(
            gap >= Duration::from_secs(2),
            "{kind}: retried after {gap:?}"
        );
        assert_eq!(second.answered, success);

        receiver.script([(500, None)]);
        running.handle.send(firing(
            Some(person("2", "Ann Lee", "Berlin", "Wifi")),
            &[name],
        ));
        assert_eq!(receiver.next().await.answered, 500);
        assert_eq!(receiver.next().await.answered, success);

        receiver.script([(400, None)]);
        running.handle.send(firing(
            Some(person("3", "Bob Ray", "Berlin", "Wifi")),
            &[name],
        ));
        assert_eq!(receiver.next().await.answered, 400);
        running.handle.drain(Duration::from_secs(5)).await.unwrap();
        receiver.no_more();
        assert_eq!(counter(&running, "sent", kind), 2, "{kind}");
        assert_eq!(counter(&running, "retried", kind), 2, "{kind}");
        assert_eq!(counter(&running, "failed", kind), 1, "{kind}");
        running.shutdown().await;
    }
}
