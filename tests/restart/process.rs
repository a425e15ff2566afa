//! `qoswatch serve` as a real child process on a data directory, its logs
//! collected from stderr, stopped by SIGTERM or killed with SIGKILL.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qoswatch_zoomsim::SimHandle;
use secrecy::ExposeSecret;

pub const BIN: &str = env!("CARGO_BIN_EXE_qoswatch");
pub const SECRET: &str = "restart-test-webhook-secret";

/// The environment of every run: the simulator's credentials and the
/// variables of the rules file's channels.
pub fn environment(sim: &SimHandle, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let credentials = sim.credentials();
    let mut env = vec![
        ("ZOOM_WEBHOOK_SECRET_TOKEN".into(), SECRET.into()),
        ("ZOOM_ACCOUNT_ID".into(), credentials.account_id.clone()),
        ("ZOOM_CLIENT_ID".into(), credentials.client_id.clone()),
        (
            "ZOOM_CLIENT_SECRET".into(),
            credentials.client_secret.expose_secret().to_owned(),
        ),
        ("QOSWATCH_LOG_FORMAT".into(), "json".into()),
        ("QOSWATCH_LOG_FILTER".into(), "info".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    env
}

/// A running (or exited) `qoswatch serve`.
pub struct Service {
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    /// The thread reading stderr: it ends when the process's stderr closes.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Service {
    /// Starts `qoswatch serve --config CONFIG`, optionally through a
    /// command prefix (`setpriv …` to drop root).
    pub fn start(config: &Path, env: &[(String, String)], prefix: &[&str]) -> Service {
        let mut command = match prefix.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(BIN);
                command
            }
            None => Command::new(BIN),
        };
        command
            .args(["serve", "--config"])
            .arg(config)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("qoswatch starts");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Service {
            child,
            logs,
            reader: Some(reader),
        }
    }

    /// Every line the exited process wrote: waits for the reader to reach
    /// the end of its stderr.
    fn final_logs(&mut self) -> String {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.logs()
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Waits for a log line containing `needle`.
    pub async fn logged(&self, needle: &str, within: Duration) -> bool {
        eventually(within, || self.logs().contains(needle)).await
    }

    /// The listening address, from the start-up log line.
    pub async fn address(&self) -> SocketAddr {
        self.address_logged("qoswatch listening").await
    }

    /// The admin listener's address, from its start-up log line.
    pub async fn admin_address(&self) -> SocketAddr {
        self.address_logged("admin listener: status page").await
    }

    async fn address_logged(&self, message: &str) -> SocketAddr {
        assert!(
            self.logged(message, Duration::from_secs(20)).await,
            "qoswatch did not log {message:?}:\n{}",
            self.logs()
        );
        let logs = self.logs();
        let line = logs
            .lines()
            .find(|line| line.contains(message))
            .expect("line");
        let value: serde_json::Value = serde_json::from_str(line).expect("JSON log line");
        value["address"]
            .as_str()
            .expect("address field")
            .parse()
            .expect("socket address")
    }

    /// SIGKILL: no chance to write anything more.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM, then the exit status (SIGKILL after 30 s).
    pub fn terminate(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, self.final_logs());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("no exit 30 s after SIGTERM:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit by itself (a start-up failure).
    pub async fn exit(mut self, within: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, self.final_logs());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("still running after {within:?}:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `condition` every 20 ms until it holds or `within` passes.
pub async fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A data directory, a rules file and a config file in one temporary folder.
pub struct Setup {
    pub dir: tempfile::TempDir,
}

impl Setup {
    pub fn new(rules: &str) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("rules.yaml"), rules).expect("rules");
        Setup { dir }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Writes `config.yaml` for `sim` with `extra` YAML appended; returns its path.
    pub fn config(&self, sim: &SimHandle, extra: &str) -> PathBuf {
        let text = format!(
            "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  shutdown_grace: 15s\n\
             zoom:\n  api_base: {api}\n  token_url: {token}\n  request_timeout: 2s\n  daily_limit: 50000000\n  requests_per_second: 40\n\
             polling:\n  interval: 200ms\n  max_backoff: 400ms\n\
             rules:\n  file: {rules}\n\
             store:\n  data_dir: {data}\n\
             {extra}",
            api = sim.api_base(),
            token = sim.token_url(),
            rules = self.dir.path().join("rules.yaml").display(),
            data = self.data_dir().display(),
        );
        let path = self.dir.path().join("config.yaml");
        std::fs::write(&path, text).expect("config");
        path
    }
}
