//! Cheap early signals: hints, before any sample says so, that a meeting's
//! or a participant's call is going wrong. Each makes the watched
//! participants it names *urgent* (the fastest interval, the last to be
//! stretched under quota pressure) for [`URGENT_INTERVALS`] polling
//! intervals:
//!
//! - [`Signal::MeetingAlert`]: Zoom's `meeting.alert` for a meeting polled
//!   here. Its watched participants are polled at once (one round: the
//!   meeting's list pages, or one request each where that is cheaper), at
//!   most once per `polling.interval` however often Zoom repeats the alert.
//! - [`Signal::Rejoin`]: a participant joins a meeting within
//!   [`URGENT_INTERVALS`] intervals of leaving it (a dropped call). Zoom
//!   gives a rejoin a new `user_id`, so the same person is recognised by a
//!   hash of their e-mail (or, without one, their display name) within the
//!   meeting, kept in memory only and only for that window (with several
//!   replicas the hash, never the e-mail or name, is also in the database
//!   for four lease TTLs). The rejoin's
//!   first poll is one interval after the join, as for any joiner (no
//!   sample exists earlier); no extra request.
//!
//! With several replicas (PostgreSQL) both work wherever Zoom's webhook
//! lands: a meeting alert taken by a replica that does not poll the
//! meeting, and every leave (only its [`Person`] hash), go to the other
//! replicas by `NOTIFY` (`crate::store::signals`); the holder hurries the
//! meeting as for its own alert (counted once, there) and every replica
//! remembers the leave, so the replica that starts the rejoiner's watch
//! knows. Cost: one row and one notification per such webhook, in the
//! writer's transaction with the webhook's own records (one statement, no
//! extra commit); nothing per poll.
//!
//! Cost: urgency only costs quota under pressure (without it everybody is
//! polled every interval anyway): each signal keeps the participants it
//! names at the fastest interval for the window instead of a stretched one,
//! and a meeting alert adds at most one round per meeting and interval.

use qoswatch_core::alert::{MeetingKey, ParticipantInfo};
use qoswatch_core::subject::WatchSubject;
use sha2::{Digest, Sha256};

/// How many polling intervals an early signal keeps its participants
/// urgent (10 minutes at the default 1-minute interval), and how soon after
/// leaving a join counts as a rejoin.
pub const URGENT_INTERVALS: u32 = 10;

/// Which early signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    MeetingAlert,
    Rejoin,
}

impl Signal {
    /// Every signal (their series are created at 0 at start).
    pub const ALL: [Signal; 2] = [Signal::MeetingAlert, Signal::Rejoin];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::MeetingAlert => "meeting_alert",
            Signal::Rejoin => "rejoin",
        }
    }
}

/// Who a participant is across rejoins of one meeting (Zoom's `user_id`
/// changes on every rejoin): the meeting and a hash of the e-mail,
/// lower-cased, else of the display name. `None` when neither is known.
///
/// The hash is the first 64 bits of SHA-256 over the kind of name, the
/// name and the meeting (account and UUID): the same on every replica and
/// release (it travels between replicas, `crate::store::signals`), and the
/// same person has another hash in another meeting, so hashes cannot be
/// linked across meetings. Only the hash leaves this process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Person {
    /// The meeting in its account.
    meeting: MeetingKey,
    who: u64,
}

impl Person {
    pub(super) fn of(subject: &WatchSubject) -> Option<Self> {
        Self::in_meeting(subject.key.meeting(), &subject.participant)
    }

    /// `participant` in `meeting`, as a `participant_left` names them.
    pub(super) fn in_meeting(meeting: MeetingKey, participant: &ParticipantInfo) -> Option<Self> {
        let non_empty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let (kind, name) = match non_empty(&participant.email) {
            Some(email) => ("email", email.to_lowercase()),
            None => ("name", non_empty(&participant.name)?),
        };
        let mut hasher = Sha256::new();
        for part in [
            "qoswatch person v1",
            kind,
            &name,
            meeting.account.as_str(),
            &meeting.uuid,
        ] {
            // Each part with its length: no two splits hash alike.
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        let digest = hasher.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Some(Self {
            meeting,
            who: u64::from_be_bytes(first),
        })
    }

    /// A person another replica saw leave (only the hash travels).
    pub(super) fn from_hash(meeting: MeetingKey, who: u64) -> Self {
        Self { meeting, who }
    }

    #[cfg(test)]
    pub(super) fn meeting(&self) -> &MeetingKey {
        &self.meeting
    }

    pub(super) fn hash(&self) -> u64 {
        self.who
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qoswatch_core::alert::{Account, MeetingInfo, ParticipantKey};

    fn subject(
        meeting: &str,
        user_id: &str,
        name: Option<&str>,
        email: Option<&str>,
    ) -> WatchSubject {
        WatchSubject {
            key: ParticipantKey::new(meeting, user_id),
            meeting: MeetingInfo {
                uuid: meeting.into(),
                ..MeetingInfo::default()
            },
            participant: ParticipantInfo {
                user_id: user_id.into(),
                name: name.map(str::to_owned),
                email: email.map(str::to_owned),
                ..ParticipantInfo::default()
            },
        }
    }

    #[test]
    fn a_rejoin_with_a_new_user_id_is_the_same_person_in_the_same_meeting_only() {
        let first = Person::of(&subject(
            "m1",
            "16778240",
            Some("Jill"),
            Some("Jill@Example.com"),
        ));
        let again = Person::of(&subject(
            "m1",
            "16779999",
            Some("Jill C."),
            Some(" jill@example.com"),
        ));
        assert!(first.is_some());
        assert_eq!(first, again, "the e-mail decides, in any case");
        let elsewhere = Person::of(&subject(
            "m2",
            "16779999",
            Some("Jill"),
            Some("jill@example.com"),
        ));
        assert_ne!(first, elsewhere);
        // A guest: the display name.
        let guest = Person::of(&subject("m1", "1", Some("Bob"), Some("")));
        assert_eq!(guest, Person::of(&subject("m1", "2", Some(" Bob "), None)));
        assert_ne!(guest, Person::of(&subject("m1", "2", Some("Bobby"), None)));
        // An e-mail that equals someone's name is not that someone.
        assert_ne!(
            Person::of(&subject("m1", "1", Some("x"), None)),
            Person::of(&subject("m1", "2", Some("y"), Some("x")))
        );
        assert_eq!(Person::of(&subject("m1", "3", Some("  "), None)), None);
        assert_eq!(Person::of(&subject("m1", "3", None, None)), None);
    }

    #[test]
    fn the_same_meeting_uuid_in_another_account_is_another_meeting() {
        let jill = subject("m1", "1", Some("Jill"), Some("jill@example.com"));
        let mut in_other_account = jill.clone();
        in_other_account.set_account(Account::new("globex"));
        assert_ne!(Person::of(&jill), Person::of(&in_other_account));
    }

    /// Jill's hash in meeting `m1` of the default account (see below).
    const JILL_IN_M1: &str = "6426a1332843c71b";

    #[test]
    fn the_hash_is_the_first_64_bits_of_sha256_of_the_length_prefixed_parts() {
        // The same on every replica and every release: fixed against an
        // independent computation (Python's hashlib):
        //   parts = [b"qoswatch person v1", b"email", b"jill@example.com",
        //            b"default", b"m1"]
        //   sha256(b"".join(len(p).to_bytes(8, "big") + p for p in parts))
        //       .hexdigest()[:16]
        let jill = Person::of(&subject("m1", "1", Some("Jill"), Some("Jill@Example.com")))
            .expect("a person");
        assert_eq!(format!("{:016x}", jill.hash()), JILL_IN_M1);
        // What arrives from another replica is the same person.
        assert_eq!(Person::from_hash(jill.meeting().clone(), jill.hash()), jill);
        // The same person in another meeting has another hash.
        let elsewhere = Person::of(&subject("m2", "1", Some("Jill"), Some("jill@example.com")))
            .expect("a person");
        assert_ne!(elsewhere.hash(), jill.hash());
    }
}
