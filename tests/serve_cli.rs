//! The `qoswatch serve` binary itself: start-up errors and signals.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_qoswatch");

fn base_command() -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    command
}

#[test]
fn a_missing_secret_stops_start_up_and_names_the_variable() {
    let output = base_command()
        .args(["serve"])
        .env("ZOOM_WEBHOOK_SECRET_TOKEN", "whsec-value-9")
        .env("ZOOM_ACCOUNT_ID", "acct-value-9")
        .env("ZOOM_CLIENT_ID", "cid-value-9")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ZOOM_CLIENT_SECRET"), "{stderr}");
    assert!(!stderr.contains("whsec-value-9") && !stderr.contains("cid-value-9"));
}

#[test]
fn an_unknown_config_key_is_named() {
    let dir = std::env::temp_dir().join(format!("qoswatch-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("bad.yaml");
    std::fs::write(&config, "polling:\n  intervall: 5s\n").expect("write");
    let output = base_command()
        .args(["serve", "--config"])
        .arg(&config)
        .env("ZOOM_WEBHOOK_SECRET_TOKEN", "x")
        .env("ZOOM_ACCOUNT_ID", "x")
        .env("ZOOM_CLIENT_ID", "x")
        .env("ZOOM_CLIENT_SECRET", "x")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("intervall"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_server_with_exit_code_zero() {
    let data = tempfile::tempdir().expect("data directory");
    let mut child = base_command()
        .args(["serve"])
        .env("QOSWATCH_LISTEN", "127.0.0.1:0")
        .env("QOSWATCH_ADMIN_LISTEN", "127.0.0.1:0")
        .env("QOSWATCH_DATA_DIR", data.path())
        .env("QOSWATCH_LOG_FORMAT", "json")
        .env("ZOOM_WEBHOOK_SECRET_TOKEN", "x")
        .env("ZOOM_ACCOUNT_ID", "x")
        .env("ZOOM_CLIENT_ID", "x")
        .env("ZOOM_CLIENT_SECRET", "x")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    // Wait for the "listening" log line rather than for a fixed time.
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("qoswatch listening"));
    assert!(listening, "server logged that it listens");
    let exit = terminate_and_wait(&mut child);
    assert_eq!(exit.code(), Some(0), "exit status {exit:?}");
}

/// `qoswatch simulate` listens for the same signals and stops cleanly: the
/// signal is awaited by the command itself, no task is left behind.
#[cfg(unix)]
#[test]
fn sigterm_stops_the_simulator_with_exit_code_zero() {
    let mut child = base_command()
        .args(["simulate", "--scenario", "load", "--sample-period", "1s"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("Zoom simulator listening on"));
    assert!(listening, "simulator said where it listens");
    let exit = terminate_and_wait(&mut child);
    assert_eq!(exit.code(), Some(0), "exit status {exit:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter()
            .any(|line| line.contains("simulator stopped after")),
        "{rest:?}"
    );
}

/// Sends SIGTERM and waits (bounded) for the process to exit.
#[cfg(unix)]
fn terminate_and_wait(child: &mut std::process::Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            return exit;
        }
        assert!(
            Instant::now() < deadline,
            "process did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
