//! qoswatch's pure core: what an alert is ([`alert`]), what a QoS sample is
//! ([`qos`]), the rule language that turns samples into alerts
//! ([`rules`]), who a watch is about ([`subject`]) and which alerts a
//! silence covers ([`silence`]).
//!
//! Nothing here does network IO, reads a clock or spawns a task: the
//! service (`qoswatch`) feeds samples and the current time in, and acts on
//! the transitions that come out. Editing a rule or the engine rebuilds
//! this crate and its dependents only.

pub mod alert;
pub mod duration;
pub mod invalid;
pub mod qos;
pub mod rules;
pub mod silence;
pub mod subject;

/// Example values for the tests of this crate and of the service.
#[cfg(any(test, feature = "testing"))]
pub mod testing;
