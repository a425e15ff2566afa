//! The watched participants as the page shows them: who, since when, and
//! their last samples reduced to five figures. Fed by [`StatusTap`], one
//! more observer of every watch next to the rules.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::watch::{SampleSink, StopReason, WatchObserver, WatchSubject};
use qoswatch_core::alert::ParticipantKey;
use qoswatch_core::qos::{CpuMetric, MetricId, QosSample, Stream, StreamMetric};
use qoswatch_core::rules::SavedState;

use super::Status;

/// Samples kept per participant for the trend.
pub const TREND: usize = 10;

/// One sample reduced to what the page shows. Audio figures are the worse
/// of the two directions (what the participant sends and receives).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quality {
    pub at: DateTime<Utc>,
    pub latency_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    pub loss_pct: Option<f64>,
    pub frame_rate_fps: Option<f64>,
    pub cpu_pct: Option<f64>,
}

impl Quality {
    pub fn of(sample: &QosSample) -> Self {
        let audio = |metric| {
            let input = sample.get(MetricId::Stream(Stream::AudioInput, metric));
            let output = sample.get(MetricId::Stream(Stream::AudioOutput, metric));
            match (input, output) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            }
        };
        Quality {
            at: sample.at,
            latency_ms: audio(StreamMetric::Latency),
            jitter_ms: audio(StreamMetric::Jitter),
            loss_pct: audio(StreamMetric::AvgLoss),
            frame_rate_fps: sample.get(MetricId::Stream(
                Stream::VideoInput,
                StreamMetric::FrameRate,
            )),
            cpu_pct: sample.get(MetricId::Cpu(CpuMetric::SystemMax)),
        }
    }
}

/// One watched participant.
#[derive(Debug, Clone)]
pub struct Watched {
    pub subject: WatchSubject,
    pub since: DateTime<Utc>,
    /// Oldest first, at most [`TREND`].
    pub samples: VecDeque<Quality>,
}

#[derive(Debug, Default)]
pub struct Watches {
    pub by_key: BTreeMap<ParticipantKey, Watched>,
}

impl Watches {
    fn opened(&mut self, subject: &WatchSubject, now: DateTime<Utc>) {
        self.by_key.insert(
            subject.key.clone(),
            Watched {
                subject: subject.clone(),
                since: now,
                samples: VecDeque::with_capacity(TREND),
            },
        );
    }

    fn sampled(&mut self, subject: &WatchSubject, quality: Quality) {
        if let Some(watched) = self.by_key.get_mut(&subject.key) {
            watched.subject.clone_from(subject);
            // Room first, then the new one: pushed onto a full deque it
            // would double its buffer for good (about 0.9 KB a watch).
            while watched.samples.len() >= TREND {
                watched.samples.pop_front();
            }
            watched.samples.push_back(quality);
        }
    }

    fn finished(&mut self, key: &ParticipantKey) {
        self.by_key.remove(key);
    }
}

/// The sample tap that keeps [`Watches`] up to date.
#[derive(Debug, Clone)]
pub struct StatusTap {
    status: Status,
}

impl StatusTap {
    pub fn new(status: Status) -> Self {
        Self { status }
    }
}

impl SampleSink for StatusTap {
    fn open(
        &self,
        subject: &WatchSubject,
        _restored: Option<SavedState>,
    ) -> Box<dyn WatchObserver> {
        self.status
            .update_watches(|watches| watches.opened(subject, Utc::now()));
        Box::new(self.clone())
    }
}

impl WatchObserver for StatusTap {
    fn sample(&mut self, subject: &WatchSubject, sample: &QosSample, _now: DateTime<Utc>) {
        let quality = Quality::of(sample);
        self.status
            .update_watches(|watches| watches.sampled(subject, quality));
    }

    fn idle(&mut self, _subject: &WatchSubject, _now: DateTime<Utc>) {}

    fn finished(&mut self, subject: &WatchSubject, _reason: StopReason, _now: DateTime<Utc>) {
        self.status
            .update_watches(|watches| watches.finished(&subject.key));
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use qoswatch_core::alert::ParticipantKey;

    use super::*;

    fn quality(at: DateTime<Utc>) -> Quality {
        Quality {
            at,
            latency_ms: Some(120.0),
            jitter_ms: None,
            loss_pct: None,
            frame_rate_fps: None,
            cpu_pct: None,
        }
    }

    #[test]
    fn a_long_answer_keeps_the_newest_trend_in_a_buffer_of_its_size() {
        let subject = WatchSubject::of_key(ParticipantKey::new("mEeTiNg==", "16778240"));
        let start: DateTime<Utc> = "2026-12-07T08:00:00Z".parse().expect("time");
        let mut watches = Watches::default();
        watches.opened(&subject, start);
        // A first answer two hours into the meeting: 120 samples at once.
        for minute in 0..120 {
            watches.sampled(&subject, quality(start + TimeDelta::minutes(minute)));
        }
        let samples = &watches.by_key[&subject.key].samples;
        assert_eq!(samples.len(), TREND);
        assert_eq!(samples[0].at, start + TimeDelta::minutes(110));
        assert_eq!(samples[TREND - 1].at, start + TimeDelta::minutes(119));
        // 10,000 watches: a doubled buffer is 9 MB more for good.
        assert!(
            samples.capacity() < 2 * TREND,
            "capacity {} for a trend of {TREND}",
            samples.capacity()
        );
    }
}
