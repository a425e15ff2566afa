//! The simulator's own names for the figures of a QoS sample (a
//! `user_qos[]` entry), written from the shape Zoom documents and shows in
//! `tests/fixtures/qos.participant.json` (see `docs/ZOOM.md`).
//!
//! Deliberately not qoswatch's vocabulary: if qoswatch's parser looked for a
//! wrong key, a simulator that borrowed its names would serve the same wrong
//! key and every test would pass. With its own names, the simulator serves
//! what Zoom serves and a wrong key in qoswatch shows up as a missing value.

use std::fmt;

/// The stream blocks of a sample, in Zoom's order. A stream that carries
/// no data is the empty string `""` instead of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// `audio_input`
    AudioInput,
    /// `audio_output`
    AudioOutput,
    /// `video_input`
    VideoInput,
    /// `video_output`
    VideoOutput,
    /// `as_input`: screen share.
    ShareInput,
    /// `as_output`: screen share.
    ShareOutput,
}

impl Stream {
    /// Every stream block of a sample, in Zoom's order.
    pub const ALL: [Stream; 6] = [
        Stream::AudioInput,
        Stream::AudioOutput,
        Stream::VideoInput,
        Stream::VideoOutput,
        Stream::ShareInput,
        Stream::ShareOutput,
    ];

    /// Audio and video, both directions: the streams a network problem hits.
    pub const MEDIA: [Stream; 4] = [
        Stream::AudioInput,
        Stream::AudioOutput,
        Stream::VideoInput,
        Stream::VideoOutput,
    ];

    /// The JSON key of the block.
    pub fn key(self) -> &'static str {
        match self {
            Stream::AudioInput => "audio_input",
            Stream::AudioOutput => "audio_output",
            Stream::VideoInput => "video_input",
            Stream::VideoOutput => "video_output",
            Stream::ShareInput => "as_input",
            Stream::ShareOutput => "as_output",
        }
    }
}

/// A figure inside a stream block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamField {
    /// `bitrate`: `"1055 kbps"`.
    Bitrate,
    /// `latency`: `"126 ms"`.
    Latency,
    /// `jitter`: `"6 ms"`.
    Jitter,
    /// `avg_loss`: `"0.3%"`.
    AvgLoss,
    /// `max_loss`: `"1.9%"`.
    MaxLoss,
    /// `resolution`: `"1280*720"`; video and screen share only.
    Resolution,
    /// `frame_rate`: `"12 fps"`; video and screen share only.
    FrameRate,
}

impl StreamField {
    /// The JSON key inside a stream block.
    pub fn key(self) -> &'static str {
        match self {
            StreamField::Bitrate => "bitrate",
            StreamField::Latency => "latency",
            StreamField::Jitter => "jitter",
            StreamField::AvgLoss => "avg_loss",
            StreamField::MaxLoss => "max_loss",
            StreamField::Resolution => "resolution",
            StreamField::FrameRate => "frame_rate",
        }
    }
}

/// A figure of the `cpu_usage` block (percent strings, `"12%"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CpuField {
    /// `zoom_min_cpu_usage`
    ZoomMin,
    /// `zoom_avg_cpu_usage`
    ZoomAvg,
    /// `zoom_max_cpu_usage`
    ZoomMax,
    /// `system_max_cpu_usage`
    SystemMax,
}

impl CpuField {
    /// The block's JSON key.
    pub const BLOCK: &'static str = "cpu_usage";

    pub const ALL: [CpuField; 4] = [
        CpuField::ZoomMin,
        CpuField::ZoomAvg,
        CpuField::ZoomMax,
        CpuField::SystemMax,
    ];

    /// The JSON key inside `cpu_usage`.
    pub fn key(self) -> &'static str {
        match self {
            CpuField::ZoomMin => "zoom_min_cpu_usage",
            CpuField::ZoomAvg => "zoom_avg_cpu_usage",
            CpuField::ZoomMax => "zoom_max_cpu_usage",
            CpuField::SystemMax => "system_max_cpu_usage",
        }
    }
}

/// A figure of the `wifi_rssi` block (JSON numbers in dBm, with
/// `rssi_unit: "dBm"` beside them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RssiField {
    /// `avg_rssi`
    Avg,
    /// `max_rssi`
    Max,
    /// `min_rssi`
    Min,
}

impl RssiField {
    /// The block's JSON key.
    pub const BLOCK: &'static str = "wifi_rssi";
    /// The key of the unit beside the figures.
    pub const UNIT_KEY: &'static str = "rssi_unit";

    pub const ALL: [RssiField; 3] = [RssiField::Avg, RssiField::Max, RssiField::Min];

    /// The JSON key inside `wifi_rssi`.
    pub fn key(self) -> &'static str {
        match self {
            RssiField::Avg => "avg_rssi",
            RssiField::Max => "max_rssi",
            RssiField::Min => "min_rssi",
        }
    }
}

/// One figure of a sample that a [`Degradation`](crate::Degradation) can set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Stream(Stream, StreamField),
    Cpu(CpuField),
    Rssi(RssiField),
}

impl Field {
    /// `(block key, figure key)` in the sample's JSON.
    pub fn keys(self) -> (&'static str, &'static str) {
        match self {
            Field::Stream(stream, field) => (stream.key(), field.key()),
            Field::Cpu(field) => (CpuField::BLOCK, field.key()),
            Field::Rssi(field) => (RssiField::BLOCK, field.key()),
        }
    }
}

/// `block.figure`, e.g. `audio_input.latency`.
impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (block, figure) = self.keys();
        write!(f, "{block}.{figure}")
    }
}
