//! Typed Zoom webhook events. Parsed once, after verification, from the
//! verified raw body; everything downstream sees these types only.

use std::borrow::Cow;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use qoswatch_core::alert::{Account, CallKind, MeetingInfo, ParticipantInfo, ParticipantKey};

mod qss;

pub use qss::QosPush;

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
    /// `meeting.participant_qos` / `webinar.participant_qos` (QSS): a
    /// participant's samples, pushed.
    ParticipantQos(Box<QosPush>),
    /// The QSS events accepted and counted only (`*_qos_summary`,
    /// `*_data`, `*_data_summary`): `label` is their name.
    QssCounted {
        label: &'static str,
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
            Event::Other { event } => event,
            _ => self.metric_label(),
        }
    }

    /// The `event` label of the webhook metrics: Zoom's name for the events
    /// qoswatch knows, `other` for any other. A fixed set, so that signed
    /// webhooks with made-up names cannot add metric series.
    pub fn metric_label(&self) -> &'static str {
        let webinar = self.kind() == CallKind::Webinar;
        let pick = |meeting: &'static str, webinar_name: &'static str| {
            if webinar { webinar_name } else { meeting }
        };
        match self {
            Event::UrlValidation { .. } => "endpoint.url_validation",
            Event::MeetingStarted(_) => pick("meeting.started", "webinar.started"),
            Event::MeetingEnded(_) => pick("meeting.ended", "webinar.ended"),
            Event::ParticipantJoined(_) => {
                pick("meeting.participant_joined", "webinar.participant_joined")
            }
            Event::ParticipantLeft(_) => {
                pick("meeting.participant_left", "webinar.participant_left")
            }
            Event::MeetingAlert { .. } => pick("meeting.alert", "webinar.alert"),
            Event::ParticipantQos(_) => pick("meeting.participant_qos", "webinar.participant_qos"),
            Event::QssCounted { label } => label,
            Event::Other { .. } => "other",
        }
    }

    /// Whether the event is about a meeting or a webinar (a meeting for
    /// the events that name neither).
    pub fn kind(&self) -> CallKind {
        match self {
            Event::MeetingStarted(meeting)
            | Event::MeetingEnded(meeting)
            | Event::MeetingAlert { meeting, .. } => meeting.kind,
            Event::ParticipantJoined(e) | Event::ParticipantLeft(e) => e.meeting.kind,
            Event::ParticipantQos(push) => push.meeting.kind,
            Event::QssCounted { label } if label.starts_with("webinar.") => CallKind::Webinar,
            Event::UrlValidation { .. } | Event::QssCounted { .. } | Event::Other { .. } => {
                CallKind::Meeting
            }
        }
    }
}

/// The meeting object common to meeting events (and to webinar events,
/// which have the same shape: `kind` says which it is).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Meeting {
    pub uuid: String,
    /// The meeting number; Zoom sends it as a number in some events and a
    /// string in others.
    #[serde(default, deserialize_with = "number_or_string")]
    pub id: Option<String>,
    #[serde(default)]
    pub topic: Option<String>,
    /// From the event's name (`meeting.*` or `webinar.*`), not the payload.
    #[serde(skip)]
    pub kind: CallKind,
    /// From the endpoint the event came to (`/webhooks/zoom/{account}`),
    /// not the payload.
    #[serde(skip)]
    pub account: Account,
}

impl Meeting {
    pub fn info(&self) -> MeetingInfo {
        self.clone().into_info()
    }

    /// [`Meeting::info`] without copying the strings.
    pub fn into_info(self) -> MeetingInfo {
        MeetingInfo {
            account: self.account,
            uuid: self.uuid,
            id: self.id,
            topic: self.topic.filter(|t| !t.is_empty()),
            kind: self.kind,
        }
    }
}

/// A participant as described by `participant_joined` / `participant_left`:
/// the fields qoswatch uses. Zoom's others (`id`, `participant_uuid`,
/// `join_time`, `leave_time`, `leave_reason`, ...) are skipped unread, as
/// the meeting's `host_id` is: each would be a `String` allocated per
/// webhook for nobody.
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
}

/// A participant event: the meeting and the participant.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantEvent {
    pub meeting: Meeting,
    pub participant: Participant,
}

impl ParticipantEvent {
    pub fn key(&self) -> ParticipantKey {
        ParticipantKey::in_account(
            self.meeting.account.clone(),
            self.meeting.uuid.clone(),
            self.participant.user_id.clone(),
        )
    }

    pub fn participant_info(&self) -> ParticipantInfo {
        self.clone().into_infos().1
    }

    /// The meeting's and the participant's info, without copying the
    /// strings: what a watch keeps.
    pub fn into_infos(self) -> (MeetingInfo, ParticipantInfo) {
        let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let participant = ParticipantInfo {
            user_id: self.participant.user_id,
            name: non_empty(self.participant.user_name),
            email: non_empty(self.participant.email),
            ..ParticipantInfo::default()
        };
        (self.meeting.into_info(), participant)
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
    /// A field that is not what Zoom sends. Names the field and what was
    /// expected, never the value.
    #[error("{event}: {field} is not what Zoom sends ({expected})")]
    Invalid {
        event: &'static str,
        field: &'static str,
        expected: &'static str,
    },
}

/// The envelope, its payload left as a borrowed slice of the body: the
/// body is tokenized once, and the payload parsed straight into its type.
#[derive(Deserialize)]
struct Envelope<'a> {
    /// Borrowed unless the name has escapes.
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct MeetingPayload<T> {
    object: T,
}

/// The meeting's fields and the participant, side by side in Zoom's object
/// (a `#[serde(flatten)]` of [`Meeting`] would buffer every field first).
#[derive(Deserialize)]
struct ParticipantObject {
    uuid: String,
    #[serde(default, deserialize_with = "number_or_string")]
    id: Option<String>,
    #[serde(default)]
    topic: Option<String>,
    participant: Participant,
}

#[derive(Deserialize)]
struct AlertObject {
    uuid: String,
    #[serde(default, deserialize_with = "number_or_string")]
    id: Option<String>,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    issues: Vec<String>,
}

#[derive(Deserialize)]
struct UrlValidationPayload {
    #[serde(rename = "plainToken")]
    plain_token: String,
}

/// A verified webhook read for one account: the event, its meetings in
/// that account, and the Zoom account id the payload names.
#[derive(Debug)]
pub struct Parsed {
    pub event: Event,
    /// `payload.account_id`, when the payload has one.
    pub account_id: Option<String>,
}

/// The payload's `account_id` (every other field skipped unread).
#[derive(Deserialize)]
struct PayloadAccount {
    #[serde(default)]
    account_id: Option<String>,
}

/// [`parse`] for the webhooks of `account`: the event's meetings belong to
/// it, and the payload's `account_id` is returned for the caller to check.
pub fn parse_in(body: &[u8], account: &Account) -> Result<Parsed, EventError> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| EventError::NotJson(e.to_string()))?;
    let account_id = envelope
        .payload
        .and_then(|payload| serde_json::from_str::<PayloadAccount>(payload.get()).ok())
        .and_then(|p| p.account_id);
    let mut event = parse_envelope(envelope)?;
    event.set_account(account);
    Ok(Parsed { event, account_id })
}

impl Event {
    /// Puts the event's meeting in `account`.
    pub fn set_account(&mut self, account: &Account) {
        let meeting = match self {
            Event::MeetingStarted(meeting)
            | Event::MeetingEnded(meeting)
            | Event::MeetingAlert { meeting, .. } => meeting,
            Event::ParticipantJoined(e) | Event::ParticipantLeft(e) => &mut e.meeting,
            Event::ParticipantQos(push) => &mut push.meeting,
            Event::UrlValidation { .. } | Event::QssCounted { .. } | Event::Other { .. } => {
                return;
            }
        };
        meeting.account = account.clone();
    }
}

/// Parses a verified webhook body, and checks the fields qoswatch keeps
/// (ids, names) against what Zoom sends ([`EventError::Invalid`]).
pub fn parse(body: &[u8]) -> Result<Event, EventError> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| EventError::NotJson(e.to_string()))?;
    parse_envelope(envelope)
}

/// [`parse`] after the envelope is read.
fn parse_envelope(envelope: Envelope<'_>) -> Result<Event, EventError> {
    let event = envelope.event.ok_or(EventError::NoEventName)?;
    // A missing payload reads as `null`, which no payload type accepts.
    let payload = envelope.payload.map_or("null", RawValue::get);
    let bad = |e: serde_json::Error| EventError::BadPayload {
        event: event.to_string(),
        message: e.to_string(),
    };
    // Webinars have the meeting events' shapes under their own names.
    let (kind, action) = match event.split_once('.') {
        Some(("meeting", action)) => (CallKind::Meeting, action),
        Some(("webinar", action)) => (CallKind::Webinar, action),
        _ => (CallKind::Meeting, ""),
    };
    let meeting_of = |uuid, id, topic| Meeting {
        uuid,
        id,
        topic,
        kind,
        account: Account::default(),
    };
    let parsed = match (&*event, action) {
        ("endpoint.url_validation", _) => {
            let p: UrlValidationPayload = serde_json::from_str(payload).map_err(bad)?;
            Event::UrlValidation {
                plain_token: p.plain_token,
            }
        }
        (_, "started" | "ended") => {
            let mut p: MeetingPayload<Meeting> = serde_json::from_str(payload).map_err(bad)?;
            p.object.kind = kind;
            if action == "started" {
                Event::MeetingStarted(p.object)
            } else {
                Event::MeetingEnded(p.object)
            }
        }
        (_, "participant_joined" | "participant_left") => {
            let p: MeetingPayload<ParticipantObject> =
                serde_json::from_str(payload).map_err(bad)?;
            let object = p.object;
            let participant_event = ParticipantEvent {
                meeting: meeting_of(object.uuid, object.id, object.topic),
                participant: object.participant,
            };
            if action == "participant_joined" {
                Event::ParticipantJoined(participant_event)
            } else {
                Event::ParticipantLeft(participant_event)
            }
        }
        (_, "participant_qos") => {
            Event::ParticipantQos(Box::new(qss::parse_push(payload, kind).map_err(bad)?))
        }
        (_, action) if qss::counted_only(kind, action).is_some() => Event::QssCounted {
            label: qss::counted_only(kind, action).unwrap_or("other"),
        },
        (_, "alert") => {
            let p: MeetingPayload<AlertObject> = serde_json::from_str(payload).map_err(bad)?;
            let object = p.object;
            Event::MeetingAlert {
                meeting: meeting_of(object.uuid, object.id, object.topic),
                issues: object.issues,
            }
        }
        _ => Event::Other {
            event: event.into_owned(),
        },
    };
    check(&parsed)?;
    Ok(parsed)
}

/// What Zoom's fields look like, as far as qoswatch trusts a signed
/// webhook. A signature says the body came from Zoom (or from whoever holds
/// the secret); these checks say it is shaped like Zoom's, so that no id
/// can grow a watcher's memory, a log line or a URL past what Zoom sends.
pub mod limits {
    /// Longest meeting UUID or participant id. Zoom's meeting UUIDs are 24
    /// characters (16 bytes in base64), participant `user_id`s 8 to 10
    /// digits, account-style ids 22 characters of base64url.
    pub const MAX_ID_LEN: usize = 64;
    /// Longest meeting number: Zoom's have 9 to 11 digits.
    pub const MAX_MEETING_NUMBER_LEN: usize = 20;
    /// Longest participant name, in characters (Zoom's first and last
    /// names have at most 64 each).
    pub const MAX_NAME_CHARS: usize = 256;
    /// Longest meeting topic, in characters (Zoom's limit is 200).
    pub const MAX_TOPIC_CHARS: usize = 512;
    /// Longest e-mail address (RFC 5321: 64 + 1 + 255).
    pub const MAX_EMAIL_LEN: usize = 320;
    /// Most issues in one `meeting.alert`, and the longest issue text
    /// (Zoom's read like "Unstable audio quality").
    pub const MAX_ISSUES: usize = 32;
    pub const MAX_ISSUE_CHARS: usize = 256;
}

/// The characters of Zoom's ids: base64 (`+ / =`), base64url (`- _`),
/// digits, and the rest of RFC 3986's unreserved set (`. ~`), which are
/// harmless once encoded into a path segment (`zoom::encode_path_segment`).
fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_' | '.' | '~')
}

const ID_EXPECTED: &str = "1 to 64 letters, digits or + / = - _ . ~";

/// A meeting UUID or participant id.
pub fn is_zoom_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= limits::MAX_ID_LEN && id.chars().all(is_id_char)
}

/// A meeting number: digits only.
fn is_meeting_number(number: &str) -> bool {
    !number.is_empty()
        && number.len() <= limits::MAX_MEETING_NUMBER_LEN
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// Free text of at most `max_chars` characters, without control characters
/// (Zoom's names and topics are single lines).
fn is_text(text: &str, max_chars: usize) -> bool {
    // Cheap bound first: a character is at most 4 bytes.
    text.len() <= max_chars * 4
        && text.chars().count() <= max_chars
        && !text.chars().any(char::is_control)
}

/// An e-mail address as Zoom sends it: no whitespace or control characters.
fn is_email(email: &str) -> bool {
    let email = email.trim();
    email.len() <= limits::MAX_EMAIL_LEN
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Checks the fields of a parsed event that qoswatch keeps, logs or puts
/// into URLs.
fn check(event: &Event) -> Result<(), EventError> {
    let event_name = event.metric_label();
    let invalid = |field: &'static str, expected: &'static str| EventError::Invalid {
        event: event_name,
        field,
        expected,
    };
    let check_meeting = |meeting: &Meeting| {
        if !is_zoom_id(&meeting.uuid) {
            return Err(invalid("payload.object.uuid", ID_EXPECTED));
        }
        if meeting
            .id
            .as_deref()
            .is_some_and(|id| !is_meeting_number(id))
        {
            return Err(invalid(
                "payload.object.id",
                "a meeting number of at most 20 digits",
            ));
        }
        if meeting
            .topic
            .as_deref()
            .is_some_and(|t| !is_text(t, limits::MAX_TOPIC_CHARS))
        {
            return Err(invalid(
                "payload.object.topic",
                "one line of at most 512 characters",
            ));
        }
        Ok(())
    };
    match event {
        Event::MeetingStarted(meeting) | Event::MeetingEnded(meeting) => check_meeting(meeting),
        Event::ParticipantJoined(e) | Event::ParticipantLeft(e) => {
            check_meeting(&e.meeting)?;
            let participant = &e.participant;
            check_participant(
                &participant.user_id,
                participant.user_name.as_deref(),
                participant.email.as_deref(),
            )
            .map_err(|(field, expected)| invalid(field, expected))
        }
        Event::MeetingAlert { meeting, issues } => {
            check_meeting(meeting)?;
            if issues.len() > limits::MAX_ISSUES
                || issues.iter().any(|i| !is_text(i, limits::MAX_ISSUE_CHARS))
            {
                return Err(invalid(
                    "payload.object.issues",
                    "at most 32 lines of at most 256 characters",
                ));
            }
            Ok(())
        }
        Event::ParticipantQos(push) => {
            check_meeting(&push.meeting)?;
            check_participant(&push.user_id, None, push.email.as_deref())
                .map_err(|(field, expected)| invalid(field, expected))
        }
        Event::UrlValidation { .. } | Event::QssCounted { .. } | Event::Other { .. } => Ok(()),
    }
}

/// A participant's id, name and e-mail as Zoom sends them; the field and
/// what was expected when not.
fn check_participant(
    user_id: &str,
    user_name: Option<&str>,
    email: Option<&str>,
) -> Result<(), (&'static str, &'static str)> {
    if !is_zoom_id(user_id) {
        return Err(("payload.object.participant.user_id", ID_EXPECTED));
    }
    if user_name.is_some_and(|name| !is_text(name, limits::MAX_NAME_CHARS)) {
        return Err((
            "payload.object.participant.user_name",
            "one line of at most 256 characters",
        ));
    }
    if email.is_some_and(|email| !is_email(email)) {
        return Err((
            "payload.object.participant.email",
            "an address of at most 320 characters without spaces",
        ));
    }
    Ok(())
}

/// An id Zoom sends as a number or a string: a non-empty string, or the
/// number's text; anything else (`""`, `null`, other types) is no id.
fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(NumberOrString)
}

struct NumberOrString;

impl<'de> Visitor<'de> for NumberOrString {
    type Value = Option<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an id as a number or a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok((!v.is_empty()).then(|| v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok((!v.is_empty()).then_some(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // As serde_json writes the number (`1.5`, `1000.0`).
        Ok(serde_json::Number::from_f64(v).map(|n| n.to_string()))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok(None)
    }
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
        assert_eq!(e.participant.user_id, "16778240");
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
    fn webinar_events_have_the_meeting_events_shapes_and_say_webinar() {
        // Zoom's typings (rivet-javascript `WebinarParticipantJoinedEvent`)
        // give webinar events the meeting events' fields.
        let as_webinar = |name: &str, fixture_name: &str| {
            let text = String::from_utf8(fixture(fixture_name)).expect("utf-8");
            let renamed = text.replacen(
                &format!("\"meeting.{name}\""),
                &format!("\"webinar.{name}\""),
                1,
            );
            assert_ne!(text, renamed, "{fixture_name} names meeting.{name}");
            parse(renamed.as_bytes()).expect("parses")
        };
        let joined = as_webinar("participant_joined", "meeting.participant_joined.json");
        assert_eq!(joined.name(), "webinar.participant_joined");
        assert_eq!(joined.metric_label(), "webinar.participant_joined");
        let Event::ParticipantJoined(e) = joined else {
            panic!("wrong variant")
        };
        assert_eq!(e.meeting.kind, CallKind::Webinar);
        assert_eq!(e.participant.user_id, "16778240");
        let (meeting, _) = e.into_infos();
        assert_eq!(meeting.kind, CallKind::Webinar);
        let left = as_webinar("participant_left", "meeting.participant_left.json");
        assert!(matches!(&left, Event::ParticipantLeft(e) if e.meeting.kind == CallKind::Webinar));
        let ended = as_webinar("ended", "meeting.ended.json");
        assert!(matches!(&ended, Event::MeetingEnded(m) if m.kind == CallKind::Webinar));
        assert_eq!(ended.metric_label(), "webinar.ended");
        let alert = as_webinar("alert", "meeting.alert.json");
        assert!(
            matches!(&alert, Event::MeetingAlert { meeting, .. } if meeting.kind == CallKind::Webinar)
        );
        assert_eq!(alert.metric_label(), "webinar.alert");
        // The meeting events stay meetings.
        let Event::ParticipantJoined(e) =
            parse(&fixture("meeting.participant_joined.json")).expect("parses")
        else {
            panic!("wrong variant")
        };
        assert_eq!(e.meeting.kind, CallKind::Meeting);
        // Another family's names are nobody's.
        let other = br#"{"event":"phone.participant_joined","payload":{"object":{}}}"#;
        assert_eq!(parse(other).expect("parses").metric_label(), "other");
    }

    #[test]
    fn zooms_qss_example_is_a_push_of_one_sample() {
        // The QSS webhooks reference's example of meeting.participant_qos.
        let event = parse(&fixture("meeting.participant_qos.json")).expect("parses");
        assert_eq!(event.metric_label(), "meeting.participant_qos");
        let Event::ParticipantQos(push) = event else {
            panic!("wrong variant")
        };
        assert_eq!(push.meeting.uuid, "4444AAAiAAAAAiAiAiiAii==");
        assert_eq!(push.meeting.kind, CallKind::Meeting);
        assert_eq!(push.user_id, "1234567890");
        assert_eq!(push.samples.len(), 1);
        assert_eq!(push.report.unknown_types, 0);
        let info = push.participant_info();
        assert_eq!(info.email.as_deref(), Some("user@example.com"));
        assert_eq!(push.key().user_id, "1234567890");

        let text = String::from_utf8(fixture("meeting.participant_qos.json")).expect("utf-8");
        let webinar = text.replacen("meeting.participant_qos", "webinar.participant_qos", 1);
        let event = parse(webinar.as_bytes()).expect("parses");
        assert_eq!(event.metric_label(), "webinar.participant_qos");
        assert_eq!(event.kind(), CallKind::Webinar);
        let summary = text.replacen(
            "meeting.participant_qos",
            "webinar.participant_qos_summary",
            1,
        );
        let event = parse(summary.as_bytes()).expect("parses");
        assert_eq!(
            event,
            Event::QssCounted {
                label: "webinar.participant_qos_summary"
            }
        );
        assert_eq!(event.kind(), CallKind::Webinar);
        let unknown = text.replacen("meeting.participant_qos", "meeting.participant_qos_v9", 1);
        assert_eq!(
            parse(unknown.as_bytes()).expect("parses").metric_label(),
            "other"
        );
    }

    #[test]
    fn a_qss_push_is_checked_like_a_join() {
        let text = String::from_utf8(fixture("meeting.participant_qos.json")).expect("utf-8");
        let bad_id = text.replacen("\"1234567890\"", "\"12 34\"", 1);
        let Err(EventError::Invalid { field, .. }) = parse(bad_id.as_bytes()) else {
            panic!("a bad user_id is refused")
        };
        assert_eq!(field, "payload.object.participant.user_id");
        let not_a_list = text
            .replacen("\"qos\": [", "\"qos\": {\"x\": [", 1)
            .replacen("]\n      }", "]}\n      }", 1);
        assert!(matches!(
            parse(not_a_list.as_bytes()),
            Err(EventError::BadPayload { .. })
        ));
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

    /// A `participant_joined` with these values in place.
    fn joined(uuid: &str, user_id: &str, name: &str) -> Vec<u8> {
        serde_json::json!({
            "event": "meeting.participant_joined",
            "payload": {"object": {
                "id": 84712639219_i64,
                "uuid": uuid,
                "topic": "Weekly sync",
                "participant": {"user_id": user_id, "user_name": name, "email": ""}
            }}
        })
        .to_string()
        .into_bytes()
    }

    fn invalid_field(body: &[u8]) -> &'static str {
        match parse(body) {
            Err(EventError::Invalid { field, .. }) => field,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn every_fixture_is_shaped_like_zoom() {
        for name in [
            "meeting.participant_joined.json",
            "meeting.participant_joined.guest.json",
            "meeting.participant_left.json",
            "meeting.ended.json",
            "meeting.started.json",
            "meeting.alert.json",
            "url_validation.json",
        ] {
            parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn ids_zoom_never_sends_are_refused_without_quoting_them() {
        let long = "A".repeat(65);
        for uuid in [
            "4444AAAiAAAAAiAiAiiAii==\r\nFORGED",
            "\u{1b}[31mred",
            "has space",
            "per%cent",
            "a?b",
            "a#b",
            "a\\b",
            "é",
            "",
            long.as_str(),
        ] {
            let body = joined(uuid, "16778240", "Jill");
            assert_eq!(invalid_field(&body), "payload.object.uuid", "{uuid:?}");
            let message = parse(&body).unwrap_err().to_string();
            if !uuid.is_empty() {
                assert!(!message.contains(uuid), "{message}");
            }
        }
        for user_id in ["1 2", "16778240\n", "../../x?y", long.as_str()] {
            let body = joined("4444AAAiAAAAAiAiAiiAii==", user_id, "Jill");
            assert_eq!(
                invalid_field(&body),
                "payload.object.participant.user_id",
                "{user_id:?}"
            );
        }
    }

    #[test]
    fn ids_of_zoom_alphabets_up_to_the_limit_are_accepted() {
        let longest = "A".repeat(limits::MAX_ID_LEN);
        for (uuid, user_id) in [
            ("/gsqg0HKxTQ2Tx//SVAxE9+0w==", "16778240"),
            ("mOG8pEaFQqeDm6Vd/3xopA==", "8lzIwvZTSOqjndWPbPqzuA"),
            ("a-b_c~d", "x-y_z"),
            // Not Zoom's, but harmless: the URL encoding keeps them one segment.
            ("..", "."),
            (longest.as_str(), longest.as_str()),
        ] {
            let event = parse(&joined(uuid, user_id, "Jill")).expect(uuid);
            let Event::ParticipantJoined(e) = event else {
                panic!("wrong variant")
            };
            assert_eq!(
                (e.key().meeting_uuid.as_str(), e.key().user_id.as_str()),
                (uuid, user_id)
            );
        }
        // A user id sent as a JSON number is its digits.
        let body = br#"{"event":"meeting.participant_left","payload":{"object":{"uuid":"u==","participant":{"user_id":16778240}}}}"#;
        assert!(matches!(parse(body), Ok(Event::ParticipantLeft(_))));
    }

    #[test]
    fn names_are_free_text_of_bounded_length_on_one_line() {
        let uuid = "4444AAAiAAAAAiAiAiiAii==";
        for name in [
            "Zoë Ångström-Østergaard",
            "東京 オフィス",
            "👩‍💻 Dev (she/her) \"quoted\" <tag>",
            "",
            &"é".repeat(limits::MAX_NAME_CHARS),
        ] {
            parse(&joined(uuid, "1", name)).unwrap_or_else(|e| panic!("{name:?}: {e}"));
        }
        for name in [
            "Jill\nChill",
            "Jill\r",
            "\u{1b}[2J",
            "tab\there",
            &"é".repeat(limits::MAX_NAME_CHARS + 1),
        ] {
            assert_eq!(
                invalid_field(&joined(uuid, "1", name)),
                "payload.object.participant.user_name",
                "{name:?}"
            );
        }
    }

    #[test]
    fn meeting_numbers_topics_emails_and_issues_are_checked_too() {
        let with = |object: serde_json::Value, event: &str| {
            serde_json::json!({"event": event, "payload": {"object": object}})
                .to_string()
                .into_bytes()
        };
        let ended = |object| with(object, "meeting.ended");
        assert!(
            parse(&ended(
                serde_json::json!({"uuid": "u==", "id": "84712639219"})
            ))
            .is_ok()
        );
        assert_eq!(
            invalid_field(&ended(serde_json::json!({"uuid": "u==", "id": "8471x"}))),
            "payload.object.id"
        );
        assert_eq!(
            invalid_field(&ended(serde_json::json!({"uuid": "u==", "id": -1}))),
            "payload.object.id"
        );
        assert_eq!(
            invalid_field(&ended(
                serde_json::json!({"uuid": "u==", "topic": "a".repeat(limits::MAX_TOPIC_CHARS + 1)})
            )),
            "payload.object.topic"
        );
        assert_eq!(
            invalid_field(&ended(
                serde_json::json!({"uuid": "u==", "topic": "two\nlines"})
            )),
            "payload.object.topic"
        );
        assert_eq!(
            invalid_field(&with(
                serde_json::json!({"uuid": "u==\n"}),
                "meeting.started"
            )),
            "payload.object.uuid"
        );
        let left = |email: &str| {
            with(
                serde_json::json!({"uuid": "u==", "participant": {"user_id": "1", "email": email}}),
                "meeting.participant_left",
            )
        };
        assert!(parse(&left("jchill@example.com")).is_ok());
        assert!(parse(&left(" ")).is_ok(), "blank is no e-mail");
        assert_eq!(
            invalid_field(&left("a b@example.com")),
            "payload.object.participant.email"
        );
        let alert = |issues: Vec<String>| {
            with(
                serde_json::json!({"uuid": "u==", "issues": issues}),
                "meeting.alert",
            )
        };
        let one = "Unstable audio quality".to_owned();
        assert!(parse(&alert(vec![one.clone(); limits::MAX_ISSUES])).is_ok());
        assert_eq!(
            invalid_field(&alert(vec![one; limits::MAX_ISSUES + 1])),
            "payload.object.issues"
        );
        assert_eq!(
            invalid_field(&alert(vec!["line\nbreak".to_owned()])),
            "payload.object.issues"
        );
    }

    #[test]
    fn an_empty_meeting_number_is_no_number_and_an_empty_user_id_no_id() {
        let body = br#"{"event":"meeting.ended","payload":{"object":{"uuid":"u==","id":""}}}"#;
        let Ok(Event::MeetingEnded(meeting)) = parse(body) else {
            panic!("an empty meeting number is accepted as none")
        };
        assert_eq!(meeting.id, None);
        let body = br#"{"event":"meeting.participant_left","payload":{"object":{"uuid":"u==","participant":{"user_id":""}}}}"#;
        assert!(
            matches!(parse(body), Err(EventError::BadPayload { .. })),
            "a participant event needs a user id"
        );
    }

    #[test]
    fn an_id_of_any_json_type_reads_as_zoom_would_print_it_or_as_none() {
        // Read by a visitor since the parse stopped building `Value`s: each
        // JSON type must still give what `Value` gave.
        let cases: [(&str, Option<&str>); 9] = [
            ("\"123\"", Some("123")),
            ("123", Some("123")),
            ("-5", Some("-5")),
            ("1.5", Some("1.5")),
            ("1e3", Some("1000.0")),
            ("true", None),
            ("null", None),
            ("[1, {\"a\": [2]}]", None),
            ("{\"a\": {\"b\": 1}}", None),
        ];
        for (id, expected) in cases {
            let body = format!(
                r#"{{"event":"meeting.started","payload":{{"object":{{"uuid":"u==","id":{id},"topic":"t"}}}}}}"#
            );
            let meeting = match parse(body.as_bytes()) {
                Ok(Event::MeetingStarted(meeting)) => meeting,
                Err(EventError::Invalid { field, .. }) => {
                    assert_eq!(field, "payload.object.id", "{id}");
                    assert!(expected.is_some_and(|e| e.contains(['.', '-'])), "{id}");
                    continue;
                }
                other => panic!("{id}: {other:?}"),
            };
            assert_eq!(meeting.id.as_deref(), expected, "{id}");
            assert_eq!(
                meeting.topic.as_deref(),
                Some("t"),
                "the fields after it are read"
            );
        }
        let left = br#"{"event":"meeting.participant_left","payload":{"object":{"uuid":"u==","id":7,"participant":{"user_id":16778240}}}}"#;
        let Ok(Event::ParticipantLeft(left)) = parse(left) else {
            panic!("a numeric user id is an id")
        };
        assert_eq!(left.participant.user_id, "16778240");
        assert_eq!(left.meeting.id.as_deref(), Some("7"));
    }

    #[test]
    fn a_missing_or_null_payload_is_a_bad_payload_for_known_events_only() {
        for body in [
            &br#"{"event":"meeting.ended"}"#[..],
            br#"{"event":"meeting.ended","payload":null}"#,
            br#"{"event":"meeting.alert","payload":[]}"#,
        ] {
            assert!(
                matches!(parse(body), Err(EventError::BadPayload { .. })),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let other = parse(br#"{"event":"x.y"}"#).expect("no payload needed");
        assert_eq!(other.name(), "x.y");
        assert!(matches!(
            parse(br#"{"event":"x.y","payload":{"a":}}"#),
            Err(EventError::NotJson(_))
        ));
    }

    #[test]
    fn metric_labels_are_a_fixed_set() {
        let other = parse(br#"{"event":"x\r\n-made-up-1","payload":{}}"#).expect("parses");
        assert_eq!(other.metric_label(), "other");
        assert_eq!(other.name(), "x\r\n-made-up-1");
        for name in [
            "meeting.participant_joined.json",
            "meeting.participant_left.json",
            "meeting.ended.json",
            "meeting.started.json",
            "meeting.alert.json",
            "url_validation.json",
        ] {
            let event = parse(&fixture(name)).expect(name);
            assert_eq!(event.metric_label(), event.name(), "{name}");
        }
    }
}
