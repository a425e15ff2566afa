//! Typed Zoom webhook events. Parsed once, after verification, from the
//! verified raw body; everything downstream sees these types only.

use serde::{Deserialize, Deserializer};
use serde_json::Value as Json;

use qoswatch_core::alert::{MeetingInfo, ParticipantInfo, ParticipantKey};

/// The events qoswatch acts on, and a catch-all for the rest.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `endpoint.url_validation`: answer the challenge.
    UrlValidation {
        plain_token: String,
    },
    MeetingStarted(Meeting),
    MeetingEnded(Meeting),
    ParticipantJoined(ParticipantEvent),
    ParticipantLeft(ParticipantEvent),
    /// `meeting.alert`: Zoom's own meeting-level quality issues.
    MeetingAlert {
        meeting: Meeting,
        issues: Vec<String>,
    },
    /// A well-formed event qoswatch does not handle.
    Other {
        event: String,
    },
}

impl Event {
    /// Zoom's event name, for logs and metrics.
    pub fn name(&self) -> &str {
        match self {
            Event::UrlValidation { .. } => "endpoint.url_validation",
            Event::MeetingStarted(_) => "meeting.started",
            Event::MeetingEnded(_) => "meeting.ended",
            Event::ParticipantJoined(_) => "meeting.participant_joined",
            Event::ParticipantLeft(_) => "meeting.participant_left",
            Event::MeetingAlert { .. } => "meeting.alert",
            Event::Other { event } => event,
        }
    }
}

/// The meeting object common to meeting events.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Meeting {
    pub uuid: String,
    /// The meeting number; Zoom sends it as a number in some events and a
    /// string in others.
    #[serde(default, deserialize_with = "number_or_string")]
    pub id: Option<String>,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub host_id: Option<String>,
}

impl Meeting {
    pub fn info(&self) -> MeetingInfo {
        MeetingInfo {
            uuid: self.uuid.clone(),
            id: self.id.clone(),
            topic: self.topic.clone().filter(|t| !t.is_empty()),
        }
    }
}

/// A participant as described by `participant_joined` / `participant_left`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Participant {
    /// Meeting-scoped id, new on every rejoin: the QoS endpoint's participant id.
    #[serde(deserialize_with = "required_number_or_string")]
    pub user_id: String,
    #[serde(default)]
    pub user_name: Option<String>,
    /// Empty for guests.
    #[serde(default)]
    pub email: Option<String>,
    /// Zoom account user id; empty for guests.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub participant_uuid: Option<String>,
    #[serde(default)]
    pub join_time: Option<String>,
    #[serde(default)]
    pub leave_time: Option<String>,
    #[serde(default)]
    pub leave_reason: Option<String>,
}

/// A participant event: the meeting and the participant.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantEvent {
    pub meeting: Meeting,
    pub participant: Participant,
}

impl ParticipantEvent {
    pub fn key(&self) -> ParticipantKey {
        ParticipantKey {
            meeting_uuid: self.meeting.uuid.clone(),
            user_id: self.participant.user_id.clone(),
        }
    }

    pub fn participant_info(&self) -> ParticipantInfo {
        let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        ParticipantInfo {
            user_id: self.participant.user_id.clone(),
            name: non_empty(&self.participant.user_name),
            email: non_empty(&self.participant.email),
            ..ParticipantInfo::default()
        }
    }
}

/// Why a verified body is not an event qoswatch can read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EventError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("body has no \"event\" name")]
    NoEventName,
    #[error("{event}: unexpected payload: {message}")]
    BadPayload { event: String, message: String },
}

#[derive(Deserialize)]
struct Envelope {
    event: Option<String>,
    #[serde(default)]
    payload: Json,
}

#[derive(Deserialize)]
struct MeetingPayload<T> {
    object: T,
}

#[derive(Deserialize)]
struct ParticipantObject {
    #[serde(flatten)]
    meeting: Meeting,
    participant: Participant,
}

#[derive(Deserialize)]
struct AlertObject {
    #[serde(flatten)]
    meeting: Meeting,
    #[serde(default)]
    issues: Vec<String>,
}

#[derive(Deserialize)]
struct UrlValidationPayload {
    #[serde(rename = "plainToken")]
    plain_token: String,
}

/// Parses a verified webhook body.
pub fn parse(body: &[u8]) -> Result<Event, EventError> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| EventError::NotJson(e.to_string()))?;
    let event = envelope.event.ok_or(EventError::NoEventName)?;
    let payload = envelope.payload;
    let bad = |e: serde_json::Error| EventError::BadPayload {
        event: event.clone(),
        message: e.to_string(),
    };
    Ok(match event.as_str() {
        "endpoint.url_validation" => {
            let p: UrlValidationPayload = serde_json::from_value(payload).map_err(bad)?;
            Event::UrlValidation {
                plain_token: p.plain_token,
            }
        }
        "meeting.started" => {
            let p: MeetingPayload<Meeting> = serde_json::from_value(payload).map_err(bad)?;
            Event::MeetingStarted(p.object)
        }
        "meeting.ended" => {
            let p: MeetingPayload<Meeting> = serde_json::from_value(payload).map_err(bad)?;
            Event::MeetingEnded(p.object)
        }
        "meeting.participant_joined" | "meeting.participant_left" => {
            let p: MeetingPayload<ParticipantObject> =
                serde_json::from_value(payload).map_err(bad)?;
            let participant_event = ParticipantEvent {
                meeting: p.object.meeting,
                participant: p.object.participant,
            };
            if event == "meeting.participant_joined" {
                Event::ParticipantJoined(participant_event)
            } else {
                Event::ParticipantLeft(participant_event)
            }
        }
        "meeting.alert" => {
            let p: MeetingPayload<AlertObject> = serde_json::from_value(payload).map_err(bad)?;
            Event::MeetingAlert {
                meeting: p.object.meeting,
                issues: p.object.issues,
            }
        }
        _ => Event::Other { event },
    })
}

fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Json::deserialize(d)? {
        Json::String(s) if !s.is_empty() => Some(s),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn required_number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    number_or_string(d)?.ok_or_else(|| serde::de::Error::custom("expected a non-empty id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).expect(&path)
    }

    #[test]
    fn participant_joined_with_string_id() {
        let Event::ParticipantJoined(e) =
            parse(&fixture("meeting.participant_joined.json")).expect("parses")
        else {
            panic!("wrong variant")
        };
        assert_eq!(e.meeting.uuid, "4444AAAiAAAAAiAiAiiAii==");
        assert_eq!(e.meeting.id.as_deref(), Some("1234567890"));
        assert_eq!(e.meeting.topic.as_deref(), Some("My Meeting"));
        assert_eq!(e.participant.user_id, "16778240");
        assert_eq!(e.participant.user_name.as_deref(), Some("Jill Chill"));
        let info = e.participant_info();
        assert_eq!(info.email.as_deref(), Some("jchill@example.com"));
        assert_eq!(e.key().user_id, "16778240");
    }

    #[test]
    fn guest_with_numeric_id_and_empty_email() {
        let Event::ParticipantJoined(e) =
            parse(&fixture("meeting.participant_joined.guest.json")).expect("parses")
        else {
            panic!("wrong variant")
        };
        assert_eq!(e.meeting.id.as_deref(), Some("84712639219"));
        assert_eq!(e.meeting.uuid, "/gsqg0HKxTQ2Tx//SVAxE9+0w==");
        let info = e.participant_info();
        assert_eq!(info.email, None, "an empty email is no email");
        assert_eq!(info.name.as_deref(), Some("Guest Caller"));
    }

    #[test]
    fn participant_left() {
        let Event::ParticipantLeft(e) =
            parse(&fixture("meeting.participant_left.json")).expect("parses")
        else {
            panic!("wrong variant")
        };
        assert_eq!(
            e.participant.leave_time.as_deref(),
            Some("2021-07-13T22:50:51Z")
        );
        assert_eq!(e.key().meeting_uuid, "4444AAAiAAAAAiAiAiiAii==");
    }

    #[test]
    fn meeting_events() {
        let Event::MeetingEnded(m) = parse(&fixture("meeting.ended.json")).expect("parses") else {
            panic!("wrong variant")
        };
        assert_eq!(m.uuid, "4444AAAiAAAAAiAiAiiAii==");
        let Event::MeetingStarted(m) = parse(&fixture("meeting.started.json")).expect("parses")
        else {
            panic!("wrong variant")
        };
        assert_eq!(m.id.as_deref(), Some("3479130610"));
        let Event::MeetingAlert { meeting, issues } =
            parse(&fixture("meeting.alert.json")).expect("parses")
        else {
            panic!("wrong variant")
        };
        assert_eq!(meeting.id.as_deref(), Some("1234567890"));
        assert_eq!(issues, ["Unstable audio quality"]);
    }

    #[test]
    fn url_validation() {
        let event = parse(&fixture("url_validation.json")).expect("parses");
        assert_eq!(
            event,
            Event::UrlValidation {
                plain_token: "qgg8vlvZRS6UYooatFL8Aw".into()
            }
        );
    }

    #[test]
    fn unknown_events_are_other_and_bad_shapes_are_errors() {
        let other = parse(br#"{"event":"recording.completed","payload":{}}"#).expect("parses");
        assert_eq!(other.name(), "recording.completed");
        assert!(matches!(parse(b"{not json"), Err(EventError::NotJson(_))));
        assert!(matches!(
            parse(br#"{"payload":{}}"#),
            Err(EventError::NoEventName)
        ));
        assert!(matches!(
            parse(br#"{"event":"meeting.participant_joined","payload":{"object":{"uuid":"u"}}}"#),
            Err(EventError::BadPayload { .. })
        ));
    }
}
