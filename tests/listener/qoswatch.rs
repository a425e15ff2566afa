//! `qoswatch serve` as a child process on a temporary data directory, with
//! Zoom played by the simulator, its logs read from stderr; and what a test
//! asks of it over HTTP: signed webhooks on fresh connections, `/metrics`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{MeetingSpec, ParticipantSpec, SimConfig, SimHandle, Simulator};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_qoswatch");
pub const SECRET: &str = "listener-test-webhook-secret";

pub struct Qoswatch {
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
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
        let mut command = match prefix.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(BIN);
                command
            }
            None => Command::new(BIN),
        };
        let credentials = sim.credentials();
        command
            .args(["serve", "--config"])
            .arg(&config_path)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ZOOM_WEBHOOK_SECRET_TOKEN", SECRET)
            .env("ZOOM_ACCOUNT_ID", &credentials.account_id)
            .env("ZOOM_CLIENT_ID", &credentials.client_id)
            .env(
                "ZOOM_CLIENT_SECRET",
                credentials.client_secret.expose_secret(),
            )
            .env("QOSWATCH_LOG_FORMAT", "json")
            .env("QOSWATCH_LOG_FILTER", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("qoswatch starts");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut started = Qoswatch {
            child,
            logs,
            address: "127.0.0.1:0".parse().expect("address"),
            _data: data,
            _sim: sim,
        };
        let line = started
            .log_line("qoswatch listening", Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("qoswatch did not listen:\n{}", started.logs()));
        started.address = line["address"]
            .as_str()
            .expect("address field")
            .parse()
            .expect("socket address");
        started
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// The first JSON log line containing `needle`, waiting up to `within`.
    pub async fn log_line(&self, needle: &str, within: Duration) -> Option<serde_json::Value> {
        let deadline = Instant::now() + within;
        loop {
            let found = self
                .logs
                .lock()
                .unwrap()
                .iter()
                .find(|line| line.contains(needle))
                .cloned();
            if let Some(line) = found {
                return Some(serde_json::from_str(&line).expect("a JSON log line"));
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many log lines contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(needle))
            .count()
    }

    pub fn sigterm(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    }

    /// The exit status, once the process has exited; `None` if it still
    /// runs after `within`.
    pub async fn exit_within(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The value of one series of `/metrics` (name with labels, as exported).
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::Client::new()
            .get(format!("http://{}/metrics", self.address))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
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

impl Drop for Qoswatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
