//! From a sample to an alert event, and the alerts' own lifecycle beside
//! the dispatcher:
//!
//! - [`live_rules`]: the rules in force (`ArcSwap`), reloaded on a file
//!   change or SIGHUP; a broken file keeps the last good rules.
//! - [`rules_sink`]: every sample of a watch through the rules in force;
//!   the transitions go to the dispatcher (`crate::notify`).
//! - [`relay`]: Zoom's own `meeting.alert` webhooks as meeting-level alerts.
//! - [`silences`]: the keeper that announces what a silence's end calls
//!   for. Silences are matched in the core, held by the board
//!   (`crate::status`) and enforced by the dispatcher's router.
//! - [`settings`]: `rules:` and `alerts:` in the settings file.

pub mod live_rules;
pub mod relay;
pub mod rules_sink;
pub mod settings;
pub mod silences;

pub use live_rules::LiveRules;
pub use relay::ZoomAlertRelay;
pub use rules_sink::RulesSink;
