//! Faults of the store have clear outcomes: a damaged file, a directory
//! that is not writable or is in use stop the start with a message naming
//! the path; a full disk while running is logged, counted and reported by
//! `/readyz`, and webhooks are still answered. The day's Zoom request count
//! survives a kill.

use std::time::Duration;

use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{MeetingSpec, ParticipantSpec, SimHandle};
use secrecy::SecretString;

use qoswatch_testkit::eventually;

use super::{rules, simulator};
use crate::setup::{SECRET, Setup, environment, start};

fn env(sim: &SimHandle) -> Vec<(String, String)> {
    environment(
        sim,
        &[(
            "QOSWATCH_TEST_SLACK_URL",
            "http://127.0.0.1:9/services/x".to_owned(),
        )],
    )
}

#[tokio::test]
async fn a_damaged_database_file_stops_the_start_with_its_path() {
    let sim = simulator().await;
    let setup = Setup::new(&rules(false));
    std::fs::create_dir_all(setup.data_dir()).unwrap();
    let database = setup.data_dir().join("qoswatch.db");
    std::fs::write(
        &database,
        b"this is not a database, it is a note: ".repeat(300),
    )
    .unwrap();
    let config = setup.config(&sim, "");
    let service = start(&config, &env(&sim), &[]);
    let (status, logs) = service.exit(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(1), "{logs}");
    assert!(logs.contains(&database.display().to_string()), "{logs}");
    assert!(
        logs.contains("damaged or not a qoswatch database"),
        "{logs}"
    );
    assert!(!logs.contains("panicked"), "{logs}");
}

#[tokio::test]
async fn a_data_directory_that_is_not_writable_stops_the_start() {
    use std::os::unix::fs::PermissionsExt;
    let sim = simulator().await;
    let setup = Setup::new(&rules(false));
    let data = setup.data_dir();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root writes anywhere: run as nobody then, as a real deployment would.
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    let prefix: &[&str] = if root {
        std::fs::set_permissions(setup.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ]
    } else {
        &[]
    };
    let config = setup.config(&sim, "");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(
        setup.dir.path().join("rules.yaml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let service = start(&config, &env(&sim), prefix);
    let (status, logs) = service.exit(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(1), "{logs}");
    assert!(logs.contains(&data.display().to_string()), "{logs}");
    assert!(logs.contains("is not writable"), "{logs}");
}

#[tokio::test]
async fn a_second_process_on_the_same_data_directory_is_refused() {
    let sim = simulator().await;
    let setup = Setup::new(&rules(false));
    let config = setup.config(&sim, "");
    let first = start(&config, &env(&sim), &[]);
    first.address().await;
    let second = start(&config, &env(&sim), &[]);
    let (status, logs) = second.exit(Duration::from_secs(20)).await;
    assert_eq!(status.code(), Some(1), "{logs}");
    assert!(
        logs.contains("in use by another qoswatch process"),
        "{logs}"
    );
    // The first one is unharmed.
    let (status, logs) = first.terminate(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{logs}");
}

#[tokio::test]
async fn a_full_disk_is_logged_counted_and_reported_while_webhooks_are_answered() {
    let sim = simulator().await;
    let setup = Setup::new(&rules(false));
    // Room for the schema and a little more.
    let config = setup.config(&sim, "  max_size_bytes: 160000\n");
    let service = start(&config, &env(&sim), &[]);
    let address = service.address().await;
    let meeting = MeetingSpec::new("fUlLdIsKmEeTiNg0000000==", 84712639219, "Town hall");
    sim.add_meeting(meeting.clone()).unwrap();
    let sender = WebhookSender::new(
        &format!("http://{address}/webhooks/zoom"),
        SecretString::from(SECRET.to_owned()),
    )
    .unwrap();
    let http = reqwest::Client::new();
    let readyz = format!("http://{address}/readyz");
    let mut failing = None;
    // Long names (as long as Zoom's checks allow) fill the file quickly;
    // every join must still get its 200.
    for n in 0..3000u32 {
        let name = format!("Participant {n} {}", "x".repeat(230));
        let person = ParticipantSpec::new(format!("{}", 20_000_000 + n), name);
        let now = sim.sim_now();
        let answer = sender
            .participant_joined(&meeting, now, &person, now)
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "join {n}: {answer:?}");
        let body: serde_json::Value = http
            .get(&readyz)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["store"]
            .as_str()
            .is_some_and(|s| s.starts_with("failing"))
        {
            failing = Some(body);
            break;
        }
    }
    let body = failing.unwrap_or_else(|| panic!("the store never filled up:\n{}", service.logs()));
    assert!(
        body["store"].as_str().unwrap().contains("full"),
        "readyz says why: {body}"
    );
    let metrics = http
        .get(format!("http://{address}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let errors: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("qoswatch_store_errors_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(errors >= 1.0, "{metrics}");
    // Store latency and the outbox depth are visible too.
    for series in [
        "qoswatch_store_commit_seconds_count",
        "qoswatch_notify_pending",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
    // The log line travels through the child's stderr and a reader thread.
    assert!(
        service
            .logged("database write failed", Duration::from_secs(5))
            .await,
        "{}",
        service.logs()
    );
    let (status, logs) = service.terminate(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}

#[tokio::test]
async fn a_restart_does_not_reset_the_daily_zoom_budget() {
    let sim = simulator().await;
    let setup = Setup::new(&rules(false));
    let config = setup.config(&sim, "");
    let limit = 6;
    let config_text = std::fs::read_to_string(&config).unwrap().replace(
        "daily_limit: 50000000",
        &format!("daily_limit: {limit}\n  daily_share: 1"),
    );
    std::fs::write(&config, config_text).unwrap();
    // One request per interval whatever the day holds: the daily plan would
    // stretch the last requests until midnight, and this test is about the
    // count surviving the restart.
    let mut env = env(&sim);
    env.push(("QOSWATCH_POLL_MODE".to_owned(), "fixed".to_owned()));
    let meeting = MeetingSpec::new("bUdGeTmEeTiNg00000000==", 84712639219, "Budget");
    sim.add_meeting(meeting.clone()).unwrap();
    let ann = ParticipantSpec::new("16779001", "Ann");
    sim.add_participant(&meeting.uuid, ann.clone()).unwrap();

    let first = start(&config, &env, &[]);
    let address = first.address().await;
    let sender = WebhookSender::new(
        &format!("http://{address}/webhooks/zoom"),
        SecretString::from(SECRET.to_owned()),
    )
    .unwrap();
    let now = sim.sim_now();
    sender
        .participant_joined(&meeting, now, &ann, now)
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || sim.qos_requests_for("16779001")
            >= 3)
        .await,
        "{}",
        first.logs()
    );
    first.kill();
    let second = start(&config, &env, &[]);
    second.address().await;
    assert!(
        second
            .logged("daily Zoom request quota used up", Duration::from_secs(15))
            .await,
        "{}",
        second.logs()
    );
    assert_eq!(
        sim.qos_requests_for("16779001"),
        limit,
        "both lives together made exactly the daily limit of requests"
    );
    drop(second);
}
