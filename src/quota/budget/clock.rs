//! The clock of the daily quota and Zoom's times: the next 00:00 UTC and
//! `Retry-After`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// The clock of the daily quota: the wall clock, or one running faster from
/// a given time (the accelerated day of the quota benchmark, where one
/// simulated minute passes in a second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QuotaClock {
    Wall,
    Accelerated {
        /// The quota clock's time at `since`.
        at: DateTime<Utc>,
        since: Instant,
        /// Quota-clock seconds per real second.
        speed: u32,
    },
}

impl QuotaClock {
    /// The quota clock's time now.
    pub fn now(&self) -> DateTime<Utc> {
        match *self {
            QuotaClock::Wall => Utc::now(),
            QuotaClock::Accelerated { at, since, speed } => {
                let real = since.elapsed() * speed.max(1);
                at + chrono::TimeDelta::from_std(real).unwrap_or_default()
            }
        }
    }

    /// The real time that `quota_time` on this clock takes.
    pub fn to_real(&self, quota_time: Duration) -> Duration {
        match *self {
            QuotaClock::Wall => quota_time,
            QuotaClock::Accelerated { speed, .. } => quota_time / speed.max(1),
        }
    }
}

/// Time from `now` until the next 00:00 UTC.
pub fn until_next_utc_midnight(now: DateTime<Utc>) -> Duration {
    let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
    let midnight = tomorrow.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    midnight
        .and_then(|m| (m - now).to_std().ok())
        .unwrap_or(Duration::from_secs(60))
}

/// Parses Zoom's `Retry-After`: an ISO-8601 timestamp (Zoom's usual form)
/// or a number of seconds (the HTTP standard's). Returns the wait from `now`,
/// never longer than until the next daily reset plus an hour: no limit of
/// Zoom's lasts longer, and a nonsense value must not stop polling for good.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let longest = until_next_utc_midnight(now) + Duration::from_secs(3600);
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(longest));
    }
    let at = DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| DateTime::parse_from_rfc2822(value).map(|t| t.with_timezone(&Utc)))
        .ok()?;
    // A time in the past means "now"; keep a small floor so a burst of
    // watchers does not hammer Zoom on a clock skew.
    Some(
        (at - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_millis(100))
            .min(longest),
    )
}
