//! A fake Zoom for tests, benchmarks and `qoswatch simulate` / `qoswatch demo`:
//! Server-to-Server OAuth, the Dashboard QoS endpoints (single participant and
//! list) with Zoom's shapes, errors and rate-limit headers, scripted QoS
//! degradations, fault injection and a request log; plus a webhook sender
//! ([`webhooks`]) and a scenario runner ([`scenario`]) that drive qoswatch
//! through its real endpoint.
//!
//! One simulator plays one or several Zoom accounts behind one API base, as
//! Zoom does: [`SimConfig::extra_accounts`] adds [`SimAccount`]s to the first
//! ([`SimConfig::credentials`]). Each account's app gets tokens of its own
//! account only; a token sees its own account's meetings only
//! ([`MeetingSpec::account_id`]), so two accounts may hold the same meeting
//! UUID and participant ids; each account has its own per-second limit and
//! daily quota (Zoom's are per account, `docs/ZOOM.md`); the request log
//! names each request's account ([`RecordedRequest::account_id`]). The
//! handle's calls that name a meeting by UUID, and its limits and counts,
//! mean the first account; their `_in` / `_of` variants take an account id.
//!
//! ```ignore
//! let sim = Simulator::start(
//!     SimConfig {
//!         extra_accounts: vec![SimAccount { daily_limit: Some(500), ..SimAccount::numbered(2) }],
//!         ..SimConfig::default()
//!     },
//!     "127.0.0.1:0".parse()?,
//! )
//! .await?;
//! let b = sim.accounts()[1].credentials.account_id.clone();
//! sim.add_meeting(MeetingSpec::new(uuid, 123, "B's sync").in_account(&b))?;
//! sim.add_participant_in(&b, uuid, ParticipantSpec::new("16778240", "Bea"))?;
//! // B's app: sim.credentials_of(&b)?; B's webhooks:
//! let hooks = WebhookSender::new(&url, b_secret)?.with_account_id(&b);
//! // … and what qoswatch asked with B's token: sim.qos_requests_of(&b).
//! ```
//!
//! The simulator follows `docs/ZOOM.md` in the repository (Zoom's documented
//! behaviour, with sources) and the payloads in `tests/fixtures/`. Where
//! Zoom's behaviour is unsettled it makes a choice, documented on the item
//! that makes it:
//! - an unknown participant id in a live meeting answers 404 / code 3001;
//! - a participant who left a running meeting answers 200 with `leave_time`
//!   set (or 404 / 3001, see [`LeftParticipant`]);
//! - `type=live` returns the samples since join, capped at the last
//!   [`SimConfig::live_window`] minutes; `type=past` answers for meetings
//!   that ended (only those), with every sample from join to leave;
//! - the Dashboard's meetings list (`GET /metrics/meetings`, `from`/`to`
//!   at most a month apart) and a meeting's details serve the meetings
//!   played, past or live by `type` (see `server::past`);
//! - a meeting id may also be the meeting number (Zoom documents that the
//!   number means the latest instance), and a UUID that needs no double
//!   encoding is accepted encoded once or twice; a UUID that needs double
//!   encoding (starts with `/` or contains `//`) sent encoded once answers
//!   404 / code 3001, as Zoom does;
//! - a token of one account asking for another account's meeting (by UUID
//!   or number, QoS, list or details) gets 404 / code 3001, what Zoom
//!   answers for a wrong id (`docs/ZOOM.md`, Errors), and the meetings list
//!   shows the token's account's meetings only; a page token pages the
//!   listing of the account it was issued to only (400 / code 300 otherwise);
//! - an app's client id and secret asking for another account's token get
//!   400 `invalid_request` ("Invalid account_id"), as for a wrong account id;
//! - injected [`Fault`]s and random 429s stay the simulator's, whichever
//!   account asks next (a 429's headers report that account's limit;
//!   [`Fault::InvalidToken`] revokes that account's tokens only);
//! - a request is attributed to the account of its token even when the
//!   token has expired (it answers 401 / code 124 all the same).
//!
//! Time: the sample clock runs on `tokio::time`, so it works under
//! `#[tokio::test(start_paused = true)]`. One [`SimConfig::sample_period`]
//! of real (tokio) time is one simulated minute: sample `k` of a participant
//! becomes available at the `k+1`-th simulated minute boundary after the
//! join, and its `date_time` advances one minute per period.
//!
//! # Map
//!
//! The Rust API:
//! - `config`: what an instance starts with — [`SimConfig`], its
//!   [`SimAccount`]s and their [`SimCredentials`], [`LeftParticipant`];
//! - `spec`: the meetings and participants put in — [`MeetingSpec`],
//!   [`ParticipantSpec`];
//! - `fault`: failures to inject — [`Fault`], [`RateLimitKind`], [`RetryAfter`];
//! - `handle`: [`Simulator::start`] and the control API on [`SimHandle`],
//!   with [`SimError`]; `handle::accounts`: the same for any account;
//! - [`samples`]: the per-minute QoS samples, their [`Profile`] and scripted
//!   [`Degradation`]s;
//! - [`scenario`]: timelines of steps, the built-in demo and load stories,
//!   and their runner;
//! - [`webhooks`]: signed Zoom webhooks sent to qoswatch;
//! - [`fields`], [`protocol`]: Zoom's field names and protocol rules, as the
//!   simulator reads them from `docs/ZOOM.md`;
//! - [`cli`]: `qoswatch simulate` (`cli::accounts`: `--accounts N`);
//! - `log`: the request log ([`RequestLog`]).
//!
//! Inside:
//! - `state`: the state the handle and the server share (by account), and
//!   the clock;
//! - `server`: the HTTP side — routing on the raw path (`server`), reading
//!   requests (`server::request`), OAuth (`server::oauth`), the QoS
//!   endpoints (`server::qos`), list paging (`server::paging`), faults and
//!   rate limits (`server::limits`) and Zoom-shaped answers
//!   (`server::answers`).

pub mod cli;
mod config;
mod fault;
pub mod fields;
mod handle;
mod log;
pub mod protocol;
pub mod samples;
pub mod scenario;
mod server;
mod spec;
mod state;
pub mod webhooks;

pub use config::{LeftParticipant, SimAccount, SimConfig, SimCredentials};
pub use fault::{Fault, RateLimitKind, RetryAfter};
pub use fields::Field;
pub use handle::{SimError, SimHandle, Simulator};
pub use log::{Endpoint, RecordedRequest, RequestCounts, RequestLog};
pub use samples::{Degradation, Profile, Target};
pub use spec::{MeetingSpec, ParticipantSpec};

/// A random alphanumeric string (tokens, page tokens).
pub fn random_token(len: usize) -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
