//! What the restart and cluster tests share beyond the kit: the webhook
//! secret, the environment of every run, and a folder holding the rules,
//! the config and the data directory.

use std::path::{Path, PathBuf};

use qoswatch_testkit::{Process, Spawn, zoom_env};
use qoswatch_zoomsim::SimHandle;

pub const BIN: &str = env!("CARGO_BIN_EXE_qoswatch");
pub const SECRET: &str = "restart-test-webhook-secret";

/// The environment of every run: the simulator's credentials and the
/// variables of the rules file's channels.
pub fn environment(sim: &SimHandle, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut env = zoom_env(sim, SECRET);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    env
}

/// Starts `qoswatch serve --config CONFIG`, optionally through a command
/// prefix (`setpriv …` to drop root); returns at once (see
/// [`Process::address`] to wait for it to listen).
pub fn start(config: &Path, env: &[(String, String)], prefix: &[&str]) -> Process {
    Spawn::serve(BIN, env)
        .args(["--config".as_ref(), config.as_os_str()])
        .through(prefix)
        .start()
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
