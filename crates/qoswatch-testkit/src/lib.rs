//! The test kit of qoswatch's integration suites and examples (issue 23):
//!
//! - [`process`]: `qoswatch` (or any binary) as a child process on free
//!   loopback ports with a temporary data directory, its log lines
//!   collected, waited on with a deadline, stopped by SIGTERM or SIGKILL;
//! - [`eventually`]: poll a condition until it holds or a deadline passes;
//! - [`metrics`]: scrape `/metrics` and read one series;
//! - [`webhook`]: POST webhooks signed by the Zoom simulator's own
//!   signature code (never qoswatch's);
//! - [`slack`]: a fake Slack incoming webhook on loopback that records what
//!   it receives and answers from a script (429, 500, ...);
//! - [`Buffer`]: a cloneable in-memory writer.
//!
//! A dev-dependency only: the service never links it.

use std::io::Write;
use std::sync::{Arc, Mutex};

pub mod metrics;
pub mod process;
pub mod slack;
pub mod wait;
pub mod webhook;

pub use metrics::{metric_value, scrape};
pub use process::{Process, Spawn, ZoomAccount, zoom_accounts_env, zoom_accounts_yaml, zoom_env};
pub use slack::{FakeSlack, Recorded, Reply};
pub use wait::{eventually, wait_for};
pub use webhook::Webhooks;

/// A loopback port free right now (bound, then released): for servers
/// that take a port, not a listener (mailcrab, chromedriver), and for a
/// port nobody listens on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A cloneable in-memory writer (the console channel's output in tests).
#[derive(Clone, Default, Debug)]
pub struct Buffer(pub Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}
