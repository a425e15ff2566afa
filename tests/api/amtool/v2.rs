//! qoswatch's Alertmanager API v2 with Debian's `amtool`, unchanged,
//! against the real server: alerts listed, silences added, listed, updated
//! and expired, and what each does to the messages Slack gets. The shapes
//! and refusals over HTTP.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use qoswatch::startup::Extras;
use qoswatch_testkit::{FakeSlack, wait_for};
use qoswatch_zoomsim::{Degradation, ParticipantSpec, SimConfig, Target};
use serde_json::{Value, json};

use super::{alert_query, amtool, amtool_output};
use crate::helpers::*;

const MEETING: &str = "6666AAAiAAAAAiAiAiiAii==";
const JILL: &str = "16778240";
const BEN: &str = "16778555";

async fn app_with_slack(name: &str) -> (TestApp, FakeSlack) {
    let slack = FakeSlack::start(Vec::new()).await;
    let rules = rules_file(name, SLACK_LATENCY_RULES);
    let env: HashMap<String, String> = HashMap::from([(
        "QOSWATCH_TEST_SLACK_URL".to_owned(),
        slack.url("T000/B000/amtool"),
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
    (app, slack)
}

fn participant(alert: &Value) -> &str {
    alert["labels"]["participant"].as_str().unwrap_or_default()
}

/// `amtool silence query -q [flags]`: the ids, one a line.
fn silence_ids(url: &str, flags: &[&str]) -> Vec<String> {
    let mut args = vec!["silence", "query", "-q"];
    args.extend_from_slice(flags);
    amtool(url, &args)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_lists_alerts_and_its_silences_hold_update_and_release_messages() {
    let (app, mut slack) = app_with_slack("amtool").await;
    let url = format!("http://{}", app.admin_address);

    // A silence for Ben before his audio goes bad.
    let id = amtool(
        &url,
        &[
            "silence",
            "add",
            "participant=Ben Wifi",
            "-a",
            "it",
            "-c",
            "wifi",
            "-d",
            "1h",
        ],
    )
    .trim()
    .to_owned();
    uuid::Uuid::parse_str(&id).unwrap_or_else(|_| panic!("a UUID: {id}"));

    app.start_meeting(MEETING, "Weekly sync");
    for (user, name) in [(JILL, "Jill Chill"), (BEN, "Ben Wifi")] {
        app.sim
            .add_degradation(Degradation::bad_wifi(Target::participant(user), 2..100_000));
        app.sim
            .add_participant(MEETING, ParticipantSpec::new(user, name))
            .expect("participant");
        assert_eq!(
            app.post_webhook(&joined_body(MEETING, user, name))
                .await
                .status(),
            200
        );
    }

    // `alert query` (active alerts only) lists Jill's, not the silenced Ben's.
    let mut active = Vec::new();
    wait_for("Jill's alert in amtool", Duration::from_secs(20), || {
        active = alert_query(&url, &[]);
        !active.is_empty()
    })
    .await;
    let mut silenced = Vec::new();
    wait_for(
        "Ben's silenced alert in amtool",
        Duration::from_secs(20),
        || {
            silenced = alert_query(&url, &["--silenced", "participant=Ben Wifi"]);
            !silenced.is_empty()
        },
    )
    .await;
    let active = alert_query(&url, &[]);
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(participant(&active[0]), "Jill Chill");
    assert_eq!(active[0]["labels"]["alertname"], "audio-latency");
    assert_eq!(active[0]["labels"]["topic"], "Weekly sync");
    assert_eq!(active[0]["status"]["state"], "active");
    assert_eq!(active[0]["receivers"][0]["name"], "it-slack");
    assert_eq!(silenced[0]["status"]["state"], "suppressed");
    assert_eq!(silenced[0]["status"]["silencedBy"], json!([id]));
    let simple = amtool(&url, &["alert", "query", "audio-latency"]);
    assert!(
        simple.contains("audio-latency") && simple.contains("has"),
        "{simple}"
    );

    // Slack got Jill's FIRING and nothing about Ben.
    let dispatch = app.dispatch.clone().expect("dispatcher");
    let first = slack.next().await;
    assert!(first.text.contains("Jill Chill"), "{}", first.text);
    dispatch
        .drain(Duration::from_secs(5))
        .await
        .expect("drained");
    slack.no_more();

    // `silence query` lists it; it is qoswatch's own silence (one store).
    let listed: Vec<Value> =
        serde_json::from_str(&amtool(&url, &["silence", "query", "-o", "json"])).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["createdBy"], "it");
    assert_eq!(
        listed[0]["matchers"],
        json!([{ "name": "participant", "value": "Ben Wifi", "isRegex": false, "isEqual": true }])
    );
    let (_, v1) = app.admin("GET", "/api/v1/silences", None).await;
    assert_eq!(v1[0]["id"], id.as_str(), "{v1}");

    // `silence update` replaces it; Ben stays silent through it.
    // (amtool 0.25 prints a pointer for `update -q`: read the id back.)
    amtool(
        &url,
        &["silence", "update", &id, "-c", "still wifi", "-d", "2h"],
    );
    let now_active = silence_ids(&url, &[]);
    assert_eq!(now_active.len(), 1, "{now_active:?}");
    let updated = now_active[0].clone();
    assert_ne!(updated, id);
    uuid::Uuid::parse_str(&updated).unwrap_or_else(|_| panic!("a UUID: {updated}"));
    let (_, replaced) = app
        .admin("GET", &format!("/api/v2/silence/{updated}"), None)
        .await;
    assert_eq!(replaced["comment"], "still wifi", "{replaced}");
    assert!(silence_ids(&url, &["--expired"]).contains(&id));
    dispatch
        .drain(Duration::from_secs(5))
        .await
        .expect("drained");
    slack.no_more();

    // `silence expire` releases exactly one message: Ben's.
    amtool(&url, &["silence", "expire", &updated]);
    let released = slack.next().await;
    assert!(released.text.contains("Ben Wifi"), "{}", released.text);
    assert!(
        released.body.to_string().contains("silence ended"),
        "{}",
        released.body
    );
    dispatch
        .drain(Duration::from_secs(5))
        .await
        .expect("drained");
    slack.no_more();
    assert!(silence_ids(&url, &[]).is_empty());
    let both = alert_query(&url, &[]);
    assert_eq!(both.len(), 2, "{both:?}");
    app.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_speaks_to_an_admin_listener_that_needs_the_token() {
    let app = spawn_app_with(SimConfig::default(), |settings| {
        settings.secrets.admin_token = Some(secrecy::SecretString::from("adm1n-T0ken".to_owned()));
    })
    .await;
    let open = format!("http://{}", app.admin_address);
    let refused = amtool_output(&open, &["silence", "query"]);
    assert!(!refused.status.success(), "no token, no answer");
    let with_token = format!("http://amtool:adm1n-T0ken@{}", app.admin_address);
    let id = amtool(
        &with_token,
        &[
            "silence",
            "add",
            "alertname=audio-latency",
            "-a",
            "it",
            "-c",
            "c",
            "-d",
            "5m",
        ],
    );
    assert_eq!(silence_ids(&with_token, &[]), [id.trim().to_owned()]);
    app.shutdown.cancel();
}

fn post(body: Value) -> Option<Value> {
    Some(body)
}

fn silence(starts: chrono::Duration, ends: chrono::Duration, matchers: Value) -> Value {
    let now = chrono::Utc::now();
    json!({
        "matchers": matchers,
        "startsAt": now + starts,
        "endsAt": now + ends,
        "createdBy": "grafana",
        "comment": "maintenance",
    })
}

/// The shapes Alertmanager's OpenAPI document requires, and the refusals.
#[tokio::test]
async fn the_v2_shapes_have_every_required_field_and_bad_silences_are_400() {
    let app = spawn_app().await;
    let (status, body) = app.admin("GET", "/api/v2/status", None).await;
    assert_eq!(status, 200);
    for key in ["cluster", "versionInfo", "config", "uptime"] {
        assert!(body.get(key).is_some(), "{key}: {body}");
    }
    assert_eq!(body["cluster"]["status"], "disabled");
    for key in [
        "version",
        "revision",
        "branch",
        "buildUser",
        "buildDate",
        "goVersion",
    ] {
        assert!(body["versionInfo"][key].is_string(), "{key}: {body}");
    }
    assert!(
        body["config"]["original"]
            .as_str()
            .unwrap()
            .contains("console")
    );
    chrono::DateTime::parse_from_rfc3339(body["uptime"].as_str().unwrap()).unwrap();

    let (status, receivers) = app.admin("GET", "/api/v2/receivers", None).await;
    assert_eq!((status, receivers), (200, json!([{ "name": "console" }])));
    let (status, alerts) = app
        .admin("GET", "/api/v2/alerts?active=true&silenced=false&inhibited=false&unprocessed=false&filter=alertname%3D%22x%22&receiver=.%2A", None)
        .await;
    assert_eq!((status, alerts), (200, json!([])));
    let (status, groups) = app
        .admin("GET", "/api/v2/alerts/groups?muted=false", None)
        .await;
    assert_eq!((status, groups), (200, json!([])));
    for query in [
        "active=maybe",
        "filter=alertname",
        "filter=a%3D~%22(%22",
        "receiver=(",
    ] {
        let (status, body) = app
            .admin("GET", &format!("/api/v2/alerts?{query}"), None)
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body.is_string(),
            "Alertmanager's errors are strings: {body}"
        );
    }

    let hour = chrono::Duration::hours(1);
    let zero = chrono::Duration::zero();
    let matchers = json!([{ "name": "alertname", "value": "audio-latency", "isRegex": false }]);
    for (body, expected) in [
        (
            silence(hour, hour, matchers.clone()),
            "startsAt must be before endsAt",
        ),
        (
            silence(hour, zero, matchers.clone()),
            "startsAt must be before endsAt",
        ),
        (
            silence(-hour * 2, -hour, matchers.clone()),
            "endsAt is in the past",
        ),
        (
            silence(hour, hour * 2, matchers.clone()),
            "startsAt is in the future",
        ),
        (
            silence(
                zero,
                hour,
                json!([{ "name": "meeting", "value": "1", "isRegex": false }]),
            ),
            "not `meeting`",
        ),
        (silence(zero, hour, json!([])), "matchers: at least one"),
    ] {
        let (status, answer) = app.admin("POST", "/api/v2/silences", post(body)).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer.as_str().is_some_and(|a| a.contains(expected)),
            "{expected}: {answer}"
        );
    }
    let (_, none) = app.admin("GET", "/api/v2/silences", None).await;
    assert_eq!(none, json!([]), "nothing refused was kept");

    let (status, created) = app
        .admin(
            "POST",
            "/api/v2/silences",
            post(silence(zero, hour, matchers)),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["silenceID"].as_str().unwrap().to_owned();
    let (status, one) = app
        .admin("GET", &format!("/api/v2/silence/{id}"), None)
        .await;
    assert_eq!(status, 200);
    for key in [
        "id",
        "status",
        "updatedAt",
        "annotations",
        "matchers",
        "startsAt",
        "endsAt",
        "createdBy",
        "comment",
    ] {
        assert!(one.get(key).is_some(), "{key}: {one}");
    }
    assert_eq!(one["status"]["state"], "active");
    // On the page's API too.
    let (_, page) = app.admin("GET", "/api/v1/status", None).await;
    assert_eq!(page["silences"][0]["id"], id.as_str(), "{page}");
    let (_, filtered) = app
        .admin(
            "GET",
            "/api/v2/silences?filter=alertname%3D%22audio-latency%22&expired=false",
            None,
        )
        .await;
    assert_eq!(filtered.as_array().map(Vec::len), Some(1), "{filtered}");
    let (_, other) = app
        .admin(
            "GET",
            "/api/v2/silences?filter=alertname%3D%22other%22",
            None,
        )
        .await;
    assert_eq!(other, json!([]));

    for path in [
        "/api/v2/silence/00000000-0000-4000-8000-000000000000".to_owned(),
        "/api/v2/silence/not-a-uuid".to_owned(),
    ] {
        let (status, _) = app.admin("GET", &path, None).await;
        assert_eq!(status, 404, "{path}");
        let (status, _) = app.admin("DELETE", &path, None).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, _) = app
        .admin("DELETE", &format!("/api/v2/silence/{id}"), None)
        .await;
    assert_eq!(status, 200);
    let (_, ended) = app
        .admin("GET", &format!("/api/v2/silence/{id}"), None)
        .await;
    assert_eq!(ended["status"]["state"], "expired");
    let (_, v1) = app
        .admin("GET", &format!("/api/v1/silences/{id}"), None)
        .await;
    assert_eq!(v1["state"], "expired");
    app.shutdown.cancel();
}
