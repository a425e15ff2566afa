//! The status page in a real browser: headless Chromium from the
//! distribution's packages (`chromium`, `chromium-driver`; `.ci/run`
//! installs them), driven over WebDriver by fantoccini, against the real
//! server fed by the simulator and a loopback Slack receiver.
//!
//! Without Chromium or its driver this test fails and says what to install.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use qoswatch::startup::Extras;
use qoswatch_zoomsim::{Degradation, ParticipantSpec, SimConfig, Target};
use serde_json::{Value, json};

use crate::helpers::*;
use qoswatch_testkit::FakeSlack;

const MEETING: &str = "6666AAAiAAAAAiAiAiiAii==";
const JILL: &str = "16778240";
const BOB: &str = "16778999";
/// Where the screenshot goes, for the record of what the page looks like.
const SCREENSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/status-page.png");

/// `chromedriver`, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Starts chromedriver on a free port; panics naming what is missing.
async fn start_driver() -> (Driver, std::path::PathBuf) {
    const HELP: &str = "the browser test needs Debian's `chromium` and `chromium-driver` \
        packages (apt-get install chromium chromium-driver; .ci/run installs them)";
    let driver = which("chromedriver").unwrap_or_else(|| panic!("chromedriver not found: {HELP}"));
    let browser = ["chromium", "chromium-browser"]
        .iter()
        .find_map(|name| which(name))
        .unwrap_or_else(|| panic!("chromium not found: {HELP}"));
    let port = qoswatch_testkit::free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("chromedriver does not start ({e}): {HELP}"));
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let status = format!("{}/status", driver.url);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(answer) = reqwest::get(&status).await
            && answer.status().is_success()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "chromedriver did not answer on {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (driver, browser)
}

async fn browser(driver: &Driver, binary: &std::path::Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": binary,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1200,1400"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

async fn script(client: &Client, code: &str) -> Value {
    client.execute(code, Vec::new()).await.expect("script runs")
}

/// Polls a script until it returns true, or panics after `within`.
async fn until(client: &Client, within: Duration, what: &str, code: &str) {
    let deadline = tokio::time::Instant::now() + within;
    while script(client, code).await != json!(true) {
        if tokio::time::Instant::now() >= deadline {
            let _ = std::fs::write(SCREENSHOT, client.screenshot().await.unwrap_or_default());
            panic!("the page did not show {what} within {within:?} (screenshot: {SCREENSHOT})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn row(user: &str) -> String {
    format!("tr.participant[data-participant-id=\"{user}\"]")
}

#[tokio::test]
async fn the_status_page_shows_participants_turns_red_live_and_silences_from_the_page() {
    let (driver, chromium) = start_driver().await;
    let mut slack = FakeSlack::start(Vec::new()).await;
    let rules = rules_file("browser", SLACK_LATENCY_RULES);
    let env: HashMap<String, String> = HashMap::from([(
        "QOSWATCH_TEST_SLACK_URL".to_owned(),
        slack.url("T000/B000/browser"),
    )]);
    let app = spawn_app_with_extras(
        SimConfig::default(),
        |settings| {
            settings.rules.file = Some(rules.clone());
            settings.alerts.dispatch.group_window = Duration::ZERO;
            settings.alerts.dispatch.slack_min_interval = Duration::from_millis(10);
        },
        Extras {
            env: Arc::new(move |name: &str| env.get(name).cloned()),
            ..Extras::default()
        },
    )
    .await;
    app.start_meeting(MEETING, "Weekly sync");
    for (user, name) in [(JILL, "Jill Chill"), (BOB, "Bob Fine")] {
        app.sim
            .add_participant(MEETING, ParticipantSpec::new(user, name))
            .expect("participant");
        let response = app.post_webhook(&joined_body(MEETING, user, name)).await;
        assert_eq!(response.status(), 200);
    }

    let client = browser(&driver, &chromium).await;
    let page: SocketAddr = app.admin_address;
    client
        .goto(&format!("http://{page}/"))
        .await
        .expect("page opens");
    // The page shows the participants, with figures, once the feed is live.
    for user in [JILL, BOB] {
        client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(&row(user)))
            .await
            .unwrap_or_else(|_| panic!("participant {user} is listed"));
    }
    until(
        &client,
        Duration::from_secs(15),
        "latency figures",
        &format!(
            "return document.querySelector('{} td.num').textContent !== '–'",
            row(JILL)
        ),
    )
    .await;
    let names = script(
        &client,
        "return [...document.querySelectorAll('tr.participant td:first-child')].map(td => td.textContent)",
    )
    .await;
    assert_eq!(names, json!(["Jill Chill", "Bob Fine"]));
    assert_eq!(
        script(
            &client,
            "return document.querySelectorAll('tr.participant.firing').length"
        )
        .await,
        json!(0)
    );
    // Marks this page load: a reload would lose it.
    script(&client, "window.sameLoad = 'yes'; return true").await;

    // A scripted degradation: Jill's row turns red and the alert appears,
    // without a reload; Slack gets the FIRING.
    app.sim.add_degradation(Degradation::bad_wifi(
        Target::participant(JILL),
        0..1_000_000,
    ));
    until(
        &client,
        Duration::from_secs(20),
        "Jill's row red and her alert listed",
        &format!(
            "return !!document.querySelector('{}.firing.critical') && \
             document.querySelectorAll('#alerts tbody tr.alert').length === 1",
            row(JILL)
        ),
    )
    .await;
    assert_eq!(
        script(&client, "return window.sameLoad").await,
        json!("yes")
    );
    let colour = script(
        &client,
        &format!(
            "return getComputedStyle(document.querySelector('{} td')).backgroundColor",
            row(JILL)
        ),
    )
    .await;
    assert_eq!(colour, json!("rgb(253, 224, 224)"), "a red row");
    let fired = slack.next().await;
    assert!(
        fired.body["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Jill Chill"),
        "{}",
        fired.body
    );

    // A silence created from the page, for Bob.
    let value = client
        .find(Locator::Css("#m-value-0"))
        .await
        .expect("matcher value");
    value.send_keys("Bob Fine").await.expect("typed");
    let duration = client
        .find(Locator::Css("#duration"))
        .await
        .expect("duration");
    duration.clear().await.expect("cleared");
    duration.send_keys("1h").await.expect("typed");
    client
        .find(Locator::Css("#author"))
        .await
        .expect("author")
        .send_keys("it-oncall")
        .await
        .expect("typed");
    client
        .find(Locator::Css("#comment"))
        .await
        .expect("comment")
        .send_keys("Bob's home link is known to be bad")
        .await
        .expect("typed");
    client
        .find(Locator::Css("#silence-submit"))
        .await
        .expect("button")
        .click()
        .await
        .expect("clicked");
    until(
        &client,
        Duration::from_secs(10),
        "the new silence",
        "return document.querySelectorAll('#silences tbody tr.silence.active').length === 1",
    )
    .await;
    let (_, silences) = app.admin("GET", "/api/v1/silences", None).await;
    assert_eq!(silences[0]["createdBy"], "it-oncall", "{silences}");
    assert_eq!(
        silences[0]["matchers"],
        json!([{ "name": "participant", "value": "Bob Fine", "isRegex": false }])
    );

    // Bob's audio goes bad too: his row turns red and his alert is listed,
    // silenced; Slack gets nothing.
    app.sim.add_degradation(Degradation::bad_wifi(
        Target::participant(BOB),
        0..1_000_000,
    ));
    until(
        &client,
        Duration::from_secs(20),
        "Bob's row red and his alert listed as silenced",
        &format!(
            "return !!document.querySelector('{}.firing') && \
             document.querySelectorAll('#alerts tbody tr.alert.silenced').length === 1",
            row(BOB)
        ),
    )
    .await;
    app.dispatch
        .clone()
        .expect("dispatcher")
        .drain(Duration::from_secs(5))
        .await
        .expect("drained");
    slack.no_more();
    assert_eq!(
        script(&client, "return window.sameLoad").await,
        json!("yes")
    );

    let png = client.screenshot().await.expect("screenshot");
    std::fs::create_dir_all(std::path::Path::new(SCREENSHOT).parent().expect("dir")).ok();
    std::fs::write(SCREENSHOT, &png).expect("screenshot saved");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");

    // Phone width: nothing wider than the screen but the scrolling tables.
    client.set_window_size(390, 844).await.expect("resized");
    let overflow = script(
        &client,
        "return document.documentElement.scrollWidth <= window.innerWidth + 1",
    )
    .await;
    assert_eq!(overflow, json!(true), "the page fits a phone's width");
    client.close().await.expect("browser closed");
    app.shutdown.cancel();
}

/// Two Zoom accounts with a meeting of the same UUID each: the page names
/// each call's account, lists both, and shows one account when asked.
#[tokio::test]
async fn with_two_accounts_the_page_names_each_account_and_shows_one_on_request() {
    use qoswatch::config::AccountSettings;
    use qoswatch_zoomsim::webhooks::WebhookSender;
    use qoswatch_zoomsim::{MeetingSpec, SimAccount, SimCredentials};
    use secrecy::SecretString;

    let (driver, chromium) = start_driver().await;
    let acme = SimCredentials::generate_numbered(1);
    let globex = SimCredentials::generate_numbered(2);
    let accounts = [
        ("acme", &acme, "acme-secret"),
        ("globex", &globex, "globex-secret"),
    ];
    let mut env: HashMap<String, String> = HashMap::new();
    for (name, credentials, secret) in accounts {
        let upper = name.to_uppercase();
        env.insert(
            format!("ZOOM_{upper}_CLIENT_ID"),
            credentials.client_id.clone(),
        );
        env.insert(
            format!("ZOOM_{upper}_CLIENT_SECRET"),
            secrecy::ExposeSecret::expose_secret(&credentials.client_secret).to_owned(),
        );
        env.insert(
            format!("ZOOM_{upper}_WEBHOOK_SECRET_TOKEN"),
            secret.to_owned(),
        );
    }
    let sim_config = SimConfig {
        credentials: acme.clone(),
        extra_accounts: vec![SimAccount {
            credentials: globex.clone(),
            ..SimAccount::numbered(2)
        }],
        ..SimConfig::default()
    };
    let app = spawn_app_with_extras(
        sim_config,
        |settings| {
            let configured = accounts
                .iter()
                .map(|(name, credentials, _)| AccountSettings {
                    name: (*name).into(),
                    account_id: credentials.account_id.clone(),
                    ..AccountSettings::default()
                })
                .collect();
            settings
                .set_accounts(configured, &|name: &str| env.get(name).cloned())
                .expect("accounts");
        },
        Extras::default(),
    )
    .await;
    for ((name, credentials, secret), (topic, person)) in accounts.iter().zip([
        ("Acme standup", "Ann Acme"),
        ("Globex review", "Gus Globex"),
    ]) {
        let meeting =
            MeetingSpec::new(MEETING, 84712639219, topic).in_account(&credentials.account_id);
        app.sim.add_meeting(meeting.clone()).expect("meeting");
        let participant = ParticipantSpec::new(JILL, person);
        app.sim
            .add_participant_in(&credentials.account_id, MEETING, participant.clone())
            .expect("participant");
        let sender = WebhookSender::new(
            &app.url(&format!("/webhooks/zoom/{name}")),
            SecretString::from((*secret).to_owned()),
        )
        .expect("sender")
        .with_account_id(credentials.account_id.clone());
        let now = app.sim.sim_now();
        let answer = sender
            .participant_joined(&meeting, now, &participant, now)
            .await
            .expect("sent");
        assert_eq!(answer.status, 200, "{answer:?}");
    }

    let client = browser(&driver, &chromium).await;
    client
        .goto(&format!("http://{}/", app.admin_address))
        .await
        .expect("page opens");
    let titles = "return [...document.querySelectorAll('#meetings .meeting h3')]\
                  .map(h => h.firstChild.textContent).sort()";
    until(
        &client,
        Duration::from_secs(15),
        "both accounts' meetings, each named with its account",
        "return [...document.querySelectorAll('#meetings .meeting h3')]\
         .map(h => h.firstChild.textContent).sort().join('|') \
         === 'acme · Acme standup|globex · Globex review'",
    )
    .await;
    assert_eq!(
        script(
            &client,
            "return [...document.querySelectorAll('#account-filter option')].map(o => o.value)"
        )
        .await,
        json!(["", "acme", "globex"])
    );
    assert_eq!(
        script(
            &client,
            "return document.querySelector('.account-choice').hidden"
        )
        .await,
        json!(false),
        "the choice shows with several accounts"
    );
    script(
        &client,
        "const s = document.getElementById('account-filter'); s.value = 'globex'; \
         s.dispatchEvent(new Event('change')); return true",
    )
    .await;
    assert_eq!(
        script(&client, titles).await,
        json!(["globex · Globex review"])
    );
    assert_eq!(
        script(
            &client,
            "return [...document.querySelectorAll('tr.participant td:first-child')].map(td => td.textContent)"
        )
        .await,
        json!(["Gus Globex"])
    );
    client.close().await.expect("browser closed");
    app.shutdown.cancel();
}
