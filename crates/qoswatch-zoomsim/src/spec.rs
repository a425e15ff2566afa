//! The meetings and participants a test or scenario puts into the
//! simulator ([`MeetingSpec`], [`ParticipantSpec`]): who they are and which
//! QoS [`Profile`] a participant's client has.

use crate::samples::Profile;

/// A meeting instance the simulator knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingSpec {
    /// The instance UUID (`payload.object.uuid`).
    pub uuid: String,
    /// The meeting number (`payload.object.id`).
    pub id: u64,
    pub topic: String,
    /// The host's Zoom user id (`payload.object.host_id`).
    pub host_id: String,
    /// A webinar: its webhooks are `webinar.*`, its Dashboard endpoints
    /// `/metrics/webinars/…` (and the meetings' endpoints do not know it).
    pub webinar: bool,
    /// The Zoom account it runs in (`payload.account_id`); `None`: the
    /// simulator's first account. Only that account's tokens see it.
    pub account_id: Option<String>,
}

impl MeetingSpec {
    pub fn new(uuid: impl Into<String>, id: u64, topic: impl Into<String>) -> Self {
        Self {
            uuid: uuid.into(),
            id,
            topic: topic.into(),
            host_id: "8lzIwvZTSOqjndWPbPqzuA".into(),
            webinar: false,
            account_id: None,
        }
    }

    /// The same call in account `account_id` (one of the simulator's).
    pub fn in_account(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = Some(account_id.into());
        self
    }

    /// The same call as a webinar.
    pub fn as_webinar(mut self) -> Self {
        self.webinar = true;
        self
    }

    /// `meeting` or `webinar`: the prefix of its webhook events.
    pub fn family(&self) -> &'static str {
        if self.webinar { "webinar" } else { "meeting" }
    }
}

/// A participant the simulator serves QoS for.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantSpec {
    /// Meeting-scoped numeric string: the QoS endpoint's `{participantId}`.
    pub user_id: String,
    pub user_name: String,
    /// May be empty (guests).
    pub email: String,
    /// The Zoom account user id; empty for guests.
    pub id: String,
    pub participant_uuid: String,
    /// `"Windows"`, `"Mac"`, `"Android"`, …
    pub device: String,
    /// Zoom's location string, e.g. `"Berlin (DE)"`; an office shares one.
    pub location: String,
    pub profile: Profile,
}

impl ParticipantSpec {
    /// A healthy signed-in participant on Wi-Fi; the seed comes from the user id.
    pub fn new(user_id: impl Into<String>, user_name: impl Into<String>) -> Self {
        let user_id = user_id.into();
        let seed = user_id
            .bytes()
            .fold(0xCBF2_9CE4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3)
            });
        let user_name = user_name.into();
        let local_part: String = user_name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        Self {
            participant_uuid: format!("SIM-{user_id}"),
            id: format!("simUser{user_id}"),
            email: format!("{local_part}@example.com"),
            user_id,
            user_name,
            device: "Windows".into(),
            location: "Remote (US)".into(),
            profile: Profile::healthy(seed),
        }
    }

    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = location.into();
        self
    }

    pub fn with_device(mut self, device: impl Into<String>) -> Self {
        self.device = device.into();
        self
    }

    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// A guest: no account user id, no e-mail.
    pub fn as_guest(mut self) -> Self {
        self.id.clear();
        self.email.clear();
        self
    }
}
