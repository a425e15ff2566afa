//! One participant's QoS as qoswatch keeps it: typed figures per stream,
//! CPU and Wi-Fi, and what Zoom says about the participant.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{CpuMetric, MetricId, Quantity, Resolution, Stream, StreamMetric, WifiMetric};

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
