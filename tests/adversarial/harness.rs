//! What the adversarial tests and `examples/attacks.rs` share: `qoswatch
//! serve` as a child process pointed at the Zoom simulator, its memory
//! (`/proc/PID/status`) and CPU time (`/proc/PID/stat`), signed webhooks
//! (signed by the simulator's own implementation), a probe that times a
//! signed webhook every 50 ms while an attack runs, and the attacks.

#![allow(dead_code)] // each user takes what it needs

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qoswatch_testkit::metrics::Scraper;
use qoswatch_testkit::{Process, Spawn, Webhooks, zoom_env};
use qoswatch_zoomsim::{Fault, MeetingSpec, ParticipantSpec, SimConfig, SimHandle, Simulator};
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[allow(unused_imports)] // each user takes what it needs
pub use qoswatch_testkit::{eventually, metric_value};

pub const SECRET: &str = "adversarial-test-webhook-secret";

pub async fn simulator() -> SimHandle {
    Simulator::start(SimConfig::default(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator starts")
}

/// A running `qoswatch serve` (the kit's process harness).
pub struct Service {
    process: Process,
    pub address: SocketAddr,
    pub http: reqwest::Client,
}

/// How the service's store is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    /// A data directory (the production default), removed afterwards.
    Disk,
}

impl Service {
    /// Starts `binary` for `sim` with the test defaults (loopback, JSON
    /// logs at info, 200 ms polls) and `extra` variables over them.
    pub async fn start(
        binary: &Path,
        sim: &SimHandle,
        store: StoreKind,
        extra: &[(&str, String)],
    ) -> Service {
        let spawn = Spawn::serve(binary, &zoom_env(sim, SECRET)).free_ports();
        let spawn = match store {
            StoreKind::Disk => spawn.temp_data_dir(),
            StoreKind::Memory => spawn.env("QOSWATCH_DATA_DIR", ""),
        };
        let spawn = spawn.envs([
            ("QOSWATCH_ZOOM_API_BASE", sim.api_base()),
            ("QOSWATCH_ZOOM_TOKEN_URL", sim.token_url()),
            ("QOSWATCH_ZOOM_REQUEST_TIMEOUT", "5s".into()),
            ("QOSWATCH_ZOOM_REQUESTS_PER_SECOND", "40".into()),
            // No hour of the day stretches polling under the daily plan.
            ("QOSWATCH_ZOOM_DAILY_LIMIT", "50000000".into()),
            ("QOSWATCH_POLL_INTERVAL", "200ms".into()),
            ("QOSWATCH_MAX_BACKOFF", "400ms".into()),
        ]);
        let process = spawn
            .envs(extra.iter().map(|(k, v)| (*k, v.clone())))
            .start();
        // The "qoswatch listening" line, JSON or pretty.
        let address = process.address().await;
        Service {
            process,
            address,
            http: reqwest::Client::new(),
        }
    }

    /// Standard error so far, as raw bytes.
    pub fn stderr_bytes(&self) -> Vec<u8> {
        self.process.stderr_bytes()
    }

    /// Standard error so far, as text.
    pub fn logs(&self) -> String {
        String::from_utf8_lossy(&self.stderr_bytes()).into_owned()
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The admin listener's address.
    pub async fn admin_address(&self) -> SocketAddr {
        self.process.admin_address().await
    }

    /// How many whole log lines so far contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.process.log_count(needle)
    }

    /// Peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        self.process.peak_rss()
    }

    /// Resident memory now (`VmRSS`), in bytes.
    pub fn rss(&self) -> u64 {
        self.process.rss()
    }

    /// User + system CPU time used so far.
    pub fn cpu_time(&self) -> Duration {
        self.process.cpu_time()
    }

    /// POSTs `body` signed now with the test secret.
    pub async fn post_signed(&self, body: &str) -> reqwest::Response {
        post_signed(&self.http, &self.url("/webhooks/zoom"), body).await
    }

    fn scraper(&self) -> Scraper {
        Scraper {
            url: self.url("/metrics"),
            http: self.http.clone(),
        }
    }

    pub async fn metrics(&self) -> String {
        self.scraper().text().await
    }

    /// The value of one series (name with labels, as exported).
    pub async fn metric(&self, series: &str) -> Option<f64> {
        self.scraper().value(series).await
    }

    /// Polls `/metrics` until `series` satisfies `condition` or `within`
    /// passes; returns the last value.
    pub async fn metric_until(
        &self,
        series: &str,
        within: Duration,
        condition: impl Fn(f64) -> bool,
    ) -> Option<f64> {
        self.scraper()
            .until(series, within, Duration::from_millis(50), condition)
            .await
    }

    /// SIGTERM and wait (SIGKILL after 20 s).
    pub async fn stop(self) {
        self.process.stop(Duration::from_secs(20)).await;
    }
}

/// POSTs `body` to `url`, signed now with the test secret by the
/// simulator's signature code.
pub async fn post_signed(http: &reqwest::Client, url: &str, body: &str) -> reqwest::Response {
    Webhooks::new(url, SECRET).post(http, body).await
}

pub fn joined_body(meeting_uuid: &str, user_id: &str, name: &str) -> String {
    participant_body("meeting.participant_joined", meeting_uuid, user_id, name)
}

pub fn left_body(meeting_uuid: &str, user_id: &str) -> String {
    participant_body("meeting.participant_left", meeting_uuid, user_id, "someone")
}

fn participant_body(event: &str, meeting_uuid: &str, user_id: &str, name: &str) -> String {
    json!({
        "event": event,
        "event_ts": 1_700_000_000_123_i64,
        "payload": {
            "account_id": "simAccount0000000000001",
            "object": {
                "id": 84712639219_i64,
                "uuid": meeting_uuid,
                "topic": "Weekly sync",
                "participant": {
                    "user_id": user_id,
                    "user_name": name,
                    "join_time": "2023-11-14T22:13:20Z",
                    "leave_time": "2023-11-14T22:43:20Z",
                    "email": ""
                }
            }
        }
    })
    .to_string()
}

pub fn event_body(event: &str) -> String {
    json!({"event": event, "event_ts": 1_700_000_000_123_i64, "payload": {"object": {}}})
        .to_string()
}

/// Times of signed webhooks sent one every 50 ms, on a connection of its
/// own, while an attack runs.
pub struct Probe {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Vec<Duration>>,
}

impl Probe {
    pub fn start(service: &Service) -> Probe {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let url = service.url("/webhooks/zoom");
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            let body = json!({"event": "endpoint.url_validation",
                "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}})
            .to_string();
            let mut times = Vec::new();
            let mut next = Instant::now();
            loop {
                tokio::select! {
                    () = token.cancelled() => return times,
                    () = tokio::time::sleep_until(next) => {}
                }
                next += Duration::from_millis(50);
                let started = Instant::now();
                let answer =
                    tokio::time::timeout(Duration::from_secs(10), post_signed(&http, &url, &body))
                        .await;
                let took = started.elapsed();
                match answer {
                    Ok(response) if response.status() == 200 => times.push(took),
                    // A failed or late probe counts as the longest wait.
                    _ => times.push(took.max(Duration::from_secs(10))),
                }
            }
        });
        Probe { stop, task }
    }

    /// Stops probing; the answer times, sorted.
    pub async fn finish(self) -> Latencies {
        self.stop.cancel();
        let mut times = self.task.await.expect("probe");
        times.sort();
        Latencies(times)
    }
}

/// Sorted answer times of the probe.
#[derive(Debug)]
pub struct Latencies(pub Vec<Duration>);

impl Latencies {
    pub fn quantile(&self, q: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.0.len() - 1) as f64 * q).round() as usize;
        self.0[index]
    }

    pub fn max(&self) -> Duration {
        self.0.last().copied().unwrap_or_default()
    }

    pub fn summary(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "{} probes: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.0.len(),
            ms(self.quantile(0.5)),
            ms(self.quantile(0.99)),
            ms(self.max())
        )
    }
}

/// Sends `bodies` signed, `concurrency` at a time; the statuses, in order.
pub async fn send_all(service: &Service, bodies: Vec<String>, concurrency: usize) -> Vec<u16> {
    let url = service.url("/webhooks/zoom");
    let queue = Arc::new(Mutex::new(
        bodies.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let queue = queue.clone();
        let url = url.clone();
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut statuses = Vec::new();
            loop {
                let next = queue.lock().unwrap().pop();
                let Some((index, body)) = next else {
                    return statuses;
                };
                let status = post_signed(&http, &url, &body).await.status().as_u16();
                statuses.push((index, status));
            }
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.expect("worker"));
    }
    all.sort();
    all.into_iter().map(|(_, status)| status).collect()
}

// ---------------------------------------------------------------------------
// The attacks. Each returns what it measured; the tests assert bounds on it,
// `examples/attacks.rs` prints it.

pub const MEETING: &str = "4444AAAiAAAAAiAiAiiAii==";
pub const FIFTY_MB: u64 = 50 * 1000 * 1000;

/// What an attack measured.
#[derive(Debug)]
pub struct Outcome {
    pub baseline_rss: u64,
    pub peak_rss: u64,
    pub probe: Latencies,
    pub cpu: Duration,
    pub elapsed: Duration,
}

/// `watchers` participants are watched while Zoom answers `answers` QoS
/// requests with 50 MB (chunked and announced, alternating); then Zoom
/// answers normally again. Returns once every fault is consumed and every
/// watcher has been answered normally after it.
pub async fn huge_answers(
    service: &Service,
    sim: &SimHandle,
    watchers: usize,
    answers: usize,
) -> Outcome {
    let baseline_rss = service.peak_rss();
    let cpu_before = service.cpu_time();
    let started = Instant::now();
    sim.add_meeting(MeetingSpec::new(MEETING, 84_712_639_219, "Weekly sync"))
        .expect("meeting");
    let users: Vec<String> = (0..watchers)
        .map(|i| format!("{}", 16_778_240 + i))
        .collect();
    sim.push_faults((0..answers).map(|i| Fault::OversizedAnswer {
        bytes: FIFTY_MB,
        announce_length: i % 2 == 1,
    }));
    let probe = Probe::start(service);
    for user in &users {
        sim.add_participant(MEETING, ParticipantSpec::new(user.clone(), "Victim"))
            .expect("participant");
        let status = service
            .post_signed(&joined_body(MEETING, user, "Victim"))
            .await
            .status();
        assert_eq!(status, 200, "join of {user}");
    }
    let done = eventually(Duration::from_secs(120), || sim.pending_faults() == 0).await;
    assert!(done, "the 50 MB answers were not all asked for");
    // After the faults, every watcher is answered normally at least twice.
    let marks: Vec<usize> = users.iter().map(|u| sim.qos_requests_for(u)).collect();
    for (user, mark) in users.iter().zip(marks) {
        let user = user.clone();
        let polled = sim
            .wait_until(
                move |log| log.qos_requests_for(&user) >= mark + 2,
                Duration::from_secs(30),
            )
            .await;
        assert!(polled, "a watcher stopped polling after the huge answers");
    }
    Outcome {
        baseline_rss,
        peak_rss: service.peak_rss(),
        probe: probe.finish().await,
        cpu: service.cpu_time().saturating_sub(cpu_before),
        elapsed: started.elapsed(),
    }
}

/// `count` signed `participant_left` for participants nobody watched,
/// `concurrency` at a time; CPU time of qoswatch per `slice` webhooks.
pub async fn left_flood(
    service: &Service,
    count: usize,
    concurrency: usize,
    slice: usize,
) -> (Outcome, Vec<Duration>) {
    let baseline_rss = service.peak_rss();
    let cpu_before = service.cpu_time();
    let started = Instant::now();
    let probe = Probe::start(service);
    let mut per_slice = Vec::new();
    let mut sent = 0;
    while sent < count {
        let n = slice.min(count - sent);
        let bodies = (sent..sent + n)
            .map(|i| left_body(MEETING, &format!("{}", 30_000_000 + i)))
            .collect();
        let slice_cpu = service.cpu_time();
        let statuses = send_all(service, bodies, concurrency).await;
        per_slice.push(service.cpu_time().saturating_sub(slice_cpu));
        assert!(statuses.iter().all(|s| *s == 200), "a left was refused");
        sent += n;
    }
    let outcome = Outcome {
        baseline_rss,
        peak_rss: service.peak_rss(),
        probe: probe.finish().await,
        cpu: service.cpu_time().saturating_sub(cpu_before),
        elapsed: started.elapsed(),
    };
    (outcome, per_slice)
}

/// `count` signed webhooks with distinct made-up event names, every
/// `long_every`-th of them `long_len` bytes long. Returns the outcome and
/// the `/metrics` text after.
pub async fn event_names(
    service: &Service,
    count: usize,
    long_every: usize,
    long_len: usize,
) -> (Outcome, String) {
    let baseline_rss = service.peak_rss();
    let cpu_before = service.cpu_time();
    let started = Instant::now();
    let probe = Probe::start(service);
    let bodies = (0..count)
        .map(|i| {
            let mut name = format!("made.up_{i:05}");
            if long_every > 0 && i % long_every == 0 {
                name.push_str(&"x".repeat(long_len));
            }
            event_body(&name)
        })
        .collect();
    let statuses = send_all(service, bodies, 8).await;
    assert!(statuses.iter().all(|s| *s == 200), "an event was refused");
    let metrics = service.metrics().await;
    let outcome = Outcome {
        baseline_rss,
        peak_rss: service.peak_rss(),
        probe: probe.finish().await,
        cpu: service.cpu_time().saturating_sub(cpu_before),
        elapsed: started.elapsed(),
    };
    (outcome, metrics)
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
