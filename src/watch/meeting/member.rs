//! One watched participant of a meeting, as its loop keeps it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use qoswatch_core::rules::Attention;
use qoswatch_core::subject::StopReason;
use tokio::time::Instant;

use super::Resume;
use crate::watch::sink::{SharedSubject, WatchObserver};

/// One watched participant of the meeting.
pub(super) struct Member {
    pub(super) id: u64,
    /// Shared with the observers that keep it ([`SharedSubject`]).
    pub(super) subject: SharedSubject,
    pub(super) observer: Box<dyn WatchObserver>,
    pub(super) started: Instant,
    pub(super) last_seen: Option<DateTime<Utc>>,
    pub(super) last_new_sample: Instant,
    /// The last successful answer that held this member.
    pub(super) last_refresh: Option<Instant>,
    /// Intervals count from here: the last answer, or the join.
    pub(super) due_from: Instant,
    /// After a failure, not before this.
    pub(super) retry_at: Option<Instant>,
    pub(super) failures: u32,
    pub(super) answered_before: bool,
    /// An early signal keeps the member urgent until then.
    pub(super) urgent_until: Option<Instant>,
    /// Set when the member's watch ends during a round.
    pub(super) ending: Option<StopReason>,
    /// The last QSS push (`push.rs`).
    pub(super) pushed_at: Option<Instant>,
    /// Fed by QSS pushes: not polled until they stop for
    /// `qss.fallback_after`.
    pub(super) fed: bool,
}

impl Member {
    pub(super) fn new(
        id: u64,
        subject: SharedSubject,
        resume: &Resume,
        urgent_for: Option<Duration>,
        observer: Box<dyn WatchObserver>,
        first_poll: Instant,
    ) -> Self {
        let now = Instant::now();
        Self {
            id,
            subject,
            observer,
            started: now.checked_sub(resume.age).unwrap_or(now),
            last_seen: resume.last_seen,
            last_new_sample: now,
            last_refresh: None,
            due_from: first_poll,
            retry_at: None,
            failures: 0,
            answered_before: false,
            urgent_until: urgent_for.map(|d| now + d),
            ending: None,
            pushed_at: None,
            fed: false,
        }
    }

    /// Whether the member needs the fastest interval: something fires, is
    /// pending or near a threshold, no sample has come yet, or an early
    /// signal (`crate::watch::signals`) said so not long ago.
    pub(super) fn urgent(&self) -> bool {
        self.last_seen.is_none()
            || self
                .urgent_until
                .is_some_and(|until| Instant::now() < until)
            || self.observer.attention() >= Attention::Near
    }
}
