//! The sample-source seam: where a watched participant's samples come
//! from. A watch's observer (from [`SampleSink::open`](super::SampleSink))
//! takes samples from whatever delivers them; the Dashboard poller is one
//! [`Source`], and a push source (Zoom's QSS `meeting.participant_qos`
//! webhooks) sits beside it without touching the rules path.
//!
//! A source other than the poller hands samples to
//! [`Monitor::deliver`](super::Monitor::deliver), keyed by the
//! participant's [`ParticipantKey`](qoswatch_core::alert::ParticipantKey).
//! They travel on the meeting task's command channel and take the same path
//! as polled samples, in the task that owns the observer: deduplicated by
//! Zoom's `date_time` against the member's last sample (`last_seen`), each
//! new one to the observer once, the new `last_seen` to the store, the
//! observer's attention steering the poll interval. A sample that arrives
//! from both sources (same participant, same `date_time`) is evaluated once,
//! by whichever came first.

/// Where a sample came from: a label for metrics and logs. The path a
/// sample takes does not depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The Dashboard API, polled by the meeting's task.
    Poll,
    /// Pushed to qoswatch (Zoom's QSS webhooks), handed over through
    /// [`Monitor::deliver`](super::Monitor::deliver).
    Push,
}

impl Source {
    /// The `source` label of the metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Poll => "poll",
            Source::Push => "push",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`Monitor::deliver`](super::Monitor::deliver) did with samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Handed to the participant's meeting task: each sample newer than
    /// the watch's last reaches the observer once; the others are dropped
    /// there as repeats.
    Queued,
    /// No watch of this participant runs in this process (never started,
    /// already ended, or polled by another replica): nothing is evaluated.
    NotWatched,
}
