//! qoswatch: watches live Zoom meetings' per-participant QoS and tells IT
//! teams, while the meeting runs, when a participant's call quality has gone
//! bad and why. See `ARCHITECTURE.md` for the module map and the layer table
//! that `architecture_tests` enforces.

pub mod admin;
pub mod alerting;
pub mod backoff;
pub mod backtest;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod intake;
pub mod listener;
pub mod logging;
pub mod notify;
pub mod quota;
pub mod startup;
pub mod status;
pub mod store;
pub mod watch;
pub mod zoom;

#[cfg(test)]
mod architecture_tests;
#[cfg(test)]
pub(crate) mod test_support;
