//! The per-minute QoS samples the simulator serves: a realistic healthy
//! baseline with small deterministic noise, plus scripted degradations.
//!
//! Pure: a sample is a function of the participant's [`Profile`], its sample
//! index (minutes since join), its `date_time` and the degradations that
//! cover that index. The noise comes from an RNG seeded with
//! `(profile.seed, index)`, so the same participant always gets the same
//! sample at the same index, whatever order requests arrive in.

mod degradation;
mod profile;
#[cfg(test)]
mod tests;

use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value as Json, json};

use crate::fields::{CpuField, Field, RssiField, Stream, StreamField};

pub use degradation::{Degradation, Target};
pub use profile::Profile;

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
