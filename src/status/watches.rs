//! The watched participants as the page shows them: who, since when, and
//! their last samples reduced to five figures. Fed by [`StatusTap`], one
//! more observer of every watch next to the rules.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::watch::{SampleSink, SharedSubject, StopReason, WatchObserver};
use qoswatch_core::alert::ParticipantKey;
use qoswatch_core::qos::{CpuMetric, MetricId, QosSample, Stream, StreamMetric};
use qoswatch_core::rules::SavedState;

use super::Status;

/// Samples kept per participant for the trend.
pub const TREND: usize = 10;

/// One sample reduced to what the page shows. Audio figures are the worse
/// of the two directions (what the participant sends and receives). Single
/// precision: the page shows milliseconds, percents and frames, and the
/// trend of 10,000 watches is a third of its size in `f64`s.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quality {
    pub at: DateTime<Utc>,
    pub latency_ms: Option<f32>,
    pub jitter_ms: Option<f32>,
    pub loss_pct: Option<f32>,
    pub frame_rate_fps: Option<f32>,
    pub cpu_pct: Option<f32>,
}

/// A [`Quality`] as the trend keeps it: 32 bytes, a figure not measured
/// stored as NaN (an `Option<f32>` each would make it 52).
#[derive(Debug, Clone, Copy)]
pub struct Kept {
    at: DateTime<Utc>,
    /// Latency, jitter, loss, frame rate, CPU.
    figures: [f32; 5],
}

impl Kept {
    fn of(sample: &QosSample) -> Self {
        let audio = |metric| {
            let input = sample.get(MetricId::Stream(Stream::AudioInput, metric));
            let output = sample.get(MetricId::Stream(Stream::AudioOutput, metric));
            match (input, output) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            }
        };
        let figure = |value: Option<f64>| value.map_or(f32::NAN, |v| v as f32);
        Kept {
            at: sample.at,
            figures: [
                figure(audio(StreamMetric::Latency)),
                figure(audio(StreamMetric::Jitter)),
                figure(audio(StreamMetric::AvgLoss)),
                figure(sample.get(MetricId::Stream(
                    Stream::VideoInput,
                    StreamMetric::FrameRate,
                ))),
                figure(sample.get(MetricId::Cpu(CpuMetric::SystemMax))),
            ],
        }
    }

    pub fn quality(&self) -> Quality {
        let figure = |index: usize| Some(self.figures[index]).filter(|v| !v.is_nan());
        Quality {
            at: self.at,
            latency_ms: figure(0),
            jitter_ms: figure(1),
            loss_pct: figure(2),
            frame_rate_fps: figure(3),
            cpu_pct: figure(4),
        }
    }
}

/// One watched participant.
#[derive(Debug, Clone)]
pub struct Watched {
    /// The watch's own (shared with its task, not copied).
    pub subject: SharedSubject,
    pub since: DateTime<Utc>,
    /// Oldest first, at most [`TREND`].
    pub samples: VecDeque<Kept>,
}

#[derive(Debug, Default)]
pub struct Watches {
    pub by_key: BTreeMap<ParticipantKey, Watched>,
}

impl Watches {
    fn opened(&mut self, subject: &SharedSubject, now: DateTime<Utc>) {
        self.by_key.insert(
            subject.key.clone(),
            Watched {
                subject: subject.clone(),
                since: now,
                samples: VecDeque::with_capacity(TREND),
            },
        );
    }

    fn sampled(&mut self, subject: &SharedSubject, quality: Kept) {
        if let Some(watched) = self.by_key.get_mut(&subject.key) {
            if !SharedSubject::ptr_eq(&watched.subject, subject) {
                watched.subject = subject.clone();
            }
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
        subject: &SharedSubject,
        _restored: Option<SavedState>,
    ) -> Box<dyn WatchObserver> {
        self.status
            .update_watches(|watches| watches.opened(subject, Utc::now()));
        Box::new(self.clone())
    }
}

impl WatchObserver for StatusTap {
    fn sample(&mut self, subject: &SharedSubject, sample: &QosSample, _now: DateTime<Utc>) {
        let quality = Kept::of(sample);
        self.status
            .update_watches(|watches| watches.sampled(subject, quality));
    }

    fn idle(&mut self, _subject: &SharedSubject, _now: DateTime<Utc>) {}

    fn finished(&mut self, subject: &SharedSubject, _reason: StopReason, _now: DateTime<Utc>) {
        self.status
            .update_watches(|watches| watches.finished(&subject.key));
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use qoswatch_core::alert::ParticipantKey;
    use qoswatch_core::qos::StreamQos;
    use qoswatch_core::subject::WatchSubject;

    use super::*;

    fn quality(at: DateTime<Utc>) -> Kept {
        let mut sample = QosSample {
            at,
            ..QosSample::default()
        };
        sample.streams.insert(
            Stream::AudioInput,
            StreamQos {
                latency_ms: Some(120.0),
                ..StreamQos::default()
            },
        );
        Kept::of(&sample)
    }

    #[test]
    fn the_page_s_figures_are_the_worse_direction_and_none_where_unmeasured() {
        let at: DateTime<Utc> = "2026-12-07T08:00:00Z".parse().expect("time");
        let mut sample = QosSample {
            at,
            ..QosSample::default()
        };
        let stream = |latency, jitter, loss| StreamQos {
            latency_ms: Some(latency),
            jitter_ms: jitter,
            avg_loss_pct: loss,
            ..StreamQos::default()
        };
        sample
            .streams
            .insert(Stream::AudioInput, stream(120.0, Some(12.3), None));
        sample
            .streams
            .insert(Stream::AudioOutput, stream(80.0, Some(40.5), Some(2.5)));
        let quality = Kept::of(&sample).quality();
        assert_eq!(
            quality,
            Quality {
                at,
                latency_ms: Some(120.0),
                jitter_ms: Some(40.5),
                loss_pct: Some(2.5),
                frame_rate_fps: None,
                cpu_pct: None,
            }
        );
        // Kept in single precision, shown as measured: 12.3, not
        // 12.300000190734863.
        sample.streams.remove(&Stream::AudioOutput);
        let json = serde_json::to_string(&Kept::of(&sample).quality()).expect("json");
        assert!(json.contains(r#""jitterMs":12.3,"lossPct":null"#), "{json}");
        assert_eq!(std::mem::size_of::<Kept>(), 32);
    }

    #[test]
    fn a_long_answer_keeps_the_newest_trend_in_a_buffer_of_its_size() {
        let subject = SharedSubject::new(WatchSubject::of_key(ParticipantKey::new(
            "mEeTiNg==",
            "16778240",
        )));
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

    #[test]
    fn the_page_holds_the_watch_s_subject_not_a_copy_and_takes_a_newer_one() {
        let start: DateTime<Utc> = "2026-12-07T08:00:00Z".parse().expect("time");
        let first = SharedSubject::new(WatchSubject::of_key(ParticipantKey::new("m==", "7")));
        let mut watches = Watches::default();
        watches.opened(&first, start);
        assert!(SharedSubject::ptr_eq(
            &watches.by_key[&first.key].subject,
            &first
        ));
        // The task learned the participant's name: a new subject.
        let mut named = (*first).clone();
        named.participant.name = Some("Ada".into());
        let named = SharedSubject::new(named);
        watches.sampled(&named, quality(start));
        let watched = &watches.by_key[&first.key];
        assert!(SharedSubject::ptr_eq(&watched.subject, &named));
        assert_eq!(watched.subject.participant.name.as_deref(), Some("Ada"));
        assert_eq!(SharedSubject::strong_count(&first), 1, "the old one let go");
    }
}
