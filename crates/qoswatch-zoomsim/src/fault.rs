//! The failures a test can inject into the QoS endpoints ([`Fault`]) and
//! the shapes of a 429 ([`RateLimitKind`], [`RetryAfter`]). What the server
//! answers for each is in `server::limits`.

use std::time::Duration;

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

/// One injected failure, consumed by the next QoS request (either endpoint),
/// or by the next token request when queued with
/// [`SimHandle::push_token_fault`](crate::SimHandle::push_token_fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After` as given; `headers: Some(kind)` adds Zoom's
    /// `X-RateLimit-Type`/`-Category`/`-Limit`/`-Remaining`, `None` omits them
    /// as real answers sometimes do.
    RateLimited {
        retry_after: RetryAfter,
        headers: Option<RateLimitKind>,
    },
    /// 401 / code 124, and every token of the asking token's account is
    /// revoked (every token of every account when the request's token is
    /// unknown); other accounts' tokens keep working.
    InvalidToken,
    /// 404 / code 3001.
    MeetingNotFound,
    /// 400 / code 200: account not entitled to the Dashboard.
    NotEntitled,
    /// A 5xx with a gateway's HTML body.
    ServerError { status: u16 },
    /// Waits this long (tokio time), then answers normally.
    Slow(Duration),
    /// 200 with a body of `bytes` bytes: a QoS answer (or, on the token
    /// endpoint, a token answer) whose `user_qos` holds one realistic
    /// sample repeated until the size is reached, so it is valid JSON to
    /// the last byte. Streamed from a few KB of memory, never held whole.
    /// `announce_length`: with a `Content-Length` (a client may refuse it
    /// unread); without, chunked (a client must count as it reads).
    OversizedAnswer { bytes: u64, announce_length: bool },
    /// An error answer in Zoom's shape with any status, code and message,
    /// as a broken (or hostile) Zoom could send.
    Refusal {
        status: u16,
        code: i64,
        message: String,
    },
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
