//! The per-minute QoS samples the simulator serves: a realistic healthy
//! baseline with small deterministic noise, plus scripted degradations.
//!
//! Pure: a sample is a function of the participant's [`Profile`], its sample
//! index (minutes since join), its `date_time` and the degradations that
//! cover that index. The noise comes from an RNG seeded with
//! `(profile.seed, index)`, so the same participant always gets the same
//! sample at the same index, whatever order requests arrive in.

use std::ops::Range;

use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value as Json, json};

use qoswatch_core::qos::{CpuMetric, MetricId, Stream, StreamMetric, WifiMetric};

/// What a participant's client is doing: which streams flow and whether the
/// account reports Wi-Fi signal strength.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Seed of the participant's noise; the same seed repeats the same run.
    pub seed: u64,
    /// Camera on: `video_input`/`video_output` carry data. Off: both are `""`.
    pub video: bool,
    /// Sharing the screen: `as_input`/`as_output` carry data. Off: both `""`.
    pub screen_share: bool,
    /// Whether samples carry a `wifi_rssi` block (newer accounts, Wi-Fi
    /// clients). Its values are JSON numbers, as in Zoom's typings.
    pub wifi: bool,
}

impl Profile {
    /// A healthy participant with camera on, not sharing, on Wi-Fi.
    pub fn healthy(seed: u64) -> Self {
        Self {
            seed,
            video: true,
            screen_share: false,
            wifi: true,
        }
    }

    /// The same participant with the camera off.
    pub fn without_video(mut self) -> Self {
        self.video = false;
        self
    }

    /// The same participant sharing their screen.
    pub fn sharing_screen(mut self) -> Self {
        self.screen_share = true;
        self
    }

    /// The same participant on a wired connection (no `wifi_rssi`).
    pub fn wired(mut self) -> Self {
        self.wifi = false;
        self
    }
}

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
    /// `(metric, value in the metric's unit)`. A resolution is its height
    /// (`720` gives `"1280*720"`). A metric of a stream that carries no data
    /// (camera off, not sharing, no Wi-Fi block) stays no data.
    pub overrides: Vec<(MetricId, f64)>,
}

/// Audio and video, both directions: the streams a network problem hits.
const MEDIA_STREAMS: [Stream; 4] = [
    Stream::AudioInput,
    Stream::AudioOutput,
    Stream::VideoInput,
    Stream::VideoOutput,
];

impl Degradation {
    /// Bad Wi-Fi: high latency and jitter, heavy loss, weak signal.
    pub fn bad_wifi(target: Target, samples: Range<u32>) -> Self {
        let mut overrides = Vec::new();
        for stream in MEDIA_STREAMS {
            overrides.push((MetricId::Stream(stream, StreamMetric::Latency), 420.0));
            overrides.push((MetricId::Stream(stream, StreamMetric::Jitter), 65.0));
            overrides.push((MetricId::Stream(stream, StreamMetric::AvgLoss), 12.5));
            overrides.push((MetricId::Stream(stream, StreamMetric::MaxLoss), 31.0));
        }
        overrides.push((MetricId::Wifi(WifiMetric::Avg), -82.0));
        overrides.push((MetricId::Wifi(WifiMetric::Max), -76.0));
        overrides.push((MetricId::Wifi(WifiMetric::Min), -88.0));
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
        for stream in MEDIA_STREAMS {
            overrides.push((
                MetricId::Stream(stream, StreamMetric::AvgLoss),
                avg_loss_pct,
            ));
            overrides.push((
                MetricId::Stream(stream, StreamMetric::MaxLoss),
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
                (MetricId::Cpu(CpuMetric::ZoomMin), 71.0),
                (MetricId::Cpu(CpuMetric::ZoomAvg), 86.0),
                (MetricId::Cpu(CpuMetric::ZoomMax), 97.0),
                (MetricId::Cpu(CpuMetric::SystemMax), 100.0),
                (
                    MetricId::Stream(Stream::VideoInput, StreamMetric::FrameRate),
                    4.0,
                ),
                (
                    MetricId::Stream(Stream::VideoOutput, StreamMetric::FrameRate),
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

/// The numbers of one stream before formatting.
#[derive(Debug, Clone, Copy)]
struct StreamFigures {
    bitrate: f64,
    latency: f64,
    jitter: f64,
    avg_loss: f64,
    max_loss: f64,
    /// Height in pixels; `None` for audio.
    height: Option<f64>,
    frame_rate: Option<f64>,
}

impl StreamFigures {
    fn set(&mut self, metric: StreamMetric, value: f64) {
        match metric {
            StreamMetric::Bitrate => self.bitrate = value,
            StreamMetric::Latency => self.latency = value,
            StreamMetric::Jitter => self.jitter = value,
            StreamMetric::AvgLoss => self.avg_loss = value,
            StreamMetric::MaxLoss => self.max_loss = value,
            StreamMetric::Resolution => {
                if self.height.is_some() {
                    self.height = Some(value);
                }
            }
            StreamMetric::FrameRate => {
                if self.frame_rate.is_some() {
                    self.frame_rate = Some(value);
                }
            }
        }
    }

    fn to_json(self) -> Json {
        let mut object = Map::new();
        object.insert("bitrate".into(), format!("{:.0} kbps", self.bitrate).into());
        object.insert("latency".into(), format!("{:.0} ms", self.latency).into());
        object.insert("jitter".into(), format!("{:.0} ms", self.jitter).into());
        object.insert("avg_loss".into(), format!("{:.1}%", self.avg_loss).into());
        object.insert("max_loss".into(), format!("{:.1}%", self.max_loss).into());
        if let Some(height) = self.height {
            let height = height.round().max(0.0);
            let width = (height * 16.0 / 9.0).round();
            object.insert(
                "resolution".into(),
                format!("{width:.0}*{height:.0}").into(),
            );
        }
        if let Some(fps) = self.frame_rate {
            object.insert("frame_rate".into(), format!("{fps:.0} fps").into());
        }
        Json::Object(object)
    }
}

/// The figures of one healthy stream, with noise from `rng`.
fn baseline(stream: Stream, rng: &mut StdRng) -> StreamFigures {
    let latency = rng.random_range(38.0..72.0);
    let jitter = rng.random_range(2.0..9.0);
    let avg_loss = rng.random_range(0.0..0.4);
    let max_loss = avg_loss + rng.random_range(0.0..1.6);
    let (bitrate, height, frame_rate) = match stream {
        Stream::AudioInput => (rng.random_range(22.0..32.0), None, None),
        Stream::AudioOutput => (rng.random_range(55.0..68.0), None, None),
        Stream::VideoInput => (
            rng.random_range(950.0..1150.0),
            Some(720.0),
            Some(rng.random_range(24.0..31.0_f64).floor()),
        ),
        Stream::VideoOutput => (
            rng.random_range(600.0..720.0),
            Some(360.0),
            Some(rng.random_range(22.0..31.0_f64).floor()),
        ),
        // Screen share and the device streams.
        _ => (
            rng.random_range(60.0..180.0),
            Some(1080.0),
            Some(rng.random_range(5.0..11.0_f64).floor()),
        ),
    };
    StreamFigures {
        bitrate,
        latency,
        jitter,
        avg_loss,
        max_loss,
        height,
        frame_rate,
    }
}

/// The QoS entry (`user_qos[]` element) of sample `index` of a participant.
///
/// `degradations` are applied in order (a later one wins on the same
/// metric); the caller passes only those that apply to this sample.
pub fn sample_json(
    profile: &Profile,
    index: u32,
    date_time: DateTime<Utc>,
    degradations: &[&Degradation],
) -> Json {
    let mut rng = StdRng::seed_from_u64(
        profile
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(u64::from(index)),
    );
    let mut entry = Map::new();
    entry.insert(
        "date_time".into(),
        date_time.to_rfc3339_opts(SecondsFormat::Secs, true).into(),
    );
    let overrides = || degradations.iter().flat_map(|d| d.overrides.iter());
    for stream in Stream::CLASSIC {
        // Draw the noise even for unused streams, so that turning the camera
        // off does not change the audio figures of the same seed.
        let mut figures = baseline(stream, &mut rng);
        let flowing = match stream {
            Stream::VideoInput | Stream::VideoOutput => profile.video,
            Stream::ShareInput | Stream::ShareOutput => profile.screen_share,
            _ => true,
        };
        if !flowing {
            entry.insert(stream.name(), Json::String(String::new()));
            continue;
        }
        let mut max_loss_overridden = false;
        for (metric, value) in overrides() {
            if let MetricId::Stream(target, field) = metric
                && *target == stream
            {
                figures.set(*field, *value);
                max_loss_overridden |= *field == StreamMetric::MaxLoss;
            }
        }
        if !max_loss_overridden && figures.max_loss < figures.avg_loss {
            figures.max_loss = figures.avg_loss;
        }
        entry.insert(stream.name(), figures.to_json());
    }

    let zoom_min = rng.random_range(4.0..9.0_f64);
    let zoom_avg = zoom_min + rng.random_range(3.0..7.0);
    let zoom_max = zoom_avg + rng.random_range(4.0..9.0);
    let system_max = zoom_max + rng.random_range(12.0..25.0);
    let mut cpu = [
        (CpuMetric::ZoomMin, zoom_min),
        (CpuMetric::ZoomAvg, zoom_avg),
        (CpuMetric::ZoomMax, zoom_max),
        (CpuMetric::SystemMax, system_max),
    ];
    let rssi_avg = rng.random_range(-60.0..-50.0_f64);
    let mut wifi = [
        (WifiMetric::Avg, rssi_avg),
        (WifiMetric::Max, rssi_avg + rng.random_range(3.0..8.0)),
        (WifiMetric::Min, rssi_avg - rng.random_range(3.0..8.0)),
    ];
    for (metric, value) in overrides() {
        match metric {
            MetricId::Cpu(target) => {
                for (cpu_metric, figure) in &mut cpu {
                    if cpu_metric == target {
                        *figure = *value;
                    }
                }
            }
            MetricId::Wifi(target) => {
                for (wifi_metric, figure) in &mut wifi {
                    if wifi_metric == target {
                        *figure = *value;
                    }
                }
            }
            MetricId::Stream(..) => {}
        }
    }
    let cpu: Map<String, Json> = cpu
        .iter()
        .map(|(metric, value)| (metric.name().to_owned(), format!("{value:.0}%").into()))
        .collect();
    entry.insert("cpu_usage".into(), Json::Object(cpu));
    if profile.wifi {
        let mut block: Map<String, Json> = wifi
            .iter()
            .map(|(metric, value)| (metric.name().to_owned(), json!(value.round() as i64)))
            .collect();
        block.insert("rssi_unit".into(), json!("dBm"));
        entry.insert("wifi_rssi".into(), Json::Object(block));
    }
    Json::Object(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qoswatch_core::qos::{QosSample, participant_from_json};

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-05T09:00:00Z")
            .expect("valid")
            .with_timezone(&Utc)
            + chrono::Duration::minutes(i64::from(minute))
    }

    /// Parses entries with the production parser, as qoswatch will.
    fn parse(entries: Vec<Json>) -> Vec<QosSample> {
        let mut report = qoswatch_core::qos::ParseReport::default();
        let parsed = participant_from_json(&json!({ "user_qos": entries }), &mut report);
        assert!(report.bad_values.is_empty(), "{report:?}");
        parsed.samples
    }

    fn metric(name: &str) -> MetricId {
        MetricId::parse(name).expect(name)
    }

    #[test]
    fn same_seed_and_index_give_the_same_sample() {
        let profile = Profile::healthy(7);
        let a = sample_json(&profile, 3, at(3), &[]);
        let b = sample_json(&profile, 3, at(3), &[]);
        assert_eq!(a, b);
        let other_index = sample_json(&profile, 4, at(3), &[]);
        let other_seed = sample_json(&Profile::healthy(8), 3, at(3), &[]);
        assert_ne!(a, other_index);
        assert_ne!(a, other_seed);
    }

    #[test]
    fn healthy_baseline_stays_within_good_call_quality() {
        let profile = Profile::healthy(42);
        let samples = parse(
            (0..200)
                .map(|i| sample_json(&profile, i, at(i), &[]))
                .collect(),
        );
        assert_eq!(samples.len(), 200);
        for sample in &samples {
            for stream in [Stream::AudioInput, Stream::AudioOutput, Stream::VideoInput] {
                let latency = sample
                    .get(MetricId::Stream(stream, StreamMetric::Latency))
                    .expect("latency present");
                assert!((30.0..150.0).contains(&latency), "{latency}");
                let jitter = sample
                    .get(MetricId::Stream(stream, StreamMetric::Jitter))
                    .expect("jitter");
                assert!(jitter < 30.0, "{jitter}");
                let loss = sample
                    .get(MetricId::Stream(stream, StreamMetric::AvgLoss))
                    .expect("loss");
                assert!(loss < 1.0, "{loss}");
                let max_loss = sample
                    .get(MetricId::Stream(stream, StreamMetric::MaxLoss))
                    .expect("max loss");
                assert!(max_loss >= loss, "{max_loss} < {loss}");
            }
            assert_eq!(sample.get(metric("video_input.resolution")), Some(720.0));
            let fps = sample.get(metric("video_input.frame_rate")).expect("fps");
            assert!(fps >= 20.0, "{fps}");
            let cpu = sample
                .get(metric("cpu_usage.system_max_cpu_usage"))
                .expect("cpu");
            assert!(cpu < 70.0, "{cpu}");
            let rssi = sample.get(metric("wifi_rssi.avg_rssi")).expect("rssi");
            assert!((-65.0..-45.0).contains(&rssi), "{rssi}");
        }
        // Noise, not a constant.
        let latencies: std::collections::BTreeSet<i64> = samples
            .iter()
            .filter_map(|s| s.get(metric("audio_input.latency")))
            .map(|v| v as i64)
            .collect();
        assert!(latencies.len() > 5, "{latencies:?}");
    }

    #[test]
    fn unused_streams_are_empty_strings_not_zero() {
        let profile = Profile::healthy(1).without_video().wired();
        let entry = sample_json(&profile, 0, at(0), &[]);
        assert_eq!(entry["video_input"], json!(""));
        assert_eq!(entry["video_output"], json!(""));
        assert_eq!(entry["as_input"], json!(""));
        assert_eq!(entry["as_output"], json!(""));
        assert!(entry.get("wifi_rssi").is_none());
        assert!(entry["audio_input"]["latency"].as_str().is_some());
        let sample = &parse(vec![entry])[0];
        assert_eq!(sample.get(metric("video_input.bitrate")), None);
        assert_eq!(sample.get(metric("as_output.latency")), None);
        assert!(sample.get(metric("audio_output.bitrate")).is_some());
    }

    #[test]
    fn values_use_zoom_string_formats() {
        let profile = Profile::healthy(3).sharing_screen();
        let entry = sample_json(&profile, 0, at(0), &[]);
        let unit_re = |value: &Json, pattern: &str| {
            let text = value.as_str().expect("string value");
            assert!(
                regex::Regex::new(pattern).expect("regex").is_match(text),
                "{text} !~ {pattern}"
            );
        };
        unit_re(&entry["audio_input"]["latency"], r"^\d+ ms$");
        unit_re(&entry["audio_input"]["avg_loss"], r"^\d+\.\d%$");
        unit_re(&entry["video_input"]["bitrate"], r"^\d+ kbps$");
        unit_re(&entry["video_input"]["resolution"], r"^1280\*720$");
        unit_re(&entry["video_output"]["resolution"], r"^640\*360$");
        unit_re(&entry["as_input"]["resolution"], r"^1920\*1080$");
        unit_re(&entry["video_input"]["frame_rate"], r"^\d+ fps$");
        unit_re(&entry["cpu_usage"]["zoom_avg_cpu_usage"], r"^\d+%$");
        // Numbers, not strings, in Zoom's typings.
        assert!(
            entry["wifi_rssi"]["avg_rssi"]
                .as_i64()
                .is_some_and(|v| v < 0)
        );
        assert_eq!(entry["wifi_rssi"]["rssi_unit"], json!("dBm"));
        assert_eq!(entry["date_time"], json!("2026-01-05T09:00:00Z"));
    }

    #[test]
    fn degradations_override_exactly_their_metrics() {
        let profile = Profile::healthy(9);
        let wifi = Degradation::bad_wifi(Target::participant("16778240"), 3..6);
        let entry = sample_json(&profile, 4, at(4), &[&wifi]);
        let sample = &parse(vec![entry])[0];
        assert_eq!(sample.get(metric("audio_input.latency")), Some(420.0));
        assert_eq!(sample.get(metric("video_output.jitter")), Some(65.0));
        assert_eq!(sample.get(metric("audio_output.avg_loss")), Some(12.5));
        assert_eq!(sample.get(metric("video_input.max_loss")), Some(31.0));
        assert_eq!(sample.get(metric("wifi_rssi.avg_rssi")), Some(-82.0));
        // Untouched metrics keep their baseline.
        let healthy = &parse(vec![sample_json(&profile, 4, at(4), &[])])[0];
        assert_eq!(
            sample.get(metric("audio_input.bitrate")),
            healthy.get(metric("audio_input.bitrate"))
        );
        assert_eq!(
            sample.get(metric("cpu_usage.zoom_avg_cpu_usage")),
            healthy.get(metric("cpu_usage.zoom_avg_cpu_usage"))
        );
    }

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

    #[test]
    fn packet_loss_raises_max_loss_with_it_and_cpu_peg_hits_cpu_and_fps() {
        let profile = Profile::healthy(11);
        let loss = Degradation::packet_loss(Target::Everyone, 0..1, 9.0);
        let cpu = Degradation::cpu_pegged(Target::Everyone, 0..1);
        let sample = &parse(vec![sample_json(&profile, 0, at(0), &[&loss, &cpu])])[0];
        assert_eq!(sample.get(metric("audio_input.avg_loss")), Some(9.0));
        assert_eq!(sample.get(metric("audio_input.max_loss")), Some(18.0));
        assert_eq!(
            sample.get(metric("cpu_usage.zoom_max_cpu_usage")),
            Some(97.0)
        );
        assert_eq!(
            sample.get(metric("cpu_usage.system_max_cpu_usage")),
            Some(100.0)
        );
        assert_eq!(sample.get(metric("video_input.frame_rate")), Some(4.0));
    }

    #[test]
    fn overrides_never_invent_data_for_unused_streams() {
        let profile = Profile::healthy(5).without_video().wired();
        let wifi = Degradation::bad_wifi(Target::Everyone, 0..1);
        let entry = sample_json(&profile, 0, at(0), &[&wifi]);
        assert_eq!(entry["video_input"], json!(""));
        assert!(entry.get("wifi_rssi").is_none());
        let sample = &parse(vec![entry])[0];
        assert_eq!(sample.get(metric("audio_input.latency")), Some(420.0));
    }
}
