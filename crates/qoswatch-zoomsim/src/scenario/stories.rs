//! The built-in scenarios: the demo story `qoswatch demo` plays, and the
//! load test of the benches and `qoswatch simulate --scenario load`.

use super::{Action, DEMO_MEETING_UUID, Scenario};
use crate::{Degradation, Fault, MeetingSpec, ParticipantSpec, Profile, Target};

/// The demo's office: three people who lose packets together.
const BERLIN: &str = "Berlin (DE)";

impl Scenario {
    /// The built-in ~18-minute story (3 minutes of wall time at a 10 s
    /// period): in one meeting, Ana's Wi-Fi goes bad and recovers, the
    /// Berlin office of three loses packets together, Carl's CPU pegs, Dana
    /// has no video, Eve (wired, sharing her screen) and Dana stay healthy.
    /// A 429 is injected halfway, Zoom raises a meeting alert, Dana leaves
    /// early and the meeting ends.
    pub fn demo() -> Self {
        Self::demo_in(DEMO_MEETING_UUID, 83_512_004_771)
    }

    /// The demo story in the meeting instance `uuid` with meeting ID
    /// `meeting_id`: the same cast, degradations and timeline as
    /// [`Scenario::demo`]. Playing it again needs a fresh UUID, as a new
    /// instance of a recurring meeting has on Zoom (qoswatch ignores joins
    /// to a meeting that ended).
    pub fn demo_in(uuid: &str, meeting_id: u64) -> Self {
        let meeting = MeetingSpec::new(uuid, meeting_id, "Q3 planning");
        let join = |participant| Action::Join {
            meeting_uuid: uuid.to_owned(),
            participant,
        };
        let mut scenario = Scenario::new("demo").at(0, Action::StartMeeting(meeting));
        for degradation in demo_degradations() {
            scenario = scenario.at(0, Action::Degrade(degradation));
        }
        for participant in demo_cast() {
            scenario = scenario.at(0, join(participant));
        }
        for (at_minute, action) in demo_events(uuid) {
            scenario = scenario.at(at_minute, action);
        }
        scenario
    }

    /// A load test: `meetings` meetings of `participants_per_meeting` each,
    /// all starting at once and running until cancelled. Every third
    /// meeting's UUID needs double encoding; every fifth participant loses
    /// packets for samples 5..10; participants share three offices per meeting.
    pub fn load(meetings: u32, participants_per_meeting: u32) -> Self {
        let mut scenario = Scenario::new("load");
        let mut lossy = Vec::new();
        for m in 0..meetings {
            let uuid = if m % 3 == 0 {
                format!("/LoAd{m:05}//mEeT+x==")
            } else {
                format!("LoAd{m:05}mEeT/x+y==")
            };
            scenario = scenario.at(
                0,
                Action::StartMeeting(MeetingSpec::new(
                    &uuid,
                    900_000_000 + u64::from(m),
                    format!("Load meeting {m}"),
                )),
            );
            for p in 0..participants_per_meeting {
                let user_id = format!("{}", 20_000_000 + u64::from(m) * 10_000 + u64::from(p));
                if p % 5 == 4 {
                    lossy.push(user_id.clone());
                }
                let participant = ParticipantSpec::new(user_id, format!("Load User {m}-{p}"))
                    .with_location(format!("Office {} (US)", p % 3));
                scenario = scenario.at(
                    0,
                    Action::Join {
                        meeting_uuid: uuid.clone(),
                        participant,
                    },
                );
            }
        }
        if !lossy.is_empty() {
            scenario = scenario.at(
                0,
                Action::Degrade(Degradation::packet_loss(
                    Target::Participants(lossy),
                    5..10,
                    7.5,
                )),
            );
        }
        scenario
    }
}

/// What goes wrong in the demo, by sample index since each join.
fn demo_degradations() -> [Degradation; 3] {
    [
        Degradation::bad_wifi(Target::participant("16778301"), 4..9),
        Degradation::packet_loss(Target::Location(BERLIN.into()), 6..11, 9.0),
        Degradation::cpu_pegged(Target::participant("16778305"), 8..13),
    ]
}

/// Who joins the demo meeting at its start, in join order.
fn demo_cast() -> [ParticipantSpec; 7] {
    let person = ParticipantSpec::new;
    [
        person("16778301", "Ana Alvarez").with_location("Lisbon (PT)"),
        person("16778302", "Bernd Becker").with_location(BERLIN),
        person("16778303", "Birgit Braun")
            .with_location(BERLIN)
            .with_device("Mac"),
        person("16778304", "Bao Bui").with_location(BERLIN),
        person("16778305", "Carl Czerny")
            .with_location("Vienna (AT)")
            .with_device("Mac"),
        reprofiled(person("16778306", "Dana Dietz"), Profile::without_video).with_device("iOS"),
        reprofiled(
            person("16778307", "Eve Ek").with_location("Stockholm (SE)"),
            |profile| profile.wired().sharing_screen(),
        ),
    ]
}

/// The rest of the demo's timeline: an alert, a 429, Dana leaving early,
/// the end.
fn demo_events(uuid: &str) -> [(u32, Action); 4] {
    [
        (
            7,
            Action::MeetingAlert {
                meeting_uuid: uuid.to_owned(),
                issues: vec!["Unstable audio quality".into()],
            },
        ),
        (10, Action::InjectFault(Fault::rate_limited_seconds(2))),
        (
            15,
            Action::Leave {
                meeting_uuid: uuid.to_owned(),
                user_id: "16778306".into(),
                reason: "Dana Dietz left the meeting.<br>Reason: left the meeting.".into(),
            },
        ),
        (
            18,
            Action::EndMeeting {
                meeting_uuid: uuid.to_owned(),
            },
        ),
    ]
}

/// `spec` with its own profile (and so its seed) changed by `change`.
fn reprofiled(spec: ParticipantSpec, change: impl FnOnce(Profile) -> Profile) -> ParticipantSpec {
    let profile = change(spec.profile.clone());
    spec.with_profile(profile)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::uuid_is_double_encoded;
    use std::time::Duration;

    use crate::scenario::wall_time;

    fn joins(scenario: &Scenario) -> Vec<&ParticipantSpec> {
        scenario
            .steps
            .iter()
            .filter_map(|step| match &step.action {
                Action::Join { participant, .. } => Some(participant),
                _ => None,
            })
            .collect()
    }

    fn degradations(scenario: &Scenario) -> Vec<&Degradation> {
        scenario
            .steps
            .iter()
            .filter_map(|step| match &step.action {
                Action::Degrade(d) => Some(d),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn demo_tells_the_promised_story() {
        let demo = Scenario::demo();
        assert!(uuid_is_double_encoded(DEMO_MEETING_UUID));
        assert_eq!(
            wall_time(&demo, Duration::from_secs(10)),
            Duration::from_secs(180)
        );
        let people = joins(&demo);
        let hit = |p: &ParticipantSpec, index: u32| {
            degradations(&demo)
                .iter()
                .any(|d| d.applies(&p.user_id, &p.location, index))
        };
        let berlin: Vec<_> = people
            .iter()
            .filter(|p| p.location == "Berlin (DE)")
            .collect();
        assert_eq!(berlin.len(), 3, "an office of three");
        assert!(
            berlin.iter().all(|p| hit(p, 7)),
            "the office loses packets together"
        );
        assert!(
            people.iter().any(|p| !p.profile.video),
            "someone has no video"
        );
        let healthy: Vec<_> = people
            .iter()
            .filter(|p| (0..30).all(|i| !hit(p, i)))
            .collect();
        assert!(healthy.len() >= 2, "healthy ones stay healthy");
        // Every degradation recovers before the meeting ends.
        let end = demo.length_minutes();
        assert!(degradations(&demo).iter().all(|d| d.samples.end < end));
        assert!(
            demo.steps
                .iter()
                .any(|s| matches!(s.action, Action::InjectFault(Fault::RateLimited { .. })))
        );
    }

    #[test]
    fn demo_in_is_the_demo_in_another_meeting() {
        assert_eq!(
            Scenario::demo_in(DEMO_MEETING_UUID, 83_512_004_771),
            Scenario::demo()
        );
        let uuid = "/d007Q3pLan//Hq8aZw+Bx==";
        let again = Scenario::demo_in(uuid, 83_512_004_778);
        let demo = Scenario::demo();
        assert_eq!(again.steps.len(), demo.steps.len());
        assert_eq!(again.length_minutes(), demo.length_minutes());
        for (step, original) in again.steps.iter().zip(&demo.steps) {
            assert_eq!(step.at_minute, original.at_minute);
            let in_meeting = match &step.action {
                Action::StartMeeting(spec) => {
                    assert_eq!(spec.id, 83_512_004_778);
                    Some(spec.uuid.as_str())
                }
                Action::Join { meeting_uuid, .. }
                | Action::Leave { meeting_uuid, .. }
                | Action::EndMeeting { meeting_uuid }
                | Action::MeetingAlert { meeting_uuid, .. } => Some(meeting_uuid.as_str()),
                Action::Degrade(_) | Action::InjectFault(_) => None,
            };
            if let Some(in_meeting) = in_meeting {
                assert_eq!(in_meeting, uuid, "{:?}", step.action);
            } else {
                assert_eq!(step.action, original.action);
            }
        }
    }

    #[test]
    fn load_has_the_requested_size_and_unique_ids() {
        let load = Scenario::load(4, 12);
        let people = joins(&load);
        assert_eq!(people.len(), 48);
        let mut ids: Vec<&str> = people.iter().map(|p| p.user_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 48);
        let starts = load
            .steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::StartMeeting(m) => Some(m.uuid.clone()),
                _ => None,
            })
            .collect::<Vec<_>>();
        assert_eq!(starts.len(), 4);
        assert!(starts.iter().any(|u| uuid_is_double_encoded(u)));
        assert!(starts.iter().any(|u| !uuid_is_double_encoded(u)));
        assert_eq!(Scenario::load(0, 5).steps.len(), 0);
    }
}
