//! Zoom's Dashboard API, as qoswatch uses it: Server-to-Server OAuth,
//! *Get meeting participant QoS* and its list form, *List meeting
//! participants QoS* (paged). The client classifies Zoom's answers into
//! [`ZoomError`]s; what to do about them is the watcher's policy.
//!
//! - this file: the client, its settings and errors, the live QoS calls
//!   (one participant, a page of the list) and the one request path every
//!   call takes (budget, token, 401 renewal, classification);
//! - `token`: the access token cache (single flight, failures remembered);
//! - `answers`: bodies read under `zoom.max_answer_bytes`, refusals and
//!   429s classified, errors without URLs;
//! - `past`: the backtest's calls (past meetings, their QoS pages).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Mutex, Semaphore, SemaphorePermit};

use super::{encode_meeting_uuid, encode_path_segment};
use crate::logging::LogEvery;
use crate::quota::AccountLabel;
use crate::quota::budget::{Budget, BudgetError};
use answers::{
    AnswerLabel, QOS_ANSWER, ZoomErrorBody, classify_refusal, daily_remaining, without_url,
};
use qoswatch_core::alert::CallKind;
use qoswatch_core::qos::{
    MeetingQosPage, ParseReport, ParticipantQos, parse_meeting_qos_page,
    parse_participant_qos_since,
};
use token::TokenState;

mod answers;
mod past;
mod token;

pub use past::{PastMeeting, PastMeetingsPage};

/// The Server-to-Server OAuth app's credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub account_id: SecretString,
    pub client_id: SecretString,
    pub client_secret: SecretString,
}

/// Where and how to reach Zoom.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub api_base: String,
    pub token_url: String,
    pub request_timeout: Duration,
    pub token_refresh_margin: Duration,
    /// The most bytes read of any answer (QoS, token, error); past it the
    /// answer is dropped unread and the request failed.
    pub max_answer_bytes: usize,
    /// The most QoS requests in flight at once, each from before it takes
    /// the budget's permit to its answer parsed (`zoom.max_requests_in_flight`).
    pub max_requests_in_flight: usize,
}

/// The most samples taken from one QoS answer: the newest ones win.
///
/// Zoom's samples are one a minute, and a watch lives at most
/// `polling.max_watch_age` (24 h by default): 1,440 samples is everything a
/// day-long watch can see, should `type=live` return the whole series since
/// the join (unsettled, docs/ZOOM.md). An answer can hold far more only if
/// it is broken or hostile (up to `zoom.max_answer_bytes` / 40 bytes of
/// minimal entries); evaluating the older ones would cost CPU for alerts
/// about the past, and the newest are the ones that say how the call is now.
pub const MAX_SAMPLES_PER_ANSWER: usize = 1440;

/// How often the "answer too large" warning may be logged.
const TOO_LARGE_LOG_EVERY: Duration = Duration::from_secs(60);

/// Zoom's answers, classified so a caller can act on them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ZoomError {
    /// 429: every watcher is paused for `pause` already (see [`Budget`]).
    #[error("rate limited by Zoom; all polling paused for {pause:?}")]
    RateLimited { pause: Duration },
    /// The daily quota of this process is used up.
    #[error(transparent)]
    Quota(#[from] BudgetError),
    /// 401 even with a fresh token.
    #[error("Zoom rejected a fresh access token (401)")]
    Unauthorized,
    /// The token endpoint refused our credentials: an operator must fix them.
    #[error("Zoom's token endpoint refused the credentials ({status}): {reason}")]
    BadCredentials { status: u16, reason: String },
    /// 404 / code 3001: the meeting is not live (ended, not started) or the id is wrong.
    #[error("meeting not live or not found (Zoom code 3001)")]
    NotLive,
    /// 400 / code 200: no Business+ plan or Dashboard disabled.
    #[error("Zoom account is not entitled to the Dashboard API (code 200): {message}")]
    NotEntitled { message: String },
    /// Another 4xx: a request Zoom will keep refusing.
    #[error("Zoom refused the request ({status}, code {code:?}): {message}")]
    Rejected {
        status: u16,
        code: Option<i64>,
        message: String,
    },
    /// 5xx, timeouts, connection failures: worth retrying later.
    #[error("transient Zoom failure: {0}")]
    Transient(String),
    /// The answer was larger than `zoom.max_answer_bytes` and was not read
    /// further: a failed request, retried with back-off (counted and logged
    /// by the client, once a minute).
    #[error("Zoom's answer was larger than {limit} bytes (zoom.max_answer_bytes); not read")]
    AnswerTooLarge { limit: usize },
}

/// The client's metric families, registered once: the token's are
/// labelled by account (whose credentials Zoom refuses matters), the
/// others count the deployment's requests (the budgets count them per
/// account).
#[derive(Debug, Clone, Default)]
pub struct ClientMetrics {
    token_fetches: Family<AccountLabel, Counter>,
    token_failures: Family<AccountLabel, Counter>,
    unauthorized: Family<AccountLabel, Counter>,
    too_large: Family<AnswerLabel, Counter>,
    qos_requests: Family<EndpointLabel, Counter>,
}

/// One account's client's series.
#[derive(Debug, Clone)]
struct ClientCounters {
    token_fetches: Counter,
    token_failures: Counter,
    unauthorized: Counter,
    too_large: Family<AnswerLabel, Counter>,
    qos_requests: Family<EndpointLabel, Counter>,
}

impl ClientMetrics {
    /// `account`'s series, created at 0.
    fn of(&self, account: &qoswatch_core::alert::Account) -> ClientCounters {
        let label = AccountLabel::of(account);
        ClientCounters {
            token_fetches: self.token_fetches.get_or_create(&label).clone(),
            token_failures: self.token_failures.get_or_create(&label).clone(),
            unauthorized: self.unauthorized.get_or_create(&label).clone(),
            too_large: self.too_large.clone(),
            qos_requests: self.qos_requests.clone(),
        }
    }
}

impl ClientMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = ClientMetrics::default();
        registry.register(
            "qoswatch_zoom_token_fetches",
            "Access tokens requested from Zoom's OAuth endpoint",
            metrics.token_fetches.clone(),
        );
        registry.register(
            "qoswatch_zoom_token_failures",
            "Failed access token requests",
            metrics.token_failures.clone(),
        );
        registry.register(
            "qoswatch_zoom_unauthorized",
            "401 answers from Zoom's API (token renewed and retried once)",
            metrics.unauthorized.clone(),
        );
        registry.register(
            "qoswatch_zoom_qos_requests",
            "Requests sent to Zoom's QoS endpoints, by endpoint (participant: one participant; list: one page of a meeting)",
            metrics.qos_requests.clone(),
        );
        registry.register(
            "qoswatch_zoom_answers_too_large",
            "Zoom answers larger than zoom.max_answer_bytes, dropped unread (by answer: qos, token, error)",
            metrics.too_large.clone(),
        );
        metrics
    }
}

/// The Zoom API client. One per account, shared by its watchers.
#[derive(Debug)]
pub struct ZoomClient {
    http: reqwest::Client,
    settings: ClientSettings,
    credentials: Credentials,
    budget: Arc<Budget>,
    /// Held across the token request: however many watchers need a token at
    /// once, one request goes out and the others wait for its answer.
    token: Mutex<TokenState>,
    metrics: ClientCounters,
    too_large_log: LogEvery,
    /// Slots of `max_requests_in_flight`: a QoS request takes one before
    /// the budget's permit (a request waiting for a slot spends no rate)
    /// and gives it back once its answer is parsed.
    in_flight: Semaphore,
}

impl ZoomClient {
    pub fn new(
        settings: ClientSettings,
        credentials: Credentials,
        budget: Arc<Budget>,
        registry: &mut Registry,
    ) -> anyhow::Result<Self> {
        Self::with_metrics(
            settings,
            credentials,
            budget,
            &ClientMetrics::register(registry),
        )
    }

    /// A client of `budget`'s account, counting into `metrics` (shared by
    /// the accounts' clients).
    pub fn with_metrics(
        settings: ClientSettings,
        credentials: Credentials,
        budget: Arc<Budget>,
        metrics: &ClientMetrics,
    ) -> anyhow::Result<Self> {
        let metrics = metrics.of(budget.account());
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("qoswatch/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            credentials,
            budget,
            token: Mutex::new(TokenState::default()),
            metrics,
            too_large_log: LogEvery::new(TOO_LARGE_LOG_EVERY),
            in_flight: Semaphore::new(settings.max_requests_in_flight.max(1)),
            settings,
        })
    }

    /// A slot for one QoS request, held until its answer is parsed.
    async fn slot(&self) -> SemaphorePermit<'_> {
        self.in_flight
            .acquire()
            .await
            .expect("the client never closes its semaphore")
    }

    /// `GET /metrics/meetings/{uuid}/participants/{user_id}/qos?type=live`
    /// (`/metrics/webinars/…` for a webinar): the participant's details and
    /// its samples after `after` (the newest one already seen), older ones
    /// skipped unbuilt.
    pub async fn participant_qos(
        &self,
        call: impl Into<Call<'_>>,
        user_id: &str,
        after: Option<DateTime<Utc>>,
    ) -> Result<(ParticipantQos, ParseReport), ZoomError> {
        let call = call.into();
        let url = format!(
            "{}/metrics/{}/{}/participants/{}/qos",
            self.settings.api_base.trim_end_matches('/'),
            call.kind.path(),
            encode_meeting_uuid(call.uuid),
            encode_path_segment(user_id),
        );
        let _slot = self.slot().await;
        let body = self
            .qos_request(QosEndpoint::Participant, &url, &[("type", "live")])
            .await?;
        parse_participant_qos_since(&body, MAX_SAMPLES_PER_ANSWER, after)
            .map_err(|e| ZoomError::Transient(e.to_string()))
    }

    /// One page of `GET /metrics/meetings/{uuid}/participants/qos?type=live`
    /// (`/metrics/webinars/…` for a webinar): `page_size` asked for (Zoom
    /// may cap it), from `page_token` (the first page without). Each
    /// participant's samples after `after(user_id)`.
    pub async fn meeting_qos_page(
        &self,
        call: impl Into<Call<'_>>,
        page_size: u32,
        page_token: Option<&str>,
        after: impl Fn(&str) -> Option<DateTime<Utc>>,
    ) -> Result<(MeetingQosPage, ParseReport), ZoomError> {
        let call = call.into();
        let url = format!(
            "{}/metrics/{}/{}/participants/qos",
            self.settings.api_base.trim_end_matches('/'),
            call.kind.path(),
            encode_meeting_uuid(call.uuid),
        );
        let page_size = page_size.max(1).to_string();
        let mut query = vec![("type", "live"), ("page_size", page_size.as_str())];
        if let Some(token) = page_token {
            query.push(("next_page_token", token));
        }
        let _slot = self.slot().await;
        let body = self.qos_request(QosEndpoint::List, &url, &query).await?;
        parse_meeting_qos_page(&body, MAX_SAMPLES_PER_ANSWER, after)
            .map_err(|e| ZoomError::Transient(e.to_string()))
    }

    /// One request to a QoS endpoint, through the budget, with the token
    /// (renewed once on a 401); the body of a successful answer.
    async fn qos_request(
        &self,
        endpoint: QosEndpoint,
        url: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<u8>, ZoomError> {
        let mut renewed = false;
        loop {
            self.budget.acquire().await?;
            let token = self.access_token().await?;
            self.metrics
                .qos_requests
                .get_or_create(&EndpointLabel {
                    endpoint: endpoint.label(),
                })
                .inc();
            let answer = self
                .http
                .get(url)
                .query(query)
                .bearer_auth(token.expose_secret())
                .send()
                .await
                .map_err(|e| ZoomError::Transient(without_url(&e)))?;
            let status = answer.status();
            if status == StatusCode::UNAUTHORIZED {
                self.metrics.unauthorized.inc();
                if renewed {
                    return Err(ZoomError::Unauthorized);
                }
                // Code 124: token invalid or expired. Renew once and retry.
                self.invalidate(&token).await;
                renewed = true;
                continue;
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                return Err(self.rate_limited(answer.headers()));
            }
            if let Some(remaining) = daily_remaining(answer.headers()) {
                self.budget.observe_zoom_remaining(remaining);
            }
            if status.is_success() {
                self.budget.succeeded();
                return self.read_body(answer, QOS_ANSWER).await;
            }
            let body: Option<ZoomErrorBody> = self.error_body(answer).await;
            return Err(classify_refusal(status, body));
        }
    }
}

/// A live call the QoS endpoints are asked about: a meeting or a webinar
/// instance (its UUID). A bare UUID names a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call<'a> {
    pub kind: CallKind,
    pub uuid: &'a str,
}

impl<'a> From<&'a str> for Call<'a> {
    fn from(uuid: &'a str) -> Self {
        Call {
            kind: CallKind::Meeting,
            uuid,
        }
    }
}

/// Which QoS endpoint a request went to: the `endpoint` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QosEndpoint {
    Participant,
    List,
    /// The list endpoint with `type=past` (the backtest).
    PastList,
    /// The Dashboard's meetings list and a meeting's details (the backtest).
    Meetings,
}

impl QosEndpoint {
    fn label(self) -> &'static str {
        match self {
            QosEndpoint::Participant => "participant",
            QosEndpoint::List => "list",
            QosEndpoint::PastList => "past_list",
            QosEndpoint::Meetings => "meetings",
        }
    }
}

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: &'static str,
}

#[cfg(test)]
mod tests;
