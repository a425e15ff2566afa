//! Debian's `prometheus-alertmanager` in the tests: its `amtool` (the
//! command-line client of Alertmanager's API v2) and a real Alertmanager
//! started on loopback. `.ci/run` installs the package; without it these
//! tests fail, naming it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

mod v2;

const HELP: &str = "install Debian's prometheus-alertmanager (`apt-get install prometheus-alertmanager`; .ci/run does)";

fn which(program: &str) -> PathBuf {
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain([PathBuf::from("/usr/bin")])
    {
        let candidate = dir.join(program);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("{program} not found: {HELP}");
}

/// Runs `amtool --alertmanager.url=<url> <args>`; its stdout, or a panic
/// with its stderr when it fails.
pub fn amtool(url: &str, args: &[&str]) -> String {
    let output = amtool_output(url, args);
    assert!(
        output.status.success(),
        "amtool {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

pub fn amtool_output(url: &str, args: &[&str]) -> std::process::Output {
    let empty = tempfile::tempdir().unwrap();
    Command::new(which("amtool"))
        .arg(format!("--alertmanager.url={url}"))
        .args(args)
        // No user or system configuration of amtool's may change what it does.
        .env("HOME", empty.path())
        .env_remove("AMTOOL_CONFIG")
        .current_dir(empty.path())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("amtool: {error}: {HELP}"))
}

/// `amtool alert query -o json <matchers>`, parsed.
pub fn alert_query(url: &str, matchers: &[&str]) -> Vec<Value> {
    let mut args = vec!["alert", "query", "-o", "json"];
    args.extend_from_slice(matchers);
    serde_json::from_str(&amtool(url, &args)).expect("amtool prints JSON")
}

/// A real Alertmanager on a free loopback port, with a minimal
/// configuration (one receiver that sends nothing) and its own storage;
/// killed when dropped.
pub struct RealAlertmanager {
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl RealAlertmanager {
    pub async fn start() -> RealAlertmanager {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n",
        )
        .unwrap();
        let port = qoswatch_testkit::free_port();
        let child = Command::new(which("prometheus-alertmanager"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", storage(dir.path()).display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("prometheus-alertmanager: {error}: {HELP}"));
        let url = format!("http://127.0.0.1:{port}");
        qoswatch_testkit::wait_for("Alertmanager to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await;
        RealAlertmanager {
            url,
            child,
            _dir: dir,
        }
    }
}

fn storage(dir: &Path) -> PathBuf {
    let storage = dir.join("data");
    std::fs::create_dir_all(&storage).unwrap();
    storage
}

impl Drop for RealAlertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
