//! From a rule's transition to the alert event that reports it: the
//! metric, value and threshold it names, and the rule's templates
//! rendered for the subject.

use chrono::{DateTime, Utc};

use super::{Cause, RuleState};
use crate::alert::{AlertEvent, AlertKey, AlertStatus, Severity};
use crate::qos::{MetricId, Quantity};
use crate::rules::Subject;
use crate::rules::model::{Rule, Var};

pub(super) fn stream_of(metric: MetricId) -> Option<String> {
    match metric {
        MetricId::Stream(stream, _) => Some(stream.name()),
        _ => None,
    }
}

/// One transition to report.
#[derive(Debug, Clone, Copy)]
pub(super) struct Change {
    pub(super) status: AlertStatus,
    pub(super) severity: Severity,
    /// The severity before, on escalation and de-escalation.
    pub(super) previous: Option<Severity>,
    pub(super) cause: Cause,
    pub(super) started_at: DateTime<Utc>,
    pub(super) at: DateTime<Utc>,
}

/// What an event says about the rule's metric, value and threshold.
struct Details {
    metric: Option<MetricId>,
    metric_name: String,
    /// Set for multi-stream rules only.
    stream: Option<String>,
    value: Option<String>,
    threshold: Option<String>,
}

impl Details {
    fn new(state: &RuleState, severity: Severity, cause: Cause) -> Self {
        let rule = &state.rule;
        let metric = state
            .last
            .map(|o| o.metric)
            .or_else(|| rule.metrics.first().copied());
        let stream = if rule.metrics.len() > 1 {
            metric.and_then(stream_of)
        } else {
            None
        };
        let (value, threshold) = match cause {
            Cause::NoData => (
                None,
                rule.missing_data
                    .map(|m| format!("no data for {}", crate::duration::display(m.after))),
            ),
            Cause::Threshold => (
                state
                    .last
                    .map(|o| Quantity::new(o.value, rule.unit).to_string()),
                rule.threshold_text(severity),
            ),
        };
        Self {
            metric,
            metric_name: metric.map(|m| m.name()).unwrap_or_default(),
            stream,
            value,
            threshold,
        }
    }

    /// The text of a template variable.
    fn var(&self, var: Var, rule: &Rule, subject: &Subject, severity: Severity) -> String {
        let meeting = &subject.meeting;
        let participant = &subject.participant;
        match var {
            Var::Participant => participant.display_name(),
            Var::Meeting => meeting
                .topic
                .clone()
                .or_else(|| meeting.id.clone())
                .unwrap_or_else(|| meeting.uuid.clone()),
            Var::MeetingId => meeting.id.clone().unwrap_or_else(|| meeting.uuid.clone()),
            Var::Metric => self.metric_name.clone(),
            Var::Stream => self
                .metric
                .and_then(|m| match m {
                    MetricId::Stream(s, _) => Some(s.label()),
                    _ => None,
                })
                .unwrap_or_default(),
            Var::Value => self.value.clone().unwrap_or_else(|| "no data".into()),
            Var::Threshold => self.threshold.clone().unwrap_or_default(),
            Var::Severity => severity.to_string(),
            Var::Rule => rule.name.clone(),
            Var::Device => participant.device.clone().unwrap_or_default(),
            Var::Location => participant.location.clone().unwrap_or_default(),
        }
    }
}

/// Context to build events.
pub(super) struct Emit<'a> {
    pub(super) subject: &'a Subject,
    pub(super) events: &'a mut Vec<AlertEvent>,
}

impl Emit<'_> {
    pub(super) fn push(&mut self, state: &RuleState, change: Change) {
        let Change {
            status,
            severity,
            previous,
            cause,
            started_at,
            at,
        } = change;
        let rule = &state.rule;
        let subject = self.subject;
        let details = Details::new(state, severity, cause);
        let lookup = |var: Var| details.var(var, rule, subject, severity);
        let summary = rule.summary.render(lookup);
        let runbook = rule.runbook.as_ref().map(|t| t.render(lookup));
        let Details {
            metric_name,
            stream,
            value,
            threshold,
            ..
        } = details;
        self.events.push(AlertEvent {
            key: AlertKey::new(
                &rule.name,
                &subject.meeting,
                Some(&subject.participant.user_id),
            ),
            status,
            severity,
            previous_severity: previous,
            rule: rule.name.clone(),
            summary,
            runbook,
            metric: metric_name,
            stream,
            value,
            threshold,
            started_at,
            at,
            meeting: subject.meeting.clone(),
            participant: Some(subject.participant.clone()),
            route: rule.route(severity).clone(),
        });
    }

    pub(super) fn resolve(&mut self, state: &mut RuleState, at: DateTime<Utc>) {
        if let Some(firing) = state.firing.take() {
            self.push(
                state,
                Change {
                    status: AlertStatus::Resolved,
                    severity: firing.severity,
                    previous: None,
                    cause: firing.cause,
                    started_at: firing.started_at,
                    at,
                },
            );
        }
        state.reset_runs();
    }
}
