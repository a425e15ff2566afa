//! What one simulator instance is started with: the accounts it plays and
//! the OAuth credentials each accepts ([`SimAccount`], [`SimCredentials`]),
//! its clock, limits and seed ([`SimConfig`]), and its choice for
//! participants who left a running meeting ([`LeftParticipant`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::random_token;

/// The OAuth credentials of one account's Server-to-Server OAuth app.
#[derive(Debug, Clone)]
pub struct SimCredentials {
    pub account_id: String,
    pub client_id: String,
    pub client_secret: SecretString,
}

impl SimCredentials {
    /// Fixed ids and a fresh random secret: account number 1's.
    pub fn generate() -> Self {
        Self::generate_numbered(1)
    }

    /// Account number `n`'s: ids of the same shape as [`generate`](Self::generate)'s
    /// (`simAccount0000000000002`, `simClientId0000000002` for 2), distinct
    /// for each `n`, and a fresh random secret.
    pub fn generate_numbered(n: u32) -> Self {
        Self {
            account_id: format!("simAccount{n:013}"),
            client_id: format!("simClientId{n:010}"),
            client_secret: SecretString::from(random_token(32)),
        }
    }
}

/// One Zoom account the simulator plays: its app's credentials and its own
/// limits. Zoom's rate limits and daily quota are per account (docs/ZOOM.md,
/// "Rate limits (per account, shared by every app on the account)").
#[derive(Debug, Clone)]
pub struct SimAccount {
    pub credentials: SimCredentials,
    /// Requests per second its Dashboard endpoints accept before answering 429.
    pub qps_limit: Option<u32>,
    /// Its daily quota (see [`SimConfig::daily_limit`]).
    pub daily_limit: Option<u32>,
}

impl SimAccount {
    /// Account number `n` ([`SimCredentials::generate_numbered`]), no limits.
    pub fn numbered(n: u32) -> Self {
        Self {
            credentials: SimCredentials::generate_numbered(n),
            qps_limit: None,
            daily_limit: None,
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
///
/// The first account is [`credentials`](Self::credentials),
/// [`qps_limit`](Self::qps_limit) and [`daily_limit`](Self::daily_limit);
/// [`extra_accounts`](Self::extra_accounts) adds more.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The first account's app.
    pub credentials: SimCredentials,
    /// `expires_in` of issued tokens (whole seconds on the wire, at least 1).
    pub token_lifetime: Duration,
    /// Real (tokio) time per simulated minute: 1 s in tests and the demo, 60 s realistic.
    pub sample_period: Duration,
    /// `type=live` returns at most this many most recent samples.
    pub live_window: u32,
    /// Requests per second the first account's Dashboard endpoints accept
    /// before answering 429 (Zoom's Heavy label).
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
    /// The first account's daily quota of Dashboard requests (Zoom's Heavy label).
    /// When set, every QoS answer carries `X-RateLimit-Limit` and
    /// `X-RateLimit-Remaining` for it, and a request past it is answered
    /// 429 `Daily-limit`. The count never resets by itself (see
    /// [`SimHandle::reset_daily`](crate::SimHandle::reset_daily)).
    pub daily_limit: Option<u32>,
    /// How long a list page's `next_page_token` stays valid (Zoom: 15
    /// minutes; zero makes every token expired on arrival).
    pub page_token_lifetime: Duration,
    /// Simulated minutes each participant has already been in the meeting
    /// when added: the series starts that much earlier, so a load test
    /// sees a long meeting's answers without waiting for it (with a
    /// [`live_window`](Self::live_window) to match). 0: a join is a start.
    pub history_minutes: u32,
    /// Accounts besides the first, each with its own credentials, tokens,
    /// meetings and limits. Their account and client ids must differ from
    /// each other's and the first's.
    pub extra_accounts: Vec<SimAccount>,
}

impl SimConfig {
    /// Every account: the first, then [`extra_accounts`](Self::extra_accounts).
    pub fn accounts(&self) -> Vec<SimAccount> {
        let first = SimAccount {
            credentials: self.credentials.clone(),
            qps_limit: self.qps_limit,
            daily_limit: self.daily_limit,
        };
        std::iter::once(first)
            .chain(self.extra_accounts.iter().cloned())
            .collect()
    }
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
            daily_limit: None,
            page_token_lifetime: Duration::from_secs(15 * 60),
            history_minutes: 0,
            extra_accounts: Vec::new(),
        }
    }
}
