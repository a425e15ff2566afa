//! Zoom's QSS events (Quality of Service Subscription, a paid add-on):
//! `meeting.participant_qos` and `webinar.participant_qos` push a
//! participant's QoS about once a minute; the `*_qos_summary`, `*_data` and
//! `*_data_summary` events are accepted and counted only.
//!
//! The payload (QSS webhooks reference, docs/ZOOM.md): `payload.object`
//! has the call's `uuid` (no number, no topic) and `participant`
//! (`user_id`, `participant_user_id`, `email`, `qos[]`). The entries are
//! read leniently by `qoswatch_core::qos::samples_from_qss`.

use serde::Deserialize;

use qoswatch_core::alert::{CallKind, ParticipantInfo, ParticipantKey};
use qoswatch_core::qos::{QosSample, QssEntry, QssReport, samples_from_qss};

use super::{Meeting, required_number_or_string};

/// A participant's QoS pushed by QSS.
#[derive(Debug, Clone, PartialEq)]
pub struct QosPush {
    /// The call, by UUID and kind only: QSS events carry no number or topic.
    pub meeting: Meeting,
    /// Meeting-scoped `user_id`, as in `participant_joined`.
    pub user_id: String,
    /// Personal data: kept with the watch as `participant_joined`'s is.
    pub email: Option<String>,
    /// Oldest first, one per `date_time`.
    pub samples: Vec<QosSample>,
    pub report: QssReport,
}

impl QosPush {
    pub fn key(&self) -> ParticipantKey {
        ParticipantKey::in_account(
            self.meeting.account.clone(),
            self.meeting.uuid.clone(),
            self.user_id.clone(),
        )
    }

    /// Who the watch started from this event is about (no name: QSS
    /// events carry none; Zoom's QoS answers add it when polled).
    pub fn participant_info(&self) -> ParticipantInfo {
        ParticipantInfo {
            user_id: self.user_id.clone(),
            email: self.email.clone().filter(|e| !e.trim().is_empty()),
            ..ParticipantInfo::default()
        }
    }
}

#[derive(Deserialize)]
struct Payload {
    object: Object,
}

#[derive(Deserialize)]
struct Object {
    uuid: String,
    participant: PushedParticipant,
}

#[derive(Deserialize)]
struct PushedParticipant {
    #[serde(deserialize_with = "required_number_or_string")]
    user_id: String,
    #[serde(default)]
    email: Option<String>,
    qos: Vec<QssEntry>,
}

/// `payload` of a `*.participant_qos` event.
pub(super) fn parse_push(payload: &str, kind: CallKind) -> Result<QosPush, serde_json::Error> {
    let Payload { object } = serde_json::from_str(payload)?;
    let (samples, report) = samples_from_qss(object.participant.qos);
    Ok(QosPush {
        meeting: Meeting {
            uuid: object.uuid,
            id: None,
            topic: None,
            kind,
            account: Default::default(),
        },
        user_id: object.participant.user_id,
        email: object.participant.email,
        samples,
        report,
    })
}

/// The metric label of a QSS event that is counted only, by its action
/// (`participant_qos_summary`, `participant_data`, `participant_data_summary`);
/// `None` for any other action.
pub(super) fn counted_only(kind: CallKind, action: &str) -> Option<&'static str> {
    let webinar = kind == CallKind::Webinar;
    Some(match (action, webinar) {
        ("participant_qos_summary", false) => "meeting.participant_qos_summary",
        ("participant_qos_summary", true) => "webinar.participant_qos_summary",
        ("participant_data", false) => "meeting.participant_data",
        ("participant_data", true) => "webinar.participant_data",
        ("participant_data_summary", false) => "meeting.participant_data_summary",
        ("participant_data_summary", true) => "webinar.participant_data_summary",
        _ => return None,
    })
}
