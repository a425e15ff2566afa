//! The glue between the watchers and the people: samples go through the
//! rules in force, alert transitions go to the dispatcher. Also turns Zoom's
//! own `meeting.alert` webhooks into meeting-level alerts.
//!
//! Nothing here blocks a watcher: evaluation is pure and quick, and
//! `DispatchHandle::send` never waits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use tokio::time::Instant;

use crate::config::ZoomMeetingAlerts;
use crate::live_rules::LiveRules;
use crate::notify::DispatchHandle;
use crate::store::Write;
use crate::watch::{SampleSink, StopReason, WatchObserver, WatchSubject};
use crate::zoom::event::Meeting;
use qoswatch_core::alert::ParticipantKey;
use qoswatch_core::alert::{AlertEvent, AlertKey, AlertStatus, Route};
use qoswatch_core::qos::QosSample;
use qoswatch_core::rules::{Attention, ParticipantState, SavedState, Subject};

/// Evaluates every sample against the rules in force and dispatches the
/// resulting alert transitions.
#[derive(Debug, Clone)]
pub struct RulesSink {
    rules: Arc<LiveRules>,
    dispatch: DispatchHandle,
    /// Channels that receive every alert besides the rules' own routes.
    also_route: Arc<[String]>,
    transitions: Counter,
}

impl RulesSink {
    pub fn new(
        rules: Arc<LiveRules>,
        dispatch: DispatchHandle,
        also_route: Vec<String>,
        registry: &mut Registry,
    ) -> Self {
        let transitions = Counter::default();
        registry.register(
            "qoswatch_alert_transitions",
            "Alert transitions (firing, repeat, resolved) produced by the rules",
            transitions.clone(),
        );
        Self {
            rules,
            dispatch,
            also_route: also_route.into(),
            transitions,
        }
    }
}

impl SampleSink for RulesSink {
    fn open(&self, subject: &WatchSubject, restored: Option<SavedState>) -> Box<dyn WatchObserver> {
        let saved = restored.clone().unwrap_or_default();
        Box::new(RulesObserver {
            sink: self.clone(),
            state: restored.map(ParticipantState::restore).unwrap_or_default(),
            key: subject.key.clone(),
            saved,
        })
    }
}

/// One participant's rule state, owned by its watcher task.
struct RulesObserver {
    sink: RulesSink,
    state: ParticipantState,
    key: ParticipantKey,
    /// The state as last written to the store.
    saved: SavedState,
}

impl RulesObserver {
    /// Writes the alert state, if it changed, together with the events it
    /// produced (one transaction: a restart sees both or neither), then
    /// hands the events to the dispatcher.
    fn send(&mut self, events: Vec<AlertEvent>) {
        let state = self.state.save();
        if events.is_empty() && state == self.saved {
            return;
        }
        let store = self.sink.dispatch.store();
        let events: Vec<(i64, AlertEvent)> = events
            .into_iter()
            .map(|event| (store.next_id(), self.routed(event)))
            .collect();
        store.write(Write::WatchProgress {
            key: self.key.clone(),
            last_seen: None,
            alert_state: Some(state.clone()),
            events: events.clone(),
        });
        self.saved = state;
        for (id, event) in events {
            self.sink.dispatch.send_recorded(id, event);
        }
    }

    /// The event with the channels that receive every alert added, logged
    /// and counted.
    fn routed(&self, mut event: AlertEvent) -> AlertEvent {
        for channel in self.sink.also_route.iter() {
            if !event.route.channels.contains(channel) {
                event.route.channels.push(channel.clone());
            }
        }
        self.sink.transitions.inc();
        tracing::info!(
            alert = %event.key,
            status = event.status.tag(),
            severity = %event.severity,
            metric = %event.metric,
            value = event.value.as_deref().unwrap_or(""),
            "alert transition"
        );
        event
    }
}

fn subject_of(watch: &WatchSubject) -> Subject {
    Subject {
        meeting: watch.meeting.clone(),
        participant: watch.participant.clone(),
    }
}

impl WatchObserver for RulesObserver {
    fn attention(&self) -> Attention {
        self.state.attention()
    }

    fn sample(&mut self, subject: &WatchSubject, sample: &QosSample, now: DateTime<Utc>) {
        let rules = self.sink.rules.current();
        let events = rules.evaluate(&mut self.state, &subject_of(subject), sample, now);
        self.send(events);
    }

    fn idle(&mut self, subject: &WatchSubject, now: DateTime<Utc>) {
        let rules = self.sink.rules.current();
        let events = rules.tick(&mut self.state, &subject_of(subject), now);
        self.send(events);
    }

    fn finished(&mut self, subject: &WatchSubject, reason: StopReason, now: DateTime<Utc>) {
        // qoswatch stopping says nothing about the call: leave alerts open
        // rather than announce a recovery that did not happen; neither does
        // a hand-over, where another replica carries the state on.
        if reason.watch_goes_on() {
            return;
        }
        let rules = self.sink.rules.current();
        let mut events = rules.finish(&mut self.state, &subject_of(subject), now);
        if events.is_empty() {
            return;
        }
        if !ends_the_problem(reason) {
            // The alert closes because qoswatch can no longer see, not
            // because the call got better: say so in the message.
            for event in &mut events {
                event.summary = format!(
                    "{} (no longer watched: {reason}; this is not a recovery)",
                    event.summary
                );
            }
        }
        tracing::info!(%reason, resolved = events.len(), "watch ended: open alerts closed");
        self.send(events);
    }
}

/// Whether a watch that ended for `reason` means the participant's problem
/// is over for them: they left, or the meeting ended. Otherwise (Zoom
/// refuses, the watch got too old) qoswatch merely stopped looking.
fn ends_the_problem(reason: StopReason) -> bool {
    matches!(
        reason,
        StopReason::Left
            | StopReason::MeetingEnded
            | StopReason::LeaveTime
            | StopReason::NotLive
            | StopReason::Stale
    )
}

/// Hands every watch to several sinks (the rules, and a demo's display).
#[derive(Debug, Clone)]
pub struct FanOutSink {
    sinks: Vec<Arc<dyn SampleSink>>,
}

impl FanOutSink {
    pub fn new(sinks: Vec<Arc<dyn SampleSink>>) -> Self {
        Self { sinks }
    }
}

impl SampleSink for FanOutSink {
    fn open(&self, subject: &WatchSubject, restored: Option<SavedState>) -> Box<dyn WatchObserver> {
        Box::new(FanOutObserver {
            observers: self
                .sinks
                .iter()
                .map(|s| s.open(subject, restored.clone()))
                .collect(),
        })
    }
}

struct FanOutObserver {
    observers: Vec<Box<dyn WatchObserver>>,
}

impl WatchObserver for FanOutObserver {
    fn sample(&mut self, subject: &WatchSubject, sample: &QosSample, now: DateTime<Utc>) {
        for observer in &mut self.observers {
            observer.sample(subject, sample, now);
        }
    }

    fn idle(&mut self, subject: &WatchSubject, now: DateTime<Utc>) {
        for observer in &mut self.observers {
            observer.idle(subject, now);
        }
    }

    fn finished(&mut self, subject: &WatchSubject, reason: StopReason, now: DateTime<Utc>) {
        for observer in &mut self.observers {
            observer.finished(subject, reason, now);
        }
    }

    fn attention(&self) -> Attention {
        self.observers
            .iter()
            .map(|o| o.attention())
            .max()
            .unwrap_or(Attention::Calm)
    }
}

/// Relays Zoom's `meeting.alert` issues as meeting-level alerts. Zoom never
/// says when an issue clears, so these only fire, at most once per
/// (meeting, issue) within `repeat_after`.
#[derive(Debug)]
pub struct ZoomAlertRelay {
    settings: ZoomMeetingAlerts,
    dispatch: DispatchHandle,
    recent: Mutex<HashMap<(String, String), Instant>>,
    relayed: Counter,
    suppressed: Counter,
}

impl ZoomAlertRelay {
    pub fn new(
        settings: ZoomMeetingAlerts,
        dispatch: DispatchHandle,
        registry: &mut Registry,
    ) -> Self {
        let relayed = Counter::default();
        let suppressed = Counter::default();
        registry.register(
            "qoswatch_zoom_meeting_alerts_relayed",
            "Zoom meeting.alert issues relayed as alerts",
            relayed.clone(),
        );
        registry.register(
            "qoswatch_zoom_meeting_alerts_suppressed",
            "Zoom meeting.alert issues not relayed again within repeat_after",
            suppressed.clone(),
        );
        Self {
            settings,
            dispatch,
            recent: Mutex::new(HashMap::new()),
            relayed,
            suppressed,
        }
    }

    /// The alert event for one issue of one meeting.
    pub fn event_for(&self, meeting: &Meeting, issue: &str, now: DateTime<Utc>) -> AlertEvent {
        let slug: String = issue
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let rule = format!("zoom-{slug}");
        let info = meeting.info();
        let topic = info.topic.clone().unwrap_or_else(|| "a meeting".into());
        AlertEvent {
            key: AlertKey::new(&rule, &meeting.uuid, None),
            status: AlertStatus::Firing,
            severity: self.settings.severity,
            previous_severity: None,
            rule,
            summary: format!("Zoom reports \"{issue}\" in {topic}"),
            runbook: None,
            metric: "zoom.meeting_alert".into(),
            stream: None,
            value: Some(issue.to_owned()),
            threshold: None,
            started_at: now,
            at: now,
            meeting: info,
            participant: None,
            route: Route {
                channels: self.settings.channels.clone(),
                repeat_interval: None,
                send_resolved: false,
            },
        }
    }
}

impl crate::http::MeetingAlertSink for ZoomAlertRelay {
    fn meeting_alert(&self, meeting: &Meeting, issues: &[String]) {
        let now = Utc::now();
        let instant = Instant::now();
        let window = self.settings.repeat_after;
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.retain(|_, at| instant.duration_since(*at) < window.max(Duration::from_secs(1)));
        for issue in issues {
            let key = (meeting.uuid.clone(), issue.clone());
            if recent.contains_key(&key) {
                self.suppressed.inc();
                continue;
            }
            recent.insert(key, instant);
            self.relayed.inc();
            tracing::info!(meeting = %meeting.uuid, issue = %issue, "relaying Zoom meeting alert");
            self.dispatch.send(self.event_for(meeting, issue, now));
        }
    }
}
