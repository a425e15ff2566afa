//! The admin listener: the status API through the router and over HTTP,
//! the admin token, what the public listener no longer serves, and
//! silences against a loopback Slack receiver.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use qoswatch::startup::Extras;
use qoswatch_zoomsim::{Degradation, ParticipantSpec, SimConfig, Target};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::*;
use qoswatch_testkit::FakeSlack;

const MEETING: &str = "5555AAAiAAAAAiAiAiiAii==";
const JILL: &str = "16778240";
const BOB: &str = "16778999";

fn silence(matchers: Value, duration: &str) -> Value {
    json!({
        "matchers": matchers,
        "duration": duration,
        "createdBy": "ana",
        "comment": "Berlin link being fixed",
    })
}

fn error_of(body: &Value) -> String {
    body["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn silences_api_creates_lists_removes_and_refuses_bad_requests() {
    let app = spawn_app().await;

    let (status, body) = app.admin("GET", "/api/v1/silences", None).await;
    assert_eq!((status, body), (200, json!([])));

    let (status, created) = app
        .admin(
            "POST",
            "/api/v1/silences",
            Some(silence(
                json!([{ "name": "location", "value": "Berlin.*", "isRegex": true },
                       { "name": "severity", "value": "warning" }]),
                "2h",
            )),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["state"], "active");
    assert_eq!(created["createdBy"], "ana");
    assert_eq!(created["matchers"][0]["isRegex"], true);
    let length = chrono::DateTime::parse_from_rfc3339(created["endsAt"].as_str().expect("end"))
        .expect("time")
        - chrono::DateTime::parse_from_rfc3339(created["startsAt"].as_str().expect("start"))
            .expect("time");
    assert_eq!(length, chrono::Duration::hours(2));

    // Each bad request gets 400 naming the problem, and changes nothing.
    let bad: Vec<(Value, &str)> = vec![
        (
            silence(
                json!([{ "name": "email", "value": "ana@example.com" }]),
                "1h",
            ),
            "matchers[0].name: unknown field `email`",
        ),
        (
            silence(json!([{ "name": "rule", "value": "x" }]), "-5m"),
            "duration: `-5m`",
        ),
        (
            silence(json!([{ "name": "rule", "value": "x" }]), "400d"),
            "duration: at most",
        ),
        (
            silence(json!([{ "name": "rule", "value": "x" }]), "0s"),
            "duration: must be at least 1s",
        ),
        (silence(json!([]), "1h"), "matchers: at least one"),
        (
            silence(
                json!([{ "name": "topic", "value": "(", "isRegex": true }]),
                "1h",
            ),
            "matchers[0].value: not a valid regular expression",
        ),
        (
            json!({ "matchers": [{ "name": "rule", "value": "x" }], "duration": "1h", "createdBy": "ana" }),
            "missing field `comment`",
        ),
        (
            json!({ "matchers": [{ "name": "rule", "value": "x" }], "duration": "1h", "createdBy": "ana", "comment": "c", "startsAt": "now" }),
            "unknown field `startsAt`",
        ),
        (
            json!({ "matchers": [{ "name": "rule", "value": "x", "isEqual": false }], "duration": "1h", "createdBy": "ana", "comment": "c" }),
            "unknown field `isEqual`",
        ),
        (
            json!({ "matchers": [{ "name": "rule", "value": "x" }], "duration": 3600, "createdBy": "ana", "comment": "c" }),
            "body: invalid type",
        ),
    ];
    for (body, expected) in bad {
        let (status, answer) = app
            .admin("POST", "/api/v1/silences", Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(
            error_of(&answer).contains(expected),
            "{body}: expected the message to contain {expected:?}, got {answer}"
        );
    }
    // Malformed JSON and another content type, over real HTTP.
    let malformed = app
        .http
        .post(app.admin_url("/api/v1/silences"))
        .header("content-type", "application/json")
        .body("{\"matchers\": [")
        .send()
        .await
        .expect("sent");
    assert_eq!(malformed.status(), 400);
    let message = error_of(&malformed.json().await.expect("json"));
    assert!(message.starts_with("body: EOF while parsing"), "{message}");
    let form = app
        .http
        .post(app.admin_url("/api/v1/silences"))
        .header("content-type", "text/plain")
        .body(silence(json!([{ "name": "rule", "value": "x" }]), "1h").to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(form.status(), 415, "no silence from a cross-site form post");

    // Unknown ids: 404 naming the id, for reading and for removing.
    let (status, answer) = app.admin("GET", "/api/v1/silences/0000dead", None).await;
    assert_eq!(status, 404);
    assert_eq!(error_of(&answer), "no silence with id `0000dead`");
    let (status, answer) = app.admin("DELETE", "/api/v1/silences/0000dead", None).await;
    assert_eq!(status, 404);
    assert_eq!(error_of(&answer), "no silence with id `0000dead`");

    // Through DNS rebinding, a page on the internet reaches the loopback
    // listener with its own name in Host: without a token, no change.
    let rebound = app
        .http
        .post(app.admin_url("/api/v1/silences"))
        .header(
            "host",
            format!("rebind.example:{}", app.admin_address.port()),
        )
        .json(&silence(json!([{ "name": "rule", "value": "x" }]), "1h"))
        .send()
        .await
        .expect("sent");
    assert_eq!(rebound.status(), 403);
    let local = app
        .http
        .delete(app.admin_url("/api/v1/silences/0000dead"))
        .header("host", format!("localhost:{}", app.admin_address.port()))
        .send()
        .await
        .expect("sent");
    assert_eq!(local.status(), 404, "localhost is fine");

    let (_, list) = app.admin("GET", "/api/v1/silences", None).await;
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "only the good one: {list}"
    );
    assert_eq!(
        list[0]["state"], "active",
        "the refused requests changed nothing"
    );

    let (status, removed) = app
        .admin("DELETE", &format!("/api/v1/silences/{id}"), None)
        .await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["state"], "expired");
    assert!(removed["removedAt"].is_string());
    let (status, read) = app
        .admin("GET", &format!("/api/v1/silences/{id}"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(read["state"], "expired", "kept for the history");

    app.shutdown.cancel();
}

#[tokio::test]
async fn alerts_filters_budget_page_and_unknown_endpoints() {
    let app = spawn_app().await;
    let (status, alerts) = app.admin("GET", "/api/v1/alerts", None).await;
    assert_eq!((status, alerts), (200, json!([])));
    for (query, expected) in [
        ("?active=maybe", "active: expected true or false"),
        ("?silenced=1", "silenced: expected true or false"),
        ("?receiver=slack", "unknown query parameter `receiver`"),
        (
            "?filter=ip%3D%221.2.3.4%22",
            "filter.name: unknown field `ip`",
        ),
        ("?filter=rule", "filter: `rule` is not"),
        (
            "?filter=topic%3D~%22(%22",
            "filter.value: not a valid regular expression",
        ),
    ] {
        let (status, answer) = app
            .admin("GET", &format!("/api/v1/alerts{query}"), None)
            .await;
        assert_eq!(status, 400, "{query}: {answer}");
        assert!(error_of(&answer).starts_with(expected), "{query}: {answer}");
    }
    let (status, _) = app
        .admin(
            "GET",
            "/api/v1/alerts?active=true&silenced=false&filter=rule%3D%22x%22",
            None,
        )
        .await;
    assert_eq!(status, 200);

    let (status, budget) = app.admin("GET", "/api/v1/budget", None).await;
    assert_eq!(status, 200);
    // test_settings: 50,000,000 a day, all of it ours; 50 a second.
    assert_eq!(budget["dailyLimit"], 50_000_000);
    assert_eq!(budget["allowanceToday"], 50_000_000);
    assert_eq!(budget["requestsPerSecond"], 50);
    assert!(budget["usedToday"].is_u64(), "{budget}");
    assert!(
        budget["forecastToday"]
            .as_u64()
            .is_some_and(|f| f <= 50_000_000),
        "{budget}"
    );
    assert!(
        budget["calmIntervalS"].as_f64().is_some_and(|s| s > 0.0),
        "{budget}"
    );
    assert!(
        budget["urgentIntervalS"].as_f64().is_some_and(|s| s > 0.0),
        "{budget}"
    );
    assert!(
        budget["zoomRemaining"].is_null(),
        "Zoom has not said: {budget}"
    );

    let (status, watches) = app.admin("GET", "/api/v1/watches", None).await;
    assert_eq!((status, watches), (200, json!([])));
    let (status, all) = app.admin("GET", "/api/v1/status", None).await;
    assert_eq!(status, 200);
    for key in [
        "meetings", "alerts", "history", "silences", "budget", "channels",
    ] {
        assert!(all.get(key).is_some(), "{key} in {all}");
    }

    let (status, answer) = app.admin("GET", "/api/v1/nothing", None).await;
    assert_eq!(status, 404);
    assert!(error_of(&answer).contains("docs/API.md"));

    let page = app.http.get(app.admin_url("/")).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("default-src 'self'")
    );
    let html = page.text().await.expect("html");
    assert!(
        html.contains("/static/app.js") && !html.contains("https://"),
        "no CDN"
    );
    for asset in ["/static/app.js", "/static/style.css"] {
        let answer = app
            .http
            .get(app.admin_url(asset))
            .send()
            .await
            .expect("asset");
        assert_eq!(answer.status(), 200, "{asset}");
    }
    app.shutdown.cancel();
}

#[tokio::test]
async fn the_live_feed_sends_the_status_at_once() {
    let app = spawn_app().await;
    let mut feed = app
        .http
        .get(app.admin_url("/api/v1/status/stream"))
        .send()
        .await
        .expect("stream");
    assert_eq!(feed.status(), 200);
    assert!(
        feed.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/event-stream")
    );
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), feed.chunk())
            .await
            .expect("the first event comes at once")
            .expect("chunk")
            .expect("not the end");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.starts_with("event: status\ndata: {"), "{text}");
    assert!(text.contains("\"meetings\":[]"), "{text}");
    // The stream ends at shutdown: the server stops within its grace.
    app.shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(5), app.server)
        .await
        .expect("stopped in time");
    assert!(stopped.expect("joined").is_ok());
}

#[tokio::test]
async fn the_admin_listener_refuses_requests_without_the_token() {
    let app = spawn_app_with(SimConfig::default(), |settings| {
        settings.secrets.admin_token = Some(SecretString::from("adm1n-T0ken"));
    })
    .await;
    for path in ["/", "/api/v1/status", "/api/v1/silences", "/metrics"] {
        let answer = app
            .http
            .get(app.admin_url(path))
            .send()
            .await
            .expect("sent");
        assert_eq!(answer.status(), 401, "{path}");
        assert!(
            answer.headers()["www-authenticate"]
                .to_str()
                .expect("challenge")
                .starts_with("Basic"),
            "{path}"
        );
        let wrong = app
            .http
            .get(app.admin_url(path))
            .bearer_auth("adm1n-T0ke")
            .send()
            .await
            .expect("sent");
        assert_eq!(wrong.status(), 401, "{path} with a wrong token");
        let bearer = app
            .http
            .get(app.admin_url(path))
            .bearer_auth("adm1n-T0ken")
            .send()
            .await
            .expect("sent");
        assert_eq!(bearer.status(), 200, "{path} with the token");
        let basic = app
            .http
            .get(app.admin_url(path))
            .basic_auth("it-oncall", Some("adm1n-T0ken"))
            .send()
            .await
            .expect("sent");
        assert_eq!(basic.status(), 200, "{path} with basic auth");
    }
    let refused = app
        .http
        .post(app.admin_url("/api/v1/silences"))
        .json(&silence(json!([{ "name": "rule", "value": "x" }]), "1h"))
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), 401);
    // With a token, a name in Host is fine (a reverse proxy's).
    let named = app
        .http
        .post(app.admin_url("/api/v1/silences"))
        .header("host", "qoswatch.example.org")
        .bearer_auth("adm1n-T0ken")
        .json(&silence(json!([{ "name": "rule", "value": "x" }]), "1h"))
        .send()
        .await
        .expect("sent");
    assert_eq!(named.status(), 201);
    let (status, answer) = app.admin("GET", "/api/v1/silences", None).await;
    assert_eq!(status, 401, "the router itself refuses: {answer}");
    assert!(error_of(&answer).contains("admin token"), "{answer}");
    // Probes stay open.
    for path in ["/healthz", "/readyz"] {
        let answer = app
            .http
            .get(app.admin_url(path))
            .send()
            .await
            .expect("sent");
        assert_eq!(answer.status(), 200, "{path}");
    }
    app.shutdown.cancel();
}

#[tokio::test]
async fn the_public_listener_serves_webhooks_and_legacy_endpoints_only() {
    // This release: /metrics and the probes still answer there, marked deprecated.
    let app = spawn_app().await;
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent");
    assert_eq!(metrics.status(), 200);
    assert_eq!(metrics.headers()["deprecation"], "true");
    for path in ["/", "/api/v1/status", "/api/v1/silences", "/static/app.js"] {
        let answer = app.http.get(app.url(path)).send().await.expect("sent");
        assert_eq!(answer.status(), 404, "{path} on the public listener");
    }
    app.shutdown.cancel();

    // Next release's default: webhooks only.
    let app = spawn_app_with(SimConfig::default(), |settings| {
        settings.server.legacy_public_endpoints = false;
    })
    .await;
    for path in [
        "/metrics",
        "/healthz",
        "/readyz",
        "/api/v1/status",
        "/api/v1/alerts",
    ] {
        let answer = app.http.get(app.url(path)).send().await.expect("sent");
        assert_eq!(answer.status(), 404, "{path} on the public listener");
    }
    let on_admin = app
        .http
        .get(app.admin_url("/metrics"))
        .send()
        .await
        .expect("sent");
    assert_eq!(on_admin.status(), 200);
    assert!(on_admin.headers().get("deprecation").is_none());
    let webhook = app
        .post_webhook(&joined_body(MEETING, JILL, "Jill Chill"))
        .await;
    assert_eq!(webhook.status(), 200, "webhooks still arrive");
    app.shutdown.cancel();
}

/// A silence on Jill stops the FIRING that would reach Slack; the alert is
/// still listed as firing (and silenced). When the silence ends while her
/// audio is still bad, exactly one message goes out.
#[tokio::test]
async fn a_silence_stops_the_slack_message_and_its_end_sends_one() {
    let mut slack = FakeSlack::start(Vec::new()).await;
    let rules = rules_file("status-silence", SLACK_LATENCY_RULES);
    let env: HashMap<String, String> = HashMap::from([(
        "QOSWATCH_TEST_SLACK_URL".to_owned(),
        slack.url("T000/B000/silence"),
    )]);
    let extras = Extras {
        env: Arc::new(move |name: &str| env.get(name).cloned()),
        ..Extras::default()
    };
    let app = spawn_app_with_extras(
        SimConfig::default(),
        |settings| {
            settings.rules.file = Some(rules.clone());
            settings.alerts.dispatch.group_window = Duration::ZERO;
            settings.alerts.dispatch.slack_min_interval = Duration::from_millis(10);
        },
        extras,
    )
    .await;
    let (status, created) = app
        .admin(
            "POST",
            "/api/v1/silences",
            Some(silence(
                json!([{ "name": "participant", "value": "Jill Chill" },
                       { "name": "rule", "value": "audio-.*", "isRegex": true }]),
                "10s",
            )),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();

    app.start_meeting(MEETING, "Weekly sync");
    // Jill's audio is bad from her third sample on, for good; Bob's is fine.
    app.sim
        .add_degradation(Degradation::bad_wifi(Target::participant(JILL), 2..100_000));
    for (user, name) in [(JILL, "Jill Chill"), (BOB, "Bob Fine")] {
        app.sim
            .add_participant(MEETING, ParticipantSpec::new(user, name))
            .expect("participant");
        let response = app.post_webhook(&joined_body(MEETING, user, name)).await;
        assert_eq!(response.status(), 200);
    }

    // Tracked and shown as firing, silenced by our silence...
    let mut firing = Value::Null;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < deadline {
        let (_, alerts) = app.admin("GET", "/api/v1/alerts?silenced=true", None).await;
        if alerts.as_array().is_some_and(|a| !a.is_empty()) {
            firing = alerts;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(firing[0]["participant"]["name"], "Jill Chill", "{firing}");
    assert_eq!(firing[0]["silencedBy"], json!([id]), "{firing}");
    assert!(firing[0]["participant"].get("email").is_none());
    let (_, active) = app
        .admin("GET", "/api/v1/alerts?silenced=false", None)
        .await;
    assert_eq!(active, json!([]), "not among the unsilenced");
    let (_, watches) = app.admin("GET", "/api/v1/watches", None).await;
    let jill = watches[0]["participants"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["id"] == JILL))
        .cloned()
        .expect("Jill is listed");
    assert!(jill["worst"].is_string(), "{jill}");
    assert!(
        jill["latest"]["latencyMs"].as_f64().expect("latency") > 150.0,
        "{jill}"
    );
    // ...and nothing went to Slack.
    let dispatch = app.dispatch.clone().expect("dispatcher");
    dispatch
        .drain(Duration::from_secs(5))
        .await
        .expect("drained");
    slack.no_more();
    assert!(
        app.metric("qoswatch_notify_silenced_total")
            .await
            .unwrap_or(0.0)
            >= 1.0
    );

    // The silence ends (10 s after it began) on a still-firing alert: one message.
    let message = slack.next().await;
    let text = message.body["text"].as_str().unwrap_or_default().to_owned();
    assert!(text.contains("Jill Chill"), "{text}");
    assert!(text.contains("silence ended"), "{text}");
    dispatch
        .drain(Duration::from_secs(5))
        .await
        .expect("drained");
    slack.no_more();
    let (_, alerts) = app
        .admin("GET", "/api/v1/alerts?silenced=false", None)
        .await;
    assert_eq!(alerts[0]["participant"]["name"], "Jill Chill", "{alerts}");
    let (_, history) = app.admin("GET", "/api/v1/history", None).await;
    assert!(
        history.as_array().is_some_and(|h| h
            .iter()
            .any(|t| t["silenced"] == true && t["status"] == "firing")),
        "{history}"
    );
    app.shutdown.cancel();
}
