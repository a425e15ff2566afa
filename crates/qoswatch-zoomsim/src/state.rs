//! The simulator's state, shared by the [`SimHandle`](crate::SimHandle) and
//! the server: the accounts, the meetings and their participants (with
//! cached samples), issued tokens, queued faults, degradations, each
//! account's rate-limit counters, page cursors and the request log; and the
//! clock that maps tokio time to simulated minutes.
//!
//! Accounts are numbered by their position in [`Shared::accounts`] (0: the
//! first); everything an account owns carries that number, so two accounts
//! may hold the same meeting UUID or participant id without colliding.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::time::Instant;

use crate::log::{RequestCounts, RequestLog};
use crate::{
    Degradation, Fault, MeetingSpec, ParticipantSpec, SimAccount, SimConfig, SimCredentials,
    SimError,
};

/// State shared by the handle and the server.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    /// Every account, the first first ([`SimConfig::accounts`]).
    pub(crate) accounts: Vec<SimAccount>,
    pub(crate) epoch: Instant,
    pub(crate) epoch_utc: DateTime<Utc>,
    pub(crate) state: Mutex<State>,
}

impl Shared {
    /// The state at start: no meetings, no tokens. The clock starts now, at
    /// [`SimConfig::clock_start`] (default: now, to the minute) in UTC.
    pub(crate) fn new(config: SimConfig) -> anyhow::Result<Self> {
        let now = Instant::now();
        let start_utc = match config.clock_start {
            Some(start) => start,
            None => Utc::now()
                .duration_trunc(TimeDelta::minutes(1))
                .context("rounding the simulator clock to the minute")?,
        };
        // With a history, the clock started that many minutes earlier (and
        // reads the same now), so that joins can be dated back into it.
        let history = config.sample_period.saturating_mul(config.history_minutes);
        let epoch = now
            .checked_sub(history)
            .context("--history reaches back before this machine started")?;
        let epoch_utc = start_utc - TimeDelta::minutes(i64::from(config.history_minutes));
        let accounts = config.accounts();
        check_distinct(&accounts)?;
        Ok(Self {
            epoch,
            epoch_utc,
            state: Mutex::new(State::new(&config, &accounts)),
            accounts,
            config,
        })
    }

    /// The number of the account with this Zoom account id.
    pub(crate) fn account(&self, account_id: &str) -> Result<usize, SimError> {
        self.accounts
            .iter()
            .position(|a| a.credentials.account_id == account_id)
            .ok_or_else(|| SimError::UnknownAccount(account_id.to_owned()))
    }

    /// The Zoom account id of account number `account`.
    pub(crate) fn account_id(&self, account: usize) -> &str {
        &self.accounts[account].credentials.account_id
    }

    /// A new access token of account number `account`, valid for
    /// [`SimConfig::token_lifetime`] (at least a second); its lifetime in seconds.
    pub(crate) fn mint_token(&self, account: usize) -> (String, u64) {
        let access_token = format!("sim.{}", crate::random_token(40));
        let lifetime_secs = self.config.token_lifetime.as_secs().max(1);
        self.lock().tokens.insert(
            access_token.clone(),
            IssuedToken {
                account,
                expires_at: Instant::now() + Duration::from_secs(lifetime_secs),
            },
        );
        (access_token, lifetime_secs)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements; a panic elsewhere
        // must not take the whole simulator down.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn period_nanos(&self) -> u128 {
        self.config.sample_period.as_nanos().max(1)
    }

    /// When a participant added at `now` joined: `now`, or
    /// [`SimConfig::history_minutes`] earlier.
    pub(crate) fn join_time(&self, now: Instant) -> Instant {
        let history = self
            .config
            .sample_period
            .saturating_mul(self.config.history_minutes);
        now.checked_sub(history)
            .unwrap_or(self.epoch)
            .max(self.epoch)
    }

    /// Whole simulated minutes since the epoch at `t`.
    pub(crate) fn sim_minute(&self, t: Instant) -> u64 {
        let elapsed = t.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(elapsed / self.period_nanos()).unwrap_or(u64::MAX)
    }

    /// The simulated UTC time at `t`: one sample period per minute.
    pub(crate) fn sim_utc(&self, t: Instant) -> DateTime<Utc> {
        let elapsed = t.saturating_duration_since(self.epoch).as_nanos();
        let sim_millis = elapsed.saturating_mul(60_000) / self.period_nanos();
        let sim_millis = i64::try_from(sim_millis).unwrap_or(i64::MAX);
        self.epoch_utc + TimeDelta::milliseconds(sim_millis)
    }

    /// The start of simulated minute `minute`.
    pub(crate) fn minute_utc(&self, minute: u64) -> DateTime<Utc> {
        self.epoch_utc + TimeDelta::minutes(i64::try_from(minute).unwrap_or(i64::MAX))
    }
}

/// One identifier of an app's credentials, by name.
type CredentialsKey = (&'static str, fn(&SimCredentials) -> &str);

/// Two accounts with the same account id or client id could not be told
/// apart by a token request: refused at start.
fn check_distinct(accounts: &[SimAccount]) -> anyhow::Result<()> {
    let keys: [CredentialsKey; 2] = [
        ("account id", |c| &c.account_id),
        ("client id", |c| &c.client_id),
    ];
    for (position, account) in accounts.iter().enumerate() {
        for (what, key) in keys {
            let value = key(&account.credentials);
            if accounts[..position]
                .iter()
                .any(|earlier| key(&earlier.credentials) == value)
            {
                anyhow::bail!("two simulated accounts have the {what} {value}");
            }
        }
    }
    Ok(())
}

/// An issued access token: whose it is and when it expires.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IssuedToken {
    pub(crate) account: usize,
    pub(crate) expires_at: Instant,
}

/// One account's counters: its limits as they stand, its use of them and
/// its requests.
#[derive(Debug)]
pub(crate) struct AccountState {
    pub(crate) qps_limit: Option<u32>,
    /// (second since epoch, requests in it).
    pub(crate) qps_window: (u64, u32),
    pub(crate) daily_limit: Option<u32>,
    /// Dashboard requests counted against the daily limit (by qoswatch,
    /// and by "other apps" through the handle).
    pub(crate) daily_used: u32,
    pub(crate) counts: RequestCounts,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) meetings: Vec<Meeting>,
    /// Issued access tokens by token.
    pub(crate) tokens: HashMap<String, IssuedToken>,
    pub(crate) faults: VecDeque<Fault>,
    /// Faults for the token endpoint, one per token request.
    pub(crate) token_faults: VecDeque<Fault>,
    /// Scripted degradations and the account each applies in.
    pub(crate) degradations: Vec<(usize, Degradation)>,
    /// Bumped on every change of `degradations`: invalidates sample caches.
    pub(crate) degradations_version: u64,
    /// By account number.
    pub(crate) accounts: Vec<AccountState>,
    pub(crate) random_429: f64,
    pub(crate) rng: StdRng,
    pub(crate) page_tokens: HashMap<String, PageCursor>,
    pub(crate) log: RequestLog,
    /// Every account's requests together, and the unauthenticated ones.
    pub(crate) counts: RequestCounts,
    pub(crate) participants_added: u64,
}

impl State {
    fn new(config: &SimConfig, accounts: &[SimAccount]) -> Self {
        Self {
            meetings: Vec::new(),
            tokens: HashMap::new(),
            faults: VecDeque::new(),
            token_faults: VecDeque::new(),
            degradations: Vec::new(),
            degradations_version: 0,
            accounts: accounts
                .iter()
                .map(|account| AccountState {
                    qps_limit: account.qps_limit,
                    qps_window: (0, 0),
                    daily_limit: account.daily_limit,
                    daily_used: 0,
                    counts: RequestCounts::default(),
                })
                .collect(),
            random_429: config.random_429.clamp(0.0, 1.0),
            rng: StdRng::seed_from_u64(config.seed),
            page_tokens: HashMap::new(),
            log: RequestLog::with_capacity(config.log_capacity),
            counts: RequestCounts::default(),
            participants_added: 0,
        }
    }

    /// The account a bearer token was issued to, expired or not (`None`
    /// for a token never issued or revoked).
    pub(crate) fn token_account(&self, bearer_token: Option<&str>) -> Option<usize> {
        bearer_token
            .and_then(|token| self.tokens.get(token))
            .map(|issued| issued.account)
    }

    /// Account `account`'s live meeting `uuid`.
    pub(crate) fn live_meeting_mut(
        &mut self,
        account: usize,
        uuid: &str,
    ) -> Result<&mut Meeting, SimError> {
        let meeting = self
            .meetings
            .iter_mut()
            .find(|m| m.account == account && m.spec.uuid == uuid)
            .ok_or_else(|| SimError::UnknownMeeting(uuid.to_owned()))?;
        if meeting.ended_at.is_some() {
            return Err(SimError::MeetingEnded(uuid.to_owned()));
        }
        Ok(meeting)
    }
}

#[derive(Debug)]
pub(crate) struct Meeting {
    /// The number of the account it belongs to.
    pub(crate) account: usize,
    pub(crate) spec: MeetingSpec,
    /// When the meeting was added: its `start_time`.
    pub(crate) started_at: Instant,
    pub(crate) ended_at: Option<Instant>,
    pub(crate) participants: Vec<Participant>,
}

#[derive(Debug)]
pub(crate) struct Participant {
    pub(crate) spec: ParticipantSpec,
    pub(crate) joined_at: Instant,
    pub(crate) left_at: Option<Instant>,
    /// Documentation addresses (RFC 5737), never real ones.
    pub(crate) ip_address: String,
    pub(crate) internal_ip_address: String,
    /// Serialized samples by index, for the current degradations version.
    pub(crate) samples: BTreeMap<u32, String>,
    pub(crate) samples_version: u64,
}

/// Where the next page of a list answer starts.
#[derive(Debug)]
pub(crate) struct PageCursor {
    /// The listing the token belongs to: a meeting's participants or a
    /// meetings list, of one account.
    pub(crate) meeting_uuid: String,
    pub(crate) offset: usize,
    pub(crate) expires_at: Instant,
}
