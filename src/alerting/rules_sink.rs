//! The path from a sample to an alert event: every sample of a watch goes
//! through the rules in force, and the transitions go to the dispatcher.
//!
//! Nothing here blocks a watcher: evaluation is pure and quick, and
//! `DispatchHandle::send` never waits.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::live_rules::LiveRules;
use crate::notify::DispatchHandle;
use crate::store::Write;
use crate::watch::{SampleSink, SharedSubject, StopReason, WatchObserver, WatchSubject};
use qoswatch_core::alert::{AlertEvent, ParticipantKey};
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
    fn open(
        &self,
        subject: &SharedSubject,
        restored: Option<SavedState>,
    ) -> Box<dyn WatchObserver> {
        let saved = fingerprint(restored.as_ref().unwrap_or(&SavedState::default()));
        Box::new(RulesObserver {
            sink: self.clone(),
            state: restored.map(ParticipantState::restore).unwrap_or_default(),
            key: subject.key.clone(),
            saved,
            unsaved: false,
        })
    }
}

/// One participant's rule state, owned by its watcher task.
struct RulesObserver {
    sink: RulesSink,
    state: ParticipantState,
    key: ParticipantKey,
    /// The [`fingerprint`] of the state as last written to the store (not
    /// a copy of it: 10,000 copies were 7 MB, BENCHMARKS.md issue 24).
    saved: u64,
    /// Samples changed the state without an alert transition: written
    /// once their answer is done (`answered`), not per sample (a first
    /// answer two hours into a call brings 120).
    unsaved: bool,
}

impl RulesObserver {
    /// Writes the alert state, if it changed, together with the events it
    /// produced (one transaction: a restart sees both or neither), then
    /// hands the events to the dispatcher.
    fn send(&mut self, events: Vec<AlertEvent>) {
        self.unsaved = false;
        let state = self.state.save();
        let saved = fingerprint(&state);
        if events.is_empty() && saved == self.saved {
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
            alert_state: Some(state),
            events: events.clone(),
        });
        self.saved = saved;
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

    fn sample(&mut self, subject: &SharedSubject, sample: &QosSample, now: DateTime<Utc>) {
        let rules = self.sink.rules.current();
        let events = rules.evaluate(&mut self.state, &subject_of(subject), sample, now);
        if events.is_empty() {
            // The state moved (runs, the last observation): saved with the
            // answer's last sample, or with the next transition.
            self.unsaved = true;
            return;
        }
        self.send(events);
    }

    fn answered(&mut self, _subject: &SharedSubject) {
        if self.unsaved {
            self.send(Vec::new());
        }
    }

    fn idle(&mut self, subject: &SharedSubject, now: DateTime<Utc>) {
        let rules = self.sink.rules.current();
        let events = rules.tick(&mut self.state, &subject_of(subject), now);
        self.send(events);
    }

    fn finished(&mut self, subject: &SharedSubject, reason: StopReason, now: DateTime<Utc>) {
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

/// A 64-bit hash of the state as the store writes it (its JSON): equal
/// states hash equal; two different ones collide about once in 2^64, and
/// then that one write waits for the state's next change.
fn fingerprint(state: &SavedState) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_vec(state)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
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

#[cfg(test)]
mod tests {
    use qoswatch_core::alert::ParticipantKey;
    use qoswatch_core::qos::parse_participant_qos;
    use qoswatch_core::rules::RuleSet;

    use super::*;

    #[test]
    fn the_fingerprint_tells_a_moved_state_from_an_unchanged_one() {
        let rules = RuleSet::from_str(
            "calm.yaml",
            "rules:\n  - name: calm\n    metric: audio_input.latency\n    above: 100s\n    for: 2 samples\n",
        )
        .expect("rules");
        let (qos, _) =
            parse_participant_qos(include_bytes!("../../tests/fixtures/qos.participant.json"))
                .expect("fixture");
        let subject = subject_of(&WatchSubject::of_key(ParticipantKey::new(
            "mEeTiNg==",
            "1670000000",
        )));
        let mut state = ParticipantState::default();
        let before = state.save();
        assert_eq!(fingerprint(&before), fingerprint(&before.clone()));
        let sample = &qos.samples[0];
        let events = rules.evaluate(&mut state, &subject, sample, sample.at);
        assert!(events.is_empty(), "a healthy sample fires nothing");
        // The calm run and the last observation moved: a write is due.
        let after = state.save();
        assert_ne!(after, before);
        assert_ne!(fingerprint(&after), fingerprint(&before));
        // The same state saved again: no write.
        assert_eq!(fingerprint(&state.save()), fingerprint(&after));
    }
}
