//! The alert state machine: pure and deterministic. `(state, sample, now)`
//! in, transitions out; no IO, no clock.
//!
//! Per rule instance (rule, meeting, participant):
//! - a *breach run* per severity counts how long the value has been over
//!   that severity's threshold (sample time, or consecutive samples); the
//!   alert fires at the worst severity whose run satisfies `for`;
//! - while firing, a *clear run* counts how long the value has been back on
//!   the good side of the clear threshold; when it satisfies `clear.for` the
//!   alert resolves. Between the threshold and the clear threshold nothing
//!   changes (hysteresis);
//! - a critical alert whose value stays under the critical threshold for
//!   `clear.for` steps down to warning (de-escalation);
//! - a sample without data for the rule's metrics resets the runs (so it can
//!   never fire nor resolve anything) and leaves a firing alert firing;
//! - repeats and missing-data alerts are measured with `now`, sustain and
//!   clear with sample time.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::alert::{AlertEvent, AlertStatus, Severity};
use crate::qos::{MetricId, QosSample};

use super::Subject;
use super::model::{Rule, Sustain};

mod emit;
mod saved;
use emit::{Change, Emit, stream_of};
pub use saved::{SavedRule, SavedState};

/// A run of consecutive samples for which a condition held.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Run {
    since: Option<DateTime<Utc>>,
    count: u32,
}

impl Run {
    fn step(&mut self, holds: bool, at: DateTime<Utc>) {
        if holds {
            if self.since.is_none() {
                self.since = Some(at);
            }
            self.count = self.count.saturating_add(1);
        } else {
            *self = Run::default();
        }
    }

    fn satisfies(&self, sustain: Sustain, at: DateTime<Utc>) -> bool {
        let Some(since) = self.since else {
            return false;
        };
        match sustain {
            Sustain::Samples(n) => self.count >= n,
            Sustain::For(duration) => (at - since)
                .to_std()
                .is_ok_and(|elapsed| elapsed >= duration),
        }
    }
}

/// Why an alert fires.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Cause {
    Threshold,
    NoData,
}

/// The latest observation that drove an alert.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct Observation {
    metric: MetricId,
    value: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Firing {
    severity: Severity,
    cause: Cause,
    started_at: DateTime<Utc>,
    /// `now` of the last notification (firing or repeat).
    last_notified: DateTime<Utc>,
}

/// The state of one rule for one participant.
#[derive(Debug, Clone)]
pub(crate) struct RuleState {
    rule: Arc<Rule>,
    warning_run: Run,
    critical_run: Run,
    clear_run: Run,
    calm_run: Run,
    firing: Option<Firing>,
    last: Option<Observation>,
    /// `now` of the first evaluation, and of the last data seen.
    first_seen: DateTime<Utc>,
    last_data: Option<DateTime<Utc>>,
}

impl RuleState {
    fn new(rule: Arc<Rule>, now: DateTime<Utc>) -> Self {
        Self {
            rule,
            warning_run: Run::default(),
            critical_run: Run::default(),
            clear_run: Run::default(),
            calm_run: Run::default(),
            firing: None,
            last: None,
            first_seen: now,
            last_data: None,
        }
    }

    fn reset_runs(&mut self) {
        self.warning_run = Run::default();
        self.critical_run = Run::default();
        self.clear_run = Run::default();
        self.calm_run = Run::default();
    }
}

/// Per-participant alert state, owned by the participant's watcher task.
///
/// Entries are matched to rules by name and fingerprint: after a reload, an
/// unchanged rule keeps its state (a firing alert stays firing, a pending
/// one keeps counting); a changed or removed rule's firing alert is resolved
/// and its state dropped.
#[derive(Debug, Default, Clone)]
pub struct ParticipantState {
    generation: Option<u64>,
    entries: Vec<Option<RuleState>>,
    /// State read back from the store, waiting for the rules it belongs to
    /// (matched by name and fingerprint at the next reconcile).
    restored: Vec<SavedRule>,
}

impl ParticipantState {
    /// Names and severities of the alerts currently firing.
    pub fn firing(&self) -> Vec<(String, Severity)> {
        self.entries
            .iter()
            .flatten()
            .filter_map(|e| e.firing.as_ref().map(|f| (e.rule.name.clone(), f.severity)))
            .collect()
    }

    /// The stream of the last observation of a firing rule, for multi-stream rules.
    pub fn firing_stream(&self, rule: &str) -> Option<String> {
        self.entries
            .iter()
            .flatten()
            .find(|e| e.rule.name == rule && e.firing.is_some() && e.rule.metrics.len() > 1)
            .and_then(|e| e.last)
            .and_then(|o| stream_of(o.metric))
    }
}

/// How much a participant's state asks to be looked at: what adaptive
/// polling reads to choose an interval. Ordered from calm to firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Attention {
    /// Nothing firing, nothing pending, the last values well clear of the
    /// thresholds.
    Calm,
    /// A last value within [`NEAR_THRESHOLD_SHARE`] of a rule's entry
    /// threshold.
    Near,
    /// A threshold is breached but not yet for the rule's `for`.
    Pending,
    /// An alert is firing.
    Firing,
}

/// How close to its entry threshold a value counts as near: within this
/// share of the threshold (20 %: 120 ms and above for a 150 ms rule).
pub const NEAR_THRESHOLD_SHARE: f64 = 0.2;

impl ParticipantState {
    /// The most pressing [`Attention`] over every rule.
    pub fn attention(&self) -> Attention {
        self.entries
            .iter()
            .flatten()
            .map(RuleState::attention)
            .max()
            .unwrap_or(Attention::Calm)
    }
}

impl RuleState {
    fn attention(&self) -> Attention {
        if self.firing.is_some() {
            return Attention::Firing;
        }
        if self.warning_run.since.is_some() || self.critical_run.since.is_some() {
            return Attention::Pending;
        }
        let rule = &self.rule;
        let near = self.last.is_some_and(|last| {
            let threshold = rule.entry_threshold();
            let margin = threshold.abs() * NEAR_THRESHOLD_SHARE;
            let edge = match rule.direction {
                super::model::Direction::Above => threshold - margin,
                super::model::Direction::Below => threshold + margin,
            };
            rule.direction.breaches(last.value, edge)
        });
        if near {
            Attention::Near
        } else {
            Attention::Calm
        }
    }
}

/// The worst value of the rule's metrics in `sample`.
fn worst(rule: &Rule, sample: &QosSample) -> Option<Observation> {
    let mut worst: Option<Observation> = None;
    for metric in &rule.metrics {
        if let Some(value) = sample.get(*metric) {
            let better = worst.is_none_or(|w| rule.direction.worse(value, w.value));
            if better {
                worst = Some(Observation {
                    metric: *metric,
                    value,
                });
            }
        }
    }
    worst
}

fn missing_data_check(state: &mut RuleState, emit: &mut Emit<'_>, now: DateTime<Utc>) {
    let Some(missing) = state.rule.missing_data else {
        return;
    };
    if state.firing.is_some() {
        return;
    }
    let since = state.last_data.unwrap_or(state.first_seen);
    let elapsed = (now - since).to_std().unwrap_or_default();
    if elapsed >= missing.after {
        let started_at = since;
        state.firing = Some(Firing {
            severity: missing.severity,
            cause: Cause::NoData,
            started_at,
            last_notified: now,
        });
        emit.push(
            state,
            Change {
                status: AlertStatus::Firing,
                severity: missing.severity,
                previous: None,
                cause: Cause::NoData,
                started_at,
                at: now,
            },
        );
    }
}

fn repeat_check(state: &mut RuleState, emit: &mut Emit<'_>, now: DateTime<Utc>, at: DateTime<Utc>) {
    let Some(firing) = &state.firing else { return };
    let Some(interval) = state.rule.route(firing.severity).repeat_interval else {
        return;
    };
    let due = (now - firing.last_notified)
        .to_std()
        .is_ok_and(|elapsed| elapsed >= interval);
    if due {
        let (severity, cause, started_at) = (firing.severity, firing.cause, firing.started_at);
        if let Some(firing) = state.firing.as_mut() {
            firing.last_notified = now;
        }
        emit.push(
            state,
            Change {
                status: AlertStatus::Repeat,
                severity,
                previous: None,
                cause,
                started_at,
                at,
            },
        );
    }
}

/// What one sample with data says about one rule.
#[derive(Debug, Clone, Copy)]
struct Reading {
    value: f64,
    /// The severity whose threshold the value breaches, if any.
    level: Option<Severity>,
    /// The worst severity whose breach run satisfies `for`, if any.
    sustained: Option<Severity>,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
}

/// One sample for one rule.
fn observe(state: &mut RuleState, emit: &mut Emit<'_>, sample: &QosSample, now: DateTime<Utc>) {
    let at = sample.at;
    let Some(observation) = worst(&state.rule, sample) else {
        // No data: never fires, never resolves.
        state.reset_runs();
        missing_data_check(state, emit, now);
        repeat_check(state, emit, now, at);
        return;
    };
    state.last_data = Some(now);
    if state
        .firing
        .as_ref()
        .is_some_and(|f| f.cause == Cause::NoData)
    {
        // Data is back: the missing-data alert is over.
        emit.resolve(state, at);
    }
    state.last = Some(observation);
    let reading = step_breach_runs(state, observation.value, at, now);
    match state.firing.clone() {
        None => {
            if let Some(severity) = reading.sustained {
                fire(state, emit, severity, reading);
            }
        }
        Some(firing) => observe_firing(state, emit, &firing, reading),
    }
}

/// Steps the warning and critical breach runs with `value`.
fn step_breach_runs(
    state: &mut RuleState,
    value: f64,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Reading {
    let rule = Arc::clone(&state.rule);
    let level = rule.level(value);
    state.warning_run.step(level.is_some(), at);
    state
        .critical_run
        .step(level == Some(Severity::Critical), at);
    let sustained = if rule.critical.is_some() && state.critical_run.satisfies(rule.sustain, at) {
        Some(Severity::Critical)
    } else if rule.warning.is_some() && state.warning_run.satisfies(rule.sustain, at) {
        Some(Severity::Warning)
    } else {
        None
    };
    Reading {
        value,
        level,
        sustained,
        at,
        now,
    }
}

/// A threshold alert starts firing at `severity`.
fn fire(state: &mut RuleState, emit: &mut Emit<'_>, severity: Severity, reading: Reading) {
    let started_at = state
        .warning_run
        .since
        .or(state.critical_run.since)
        .unwrap_or(reading.at);
    state.firing = Some(Firing {
        severity,
        cause: Cause::Threshold,
        started_at,
        last_notified: reading.now,
    });
    state.clear_run = Run::default();
    state.calm_run = Run::default();
    emit.push(
        state,
        Change {
            status: AlertStatus::Firing,
            severity,
            previous: None,
            cause: Cause::Threshold,
            started_at,
            at: reading.at,
        },
    );
}

/// A sample while `firing`: resolve, change severity, or repeat.
fn observe_firing(state: &mut RuleState, emit: &mut Emit<'_>, firing: &Firing, reading: Reading) {
    let rule = Arc::clone(&state.rule);
    state
        .clear_run
        .step(rule.is_clear(reading.value), reading.at);
    if state.clear_run.satisfies(rule.clear_for, reading.at) {
        emit.resolve(state, reading.at);
        return;
    }
    match severity_change(state, firing, reading) {
        Some(severity) => change_severity(state, emit, firing, severity, reading),
        None => repeat_check(state, emit, reading.now, reading.at),
    }
}

/// Escalation when a worse severity is sustained; de-escalation from
/// critical to warning after `clear.for` under the critical threshold.
fn severity_change(state: &mut RuleState, firing: &Firing, reading: Reading) -> Option<Severity> {
    if reading.sustained.is_some_and(|s| s > firing.severity) {
        return reading.sustained;
    }
    if firing.severity == Severity::Critical && state.rule.warning.is_some() {
        state
            .calm_run
            .step(reading.level != Some(Severity::Critical), reading.at);
        if state.calm_run.satisfies(state.rule.clear_for, reading.at) {
            return Some(Severity::Warning);
        }
    }
    None
}

fn change_severity(
    state: &mut RuleState,
    emit: &mut Emit<'_>,
    firing: &Firing,
    severity: Severity,
    reading: Reading,
) {
    state.calm_run = Run::default();
    if let Some(f) = state.firing.as_mut() {
        f.severity = severity;
        f.last_notified = reading.now;
    }
    emit.push(
        state,
        Change {
            status: AlertStatus::Firing,
            severity,
            previous: Some(firing.severity),
            cause: Cause::Threshold,
            started_at: firing.started_at,
            at: reading.at,
        },
    );
}

/// Aligns `state` with the rules of `generation`: unchanged rules keep their
/// state; firing alerts of changed or removed rules are resolved.
fn reconcile(
    rules: &[Arc<Rule>],
    generation: u64,
    state: &mut ParticipantState,
    emit: &mut Emit<'_>,
    now: DateTime<Utc>,
) {
    // Same generation means the same rules, and `entries` always has one slot
    // per rule once reconciled: the length test only guards against a hash
    // collision of two rule lists. (`==` -> `!=` on it is an equivalent
    // mutant: every call would rebuild the very same entries.)
    if state.generation == Some(generation) && state.entries.len() == rules.len() {
        return;
    }
    let mut old: Vec<RuleState> = state.entries.drain(..).flatten().collect();
    saved::revive(&mut state.restored, rules, &mut old, emit, now);
    state.entries = rules
        .iter()
        .map(|rule| {
            let index = old
                .iter()
                .position(|e| e.rule.name == rule.name && e.rule.fingerprint == rule.fingerprint)?;
            let mut entry = old.remove(index);
            entry.rule = Arc::clone(rule);
            Some(entry)
        })
        .collect();
    for mut entry in old {
        emit.resolve(&mut entry, now);
    }
    state.generation = Some(generation);
}

pub(crate) fn evaluate(
    rules: &[Arc<Rule>],
    generation: u64,
    state: &mut ParticipantState,
    subject: &Subject,
    sample: &QosSample,
    now: DateTime<Utc>,
) -> Vec<AlertEvent> {
    emitting(subject, |emit| {
        reconcile(rules, generation, state, emit, now);
        for (rule, slot) in rules.iter().zip(state.entries.iter_mut()) {
            if rule.scope.leaves_out(subject) {
                if let Some(mut entry) = slot.take() {
                    emit.resolve(&mut entry, sample.at);
                }
                continue;
            }
            let entry = slot.get_or_insert_with(|| RuleState::new(Arc::clone(rule), now));
            observe(entry, emit, sample, now);
        }
    })
}

pub(crate) fn tick(
    rules: &[Arc<Rule>],
    generation: u64,
    state: &mut ParticipantState,
    subject: &Subject,
    now: DateTime<Utc>,
) -> Vec<AlertEvent> {
    emitting(subject, |emit| {
        reconcile(rules, generation, state, emit, now);
        for (rule, slot) in rules.iter().zip(state.entries.iter_mut()) {
            if slot.is_none() {
                if rule.missing_data.is_none() || rule.scope.leaves_out(subject) {
                    continue;
                }
                *slot = Some(RuleState::new(Arc::clone(rule), now));
            }
            if let Some(entry) = slot.as_mut() {
                missing_data_check(entry, emit, now);
                repeat_check(entry, emit, now, now);
            }
        }
    })
}

pub(crate) fn finish(
    rules: &[Arc<Rule>],
    generation: u64,
    state: &mut ParticipantState,
    subject: &Subject,
    now: DateTime<Utc>,
) -> Vec<AlertEvent> {
    emitting(subject, |emit| {
        // State restored from the store and not yet matched to the rules
        // (a watch that ends on its first poll after a restart) still
        // resolves what it had firing.
        reconcile(rules, generation, state, emit, now);
        state.generation = None;
        for mut entry in state.entries.drain(..).flatten() {
            emit.resolve(&mut entry, now);
        }
    })
}

/// Runs `body` with an emitter for `subject`; the transitions it emitted.
fn emitting(subject: &Subject, body: impl FnOnce(&mut Emit<'_>)) -> Vec<AlertEvent> {
    let mut events = Vec::new();
    body(&mut Emit {
        subject,
        events: &mut events,
    });
    events
}
