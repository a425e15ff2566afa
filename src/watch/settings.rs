//! How watches are polled (`polling:` in the settings file).

use std::time::Duration;

use qoswatch_core::invalid::Invalid;
use serde::Deserialize;

use crate::quota::{PlanSettings, PollingMode};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollingSettings {
    /// `adaptive` (the default): meetings are polled through the list
    /// endpoint where that is cheaper, and the daily plan stretches
    /// intervals under pressure, the calm participants' first. `fixed`:
    /// every participant on its own at `interval`, as qoswatch did before
    /// (for comparison, or an account whose list endpoint misbehaves).
    pub mode: PollingMode,
    /// The fastest interval: a participant with a firing or pending alert,
    /// a value near a threshold, or no sample yet. Zoom's samples are per
    /// minute, so faster buys nothing.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub interval: Duration,
    /// Under quota pressure, how far a stable, healthy participant's
    /// interval stretches first (the plan's first lever); without pressure
    /// everybody is polled every `interval`.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub max_interval: Duration,
    /// Under quota pressure, how far intervals stretch past `max_interval`
    /// (the calm first, then the others) before everybody stretches
    /// together.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub max_staleness: Duration,
    /// Participants asked for per page of the list endpoint (Zoom caps it,
    /// believed at 10; qoswatch follows whatever size it gets).
    pub page_size: u32,
    /// Stop watching a participant after this long without a new sample.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub stale_after: Duration,
    /// Stop watching a participant after this long in any case.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub max_watch_age: Duration,
    /// Upper bound of the back-off between failed polls of one participant.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub max_backoff: Duration,
    /// Most participants watched at once; joins beyond it are logged and counted.
    pub max_watchers: usize,
    /// Most participants (and, separately, meetings) remembered as ended,
    /// so that late `participant_joined` retries start nothing; when full,
    /// the oldest is forgotten first.
    pub max_remembered_ended: usize,
}

impl Default for PollingSettings {
    fn default() -> Self {
        Self {
            mode: PollingMode::Adaptive,
            interval: Duration::from_secs(60),
            max_interval: Duration::from_secs(5 * 60),
            max_staleness: Duration::from_secs(15 * 60),
            page_size: 10,
            stale_after: Duration::from_secs(10 * 60),
            max_watch_age: Duration::from_secs(24 * 3600),
            max_backoff: Duration::from_secs(5 * 60),
            max_watchers: 5_000,
            max_remembered_ended: DEFAULT_MAX_REMEMBERED_ENDED,
        }
    }
}

/// The default bound on the memory of ended participants (and meetings).
///
/// An end is remembered for two hours. A busy day for one qoswatch is about
/// 1,000 participant-hours (what Zoom's daily cap of 60,000 QoS calls
/// covers at one a minute); even 5,000 watched participants
/// (`polling.max_watchers`) each leaving ten times within two hours make
/// 50,000. 100,000 participants cost about 37 MiB (measured with Zoom-sized
/// ids, BENCHMARKS.md; more with 64-character ids), meetings the same at
/// most, and O(log n) time per webhook.
pub const DEFAULT_MAX_REMEMBERED_ENDED: usize = 100_000;

impl PollingSettings {
    /// What the daily plan reads of these settings.
    pub fn plan(&self) -> PlanSettings {
        PlanSettings {
            mode: self.mode,
            interval: self.interval,
            max_interval: self.max_interval,
            max_staleness: self.max_staleness,
        }
    }
}

impl PollingSettings {
    /// Intervals in order, sizes in range.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.interval.is_zero() {
            return Invalid::err("polling.interval", "must be longer than 0s");
        }
        if self.max_interval < self.interval {
            return Invalid::err("polling.max_interval", "must be at least polling.interval");
        }
        if self.max_staleness < self.max_interval {
            return Invalid::err(
                "polling.max_staleness",
                "must be at least polling.max_interval",
            );
        }
        if !(1..=300).contains(&self.page_size) {
            return Invalid::err("polling.page_size", "must be between 1 and 300");
        }
        if self.stale_after < self.interval {
            return Invalid::err(
                "polling.stale_after",
                "must be at least polling.interval, or every watch ends after one poll",
            );
        }
        if self.max_watchers == 0 {
            return Invalid::err("polling.max_watchers", "must be at least 1");
        }
        if self.max_remembered_ended == 0 {
            return Invalid::err(
                "polling.max_remembered_ended",
                "must be at least 1; late participant_joined retries would start watches of people who left",
            );
        }
        Ok(())
    }
}

/// `qss`: Zoom's QSS push events as a source of samples.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QssSettings {
    /// A participant whose QSS events stop for this long (while still in
    /// the call) is polled again, until its events resume.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub fallback_after: Duration,
}

impl Default for QssSettings {
    fn default() -> Self {
        Self {
            // Three of QSS's one-a-minute events missed in a row.
            fallback_after: Duration::from_secs(3 * 60),
        }
    }
}

impl QssSettings {
    pub fn check(&self) -> Result<(), Invalid> {
        if self.fallback_after.is_zero() {
            return Invalid::err(
                "qss.fallback_after",
                "must be longer than 0s, or every QSS-fed participant is polled too",
            );
        }
        Ok(())
    }
}
