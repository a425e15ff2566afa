//! Scripted problems ([`Degradation`]): which participants they hit
//! ([`Target`]), over which samples, and which figures they override; with
//! the ready-made bad Wi-Fi, packet loss and pegged CPU.

use std::ops::Range;

use crate::fields::{CpuField, Field, RssiField, Stream, StreamField};

/// Which participants a degradation hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// These participants (meeting-scoped `user_id`s), in any meeting.
    Participants(Vec<String>),
    /// Everyone whose `location` is this string: an office losing packets together.
    Location(String),
    /// Every participant.
    Everyone,
}

impl Target {
    pub fn participant(user_id: impl Into<String>) -> Self {
        Target::Participants(vec![user_id.into()])
    }

    /// Whether a participant with this `user_id` and `location` is hit.
    pub fn matches(&self, user_id: &str, location: &str) -> bool {
        match self {
            Target::Participants(ids) => ids.iter().any(|id| id == user_id),
            Target::Location(place) => place == location,
            Target::Everyone => true,
        }
    }
}

/// A scripted problem: for the samples in `samples` (indices since each
/// participant's join, 0-based, end exclusive) the listed metrics take the
/// given values instead of the baseline. Data, not code: tests and the demo
/// script their own.
#[derive(Debug, Clone, PartialEq)]
pub struct Degradation {
    /// A short name for logs and the demo ("wifi", "office loss").
    pub label: String,
    pub target: Target,
    pub samples: Range<u32>,
    /// `(figure, value in the figure's unit)`. A resolution is its height
    /// (`720` gives `"1280*720"`). A figure of a stream that carries no data
    /// (camera off, not sharing, no Wi-Fi block) stays no data.
    pub overrides: Vec<(Field, f64)>,
}

impl Degradation {
    /// Bad Wi-Fi: high latency and jitter, heavy loss, weak signal.
    pub fn bad_wifi(target: Target, samples: Range<u32>) -> Self {
        let mut overrides = Vec::new();
        for stream in Stream::MEDIA {
            overrides.push((Field::Stream(stream, StreamField::Latency), 420.0));
            overrides.push((Field::Stream(stream, StreamField::Jitter), 65.0));
            overrides.push((Field::Stream(stream, StreamField::AvgLoss), 12.5));
            overrides.push((Field::Stream(stream, StreamField::MaxLoss), 31.0));
        }
        overrides.push((Field::Rssi(RssiField::Avg), -82.0));
        overrides.push((Field::Rssi(RssiField::Max), -76.0));
        overrides.push((Field::Rssi(RssiField::Min), -88.0));
        Self {
            label: "bad wifi".into(),
            target,
            samples,
            overrides,
        }
    }

    /// Packet loss on every media stream (an office uplink dropping packets).
    pub fn packet_loss(target: Target, samples: Range<u32>, avg_loss_pct: f64) -> Self {
        let mut overrides = Vec::new();
        for stream in Stream::MEDIA {
            overrides.push((Field::Stream(stream, StreamField::AvgLoss), avg_loss_pct));
            overrides.push((
                Field::Stream(stream, StreamField::MaxLoss),
                (avg_loss_pct * 2.0).min(100.0),
            ));
        }
        Self {
            label: "packet loss".into(),
            target,
            samples,
            overrides,
        }
    }

    /// A pegged CPU: Zoom and the system near 100 %, video frame rate down.
    pub fn cpu_pegged(target: Target, samples: Range<u32>) -> Self {
        Self {
            label: "cpu pegged".into(),
            target,
            samples,
            overrides: vec![
                (Field::Cpu(CpuField::ZoomMin), 71.0),
                (Field::Cpu(CpuField::ZoomAvg), 86.0),
                (Field::Cpu(CpuField::ZoomMax), 97.0),
                (Field::Cpu(CpuField::SystemMax), 100.0),
                (
                    Field::Stream(Stream::VideoInput, StreamField::FrameRate),
                    4.0,
                ),
                (
                    Field::Stream(Stream::VideoOutput, StreamField::FrameRate),
                    5.0,
                ),
            ],
        }
    }

    /// Whether this degradation applies to sample `index` of this participant.
    pub fn applies(&self, user_id: &str, location: &str, index: u32) -> bool {
        self.samples.contains(&index) && self.target.matches(user_id, location)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degradation_window_and_target() {
        let office = Degradation::packet_loss(Target::Location("Berlin (DE)".into()), 2..4, 9.0);
        assert!(!office.applies("1", "Berlin (DE)", 1));
        assert!(office.applies("1", "Berlin (DE)", 2));
        assert!(office.applies("2", "Berlin (DE)", 3));
        assert!(!office.applies("1", "Berlin (DE)", 4));
        assert!(!office.applies("1", "Paris (FR)", 3));
        let one = Target::participant("7");
        assert!(one.matches("7", "anywhere"));
        assert!(!one.matches("8", "anywhere"));
        assert!(Target::Everyone.matches("8", ""));
    }
}
