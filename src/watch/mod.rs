//! Watching participants: one owned task per participant polls Zoom for
//! QoS until a stop condition, and hands every new sample to a
//! [`SampleSink`].
//!
//! - [`subject`] (bottom layer): who a watch is about and why it ended; the
//!   store depends on these and nothing else here.
//! - [`sink`]: the seam through which samples leave (`SampleSink` opens one
//!   `WatchObserver` per watch).
//! - `poll`: the polling loop of one watch. It returns how the watch ended
//!   ([`poll::PollEnd`]) and never reaches back into the registry.
//! - `registry`: [`Monitor`], start/stop keyed by `ParticipantKey`
//!   (idempotent: Zoom delivers webhooks at least once, out of order,
//!   sometimes never), and what a watch's end means for the others.
//! - `ended`: the bounded memory of participants who left and meetings that
//!   ended (O(log n) per insert and expiry), which the registry consults.
//! - `metrics`: the watchers' Prometheus series, registered in one place.

mod ended;
mod metrics;
mod poll;
mod registry;
pub mod sink;
pub mod subject;

pub use registry::{Monitor, StartOutcome};
pub use sink::{LoggingSink, SampleSink, WatchObserver};
pub use subject::{StopReason, WatchSubject};
