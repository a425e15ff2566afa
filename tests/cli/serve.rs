//! The `qoswatch serve` binary itself: start-up errors and signals.

use std::time::Duration;

use qoswatch_testkit::Spawn;

const BIN: &str = env!("CARGO_BIN_EXE_qoswatch");

/// How long a command that should stop by itself may take.
const RUNS: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_missing_secret_stops_start_up_and_names_the_variable() {
    let (status, stderr) = Spawn::new(BIN)
        .arg("serve")
        .env("ZOOM_WEBHOOK_SECRET_TOKEN", "whsec-value-9")
        .env("ZOOM_ACCOUNT_ID", "acct-value-9")
        .env("ZOOM_CLIENT_ID", "cid-value-9")
        .start()
        .exit(RUNS)
        .await;
    assert!(!status.success());
    assert!(stderr.contains("ZOOM_CLIENT_SECRET"), "{stderr}");
    assert!(!stderr.contains("whsec-value-9") && !stderr.contains("cid-value-9"));
}

#[tokio::test]
async fn an_unknown_config_key_is_named() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("bad.yaml");
    std::fs::write(&config, "polling:\n  intervall: 5s\n").expect("write");
    let (status, stderr) = Spawn::new(BIN)
        .args(["serve".as_ref(), "--config".as_ref(), config.as_os_str()])
        .env("ZOOM_WEBHOOK_SECRET_TOKEN", "x")
        .env("ZOOM_ACCOUNT_ID", "x")
        .env("ZOOM_CLIENT_ID", "x")
        .env("ZOOM_CLIENT_SECRET", "x")
        .start()
        .exit(RUNS)
        .await;
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("intervall"), "{stderr}");
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_the_server_with_exit_code_zero() {
    let server = Spawn::new(BIN)
        .arg("serve")
        .free_ports()
        .temp_data_dir()
        .env("QOSWATCH_LOG_FORMAT", "json")
        .env("ZOOM_WEBHOOK_SECRET_TOKEN", "x")
        .env("ZOOM_ACCOUNT_ID", "x")
        .env("ZOOM_CLIENT_ID", "x")
        .env("ZOOM_CLIENT_SECRET", "x")
        .start();
    // Wait for the "listening" log line rather than for a fixed time.
    assert!(
        server.logged("qoswatch listening", RUNS).await,
        "server logged that it listens:\n{}",
        server.logs()
    );
    let (exit, logs) = server.terminate(Duration::from_secs(15));
    assert_eq!(exit.code(), Some(0), "exit status {exit:?}\n{logs}");
}

/// `qoswatch simulate` listens for the same signals and stops cleanly: the
/// signal is awaited by the command itself, no task is left behind.
#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_the_simulator_with_exit_code_zero() {
    let mut simulator = Spawn::new(BIN)
        .args(["simulate", "--scenario", "load", "--sample-period", "1s"])
        .capture_stdout()
        .start();
    const LISTENING: &str = "Zoom simulator listening on";
    assert!(
        simulator.printed(LISTENING, RUNS).await,
        "simulator said where it listens:\n{}",
        simulator.stdout_text()
    );
    simulator.sigterm();
    let exit = simulator
        .exit_within(Duration::from_secs(15))
        .await
        .expect("process did not stop after SIGTERM");
    assert_eq!(exit.code(), Some(0), "exit status {exit:?}");
    simulator.final_logs();
    let stdout = simulator.stdout_text();
    let rest: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.contains(LISTENING))
        .skip(1)
        .collect();
    assert!(
        rest.iter()
            .any(|line| line.contains("simulator stopped after")),
        "{rest:?}"
    );
}
