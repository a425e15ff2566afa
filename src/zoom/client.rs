//! Zoom's Dashboard API, as qoswatch uses it: Server-to-Server OAuth,
//! *Get meeting participant QoS* and its list form, *List meeting
//! participants QoS* (paged). The client classifies Zoom's answers into
//! [`ZoomError`]s; what to do about them is the watcher's policy.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{encode_meeting_uuid, encode_path_segment};
use crate::logging::LogEvery;
use crate::quota::budget::{Budget, BudgetError, parse_retry_after};
use qoswatch_core::qos::{
    MeetingQosPage, ParseReport, ParticipantQos, parse_meeting_qos_page,
    parse_participant_qos_since,
};

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

/// A meeting as the Dashboard's meetings list and details show it, reduced
/// to what qoswatch uses: no host name or e-mail, no participant count.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PastMeeting {
    /// The instance UUID: the identity.
    pub uuid: String,
    /// The meeting number people type in.
    pub id: Option<String>,
    pub topic: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
}

impl PastMeeting {
    /// A row of Zoom's answer; `None` without a UUID. `id` may be a number
    /// or a string, times are RFC 3339 (an empty `end_time` is none).
    fn from_json(row: &serde_json::Value) -> Option<PastMeeting> {
        let text = |key: &str| {
            row.get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        let time = |key: &str| {
            text(key)
                .and_then(|value| DateTime::parse_from_rfc3339(&value).ok())
                .map(|time| time.with_timezone(&Utc))
        };
        let id = match row.get("id") {
            Some(serde_json::Value::Number(number)) => Some(number.to_string()),
            _ => text("id"),
        };
        Some(PastMeeting {
            uuid: text("uuid")?,
            id,
            topic: text("topic"),
            start_time: time("start_time"),
            end_time: time("end_time"),
        })
    }
}

/// One page of the Dashboard's meetings list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PastMeetingsPage {
    pub meetings: Vec<PastMeeting>,
    /// Rows without a UUID, skipped.
    pub unreadable_rows: usize,
    pub next_page_token: Option<String>,
    pub total_records: Option<u64>,
}

/// Which answer was too large: the `answer` label.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabel {
    answer: &'static str,
}

/// The kinds of answers read, for the metric label and the log.
const QOS_ANSWER: &str = "qos";
const TOKEN_ANSWER: &str = "token";
const ERROR_ANSWER: &str = "error";

/// Why an answer's body was not read.
#[derive(Debug)]
enum BodyError {
    /// Larger than the cap (announced, or found while reading).
    TooLarge,
    /// The connection failed while reading.
    Read(reqwest::Error),
}

/// Reads an answer's body, at most `max` bytes. An answer that announces
/// more (`Content-Length`) is refused unread; one that sends more than it
/// announced, or announces nothing (chunked), is read until it passes `max`
/// and then dropped, which closes the connection.
async fn read_capped(mut answer: reqwest::Response, max: usize) -> Result<Vec<u8>, BodyError> {
    let announced = answer.content_length();
    if announced.is_some_and(|length| length > max as u64) {
        return Err(BodyError::TooLarge);
    }
    // Never more than the cap up front, whatever the announcement.
    let mut body = Vec::with_capacity(announced.map_or(8 * 1024, |n| n as usize).min(max));
    while let Some(chunk) = answer.chunk().await.map_err(BodyError::Read)? {
        if chunk.len() > max - body.len() {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Deserialize)]
struct ZoomErrorBody {
    code: Option<i64>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default = "default_expires_in")]
    expires_in: u64,
}

fn default_expires_in() -> u64 {
    3600
}

#[derive(Debug)]
struct CachedToken {
    value: Arc<SecretString>,
    renew_at: Instant,
}

#[derive(Debug, Default)]
struct TokenState {
    cached: Option<CachedToken>,
    /// The last failed token request, shared with every watcher that asks
    /// until `until`: one failure must not become one request per watcher.
    failed: Option<(Instant, ZoomError)>,
}

/// How long a failed token request is answered from memory.
const TOKEN_FAILURE_MEMORY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Default)]
struct ClientMetrics {
    token_fetches: Counter,
    token_failures: Counter,
    unauthorized: Counter,
    too_large: Family<AnswerLabel, Counter>,
    qos_requests: Family<EndpointLabel, Counter>,
}

/// The Zoom API client. One per process, shared by every watcher.
#[derive(Debug)]
pub struct ZoomClient {
    http: reqwest::Client,
    settings: ClientSettings,
    credentials: Credentials,
    budget: Arc<Budget>,
    /// Held across the token request: however many watchers need a token at
    /// once, one request goes out and the others wait for its answer.
    token: Mutex<TokenState>,
    metrics: ClientMetrics,
    too_large_log: LogEvery,
}

impl ZoomClient {
    pub fn new(
        settings: ClientSettings,
        credentials: Credentials,
        budget: Arc<Budget>,
        registry: &mut Registry,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("qoswatch/", env!("CARGO_PKG_VERSION")))
            .build()?;
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
        Ok(Self {
            http,
            settings,
            credentials,
            budget,
            token: Mutex::new(TokenState::default()),
            metrics,
            too_large_log: LogEvery::new(TOO_LARGE_LOG_EVERY),
        })
    }

    /// Reads an answer's body under `zoom.max_answer_bytes`; a larger one
    /// is counted, logged (once a minute: no URL, no body) and an error.
    async fn read_body(
        &self,
        answer: reqwest::Response,
        kind: &'static str,
    ) -> Result<Vec<u8>, ZoomError> {
        let limit = self.settings.max_answer_bytes;
        match read_capped(answer, limit).await {
            Ok(body) => Ok(body),
            Err(BodyError::Read(error)) => Err(ZoomError::Transient(without_url(&error))),
            Err(BodyError::TooLarge) => {
                self.metrics
                    .too_large
                    .get_or_create(&AnswerLabel { answer: kind })
                    .inc();
                if let Some(unlogged) = self.too_large_log.occurred(Instant::now()) {
                    tracing::warn!(
                        answer = kind,
                        limit_bytes = limit,
                        not_logged_since = unlogged,
                        "Zoom answer larger than zoom.max_answer_bytes: dropped unread, \
                         the request counts as failed"
                    );
                }
                Err(ZoomError::AnswerTooLarge { limit })
            }
        }
    }

    /// A refusal's body, if it is readable JSON within the cap.
    async fn error_body<T: serde::de::DeserializeOwned>(
        &self,
        answer: reqwest::Response,
    ) -> Option<T> {
        let body = self.read_body(answer, ERROR_ANSWER).await.ok()?;
        serde_json::from_slice(&body).ok()
    }

    /// A valid access token, from the cache or freshly requested.
    async fn access_token(&self) -> Result<Arc<SecretString>, ZoomError> {
        let mut state = self.token.lock().await;
        if let Some(token) = state.cached.as_ref()
            && Instant::now() < token.renew_at
        {
            return Ok(token.value.clone());
        }
        if let Some((until, error)) = &state.failed
            && Instant::now() < *until
        {
            return Err(error.clone());
        }
        match self.fetch_token().await {
            Ok(token) => {
                let value = token.value.clone();
                state.cached = Some(token);
                state.failed = None;
                Ok(value)
            }
            Err(error) => {
                state.failed = Some((Instant::now() + TOKEN_FAILURE_MEMORY, error.clone()));
                Err(error)
            }
        }
    }

    /// Forgets `used` if it is still the cached token, so the next caller
    /// fetches a new one. A token already replaced is left alone.
    async fn invalidate(&self, used: &Arc<SecretString>) {
        let mut state = self.token.lock().await;
        if state
            .cached
            .as_ref()
            .is_some_and(|token| Arc::ptr_eq(&token.value, used))
        {
            state.cached = None;
        }
    }

    async fn fetch_token(&self) -> Result<CachedToken, ZoomError> {
        self.metrics.token_fetches.inc();
        let started = Instant::now();
        let answer = self
            .http
            .post(&self.settings.token_url)
            .basic_auth(
                self.credentials.client_id.expose_secret(),
                Some(self.credentials.client_secret.expose_secret()),
            )
            .form(&[
                ("grant_type", "account_credentials"),
                ("account_id", self.credentials.account_id.expose_secret()),
            ])
            .send()
            .await
            .map_err(|e| {
                self.metrics.token_failures.inc();
                ZoomError::Transient(format!("token request failed: {}", without_url(&e)))
            })?;
        let status = answer.status();
        if !status.is_success() {
            self.metrics.token_failures.inc();
            let reason = self
                .error_body::<serde_json::Value>(answer)
                .await
                .and_then(|v| {
                    v.get("reason")
                        .or_else(|| v.get("error"))
                        .and_then(|r| r.as_str().map(str::to_owned))
                })
                .unwrap_or_else(|| "no reason given".into());
            return Err(
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    ZoomError::Transient(format!("token endpoint answered {status}"))
                } else {
                    ZoomError::BadCredentials {
                        status: status.as_u16(),
                        reason,
                    }
                },
            );
        }
        let body = self
            .read_body(answer, TOKEN_ANSWER)
            .await
            .inspect_err(|_| {
                self.metrics.token_failures.inc();
            })?;
        let token: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            // serde's message could quote the token: the kind of problem only.
            self.metrics.token_failures.inc();
            ZoomError::Transient("token answer unreadable".to_owned())
        })?;
        let lifetime = Duration::from_secs(token.expires_in);
        // Renew ahead of expiry; for very short lifetimes, at half-life.
        let margin = self.settings.token_refresh_margin.min(lifetime / 2);
        tracing::debug!(expires_in = token.expires_in, "fetched a Zoom access token");
        Ok(CachedToken {
            value: Arc::new(SecretString::from(token.access_token)),
            renew_at: started + lifetime - margin,
        })
    }

    /// Zoom answered 429: pause the shared budget (by `Retry-After`, or a
    /// back-off when it is missing), note a daily limit, and say so once.
    fn rate_limited(&self, headers: &reqwest::header::HeaderMap) -> ZoomError {
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let limit_type = headers
            .get("x-ratelimit-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown");
        let pause = self.budget.rate_limited(retry_after);
        if limit_type.eq_ignore_ascii_case("daily-limit") {
            self.budget.daily_limit_reached();
        }
        tracing::warn!(
            limit_type,
            pause_ms = pause.as_millis() as u64,
            retry_after_given = retry_after.is_some(),
            "Zoom rate limit hit: pausing every watcher"
        );
        ZoomError::RateLimited { pause }
    }

    /// `GET /metrics/meetings/{uuid}/participants/{user_id}/qos?type=live`:
    /// the participant's details and its samples after `after` (the newest
    /// one already seen), older ones skipped unbuilt.
    pub async fn participant_qos(
        &self,
        meeting_uuid: &str,
        user_id: &str,
        after: Option<DateTime<Utc>>,
    ) -> Result<(ParticipantQos, ParseReport), ZoomError> {
        let url = format!(
            "{}/metrics/meetings/{}/participants/{}/qos",
            self.settings.api_base.trim_end_matches('/'),
            encode_meeting_uuid(meeting_uuid),
            encode_path_segment(user_id),
        );
        let body = self
            .qos_request(QosEndpoint::Participant, &url, &[("type", "live")])
            .await?;
        parse_participant_qos_since(&body, MAX_SAMPLES_PER_ANSWER, after)
            .map_err(|e| ZoomError::Transient(e.to_string()))
    }

    /// One page of `GET /metrics/meetings/{uuid}/participants/qos?type=live`:
    /// `page_size` asked for (Zoom may cap it), from `page_token` (the
    /// first page without). Each participant's samples after `after(user_id)`.
    pub async fn meeting_qos_page(
        &self,
        meeting_uuid: &str,
        page_size: u32,
        page_token: Option<&str>,
        after: impl Fn(&str) -> Option<DateTime<Utc>>,
    ) -> Result<(MeetingQosPage, ParseReport), ZoomError> {
        let url = format!(
            "{}/metrics/meetings/{}/participants/qos",
            self.settings.api_base.trim_end_matches('/'),
            encode_meeting_uuid(meeting_uuid),
        );
        let page_size = page_size.max(1).to_string();
        let mut query = vec![("type", "live"), ("page_size", page_size.as_str())];
        if let Some(token) = page_token {
            query.push(("next_page_token", token));
        }
        let body = self.qos_request(QosEndpoint::List, &url, &query).await?;
        parse_meeting_qos_page(&body, MAX_SAMPLES_PER_ANSWER, after)
            .map_err(|e| ZoomError::Transient(e.to_string()))
    }

    /// One page of `GET /metrics/meetings?type=past&from=&to=`: meetings
    /// that started between `from` and `to` (UTC days, at most a month
    /// apart: the caller splits longer ranges).
    pub async fn past_meetings_page(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<PastMeetingsPage, ZoomError> {
        let url = format!(
            "{}/metrics/meetings",
            self.settings.api_base.trim_end_matches('/')
        );
        let (from, to) = (from.to_string(), to.to_string());
        let page_size = page_size.max(1).to_string();
        let mut query = vec![
            ("type", "past"),
            ("from", from.as_str()),
            ("to", to.as_str()),
            ("page_size", page_size.as_str()),
        ];
        if let Some(token) = page_token {
            query.push(("next_page_token", token));
        }
        let body = self
            .qos_request(QosEndpoint::Meetings, &url, &query)
            .await?;
        let answer: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| ZoomError::Transient("meetings list unreadable".to_owned()))?;
        let rows = answer
            .get("meetings")
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let meetings: Vec<PastMeeting> = rows.iter().filter_map(PastMeeting::from_json).collect();
        Ok(PastMeetingsPage {
            unreadable_rows: rows.len() - meetings.len(),
            meetings,
            next_page_token: answer
                .get("next_page_token")
                .and_then(serde_json::Value::as_str)
                .filter(|token| !token.is_empty())
                .map(str::to_owned),
            total_records: answer
                .get("total_records")
                .and_then(serde_json::Value::as_u64),
        })
    }

    /// `GET /metrics/meetings/{meetingId}?type=past`: a meeting that ended,
    /// by UUID or by number (Zoom answers for its latest instance).
    pub async fn past_meeting(&self, meeting_id: &str) -> Result<PastMeeting, ZoomError> {
        let url = format!(
            "{}/metrics/meetings/{}",
            self.settings.api_base.trim_end_matches('/'),
            encode_meeting_uuid(meeting_id),
        );
        let body = self
            .qos_request(QosEndpoint::Meetings, &url, &[("type", "past")])
            .await?;
        let answer: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| ZoomError::Transient("meeting details unreadable".to_owned()))?;
        PastMeeting::from_json(&answer)
            .ok_or_else(|| ZoomError::Transient("meeting details without a UUID".to_owned()))
    }

    /// One page of `GET /metrics/meetings/{uuid}/participants/qos?type=past`,
    /// as Zoom sent it (under `zoom.max_answer_bytes`): the caller keeps
    /// what it needs of each participant and parses it with the live
    /// endpoints' parser.
    pub async fn past_qos_page(
        &self,
        meeting_uuid: &str,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<Vec<u8>, ZoomError> {
        let url = format!(
            "{}/metrics/meetings/{}/participants/qos",
            self.settings.api_base.trim_end_matches('/'),
            encode_meeting_uuid(meeting_uuid),
        );
        let page_size = page_size.max(1).to_string();
        let mut query = vec![("type", "past"), ("page_size", page_size.as_str())];
        if let Some(token) = page_token {
            query.push(("next_page_token", token));
        }
        self.qos_request(QosEndpoint::PastList, &url, &query).await
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

/// `X-RateLimit-Remaining` of the daily quota, from an answer's headers:
/// Zoom sends it with `X-RateLimit-Limit` on ordinary answers; an answer
/// whose `X-RateLimit-Type` is `QPS` speaks of the per-second limit instead.
fn daily_remaining(headers: &reqwest::header::HeaderMap) -> Option<u32> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if text("x-ratelimit-type").is_some_and(|kind| kind.eq_ignore_ascii_case("qps")) {
        return None;
    }
    text("x-ratelimit-remaining")?.trim().parse().ok()
}

/// A reqwest error's text without its URL (URLs carry meeting ids, and the
/// token URL's query could one day carry more).
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_decode() {
        "answer could not be decoded"
    } else if error.is_body() {
        "answer body failed"
    } else {
        "request failed"
    };
    match error.status() {
        Some(status) => format!("{kind} ({status})"),
        None => kind.to_owned(),
    }
}

/// A refusal other than 401 and 429, by HTTP status and Zoom's `code`.
/// Zoom's message is kept (cut to 200 characters): it names no person.
fn classify_refusal(status: StatusCode, body: Option<ZoomErrorBody>) -> ZoomError {
    let code = body.as_ref().and_then(|b| b.code);
    let message = body
        .and_then(|b| b.message)
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect::<String>();
    match (status.as_u16(), code) {
        (404, _) | (_, Some(3001)) => ZoomError::NotLive,
        (400, Some(200)) => ZoomError::NotEntitled { message },
        (status, _) if status >= 500 => ZoomError::Transient(format!("Zoom answered {status}")),
        (status, code) => ZoomError::Rejected {
            status,
            code,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: i64, message: &str) -> Option<ZoomErrorBody> {
        Some(ZoomErrorBody {
            code: Some(code),
            message: Some(message.to_owned()),
        })
    }

    #[test]
    fn refusals_map_to_the_policy_zoom_documents() {
        let not_live = classify_refusal(StatusCode::NOT_FOUND, None);
        assert!(matches!(not_live, ZoomError::NotLive), "{not_live:?}");
        let not_live = classify_refusal(
            StatusCode::BAD_REQUEST,
            body(3001, "Meeting does not exist"),
        );
        assert!(matches!(not_live, ZoomError::NotLive), "{not_live:?}");
        match classify_refusal(StatusCode::BAD_REQUEST, body(200, "No permission.")) {
            ZoomError::NotEntitled { message } => assert_eq!(message, "No permission."),
            other => panic!("{other:?}"),
        }
        let busy = classify_refusal(StatusCode::SERVICE_UNAVAILABLE, body(0, "x"));
        assert!(matches!(busy, ZoomError::Transient(_)), "{busy:?}");
        match classify_refusal(StatusCode::BAD_REQUEST, body(300, "Invalid meeting id")) {
            ZoomError::Rejected {
                status,
                code,
                message,
            } => assert_eq!(
                (status, code, message.as_str()),
                (400, Some(300), "Invalid meeting id")
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_daily_remaining_is_read_unless_the_headers_speak_of_the_per_second_limit() {
        use reqwest::header::{HeaderMap, HeaderValue};
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_static(value));
            }
            map
        };
        let ordinary = headers(&[
            ("x-ratelimit-category", "Heavy"),
            ("x-ratelimit-limit", "60000"),
            ("x-ratelimit-remaining", " 59000 "),
        ]);
        assert_eq!(daily_remaining(&ordinary), Some(59000));
        let daily = headers(&[
            ("x-ratelimit-type", "Daily-limit"),
            ("x-ratelimit-remaining", "0"),
        ]);
        assert_eq!(daily_remaining(&daily), Some(0));
        let qps = headers(&[("x-ratelimit-type", "QPS"), ("x-ratelimit-remaining", "3")]);
        assert_eq!(daily_remaining(&qps), None);
        assert_eq!(daily_remaining(&headers(&[])), None);
        assert_eq!(
            daily_remaining(&headers(&[("x-ratelimit-remaining", "lots")])),
            None
        );
        assert_eq!(QosEndpoint::Participant.label(), "participant");
        assert_eq!(QosEndpoint::List.label(), "list");
        assert_eq!(QosEndpoint::PastList.label(), "past_list");
        assert_eq!(QosEndpoint::Meetings.label(), "meetings");
    }

    #[test]
    fn a_meeting_row_keeps_the_ids_topic_and_times_and_nothing_personal() {
        let row = serde_json::json!({
            "uuid": "m1==", "id": 84712639219_u64, "topic": "Weekly sync",
            "host": "Jill Chill", "email": "jill@example.com",
            "start_time": "2026-03-02T10:00:00Z", "end_time": "",
        });
        let meeting = PastMeeting::from_json(&row).expect("a row with a UUID");
        assert_eq!(meeting.id.as_deref(), Some("84712639219"));
        assert_eq!(meeting.topic.as_deref(), Some("Weekly sync"));
        assert_eq!(
            meeting.start_time.map(|t| t.to_rfc3339()),
            Some("2026-03-02T10:00:00+00:00".to_owned())
        );
        assert_eq!(meeting.end_time, None);
        let kept = serde_json::to_string(&meeting).expect("serializes");
        assert!(!kept.contains("jill"), "{kept}");
        let string_id = serde_json::json!({"uuid": "m2==", "id": "123"});
        let meeting = PastMeeting::from_json(&string_id).expect("row");
        assert_eq!(meeting.id.as_deref(), Some("123"));
        assert_eq!(PastMeeting::from_json(&serde_json::json!({"id": 1})), None);
    }

    #[test]
    fn code_200_without_400_is_a_plain_rejection() {
        let forbidden = classify_refusal(StatusCode::FORBIDDEN, body(200, "x"));
        assert!(
            matches!(forbidden, ZoomError::Rejected { status: 403, .. }),
            "{forbidden:?}"
        );
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "é".repeat(500);
        match classify_refusal(StatusCode::BAD_REQUEST, body(300, &long)) {
            ZoomError::Rejected { message, .. } => assert_eq!(message.chars().count(), 200),
            other => panic!("{other:?}"),
        }
    }
}
