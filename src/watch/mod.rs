//! Watching participants: one owned task per meeting polls Zoom for its
//! watched participants' QoS (one by one or through the list endpoint,
//! whichever is cheaper) until a stop condition, and hands every new sample
//! to the participant's observer from a [`SampleSink`].
//!
//! - [`subject`] (bottom layer): who a watch is about and why it ended; the
//!   store depends on these and nothing else here.
//! - [`sink`]: the seam through which samples leave (`SampleSink` opens one
//!   `WatchObserver` per watch).
//! - `meeting`: the polling loop of one meeting. It returns how the
//!   meeting's polling ended (`meeting::PollEnd`) and reaches the registry
//!   only through the `MeetingHost` trait.
//! - `plan` (pure) and `planner`: the daily plan, interval floors that
//!   make every meeting's demand fit what the budget has left until
//!   00:00 UTC, and which participants a meeting lists.
//! - `registry`: [`Monitor`], start/stop keyed by `ParticipantKey`
//!   (idempotent: Zoom delivers webhooks at least once, out of order,
//!   sometimes never), and what a watch's end means for the others.
//! - `ended`: the bounded memory of participants who left and meetings that
//!   ended (O(log n) per insert and expiry), which the registry consults.
//! - `metrics`: the watchers' Prometheus series, registered in one place.

mod ended;
mod meeting;
mod metrics;
pub mod plan;
pub mod planner;
mod registry;
pub mod sink;
pub mod subject;

pub use planner::{PlanStatus, Planner};
pub use registry::{Monitor, StartOutcome};
pub use sink::{LoggingSink, SampleSink, WatchObserver};
pub use subject::{StopReason, WatchSubject};
