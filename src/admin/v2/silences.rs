//! Silences in Alertmanager's shapes: `gettableSilence` out,
//! `postableSilence` in. They are qoswatch's own silences (one store, the
//! same ids in `/api/v1`, `/api/v2` and on the page); what differs is the
//! vocabulary: the label `alertname` is qoswatch's `rule`.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::matchers::{self, LabelMatcher};
use super::time;
use crate::admin::ApiError;
use qoswatch_core::silence::{Field, MAX_SILENCE, MatcherSpec, Silence, SilenceRequest};

/// A silence's start may lie this far ahead (the client's clock); further
/// ahead is refused: qoswatch's silences start when they are made.
const START_SKEW: chrono::Duration = chrono::Duration::seconds(60);

/// The labels silences can match, in Alertmanager's names.
const SILENCE_LABELS: &str = "alertname, topic, participant, location, severity";

/// Alertmanager's label name of a silence field.
fn label_of(field: Field) -> &'static str {
    match field {
        Field::Rule => "alertname",
        other => Field::ALL[other as usize].1,
    }
}

/// qoswatch's field of a label name (`rule` is taken too).
fn field_of(label: &str) -> Option<&'static str> {
    match label {
        "alertname" | "rule" => Some("rule"),
        "topic" => Some("topic"),
        "participant" => Some("participant"),
        "location" => Some("location"),
        "severity" => Some("severity"),
        _ => None,
    }
}

/// `expired`, `active` or `pending` (never: silences start when made).
fn state(silence: &Silence, now: DateTime<Utc>) -> &'static str {
    if silence.is_active(now) {
        "active"
    } else {
        "expired"
    }
}

/// One `gettableSilence`.
pub fn gettable(silence: &Silence, now: DateTime<Utc>) -> Value {
    let matchers: Vec<Value> = silence
        .matchers
        .iter()
        .map(|m| {
            let spec = m.spec();
            json!({
                "name": label_of(m.field),
                "value": spec.value,
                "isRegex": spec.is_regex,
                "isEqual": true,
            })
        })
        .collect();
    json!({
        "id": silence.id,
        "status": { "state": state(silence, now) },
        "updatedAt": time(silence.removed_at.unwrap_or(silence.starts_at)),
        "annotations": {},
        "matchers": matchers,
        "startsAt": time(silence.starts_at),
        "endsAt": time(silence.ends_at),
        "createdBy": silence.created_by,
        "comment": silence.comment,
    })
}

/// Whether a silence is listed under `filter` (Alertmanager's rule: each
/// filter matcher must match one of the silence's equality matchers of the
/// same label, taken as that label's value).
fn listed(silence: &Silence, filter: &[LabelMatcher]) -> bool {
    filter.iter().all(|wanted| {
        silence.matchers.iter().any(|m| {
            let spec = m.spec();
            label_of(m.field) == wanted.name && !spec.is_regex && wanted.matches_value(&spec.value)
        })
    })
}

/// `GET /api/v2/silences`: `filter`, `active`, `expired`, `pending`
/// (unknown parameters ignored); active first (soonest end first), then
/// expired (latest end first).
pub fn list(
    silences: Vec<&Silence>,
    raw: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<Value>, ApiError> {
    let mut filter = Vec::new();
    let (mut active, mut expired) = (true, true);
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let flag = || match value.as_ref() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(ApiError::BadRequest(format!(
                "{name}: expected true or false"
            ))),
        };
        match name.as_ref() {
            "filter" => filter.extend(matchers::parse(&value).map_err(ApiError::BadRequest)?),
            "active" => active = flag()?,
            "expired" => expired = flag()?,
            "pending" => {
                flag()?;
            }
            _ => {}
        }
    }
    let mut shown: Vec<&Silence> = silences
        .into_iter()
        .filter(|s| if s.is_active(now) { active } else { expired })
        .filter(|s| listed(s, &filter))
        .collect();
    shown.sort_by(|a, b| {
        b.is_active(now)
            .cmp(&a.is_active(now))
            .then(if a.is_active(now) {
                a.ends_at.cmp(&b.ends_at)
            } else {
                b.ends_at.cmp(&a.ends_at)
            })
            .then(a.id.cmp(&b.id))
    });
    Ok(shown.into_iter().map(|s| gettable(s, now)).collect())
}

/// `postableSilence`; other fields are ignored, as Alertmanager does.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Postable {
    #[serde(default)]
    pub id: Option<String>,
    pub matchers: Vec<PostableMatcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl Postable {
    /// The silence this asks for, with id `id`, starting now: or what is
    /// wrong with it (400).
    pub fn into_silence(self, id: String, now: DateTime<Utc>) -> Result<Silence, String> {
        if self.starts_at >= self.ends_at {
            return Err("startsAt must be before endsAt".into());
        }
        if self.ends_at <= now {
            return Err("endsAt is in the past".into());
        }
        if self.starts_at > now + START_SKEW {
            return Err(
                "startsAt is in the future: qoswatch's silences start when they are made".into(),
            );
        }
        let longest = chrono::Duration::from_std(MAX_SILENCE).unwrap_or(chrono::Duration::MAX);
        if self.ends_at - now > longest {
            return Err(format!(
                "endsAt: a silence lasts at most {}",
                qoswatch_core::duration::display(MAX_SILENCE)
            ));
        }
        let mut specs = Vec::with_capacity(self.matchers.len());
        for (i, matcher) in self.matchers.iter().enumerate() {
            if !matcher.is_equal {
                return Err(format!(
                    "matchers[{i}]: qoswatch's silences have no negative matchers (isEqual: false)"
                ));
            }
            let name = field_of(&matcher.name).ok_or_else(|| {
                format!(
                    "matchers[{i}].name: silences match {SILENCE_LABELS}, not `{}`",
                    matcher.name.chars().take(64).collect::<String>()
                )
            })?;
            specs.push(MatcherSpec {
                name: name.to_owned(),
                value: matcher.value.clone(),
                is_regex: matcher.is_regex,
            });
        }
        // The length is checked above; whole seconds, at least one.
        let seconds = (self.ends_at - now).num_seconds().max(1);
        let mut silence = SilenceRequest {
            matchers: specs,
            duration: format!("{seconds}s"),
            created_by: self.created_by,
            comment: self.comment,
        }
        .into_silence(id, now)?;
        silence.ends_at = self.ends_at;
        Ok(silence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 20, 0, 0).unwrap()
    }

    fn postable(starts: i64, ends: i64, matchers: Value) -> Postable {
        serde_json::from_value(json!({
            "matchers": matchers,
            "startsAt": now() + chrono::Duration::seconds(starts),
            "endsAt": now() + chrono::Duration::seconds(ends),
            "createdBy": "ana",
            "comment": "wifi",
        }))
        .unwrap()
    }

    fn one(name: &str) -> Value {
        json!([{ "name": name, "value": "x", "isRegex": false }])
    }

    #[test]
    fn refuses_reversed_past_future_and_unknown() {
        let error = |p: Postable| p.into_silence("id".into(), now()).unwrap_err();
        assert_eq!(
            error(postable(0, 0, one("alertname"))),
            "startsAt must be before endsAt"
        );
        assert_eq!(
            error(postable(10, 5, one("alertname"))),
            "startsAt must be before endsAt"
        );
        assert_eq!(
            error(postable(-20, -10, one("alertname"))),
            "endsAt is in the past"
        );
        assert!(error(postable(3600, 7200, one("alertname"))).contains("in the future"));
        assert!(error(postable(0, 40 * 86400, one("alertname"))).contains("at most"));
        assert!(error(postable(0, 60, one("meeting"))).contains("not `meeting`"));
        let negative =
            json!([{ "name": "alertname", "value": "x", "isRegex": false, "isEqual": false }]);
        assert!(error(postable(0, 60, negative)).contains("negative"));
    }

    #[test]
    fn alertname_is_the_rule_and_the_end_is_kept() {
        let silence = postable(-5, 3600, one("alertname"))
            .into_silence("id".into(), now())
            .unwrap();
        assert_eq!(silence.matchers[0].field, Field::Rule);
        assert_eq!(silence.starts_at, now());
        assert_eq!(silence.ends_at, now() + chrono::Duration::seconds(3600));
        let shown = gettable(&silence, now());
        assert_eq!(shown["matchers"][0]["name"], "alertname");
        assert_eq!(shown["status"]["state"], "active");
        assert_eq!(
            gettable(&silence, now() + chrono::Duration::hours(2))["status"]["state"],
            "expired"
        );
    }

    #[test]
    fn filters_list_silences_by_their_equality_matchers() {
        let silence = postable(
            0,
            60,
            json!([{ "name": "participant", "value": "Ben", "isRegex": false }]),
        )
        .into_silence("id".into(), now())
        .unwrap();
        let filter = |text: &str| listed(&silence, &matchers::parse(text).unwrap());
        assert!(filter(r#"participant="Ben""#));
        assert!(filter(r#"participant=~"B.*""#));
        assert!(!filter(r#"participant="Ann""#));
        assert!(!filter(r#"alertname="x""#));
    }
}
