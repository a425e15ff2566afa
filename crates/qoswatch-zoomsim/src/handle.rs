//! The Rust side of the simulator: [`Simulator::start`] binds and serves,
//! and the [`SimHandle`] it returns is the control API (meetings,
//! participants, degradations, faults, limits), the clock and the request
//! log. A call that does not fit the state fails with [`SimError`].
//!
//! The methods here that name a meeting by UUID, and the limits and counts,
//! mean the first account; `accounts` holds their variants for any account
//! (`add_participant_in`, `daily_used_of`, …).

mod accounts;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::log::{RecordedRequest, RequestLog};
use crate::state::{Meeting, Participant, Shared};
use crate::{Degradation, Fault, MeetingSpec, ParticipantSpec, SimConfig, SimCredentials, server};

/// A control-API call that does not fit the simulator's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("account {0} is not one of the simulator's accounts")]
    UnknownAccount(String),
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
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the Zoom simulator to {addr}"))?;
        let local_addr = listener
            .local_addr()
            .context("reading the simulator's bound address")?;
        let shared = Arc::new(Shared::new(config)?);
        let cancel = cancel.child_token();
        let server = tracker.spawn(serve(listener, shared.clone(), cancel.clone()));
        tracing::info!(addr = %local_addr, "Zoom simulator listening");
        Ok(SimHandle {
            shared,
            addr: local_addr,
            cancel,
            server: Arc::new(Mutex::new(Some(server))),
        })
    }
}

/// Serves the simulator's routes on `listener` until `cancel` fires.
async fn serve(listener: TcpListener, shared: Arc<Shared>, cancel: CancellationToken) {
    let result = axum::serve(listener, server::router(shared))
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await;
    if let Err(error) = result {
        tracing::error!(error = %error, "Zoom simulator server failed");
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

    /// The first account's app credentials.
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

    /// Starts a meeting instance, in [`MeetingSpec::account_id`]'s account
    /// (default: the first). Its UUID must be new in that account.
    pub fn add_meeting(&self, meeting: MeetingSpec) -> Result<(), SimError> {
        let account = match &meeting.account_id {
            Some(account_id) => self.shared.account(account_id)?,
            None => 0,
        };
        let mut state = self.shared.lock();
        if state
            .meetings
            .iter()
            .any(|m| m.account == account && m.spec.uuid == meeting.uuid)
        {
            return Err(SimError::DuplicateMeeting(meeting.uuid));
        }
        state.meetings.push(Meeting {
            account,
            spec: meeting,
            started_at: Instant::now(),
            ended_at: None,
            participants: Vec::new(),
        });
        Ok(())
    }

    /// A participant joins the first account's meeting now (with
    /// [`SimConfig::history_minutes`], joined that long ago). Returns the
    /// simulated join time. See [`add_participant_in`](Self::add_participant_in).
    pub fn add_participant(
        &self,
        meeting_uuid: &str,
        participant: ParticipantSpec,
    ) -> Result<DateTime<Utc>, SimError> {
        self.add_participant_at(0, meeting_uuid, participant)
    }

    fn add_participant_at(
        &self,
        account: usize,
        meeting_uuid: &str,
        participant: ParticipantSpec,
    ) -> Result<DateTime<Utc>, SimError> {
        let joined_at = self.shared.join_time(Instant::now());
        let mut state = self.shared.lock();
        state.participants_added += 1;
        // Documentation addresses (RFC 5737), never a real one.
        let host = state.participants_added % 254 + 1;
        let ip_address = format!("192.0.2.{host}");
        let internal_ip_address = format!("198.51.100.{host}");
        let meeting = state.live_meeting_mut(account, meeting_uuid)?;
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
            joined_at,
            left_at: None,
            ip_address,
            internal_ip_address,
            samples: BTreeMap::new(),
            samples_version: 0,
        });
        Ok(self.shared.sim_utc(joined_at))
    }

    /// The participant leaves the first account's meeting now. Returns the
    /// simulated `leave_time`.
    pub fn participant_leaves(
        &self,
        meeting_uuid: &str,
        user_id: &str,
    ) -> Result<DateTime<Utc>, SimError> {
        self.participant_leaves_at(0, meeting_uuid, user_id)
    }

    fn participant_leaves_at(
        &self,
        account: usize,
        meeting_uuid: &str,
        user_id: &str,
    ) -> Result<DateTime<Utc>, SimError> {
        let now = Instant::now();
        let mut state = self.shared.lock();
        let meeting = state.live_meeting_mut(account, meeting_uuid)?;
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

    /// Ends the first account's meeting now: its QoS answers 404 / code
    /// 3001 from here on. Participants still in it leave at the same time.
    pub fn end_meeting(&self, meeting_uuid: &str) -> Result<DateTime<Utc>, SimError> {
        self.end_meeting_at(0, meeting_uuid)
    }

    fn end_meeting_at(
        &self,
        account: usize,
        meeting_uuid: &str,
    ) -> Result<DateTime<Utc>, SimError> {
        let now = Instant::now();
        let mut state = self.shared.lock();
        let meeting = state.live_meeting_mut(account, meeting_uuid)?;
        meeting.ended_at = Some(now);
        for participant in &mut meeting.participants {
            participant.left_at.get_or_insert(now);
        }
        Ok(self.shared.sim_utc(now))
    }

    /// The newest `newest` samples participant `user_id` of the first
    /// account's live call `meeting_uuid` has now (at most the live
    /// window's), oldest first, as Dashboard-shaped `user_qos[]` entries:
    /// what a QSS event
    /// ([`WebhookSender::participant_qos`](crate::webhooks::WebhookSender::participant_qos))
    /// reports. Empty for a participant not in a live call.
    pub fn qss_samples(
        &self,
        meeting_uuid: &str,
        user_id: &str,
        newest: usize,
    ) -> Vec<serde_json::Value> {
        self.qss_samples_at(0, meeting_uuid, user_id, newest)
    }

    fn qss_samples_at(
        &self,
        account: usize,
        meeting_uuid: &str,
        user_id: &str,
        newest: usize,
    ) -> Vec<serde_json::Value> {
        let samples = crate::server::live_samples(&self.shared, account, meeting_uuid, user_id)
            .unwrap_or_default();
        let skip = samples.len().saturating_sub(newest);
        samples
            .iter()
            .skip(skip)
            .filter_map(|sample| serde_json::from_str(sample).ok())
            .collect()
    }

    /// Adds a scripted degradation to the first account's participants; it
    /// applies to samples served from now on (including past sample indices
    /// in its window). See [`add_degradation_in`](Self::add_degradation_in).
    pub fn add_degradation(&self, degradation: Degradation) {
        self.add_degradation_at(0, degradation);
    }

    fn add_degradation_at(&self, account: usize, degradation: Degradation) {
        let mut state = self.shared.lock();
        state.degradations.push((account, degradation));
        state.degradations_version += 1;
    }

    /// Queues a fault for the next QoS request (of any account).
    pub fn push_fault(&self, fault: Fault) {
        self.shared.lock().faults.push_back(fault);
    }

    /// Queues faults, consumed one per QoS request in this order.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.lock().faults.extend(faults);
    }

    /// Queues a fault for the next token request (`POST /oauth/token`),
    /// answered instead of a token: e.g. an [`Fault::OversizedAnswer`] or a
    /// [`Fault::ServerError`].
    pub fn push_token_fault(&self, fault: Fault) {
        self.shared.lock().token_faults.push_back(fault);
    }

    /// Faults not yet consumed.
    pub fn pending_faults(&self) -> usize {
        self.shared.lock().faults.len()
    }

    /// A valid access token of the first account without the OAuth round
    /// trip, for tests whose subject is something else (the OAuth endpoint
    /// has tests of its own).
    pub fn grant_token(&self) -> String {
        self.shared.mint_token(0).0
    }

    /// Revokes every issued token (of every account): the next QoS request
    /// answers 401 / code 124.
    pub fn revoke_tokens(&self) {
        self.shared.lock().tokens.clear();
    }

    /// Sets (or removes) the first account's per-second limit of the
    /// Dashboard endpoints.
    pub fn set_qps_limit(&self, limit: Option<u32>) {
        self.set_qps_limit_at(0, limit);
    }

    fn set_qps_limit_at(&self, account: usize, limit: Option<u32>) {
        let mut state = self.shared.lock();
        let account = &mut state.accounts[account];
        account.qps_limit = limit;
        account.qps_window = (0, 0);
    }

    /// Sets the probability (0–1) of a random 429 on a QoS request.
    pub fn set_random_429(&self, probability: f64) {
        self.shared.lock().random_429 = probability.clamp(0.0, 1.0);
    }

    /// A snapshot of the request log.
    pub fn log(&self) -> RequestLog {
        self.shared.lock().log.clone()
    }

    /// Requests answered since the start, by endpoint (never dropped), of
    /// every account together.
    pub fn request_counts(&self) -> crate::RequestCounts {
        self.shared.lock().counts
    }

    /// Other apps on the first account spend `requests` of its daily quota.
    pub fn consume_daily(&self, requests: u32) {
        self.consume_daily_at(0, requests);
    }

    fn consume_daily_at(&self, account: usize, requests: u32) {
        let mut state = self.shared.lock();
        let account = &mut state.accounts[account];
        account.daily_used = account.daily_used.saturating_add(requests);
    }

    /// The first account's daily quota count so far (qoswatch's requests
    /// and other apps').
    pub fn daily_used(&self) -> u32 {
        self.shared.lock().accounts[0].daily_used
    }

    /// A new UTC day: every account's daily quota count starts again from 0.
    pub fn reset_daily(&self) {
        for account in &mut self.shared.lock().accounts {
            account.daily_used = 0;
        }
    }

    pub fn token_requests(&self) -> usize {
        self.shared.lock().log.token_requests()
    }

    /// Requests to either QoS endpoint, of every account, oldest first.
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
