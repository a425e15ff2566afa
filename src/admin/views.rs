//! The JSON shapes of the API and the page (documented in `docs/API.md`).
//! Built here from the board, the watches and the other parts, so that no
//! participant e-mail or IP address can slip in: these structs simply have
//! no field for them.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::alerting::live_rules::{LiveRules, ReloadReport};
use crate::notify::{ChannelHealth, DispatchHandle};
use crate::quota::view::{BudgetSource, BudgetView, budget_view};
use crate::status::Status;
use crate::status::board::{Board, Firing, Transition};
use crate::status::watches::{Kept, Quality, Watches};
use qoswatch_core::alert::{AlertEvent, AlertStatus, CallKind, ParticipantKey, Severity};
use qoswatch_core::silence::{Labels, Matcher, MatcherSpec, Silence};

/// Where the views read what the board does not hold.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Each account's budget and plan, in the settings' order.
    pub budgets: Vec<BudgetSource>,
    pub rules: Option<Arc<LiveRules>>,
    pub dispatch: Option<DispatchHandle>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeetingRef {
    pub uuid: String,
    pub id: Option<String>,
    pub topic: Option<String>,
    /// `meeting` or `webinar`.
    pub kind: CallKind,
    /// The Zoom account's short name (`default` with one account).
    pub account: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantRef {
    /// Zoom's participant id in the meeting (not an e-mail).
    pub id: String,
    pub name: Option<String>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertView {
    pub key: String,
    pub rule: String,
    pub severity: Severity,
    /// `firing` for the alerts list; `firing` or `resolved` in the history.
    pub status: &'static str,
    pub since: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub summary: String,
    pub metric: String,
    pub value: Option<String>,
    pub threshold: Option<String>,
    pub meeting: MeetingRef,
    pub participant: Option<ParticipantRef>,
    /// Ids of the silences in force that cover it: not sent while non-empty.
    pub silenced_by: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryView {
    pub at: DateTime<Utc>,
    pub status: &'static str,
    pub severity: Severity,
    pub key: String,
    pub rule: String,
    pub summary: String,
    pub meeting: MeetingRef,
    pub participant: Option<ParticipantRef>,
    /// Not sent: a silence covered it.
    pub silenced: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SilenceView {
    pub id: String,
    pub matchers: Vec<MatcherSpec>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    pub removed_at: Option<DateTime<Utc>>,
    /// `active` or `expired`.
    pub state: &'static str,
}

impl SilenceView {
    pub fn of(silence: &Silence, now: DateTime<Utc>) -> Self {
        SilenceView {
            id: silence.id.clone(),
            matchers: silence.matchers.iter().map(Matcher::spec).collect(),
            starts_at: silence.starts_at,
            ends_at: silence.ends_at,
            created_by: silence.created_by.clone(),
            comment: silence.comment.clone(),
            removed_at: silence.removed_at,
            state: if silence.is_active(now) {
                "active"
            } else {
                "expired"
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantView {
    #[serde(flatten)]
    pub who: ParticipantRef,
    pub device: Option<String>,
    pub network: Option<String>,
    pub watched_since: DateTime<Utc>,
    pub latest: Option<Quality>,
    /// Oldest first, at most `watches::TREND`.
    pub trend: Vec<Quality>,
    /// The worst severity of its firing alerts.
    pub worst: Option<Severity>,
    /// Rules firing for this participant.
    pub alerts: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeetingView {
    #[serde(flatten)]
    pub meeting: MeetingRef,
    pub participants: Vec<ParticipantView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleView {
    pub name: String,
    pub metrics: Vec<String>,
    pub warning: Option<String>,
    pub critical: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RulesView {
    pub file: String,
    pub rules: Vec<RuleView>,
    pub last_reload: Option<ReloadReport>,
}

/// Everything the page shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    pub generated_at: DateTime<Utc>,
    pub meetings: Vec<MeetingView>,
    pub alerts: Vec<AlertView>,
    pub history: Vec<HistoryView>,
    pub silences: Vec<SilenceView>,
    /// The first account's (the only one's, in a single-account deployment).
    pub budget: Option<BudgetView>,
    /// Every account's.
    pub budgets: Vec<BudgetView>,
    pub rules: Option<RulesView>,
    pub channels: Vec<ChannelHealth>,
}

fn meeting_ref(event: &AlertEvent) -> MeetingRef {
    MeetingRef {
        uuid: event.meeting.uuid.clone(),
        id: event.meeting.id.clone(),
        topic: event.meeting.topic.clone(),
        kind: event.meeting.kind,
        account: event.meeting.account.as_str().to_owned(),
    }
}

fn participant_ref(event: &AlertEvent) -> Option<ParticipantRef> {
    event.participant.as_ref().map(|p| ParticipantRef {
        id: p.user_id.clone(),
        name: p.name.clone(),
        location: p.location.clone(),
    })
}

fn alert_view(board: &Board, firing: &Firing, now: DateTime<Utc>) -> AlertView {
    let event = &firing.event;
    AlertView {
        key: event.key.to_string(),
        rule: event.rule.clone(),
        severity: event.severity,
        status: "firing",
        since: firing.since,
        updated_at: event.at,
        summary: event.summary.clone(),
        metric: event.metric.clone(),
        value: event.value.clone(),
        threshold: event.threshold.clone(),
        meeting: meeting_ref(event),
        participant: participant_ref(event),
        silenced_by: board.silenced_by(&Labels::of(event), now),
    }
}

fn history_view(transition: &Transition) -> HistoryView {
    let event = &transition.event;
    HistoryView {
        at: transition.at,
        status: match transition.status {
            AlertStatus::Resolved => "resolved",
            _ => "firing",
        },
        severity: transition.severity,
        key: event.key.to_string(),
        rule: event.rule.clone(),
        summary: event.summary.clone(),
        meeting: meeting_ref(event),
        participant: participant_ref(event),
        silenced: transition.silenced,
    }
}

/// The history, newest first.
pub fn history(board: &Board) -> Vec<HistoryView> {
    board.history().map(history_view).collect()
}

/// Which alerts `GET /api/v1/alerts` returns, in the spirit of
/// Alertmanager's `GET /api/v2/alerts`.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// Alerts no silence covers (default true).
    pub active: Option<bool>,
    /// Alerts a silence covers (default true).
    pub silenced: Option<bool>,
    /// Every matcher must match.
    pub filter: Vec<Matcher>,
}

impl AlertQuery {
    /// Whether an alert with these labels, silenced or not, is wanted.
    pub fn wants(&self, labels: &Labels, silenced: bool) -> bool {
        let by_state = if silenced {
            self.silenced.unwrap_or(true)
        } else {
            self.active.unwrap_or(true)
        };
        by_state && self.filter.iter().all(|m| m.matches(labels))
    }
}

/// The firing alerts the query wants, worst and oldest first.
pub fn alerts(board: &Board, query: &AlertQuery, now: DateTime<Utc>) -> Vec<AlertView> {
    let mut alerts: Vec<AlertView> = board
        .firing()
        .filter(|firing| {
            let labels = Labels::of(&firing.event);
            query.wants(&labels, board.is_silenced(&labels, now))
        })
        .map(|firing| alert_view(board, firing, now))
        .collect();
    alerts.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.since.cmp(&b.since)));
    alerts
}

/// Meetings with their participants, by topic.
pub fn meetings(board: &Board, watches: &Watches) -> Vec<MeetingView> {
    // By account too: two accounts may have the same meeting and user ids.
    let mut firing: BTreeMap<ParticipantKey, Vec<&Firing>> = BTreeMap::new();
    for alert in board.firing() {
        if let Some(p) = &alert.event.participant {
            let meeting = &alert.event.meeting;
            let key =
                ParticipantKey::in_account(meeting.account.clone(), &meeting.uuid, &p.user_id);
            firing.entry(key).or_default().push(alert);
        }
    }
    let mut meetings: BTreeMap<qoswatch_core::alert::MeetingKey, MeetingView> = BTreeMap::new();
    for (key, watched) in &watches.by_key {
        let subject = &watched.subject;
        let alerts = firing.get(key).map(Vec::as_slice).unwrap_or_default();
        let participant = ParticipantView {
            who: ParticipantRef {
                id: key.user_id.clone(),
                name: subject.participant.name.clone(),
                location: subject.participant.location.clone(),
            },
            device: subject.participant.device.clone(),
            network: subject.participant.network_type.clone(),
            watched_since: watched.since,
            latest: watched.samples.back().map(Kept::quality),
            trend: watched.samples.iter().map(Kept::quality).collect(),
            worst: alerts.iter().map(|a| a.event.severity).max(),
            alerts: alerts.iter().map(|a| a.event.rule.clone()).collect(),
        };
        meetings
            // Two accounts may have the same meeting UUID.
            .entry(key.meeting())
            .or_insert_with(|| MeetingView {
                meeting: MeetingRef {
                    uuid: subject.meeting.uuid.clone(),
                    id: subject.meeting.id.clone(),
                    topic: subject.meeting.topic.clone(),
                    kind: subject.meeting.kind,
                    account: key.account.as_str().to_owned(),
                },
                participants: Vec::new(),
            })
            .participants
            .push(participant);
    }
    let mut meetings: Vec<MeetingView> = meetings.into_values().collect();
    meetings.sort_by(|a, b| a.meeting.topic.cmp(&b.meeting.topic));
    meetings
}

pub fn rules_view(live: &LiveRules) -> RulesView {
    let rules = live.current();
    RulesView {
        file: live.path().display().to_string(),
        rules: rules
            .rules()
            .map(|rule| RuleView {
                name: rule.name.clone(),
                metrics: rule.metrics.iter().map(ToString::to_string).collect(),
                warning: rule.threshold_text(Severity::Warning),
                critical: rule.threshold_text(Severity::Critical),
            })
            .collect(),
        last_reload: live.last_reload(),
    }
}

/// Everything at once, for the page.
pub fn status_view(status: &Status, sources: &Sources) -> StatusView {
    let now = Utc::now();
    let (meetings, alerts, history, silences) = status.read(|board, watches| {
        (
            meetings(board, watches),
            alerts(board, &AlertQuery::default(), now),
            history(board),
            board
                .silences()
                .into_iter()
                .map(|s| SilenceView::of(s, now))
                .collect(),
        )
    });
    StatusView {
        generated_at: now,
        meetings,
        alerts,
        history,
        silences,
        budget: sources.budgets.first().map(budget_view),
        budgets: sources.budgets.iter().map(budget_view).collect(),
        rules: sources.rules.as_deref().map(rules_view),
        channels: sources
            .dispatch
            .as_ref()
            .map(DispatchHandle::channel_health)
            .unwrap_or_default(),
    }
}
