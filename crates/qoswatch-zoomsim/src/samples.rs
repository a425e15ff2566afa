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

use crate::fields::{CpuField, Field, RssiField, Stream, StreamField};

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
    fn set(&mut self, field: StreamField, value: f64) {
        match field {
            StreamField::Bitrate => self.bitrate = value,
            StreamField::Latency => self.latency = value,
            StreamField::Jitter => self.jitter = value,
            StreamField::AvgLoss => self.avg_loss = value,
            StreamField::MaxLoss => self.max_loss = value,
            StreamField::Resolution => {
                if self.height.is_some() {
                    self.height = Some(value);
                }
            }
            StreamField::FrameRate => {
                if self.frame_rate.is_some() {
                    self.frame_rate = Some(value);
                }
            }
        }
    }

    fn to_json(self) -> Json {
        let mut object = Map::new();
        let mut put = |field: StreamField, text: String| {
            object.insert(field.key().into(), text.into());
        };
        put(StreamField::Bitrate, format!("{:.0} kbps", self.bitrate));
        put(StreamField::Latency, format!("{:.0} ms", self.latency));
        put(StreamField::Jitter, format!("{:.0} ms", self.jitter));
        put(StreamField::AvgLoss, format!("{:.1}%", self.avg_loss));
        put(StreamField::MaxLoss, format!("{:.1}%", self.max_loss));
        if let Some(height) = self.height {
            let height = height.round().max(0.0);
            let width = (height * 16.0 / 9.0).round();
            put(StreamField::Resolution, format!("{width:.0}*{height:.0}"));
        }
        if let Some(fps) = self.frame_rate {
            put(StreamField::FrameRate, format!("{fps:.0} fps"));
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
        Stream::ShareInput | Stream::ShareOutput => (
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
/// figure); the caller passes only those that apply to this sample.
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
    let overrides: Vec<(Field, f64)> = degradations
        .iter()
        .flat_map(|d| d.overrides.iter().copied())
        .collect();
    let mut entry = Map::new();
    entry.insert(
        "date_time".into(),
        date_time.to_rfc3339_opts(SecondsFormat::Secs, true).into(),
    );
    for stream in Stream::ALL {
        // Draw the noise even for unused streams, so that turning the camera
        // off does not change the audio figures of the same seed.
        let figures = baseline(stream, &mut rng);
        let flowing = match stream {
            Stream::VideoInput | Stream::VideoOutput => profile.video,
            Stream::ShareInput | Stream::ShareOutput => profile.screen_share,
            Stream::AudioInput | Stream::AudioOutput => true,
        };
        let block = if flowing {
            stream_block(stream, figures, &overrides)
        } else {
            Json::String(String::new())
        };
        entry.insert(stream.key().into(), block);
    }
    // Drawn after the streams and even without a Wi-Fi block, in this
    // order, so that a seed gives the same figures whatever the profile.
    let cpu = cpu_block(&mut rng, &overrides);
    let wifi = rssi_block(&mut rng, &overrides);
    entry.insert(CpuField::BLOCK.into(), cpu);
    if profile.wifi {
        entry.insert(RssiField::BLOCK.into(), wifi);
    }
    Json::Object(entry)
}

/// A flowing stream's block: its baseline with the overrides applied.
fn stream_block(stream: Stream, mut figures: StreamFigures, overrides: &[(Field, f64)]) -> Json {
    let mut max_loss_overridden = false;
    for (field, value) in overrides {
        if let Field::Stream(target, field) = field
            && *target == stream
        {
            figures.set(*field, *value);
            max_loss_overridden |= *field == StreamField::MaxLoss;
        }
    }
    if !max_loss_overridden && figures.max_loss < figures.avg_loss {
        figures.max_loss = figures.avg_loss;
    }
    figures.to_json()
}

/// `cpu_usage`: percent strings.
fn cpu_block(rng: &mut StdRng, overrides: &[(Field, f64)]) -> Json {
    let zoom_min = rng.random_range(4.0..9.0_f64);
    let zoom_avg = zoom_min + rng.random_range(3.0..7.0);
    let zoom_max = zoom_avg + rng.random_range(4.0..9.0);
    let system_max = zoom_max + rng.random_range(12.0..25.0);
    let mut cpu = [
        (CpuField::ZoomMin, zoom_min),
        (CpuField::ZoomAvg, zoom_avg),
        (CpuField::ZoomMax, zoom_max),
        (CpuField::SystemMax, system_max),
    ];
    for (field, value) in overrides {
        if let Field::Cpu(target) = field {
            for (cpu_field, figure) in &mut cpu {
                if cpu_field == target {
                    *figure = *value;
                }
            }
        }
    }
    let block: Map<String, Json> = cpu
        .iter()
        .map(|(field, value)| (field.key().to_owned(), format!("{value:.0}%").into()))
        .collect();
    Json::Object(block)
}

/// `wifi_rssi`: whole dBm as JSON numbers, as in Zoom's typings, and the unit.
fn rssi_block(rng: &mut StdRng, overrides: &[(Field, f64)]) -> Json {
    let rssi_avg = rng.random_range(-60.0..-50.0_f64);
    let mut wifi = [
        (RssiField::Avg, rssi_avg),
        (RssiField::Max, rssi_avg + rng.random_range(3.0..8.0)),
        (RssiField::Min, rssi_avg - rng.random_range(3.0..8.0)),
    ];
    for (field, value) in overrides {
        if let Field::Rssi(target) = field {
            for (rssi_field, figure) in &mut wifi {
                if rssi_field == target {
                    *figure = *value;
                }
            }
        }
    }
    let mut block: Map<String, Json> = wifi
        .iter()
        .map(|(field, value)| (field.key().to_owned(), json!(value.round() as i64)))
        .collect();
    block.insert(RssiField::UNIT_KEY.into(), json!("dBm"));
    Json::Object(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-05T09:00:00Z")
            .expect("valid")
            .with_timezone(&Utc)
            + chrono::Duration::minutes(i64::from(minute))
    }

    /// The number a figure of `entry` shows, read from Zoom's formats
    /// (`"126 ms"`, `"0.3%"`, `"1280*720"` gives its height, `-58`);
    /// `None` when the block or the figure is absent.
    fn figure(entry: &Json, path: &str) -> Option<f64> {
        let (block, name) = path.split_once('.').expect("block.figure");
        let value = entry.get(block)?.get(name)?;
        if let Some(number) = value.as_f64() {
            return Some(number);
        }
        let text = value.as_str()?;
        let text = text.split_once('*').map_or(text, |(_, height)| height);
        let number: String = text
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
            .collect();
        Some(number.parse().expect("a number"))
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
        let entries: Vec<Json> = (0..200)
            .map(|i| sample_json(&profile, i, at(i), &[]))
            .collect();
        for entry in &entries {
            for stream in ["audio_input", "audio_output", "video_input"] {
                let get = |name: &str| figure(entry, &format!("{stream}.{name}")).expect(name);
                let latency = get("latency");
                assert!((30.0..150.0).contains(&latency), "{latency}");
                let jitter = get("jitter");
                assert!(jitter < 30.0, "{jitter}");
                let loss = get("avg_loss");
                assert!(loss < 1.0, "{loss}");
                let max_loss = get("max_loss");
                assert!(max_loss >= loss, "{max_loss} < {loss}");
            }
            assert_eq!(figure(entry, "video_input.resolution"), Some(720.0));
            let fps = figure(entry, "video_input.frame_rate").expect("fps");
            assert!(fps >= 20.0, "{fps}");
            let cpu = figure(entry, "cpu_usage.system_max_cpu_usage").expect("cpu");
            assert!(cpu < 70.0, "{cpu}");
            let rssi = figure(entry, "wifi_rssi.avg_rssi").expect("rssi");
            assert!((-65.0..-45.0).contains(&rssi), "{rssi}");
        }
        // Noise, not a constant.
        let latencies: std::collections::BTreeSet<i64> = entries
            .iter()
            .filter_map(|e| figure(e, "audio_input.latency"))
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
        assert!(entry["audio_output"]["bitrate"].as_str().is_some());
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

    /// A sharing participant's sample has exactly the blocks and figures of
    /// Zoom's example (`tests/fixtures/qos.participant.json`), plus the
    /// `wifi_rssi` block of Zoom's typings.
    #[test]
    fn a_sample_has_the_fixtures_keys() {
        let path = format!(
            "{}/../../tests/fixtures/qos.participant.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let fixture: Json =
            serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
        let keys = |entry: &Json| -> Vec<String> {
            let mut keys = Vec::new();
            for (block, value) in entry.as_object().expect("object") {
                keys.push(block.clone());
                if let Some(figures) = value.as_object() {
                    keys.extend(figures.keys().map(|figure| format!("{block}.{figure}")));
                }
            }
            keys.sort();
            keys
        };
        let ours = sample_json(&Profile::healthy(3).sharing_screen().wired(), 0, at(0), &[]);
        assert_eq!(keys(&ours), keys(&fixture["user_qos"][0]));
        let wifi = sample_json(&Profile::healthy(3), 0, at(0), &[]);
        let wifi_keys: Vec<String> = keys(&wifi)
            .into_iter()
            .filter(|k| k.starts_with("wifi_rssi"))
            .collect();
        assert_eq!(
            wifi_keys,
            [
                "wifi_rssi",
                "wifi_rssi.avg_rssi",
                "wifi_rssi.max_rssi",
                "wifi_rssi.min_rssi",
                "wifi_rssi.rssi_unit"
            ]
        );
    }

    #[test]
    fn degradations_override_exactly_their_metrics() {
        let profile = Profile::healthy(9);
        let wifi = Degradation::bad_wifi(Target::participant("16778240"), 3..6);
        let entry = sample_json(&profile, 4, at(4), &[&wifi]);
        assert_eq!(entry["audio_input"]["latency"], json!("420 ms"));
        assert_eq!(entry["video_output"]["jitter"], json!("65 ms"));
        assert_eq!(entry["audio_output"]["avg_loss"], json!("12.5%"));
        assert_eq!(entry["video_input"]["max_loss"], json!("31.0%"));
        assert_eq!(entry["wifi_rssi"]["avg_rssi"], json!(-82));
        // Untouched figures keep their baseline.
        let healthy = sample_json(&profile, 4, at(4), &[]);
        assert_eq!(
            entry["audio_input"]["bitrate"],
            healthy["audio_input"]["bitrate"]
        );
        assert_eq!(entry["cpu_usage"], healthy["cpu_usage"]);
        assert_eq!(entry["date_time"], healthy["date_time"]);
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
        let entry = sample_json(&profile, 0, at(0), &[&loss, &cpu]);
        assert_eq!(figure(&entry, "audio_input.avg_loss"), Some(9.0));
        assert_eq!(figure(&entry, "audio_input.max_loss"), Some(18.0));
        assert_eq!(figure(&entry, "cpu_usage.zoom_max_cpu_usage"), Some(97.0));
        assert_eq!(
            figure(&entry, "cpu_usage.system_max_cpu_usage"),
            Some(100.0)
        );
        assert_eq!(figure(&entry, "video_input.frame_rate"), Some(4.0));
        assert_eq!(entry["video_output"]["frame_rate"], json!("5 fps"));
    }

    #[test]
    fn overrides_never_invent_data_for_unused_streams() {
        let profile = Profile::healthy(5).without_video().wired();
        let wifi = Degradation::bad_wifi(Target::Everyone, 0..1);
        let entry = sample_json(&profile, 0, at(0), &[&wifi]);
        assert_eq!(entry["video_input"], json!(""));
        assert!(entry.get("wifi_rssi").is_none());
        assert_eq!(figure(&entry, "audio_input.latency"), Some(420.0));
    }
}
