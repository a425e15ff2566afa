//! `qoswatch serve` as a child process (the kit's harness) on a temporary
//! data directory, with Zoom played by the simulator; and what a test asks
//! of it over HTTP: signed webhooks on fresh connections, `/metrics`.

use std::net::SocketAddr;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use qoswatch_testkit::metrics::Scraper;
use qoswatch_testkit::{Process, Spawn, zoom_env};
use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{MeetingSpec, ParticipantSpec, SimConfig, SimHandle, Simulator};
use secrecy::SecretString;
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_qoswatch");
pub const SECRET: &str = "listener-test-webhook-secret";

pub struct Qoswatch {
    process: Process,
    pub address: SocketAddr,
    _data: tempfile::TempDir,
    _sim: SimHandle,
}

impl Qoswatch {
    /// Starts `qoswatch serve` with `server_yaml` (lines under `server:`)
    /// and `extra_yaml` (other top-level sections), through `prefix` (such
    /// as `prlimit --nofile=…`) when given; returns once it listens.
    pub async fn start(server_yaml: &str, extra_yaml: &str, prefix: &[&str]) -> Qoswatch {
        let sim = Simulator::start(
            SimConfig::default(),
            "127.0.0.1:0".parse().expect("address"),
        )
        .await
        .expect("simulator starts");
        let data = tempfile::tempdir().expect("temp dir");
        let config = format!(
            "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n{server_yaml}\
             zoom:\n  api_base: {api}\n  token_url: {token}\n  request_timeout: 2s\n\
             store:\n  data_dir: {data}\n\
             {extra_yaml}",
            api = sim.api_base(),
            token = sim.token_url(),
            data = data.path().join("db").display(),
        );
        let config_path = data.path().join("config.yaml");
        std::fs::write(&config_path, config).expect("config written");
        let process = Spawn::serve(BIN, &zoom_env(&sim, SECRET))
            .arg("--config")
            .arg(&config_path)
            .through(prefix)
            .start();
        let address = process.address().await;
        Qoswatch {
            process,
            address,
            _data: data,
            _sim: sim,
        }
    }

    pub fn logs(&self) -> String {
        self.process.logs()
    }

    /// The first JSON log line containing `needle`, waiting up to `within`.
    pub async fn log_line(&self, needle: &str, within: Duration) -> Option<serde_json::Value> {
        self.process.log_line(needle, within).await
    }

    /// How many log lines contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.process.log_count(needle)
    }

    /// Sends `signal` (`-HUP`, ...).
    pub fn signal(&self, signal: &str) {
        assert!(self.process.signal(signal), "kill {signal}");
    }

    pub fn sigterm(&self) {
        self.process.sigterm();
    }

    /// The exit status, once the process has exited; `None` if it still
    /// runs after `within`.
    pub async fn exit_within(&mut self, within: Duration) -> Option<ExitStatus> {
        self.process.exit_within(within).await
    }

    /// The value of one series of `/metrics` (name with labels, as
    /// exported); 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        Scraper::new(self.address)
            .value(series)
            .await
            .unwrap_or(0.0)
    }

    /// The value of one series of the admin listener's `/metrics` (the
    /// public one speaks HTTPS when TLS is on); 0 when absent.
    pub async fn admin_metric(&self, series: &str) -> f64 {
        Scraper::new(self.process.admin_address().await)
            .value(series)
            .await
            .unwrap_or(0.0)
    }

    /// Sends a signed `participant_joined` (a new participant each time)
    /// on a new connection, as Zoom does; returns the status and how long
    /// the answer took, or `None` when the connection failed.
    pub async fn signed_join(&self) -> Option<(u16, Duration)> {
        static NEXT: AtomicU64 = AtomicU64::new(16_778_240);
        let user = NEXT.fetch_add(1, Ordering::Relaxed).to_string();
        // A new sender is a new client: a new connection, not a pooled one.
        let sender = WebhookSender::new(
            &format!("http://{}/webhooks/zoom", self.address),
            SecretString::from(SECRET.to_owned()),
        )
        .expect("sender");
        let meeting =
            MeetingSpec::new("LiStEnEr0MeEtInG0uUiD00==", 84_712_639_219, "Listener test");
        let participant = ParticipantSpec::new(user, "Jill Chill");
        let now = Utc::now();
        let started = Instant::now();
        let answer = sender
            .participant_joined(&meeting, now, &participant, now)
            .await
            .ok()?;
        Some((answer.status, started.elapsed()))
    }
}
