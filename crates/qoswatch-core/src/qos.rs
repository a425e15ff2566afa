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

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

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

impl fmt::Display for MetricId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The figures of one stream in one sample. `None` is "no data".
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StreamQos {
    pub bitrate_kbps: Option<f64>,
    pub latency_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    pub avg_loss_pct: Option<f64>,
    pub max_loss_pct: Option<f64>,
    pub resolution: Option<Resolution>,
    pub frame_rate_fps: Option<f64>,
}

impl StreamQos {
    pub fn get(&self, metric: StreamMetric) -> Option<f64> {
        match metric {
            StreamMetric::Bitrate => self.bitrate_kbps,
            StreamMetric::Latency => self.latency_ms,
            StreamMetric::Jitter => self.jitter_ms,
            StreamMetric::AvgLoss => self.avg_loss_pct,
            StreamMetric::MaxLoss => self.max_loss_pct,
            StreamMetric::Resolution => self.resolution.map(|r| f64::from(r.height)),
            StreamMetric::FrameRate => self.frame_rate_fps,
        }
    }

    /// True when the stream carried no figure at all.
    pub fn is_empty(&self) -> bool {
        StreamMetric::ALL.iter().all(|m| self.get(*m).is_none())
    }
}

/// Zoom's CPU usage figures, in percent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuUsage {
    pub zoom_min_pct: Option<f64>,
    pub zoom_avg_pct: Option<f64>,
    pub zoom_max_pct: Option<f64>,
    pub system_max_pct: Option<f64>,
}

impl CpuUsage {
    pub fn get(&self, metric: CpuMetric) -> Option<f64> {
        match metric {
            CpuMetric::ZoomMin => self.zoom_min_pct,
            CpuMetric::ZoomAvg => self.zoom_avg_pct,
            CpuMetric::ZoomMax => self.zoom_max_pct,
            CpuMetric::SystemMax => self.system_max_pct,
        }
    }
}

/// Wi-Fi signal strength in dBm.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WifiRssi {
    pub avg_dbm: Option<f64>,
    pub max_dbm: Option<f64>,
    pub min_dbm: Option<f64>,
}

impl WifiRssi {
    pub fn get(&self, metric: WifiMetric) -> Option<f64> {
        match metric {
            WifiMetric::Avg => self.avg_dbm,
            WifiMetric::Max => self.max_dbm,
            WifiMetric::Min => self.min_dbm,
        }
    }
}

/// One minute of one participant's QoS.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QosSample {
    /// Zoom's `date_time` of the sample.
    pub at: DateTime<Utc>,
    /// Streams present in the answer (a stream that was `""` is absent).
    pub streams: BTreeMap<Stream, StreamQos>,
    pub cpu: CpuUsage,
    pub wifi: WifiRssi,
}

impl QosSample {
    /// The value of one metric, `None` when the sample has no data for it.
    pub fn get(&self, metric: MetricId) -> Option<f64> {
        match metric {
            MetricId::Stream(stream, m) => self.streams.get(&stream).and_then(|s| s.get(m)),
            MetricId::Cpu(m) => self.cpu.get(m),
            MetricId::Wifi(m) => self.wifi.get(m),
        }
    }

    /// The value with its unit.
    pub fn quantity(&self, metric: MetricId) -> Option<Quantity> {
        self.get(metric)
            .map(|amount| Quantity::new(amount, metric.unit()))
    }

    /// True when the sample carries no figure at all.
    pub fn is_empty(&self) -> bool {
        self.streams.values().all(StreamQos::is_empty)
            && CpuMetric::ALL.iter().all(|m| self.cpu.get(*m).is_none())
            && WifiMetric::ALL.iter().all(|m| self.wifi.get(*m).is_none())
    }
}

/// What Zoom says about the participant in a QoS answer. The IP address is
/// deliberately not kept: qoswatch has no use for it and must not log it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParticipantDetails {
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub device: Option<String>,
    pub location: Option<String>,
    pub network_type: Option<String>,
    pub data_center: Option<String>,
    pub version: Option<String>,
    pub join_time: Option<DateTime<Utc>>,
    pub leave_time: Option<DateTime<Utc>>,
}

/// A parsed answer of *Get meeting participant QoS*.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParticipantQos {
    pub details: ParticipantDetails,
    /// Samples in the order Zoom sent them.
    pub samples: Vec<QosSample>,
}

/// Values that could not be parsed, for counting and a debug log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseReport {
    /// `(field path, offending value)`; the value is never personal data.
    pub bad_values: Vec<(String, String)>,
}

impl ParseReport {
    fn bad(&mut self, path: String, value: &str) {
        let mut value = value.to_owned();
        value.truncate(40);
        self.bad_values.push((path, value));
    }
}

/// Parses one participant's QoS answer. Fails only when the document is not
/// a JSON object; bad values inside become "no data" and land in the report.
pub fn parse_participant_qos(body: &[u8]) -> Result<(ParticipantQos, ParseReport), ParseError> {
    let json: Json = serde_json::from_slice(body).map_err(|e| ParseError(e.to_string()))?;
    let Json::Object(_) = json else {
        return Err(ParseError("expected a JSON object".into()));
    };
    let mut report = ParseReport::default();
    let parsed = participant_from_json(&json, &mut report);
    Ok((parsed, report))
}

/// Parses one participant object (as in the single and the list endpoint).
pub fn participant_from_json(json: &Json, report: &mut ParseReport) -> ParticipantQos {
    let text = |key: &str| {
        json.get(key)
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let mut time = |key: &str| {
        let raw = text(key)?;
        match DateTime::parse_from_rfc3339(&raw) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                report.bad(key.to_owned(), &raw);
                None
            }
        }
    };
    let details = ParticipantDetails {
        user_id: text("user_id"),
        user_name: text("user_name"),
        device: text("device"),
        location: text("location"),
        network_type: text("network_type"),
        data_center: text("data_center"),
        version: text("version"),
        join_time: time("join_time"),
        leave_time: time("leave_time"),
    };
    let samples = json
        .get("user_qos")
        .and_then(Json::as_array)
        .map(|entries| {
            entries
                .iter()
                .enumerate()
                .filter_map(|(index, entry)| sample_from_json(index, entry, report))
                .collect()
        })
        .unwrap_or_default();
    ParticipantQos { details, samples }
}

fn sample_from_json(index: usize, entry: &Json, report: &mut ParseReport) -> Option<QosSample> {
    let raw_time = entry.get("date_time").and_then(Json::as_str);
    let at = match raw_time.map(DateTime::parse_from_rfc3339) {
        Some(Ok(t)) => t.with_timezone(&Utc),
        _ => {
            // A sample without a time cannot be ordered or deduplicated.
            report.bad(
                format!("user_qos[{index}].date_time"),
                raw_time.unwrap_or(""),
            );
            return None;
        }
    };
    let mut sample = QosSample {
        at,
        ..QosSample::default()
    };
    for stream in Stream::all() {
        let key = stream.name();
        let Some(object) = entry.get(&key).and_then(Json::as_object) else {
            continue;
        };
        let resolution = object.get("resolution").and_then(|raw| {
            let path = format!("{key}.resolution");
            parse_resolution_field(raw, &path, report)
        });
        let mut field = |metric: StreamMetric| {
            let raw = object.get(metric.name())?;
            let path = format!("{key}.{}", metric.name());
            parse_number_field(raw, metric.unit(), &path, report)
        };
        let qos = StreamQos {
            bitrate_kbps: field(StreamMetric::Bitrate),
            latency_ms: field(StreamMetric::Latency),
            jitter_ms: field(StreamMetric::Jitter),
            avg_loss_pct: field(StreamMetric::AvgLoss),
            max_loss_pct: field(StreamMetric::MaxLoss),
            resolution,
            frame_rate_fps: field(StreamMetric::FrameRate),
        };
        if !qos.is_empty() {
            sample.streams.insert(stream, qos);
        }
    }
    if let Some(cpu) = entry.get("cpu_usage").and_then(Json::as_object) {
        let mut field = |metric: CpuMetric| {
            let raw = cpu.get(metric.name())?;
            let path = format!("cpu_usage.{}", metric.name());
            parse_number_field(raw, Unit::Percent, &path, report)
        };
        sample.cpu = CpuUsage {
            zoom_min_pct: field(CpuMetric::ZoomMin),
            zoom_avg_pct: field(CpuMetric::ZoomAvg),
            zoom_max_pct: field(CpuMetric::ZoomMax),
            system_max_pct: field(CpuMetric::SystemMax),
        };
    }
    if let Some(wifi) = entry.get("wifi_rssi").and_then(Json::as_object) {
        let mut field = |metric: WifiMetric| {
            let raw = wifi.get(metric.name())?;
            let path = format!("wifi_rssi.{}", metric.name());
            parse_number_field(raw, Unit::Dbm, &path, report)
        };
        sample.wifi = WifiRssi {
            avg_dbm: field(WifiMetric::Avg),
            max_dbm: field(WifiMetric::Max),
            min_dbm: field(WifiMetric::Min),
        };
    }
    Some(sample)
}

fn parse_number_field(raw: &Json, unit: Unit, path: &str, report: &mut ParseReport) -> Option<f64> {
    match raw {
        Json::Number(n) => n.as_f64().filter(|v| v.is_finite()),
        Json::String(s) => match parse_value(s, unit) {
            Ok(value) => value,
            Err(BadValue) => {
                report.bad(path.to_owned(), s);
                None
            }
        },
        Json::Null => None,
        other => {
            report.bad(path.to_owned(), &other.to_string());
            None
        }
    }
}

fn parse_resolution_field(raw: &Json, path: &str, report: &mut ParseReport) -> Option<Resolution> {
    let Json::String(s) = raw else {
        if !raw.is_null() {
            report.bad(path.to_owned(), &raw.to_string());
        }
        return None;
    };
    match parse_resolution(s) {
        Ok(value) => value,
        Err(BadValue) => {
            report.bad(path.to_owned(), s);
            None
        }
    }
}

/// Parses one of Zoom's value strings into a number in `unit`.
///
/// `Ok(None)` is "no data" (`""`); `Err(BadValue)` is a value qoswatch cannot read
/// (the caller counts it). A unit that belongs to another family is an error;
/// a missing unit is accepted, as Zoom sometimes sends bare numbers.
pub fn parse_value(raw: &str, unit: Unit) -> Result<Option<f64>, BadValue> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed == "-" {
        return Ok(None);
    }
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(trimmed.len());
    let (number, suffix) = trimmed.split_at(split);
    let amount: f64 = number.parse().map_err(|_| BadValue)?;
    if !amount.is_finite() {
        return Err(BadValue);
    }
    let suffix = suffix.trim().to_ascii_lowercase();
    let amount = match (unit, suffix.as_str()) {
        (_, "") => amount,
        (Unit::Millis, "ms") => amount,
        (Unit::Millis, "s") => amount * 1000.0,
        (Unit::Percent, "%") => amount,
        (Unit::Kbps, "kbps") => amount,
        (Unit::Kbps, "mbps") => amount * 1000.0,
        (Unit::Kbps, "bps") => amount / 1000.0,
        (Unit::Fps, "fps") => amount,
        (Unit::Pixels, "p" | "px") => amount,
        (Unit::Dbm, "dbm") => amount,
        _ => return Err(BadValue),
    };
    Ok(Some(amount))
}

/// Parses `"1280*720"` (also `1280x720`). `"0*0"` and `""` are no data.
pub fn parse_resolution(raw: &str) -> Result<Option<Resolution>, BadValue> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let (width, height) = trimmed.split_once(['*', 'x', 'X']).ok_or(BadValue)?;
    let width: u32 = width.trim().parse().map_err(|_| BadValue)?;
    let height: u32 = height.trim().parse().map_err(|_| BadValue)?;
    if width == 0 && height == 0 {
        return Ok(None);
    }
    Ok(Some(Resolution { width, height }))
}

/// A value string qoswatch cannot read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unreadable QoS value")]
pub struct BadValue;

/// The QoS answer was not a JSON object at all.
#[derive(Debug, Clone, thiserror::Error)]
#[error("QoS answer is not a JSON object: {0}")]
pub struct ParseError(String);

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../../tests/fixtures/qos.participant.json");

    #[test]
    fn values_with_units_parse() {
        assert_eq!(parse_value("126 ms", Unit::Millis), Ok(Some(126.0)));
        assert_eq!(parse_value("0.3%", Unit::Percent), Ok(Some(0.3)));
        assert_eq!(parse_value("1055 kbps", Unit::Kbps), Ok(Some(1055.0)));
        assert_eq!(parse_value("1.5 Mbps", Unit::Kbps), Ok(Some(1500.0)));
        assert_eq!(parse_value("12 fps", Unit::Fps), Ok(Some(12.0)));
        assert_eq!(parse_value("-61 dBm", Unit::Dbm), Ok(Some(-61.0)));
        assert_eq!(parse_value("40", Unit::Percent), Ok(Some(40.0)));
    }

    #[test]
    fn empty_is_no_data_not_zero() {
        assert_eq!(parse_value("", Unit::Millis), Ok(None));
        assert_eq!(parse_value("  ", Unit::Fps), Ok(None));
        assert_eq!(parse_resolution(""), Ok(None));
        assert_eq!(parse_resolution("0*0"), Ok(None));
    }

    #[test]
    fn seconds_and_bits_per_second_convert_to_rule_units() {
        // Rules compare milliseconds and kbps: "1.2 s" is a 1200 ms latency.
        assert_eq!(parse_value("1.2 s", Unit::Millis), Ok(Some(1200.0)));
        assert_eq!(parse_value("2s", Unit::Millis), Ok(Some(2000.0)));
        assert_eq!(parse_value("23000 bps", Unit::Kbps), Ok(Some(23.0)));
        assert_eq!(parse_value("500 bps", Unit::Kbps), Ok(Some(0.5)));
        // Units of another family are still errors.
        assert_eq!(parse_value("2 s", Unit::Kbps), Err(BadValue));
        assert_eq!(parse_value("500 bps", Unit::Millis), Err(BadValue));
    }

    #[test]
    fn answers_in_seconds_and_bps_reach_the_sample_converted() {
        let body = r#"{"user_qos":[{"date_time":"2021-06-24T20:01:00Z",
            "audio_input":{"latency":"1.2 s","bitrate":"23000 bps"}}]}"#;
        let (qos, report) = parse_participant_qos(body.as_bytes()).expect("parses");
        assert!(report.bad_values.is_empty(), "{report:?}");
        let get = |name: &str| qos.samples[0].get(MetricId::parse(name).expect(name));
        assert_eq!(get("audio_input.latency"), Some(1200.0));
        assert_eq!(get("audio_input.bitrate"), Some(23.0));
    }

    #[test]
    fn pixels_parse_with_or_without_their_unit() {
        assert_eq!(parse_value("720p", Unit::Pixels), Ok(Some(720.0)));
        assert_eq!(parse_value("360 px", Unit::Pixels), Ok(Some(360.0)));
        assert_eq!(parse_value("1080", Unit::Pixels), Ok(Some(1080.0)));
        assert_eq!(parse_value("720 ms", Unit::Pixels), Err(BadValue));
    }

    #[test]
    fn only_a_zero_by_zero_resolution_is_no_data() {
        // "0*0" is Zoom's "no video"; one zero dimension is a reading
        // (a 0-pixel-high picture is as bad as it gets), not missing data.
        assert_eq!(parse_resolution("0*0"), Ok(None));
        assert_eq!(
            parse_resolution("1280*0"),
            Ok(Some(Resolution {
                width: 1280,
                height: 0
            }))
        );
        assert_eq!(
            parse_resolution("0*720"),
            Ok(Some(Resolution {
                width: 0,
                height: 720
            }))
        );
        let body = r#"{"user_qos":[{"date_time":"2021-06-24T20:01:00Z",
            "video_input":{"resolution":"0*0","frame_rate":"12 fps"},
            "video_output":{"resolution":"640*0"}}]}"#;
        let (qos, _) = parse_participant_qos(body.as_bytes()).expect("parses");
        let get = |name: &str| qos.samples[0].get(MetricId::parse(name).expect(name));
        assert_eq!(get("video_input.resolution"), None);
        assert_eq!(get("video_input.frame_rate"), Some(12.0));
        assert_eq!(get("video_output.resolution"), Some(0.0));
    }

    #[test]
    fn a_null_resolution_is_no_data_and_a_non_string_one_is_reported() {
        let body = r#"{"user_qos":[{"date_time":"2021-06-24T20:01:00Z",
            "video_input":{"resolution":null,"frame_rate":"12 fps"},
            "video_output":{"resolution":720,"frame_rate":"20 fps"}}]}"#;
        let (qos, report) = parse_participant_qos(body.as_bytes()).expect("parses");
        let get = |name: &str| qos.samples[0].get(MetricId::parse(name).expect(name));
        assert_eq!(get("video_input.resolution"), None);
        assert_eq!(get("video_output.resolution"), None);
        assert_eq!(
            report.bad_values,
            [("video_output.resolution".to_owned(), "720".to_owned())]
        );
    }

    #[test]
    fn wrong_or_garbage_units_are_errors() {
        assert_eq!(parse_value("126 fps", Unit::Millis), Err(BadValue));
        assert_eq!(parse_value("abc", Unit::Millis), Err(BadValue));
        assert_eq!(parse_value("NaN", Unit::Millis), Err(BadValue));
        assert_eq!(parse_resolution("1280"), Err(BadValue));
    }

    #[test]
    fn resolution_parses_both_separators() {
        assert_eq!(
            parse_resolution("1280*720"),
            Ok(Some(Resolution {
                width: 1280,
                height: 720
            }))
        );
        assert_eq!(
            parse_resolution("640x360"),
            Ok(Some(Resolution {
                width: 640,
                height: 360
            }))
        );
    }

    #[test]
    fn fixture_parses_every_stream() {
        let (qos, report) = parse_participant_qos(FIXTURE.as_bytes()).expect("fixture parses");
        assert!(report.bad_values.is_empty(), "{report:?}");
        assert_eq!(qos.details.user_id.as_deref(), Some("1670000000"));
        assert_eq!(qos.details.device.as_deref(), Some("Android"));
        assert_eq!(qos.details.location.as_deref(), Some("San Jose (US)"));
        assert!(qos.details.leave_time.is_some());
        assert_eq!(qos.samples.len(), 1);
        let sample = &qos.samples[0];
        assert_eq!(sample.at.to_rfc3339(), "2021-06-24T20:00:00+00:00");
        let get = |name: &str| sample.get(MetricId::parse(name).expect(name));
        assert_eq!(get("audio_input.bitrate"), Some(23.0));
        assert_eq!(get("audio_input.latency"), Some(126.0));
        assert_eq!(get("audio_input.avg_loss"), Some(0.3));
        assert_eq!(get("audio_input.max_loss"), Some(1.9));
        assert_eq!(get("audio_output.latency"), Some(134.0));
        assert_eq!(get("video_input.resolution"), Some(720.0));
        assert_eq!(get("video_input.frame_rate"), Some(12.0));
        assert_eq!(get("video_output.frame_rate"), Some(22.0));
        assert_eq!(get("video_output.bitrate"), Some(673.0));
        assert_eq!(get("as_input.jitter"), Some(8.0));
        // "0*0" and "" are no data, not zero.
        assert_eq!(get("as_input.resolution"), None);
        assert_eq!(get("as_output.frame_rate"), None);
        assert_eq!(get("cpu_usage.zoom_min_cpu_usage"), Some(8.0));
        assert_eq!(get("cpu_usage.zoom_avg_cpu_usage"), Some(12.0));
        assert_eq!(get("cpu_usage.zoom_max_cpu_usage"), Some(18.0));
        assert_eq!(get("cpu_usage.system_max_cpu_usage"), Some(40.0));
        assert_eq!(get("wifi_rssi.avg_rssi"), None);
    }

    #[test]
    fn bad_values_become_no_data_and_are_reported() {
        let body = r#"{"user_id":"1","user_qos":[{"date_time":"2021-06-24T20:01:00Z",
            "audio_input":{"latency":"fast","jitter":"7 ms","avg_loss":"","future_field":"x"},
            "audio_output":"",
            "brand_new_stream":{"latency":"1 ms"},
            "wifi_rssi":{"avg_rssi":"-61","max_rssi":"-50 dBm","min_rssi":"-70","rssi_unit":"dBm"},
            "audio_device_from_crc":{"latency":"88 ms"}},
            {"date_time":"not a time"}]}"#;
        let (qos, report) = parse_participant_qos(body.as_bytes()).expect("parses");
        assert_eq!(qos.samples.len(), 1, "a sample without a time is dropped");
        let sample = &qos.samples[0];
        let get = |name: &str| sample.get(MetricId::parse(name).expect(name));
        assert_eq!(get("audio_input.latency"), None);
        assert_eq!(get("audio_input.jitter"), Some(7.0));
        assert_eq!(get("audio_output.latency"), None);
        assert_eq!(get("wifi_rssi.avg_rssi"), Some(-61.0));
        assert_eq!(get("wifi_rssi.max_rssi"), Some(-50.0));
        assert_eq!(get("audio_device_from_crc.latency"), Some(88.0));
        let paths: Vec<&str> = report.bad_values.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["audio_input.latency", "user_qos[1].date_time"]);
    }

    #[test]
    fn metric_names_round_trip() {
        for metric in MetricId::all() {
            assert_eq!(MetricId::parse(&metric.name()), Some(metric), "{metric}");
        }
        assert_eq!(MetricId::parse("audio_input.latncy"), None);
        assert_eq!(MetricId::parse("latency"), None);
    }

    #[test]
    fn every_metric_is_known_for_suggestions() {
        // 6 classic + 12 device streams with 7 figures each, 4 CPU, 3 Wi-Fi.
        let all = MetricId::all();
        assert_eq!(all.len(), 18 * 7 + 4 + 3);
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len(), "no metric twice");
        for name in [
            "audio_input.latency",
            "as_output.resolution",
            "video_device_to_rwg.frame_rate",
            "cpu_usage.system_max_cpu_usage",
            "wifi_rssi.min_rssi",
        ] {
            let metric = MetricId::parse(name).expect(name);
            assert!(all.contains(&metric), "{name}");
        }
    }

    #[test]
    fn names_print_as_rule_files_write_them() {
        let metric = MetricId::Stream(Stream::AudioInput, StreamMetric::Latency);
        assert_eq!(metric.to_string(), "audio_input.latency");
        assert_eq!(
            MetricId::Cpu(CpuMetric::ZoomMax).to_string(),
            "cpu_usage.zoom_max_cpu_usage"
        );
        assert_eq!(Stream::ShareOutput.to_string(), "as_output");
        let device = Stream::Device {
            media: Media::Audio,
            direction: DeviceDirection::From,
            peer: DevicePeer::Crc,
        };
        assert_eq!(device.to_string(), "audio_device_from_crc");
        let resolution = Resolution {
            width: 1280,
            height: 720,
        };
        assert_eq!(resolution.to_string(), "1280x720");
    }

    #[test]
    fn a_sample_with_any_single_figure_is_not_empty() {
        let latency = MetricId::Stream(Stream::AudioInput, StreamMetric::Latency);
        assert!(QosSample::default().is_empty());
        assert_eq!(QosSample::default().quantity(latency), None);
        let mut stream_only = QosSample::default();
        stream_only.streams.insert(
            Stream::AudioInput,
            StreamQos {
                latency_ms: Some(126.0),
                ..StreamQos::default()
            },
        );
        assert!(!stream_only.is_empty());
        assert_eq!(
            stream_only.quantity(latency),
            Some(Quantity::new(126.0, Unit::Millis))
        );
        let cpu_only = QosSample {
            cpu: CpuUsage {
                system_max_pct: Some(40.0),
                ..CpuUsage::default()
            },
            ..QosSample::default()
        };
        assert!(!cpu_only.is_empty());
        let wifi_only = QosSample {
            wifi: WifiRssi {
                min_dbm: Some(-70.0),
                ..WifiRssi::default()
            },
            ..QosSample::default()
        };
        assert!(!wifi_only.is_empty());
        // A stream of "" figures is no stream at all.
        assert!(StreamQos::default().is_empty());
        let body = r#"{"user_qos":[{"date_time":"2021-06-24T20:01:00Z",
            "audio_input":{"latency":"","jitter":"","resolution":""}}]}"#;
        let (qos, _) = parse_participant_qos(body.as_bytes()).expect("parses");
        assert!(qos.samples[0].streams.is_empty());
        assert!(qos.samples[0].is_empty());
    }

    #[test]
    fn quantities_print_readably() {
        assert_eq!(Quantity::new(126.0, Unit::Millis).to_string(), "126 ms");
        assert_eq!(Quantity::new(5.5, Unit::Percent).to_string(), "5.5%");
        assert_eq!(Quantity::new(7.0, Unit::Fps).to_string(), "7 fps");
    }

    #[test]
    fn non_object_is_an_error() {
        assert!(parse_participant_qos(b"[1,2]").is_err());
        assert!(parse_participant_qos(b"not json").is_err());
    }
}
