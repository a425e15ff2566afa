//! A fake Zoom for tests, benchmarks and `qoswatch simulate` / `qoswatch demo`:
//! Server-to-Server OAuth, the Dashboard QoS endpoints (single participant and
//! list) with Zoom's shapes, errors and rate-limit headers, scripted QoS
//! degradations, fault injection and a request log; plus a webhook sender
//! ([`webhooks`]) and a scenario runner ([`scenario`]) that drive qoswatch
//! through its real endpoint.
//!
//! The simulator follows `docs/ZOOM.md` in the repository (Zoom's documented
//! behaviour, with sources) and the payloads in `tests/fixtures/`. Where
//! Zoom's behaviour is unsettled it makes a choice, documented on the item
//! that makes it:
//! - an unknown participant id in a live meeting answers 404 / code 3001;
//! - a participant who left a running meeting answers 200 with `leave_time`
//!   set (or 404 / 3001, see [`LeftParticipant`]);
//! - `type=live` returns the samples since join, capped at the last
//!   [`SimConfig::live_window`] minutes;
//! - a meeting id may also be the meeting number (Zoom documents that the
//!   number means the latest instance), and a UUID that needs no double
//!   encoding is accepted encoded once or twice; a UUID that needs double
//!   encoding (starts with `/` or contains `//`) sent encoded once answers
//!   404 / code 3001, as Zoom does.
//!
//! Time: the sample clock runs on `tokio::time`, so it works under
//! `#[tokio::test(start_paused = true)]`. One [`SimConfig::sample_period`]
//! of real (tokio) time is one simulated minute: sample `k` of a participant
//! becomes available at the `k+1`-th simulated minute boundary after the
//! join, and its `date_time` advances one minute per period.

pub mod cli;
pub mod fields;
mod log;
pub mod protocol;
pub mod samples;
pub mod scenario;
mod server;
pub mod webhooks;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use secrecy::SecretString;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use fields::Field;
pub use log::{Endpoint, RecordedRequest, RequestLog};
pub use samples::{Degradation, Profile, Target};

/// The OAuth credentials the simulator accepts.
#[derive(Debug, Clone)]
pub struct SimCredentials {
    pub account_id: String,
    pub client_id: String,
    pub client_secret: SecretString,
}

impl SimCredentials {
    /// Fixed ids and a fresh random secret.
    pub fn generate() -> Self {
        Self {
            account_id: "simAccount0000000000001".into(),
            client_id: "simClientId0000000001".into(),
            client_secret: SecretString::from(random_token(32)),
        }
    }
}

/// What the single-participant endpoint answers for a participant who left
/// a meeting that is still running. Unsettled in Zoom's docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeftParticipant {
    /// 200 with `leave_time` set and the samples up to the leave.
    #[default]
    AnswerWithLeaveTime,
    /// 404 / code 3001, like an ended meeting.
    NotFound,
}

/// Settings of one simulator instance.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub credentials: SimCredentials,
    /// `expires_in` of issued tokens (whole seconds on the wire, at least 1).
    pub token_lifetime: Duration,
    /// Real (tokio) time per simulated minute: 1 s in tests and the demo, 60 s realistic.
    pub sample_period: Duration,
    /// `type=live` returns at most this many most recent samples.
    pub live_window: u32,
    /// Requests per second the QoS endpoints accept before answering 429 (Zoom's Heavy label).
    pub qps_limit: Option<u32>,
    /// Probability (0–1) that a QoS request is answered 429 at random (demo).
    pub random_429: f64,
    pub left_participant: LeftParticipant,
    /// Seed of the simulator's own randomness (random 429s, IP addresses).
    pub seed: u64,
    /// The simulated UTC time at start; default: now, rounded down to the minute.
    pub clock_start: Option<DateTime<Utc>>,
    /// How many requests the log keeps (the oldest are dropped beyond).
    pub log_capacity: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            credentials: SimCredentials::generate(),
            token_lifetime: Duration::from_secs(3600),
            sample_period: Duration::from_secs(1),
            live_window: 30,
            qps_limit: None,
            random_429: 0.0,
            left_participant: LeftParticipant::default(),
            seed: 0x5EED,
            clock_start: None,
            log_capacity: 100_000,
        }
    }
}

/// A meeting instance the simulator knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingSpec {
    /// The instance UUID (`payload.object.uuid`).
    pub uuid: String,
    /// The meeting number (`payload.object.id`).
    pub id: u64,
    pub topic: String,
    /// The host's Zoom user id (`payload.object.host_id`).
    pub host_id: String,
}

impl MeetingSpec {
    pub fn new(uuid: impl Into<String>, id: u64, topic: impl Into<String>) -> Self {
        Self {
            uuid: uuid.into(),
            id,
            topic: topic.into(),
            host_id: "8lzIwvZTSOqjndWPbPqzuA".into(),
        }
    }
}

/// A participant the simulator serves QoS for.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantSpec {
    /// Meeting-scoped numeric string: the QoS endpoint's `{participantId}`.
    pub user_id: String,
    pub user_name: String,
    /// May be empty (guests).
    pub email: String,
    /// The Zoom account user id; empty for guests.
    pub id: String,
    pub participant_uuid: String,
    /// `"Windows"`, `"Mac"`, `"Android"`, …
    pub device: String,
    /// Zoom's location string, e.g. `"Berlin (DE)"`; an office shares one.
    pub location: String,
    pub profile: Profile,
}

impl ParticipantSpec {
    /// A healthy signed-in participant on Wi-Fi; the seed comes from the user id.
    pub fn new(user_id: impl Into<String>, user_name: impl Into<String>) -> Self {
        let user_id = user_id.into();
        let seed = user_id
            .bytes()
            .fold(0xCBF2_9CE4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3)
            });
        let user_name = user_name.into();
        let local_part: String = user_name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        Self {
            participant_uuid: format!("SIM-{user_id}"),
            id: format!("simUser{user_id}"),
            email: format!("{local_part}@example.com"),
            user_id,
            user_name,
            device: "Windows".into(),
            location: "Remote (US)".into(),
            profile: Profile::healthy(seed),
        }
    }

    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = location.into();
        self
    }

    pub fn with_device(mut self, device: impl Into<String>) -> Self {
        self.device = device.into();
        self
    }

    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// A guest: no account user id, no e-mail.
    pub fn as_guest(mut self) -> Self {
        self.id.clear();
        self.email.clear();
        self
    }
}

/// What a 429 says about the limit that was hit (`X-RateLimit-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitKind {
    /// Per-second limit (`QPS`).
    Qps,
    /// Daily quota (`Daily-limit`).
    Daily,
}

/// How a 429 carries `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// An ISO-8601 UTC timestamp this far after the (wall-clock) answer time,
    /// rounded up to the whole second.
    At(Duration),
    /// A number of seconds.
    Seconds(u64),
    /// No `Retry-After` header.
    Absent,
}

/// One injected failure, consumed by the next QoS request (either endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After` as given; `headers: Some(kind)` adds Zoom's
    /// `X-RateLimit-Type`/`-Category`/`-Limit`/`-Remaining`, `None` omits them
    /// as real answers sometimes do.
    RateLimited {
        retry_after: RetryAfter,
        headers: Option<RateLimitKind>,
    },
    /// 401 / code 124, and every issued token is revoked.
    InvalidToken,
    /// 404 / code 3001.
    MeetingNotFound,
    /// 400 / code 200: account not entitled to the Dashboard.
    NotEntitled,
    /// A 5xx with a gateway's HTML body.
    ServerError { status: u16 },
    /// Waits this long (tokio time), then answers normally.
    Slow(Duration),
}

impl Fault {
    /// A QPS 429 with `Retry-After: <seconds>` and the rate-limit headers.
    pub fn rate_limited_seconds(seconds: u64) -> Self {
        Fault::RateLimited {
            retry_after: RetryAfter::Seconds(seconds),
            headers: Some(RateLimitKind::Qps),
        }
    }

    /// A daily-quota 429 with an ISO-8601 `Retry-After` `after` from now.
    pub fn daily_limit_until(after: Duration) -> Self {
        Fault::RateLimited {
            retry_after: RetryAfter::At(after),
            headers: Some(RateLimitKind::Daily),
        }
    }

    /// A 429 with no `Retry-After` and no rate-limit headers.
    pub fn rate_limited_bare() -> Self {
        Fault::RateLimited {
            retry_after: RetryAfter::Absent,
            headers: None,
        }
    }
}

/// A control-API call that does not fit the simulator's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("meeting {0} is already running in the simulator")]
    DuplicateMeeting(String),
    #[error("meeting {0} is unknown to the simulator")]
    UnknownMeeting(String),
    #[error("meeting {0} has ended")]
    MeetingEnded(String),
    #[error("participant {user_id} is already in meeting {meeting_uuid}")]
    DuplicateParticipant {
        meeting_uuid: String,
        user_id: String,
    },
    #[error("participant {user_id} is not in meeting {meeting_uuid}")]
    UnknownParticipant {
        meeting_uuid: String,
        user_id: String,
    },
    #[error("participant {user_id} already left meeting {meeting_uuid}")]
    AlreadyLeft {
        meeting_uuid: String,
        user_id: String,
    },
}

/// Starts simulators.
#[derive(Debug)]
pub struct Simulator {
    _private: (),
}

impl Simulator {
    /// Binds `addr` (port 0 picks a free port) and serves on a task owned by
    /// a `TaskTracker` and `CancellationToken` of its own.
    pub async fn start(config: SimConfig, addr: SocketAddr) -> anyhow::Result<SimHandle> {
        Self::start_with(config, addr, &TaskTracker::new(), &CancellationToken::new()).await
    }

    /// Like [`Simulator::start`], with the server task spawned on `tracker`
    /// and stopped when `cancel` (or [`SimHandle::shutdown`]) fires.
    pub async fn start_with(
        config: SimConfig,
        addr: SocketAddr,
        tracker: &TaskTracker,
        cancel: &CancellationToken,
    ) -> anyhow::Result<SimHandle> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the Zoom simulator to {addr}"))?;
        let local_addr = listener
            .local_addr()
            .context("reading the simulator's bound address")?;
        let epoch = Instant::now();
        let epoch_utc = match config.clock_start {
            Some(start) => start,
            None => Utc::now()
                .duration_trunc(TimeDelta::minutes(1))
                .context("rounding the simulator clock to the minute")?,
        };
        let shared = Arc::new(Shared {
            epoch,
            epoch_utc,
            state: Mutex::new(State {
                meetings: Vec::new(),
                tokens: HashMap::new(),
                faults: VecDeque::new(),
                degradations: Vec::new(),
                degradations_version: 0,
                qps_limit: config.qps_limit,
                qps_window: (0, 0),
                random_429: config.random_429.clamp(0.0, 1.0),
                rng: StdRng::seed_from_u64(config.seed),
                page_tokens: HashMap::new(),
                log: RequestLog::with_capacity(config.log_capacity),
                participants_added: 0,
            }),
            config,
        });
        let cancel = cancel.child_token();
        let router = server::router(shared.clone());
        let shutdown = cancel.clone().cancelled_owned();
        let server = tracker.spawn(async move {
            let result = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await;
            if let Err(error) = result {
                tracing::error!(error = %error, "Zoom simulator server failed");
            }
        });
        tracing::info!(addr = %local_addr, "Zoom simulator listening");
        Ok(SimHandle {
            shared,
            addr: local_addr,
            cancel,
            server: Arc::new(Mutex::new(Some(server))),
        })
    }
}

/// A cloneable handle on a running simulator: its URLs and credentials, the
/// control API and the request log.
#[derive(Debug, Clone)]
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    cancel: CancellationToken,
    server: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl SimHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v2`, the API base to configure in qoswatch.
    pub fn api_base(&self) -> String {
        format!("http://{}/v2", self.addr)
    }

    /// `http://127.0.0.1:PORT/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("http://{}/oauth/token", self.addr)
    }

    pub fn credentials(&self) -> &SimCredentials {
        &self.shared.config.credentials
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// The simulated UTC time now.
    pub fn sim_now(&self) -> DateTime<Utc> {
        self.shared.sim_utc(Instant::now())
    }

    /// Starts a meeting instance.
    pub fn add_meeting(&self, meeting: MeetingSpec) -> Result<(), SimError> {
        let mut state = self.shared.lock();
        if state.meetings.iter().any(|m| m.spec.uuid == meeting.uuid) {
            return Err(SimError::DuplicateMeeting(meeting.uuid));
        }
        state.meetings.push(Meeting {
            spec: meeting,
            ended_at: None,
            participants: Vec::new(),
        });
        Ok(())
    }

    /// A participant joins now. Returns the simulated join time.
    pub fn add_participant(
        &self,
        meeting_uuid: &str,
        participant: ParticipantSpec,
    ) -> Result<DateTime<Utc>, SimError> {
        let now = Instant::now();
        let mut state = self.shared.lock();
        state.participants_added += 1;
        // Documentation addresses (RFC 5737), never a real one.
        let host = state.participants_added % 254 + 1;
        let ip_address = format!("192.0.2.{host}");
        let internal_ip_address = format!("198.51.100.{host}");
        let meeting = state.live_meeting_mut(meeting_uuid)?;
        if meeting
            .participants
            .iter()
            .any(|p| p.spec.user_id == participant.user_id)
        {
            return Err(SimError::DuplicateParticipant {
                meeting_uuid: meeting_uuid.to_owned(),
                user_id: participant.user_id,
            });
        }
        meeting.participants.push(Participant {
            spec: participant,
            joined_at: now,
            left_at: None,
            ip_address,
            internal_ip_address,
            samples: BTreeMap::new(),
            samples_version: 0,
        });
        Ok(self.shared.sim_utc(now))
    }

    /// The participant leaves now. Returns the simulated `leave_time`.
    pub fn participant_leaves(
        &self,
        meeting_uuid: &str,
        user_id: &str,
    ) -> Result<DateTime<Utc>, SimError> {
        let now = Instant::now();
        let mut state = self.shared.lock();
        let meeting = state.live_meeting_mut(meeting_uuid)?;
        let participant = meeting
            .participants
            .iter_mut()
            .find(|p| p.spec.user_id == user_id)
            .ok_or_else(|| SimError::UnknownParticipant {
                meeting_uuid: meeting_uuid.to_owned(),
                user_id: user_id.to_owned(),
            })?;
        if participant.left_at.is_some() {
            return Err(SimError::AlreadyLeft {
                meeting_uuid: meeting_uuid.to_owned(),
                user_id: user_id.to_owned(),
            });
        }
        participant.left_at = Some(now);
        Ok(self.shared.sim_utc(now))
    }

    /// Ends the meeting now: its QoS answers 404 / code 3001 from here on.
    /// Participants still in it leave at the same time.
    pub fn end_meeting(&self, meeting_uuid: &str) -> Result<DateTime<Utc>, SimError> {
        let now = Instant::now();
        let mut state = self.shared.lock();
        let meeting = state.live_meeting_mut(meeting_uuid)?;
        meeting.ended_at = Some(now);
        for participant in &mut meeting.participants {
            participant.left_at.get_or_insert(now);
        }
        Ok(self.shared.sim_utc(now))
    }

    /// Adds a scripted degradation; it applies to samples served from now on
    /// (including past sample indices in its window).
    pub fn add_degradation(&self, degradation: Degradation) {
        let mut state = self.shared.lock();
        state.degradations.push(degradation);
        state.degradations_version += 1;
    }

    /// Queues a fault for the next QoS request.
    pub fn push_fault(&self, fault: Fault) {
        self.shared.lock().faults.push_back(fault);
    }

    /// Queues faults, consumed one per QoS request in this order.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.lock().faults.extend(faults);
    }

    /// Faults not yet consumed.
    pub fn pending_faults(&self) -> usize {
        self.shared.lock().faults.len()
    }

    /// Revokes every issued token: the next QoS request answers 401 / code 124.
    pub fn revoke_tokens(&self) {
        self.shared.lock().tokens.clear();
    }

    /// Sets (or removes) the per-second limit of the QoS endpoints.
    pub fn set_qps_limit(&self, limit: Option<u32>) {
        let mut state = self.shared.lock();
        state.qps_limit = limit;
        state.qps_window = (0, 0);
    }

    /// Sets the probability (0–1) of a random 429 on a QoS request.
    pub fn set_random_429(&self, probability: f64) {
        self.shared.lock().random_429 = probability.clamp(0.0, 1.0);
    }

    /// A snapshot of the request log.
    pub fn log(&self) -> RequestLog {
        self.shared.lock().log.clone()
    }

    pub fn token_requests(&self) -> usize {
        self.shared.lock().log.token_requests()
    }

    pub fn qos_requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().log.qos_requests()
    }

    pub fn qos_requests_for(&self, user_id: &str) -> usize {
        self.shared.lock().log.qos_requests_for(user_id)
    }

    /// Polls the log every 10 ms (tokio time) until `predicate` holds or
    /// `within` has passed; returns whether it held. The predicate runs
    /// under the log's lock: keep it quick.
    pub async fn wait_until(
        &self,
        predicate: impl Fn(&RequestLog) -> bool,
        within: Duration,
    ) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if predicate(&self.shared.lock().log) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops serving and waits for the server task to finish.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        let server = self
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(server) = server
            && let Err(error) = server.await
        {
            tracing::error!(error = %error, "Zoom simulator task panicked");
        }
    }
}

/// State shared by the handle and the server.
#[derive(Debug)]
struct Shared {
    config: SimConfig,
    epoch: Instant,
    epoch_utc: DateTime<Utc>,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements; a panic elsewhere
        // must not take the whole simulator down.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn period_nanos(&self) -> u128 {
        self.config.sample_period.as_nanos().max(1)
    }

    /// Whole simulated minutes since the epoch at `t`.
    fn sim_minute(&self, t: Instant) -> u64 {
        let elapsed = t.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(elapsed / self.period_nanos()).unwrap_or(u64::MAX)
    }

    /// The simulated UTC time at `t`: one sample period per minute.
    fn sim_utc(&self, t: Instant) -> DateTime<Utc> {
        let elapsed = t.saturating_duration_since(self.epoch).as_nanos();
        let sim_millis = elapsed.saturating_mul(60_000) / self.period_nanos();
        let sim_millis = i64::try_from(sim_millis).unwrap_or(i64::MAX);
        self.epoch_utc + TimeDelta::milliseconds(sim_millis)
    }

    /// The start of simulated minute `minute`.
    fn minute_utc(&self, minute: u64) -> DateTime<Utc> {
        self.epoch_utc + TimeDelta::minutes(i64::try_from(minute).unwrap_or(i64::MAX))
    }
}

#[derive(Debug)]
struct State {
    meetings: Vec<Meeting>,
    /// Issued access tokens and when they expire.
    tokens: HashMap<String, Instant>,
    faults: VecDeque<Fault>,
    degradations: Vec<Degradation>,
    /// Bumped on every change of `degradations`: invalidates sample caches.
    degradations_version: u64,
    qps_limit: Option<u32>,
    /// (second since epoch, requests in it).
    qps_window: (u64, u32),
    random_429: f64,
    rng: StdRng,
    page_tokens: HashMap<String, PageCursor>,
    log: RequestLog,
    participants_added: u64,
}

impl State {
    fn live_meeting_mut(&mut self, uuid: &str) -> Result<&mut Meeting, SimError> {
        let meeting = self
            .meetings
            .iter_mut()
            .find(|m| m.spec.uuid == uuid)
            .ok_or_else(|| SimError::UnknownMeeting(uuid.to_owned()))?;
        if meeting.ended_at.is_some() {
            return Err(SimError::MeetingEnded(uuid.to_owned()));
        }
        Ok(meeting)
    }
}

#[derive(Debug)]
struct Meeting {
    spec: MeetingSpec,
    ended_at: Option<Instant>,
    participants: Vec<Participant>,
}

#[derive(Debug)]
struct Participant {
    spec: ParticipantSpec,
    joined_at: Instant,
    left_at: Option<Instant>,
    /// Documentation addresses (RFC 5737), never real ones.
    ip_address: String,
    internal_ip_address: String,
    /// Serialized samples by index, for the current degradations version.
    samples: BTreeMap<u32, String>,
    samples_version: u64,
}

/// Where the next page of a list answer starts.
#[derive(Debug)]
struct PageCursor {
    meeting_uuid: String,
    offset: usize,
    expires_at: Instant,
}

/// A random alphanumeric string (tokens, page tokens).
pub fn random_token(len: usize) -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
