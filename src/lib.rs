//! qoswatch: watches live Zoom meetings' per-participant QoS and tells IT
//! teams, while the meeting runs, when a participant's call quality has gone
//! bad and why. See `ARCHITECTURE.md` for the module map.

pub mod backoff;
pub mod backtest;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod http;
pub mod listener;
pub mod live_rules;
pub mod logging;
pub mod notify;
pub mod pipeline;
pub mod startup;
pub mod status;
pub mod store;
pub mod watch;
pub mod zoom;
