//! Scripted stories for the simulator: a timeline of steps (meeting starts,
//! participant joins, degradation, leave, end, injected fault, meeting
//! alert) that drives the API fake and, when given a [`WebhookSender`],
//! qoswatch's webhook endpoint, in the order and at the times Zoom would.
//!
//! Times are in simulated minutes from the scenario start; the runner turns
//! them into real time with the simulator's sample period, so a 20-minute
//! story takes 20 s with a 1 s period.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::webhooks::{WebhookResponse, WebhookSender};
use super::{Degradation, Fault, MeetingSpec, ParticipantSpec, SimHandle, Target};

/// One thing that happens in a scenario.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The meeting starts (`meeting.started`).
    StartMeeting(MeetingSpec),
    /// A participant joins (`meeting.participant_joined`).
    Join {
        meeting_uuid: String,
        participant: ParticipantSpec,
    },
    /// A degradation starts to apply. Its sample window counts from each
    /// participant's join.
    Degrade(Degradation),
    /// A participant leaves (`meeting.participant_left`).
    Leave {
        meeting_uuid: String,
        user_id: String,
        reason: String,
    },
    /// The meeting ends: everyone still in it leaves, then `meeting.ended`.
    EndMeeting { meeting_uuid: String },
    /// A fault for the next QoS request.
    InjectFault(Fault),
    /// Zoom's meeting-level alert (`meeting.alert`).
    MeetingAlert {
        meeting_uuid: String,
        issues: Vec<String>,
    },
}

/// An action at a simulated minute.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub at_minute: u32,
    pub action: Action,
}

/// A named timeline of steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// Run in order of `at_minute`; steps at the same minute in list order.
    pub steps: Vec<Step>,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScenarioReport {
    pub steps_run: usize,
    pub webhooks_sent: usize,
    /// Webhooks that failed to send or were not answered 2xx.
    pub webhook_failures: usize,
    /// The run stopped early because it was cancelled.
    pub cancelled: bool,
}

/// The demo meeting's UUID: it contains `//`, so it must be double-encoded.
pub const DEMO_MEETING_UUID: &str = "/dEmoQ3pLan//Hq8aZw+Bx==";

impl Scenario {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            steps: Vec::new(),
        }
    }

    /// Adds a step (builder style).
    pub fn at(mut self, at_minute: u32, action: Action) -> Self {
        self.steps.push(Step { at_minute, action });
        self
    }

    /// When the last step happens, in simulated minutes.
    pub fn length_minutes(&self) -> u32 {
        self.steps.iter().map(|s| s.at_minute).max().unwrap_or(0)
    }

    /// The built-in ~18-minute story (3 minutes of wall time at a 10 s
    /// period): in one meeting, Ana's Wi-Fi goes bad and recovers, the
    /// Berlin office of three loses packets together, Carl's CPU pegs, Dana
    /// has no video, Eve (wired, sharing her screen) and Dana stay healthy.
    /// A 429 is injected halfway, Zoom raises a meeting alert, Dana leaves
    /// early and the meeting ends.
    pub fn demo() -> Self {
        let uuid = DEMO_MEETING_UUID.to_owned();
        let meeting = MeetingSpec::new(&uuid, 83_512_004_771, "Q3 planning");
        let join = |participant: ParticipantSpec| Action::Join {
            meeting_uuid: uuid.clone(),
            participant,
        };
        let berlin = "Berlin (DE)";
        Scenario::new("demo")
            .at(0, Action::StartMeeting(meeting))
            .at(
                0,
                Action::Degrade(Degradation::bad_wifi(Target::participant("16778301"), 4..9)),
            )
            .at(
                0,
                Action::Degrade(Degradation::packet_loss(
                    Target::Location(berlin.into()),
                    6..11,
                    9.0,
                )),
            )
            .at(
                0,
                Action::Degrade(Degradation::cpu_pegged(
                    Target::participant("16778305"),
                    8..13,
                )),
            )
            .at(
                0,
                join(ParticipantSpec::new("16778301", "Ana Alvarez").with_location("Lisbon (PT)")),
            )
            .at(
                0,
                join(ParticipantSpec::new("16778302", "Bernd Becker").with_location(berlin)),
            )
            .at(
                0,
                join(
                    ParticipantSpec::new("16778303", "Birgit Braun")
                        .with_location(berlin)
                        .with_device("Mac"),
                ),
            )
            .at(
                0,
                join(ParticipantSpec::new("16778304", "Bao Bui").with_location(berlin)),
            )
            .at(
                0,
                join(
                    ParticipantSpec::new("16778305", "Carl Czerny")
                        .with_location("Vienna (AT)")
                        .with_device("Mac"),
                ),
            )
            .at(0, {
                let dana = ParticipantSpec::new("16778306", "Dana Dietz");
                let profile = dana.profile.clone().without_video();
                join(dana.with_profile(profile).with_device("iOS"))
            })
            .at(0, {
                let eve =
                    ParticipantSpec::new("16778307", "Eve Ek").with_location("Stockholm (SE)");
                let profile = eve.profile.clone().wired().sharing_screen();
                join(eve.with_profile(profile))
            })
            .at(
                7,
                Action::MeetingAlert {
                    meeting_uuid: uuid.clone(),
                    issues: vec!["Unstable audio quality".into()],
                },
            )
            .at(10, Action::InjectFault(Fault::rate_limited_seconds(2)))
            .at(
                15,
                Action::Leave {
                    meeting_uuid: uuid.clone(),
                    user_id: "16778306".into(),
                    reason: "Dana Dietz left the meeting.<br>Reason: left the meeting.".into(),
                },
            )
            .at(18, Action::EndMeeting { meeting_uuid: uuid })
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

    /// Runs the timeline against `sim` (and qoswatch's webhook endpoint when
    /// `webhooks` is given) until the last step or `cancel`.
    ///
    /// A webhook that fails or is not answered 2xx is logged and counted,
    /// not fatal: the story goes on, as Zoom's would.
    pub async fn run(
        &self,
        sim: &SimHandle,
        webhooks: Option<&WebhookSender>,
        cancel: &CancellationToken,
    ) -> anyhow::Result<ScenarioReport> {
        let mut steps: Vec<&Step> = self.steps.iter().collect();
        steps.sort_by_key(|step| step.at_minute);
        let period = sim.config().sample_period;
        let started = Instant::now();
        let mut runner = Runner {
            sim,
            webhooks,
            meetings: HashMap::new(),
            report: ScenarioReport::default(),
        };
        for step in steps {
            let due = started + period.saturating_mul(step.at_minute);
            tokio::select! {
                () = cancel.cancelled() => {
                    runner.report.cancelled = true;
                    return Ok(runner.report);
                }
                () = tokio::time::sleep_until(due) => {}
            }
            runner
                .apply(&step.action)
                .await
                .with_context(|| format!("scenario {} at minute {}", self.name, step.at_minute))?;
            runner.report.steps_run += 1;
        }
        tracing::info!(scenario = %self.name, steps = runner.report.steps_run, "scenario finished");
        Ok(runner.report)
    }
}

/// A meeting the runner started: what its webhooks need.
#[derive(Debug)]
struct RunningMeeting {
    spec: MeetingSpec,
    start_time: DateTime<Utc>,
    /// Participants still in the meeting, in join order.
    present: Vec<ParticipantSpec>,
}

struct Runner<'a> {
    sim: &'a SimHandle,
    webhooks: Option<&'a WebhookSender>,
    meetings: HashMap<String, RunningMeeting>,
    report: ScenarioReport,
}

impl Runner<'_> {
    fn meeting(&mut self, uuid: &str) -> anyhow::Result<&mut RunningMeeting> {
        self.meetings
            .get_mut(uuid)
            .with_context(|| format!("meeting {uuid} was not started by this scenario"))
    }

    async fn apply(&mut self, action: &Action) -> anyhow::Result<()> {
        match action {
            Action::StartMeeting(spec) => {
                self.sim.add_meeting(spec.clone())?;
                let start_time = self.sim.sim_now();
                self.meetings.insert(
                    spec.uuid.clone(),
                    RunningMeeting {
                        spec: spec.clone(),
                        start_time,
                        present: Vec::new(),
                    },
                );
                if let Some(sender) = self.webhooks {
                    let sent = sender.meeting_started(spec, start_time).await;
                    self.count("meeting.started", sent);
                }
            }
            Action::Join {
                meeting_uuid,
                participant,
            } => {
                let join_time = self
                    .sim
                    .add_participant(meeting_uuid, participant.clone())?;
                let meeting = self.meeting(meeting_uuid)?;
                meeting.present.push(participant.clone());
                let (spec, start_time) = (meeting.spec.clone(), meeting.start_time);
                if let Some(sender) = self.webhooks {
                    let sent = sender
                        .participant_joined(&spec, start_time, participant, join_time)
                        .await;
                    self.count("meeting.participant_joined", sent);
                }
            }
            Action::Degrade(degradation) => self.sim.add_degradation(degradation.clone()),
            Action::Leave {
                meeting_uuid,
                user_id,
                reason,
            } => {
                let leave_time = self.sim.participant_leaves(meeting_uuid, user_id)?;
                let meeting = self.meeting(meeting_uuid)?;
                let position = meeting
                    .present
                    .iter()
                    .position(|p| &p.user_id == user_id)
                    .with_context(|| format!("participant {user_id} is not in the meeting"))?;
                let participant = meeting.present.remove(position);
                let (spec, start_time) = (meeting.spec.clone(), meeting.start_time);
                if let Some(sender) = self.webhooks {
                    let sent = sender
                        .participant_left(&spec, start_time, &participant, leave_time, reason)
                        .await;
                    self.count("meeting.participant_left", sent);
                }
            }
            Action::EndMeeting { meeting_uuid } => {
                let end_time = self.sim.end_meeting(meeting_uuid)?;
                let meeting = self
                    .meetings
                    .remove(meeting_uuid)
                    .with_context(|| format!("meeting {meeting_uuid} was not started"))?;
                if let Some(sender) = self.webhooks {
                    for participant in &meeting.present {
                        let reason = format!(
                            "{} left the meeting.<br>Reason: Host ended the meeting.",
                            participant.user_name
                        );
                        let sent = sender
                            .participant_left(
                                &meeting.spec,
                                meeting.start_time,
                                participant,
                                end_time,
                                &reason,
                            )
                            .await;
                        self.count("meeting.participant_left", sent);
                    }
                    let sent = sender
                        .meeting_ended(&meeting.spec, meeting.start_time, end_time)
                        .await;
                    self.count("meeting.ended", sent);
                }
            }
            Action::InjectFault(fault) => self.sim.push_fault(fault.clone()),
            Action::MeetingAlert {
                meeting_uuid,
                issues,
            } => {
                let meeting = self.meeting(meeting_uuid)?;
                let (spec, start_time) = (meeting.spec.clone(), meeting.start_time);
                if let Some(sender) = self.webhooks {
                    let sent = sender.meeting_alert(&spec, start_time, issues).await;
                    self.count("meeting.alert", sent);
                }
            }
        }
        Ok(())
    }

    fn count(
        &mut self,
        event: &'static str,
        sent: Result<WebhookResponse, super::webhooks::WebhookError>,
    ) {
        self.report.webhooks_sent += 1;
        match sent {
            Ok(answer) if (200..300).contains(&answer.status) => {}
            Ok(answer) => {
                self.report.webhook_failures += 1;
                tracing::warn!(event, status = answer.status, "webhook not accepted");
            }
            Err(error) => {
                self.report.webhook_failures += 1;
                tracing::warn!(event, error = %error, "webhook not delivered");
            }
        }
    }
}

/// Real time a scenario takes with this sample period.
pub fn wall_time(scenario: &Scenario, sample_period: Duration) -> Duration {
    sample_period.saturating_mul(scenario.length_minutes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::uuid_is_double_encoded;

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
