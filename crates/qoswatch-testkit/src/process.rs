//! The one process harness: a binary (`qoswatch`, whose path the tests take
//! from `env!("CARGO_BIN_EXE_qoswatch")` and pass in) as a child process with
//! a cleared environment, on free loopback ports and a temporary data
//! directory when asked, its standard error collected (the JSON log lines),
//! waited on with deadlines, stopped by SIGTERM or SIGKILL.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qoswatch_zoomsim::SimHandle;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::wait::eventually;

/// How long a start waits for the "listening" line.
const START: Duration = Duration::from_secs(30);

/// The environment a `qoswatch serve` needs for the simulator `sim`: the
/// webhook secret, the simulator's credentials, JSON logs at `info`.
pub fn zoom_env(sim: &SimHandle, secret: &str) -> Vec<(String, String)> {
    let credentials = sim.credentials();
    vec![
        ("ZOOM_WEBHOOK_SECRET_TOKEN".into(), secret.into()),
        ("ZOOM_ACCOUNT_ID".into(), credentials.account_id.clone()),
        ("ZOOM_CLIENT_ID".into(), credentials.client_id.clone()),
        (
            "ZOOM_CLIENT_SECRET".into(),
            credentials.client_secret.expose_secret().to_owned(),
        ),
        ("QOSWATCH_LOG_FORMAT".into(), "json".into()),
        ("QOSWATCH_LOG_FILTER".into(), "info".into()),
    ]
}

/// One Zoom account of a qoswatch that watches several (issue 27): its
/// short name in qoswatch's settings, the simulator account it is, and its
/// app's Webhook Secret Token.
#[derive(Debug, Clone, Copy)]
pub struct ZoomAccount<'a> {
    pub name: &'a str,
    pub account_id: &'a str,
    pub webhook_secret: &'a str,
}

/// The environment a `qoswatch serve` watching `accounts` of `sim` needs:
/// each account's `ZOOM_<NAME>_CLIENT_ID`, `ZOOM_<NAME>_CLIENT_SECRET` and
/// `ZOOM_<NAME>_WEBHOOK_SECRET_TOKEN` (named by
/// `qoswatch_zoomsim::cli::account_env_var`, as `qoswatch simulate
/// --accounts` prints them), JSON logs at `info`. Panics on an account the
/// simulator does not play.
pub fn zoom_accounts_env(sim: &SimHandle, accounts: &[ZoomAccount<'_>]) -> Vec<(String, String)> {
    use qoswatch_zoomsim::cli::account_env_var;
    let mut env = Vec::new();
    for account in accounts {
        let credentials = sim
            .credentials_of(account.account_id)
            .expect("an account the simulator plays");
        let var = |suffix: &str| account_env_var(account.name, suffix);
        env.push((var("CLIENT_ID"), credentials.client_id.clone()));
        env.push((
            var("CLIENT_SECRET"),
            credentials.client_secret.expose_secret().to_owned(),
        ));
        env.push((
            var("WEBHOOK_SECRET_TOKEN"),
            account.webhook_secret.to_owned(),
        ));
    }
    env.push(("QOSWATCH_LOG_FORMAT".into(), "json".into()));
    env.push(("QOSWATCH_LOG_FILTER".into(), "info".into()));
    env
}

/// The `accounts:` block of qoswatch's settings for `accounts` of `sim`,
/// in the shape `qoswatch simulate --accounts` prints: each account's
/// name, account id, and the simulator's API base and token URL.
pub fn zoom_accounts_yaml(sim: &SimHandle, accounts: &[ZoomAccount<'_>]) -> String {
    let mut yaml = String::from("accounts:\n");
    for account in accounts {
        yaml.push_str(&format!(
            "  - name: {}\n    account_id: \"{}\"\n    api_base: \"{}\"\n    token_url: \"{}\"\n",
            account.name,
            account.account_id,
            sim.api_base(),
            sim.token_url()
        ));
    }
    yaml
}

/// What to start: a program, its arguments and environment (cleared but
/// for `PATH`).
#[derive(Debug)]
pub struct Spawn {
    bin: OsString,
    prefix: Vec<OsString>,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    stdout: bool,
    data: Option<tempfile::TempDir>,
}

impl Spawn {
    /// `bin` with an empty environment but `PATH`.
    pub fn new(bin: impl AsRef<OsStr>) -> Spawn {
        Spawn {
            bin: bin.as_ref().to_owned(),
            prefix: Vec::new(),
            args: Vec::new(),
            env: vec![("PATH".into(), std::env::var("PATH").unwrap_or_default())],
            stdout: false,
            data: None,
        }
    }

    /// `bin serve` with `env` (see [`zoom_env`]).
    pub fn serve(bin: impl AsRef<OsStr>, env: &[(String, String)]) -> Spawn {
        Spawn::new(bin).arg("serve").envs(env.iter().cloned())
    }

    /// Runs `bin` through a command prefix (`prlimit --nofile=256`,
    /// `setpriv …`): `prefix[0] prefix[1..] bin args`.
    pub fn through(mut self, prefix: &[&str]) -> Spawn {
        self.prefix = prefix.iter().map(OsString::from).collect();
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Spawn {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Spawn {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets a variable, replacing an earlier value.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Spawn {
        let name = name.into();
        self.env.retain(|(k, _)| *k != name);
        self.env.push((name, value.into()));
        self
    }

    pub fn envs<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Spawn {
        for (name, value) in vars {
            self = self.env(name, value);
        }
        self
    }

    /// Unsets a variable set earlier (the binary's default applies).
    pub fn env_remove(mut self, name: &str) -> Spawn {
        self.env.retain(|(k, _)| k != name);
        self
    }

    /// Both listeners on free loopback ports (`127.0.0.1:0`).
    pub fn free_ports(self) -> Spawn {
        self.env("QOSWATCH_LISTEN", "127.0.0.1:0")
            .env("QOSWATCH_ADMIN_LISTEN", "127.0.0.1:0")
    }

    /// A temporary data directory (`QOSWATCH_DATA_DIR`), removed with the
    /// process.
    pub fn temp_data_dir(mut self) -> Spawn {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().display().to_string();
        self.data = Some(dir);
        self.env("QOSWATCH_DATA_DIR", path)
    }

    /// Collects standard output too (else it goes nowhere).
    pub fn capture_stdout(mut self) -> Spawn {
        self.stdout = true;
        self
    }

    /// Starts the process; panics when it cannot.
    pub fn start(self) -> Process {
        let shown = self.bin.clone();
        self.try_start()
            .unwrap_or_else(|e| panic!("{} starts: {e}", Path::new(&shown).display()))
    }

    /// Starts the process.
    pub fn try_start(self) -> std::io::Result<Process> {
        let mut command = match self.prefix.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(&self.bin);
                command
            }
            None => Command::new(&self.bin),
        };
        command
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(if self.stdout {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped());
        let mut child = command.spawn()?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let mut readers = vec![collect(child.stderr.take().expect("stderr"), &stderr)];
        if let Some(pipe) = child.stdout.take() {
            readers.push(collect(pipe, &stdout));
        }
        Ok(Process {
            child,
            stderr,
            stdout,
            readers,
            _data: self.data,
        })
    }
}

/// A thread copying `pipe` into `sink` until it closes.
fn collect(
    mut pipe: impl Read + Send + 'static,
    sink: &Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    let sink = sink.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 64 * 1024];
        while let Ok(n) = pipe.read(&mut buffer) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buffer[..n]);
        }
    })
}

/// A running (or exited) child process. Dropping it kills it.
#[derive(Debug)]
pub struct Process {
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
    stdout: Arc<Mutex<Vec<u8>>>,
    /// The threads reading the pipes: they end when the pipes close.
    readers: Vec<std::thread::JoinHandle<()>>,
    _data: Option<tempfile::TempDir>,
}

/// Whole lines of `bytes` (a line still being written is left out until
/// its newline, or until the process has exited).
fn whole_lines(bytes: &[u8], finished: bool) -> String {
    let end = if finished {
        bytes.len()
    } else {
        bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1)
    };
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn finished(&self) -> bool {
        self.readers.is_empty()
    }

    /// Standard error so far, as raw bytes.
    pub fn stderr_bytes(&self) -> Vec<u8> {
        self.stderr.lock().unwrap().clone()
    }

    /// The log (standard error) so far: its whole lines.
    pub fn logs(&self) -> String {
        whole_lines(&self.stderr.lock().unwrap(), self.finished())
    }

    /// Standard output so far (with [`Spawn::capture_stdout`]): whole lines.
    pub fn stdout_text(&self) -> String {
        whole_lines(&self.stdout.lock().unwrap(), self.finished())
    }

    /// How many log lines contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.logs().lines().filter(|l| l.contains(needle)).count()
    }

    /// Waits up to `within` for a log line containing `needle`.
    pub async fn logged(&self, needle: &str, within: Duration) -> bool {
        eventually(within, || self.logs().contains(needle)).await
    }

    /// Waits up to `within` for a line of standard output containing `needle`.
    pub async fn printed(&self, needle: &str, within: Duration) -> bool {
        eventually(within, || self.stdout_text().contains(needle)).await
    }

    /// The first JSON log line containing `needle`, waiting up to `within`.
    pub async fn log_line(&self, needle: &str, within: Duration) -> Option<Value> {
        if !self.logged(needle, within).await {
            return None;
        }
        let logs = self.logs();
        let line = logs.lines().find(|l| l.contains(needle))?;
        Some(serde_json::from_str(line).expect("a JSON log line"))
    }

    /// The address in the first log line containing `message` (its
    /// `address` field in JSON; the first `127.0.0.1:PORT` in the `pretty`
    /// format); panics with the log after 30 s without one.
    pub async fn logged_address(&self, message: &str) -> SocketAddr {
        assert!(
            self.logged(message, START).await,
            "the process did not log {message:?}:\n{}",
            self.logs()
        );
        let logs = self.logs();
        let line = logs.lines().find(|l| l.contains(message)).expect("line");
        if let Ok(value) = serde_json::from_str::<Value>(line) {
            return value["address"]
                .as_str()
                .expect("address field")
                .parse()
                .expect("socket address");
        }
        let at = line.find("127.0.0.1:").expect("a loopback address");
        let port: String = line[at + "127.0.0.1:".len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        format!("127.0.0.1:{port}").parse().expect("address")
    }

    /// [`Process::logged_address`] for code that reports errors (the
    /// examples): gives up at once when the process exits first.
    pub async fn try_address(
        &mut self,
        message: &str,
        within: Duration,
    ) -> Result<SocketAddr, String> {
        let deadline = tokio::time::Instant::now() + within;
        while !self.logs().contains(message) {
            if let Some(status) = self.try_exit() {
                return Err(format!(
                    "exited ({status}) before logging {message:?}:\n{}",
                    self.final_logs()
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "did not log {message:?} within {within:?}:\n{}",
                    self.logs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(self.logged_address(message).await)
    }

    /// The public listener's address ("qoswatch listening").
    pub async fn address(&self) -> SocketAddr {
        self.logged_address("qoswatch listening").await
    }

    /// The admin listener's address ("admin listener: status page").
    pub async fn admin_address(&self) -> SocketAddr {
        self.logged_address("admin listener: status page").await
    }

    /// Sends `signal` (`-TERM`, `-HUP`, ...) with `kill`.
    pub fn signal(&self, signal: &str) -> bool {
        Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// SIGTERM; asserts it was sent.
    pub fn sigterm(&self) {
        assert!(self.signal("-TERM"), "kill -TERM {}", self.pid());
    }

    /// The exit status, if the process has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// The exit status once the process has exited; `None` if it still
    /// runs after `within`.
    /// Polls every 10 ms, so that the time of the exit is known closely.
    pub async fn exit_within(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every line the exited process wrote: waits for the readers to reach
    /// the end of its pipes.
    pub fn final_logs(&mut self) -> String {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        self.logs()
    }

    /// Waits for the process to exit by itself (a start-up failure, a
    /// command that ends); kills it and panics with its log after `within`.
    pub async fn exit(mut self, within: Duration) -> (ExitStatus, String) {
        match self.exit_within(within).await {
            Some(status) => (status, self.final_logs()),
            None => {
                let _ = self.child.kill();
                panic!("still running after {within:?}:\n{}", self.logs());
            }
        }
    }

    /// SIGTERM, then the exit status and the whole log; SIGKILL and a panic
    /// if it still runs after `within`. Blocking: for any context.
    pub fn terminate(mut self, within: Duration) -> (ExitStatus, String) {
        self.sigterm();
        let mut status = None;
        let exited = crate::wait::eventually_blocking(within, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        if !exited {
            let _ = self.child.kill();
            panic!("no exit {within:?} after SIGTERM:\n{}", self.logs());
        }
        (status.expect("exited"), self.final_logs())
    }

    /// SIGTERM and wait up to `within` (no assertion: teardown).
    pub async fn stop(mut self, within: Duration) {
        self.signal("-TERM");
        self.exit_within(within).await;
    }

    /// SIGKILL: no chance to write anything more.
    pub fn kill(mut self) {
        self.sigkill();
    }

    /// SIGKILL and reap, keeping the log readable.
    pub fn sigkill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// Peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        proc_status_kb(self.pid(), "VmHWM:") * 1024
    }

    /// Resident memory now (`VmRSS`), in bytes.
    pub fn rss(&self) -> u64 {
        proc_status_kb(self.pid(), "VmRSS:") * 1024
    }

    /// User + system CPU time used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
        // After the command name in parentheses: utime and stime are the
        // 12th and 13th fields.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        // getconf CLK_TCK is 100 on Linux.
        Duration::from_millis(ticks * 10)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A field of `/proc/PID/status` in kB (0 when unreadable).
pub fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn several_accounts_get_their_variables_and_settings_by_name() {
        use qoswatch_zoomsim::{SimAccount, SimConfig, Simulator};
        let config = SimConfig {
            extra_accounts: vec![SimAccount::numbered(2)],
            ..SimConfig::default()
        };
        let sim = Simulator::start(config, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("starts");
        let accounts = [
            ZoomAccount {
                name: "emea",
                account_id: "simAccount0000000000001",
                webhook_secret: "secretOne",
            },
            ZoomAccount {
                name: "us-west",
                account_id: "simAccount0000000000002",
                webhook_secret: "secretTwo",
            },
        ];
        let env: std::collections::HashMap<String, String> =
            zoom_accounts_env(&sim, &accounts).into_iter().collect();
        assert_eq!(env["ZOOM_US_WEST_CLIENT_ID"], "simClientId0000000002");
        assert_eq!(
            env["ZOOM_US_WEST_CLIENT_SECRET"],
            sim.accounts()[1].credentials.client_secret.expose_secret()
        );
        assert_eq!(env["ZOOM_EMEA_WEBHOOK_SECRET_TOKEN"], "secretOne");
        let yaml = zoom_accounts_yaml(&sim, &accounts);
        assert!(
            yaml.contains("  - name: us-west\n    account_id: \"simAccount0000000000002\"\n"),
            "{yaml}"
        );
        sim.shutdown().await;
    }

    #[test]
    fn a_line_still_being_written_is_not_read_until_it_ends_or_the_process_does() {
        assert_eq!(whole_lines(b"one\ntw", false), "one\n");
        assert_eq!(whole_lines(b"one\ntw", true), "one\ntw");
        assert_eq!(whole_lines(b"partial", false), "");
    }

    #[test]
    fn a_later_variable_replaces_an_earlier_one_and_can_be_removed() {
        let spawn = Spawn::new("true")
            .env("A", "1")
            .envs([("A", "2"), ("B", "3")])
            .env_remove("B");
        let a: Vec<_> = spawn.env.iter().filter(|(k, _)| k == "A").collect();
        assert_eq!(a, [&("A".to_owned(), "2".to_owned())]);
        assert!(spawn.env.iter().all(|(k, _)| k != "B"));
        assert!(spawn.env.iter().any(|(k, _)| k == "PATH"));
    }

    #[tokio::test]
    async fn logs_are_collected_and_sigterm_stops_the_process() {
        let process = Spawn::new("sh")
            .args([
                "-c",
                "echo '{\"address\":\"127.0.0.1:4321\",\"m\":\"up\"}' >&2; exec sleep 30",
            ])
            .start();
        assert_eq!(
            process.logged_address("up").await,
            "127.0.0.1:4321".parse::<SocketAddr>().unwrap()
        );
        let (status, logs) = process.terminate(Duration::from_secs(10));
        assert!(!status.success(), "killed by the signal: {status:?}");
        assert!(logs.contains("\"m\":\"up\""), "{logs}");
    }
}
