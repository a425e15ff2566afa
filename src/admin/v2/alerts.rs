//! `GET /api/v2/alerts` and `GET /api/v2/alerts/groups`: the firing alerts
//! of the board as Alertmanager's `gettableAlert` and `alertGroup`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use qoswatch_core::alert::MeetingKey;
use regex::Regex;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::matchers::{self, LabelMatcher};
use super::time;
use crate::admin::ApiError;
use crate::notify::alertmanager::{annotations, labels};
use crate::status::board::{Board, Firing};
use crate::status::silence::Labels;

/// A firing alert has no end yet; like Alertmanager for a client that sent
/// none, qoswatch shows its default `resolve_timeout` (5 minutes) ahead.
const ENDS_AHEAD: chrono::Duration = chrono::Duration::minutes(5);

/// The query of `/api/v2/alerts` and `/api/v2/alerts/groups`.
#[derive(Debug, Default)]
pub struct Query {
    active: Option<bool>,
    silenced: Option<bool>,
    muted: Option<bool>,
    filter: Vec<LabelMatcher>,
    receiver: Option<Regex>,
}

fn flag(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::BadRequest(format!(
            "{name}: expected true or false"
        ))),
    }
}

impl Query {
    /// Reads the query string. Parameters qoswatch has no use for
    /// (`receiver_matchers`: its receivers have no labels) and unknown ones
    /// are ignored, as Alertmanager does.
    pub fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let mut query = Query::default();
        for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            match name.as_ref() {
                "active" => query.active = Some(flag("active", &value)?),
                "silenced" => query.silenced = Some(flag("silenced", &value)?),
                // qoswatch never inhibits and processes every alert at
                // once: these exclude nothing, but must be well-formed.
                "inhibited" | "unprocessed" => {
                    flag(&name, &value)?;
                }
                "muted" => query.muted = Some(flag("muted", &value)?),
                "filter" => query
                    .filter
                    .extend(matchers::parse(&value).map_err(ApiError::BadRequest)?),
                "receiver" if !value.is_empty() => {
                    let regex = regex::RegexBuilder::new(&format!("^(?:{value})$"))
                        .size_limit(64 * 1024)
                        .build()
                        .map_err(|e| {
                            ApiError::BadRequest(format!(
                                "receiver: not a valid regular expression ({e})"
                            ))
                        })?;
                    query.receiver = Some(regex);
                }
                _ => {}
            }
        }
        Ok(query)
    }

    /// Whether an alert is wanted: by its state, its labels and its
    /// receivers.
    fn wants(&self, labels: &Map<String, Value>, silenced: bool, receivers: &[String]) -> bool {
        let by_state = if silenced {
            self.silenced.unwrap_or(true)
        } else {
            self.active.unwrap_or(true)
        };
        let by_receiver = self
            .receiver
            .as_ref()
            .is_none_or(|regex| receivers.iter().any(|r| regex.is_match(r)));
        by_state && by_receiver && self.filter.iter().all(|m| m.matches(labels))
    }
}

fn receivers(firing: &Firing) -> Vec<String> {
    let channels = &firing.event.route.channels;
    if channels.is_empty() {
        vec!["console".to_owned()]
    } else {
        channels.clone()
    }
}

/// The alert's fingerprint: its key hashed (the key names the rule, the
/// meeting and the participant: what makes it one alert).
pub fn fingerprint(firing: &Firing) -> String {
    hex::encode(&Sha256::digest(firing.event.key.as_str().as_bytes())[..8])
}

/// One `gettableAlert`.
fn gettable(firing: &Firing, silenced_by: Vec<String>, now: DateTime<Utc>) -> Value {
    let state = if silenced_by.is_empty() {
        "active"
    } else {
        "suppressed"
    };
    let receivers: Vec<Value> = receivers(firing)
        .into_iter()
        .map(|name| json!({ "name": name }))
        .collect();
    json!({
        "labels": labels(&firing.event),
        "annotations": annotations(&firing.event),
        "receivers": receivers,
        "fingerprint": fingerprint(firing),
        "startsAt": time(firing.since),
        "updatedAt": time(now),
        "endsAt": time(now + ENDS_AHEAD),
        "status": {
            "state": state,
            "mutedBy": silenced_by.clone(),
            "silencedBy": silenced_by,
            "inhibitedBy": [],
        },
    })
}

/// The alerts the query wants, each with its receivers, oldest first.
fn selected<'a>(
    board: &'a Board,
    query: &Query,
    now: DateTime<Utc>,
) -> Vec<(&'a Firing, Vec<String>)> {
    let mut alerts: Vec<(&Firing, Vec<String>)> = board
        .firing()
        .filter_map(|firing| {
            let silenced_by = board.silenced_by(&Labels::of(&firing.event), now);
            let wanted = query.wants(
                &labels(&firing.event),
                !silenced_by.is_empty(),
                &receivers(firing),
            );
            wanted.then_some((firing, silenced_by))
        })
        .collect();
    alerts.sort_by(|a, b| {
        a.0.since
            .cmp(&b.0.since)
            .then(a.0.event.key.cmp(&b.0.event.key))
    });
    alerts
}

/// `GET /api/v2/alerts`.
pub fn alerts(board: &Board, query: &Query, now: DateTime<Utc>) -> Vec<Value> {
    selected(board, query, now)
        .into_iter()
        .map(|(firing, silenced_by)| gettable(firing, silenced_by, now))
        .collect()
}

/// One group being built: its labels, its alerts, and whether every one
/// of them is silenced.
type Group = (Map<String, Value>, Vec<Value>, bool);

/// `GET /api/v2/alerts/groups`: as qoswatch groups its messages, one group
/// per receiver and meeting of an account (group labels `meeting`, `topic`
/// when known, and `account` when the deployment names its accounts: two
/// may have the same meeting); `routeLabels` is empty (qoswatch's routes
/// have no labels). With `muted=false`, groups whose every alert is
/// silenced are left out.
pub fn groups(board: &Board, query: &Query, now: DateTime<Utc>) -> Vec<Value> {
    let mut groups: BTreeMap<(String, MeetingKey), Group> = BTreeMap::new();
    for (firing, silenced_by) in selected(board, query, now) {
        let all = labels(&firing.event);
        let mut group_labels = Map::new();
        let account = (!firing.event.meeting.account.is_default()).then_some("account");
        for name in ["meeting", "topic"].into_iter().chain(account) {
            if let Some(value) = all.get(name) {
                group_labels.insert(name.to_owned(), value.clone());
            }
        }
        let muted = !silenced_by.is_empty();
        let alert = gettable(firing, silenced_by, now);
        for receiver in receivers(firing) {
            let entry = groups
                .entry((receiver, firing.event.meeting.key()))
                .or_insert_with(|| (group_labels.clone(), Vec::new(), true));
            entry.1.push(alert.clone());
            entry.2 &= muted;
        }
    }
    groups
        .into_iter()
        .filter(|(_, (_, _, all_muted))| query.muted.unwrap_or(true) || !all_muted)
        .map(|((receiver, _), (labels, alerts, _))| {
            json!({
                "labels": labels,
                "routeLabels": {},
                "receiver": { "name": receiver },
                "alerts": alerts,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use qoswatch_core::alert::{Account, AlertKey, AlertStatus};
    use qoswatch_core::testing::example_event;

    /// Two accounts may have the same meeting UUID (issue 27): one group
    /// each, the named account's with its `account` label.
    #[test]
    fn two_accounts_meetings_of_one_uuid_are_two_groups() {
        let now = chrono::Utc::now();
        let mut board = Board::default();
        let single = example_event("u1", AlertStatus::Firing);
        let mut globex = example_event("u1", AlertStatus::Firing);
        globex.meeting.account = Account::new("globex");
        globex.key = AlertKey::new("latency", &globex.meeting, Some("u1"));
        board.record(&single, now);
        board.record(&globex, now);
        let groups = groups(&board, &Query::default(), now);
        let labels: Vec<&Value> = groups.iter().map(|g| &g["labels"]).collect();
        assert_eq!(
            labels,
            [
                &json!({ "meeting": "m1" }),
                &json!({ "meeting": "m1", "account": "globex" })
            ],
            "{groups:?}"
        );
        assert!(
            groups
                .iter()
                .all(|g| g["alerts"].as_array().map(Vec::len) == Some(1))
        );
    }
}
