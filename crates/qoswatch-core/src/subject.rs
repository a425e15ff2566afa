//! Who a watch is about and why it ended: shared by the watches, the store
//! and the rules path.

use std::fmt;

use crate::alert::{Account, MeetingInfo, ParticipantInfo, ParticipantKey};
use crate::qos::ParticipantDetails;

/// Who a watch is about. The participant details grow as Zoom's answers
/// tell more (device, location).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WatchSubject {
    pub key: ParticipantKey,
    pub meeting: MeetingInfo,
    pub participant: ParticipantInfo,
}

impl WatchSubject {
    /// A subject known only by its key: the meeting (UUID and account) and
    /// the participant's id, nothing else yet.
    pub fn of_key(key: ParticipantKey) -> Self {
        Self {
            meeting: MeetingInfo {
                uuid: key.meeting_uuid.clone(),
                account: key.account.clone(),
                ..MeetingInfo::default()
            },
            participant: ParticipantInfo {
                user_id: key.user_id.clone(),
                ..ParticipantInfo::default()
            },
            key,
        }
    }

    /// Puts the watch in `account` (the store's column is the truth for
    /// what it kept; the JSON of older versions names no account).
    pub fn set_account(&mut self, account: Account) {
        self.meeting.account = account.clone();
        self.key.account = account;
    }

    /// Whether [`WatchSubject::merge_details`] would change anything: most
    /// answers repeat what is known, and a subject shared with observers
    /// is copied only for news.
    pub fn changed_by(&self, details: &ParticipantDetails) -> bool {
        let participant = &self.participant;
        let news = |known: &Option<String>, told: &Option<String>| told.is_some() && known != told;
        (participant.name.is_none() && details.user_name.is_some())
            || news(&participant.device, &details.device)
            || news(&participant.location, &details.location)
            || news(&participant.network_type, &details.network_type)
    }

    /// Adds what Zoom's answer says about the participant to what webhooks
    /// said: a name only where the webhook gave none; device, location and
    /// network as Zoom last reported them.
    pub fn merge_details(&mut self, details: &ParticipantDetails) {
        let participant = &mut self.participant;
        if participant.name.is_none() {
            participant.name.clone_from(&details.user_name);
        }
        if details.device.is_some() {
            participant.device.clone_from(&details.device);
        }
        if details.location.is_some() {
            participant.location.clone_from(&details.location);
        }
        if details.network_type.is_some() {
            participant.network_type.clone_from(&details.network_type);
        }
    }
}

/// Why a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// `meeting.participant_left` arrived.
    Left,
    /// `meeting.ended` arrived.
    MeetingEnded,
    /// Zoom's QoS answer carried a `leave_time`.
    LeaveTime,
    /// Zoom answered 404 / code 3001: the meeting is not live.
    NotLive,
    /// Zoom answered 400 / code 200: the account cannot use the Dashboard API.
    NotEntitled,
    /// Zoom refused the request for good (another 4xx).
    Rejected,
    /// No new sample for `polling.stale_after`.
    Stale,
    /// The watch reached `polling.max_watch_age`.
    MaxAge,
    /// qoswatch is shutting down.
    Shutdown,
    /// Another replica polls the meeting now (its lease moved): the watch
    /// goes on there, with its alert state.
    HandedOver,
}

impl StopReason {
    /// Short snake_case name, for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Left => "left",
            StopReason::MeetingEnded => "meeting_ended",
            StopReason::LeaveTime => "leave_time",
            StopReason::NotLive => "not_live",
            StopReason::NotEntitled => "not_entitled",
            StopReason::Rejected => "rejected",
            StopReason::Stale => "stale",
            StopReason::MaxAge => "max_age",
            StopReason::Shutdown => "shutdown",
            StopReason::HandedOver => "handed_over",
        }
    }

    /// Whether the end says the participant is gone, so that a late retry
    /// of `participant_joined` must not start them again. A shutdown says
    /// nothing about the call, nor does a hand-over to another replica.
    pub fn participant_gone(self) -> bool {
        !self.watch_goes_on()
    }

    /// Whether the watch goes on after this stop (in the next process, or
    /// in another replica): no `WatchEnded`, and its open alerts stay open.
    pub fn watch_goes_on(self) -> bool {
        matches!(self, StopReason::Shutdown | StopReason::HandedOver)
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            StopReason::Left => "participant left",
            StopReason::MeetingEnded => "meeting ended",
            StopReason::LeaveTime => "Zoom reports the participant left",
            StopReason::NotLive => "meeting not live",
            StopReason::NotEntitled => "account not entitled to the Dashboard API",
            StopReason::Rejected => "Zoom refused the request",
            StopReason::Stale => "no new sample",
            StopReason::MaxAge => "maximum watch age reached",
            StopReason::Shutdown => "shutdown",
            StopReason::HandedOver => "handed over to another replica",
        };
        f.write_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_known_by_its_key_names_the_key_s_meeting_account_and_participant() {
        let key = ParticipantKey::in_account(Account::new("emea"), "mEeT==", "16778240");
        let subject = WatchSubject::of_key(key.clone());
        assert_eq!(subject.meeting.uuid, "mEeT==");
        assert_eq!(subject.meeting.account, Account::new("emea"));
        assert_eq!(subject.participant.user_id, "16778240");
        assert_eq!(
            (subject.meeting.topic, subject.participant.name),
            (None, None)
        );
        assert_eq!(subject.key, key);
    }

    #[test]
    fn details_count_as_news_exactly_when_merging_them_changes_the_subject() {
        let values = [None, Some("a".to_string()), Some("b".to_string())];
        for field in 0..4 {
            for known in &values {
                for told in &values {
                    let mut subject = WatchSubject::of_key(ParticipantKey::new("m", "1"));
                    let mut details = ParticipantDetails::default();
                    let (slot, from) = match field {
                        0 => (&mut subject.participant.name, &mut details.user_name),
                        1 => (&mut subject.participant.device, &mut details.device),
                        2 => (&mut subject.participant.location, &mut details.location),
                        _ => (
                            &mut subject.participant.network_type,
                            &mut details.network_type,
                        ),
                    };
                    slot.clone_from(known);
                    from.clone_from(told);
                    let mut merged = subject.clone();
                    merged.merge_details(&details);
                    assert_eq!(
                        subject.changed_by(&details),
                        merged != subject,
                        "field {field}, known {known:?}, told {told:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn zoom_details_fill_in_without_overwriting_the_webhook_name() {
        let mut subject = WatchSubject {
            key: ParticipantKey::new("m", "1"),
            meeting: MeetingInfo::default(),
            participant: ParticipantInfo {
                name: Some("From webhook".into()),
                device: Some("Mac".into()),
                ..ParticipantInfo::default()
            },
        };
        let details = ParticipantDetails {
            user_name: Some("From Zoom".into()),
            device: None,
            location: Some("Berlin".into()),
            network_type: Some("Wifi".into()),
            ..ParticipantDetails::default()
        };
        subject.merge_details(&details);
        let p = &subject.participant;
        assert_eq!(p.name.as_deref(), Some("From webhook"));
        assert_eq!(
            p.device.as_deref(),
            Some("Mac"),
            "no device in the answer keeps the old one"
        );
        assert_eq!(p.location.as_deref(), Some("Berlin"));
        assert_eq!(p.network_type.as_deref(), Some("Wifi"));

        let mut nameless = subject.clone();
        nameless.participant.name = None;
        nameless.merge_details(&details);
        assert_eq!(nameless.participant.name.as_deref(), Some("From Zoom"));
    }

    #[test]
    fn only_a_shutdown_leaves_the_participant_startable() {
        assert!(!StopReason::Shutdown.participant_gone());
        assert!(!StopReason::HandedOver.participant_gone());
        assert!(StopReason::HandedOver.watch_goes_on());
        assert!(!StopReason::Left.watch_goes_on());
        for reason in [StopReason::Left, StopReason::Stale, StopReason::NotLive] {
            assert!(reason.participant_gone(), "{reason:?}");
        }
    }
}
