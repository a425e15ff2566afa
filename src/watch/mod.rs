//! Watching participants: one owned task per meeting polls Zoom for its
//! watched participants' QoS (one by one or through the list endpoint,
//! whichever is cheaper) until a stop condition, and hands every new sample
//! to the participant's observer from a [`SampleSink`].
//!
//! - [`sink`]: the seam through which samples leave (`SampleSink` opens one
//!   `WatchObserver` per watch); `FanOutSink` hands a watch to several.
//! - [`source`]: the sample-source seam, where samples come in: the
//!   Dashboard poller is one [`Source`]; another (a push source) hands a
//!   watched participant's samples to [`Monitor::deliver`], and they take
//!   the polled samples' path (deduplicated by `date_time` per watch, so a
//!   sample from both sources is evaluated once).
//! - `meeting`: the polling loop of one meeting. It returns how the
//!   meeting's polling ended (`meeting::PollEnd`) and reaches the registry
//!   only through the `MeetingHost` trait. Its intervals come from the
//!   daily plan (`crate::quota::Planner`).
//! - `registry`: [`Monitor`], start/stop keyed by `ParticipantKey`
//!   (idempotent: Zoom delivers webhooks at least once, out of order,
//!   sometimes never), and what a watch's end means for the others.
//! - `ended`: the bounded memory of participants who left and meetings that
//!   ended (O(log n) per insert and expiry), which the registry consults.
//! - [`signals`]: cheap early signals (Zoom's meeting alert, a rejoin) that
//!   make participants urgent, each with its cost.
//! - [`settings`]: `polling:` in the settings file.
//! - `metrics`: the watchers' Prometheus series, registered in one place.
//!
//! Who a watch is about and why it ended ([`WatchSubject`], [`StopReason`])
//! are pure and live in the core, shared with the store.

mod ended;
mod meeting;
mod metrics;
mod registry;
pub mod settings;
pub mod signals;
pub mod sink;
pub mod source;
#[cfg(test)]
mod test_kit;
#[cfg(test)]
mod tests;

pub use qoswatch_core::subject::{self, StopReason, WatchSubject};
pub use registry::{AccountPolling, Monitor, MonitorParts, StartOutcome};
pub use settings::PollingSettings;
pub use sink::{FanOutSink, LoggingSink, SampleSink, SharedSubject, WatchObserver};
pub use source::{Delivered, Source};
