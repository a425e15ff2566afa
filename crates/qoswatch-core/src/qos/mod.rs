//! Typed QoS samples, parsed once from Zoom's Dashboard API answers.
//!
//! Zoom reports every value as a string with a unit (`"126 ms"`, `"0.3%"`,
//! `"1055 kbps"`, `"1280*720"`, `"12 fps"`), sometimes without a unit, and
//! uses `""` for *no data* (not zero). Everything here turns those strings
//! into typed values at the edge, so the rest of qoswatch never sees a
//! `String` where a number belongs.
//!
//! Parsing is lenient per value and strict per type: an unknown field is
//! ignored, an unparseable value becomes "no data" and is counted as a
//! warning in [`ParseReport`], and the sample as a whole still goes on.
//!
//! - this file: the vocabulary (units, quantities, resolutions, streams and
//!   metric ids, as rule files name them);
//! - `sample.rs`: what one sample holds ([`QosSample`] and friends);
//! - `parse.rs`: Zoom's answers into samples ([`parse_participant_qos`]);
//! - `qss.rs`: Zoom's QSS push events' entries into the same samples;
//! - `tail.rs`: reading an answer from its end, so that a poll costs what
//!   is new in it, not the whole series Zoom repeats.

mod newest;
mod parse;
mod qss;
mod sample;
#[cfg(test)]
mod skip_tests;
mod tail;
#[cfg(test)]
mod tests;

use std::fmt;

pub use parse::{
    BadValue, MAX_REPORTED_BAD_VALUES, MeetingQosPage, ParseError, ParseReport,
    parse_meeting_qos_page, parse_participant_qos, parse_participant_qos_newest,
    parse_participant_qos_since, parse_resolution, parse_value, participant_from_json,
};
pub use qss::{QssEntry, QssReport, samples_from_qss};
pub use sample::{CpuUsage, ParticipantDetails, ParticipantQos, QosSample, StreamQos, WifiRssi};

/// The unit family of a metric. A rule threshold must carry a unit of the
/// same family as the metric it is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// Milliseconds (latency, jitter).
    Millis,
    /// Percent, 0–100 (loss, CPU usage).
    Percent,
    /// Kilobits per second (bitrate).
    Kbps,
    /// Frames per second.
    Fps,
    /// Vertical resolution in pixels (`1280*720` is 720).
    Pixels,
    /// Wi-Fi signal strength in dBm (negative; closer to 0 is better).
    Dbm,
}

impl Unit {
    /// The suffix qoswatch prints after a value of this unit.
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Millis => "ms",
            Unit::Percent => "%",
            Unit::Kbps => "kbps",
            Unit::Fps => "fps",
            Unit::Pixels => "p",
            Unit::Dbm => "dBm",
        }
    }
}

/// A measured amount with its unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantity {
    pub amount: f64,
    pub unit: Unit,
}

impl Quantity {
    pub fn new(amount: f64, unit: Unit) -> Self {
        Self { amount, unit }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let amount = if self.amount.fract() == 0.0 {
            format!("{}", self.amount as i64)
        } else {
            format!("{:.1}", self.amount)
        };
        match self.unit {
            Unit::Percent => write!(f, "{amount}%"),
            Unit::Pixels => write!(f, "{amount}p"),
            unit => write!(f, "{amount} {}", unit.suffix()),
        }
    }
}

/// A video or share resolution, `width*height` in Zoom's notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    pub width: u32,
    pub height: u32,
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// One media stream of a sample. The six classic streams are always part of
/// Zoom's answer; the device streams appear on newer accounts only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    AudioInput,
    AudioOutput,
    VideoInput,
    VideoOutput,
    ShareInput,
    ShareOutput,
    /// `{audio,video,as}_device_{from,to}_{crc,rwg}`.
    Device {
        media: Media,
        direction: DeviceDirection,
        peer: DevicePeer,
    },
}

/// The media kind of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Media {
    Audio,
    Video,
    Share,
}

/// Whether a device stream flows from or to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceDirection {
    From,
    To,
}

/// The Zoom peer of a device stream: a room connector (CRC) or a web gateway (RWG).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DevicePeer {
    Crc,
    Rwg,
}

impl Stream {
    /// The six streams every sample has.
    pub const CLASSIC: [Stream; 6] = [
        Stream::AudioInput,
        Stream::AudioOutput,
        Stream::VideoInput,
        Stream::VideoOutput,
        Stream::ShareInput,
        Stream::ShareOutput,
    ];

    /// Every stream qoswatch knows, classic and device ones.
    pub fn all() -> Vec<Stream> {
        let mut all = Stream::CLASSIC.to_vec();
        for media in [Media::Audio, Media::Video, Media::Share] {
            for direction in [DeviceDirection::From, DeviceDirection::To] {
                for peer in [DevicePeer::Crc, DevicePeer::Rwg] {
                    all.push(Stream::Device {
                        media,
                        direction,
                        peer,
                    });
                }
            }
        }
        all
    }

    /// The media kind of this stream.
    pub fn media(self) -> Media {
        match self {
            Stream::AudioInput | Stream::AudioOutput => Media::Audio,
            Stream::VideoInput | Stream::VideoOutput => Media::Video,
            Stream::ShareInput | Stream::ShareOutput => Media::Share,
            Stream::Device { media, .. } => media,
        }
    }

    /// Zoom's JSON key for the stream, which is also its name in rule files.
    pub fn name(self) -> String {
        match self {
            Stream::AudioInput => "audio_input".into(),
            Stream::AudioOutput => "audio_output".into(),
            Stream::VideoInput => "video_input".into(),
            Stream::VideoOutput => "video_output".into(),
            Stream::ShareInput => "as_input".into(),
            Stream::ShareOutput => "as_output".into(),
            Stream::Device {
                media,
                direction,
                peer,
            } => {
                let media = match media {
                    Media::Audio => "audio",
                    Media::Video => "video",
                    Media::Share => "as",
                };
                let direction = match direction {
                    DeviceDirection::From => "from",
                    DeviceDirection::To => "to",
                };
                let peer = match peer {
                    DevicePeer::Crc => "crc",
                    DevicePeer::Rwg => "rwg",
                };
                format!("{media}_device_{direction}_{peer}")
            }
        }
    }

    /// The stream with this JSON key, if qoswatch knows it.
    pub fn from_name(name: &str) -> Option<Stream> {
        Stream::all()
            .into_iter()
            .find(|stream| stream.name() == name)
    }

    /// A short human label: "audio in", "video out", "audio device→CRC".
    pub fn label(self) -> String {
        match self {
            Stream::AudioInput => "audio in".into(),
            Stream::AudioOutput => "audio out".into(),
            Stream::VideoInput => "video in".into(),
            Stream::VideoOutput => "video out".into(),
            Stream::ShareInput => "screen share in".into(),
            Stream::ShareOutput => "screen share out".into(),
            Stream::Device { .. } => self.name().replace('_', " "),
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A metric of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamMetric {
    Bitrate,
    Latency,
    Jitter,
    AvgLoss,
    MaxLoss,
    /// Vertical resolution, compared in pixels.
    Resolution,
    FrameRate,
}

impl StreamMetric {
    pub const ALL: [StreamMetric; 7] = [
        StreamMetric::Bitrate,
        StreamMetric::Latency,
        StreamMetric::Jitter,
        StreamMetric::AvgLoss,
        StreamMetric::MaxLoss,
        StreamMetric::Resolution,
        StreamMetric::FrameRate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StreamMetric::Bitrate => "bitrate",
            StreamMetric::Latency => "latency",
            StreamMetric::Jitter => "jitter",
            StreamMetric::AvgLoss => "avg_loss",
            StreamMetric::MaxLoss => "max_loss",
            StreamMetric::Resolution => "resolution",
            StreamMetric::FrameRate => "frame_rate",
        }
    }

    pub fn from_name(name: &str) -> Option<StreamMetric> {
        StreamMetric::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn unit(self) -> Unit {
        match self {
            StreamMetric::Bitrate => Unit::Kbps,
            StreamMetric::Latency | StreamMetric::Jitter => Unit::Millis,
            StreamMetric::AvgLoss | StreamMetric::MaxLoss => Unit::Percent,
            StreamMetric::Resolution => Unit::Pixels,
            StreamMetric::FrameRate => Unit::Fps,
        }
    }
}

/// Zoom's CPU usage figures of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CpuMetric {
    ZoomMin,
    ZoomAvg,
    ZoomMax,
    SystemMax,
}

impl CpuMetric {
    pub const ALL: [CpuMetric; 4] = [
        CpuMetric::ZoomMin,
        CpuMetric::ZoomAvg,
        CpuMetric::ZoomMax,
        CpuMetric::SystemMax,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CpuMetric::ZoomMin => "zoom_min_cpu_usage",
            CpuMetric::ZoomAvg => "zoom_avg_cpu_usage",
            CpuMetric::ZoomMax => "zoom_max_cpu_usage",
            CpuMetric::SystemMax => "system_max_cpu_usage",
        }
    }

    pub fn from_name(name: &str) -> Option<CpuMetric> {
        CpuMetric::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Wi-Fi signal strength figures (`wifi_rssi`), newer accounts only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WifiMetric {
    Avg,
    Max,
    Min,
}

impl WifiMetric {
    pub const ALL: [WifiMetric; 3] = [WifiMetric::Avg, WifiMetric::Max, WifiMetric::Min];

    pub fn name(self) -> &'static str {
        match self {
            WifiMetric::Avg => "avg_rssi",
            WifiMetric::Max => "max_rssi",
            WifiMetric::Min => "min_rssi",
        }
    }

    pub fn from_name(name: &str) -> Option<WifiMetric> {
        WifiMetric::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Any single number a sample can carry, addressed the way rule files name
/// it: `audio_input.latency`, `cpu_usage.zoom_max_cpu_usage`, `wifi_rssi.avg_rssi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricId {
    Stream(Stream, StreamMetric),
    Cpu(CpuMetric),
    Wifi(WifiMetric),
}

impl MetricId {
    /// Every metric a sample can have.
    pub fn all() -> Vec<MetricId> {
        let mut all = Vec::new();
        for stream in Stream::all() {
            for metric in StreamMetric::ALL {
                all.push(MetricId::Stream(stream, metric));
            }
        }
        all.extend(CpuMetric::ALL.map(MetricId::Cpu));
        all.extend(WifiMetric::ALL.map(MetricId::Wifi));
        all
    }

    pub fn unit(self) -> Unit {
        match self {
            MetricId::Stream(_, metric) => metric.unit(),
            MetricId::Cpu(_) => Unit::Percent,
            MetricId::Wifi(_) => Unit::Dbm,
        }
    }

    /// `group.field`, as written in rule files.
    pub fn name(self) -> String {
        match self {
            MetricId::Stream(stream, metric) => format!("{}.{}", stream.name(), metric.name()),
            MetricId::Cpu(metric) => format!("cpu_usage.{}", metric.name()),
            MetricId::Wifi(metric) => format!("wifi_rssi.{}", metric.name()),
        }
    }

    /// Parses `group.field`.
    pub fn parse(name: &str) -> Option<MetricId> {
        let (group, field) = name.split_once('.')?;
        match group {
            "cpu_usage" => CpuMetric::from_name(field).map(MetricId::Cpu),
            "wifi_rssi" => WifiMetric::from_name(field).map(MetricId::Wifi),
            stream => Some(MetricId::Stream(
                Stream::from_name(stream)?,
                StreamMetric::from_name(field)?,
            )),
        }
    }
}

/// Written as its rule-file name (`audio_input.jitter`), as in saved alert state.
impl serde::Serialize for MetricId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

impl<'de> serde::Deserialize<'de> for MetricId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        MetricId::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown metric `{name}`")))
    }
}

impl fmt::Display for MetricId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}
