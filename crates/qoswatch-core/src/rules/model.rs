//! Compiled rules: what a rules file means once every name, unit and
//! pattern in it has been checked.

use std::fmt;
use std::time::Duration;

use regex::Regex;

use crate::alert::{ParticipantInfo, Route, Severity};
use crate::qos::{MetricId, Unit};

use super::Subject;

/// Which side of the threshold is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Above,
    Below,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Above => "above",
            Direction::Below => "below",
        }
    }

    /// True when `value` is on the bad side of `threshold`.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Direction::Above => value > threshold,
            Direction::Below => value < threshold,
        }
    }

    /// True when `a` is worse than `b`.
    pub fn worse(self, a: f64, b: f64) -> bool {
        self.breaches(a, b)
    }

    fn symbol(self) -> &'static str {
        match self {
            Direction::Above => ">",
            Direction::Below => "<",
        }
    }
}

/// How long a condition must hold: a duration of sample time, or a number
/// of consecutive samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sustain {
    For(Duration),
    Samples(u32),
}

impl Sustain {
    /// One sample: the condition counts as soon as it is seen.
    pub const IMMEDIATELY: Sustain = Sustain::Samples(1);
}

impl fmt::Display for Sustain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sustain::For(duration) => write!(f, "{}", crate::duration::display(*duration)),
            Sustain::Samples(1) => f.write_str("1 sample"),
            Sustain::Samples(n) => write!(f, "{n} samples"),
        }
    }
}

/// Opt-in alert when a rule's metric has had no data for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MissingData {
    pub after: Duration,
    pub severity: Severity,
}

/// Which subject field a scope pattern looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeField {
    MeetingTopic,
    MeetingId,
    /// The participant's display name or e-mail address.
    Participant,
    Device,
    Location,
    NetworkType,
    /// `meeting` or `webinar` ([`CallKind`](crate::alert::CallKind)).
    Kind,
    /// The account's short name ([`Account`](crate::alert::Account)): rules
    /// (and so channels) per customer or region.
    Account,
}

impl ScopeField {
    pub const ALL: [(ScopeField, &'static str); 8] = [
        (ScopeField::MeetingTopic, "meeting_topic"),
        (ScopeField::MeetingId, "meeting_id"),
        (ScopeField::Participant, "participant"),
        (ScopeField::Device, "device"),
        (ScopeField::Location, "location"),
        (ScopeField::NetworkType, "network_type"),
        (ScopeField::Kind, "kind"),
        (ScopeField::Account, "account"),
    ];
}

/// Patterns for one field; matches when any pattern matches the whole value
/// (case-insensitive). A missing value never matches.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub field: ScopeField,
    pub regex: Regex,
}

impl Matcher {
    fn matches(&self, subject: &Subject) -> bool {
        let matches =
            |value: &Option<String>| value.as_deref().is_some_and(|v| self.regex.is_match(v));
        let participant: &ParticipantInfo = &subject.participant;
        match self.field {
            ScopeField::MeetingTopic => matches(&subject.meeting.topic),
            ScopeField::MeetingId => {
                matches(&subject.meeting.id) || self.regex.is_match(&subject.meeting.uuid)
            }
            ScopeField::Participant => matches(&participant.name) || matches(&participant.email),
            ScopeField::Device => matches(&participant.device),
            ScopeField::Location => matches(&participant.location),
            ScopeField::NetworkType => matches(&participant.network_type),
            ScopeField::Kind => self.regex.is_match(subject.meeting.kind.as_str()),
            ScopeField::Account => self.regex.is_match(subject.meeting.account.as_str()),
        }
    }
}

/// Where a rule applies: every `include` matcher must match, no `exclude`
/// matcher may match.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub include: Vec<Matcher>,
    pub exclude: Vec<Matcher>,
}

impl Scope {
    pub fn is_everything(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    pub fn applies_to(&self, subject: &Subject) -> bool {
        self.include.iter().all(|m| m.matches(subject))
            && !self.exclude.iter().any(|m| m.matches(subject))
    }

    /// Whether a rule with this scope leaves `subject` out. Most rules have
    /// no scope: that case is answered without looking at the subject.
    pub fn leaves_out(&self, subject: &Subject) -> bool {
        !self.is_everything() && !self.applies_to(subject)
    }
}

/// A placeholder of a summary or runbook template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Var {
    Participant,
    Meeting,
    MeetingId,
    Metric,
    Stream,
    Value,
    Threshold,
    Severity,
    Rule,
    Device,
    Location,
}

impl Var {
    pub const ALL: [(Var, &'static str); 11] = [
        (Var::Participant, "participant"),
        (Var::Meeting, "meeting"),
        (Var::MeetingId, "meeting_id"),
        (Var::Metric, "metric"),
        (Var::Stream, "stream"),
        (Var::Value, "value"),
        (Var::Threshold, "threshold"),
        (Var::Severity, "severity"),
        (Var::Rule, "rule"),
        (Var::Device, "device"),
        (Var::Location, "location"),
    ];
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Piece {
    Text(String),
    Var(Var),
}

/// A parsed `{placeholder}` template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Template(pub Vec<Piece>);

impl Template {
    pub fn render(&self, lookup: impl Fn(Var) -> String) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Var(var) => out.push_str(&lookup(*var)),
            }
        }
        out
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    /// Metrics the rule watches; more than one for multi-stream rules. All
    /// share `unit`.
    pub metrics: Vec<MetricId>,
    pub unit: Unit,
    pub direction: Direction,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    pub sustain: Sustain,
    /// Value that must be crossed back before the alert clears (defaults to
    /// the lowest threshold itself).
    pub clear_threshold: Option<f64>,
    pub clear_for: Sustain,
    pub scope: Scope,
    pub summary: Template,
    pub runbook: Option<Template>,
    pub warning_route: Route,
    pub critical_route: Route,
    pub missing_data: Option<MissingData>,
    /// Hash of every field above (see `fingerprint.rs`): equal
    /// fingerprints mean an unchanged rule, whose alert state survives a
    /// reload.
    pub fingerprint: u64,
}

impl Rule {
    /// The worst severity `value` breaches.
    pub fn level(&self, value: f64) -> Option<Severity> {
        if self
            .critical
            .is_some_and(|t| self.direction.breaches(value, t))
        {
            Some(Severity::Critical)
        } else if self
            .warning
            .is_some_and(|t| self.direction.breaches(value, t))
        {
            Some(Severity::Warning)
        } else {
            None
        }
    }

    /// The threshold that starts the alert: warning if set, else critical.
    pub fn entry_threshold(&self) -> f64 {
        self.warning.or(self.critical).unwrap_or(0.0)
    }

    /// True when `value` is back on the good side of the clear threshold.
    pub fn is_clear(&self, value: f64) -> bool {
        let clear = self.clear_threshold.unwrap_or(self.entry_threshold());
        self.level(value).is_none() && !self.direction.breaches(value, clear)
    }

    pub fn threshold(&self, severity: Severity) -> Option<f64> {
        match severity {
            Severity::Warning => self.warning,
            Severity::Critical => self.critical,
        }
    }

    /// `"> 400 ms"`.
    pub fn threshold_text(&self, severity: Severity) -> Option<String> {
        let threshold = self.threshold(severity)?;
        Some(format!(
            "{} {}",
            self.direction.symbol(),
            crate::qos::Quantity::new(threshold, self.unit)
        ))
    }

    pub fn route(&self, severity: Severity) -> &Route {
        match severity {
            Severity::Warning => &self.warning_route,
            Severity::Critical => &self.critical_route,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::MeetingInfo;
    use crate::rules::RuleSet;

    /// The first rule of a one-rule file with the given lines.
    fn rule(body: &str) -> Rule {
        let text = format!("rules:\n  - name: r\n    metric: audio_input.latency\n{body}");
        let rules = RuleSet::from_str("t.yaml", &text).expect("valid rules");
        rules.rules().next().expect("one rule").clone()
    }

    #[test]
    fn above_and_below_are_strict() {
        // docs/RULES.md: `above` means strictly greater, `below` strictly less.
        assert!(!Direction::Above.breaches(150.0, 150.0));
        assert!(Direction::Above.breaches(150.5, 150.0));
        assert!(!Direction::Below.breaches(7.0, 7.0));
        assert!(Direction::Below.breaches(6.5, 7.0));
        let latency = rule("    above: { warning: 150ms, critical: 400ms }\n");
        assert_eq!(latency.level(150.0), None);
        assert_eq!(latency.level(400.0), Some(Severity::Warning));
        assert_eq!(latency.level(400.5), Some(Severity::Critical));
    }

    #[test]
    fn without_a_clear_threshold_the_alert_clears_at_the_entry_threshold() {
        let warning_only = rule("    above: 150ms\n");
        assert!(warning_only.is_clear(150.0), "back at the threshold");
        assert!(warning_only.is_clear(90.0));
        assert!(!warning_only.is_clear(151.0));
        // A critical-only rule enters, and so clears, at the critical value.
        let critical_only = rule("    above: { critical: 400ms }\n");
        assert!(critical_only.is_clear(399.0));
        assert!(!critical_only.is_clear(401.0));
        let hysteresis = rule("    above: 150ms\n    clear: { below: 120ms }\n");
        assert!(!hysteresis.is_clear(130.0), "between clear and entry");
        assert!(hysteresis.is_clear(110.0));
    }

    #[test]
    fn a_meeting_id_scope_matches_the_number_or_the_uuid() {
        let by_number = rule("    above: 150ms\n    scope: { meeting_id: '85746065432' }\n");
        let by_uuid = rule("    above: 150ms\n    scope: { meeting_id: 'mOG8pEaFQqeDm6Vd*' }\n");
        let subject = |id: Option<&str>, uuid: &str| Subject {
            meeting: MeetingInfo {
                uuid: uuid.into(),
                id: id.map(Into::into),
                topic: None,
                ..MeetingInfo::default()
            },
            ..Subject::default()
        };
        let known_number = subject(Some("85746065432"), "other==");
        let only_uuid = subject(None, "mOG8pEaFQqeDm6Vd/3xopA==");
        let neither = subject(Some("1"), "x==");
        assert!(!by_number.scope.leaves_out(&known_number));
        assert!(by_number.scope.leaves_out(&only_uuid));
        assert!(
            !by_uuid.scope.leaves_out(&only_uuid),
            "the UUID alone is enough"
        );
        assert!(by_uuid.scope.leaves_out(&neither));
    }

    #[test]
    fn a_kind_scope_tells_webinars_from_meetings() {
        use crate::alert::CallKind;
        let webinars = rule("    above: 150ms\n    scope: { kind: webinar }\n");
        let not_webinars = rule("    above: 150ms\n    exclude: { kind: Webinar }\n");
        let of_kind = |kind: CallKind| Subject {
            meeting: MeetingInfo {
                uuid: "u==".into(),
                kind,
                ..MeetingInfo::default()
            },
            ..Subject::default()
        };
        let (meeting, webinar) = (of_kind(CallKind::Meeting), of_kind(CallKind::Webinar));
        assert!(!webinars.scope.leaves_out(&webinar));
        assert!(webinars.scope.leaves_out(&meeting));
        assert!(not_webinars.scope.leaves_out(&webinar), "case-insensitive");
        assert!(!not_webinars.scope.leaves_out(&meeting));
        let typo = "rules:\n  - name: r\n    metric: audio_input.latency\n    above: 1ms\n    scope: { kind: webinars }\n";
        let error = RuleSet::from_str("t.yaml", typo)
            .expect_err("an unknown kind is an error")
            .to_string();
        assert!(
            error.contains("`scope.kind` is `meeting` or `webinar`"),
            "{error}"
        );
    }

    #[test]
    fn an_account_scope_keeps_a_rule_to_its_customers() {
        use crate::alert::Account;
        let acme_only = rule("    above: 150ms\n    scope: { account: [acme, acme-eu] }\n");
        let not_globex = rule("    above: 150ms\n    exclude: { account: \"glob*\" }\n");
        let of = |account: &str| Subject {
            meeting: MeetingInfo {
                uuid: "u==".into(),
                account: Account::new(account),
                ..MeetingInfo::default()
            },
            ..Subject::default()
        };
        assert!(!acme_only.scope.leaves_out(&of("acme")));
        assert!(!acme_only.scope.leaves_out(&of("acme-eu")));
        assert!(acme_only.scope.leaves_out(&of("globex")));
        assert!(acme_only.scope.leaves_out(&of("default")));
        assert!(not_globex.scope.leaves_out(&of("globex")));
        assert!(!not_globex.scope.leaves_out(&of("acme")));
    }

    #[test]
    fn sustain_reads_as_written() {
        assert_eq!(Sustain::IMMEDIATELY.to_string(), "1 sample");
        assert_eq!(Sustain::Samples(3).to_string(), "3 samples");
        assert_eq!(
            Sustain::For(std::time::Duration::from_secs(120)).to_string(),
            "2m"
        );
        assert_eq!(Direction::Above.as_str(), "above");
        assert_eq!(Direction::Below.as_str(), "below");
    }
}
