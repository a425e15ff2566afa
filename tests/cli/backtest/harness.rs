//! The backtest's test harness: the `qoswatch` binary run as a child
//! process against the simulator (Zoom on loopback), and the real server
//! in-process with a loopback Slack for the comparison with the live path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use qoswatch::config::{PollingMode, Settings};
use qoswatch::startup::{Application, Extras};
use qoswatch_testkit::Spawn;
use qoswatch_zoomsim::{SimConfig, SimHandle, Simulator};
use secrecy::{ExposeSecret, SecretString};

pub const WEBHOOK_SECRET: &str = "dOL1a7aQTa2ZsXZ5FFwCAg";

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("JSON report ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

pub async fn start_sim(config: SimConfig) -> SimHandle {
    Simulator::start(config, "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("simulator starts")
}

/// The environment `serve` would get, pointed at `sim`: credentials,
/// URLs, and a budget of `rate` requests a second. Nothing else is
/// inherited from the test's own environment.
pub fn zoom_env(sim: &SimHandle, rate: u32) -> HashMap<String, String> {
    let credentials = sim.credentials();
    HashMap::from([
        ("ZOOM_ACCOUNT_ID".into(), credentials.account_id.clone()),
        ("ZOOM_CLIENT_ID".into(), credentials.client_id.clone()),
        (
            "ZOOM_CLIENT_SECRET".into(),
            credentials.client_secret.expose_secret().to_owned(),
        ),
        ("QOSWATCH_ZOOM_API_BASE".into(), sim.api_base()),
        ("QOSWATCH_ZOOM_TOKEN_URL".into(), sim.token_url()),
        ("QOSWATCH_ZOOM_REQUESTS_PER_SECOND".into(), rate.to_string()),
        ("QOSWATCH_ZOOM_RATE_SHARE".into(), "1".into()),
        ("QOSWATCH_ZOOM_DAILY_LIMIT".into(), "50000000".into()),
    ])
}

/// Runs `qoswatch backtest ARGS` with exactly `env` (and `PATH`) as a
/// child process (the kit's harness; the simulator answers meanwhile).
pub async fn backtest(args: &[&str], env: &HashMap<String, String>) -> Run {
    let mut process = Spawn::new(env!("CARGO_BIN_EXE_qoswatch"))
        .arg("backtest")
        .args(args)
        .envs(env.clone())
        .capture_stdout()
        .start();
    let status = process
        .exit_within(Duration::from_secs(300))
        .await
        .unwrap_or_else(|| panic!("the backtest did not end:\n{}", process.logs()));
    let stderr = process.final_logs();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: process.stdout_text(),
        stderr,
    }
}

/// A directory of its own for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qoswatch-backtest-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Settings of the real server against `sim`, with `rules`, Slack's URL
/// from `env`, and the grouping window `group_window`.
pub fn server_settings(sim: &SimHandle, rules: &Path, group_window: Duration) -> Settings {
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".parse().expect("address");
    settings.server.admin_listen = "127.0.0.1:0".parse().expect("address");
    settings.store.data_dir = None;
    settings.server.shutdown_grace = Duration::from_secs(5);
    settings.alerts.dispatch.shutdown_grace = Duration::from_secs(3);
    settings.alerts.dispatch.group_window = group_window;
    settings.alerts.dispatch.slack_min_interval = Duration::from_millis(10);
    settings.zoom.api_base = sim.api_base();
    settings.zoom.token_url = sim.token_url();
    settings.zoom.request_timeout = Duration::from_millis(800);
    settings.zoom.requests_per_second = 50;
    settings.zoom.daily_limit = 50_000_000;
    settings.zoom.daily_share = 1.0;
    settings.polling.interval = Duration::from_millis(100);
    settings.polling.mode = PollingMode::Fixed;
    settings.polling.max_backoff = Duration::from_millis(400);
    settings.rules.file = Some(rules.to_owned());
    let credentials = sim.credentials();
    settings.secrets.webhook_secret_tokens = vec![SecretString::from(WEBHOOK_SECRET.to_owned())];
    settings.secrets.account_id = Some(SecretString::from(credentials.account_id.clone()));
    settings.secrets.client_id = Some(SecretString::from(credentials.client_id.clone()));
    settings.secrets.client_secret = Some(SecretString::from(
        credentials.client_secret.expose_secret().to_owned(),
    ));
    settings
}

/// Builds the server with Slack's URL (and nothing else) in its environment.
pub async fn start_server(settings: Settings, env: HashMap<String, String>) -> Application {
    let extras = Extras {
        env: Arc::new(move |name: &str| env.get(name).cloned()),
        ..Extras::default()
    };
    settings.validate().expect("valid settings");
    Application::build_with(settings, extras)
        .await
        .expect("server builds")
}

pub use qoswatch_testkit::eventually;
