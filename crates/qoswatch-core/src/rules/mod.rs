//! The rules engine: YAML rule files compiled into typed rules, and a pure,
//! deterministic evaluator turning QoS samples into alert transitions.
//!
//! - [`RuleSet::from_str`] / [`RuleSet::load`] compile a file, or return
//!   every problem in it as [`Diagnostics`] (`FILE:LINE:COL: message`).
//! - [`RuleSet::evaluate`], [`RuleSet::tick`] and [`RuleSet::finish`] drive
//!   one participant's [`ParticipantState`]; they do no IO and read no clock.
//! - [`cli`] implements `check-rules` and `test-rules`.
//!
//! The language is documented in `docs/RULES.md`. Layout:
//!
//! - `yaml.rs`: the file as a tree of nodes that remember their positions;
//! - `compile/`: nodes → [`Rule`]s and channels, every problem a
//!   diagnostic: `mod.rs` the top level (`channels`, `defaults`, `rules`),
//!   `fields.rs` the YAML field reader (`Ctx`, `Fields`, typed scalars),
//!   `units.rs` quantities, thresholds and `metric:` selectors,
//!   `template.rs` `{placeholder}` templates, `matcher.rs` scopes and
//!   exclusions, `route.rs` and `channel.rs` where alerts go, `rule.rs` one
//!   entry of `rules:`;
//! - `diag.rs`: `FILE:LINE:COL` diagnostics and "did you mean" suggestions;
//! - `model.rs`: the compiled rules;
//! - `fingerprint.rs`: the hash of a compiled rule's data that lets a
//!   reload keep the state of unchanged rules;
//! - `engine.rs`: the alert state machine;
//! - `testfile/`: `test-rules` files: `parse.rs` reads the cases, `run.rs`
//!   runs them;
//! - `tests.rs`: table-driven tests of the engine through [`RuleSet`].

pub mod cli;
mod compile;
mod diag;
mod engine;
mod fingerprint;
mod model;
mod testfile;
mod yaml;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::alert::{AlertEvent, Channel, MeetingInfo, ParticipantInfo};
use crate::qos::QosSample;

pub use diag::{Diagnostic, Diagnostics, Pos};
pub use engine::{Attention, NEAR_THRESHOLD_SHARE, ParticipantState, SavedRule, SavedState};
pub use model::{Direction, Rule, Sustain};

/// Who a sample is about: the alert types' meeting and participant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subject {
    pub meeting: MeetingInfo,
    pub participant: ParticipantInfo,
}

/// A compiled rules file: enabled rules and the notification channels.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<Arc<Rule>>,
    channels: Vec<Channel>,
    /// Identifies the exact list of rules; states compare it to notice a reload.
    generation: u64,
}

impl RuleSet {
    /// Compiles rules from text. `file_name` is only used in diagnostics.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(file_name: &str, text: &str) -> Result<RuleSet, Diagnostics> {
        Self::from_bytes(file_name, text.as_bytes())
    }

    /// Compiles rules from raw bytes (which may not be UTF-8).
    pub fn from_bytes(file_name: &str, bytes: &[u8]) -> Result<RuleSet, Diagnostics> {
        let root = yaml::parse(bytes).map_err(|items| Diagnostics::new(file_name, items))?;
        let compiled =
            compile::compile(&root).map_err(|items| Diagnostics::new(file_name, items))?;
        Ok(RuleSet {
            generation: fingerprint::generation(&compiled.rules),
            rules: compiled.rules.into_iter().map(Arc::new).collect(),
            channels: compiled.channels,
        })
    }

    /// Reads and compiles a rules file.
    pub fn load(path: &Path) -> Result<RuleSet, Diagnostics> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|error| {
            Diagnostics::whole_file(&name, format!("cannot read the rules file: {error}"))
        })?;
        Self::from_bytes(&name, &bytes)
    }

    /// The notification channels defined in the file (plus the built-in
    /// `console` channel when the file does not define one).
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// The enabled rules, in file order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().map(|r| r.as_ref())
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Feeds one new sample of `subject` through every rule.
    pub fn evaluate(
        &self,
        state: &mut ParticipantState,
        subject: &Subject,
        sample: &QosSample,
        now: DateTime<Utc>,
    ) -> Vec<AlertEvent> {
        engine::evaluate(&self.rules, self.generation, state, subject, sample, now)
    }

    /// Called when no new sample came: missing-data alerts and repeats.
    pub fn tick(
        &self,
        state: &mut ParticipantState,
        subject: &Subject,
        now: DateTime<Utc>,
    ) -> Vec<AlertEvent> {
        engine::tick(&self.rules, self.generation, state, subject, now)
    }

    /// The watch ended: resolves everything still firing and clears the state.
    pub fn finish(
        &self,
        state: &mut ParticipantState,
        subject: &Subject,
        now: DateTime<Utc>,
    ) -> Vec<AlertEvent> {
        engine::finish(&self.rules, self.generation, state, subject, now)
    }
}

#[cfg(test)]
mod tests;
