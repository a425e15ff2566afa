//! The seam through which samples leave the watchers: a [`SampleSink`]
//! opens one [`WatchObserver`] per watch, owned by the watch's task.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use qoswatch_core::qos::QosSample;
use qoswatch_core::rules::{Attention, SavedState};

use qoswatch_core::subject::{StopReason, WatchSubject};

/// Who a watch is about, shared: the watch's task holds it, and an
/// observer that keeps it (the status page) holds the same allocation, not
/// a copy (10,000 watches, ~0.7 KB each). New details of the participant
/// replace it in the task; observers get the new one with the next call.
pub type SharedSubject = Arc<WatchSubject>;

/// Receives what one watch observes. Owned by the watcher task, so it may
/// keep per-participant state (the rules engine's alert state) without locks.
pub trait WatchObserver: Send {
    /// A sample newer than any seen before in this watch.
    fn sample(&mut self, subject: &SharedSubject, sample: &QosSample, now: DateTime<Utc>);
    /// A poll brought nothing new (or failed); time passes.
    fn idle(&mut self, subject: &SharedSubject, now: DateTime<Utc>);
    /// The watch ended; the last call.
    fn finished(&mut self, subject: &SharedSubject, reason: StopReason, now: DateTime<Utc>);
    /// The new samples of one answer (or push) have all been given: the
    /// moment to save what they changed, once rather than per sample.
    fn answered(&mut self, _subject: &SharedSubject) {}
    /// How much the participant asks to be looked at, after the samples so
    /// far: adaptive polling polls the calm less often. Observers without
    /// an opinion are calm.
    fn attention(&self) -> Attention {
        Attention::Calm
    }
}

/// The seam through which samples leave the watchers: one observer per watch.
pub trait SampleSink: Send + Sync + fmt::Debug {
    /// Opens the observer of one watch; `restored` is the alert state the
    /// store kept when the watch resumes after a restart.
    fn open(&self, subject: &SharedSubject, restored: Option<SavedState>)
    -> Box<dyn WatchObserver>;
}

/// A sink that logs every sample at debug level and counts it. Used when no
/// rules file is configured.
#[derive(Debug, Clone)]
pub struct LoggingSink {
    samples: Counter,
}

impl LoggingSink {
    pub fn new(registry: &mut Registry) -> Self {
        let samples = Counter::default();
        registry.register(
            "qoswatch_samples_logged",
            "QoS samples logged without rules",
            samples.clone(),
        );
        Self { samples }
    }
}

impl SampleSink for LoggingSink {
    fn open(
        &self,
        _subject: &SharedSubject,
        _restored: Option<SavedState>,
    ) -> Box<dyn WatchObserver> {
        Box::new(self.clone())
    }
}

impl WatchObserver for LoggingSink {
    fn sample(&mut self, subject: &SharedSubject, sample: &QosSample, _now: DateTime<Utc>) {
        self.samples.inc();
        tracing::debug!(
            meeting = %subject.key.meeting_uuid,
            participant = %subject.key.user_id,
            at = %sample.at,
            streams = sample.streams.len(),
            "QoS sample"
        );
    }

    fn idle(&mut self, _subject: &SharedSubject, _now: DateTime<Utc>) {}

    fn finished(&mut self, _subject: &SharedSubject, _reason: StopReason, _now: DateTime<Utc>) {}
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
    fn open(
        &self,
        subject: &SharedSubject,
        restored: Option<SavedState>,
    ) -> Box<dyn WatchObserver> {
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
    fn sample(&mut self, subject: &SharedSubject, sample: &QosSample, now: DateTime<Utc>) {
        for observer in &mut self.observers {
            observer.sample(subject, sample, now);
        }
    }

    fn idle(&mut self, subject: &SharedSubject, now: DateTime<Utc>) {
        for observer in &mut self.observers {
            observer.idle(subject, now);
        }
    }

    fn finished(&mut self, subject: &SharedSubject, reason: StopReason, now: DateTime<Utc>) {
        for observer in &mut self.observers {
            observer.finished(subject, reason, now);
        }
    }

    fn answered(&mut self, subject: &SharedSubject) {
        for observer in &mut self.observers {
            observer.answered(subject);
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
