//! The JSON of Zoom's webhook events, in the shapes of `tests/fixtures/`:
//! `endpoint.url_validation`, `meeting.started`, `meeting.participant_joined`,
//! `meeting.participant_left`, `meeting.ended` and `meeting.alert`, and
//! the same as `webinar.*` for a webinar (Zoom's webinar events have the
//! meeting events' shapes). Pure: the caller gives the times and `event_ts`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value as Json, json};

use crate::{MeetingSpec, ParticipantSpec};

fn iso(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `endpoint.url_validation`.
pub fn url_validation_event(plain_token: &str, event_ts: i64) -> Json {
    json!({
        "event": "endpoint.url_validation",
        "payload": {"plainToken": plain_token},
        "event_ts": event_ts,
    })
}

/// The meeting fields common to meeting events; `id` as Zoom sends it in this event.
fn meeting_object(
    meeting: &MeetingSpec,
    start_time: DateTime<Utc>,
    id: Json,
) -> serde_json::Map<String, Json> {
    let mut object = serde_json::Map::new();
    object.insert("id".into(), id);
    object.insert("uuid".into(), json!(meeting.uuid));
    object.insert("host_id".into(), json!(meeting.host_id));
    object.insert("topic".into(), json!(meeting.topic));
    // Zoom's types: 2 a scheduled meeting, 5 a webinar.
    object.insert("type".into(), json!(if meeting.webinar { 5 } else { 2 }));
    object.insert("start_time".into(), json!(iso(start_time)));
    object.insert("timezone".into(), json!("Europe/Berlin"));
    object.insert("duration".into(), json!(60));
    object
}

fn event(
    name: &str,
    account_id: &str,
    object: serde_json::Map<String, Json>,
    event_ts: i64,
) -> Json {
    json!({
        "event": name,
        "event_ts": event_ts,
        "payload": {"account_id": account_id, "object": object},
    })
}

/// `meeting.started`; `id` is a number.
pub fn meeting_started_event(
    account_id: &str,
    meeting: &MeetingSpec,
    start_time: DateTime<Utc>,
    event_ts: i64,
) -> Json {
    let mut object = meeting_object(meeting, start_time, json!(meeting.id));
    object.insert("duration".into(), json!(0));
    let name = format!("{}.started", meeting.family());
    event(&name, account_id, object, event_ts)
}

fn participant_object(participant: &ParticipantSpec) -> serde_json::Map<String, Json> {
    let mut object = serde_json::Map::new();
    object.insert("user_id".into(), json!(participant.user_id));
    object.insert("user_name".into(), json!(participant.user_name));
    object.insert("id".into(), json!(participant.id));
    object.insert(
        "participant_uuid".into(),
        json!(participant.participant_uuid),
    );
    object.insert("participant_user_id".into(), json!(participant.id));
    object.insert("email".into(), json!(participant.email));
    object.insert("registrant_id".into(), json!(""));
    object.insert("customer_key".into(), json!(""));
    object.insert("phone_number".into(), json!(""));
    object
}

/// `meeting.participant_joined`; `id` is a string.
pub fn participant_joined_event(
    account_id: &str,
    meeting: &MeetingSpec,
    start_time: DateTime<Utc>,
    participant: &ParticipantSpec,
    join_time: DateTime<Utc>,
    event_ts: i64,
) -> Json {
    let mut object = meeting_object(meeting, start_time, json!(meeting.id.to_string()));
    let mut who = participant_object(participant);
    who.insert("join_time".into(), json!(iso(join_time)));
    object.insert("participant".into(), Json::Object(who));
    let name = format!("{}.participant_joined", meeting.family());
    event(&name, account_id, object, event_ts)
}

/// `meeting.participant_left`; `id` is a string.
pub fn participant_left_event(
    account_id: &str,
    meeting: &MeetingSpec,
    start_time: DateTime<Utc>,
    participant: &ParticipantSpec,
    leave_time: DateTime<Utc>,
    leave_reason: &str,
    event_ts: i64,
) -> Json {
    let mut object = meeting_object(meeting, start_time, json!(meeting.id.to_string()));
    let mut who = participant_object(participant);
    who.insert("leave_time".into(), json!(iso(leave_time)));
    who.insert("leave_reason".into(), json!(leave_reason));
    object.insert("participant".into(), Json::Object(who));
    let name = format!("{}.participant_left", meeting.family());
    event(&name, account_id, object, event_ts)
}

/// `meeting.ended`; `id` is a string.
pub fn meeting_ended_event(
    account_id: &str,
    meeting: &MeetingSpec,
    start_time: DateTime<Utc>,
    end_time: DateTime<Utc>,
    event_ts: i64,
) -> Json {
    let mut object = meeting_object(meeting, start_time, json!(meeting.id.to_string()));
    object.insert("end_time".into(), json!(iso(end_time)));
    let name = format!("{}.ended", meeting.family());
    event(&name, account_id, object, event_ts)
}

/// `meeting.alert`; `id` is a number; meeting-level `issues`, no participant.
pub fn meeting_alert_event(
    account_id: &str,
    meeting: &MeetingSpec,
    start_time: DateTime<Utc>,
    issues: &[String],
    event_ts: i64,
) -> Json {
    let mut object = meeting_object(meeting, start_time, json!(meeting.id));
    object.remove("start_time");
    object.insert("join_time".into(), json!(iso(start_time)));
    object.insert("issues".into(), json!(issues));
    let name = format!("{}.alert", meeting.family());
    event(&name, account_id, object, event_ts)
}

/// `meeting.participant_qos` (`webinar.participant_qos` for a webinar), as
/// Zoom's QSS webhooks reference shows it: `payload.object` has the call's
/// `uuid` and `participant` with `user_id`, `participant_user_id`,
/// `email` and `qos[]`, one `{date_time, type, details}` per stream and
/// minute. `samples` are Dashboard-shaped `user_qos[]` entries (what the
/// simulator serves); each of their blocks becomes an entry (unused
/// streams, `""`, are left out), and each minute gets Zoom's
/// `audio_quality` grade too.
pub fn participant_qos_event(
    account_id: &str,
    meeting: &MeetingSpec,
    participant: &ParticipantSpec,
    samples: &[Json],
    event_ts: i64,
) -> Json {
    let mut qos = Vec::new();
    for sample in samples {
        let Some(fields) = sample.as_object() else {
            continue;
        };
        let date_time = fields.get("date_time").cloned().unwrap_or_default();
        for (key, block) in fields {
            if key == "date_time" || !block.is_object() {
                continue;
            }
            qos.push(json!({"date_time": date_time, "type": key, "details": block}));
        }
        qos.push(json!({
            "date_time": date_time,
            "type": "audio_quality",
            "details": {"quality": "good", "quality_score": "4.2"},
        }));
    }
    let who = json!({
        "user_id": participant.user_id,
        "participant_user_id": participant.id,
        "email": participant.email,
        "qos": qos,
    });
    let mut object = serde_json::Map::new();
    object.insert("uuid".into(), json!(meeting.uuid));
    object.insert("participant".into(), who);
    let name = format!("{}.participant_qos", meeting.family());
    event(&name, account_id, object, event_ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Json {
        let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
    }

    /// The set of JSON paths of a document, with the JSON type at each.
    fn shape(value: &Json, prefix: &str, out: &mut Vec<String>) {
        match value {
            Json::Object(map) => {
                for (key, inner) in map {
                    shape(inner, &format!("{prefix}.{key}"), out);
                }
            }
            Json::Array(_) => out.push(format!("{prefix}: array")),
            Json::String(_) => out.push(format!("{prefix}: string")),
            Json::Number(_) => out.push(format!("{prefix}: number")),
            Json::Bool(_) => out.push(format!("{prefix}: bool")),
            Json::Null => out.push(format!("{prefix}: null")),
        }
    }

    /// Every field of the fixture appears in ours with the same JSON type.
    fn assert_covers(ours: &Json, fixture_name: &str, ignore: &[&str]) {
        let mut theirs = Vec::new();
        shape(&fixture(fixture_name), "", &mut theirs);
        let mut mine = Vec::new();
        shape(ours, "", &mut mine);
        for field in theirs {
            if ignore.iter().any(|i| field.starts_with(i)) {
                continue;
            }
            assert!(
                mine.contains(&field),
                "{fixture_name}: missing {field} in {ours}"
            );
        }
    }

    fn meeting() -> MeetingSpec {
        MeetingSpec::new("4444AAAiAAAAAiAiAiiAii==", 1_234_567_890, "My Meeting")
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn events_have_the_fixtures_shapes_and_id_types() {
        let start = t("2021-07-13T21:44:51Z");
        let jill = ParticipantSpec::new("16778240", "Jill Chill");
        assert_covers(
            &meeting_started_event("acc", &meeting(), start, 1),
            "meeting.started.json",
            &[],
        );
        assert_covers(
            &participant_joined_event("acc", &meeting(), start, &jill, start, 1),
            "meeting.participant_joined.json",
            &[],
        );
        assert_covers(
            &participant_left_event("acc", &meeting(), start, &jill, start, "left", 1),
            "meeting.participant_left.json",
            &[],
        );
        // `operator*` fields come only when a person ended the meeting.
        assert_covers(
            &meeting_ended_event("acc", &meeting(), start, start, 1),
            "meeting.ended.json",
            &[".payload.operat"],
        );
        assert_covers(
            &meeting_alert_event(
                "acc",
                &meeting(),
                start,
                &["Unstable audio quality".into()],
                1,
            ),
            "meeting.alert.json",
            &[],
        );
        assert_covers(
            &url_validation_event("qgg8vlvZRS6UYooatFL8Aw", 1),
            "url_validation.json",
            &[],
        );
    }

    #[test]
    fn a_qss_event_has_the_shape_of_zooms_example() {
        // The QSS webhooks reference's example: event, event_ts,
        // payload.account_id, payload.object.uuid, participant.user_id,
        // participant_user_id, email and qos[] of {date_time, type, details}.
        let jill = ParticipantSpec::new("16778240", "Jill Chill");
        let sample = json!({
            "date_time": "2021-07-13T21:44:51Z",
            "audio_input": {"bitrate": "63 kbps", "latency": "134 ms"},
            "video_input": "",
        });
        let event = participant_qos_event("acc", &meeting(), &jill, &[sample], 1);
        assert_eq!(event["event"], "meeting.participant_qos");
        let object = &event["payload"]["object"];
        assert_eq!(object["uuid"], "4444AAAiAAAAAiAiAiiAii==");
        let who = &object["participant"];
        assert_eq!(who["user_id"], "16778240");
        let qos = who["qos"].as_array().expect("qos");
        assert_eq!(qos.len(), 2, "an unused stream is left out: {qos:?}");
        assert_eq!(qos[0]["type"], "audio_input");
        assert_eq!(qos[0]["date_time"], "2021-07-13T21:44:51Z");
        assert_eq!(qos[0]["details"]["latency"], "134 ms");
        assert_eq!(qos[1]["type"], "audio_quality");
        let webinar = participant_qos_event("acc", &meeting().as_webinar(), &jill, &[], 1);
        assert_eq!(webinar["event"], "webinar.participant_qos");
    }

    #[test]
    fn guests_have_empty_ids_and_email() {
        let guest = ParticipantSpec::new("16790528", "Guest Caller").as_guest();
        let start = t("2023-11-14T22:10:00Z");
        let event = participant_joined_event("acc", &meeting(), start, &guest, start, 1);
        let who = &event["payload"]["object"]["participant"];
        assert_eq!(who["id"], "");
        assert_eq!(who["email"], "");
        assert_eq!(who["participant_user_id"], "");
        assert_eq!(who["join_time"], "2023-11-14T22:10:00Z");
    }
}
