//! Two Zoom accounts across a `kill -9` (issue 27): one process on a data
//! directory watches the same meeting UUID and user id in two accounts,
//! acme's participant firing and globex's healthy; it is killed and started
//! again on the same directory. Both watches come back, each polled with
//! its own account's token, and acme's alert state comes back as acme's:
//! no second FIRING, one RESOLVED, nothing on globex's channel.

use std::time::Duration;

use qoswatch_testkit::eventually;

use super::wait_for_committed;
use crate::accounts::{
    ACME, GLOBEX, Running, USER, joins_with, polled, spawn, start_two_accounts, urlencode,
};

/// Kills the process (SIGKILL) and starts it again with the same config,
/// environment and data directory; waits for it to listen.
async fn killed_and_restarted(mut running: Running) -> Running {
    running.process.sigkill();
    running.process = spawn(&running.config, &running.env);
    running.process.address().await;
    running
}

async fn admin_get(running: &Running, path: &str) -> serde_json::Value {
    super::admin_get(running.process.admin_address().await, path).await
}

/// Each account's participant as `/api/v1/watches` shows them: account ->
/// (user id, firing rules).
async fn watched(running: &Running) -> Vec<(String, String, Vec<String>)> {
    let meetings = admin_get(running, "/api/v1/watches").await;
    let mut seen = Vec::new();
    for meeting in meetings.as_array().expect("a list of meetings") {
        let account = meeting["account"].as_str().unwrap_or_default().to_owned();
        for participant in meeting["participants"].as_array().expect("participants") {
            let alerts = participant["alerts"]
                .as_array()
                .expect("alerts")
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect();
            let id = participant["id"].as_str().unwrap_or_default().to_owned();
            seen.push((account.clone(), id, alerts));
        }
    }
    seen.sort();
    seen
}

/// How many of `texts` start with `[phase]`.
fn count(texts: &[String], phase: &str) -> usize {
    texts
        .iter()
        .filter(|t| t.starts_with(&format!("[{phase}]")))
        .count()
}

#[tokio::test]
async fn two_accounts_keep_their_watches_and_alert_state_apart_across_a_kill() {
    let running = start_two_accounts().await;
    // The same meeting UUID and user id in both accounts; acme's audio is
    // bad from the third sample to the sixteenth, globex's never.
    joins_with(&running, ACME, "Ann Acme", Some(2..16)).await;
    joins_with(&running, GLOBEX, "Gus Globex", None).await;
    assert!(
        eventually(Duration::from_secs(15), || count(
            &running.acme_slack.delivered(),
            "FIRING"
        ) == 1)
        .await,
        "acme's FIRING reaches acme's Slack:\n{}",
        running.process.logs()
    );
    // Slack answered 200 and the delivery is committed (a kill before that
    // would send it again, as a crash may).
    let delivered = "SELECT COUNT(*) FROM outbox WHERE state = 'delivered'";
    wait_for_committed(&running.setup.data_dir(), delivered).await;
    let apart = vec![
        (
            "acme".to_owned(),
            USER.to_owned(),
            vec!["acme-latency".to_owned()],
        ),
        ("globex".to_owned(), USER.to_owned(), Vec::new()),
    ];
    assert_eq!(
        watched(&running).await,
        apart,
        "each account's participant shows its own alerts only"
    );
    let polled = |running: &Running, account: &str| polled(&running.sim, account);
    let before = (
        polled(&running, ACME.account_id),
        polled(&running, GLOBEX.account_id),
    );

    let running = killed_and_restarted(running).await;
    // Both watches come back from the store and are polled again, each
    // with a token of its own account.
    assert!(
        eventually(Duration::from_secs(15), || polled(
            &running,
            ACME.account_id
        ) >= before.0 + 3
            && polled(&running, GLOBEX.account_id) >= before.1 + 3)
        .await,
        "both accounts' participants are polled again after the restart:\n{}",
        running.process.logs()
    );
    assert_eq!(watched(&running).await[1], apart[1]);
    let firing = |filter: &'static str| {
        let running = &running;
        async move {
            let path = format!("/api/v1/alerts?filter={}", urlencode(filter));
            admin_get(running, &path)
                .await
                .as_array()
                .map_or(0, Vec::len)
        }
    };
    // Acme's alert is back as acme's (its degradation lasts to the 16th
    // sample), globex has none.
    assert_eq!(firing("account=\"acme\"").await, 1);
    assert_eq!(firing("account=\"globex\"").await, 0);

    // The degradation ends: one RESOLVED, and never a second FIRING.
    assert!(
        eventually(Duration::from_secs(25), || count(
            &running.acme_slack.delivered(),
            "RESOLVED"
        ) >= 1)
        .await,
        "acme's alert resolves after the restart: {:?}\n{}",
        running.acme_slack.delivered(),
        running.process.logs()
    );
    let acme = running.acme_slack.delivered();
    assert_eq!(
        (count(&acme, "FIRING"), count(&acme, "RESOLVED"), acme.len()),
        (1, 1, 2),
        "one FIRING before the kill, one RESOLVED after: {acme:?}"
    );
    assert!(
        acme.iter().all(|text| text.contains("Ann Acme")),
        "{acme:?}"
    );
    assert!(
        running.globex_slack.requests().is_empty(),
        "nothing reaches globex's channel: {:?}",
        running.globex_slack.requests()
    );
    assert_eq!(firing("account=\"acme\"").await, 0);
    running.process.stop(Duration::from_secs(20)).await;
}
