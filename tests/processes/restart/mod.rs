//! Nothing lost on restart: `qoswatch serve` runs as a real process on a
//! data directory, is killed (SIGKILL) or stopped (SIGTERM) while an alert
//! cannot be delivered, and starts again on the same directory.

mod accounts;
mod faults;

use std::time::Duration;

use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{
    Degradation, MeetingSpec, ParticipantSpec, SimConfig, SimHandle, Simulator, Target,
};
use secrecy::SecretString;

use qoswatch_testkit::{FakeSlack, eventually};

use crate::setup::{SECRET, Setup, environment, start};

const MEETING: &str = "rEsTaRt0MeEtInG0uUiD00==";
const JILL: &str = "16778240";
const HOOK: &str = "T1/B1/hook";

/// Warning only (one FIRING, one RESOLVED per problem); sustain and clear by
/// sample count (the simulator makes one sample a second). With `email`, an
/// e-mail channel too.
pub fn rules(email: bool) -> String {
    let (email_channel, channels) = if email {
        (
            "  it-email:\n    type: email\n    to: [it-oncall@example.com]\n    send_resolved: true\n",
            "[it-slack, it-email]",
        )
    } else {
        ("", "[it-slack]")
    };
    format!(
        r#"
channels:
  it-slack:
    type: slack
    webhook_url_env: QOSWATCH_TEST_SLACK_URL
    send_resolved: true
{email_channel}defaults:
  route:
    channels: {channels}
    send_resolved: true
rules:
  - name: audio-latency
    metric: audio_input.latency
    above: 150ms
    clear: {{ below: 120ms, for: 2 samples }}
    for: 2 samples
    summary: "{{participant}} has {{value}} audio latency in {{meeting}}"
"#
    )
}

async fn simulator() -> SimHandle {
    Simulator::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator")
}

/// Jill joins the meeting at the simulator, with audio latency over the
/// threshold from her third sample to her `bad_until`th, and Zoom sends the
/// webhook to `service`.
async fn jill_joins(sim: &SimHandle, address: std::net::SocketAddr, bad_until: u32) {
    let meeting = MeetingSpec::new(MEETING, 84712639219, "Weekly sync");
    sim.add_meeting(meeting.clone()).expect("meeting");
    sim.add_degradation(Degradation::bad_wifi(
        Target::participant(JILL),
        2..bad_until,
    ));
    let jill = ParticipantSpec::new(JILL, "Jill Chill");
    sim.add_participant(MEETING, jill.clone()).expect("jill");
    let sender = WebhookSender::new(
        &format!("http://{address}/webhooks/zoom"),
        SecretString::from(SECRET.to_owned()),
    )
    .expect("sender");
    let now = sim.sim_now();
    let answer = sender
        .participant_joined(&meeting, now, &jill, now)
        .await
        .expect("webhook sent");
    assert_eq!(answer.status, 200, "{answer:?}");
}

/// The subjects of the mails received so far, in order.
async fn subjects(
    mail: &mut mailcrab::TestMailServerHandle,
    seen: &mut Vec<String>,
) -> Vec<String> {
    while let Ok(message) = mail.rx.try_recv() {
        let value = serde_json::to_value(&message).expect("json");
        seen.push(value["subject"].as_str().unwrap_or_default().to_owned());
    }
    seen.clone()
}

fn phases(texts: &[String]) -> Vec<&'static str> {
    texts
        .iter()
        .map(|text| {
            if text.starts_with("[FIRING]") {
                "FIRING"
            } else if text.starts_with("[RESOLVED]") {
                "RESOLVED"
            } else {
                "other"
            }
        })
        .collect()
}

#[tokio::test]
async fn after_a_kill_the_watch_resumes_and_the_alert_is_delivered_once_then_resolves() {
    let sim = simulator().await;
    let slack = FakeSlack::failing().await;
    let smtp_port = qoswatch_testkit::free_port();
    let setup = Setup::new(&rules(true));
    let config = setup.config(
        &sim,
        &format!(
            "alerts:\n  smtp: {{ host: 127.0.0.1, port: {smtp_port}, tls: none, from: qoswatch@example.org, timeout: 2s }}\n  \
             dispatch: {{ group_window: 0s, initial_backoff: 200ms, max_backoff: 400ms, max_attempts: 1000, slack_min_interval: 10ms }}\n"
        ),
    );
    let env = environment(&sim, &[("QOSWATCH_TEST_SLACK_URL", slack.url(HOOK))]);

    // First life: the alert fires while Slack answers 500 and no SMTP
    // server listens.
    let first = start(&config, &env, &[]);
    let address = first.address().await;
    jill_joins(&sim, address, 14).await;
    assert!(
        eventually(Duration::from_secs(15), || slack
            .requests()
            .iter()
            .any(|r| r.text.starts_with("[FIRING]")))
        .await,
        "the FIRING message was attempted:\n{}",
        first.logs()
    );
    assert!(slack.delivered().is_empty());
    let polls_before = sim.qos_requests_for(JILL);
    first.kill();

    // Second life, with Slack and the mail server back.
    slack.recover();
    let mut mail = mailcrab::development_mail_server([127, 0, 0, 1], smtp_port).await;
    let second = start(&config, &env, &[]);
    second.address().await;
    assert!(
        eventually(Duration::from_secs(20), || phases(&slack.delivered())
            .contains(&"RESOLVED"))
        .await,
        "FIRING then RESOLVED reach Slack after the restart; delivered {:?}\n{}",
        slack.delivered(),
        second.logs()
    );
    assert!(
        sim.qos_requests_for(JILL) > polls_before,
        "the watch polls again after the restart"
    );
    assert_eq!(
        phases(&slack.delivered()),
        ["FIRING", "RESOLVED"],
        "one FIRING (the one queued before the kill) and one RESOLVED: {:?}",
        slack.delivered()
    );
    assert!(slack.delivered()[0].contains("Jill Chill"));
    let mut seen = Vec::new();
    let mut mail_ok = false;
    for _ in 0..500 {
        if phases(&subjects(&mut mail, &mut seen).await).contains(&"RESOLVED") {
            mail_ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(mail_ok, "mail: {seen:?}\n{}", second.logs());
    assert_eq!(phases(&seen), ["FIRING", "RESOLVED"], "{seen:?}");
    let (status, logs) = second.terminate(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{logs}");
}

#[tokio::test]
async fn sigterm_keeps_what_it_could_not_deliver_and_exits_zero() {
    let sim = simulator().await;
    let slack = FakeSlack::failing().await;
    let setup = Setup::new(&rules(false));
    let config = setup.config(
        &sim,
        "alerts:\n  dispatch: { group_window: 0s, initial_backoff: 200ms, max_backoff: 400ms, max_attempts: 1000, shutdown_grace: 1s }\n",
    );
    let env = environment(&sim, &[("QOSWATCH_TEST_SLACK_URL", slack.url(HOOK))]);
    let first = start(&config, &env, &[]);
    let address = first.address().await;
    // Bad until long after this test ends: the alert keeps firing.
    jill_joins(&sim, address, 10_000).await;
    assert!(
        eventually(Duration::from_secs(15), || !slack.requests().is_empty()).await,
        "{}",
        first.logs()
    );
    let (status, logs) = first.terminate(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(
        logs.contains("kept in the store for the next start"),
        "{logs}"
    );
    slack.recover();
    let second = start(&config, &env, &[]);
    second.address().await;
    assert!(
        eventually(Duration::from_secs(15), || !slack.delivered().is_empty()).await,
        "{}",
        second.logs()
    );
    assert_eq!(phases(&slack.delivered()), ["FIRING"]);
    // Still firing after the restart: no second FIRING while it lasts.
    let polls = sim.qos_requests_for(JILL);
    assert!(
        eventually(Duration::from_secs(10), || sim.qos_requests_for(JILL)
            >= polls + 15)
        .await,
        "the watch resumed"
    );
    assert_eq!(
        phases(&slack.delivered()),
        ["FIRING"],
        "{:?}",
        slack.delivered()
    );
    drop(second);
}

/// GETs `path` on the admin listener as JSON.
async fn admin_get(admin: std::net::SocketAddr, path: &str) -> serde_json::Value {
    reqwest::get(format!("http://{admin}{path}"))
        .await
        .expect("admin listener answers")
        .json()
        .await
        .expect("JSON")
}

/// The board shows an alert as soon as the dispatcher's router records it;
/// its row is committed up to the store writer's linger (100 ms) later, and
/// a kill in between loses it as a crash would. This waits, with a
/// deadline, until the database file holds an alert event.
async fn wait_for_a_committed_alert(data_dir: &std::path::Path) {
    wait_for_committed(data_dir, "SELECT COUNT(*) FROM alert_events").await;
}

/// Waits, with a deadline, until `count` (a `SELECT COUNT(*)`) finds a row
/// in the database file of `data_dir`.
async fn wait_for_committed(data_dir: &std::path::Path, count: &str) {
    let url = format!("sqlite://{}", data_dir.join("qoswatch.db").display());
    let rows = || async {
        let pool = sqlx::SqlitePool::connect(&url).await?;
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
            .fetch_one(&pool)
            .await?;
        pool.close().await;
        Ok::<i64, sqlx::Error>(rows)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while rows().await.unwrap_or(0) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing committed to {url} within 10 s: {count}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A silence is on disk before the API answers: after a SIGKILL it is
/// still in force, the alert it covers is shown as firing and silenced
/// again, and when it ends in the new process exactly one message goes out.
#[tokio::test]
async fn a_silence_survives_a_kill_and_its_end_sends_one_message() {
    let sim = simulator().await;
    let slack = FakeSlack::failing().await;
    slack.recover();
    let setup = Setup::new(&rules(false));
    let config = setup.config(
        &sim,
        "alerts:\n  dispatch: { group_window: 0s, slack_min_interval: 10ms }\n",
    );
    let env = environment(&sim, &[("QOSWATCH_TEST_SLACK_URL", slack.url(HOOK))]);

    let first = start(&config, &env, &[]);
    let address = first.address().await;
    let admin = first.admin_address().await;
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{admin}/api/v1/silences"))
        .json(&serde_json::json!({
            "matchers": [{ "name": "participant", "value": "Jill Chill" }],
            "duration": "20s",
            "createdBy": "restart test",
            "comment": "known problem",
        }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let id = created["id"].as_str().expect("silence id").to_owned();
    jill_joins(&sim, address, 100_000).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut silenced = serde_json::Value::Null;
    while tokio::time::Instant::now() < deadline {
        silenced = admin_get(admin, "/api/v1/alerts?silenced=true").await;
        if silenced.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        silenced[0]["silencedBy"],
        serde_json::json!([id]),
        "{}",
        first.logs()
    );
    assert!(slack.requests().is_empty(), "nothing sent while silenced");
    wait_for_a_committed_alert(&setup.data_dir()).await;
    first.kill();

    let second = start(&config, &env, &[]);
    let admin = second.admin_address().await;
    let silences = admin_get(admin, "/api/v1/silences").await;
    assert_eq!(silences[0]["id"], id.as_str(), "{silences}");
    assert_eq!(silences[0]["state"], "active", "{silences}");
    let alerts = admin_get(admin, "/api/v1/alerts").await;
    assert_eq!(
        alerts[0]["silencedBy"],
        serde_json::json!([id]),
        "the firing alert is back from the store: {alerts}"
    );
    assert!(
        eventually(Duration::from_secs(25), || !slack.delivered().is_empty()).await,
        "the silence's end sends the still-firing alert:\n{}",
        second.logs()
    );
    let (status, logs) = second.terminate(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{logs}");
    let delivered = slack.delivered();
    assert_eq!(delivered.len(), 1, "exactly one message: {delivered:?}");
    assert!(delivered[0].contains("Jill Chill"), "{delivered:?}");
    assert!(delivered[0].contains("silence ended"), "{delivered:?}");
}
