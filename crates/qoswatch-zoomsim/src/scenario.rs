//! Scripted stories for the simulator: a timeline of steps (meeting starts,
//! participant joins, degradation, leave, end, injected fault, meeting
//! alert) that drives the API fake and, when given a [`WebhookSender`],
//! qoswatch's webhook endpoint, in the order and at the times Zoom would.
//!
//! Times are in simulated minutes from the scenario start; the runner turns
//! them into real time with the simulator's sample period, so a 20-minute
//! story takes 20 s with a 1 s period.
//!
//! This file holds the timeline types and the clock of a run; `runner`
//! plays each action, `stories` holds the built-in [`Scenario::demo`] and
//! [`Scenario::load`].

mod runner;
mod stories;

use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::runner::Runner;
use crate::webhooks::WebhookSender;
use crate::{Degradation, Fault, MeetingSpec, ParticipantSpec, SimHandle};

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
    /// Zoom's QSS: every participant in a call gets a signed
    /// `meeting.participant_qos` (`webinar.participant_qos`) with each new
    /// simulated minute's sample, as QSS pushes them.
    pub qss: bool,
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
            qss: false,
        }
    }

    /// The same story with QSS events (see [`Scenario::qss`]).
    pub fn with_qss(mut self) -> Self {
        self.qss = true;
        self
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

    /// Runs the timeline against `sim`'s first account (and qoswatch's
    /// webhook endpoint when `webhooks` is given) until the last step or
    /// `cancel`.
    ///
    /// A webhook that fails or is not answered 2xx is logged and counted,
    /// not fatal: the story goes on, as Zoom's would.
    pub async fn run(
        &self,
        sim: &SimHandle,
        webhooks: Option<&WebhookSender>,
        cancel: &CancellationToken,
    ) -> anyhow::Result<ScenarioReport> {
        let first = sim.credentials().account_id.clone();
        self.run_in(sim, &first, webhooks, cancel).await
    }

    /// [`run`](Self::run) in account `account_id`: the story's meetings
    /// start in that account (whatever their [`MeetingSpec::account_id`]
    /// says), its degradations hit that account's participants, and its
    /// webhooks go out through `webhooks`, which should be that account's
    /// app's sender (its secret and
    /// [`account_id`](WebhookSender::with_account_id)). Several accounts
    /// can play stories at once, even the same story.
    pub async fn run_in(
        &self,
        sim: &SimHandle,
        account_id: &str,
        webhooks: Option<&WebhookSender>,
        cancel: &CancellationToken,
    ) -> anyhow::Result<ScenarioReport> {
        sim.credentials_of(account_id)?;
        let mut steps: Vec<&Step> = self.steps.iter().collect();
        steps.sort_by_key(|step| step.at_minute);
        let period = sim.config().sample_period;
        let started = Instant::now();
        let mut runner = Runner::new(sim, account_id, webhooks);
        // QSS events go out soon after each new minute's sample exists.
        let mut qss_tick = tokio::time::interval((period / 4).max(Duration::from_millis(5)));
        qss_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for step in steps {
            let due = started + period.saturating_mul(step.at_minute);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => {
                        runner.report.cancelled = true;
                        return Ok(runner.report);
                    }
                    () = tokio::time::sleep_until(due) => break,
                    _ = qss_tick.tick(), if self.qss => runner.push_qss().await,
                }
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

/// Real time a scenario takes with this sample period.
pub fn wall_time(scenario: &Scenario, sample_period: Duration) -> Duration {
    sample_period.saturating_mul(scenario.length_minutes())
}
