//! Plays a scenario's actions on one account of the simulator and, when
//! given a [`WebhookSender`], sends the webhooks Zoom would, tracking which
//! participants are still in each meeting so that an end sends their
//! `meeting.participant_left` first.

use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::{Action, ScenarioReport};
use crate::webhooks::{WebhookError, WebhookResponse, WebhookSender};
use crate::{MeetingSpec, ParticipantSpec, SimHandle};

/// A meeting the runner started: what its webhooks need.
#[derive(Debug)]
struct RunningMeeting {
    spec: MeetingSpec,
    start_time: DateTime<Utc>,
    /// Participants still in the meeting, in join order.
    present: Vec<ParticipantSpec>,
}

pub(super) struct Runner<'a> {
    sim: &'a SimHandle,
    /// The account the story plays in.
    account_id: &'a str,
    webhooks: Option<&'a WebhookSender>,
    meetings: HashMap<String, RunningMeeting>,
    /// The newest minute (`date_time`) pushed per (meeting, participant).
    qss_sent: HashMap<(String, String), String>,
    pub(super) report: ScenarioReport,
}

impl<'a> Runner<'a> {
    pub(super) fn new(
        sim: &'a SimHandle,
        account_id: &'a str,
        webhooks: Option<&'a WebhookSender>,
    ) -> Self {
        Self {
            sim,
            account_id,
            webhooks,
            meetings: HashMap::new(),
            qss_sent: HashMap::new(),
            report: ScenarioReport::default(),
        }
    }

    pub(super) async fn apply(&mut self, action: &Action) -> anyhow::Result<()> {
        match action {
            Action::StartMeeting(spec) => self.start_meeting(spec).await?,
            Action::Join {
                meeting_uuid,
                participant,
            } => self.join(meeting_uuid, participant).await?,
            Action::Degrade(degradation) => self
                .sim
                .add_degradation_in(self.account_id, degradation.clone())?,
            Action::Leave {
                meeting_uuid,
                user_id,
                reason,
            } => self.leave(meeting_uuid, user_id, reason).await?,
            Action::EndMeeting { meeting_uuid } => self.end_meeting(meeting_uuid).await?,
            Action::InjectFault(fault) => self.sim.push_fault(fault.clone()),
            Action::MeetingAlert {
                meeting_uuid,
                issues,
            } => self.meeting_alert(meeting_uuid, issues).await?,
        }
        Ok(())
    }

    /// Zoom's QSS: a `*.participant_qos` for every participant present
    /// whose newest sample was not pushed yet.
    pub(super) async fn push_qss(&mut self) {
        let Some(sender) = self.webhooks else {
            return;
        };
        let mut due = Vec::new();
        for meeting in self.meetings.values() {
            for participant in &meeting.present {
                let newest = self
                    .sim
                    .qss_samples_in(self.account_id, &meeting.spec.uuid, &participant.user_id, 1)
                    .unwrap_or_default();
                let Some(minute) = newest
                    .first()
                    .and_then(|s| s["date_time"].as_str())
                    .map(str::to_owned)
                else {
                    continue;
                };
                let key = (meeting.spec.uuid.clone(), participant.user_id.clone());
                if self.qss_sent.get(&key) != Some(&minute) {
                    due.push((
                        meeting.spec.clone(),
                        participant.clone(),
                        newest,
                        key,
                        minute,
                    ));
                }
            }
        }
        for (spec, participant, newest, key, minute) in due {
            let answer = sender.participant_qos(&spec, &participant, &newest).await;
            self.count("participant_qos", answer);
            self.qss_sent.insert(key, minute);
        }
    }

    fn meeting(&mut self, uuid: &str) -> anyhow::Result<&mut RunningMeeting> {
        self.meetings
            .get_mut(uuid)
            .with_context(|| format!("meeting {uuid} was not started by this scenario"))
    }

    async fn start_meeting(&mut self, spec: &MeetingSpec) -> anyhow::Result<()> {
        let spec = &spec.clone().in_account(self.account_id);
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
        Ok(())
    }

    async fn join(
        &mut self,
        meeting_uuid: &str,
        participant: &ParticipantSpec,
    ) -> anyhow::Result<()> {
        let join_time =
            self.sim
                .add_participant_in(self.account_id, meeting_uuid, participant.clone())?;
        let meeting = self.meeting(meeting_uuid)?;
        meeting.present.push(participant.clone());
        let (spec, start_time) = (meeting.spec.clone(), meeting.start_time);
        if let Some(sender) = self.webhooks {
            let sent = sender
                .participant_joined(&spec, start_time, participant, join_time)
                .await;
            self.count("meeting.participant_joined", sent);
        }
        Ok(())
    }

    async fn leave(
        &mut self,
        meeting_uuid: &str,
        user_id: &str,
        reason: &str,
    ) -> anyhow::Result<()> {
        let leave_time = self
            .sim
            .participant_leaves_in(self.account_id, meeting_uuid, user_id)?;
        let meeting = self.meeting(meeting_uuid)?;
        let position = meeting
            .present
            .iter()
            .position(|p| p.user_id == user_id)
            .with_context(|| format!("participant {user_id} is not in the meeting"))?;
        let participant = meeting.present.remove(position);
        let (spec, start_time) = (meeting.spec.clone(), meeting.start_time);
        if let Some(sender) = self.webhooks {
            let sent = sender
                .participant_left(&spec, start_time, &participant, leave_time, reason)
                .await;
            self.count("meeting.participant_left", sent);
        }
        Ok(())
    }

    /// Everyone still present leaves (the host ended the meeting), then
    /// `meeting.ended`.
    async fn end_meeting(&mut self, meeting_uuid: &str) -> anyhow::Result<()> {
        let end_time = self.sim.end_meeting_in(self.account_id, meeting_uuid)?;
        let meeting = self
            .meetings
            .remove(meeting_uuid)
            .with_context(|| format!("meeting {meeting_uuid} was not started"))?;
        let Some(sender) = self.webhooks else {
            return Ok(());
        };
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
        Ok(())
    }

    async fn meeting_alert(&mut self, meeting_uuid: &str, issues: &[String]) -> anyhow::Result<()> {
        let meeting = self.meeting(meeting_uuid)?;
        let (spec, start_time) = (meeting.spec.clone(), meeting.start_time);
        if let Some(sender) = self.webhooks {
            let sent = sender.meeting_alert(&spec, start_time, issues).await;
            self.count("meeting.alert", sent);
        }
        Ok(())
    }

    fn count(&mut self, event: &'static str, sent: Result<WebhookResponse, WebhookError>) {
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
