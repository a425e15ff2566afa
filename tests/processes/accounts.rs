//! Two Zoom accounts in one deployment (issue 27), `qoswatch serve` as a
//! real process against one simulator playing both accounts: each account's
//! webhooks are verified with its own secret and must name it, each polls
//! with its own token and quota, and each account's alerts go to its own
//! channel. The same meeting and participant ids exist in both accounts.

use std::time::Duration;

use qoswatch_testkit::{
    FakeSlack, Process, Spawn, ZoomAccount, eventually, metric_value, scrape, zoom_accounts_env,
    zoom_accounts_yaml,
};
use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{
    Degradation, MeetingSpec, ParticipantSpec, SimAccount, SimConfig, SimHandle, Simulator, Target,
};
use secrecy::SecretString;

use crate::setup::{BIN, Setup};

/// The same UUID and user id in both accounts: they must never collide.
pub(crate) const MEETING: &str = "aCcOuNtS0MeEtInG0uUiD00==";
pub(crate) const USER: &str = "16778240";
pub(crate) const ACME: ZoomAccount<'static> = ZoomAccount {
    name: "acme",
    account_id: "simAccount0000000000001",
    webhook_secret: "acme-webhook-secret",
};
pub(crate) const GLOBEX: ZoomAccount<'static> = ZoomAccount {
    name: "globex",
    account_id: "simAccount0000000000002",
    webhook_secret: "globex-webhook-secret",
};

/// Each account's daily quota at the simulator.
const DAILY: u32 = 1_000_000;

/// One rule per account, each routed to that account's own Slack.
pub(crate) const RULES: &str = r#"
channels:
  acme-slack:
    type: slack
    webhook_url_env: ACME_SLACK_URL
    send_resolved: true
  globex-slack:
    type: slack
    webhook_url_env: GLOBEX_SLACK_URL
    send_resolved: true
rules:
  - name: acme-latency
    metric: audio_input.latency
    above: 150ms
    for: 2 samples
    scope: { account: acme }
    route: { channels: [acme-slack] }
  - name: globex-latency
    metric: audio_input.latency
    above: 150ms
    for: 2 samples
    scope: { account: globex }
    route: { channels: [globex-slack] }
"#;

async fn simulator() -> SimHandle {
    // A day's quota of its own for each account (more than the tests use).
    let config = SimConfig {
        daily_limit: Some(DAILY),
        extra_accounts: vec![SimAccount {
            daily_limit: Some(DAILY),
            ..SimAccount::numbered(2)
        }],
        ..SimConfig::default()
    };
    Simulator::start(config, "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("simulator")
}

pub(crate) struct Running {
    pub(crate) sim: SimHandle,
    pub(crate) process: Process,
    pub(crate) acme_slack: FakeSlack,
    pub(crate) globex_slack: FakeSlack,
    /// The data directory's folder, the config and the environment: a
    /// second life of the process starts with the same.
    pub(crate) setup: Setup,
    pub(crate) config: std::path::PathBuf,
    pub(crate) env: Vec<(String, String)>,
}

pub(crate) async fn start_two_accounts() -> Running {
    let sim = simulator().await;
    let acme_slack = FakeSlack::start(Vec::new()).await;
    let globex_slack = FakeSlack::start(Vec::new()).await;
    let setup = Setup::new(RULES);
    let config = setup.config(
        &sim,
        &format!(
            "alerts:\n  dispatch: {{ group_window: 0s, slack_min_interval: 10ms }}\n{}",
            zoom_accounts_yaml(&sim, &[ACME, GLOBEX])
        ),
    );
    let mut env = zoom_accounts_env(&sim, &[ACME, GLOBEX]);
    env.push(("ACME_SLACK_URL".into(), acme_slack.url("T1/B1/acme")));
    env.push(("GLOBEX_SLACK_URL".into(), globex_slack.url("T2/B2/globex")));
    let process = spawn(&config, &env);
    process.address().await;
    Running {
        sim,
        process,
        acme_slack,
        globex_slack,
        setup,
        config,
        env,
    }
}

/// `qoswatch serve --config CONFIG` with `env`; returns at once.
pub(crate) fn spawn(config: &std::path::Path, env: &[(String, String)]) -> Process {
    Spawn::serve(BIN, env)
        .args(["--config".as_ref(), config.as_os_str()])
        .start()
}

/// QoS requests with a token of `account_id` answered 200 so far.
pub(crate) fn polled(sim: &SimHandle, account_id: &str) -> usize {
    answered(sim, account_id, 200)
}

/// `qoswatch_account_watchers` of `account`, scraped now.
async fn account_watchers(admin: std::net::SocketAddr, account: &str) -> Option<f64> {
    let metrics = scrape(&reqwest::Client::new(), &format!("http://{admin}/metrics")).await;
    metric_value(
        &metrics,
        &format!("qoswatch_account_watchers{{account=\"{account}\"}}"),
    )
}

/// The QoS requests of `account` the simulator answered with `status`.
fn answered(sim: &SimHandle, account: &str, status: u16) -> usize {
    sim.qos_requests_of(account)
        .iter()
        .filter(|r| r.status == status)
        .count()
}

fn sender(
    address: std::net::SocketAddr,
    path: &str,
    secret: &str,
    account_id: &str,
) -> WebhookSender {
    WebhookSender::new(
        &format!("http://{address}{path}"),
        SecretString::from(secret.to_owned()),
    )
    .expect("sender")
    .with_account_id(account_id)
}

/// The participant joins the meeting of `account` at the simulator (with
/// bad audio from the third sample when `degraded`), and Zoom tells qoswatch.
async fn joins(running: &Running, account: ZoomAccount<'_>, name: &str, degraded: bool) {
    let bad = degraded.then_some(2..10_000);
    joins_with(running, account, name, bad).await;
}

/// [`joins`], with bad audio for the samples of `bad` (counted from the
/// join, the first is 0).
pub(crate) async fn joins_with(
    running: &Running,
    account: ZoomAccount<'_>,
    name: &str,
    bad: Option<std::ops::Range<u32>>,
) {
    let sim = &running.sim;
    let meeting =
        MeetingSpec::new(MEETING, 84712639219, "Weekly sync").in_account(account.account_id);
    sim.add_meeting(meeting.clone()).expect("meeting");
    if let Some(bad) = bad {
        sim.add_degradation_in(
            account.account_id,
            Degradation::bad_wifi(Target::participant(USER), bad),
        )
        .expect("degradation");
    }
    let person = ParticipantSpec::new(USER, name);
    sim.add_participant_in(account.account_id, MEETING, person.clone())
        .expect("participant");
    let address = running.process.address().await;
    let path = format!("/webhooks/zoom/{}", account.name);
    let hook = sender(address, &path, account.webhook_secret, account.account_id);
    let now = sim.sim_now();
    let answer = hook
        .participant_joined(&meeting, now, &person, now)
        .await
        .expect("webhook sent");
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[tokio::test]
async fn each_account_is_verified_polled_and_alerted_on_its_own() {
    let running = start_two_accounts().await;
    let address = running.process.address().await;
    let meeting = MeetingSpec::new(MEETING, 84712639219, "Weekly sync");
    let person = ParticipantSpec::new(USER, "Nobody");
    let now = running.sim.sim_now();

    for (path, secret, account_id, status, what) in [
        (
            "/webhooks/zoom/acme",
            GLOBEX.webhook_secret,
            ACME.account_id,
            401,
            "the other account's secret",
        ),
        (
            "/webhooks/zoom/acme",
            ACME.webhook_secret,
            GLOBEX.account_id,
            400,
            "naming the other account",
        ),
        (
            "/webhooks/zoom/initech",
            ACME.webhook_secret,
            ACME.account_id,
            404,
            "no such account",
        ),
        (
            "/webhooks/zoom",
            ACME.webhook_secret,
            ACME.account_id,
            404,
            "the single path, with two",
        ),
    ] {
        let answer = sender(address, path, secret, account_id)
            .participant_joined(&meeting, now, &person, now)
            .await
            .expect("sent");
        assert_eq!(answer.status, status, "{what}: {answer:?}");
    }
    // Each account's app validates its own URL: the answer is made with
    // that account's secret (the sender checks it as Zoom does).
    for account in [ACME, GLOBEX] {
        let path = format!("/webhooks/zoom/{}", account.name);
        sender(address, &path, account.webhook_secret, account.account_id)
            .check_url_validation("qgg8vlvZRS6UYooatFL8Aw")
            .await
            .unwrap_or_else(|e| panic!("{}'s URL validation: {e:?}", account.name));
    }
    let wrong = sender(
        address,
        "/webhooks/zoom/globex",
        ACME.webhook_secret,
        GLOBEX.account_id,
    );
    let answer = wrong
        .url_validation("qgg8vlvZRS6UYooatFL8Aw")
        .await
        .expect("sent");
    assert_eq!(
        answer.status, 401,
        "globex's challenge signed with acme's secret"
    );

    let admin = running.process.admin_address().await;
    let metrics = scrape(&reqwest::Client::new(), &format!("http://{admin}/metrics")).await;
    let rejected = |labels: &str| {
        metric_value(
            &metrics,
            &format!("qoswatch_webhooks_rejected_total{{{labels}}}"),
        )
    };
    assert_eq!(
        rejected("account=\"acme\",reason=\"signature\""),
        Some(1.0),
        "the forged one, counted for the account it came to"
    );
    assert_eq!(
        rejected("account=\"acme\",reason=\"account\""),
        Some(1.0),
        "the event naming the other account"
    );
    assert_eq!(
        rejected("account=\"\",reason=\"account\""),
        Some(2.0),
        "the two paths of no configured account"
    );
    assert_eq!(
        rejected("account=\"globex\",reason=\"signature\""),
        Some(1.0),
        "the challenge signed with the other account's secret"
    );

    // The same ids in both accounts: acme's participant degrades, globex's
    // does not.
    joins(&running, ACME, "Ann Acme", true).await;
    joins(&running, GLOBEX, "Gus Globex", false).await;
    assert!(
        eventually(Duration::from_secs(20), || running
            .acme_slack
            .delivered()
            .iter()
            .any(
                |text| text.contains("Ann Acme") && text.contains("acme · Weekly sync")
            ))
        .await,
        "acme's alert reaches acme's Slack:\n{}",
        running.process.logs()
    );
    // Both were polled, each with its own account's token.
    let polled = |account: &str| answered(&running.sim, account, 200);
    assert!(
        eventually(Duration::from_secs(10), || polled(GLOBEX.account_id) >= 3).await,
        "globex's participant is polled with globex's token"
    );
    assert!(polled(ACME.account_id) >= 3);
    assert!(
        running.globex_slack.delivered().is_empty(),
        "nothing of acme's reaches globex's channel: {:?}",
        running.globex_slack.delivered()
    );

    // The API keeps them apart.
    let alerts = |filter: &str| {
        let url = format!("http://{admin}/api/v1/alerts?filter={}", urlencode(filter));
        async move {
            let body: serde_json::Value = reqwest::get(url)
                .await
                .expect("api")
                .json()
                .await
                .expect("json");
            body.as_array().cloned().expect("a list of alerts")
        }
    };
    let acme_alerts = alerts("account=\"acme\"").await;
    assert_eq!(acme_alerts.len(), 1, "{acme_alerts:?}");
    assert!(alerts("account=\"globex\"").await.is_empty());

    // Same meeting UUID, two accounts: two meetings, each with its person.
    let get = |path: String| async move {
        let body: serde_json::Value = reqwest::get(format!("http://{admin}{path}"))
            .await
            .expect("api")
            .json()
            .await
            .expect("json");
        body.as_array().cloned().expect("a list")
    };
    let watches = get("/api/v1/watches".into()).await;
    let mut accounts: Vec<&str> = watches
        .iter()
        .filter_map(|m| m["account"].as_str())
        .collect();
    accounts.sort_unstable();
    assert_eq!(accounts, ["acme", "globex"], "{watches:?}");
    let globex_only = get("/api/v1/watches?account=globex".into()).await;
    assert_eq!(globex_only.len(), 1);
    assert_eq!(globex_only[0]["participants"][0]["name"], "Gus Globex");
    assert!(!get("/api/v1/history?account=acme".into()).await.is_empty());
    assert!(
        get("/api/v1/history?account=globex".into())
            .await
            .is_empty()
    );

    // Each account's budget is its own.
    let budgets: serde_json::Value = reqwest::get(format!("http://{admin}/api/v1/budgets"))
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = budgets
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|b| b["account"].as_str())
        .collect();
    assert_eq!(names, ["acme", "globex"]);
    let metrics = scrape(&reqwest::Client::new(), &format!("http://{admin}/metrics")).await;
    for account in ["acme", "globex"] {
        assert_eq!(
            metric_value(
                &metrics,
                &format!("qoswatch_account_watchers{{account=\"{account}\"}}")
            ),
            Some(1.0),
            "{account} watches one participant"
        );
    }
    running.process.stop(Duration::from_secs(20)).await;
}

#[tokio::test]
async fn one_account_out_of_quota_leaves_the_other_polling() {
    let running = start_two_accounts().await;
    joins(&running, ACME, "Ann Acme", false).await;
    joins(&running, GLOBEX, "Gus Globex", false).await;
    let polled = |account: &str| answered(&running.sim, account, 200);
    assert!(
        eventually(Duration::from_secs(10), || polled(ACME.account_id) >= 2
            && polled(GLOBEX.account_id) >= 2)
        .await
    );
    // Acme's whole day is used up (by another app on acme's account).
    running
        .sim
        .consume_daily_of(ACME.account_id, DAILY)
        .expect("acme");
    let refused_acme = || answered(&running.sim, ACME.account_id, 429);
    assert!(
        eventually(Duration::from_secs(10), || refused_acme() >= 1).await,
        "acme is refused for the day:\n{}",
        running.process.logs()
    );
    let globex_before = polled(GLOBEX.account_id);
    let acme_after_refusal = polled(ACME.account_id);
    // Globex goes on at its pace (a poll every 200 ms here).
    assert!(
        eventually(Duration::from_secs(10), || polled(GLOBEX.account_id)
            >= globex_before + 10)
        .await,
        "globex keeps polling while acme waits for its new day"
    );
    assert_eq!(polled(ACME.account_id), acme_after_refusal, "acme waits");
    let admin = running.process.admin_address().await;
    let metrics = scrape(&reqwest::Client::new(), &format!("http://{admin}/metrics")).await;
    assert_eq!(
        metric_value(&metrics, "qoswatch_zoom_paused{account=\"globex\"}"),
        Some(0.0),
        "globex is not paused"
    );
    // Globex's participant leaves: globex watches nobody, acme still one.
    let address = running.process.address().await;
    let meeting =
        MeetingSpec::new(MEETING, 84712639219, "Weekly sync").in_account(GLOBEX.account_id);
    let gus = ParticipantSpec::new(USER, "Gus Globex");
    let now = running.sim.sim_now();
    let hook = sender(
        address,
        "/webhooks/zoom/globex",
        GLOBEX.webhook_secret,
        GLOBEX.account_id,
    );
    let answer = hook
        .participant_left(&meeting, now, &gus, now, "left the meeting")
        .await
        .expect("sent");
    assert_eq!(answer.status, 200, "{answer:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while account_watchers(admin, "globex").await != Some(0.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "globex's watch ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(account_watchers(admin, "acme").await, Some(1.0));
    running.process.stop(Duration::from_secs(20)).await;
}

pub(crate) fn urlencode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}
