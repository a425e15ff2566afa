//! A participant's alert state as the store keeps it across restarts.
//!
//! A live [`RuleState`] points at its compiled [`Rule`]; a saved one names
//! it by name and fingerprint instead. After a restart the saved entries
//! wait in [`ParticipantState`] until the next evaluation matches them to
//! the rules then in force:
//! - same name and fingerprint: the state carries on (a firing alert stays
//!   firing, a pending one keeps counting), so no second FIRING is sent;
//! - same name, changed rule: a firing alert is resolved with the new
//!   rule's wording, as a reload would;
//! - rule gone: a firing alert is resolved with a message that says so, to
//!   the route it fired on.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Emit, Firing, Observation, ParticipantState, Rule, RuleState, Run};
use crate::alert::{AlertEvent, AlertKey, AlertStatus, Route};

/// The alert state of one participant, ready to be written as JSON.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SavedState {
    pub rules: Vec<SavedRule>,
}

/// The state of one rule for one participant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedRule {
    rule: String,
    fingerprint: u64,
    warning_run: Run,
    critical_run: Run,
    clear_run: Run,
    calm_run: Run,
    firing: Option<Firing>,
    /// Where the firing alert was routed, to resolve it should the rule be
    /// gone when the state comes back.
    route: Option<Route>,
    last: Option<Observation>,
    first_seen: DateTime<Utc>,
    last_data: Option<DateTime<Utc>>,
}

impl SavedRule {
    fn of(state: &RuleState) -> Self {
        Self {
            rule: state.rule.name.clone(),
            fingerprint: state.rule.fingerprint,
            warning_run: state.warning_run,
            critical_run: state.critical_run,
            clear_run: state.clear_run,
            calm_run: state.calm_run,
            route: state
                .firing
                .as_ref()
                .map(|firing| state.rule.route(firing.severity).clone()),
            firing: state.firing.clone(),
            last: state.last,
            first_seen: state.first_seen,
            last_data: state.last_data,
        }
    }

    fn revive(self, rule: Arc<Rule>) -> RuleState {
        RuleState {
            rule,
            warning_run: self.warning_run,
            critical_run: self.critical_run,
            clear_run: self.clear_run,
            calm_run: self.calm_run,
            firing: self.firing,
            last: self.last,
            first_seen: self.first_seen,
            last_data: self.last_data,
        }
    }
}

impl ParticipantState {
    /// The state to write to the store: every rule's runs and firing alert,
    /// including entries restored and not yet matched to a rule.
    pub fn save(&self) -> SavedState {
        let mut rules: Vec<SavedRule> = self.entries.iter().flatten().map(SavedRule::of).collect();
        rules.extend(self.restored.iter().cloned());
        SavedState { rules }
    }

    /// A state read back from the store. It is matched to the rules in
    /// force at the next evaluation, tick or finish.
    pub fn restore(saved: SavedState) -> Self {
        Self {
            generation: None,
            entries: Vec::new(),
            restored: saved.rules,
        }
    }
}

/// Moves the restored entries that belong to `rules` into `old` (where the
/// reconcile step finds them by name and fingerprint) and resolves the
/// firing alerts of the others.
pub(super) fn revive(
    restored: &mut Vec<SavedRule>,
    rules: &[Arc<Rule>],
    old: &mut Vec<RuleState>,
    emit: &mut Emit<'_>,
    now: DateTime<Utc>,
) {
    for saved in restored.drain(..) {
        // The same name is enough here: a changed fingerprint leaves the
        // entry unmatched in `old`, and reconcile resolves it with the
        // rule's new wording.
        match rules.iter().find(|rule| rule.name == saved.rule) {
            Some(rule) => {
                let fingerprint = saved.fingerprint;
                let mut state = saved.revive(Arc::clone(rule));
                if fingerprint != rule.fingerprint {
                    emit.resolve(&mut state, now);
                    continue;
                }
                old.push(state);
            }
            None => resolve_removed(saved, emit, now),
        }
    }
}

/// A firing alert whose rule left the rules file while qoswatch was down.
fn resolve_removed(saved: SavedRule, emit: &mut Emit<'_>, now: DateTime<Utc>) {
    let (Some(firing), Some(route)) = (saved.firing, saved.route) else {
        return;
    };
    let subject = emit.subject;
    emit.events.push(AlertEvent {
        key: AlertKey::new(
            &saved.rule,
            &subject.meeting,
            Some(&subject.participant.user_id),
        ),
        status: AlertStatus::Resolved,
        severity: firing.severity,
        previous_severity: None,
        rule: saved.rule.clone(),
        summary: format!(
            "{}: rule \"{}\" is no longer in the rules file; this alert is closed",
            subject.participant.display_name(),
            saved.rule
        ),
        runbook: None,
        metric: saved.last.map(|o| o.metric.name()).unwrap_or_default(),
        stream: None,
        value: None,
        threshold: None,
        started_at: firing.started_at,
        at: now,
        meeting: subject.meeting.clone(),
        participant: Some(subject.participant.clone()),
        route,
    });
}
